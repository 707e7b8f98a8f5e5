"""Procedural floor plans: rooms by recursive splitting, doorways on shared walls, wall segments.

Pure numpy + stdlib; everything is a function of the seed, so the same seed gives the same house on
every machine. Furniture is placed by `furnish.py`; meshes are built by `scene.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

ROOM_TYPES = ("living_room", "kitchen", "bedroom", "bathroom", "office", "dining_room", "hallway")
GRID = 0.05  # every coordinate of the plan is snapped to this, so walls of neighbouring rooms coincide


def snap(v: float) -> float:
    return round(round(v / GRID) * GRID, 4)


@dataclass
class Room:
    id: int
    type: str
    x0: float
    z0: float
    x1: float
    z1: float

    @property
    def name(self) -> str:
        return self.type.replace("_", " ")

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.z1 - self.z0)

    @property
    def center(self) -> Tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.z0 + self.z1) / 2)

    def contains(self, x: float, z: float, margin: float = 0.0) -> bool:
        return self.x0 + margin <= x <= self.x1 - margin and self.z0 + margin <= z <= self.z1 - margin


@dataclass
class Door:
    rooms: Tuple[int, int]
    axis: str  # "x": the wall runs along x (door opening spans x0..x1 at z = z0 = z1); "z": along z
    x0: float
    z0: float
    x1: float
    z1: float

    @property
    def center(self) -> Tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.z0 + self.z1) / 2)

    @property
    def width(self) -> float:
        return max(self.x1 - self.x0, self.z1 - self.z0)


@dataclass
class WallSegment:
    axis: str  # "x": runs along x at z = c; "z": runs along z at x = c
    c: float
    lo: float
    hi: float


@dataclass
class FloorPlan:
    seed: int
    rooms: List[Room]
    doors: List[Door]
    walls: List[WallSegment]
    wall_height: float = 2.6
    wall_thickness: float = 0.1
    extra: Dict = field(default_factory=dict)

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        return (
            min(r.x0 for r in self.rooms),
            min(r.z0 for r in self.rooms),
            max(r.x1 for r in self.rooms),
            max(r.z1 for r in self.rooms),
        )

    def room_at(self, x: float, z: float) -> Room | None:
        for r in self.rooms:
            if r.contains(x, z):
                return r
        return None


def _split_rooms(rng: np.random.Generator, n: int, min_dim: float) -> List[Tuple[float, float, float, float]]:
    area = n * rng.uniform(11.0, 16.0)
    aspect = rng.uniform(1.0, 1.6)
    for _ in range(8):  # an unlucky sequence of cuts can leave too little room: grow the house and retry
        rects = _split_once(rng, n, min_dim, area, aspect)
        if len(rects) == n:
            break
        area *= 1.15
    return rects


def _split_once(rng, n: int, min_dim: float, area: float, aspect: float):
    w, d = snap(np.sqrt(area * aspect)), snap(np.sqrt(area / aspect))
    rects = [(0.0, 0.0, w, d)]
    while len(rects) < n:
        # Split the largest rectangle that can still hold two rooms, across its longer side.
        order = sorted(range(len(rects)), key=lambda i: -(rects[i][2] - rects[i][0]) * (rects[i][3] - rects[i][1]))
        for i in order:
            x0, z0, x1, z1 = rects[i]
            along_x = (x1 - x0) >= (z1 - z0)
            lo, hi = (x0, x1) if along_x else (z0, z1)
            if hi - lo >= 2 * min_dim:
                cut = snap(rng.uniform(max(lo + min_dim, lo + 0.35 * (hi - lo)), min(hi - min_dim, lo + 0.65 * (hi - lo))))
                a, b = ((x0, z0, cut, z1), (cut, z0, x1, z1)) if along_x else ((x0, z0, x1, cut), (x0, cut, x1, z1))
                rects[i : i + 1] = [a, b]
                break
        else:
            break  # nothing left to split: fewer rooms than asked, still a valid house
    return rects


def _assign_types(rng: np.random.Generator, rects) -> List[str]:
    n = len(rects)
    areas = [(r[2] - r[0]) * (r[3] - r[1]) for r in rects]
    aspects = [max(r[2] - r[0], r[3] - r[1]) / min(r[2] - r[0], r[3] - r[1]) for r in rects]
    types = [""] * n
    by_area = sorted(range(n), key=lambda i: areas[i])
    types[by_area[-1]] = "living_room"
    # A long thin room becomes the hallway in larger houses.
    if n >= 6:
        thin = max((i for i in range(n) if not types[i]), key=lambda i: aspects[i])
        if aspects[thin] >= 1.8:
            types[thin] = "hallway"
    free = [i for i in by_area if not types[i]]
    types[free.pop(0)] = "bathroom"  # the smallest
    rng.shuffle(free)
    for t in ("kitchen", "bedroom"):
        if free:
            types[free.pop()] = t
    extra = ["bedroom", "office", "dining_room", "bathroom", "bedroom"]
    for i in free:
        types[i] = str(rng.choice(extra))
        if types[i] == "dining_room":  # one dining room per house is enough
            extra.remove("dining_room")
    return types


def _shared_wall(a: Room, b: Room, min_len: float):
    """(axis, c, lo, hi) of the wall shared by rooms a and b, or None."""
    eps = 1e-6
    for c_a, c_b, axis in ((a.x1, b.x0, "z"), (b.x1, a.x0, "z"), (a.z1, b.z0, "x"), (b.z1, a.z0, "x")):
        if abs(c_a - c_b) < eps:
            lo, hi = (max(a.z0, b.z0), min(a.z1, b.z1)) if axis == "z" else (max(a.x0, b.x0), min(a.x1, b.x1))
            if hi - lo >= min_len:
                return axis, c_a, lo, hi
    return None


def _make_doors(rng: np.random.Generator, rooms: List[Room], extra_door_p: float) -> List[Door]:
    n = len(rooms)
    shared = {}
    for i in range(n):
        for j in range(i + 1, n):
            s = _shared_wall(rooms[i], rooms[j], min_len=1.8)
            if s:
                shared[(i, j)] = s
    # Random spanning tree (every room reachable), then a few extra doors for loops.
    edges = list(shared)
    rng.shuffle(edges)
    parent = list(range(n))

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    chosen = []
    for e in edges:
        ra, rb = find(e[0]), find(e[1])
        if ra != rb:
            parent[ra] = rb
            chosen.append(e)
        elif rng.random() < extra_door_p:
            chosen.append(e)
    doors = []
    for i, j in sorted(chosen):
        axis, c, lo, hi = shared[(i, j)]
        width = snap(rng.uniform(0.9, 1.1))
        mid = snap(rng.uniform(lo + 0.3 + width / 2, hi - 0.3 - width / 2))
        a, b = snap(mid - width / 2), snap(mid + width / 2)
        if axis == "z":
            doors.append(Door((rooms[i].id, rooms[j].id), "z", c, a, c, b))
        else:
            doors.append(Door((rooms[i].id, rooms[j].id), "x", a, c, b, c))
    return doors


def _walls(rooms: List[Room], doors: List[Door]) -> List[WallSegment]:
    """Union of all room edges per wall line, minus the door openings."""
    lines: Dict[Tuple[str, float], List[Tuple[float, float]]] = {}
    for r in rooms:
        lines.setdefault(("x", r.z0), []).append((r.x0, r.x1))
        lines.setdefault(("x", r.z1), []).append((r.x0, r.x1))
        lines.setdefault(("z", r.x0), []).append((r.z0, r.z1))
        lines.setdefault(("z", r.x1), []).append((r.z0, r.z1))
    walls = []
    for (axis, c), spans in sorted(lines.items()):
        spans.sort()
        merged = [list(spans[0])]
        for lo, hi in spans[1:]:
            if lo <= merged[-1][1] + 1e-6:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        holes = sorted(
            (d.x0, d.x1) if axis == "x" else (d.z0, d.z1)
            for d in doors
            if d.axis == axis and abs((d.z0 if axis == "x" else d.x0) - c) < 1e-6
        )
        for lo, hi in merged:
            cur = lo
            for h0, h1 in holes:
                if h1 <= cur or h0 >= hi:
                    continue
                if h0 > cur:
                    walls.append(WallSegment(axis, c, cur, h0))
                cur = max(cur, h1)
            if cur < hi:
                walls.append(WallSegment(axis, c, cur, hi))
    return walls


def generate_floor_plan(
    seed: int, num_rooms: int | None = None, min_rooms: int = 4, max_rooms: int = 10, extra_door_p: float = 0.3
) -> FloorPlan:
    """A connected floor plan of `num_rooms` rooms (random in [min_rooms, max_rooms] by default)."""
    if num_rooms is not None and not 2 <= num_rooms <= 16:
        raise ValueError(f"num_rooms must be between 2 and 16, got {num_rooms}")
    rng = np.random.default_rng([seed, 101])
    n = int(num_rooms if num_rooms is not None else rng.integers(min_rooms, max_rooms + 1))
    rects = _split_rooms(rng, n, min_dim=2.6)
    types = _assign_types(rng, rects)
    rooms = [Room(i, t, *map(snap, r)) for i, (t, r) in enumerate(zip(types, rects))]
    doors = _make_doors(rng, rooms, extra_door_p)
    return FloorPlan(seed=seed, rooms=rooms, doors=doors, walls=_walls(rooms, doors))
