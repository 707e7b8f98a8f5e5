"""Class-agnostic object instance proposals from one RGB-D frame (no ground truth).

Default pipeline (`GeometricProposer`), all vectorised numpy + one OpenCV connected-components
pass, at a working resolution of `stride`-subsampled pixels (by default the stride that brings the
image to about 160 pixels wide: 2 at 320x240, 4 at 640x480, 1 at 160x120):

1. back-project depth to world points (`geometry`), drop invalid / clipped depth;
2. structure removal:
   * floor: world y below `floor_height`;
   * ceiling: world y above `ceiling_height` (nothing in a home stands that high);
   * walls: pixels on vertical surfaces (|n_y| small, normals from depth differences) grouped into
     planar regions (neighbours with continuous depth and similar normal); a region is a wall when
     it reaches `wall_min_top` (only walls rise that high below the ceiling), or is very wide
     (`wall_min_width` metres), or touches the top of the image while spanning at least
     `wall_min_width_at_top` metres. Cells of the floor plane that held wall evidence are
     remembered in a `StructureMemory`, so walls seen once from afar are also recognised up
     close, where their top is out of view;
3. the remaining pixels are split into segments by depth discontinuities (a neighbour more than
   `depth_jump_abs + depth_jump_rel * depth` away, unless both lie on one smooth depth ramp, such
   as a table top seen at a grazing angle) and, optionally, strong colour edges;
4. segments smaller than `min_pixels` (at 320x240 scale) or `min_extent` metres are dropped; each
   survivor becomes a `Proposal` with its mask, bbox, world points and a padded square RGB crop.

`OracleProposer` (`oracle_semantics` mode) makes the same proposals from the simulator's instance
ids instead: an ablation to measure the cost of segmentation errors, never the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from navstack.perception import geometry as geo
from navstack.types import Observation


@dataclass
class ProposalConfig:
    stride: int = 0  # working resolution = image / stride; 0: about `working_width` pixels wide
    working_width: int = 160
    min_depth: float = 0.5  # sensor clipping (Habitat ObjectNav)
    max_depth: float = 5.0
    max_range: float = 4.5  # surfaces farther than this are not proposed (too few pixels to be useful)
    floor_height: float = 0.06
    ceiling_height: float = 2.4
    vertical_normal_max_ny: float = 0.2  # |n_y| below this: a vertical surface
    wall_min_top: float = 2.25  # a vertical plane reaching this high is a wall
    wall_min_width: float = 2.0  # ... or one this wide
    wall_min_width_at_top: float = 1.2  # ... or one this wide that runs out of the top of the image
    wall_low_reach: float = 0.3  # ... or one that runs out of the top of the image down to this height
    wall_behind_margin: float = 0.2  # the last two tests also need (almost) nothing seen behind the plane:
    wall_behind_fraction: float = 0.03  # at most this fraction of surface pixels > margin behind it
    wall_behind_reach: float = 0.6  # ... counting points up to this far beyond its ends along the plane
    wall_grow: int = 3  # wall masks grow this many pixels over depth-continuous neighbours (corners, cut lines)
    min_side_px: int = 3  # segments thinner than this (working pixels) are dropped (slivers)
    plane_normal_cos: float = 0.97  # neighbours on one plane: normals within ~14 deg
    depth_jump_abs: float = 0.04  # metres
    depth_jump_rel: float = 0.03  # fraction of depth
    colour_edges: bool = False  # also split at strong colour edges
    colour_edge_threshold: float = 60.0  # sum of |dRGB| over channels
    min_pixels: int = 120  # pixels of a 320x240 frame (scaled to the frame size)
    min_extent: float = 0.08  # metres: largest side of the segment's 3D box
    max_points: int = 1500  # world points kept per proposal (subsampled evenly)
    crop_pad: float = 0.1  # fraction of the bbox size added on each side (as the CLIP training crops)
    crop_size: int = 0  # 0: keep native resolution; else resize crops to this square size
    structure_cell: float = 0.1  # StructureMemory cell size (m)

    def stride_for(self, width: int) -> int:
        return self.stride or max(1, int(round(width / self.working_width)))

    def min_working_pixels(self, h: int, w: int, s: int) -> int:
        """`min_pixels` (a 320x240 figure) for an h x w frame at stride s."""
        return max(4, int(round(self.min_pixels * (h * w / 76800.0) / (s * s))))

    def validate(self) -> "ProposalConfig":
        if self.stride < 0 or int(self.stride) != self.stride:
            raise ValueError(f"stride must be a non-negative integer (0 = automatic), got {self.stride}")
        if self.working_width < 8:
            raise ValueError(f"working_width must be at least 8, got {self.working_width}")
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        if not self.floor_height < self.ceiling_height:
            raise ValueError("floor_height must be below ceiling_height")
        return self


@dataclass
class Proposal:
    """One candidate object segment in one frame."""

    mask: np.ndarray  # (H, W) bool at full image resolution
    bbox: Tuple[int, int, int, int]  # (x0, y0, x1, y1) pixels, exclusive, full resolution
    points: np.ndarray  # (N, 3) float32 world points (subsampled)
    crop: np.ndarray  # (h, w, 3) uint8 padded crop of the RGB image
    pixel_count: int  # full-resolution pixels of the mask
    depth: float  # median z-depth (m)
    truncated: bool  # touches the image border
    oracle_id: int = -1  # ground-truth instance id (oracle mode only)

    @property
    def centre(self) -> np.ndarray:
        return self.points.mean(axis=0)

    def quality(self, image_shape: Tuple[int, int]) -> float:
        """View quality in (0, 1]: bigger, more central, untruncated views score higher."""
        h, w = image_shape
        x0, y0, x1, y1 = self.bbox
        cx, cy = (x0 + x1) / 2 / w - 0.5, (y0 + y1) / 2 / h - 0.5
        centred = 1.0 - min(1.0, math.hypot(cx, cy) / 0.71)
        size = min(1.0, math.sqrt(self.pixel_count / (h * w)) / 0.35)
        return float(max(1e-3, (0.3 + 0.7 * size) * (0.5 + 0.5 * centred) * (0.6 if self.truncated else 1.0)))


@dataclass
class ProposalResult:
    proposals: List[Proposal]
    points: np.ndarray  # (h, w, 3) world points at working resolution
    valid: np.ndarray  # (h, w) measured-surface mask at working resolution
    labels: np.ndarray  # (h, w) int32 at working resolution: 0 none, -1 floor, -2 ceiling, -3 wall, k>0 proposal k-1
    stride: int
    stats: dict = field(default_factory=dict)


FLOOR, CEILING, WALL = -1, -2, -3


class StructureMemory:
    """Floor-plane cells (`cell` m) where walls were seen; a sorted int64 key array (bounded by the
    house's wall length, a few thousand cells)."""

    def __init__(self, cell: float = 0.1):
        self.cell = float(cell)
        self.keys = np.zeros(0, np.int64)

    def _keys(self, x, z) -> np.ndarray:
        cx = np.floor(np.asarray(x, np.float64) / self.cell).astype(np.int64) + (1 << 30)
        cz = np.floor(np.asarray(z, np.float64) / self.cell).astype(np.int64) + (1 << 30)
        return (cx << 31) | cz

    def add(self, x, z) -> None:
        if np.size(x):
            self.keys = np.union1d(self.keys, self._keys(x, z))

    def contains(self, x, z) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(np.shape(x), bool)
        k = self._keys(x, z)
        i = np.searchsorted(self.keys, k).clip(0, len(self.keys) - 1)
        return self.keys[i] == k

    def near(self, x, z) -> np.ndarray:
        """Whether (x, z) lies in or next to (8-neighbourhood) a wall cell."""
        out = np.zeros(np.shape(x), bool)
        if len(self.keys) == 0:
            return out
        for dx in (-1, 0, 1):
            for dz in (-1, 0, 1):
                out |= self.contains(np.asarray(x) + dx * self.cell, np.asarray(z) + dz * self.cell)
        return out

    def cells_xz(self) -> np.ndarray:
        """(N, 2) centres (x, z) of the wall cells."""
        m = (1 << 31) - 1
        cx = (self.keys >> 31) - (1 << 30)
        cz = (self.keys & m) - (1 << 30)
        return np.stack([(cx + 0.5) * self.cell, (cz + 0.5) * self.cell], 1)

    def clear(self) -> None:
        self.keys = np.zeros(0, np.int64)


def _depth_breaks(z: np.ndarray, valid: np.ndarray, cfg: ProposalConfig) -> Tuple[np.ndarray, np.ndarray]:
    """(break to the right neighbour (h, w-1), break to the neighbour below (h-1, w))."""
    tau = cfg.depth_jump_abs + cfg.depth_jump_rel * z

    def along(axis: int) -> np.ndarray:
        d = np.diff(z, axis=axis)
        t = np.minimum(tau[:, :-1], tau[:, 1:]) if axis == 1 else np.minimum(tau[:-1], tau[1:])
        jump = np.abs(d) > t
        # A smooth ramp (a plane seen at a grazing angle): the step equals its neighbours' steps.
        ramp = np.zeros_like(jump)
        if axis == 1:
            prev = np.zeros_like(d)
            nxt = np.zeros_like(d)
            prev[:, 1:] = d[:, :-1]
            nxt[:, :-1] = d[:, 1:]
        else:
            prev = np.zeros_like(d)
            nxt = np.zeros_like(d)
            prev[1:] = d[:-1]
            nxt[:-1] = d[1:]
        tol = 0.25 * np.abs(d) + 0.01
        ramp = (np.abs(prev - d) < tol) & (np.abs(nxt - d) < tol)
        both = valid[:, :-1] & valid[:, 1:] if axis == 1 else valid[:-1] & valid[1:]
        return (jump & ~ramp) | ~both

    return along(1), along(0)


def _colour_breaks(rgb: np.ndarray, thr: float) -> Tuple[np.ndarray, np.ndarray]:
    c = rgb.astype(np.int16)
    bx = np.abs(np.diff(c, axis=1)).sum(-1) > thr
    by = np.abs(np.diff(c, axis=0)).sum(-1) > thr
    return bx, by


def _cut(mask: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Remove pixels so no remaining 4-neighbours straddle a break: the left/top pixel of each break
    goes (one-pixel cut lines)."""
    m = mask.copy()
    m[:, :-1] &= ~bx
    m[:-1, :] &= ~by
    return m


def _components(mask: np.ndarray) -> Tuple[int, np.ndarray, np.ndarray]:
    import cv2

    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    return n, lab, stats


def group_min_max(ids: np.ndarray, n: int, *values: np.ndarray):
    """Per group g in 0..n-1 of `ids`: (min, max) of each value array (+-inf / empty groups as such);
    one sort + reduceat (np.minimum.at is ~10x slower)."""
    order = np.argsort(ids, kind="stable")
    sid = ids[order]
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if len(sid) else np.zeros(0, np.int64)
    groups = sid[starts]
    out = []
    for v in values:
        v = np.asarray(v)
        sv = v[order]
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        if len(sv):
            lo[groups] = np.minimum.reduceat(sv, starts)
            hi[groups] = np.maximum.reduceat(sv, starts)
        out.append((lo, hi))
    return out


def _graph_components(mask: np.ndarray, bx: np.ndarray, by: np.ndarray) -> Tuple[int, np.ndarray, np.ndarray]:
    """Connected components of `mask` pixels over 4-neighbour links not crossing a break.

    Returns (n, labels (h, w) int32 with 0 = not in mask and 1..n-1 components, stats (n, 5) int:
    left, top, width, height, area — the layout of OpenCV's connectedComponentsWithStats)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    h, w = mask.shape
    idx = np.arange(h * w, dtype=np.int32).reshape(h, w)
    ex = mask[:, :-1] & mask[:, 1:] & ~bx
    ey = mask[:-1, :] & mask[1:, :] & ~by
    a = np.concatenate([idx[:, :-1][ex], idx[:-1, :][ey]])
    b = np.concatenate([idx[:, 1:][ex], idx[1:, :][ey]])
    g = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(h * w, h * w)).tocsr()
    _, comp = connected_components(g, directed=False)
    comp = comp.reshape(h, w)
    # relabel: mask components 1..n-1 in order of first appearance, background 0
    flat = np.where(mask, comp, -1).ravel()
    uniq, inv = np.unique(flat, return_inverse=True)
    if len(uniq) and uniq[0] == -1:
        lab = inv.astype(np.int32)
    else:
        lab = inv.astype(np.int32) + 1
    lab = lab.reshape(h, w)
    n = int(lab.max()) + 1
    rows, cols = np.nonzero(lab)
    ids = lab[rows, cols]
    stats = np.zeros((n, 5), np.int64)
    (top, bot), (left, right) = (tuple(np.where(np.isfinite(a), a, 0).astype(np.int64) for a in pair)
                                 for pair in group_min_max(ids, n, rows, cols))
    stats[:, 0], stats[:, 1] = left, top
    stats[:, 2], stats[:, 3] = right - left + 1, bot - top + 1
    stats[:, 4] = np.bincount(ids, minlength=n)
    stats[0] = 0
    return n, lab, stats


def _reattach(labels: np.ndarray, cand: np.ndarray, z: np.ndarray, tau_abs: float, tau_rel: float,
              rounds: int = 2) -> np.ndarray:
    """Give cut-line pixels (cand & label 0) the label of a 4-neighbour with continuous depth."""
    lab = labels.copy()
    for _ in range(rounds):
        todo = cand & (lab == 0)
        if not todo.any():
            break
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            src_l = np.roll(lab, (-dy, -dx), axis=(0, 1))
            src_z = np.roll(z, (-dy, -dx), axis=(0, 1))
            ok = todo & (src_l > 0) & (np.abs(src_z - z) < tau_abs + tau_rel * z)
            if dy == 1:
                ok[-1, :] = False
            if dy == -1:
                ok[0, :] = False
            if dx == 1:
                ok[:, -1] = False
            if dx == -1:
                ok[:, 0] = False
            lab[ok] = src_l[ok]
            todo &= ~ok
    return lab


def _grow(mask: np.ndarray, allowed: np.ndarray, z: np.ndarray, tau_abs: float, tau_rel: float,
          rounds: int) -> np.ndarray:
    """Grow `mask` over `allowed` 4-neighbours with continuous depth, `rounds` pixels deep."""
    m = mask.copy()
    for _ in range(rounds):
        add = np.zeros_like(m)
        tau = tau_abs + tau_rel * z
        add[:, 1:] |= m[:, :-1] & (np.abs(z[:, 1:] - z[:, :-1]) < tau[:, 1:])
        add[:, :-1] |= m[:, 1:] & (np.abs(z[:, :-1] - z[:, 1:]) < tau[:, :-1])
        add[1:, :] |= m[:-1, :] & (np.abs(z[1:, :] - z[:-1, :]) < tau[1:, :])
        add[:-1, :] |= m[1:, :] & (np.abs(z[:-1, :] - z[1:, :]) < tau[:-1, :])
        add &= allowed & ~m
        if not add.any():
            break
        m |= add
    return m


def _subsample(points: np.ndarray, n: int) -> np.ndarray:
    if len(points) <= n:
        return points
    idx = np.linspace(0, len(points) - 1, n).astype(np.int64)
    return points[idx]


def make_crop(rgb: np.ndarray, bbox: Tuple[int, int, int, int], pad: float, size: int = 0) -> np.ndarray:
    """Crop of `rgb` around bbox (x0, y0, x1, y1) grown by `pad` x its size on each side, clipped to
    the image (not squared: the CLIP encoder pads crops to a square with its mean colour, as its
    training crops were made)."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = bbox
    px, py = pad * (x1 - x0), pad * (y1 - y0)
    a0, a1 = int(max(0, round(x0 - px))), int(min(w, round(x1 + px)))
    b0, b1 = int(max(0, round(y0 - py))), int(min(h, round(y1 + py)))
    if a1 <= a0 or b1 <= b0:
        a0, a1, b0, b1 = 0, w, 0, h
    crop = rgb[b0:b1, a0:a1]
    if size:
        import cv2

        crop = cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


class GeometricProposer:
    """Depth-geometry (+ optional colour) segmentation into class-agnostic object proposals."""

    def __init__(self, config: Optional[ProposalConfig] = None, structure: Optional[StructureMemory] = None):
        self.config = (config or ProposalConfig()).validate()
        self.structure = structure if structure is not None else StructureMemory(self.config.structure_cell)

    def __call__(self, obs: Observation) -> ProposalResult:
        return self.propose(obs)

    def propose(self, obs: Observation) -> ProposalResult:
        cfg = self.config
        h, w = geo.check_observation(obs)
        s = cfg.stride_for(w)
        pts, valid = geo.depth_to_world_points(obs, s, cfg.min_depth, cfg.max_depth)
        z = np.where(valid, obs.depth[::s, ::s], 0.0).astype(np.float32)
        self._cam = geo.observation_camera(obs).position.astype(np.float32)
        self._s, self._area_scale = s, h * w / 76800.0
        hh, ww = valid.shape
        y = pts[..., 1]
        labels = np.zeros((hh, ww), np.int32)
        floor = valid & (y < cfg.floor_height)
        ceiling = valid & (y > cfg.ceiling_height)
        labels[floor] = FLOOR
        labels[ceiling] = CEILING
        rest = valid & ~floor & ~ceiling

        # ---- walls
        normals, nok = geo.surface_normals(pts, valid, step=1)
        vertical = rest & nok & (np.abs(normals[..., 1]) < cfg.vertical_normal_max_ny)
        wall = self._walls(pts, z, valid, vertical, normals, hh, ww)
        if len(self.structure.keys):
            cand = rest & ~wall & (nok & (np.abs(normals[..., 1]) < cfg.vertical_normal_max_ny) | ~nok)
            if cand.any():
                near = np.zeros_like(cand)
                near[cand] = self.structure.contains(pts[..., 0][cand], pts[..., 2][cand])
                wall |= near
        if wall.any():
            wall = _grow(wall, rest, z, cfg.depth_jump_abs, cfg.depth_jump_rel, cfg.wall_grow)
        labels[wall] = WALL
        rest &= ~wall
        rest &= z <= cfg.max_range

        # ---- segments
        bx, by = _depth_breaks(z, valid, cfg)
        if cfg.colour_edges:
            rgb_s = obs.rgb[::s, ::s][:hh, :ww]
            cx_, cy_ = _colour_breaks(rgb_s, cfg.colour_edge_threshold)
            bx |= cx_
            by |= cy_
        n, lab, stats = _graph_components(rest, bx, by)
        min_px = cfg.min_working_pixels(h, w, s)
        proposals: List[Proposal] = []
        counts = np.bincount(lab.ravel(), minlength=n)
        order = [k for k in range(1, n) if counts[k] >= min_px]
        for k in order:
            m = lab == k
            p = self._make(obs, m, pts, z, s, h, w, k)
            if p is not None:
                proposals.append(p)
                labels[m] = len(proposals)
        return ProposalResult(proposals, pts, valid, labels, s,
                              {"segments": n - 1, "proposals": len(proposals), "wall_px": int(wall.sum())})

    # ------------------------------------------------------------------ walls
    def _walls(self, pts, z, valid, vertical, normals, hh, ww) -> np.ndarray:
        cfg = self.config
        if not vertical.any():
            return np.zeros((hh, ww), bool)
        # Planar regions: vertical pixels whose neighbours have continuous depth and similar normals.
        bx, by = _depth_breaks(z, valid, cfg)
        dotx = (normals[:, :-1] * normals[:, 1:]).sum(-1)
        doty = (normals[:-1] * normals[1:]).sum(-1)
        bx = bx | (np.abs(dotx) < cfg.plane_normal_cos)
        by = by | (np.abs(doty) < cfg.plane_normal_cos)
        n, lab, stats = _graph_components(vertical, bx, by)
        if n <= 1:
            return np.zeros((hh, ww), bool)
        flat = lab.ravel()
        sel = flat > 0
        ids = flat[sel]
        p = pts.reshape(-1, 3)[sel]
        # per-region extents (height range, horizontal span)
        (xmin, xmax), (ymin, ymax), (zmin, zmax) = group_min_max(ids, n, p[:, 0], p[:, 1], p[:, 2])
        span = np.hypot(xmax - xmin, zmax - zmin)
        # normals are undefined on the outermost pixel ring: "touches the top" = starts in row <= 2
        top_rows = stats[:, 1] <= 2
        bottom_rows = stats[:, 1] + stats[:, 3] >= hh - 2
        px = stats[:, 4]
        min_px = max(8, round(200 * self._area_scale / (self._s * self._s)))
        evidence = (ymax >= cfg.wall_min_top) & (px >= 4)
        maybe = ~evidence & (px >= min_px) & (
            (span >= cfg.wall_min_width) | (top_rows & (span >= cfg.wall_min_width_at_top))
            | (top_rows & ((ymin < cfg.wall_low_reach) | bottom_rows)))
        maybe[0] = False
        evidence[0] = False
        big = evidence.copy()
        if maybe.any():
            # A wall has nothing behind it: furniture leaves the wall behind visible around it.
            allp = pts[valid]
            for k in np.flatnonzero(maybe):
                sel_k = lab == k
                nk = normals[sel_k].mean(axis=0)
                nk[1] = 0.0
                nk /= max(float(np.linalg.norm(nk)), 1e-6)
                pk = pts[sel_k]
                c = pk.mean(axis=0)
                dist = (allp - c) @ nk
                if nk @ (self._cam - c) < 0:
                    dist = -dist
                # only what lies beside the region along the plane counts (not rooms seen through doors)
                tang = np.array([-nk[2], 0.0, nk[0]], np.float32)
                tk = (pk - c) @ tang
                ta = (allp - c) @ tang
                beside = (ta > tk.min() - cfg.wall_behind_reach) & (ta < tk.max() + cfg.wall_behind_reach)
                if float((beside & (dist < -cfg.wall_behind_margin)).mean()) <= cfg.wall_behind_fraction:
                    big[k] = True
        wall = big[lab]
        # Remember where walls stood (strong evidence only: regions reaching wall height).
        ev = evidence[lab]
        if ev.any():
            e = pts[ev]
            self.structure.add(e[:, 0], e[:, 2])
        return wall

    # ------------------------------------------------------------------ proposals
    def _make(self, obs, m, pts, z, s, h, w, k) -> Optional[Proposal]:
        cfg = self.config
        bb = geo.bbox_of_mask(m)
        if bb[2] - bb[0] < cfg.min_side_px or bb[3] - bb[1] < cfg.min_side_px:
            return None
        q = pts[m]
        ext = q.max(axis=0) - q.min(axis=0)
        if float(ext.max()) < cfg.min_extent:
            return None
        return build_proposal(obs, m, q, z[m], s, h, w, cfg)


def build_proposal(obs, m_small, q, zs, s, h, w, cfg: ProposalConfig, oracle_id: int = -1) -> Proposal:
    bb = geo.bbox_of_mask(m_small)
    x0, y0, x1, y1 = bb
    bbox = (x0 * s, y0 * s, min(w, x1 * s), min(h, y1 * s))
    if s > 1:
        full = np.repeat(np.repeat(m_small, s, axis=0), s, axis=1)[:h, :w]
        if full.shape != (h, w):
            pad = np.zeros((h, w), bool)
            pad[: full.shape[0], : full.shape[1]] = full
            full = pad
    else:
        full = m_small
    truncated = bbox[0] <= 0 or bbox[1] <= 0 or bbox[2] >= w or bbox[3] >= h
    crop = make_crop(obs.rgb, bbox, cfg.crop_pad, cfg.crop_size)
    return Proposal(full, bbox, _subsample(q, cfg.max_points).astype(np.float32), crop,
                    int(m_small.sum()) * s * s, float(np.median(zs)), bool(truncated), oracle_id)


class OracleProposer:
    """Proposals from the simulator's instance ids (`oracle_semantics` ablation only)."""

    def __init__(self, config: Optional[ProposalConfig] = None):
        self.config = (config or ProposalConfig()).validate()
        self.structure = StructureMemory(self.config.structure_cell)

    def __call__(self, obs: Observation) -> ProposalResult:
        return self.propose(obs)

    def propose(self, obs: Observation) -> ProposalResult:
        cfg = self.config
        h, w = geo.check_observation(obs)
        if obs.instance is None:
            raise ValueError("oracle_semantics needs ground-truth instance ids (Observation.instance); "
                             "this backend does not provide them")
        s = cfg.stride_for(w)
        pts, valid = geo.depth_to_world_points(obs, s, cfg.min_depth, cfg.max_depth)
        z = np.where(valid, obs.depth[::s, ::s], 0.0).astype(np.float32)
        valid &= z <= cfg.max_range
        ins = np.asarray(obs.instance)[::s, ::s][: valid.shape[0], : valid.shape[1]]
        labels = np.zeros(valid.shape, np.int32)
        proposals: List[Proposal] = []
        ids, counts = np.unique(ins[valid & (ins > 0)], return_counts=True)
        min_px = cfg.min_working_pixels(h, w, s)
        for oid, c in zip(ids, counts):
            if c < min_px:
                continue
            m = valid & (ins == oid)
            p = build_proposal(obs, m, pts[m], z[m], s, h, w, cfg, int(oid))
            proposals.append(p)
            labels[m] = len(proposals)
        labels[valid & (ins == 0)] = WALL
        return ProposalResult(proposals, pts, valid, labels, s, {"proposals": len(proposals)})


def make_proposer(mode: str = "geometry", config: Optional[ProposalConfig] = None):
    """`geometry` (default) or `oracle_semantics` (ablation; needs Observation.instance)."""
    if mode in ("geometry", "default"):
        return GeometricProposer(config)
    if mode in ("oracle", "oracle_semantics"):
        return OracleProposer(config)
    raise ValueError(f"unknown proposal mode {mode!r}; expected 'geometry' or 'oracle_semantics'")
