"""Language descriptions that single one object instance out among its same-category distractors.

A description uses the fewest attributes (colour, size, material, room, a nearby object) that no other
instance of the category in the house shares, then adds the room and a nearby object for context, in
one of several phrasings (GOAT-Bench's `lang_desc` style).
"""

from __future__ import annotations

import itertools
import math
from typing import Dict, List, Optional

import numpy as np

from navstack.sim.furnish import PlacedObject
from navstack.sim.scene import House

NOUNS = {"tv_monitor": "tv", "bookshelf": "bookshelf", "refrigerator": "fridge"}


def noun(category: str) -> str:
    return NOUNS.get(category, category.replace("_", " "))


def nearest_other(house: House, o: PlacedObject, max_distance: float = 2.5) -> Optional[PlacedObject]:
    """Closest object of another category in the same room, if within `max_distance`."""
    best, best_d = None, max_distance
    for p in house.objects:
        if p.id == o.id or p.category == o.category or p.room_id != o.room_id:
            continue
        d = math.hypot(p.x - o.x, p.z - o.z)
        if d < best_d:
            best, best_d = p, d
    return best


def facts(house: House, o: PlacedObject) -> Dict[str, str]:
    near = nearest_other(house, o)
    return {
        "color": o.attributes.get("color", ""),
        "size": o.attributes.get("size", ""),
        "material": o.attributes.get("material", ""),
        "room": house.room(o.room_id).name,
        "near": noun(near.category) if near else "",
    }


def distinguishing(house: House, o: PlacedObject) -> List[str]:
    """Smallest attribute set (by preference order) whose values no distractor shares."""
    mine = facts(house, o)
    others = [facts(house, p) for p in house.objects if p.category == o.category and p.id != o.id]
    keys = [k for k in ("color", "room", "size", "near", "material") if mine[k] and mine[k] != "medium"]
    for n in range(1, len(keys) + 1):
        for combo in itertools.combinations(keys, n):
            if all(any(f[k] != mine[k] for k in combo) for f in others):
                return list(combo)
    return keys


def describe(house: House, o: PlacedObject, rng: np.random.Generator) -> str:
    f = facts(house, o)
    keys = set(distinguishing(house, o))
    adjectives = [f[k] for k in ("size", "color", "material") if k in keys or (k == "color" and rng.random() < 0.5)]
    adjectives = [a for a in adjectives if a and a != "medium"]
    thing = " ".join(adjectives + [noun(o.category)])
    room = f"in the {f['room']}"
    near = f"next to the {f['near']}" if f["near"] else ""
    # Room and neighbour are added for context even when not needed to disambiguate.
    templates = [
        "the {thing} {room}{near_c}",
        "find the {thing} {room}{near_c}",
        "go to the {thing} {room}{near_c}",
        "the {thing}{near_s} {room}",
    ]
    t = templates[int(rng.integers(len(templates)))]
    return " ".join(t.format(thing=thing, room=room, near_c=(" " + near) if near else "",
                             near_s=(" " + near) if near else "").split())
