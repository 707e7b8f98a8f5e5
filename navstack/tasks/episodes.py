"""Habitat episode datasets: read, validate and write ObjectNav-v1, InstanceImageNav-v1 and Goat-v1.

The files are Habitat's JSON (optionally gzip) schemas, field for field. Every record type is a
dataclass whose `extra` dict keeps the fields this module does not model, and whose (hidden)
`_keys` remembers which keys the source had and in which order, so that

    dataset_to_dict(load_dataset(path)) == json.load(path)      (same keys, order, ints vs floats)

for Habitat's own files (tested on the habitat-challenge `val_mini` samples). Records built in code
(no `_keys`) are written the way habitat-lab's `DatasetFloatJSONEncoder` writes its attrs classes:
all of the class's fields, `None` as `null`; optional schema extensions (image goals, `lang_desc`,
...) only when set. Numbers are never converted: what is read is written back (`0` stays `0`,
`-0.0` stays `-0.0`); numpy arrays/scalars given by code are written as plain lists/numbers.
Python's `json` writes floats with `repr`, which round-trips every double exactly.

Only numpy and the standard library are imported (`navstack episodes inspect` must start fast).

Layout (habitat-lab `PointNavDatasetV1`): a split file `<split>/<split>.json.gz`, usually with an
empty `episodes` list, and per-scene files `<split>/content/<scene>.json.gz` holding the episodes.
`load_dataset(split_file, include_content=True)` merges the content files the way habitat does with
`content_scenes=["*"]` (split episodes first, then every content file in sorted name order).

Schemas, as read from habitat-lab (`habitat/datasets/object_nav/object_nav_dataset.py`,
`habitat/tasks/nav/object_nav_task.py`, `habitat/datasets/image_nav/instance_image_nav_dataset.py`,
`habitat/tasks/nav/instance_image_nav_task.py`, `habitat/tasks/nav/nav.py`) and checked against the
real sample files:

* ObjectNav-v1: top level `goals_by_category` {key: [ObjectGoal]}, `episodes`,
  `category_to_task_category_id`, `category_to_scene_annotation_category_id` (habitat also reads
  the old name `category_to_mp3d_category_id`; kept in `extra`). Episode goals are resolved by
  `ObjectGoalNavEpisode.goals_key = f"{os.path.basename(scene_id)}_{object_category}"`
  (e.g. "TEEsavR23oF.basis.glb_chair"); episodes' own `goals` are normally `[]`. Old files without
  `goals_by_category` carry goals inline (habitat's `dedup_goals`); those are resolved from the
  episode itself. NOTE: habitat's ObjectNav and GOAT loaders overwrite `episode_id` with the episode's
  index in its file; this module keeps the stored id (lossless).
* InstanceImageNav-v1: top level `goals` {key: InstanceImageGoal}, `episodes`. Key =
  `InstanceImageGoalNavEpisode.goal_key`: basename(scene_id) with a trailing ".glb" then ".basis"
  removed, "_", `goal_object_id` (e.g. "TEEsavR23oF_10"). `goal_image_id` indexes the goal's
  `image_goals` (InstanceImageParameters: position, rotation, hfov, image_dimensions,
  frame_coverage, object_coverage). There is no stored `goal_key` field in habitat's files (it is a
  property); `Episode.goal_key` computes it. The real v3 files omit `radius`, `object_name_id`,
  `room_id`, `room_name` on IIN goals and `start_room`, `shortest_paths` on IIN episodes; absent
  keys stay absent on write.
* Goat-v1 (GOAT-Bench). Confirmed from the GOAT-Bench sources (Ram81/goat-bench:
  `goat/dataset/goat_dataset.py` `GoatDatasetV1`, `goat/task/goat_task.py` `GoatEpisode`,
  `goat/task/sensors.py`, `goat/measurements/nav.py`, `config/tasks/goat_stretch_hm3d.yaml`) and
  its issue tracker (issue #18: "every file has 2 keys `goals` and `episodes`"):
    - dataset type "Goat-v1", split file + `content/<scene>.json.gz` like the others;
    - top level `goals`: dict whose values are LISTS of goal dicts (one list per category); the
      loader finds a category's list by `x[0]["object_category"] == category` and asserts exactly
      one such list per file;
    - `GoatEpisode(NavigationEpisode)` adds `object_category` and `tasks`; each task is
      `[category, "object"|"image"|"description", object_id(, image_index)]`; "object" subtasks
      take the whole category list, "image"/"description" take the goals with
      `goal["object_id"] == task[2]`; description text is that goal's `lang_desc`; for image
      subtasks `task[-1]` indexes the instance's image goals (`image_goals`, habitat's
      InstanceImageParameters);
    - the loader discards each stored episode's `goals` and rebuilds them per subtask;
    - view points of language goals may carry an extra `radius` (OVONObjectViewLocation) and goals
      may carry `children_object_categories` (both preserved here);
    - success: `GoatSuccess` with `success_distance: 0.25` to view points (see metrics.py).
  NOT confirmed (no real GOAT-Bench file was available here): the exact `goals` key strings (this
  module assumes the ObjectNav form f"{basename(scene_id)}_{category}", which third-party loaders
  of the released files rely on by splitting keys at "glb_", and falls back to GOAT-Bench's own
  category scan when the key is absent); the type of object ids (str or int: compared with `==`,
  exactly as GOAT-Bench does, so a str/int mismatch is reported as a missing goal); whether
  non-image tasks ever have a 4th element (accepted, ignored); what stored episode `goals` hold
  (preserved as goal dicts or per-subtask lists of goal dicts). habitat-lab's own
  `habitat/datasets/goat/goat_dataset.py` describes an older, unreleased layout (tasks as dicts
  with `task_type`, goals nested by task type); it is not supported.

Validation on load (and before every save): required fields present with the right types and
shapes (positions 3 finite numbers, rotations 4 finite numbers, image dimensions 2 positive ints,
...), goal keys referenced by episodes exist, indices (goal_image_id, image task index) in range,
each episode's resolved goals have at least one view point (success is measured to view points).
Every problem raises `EpisodeFileError` naming the file and the field path, e.g.
"val.json.gz: episodes[3].start_rotation: expected 4 numbers, got 3".
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple, Optional, Sequence, Union

import numpy as np

__all__ = [
    "SCHEMAS",
    "OBJECTNAV",
    "INSTANCE_IMAGENAV",
    "GOAT",
    "GOAT_TASK_TYPES",
    "EpisodeFileError",
    "ViewPoint",
    "ImageGoalParams",
    "ObjectGoal",
    "InstanceImageGoal",
    "GoatSubtask",
    "Episode",
    "Dataset",
    "detect_schema",
    "read_json",
    "load_dataset",
    "save_dataset",
    "dataset_from_dict",
    "dataset_to_dict",
    "goals_for_episode",
    "objectnav_goals_key",
    "instance_goal_key",
    "view_point_positions",
    "content_files",
]

SCHEMAS = ("ObjectNav-v1", "InstanceImageNav-v1", "Goat-v1")
OBJECTNAV, INSTANCE_IMAGENAV, GOAT = SCHEMAS
GOAT_TASK_TYPES = ("object", "image", "description")


# ----------------------------------------------------------------------------- errors
class EpisodeFileError(ValueError):
    """A malformed episode file (or dataset); names the file and the field path."""

    def __init__(self, path: Any, field: str, message: str):
        self.path = str(path)
        self.field = field or ""
        self.message = message
        text = f"{self.path}: {self.field}: {message}" if self.field else f"{self.path}: {message}"
        super().__init__(text)

    def __reduce__(self):  # picklable across process pools
        return (self.__class__, (self.path, self.field, self.message))


def _tname(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        s = v if len(v) <= 40 else v[:37] + "..."
        return f"the string {s!r}"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_vec(v: Any, n: int, src: str, where: str) -> None:
    if not isinstance(v, list):
        raise EpisodeFileError(src, where, f"expected a list of {n} numbers, got {_tname(v)}")
    if len(v) != n:
        raise EpisodeFileError(src, where, f"expected {n} numbers, got {len(v)}")
    for i, x in enumerate(v):
        if not _is_num(x):
            raise EpisodeFileError(src, f"{where}[{i}]", f"expected a number, got {_tname(x)}")
        if not math.isfinite(x):
            raise EpisodeFileError(src, f"{where}[{i}]", f"expected a finite number, got {x!r}")


def _check_rotation(v: Any, src: str, where: str) -> None:
    _check_vec(v, 4, src, where)
    if sum(float(x) * float(x) for x in v) < 1e-12:
        raise EpisodeFileError(src, where, "quaternion [x, y, z, w] has zero length")


def _check_num(v: Any, src: str, where: str, *, optional: bool = False, positive: bool = False,
               nonneg: bool = False) -> None:
    if v is None and optional:
        return
    if not _is_num(v):
        raise EpisodeFileError(src, where, f"expected a number, got {_tname(v)}")
    if not math.isfinite(v):
        raise EpisodeFileError(src, where, f"expected a finite number, got {v!r}")
    if positive and not v > 0:
        raise EpisodeFileError(src, where, f"expected a positive number, got {v!r}")
    if nonneg and v < 0:
        raise EpisodeFileError(src, where, f"expected a non-negative number, got {v!r}")


def _check_str(v: Any, src: str, where: str, *, optional: bool = False) -> None:
    if v is None and optional:
        return
    if not isinstance(v, str):
        raise EpisodeFileError(src, where, f"expected a string, got {_tname(v)}")


def _check_id(v: Any, src: str, where: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise EpisodeFileError(src, where, f"expected a string or integer id, got {_tname(v)}")


def _check_dict(v: Any, src: str, where: str) -> None:
    if not isinstance(v, dict):
        raise EpisodeFileError(src, where, f"expected an object, got {_tname(v)}")


def _check_list(v: Any, src: str, where: str) -> None:
    if not isinstance(v, list):
        raise EpisodeFileError(src, where, f"expected a list, got {_tname(v)}")


def _key_repr(k: str) -> str:
    return "[" + json.dumps(k) + "]"


# ----------------------------------------------------------------------------- plain JSON values
def _plain(v: Any) -> Any:
    """A JSON-ready copy of `v` (records -> dicts, numpy -> lists/numbers, tuples -> lists)."""
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    to_dict = getattr(v, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"cannot write a {type(v).__name__} to an episode file")


def _emit(obj: Any, fields: Sequence[str], always: frozenset, getter=None) -> dict:
    """Serialise a record: source keys in source order (known fields from attributes, unknown ones
    from `extra`), then known fields that were set since, then new extras. Records built in code
    (no `_keys`) write `fields` in order, skipping `None` except for the `always` ones."""
    keys = obj._keys
    extra = obj.extra
    get = getter or (lambda k: getattr(obj, k))
    out: dict = {}
    if keys is None:
        order: Iterable[str] = list(fields) + [k for k in extra if k not in fields]
    else:
        order = list(keys) + [k for k in fields if k not in keys] + [k for k in extra if k not in keys]
    for k in order:
        if k in out:
            continue
        if k in fields:
            v = get(k)
            if (keys is not None and k in keys) or v is not None or (keys is None and k in always):
                out[k] = _plain(v)
        elif k in extra:
            out[k] = _plain(extra[k])
    return out


def _split(raw: dict, fields: Sequence[str]) -> tuple[dict, dict]:
    known = {k: raw[k] for k in fields if k in raw}
    extra = {k: v for k, v in raw.items() if k not in known}
    return known, extra


# ----------------------------------------------------------------------------- records
@dataclass
class ViewPoint:
    """habitat `ObjectViewLocation`: {"agent_state": {"position", "rotation"}, "iou"} — an agent pose
    from which the goal is visible; success is measured to these positions."""

    position: Any
    rotation: Any = None
    iou: Optional[float] = None
    agent_state_extra: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    _keys: Optional[tuple] = field(default=None, repr=False, compare=False)
    _agent_state_keys: Optional[tuple] = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        # agent_state first
        st_keys = self._agent_state_keys
        st: dict = {}
        st_fields = ("position", "rotation")
        if st_keys is None:
            order = list(st_fields) + [k for k in self.agent_state_extra if k not in st_fields]
        else:
            order = list(st_keys) + [k for k in st_fields if k not in st_keys] + [
                k for k in self.agent_state_extra if k not in st_keys]
        for k in order:
            if k in st:
                continue
            if k in st_fields:
                v = getattr(self, k)
                if st_keys is None or k in st_keys or v is not None:
                    st[k] = _plain(v)
            elif k in self.agent_state_extra:
                st[k] = _plain(self.agent_state_extra[k])

        def get(k):
            return st if k == "agent_state" else getattr(self, k)

        return _emit(self, ("agent_state", "iou"), frozenset(("agent_state", "iou")), get)


@dataclass
class ImageGoalParams:
    """habitat `InstanceImageParameters`: the camera that renders one goal image."""

    position: Any
    rotation: Any
    hfov: Union[int, float]
    image_dimensions: Any
    frame_coverage: Optional[float] = None
    object_coverage: Optional[float] = None
    image_id: Any = None  # not in habitat's class; written only when set
    extra: dict = field(default_factory=dict)
    _keys: Optional[tuple] = field(default=None, repr=False, compare=False)

    FIELDS = ("position", "rotation", "hfov", "image_dimensions", "frame_coverage",
              "object_coverage", "image_id")
    ALWAYS = frozenset(FIELDS[:6])

    def to_dict(self) -> dict:
        return _emit(self, self.FIELDS, self.ALWAYS)


@dataclass
class ObjectGoal:
    """habitat `ObjectGoal` (ObjectNav), also `InstanceImageGoal` (IIN: + image_goals,
    object_surface_area) and GOAT-Bench goals (+ lang_desc, children_object_categories)."""

    position: Any
    object_id: Union[str, int]
    radius: Optional[float] = None
    object_name: Optional[str] = None
    object_name_id: Optional[int] = None
    object_category: Optional[str] = None
    room_id: Optional[str] = None
    room_name: Optional[str] = None
    view_points: Optional[list] = None  # list[ViewPoint]
    image_goals: Optional[list] = None  # list[ImageGoalParams]
    object_surface_area: Optional[float] = None
    lang_desc: Optional[str] = None
    children_object_categories: Optional[list] = None
    extra: dict = field(default_factory=dict)
    _keys: Optional[tuple] = field(default=None, repr=False, compare=False)

    FIELDS = ("position", "radius", "object_id", "object_name", "object_name_id",
              "object_category", "room_id", "room_name", "view_points", "image_goals",
              "object_surface_area", "lang_desc", "children_object_categories")
    ALWAYS = frozenset(FIELDS[:9])

    def to_dict(self) -> dict:
        return _emit(self, self.FIELDS, self.ALWAYS)

    def view_point_positions(self) -> np.ndarray:
        """(N, 3) float64 array of the view point positions."""
        return view_point_positions([self])


InstanceImageGoal = ObjectGoal  # same record; the IIN fields are optional on ObjectGoal


class GoatSubtask(NamedTuple):
    """One GOAT-Bench subtask, decoded from `[category, type, object_id(, image_index)]`."""

    category: str
    task_type: str  # "object" | "image" | "description"
    object_id: Any
    image_index: Optional[int]


def _scene_file(scene_id: str) -> str:
    return os.path.basename(scene_id)


def objectnav_goals_key(scene_id: str, object_category: str) -> str:
    """habitat `ObjectGoalNavEpisode.goals_key`: f"{basename(scene_id)}_{object_category}"."""
    return f"{_scene_file(scene_id)}_{object_category}"


def instance_goal_key(scene_id: str, goal_object_id: Any) -> str:
    """habitat `InstanceImageGoalNavEpisode.goal_key`: basename(scene_id) without a trailing ".glb"
    then ".basis", "_", goal_object_id (e.g. "TEEsavR23oF_10")."""
    sid = _scene_file(scene_id)
    for suffix in (".glb", ".basis"):
        if sid.endswith(suffix):
            sid = sid[: -len(suffix)]
    return f"{sid}_{goal_object_id}"


@dataclass
class Episode:
    """habitat `NavigationEpisode` + the schema's fields:
    ObjectNav `object_category`; IIN `goal_object_id`, `goal_image_id`, `object_category`;
    GOAT `object_category`, `tasks`. `info` is a free dict (geodesic_distance,
    euclidean_distance, closest_goal_object_id, goal_visible_from_start, ...)."""

    episode_id: Union[str, int]
    scene_id: str
    start_position: Any
    start_rotation: Any
    scene_dataset_config: Optional[str] = "default"
    additional_obj_config_paths: Optional[list] = field(default_factory=list)
    info: Optional[dict] = None
    goals: Optional[list] = field(default_factory=list)  # ObjectGoal, or per-subtask lists (GOAT)
    start_room: Optional[str] = None
    shortest_paths: Optional[list] = None
    object_category: Optional[str] = None
    goal_object_id: Any = None
    goal_image_id: Optional[int] = None
    tasks: Optional[list] = None
    extra: dict = field(default_factory=dict)
    _keys: Optional[tuple] = field(default=None, repr=False, compare=False)

    FIELDS = ("episode_id", "scene_id", "scene_dataset_config", "additional_obj_config_paths",
              "start_position", "start_rotation", "info", "goals", "start_room",
              "shortest_paths", "object_category", "goal_object_id", "goal_image_id", "tasks")
    ALWAYS = frozenset(FIELDS[:10])

    def to_dict(self) -> dict:
        return _emit(self, self.FIELDS, self.ALWAYS)

    @property
    def goals_key(self) -> str:
        """ObjectNav key into `goals_by_category` (habitat `ObjectGoalNavEpisode.goals_key`)."""
        return objectnav_goals_key(self.scene_id, self.object_category)

    @property
    def goal_key(self) -> str:
        """IIN key into `goals` (habitat `InstanceImageGoalNavEpisode.goal_key`)."""
        return instance_goal_key(self.scene_id, self.goal_object_id)

    @property
    def subtasks(self) -> list:
        """GOAT subtasks as `GoatSubtask` tuples ([] for other schemas)."""
        out = []
        for t in self.tasks or []:
            t = list(t)
            image_index = t[3] if len(t) > 3 and t[1] == "image" else None
            out.append(GoatSubtask(t[0], t[1], t[2], image_index))
        return out


@dataclass
class Dataset:
    """One episode file (or a split file merged with its content files)."""

    schema: str
    episodes: list = field(default_factory=list)
    goals_by_category: Optional[dict] = None  # ObjectNav: {key: [ObjectGoal]}
    goals: Optional[dict] = None  # IIN: {key: ObjectGoal}; GOAT: {key: [ObjectGoal]}
    category_to_task_category_id: Optional[dict] = None
    category_to_scene_annotation_category_id: Optional[dict] = None
    extra: dict = field(default_factory=dict)
    source: str = field(default="<dict>", compare=False)
    content_files: list = field(default_factory=list, compare=False)
    _keys: Optional[tuple] = field(default=None, repr=False, compare=False)

    _FIELDS = {
        OBJECTNAV: ("goals_by_category", "episodes", "category_to_task_category_id",
                    "category_to_scene_annotation_category_id"),
        INSTANCE_IMAGENAV: ("goals", "episodes"),
        GOAT: ("goals", "episodes"),
    }

    def to_dict(self) -> dict:
        return dataset_to_dict(self)

    @property
    def scenes(self) -> list:
        return sorted({e.scene_id for e in self.episodes})

    def goals_for(self, episode: Episode) -> list:
        return goals_for_episode(self, episode)


# ----------------------------------------------------------------------------- parsing
def _parse_view_point(raw: Any, src: str, where: str) -> ViewPoint:
    _check_dict(raw, src, where)
    if "agent_state" not in raw:
        raise EpisodeFileError(src, f"{where}.agent_state", "missing")
    st = raw["agent_state"]
    _check_dict(st, src, f"{where}.agent_state")
    if "position" not in st:
        raise EpisodeFileError(src, f"{where}.agent_state.position", "missing")
    _check_vec(st["position"], 3, src, f"{where}.agent_state.position")
    rot = st.get("rotation")
    if rot is not None:
        _check_rotation(rot, src, f"{where}.agent_state.rotation")
    _check_num(raw.get("iou"), src, f"{where}.iou", optional=True)
    st_known, st_extra = _split(st, ("position", "rotation"))
    known, extra = _split(raw, ("agent_state", "iou"))
    return ViewPoint(position=st_known["position"], rotation=st_known.get("rotation"),
                     iou=known.get("iou"), agent_state_extra=st_extra, extra=extra,
                     _keys=tuple(raw), _agent_state_keys=tuple(st))


def _parse_image_goal(raw: Any, src: str, where: str) -> ImageGoalParams:
    _check_dict(raw, src, where)
    for k in ("position", "rotation", "hfov", "image_dimensions"):
        if k not in raw:
            raise EpisodeFileError(src, f"{where}.{k}", "missing (required by habitat's InstanceImageParameters)")
    _check_vec(raw["position"], 3, src, f"{where}.position")
    _check_rotation(raw["rotation"], src, f"{where}.rotation")
    _check_num(raw["hfov"], src, f"{where}.hfov", positive=True)
    dims = raw["image_dimensions"]
    if not (isinstance(dims, list) and len(dims) == 2):
        raise EpisodeFileError(src, f"{where}.image_dimensions", f"expected [height, width], got {_tname(dims)}")
    for i, d in enumerate(dims):
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise EpisodeFileError(src, f"{where}.image_dimensions[{i}]", f"expected a positive integer, got {_tname(d)}")
    _check_num(raw.get("frame_coverage"), src, f"{where}.frame_coverage", optional=True)
    _check_num(raw.get("object_coverage"), src, f"{where}.object_coverage", optional=True)
    if raw.get("image_id") is not None:
        _check_id(raw["image_id"], src, f"{where}.image_id")
    known, extra = _split(raw, ImageGoalParams.FIELDS)
    return ImageGoalParams(**known, extra=extra, _keys=tuple(raw))


def _parse_goal(raw: Any, src: str, where: str, *, need_view_points: bool, need_image_goals: bool) -> ObjectGoal:
    _check_dict(raw, src, where)
    if "position" not in raw:
        raise EpisodeFileError(src, f"{where}.position", "missing")
    _check_vec(raw["position"], 3, src, f"{where}.position")
    if raw.get("object_id") is None:
        raise EpisodeFileError(src, f"{where}.object_id", "missing (habitat's ObjectGoal requires it)")
    _check_id(raw["object_id"], src, f"{where}.object_id")
    _check_num(raw.get("radius"), src, f"{where}.radius", optional=True, nonneg=True)
    for k in ("object_name", "object_category", "room_name", "lang_desc"):
        _check_str(raw.get(k), src, f"{where}.{k}", optional=True)
    if raw.get("object_name_id") is not None:
        _check_id(raw["object_name_id"], src, f"{where}.object_name_id")
    if raw.get("room_id") is not None:
        _check_id(raw["room_id"], src, f"{where}.room_id")
    _check_num(raw.get("object_surface_area"), src, f"{where}.object_surface_area", optional=True)

    vps = raw.get("view_points")
    view_points = None
    if vps is None:
        if need_view_points:
            raise EpisodeFileError(src, f"{where}.view_points", "missing (success is measured to view points)")
    else:
        _check_list(vps, src, f"{where}.view_points")
        view_points = [_parse_view_point(v, src, f"{where}.view_points[{i}]") for i, v in enumerate(vps)]

    igs = raw.get("image_goals")
    image_goals = None
    if igs is None:
        if need_image_goals:
            raise EpisodeFileError(src, f"{where}.image_goals", "missing (required by habitat's InstanceImageGoal)")
    else:
        _check_list(igs, src, f"{where}.image_goals")
        image_goals = [_parse_image_goal(g, src, f"{where}.image_goals[{i}]") for i, g in enumerate(igs)]

    if raw.get("children_object_categories") is not None:
        _check_list(raw["children_object_categories"], src, f"{where}.children_object_categories")

    known, extra = _split(raw, ObjectGoal.FIELDS)
    known["view_points"] = view_points
    known["image_goals"] = image_goals
    return ObjectGoal(**known, extra=extra, _keys=tuple(raw))


def _parse_goal_list(raw: Any, src: str, where: str, **kw) -> list:
    _check_list(raw, src, where)
    return [_parse_goal(g, src, f"{where}[{i}]", **kw) for i, g in enumerate(raw)]


def _parse_episode(raw: Any, schema: str, src: str, where: str) -> Episode:
    _check_dict(raw, src, where)
    for k in ("episode_id", "scene_id", "start_position", "start_rotation"):
        if k not in raw:
            raise EpisodeFileError(src, f"{where}.{k}", "missing")
    _check_id(raw["episode_id"], src, f"{where}.episode_id")
    _check_str(raw["scene_id"], src, f"{where}.scene_id")
    if not raw["scene_id"]:
        raise EpisodeFileError(src, f"{where}.scene_id", "empty")
    _check_vec(raw["start_position"], 3, src, f"{where}.start_position")
    _check_rotation(raw["start_rotation"], src, f"{where}.start_rotation")
    _check_str(raw.get("scene_dataset_config"), src, f"{where}.scene_dataset_config", optional=True)
    paths = raw.get("additional_obj_config_paths")
    if paths is not None:
        _check_list(paths, src, f"{where}.additional_obj_config_paths")
        for i, p in enumerate(paths):
            _check_str(p, src, f"{where}.additional_obj_config_paths[{i}]")
    info = raw.get("info")
    if info is not None:
        _check_dict(info, src, f"{where}.info")
        for k in ("geodesic_distance", "euclidean_distance"):
            if k in info:
                _check_num(info[k], src, f"{where}.info.{k}", nonneg=True)
        if "goal_visible_from_start" in info and not isinstance(info["goal_visible_from_start"], bool):
            raise EpisodeFileError(src, f"{where}.info.goal_visible_from_start",
                                   f"expected true or false, got {_tname(info['goal_visible_from_start'])}")
    sp = raw.get("shortest_paths")
    if sp is not None:
        _check_list(sp, src, f"{where}.shortest_paths")
    _check_str(raw.get("object_category"), src, f"{where}.object_category", optional=True)

    # stored goals: habitat requires the key for ObjectNav / IIN (not-None validator)
    goals_raw = raw.get("goals")
    goals: Optional[list] = None
    if goals_raw is None:
        if schema != GOAT:
            raise EpisodeFileError(src, f"{where}.goals", "missing (habitat requires a list, usually [])")
    else:
        _check_list(goals_raw, src, f"{where}.goals")
        goals = []
        for i, g in enumerate(goals_raw):
            w = f"{where}.goals[{i}]"
            if schema == GOAT and isinstance(g, list):
                goals.append(_parse_goal_list(g, src, w, need_view_points=False, need_image_goals=False))
            else:
                goals.append(_parse_goal(g, src, w, need_view_points=schema != GOAT,
                                         need_image_goals=schema == INSTANCE_IMAGENAV))

    if schema == OBJECTNAV:
        if raw.get("object_category") is None and not goals:
            raise EpisodeFileError(src, f"{where}.object_category", "missing")
    elif schema == INSTANCE_IMAGENAV:
        if raw.get("goal_object_id") is None:
            raise EpisodeFileError(src, f"{where}.goal_object_id", "missing")
        _check_id(raw["goal_object_id"], src, f"{where}.goal_object_id")
        gi = raw.get("goal_image_id")
        if gi is None:
            raise EpisodeFileError(src, f"{where}.goal_image_id", "missing")
        if isinstance(gi, bool) or not isinstance(gi, int) or gi < 0:
            raise EpisodeFileError(src, f"{where}.goal_image_id", f"expected a non-negative integer, got {_tname(gi)}")
    elif schema == GOAT:
        tasks = raw.get("tasks")
        if tasks is None:
            raise EpisodeFileError(src, f"{where}.tasks", "missing")
        _check_list(tasks, src, f"{where}.tasks")
        if not tasks:
            raise EpisodeFileError(src, f"{where}.tasks", "empty: a GOAT episode needs at least one subtask")
        for i, t in enumerate(tasks):
            w = f"{where}.tasks[{i}]"
            if not isinstance(t, list) or len(t) not in (3, 4):
                raise EpisodeFileError(src, w, f"expected [category, type, object_id(, image_index)], got {_tname(t)}")
            _check_str(t[0], src, f"{w}[0]")
            if t[1] not in GOAT_TASK_TYPES:
                raise EpisodeFileError(src, f"{w}[1]", f"expected one of {list(GOAT_TASK_TYPES)}, got {_tname(t[1])}")
            _check_id(t[2], src, f"{w}[2]")
            if t[1] == "image":
                if len(t) != 4:
                    raise EpisodeFileError(src, w, "an image subtask needs a 4th element, the image index")
                if isinstance(t[3], bool) or not isinstance(t[3], int) or t[3] < 0:
                    raise EpisodeFileError(src, f"{w}[3]", f"expected a non-negative integer image index, got {_tname(t[3])}")

    known, extra = _split(raw, Episode.FIELDS)
    known["goals"] = goals
    return Episode(**known, extra=extra, _keys=tuple(raw))


def _check_category_map(v: Any, src: str, where: str) -> None:
    _check_dict(v, src, where)
    for k, x in v.items():
        if isinstance(x, bool) or not isinstance(x, int):
            raise EpisodeFileError(src, f"{where}{_key_repr(k)}", f"expected an integer id, got {_tname(x)}")


def _detect(raw: Any, src: str) -> str:
    if not isinstance(raw, dict):
        raise EpisodeFileError(src, "", f"expected a JSON object at the top level, got {_tname(raw)}")
    eps = raw.get("episodes")
    eps = eps if isinstance(eps, list) else []
    dict_eps = [e for e in eps if isinstance(e, dict)]
    if any("tasks" in e for e in dict_eps):
        return GOAT
    if any(k in raw for k in ("goals_by_category", "category_to_task_category_id",
                              "category_to_scene_annotation_category_id", "category_to_mp3d_category_id")):
        return OBJECTNAV
    if any("goal_object_id" in e or "goal_image_id" in e for e in dict_eps):
        return INSTANCE_IMAGENAV
    goals = raw.get("goals")
    if isinstance(goals, dict) and goals:
        first = next(iter(goals.values()))
        if isinstance(first, dict):
            return INSTANCE_IMAGENAV
        if isinstance(first, list):
            return GOAT
    if dict_eps and all("object_category" in e and e.get("goals") for e in dict_eps):
        return OBJECTNAV  # old ObjectNav layout with goals inline
    if "episodes" not in raw:
        raise EpisodeFileError(src, "episodes", "missing: not a Habitat episode file")
    raise EpisodeFileError(src, "schema", f"cannot tell which of {list(SCHEMAS)} this file is")


def detect_schema(raw: dict) -> str:
    """Which of SCHEMAS a parsed episode file follows (raises EpisodeFileError if it can't tell;
    an IIN split file with only `{"episodes": []}` can't be told apart by itself)."""
    return _detect(raw, "<dict>")


def _check_schema(schema: Any, src: str) -> str:
    if schema not in SCHEMAS:
        raise EpisodeFileError(src, "schema", f"unknown schema {schema!r}; expected one of {list(SCHEMAS)}")
    return schema


def _parse_dataset(raw: Any, schema: Optional[str], src: str, *, require_category_maps: bool = True) -> Dataset:
    if schema is None:
        schema = _detect(raw, src)
    _check_schema(schema, src)
    if not isinstance(raw, dict):
        raise EpisodeFileError(src, "", f"expected a JSON object at the top level, got {_tname(raw)}")
    if "episodes" not in raw:
        raise EpisodeFileError(src, "episodes", "missing")
    _check_list(raw["episodes"], src, "episodes")

    ds = Dataset(schema=schema, source=src, _keys=tuple(raw))
    fields = Dataset._FIELDS[schema]
    ds.extra = {k: v for k, v in raw.items() if k not in fields}

    if schema == OBJECTNAV:
        for k in ("category_to_task_category_id", "category_to_scene_annotation_category_id"):
            if k in raw:
                _check_category_map(raw[k], src, k)
        ds.category_to_task_category_id = raw.get("category_to_task_category_id")
        ds.category_to_scene_annotation_category_id = raw.get("category_to_scene_annotation_category_id")
        scene_map = ds.category_to_scene_annotation_category_id
        if scene_map is None and isinstance(raw.get("category_to_mp3d_category_id"), dict):
            scene_map = raw["category_to_mp3d_category_id"]  # habitat's old name
        # habitat reads the maps from the split file or any content file; one must have them
        if ds.category_to_task_category_id is None and require_category_maps:
            raise EpisodeFileError(src, "category_to_task_category_id",
                                   "missing (habitat's ObjectNavDatasetV1 requires it)")
        if scene_map is None and require_category_maps:
            raise EpisodeFileError(src, "category_to_scene_annotation_category_id",
                                   "missing (habitat's ObjectNavDatasetV1 requires it)")
        if (scene_map is not None and ds.category_to_task_category_id is not None
                and set(scene_map) != set(ds.category_to_task_category_id)):
            raise EpisodeFileError(src, "category_to_scene_annotation_category_id",
                                   "must have the same categories as category_to_task_category_id")
        if "goals_by_category" in raw:
            gbc = raw["goals_by_category"]
            _check_dict(gbc, src, "goals_by_category")
            ds.goals_by_category = {
                k: _parse_goal_list(v, src, f"goals_by_category{_key_repr(k)}", need_view_points=True,
                                    need_image_goals=False)
                for k, v in gbc.items()
            }
    elif schema == INSTANCE_IMAGENAV:
        if "goals" in raw:
            g = raw["goals"]
            _check_dict(g, src, "goals")
            ds.goals = {k: _parse_goal(v, src, f"goals{_key_repr(k)}", need_view_points=True,
                                       need_image_goals=True) for k, v in g.items()}
    else:  # GOAT
        if "goals" in raw:
            g = raw["goals"]
            _check_dict(g, src, "goals")
            ds.goals = {}
            for k, v in g.items():
                w = f"goals{_key_repr(k)}"
                _check_list(v, src, w)
                if not v:
                    raise EpisodeFileError(src, w, "empty goal list (GOAT-Bench reads the category from its first goal)")
                ds.goals[k] = _parse_goal_list(v, src, w, need_view_points=False, need_image_goals=False)
                if ds.goals[k][0].object_category is None:
                    raise EpisodeFileError(src, f"{w}[0].object_category", "missing (GOAT-Bench matches subtasks by it)")

    ds.episodes = [_parse_episode(e, schema, src, f"episodes[{i}]") for i, e in enumerate(raw["episodes"])]
    _validate_references(ds, src)
    return ds


def _validate_references(ds: Dataset, src: str) -> None:
    """Every episode's goals resolve, indices are in range, and there are view points."""
    checked: set = set()
    for i, ep in enumerate(ds.episodes):
        where = f"episodes[{i}]"
        if ds.schema == OBJECTNAV and ep.object_category is not None and ds.category_to_task_category_id is not None:
            if ep.object_category not in ds.category_to_task_category_id:
                raise EpisodeFileError(src, f"{where}.object_category",
                                       f"{ep.object_category!r} is not in category_to_task_category_id")
        resolved = _resolve(ds, ep, src, where)
        if ds.schema == GOAT:
            for j, sub in enumerate(resolved):
                if not any(g.view_points for g in sub):
                    raise EpisodeFileError(src, f"{where}.tasks[{j}]", "the subtask's goals have no view points")
        else:
            key = (ep.goals_key if ds.schema == OBJECTNAV else ep.goal_key)
            if key in checked:
                continue
            if not any(g.view_points for g in resolved):
                raise EpisodeFileError(src, where, f"goals {key!r} have no view points")
            if ds.schema == OBJECTNAV:
                checked.add(key)


def _goat_category_list(ds: Dataset, ep: Episode, category: str, src: str, where: str) -> list:
    goals = ds.goals or {}
    key = objectnav_goals_key(ep.scene_id, category)
    if key in goals:
        return goals[key]
    # GOAT-Bench's own lookup: the goal list whose first goal has this category (exactly one)
    same = [v for v in goals.values() if v and v[0].object_category == category]
    if len(same) == 1:
        return same[0]
    if not same:
        raise EpisodeFileError(src, where, f"no goals for category {category!r} (looked for key {key!r})")
    raise EpisodeFileError(src, where, f"{len(same)} goal lists have category {category!r} and none has key {key!r}")


def _resolve(ds: Dataset, ep: Episode, src: str, where: str) -> list:
    if ds.schema == OBJECTNAV:
        key = ep.goals_key
        if ds.goals_by_category is not None and key in ds.goals_by_category:
            return ds.goals_by_category[key]
        if ep.goals:
            return ep.goals
        raise EpisodeFileError(src, f"{where}.object_category",
                               f"no goals: goals_by_category has no key {key!r}")
    if ds.schema == INSTANCE_IMAGENAV:
        key = ep.goal_key
        if ds.goals is not None and key in ds.goals:
            goal = ds.goals[key]
        elif ep.goals:
            goal = ep.goals[0]
        else:
            raise EpisodeFileError(src, f"{where}.goal_object_id", f"no goals: goals has no key {key!r}")
        n = len(goal.image_goals or [])
        if not (isinstance(ep.goal_image_id, int) and 0 <= ep.goal_image_id < n):
            raise EpisodeFileError(src, f"{where}.goal_image_id",
                                   f"{ep.goal_image_id!r} is out of range: goal {key!r} has {n} image goals")
        return [goal]
    # GOAT
    out = []
    for j, t in enumerate(ep.tasks or []):
        w = f"{where}.tasks[{j}]"
        if ds.goals is None and ep.goals and j < len(ep.goals) and isinstance(ep.goals[j], list):
            out.append(ep.goals[j])  # goals stored per subtask in the episode itself
            continue
        category, ttype, obj_id = t[0], t[1], t[2]
        cat_goals = _goat_category_list(ds, ep, category, src, w)
        if ttype == "object":
            out.append(cat_goals)
            continue
        inst = [g for g in cat_goals if g.object_id == obj_id]
        if not inst:
            raise EpisodeFileError(src, f"{w}[2]", f"no {category!r} goal has object_id {obj_id!r}")
        if ttype == "image":
            n = min(len(g.image_goals or []) for g in inst)
            if not 0 <= t[3] < n:
                raise EpisodeFileError(src, f"{w}[3]", f"image index {t[3]} is out of range: the goal has {n} image goals")
        else:  # description
            if not any(isinstance(g.lang_desc, str) for g in inst):
                raise EpisodeFileError(src, w, f"description subtask but goal {obj_id!r} has no lang_desc")
        out.append(inst)
    return out


def goals_for_episode(dataset: Dataset, episode: Episode) -> list:
    """The goals habitat would attach to `episode.goals` on load.

    ObjectNav: `goals_by_category[f"{basename(scene_id)}_{object_category}"]` (or the episode's
    inline goals); IIN: `[goals[goal_key]]`; GOAT: a list per subtask, each a list of ObjectGoal
    (the whole category for "object", the matching instance for "image"/"description").
    Raises EpisodeFileError when they don't resolve.
    """
    return _resolve(dataset, episode, dataset.source, f"episode {episode.episode_id!r}")


def view_point_positions(goals: Iterable) -> np.ndarray:
    """(N, 3) float64 array of all view point positions of `goals` (ObjectGoals, or per-subtask
    lists of them) — habitat's DistanceToGoal targets with distance_to=VIEW_POINTS."""
    pts = []
    for g in goals:
        if isinstance(g, list):
            pts.extend(view_point_positions(g).tolist())
            continue
        for vp in g.view_points or []:
            pts.append([float(x) for x in vp.position])
    return np.asarray(pts, dtype=np.float64).reshape(-1, 3)


# ----------------------------------------------------------------------------- dict <-> dataset
def dataset_from_dict(raw: dict, schema: Optional[str] = None, source: str = "<dict>") -> Dataset:
    """Parse and validate a dataset from an already-decoded JSON object (not modified)."""
    return _parse_dataset(copy.deepcopy(raw), schema, source)


def dataset_to_dict(ds: Dataset) -> dict:
    """The JSON object habitat would read (a fresh copy; no references into `ds`)."""
    _check_schema(ds.schema, ds.source)
    fields = Dataset._FIELDS[ds.schema]
    values = {"episodes": ds.episodes}
    if ds.schema == OBJECTNAV:
        values["goals_by_category"] = ds.goals_by_category
        values["category_to_task_category_id"] = ds.category_to_task_category_id
        values["category_to_scene_annotation_category_id"] = ds.category_to_scene_annotation_category_id
    else:
        values["goals"] = ds.goals
    keys = ds._keys
    out: dict = {}
    if keys is None:
        order = list(fields) + [k for k in ds.extra if k not in fields]
    else:
        order = list(keys) + [k for k in fields if k not in keys] + [k for k in ds.extra if k not in keys]
    for k in order:
        if k in out:
            continue
        if k in fields:
            v = values[k]
            if k == "episodes" or v is not None or (keys is not None and k in keys):
                out[k] = _plain(v)
        elif k in ds.extra:
            out[k] = _plain(ds.extra[k])
    return out


# ----------------------------------------------------------------------------- files
def read_json(path: Any) -> Any:
    """Decode a .json or .json.gz file (gzip recognised by its magic bytes); every failure is an
    EpisodeFileError naming the file."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError as e:
        raise EpisodeFileError(p, "", f"cannot read: {e.strerror or e}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise EpisodeFileError(p, "", f"corrupt or truncated gzip data ({e})") from None
    elif p.endswith(".gz"):
        raise EpisodeFileError(p, "", "not a gzip file (the name ends in .gz but the data has no gzip header)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EpisodeFileError(p, "", f"not UTF-8 text (byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise EpisodeFileError(p, "", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise EpisodeFileError(p, "", "not valid JSON: nested too deeply") from None


def _content_dir(path: str, raw: Any) -> str:
    data_path = os.path.dirname(os.path.abspath(path))
    pattern = raw.get("content_scenes_path") if isinstance(raw, dict) else None
    if isinstance(pattern, str) and "{scene}" in pattern:
        return os.path.dirname(pattern.split("{scene}")[0].format(data_path=data_path) + "x")
    return os.path.join(data_path, "content")


def content_files(path: Any, scenes: Optional[Sequence[str]] = None, *, raw: Any = None) -> list:
    """The per-scene content files next to a split file (habitat: `{data_path}/content/{scene}.json.gz`,
    or the split file's `content_scenes_path` pattern), sorted by name; `scenes` picks some by scene
    name (file name without .json.gz); None or ["*"] = all. `raw`: the split file's parsed JSON."""
    p = os.fspath(path)
    cdir = _content_dir(p, raw)
    if not os.path.isdir(cdir):
        if scenes is not None and "*" not in scenes:
            raise EpisodeFileError(p, "content_scenes", f"no content folder {cdir}")
        return []
    names = sorted(n for n in os.listdir(cdir)
                   if (n.endswith(".json.gz") or n.endswith(".json")) and not n.startswith("."))
    if scenes is not None and "*" not in scenes:
        wanted = set(scenes)
        names = [n for n in names if n.split(".json")[0] in wanted]
        missing = wanted - {n.split(".json")[0] for n in names}
        if missing:
            raise EpisodeFileError(p, "content_scenes", f"no content file for scene(s) {sorted(missing)} in {cdir}")
    return [os.path.join(cdir, n) for n in names]


def _merge_into(base: Dataset, part: Dataset, src: str) -> None:
    if part.schema != base.schema:
        raise EpisodeFileError(src, "schema", f"content file is {part.schema}, split file is {base.schema}")
    base.episodes.extend(part.episodes)
    for name in ("goals_by_category", "goals", "category_to_task_category_id",
                 "category_to_scene_annotation_category_id"):
        new = getattr(part, name)
        if new is None:
            continue
        cur = getattr(base, name)
        if cur is None:
            setattr(base, name, dict(new))
            continue
        for k, v in new.items():
            if k in cur and cur[k] != v:
                raise EpisodeFileError(src, f"{name}{_key_repr(k)}", "differs from the same key in an earlier file")
            cur[k] = v


def _load_from_raw(raw: Any, p: str, schema: Optional[str], include_content: bool,
                   content_scenes: Optional[Sequence[str]]) -> Dataset:
    if include_content:
        files = content_files(p, content_scenes, raw=raw)
    elif schema is None:
        files = content_files(p, raw=raw)
    else:
        files = []
    if schema is None:
        try:
            schema = _detect(raw, p)
        except EpisodeFileError:
            # an IIN split file is just {"episodes": []}: ask the first content file
            if not (isinstance(raw, dict) and raw.get("episodes") == [] and files):
                raise
            schema = _detect(read_json(files[0]), files[0])
    ds = _parse_dataset(raw, schema, p, require_category_maps=not (include_content and files))
    if include_content:
        for f in files:
            part = _parse_dataset(read_json(f), schema, f, require_category_maps=False)
            _merge_into(ds, part, f)
            ds.content_files.append(f)
        if files:
            if schema == OBJECTNAV:  # the maps may come from any of the files
                for k in ("category_to_task_category_id", "category_to_scene_annotation_category_id"):
                    if getattr(ds, k) is None and not (k.endswith("annotation_category_id")
                                                       and "category_to_mp3d_category_id" in ds.extra):
                        raise EpisodeFileError(p, k, "missing in the split file and in every content file "
                                                     "(habitat's ObjectNavDatasetV1 requires it)")
            _validate_references(ds, p)
    return ds


def load_dataset(path: Any, schema: Optional[str] = None, *, include_content: bool = False,
                 content_scenes: Optional[Sequence[str]] = None) -> Dataset:
    """Read and validate an episode file (.json or .json.gz).

    With `include_content=True` and a split file, the per-scene files in its `content/` folder are
    merged in (all of them, or those named in `content_scenes`), as habitat does with
    content_scenes=["*"]. `schema` forces a schema; by default it is detected (for an IIN split file,
    whose only field is an empty `episodes`, from its first content file).
    """
    p = os.fspath(path)
    if schema is not None:
        _check_schema(schema, p)
    raw = read_json(p)
    return _load_from_raw(raw, p, schema, include_content, content_scenes)


def save_dataset(dataset: Dataset, path: Any) -> None:
    """Validate, then write atomically (temporary file in the same folder + os.replace); gzip when
    the name ends in .gz (deterministic: no timestamp, no file name in the header)."""
    p = os.fspath(path)
    raw = dataset_to_dict(dataset)
    _parse_dataset(raw, dataset.schema, p)  # the file must load back; does not modify raw
    try:
        data = json.dumps(raw, allow_nan=False).encode("utf-8")
    except ValueError as e:  # a NaN/inf somewhere in a free-form field (info, extra)
        raise EpisodeFileError(p, "", f"cannot be written as standard JSON: {e}") from None
    if p.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    folder = os.path.dirname(os.path.abspath(p))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(p) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        mode = (os.stat(p).st_mode & 0o777) if os.path.exists(p) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
