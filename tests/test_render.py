"""Tests of the embedded simulator's ray-casting renderer and the Open3D conventions it relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest

o3d = pytest.importorskip("open3d")

from navstack.sim.mesh import Material, TexturedMesh, box_mesh  # noqa: E402
from navstack.sim.render import Renderer, RenderResult, camera_extrinsic  # noqa: E402
from navstack.types import Intrinsics, quat_from_yaw  # noqa: E402

IDENT = np.array([0.0, 0.0, 0.0, 1.0])
ORIGIN = np.zeros(3)


def quad(x0, x1, y0, y1, z, material, uvs=((0, 0), (1, 0), (1, 1), (0, 1))) -> TexturedMesh:
    """Quad in the plane z = const, corners (x0,y0), (x1,y0), (x1,y1), (x0,y1) with those UVs."""
    v = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], float)
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    uv = np.asarray(uvs, float)
    return TexturedMesh(v, tris, uv[tris], np.zeros(2), [material])


def grey(level=0.5) -> Material:
    return Material(np.full(3, level))


def intr(w=64, h=48, hfov=90.0) -> Intrinsics:
    return Intrinsics.from_hfov(w, h, hfov)


# ------------------------------------------------------------------ Open3D conventions
def test_open3d_pinhole_rays_are_opencv_with_unit_z_and_pixel_centres():
    k = np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]])
    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(k), o3d.core.Tensor(np.eye(4)), 100, 80
    ).numpy()
    assert rays.shape == (80, 100, 6)
    np.testing.assert_allclose(rays[..., 5], 1.0)  # z = 1: t_hit is z-depth
    np.testing.assert_allclose(rays[0, 0, 3:5], [-0.495, -0.395], atol=1e-6)  # pixel centre (0.5, 0.5)
    assert rays[0, -1, 3] > 0 and rays[-1, 0, 4] > 0  # x right, y down


def test_open3d_primitive_uvs_weight_vertices_as_1_minus_u_minus_v_u_v():
    scene = o3d.t.geometry.RaycastingScene()
    v = np.array([[0, 0, -2], [1, 0, -2], [0, 1, -2]], np.float32)
    scene.add_triangles(o3d.core.Tensor(v), o3d.core.Tensor(np.array([[0, 1, 2]], np.uint32)))
    w = np.array([0.2, 0.5, 0.3])
    target = w @ v
    ans = scene.cast_rays(o3d.core.Tensor(np.array([[0, 0, 0, *target]], np.float32)))
    np.testing.assert_allclose(ans["primitive_uvs"].numpy()[0], w[1:], atol=1e-5)
    # primitive_normals is the face normal (what the renderer's per-triangle shading assumes)
    np.testing.assert_allclose(np.abs(ans["primitive_normals"].numpy()[0]), [0, 0, 1], atol=1e-6)


def test_rays_match_create_rays_pinhole_with_extrinsic():
    rng = np.random.default_rng(3)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    pos = np.array([1.0, 0.88, -2.0])
    it = Intrinsics(40, 30, 35.0, 33.0, 19.0, 16.5)
    r = Renderer([quad(-1, 1, -1, 1, -3, grey())], [0])
    mine = r.rays(pos, q, it).numpy()
    ref = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(it.matrix()), o3d.core.Tensor(camera_extrinsic(pos, q)), it.width, it.height
    ).numpy()
    np.testing.assert_allclose(mine, ref, atol=1e-5)


# ------------------------------------------------------------------ depth
def test_depth_is_z_depth_on_a_plane_centre_and_corners():
    r = Renderer([quad(-50, 50, -50, 50, -4.0, grey())], [7])
    res = r.render(ORIGIN, IDENT, intr(64, 48, 100.0))
    assert isinstance(res, RenderResult)
    assert res.depth.shape == (48, 64) and res.depth.dtype == np.float32
    for i, j in [(24, 32), (0, 0), (0, 63), (47, 0), (47, 63)]:
        assert res.depth[i, j] == pytest.approx(4.0, abs=1e-4), (i, j)
    np.testing.assert_allclose(res.depth, 4.0, atol=1e-4)
    assert (res.instance == 7).all()


def test_depth_of_a_moved_and_turned_camera():
    # plane x = -3 (normal +x); a camera at x = 1 turned +90 deg (looks along -X) sees it at z-depth 4
    v = np.array([[-3, -50, -50], [-3, -50, 50], [-3, 50, 50], [-3, 50, -50]], float)
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    m = TexturedMesh(v, tris, np.zeros((2, 3, 2)), np.zeros(2), [grey()])
    res = Renderer([m], [1]).render([1.0, 0.5, 0.3], quat_from_yaw(math.pi / 2), intr(32, 24, 90.0))
    np.testing.assert_allclose(res.depth, 4.0, atol=1e-4)


def test_depth_inf_and_instance_minus_one_where_nothing_is_hit():
    r = Renderer([quad(-1, 1, -1, 1, -5, grey())], [3], background=(10, 20, 30))
    res = r.render(ORIGIN, IDENT, intr(64, 48, 90.0))
    assert np.isinf(res.depth[0, 0]) and res.instance[0, 0] == -1
    assert res.instance.dtype == np.int32
    np.testing.assert_array_equal(res.rgb[0, 0], [10, 20, 30])
    centre = res.depth[24, 32]
    assert centre == pytest.approx(5.0, abs=1e-4) and res.instance[24, 32] == 3
    assert ((res.instance == -1) == np.isinf(res.depth)).all()
    # looking away from everything: all misses
    back = r.render(ORIGIN, quat_from_yaw(math.pi), intr(16, 12))
    assert np.isinf(back.depth).all() and (back.instance == -1).all()


def test_near_plane_hides_close_surfaces_but_depth_stays_from_camera():
    r = Renderer([quad(-9, 9, -9, 9, -0.3, grey()), quad(-9, 9, -9, 9, -6, grey())], [1, 2])
    it = intr(16, 12)
    assert (r.render(ORIGIN, IDENT, it).instance == 1).all()
    res = r.render(ORIGIN, IDENT, it, near=0.5)
    assert (res.instance == 2).all()
    np.testing.assert_allclose(res.depth, 6.0, atol=1e-4)


# ------------------------------------------------------------------ orientation
def _centroid(mask):
    ii, jj = np.nonzero(mask)
    assert len(ii) > 0, "object not visible"
    return ii.mean(), jj.mean()


def test_object_to_the_left_appears_in_left_half_and_above_in_top_half():
    left = box_mesh([-2.5, -0.25, -5.25], [-2.0, 0.25, -4.75], grey())
    above = box_mesh([-0.25, 1.5, -5.25], [0.25, 2.0, -4.75], grey())
    r = Renderer([left, above], [1, 2])
    it = intr(80, 60, 90.0)
    res = r.render(ORIGIN, IDENT, it)
    i1, j1 = _centroid(res.instance == 1)
    i2, j2 = _centroid(res.instance == 2)
    assert j1 < it.width / 2 and abs(i1 - it.height / 2) < 3
    assert i2 < it.height / 2 and abs(j2 - it.width / 2) < 3


def test_yaw_plus_90_turns_the_view_left():
    target = box_mesh([-5.25, -0.25, -0.25], [-4.75, 0.25, 0.25], grey())  # on the world -X side
    ahead = box_mesh([-0.25, -0.25, -5.25], [0.25, 0.25, -4.75], grey())  # along -Z
    r = Renderer([target, ahead], [1, 2])
    it = intr(64, 48, 79.0)
    straight = r.render(ORIGIN, IDENT, it)
    assert not (straight.instance == 1).any() and (straight.instance == 2).any()
    turned = r.render(ORIGIN, quat_from_yaw(math.pi / 2), it)
    assert not (turned.instance == 2).any()
    i, j = _centroid(turned.instance == 1)
    assert abs(i - 23.5) < 2 and abs(j - 31.5) < 2
    # a smaller left turn moves the straight-ahead object to the right of the image
    small = r.render(ORIGIN, quat_from_yaw(math.radians(20)), it)
    assert _centroid(small.instance == 2)[1] > it.width / 2 + 5


def test_pitched_camera_sees_the_floor_in_the_upper_part():
    # camera tilted down (rotation about +X by -30 deg): the floor fills more than the bottom half
    floor = TexturedMesh(
        np.array([[-50, 0, -50], [50, 0, -50], [50, 0, 50], [-50, 0, 50]], float),
        np.array([[0, 1, 2], [0, 2, 3]]),
        np.zeros((2, 3, 2)),
        np.zeros(2),
        [grey()],
    )
    r = Renderer([floor], [0])
    a = math.radians(-30) / 2
    down = np.array([math.sin(a), 0, 0, math.cos(a)])
    level = r.render([0, 1.0, 0], IDENT, intr(32, 24))
    pitched = r.render([0, 1.0, 0], down, intr(32, 24))
    assert (level.instance[:12] == -1).all() and (level.instance[13:] == 0).all()
    assert (pitched.instance[8:] == 0).all()


# ------------------------------------------------------------------ instances and geometry
def test_instance_ids_follow_meshes_and_empty_meshes_are_skipped():
    empty = TexturedMesh(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3, 2)), np.zeros(0), [grey()])
    meshes = [
        quad(-10, 10, -10, 10, -9, grey()),  # background wall, id 0
        empty,
        quad(-3, -1, -1, 1, -5, grey()),
        quad(1, 3, -1, 1, -5, grey()),
    ]
    r = Renderer(meshes, [0, 99, 42, 17])
    assert r.mesh_geometry_id(1) is None
    res = r.render(ORIGIN, IDENT, intr(64, 48, 90.0))
    assert set(np.unique(res.instance)) == {0, 42, 17}
    assert res.instance[24, 32] == 0
    assert _centroid(res.instance == 42)[1] < 32 < _centroid(res.instance == 17)[1]
    np.testing.assert_allclose(res.depth[res.instance == 0], 9.0, atol=1e-4)
    np.testing.assert_allclose(res.depth[res.instance == 42], 5.0, atol=1e-4)


def test_rays_hit_back_faces_too():
    q = quad(-5, 5, -5, 5, -2, grey())
    r = Renderer([q], [1])
    front = r.render([0, 0, 0], IDENT, intr(8, 6))
    back = r.render([0, 0, -4], quat_from_yaw(math.pi), intr(8, 6))
    assert (front.instance == 1).all() and (back.instance == 1).all()
    np.testing.assert_allclose(back.depth, 2.0, atol=1e-4)


def test_want_rgb_false_and_normals():
    r = Renderer([quad(-5, 5, -5, 5, -2, grey())], [1])
    res = r.render(ORIGIN, IDENT, intr(8, 6), want_rgb=False, want_normal=True)
    assert res.rgb is None
    np.testing.assert_allclose(np.abs(res.normal[..., 2]), 1.0, atol=1e-6)


# ------------------------------------------------------------------ texture sampling and shading
def _quadrant_texture(n=64):
    tex = np.zeros((n, n, 3), np.uint8)
    h = n // 2
    tex[:h, :h] = (255, 0, 0)  # top-left red
    tex[:h, h:] = (0, 255, 0)  # top-right green
    tex[h:, :h] = (0, 0, 255)  # bottom-left blue
    tex[h:, h:] = (255, 255, 255)  # bottom-right white
    return tex


def test_texture_appears_as_in_the_image_not_flipped():
    # quad facing the camera, UV (0,0) at its bottom-left corner, (1,1) at its top-right (OBJ convention)
    tex = np.zeros((64, 64, 3), np.uint8)
    tex[:32] = (255, 0, 0)  # top half red
    tex[32:] = (0, 0, 255)  # bottom half blue
    r = Renderer([quad(-1, 1, -1, 1, -1.2, Material(np.ones(3), tex))], [1], ambient=1.0)
    res = r.render(ORIGIN, IDENT, intr(60, 60, 90.0))
    rgb = res.rgb
    assert rgb.shape == (60, 60, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb[20, 30], [255, 0, 0])  # upper part red
    np.testing.assert_array_equal(rgb[40, 30], [0, 0, 255])  # lower part blue

    r2 = Renderer([quad(-1, 1, -1, 1, -1.2, Material(np.ones(3), _quadrant_texture()))], [1], ambient=1.0)
    rgb = r2.render(ORIGIN, IDENT, intr(60, 60, 90.0)).rgb
    np.testing.assert_array_equal(rgb[20, 20], [255, 0, 0])
    np.testing.assert_array_equal(rgb[20, 40], [0, 255, 0])
    np.testing.assert_array_equal(rgb[40, 20], [0, 0, 255])
    np.testing.assert_array_equal(rgb[40, 40], [255, 255, 255])


def test_texel_lookup_is_exact_on_a_gradient_texture_with_far_out_uvs():
    n = 64
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))
    tex = np.stack([jj * 4, ii * 4, np.full_like(ii, 7)], -1).astype(np.uint8)  # R = 4*col, G = 4*row
    z = -2.0
    it = Intrinsics.from_hfov(97, 83, 90.0)
    # UVs far outside [0, 1] (repeat wrap): offsets of whole tiles must not change the image.
    for off_u, off_v in [(0, 0), (1000, -37), (-250, 12)]:
        uvs = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], float) + (off_u, off_v)
        r = Renderer([quad(-1, 1, -1, 1, z, Material(np.ones(3), tex), uvs)], [1], ambient=1.0)
        rgb = r.render(ORIGIN, IDENT, it).rgb.astype(int)
        checked = 0
        for i in range(0, it.height, 3):
            for j in range(0, it.width, 3):
                x = (j + 0.5 - it.cx) / it.fx * -z
                y = -(i + 0.5 - it.cy) / it.fy * -z  # image y down = world y up flipped
                u, v = (x + 1) / 2, (y + 1) / 2
                if not (0 < u < 1 and 0 < v < 1):
                    continue
                fu, fv = u * n, v * n
                if min(fu % 1, 1 - fu % 1, fv % 1, 1 - fv % 1) < 0.05:
                    continue  # too close to a texel edge to be decisive
                col, row = int(fu), n - 1 - int(fv)  # OBJ v = 0 is the image's bottom row
                assert rgb[i, j, 0] == 4 * col and rgb[i, j, 1] == 4 * row, (off_u, off_v, i, j)
                checked += 1
        assert checked > 200


def test_uv_triangle_mapping_uses_each_corner_uv():
    # one triangle whose corners map to three different solid colours of a 2x2-texel texture
    tex = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 0]]], np.uint8)
    v = np.array([[-1, -1, -2], [1, -1, -2], [-1, 1, -2]], float)
    uvs = np.array([[[0.25, 0.25], [0.75, 0.25], [0.25, 0.75]]])  # bottom-left, bottom-right, top-left
    m = TexturedMesh(v, np.array([[0, 1, 2]]), uvs, np.zeros(1), [Material(np.ones(3), tex)])
    r = Renderer([m], [1], ambient=1.0, atlas_tile=2)
    it = intr(100, 100, 90.0)
    rgb = r.render(ORIGIN, IDENT, it).rgb
    # pixels near each corner
    np.testing.assert_array_equal(rgb[70, 30], [0, 0, 255])  # bottom-left texel: image row 1, col 0
    np.testing.assert_array_equal(rgb[70, 60], [255, 255, 0])  # bottom-right texel: row 1, col 1
    np.testing.assert_array_equal(rgb[40, 30], [255, 0, 0])  # top-left texel: row 0, col 0


def test_untextured_colour_is_diffuse_times_lambert_shading():
    diffuse = np.array([0.8, 0.4, 0.2])
    mat = Material(diffuse)
    light = np.array([0.0, 0.0, 1.0])
    ambient = 0.3
    # a quad facing the light (+z normal) and one tilted 60 degrees about y
    a = math.radians(-60)  # about +y: normal (sin a, 0, cos a), turned towards the camera at the origin
    rot = np.array([[math.cos(a), 0, math.sin(a), 2.5], [0, 1, 0, 0], [-math.sin(a), 0, math.cos(a), -5]])
    tilted = quad(-1, 1, -1, 1, 0, mat).transformed(rot)
    facing = quad(-3, -1, -1, 1, -5, mat)
    r = Renderer([facing, tilted], [1, 2], ambient=ambient, light_dir=light)
    res = r.render(ORIGIN, IDENT, intr(80, 60, 90.0), want_normal=True)
    rgb = res.rgb.astype(float)
    for ident, cos in [(1, 1.0), (2, 0.5)]:
        sel = res.instance == ident
        assert sel.sum() > 20
        expect = 255 * diffuse * (ambient + (1 - ambient) * cos)
        np.testing.assert_allclose(rgb[sel].mean(0), expect, atol=1.5)
        assert np.ptp(rgb[sel], axis=0).max() <= 1  # flat colour
        # the shading agrees with Embree's per-pixel normals
        cos_px = np.abs(res.normal[sel] @ light)
        np.testing.assert_allclose(cos_px, cos, atol=1e-5)


def test_walls_and_floor_are_distinguishable_with_default_light():
    white = Material(np.ones(3))
    room = box_mesh([-3, 0, -3], [3, 3, 3], white)
    res = Renderer([room], [0]).render([0, 1.0, 0], quat_from_yaw(0.3), intr(64, 48))
    floor = res.rgb[-1, 32].astype(int)
    wall = res.rgb[24, 32].astype(int)
    assert abs(floor[0] - wall[0]) > 20


def test_texture_is_tinted_by_diffuse_and_shared_materials_are_deduplicated():
    tex = np.full((8, 8, 3), 200, np.uint8)
    mats = [Material(np.array([1.0, 0.5, 0.0]), tex), Material(np.array([1.0, 0.5, 0.0]), tex)]
    a = quad(-2, 0, -1, 1, -3, mats[0])
    b = quad(0, 2, -1, 1, -3, mats[1])
    r = Renderer([a, b], [1, 2], ambient=1.0, atlas_tile=8)
    assert r.scene_materials == 1
    rgb = r.render(ORIGIN, IDENT, intr(40, 30)).rgb
    np.testing.assert_array_equal(rgb[15, 10], [200, 100, 0])
    np.testing.assert_array_equal(rgb[15, 30], [200, 100, 0])


# ------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def small_renderer():
    return Renderer([quad(-1, 1, -1, 1, -3, grey())], [1])


@pytest.mark.parametrize(
    "position, rotation, match",
    [
        ([np.nan, 0, 0], IDENT, "position"),
        ([0, np.inf, 0], IDENT, "position"),
        ([0, 0], IDENT, "position"),
        (ORIGIN, [0, 0, 0, 0], "unit length"),
        (ORIGIN, [0, 0, 0, 2], "unit length"),
        (ORIGIN, [0.1, 0.2, 0.3, 0.4], "unit length"),
        (ORIGIN, [0, 0, np.nan, 1], "quaternion"),
        (ORIGIN, [0, 0, 1], "quaternion"),
    ],
)
def test_bad_pose_raises_value_error(small_renderer, position, rotation, match):
    with pytest.raises(ValueError, match=match):
        small_renderer.render(position, rotation, intr(8, 6))
    with pytest.raises(ValueError, match=match):
        small_renderer.rays(position, rotation, intr(8, 6))


@pytest.mark.parametrize(
    "it, match",
    [
        (Intrinsics(0, 10, 5.0, 5.0, 0.0, 5.0), "image size"),
        (Intrinsics(10, 0, 5.0, 5.0, 5.0, 0.0), "image size"),
        (Intrinsics(10, 10, 0.0, 5.0, 5.0, 5.0), "focal"),
        (Intrinsics(10, 10, 5.0, float("nan"), 5.0, 5.0), "finite"),
    ],
)
def test_bad_intrinsics_raise_value_error(small_renderer, it, match):
    with pytest.raises(ValueError, match=match):
        small_renderer.render(ORIGIN, IDENT, it)


def test_bad_constructor_arguments_raise_value_error():
    m = quad(-1, 1, -1, 1, -3, grey())
    with pytest.raises(ValueError, match="instance ids"):
        Renderer([m], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        Renderer([m], [-1])
    with pytest.raises(ValueError, match="power of two"):
        Renderer([m], [1], atlas_tile=48)
    bad = TexturedMesh(m.vertices, np.array([[0, 1, 9]]), np.zeros((1, 3, 2)), np.zeros(1), [grey()])
    with pytest.raises(ValueError, match="out of range"):
        Renderer([bad], [1])
    nan = TexturedMesh(m.vertices * np.nan, m.triangles, m.triangle_uvs, m.triangle_material, m.materials)
    with pytest.raises(ValueError, match="NaN"):
        Renderer([nan], [1])


def test_slightly_denormalised_quaternion_is_accepted(small_renderer):
    q = np.array([0.0, 0.0, 0.0, 1.0 + 5e-4])
    res = small_renderer.render(ORIGIN, q, intr(8, 6))
    assert res.instance[3, 4] == 1


def test_empty_scene_renders_background():
    r = Renderer([], [])
    res = r.render(ORIGIN, IDENT, intr(8, 6))
    assert np.isinf(res.depth).all() and (res.instance == -1).all() and (res.rgb == 0).all()


def test_concurrent_renders_from_threads_match_serial_ones():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    room = box_mesh([-4, 0, -4], [4, 3, 4], Material(np.ones(3), tex), uv_scale=1.0)
    r = Renderer([room], [0], threads=1)
    it = intr(40, 30)
    poses = [([rng.uniform(-3, 3), 1.0, rng.uniform(-3, 3)], quat_from_yaw(rng.uniform(-3, 3))) for _ in range(12)]
    serial = [r.render(p, q, it) for p, q in poses]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda pq: r.render(*pq, it), poses))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.instance, b.instance)
