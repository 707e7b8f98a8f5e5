"""Goal-conditioned semantic value map (VLFM): how promising each floor cell looks for the goal.

Each frame, the cosine similarity between the whole frame's CLIP embedding and the goal embedding is
written into the floor cells inside the camera's field of view (up to the free range seen along each
image column), weighted by a confidence that falls off from the optical axis (cos^2, as VLFM). Cells
seen several times keep a confidence-weighted average. Frontiers are then ranked by the value at
their cells against their travel cost.
"""

from __future__ import annotations

import math

import numpy as np


class ValueMap:
    def __init__(self, max_range: float = 5.0):
        self.max_range = max_range
        self.value = np.zeros((0, 0), np.float32)
        self.confidence = np.zeros((0, 0), np.float32)
        self.x0 = self.z0 = 0.0
        self.res = 0.05

    def reset(self) -> None:
        self.value = np.zeros((0, 0), np.float32)
        self.confidence = np.zeros((0, 0), np.float32)

    def align(self, occ) -> None:
        """Follow the occupancy grid's extent (it grows by padding); keeps values in world place."""
        if self.value.shape == occ.shape and (self.x0, self.z0) == (occ.x0, occ.z0):
            return
        new_v = np.zeros(occ.shape, np.float32)
        new_c = np.zeros(occ.shape, np.float32)
        if self.value.size:
            dr = int(round((self.z0 - occ.z0) / occ.resolution))
            dc = int(round((self.x0 - occ.x0) / occ.resolution))
            h, w = self.value.shape
            if dr >= 0 and dc >= 0 and dr + h <= occ.shape[0] and dc + w <= occ.shape[1]:
                new_v[dr : dr + h, dc : dc + w] = self.value
                new_c[dr : dr + h, dc : dc + w] = self.confidence
        self.value, self.confidence = new_v, new_c
        self.x0, self.z0, self.res = occ.x0, occ.z0, occ.resolution

    def update(self, occ, obs, similarity: float) -> None:
        """Write one frame's goal similarity into the cells it sees."""
        if not math.isfinite(similarity):
            return
        self.align(occ)
        depth = obs.depth
        h, w = depth.shape
        intr = obs.intrinsics
        # Free range per image column: the nearest surface in the band around the horizon.
        band = depth[max(0, h // 2 - h // 8) : h // 2 + h // 8 + 1]
        rng = np.nanmin(np.where(np.isfinite(band) & (band > 0), band, np.inf), axis=0)
        rng = np.minimum(np.where(np.isfinite(rng), rng, self.max_range), self.max_range)
        x, z, yaw = float(obs.pose.position[0]), float(obs.pose.position[2]), float(obs.pose.yaw)
        k = int(math.ceil(self.max_range / self.res))
        r0 = int(math.floor((z - self.z0) / self.res))
        c0 = int(math.floor((x - self.x0) / self.res))
        rs, re = max(0, r0 - k), min(self.value.shape[0], r0 + k + 1)
        cs, ce = max(0, c0 - k), min(self.value.shape[1], c0 + k + 1)
        if rs >= re or cs >= ce:
            return
        zz = self.z0 + (np.arange(rs, re) + 0.5) * self.res - z
        xx = self.x0 + (np.arange(cs, ce) + 0.5) * self.res - x
        dx, dz = np.meshgrid(xx, zz)
        # Camera frame: forward = (-sin yaw, -cos yaw), right = (cos yaw, -sin yaw) in (x, z).
        fwd = -dx * math.sin(yaw) - dz * math.cos(yaw)
        right = dx * math.cos(yaw) - dz * math.sin(yaw)
        half = math.atan(intr.width / (2 * intr.fx))
        with np.errstate(divide="ignore", invalid="ignore"):
            bearing = np.arctan2(right, fwd)
            col = np.round(intr.cx + intr.fx * np.tan(bearing) - 0.5).astype(np.int64)
        inside = (fwd > 0) & (np.abs(bearing) < half) & (col >= 0) & (col < w)
        dist = np.hypot(dx, dz)
        inside &= dist <= np.where(inside, rng[np.clip(col, 0, w - 1)], 0) + self.res
        if not inside.any():
            return
        conf = np.cos(np.clip(bearing / half, -1, 1) * math.pi / 2) ** 2
        conf = np.where(inside, conf, 0).astype(np.float32)
        v = self.value[rs:re, cs:ce]
        c = self.confidence[rs:re, cs:ce]
        tot = c + conf
        with np.errstate(divide="ignore", invalid="ignore"):
            nv = np.where(tot > 0, (c * v + conf * similarity) / tot, v)
            nc = np.where(tot > 0, (c * c + conf * conf) / tot, c)
        self.value[rs:re, cs:ce] = nv
        self.confidence[rs:re, cs:ce] = nc

    def at_cells(self, cells_rc: np.ndarray) -> float:
        """Mean value over (row, col) cells that have any confidence (nan when none)."""
        if self.value.size == 0 or len(cells_rc) == 0:
            return math.nan
        r, c = cells_rc[:, 0], cells_rc[:, 1]
        ok = (r >= 0) & (r < self.value.shape[0]) & (c >= 0) & (c < self.value.shape[1])
        r, c = r[ok], c[ok]
        conf = self.confidence[r, c]
        if not (conf > 0).any():
            return math.nan
        return float((self.value[r, c] * conf).sum() / conf.sum())

    def near(self, x: float, z: float, radius: float = 1.0) -> float:
        """Confidence-weighted value within `radius` m of (x, z) (nan when unseen)."""
        if self.value.size == 0:
            return math.nan
        k = int(math.ceil(radius / self.res))
        r0 = int(math.floor((z - self.z0) / self.res))
        c0 = int(math.floor((x - self.x0) / self.res))
        rs, re = max(0, r0 - k), min(self.value.shape[0], r0 + k + 1)
        cs, ce = max(0, c0 - k), min(self.value.shape[1], c0 + k + 1)
        if rs >= re or cs >= ce:
            return math.nan
        conf = self.confidence[rs:re, cs:ce]
        if not (conf > 0).any():
            return math.nan
        return float((self.value[rs:re, cs:ce] * conf).sum() / conf.sum())
