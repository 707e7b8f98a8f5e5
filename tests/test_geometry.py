"""Depth geometry: back-projection of real rendered frames (with pitch), projection, validity, normals."""

import math

import numpy as np
import pytest

from navstack.config import SimConfig
from navstack.perception import geometry as geo
from navstack.types import DiscreteAction, Intrinsics, Observation, Pose


@pytest.fixture(scope="module")
def small_backend(house, renderer):
    from navstack.sim.backend import EmbeddedBackend

    b = EmbeddedBackend(house, SimConfig(width=160, height=120), renderer=renderer)
    pts = house.navgrid.navigable_points()
    centre = pts.mean(axis=0)
    start = pts[int(np.argmin(np.linalg.norm(pts - centre, axis=1)))]
    b.reset(position=[start[0], 0.0, start[1]])
    return b


def _frames(b, n=6, pitch_down=False):
    out = []
    if pitch_down:
        b.act(DiscreteAction.LOOK_DOWN)
    for _ in range(n):
        out.append(b.observe())
        b.act(DiscreteAction.TURN_LEFT)
        b.act(DiscreteAction.TURN_LEFT)
    if pitch_down:
        b.act(DiscreteAction.LOOK_UP)
    return out


@pytest.mark.parametrize("pitch_down", [False, True])
def test_back_projection_lands_on_the_right_surfaces(house, small_backend, pitch_down):
    checked = 0
    for obs in _frames(small_backend, pitch_down=pitch_down):
        assert math.isclose(obs.camera_pitch, -math.radians(30) if pitch_down else 0.0, abs_tol=1e-9)
        pts, valid = geo.depth_to_world_points(obs, 1, 0.5, 5.0)
        assert pts.shape == obs.depth.shape + (3,) and pts.dtype == np.float32
        ins = obs.instance
        # every object pixel lies inside that object's box
        for oid in np.unique(ins[valid & (ins > 0)]):
            o = house.object(int(oid))
            q = pts[valid & (ins == oid)]
            x0, z0, x1, z1 = o.footprint
            tol = 0.03
            inside = ((q[:, 0] > x0 - tol) & (q[:, 0] < x1 + tol) & (q[:, 2] > z0 - tol) & (q[:, 2] < z1 + tol)
                      & (q[:, 1] > o.elevation - tol) & (q[:, 1] < o.elevation + o.height + tol))
            assert inside.mean() > 0.99, (o.category, inside.mean())
            checked += 1
        # structure is floor (y = 0), walls or ceiling (y = wall height)
        s = pts[valid & (ins == 0)]
        assert s[:, 1].min() > -0.01 and s[:, 1].max() < house.plan.wall_height + 0.01
    assert checked >= 3


def test_projection_round_trip(small_backend):
    obs = small_backend.observe()
    cam = geo.observation_camera(obs)
    pts, valid = geo.depth_to_world_points(obs, 1, 0.5, 5.0)
    rows, cols = np.nonzero(valid)
    uv, z = geo.project_points(pts[rows, cols], cam, obs.intrinsics)
    assert np.allclose(uv[:, 0], cols, atol=1e-2) and np.allclose(uv[:, 1], rows, atol=1e-2)
    assert np.allclose(z, obs.depth[rows, cols], atol=1e-4)
    # strided back-projection picks the same pixels
    p2, v2 = geo.depth_to_world_points(obs, 2, 0.5, 5.0)
    assert np.array_equal(v2, valid[::2, ::2])
    assert np.allclose(p2[v2], pts[::2, ::2][v2], atol=1e-5)


def test_camera_pose_matches_habitat_convention():
    pose = Pose.from_xz_yaw(1.0, 2.0, math.pi / 2)  # yaw +90 deg looks along -X
    cam = geo.camera_pose(pose, 0.88, 0.0)
    assert np.allclose(cam.position, [1.0, 0.88, 2.0])
    assert np.allclose(cam.forward, [-1.0, 0.0, 0.0], atol=1e-9)
    up = geo.camera_pose(Pose.from_xz_yaw(0, 0, 0), 0.88, math.radians(30))
    assert up.forward[1] > 0.49  # pitch up looks up


def test_validity_masks():
    d = np.array([[np.nan, np.inf, -np.inf, 0.0], [-1.0, 0.5, 5.0, 2.0]], np.float32)
    v = geo.valid_depth_mask(d, 0.5, 5.0)
    assert v.tolist() == [[False, False, False, False], [False, False, False, True]]
    f = geo.far_mask(d, 5.0)
    assert f.tolist() == [[False, True, False, False], [False, False, True, False]]


def test_voxel_keys_round_trip():
    rng = np.random.default_rng(0)
    p = rng.uniform(-30, 30, (500, 3)).astype(np.float32)
    k = geo.voxel_keys(p, 0.05)
    c = geo.keys_to_points(k, 0.05)
    assert np.all(np.abs(c - p) <= 0.025 + 1e-4)
    assert len(np.unique(geo.voxel_keys(c, 0.05))) == len(np.unique(k))


def test_normals_on_floor_and_walls(small_backend):
    obs = small_backend.observe()
    pts, valid = geo.depth_to_world_points(obs, 1, 0.5, 5.0)
    n, ok = geo.surface_normals(pts, valid, step=1)
    floor = ok & (obs.instance == 0) & (pts[..., 1] < 0.01)
    wall = ok & (obs.instance == 0) & (pts[..., 1] > 0.3) & (pts[..., 1] < 2.3)
    assert floor.sum() > 50 and wall.sum() > 50
    assert np.median(np.abs(n[floor][:, 1])) > 0.99
    assert np.median(np.abs(n[wall][:, 1])) < 0.05


def test_bad_observations_are_clear_errors(small_backend):
    good = small_backend.observe()

    def obs(**kw):
        d = dict(rgb=good.rgb, depth=good.depth, pose=good.pose, intrinsics=good.intrinsics)
        d.update(kw)
        return Observation(**d)

    geo.check_observation(good)
    with pytest.raises(ValueError, match="depth must be float"):
        geo.check_observation(obs(depth=good.depth.astype(np.int32)))
    with pytest.raises(ValueError, match="rgb must be"):
        geo.check_observation(obs(rgb=good.rgb[:, :-1]))
    with pytest.raises(ValueError, match="uint8"):
        geo.check_observation(obs(rgb=good.rgb.astype(np.float32)))
    with pytest.raises(ValueError, match="intrinsics are for"):
        geo.check_observation(obs(intrinsics=Intrinsics.from_hfov(320, 240, 79)))
    with pytest.raises(ValueError, match=r"\(H, W\) array"):
        geo.check_observation(obs(depth=good.depth[None]))
    with pytest.raises(ValueError, match="Observation"):
        geo.check_observation("not an observation")
    # bad depth values are not an error: they are skipped
    d = good.depth.copy()
    d[:10] = np.nan
    d[10:20] = np.inf
    d[20:30] = 0
    pts, valid = geo.depth_to_world_points(obs(depth=d), 1, 0.5, 5.0)
    assert not valid[:30].any() and np.isfinite(pts[valid]).all()
