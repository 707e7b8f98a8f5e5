"""Depth geometry in Habitat's frame: pixels -> camera points -> world points, validity, normals.

Conventions (the same as `navstack.sim.render` and Habitat):

* world: y up; the base pose is on the floor (y = 0) with a pure-yaw rotation [x, y, z, w];
* camera: x right, y up, looks along -Z; it sits `camera_height` above the base and is tilted by
  `camera_pitch` radians about its x axis (positive looks up);
* image: column j / row i; pixel centres at (j + 0.5, i + 0.5); row 0 is the top of the image;
* depth is z-depth (distance along the optical axis), not ray length.

Depth validity: NaN, inf, zero / negative values and anything outside (min_depth, max_depth) are
invalid. Habitat clips depth into [min_depth, max_depth], so a value *at* max_depth means "nothing
closer than max_depth" (free space up to there, no surface) and one at min_depth "something closer
than min_depth" (a surface, position unknown); both are excluded from surface points, and
`far_mask` marks the max-depth ones for free-space carving.

Only numpy here: this module is imported by everything above perception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from navstack.types import Intrinsics, Observation, Pose, quat_to_matrix

DEPTH_EPS = 1e-3  # values within this of min/max depth count as clipped


def check_observation(obs: Observation, need_rgb: bool = True) -> Tuple[int, int]:
    """(H, W) of a well-formed observation; ValueError naming the problem otherwise.

    Checks types, shapes and dtypes only; bad depth *values* (NaN, inf, 0) are allowed and skipped
    by `valid_depth_mask`.
    """
    if not isinstance(obs, Observation):
        raise ValueError(f"expected a navstack.types.Observation, got {type(obs).__name__}")
    depth = obs.depth
    if not isinstance(depth, np.ndarray) or depth.ndim != 2:
        raise ValueError(f"observation depth must be an (H, W) array, got {getattr(depth, 'shape', type(depth))}")
    if depth.dtype.kind != "f":
        raise ValueError(f"observation depth must be float (metres), got dtype {depth.dtype}")
    h, w = depth.shape
    if h < 2 or w < 2:
        raise ValueError(f"observation depth is too small: {depth.shape}")
    if need_rgb or obs.rgb is not None:
        rgb = obs.rgb
        if not isinstance(rgb, np.ndarray) or rgb.shape != (h, w, 3):
            raise ValueError(f"observation rgb must be (H, W, 3) = ({h}, {w}, 3) like depth, got "
                             f"{getattr(rgb, 'shape', type(rgb))}")
        if rgb.dtype != np.uint8:
            raise ValueError(f"observation rgb must be uint8, got dtype {rgb.dtype}")
    intr = obs.intrinsics
    if not isinstance(intr, Intrinsics):
        raise ValueError(f"observation intrinsics must be navstack.types.Intrinsics, got {type(intr).__name__}")
    if (intr.width, intr.height) != (w, h):
        raise ValueError(f"intrinsics are for {intr.width}x{intr.height} but depth is {w}x{h}")
    if not all(math.isfinite(v) for v in (intr.fx, intr.fy, intr.cx, intr.cy)) or intr.fx <= 0 or intr.fy <= 0:
        raise ValueError(f"intrinsics must be finite with positive focal lengths, got {intr}")
    if not isinstance(obs.pose, Pose):
        raise ValueError(f"observation pose must be navstack.types.Pose, got {type(obs.pose).__name__}")
    if not (np.all(np.isfinite(obs.pose.position)) and np.all(np.isfinite(obs.pose.rotation))):
        raise ValueError(f"observation pose is not finite: {obs.pose}")
    if not (math.isfinite(obs.camera_height) and math.isfinite(obs.camera_pitch)):
        raise ValueError(f"camera height/pitch must be finite, got {obs.camera_height}, {obs.camera_pitch}")
    if obs.instance is not None and (not isinstance(obs.instance, np.ndarray) or obs.instance.shape != (h, w)):
        raise ValueError(f"observation instance ids must be (H, W) = ({h}, {w}), got "
                         f"{getattr(obs.instance, 'shape', type(obs.instance))}")
    return h, w


@dataclass(frozen=True)
class CameraPose:
    """Camera-to-world transform: world = rotation @ cam + position (Habitat camera axes)."""

    rotation: np.ndarray  # (3, 3)
    position: np.ndarray  # (3,)

    @property
    def forward(self) -> np.ndarray:
        """Unit viewing direction in the world."""
        return -self.rotation[:, 2]


def pitch_matrix(pitch: float) -> np.ndarray:
    """Rotation about the camera's x axis by `pitch` (positive tilts the view up)."""
    c, s = math.cos(pitch), math.sin(pitch)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def camera_pose(pose: Pose, camera_height: float = 0.88, camera_pitch: float = 0.0) -> CameraPose:
    """The camera of a base pose: `camera_height` above the base, base rotation then pitch."""
    r = quat_to_matrix(pose.rotation) @ pitch_matrix(camera_pitch)
    return CameraPose(r, np.asarray(pose.position, float) + np.array([0.0, camera_height, 0.0]))


