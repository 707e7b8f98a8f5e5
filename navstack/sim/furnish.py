"""Furniture placement: real catalogue models put where they belong, without overlaps, reachable.

Each room type has a recipe (category, how many, where: against a wall, in a corner, free-standing,
or around a table/desk). Instances of one category in a house use different models, colour tints
and sizes so that an instance goal always has same-category distractors that look different.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from navstack.sim.layout import FloorPlan, Room, snap

# (category, min count, max count, placement)
RECIPES: Dict[str, List[Tuple[str, int, int, str]]] = {
    "bedroom": [("bed", 1, 1, "wall"), ("cabinet", 1, 2, "wall"), ("lamp", 0, 1, "corner"), ("plant", 0, 1, "corner"),
                ("desk", 0, 1, "wall"), ("chair", 0, 1, "near:desk"), ("tv_monitor", 0, 1, "wall")],
    "bathroom": [("toilet", 1, 1, "wall"), ("sink", 1, 1, "wall"), ("bathtub", 0, 1, "wall"), ("cabinet", 0, 1, "wall"),
                 ("plant", 0, 1, "corner")],
    "kitchen": [("refrigerator", 1, 1, "wall"), ("oven", 1, 1, "wall"), ("sink", 1, 1, "wall"), ("cabinet", 0, 1, "wall"),
                ("table", 0, 1, "center"), ("chair", 0, 2, "near:table"), ("plant", 0, 1, "corner")],
    "living_room": [("sofa", 1, 2, "wall"), ("tv_monitor", 1, 1, "wall"), ("table", 1, 1, "center"),
                    ("chair", 0, 2, "near:table"), ("plant", 1, 2, "corner"), ("lamp", 0, 1, "corner"),
                    ("bookshelf", 0, 1, "wall"), ("cabinet", 0, 1, "wall")],
    "office": [("desk", 1, 1, "wall"), ("chair", 1, 1, "near:desk"), ("bookshelf", 1, 2, "wall"), ("lamp", 0, 1, "corner"),
               ("plant", 0, 1, "corner"), ("tv_monitor", 0, 1, "wall"), ("cabinet", 0, 1, "wall")],
    "dining_room": [("table", 1, 1, "center"), ("chair", 2, 4, "near:table"), ("cabinet", 0, 1, "wall"),
                    ("plant", 0, 1, "corner"), ("lamp", 0, 1, "corner")],
    "hallway": [("plant", 0, 1, "corner"), ("cabinet", 0, 1, "wall"), ("lamp", 0, 1, "corner")],
}

# Named tints: the colour attribute of an instance is the name of its tint.
COLOURS: Dict[str, Tuple[float, float, float]] = {
    "red": (0.80, 0.15, 0.12), "green": (0.20, 0.62, 0.25), "blue": (0.18, 0.32, 0.80), "yellow": (0.92, 0.82, 0.20),
    "white": (0.95, 0.95, 0.93), "black": (0.12, 0.12, 0.13), "brown": (0.50, 0.32, 0.17), "grey": (0.55, 0.55, 0.57),
    "orange": (0.95, 0.52, 0.12), "purple": (0.52, 0.25, 0.70), "pink": (0.95, 0.55, 0.70), "teal": (0.12, 0.58, 0.58),
}
MATERIAL_WORDS = ("wooden", "metal", "leather", "glass", "fabric", "plastic", "wicker", "marble")
DOOR_CLEARANCE = 0.7  # metres kept free on both sides of a doorway
GAP = 0.05  # minimum gap between pieces of furniture


@dataclass
class PlacedObject:
    id: int
    category: str
    entry_id: str
    model_name: str
    room_id: int
    x: float  # footprint centre
    z: float
    elevation: float
    yaw: float  # radians about +Y; the model's front (+Z) is turned by this
    width: float  # fitted size after scaling (x, y, z in the model frame)
    height: float
    depth: float
    tint: Tuple[float, float, float]
    attributes: Dict[str, str] = field(default_factory=dict)

    @property
    def half_extents_xz(self) -> Tuple[float, float]:
        """Half size along world x and z (yaw is a multiple of 90 degrees)."""
        quarter = int(round(self.yaw / (math.pi / 2))) % 2
        return (self.depth / 2, self.width / 2) if quarter else (self.width / 2, self.depth / 2)

    @property
    def footprint(self) -> Tuple[float, float, float, float]:
        hx, hz = self.half_extents_xz
        return (self.x - hx, self.z - hz, self.x + hx, self.z + hz)

    @property
    def center(self) -> np.ndarray:
        return np.array([self.x, self.elevation + self.height / 2, self.z])


def _overlaps(a, b, gap: float = GAP) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _material_word(entry, rng: np.random.Generator) -> str:
    text = f"{entry.name} {getattr(entry, 'tags', '')}".lower()
    for word, keys in (("wooden", ("wood", "oak", "pine")), ("metal", ("metal", "steel", "chrome", "iron")),
                       ("leather", ("leather",)), ("glass", ("glass",)), ("fabric", ("fabric", "cloth")),
                       ("wicker", ("wicker", "rattan")), ("marble", ("marble",)), ("plastic", ("plastic",))):
        if any(k in text for k in keys):
            return word
    return str(rng.choice(MATERIAL_WORDS[:6]))


class Furnisher:
    def __init__(self, plan: FloorPlan, catalog_by_category: Dict[str, list], rng: np.random.Generator,
                 wall_thickness: float):
        self.plan = plan
        self.rng = rng
        self.inset = wall_thickness / 2 + 0.02
        self.objects: List[PlacedObject] = []
        # Per-category shuffled model queues: instances of one category take different models.
        self.queues = {c: list(rng.permutation(len(v))) for c, v in catalog_by_category.items()}
        self.catalog = catalog_by_category
        self.used_colours: Dict[str, List[str]] = {}
        self.keepout = self._door_keepouts()

    def _door_keepouts(self):
        boxes = []
        for d in self.plan.doors:
            half = d.width / 2 + 0.1
            cx, cz = d.center
            if d.axis == "x":  # wall along x: keep free in z on both sides
                boxes.append((cx - half, cz - DOOR_CLEARANCE, cx + half, cz + DOOR_CLEARANCE))
            else:
                boxes.append((cx - DOOR_CLEARANCE, cz - half, cx + DOOR_CLEARANCE, cz + half))
        return boxes

    def _next_entry(self, category: str):
        entries = self.catalog.get(category) or []
        if not entries:
            return None
        q = self.queues[category]
        if not q:
            q.extend(self.rng.permutation(len(entries)))
        return entries[q.pop(0)]

    def _pick_colour(self, category: str) -> str:
        used = self.used_colours.setdefault(category, [])
        names = [c for c in COLOURS if c not in used] or list(COLOURS)
        name = str(self.rng.choice(names))
        used.append(name)
        return name

    def _free(self, fp, room: Room) -> bool:
        if fp[0] < room.x0 + self.inset or fp[2] > room.x1 - self.inset:
            return False
        if fp[1] < room.z0 + self.inset or fp[3] > room.z1 - self.inset:
            return False
        if any(_overlaps(fp, k, 0.0) for k in self.keepout):
            return False
        return not any(_overlaps(fp, o.footprint) for o in self.objects)

    def _candidates(self, kind: str, room: Room, w: float, d: float, n: int):
        """Yield (x, z, yaw) candidate poses; the model's front (+Z local) faces into the room."""
        rng, e = self.rng, self.inset + 0.01
        for _ in range(n):
            if kind in ("wall", "corner"):
                side = int(rng.integers(4))  # 0: wall at z0 (front faces +z), 1: x1, 2: z1, 3: x0
                yaw = [0.0, -math.pi / 2, math.pi, math.pi / 2][side]
                hx, hz = (d / 2, w / 2) if side % 2 else (w / 2, d / 2)
                if kind == "corner":
                    t = rng.choice([0.0, 1.0])
                else:
                    t = rng.uniform(0, 1)
                if side in (0, 2):
                    x = room.x0 + e + hx + t * (room.x1 - room.x0 - 2 * (e + hx))
                    z = room.z0 + e + hz if side == 0 else room.z1 - e - hz
                else:
                    z = room.z0 + e + hz + t * (room.z1 - room.z0 - 2 * (e + hz))
                    x = room.x1 - e - hx if side == 1 else room.x0 + e + hx
                yield x, z, yaw
            else:  # free-standing, away from the walls so it can be walked around
                yaw = float(rng.integers(4)) * math.pi / 2
                cx, cz = room.center
                x = cx + rng.uniform(-0.2, 0.2) * (room.x1 - room.x0)
                z = cz + rng.uniform(-0.2, 0.2) * (room.z1 - room.z0)
                yield x, z, yaw

    def _near_candidates(self, anchor: PlacedObject, w: float, d: float, n: int):
        """Chairs around a table / in front of a desk, facing it."""
        hx, hz = anchor.half_extents_xz
        for _ in range(n):
            side = int(self.rng.integers(4))
            off = 0.12 + d / 2
            if side == 0:
                yield anchor.x + self.rng.uniform(-hx, hx) * 0.5, anchor.z - hz - off, 0.0
            elif side == 1:
                yield anchor.x + hx + off, anchor.z + self.rng.uniform(-hz, hz) * 0.5, -math.pi / 2
            elif side == 2:
                yield anchor.x + self.rng.uniform(-hx, hx) * 0.5, anchor.z + hz + off, math.pi
            else:
                yield anchor.x - hx - off, anchor.z + self.rng.uniform(-hz, hz) * 0.5, math.pi / 2

    def place(self, room: Room, category: str, kind: str, model_tries: int = 3) -> Optional[PlacedObject]:
        """Place one instance of `category` in `room`; tries a few models (a smaller one may fit)."""
        for _ in range(model_tries):
            entry = self._next_entry(category)
            if entry is None:
                return None
            scale = float(self.rng.uniform(0.85, 1.15))
            w, h, d = entry.width * scale, entry.height * scale, entry.depth * scale
            if kind.startswith("near:"):
                anchors = [o for o in self.objects if o.room_id == room.id and o.category == kind.split(":")[1]]
                if not anchors:
                    return None
                cands = self._near_candidates(anchors[0], w, d, 20)
            else:
                cands = self._candidates(kind, room, w, d, 40)
            for x, z, yaw in cands:
                x, z = snap(x), snap(z)
                obj = PlacedObject(len(self.objects) + 1, category, entry.id, entry.name, room.id, x, z,
                                   float(entry.elevation), yaw, w, h, d, (1.0, 1.0, 1.0))
                if self._free(obj.footprint, room):
                    colour = self._pick_colour(category)
                    obj.tint = COLOURS[colour]
                    obj.attributes = {"color": colour, "material": _material_word(entry, self.rng),
                                      "scale": f"{scale:.3f}"}
                    self.objects.append(obj)
                    return obj
        return None

    def furnish(self) -> List[PlacedObject]:
        for room in self.plan.rooms:
            for category, lo, hi, kind in RECIPES[room.type]:
                for _ in range(int(self.rng.integers(lo, hi + 1))):
                    self.place(room, category, kind)
        _assign_size_words(self.objects)
        return self.objects


def _assign_size_words(objects: List[PlacedObject]) -> None:
    """'small' / 'large' for the smallest / largest of a category in the house, 'medium' otherwise."""
    by_cat: Dict[str, List[PlacedObject]] = {}
    for o in objects:
        by_cat.setdefault(o.category, []).append(o)
    for objs in by_cat.values():
        vols = [o.width * o.height * o.depth for o in objs]
        order = np.argsort(vols)
        for rank, i in enumerate(order):
            word = "medium"
            if len(objs) > 1 and rank == 0:
                word = "small"
            elif len(objs) > 1 and rank == len(objs) - 1:
                word = "large"
            objs[i].attributes["size"] = word
