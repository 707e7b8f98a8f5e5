
import numpy as np
import pytest

from navstack.tasks.describe import describe, distinguishing, facts
from navstack.tasks.episodes import dataset_from_dict, goals_for_episode, load_dataset, save_dataset
from navstack.tasks.generate import EpisodeGenerator, seed_from_scene_id
from navstack.tasks.inspect import inspect_file


@pytest.fixture(scope="module")
def gen(house, renderer):
    return EpisodeGenerator(house, renderer)


def test_view_points_follow_habitats_rule(gen, house):
    o = house.objects[0]
    vps = gen.view_points(o.id)
    assert len(vps) > 5
    pos = np.array([vp["agent_state"]["position"] for vp in vps])
    assert house.navgrid.is_navigable(pos[:, 0], pos[:, 2]).all()
    x0, z0, x1, z1 = o.footprint
    dx = np.maximum(np.maximum(x0 - pos[:, 0], pos[:, 0] - x1), 0)
    dz = np.maximum(np.maximum(z0 - pos[:, 2], pos[:, 2] - z1), 0)
    assert (np.hypot(dx, dz) <= 1.0 + 1e-6).all()
    assert all(0 < vp["iou"] <= 1 for vp in vps)


def test_objectnav_episodes_are_valid_and_not_easy(gen, house, tmp_path):
    raw = gen.objectnav(12, np.random.default_rng(1))
    ds = dataset_from_dict(raw, "ObjectNav-v1")
    assert len(ds.episodes) == 12
    for ep in ds.episodes:
        assert seed_from_scene_id(ep.scene_id) == house.seed
        goals = goals_for_episode(ds, ep)
        assert goals and all(g.object_category == ep.object_category for g in goals)
        assert 1.0 <= ep.info["geodesic_distance"] <= 30.0
        # The recorded distance is the geodesic to the nearest view point from the start.
        targets = np.array([vp.position for g in goals for vp in g.view_points])[:, [0, 2]]
        d = house.navgrid.geodesic_distance(np.asarray(ep.start_position)[[0, 2]], targets)
        assert d == pytest.approx(ep.info["geodesic_distance"], abs=0.05)
    geo = [e.info["geodesic_distance"] for e in ds.episodes]
    assert np.median(geo) >= 3.0
    hidden = np.mean([not e.info["goal_visible_from_start"] for e in ds.episodes])
    assert hidden >= 0.7
    path = tmp_path / "on.json.gz"
    save_dataset(ds, path)
    info = inspect_file(path)
    assert info["num_episodes"] == 12


def test_instance_imagenav_goal_cameras_see_the_goal(gen, house):
    from navstack.types import Intrinsics

    raw = gen.instance_imagenav(4, np.random.default_rng(2))
    ds = dataset_from_dict(raw, "InstanceImageNav-v1")
    assert len(ds.episodes) == 4
    for ep in ds.episodes:
        goal = goals_for_episode(ds, ep)[0]
        p = goal.image_goals[ep.goal_image_id]
        r = gen.renderer.render(np.asarray(p.position), np.asarray(p.rotation), Intrinsics.from_hfov(64, 64, p.hfov),
                                want_rgb=False)
        assert (r.instance == int(goal.object_id)).mean() >= 0.03, "the goal image shows the goal object"


def test_descriptions_single_out_the_instance(house):
    rng = np.random.default_rng(0)
    for o in house.objects:
        keys = distinguishing(house, o)
        mine = facts(house, o)
        for other in house.objects:
            if other.category == o.category and other.id != o.id:
                f = facts(house, other)
                assert any(f[k] != mine[k] for k in keys) or keys == [], (o.id, other.id, keys)
        text = describe(house, o, rng)
        assert mine["room"] in text and len(text) < 200


def test_goat_and_textnav(gen, tmp_path):
    goat = dataset_from_dict(gen.goat(3, np.random.default_rng(3)), "Goat-v1")
    assert all(3 <= len(e.tasks) <= 5 for e in goat.episodes)
    for e in goat.episodes:
        per_subtask = goals_for_episode(goat, e)
        assert len(per_subtask) == len(e.tasks)
        for (cat, kind, oid, *rest), goals in zip(e.tasks, per_subtask):
            assert all(g.object_category == cat for g in goals)
            if kind == "description":
                assert goals[0].lang_desc
    text = dataset_from_dict(gen.goat(3, np.random.default_rng(4), single_description=True), "Goat-v1")
    assert all(len(e.tasks) == 1 and e.tasks[0][1] == "description" for e in text.episodes)
    save_dataset(text, tmp_path / "t.json.gz")
    assert len(load_dataset(tmp_path / "t.json.gz").episodes) == 3


def test_bad_scene_id():
    with pytest.raises(ValueError, match="not an embedded house"):
        seed_from_scene_id("hm3d/val/TEEsavR23oF.basis.glb")
