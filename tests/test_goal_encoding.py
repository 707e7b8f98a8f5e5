"""Goal encoding (category / text / image), text parsing on real descriptions, matching and bad input."""

import json

import numpy as np
import pytest

from navstack.mapping.instance_map import View
from navstack.mapping.semantic_map import MappingConfig, SemanticMap
from navstack.perception.goal_encoding import (
    DEFAULT_CATEGORIES, GoalEncoder, check_goal_image, keypoint_inliers, match, parse_text, _orb,
)
from navstack.types import CategoryGoal, ImageGoal, TextGoal

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """Random-init CLIP (the project's architecture when its config is in assets/, else a tiny one)."""
    import torch

    from navstack.perception.clip_encoder import DEFAULT_MODEL_CONFIG, ClipConfig, ClipEncoder

    torch.manual_seed(0)  # random init, but the same in every run
    if DEFAULT_MODEL_CONFIG.exists():
        return ClipEncoder(ClipConfig(weights=None, allow_random_init=True))
    path = tmp_path_factory.mktemp("clip") / "navstack-test-tiny.json"
    path.write_text(json.dumps(TINY))
    return ClipEncoder(ClipConfig(model_name="navstack-test-tiny", model_config=str(path), weights=None,
                                  allow_random_init=True))


def test_categories_match_the_simulator():
    from navstack.sim.catalog import CATEGORIES

    assert tuple(DEFAULT_CATEGORIES) == tuple(CATEGORIES)


def test_parse_real_descriptions(house):
    """Every description the task generator writes for house 7 parses back to its facts."""
    from navstack.tasks.describe import describe, facts

    rng = np.random.default_rng(0)
    n = 0
    for o in house.objects:
        text = describe(house, o, rng)
        f = facts(house, o)
        p = parse_text(text, DEFAULT_CATEGORIES)
        assert p.category == o.category, (text, p)
        assert p.room == f["room"], (text, p)
        if f["near"]:
            assert p.near is not None and p.near_phrase == f["near"], (text, p)
        if f["color"] and f["color"] in text.split():
            assert p.colour == f["color"], (text, p)
        n += 1
    assert n >= 10


def test_parse_synonyms_and_relations():
    p = parse_text("Go to the big grey couch in the lounge, next to the TV!", DEFAULT_CATEGORIES)
    assert (p.category, p.size, p.colour, p.room, p.near) == ("sofa", "large", "grey", "living room", "tv_monitor")
    p = parse_text("the wooden chairs near a fridge in the kitchen", DEFAULT_CATEGORIES)
    assert (p.category, p.material, p.near, p.room) == ("chair", "wooden", "refrigerator", "kitchen")
    p = parse_text("the bathtub", DEFAULT_CATEGORIES)
    assert p.category == "bathtub" and p.room is None and p.near is None
    p = parse_text("something shiny", DEFAULT_CATEGORIES)
    assert p.category is None


