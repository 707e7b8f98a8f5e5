import json
from collections import Counter

import numpy as np
import pytest

from navstack.sim.catalog import CATEGORIES
from navstack.sim.scene import House, generate_house, reachable


def test_house_is_furnished_with_distractors(house):
    assert len(house.objects) >= 10
    counts = Counter(o.category for o in house.objects)
    assert set(counts) <= set(CATEGORIES)
    assert max(counts.values()) >= 2, "common categories need same-category distractors"
    for cat, n in counts.items():
        objs = house.objects_of(cat)
        if n > 1:  # instances of one category differ in model or colour
            assert len({(o.entry_id, o.attributes["color"]) for o in objs}) == n
    for o in house.objects:
        assert o.attributes["color"] and o.attributes["material"] and o.attributes["size"]
        assert reachable(house.navgrid, o, 1.0)


def test_placement_rules(house):
    rooms = {r.id: r for r in house.plan.rooms}
    for o in house.objects:
        r = rooms[o.room_id]
        x0, z0, x1, z1 = o.footprint
        assert r.x0 <= x0 and x1 <= r.x1 and r.z0 <= z0 and z1 <= r.z1, f"{o.category} {o.id} outside its room"
        if o.category in ("toilet", "bathtub"):
            assert r.type == "bathroom"
        if o.category == "bed":
            assert r.type == "bedroom"
        if o.category in ("oven", "refrigerator"):
            assert r.type == "kitchen"
    fps = [o.footprint for o in house.objects]
    for i in range(len(fps)):
        for j in range(i + 1, len(fps)):
            a, b = fps[i], fps[j]
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "furniture overlaps"


def test_deterministic():
    a, b = generate_house(7), generate_house(7)
    assert json.dumps(a.semantic(), sort_keys=True) == json.dumps(b.semantic(), sort_keys=True)
    assert np.array_equal(a.navgrid.island, b.navgrid.island)


def test_training_houses_exclude_holdout_models():
    from navstack.sim.catalog import load_catalog

    holdout = {e.id for e in load_catalog() if e.holdout}
    for seed in range(5):
        assert not {o.entry_id for o in generate_house(seed).objects} & holdout


def test_save_load_round_trip(house, tmp_path):
    house.save(tmp_path)
    loaded = House.load(tmp_path)
    assert json.loads(json.dumps(loaded.semantic())) == json.loads(json.dumps(house.semantic()))
    assert np.array_equal(loaded.navgrid.navigable, house.navgrid.navigable)
    m0, m1 = house.meshes(), loaded.meshes()
    assert [i for _, i in m0] == [i for _, i in m1]
    for (a, _), (b, _) in zip(m0, m1):
        assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.triangles, b.triangles)
        assert len(a.materials) == len(b.materials)
    assert (tmp_path / "house.semantic.json").exists()
    attribution = loaded.semantic()["attribution"]
    assert attribution and all(r["creator"] and r["license"] for r in attribution)


def test_load_errors(house, tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved house"):
        House.load(tmp_path)
    house.save(tmp_path)
    mesh = tmp_path / "house.mesh.npz"
    data = mesh.read_bytes()
    mesh.write_bytes(data[: len(data) // 2])  # cut short
    with pytest.raises(ValueError, match="house.mesh.npz"):
        House.load(tmp_path)
    sem = tmp_path / "house.semantic.json"
    sem.write_text('{"format": "navstack-scene", "version": 99}')
    with pytest.raises(ValueError, match="version 99"):
        House.load(tmp_path)
    sem.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        House.load(tmp_path)


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        generate_house(-1)