def observation_camera(obs: Observation) -> CameraPose:
    return camera_pose(obs.pose, obs.camera_height, obs.camera_pitch)


_RAY_CACHE: dict = {}


def pixel_rays(intrinsics: Intrinsics, stride: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Per-column x/z and per-row y/z factors of the camera rays (float32), cached.

    A pixel (i, j) at z-depth d is the camera point (xs[j] * d, ys[i] * d, -d).
    """
    key = (intrinsics, stride)
    hit = _RAY_CACHE.get(key)
    if hit is None:
        xs = ((np.arange(0, intrinsics.width, stride) + 0.5 - intrinsics.cx) / intrinsics.fx).astype(np.float32)
        ys = (-(np.arange(0, intrinsics.height, stride) + 0.5 - intrinsics.cy) / intrinsics.fy).astype(np.float32)
        if len(_RAY_CACHE) > 16:
            _RAY_CACHE.clear()
        hit = _RAY_CACHE[key] = (xs, ys)
    return hit


def valid_depth_mask(depth: np.ndarray, min_depth: float = 0.0, max_depth: float = math.inf) -> np.ndarray:
    """True where depth is a measured surface: finite, > 0 and strictly inside (min_depth, max_depth)."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(depth) & (depth > max(min_depth + DEPTH_EPS, 0.0))
        if math.isfinite(max_depth):
            ok &= depth < max_depth - DEPTH_EPS
    return ok


def far_mask(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """True where the sensor saw nothing closer than max_depth (value at max_depth or +inf)."""
    with np.errstate(invalid="ignore"):
        return (depth >= max_depth - DEPTH_EPS) | np.isposinf(depth)


def depth_to_camera_points(depth: np.ndarray, intrinsics: Intrinsics, stride: int = 1) -> np.ndarray:
    """(H', W', 3) float32 camera-frame points of a z-depth image (every `stride`-th pixel).

    Invalid depth gives non-finite or meaningless points: mask them with `valid_depth_mask`.
    """
    d = np.asarray(depth, np.float32)[::stride, ::stride]
    xs, ys = pixel_rays(intrinsics, stride)
    d = d[: len(ys), : len(xs)]
    out = np.empty(d.shape + (3,), np.float32)
    np.multiply(d, xs[None, :], out=out[..., 0])
    np.multiply(d, ys[:, None], out=out[..., 1])
    np.negative(d, out=out[..., 2])
    return out


def camera_to_world(points: np.ndarray, cam: CameraPose) -> np.ndarray:
    """Camera-frame points (..., 3) -> world (..., 3), float32."""
    r = cam.rotation.astype(np.float32)
    t = cam.position.astype(np.float32)
    return points @ r.T + t


def world_to_camera(points: np.ndarray, cam: CameraPose) -> np.ndarray:
    r = cam.rotation.astype(np.float32)
    t = cam.position.astype(np.float32)
    return (np.asarray(points, np.float32) - t) @ r


def depth_to_world_points(obs: Observation, stride: int = 1, min_depth: float = 0.0,
                          max_depth: float = math.inf) -> Tuple[np.ndarray, np.ndarray]:
    """(points (H', W', 3) float32 world, valid (H', W') bool) of an observation's depth."""
    cam = observation_camera(obs)
    d = obs.depth[::stride, ::stride]
    valid = valid_depth_mask(d, min_depth, max_depth)
    dd = np.where(valid, d, 0.0).astype(np.float32)
    xs, ys = pixel_rays(obs.intrinsics, stride)
    pc = np.empty(dd.shape + (3,), np.float32)
    np.multiply(dd, xs[None, :], out=pc[..., 0])
    np.multiply(dd, ys[:, None], out=pc[..., 1])
    np.negative(dd, out=pc[..., 2])
    return camera_to_world(pc, cam), valid


def project_points(points: np.ndarray, cam: CameraPose, intrinsics: Intrinsics) -> Tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> (pixel (N, 2) float [column, row], z-depth (N,)); depth <= 0 is behind."""
    pc = world_to_camera(points, cam)
    z = -pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = pc[:, 0] / z * intrinsics.fx + intrinsics.cx - 0.5
        v = -pc[:, 1] / z * intrinsics.fy + intrinsics.cy - 0.5
    return np.stack([u, v], 1), z


def surface_normals(points: np.ndarray, valid: np.ndarray, step: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    """Per-pixel unit normals (H, W, 3) from central differences of an organised point image.

    Neighbours `step` pixels away on each side; normals are oriented towards the camera's side
    (sign is not meaningful for vertical/horizontal tests, use |n_y|). Second output: where the
    normal is defined (all four neighbours valid).
    """
    h, w = valid.shape
    n = np.zeros((h, w, 3), np.float32)
    ok = np.zeros((h, w), bool)
    if h <= 2 * step or w <= 2 * step:
        return n, ok
    dx = points[step:-step, 2 * step:] - points[step:-step, : -2 * step]
    dy = points[2 * step:, step:-step] - points[: -2 * step, step:-step]
    c = np.cross(dx, dy)
    norm = np.linalg.norm(c, axis=-1, keepdims=True)
    inner = (valid[step:-step, 2 * step:] & valid[step:-step, : -2 * step] & valid[2 * step:, step:-step]
             & valid[: -2 * step, step:-step] & valid[step:-step, step:-step] & (norm[..., 0] > 1e-12))
    n[step:-step, step:-step] = c / np.maximum(norm, 1e-12)
    ok[step:-step, step:-step] = inner
    return n, ok


def horizontal_distance(points: np.ndarray, origin) -> np.ndarray:
    """Distance in the floor plane (x, z) of points (..., 3) from a world position."""
    o = np.asarray(origin, np.float32)
    return np.hypot(points[..., 0] - o[0], points[..., 2] - o[2])


def voxel_keys(points: np.ndarray, voxel: float) -> np.ndarray:
    """int64 key of the voxel holding each point (N, 3); 21 bits per axis (+-52 km at 5 cm)."""
    q = np.floor(np.asarray(points, np.float64) / voxel).astype(np.int64) + (1 << 20)
    q = np.clip(q, 0, (1 << 21) - 1)
    return (q[:, 0] << 42) | (q[:, 1] << 21) | q[:, 2]


def keys_to_points(keys: np.ndarray, voxel: float) -> np.ndarray:
    """Centres (N, 3) float32 of voxel keys made by `voxel_keys`."""
    keys = np.asarray(keys, np.int64)
    m = (1 << 21) - 1
    q = np.stack([(keys >> 42) & m, (keys >> 21) & m, keys & m], 1) - (1 << 20)
    return ((q + 0.5) * voxel).astype(np.float32)


def bbox_of_mask(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) exclusive bounds of the True pixels, or None if there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