def test_bad_goals_are_clear_errors(encoder):
    g = GoalEncoder(encoder)
    for bad in ("", "   \n\t "):
        with pytest.raises(ValueError, match="empty"):
            g.encode(TextGoal(bad))
    with pytest.raises(ValueError, match="characters long"):
        g.encode(TextGoal("the chair " * 1024))  # 10 kB
    with pytest.raises(ValueError, match="must be a str"):
        g.encode(TextGoal(42))
    with pytest.raises(ValueError, match="not a PNG/JPEG"):
        g.encode(ImageGoal(b"definitely not an image" * 10))
    with pytest.raises(ValueError, match="not a PNG/JPEG"):
        g.encode(ImageGoal(b""))
    with pytest.raises(ValueError, match="uint8"):
        g.encode(ImageGoal(np.random.default_rng(0).random((64, 64, 3))))
    with pytest.raises(ValueError, match="HxWx3"):
        g.encode(ImageGoal(np.zeros((64, 64, 2), np.uint8)))
    with pytest.raises(ValueError, match="at least"):
        g.encode(ImageGoal(np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(ValueError, match="HxWx3 uint8 array or image bytes"):
        g.encode(ImageGoal([[1, 2], [3, 4]]))
    with pytest.raises(ValueError, match="non-empty category"):
        g.encode(CategoryGoal(""))
    with pytest.raises(ValueError, match="unknown goal type"):
        g.encode(3.5)


def test_image_goal_inputs(encoder):
    import cv2

    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", img[:, :, ::-1])
    assert np.array_equal(check_goal_image(png.tobytes()), img)
    assert check_goal_image(img[:, :, 0]).shape == (80, 96, 3)  # grey
    rgba = np.concatenate([img, np.full((80, 96, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(check_goal_image(rgba), img)
    ge = GoalEncoder(encoder).encode(ImageGoal(png.tobytes()))
    assert ge.kind == "image" and ge.embedding.shape == (encoder.dim,)
    assert abs(float(ge.category_probs.sum()) - 1) < 1e-4


def _map_with(encoder, specs):
    """A SemanticMap holding hand-made instances: (centre, feature text, category, room type)."""
    smap = SemanticMap(encoder, MappingConfig())
    imap = smap.instance_map
    C = len(smap.categories) + len(smap.config.background_labels)
    R = len(smap.room_types)
    for k, (centre, text, cat, room) in enumerate(specs):
        pts = np.asarray(centre, np.float32) + np.random.default_rng(k).uniform(-0.2, 0.2, (200, 3)).astype(np.float32)
        iid = imap._new_instance(imap.detection_keys(pts), 0.0)
        inst = imap[iid]
        imap._add_points(inst, imap.detection_keys(pts))
        inst.feature_sum = encoder.encode_text([text])[0]
        inst.feature_weight = 1.0
        p = np.full(C, 0.01, np.float32)
        p[smap.categories.index(cat)] = 1.0
        inst.category_sum, inst.category_weight = p / p.sum(), 1.0
        r = np.full(R, 0.02, np.float32)
        r[smap.room_types.index(room)] = 1.0
        inst.room_sum, inst.room_weight = r / r.sum(), 1.0
        inst.observations = 3
    return smap


def test_match_ranks_by_category_room_and_neighbour(encoder):
    # one look for all (a random-init model's similarities mean nothing): category, room and the
    # nearby object must decide
    smap = _map_with(encoder, [
        ([0.0, 0.4, 0.0], "an object", "chair", "kitchen"),
        ([6.0, 0.4, 0.0], "an object", "chair", "bedroom"),
        ([6.8, 0.8, 0.3], "an object", "lamp", "bedroom"),
        ([3.0, 0.4, 3.0], "an object", "sofa", "living room"),
    ])
    c = match(CategoryGoal("sofa"), smap)
    assert c[0].instance_id == 4 and c[0].category == "sofa" and "category" in c[0].parts
    assert len(c) == 4 and all(c[i].score >= c[i + 1].score for i in range(3))
    # same-category distractors resolved by room and by the nearby object
    c = match(TextGoal("the chair in the bedroom"), smap)
    assert c[0].instance_id == 2 and c[0].parts["room"] > c[1].parts.get("room", -1e9)
    c = match(TextGoal("the chair next to the lamp"), smap)
    assert c[0].instance_id == 2 and c[0].parts["near"] > max(x.parts["near"] for x in c[1:] if x.category == "chair")
    c = match(TextGoal("the chair in the kitchen"), smap, top_k=2)
    assert c[0].instance_id == 1 and len(c) == 2
    # an empty map gives no candidates, not an error
    assert match(CategoryGoal("chair"), SemanticMap(encoder, MappingConfig())) == []


def test_image_goal_keypoint_verification(encoder):
    import cv2

    rng = np.random.default_rng(5)
    base = cv2.resize(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8), (128, 128), interpolation=cv2.INTER_NEAREST)
    other = cv2.resize(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8), (128, 128), interpolation=cv2.INTER_NEAREST)
    assert keypoint_inliers(_orb(base, 500), _orb(base, 500)) >= 15
    assert keypoint_inliers(_orb(base, 500), _orb(other, 500)) < 15
    smap = _map_with(encoder, [([0, 0.4, 0], "a chair", "chair", "kitchen"), ([4, 0.4, 0], "a chair", "chair", "office")])
    for iid, img in ((1, other), (2, base)):
        smap.instance_map[iid].views = [View(img, np.zeros(3), 0.0, 1.0, 0.0, 0, (0, 0, 128, 128))]
    goal = cv2.resize(base, (256, 256), interpolation=cv2.INTER_NEAREST)
    c = GoalEncoder(encoder).match(ImageGoal(goal), smap)
    by_id = {x.instance_id: x for x in c}
    assert by_id[2].verified is True and by_id[1].verified is False
    assert c[0].instance_id == 2 and by_id[2].parts["keypoints"] > by_id[1].parts["keypoints"]


def test_calibration_tabulates_colour_words_against_same_category_distractors(load_benchmark):
    """benchmarks/calibrate_goals.py's colour / material rows: for each object's word, every instance of its
    category, positive where that instance's object has the word (the shipped model; text embeddings stand
    in for view features, so each instance 'looks like' its own description)."""
    from types import SimpleNamespace

    from navstack.perception.clip_encoder import load_encoder

    cal = load_benchmark("calibrate_goals")
    enc = load_encoder()
    objs = [SimpleNamespace(id=1, category="chair", attributes={"color": "red", "material": "wooden"}),
            SimpleNamespace(id=2, category="chair", attributes={"color": "blue", "material": "wooden"}),
            SimpleNamespace(id=3, category="sofa", attributes={"color": "red"})]
    feats = enc.encode_text(["a red chair", "a blue chair", "a red sofa"])
    imap = {10 + i: SimpleNamespace(feature=f) for i, f in enumerate(feats)}
    smap = SimpleNamespace(encoder=enc, categories=list(DEFAULT_CATEGORIES), instance_map=imap)
    match_ids = {10: 1, 11: 2, 12: 3}
    rows = cal.attribute_rows(smap, SimpleNamespace(objects=objs), match_ids, "color")
    assert [pos for _, pos in rows] == [True, False, False, True, True]  # red@10, red@11, blue@10, blue@11, red@12
    assert all(0 < p < 1 for p, _ in rows)
    assert rows[0][0] > rows[1][0] and rows[3][0] > rows[2][0]  # a chair's own colour word beats its distractor's
    # material: both chairs are wooden (all positive); the sofa has no material word and adds no row
    assert [pos for _, pos in cal.attribute_rows(smap, SimpleNamespace(objects=objs), match_ids, "material")] == [True] * 4
