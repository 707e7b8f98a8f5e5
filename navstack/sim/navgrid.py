"""Navigable grid of a house: where the agent's centre may be, geodesic distances and shortest paths.

The obstacle raster comes from the floor plan (walls, outside) and the furniture footprints; a cell is
navigable when no obstacle lies within the agent radius. Geodesic distance fields are computed with the
fast marching method (scikit-fmm, second order), which approximates Euclidean shortest paths around
obstacles far better than 4/8-connected Dijkstra. Distances at short range are exact straight lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Tuple

import numpy as np
from scipy import ndimage

from navstack.fmm import geodesic_field

Rect = Tuple[float, float, float, float, float]  # centre x, centre z, half size x, half size z, yaw


@dataclass
class GridSpec:
    x0: float
    z0: float
    resolution: float
    shape: Tuple[int, int]  # (rows along z, cols along x)

    def to_cell(self, x, z):
        """Continuous world (x, z) -> integer (row, col); vectorised."""
        c = np.floor((np.asarray(x) - self.x0) / self.resolution).astype(np.int64)
        r = np.floor((np.asarray(z) - self.z0) / self.resolution).astype(np.int64)
        return r, c

    def to_world(self, r, c):
        """Cell centre of (row, col) -> world (x, z)."""
        return self.x0 + (np.asarray(c) + 0.5) * self.resolution, self.z0 + (np.asarray(r) + 0.5) * self.resolution

    def inside(self, r, c):
        r, c = np.asarray(r), np.asarray(c)
        return (r >= 0) & (r < self.shape[0]) & (c >= 0) & (c < self.shape[1])


def rect_corners(rect: Rect) -> np.ndarray:
    cx, cz, hx, hz, yaw = rect
    # Yaw about +Y: a local offset (dx, dz) maps to (dx cos + dz sin, -dx sin + dz cos).
    cs, sn = math.cos(yaw), math.sin(yaw)
    local = np.array([[-hx, -hz], [hx, -hz], [hx, hz], [-hx, hz]])
    return np.stack([cx + local[:, 0] * cs + local[:, 1] * sn, cz - local[:, 0] * sn + local[:, 1] * cs], 1)


class NavGrid:
    def __init__(
        self,
        bounds: Tuple[float, float, float, float],
        free_rects: Sequence[Tuple[float, float, float, float]],
        obstacles: Iterable[Rect],
        agent_radius: float = 0.18,
        resolution: float = 0.05,
    ):
        import cv2  # imported here: cv2 is only needed to rasterise polygons

        if resolution <= 0 or agent_radius < 0:
            raise ValueError(f"resolution must be > 0 and agent_radius >= 0, got {resolution}, {agent_radius}")
        margin = 0.5
        x0, z0, x1, z1 = bounds
        self.spec = GridSpec(
            x0 - margin,
            z0 - margin,
            resolution,
            (int(math.ceil((z1 - z0 + 2 * margin) / resolution)), int(math.ceil((x1 - x0 + 2 * margin) / resolution))),
        )
        self.agent_radius = agent_radius
        occ = np.ones(self.spec.shape, np.uint8)
        for fx0, fz0, fx1, fz1 in free_rects:
            occ[self._rows(fz0, fz1), self._cols(fx0, fx1)] = 0
        scale = 1.0 / resolution
        for rect in obstacles:
            pts = (rect_corners(rect) - [self.spec.x0, self.spec.z0]) * scale - 0.5
            cv2.fillPoly(occ, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        self.occupied = occ.astype(bool)
        # Distance from each cell centre to the nearest occupied cell's edge.
        self.clearance = ndimage.distance_transform_edt(~self.occupied) * resolution - resolution / 2
        navigable = self.clearance >= agent_radius
        labels, n = ndimage.label(navigable, structure=np.ones((3, 3)))
        if n == 0:
            raise ValueError("the house has no navigable area for the agent radius")
        sizes = ndimage.sum_labels(navigable, labels, index=np.arange(1, n + 1))
        self.island = labels == (int(np.argmax(sizes)) + 1)  # the largest connected free area
        self.navigable = navigable
        self._field_cache: dict = {}

    def _rows(self, z0, z1):
        r0, _ = self.spec.to_cell(0, z0)
        r1, _ = self.spec.to_cell(0, z1)
        return slice(int(r0), int(r1))

    def _cols(self, x0, x1):
        _, c0 = self.spec.to_cell(x0, 0)
        _, c1 = self.spec.to_cell(x1, 0)
        return slice(int(c0), int(c1))

    # ------------------------------------------------------------ point queries
    def is_navigable(self, x, z, island_only: bool = True):
        """Whether the agent's centre may stand at (x, z); vectorised."""
        return self._lookup(self.island if island_only else self.navigable, x, z)

    def is_occupied(self, x, z):
        """Whether (x, z) lies on an obstacle (wall, furniture footprint, outside the rooms); vectorised,
        False off the grid."""
        return self._lookup(self.occupied, x, z)

    def _lookup(self, grid: np.ndarray, x, z):
        r, c = self.spec.to_cell(x, z)
        ok = self.spec.inside(r, c)
        if np.ndim(ok) == 0:
            return bool(ok) and bool(grid[r, c])
        out = np.zeros(np.shape(ok), bool)
        out[ok] = grid[r[ok], c[ok]]
        return out

    def segment_free(self, a, b, step: float | None = None) -> float:
        """Fraction of the straight move a->b (x, z) that stays navigable (1.0 = fully free)."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        length = float(np.linalg.norm(b - a))
        step = step or self.spec.resolution / 2
        n = max(1, int(math.ceil(length / step)))
        t = np.linspace(0, 1, n + 1)
        pts = a + (b - a) * t[:, None]
        ok = self.is_navigable(pts[:, 0], pts[:, 1], island_only=False)
        # Two navigable cells that touch only at a corner do not connect (the geodesic fast marching steps
        # between 4-neighbours, and a body of radius r cannot squeeze through a point): a step between
        # diagonal neighbours needs one of the two cells beside it free too.
        r, c = self.spec.to_cell(pts[:, 0], pts[:, 1])
        diag = np.flatnonzero((r[1:] != r[:-1]) & (c[1:] != c[:-1]))
        if len(diag):
            side1 = self.is_navigable(*self.spec.to_world(r[diag], c[diag + 1]), island_only=False)
            side2 = self.is_navigable(*self.spec.to_world(r[diag + 1], c[diag]), island_only=False)
            ok[diag[~(side1 | side2)] + 1] = False
        if ok.all():
            return 1.0
        first_bad = int(np.argmin(ok))
        return float(t[max(first_bad - 1, 0)])

    def navigable_points(self) -> np.ndarray:
        """(N, 2) world (x, z) of all navigable cell centres on the main island."""
        r, c = np.nonzero(self.island)
        x, z = self.spec.to_world(r, c)
        return np.stack([x, z], 1)

    def sample_navigable(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        pts = self.navigable_points()
        return pts[rng.integers(0, len(pts), n)]

    # ------------------------------------------------------------ geodesics
    def distance_field(self, targets: np.ndarray) -> np.ndarray:
        """Geodesic distance (m) from every cell to the nearest target (x, z); inf where unreachable."""
        targets = np.asarray(targets, float).reshape(-1, 2)
        key = targets.round(3).tobytes()
        hit = self._field_cache.get(key)
        if hit is not None:
            return hit
        r, c = self.spec.to_cell(targets[:, 0], targets[:, 1])
        ok = self.spec.inside(r, c)
        field = geodesic_field(self.navigable, r[ok], c[ok], self.spec.resolution)
        if len(self._field_cache) > 64:
            self._field_cache.clear()
        self._field_cache[key] = field
        return field

    def field_value(self, field: np.ndarray, x, z) -> np.ndarray:
        """Bilinear interpolation of a distance field at continuous (x, z), ignoring unreachable cells."""
        fx = (np.asarray(x, float) - self.spec.x0) / self.spec.resolution - 0.5
        fz = (np.asarray(z, float) - self.spec.z0) / self.spec.resolution - 0.5
        c0, r0 = np.floor(fx).astype(int), np.floor(fz).astype(int)
        tx, tz = fx - c0, fz - r0
        acc = np.zeros(np.shape(fx))
        wsum = np.zeros(np.shape(fx))
        for dr, dc, w in ((0, 0, (1 - tx) * (1 - tz)), (0, 1, tx * (1 - tz)), (1, 0, (1 - tx) * tz), (1, 1, tx * tz)):
            rr = np.clip(r0 + dr, 0, self.spec.shape[0] - 1)
            cc = np.clip(c0 + dc, 0, self.spec.shape[1] - 1)
            v = field[rr, cc]
            good = np.isfinite(v) & (w > 1e-9)
            acc = acc + np.where(good, v, 0.0) * w
            wsum = wsum + np.where(good, w, 0.0)
        return np.where(wsum > 0, acc / np.maximum(wsum, 1e-12), np.inf)

    def geodesic_distance(self, start, targets, exact_radius: float = 1.0, snap_radius: float = 0.5) -> float:
        """Shortest navigable path length from `start` (x, z) to the nearest of `targets` (x, z).

        A target within `exact_radius` that is reachable in a straight free line gives the exact
        Euclidean length (what matters for the 0.1 m success radius); farther ones use the FMM field.
        A start the grid calls unreachable (the body can stand closer to furniture than the grid's
        clearance allows, e.g. where a GOAT subtask ended) is snapped, like Habitat's `snap_point`, to the
        nearest cell within `snap_radius` that reaches a target: the straight step there plus its
        distance (never shorter than the straight line, so the success radius stays honest).
        """
        start = np.asarray(start, float).reshape(2)
        targets = np.asarray(targets, float).reshape(-1, 2)
        if len(targets) == 0:
            return math.inf
        eu = np.linalg.norm(targets - start, axis=1)
        best = math.inf
        for i in np.argsort(eu):
            if eu[i] > exact_radius:
                break
            if self.segment_free(start, targets[i]) >= 1.0:
                best = float(eu[i])
                break
        if best < math.inf:
            return best
        field = self.distance_field(targets)
        d = float(self.field_value(field, start[0], start[1]))
        if math.isfinite(d) or snap_radius <= 0:
            return d
        r0, c0 = self.spec.to_cell(start[0], start[1])
        k = int(math.ceil(snap_radius / self.spec.resolution))
        rs, cs = max(int(r0) - k, 0), max(int(c0) - k, 0)
        win = field[rs: max(int(r0) + k + 1, 0), cs: max(int(c0) + k + 1, 0)]
        rr, cc = np.nonzero(np.isfinite(win))
        if len(rr) == 0:
            return math.inf
        x, z = self.spec.to_world(rr + rs, cc + cs)
        step = np.hypot(np.asarray(x) - start[0], np.asarray(z) - start[1])
        ok = step <= snap_radius
        if not ok.any():
            return math.inf
        return float(np.min((step + win[rr, cc])[ok]))

    def shortest_path(self, start, targets, step: float = 0.1) -> np.ndarray:
        """(N, 2) waypoints from `start` down the geodesic field to the nearest target."""
        field = self.distance_field(np.asarray(targets, float).reshape(-1, 2))
        pos = np.asarray(start, float).reshape(2)
        path = [pos.copy()]
        angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        dirs = np.stack([np.cos(angles), np.sin(angles)], 1)
        cur = float(self.field_value(field, *pos))
        if not np.isfinite(cur):
            return np.zeros((0, 2))
        for _ in range(int(4 * field[np.isfinite(field)].max() / step) + 10):
            if cur <= step:
                break
            cand = pos + dirs * step
            vals = self.field_value(field, cand[:, 0], cand[:, 1])
            vals[~self.is_navigable(cand[:, 0], cand[:, 1], island_only=False)] = np.inf
            k = int(np.argmin(vals))
            if not vals[k] < cur:
                break
            pos, cur = cand[k], float(vals[k])
            path.append(pos.copy())
        return np.array(path)
