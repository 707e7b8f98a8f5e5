"""Local navigation on the agent's own occupancy grid: distance fields and discrete-action plans.

The agent never sees the simulator's navigable grid. It plans on `OccupancyGrid.traversable`
(free or, optimistically, unknown cells clear of inflated obstacles), computes a geodesic distance
field to a target region with the fast marching method, and searches Habitat's discrete actions
(`action_search.plan_actions`) with that field as heuristic and the map as its collision model.
Plans are followed until the body deviates from the prediction, the target moves, the map blocks the
plan, or `replan_every` steps have passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from navstack.fmm import geodesic_field
from navstack.planning.action_search import plan_actions
from navstack.types import DiscreteAction, heading_vector


@dataclass
class NavigatorConfig:
    forward_step: float = 0.25
    turn_deg: float = 30.0
    replan_every: int = 6
    unknown_is_free: bool = True
    start_clear_radius: float = 0.2  # the cells under the agent count as traversable (it stands there)
    search_weight: float = 1.3
    max_expansions: int = 6000
    goal_radius: float = 0.05
    # When nothing is reachable with obstacles grown by the full agent radius (a doorway the noisy map
    # makes look too narrow, a body already inside the margin), plan again with these fractions of it;
    # last, without the collision cells (a bump on a door frame's corner must not close the door for good).
    fallback_inflation: tuple = (0.6, 0.3)
    # ... but a plan through collision cells that bumps again uses one of these (per goal): a real obstacle
    # the camera cannot see must not trap the agent in a bump-replan loop.
    max_collision_overrides: int = 3
    # Poses where a forward step hit something (no sliding: grazing a wall at a slight angle does not move
    # at all): plans never repeat that step from within `bump_radius` m and `bump_angle_deg` of heading.
    bump_radius: float = 0.06
    bump_angle_deg: float = 10.0
    max_bumps: int = 40


class DistanceField:
    """Geodesic distances (m) on a boolean traversable grid to a set of target cells.

    The fast marching runs only on the window `crop` = (r0, r1, c0, c1) of the grid (the observed
    part plus a margin): the map array is allocated generously and mostly unknown.
    """

    def __init__(self, traversable: np.ndarray, targets_rc: np.ndarray, x0: float, z0: float, resolution: float,
                 crop: Optional[Tuple[int, int, int, int]] = None):
        self.res = resolution
        self.traversable = traversable
        r0, r1, c0, c1 = crop if crop is not None else (0, traversable.shape[0], 0, traversable.shape[1])
        self.x0, self.z0 = x0 + c0 * resolution, z0 + r0 * resolution
        self.offset = (r0, c0)
        trav = traversable[r0:r1, c0:c1]
        self.shape = trav.shape
        r, c = targets_rc[:, 0] - r0, targets_rc[:, 1] - c0
        ok = (r >= 0) & (r < self.shape[0]) & (c >= 0) & (c < self.shape[1])
        self.field = geodesic_field(trav, r[ok], c[ok], resolution)

    def __call__(self, x: float, z: float) -> float:
        c = int(math.floor((x - self.x0) / self.res))
        r = int(math.floor((z - self.z0) / self.res))
        if 0 <= r < self.shape[0] and 0 <= c < self.shape[1]:
            return float(self.field[r, c])
        return math.inf

    @property
    def reachable(self) -> bool:
        return bool(np.isfinite(self.field).any())


class Navigator:
    def __init__(self, config: Optional[NavigatorConfig] = None):
        self.config = config or NavigatorConfig()
        self.plan: List[Tuple[DiscreteAction, float, float]] = []
        self.target_key = None
        self.steps_since_plan = 0
        self._expect = None
        self.last_path: np.ndarray = np.zeros((0, 2))
        self.field: Optional[DistanceField] = None
        self._collisions = True  # whether the current plan respects the collision cells
        self.overrides_left = self.config.max_collision_overrides
        self.bumps: List[Tuple[float, float, float]] = []

    def forget_bumps(self, near: Optional[Tuple[float, float]] = None, radius: float = 0.0) -> None:
        """Forget the bump poses (all of them: the map was cleared; or those within `radius` m of `near`)."""
        if near is None:
            self.bumps = []
        else:
            self.bumps = [b for b in self.bumps if math.hypot(b[0] - near[0], b[1] - near[1]) > radius]

    def _bumped(self, x: float, z: float, heading: float) -> bool:
        cfg = self.config
        for bx, bz, byaw in self.bumps:
            if abs(bx - x) <= cfg.bump_radius and abs(bz - z) <= cfg.bump_radius \
                    and abs((heading - byaw + math.pi) % (2 * math.pi) - math.pi) <= math.radians(cfg.bump_angle_deg):
                return True
        return False

    def reset(self) -> None:
        self.plan, self.target_key, self._expect, self.field = [], None, None, None
        self.last_path = np.zeros((0, 2))

    def new_goal(self) -> None:
        self.reset()
        self.overrides_left = self.config.max_collision_overrides

    def note_collision(self, poses=()) -> None:
        """The body bumped into something: drop the plan; a plan that ignored collision cells used up one
        override. `poses` [(x, z, yaw)]: where a forward step along yaw was blocked."""
        self.bumps = (self.bumps + [tuple(map(float, p)) for p in poses])[-self.config.max_bumps:]
        if not self._collisions:
            self.overrides_left -= 1
        self.plan, self._expect = [], None

    def fallbacks(self):
        """(inflation scale, use collision cells) to try in turn until the target is reachable."""
        scales = (1.0, *self.config.fallback_inflation)
        out = [(s, True) for s in scales]
        if self.config.fallback_inflation and self.overrides_left > 0:
            out.append((scales[-1], False))
        return out

    def traversable(self, occ, x: float, z: float, scale: float = 1.0, collisions: bool = True) -> np.ndarray:
        radius = occ.config.agent_radius * scale
        t = occ.traversable(unknown_is_free=self.config.unknown_is_free, radius=radius, collisions=collisions).copy()
        # The agent stands where it is: inflation next to a wall must not wall it in.
        r0, c0 = occ.to_cell(x, z)
        k = int(math.ceil(self.config.start_clear_radius / occ.resolution))
        rr, cc = np.ogrid[-k : k + 1, -k : k + 1]
        disc = rr ** 2 + cc ** 2 <= k * k
        rs, cs = int(r0) - k, int(c0) - k
        occupied = occ.occupied(collisions)
        for dr, dc in zip(*np.nonzero(disc)):
            r, c = rs + dr, cs + dc
            if 0 <= r < t.shape[0] and 0 <= c < t.shape[1] and not occupied[r, c]:
                t[r, c] = True
        return t

    def distance_field(self, occ, targets_xz: np.ndarray, x: float, z: float, margin: float = 1.5,
                       scale: float = 1.0, collisions: bool = True) -> DistanceField:
        rr, cc = occ.to_cell(targets_xz[:, 0], targets_xz[:, 1])
        ar, ac = occ.to_cell(x, z)
        rows, cols = np.nonzero(occ.observed) if occ.observed.any() else (np.array([ar]), np.array([ac]))
        m = int(math.ceil(margin / occ.resolution))
        r0 = max(0, min(int(rows.min()), int(ar), int(rr.min())) - m)
        r1 = min(occ.shape[0], max(int(rows.max()), int(ar), int(rr.max())) + m + 1)
        c0 = max(0, min(int(cols.min()), int(ac), int(cc.min())) - m)
        c1 = min(occ.shape[1], max(int(cols.max()), int(ac), int(cc.max())) + m + 1)
        return DistanceField(self.traversable(occ, x, z, scale, collisions), np.stack([rr, cc], 1), occ.x0, occ.z0, occ.resolution,
                             crop=(r0, r1, c0, c1))

    def step(self, occ, x: float, z: float, yaw: float, targets_xz: np.ndarray, target_key) -> Optional[DiscreteAction]:
        """Next action towards the target region (None when already there or unreachable)."""
        cfg = self.config
        deviated = self._expect is not None and math.hypot(self._expect[0] - x, self._expect[1] - z) > 1e-3
        if (not self.plan or deviated or target_key != self.target_key
                or self.steps_since_plan >= cfg.replan_every or not self._plan_still_free(occ)):
            self._replan(occ, x, z, yaw, targets_xz, target_key)
        if not self.plan:
            return None
        action, px, pz = self.plan.pop(0)
        self._expect = (px, pz)
        self.steps_since_plan += 1
        return action

    def distance_to_target(self, x: float, z: float) -> float:
        return self.field(x, z) if self.field is not None else math.inf

    def _replan(self, occ, x, z, yaw, targets_xz, target_key) -> None:
        cfg = self.config
        self.target_key = target_key
        self.steps_since_plan = 0
        self._expect = None
        self.plan = []
        if len(targets_xz) == 0:
            return
        targets = np.asarray(targets_xz, float).reshape(-1, 2)
        for scale, collisions in self.fallbacks():
            self.field = field = self.distance_field(occ, targets, x, z, scale=scale, collisions=collisions)
            if math.isfinite(field(x, z)):
                break
        self._collisions = collisions
        trav = field.traversable

        bumps = self.bumps

        def forward(px, pz, heading, dist):
            if bumps and self._bumped(px, pz, heading):
                return px, pz, True
            v = heading_vector(heading)
            ex, ez = px, pz
            n = max(1, int(math.ceil(dist / (occ.resolution / 2))))
            for i in range(1, n + 1):
                qx, qz = px + v[0] * dist * i / n, pz + v[1] * dist * i / n
                c = int(math.floor((qx - occ.x0) / occ.resolution))
                r = int(math.floor((qz - occ.z0) / occ.resolution))
                if not (0 <= r < trav.shape[0] and 0 <= c < trav.shape[1]) or not trav[r, c]:
                    return ex, ez, True
                ex, ez = qx, qz
            return ex, ez, False

        p = plan_actions(x, z, yaw, forward, field, cfg.goal_radius, cfg.forward_step, math.radians(cfg.turn_deg),
                         cfg.search_weight, cfg.max_expansions)
        if p is None or not p.actions:
            # No exact plan within the budget: take the first move towards lower distance (greedy fallback).
            self.plan = self._greedy(x, z, yaw, forward, field)
            self.last_path = np.zeros((0, 2))
            return
        self.plan = [(a, s[0], s[1]) for a, s in zip(p.actions, p.states[1:])]
        self.last_path = np.array([[s[0], s[1]] for s in p.states])

    def _greedy(self, x, z, yaw, forward, field) -> List[Tuple[DiscreteAction, float, float]]:
        turn = math.radians(self.config.turn_deg)
        here = field(x, z)
        best = None
        for k in range(-6, 7):
            nx, nz, _ = forward(x, z, yaw + k * turn, self.config.forward_step)
            d = field(nx, nz)
            if d < here - 1e-3 and (best is None or d < best[0] - 1e-6 or (abs(d - best[0]) <= 1e-6 and abs(k) < abs(best[1]))):
                best = (d, k, nx, nz)
        if best is None:
            return []
        _, k, nx, nz = best
        if k == 0:
            return [(DiscreteAction.MOVE_FORWARD, nx, nz)]
        return [(DiscreteAction.TURN_LEFT if k > 0 else DiscreteAction.TURN_RIGHT, x, z)]

    def _plan_still_free(self, occ) -> bool:
        """False when a cell the remaining plan drives through has been seen occupied since planning."""
        if not self.plan:
            return True
        occupied = occ.occupied(self._collisions)  # as the plan was made
        pts = np.array([[px, pz] for _, px, pz in self.plan])
        r, c = occ.to_cell(pts[:, 0], pts[:, 1])
        ok = occ.inside(r, c)
        return not occupied[r[ok], c[ok]].any()
