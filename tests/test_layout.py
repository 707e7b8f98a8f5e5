import networkx as nx
import pytest

from navstack.sim.layout import ROOM_TYPES, generate_floor_plan


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 17, 9000, 9001])
def test_floor_plan_is_connected_and_typed(seed):
    plan = generate_floor_plan(seed)
    assert 4 <= len(plan.rooms) <= 10
    assert all(r.type in ROOM_TYPES for r in plan.rooms)
    types = [r.type for r in plan.rooms]
    for needed in ("living_room", "kitchen", "bedroom", "bathroom"):
        assert needed in types
    g = nx.Graph()
    g.add_nodes_from(r.id for r in plan.rooms)
    g.add_edges_from(d.rooms for d in plan.doors)
    assert nx.is_connected(g), "every room must be reachable through doorways"
    for d in plan.doors:
        assert 0.9 - 1e-6 <= d.width <= 1.1 + 1e-6


def test_rooms_tile_the_house_without_overlap():
    plan = generate_floor_plan(5)
    x0, z0, x1, z1 = plan.bounds
    assert sum(r.area for r in plan.rooms) == pytest.approx((x1 - x0) * (z1 - z0))
    for a in plan.rooms:
        assert a.x1 - a.x0 >= 2.6 - 1e-6 and a.z1 - a.z0 >= 2.6 - 1e-6
        for b in plan.rooms:
            if a.id < b.id:
                ox = min(a.x1, b.x1) - max(a.x0, b.x0)
                oz = min(a.z1, b.z1) - max(a.z0, b.z0)
                assert ox <= 1e-6 or oz <= 1e-6


def test_doors_are_holes_in_walls():
    plan = generate_floor_plan(3)
    for d in plan.doors:
        cx, cz = d.center
        for w in plan.walls:
            if w.axis == d.axis:
                c = cz if d.axis == "x" else cx
                along = cx if d.axis == "x" else cz
                assert not (abs(w.c - c) < 1e-6 and w.lo < along < w.hi), "a wall crosses a doorway"


def test_deterministic_and_seed_dependent():
    a, b, c = generate_floor_plan(11), generate_floor_plan(11), generate_floor_plan(12)
    assert [(r.type, r.x0, r.z0, r.x1, r.z1) for r in a.rooms] == [(r.type, r.x0, r.z0, r.x1, r.z1) for r in b.rooms]
    assert [(r.x0, r.z0, r.x1, r.z1) for r in a.rooms] != [(r.x0, r.z0, r.x1, r.z1) for r in c.rooms]


def test_room_count_option_and_bad_values():
    assert len(generate_floor_plan(4, num_rooms=10).rooms) == 10
    with pytest.raises(ValueError, match="num_rooms"):
        generate_floor_plan(4, num_rooms=0)
