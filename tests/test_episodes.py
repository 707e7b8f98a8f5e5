"""Habitat episode schemas: real-file loading, lossless round trips, validation errors, inspect."""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from navstack.tasks.episodes import (
    GOAT,
    INSTANCE_IMAGENAV,
    OBJECTNAV,
    SCHEMAS,
    Dataset,
    Episode,
    EpisodeFileError,
    ImageGoalParams,
    ObjectGoal,
    ViewPoint,
    dataset_from_dict,
    dataset_to_dict,
    detect_schema,
    goals_for_episode,
    instance_goal_key,
    load_dataset,
    objectnav_goals_key,
    save_dataset,
    view_point_positions,
)
from navstack.tasks.inspect import format_summary, inspect_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("NAVSTACK_HABITAT_SAMPLES", ROOT.parent / "shared" / "habitat_samples"))
OBJNAV_DIR = SAMPLES / "objectnav_hm3d_v2" / "val_mini"
IIN_DIR = SAMPLES / "instance_imagenav_hm3d_v3" / "val_mini"
OBJNAV_CONTENT = OBJNAV_DIR / "content" / "TEEsavR23oF.json.gz"
IIN_CONTENT = IIN_DIR / "content" / "TEEsavR23oF.json.gz"
OBJNAV_SPLIT = OBJNAV_DIR / "val_mini.json.gz"
IIN_SPLIT = IIN_DIR / "val_mini.json.gz"
SCENE_ID = "hm3d_v0.2/minival/00800-TEEsavR23oF/TEEsavR23oF.basis.glb"

# In CI the samples are always beside the checkout (../shared): missing them there is a failure, not a skip.
if os.environ.get("CI") and not OBJNAV_CONTENT.exists():
    raise RuntimeError(f"CI run without the Habitat samples at {SAMPLES}")
needs_samples = pytest.mark.skipif(not OBJNAV_CONTENT.exists(), reason=f"Habitat samples not found at {SAMPLES}")


def raw_json(path) -> object:
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data)


