"""Episode generation for generated houses, in Habitat's schemas (raw dicts validated by `episodes`).

Sampling follows Habitat's generators: a random navigable start and heading, the geodesic distance to
the closest goal view point within [min, max] metres, near-straight episodes (geodesic/euclidean < 1.05)
mostly rejected, short ones down-weighted so the median is several metres, and (ObjectNav) starts that
already see a goal mostly rejected. `info` records geodesic_distance, euclidean_distance,
closest_goal_object_id and goal_visible_from_start so `navstack episodes inspect` can report the
distributions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from navstack.sim.scene import House
from navstack.tasks.describe import describe
from navstack.tasks.views import VisibilityOracle, goal_camera
from navstack.types import Intrinsics, quat_from_yaw

TASKS = ("objectnav", "instance_imagenav", "textnav", "goat")
SCHEMA_OF_TASK = {"objectnav": "ObjectNav-v1", "instance_imagenav": "InstanceImageNav-v1", "textnav": "Goat-v1",
                  "goat": "Goat-v1"}
# Habitat's success radii: 0.1 m to view points for ObjectNav / IIN; GOAT-Bench uses 0.25 m.
SUCCESS_DISTANCE = {"objectnav": 0.1, "instance_imagenav": 0.1, "textnav": 0.25, "goat": 0.25}


def scene_id_for(seed: int) -> str:
    return f"embedded/house_{seed}"


def seed_from_scene_id(scene_id: str) -> int:
    import re

    m = re.search(r"house_(\d+)$", scene_id)
    if not m:
        raise ValueError(f"scene_id {scene_id!r} is not an embedded house (expected '.../house_<seed>')")
    return int(m.group(1))


@dataclass
class SamplingConfig:
    min_geodesic: float = 1.0
    max_geodesic: float = 30.0
    short_distance: float = 5.0  # starts closer than this are kept with probability `short_keep`
    short_keep: float = 0.35
    straight_ratio: float = 1.05  # geodesic/euclidean below this is kept with probability `straight_keep`
    straight_keep: float = 0.15
    visible_keep: float = 0.15  # ObjectNav: a start that already sees a goal is kept with this probability
    max_tries: int = 400
    goat_subtasks: Sequence[int] = (3, 5)
    image_goals_per_object: int = 2


class EpisodeGenerator:
    def __init__(self, house: House, renderer=None, sensor_height: float = 0.88, config: SamplingConfig | None = None):
        self.house = house
        self.renderer = renderer if renderer is not None else house.renderer()
        self.oracle = VisibilityOracle(house, self.renderer, sensor_height)
        self.sensor_height = sensor_height
        self.config = config or SamplingConfig()
        self.scene_id = scene_id_for(house.seed)
        self.grid = house.navgrid
        self._vps: Dict[int, List[dict]] = {}
        self._view_intr = Intrinsics.from_hfov(64, 48, 79.0)

    # ------------------------------------------------------------ goals
    def view_points(self, object_id: int) -> List[dict]:
        if object_id not in self._vps:
            self._vps[object_id] = self.oracle.view_points(object_id)
        return self._vps[object_id]

    def goal_dict(self, object_id: int) -> dict:
        o = self.house.object(object_id)
        room = self.house.room(o.room_id)
        return {
            "position": [float(o.x), float(o.elevation + o.height / 2), float(o.z)],
            "radius": None,
            "object_id": o.id,
            "object_name": f"{o.category}_{o.id}",
            "object_name_id": None,
            "object_category": o.category,
            "room_id": str(room.id),
            "room_name": room.type,
            "view_points": self.view_points(object_id),
        }

    def reachable_objects(self, category: Optional[str] = None) -> List[int]:
        return [o.id for o in self.house.objects if (category is None or o.category == category) and self.view_points(o.id)]

    # ------------------------------------------------------------ starts
    def _targets(self, object_ids) -> np.ndarray:
        return np.array([[vp["agent_state"]["position"][0], vp["agent_state"]["position"][2]]
                         for oid in object_ids for vp in self.view_points(oid)])

    def sample_start(self, rng: np.random.Generator, object_ids: Sequence[int], check_visible: bool):
        """(position, rotation, info) of an accepted start for goals `object_ids`, or None."""
        cfg = self.config
        targets = self._targets(object_ids)
        field = self.grid.distance_field(targets)
        owner = np.concatenate([[oid] * len(self.view_points(oid)) for oid in object_ids])
        for _ in range(cfg.max_tries):
            x, z = self.grid.sample_navigable(rng)[0]
            geo = float(self.grid.field_value(field, x, z))
            if not (cfg.min_geodesic <= geo <= cfg.max_geodesic):
                continue
            eu_all = np.hypot(targets[:, 0] - x, targets[:, 1] - z)
            eu = float(eu_all.min())
            if geo / max(eu, 1e-6) < cfg.straight_ratio and rng.random() > cfg.straight_keep:
                continue
            if geo < cfg.short_distance and rng.random() > cfg.short_keep:
                continue
            yaw = float(rng.uniform(-math.pi, math.pi))
            visible = False
            if check_visible:
                visible = any(oid in self.oracle.objects_in_view([x, 0, z], yaw, self.sensor_height, self._view_intr, 2)
                              for oid in object_ids)
                if visible and rng.random() > cfg.visible_keep:
                    continue
            # The closest goal by geodesic: the owner of the view point nearest along the field.
            closest = int(owner[int(np.argmin(eu_all + 1e3 * (eu_all > geo + 1e-6)))])
            info = {"geodesic_distance": round(geo, 5), "euclidean_distance": round(eu, 5),
                    "closest_goal_object_id": closest, "goal_visible_from_start": bool(visible)}
            return [round(float(x), 5), 0.0, round(float(z), 5)], [round(float(v), 6) for v in quat_from_yaw(yaw)], info
        return None

    def _episode(self, idx: int, start) -> dict:
        pos, rot, info = start
        return {
            "episode_id": str(idx), "scene_id": self.scene_id, "scene_dataset_config": "embedded",
            "additional_obj_config_paths": [], "start_position": pos, "start_rotation": rot, "info": info,
            "goals": [], "start_room": None, "shortest_paths": None,
        }

    # ------------------------------------------------------------ task files (raw Habitat dicts)
    def objectnav(self, n: int, rng: np.random.Generator, categories: Optional[Sequence[str]] = None) -> dict:
        cats = [c for c in (categories or self.house.categories) if self.reachable_objects(c)]
        if not cats:
            raise ValueError(f"house {self.house.seed} has no reachable object of categories {categories}")
        goals_by_category = {}
        episodes = []
        for tries in range(n * 20):
            if len(episodes) >= n:
                break
            cat = cats[int(rng.integers(len(cats)))]
            ids = self.reachable_objects(cat)
            start = self.sample_start(rng, ids, check_visible=True)
            if start is None:
                continue
            key = f"{self.scene_id.rsplit('/', 1)[-1]}_{cat}"
            goals_by_category.setdefault(key, [self.goal_dict(i) for i in ids])
            ep = self._episode(len(episodes), start)
            ep["object_category"] = cat
            episodes.append(ep)
        from navstack.sim.catalog import CATEGORIES

        cat_ids = {c: i for i, c in enumerate(CATEGORIES)}  # the same ids in every house's file
        return {"goals_by_category": goals_by_category, "episodes": episodes,
                "category_to_task_category_id": cat_ids, "category_to_scene_annotation_category_id": dict(cat_ids)}

    def _image_goals(self, object_id: int, rng: np.random.Generator) -> List[dict]:
        cams = []
        for _ in range(self.config.image_goals_per_object):
            cam = goal_camera(self.oracle, object_id, rng)
            if cam is not None:
                cams.append(cam)
        return cams

    def instance_imagenav(self, n: int, rng: np.random.Generator) -> dict:
        goals: Dict[str, dict] = {}
        episodes = []
        candidates = self.reachable_objects()
        base = self.scene_id.rsplit("/", 1)[-1]
        for tries in range(n * 20):
            if len(episodes) >= n:
                break
            oid = candidates[int(rng.integers(len(candidates)))]
            key = f"{base}_{oid}"
            if key not in goals:
                cams = self._image_goals(oid, rng)
                if not cams:
                    candidates.remove(oid)
                    if not candidates:
                        break
                    continue
                g = self.goal_dict(oid)
                for k in ("radius", "object_name_id", "room_id", "room_name"):
                    g.pop(k)  # absent in Habitat's InstanceImageNav v3 goals
                g["object_surface_area"] = float(self._surface_area(oid))
                g["image_goals"] = cams
                goals[key] = g
            start = self.sample_start(rng, [oid], check_visible=False)
            if start is None:
                continue
            ep = self._episode(len(episodes), start)
            for k in ("start_room", "shortest_paths"):
                ep.pop(k)
            ep["object_category"] = self.house.object(oid).category
            ep["goal_object_id"] = str(oid)
            ep["goal_image_id"] = int(rng.integers(len(goals[key]["image_goals"])))
            episodes.append(ep)
        return {"goals": goals, "episodes": episodes}

    def _surface_area(self, oid: int) -> float:
        o = self.house.object(oid)
        w, h, d = o.width, o.height, o.depth
        return 2 * (w * h + w * d + h * d)

    def _goat_goal(self, oid: int, rng: np.random.Generator, with_images: bool) -> dict:
        g = self.goal_dict(oid)
        g["lang_desc"] = describe(self.house, self.house.object(oid), rng)
        if with_images:
            g["image_goals"] = self._image_goals(oid, rng)
        return g

    def goat(self, n: int, rng: np.random.Generator, single_description: bool = False) -> dict:
        """Goat-v1 episodes; `single_description` makes textnav (one description subtask per episode)."""
        base = self.scene_id.rsplit("/", 1)[-1]
        goal_lists: Dict[str, List[dict]] = {}
        by_id: Dict[int, dict] = {}
        for cat in self.house.categories:
            ids = self.reachable_objects(cat)
            if ids:
                goal_lists[f"{base}_{cat}"] = [self._goat_goal(i, rng, not single_description) for i in ids]
                for g in goal_lists[f"{base}_{cat}"]:
                    by_id[g["object_id"]] = g
        if not by_id:
            raise ValueError(f"house {self.house.seed} has no reachable objects")
        episodes = []
        lo, hi = (1, 1) if single_description else self.config.goat_subtasks
        for tries in range(n * 20):
            if len(episodes) >= n:
                break
            k = int(rng.integers(lo, hi + 1))
            oids = [int(v) for v in rng.choice(sorted(by_id), size=min(k, len(by_id)), replace=False)]
            tasks = []
            for oid in oids:
                g = by_id[oid]
                kinds = ["description"] if single_description else ["object", "description"] + (["image"] if g.get("image_goals") else [])
                kind = kinds[int(rng.integers(len(kinds)))]
                task = [g["object_category"], kind, oid]
                if kind == "image":
                    task.append(int(rng.integers(len(g["image_goals"]))))
                tasks.append(task)
            first = tasks[0]
            first_ids = self.reachable_objects(first[0]) if first[1] == "object" else [first[2]]
            start = self.sample_start(rng, first_ids, check_visible=False)
            if start is None:
                continue
            ep = self._episode(len(episodes), start)
            ep["object_category"] = first[0]
            ep["tasks"] = tasks
            episodes.append(ep)
        return {"goals": goal_lists, "episodes": episodes}

    def generate(self, task: str, n: int, rng: np.random.Generator, **kw) -> dict:
        if task == "objectnav":
            return self.objectnav(n, rng, **kw)
        if task == "instance_imagenav":
            return self.instance_imagenav(n, rng)
        if task == "textnav":
            return self.goat(n, rng, single_description=True)
        if task == "goat":
            return self.goat(n, rng)
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
