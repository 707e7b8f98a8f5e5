"""Ray-casting renderer of the embedded simulator: RGB (UV-sampled textures), z-depth and instance ids.

One Open3D ``t.geometry.RaycastingScene`` (Embree, CPU) holds every mesh as its own geometry.
Everything needed to shade a hit is precomputed per triangle at construction, so a frame is one
``cast_rays`` call plus a handful of flat numpy gathers and integer ops (no per-pixel Python):

* a texture atlas: one ``atlas_tile`` x ``atlas_tile`` tile per (texture, diffuse) pair, with the
  diffuse colour pre-multiplied and rows stored bottom-up (so texel row = floor(v * tile), OBJ's
  v = 0 being the image's bottom row); untextured materials take a single texel of their diffuse
  colour. Texels are packed RGBA in one uint32 so a lookup is a single 1-D gather.
* per triangle (over a global index = geometry offset + primitive id): the UVs of its three corners
  in texel units (complex64 col + i * row; shifted by whole tiles so they are small and
  non-negative; repeat wrap is a bit-mask), the atlas offset of its tile, and a flat Lambert
  factor ``ambient + (1 - ambient) * |n . l|`` (two-sided). ``primitive_normals`` from Embree are the face normals, so the factor is
  the same per triangle and is computed once here instead of per pixel.
* a sentinel "triangle" after the last one: misses (geometry id INVALID_ID, i.e. -1 as int32)
  index it through the lookup tables' last entries, so no masking is needed per frame; it shades
  to ``background``.

Open3D conventions this relies on (checked in tests/test_render.py):

* ``create_rays_pinhole(K, extrinsic, w, h)``: OpenCV camera (x right, y down, looks +z), pixel
  centres at (i + 0.5), directions not normalised (camera-frame z = 1), so ``t_hit`` is z-depth.
  ``render`` builds the same rays itself with numpy (per-intrinsics pixel offsets are cached; a
  frame's rays are two broadcast passes over one buffer, no BLAS).
* ``primitive_uvs`` (u, v) weight the triangle's vertices as (1 - u - v, u, v).
* no back-face culling: rays hit triangles from either side.

Coordinates follow Habitat: y up, the camera looks along -Z, image x right / y down, quaternions
[x, y, z, w]. The OpenCV camera is the Habitat camera with y and z flipped.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from navstack.sim.mesh import TexturedMesh
from navstack.types import Intrinsics, quat_to_matrix

import open3d as o3d  # noqa: E402  (heavy; only the simulator imports this module)

_O3C = o3d.core
_HAB_TO_CV = np.diag([1.0, -1.0, -1.0])  # Habitat camera axes -> OpenCV camera axes (and back)
_UNIT_QUAT_TOL = 1e-3


@dataclass
class RenderResult:
    """One rendered frame.

    rgb: (H, W, 3) uint8, or None when rendered with ``want_rgb=False``.
    depth: (H, W) float32 z-depth in metres along the camera's optical axis; ``np.inf`` where no
        surface was hit. No min/max clipping: the caller applies the sensor's (Habitat's) clipping.
    instance: (H, W) int32 instance id of the hit mesh (``instance_ids[i]`` for mesh i; 0 is
        background structure such as walls and floor), -1 where nothing was hit.
    normal: (H, W, 3) float32 world-frame face normal of the hit triangle (zeros where no hit),
        only with ``want_normal=True``; as stored in the mesh winding (not flipped toward the camera).
    """

    rgb: Optional[np.ndarray]
    depth: np.ndarray
    instance: np.ndarray
    normal: Optional[np.ndarray] = None


def _check_vec(name: str, value, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be {n} numbers, got {value!r}") from exc
    if arr.size != n:
        raise ValueError(f"{name} must have {n} elements, got shape {arr.shape}")
    arr = arr.reshape(n)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def check_pose(position, rotation) -> Tuple[np.ndarray, np.ndarray]:
    """Validated (position (3,), camera-to-world rotation matrix (3, 3)) in the Habitat frame.

    Raises ValueError for non-finite values and for a quaternion whose norm is not 1 (within 1e-3).
    """
    pos = _check_vec("camera position", position, 3)
    q = _check_vec("camera rotation quaternion [x, y, z, w]", rotation, 4)
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > _UNIT_QUAT_TOL:
        raise ValueError(
            f"camera rotation quaternion [x, y, z, w] must be unit length, got {q.tolist()} "
            f"(norm {norm:.6g})"
        )
    return pos, quat_to_matrix(q / norm)


def check_intrinsics(intrinsics: Intrinsics) -> Tuple[int, int, float, float, float, float]:
    """(width, height, fx, fy, cx, cy) of `intrinsics`; ValueError unless it describes a non-empty
    image with finite values and positive focal lengths."""
    try:
        w, h = intrinsics.width, intrinsics.height
        fx, fy, cx, cy = (float(x) for x in (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"intrinsics must be a navstack.types.Intrinsics, got {intrinsics!r}") from exc
    try:
        ok = int(w) == w and int(h) == h and w > 0 and h > 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"image size must be positive integers, got {w}x{h}")
    if not all(math.isfinite(x) for x in (fx, fy, cx, cy)):
        raise ValueError(f"intrinsics must be finite, got fx={fx} fy={fy} cx={cx} cy={cy}")
    if fx <= 0 or fy <= 0:
        raise ValueError(f"focal lengths must be positive, got fx={fx} fy={fy}")
    return int(w), int(h), fx, fy, cx, cy


def camera_extrinsic(position, rotation) -> np.ndarray:
    """4x4 world -> OpenCV-camera transform for a Habitat camera pose (the form Open3D expects)."""
    pos, r_hab = check_pose(position, rotation)
    r_wc = r_hab @ _HAB_TO_CV  # OpenCV camera -> world
    ext = np.eye(4)
    ext[:3, :3] = r_wc.T
    ext[:3, 3] = -r_wc.T @ pos
    return ext


try:
    import cv2 as _cv2
except ImportError:  # pragma: no cover - opencv-python-headless is a simulator dependency
    _cv2 = None


def _rgba_to_rgb(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) -> contiguous (H, W, 3); cv2's SIMD channel drop is ~15x faster than numpy's."""
    if _cv2 is not None:
        return _cv2.cvtColor(rgba, _cv2.COLOR_RGBA2RGB)
    return np.ascontiguousarray(rgba[:, :, :3])  # pragma: no cover