def assert_identical(a, b, where="$"):
    """Equal as Python objects AND same types (int vs float), same float bits (-0.0), same key order."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_identical(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a.hex() == b.hex(), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def objnav():
    return load_dataset(OBJNAV_CONTENT)


@pytest.fixture(scope="module")
def iin():
    return load_dataset(IIN_CONTENT)


# ----------------------------------------------------------------------------- real files
@needs_samples
def test_objectnav_sample_loads_with_exact_fields(objnav):
    ds = objnav
    assert ds.schema == OBJECTNAV
    assert len(ds.episodes) == 15
    e = ds.episodes[0]
    assert e.episode_id == "7"
    assert e.scene_id == SCENE_ID
    assert e.scene_dataset_config == "./data/scene_datasets/hm3d_v0.2/hm3d_annotated_basis.scene_dataset_config.json"
    assert e.additional_obj_config_paths == []
    assert e.start_position == [-3.99935, 0.01338, -2.67815]
    assert e.start_rotation == [0, 0.86832, 0, -0.49601]
    assert type(e.start_rotation[0]) is int  # stored as 0, kept as 0
    assert e.info == {"geodesic_distance": 5.40846, "euclidean_distance": 4.94411, "closest_goal_object_id": 516}
    assert e.goals == [] and e.start_room is None and e.shortest_paths is None
    assert e.object_category == "bed"
    assert e.goals_key == "TEEsavR23oF.basis.glb_bed"

    assert ds.category_to_task_category_id == {"chair": 0, "bed": 1, "plant": 2, "toilet": 3, "tv_monitor": 4, "sofa": 5}
    assert ds.category_to_scene_annotation_category_id == ds.category_to_task_category_id
    assert sorted(ds.goals_by_category) == sorted(f"TEEsavR23oF.basis.glb_{c}" for c in ds.category_to_task_category_id)

    beds = goals_for_episode(ds, e)
    assert len(beds) == 2 and all(g.object_category == "bed" for g in beds)
    assert any(g.object_id == 516 for g in beds)  # info.closest_goal_object_id

    tv = ds.goals_by_category["TEEsavR23oF.basis.glb_tv_monitor"][0]
    assert tv.position == [-0.15094, 4.30008, -4.8529]
    assert tv.object_id == 10 and tv.object_name == "tv_10" and tv.object_category == "tv_monitor"
    assert tv.radius is None and tv.object_name_id is None and tv.room_id is None and tv.room_name is None
    assert len(tv.view_points) == 173
    vp = tv.view_points[0]
    assert vp.position == [-0.14953, 3.11338, -5.6129]
    assert vp.rotation == [0.0, 1.0, 0.0, 0.0009]
    assert vp.iou == 1.18375
    pts = view_point_positions([tv])
    assert pts.shape == (173, 3) and pts.dtype == np.float64


@needs_samples
def test_instance_imagenav_sample_loads_with_exact_fields(iin):
    ds = iin
    assert ds.schema == INSTANCE_IMAGENAV
    assert len(ds.episodes) == 27
    assert len(ds.goals) == 20
    e = ds.episodes[0]
    assert e.episode_id == "331"
    assert e.scene_id == SCENE_ID
    assert e.start_position == [-5.9657511711120605, 3.1633780002593994, -3.320870876312256]
    assert e.start_rotation == [0, 0.8906563112209723, 0, 0.4546771769973181]
    assert e.info == {"geodesic_distance": 5.669307231903076, "euclidean_distance": 4.597048282623291}
    assert e.goal_object_id == "10" and e.goal_image_id == 0 and e.object_category == "tv_monitor"
    assert e.goal_key == "TEEsavR23oF_10"
    assert "start_room" not in e.to_dict()  # absent in the v3 files, stays absent

    (g,) = goals_for_episode(ds, e)
    assert g is ds.goals["TEEsavR23oF_10"]
    assert g.object_id == 10 and g.object_category == "tv_monitor"
    assert g.object_surface_area == 2.308011963277155
    assert g.radius is None and "radius" not in g.to_dict()
    assert len(g.view_points) == 132 and len(g.image_goals) == 90
    ig = g.image_goals[0]
    assert ig.position == [-1.3000086545944214, 4.403198531013339, -5.817080020904541]
    assert ig.rotation == [-0.02717611963667114, -0.9145532339405865, -0.06233636912493824, 0.3987079845773499]
    assert ig.hfov == 65 and ig.image_dimensions == [512, 512]
    assert ig.frame_coverage == 0.2521171569824219 and ig.object_coverage == 0.8579443240973887
    # goal_image_id 1 of object 16 is the second image goal
    e2 = ds.episodes[2]
    assert (e2.goal_object_id, e2.goal_image_id) == ("16", 1)
    assert goals_for_episode(ds, e2)[0].image_goals[1] is ds.goals["TEEsavR23oF_16"].image_goals[1]


@needs_samples
@pytest.mark.parametrize("src", [OBJNAV_CONTENT, IIN_CONTENT, OBJNAV_SPLIT, IIN_SPLIT],
                         ids=["objectnav-content", "iin-content", "objectnav-split", "iin-split"])
@pytest.mark.parametrize("suffix", [".json.gz", ".json"])
def test_real_files_round_trip_without_loss(src, suffix, tmp_path):
    ds = load_dataset(src)
    assert_identical(dataset_to_dict(ds), raw_json(src))
    out = tmp_path / ("out" + suffix)
    save_dataset(ds, out)
    assert_identical(raw_json(out), raw_json(src))
    assert sorted(os.listdir(tmp_path)) == ["out" + suffix]  # no temporary files left behind
    # and once more through the loader
    assert_identical(dataset_to_dict(load_dataset(out, schema=ds.schema)), raw_json(src))  # {"episodes": []} is ambiguous


@needs_samples
def test_split_files_and_content_merge():
    split = load_dataset(OBJNAV_SPLIT)
    assert split.schema == OBJECTNAV and split.episodes == [] and split.goals_by_category is None
    merged = load_dataset(OBJNAV_SPLIT, include_content=True)
    assert len(merged.episodes) == 15 and len(merged.goals_by_category) == 6
    assert [os.path.basename(f) for f in merged.content_files] == ["TEEsavR23oF.json.gz"]
    assert all(goals_for_episode(merged, e) for e in merged.episodes)

    # the IIN split file is only {"episodes": []}: its schema comes from content/
    assert raw_json(IIN_SPLIT) == {"episodes": []}
    with pytest.raises(EpisodeFileError):
        detect_schema(raw_json(IIN_SPLIT))
    assert load_dataset(IIN_SPLIT).schema == INSTANCE_IMAGENAV
    merged = load_dataset(IIN_SPLIT, include_content=True, content_scenes=["TEEsavR23oF"])
    assert len(merged.episodes) == 27 and len(merged.goals) == 20
    with pytest.raises(EpisodeFileError, match="no content file for scene"):
        load_dataset(IIN_SPLIT, include_content=True, content_scenes=["nope"])


# ----------------------------------------------------------------------------- hand-made datasets
def _vp(x, z=-1.0):
    return {"agent_state": {"position": [x, 0.0, z], "rotation": [0.0, 0.0, 0.0, 1.0]}, "iou": 0.5}


def objectnav_dict():
    goal = {"position": [1.0, 0.5, -2.0], "radius": None, "object_id": 7, "object_name": "chair_7",
            "object_name_id": None, "object_category": "chair", "room_id": None, "room_name": None,
            "view_points": [_vp(1.0)]}
    ep = {"episode_id": "0", "scene_id": "scenes/house0.glb", "scene_dataset_config": "default",
          "additional_obj_config_paths": [], "start_position": [0.0, 0.0, 0.0],
          "start_rotation": [0.0, 0.0, 0.0, 1.0],
          "info": {"geodesic_distance": 2.5, "euclidean_distance": 2.2, "goal_visible_from_start": False},
          "goals": [], "start_room": None, "shortest_paths": None, "object_category": "chair"}
    ep2 = dict(copy.deepcopy(ep), episode_id="1", info={"geodesic_distance": 3.0, "euclidean_distance": 3.0,
                                                        "goal_visible_from_start": True})
    return {"goals_by_category": {"house0.glb_chair": [goal]}, "episodes": [ep, ep2],
            "category_to_task_category_id": {"chair": 0, "bed": 1},
            "category_to_scene_annotation_category_id": {"chair": 3, "bed": 4}}


def iin_dict():
    img = {"position": [1.0, 1.2, -1.5], "rotation": [0.0, 1.0, 0.0, 0.0], "hfov": 79,
           "image_dimensions": [512, 512], "frame_coverage": 0.3, "object_coverage": 0.9}
    goal = {"position": [1.0, 0.5, -2.0], "object_id": 7, "object_name": "chair_7", "object_category": "chair",
            "object_surface_area": 1.25, "view_points": [_vp(1.0)], "image_goals": [img]}
    ep = {"episode_id": "0", "scene_id": "scenes/house0.basis.glb", "scene_dataset_config": "default",
          "additional_obj_config_paths": [], "start_position": [0.0, 0.0, 0.0],
          "start_rotation": [0.0, 0.0, 0.0, 1.0], "info": {"geodesic_distance": 2.5, "euclidean_distance": 2.2},
          "goals": [], "object_category": "chair", "goal_object_id": "7", "goal_image_id": 0}
    return {"goals": {"house0_7": goal}, "episodes": [ep]}


def goat_dict():
    def img(x):
        return {"position": [x, 1.2, 1.0], "rotation": [0.0, 0.0, 0.0, 1.0], "hfov": 79,
                "image_dimensions": [512, 512], "frame_coverage": 0.3, "object_coverage": 0.9}

    def goal(oid, cat, x, desc, n_img):
        return {"position": [x, 0.5, 2.0], "radius": None, "object_id": oid, "object_name": f"{cat}_{oid}",
                "object_name_id": None, "object_category": cat, "room_id": None, "room_name": None,
                "view_points": [_vp(x, 1.0)], "image_goals": [img(x + i) for i in range(n_img)],
                "object_surface_area": 1.5, "lang_desc": desc, "children_object_categories": []}

    ep = {"episode_id": "0", "scene_id": "hm3d/val//00800-house0/house0.basis.glb",
          "scene_dataset_config": "default", "additional_obj_config_paths": [],
          "start_position": [0.0, 0.0, 0.0], "start_rotation": [0.0, 0.0, 0.0, 1.0],
          "info": {"geodesic_distance": 4.0, "euclidean_distance": 3.5}, "goals": [], "start_room": None,
          "shortest_paths": None, "object_category": "chair",
          "tasks": [["chair", "object", "house0_3"], ["chair", "image", "house0_4", 1],
                    ["bed", "description", "house0_9"]]}
    return {"goals": {"house0.basis.glb_chair": [goal("house0_3", "chair", 1.0, "the red chair by the desk", 1),
                                                 goal("house0_4", "chair", 2.0, "the blue chair", 2)],
                      "house0.basis.glb_bed": [goal("house0_9", "bed", 5.0, "the bed under the window", 0)]},
            "episodes": [ep]}


def test_goat_round_trip_and_subtask_goals(tmp_path):
    raw = goat_dict()
    assert detect_schema(raw) == GOAT
    ds = dataset_from_dict(raw)
    assert ds.schema == GOAT
    assert_identical(dataset_to_dict(ds), raw)
    save_dataset(ds, tmp_path / "goat.json.gz")
    assert_identical(raw_json(tmp_path / "goat.json.gz"), raw)

    ep = ds.episodes[0]
    assert [tuple(s) for s in ep.subtasks] == [("chair", "object", "house0_3", None),
                                                ("chair", "image", "house0_4", 1),
                                                ("bed", "description", "house0_9", None)]
    obj, image, desc = goals_for_episode(ds, ep)
    assert [g.object_id for g in obj] == ["house0_3", "house0_4"]  # "object": the whole category
    assert [g.object_id for g in image] == ["house0_4"]
    assert image[0].image_goals[1].position == [3.0, 1.2, 1.0]
    assert desc[0].lang_desc == "the bed under the window"
    assert view_point_positions(obj).tolist() == [[1.0, 0.0, 1.0], [2.0, 0.0, 1.0]]

    # GOAT-Bench's own lookup (category of the first goal of a list) when the key is not the usual one
    raw2 = goat_dict()
    raw2["goals"] = {"weird_key": raw2["goals"]["house0.basis.glb_chair"], "other": raw2["goals"]["house0.basis.glb_bed"]}
    assert len(goals_for_episode(dataset_from_dict(raw2), dataset_from_dict(raw2).episodes[0])[0]) == 2


def test_dataset_from_dict_does_not_alias_or_modify_input():
    raw = objectnav_dict()
    before = copy.deepcopy(raw)
    ds = dataset_from_dict(raw)
    ds.episodes[0].start_position[0] = 99.0
    assert raw == before
    out = dataset_to_dict(ds)
    out["episodes"][0]["start_position"][1] = 42.0
    assert ds.episodes[0].start_position[1] == 0.0


def test_datasets_built_in_code_are_written_like_habitat(tmp_path):
    vp = ViewPoint(position=np.array([1.0, 0.0, -1.0]), rotation=np.array([0.0, 0.0, 0.0, 1.0]), iou=np.float32(0.5))
    goal = ObjectGoal(position=np.array([1.0, 0.5, -2.0], dtype=np.float32), object_id=7, object_name="chair_7",
                      object_category="chair", view_points=[vp])
    ep = Episode(episode_id="0", scene_id="scenes/house0.glb", start_position=(0.0, 0.0, 0.0),
                 start_rotation=np.array([0.0, 0.0, 0.0, 1.0]), object_category="chair",
                 info={"geodesic_distance": np.float64(2.5), "euclidean_distance": 2.2,
                       "goal_visible_from_start": False})
    ds = Dataset(schema=OBJECTNAV, episodes=[ep], goals_by_category={objectnav_goals_key(ep.scene_id, "chair"): [goal]},
                 category_to_task_category_id={"chair": 0}, category_to_scene_annotation_category_id={"chair": 0})
    save_dataset(ds, tmp_path / "gen.json.gz")
    raw = raw_json(tmp_path / "gen.json.gz")
    assert list(raw) == ["goals_by_category", "episodes", "category_to_task_category_id",
                         "category_to_scene_annotation_category_id"]
    e = raw["episodes"][0]
    assert list(e) == ["episode_id", "scene_id", "scene_dataset_config", "additional_obj_config_paths",
                       "start_position", "start_rotation", "info", "goals", "start_room", "shortest_paths",
                       "object_category"]
    assert e["scene_dataset_config"] == "default" and e["goals"] == [] and e["start_room"] is None
    assert e["start_rotation"] == [0.0, 0.0, 0.0, 1.0] and type(e["info"]["geodesic_distance"]) is float
    g = raw["goals_by_category"]["house0.glb_chair"][0]
    assert list(g) == ["position", "radius", "object_id", "object_name", "object_name_id", "object_category",
                       "room_id", "room_name", "view_points"]  # IIN/GOAT extensions only when set
    assert g["view_points"][0] == {"agent_state": {"position": [1.0, 0.0, -1.0], "rotation": [0.0, 0.0, 0.0, 1.0]},
                                   "iou": 0.5}
    back = load_dataset(tmp_path / "gen.json.gz")
    assert_identical(dataset_to_dict(back), raw)
    assert goals_for_episode(back, back.episodes[0])[0].object_name == "chair_7"

    # InstanceImageNav built in code
    ig = ImageGoalParams(position=[1.0, 1.2, -1.5], rotation=[0.0, 1.0, 0.0, 0.0], hfov=79, image_dimensions=[512, 512])
    igoal = ObjectGoal(position=[1.0, 0.5, -2.0], object_id=7, object_category="chair", view_points=[vp],
                       image_goals=[ig], object_surface_area=1.25)
    iep = Episode(episode_id="0", scene_id="scenes/house0.basis.glb", start_position=[0.0, 0.0, 0.0],
                  start_rotation=[0.0, 0.0, 0.0, 1.0], object_category="chair", goal_object_id="7", goal_image_id=0)
    assert iep.goal_key == instance_goal_key(iep.scene_id, "7") == "house0_7"
    ids = Dataset(schema=INSTANCE_IMAGENAV, episodes=[iep], goals={iep.goal_key: igoal})
    save_dataset(ids, tmp_path / "iin.json")
    raw = raw_json(tmp_path / "iin.json")
    assert list(raw) == ["goals", "episodes"]
    assert raw["goals"]["house0_7"]["image_goals"][0] == {
        "position": [1.0, 1.2, -1.5], "rotation": [0.0, 1.0, 0.0, 0.0], "hfov": 79,
        "image_dimensions": [512, 512], "frame_coverage": None, "object_coverage": None}
    assert load_dataset(tmp_path / "iin.json").schema == INSTANCE_IMAGENAV


def test_extra_fields_are_preserved_and_new_fields_appended():
    raw = objectnav_dict()
    raw["my_top_level"] = {"a": 1}
    raw["episodes"][0]["custom"] = [1, 2.5, None]
    raw["episodes"][0]["info"]["closest_goal_object_id"] = 7
    raw["goals_by_category"]["house0.glb_chair"][0]["view_points"][0]["agent_state"]["sensor_states"] = {}
    raw["goals_by_category"]["house0.glb_chair"][0]["view_points"][0]["radius"] = 0.3
    ds = dataset_from_dict(raw)
    assert ds.extra == {"my_top_level": {"a": 1}}
    assert ds.episodes[0].extra == {"custom": [1, 2.5, None]}
    vp = ds.goals_by_category["house0.glb_chair"][0].view_points[0]
    assert vp.agent_state_extra == {"sensor_states": {}} and vp.extra == {"radius": 0.3}
    assert_identical(dataset_to_dict(ds), raw)
    ds.episodes[0].goal_image_id = 3  # a field set after loading is written after the source keys
    assert list(dataset_to_dict(ds)["episodes"][0])[-1] == "goal_image_id"


# ----------------------------------------------------------------------------- malformed input
def _write(tmp_path, raw, name="bad_episodes.json.gz"):
    path = tmp_path / name
    data = json.dumps(raw).encode()  # NaN is written as the (non-standard) literal NaN
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def _del(path):
    def f(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
    return f


def _set(path, value):
    def f(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return f


GOAL0 = ["goals_by_category", "house0.glb_chair", 0]
MALFORMED = [
    ("missing start_position", objectnav_dict, _del(["episodes", 0, "start_position"]),
     "episodes[0].start_position: missing"),
    ("rotation of 3 numbers", objectnav_dict, _set(["episodes", 1, "start_rotation"], [0.0, 0.0, 1.0]),
     "episodes[1].start_rotation: expected 4 numbers, got 3"),
    ("NaN position", objectnav_dict, _set(["episodes", 0, "start_position", 1], float("nan")),
     "episodes[0].start_position[1]: expected a finite number, got nan"),
    ("string coordinate", objectnav_dict, _set(["episodes", 0, "start_position", 2], "1.0"),
     "episodes[0].start_position[2]: expected a number"),
    ("unknown goals key", objectnav_dict, _set(["episodes", 0, "object_category"], "bed"),
     "episodes[0].object_category: no goals: goals_by_category has no key 'house0.glb_bed'"),
    ("category not in task map", objectnav_dict, _set(["episodes", 0, "object_category"], "sofa"),
     "episodes[0].object_category: 'sofa' is not in category_to_task_category_id"),
    ("missing category map", objectnav_dict, _del(["category_to_task_category_id"]),
     "category_to_task_category_id: missing"),
    ("view point rotation of 3", objectnav_dict,
     _set(GOAL0 + ["view_points", 0, "agent_state", "rotation"], [0, 0, 1]),
     'goals_by_category["house0.glb_chair"][0].view_points[0].agent_state.rotation: expected 4 numbers, got 3'),
    ("no view points", objectnav_dict, _set(GOAL0 + ["view_points"], []), "episodes[0]: goals 'house0.glb_chair' have no view points"),
    ("goal without object_id", objectnav_dict, _del(GOAL0 + ["object_id"]),
     'goals_by_category["house0.glb_chair"][0].object_id: missing'),
    ("IIN unknown goal key", iin_dict, _set(["episodes", 0, "goal_object_id"], "99"),
     "episodes[0].goal_object_id: no goals: goals has no key 'house0_99'"),
    ("IIN image index out of range", iin_dict, _set(["episodes", 0, "goal_image_id"], 1),
     "episodes[0].goal_image_id: 1 is out of range: goal 'house0_7' has 1 image goals"),
    ("IIN image dimensions", iin_dict, _set(["goals", "house0_7", "image_goals", 0, "image_dimensions"], [512]),
     'goals["house0_7"].image_goals[0].image_dimensions: expected [height, width]'),
    ("IIN missing image_goals", iin_dict, _del(["goals", "house0_7", "image_goals"]),
     'goals["house0_7"].image_goals: missing'),
    ("GOAT unknown object", goat_dict, _set(["episodes", 0, "tasks", 2, 2], "house0_77"),
     "episodes[0].tasks[2][2]: no 'bed' goal has object_id 'house0_77'"),
    ("GOAT object id type mismatch", goat_dict, _set(["episodes", 0, "tasks", 2, 2], 9),
     "episodes[0].tasks[2][2]: no 'bed' goal has object_id 9"),
    ("GOAT image index out of range", goat_dict, _set(["episodes", 0, "tasks", 1, 3], 2),
     "episodes[0].tasks[1][3]: image index 2 is out of range"),
    ("GOAT image task without index", goat_dict, _set(["episodes", 0, "tasks", 1], ["chair", "image", "house0_4"]),
     "episodes[0].tasks[1]: an image subtask needs a 4th element"),
    ("GOAT unknown task type", goat_dict, _set(["episodes", 0, "tasks", 0, 1], "audio"),
     "episodes[0].tasks[0][1]: expected one of"),
    ("GOAT description without lang_desc", goat_dict, _del(["goals", "house0.basis.glb_bed", 0, "lang_desc"]),
     "episodes[0].tasks[2]: description subtask but goal 'house0_9' has no lang_desc"),
    ("GOAT unknown category", goat_dict, _set(["episodes", 0, "tasks", 0, 0], "sofa"),
     "episodes[0].tasks[0]: no goals for category 'sofa'"),
    ("unknown schema", lambda: {"episodes": [{"foo": 1}]}, lambda d: None, "schema: cannot tell which of"),
    ("not an episode file", lambda: {"hello": "world"}, lambda d: None, "episodes: missing"),
    ("top level list", lambda: [1, 2, 3], lambda d: None, "expected a JSON object at the top level"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_files_name_file_and_field(case, tmp_path):
    _, make, mutate, expected = case
    raw = make()
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(EpisodeFileError) as ei:
        load_dataset(path)
    msg = str(ei.value)
    assert "bad_episodes.json.gz" in msg
    assert expected in msg, msg
    assert ei.value.path == str(path)
    with pytest.raises(EpisodeFileError) as ei2:  # inspect fails the same way
        inspect_file(path)
    assert str(ei2.value) == msg


def test_unknown_or_mismatched_schema(tmp_path):
    path = _write(tmp_path, objectnav_dict())
    with pytest.raises(EpisodeFileError, match=r"bad_episodes\.json\.gz: schema: unknown schema 'PointNav-v1'"):
        load_dataset(path, schema="PointNav-v1")
    with pytest.raises(EpisodeFileError, match=r"bad_episodes\.json\.gz: episodes\[0\]\.goal_object_id: missing"):
        load_dataset(path, schema=INSTANCE_IMAGENAV)
    with pytest.raises(EpisodeFileError, match="<dict>: schema: unknown schema"):
        dataset_from_dict(objectnav_dict(), schema="nope")


def test_broken_files_give_episode_file_error(tmp_path):
    good = gzip.compress(json.dumps(objectnav_dict()).encode())
    cases = {
        "truncated.json.gz": (good[: len(good) // 2], "corrupt or truncated gzip data"),
        "text.json": (b"this is not json\n", "not valid JSON"),
        "text.json.gz": (b"this is not json\n", "not a gzip file"),
        "empty.json": (b"", "not valid JSON"),
        "binary.json": (bytes(range(256)), "not UTF-8 text"),
        "gzipped_text.json.gz": (gzip.compress(b"hello"), "not valid JSON"),
    }
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(EpisodeFileError) as ei:
            load_dataset(tmp_path / name)
        assert name in str(ei.value) and expected in str(ei.value), str(ei.value)
    with pytest.raises(EpisodeFileError, match="cannot read"):
        load_dataset(tmp_path / "missing.json.gz")


def test_save_validates_and_is_atomic(tmp_path):
    target = tmp_path / "eps.json.gz"
    ds = dataset_from_dict(objectnav_dict())
    save_dataset(ds, target)
    before = target.read_bytes()
    ds.episodes[1].start_rotation = [0.0, 1.0, 0.0]
    with pytest.raises(EpisodeFileError, match=r"eps\.json\.gz: episodes\[1\]\.start_rotation: expected 4 numbers, got 3"):
        save_dataset(ds, target)
    ds.episodes[1].start_rotation = [0.0, 0.0, 0.0, 1.0]
    ds.episodes[0].start_position = [0.0, float("inf"), 0.0]
    with pytest.raises(EpisodeFileError, match="finite"):
        save_dataset(ds, target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["eps.json.gz"]
    ds.episodes[0].start_position = [0.0, 0.0, 0.0]
    save_dataset(ds, target)
    assert target.read_bytes() == before  # deterministic gzip (no timestamp)


def test_error_is_a_value_error_and_crosses_processes():
    err = EpisodeFileError("a/b.json.gz", "episodes[3].start_rotation", "expected 4 numbers, got 3")
    assert isinstance(err, ValueError)
    assert str(err) == "a/b.json.gz: episodes[3].start_rotation: expected 4 numbers, got 3"
    # Process pools rebuild exceptions from __reduce__: the rebuilt error must say the same.
    cls, args = err.__reduce__()[:2]
    back = cls(*args)
    assert str(back) == str(err) and back.field == err.field


def test_schemas_and_keys():
    assert SCHEMAS == ("ObjectNav-v1", "InstanceImageNav-v1", "Goat-v1")
    assert detect_schema(objectnav_dict()) == OBJECTNAV
    assert detect_schema(iin_dict()) == INSTANCE_IMAGENAV
    assert objectnav_goals_key("a/b/X.basis.glb", "chair") == "X.basis.glb_chair"
    assert instance_goal_key("a/b/X.basis.glb", 12) == "X_12"
    assert instance_goal_key("a/b/X.glb", "3") == "X_3"


def test_episodes_modules_stay_import_light():
    code = ("import sys, navstack.tasks.episodes, navstack.tasks.inspect, navstack.tasks.metrics; "
            "heavy = [m for m in ('torch', 'open3d', 'cv2', 'open_clip', 'scipy') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ----------------------------------------------------------------------------- inspect
@needs_samples
def test_inspect_objectnav_content_file():
    s = inspect_file(OBJNAV_CONTENT)
    assert s["schema"] == OBJECTNAV and s["layout"] == "episodes"
    assert s["scenes"] == [SCENE_ID] and s["num_episodes"] == 15
    assert s["categories"] == ["bed", "chair", "plant", "sofa", "tv_monitor"]  # no toilet episode in val_mini
    assert s["goal_categories"] == ["bed", "chair", "plant", "sofa", "toilet", "tv_monitor"]
    assert s["goals_per_category"] == {"bed": 2, "chair": 12, "plant": 11, "sofa": 3, "toilet": 2, "tv_monitor": 1}
    assert s["episodes_per_category"]["tv_monitor"] == 5 and s["num_goals"] == 31
    g = s["geodesic_distance"]
    # 15 geodesic distances; sorted, the 8th is 5.62858
    assert (g["count"], g["min"], g["median"], g["max"]) == (15, 1.05396, 5.62858, 10.1391)
    assert s["frac_detour_ratio_gt_1_05"] == 1.0  # smallest ratio: 3.70929 / 3.50496 = 1.0583
    assert s["frac_goal_not_visible_from_start"] is None
    text = format_summary(s)
    assert "ObjectNav-v1" in text and "goal not visible from start: n/a" in text
    assert "median 5.63" in text


@needs_samples
def test_inspect_split_files_summarise_content():
    s = inspect_file(OBJNAV_SPLIT)
    assert s["layout"] == "split" and s["content_files"] == ["TEEsavR23oF.json.gz"]
    assert s["num_episodes"] == 15
    assert "split file with no episodes of its own" in format_summary(s)
    s = inspect_file(IIN_SPLIT)
    assert s["schema"] == INSTANCE_IMAGENAV and s["layout"] == "split" and s["num_episodes"] == 27
    assert s["num_goals"] == 20 and s["num_image_goals"] > 0


def test_inspect_generated_file_with_visibility(tmp_path):
    path = _write(tmp_path, objectnav_dict(), name="ours.json.gz")
    s = inspect_file(path)
    assert s["num_episodes"] == 2 and s["categories"] == ["chair"]
    assert s["frac_goal_not_visible_from_start"] == 0.5
    assert s["frac_detour_ratio_gt_1_05"] == 0.5  # 2.5 / 2.2 = 1.136 > 1.05; 3.0 / 3.0 = 1.0
    assert "goal not visible from start: 50.0 % of 2" in format_summary(s)
    s = inspect_file(_write(tmp_path, goat_dict(), name="goat.json.gz"))
    assert s["schema"] == GOAT and s["goat"]["subtask_types"] == {"object": 1, "image": 1, "description": 1}
    assert "subtasks:    3" in format_summary(s)


def test_non_finite_free_form_values_cannot_be_saved(tmp_path):
    ds = dataset_from_dict(objectnav_dict())
    ds.episodes[0].info["score"] = float("nan")
    with pytest.raises(EpisodeFileError, match=r"nan\.json: cannot be written as standard JSON"):
        save_dataset(ds, tmp_path / "nan.json")
    assert os.listdir(tmp_path) == []


def test_category_maps_may_live_in_the_split_file_only(tmp_path):
    # habitat reads category_to_* from whichever file has them (split or content)
    content = objectnav_dict()
    maps = {k: content.pop(k) for k in ("category_to_task_category_id", "category_to_scene_annotation_category_id")}
    (tmp_path / "content").mkdir()
    _write(tmp_path / "content", content, name="house0.json.gz")
    split = _write(tmp_path, dict(episodes=[], **maps), name="val.json.gz")
    ds = load_dataset(split, include_content=True)
    assert len(ds.episodes) == 2 and ds.category_to_task_category_id == {"chair": 0, "bed": 1}
    with pytest.raises(EpisodeFileError, match=r"house0\.json\.gz: category_to_task_category_id: missing"):
        load_dataset(tmp_path / "content" / "house0.json.gz")
    _write(tmp_path, {"episodes": [], "category_to_task_category_id": {"chair": 0}}, name="val.json.gz")
    with pytest.raises(EpisodeFileError, match=r"val\.json\.gz: category_to_scene_annotation_category_id: missing"):
        load_dataset(split, include_content=True)
