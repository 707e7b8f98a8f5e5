"""OccupancyGrid: free / occupied / unknown on the floor plane at the agent's height band.

Grid cells are `resolution` m squares indexed (row along z, col along x) from a world origin
(x0, z0); the array grows by `grow_margin` m whenever an observation reaches past an edge, so no
bounds need to be known in advance.

Per frame (`update`): surface points with height in [obstacle_min_height, obstacle_max_height]
are obstacles; floor hits (height below `floor_height`) and rays that saw nothing within the
sensor range while running level are free evidence. Per 1-degree bearing bin around the camera,
the free range is the farthest free evidence, cut at the nearest obstacle of the bin; the fan of
those ranges is rasterised in one `cv2.fillPoly`. Cells keep a clamped log-odds value (obstacle
hits count more than free passes, so an obstacle is not erased by a grazing view); a cell is
occupied above `occupied_threshold`, free below `free_threshold`, unknown when never observed.

Collision cells (`mark_blocked`): where the body bumped into something the camera missed; occupied for
good, saved with the map, and left out only on request (`collisions=False`, the planner's last resort).

Derived maps: `traversable()` (free and farther than the agent radius from occupied cells),
`frontiers()` (clusters of free cells next to unknown cells, with centroid and size),
`explored_area()` (m^2 of observed cells) and `regions()` (room-like segmentation of free space:
free space eroded until doorways close, components labelled, labels grown back over free space
geodesically, i.e. never through walls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from navstack.perception import geometry as geo
from navstack.types import Observation


@dataclass
class OccupancyConfig:
    resolution: float = 0.05
    agent_radius: float = 0.18
    floor_height: float = 0.06
    obstacle_min_height: float = 0.1
    obstacle_max_height: float = 1.3  # anything below this blocks the body (the sim blocks furniture under 1.2 m)
    max_range: float = 4.9  # obstacles and free space are mapped up to this far (m, floor plane)
    min_depth: float = 0.5
    max_depth: float = 5.0
    level_ray_deg: float = 12.0  # "nothing within range" rays count as free only this close to level
    bin_deg: float = 1.0
    hit: float = 0.9
    miss: float = 0.35
    clamp_min: float = -2.0
    clamp_max: float = 3.5
    occupied_threshold: float = 0.6
    free_threshold: float = -0.3
    initial_size: float = 16.0  # metres around the first pose
    grow_margin: float = 4.0
    frontier_min_cells: int = 6
    # `frontiers(tight=True)`: frontier cells need only this fraction of the agent radius from obstacles
    # (the navigator squeezes down to 0.3 of it). The explorer falls back to them early on (GoalSearchConfig.
    # tight_frontier_area) when no frontier with the full clearance is left: a start hemmed in by furniture.
    tight_frontier_clearance: float = 0.6
    region_erode: float = 0.55  # metres of erosion that separate rooms at doorways (closes openings < 1.1 m)

    def validate(self) -> "OccupancyConfig":
        if self.resolution <= 0 or self.agent_radius < 0:
            raise ValueError(f"resolution must be > 0 and agent_radius >= 0, got {self.resolution}, {self.agent_radius}")
        if not self.obstacle_min_height < self.obstacle_max_height:
            raise ValueError("obstacle_min_height must be below obstacle_max_height")
        return self


@dataclass
class Frontier:
    centroid: np.ndarray  # (x, z) world
    target: np.ndarray  # (x, z) of the frontier cell nearest the centroid (a reachable free cell)
    size: int  # cells
    length: float  # metres (cells * resolution)
    cells: np.ndarray  # (N, 2) (row, col)


class OccupancyGrid:
    UNKNOWN, FREE, OCCUPIED = 0, 1, 2

    def __init__(self, config: Optional[OccupancyConfig] = None):
        self.config = (config or OccupancyConfig()).validate()
        self.logodds = np.zeros((0, 0), np.float32)
        self.observed = np.zeros((0, 0), bool)
        self.blocked = np.zeros((0, 0), bool)  # cells where the body collided: occupied for good
        self.x0 = self.z0 = 0.0
        self._cache: dict = {}

    # ------------------------------------------------------------------ geometry
    @property
    def resolution(self) -> float:
        return self.config.resolution

    @property
    def shape(self) -> Tuple[int, int]:
        return self.logodds.shape

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(x0, z0, x1, z1) world extent of the array."""
        r = self.resolution
        return self.x0, self.z0, self.x0 + self.shape[1] * r, self.z0 + self.shape[0] * r

    def to_cell(self, x, z):
        r = self.resolution
        return (np.floor((np.asarray(z) - self.z0) / r).astype(np.int64),
                np.floor((np.asarray(x) - self.x0) / r).astype(np.int64))

    def to_world(self, row, col):
        r = self.resolution
        return self.x0 + (np.asarray(col) + 0.5) * r, self.z0 + (np.asarray(row) + 0.5) * r

    def inside(self, row, col):
        row, col = np.asarray(row), np.asarray(col)
        return (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])

    def ensure(self, xmin: float, zmin: float, xmax: float, zmax: float) -> None:
        """Grow the arrays so the world box is inside (with margin)."""
        cfg = self.config
        r = cfg.resolution
        if self.logodds.size == 0:
            cx, cz = (xmin + xmax) / 2, (zmin + zmax) / 2
            half = max(cfg.initial_size / 2, (xmax - xmin) / 2 + cfg.grow_margin, (zmax - zmin) / 2 + cfg.grow_margin)
            n = int(math.ceil(2 * half / r))
            self.x0 = math.floor((cx - half) / r) * r
            self.z0 = math.floor((cz - half) / r) * r
            self.logodds = np.zeros((n, n), np.float32)
            self.observed = np.zeros((n, n), bool)
            self.blocked = np.zeros((n, n), bool)
            self._cache.clear()
            return
        x0, z0, x1, z1 = self.bounds
        if xmin >= x0 and zmin >= z0 and xmax < x1 and zmax < z1:
            return
        m = cfg.grow_margin
        add_l = int(math.ceil((x0 - xmin + m) / r)) if xmin < x0 else 0
        add_t = int(math.ceil((z0 - zmin + m) / r)) if zmin < z0 else 0
        add_r = int(math.ceil((xmax - x1 + m) / r)) if xmax >= x1 else 0
        add_b = int(math.ceil((zmax - z1 + m) / r)) if zmax >= z1 else 0
        pad = ((add_t, add_b), (add_l, add_r))
        self.logodds = np.pad(self.logodds, pad)
        self.observed = np.pad(self.observed, pad)
        self.blocked = np.pad(self.blocked, pad)
        self.x0 -= add_l * r
        self.z0 -= add_t * r
        self._cache.clear()

    # ------------------------------------------------------------------ update
    def update(self, obs: Observation, points: Optional[np.ndarray] = None, valid: Optional[np.ndarray] = None,
               stride: int = 2) -> dict:
        """Fuse one frame. `points`/`valid` (world points at `stride`) may be passed to avoid recomputing."""
        import cv2

        cfg = self.config
        if points is None or valid is None:
            geo.check_observation(obs, need_rgb=False)
            points, valid = geo.depth_to_world_points(obs, stride, cfg.min_depth, cfg.max_depth)
        cam = geo.observation_camera(obs)
        cx, cz = float(cam.position[0]), float(cam.position[2])
        depth = obs.depth[::stride, ::stride][: valid.shape[0], : valid.shape[1]]
        far = geo.far_mask(depth, cfg.max_depth)

        y = points[..., 1]
        dx = points[..., 0] - cx
        dz = points[..., 2] - cz
        rng_h = np.hypot(dx, dz)
        obstacle = valid & (y >= cfg.obstacle_min_height) & (y <= cfg.obstacle_max_height) & (rng_h <= cfg.max_range)
        floor = valid & (y < cfg.floor_height)

        # far (nothing within range) rays running near level: free out to max range
        ox, oz, fx, fz = dx[obstacle], dz[obstacle], dx[floor], dz[floor]
        if far.any():
            xs, ys = geo.pixel_rays(obs.intrinsics, stride)
            xs, ys = xs[: far.shape[1]], ys[: far.shape[0]]
            dirs = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.float32(-1.0)), -1)[far]
            dirs = dirs @ cam.rotation.T.astype(np.float32)
            norm = np.linalg.norm(dirs, axis=1)
            level = np.abs(dirs[:, 1]) / norm < math.sin(math.radians(cfg.level_ray_deg))
            d = dirs[level] * (cfg.max_depth / np.maximum(-(dirs[level] @ cam.rotation[:, 2].astype(np.float32)), 1e-6))[:, None]
            fx = np.concatenate([fx, d[:, 0]])
            fz = np.concatenate([fz, d[:, 2]])

        allx = np.concatenate([ox, fx, [0.0]])
        allz = np.concatenate([oz, fz, [0.0]])
        self.ensure(cx + float(allx.min()) - 0.5, cz + float(allz.min()) - 0.5,
                    cx + float(allx.max()) + 0.5, cz + float(allz.max()) + 0.5)

        # per-bearing free range, cut at the nearest obstacle
        nb = int(round(360.0 / cfg.bin_deg))
        free_r = np.zeros(nb, np.float32)
        obst_r = np.full(nb, np.inf, np.float32)
        if len(fx):
            b = (((np.degrees(np.arctan2(fz, fx)) % 360.0) / cfg.bin_deg).astype(np.int64)) % nb
            np.maximum.at(free_r, b, np.hypot(fx, fz).astype(np.float32))
        if len(ox):
            ro = np.hypot(ox, oz).astype(np.float32)
            b = (((np.degrees(np.arctan2(oz, ox)) % 360.0) / cfg.bin_deg).astype(np.int64)) % nb
            np.minimum.at(obst_r, b, ro)
            has = np.isfinite(obst_r)
            free_r[has] = np.maximum(free_r[has], obst_r[has])  # the ray reached the obstacle
        # free only as far as an obstacle would have been seen
        reach = np.minimum(np.minimum(free_r, obst_r - cfg.resolution), cfg.max_range)
        reach = np.maximum(reach, 0.0)
        h, w = self.shape
        free = np.zeros((h, w), np.uint8)
        seen = np.flatnonzero(reach > 0)
        if len(seen):
            # One polygon per run of consecutive seen bins (camera, then the ranges at bin edges).
            r = self.resolution
            ccol, crow = (cx - self.x0) / r, (cz - self.z0) / r
            polys = []
            runs = np.split(seen, np.flatnonzero(np.diff(seen) > 1) + 1)
            if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == nb - 1:
                runs = [np.concatenate([runs[-1], runs[0]])] + runs[1:-1]
            for run in runs:
                angles_lo = np.radians(run * cfg.bin_deg)
                angles_hi = np.radians((run + 1) * cfg.bin_deg)
                rr = reach[run] / r
                ang = np.stack([angles_lo, angles_hi], 1).ravel()
                rad = np.repeat(rr, 2)
                px = ccol + rad * np.cos(ang)
                pz = crow + rad * np.sin(ang)
                poly = np.concatenate([[[ccol, crow]], np.stack([px, pz], 1)])
                polys.append(np.round(poly * 16).astype(np.int32))
            cv2.fillPoly(free, polys, 1, lineType=cv2.LINE_8, shift=4)
        occ = np.zeros((h, w), bool)
        if len(ox):
            rr, cc = self.to_cell(ox + cx, oz + cz)
            ok = self.inside(rr, cc)
            occ[rr[ok], cc[ok]] = True
        fr = free.astype(bool) & ~occ
        lo = self.logodds
        lo[fr] -= cfg.miss
        lo[occ] += cfg.hit
        np.clip(lo, cfg.clamp_min, cfg.clamp_max, out=lo)
        self.observed |= fr | occ
        self._cache.clear()
        return {"obstacle_px": int(obstacle.sum()), "free_cells": int(fr.sum()), "occupied_cells": int(occ.sum())}

    # ------------------------------------------------------------------ derived maps
    def mark_blocked(self, x: float, z: float, yaw: float, ahead: float, half_width: float) -> int:
        """The body could not move forward from (x, z) along `yaw`: mark the segment `ahead` m in front,
        `half_width` m to each side, occupied for good (what the depth camera missed: low rims, thin legs).
        Returns the number of cells marked."""
        from navstack.types import heading_vector

        if self.logodds.size == 0:
            return 0
        f = heading_vector(yaw)
        side = np.array([-f[1], f[0]])
        s = np.linspace(-half_width, half_width, max(2, int(math.ceil(2 * half_width / (self.resolution / 2))) + 1))
        px = x + f[0] * ahead + side[0] * s
        pz = z + f[1] * ahead + side[1] * s
        self.ensure(float(px.min()), float(pz.min()), float(px.max()), float(pz.max()))
        rr, cc = self.to_cell(px, pz)
        ok = self.inside(rr, cc)
        self.blocked[rr[ok], cc[ok]] = True
        self.observed[rr[ok], cc[ok]] = True
        self._cache.clear()
        return int(ok.sum())

    def clear_blocked(self, x: float, z: float, radius: Optional[float]) -> int:
        """Forget the collision cells within `radius` m of (x, z) (None: all of them); returns how many there were."""
        if self.logodds.size == 0:
            return 0
        if radius is None:
            n = int(self.blocked.sum())
            self.blocked[:] = False
            self._cache.clear()
            return n
        k = int(math.ceil(radius / self.resolution))
        r0, c0 = (int(v) for v in self.to_cell(x, z))
        if r0 + k < 0 or c0 + k < 0:
            return 0  # far off the grid (a negative slice end would wrap round)
        rs, cs = max(r0 - k, 0), max(c0 - k, 0)
        win = self.blocked[rs: r0 + k + 1, cs: c0 + k + 1]
        rr, cc = np.ogrid[rs - r0: rs - r0 + win.shape[0], cs - c0: cs - c0 + win.shape[1]]
        near = win & ((rr * rr + cc * cc) * self.resolution ** 2 <= radius * radius)
        win[near] = False
        self._cache.clear()
        return int(near.sum())

    def occupied(self, collisions: bool = True) -> np.ndarray:
        """Occupied cells: seen as obstacles, and (`collisions`) where the body bumped into something."""
        occ = self.logodds > self.config.occupied_threshold
        return occ | self.blocked if collisions else occ

    def free(self) -> np.ndarray:
        return self.observed & (self.logodds < self.config.free_threshold)

    def unknown(self) -> np.ndarray:
        return ~self.observed

    def state(self) -> np.ndarray:
        """uint8 map: 0 unknown, 1 free, 2 occupied (observed but undecided cells count as free)."""
        out = np.zeros(self.shape, np.uint8)
        out[self.observed] = self.FREE
        out[self.occupied()] = self.OCCUPIED
        return out

    def inflated(self, radius: Optional[float] = None, collisions: bool = True) -> np.ndarray:
        """Occupied cells grown by the agent radius (a disc)."""
        import cv2

        radius = self.config.agent_radius if radius is None else radius
        key = ("inflated", radius, collisions)
        if key not in self._cache:
            k = int(math.ceil(radius / self.resolution))
            occ = self.occupied(collisions).astype(np.uint8)
            if k > 0 and occ.any():
                disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
                occ = cv2.dilate(occ, disc)
            self._cache[key] = occ.astype(bool)
        return self._cache[key]

    def traversable(self, unknown_is_free: bool = False, radius: Optional[float] = None,
                    collisions: bool = True) -> np.ndarray:
        """Cells the agent's centre may occupy: (free, or unknown if allowed) and clear of obstacles
        inflated by `radius` (default: the agent radius); `collisions=False` ignores collision cells."""
        base = ~self.occupied(collisions) if unknown_is_free else self.free()
        return base & ~self.inflated(radius, collisions)

    def is_traversable(self, x, z, unknown_is_free: bool = False):
        rr, cc = self.to_cell(x, z)
        ok = self.inside(rr, cc)
        t = self.traversable(unknown_is_free)
        out = np.zeros(np.shape(ok), bool)
        out[ok] = t[np.asarray(rr)[ok], np.asarray(cc)[ok]] if np.ndim(ok) else t[rr, cc]
        return out if np.ndim(ok) else bool(out)

    def explored_area(self) -> float:
        return float(self.observed.sum()) * self.resolution ** 2

    def frontiers(self, min_cells: Optional[int] = None, tight: bool = False) -> List[Frontier]:
        """Clusters (8-connected) of free cells with an unknown 8-neighbour, at least the agent radius (`tight`:
        `tight_frontier_clearance` x the radius) from obstacles, largest first."""
        import cv2

        key = ("frontiers", min_cells, tight)
        if key in self._cache:
            return self._cache[key]
        min_cells = self.config.frontier_min_cells if min_cells is None else min_cells
        if self.logodds.size == 0:
            return []
        free = self.free() & ~self.inflated(self.config.agent_radius * (self.config.tight_frontier_clearance if tight else 1.0))
        unknown = self.unknown().astype(np.uint8)
        near_unknown = cv2.dilate(unknown, np.ones((3, 3), np.uint8)).astype(bool)
        fr = (free & near_unknown).astype(np.uint8)
        n, lab, stats, cent = cv2.connectedComponentsWithStats(fr, connectivity=8)
        out: List[Frontier] = []
        for k in range(1, n):
            size = int(stats[k, cv2.CC_STAT_AREA])
            if size < min_cells:
                continue
            rr, cc = np.nonzero(lab[stats[k, 1]: stats[k, 1] + stats[k, 3], stats[k, 0]: stats[k, 0] + stats[k, 2]] == k)
            rr = rr + stats[k, 1]
            cc = cc + stats[k, 0]
            ccol, crow = cent[k]
            j = int(np.argmin((rr - crow) ** 2 + (cc - ccol) ** 2))
            cx, cz = self.to_world(crow, ccol)
            tx, tz = self.to_world(rr[j], cc[j])
            out.append(Frontier(np.array([cx, cz]), np.array([tx, tz]), size, size * self.resolution,
                                np.stack([rr, cc], 1)))
        out.sort(key=lambda f: -f.size)
        self._cache[key] = out
        return out

    def frontier_gain(self, frontiers: List[Frontier], max_range: float = 3.0, rays: int = 48) -> np.ndarray:
        """Per frontier, what going there could reveal: the unknown cells (as m^2) met by `rays` rays from its
        target cell out to `max_range` (rays stop at occupied cells; unknown ones let them through). The rays
        thin out with distance, so it under-counts far space: a pocket behind a sofa gives 0.1-0.5, a doorway
        to an unseen room 2-5."""
        out = np.zeros(len(frontiers))
        if not frontiers or self.logodds.size == 0:
            return out
        H, W = self.shape
        blocked = self.occupied(collisions=False)
        unknown = self.unknown()
        angles = np.linspace(0.0, 2 * np.pi, rays, endpoint=False)
        steps = np.arange(1, int(max_range / self.resolution) + 1)
        dr = np.outer(np.sin(angles), steps)  # (rays, steps) cell offsets
        dc = np.outer(np.cos(angles), steps)
        for i, f in enumerate(frontiers):
            r0, c0 = self.to_cell(float(f.target[0]), float(f.target[1]))
            rr = np.rint(r0 + dr).astype(int)
            cc = np.rint(c0 + dc).astype(int)
            inside = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
            rr, cc = np.clip(rr, 0, H - 1), np.clip(cc, 0, W - 1)
            hit = np.maximum.accumulate(blocked[rr, cc] & inside, axis=1)
            seen = ~hit & inside & unknown[rr, cc]
            out[i] = len(np.unique(rr[seen] * W + cc[seen])) * self.resolution ** 2
        return out

    def regions(self) -> Tuple[np.ndarray, int]:
        """Room-like regions of the free space: (labels (H, W) int32, 0 = none; count)."""
        import cv2

        if "regions" in self._cache:
            return self._cache["regions"]
        free = (self.observed & ~self.occupied()).astype(np.uint8)
        if not free.any():
            out = (np.zeros(self.shape, np.int32), 0)
            self._cache["regions"] = out
            return out
        k = max(1, int(round(self.config.region_erode / self.resolution)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        core = cv2.erode(free, disc)
        n, lab = cv2.connectedComponents(core, connectivity=8)
        # drop specks, then grow labels back over the free space (nearest core cell)
        if n > 1:
            sizes = np.bincount(lab.ravel(), minlength=n)
            small = sizes < max(4, int(0.5 / self.resolution ** 2))
            small[0] = False
            lab[small[lab]] = 0
        # grow the cores back over free space only (geodesically: never through a wall)
        grown = lab.astype(np.float32)
        fmask = free.astype(bool)
        kernel = np.ones((3, 3), np.uint8)
        for _ in range(k + 4):
            todo = fmask & (grown == 0)
            if not todo.any():
                break
            dil = cv2.dilate(grown, kernel)
            grown[todo] = dil[todo]
        grown = grown.astype(np.int32)
        uniq = np.unique(grown[grown > 0])
        remap = np.zeros(int(grown.max()) + 1, np.int32)
        remap[uniq] = np.arange(1, len(uniq) + 1)
        out = (remap[grown].astype(np.int32), int(len(uniq)))
        self._cache["regions"] = out
        return out

    def region_at(self, x: float, z: float, max_search: float = 1.0) -> int:
        """Region label of the free cell nearest (x, z) within `max_search` m (0 if none)."""
        lab, n = self.regions()
        if n == 0:
            return 0
        r0, c0 = self.to_cell(x, z)
        k = int(math.ceil(max_search / self.resolution))
        rs, re = max(0, int(r0) - k), min(self.shape[0], int(r0) + k + 1)
        cs, ce = max(0, int(c0) - k), min(self.shape[1], int(c0) + k + 1)
        if rs >= re or cs >= ce:
            return 0
        sub = lab[rs:re, cs:ce]
        rr, cc = np.nonzero(sub)
        if len(rr) == 0:
            return 0
        j = int(np.argmin((rr + rs - r0) ** 2 + (cc + cs - c0) ** 2))
        return int(sub[rr[j], cc[j]])

    def nbytes(self) -> int:
        return self.logodds.nbytes + self.observed.nbytes
