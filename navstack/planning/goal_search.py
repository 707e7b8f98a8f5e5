"""Goal search: approach-and-verify a map candidate, or explore frontiers by semantic value.

Modes (`GoalSearch.mode`):
- spin: look around once at the start (map the surroundings before choosing).
- approach: a map instance matches the goal above `match_threshold`: drive to the free cells within
  [approach_min, approach_max] m of its points that have a clear line to it (`line_of_sight`).
- verify: at close range, face the instance and re-score it; STOP when the score stays above
  `verify_threshold` (and, with `close_look`, a fresh close-up crop of it in the current frame agrees),
  else blacklist it and recover.
- explore: no confident candidate: go to the frontier with the best value - cost (VLFM-style value
  from the value map, plus a room prior: how likely the goal category is in the room the frontier lies
  in; `semantic_exploration=False` ranks by distance only), and keep heading for it while it lasts
  (`frontier_switch`).

Thresholds were read off `benchmarks/calibrate_goals.py` on development houses (1100-1109, never >= 9000).
- recover (Meta-Explore): after a rejected candidate, pick the observed-but-unvisited place (frontier or
  object node of the TopoGraph) with the best value near the agent, instead of backtracking.
- last resort: nothing left to explore and nothing was accepted: the goal may still be one of the
  instances that fell short (a rejected close look, a category probability under the threshold). Visit
  the best of them, each once, and STOP there if the goal is still at least `last_resort_min_p` likely.
  The agent also calls it early (`hurry`) when most of its step budget is spent exploring.
- done: nothing left to explore and nothing matches: STOP cleanly (goal absent or unreachable).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Optional, Set

import numpy as np
from scipy import ndimage

from navstack.types import DiscreteAction


@dataclass
class GoalSearchConfig:
    match_threshold: float = 0.2  # P(goal category | instance) to approach it (and it must be the argmax)
    # The same at close range, to STOP. Development ObjectNav 1115-1164 x 2 (seventeenth session): 0.25 ->
    # 0.78 / SPL 0.360, 0.5 -> 0.79 / 0.365, 0.65 -> 0.84 / 0.391 (five wrong STOPs at 0.51-0.65 became
    # successes, none lost). benchmarks/study_stop_checks.py: the map's fused P(goal) separates right from
    # wrong instances at the STOP better than a fresh close-up look does (`close_look`).
    verify_threshold: float = 0.65
    # Text goals: P(colour word | instance) among the 12 colour words. benchmarks/calibrate_goals.py, houses
    # 1100-1109 (twenty-fifth session, shipped model): >= 0.2 keeps 87% of the same-category instances whose
    # object has that colour and 3% of those of another colour.
    attribute_threshold: float = 0.2
    # The same for the material word, off: the embedded world's materials are words from a model's name (or
    # drawn at random) that its rendering does not show, so the model cannot tell them (houses 1100-1109:
    # P(word) >= 0.1 keeps 96% of right and 96% of wrong instances; >= 0.2, 0.3% of either) - gating on it
    # turned almost every "wooden table" away. It still ranks. A real CLIP sees materials: set it for one.
    material_threshold: float = 0.0
    # Text goals: P(named room | instance's region). benchmarks/calibrate_goals.py, houses 1100-1109: >= 0.15
    # keeps 94% of instances in their true room type and 21% of the others (0.2: 88% / 13%). Under the
    # uniform 1/7, so an instance of a room not yet told apart waits for more evidence (or the last resort).
    room_threshold: float = 0.15
    # Not the nearby object: its evidence separates poorly (calibrate_goals.py: >= 0.05 keeps 92% of goals
    # and 50% of same-category others) and asking for it lost development textnav 1110-1139 one episode
    # and SPL 0.320 -> 0.255 (the neighbour is often mapped later than the goal); it only ranks.
    image_cosine_threshold: float = 0.85  # image goals: CLIP cosine of goal photo and instance
    approach_min: float = 0.3
    approach_max: float = 0.75
    stop_max_distance: float = 0.85  # STOP only this close to the instance's points
    value_weight: float = 1.0
    distance_weight: float = 0.15  # per metre of travel
    # Switching the frontier being headed for: "margin" - to another that scores `switch_margin` better;
    # "commit" - never while it lasts (reached, gone or given up); "nearer" - only to a better one that is
    # also nearer. With "margin", re-ranking every few steps flip-flopped between frontiers in opposite
    # directions as each new frame moved their values. Development houses (fourteenth session), margin ->
    # commit: textnav 1110-1169 0.650 / SPL 0.284 -> 0.733 / 0.308; ObjectNav 1115-1164 x 2 0.73 / 0.382 ->
    # 0.78 / 0.359 (nearer: textnav 1110-1139 0.700 / 0.343, ObjectNav 0.74 / 0.364).
    frontier_switch: str = "commit"
    switch_margin: float = 0.1  # "margin": keep the current frontier unless another is better by this
    # Frontiers that open onto less than this much unknown space (m^2 of unknown cells met by rays, see
    # OccupancyGrid.frontier_gain; a pocket behind a sofa, under a table) wait until no other is left. 0 =
    # off (default). Twentieth session, development houses, 1.0: ObjectNav 1200-1249 x 2 SPL 0.412 -> 0.426
    # (0.498 -> 0.535 on episodes both solve) but success 0.84 -> 0.80; textnav 1200-1259 0.683 -> 0.600.
    # Twenty-sixth session: development ObjectNav 1200-1299 x 2 SPL 0.403 -> 0.435, but held-out textnav
    # 0.767 -> 0.667 and GOAT later subtasks 53 -> 48 of 63; development GOAT not yet compared.
    pocket_area: float = 0.0
    semantic_exploration: bool = True
    room_weight: float = 1.0  # frontier score bonus x P(goal category's room | the frontier's mapped room)
    max_verify_turns: int = 3
    stuck_steps: int = 8  # no progress for this many forward steps (3 turns count as one) -> give up the target
    reroute_jump: float = 1.0  # m: the route to an instance grew this much at once: progress is measured afresh
    max_reroutes: int = 3  # ... at most this often per instance approached
    # Approaching one instance: metres walked + route left above this many times the route at the approach's
    # start (+ slack, m; retries from another stand point go on counting): given up like a stuck approach.
    # Routes to stand points beyond the known map can grow a little at a time (each reroute under
    # `reroute_jump` or within `max_reroutes`) round a house. 0 = off.
    max_detour: float = 2.0
    detour_slack: float = 3.0
    # A start hemmed in by furniture: so little explored and no frontier with the agent radius's clearance
    # left: the tight frontiers are tried too. Not later: in an explored house they are gaps between furniture.
    tight_frontier_area: float = 20.0
    frontier_retries: int = 2  # when every frontier is blacklisted, forget the blacklist this many times
    # Frontiers left but none reachable, every retry spent: the agent has walled itself in with collision
    # cells (bumps in a pocket between furniture). Forget those within `unwedge_radius` m this many times.
    unwedge: int = 1
    unwedge_radius: float = 1.0
    unwedge_all: int = 1  # ... then forget every collision cell this many times before declaring the house explored
    max_target_collisions: int = 4  # bumps on the way to one target before it is given up (or verified)
    # Exploring or approaching but going nowhere: the body stayed within `idle_radius` m for `idle_steps`
    # steps (targets flip-flopping, each bump or stall counted afresh for the new target): give it up.
    idle_steps: int = 30
    idle_radius: float = 0.5
    reselect_every: int = 4  # re-rank frontiers every k steps (the ranking needs a distance field)
    min_instance_observations: int = 2
    # Verify category goals in a fresh close-up crop before STOP. Off: on development houses 100-119 it
    # rejected more true goals (small objects next to others) than wrong ones (ObjectNav 0.675 -> 0.750);
    # seventeenth session, ObjectNav 1115-1164 x 2: 0.78 / SPL 0.360 -> 0.80 / 0.291, and of 104 close
    # looks (benchmarks/study_stop_checks.py) it kept 12 of 18 at wrong instances and rejected 29 of 86 at
    # right ones: from 0.3-0.75 m the crop shows a large object's lower part cut by the frame.
    close_look: bool = False
    close_look_min_p: float = 0.5  # ... the goal category must be its argmax or at least this likely
    last_resort: bool = True  # when the house is explored, revisit the best instances that fell short
    last_resort_min_p: float = 0.1  # P(goal category | instance) for category and text goals
    last_resort_min_cosine: float = 0.6  # CLIP image cosine for image goals
    # Text goals: P(named room | instance) too (calibrate_goals.py: >= 0.1 keeps 98.9% of instances in their
    # true room type, 38% of the others); not the colour: white and grey tints read as the bare model.
    last_resort_min_room: float = 0.1
    last_resort_max: int = 3  # instances tried at most
    # STOP only where the instance is in view: after facing it, it must have been observed in this very
    # frame; otherwise this stand point is given up (approach elsewhere; `max_unseen_stands` of them and the
    # instance is blacklisted). Held-out GOAT kept-map losses were STOPs beside the right remembered object
    # but out of view of it. Development houses: ObjectNav 0.750 -> 0.800, GOAT SPL 0.472 -> 0.504; held-out
    # (fifth session, opt-in): ObjectNav 0.740 -> 0.800, GOAT 0.621 -> 0.713.
    require_visible_at_stop: bool = True
    max_unseen_stands: int = 3
    # ... or, not associated in this frame, at least this many of its mapped points (of up to 400 sampled)
    # project into the image unhidden by nearer depth. 0 = association only (default): at 40, development
    # textnav 1200-1259 lost true goals judged at the first stand on evidence not yet past verify_threshold
    # (house 1220: 0.63), which another stand's fresh views would have carried over it.
    visible_points: int = 0
    unseen_stand_radius: float = 0.5  # m around a given-up stand point excluded from the approach
    # Approach only cells with a clear straight line to the instance on the occupancy grid (where any
    # have one): without it the far side of a wall qualifies.
    line_of_sight: bool = True
    # STOP at a category (or text) goal only if the instance's 3D shape is plausible for the category:
    # squared Mahalanobis distance of its shape features under the shape prior's Gaussian for the goal
    # category at most this (4 features; chi^2 99.99% ~ 23.5). Development houses 1115-1140: every right
    # STOP was <= 15; 4 of 9 wrong ones were pieces of other objects (a 5 cm slab of a bed as a sofa) at
    # 37-180. 0 = off. The last resort does not apply it.
    max_shape_distance2: float = 25.0
    # Exploring, look around (a full turn in place; turns add no path length) whenever the agent is this far
    # (m) from every place it looked around from: the map sees each room from inside. 0 = only at the start.
    look_around_every: float = 0.0

    def validate(self) -> "GoalSearchConfig":
        if self.frontier_switch not in FRONTIER_SWITCH:
            raise ValueError(f"search: frontier_switch must be one of {', '.join(FRONTIER_SWITCH)}, "
                             f"got {self.frontier_switch!r}")
        return self


FRONTIER_SWITCH = ("margin", "commit", "nearer")


class GoalSearch:
    def __init__(self, config: GoalSearchConfig, smap, value_map, topo, navigator, goal_encoder, turn_deg: float):
        self.config = config
        self.smap = smap
        self.value_map = value_map
        self.topo = topo
        self.navigator = navigator
        self.goal_encoder = goal_encoder
        self.turn = math.radians(turn_deg)
        self.mode = "spin"
        self.target_desc = ""
        self.debug: dict = {}

    def rebind(self, smap) -> None:
        self.smap = smap
        self._ranked_memo = (None, [])

    def ranked(self):
        """The goal encoder's ranking of the map's instances, computed once per map frame: exploring, the
        accept test and the early last resort (`hurry`) all read it in the same step."""
        frame = getattr(self.smap.instance_map, "frame", None)
        if frame is None or self._ranked_memo[0] != frame:
            self._ranked_memo = (frame, self.goal_encoder.match(self.goal, self.smap))
        return self._ranked_memo[1]

    def start(self, goal_embedding, spin_steps: int, last_resort: Optional[bool] = None) -> None:
        """`last_resort=False` defers the last-resort visits (the caller has something better to try first,
        e.g. a fresh map); None takes the config's."""
        self.goal = goal_embedding
        self.last_resort_allowed = self.config.last_resort if last_resort is None else last_resort
        self.last_resort_active = False
        self.last_resort_tried: Set[int] = set()
        self.spin_left = spin_steps
        self.mode = "spin" if spin_steps else "explore"
        self.looked_from: list = []  # (x, z) of the look-arounds of this search
        self.blacklist: Set[int] = set()
        self.unwedges_left = self.config.unwedge
        self.unwedges_all_left = self.config.unwedge_all
        self.bad_frontiers: list = []
        self.instance: Optional[int] = None
        self.frontier_xz: Optional[np.ndarray] = None
        self.verify_turns = 0
        self._reset_progress()
        self.frontier_retries_left = self.config.frontier_retries
        self._progress_target = np.full(2, np.inf)
        self.target_collisions = 0
        self.target_desc = ""
        self.debug = {}
        self._frontier_memo = (None, 0)
        self.unreachable_frontiers = 0
        self._trail: collections.deque = collections.deque(maxlen=self.config.idle_steps)
        self.unseen_stands: dict = {}  # instance id -> [(x, z)] stand points it was not in view from
        self._sight = None  # (instance id, window row, window col, clear-line mask) of the last approach_cells
        self.sightless: Set[int] = set()  # instances approached without the line-of-sight filter (it failed)
        self._sight_filtered = None
        self._walk: dict = {}  # instance id -> [route at the approach's start, metres walked, last (x, z)]
        self._ranked_memo = (None, [])  # (map frame, ranked candidates)

    @property
    def goal_category(self) -> Optional[str]:
        """The goal's category: given (category goals, image goals' photo) or parsed from a description."""
        return self.goal.category or self.goal.parsed.category

    # ------------------------------------------------------------------ candidates
    def accept(self, c) -> bool:
        """Whether a ranked candidate is confident enough to go to (thresholds in GoalSearchConfig).

        The match score mixes log-probabilities with weights; decisions use the parts back as
        probabilities: P(goal category | instance), and for text goals the colour / material words.
        """
        cfg = self.config
        w = self.goal_encoder.config
        if self.goal.kind == "image":
            # Calibrated on development houses (benchmarks/calibrate_goals.py): the CLIP image cosine
            # separates the photographed instance from same-category ones (shipped model, houses 1100-1109:
            # >= 0.85: 76% of true instances, 1.6% of others; >= 0.8: 84% / 5.9%); ORB inliers on the map's
            # small view crops do not, so they only re-rank.
            return c.parts.get("clip", 0.0) / w.w_image_clip >= cfg.image_cosine_threshold
        goal_cat = self.goal_category
        if goal_cat is not None and c.category != goal_cat:
            return False  # the instance's most likely category must be the goal's
        if "category" in c.parts and math.exp(c.parts["category"] / w.w_category) < cfg.match_threshold:
            return False
        if self.goal.kind == "text":
            for part, threshold in (("colour", cfg.attribute_threshold), ("material", cfg.material_threshold),
                                    ("room", cfg.room_threshold)):
                p = self._text_part_p(c, part)
                if p is not None and p < threshold:
                    return False
        return True

    def _text_part_p(self, c, part: str) -> Optional[float]:
        """A text goal's colour / material / room part of a candidate's score back as a probability (None
        when the description has no such word or the encoder does not weigh it)."""
        weight = getattr(self.goal_encoder.config, f"w_{part}")
        if part not in c.parts or not weight > 0:
            return None
        return math.exp(c.parts[part] / weight)

    def best_candidate(self):
        cands = [c for c in self.ranked() if c.instance_id not in self.blacklist]
        cands = [c for c in cands
                 if self.smap.instance_map[c.instance_id].observations >= self.config.min_instance_observations]
        self.debug["candidates"] = [(c.instance_id, c.category, round(float(c.score), 2)) for c in cands[:3]]
        for c in cands[:5]:
            if self.accept(c):
                return c
        return None

    def last_resort_candidate(self):
        """The best instance not accepted so far (blacklisted ones included) that could still be the goal."""
        cfg = self.config
        if not self.last_resort_allowed or len(self.last_resort_tried) >= cfg.last_resort_max:
            return None
        for c in self.ranked():
            if c.instance_id in self.last_resort_tried or c.instance_id not in self.smap.instance_map.instances:
                continue
            if self._plausible(c):
                self.last_resort_tried.add(c.instance_id)
                return c
        return None

    def hurry(self) -> bool:
        """The step budget is running out while exploring: visit the best instance that fell short now (the
        last resort, before the house is explored) rather than run out of steps. True if one was chosen."""
        if self.mode not in ("explore", "recover") or self.last_resort_active or not self.config.last_resort:
            return False
        self.last_resort_allowed = True  # a fresh-map restart would not finish in the steps left either
        return self._begin_last_resort()

    def _begin_last_resort(self) -> bool:
        """Approach the next last-resort candidate, if there is one."""
        cand = self.last_resort_candidate()
        if cand is None:
            return False
        self.last_resort_active = True
        self._begin_approach(cand.instance_id)
        return True

    def _plausible(self, c) -> bool:
        """The relaxed test of the last resort (see `last_resort_min_p`, `last_resort_min_cosine`)."""
        w = self.goal_encoder.config
        if self.goal.kind == "image":
            return c.parts.get("clip", 0.0) / w.w_image_clip >= self.config.last_resort_min_cosine
        if "category" not in c.parts or self.goal_category not in getattr(self.smap, "categories", ()):
            return False  # the relaxed probability means something only for the map's own categories
        room = self._text_part_p(c, "room") if self.goal.kind == "text" else None
        if room is not None and room < self.config.last_resort_min_room:
            return False
        return math.exp(c.parts["category"] / w.w_category) >= self.config.last_resort_min_p

    def _shape_fits(self, iid: int) -> bool:
        """The instance's shape is plausible for the goal category (`max_shape_distance2`); True where the
        map has no shape prior or it knows nothing of the category."""
        inst = self.smap.instance_map[iid]
        prior, cat = inst.shape_prior, self.goal_category
        if not self.config.max_shape_distance2 or prior is None or cat not in prior.categories or not len(inst.keys):
            return True
        d2 = float(prior.mahalanobis2(inst.points, inst.voxel)[prior.categories.index(cat)])
        self.debug["shape_distance2"] = round(d2, 1) if math.isfinite(d2) else None
        return not d2 > self.config.max_shape_distance2

    def _instance_xz(self, iid: int) -> np.ndarray:
        pts = self.smap.instance_map[iid].points
        return pts[:, [0, 2]]

    def approach_cells(self, iid: int, x: float, z: float) -> np.ndarray:
        """World (x, z) of traversable cells within [approach_min, approach_max] of the instance's points."""
        occ = self.smap.occupancy
        cfg = self.config
        pts = self._instance_xz(iid)
        r, c = occ.to_cell(pts[:, 0], pts[:, 1])
        ok = occ.inside(r, c)
        r, c = r[ok], c[ok]
        if len(r) == 0:
            return np.zeros((0, 2))
        k = int(math.ceil(max(cfg.approach_max, cfg.stop_max_distance) / occ.resolution)) + 2
        rs, re = max(0, r.min() - k), min(occ.shape[0], r.max() + k + 1)
        cs, ce = max(0, c.min() - k), min(occ.shape[1], c.max() + k + 1)
        mask = np.ones((re - rs, ce - cs), bool)
        mask[r - rs, c - cs] = False
        d, nearest = ndimage.distance_transform_edt(mask, return_indices=True)
        d = d * occ.resolution
        trav = self.navigator.traversable(occ, x, z)[rs:re, cs:ce]
        sel = (d >= cfg.approach_min) & (d <= cfg.approach_max) & trav
        if cfg.line_of_sight and iid not in self.sightless:
            near = d <= max(cfg.approach_max, cfg.stop_max_distance)
            sight = np.zeros_like(near)
            window = (rs, re, cs, ce)
            sight[near] = self._in_sight(occ, *np.nonzero(near), nearest[0][near], nearest[1][near], window)
            self._sight = (iid, rs, cs, sight)
            if (sel & sight).any():  # none at all: the map may be too coarse to tell; keep them all
                if (sel & ~sight).any():
                    self._sight_filtered = iid
                sel &= sight
            else:
                self._sight = None
        rr, cc = np.nonzero(sel)
        wx, wz = occ.to_world(rr + rs, cc + cs)
        cells = np.stack([wx, wz], 1)
        for sx, sz in self.unseen_stands.get(iid, ()):
            cells = cells[np.hypot(cells[:, 0] - sx, cells[:, 1] - sz) > cfg.unseen_stand_radius]
        return cells

    def _in_sight(self, occ, rr, cc, tr, tc, window) -> np.ndarray:
        """Per cell (rr, cc), whether the straight line to its nearest instance cell (tr, tc) crosses no
        occupied cell other than a mapped instance's (grown by two cells: points on a wall-mounted object
        lie against the wall). The camera looks over furniture, so only what no instance explains blocks:
        walls and unsegmented clutter. Indices are in the window's frame."""
        rs, re, cs, ce = window
        furniture = np.zeros((re - rs, ce - cs), bool)
        x0, z0 = occ.to_world(rs - 1, cs - 1)
        x1, z1 = occ.to_world(re, ce)
        for inst in self.smap.instance_map.instances.values():
            if inst.bbox_max[0] < x0 or inst.bbox_min[0] > x1 or inst.bbox_max[2] < z0 or inst.bbox_min[2] > z1:
                continue
            pts = inst.points
            r, c = occ.to_cell(pts[:, 0], pts[:, 2])
            r, c = r - rs, c - cs
            ok = (r >= 0) & (r < furniture.shape[0]) & (c >= 0) & (c < furniture.shape[1])
            furniture[r[ok], c[ok]] = True
        blocked = occ.occupied()[rs:re, cs:ce] & ~ndimage.binary_dilation(furniture, iterations=2)
        n = int(np.ceil(np.max(np.hypot(tr - rr, tc - cc)))) + 1 if len(rr) else 1
        t = np.linspace(0.0, 1.0, max(n, 2))[None, :]
        sr = np.rint(rr[:, None] + t * (tr - rr)[:, None]).astype(int)
        sc = np.rint(cc[:, None] + t * (tc - cc)[:, None]).astype(int)
        return ~blocked[sr, sc].any(axis=1)

    def _sight_ok(self, iid: int, x: float, z: float) -> bool:
        """Whether the last `approach_cells` found a clear line from (x, z) to the instance (True when it
        did not judge: filter off, another instance, outside its window, or no cell had a clear line)."""
        if self._sight is None or self._sight[0] != iid:
            return True
        _, rs, cs, sight = self._sight
        r, c = self.smap.occupancy.to_cell(x, z)
        r, c = int(r) - rs, int(c) - cs
        return not (0 <= r < sight.shape[0] and 0 <= c < sight.shape[1]) or bool(sight[r, c])

    def _at_unseen_stand(self, iid: int, x: float, z: float) -> bool:
        return any(math.hypot(x - sx, z - sz) <= self.config.unseen_stand_radius
                   for sx, sz in self.unseen_stands.get(iid, ()))

    def distance_to_instance(self, iid: int, x: float, z: float) -> float:
        pts = self._instance_xz(iid)
        return float(np.min(np.hypot(pts[:, 0] - x, pts[:, 1] - z))) if len(pts) else math.inf

    # ------------------------------------------------------------------ frontiers
    def open_frontiers(self) -> list:
        """Frontiers not given up; while less than `tight_frontier_area` m^2 is explored, the tight ones (less
        clearance, see OccupancyConfig) when no other is left."""
        occ = self.smap.occupancy
        for tight in (False, True):
            if tight and occ.explored_area() >= self.config.tight_frontier_area:
                break
            frontiers = [f for f in occ.frontiers(tight=tight)
                         if not any(np.hypot(*(f.target - b)) < 0.5 for b in self.bad_frontiers)]
            if frontiers and self.config.pocket_area > 0:
                # rooms first: pockets (behind furniture) only once no frontier opens onto more
                open_ = occ.frontier_gain(frontiers) >= self.config.pocket_area
                if open_.any():
                    frontiers = [f for f, o in zip(frontiers, open_) if o]
            if frontiers:
                return frontiers
        return []

    def choose_frontier(self, x: float, z: float):
        occ = self.smap.occupancy
        frontiers = self.open_frontiers()
        self.unreachable_frontiers = 0
        if not frontiers:
            self.debug["frontiers"] = f"none left, {len(self.bad_frontiers)} given up"
            self.topo.set_frontiers([])
            return None
        targets = np.array([[x, z]])
        for scale, collisions in self.navigator.fallbacks():
            field = self.navigator.distance_field(occ, targets, x, z, scale=scale, collisions=collisions)
            costs = np.array([field(*f.target) for f in frontiers])
            if np.isfinite(costs).any():
                break
        values = np.array([self.value_map.at_cells(f.cells) for f in frontiers])
        self.topo.set_frontiers(frontiers, list(values))
        reach = np.isfinite(costs)
        self.unreachable_frontiers = int((~reach).sum())
        self.debug["frontiers"] = f"{int(reach.sum())}/{len(frontiers)} reachable, {len(self.bad_frontiers)} given up"
        if not reach.any():
            return None
        cfg = self.config
        if cfg.semantic_exploration and np.isfinite(values[reach]).any():
            v = np.where(np.isfinite(values), values, np.nanmin(values[reach]) if np.isfinite(values[reach]).any() else 0)
            spread = max(float(np.nanstd(v[reach])), 0.02)
            score = cfg.value_weight * (v - np.nanmean(v[reach])) / spread - cfg.distance_weight * costs
        else:
            score = -costs
        if cfg.semantic_exploration and cfg.room_weight:
            score = score + cfg.room_weight * self._room_match(frontiers)
        score = np.where(reach, score, -np.inf)
        best = int(np.argmax(score))
        # Keep heading for the current frontier, by the `frontier_switch` rule.
        if self.frontier_xz is not None:
            cur = [i for i, f in enumerate(frontiers) if np.hypot(*(f.target - self.frontier_xz)) < 0.6 and reach[i]]
            if cur:
                c = cur[0]
                keep = {"margin": score[best] < score[c] + cfg.switch_margin,
                        "commit": True,
                        "nearer": score[best] <= score[c] or costs[best] >= costs[c]}[cfg.frontier_switch]
                if keep:
                    best = c
        self.debug["frontier_value"] = None if not np.isfinite(values[best]) else round(float(values[best]), 3)
        return frontiers[best]

    def _unwedge(self, x: float, z: float, radius: Optional[float]):
        """Forget the collision cells and bump poses within `radius` m of (x, z) (None: all), then choose afresh."""
        self.debug["unwedged_cells"] = self.smap.occupancy.clear_blocked(x, z, radius)
        self.navigator.forget_bumps(near=None if radius is None else (x, z), radius=radius or 0.0)
        return self._choose_frontier_afresh(x, z)

    def _choose_frontier_afresh(self, x: float, z: float):
        """Choose again with nothing given up and the navigator's per-goal overrides restored."""
        self.bad_frontiers = []
        self.navigator.new_goal()
        return self.choose_frontier(x, z)

    def _room_match(self, frontiers) -> np.ndarray:
        """Per frontier, how likely the goal's category is in the room the frontier lies in, 0..1 relative to
        its likeliest room (0.5 where the map cannot tell the room yet): room priors for category goals."""
        out = np.zeros(len(frontiers))
        goal_cat = self.goal_category
        cats = getattr(self.smap, "categories", [])
        if goal_cat is None or goal_cat not in cats:
            return out
        prior = self.smap.room_prior()[cats.index(goal_cat)]
        prior = prior / max(float(prior.max()), 1e-9)
        for i, f in enumerate(frontiers):
            p = self.smap.region_room_probs(float(f.target[0]), float(f.target[1]))
            out[i] = 0.5 if p is None else float(p @ prior)
        return out - 0.5

    def _cached_frontier(self):
        """The last chosen frontier while it still exists and is younger than `reselect_every` steps."""
        f, age = self._frontier_memo
        if f is None or age + 1 >= self.config.reselect_every:
            return None
        if not any(np.hypot(*(g.target - f.target)) < 0.3 for g in self.open_frontiers()):
            return None
        self._frontier_memo = (f, age + 1)
        return f

    def recovery_target(self, x: float, z: float):
        """Meta-Explore: the best observed-but-unvisited node near the agent (not back along the path)."""
        cands = self.topo.unvisited_candidates(x, z, exclude={f"object:{i}" for i in self.blacklist})
        if not cands:
            return None
        def score(c):
            _, v, d = c
            return (0.0 if not math.isfinite(v) else v) * 5.0 - 0.2 * d
        node, _, _ = max(cands, key=score)
        return node, np.array(self.topo.g.nodes[node]["xz"])

    # ------------------------------------------------------------------ step
    def _reset_progress(self, reroutes: int = 0) -> None:
        """A new target: progress is measured afresh; `reroutes`: how often its route may grow (see _stuck)."""
        self.progress = (math.inf, 0.0)
        self.reroutes_left = reroutes

    def _stuck(self, dist: float, action) -> bool:
        """No progress towards the target for `stuck_steps` forward steps. Turning in place makes no
        progress by nature (a 180-degree turn is 6 steps), so a turn counts a third of a step."""
        best, since = self.progress
        if dist < best - 0.05:
            self.progress = (dist, 0.0)
            return False
        if math.isfinite(dist) and dist > best + self.config.reroute_jump and self.reroutes_left > 0:
            # the route got much longer (newly seen obstacles, a bumped doorway): a new route, not a stall
            self.reroutes_left -= 1
            self.progress = (dist, 0.0)
            return False
        since += 1.0 if action in (None, DiscreteAction.MOVE_FORWARD) else 1.0 / 3.0
        self.progress = (best, since)
        return since >= self.config.stuck_steps - 1e-6

    def step(self, obs, x: float, z: float, yaw: float) -> DiscreteAction:
        cfg = self.config
        if self.instance is not None and self.instance not in self.smap.instance_map.instances:
            # The map merged or dropped the instance we were heading for: choose again.
            self.instance = None
            if self.mode in ("approach", "verify"):
                self.mode = "explore"
        if self.mode == "spin":
            if self.spin_left > 0:
                if not self.looked_from or math.hypot(x - self.looked_from[-1][0], z - self.looked_from[-1][1]) > 0.1:
                    self.looked_from.append((x, z))  # once per spin (odometry drifts while turning on a robot)
                self.spin_left -= 1
                return DiscreteAction.TURN_LEFT
            self.mode = "explore"
        elif self.mode == "explore" and self._time_to_look_around(x, z):
            self.looked_from.append((x, z))
            self.mode, self.spin_left = "spin", int(round(2 * math.pi / self.turn)) - 1
            return DiscreteAction.TURN_LEFT
        cand = None
        if self.mode in ("explore", "recover", "approach") and not self.last_resort_active:
            cand = self.best_candidate()
            if cand is not None and cand.instance_id != self.instance:
                self._begin_approach(cand.instance_id)
            elif cand is None and self.mode == "approach":
                self.mode, self.instance = "explore", None
        if self.mode == "approach":
            iid = self.instance
            self.target_desc = ("last resort: " if self.last_resort_active else "") + f"instance {iid}"
            if self.distance_to_instance(iid, x, z) <= cfg.stop_max_distance and self._in_approach_region(iid, x, z) \
                    and self._sight_ok(iid, x, z) and not self._at_unseen_stand(iid, x, z):
                self.mode, self.verify_turns = "verify", 0
            else:
                cells = self.approach_cells(iid, x, z)
                action = self.navigator.step(self.smap.occupancy, x, z, yaw, cells, ("instance", iid, len(cells) // 20))
                bumped = self.target_collisions >= cfg.max_target_collisions
                route = self.navigator.distance_to_target(x, z)
                if action is None or bumped or self._stuck(route, action) or self._idle(x, z) \
                        or self._detoured(x, z, route):
                    self.target_collisions = 0
                    self._trail.clear()
                    if self.distance_to_instance(iid, x, z) <= cfg.stop_max_distance and not self._at_unseen_stand(iid, x, z):
                        self.mode, self.verify_turns = "verify", 0
                    elif self._sight_filtered == iid:
                        # the cells with a clear line could not be reached: try once more with all of them
                        self.sightless.add(iid)
                        self._begin_approach(iid, retry=True)
                        return DiscreteAction.TURN_LEFT
                    else:
                        return self._give_up_instance(iid)
                else:
                    return action
        if self.mode == "verify":
            return self._verify(obs, x, z, yaw)
        # explore / recover
        target = None
        if self.mode == "recover":
            rec = self.recovery_target(x, z)
            if rec is not None:
                node, xz = rec
                self.topo.mark_visited(node)
                self.frontier_xz = xz
                self.mode = "explore"
        f = self._cached_frontier()
        if f is None:
            f = self.choose_frontier(x, z)
            if f is None and (self.bad_frontiers or self.unreachable_frontiers) and self.frontier_retries_left > 0:
                # Every frontier left was given up on, or the collision cells closed the way to them (bumps
                # in a tight doorway): try them again, with the navigator's collision overrides restored,
                # before declaring the house explored.
                self.frontier_retries_left -= 1
                f = self._choose_frontier_afresh(x, z)
            if f is None and self.unreachable_frontiers and self.unwedges_left > 0:
                self.unwedges_left -= 1
                f = self._unwedge(x, z, cfg.unwedge_radius)
            if f is None and self.unreachable_frontiers and self.unwedges_all_left > 0:
                # still walled in: the bumps that closed the way (a doorway's jamb) lie farther off
                self.unwedges_all_left -= 1
                f = self._unwedge(x, z, None)
            self._frontier_memo = (f, 0)
        if f is None:
            if self._begin_last_resort():
                return self.step(obs, x, z, yaw)
            self.mode = "done"
            self.target_desc = "nothing left to explore"
            return DiscreteAction.STOP
        self.target_desc = f"frontier ({f.target[0]:.1f}, {f.target[1]:.1f})"
        target = np.asarray(f.target, float).reshape(1, 2)
        key = ("frontier", round(float(f.target[0]), 1), round(float(f.target[1]), 1))
        if self.frontier_xz is None or np.hypot(*(np.asarray(f.target) - self._progress_target)) > 0.3:
            self._reset_progress()  # a new target: progress is measured afresh
            self._progress_target = np.asarray(f.target, float)
            self.target_collisions = 0
        self.frontier_xz = f.target
        action = self.navigator.step(self.smap.occupancy, x, z, yaw, target, key)
        bumped = self.target_collisions >= cfg.max_target_collisions
        if action is None or bumped or self._stuck(self.navigator.distance_to_target(x, z), action) \
                or self._idle(x, z):
            self.target_collisions = 0
            self._trail.clear()
            self.bad_frontiers.append(np.asarray(f.target, float))
            self.frontier_xz = None
            self._frontier_memo = (None, 0)
            self._reset_progress()
            return DiscreteAction.TURN_LEFT
        return action

    def _give_up_instance(self, iid: int) -> DiscreteAction:
        """Blacklist the instance being approached and recover (Meta-Explore) from here."""
        self.blacklist.add(iid)
        self.mode, self.instance = "recover", None
        self.last_resort_active = False
        return DiscreteAction.TURN_LEFT

    def _begin_approach(self, iid: int, retry: bool = False) -> None:
        """`retry`: the same instance again from where the agent stands (another stand point, all cells):
        its detour budget goes on; otherwise (chosen afresh, the last resort) it starts anew."""
        self.instance, self.mode = iid, "approach"
        if retry and iid in self._walk:
            self._walk[iid][2] = None  # no step from where the last try ended
        else:
            self._walk.pop(iid, None)
        self._sight = None
        self._sight_filtered = None  # set when the filter narrows this instance's approach cells
        # Exploring, a frontier whose route grows is better given up (the next one is re-ranked); an
        # instance the map says is the goal is worth the longer way round.
        self._reset_progress(self.config.max_reroutes)
        self.target_collisions = 0
        self.navigator.reset()

    def _detoured(self, x: float, z: float, route: float) -> bool:
        """Approaching this instance (its retries from another stand point included) has walked so far that
        walked + `route` left (the navigator's) exceeds `max_detour` x the route at the approach's start + `detour_slack` m: a
        route round unknown space to the far side of an object the agent stood beside, grown bit by bit."""
        if not self.config.max_detour > 0:
            return False
        walk = self._walk.get(self.instance)
        if walk is None:
            self._walk[self.instance] = [route if math.isfinite(route) else 0.0, 0.0, (x, z)]
            return False
        if walk[2] is not None:
            walk[1] += math.hypot(x - walk[2][0], z - walk[2][1])
        walk[2] = (x, z)
        return math.isfinite(route) and walk[1] + route > self.config.max_detour * walk[0] + self.config.detour_slack

    def _time_to_look_around(self, x: float, z: float) -> bool:
        d = self.config.look_around_every
        if not d > 0:
            return False
        return all(math.hypot(x - px, z - pz) > d for px, pz in self.looked_from)

    def _idle(self, x: float, z: float) -> bool:
        """True when the last `idle_steps` exploring or approaching steps all stayed within `idle_radius` m
        of here. The trail is not cleared when the target changes: flip-flopping targets are the case."""
        self._trail.append((x, z))
        if len(self._trail) < self._trail.maxlen:
            return False
        t = np.asarray(self._trail)
        return bool(np.max(np.hypot(t[:, 0] - x, t[:, 1] - z)) < self.config.idle_radius)

    def note_collision(self) -> None:
        """The body bumped into something on the way to the current target."""
        self.target_collisions += 1

    def _close_look_agrees(self, obs, iid: int) -> bool:
        """The goal category must also win in a close-up crop of the instance from this very frame: far
        views and over-merged instances are where false positives come from. Without a category (image
        goals) or when the instance is out of view the map's judgement stands."""
        goal_cat = self.goal_category
        if not self.config.close_look or goal_cat is None or self.goal.kind == "image":
            return True
        look = self.smap.look_at(obs, iid)
        if look is None:
            return True
        self.debug["close_look"] = (look["category"], round(look["p"], 3))
        p_goal = float(look["probs"][self.smap.categories.index(goal_cat)]) if goal_cat in self.smap.categories else 0.0
        return look["category"] == goal_cat or p_goal >= self.config.close_look_min_p

    def _in_view(self, obs, iid: int) -> bool:
        """The instance is in this frame: observed in it, or enough of its mapped points project into the
        image unhidden (`visible_points`; from close up its segment can fail to associate with the instance)."""
        imap = self.smap.instance_map
        if imap[iid].last_frame == imap.frame:
            return True
        n = self.config.visible_points
        return bool(n) and obs is not None and hasattr(self.smap, "visible_box") \
            and self.smap.visible_box(obs, iid, min_points=n) is not None

    def _in_approach_region(self, iid: int, x: float, z: float) -> bool:
        return self.distance_to_instance(iid, x, z) >= self.config.approach_min - 0.1

    def _verify(self, obs, x: float, z: float, yaw: float) -> DiscreteAction:
        """Face the instance, then STOP if it still matches - in the map and in a fresh close-up look
        at it in this frame (category goals); otherwise blacklist it and recover."""
        cfg = self.config
        iid = self.instance
        c = self.smap.instance_map[iid].centre
        want = math.atan2(-(c[0] - x), -(c[2] - z))
        err = (want - yaw + math.pi) % (2 * math.pi) - math.pi
        if abs(err) > self.turn / 2 and self.verify_turns < cfg.max_verify_turns:
            self.verify_turns += 1
            return DiscreteAction.TURN_LEFT if err > 0 else DiscreteAction.TURN_RIGHT
        imap = self.smap.instance_map
        if cfg.require_visible_at_stop and not self._in_view(obs, iid):
            # facing it, the instance is not in view: not from here (e.g. the far side of a wall)
            stands = self.unseen_stands.setdefault(iid, [])
            stands.append((x, z))
            self.debug["unseen_stands"] = len(stands)
            if len(stands) < cfg.max_unseen_stands:
                self._begin_approach(iid, retry=True)
                return DiscreteAction.TURN_LEFT
            return self._give_up_instance(iid)
        cands = {cd.instance_id: cd for cd in self.ranked()}
        cd = cands.get(iid)
        if self.last_resort_active:
            # nothing better is left in the house: the relaxed test, no close look
            if cd is not None and self._plausible(cd):
                self.mode = "stopped"
                return DiscreteAction.STOP
            self.instance, self.mode, self.last_resort_active = None, "explore", False
            return DiscreteAction.TURN_LEFT
        ok = cd is not None and self.accept(cd)
        score = math.exp(cd.parts["category"] / self.goal_encoder.config.w_category) if cd and "category" in cd.parts else 0.0
        self.debug["verify_score"] = round(float(score), 3)
        if self.goal.kind != "image":  # image goals: accept() already holds the calibrated cosine test
            ok = ok and score >= cfg.verify_threshold and self._shape_fits(iid)
        ok = ok and self._close_look_agrees(obs, iid)
        if ok:
            self.mode = "stopped"
            return DiscreteAction.STOP
        self.topo.mark_visited(f"object:{iid}")
        return self._give_up_instance(iid)