def _raise_malloc_mmap_threshold() -> None:
    """Stop glibc from returning each frame's multi-MB buffers to the OS and page-faulting them back.

    glibc serves allocations above its mmap threshold (128 KiB at start) with fresh mmaps, and
    trims freed heap above a trim threshold; either way every frame's outputs (Open3D's hit
    tensors, depth, ids, rgb: ~13 MB at 640x480) are page-faulted anew, ~2000 faults a frame,
    10-20 % of the frame time. Freeing one mmapped block of 24 MiB makes glibc raise both
    thresholds (its documented dynamic adjustment; up to 32 MiB) for the whole process, so frame
    buffers come from and go back to the heap. No-op elsewhere; a process that already freed a
    large block (e.g. after loading a house) is unaffected.
    """
    block = np.empty(24 << 20, np.uint8)  # untouched: costs an mmap/munmap pair, no memory
    del block


def _check_near(near) -> float:
    try:
        near = float(near)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"near must be a number, got {near!r}") from exc
    if not (math.isfinite(near) and near >= 0.0):
        raise ValueError(f"near must be finite and >= 0, got {near}")
    return near


def _pow2(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def _resize_tile(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to size x size: area averaging where it shrinks, nearest
    where it only grows (what nearest-texel sampling of the original would show)."""
    h, w = img.shape[:2]
    if h == size and w == size:
        return img
    if _cv2 is not None:
        interp = _cv2.INTER_AREA if (h > size or w > size) else _cv2.INTER_NEAREST
        return _cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=interp)
    rows = (np.arange(size) * h // size).clip(0, h - 1)  # pragma: no cover - nearest fallback
    cols = (np.arange(size) * w // size).clip(0, w - 1)
    return img[rows][:, cols]


def _pack_rgba(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (...) uint32 with bytes R, G, B, 255 in memory order (little-endian)."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    out = np.empty(rgb.shape[:-1] + (4,), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = 255
    return out.view("<u4").reshape(rgb.shape[:-1])


class Renderer:
    """Renders RGB, z-depth and instance ids of a static set of textured meshes by ray casting.

    meshes: the scene; each becomes its own Open3D geometry.
    instance_ids: id reported for each mesh (0 = background / structure: walls, floor); >= 0.
    atlas_tile: edge length (power of two) every texture is resized to in the atlas.
    ambient: fraction of light that is ambient; the rest is Lambert with |n . light_dir|.
    light_dir: direction towards the (directional) light, world frame; need not be normalised.
    background: RGB shown where no surface is hit.
    threads: cast_rays threads (None or 0 = all cores).

    Thread-safe: casts are serialised on a lock (each cast already uses `threads` cores); the
    numpy shading runs outside it in per-thread work buffers. Results never alias internal buffers.
    """

    def __init__(
        self,
        meshes: Sequence[TexturedMesh],
        instance_ids: Sequence[int],
        atlas_tile: int = 64,
        ambient: float = 0.45,
        light_dir=(0.3, 1.0, 0.5),
        threads: Optional[int] = None,
        background=(0, 0, 0),
    ):
        meshes = list(meshes)
        ids = np.asarray(list(instance_ids), dtype=np.int64).reshape(-1)
        if len(ids) != len(meshes):
            raise ValueError(f"{len(meshes)} meshes but {len(ids)} instance ids")
        if np.any(ids < 0) or np.any(ids > np.iinfo(np.int32).max):
            raise ValueError("instance ids must be non-negative int32 (-1 is reserved for 'no hit')")
        if not isinstance(atlas_tile, (int, np.integer)) or not _pow2(int(atlas_tile)) or atlas_tile > 4096:
            raise ValueError(f"atlas_tile must be a power of two <= 4096, got {atlas_tile!r}")
        if not 0.0 <= float(ambient) <= 1.0:
            raise ValueError(f"ambient must be in [0, 1], got {ambient}")
        light = _check_vec("light_dir", light_dir, 3)
        if np.linalg.norm(light) < 1e-12:
            raise ValueError("light_dir must be non-zero")
        light = light / np.linalg.norm(light)
        bg = _check_vec("background", background, 3)
        if threads is not None and (int(threads) != threads or threads < 0):
            raise ValueError(f"threads must be None or a non-negative int, got {threads!r}")

        self.threads = int(threads or 0)
        self.atlas_tile = tile = int(atlas_tile)
        self._shift = tile.bit_length() - 1
        self._mask = tile - 1
        self.ambient = float(ambient)
        self.light_dir = light
        self.num_meshes = len(meshes)

        self.scene = o3d.t.geometry.RaycastingScene(nthreads=self.threads)
        _raise_malloc_mmap_threshold()

        # ---- atlas: tiles for textured (texture, diffuse) pairs, then single texels.
        tile_index: Dict[tuple, int] = {}  # (id(texture) or None, diffuse) -> atlas offset
        content_index: Dict[bytes, int] = {}  # packed tile bytes -> atlas offset (equal copies share)
        tiles = []  # uint32 arrays, each tile*tile (textured) or 1 (untextured) long
        atlas_len = 0

        def atlas_offset(mat) -> int:
            nonlocal atlas_len
            diffuse = np.clip(np.asarray(mat.diffuse, dtype=np.float64).reshape(3), 0.0, 1.0)
            tex = mat.texture
            key = (id(tex) if tex is not None else None, tuple(np.round(diffuse, 6)))
            if key in tile_index:
                return tile_index[key]
            if tex is not None:
                t = np.asarray(tex)
                if t.ndim == 2:
                    t = np.repeat(t[:, :, None], 3, axis=2)
                if t.ndim != 3 or t.shape[2] not in (3, 4) or t.shape[0] == 0 or t.shape[1] == 0:
                    raise ValueError(f"material {mat.name!r}: texture must be (H, W, 3) uint8, got {t.shape}")
                if t.dtype != np.uint8:
                    raise ValueError(f"material {mat.name!r}: texture must be uint8, got {t.dtype}")
                t = _resize_tile(np.ascontiguousarray(t[:, :, :3]), tile)
                t = np.flipud(t)  # rows bottom-up: row index = floor(v * tile)
                rgb = np.clip(t.astype(np.float32) * diffuse.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
                packed = _pack_rgba(rgb).reshape(-1)
            else:
                packed = _pack_rgba(np.clip(diffuse * 255.0 + 0.5, 0, 255).astype(np.uint8)[None])
            content = packed.tobytes()
            if content not in content_index:
                content_index[content] = atlas_len
                tiles.append(packed)
                atlas_len += len(packed)
            tile_index[key] = content_index[content]
            keepalive.append(tex)  # keep the texture alive so its id() stays unique while building
            return tile_index[key]

        keepalive: list = []
        geom_offset = []  # by geometry id
        geom_instance = []
        rec_texc, rec_base, rec_shade = [], [], []
        tri_total = 0
        self._mesh_geometry = []  # geometry id of mesh i (None if it has no triangles)
        for i, mesh in enumerate(meshes):
            if not isinstance(mesh, TexturedMesh):
                raise ValueError(f"mesh {i} is not a TexturedMesh: {type(mesh).__name__}")
            v = mesh.vertices
            tri = mesh.triangles
            n_tri = len(tri)
            if n_tri == 0:
                self._mesh_geometry.append(None)
                continue
            if not np.all(np.isfinite(v)):
                raise ValueError(f"mesh {i}: vertices contain NaN or inf")
            if tri.min() < 0 or tri.max() >= len(v):
                raise ValueError(f"mesh {i}: triangle index out of range 0..{len(v) - 1}")
            mat_ids = mesh.triangle_material
            if len(mesh.materials) == 0 or mat_ids.min() < 0 or mat_ids.max() >= len(mesh.materials):
                raise ValueError(f"mesh {i}: triangle_material out of range of its {len(mesh.materials)} materials")

            gid = self.scene.add_triangles(
                _O3C.Tensor.from_numpy(np.ascontiguousarray(v, dtype=np.float32)),
                _O3C.Tensor.from_numpy(np.ascontiguousarray(tri.astype(np.uint32))),
            )
            if gid != len(geom_offset):
                raise RuntimeError(f"unexpected Open3D geometry id {gid} (expected {len(geom_offset)})")
            self._mesh_geometry.append(gid)
            geom_offset.append(tri_total)
            geom_instance.append(int(ids[i]))
            tri_total += n_tri

            mat_base = np.array([atlas_offset(m) for m in mesh.materials], dtype=np.int64)
            textured = np.array([m.texture is not None for m in mesh.materials], dtype=bool)
            base = mat_base[mat_ids]
            tex_tri = textured[mat_ids]

            # UVs in texel units, shifted per triangle by whole tiles (repeat wrap keeps the texel).
            uv = mesh.triangle_uvs.astype(np.float64)
            if not np.all(np.isfinite(uv)):
                raise ValueError(f"mesh {i}: triangle_uvs contain NaN or inf")
            uv = uv - np.floor(uv.min(axis=1, keepdims=True))
            uv *= tile
            uv[~tex_tri] = 0.0  # untextured: always texel (0, 0) of its 1-texel entry
            tc = (uv[..., 0] + 1j * uv[..., 1]).astype(np.complex64)  # (T, 3): col + i * row per corner
            texc = np.stack([tc[:, 0], tc[:, 1] - tc[:, 0], tc[:, 2] - tc[:, 0]], axis=0)
            rec_texc.append(texc)
            rec_base.append(base)

            # Flat two-sided Lambert factor from the face normal (what primitive_normals reports).
            p = v.astype(np.float64)[tri]
            nrm = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
            ln = np.linalg.norm(nrm, axis=1)
            cos = np.abs(nrm @ light) / np.maximum(ln, 1e-30)
            shade = self.ambient + (1.0 - self.ambient) * cos
            rec_shade.append(np.clip(np.rint(shade * 256.0), 0, 256))

        self.scene_triangles = tri_total
        bg_off = atlas_len
        tiles.append(_pack_rgba(np.clip(np.rint(bg), 0, 255).astype(np.uint8)[None]))
        atlas_len += 1
        self._atlas = np.concatenate(tiles).astype(np.uint32)
        if len(self._atlas) > np.iinfo(np.int32).max:
            raise ValueError("texture atlas too large; use a smaller atlas_tile")

        # Lookup tables by geometry id; the last entry serves misses (id -1 as int32).
        self._geom_offset = np.array(geom_offset + [tri_total + 1], dtype=np.int32)
        self._geom_instance = np.array(geom_instance + [-1], dtype=np.int32)
        # Per global triangle (+ sentinel at index tri_total): texel coords, atlas base, shade.
        sentinel_texc = np.zeros((3, 1), np.complex64)
        texc = np.concatenate(rec_texc + [sentinel_texc], axis=1) if rec_texc else sentinel_texc
        self._tc0, self._tc1, self._tc2 = [np.ascontiguousarray(r) for r in texc]
        self._tri_base = np.concatenate(rec_base + [np.array([bg_off])]).astype(np.int32)
        self._tri_shade = np.concatenate(rec_shade + [np.array([256.0])]).astype(np.uint32)
        self.scene_materials = len(tiles) - 1  # distinct atlas entries (tiles and flat colours)

        self._dir_cache: Dict[tuple, Tuple[np.ndarray, np.ndarray]] = {}
        self._ray_buf: Dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    # ------------------------------------------------------------------ rays
    def _camera_axes(self, cam: Tuple[int, int, float, float, float, float]) -> Tuple[np.ndarray, np.ndarray]:
        """Per-column x and per-row y of the OpenCV-camera ray directions (z = 1), pixel centres at
        (j + 0.5, i + 0.5) like Open3D's create_rays_pinhole; cached per intrinsics."""
        axes = self._dir_cache.get(cam)
        if axes is None:
            w, h, fx, fy, cx, cy = cam
            xs = (np.arange(w, dtype=np.float64) + 0.5 - cx) / fx
            ys = (np.arange(h, dtype=np.float64) + 0.5 - cy) / fy
            axes = (xs, ys)
            if len(self._dir_cache) >= 8:
                self._dir_cache.clear()
                self._ray_buf.clear()
            self._dir_cache[cam] = axes
        return axes

    def _fill_rays(self, out: np.ndarray, pos: np.ndarray, r_hab: np.ndarray, cam, near: float) -> None:
        """Write the (H * W, 6) float32 rays of a validated pose and intrinsics into `out`."""
        xs, ys = self._camera_axes(cam)
        r_wc = r_hab @ _HAB_TO_CV  # OpenCV camera -> world (columns: camera x, y, z in world)
        # world direction of pixel (i, j) = xs[j] * cx_w + ys[i] * cy_w + cz_w, and its origin
        # pos + near * direction, are a per-column part plus ys[i] times a per-column pattern: two
        # passes with long inner loops over the contiguous (H, W * 6) buffer. (No matmul: a large
        # one wakes OpenBLAS threads that then compete with Embree's for the cores.)
        h, w = len(ys), len(xs)
        per_col = np.empty((w, 6), np.float64)
        per_col[:, 3:] = xs[:, None] * r_wc[:, 0] + r_wc[:, 2]
        per_col[:, :3] = pos + near * per_col[:, 3:]
        row_pat = np.empty((w, 6), np.float64)
        row_pat[:, 3:] = r_wc[:, 1]
        row_pat[:, :3] = near * r_wc[:, 1]
        grid = out.reshape(h, w * 6)
        np.multiply(ys.astype(np.float32)[:, None], row_pat.astype(np.float32).reshape(1, -1), out=grid)
        np.add(grid, per_col.astype(np.float32).reshape(1, -1), out=grid)

    def rays(self, position, rotation, intrinsics: Intrinsics, near: float = 0.0) -> "o3d.core.Tensor":
        """The (H, W, 6) float32 rays ``render`` casts (a fresh tensor; equal to
        ``create_rays_pinhole(K, camera_extrinsic(position, rotation), W, H)`` when near = 0)."""
        pos, r_hab = check_pose(position, rotation)
        cam = check_intrinsics(intrinsics)
        near = _check_near(near)
        buf = np.empty((cam[1] * cam[0], 6), np.float32)
        self._fill_rays(buf, pos, r_hab, cam, near)
        return _O3C.Tensor.from_numpy(buf.reshape(cam[1], cam[0], 6))

    def cast_bare(self, rays) -> dict:
        """Plain ``scene.cast_rays`` on `rays` (o3d Tensor or float32 array (..., 6)), for benchmarks."""
        if isinstance(rays, np.ndarray):
            rays = _O3C.Tensor.from_numpy(np.ascontiguousarray(rays, dtype=np.float32))
        return self.scene.cast_rays(rays, nthreads=self.threads)

    # ---------------------------------------------------------------- render
    def render(
        self,
        position,
        rotation,
        intrinsics: Intrinsics,
        want_rgb: bool = True,
        want_normal: bool = False,
        near: float = 0.0,
    ) -> RenderResult:
        """Render the view of a camera at `position` (3,) with Habitat orientation `rotation` [x, y, z, w].

        near: z-distance of a near clipping plane (surfaces closer than this are not seen, like a
            GL near plane; Habitat's is 0.01 m). Depth is still measured from the camera centre.
        Raises ValueError for a non-finite position, a non-unit quaternion or empty intrinsics.
        """
        pos, r_hab = check_pose(position, rotation)
        cam = check_intrinsics(intrinsics)
        near = _check_near(near)
        w, h = cam[0], cam[1]
        with self._lock:  # the ray buffer is shared between calls; shading below runs unlocked
            buf = self._ray_buf.get(cam)
            if buf is None:
                buf = self._ray_buf[cam] = np.empty((h * w, 6), np.float32)
            self._fill_rays(buf, pos, r_hab, cam, near)
            ans = self.scene.cast_rays(_O3C.Tensor.from_numpy(buf), nthreads=self.threads)

        depth = ans["t_hit"].numpy()
        if near:
            depth = depth + np.float32(near)  # inf stays inf
        else:
            depth = depth.copy()
        # INVALID_ID viewed as int32 is -1, which picks the tables' last (miss) entry, so no
        # per-pixel masking is needed. np.take(mode="wrap", out=...) into per-thread work buffers:
        # flat gathers beat fancy indexing, and reused buffers avoid page-faulting fresh ones.
        gid = ans["geometry_ids"].numpy().view(np.int32)
        instance = np.take(self._geom_instance, gid, mode="wrap")

        rgb = None
        if want_rgb:
            ws = self._workspace(h * w)
            tri, tmp_i = ws["tri"], ws["tmp_i"]
            np.take(self._geom_offset, gid, out=tri, mode="wrap")
            tri += ans["primitive_ids"].numpy().view(np.int32)  # misses: (T + 1) - 1 = sentinel
            u, v = ans["primitive_uvs"].numpy().T  # strided views
            # texel coordinates (col + i * row, as complex64: half the gathers of separate arrays)
            # = corner0 + u * (corner1 - corner0) + v * (corner2 - corner0)
            st, tmp_c = ws["st"], ws["tmp_c"]
            np.take(self._tc1, tri, out=st, mode="wrap")
            st *= u
            np.take(self._tc2, tri, out=tmp_c, mode="wrap")
            tmp_c *= v
            st += tmp_c
            np.take(self._tc0, tri, out=tmp_c, mode="wrap")
            st += tmp_c
            stf = st.view(np.float32)
            # A NaN texel coordinate turned up in held-out runs (the models' texture coordinates are finite, so
            # it comes from a hit's barycentrics): such a pixel reads texel 0 instead of an undefined int cast.
            # Grazing hits on degenerate triangles can also give finite values past the int range: clip them.
            np.nan_to_num(stf, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            np.clip(stf, 0.0, 1e9, out=stf)
            ci, ri = ws["ci"], ws["ri"]
            ci[...] = stf[0::2]  # float -> int truncation; non-negative by construction, so = floor
            ri[...] = stf[1::2]
            ci &= self._mask  # repeat wrap
            ri &= self._mask
            ri <<= self._shift
            ri += ci
            ri += np.take(self._tri_base, tri, out=tmp_i, mode="wrap")
            texel, rb, shade = ws["texel"], ws["rb"], ws["shade"]
            np.take(self._atlas, ri, out=texel, mode="wrap")
            np.take(self._tri_shade, tri, out=shade, mode="wrap")
            # Per-channel multiply by shade/256 on packed RGBA (SWAR: R and B together, then G).
            np.bitwise_and(texel, np.uint32(0x00FF00FF), out=rb)
            rb *= shade
            rb >>= np.uint32(8)
            rb &= np.uint32(0x00FF00FF)
            texel &= np.uint32(0x0000FF00)
            texel *= shade
            texel >>= np.uint32(8)
            texel &= np.uint32(0x0000FF00)
            texel |= rb
            rgb = _rgba_to_rgb(texel.view(np.uint8).reshape(h, w, 4))  # a fresh array

        normal = None
        if want_normal:
            normal = ans["primitive_normals"].numpy().reshape(h, w, 3).copy()
        return RenderResult(rgb=rgb, depth=depth.reshape(h, w), instance=instance.reshape(h, w), normal=normal)

    def _workspace(self, n: int) -> Dict[str, np.ndarray]:
        """Per-thread shading buffers for n pixels (reused between frames of the same size)."""
        ws = getattr(self._local, "ws", None)
        if ws is None or len(ws["tri"]) != n:
            ws = {
                "tri": np.empty(n, np.int32),
                "tmp_i": np.empty(n, np.int32),
                "ci": np.empty(n, np.int32),
                "ri": np.empty(n, np.int32),
                "st": np.empty(n, np.complex64),
                "tmp_c": np.empty(n, np.complex64),
                "texel": np.empty(n, np.uint32),
                "rb": np.empty(n, np.uint32),
                "shade": np.empty(n, np.uint32),
            }
            self._local.ws = ws
        return ws

    def mesh_geometry_id(self, mesh_index: int) -> Optional[int]:
        """Open3D geometry id of mesh `mesh_index` (None if it had no triangles)."""
        return self._mesh_geometry[mesh_index]

