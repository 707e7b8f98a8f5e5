"""Ground-truth visibility in a generated house: goal view points, start visibility, goal cameras.

Habitat's rule for ObjectNav/IIN view points: navigable positions within 1 m of the object from which
it is visible. Here a view point is a navigable cell (on a 0.1 m lattice) within `max_distance` of the
object's footprint from whose camera some rays to points of the object hit it first.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

from navstack.sim.scene import House
from navstack.types import Intrinsics, quat_from_yaw


class VisibilityOracle:
    """Ray queries against the house's renderer, with geometry ids mapped to object ids."""

    def __init__(self, house: House, renderer, sensor_height: float = 0.88):
        self.house = house
        self.renderer = renderer
        self.sensor_height = sensor_height
        meshes = house.meshes()
        lut = np.full(len(meshes) + 1, -1, np.int64)
        for i, (_, inst) in enumerate(meshes):
            gid = renderer.mesh_geometry_id(i)
            if gid is not None:
                lut[gid] = inst
        self._lut = lut
        self._samples: Dict[int, np.ndarray] = {}
        self._mesh_index = {inst: i for i, (_, inst) in enumerate(meshes) if inst > 0}

    def object_samples(self, object_id: int, n: int = 12) -> np.ndarray:
        """Deterministic sample of the object's own surface points (mesh triangle centroids) + OBB centre."""
        pts = self._samples.get(object_id)
        if pts is None:
            mesh = self.house.meshes()[self._mesh_index[object_id]][0]
            cent = mesh.vertices[mesh.triangles].mean(axis=1)
            rng = np.random.default_rng(object_id)
            pick = cent[rng.choice(len(cent), size=min(n, len(cent)), replace=False)]
            pts = np.vstack([self.house.object(object_id).center[None], pick])
            self._samples[object_id] = pts
        return pts

    def first_hit_ids(self, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Object id of the first surface on each ray origin->target (-1 miss, 0 structure)."""
        d = targets - origins
        rays = np.concatenate([origins, d], axis=1).astype(np.float32)
        ans = self.renderer.cast_bare(rays)
        gid = ans["geometry_ids"].numpy().astype(np.int64)
        gid = np.where(gid > len(self._lut) - 2, len(self._lut) - 1, gid)  # INVALID_ID -> miss entry
        return self._lut[gid]

    def visible_fraction(self, eyes: np.ndarray, object_id: int) -> np.ndarray:
        """For each eye position (N, 3): the fraction of the object's sample points it sees."""
        samples = self.object_samples(object_id)
        eyes = np.asarray(eyes, float).reshape(-1, 3)
        o = np.repeat(eyes, len(samples), axis=0)
        t = np.tile(samples, (len(eyes), 1))
        hits = self.first_hit_ids(o, t).reshape(len(eyes), len(samples)) == object_id
        return hits.mean(axis=1)

    def view_points(self, object_id: int, max_distance: float = 1.0, spacing: float = 0.1) -> List[dict]:
        """Habitat-style view points: [{agent_state: {position, rotation}, iou}] facing the object."""
        grid = self.house.navgrid
        o = self.house.object(object_id)
        x0, z0, x1, z1 = o.footprint
        step = max(1, int(round(spacing / grid.spec.resolution)))
        r0, c0 = grid.spec.to_cell(x0 - max_distance, z0 - max_distance)
        r1, c1 = grid.spec.to_cell(x1 + max_distance, z1 + max_distance)
        rows = np.arange(max(int(r0), 0), min(int(r1) + 1, grid.spec.shape[0]))
        cols = np.arange(max(int(c0), 0), min(int(c1) + 1, grid.spec.shape[1]))
        rows, cols = rows[rows % step == 0], cols[cols % step == 0]
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        rr, cc = rr.ravel(), cc.ravel()
        keep = grid.island[rr, cc]
        x, z = grid.spec.to_world(rr[keep], cc[keep])
        dx = np.maximum(np.maximum(x0 - x, x - x1), 0)
        dz = np.maximum(np.maximum(z0 - z, z - z1), 0)
        near = np.hypot(dx, dz) <= max_distance
        x, z = x[near], z[near]
        if len(x) == 0:
            return []
        eyes = np.stack([x, np.full_like(x, self.sensor_height), z], 1)
        frac = self.visible_fraction(eyes, object_id)
        out = []
        for xi, zi, f in zip(x, z, frac):
            if f <= 0:
                continue
            yaw = math.atan2(-(o.x - xi), -(o.z - zi))  # face the object (yaw 0 looks along -Z)
            out.append({
                "agent_state": {"position": [round(float(xi), 5), 0.0, round(float(zi), 5)],
                                "rotation": [round(float(v), 6) for v in quat_from_yaw(yaw)]},
                "iou": round(float(f), 4),
            })
        return out

    def objects_in_view(self, position, yaw: float, sensor_height: float, intrinsics: Intrinsics,
                        min_pixels: int = 20) -> Dict[int, int]:
        """{object id: pixel count} seen from a base pose at pitch 0 (uses a coarse render)."""
        from navstack.sim.backend import camera_rotation

        cam = np.array([position[0], sensor_height, position[2]], float)
        r = self.renderer.render(cam, camera_rotation(yaw, 0.0), intrinsics, want_rgb=False)
        ids, counts = np.unique(r.instance[r.depth <= 5.0], return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts) if i > 0 and c >= min_pixels}


def look_at_rotation(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Quaternion [x, y, z, w] of a camera at `eye` looking at `target` (yaw then pitch, no roll)."""
    from navstack.sim.backend import camera_rotation

    d = np.asarray(target, float) - np.asarray(eye, float)
    yaw = math.atan2(-d[0], -d[2])
    pitch = math.atan2(d[1], math.hypot(d[0], d[2]))
    return camera_rotation(yaw, pitch)


def goal_camera(oracle: VisibilityOracle, object_id: int, rng: np.random.Generator, size: int = 512,
                tries: int = 40, min_frame_coverage: float = 0.05) -> Optional[dict]:
    """IIN `image_goals` entry: a camera near the object that sees most of it and fills part of the frame."""
    house = oracle.house
    o = house.object(object_id)
    pts = house.navgrid.navigable_points()
    d = np.hypot(pts[:, 0] - o.x, pts[:, 1] - o.z)
    near = pts[(d > 0.6) & (d < 2.5)]
    if len(near) == 0:
        return None
    best = None
    for _ in range(tries):
        x, z = near[rng.integers(len(near))]
        eye = np.array([x, rng.uniform(0.8, 1.5), z])
        hfov = float(rng.integers(60, 91))
        rot = look_at_rotation(eye, o.center)
        intr = Intrinsics.from_hfov(size // 4, size // 4, hfov)  # coverage measured on a quarter-size render
        r = oracle.renderer.render(eye, rot, intr, want_rgb=False)
        frame_cov = float((r.instance == object_id).mean())
        obj_cov = float(oracle.visible_fraction(eye[None], object_id)[0])
        if frame_cov >= min_frame_coverage and obj_cov >= 0.5:
            cand = {
                "position": [float(v) for v in eye],
                "rotation": [float(v) for v in rot],
                "hfov": hfov,
                "image_dimensions": [size, size],
                "frame_coverage": frame_cov,
                "object_coverage": obj_cov,
            }
            if best is None or frame_cov * obj_cov > best["frame_coverage"] * best["object_coverage"]:
                best = cand
            if frame_cov > 0.15:
                break
    return best
