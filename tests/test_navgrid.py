import math

import numpy as np
import pytest

from navstack.sim.navgrid import NavGrid


def open_room(obstacles=()):
    return NavGrid((0, 0, 6, 6), [(0, 0, 6, 6)], obstacles, agent_radius=0.18, resolution=0.05)


def test_clearance_respects_agent_radius():
    g = open_room()
    assert g.is_navigable(3.0, 3.0)
    assert g.is_navigable(0.25, 3.0)
    assert not g.is_navigable(0.1, 3.0), "closer to the outside than the agent radius"
    assert not g.is_navigable(-1.0, 3.0)


def test_is_occupied_marks_obstacles_and_the_outside():
    g = open_room([(3.0, 3.0, 0.5, 0.5, 0.0)])  # a 1 m box in the middle
    assert g.is_occupied(3.0, 3.0) and not g.is_occupied(1.0, 1.0)
    assert g.is_occupied(-0.2, 3.0), "outside the room, within the grid's margin"
    assert not g.is_occupied(-5.0, 3.0), "off the grid"
    assert g.is_occupied(np.array([3.0, 1.0, -5.0]), np.array([3.0, 1.0, 3.0])).tolist() == [True, False, False]


def test_geodesic_in_open_space_matches_euclid():
    g = open_room()
    for a, b in [((1, 1), (5, 5)), ((1, 3), (5, 3.5)), ((0.5, 5.5), (5.5, 0.5))]:
        d = g.geodesic_distance(a, [b])
        assert d == pytest.approx(math.dist(a, b), rel=0.02)


def test_geodesic_goes_around_a_wall():
    wall = (3.0, 2.5, 0.05, 2.5, 0.0)  # x = 3 from z = 0 to 5: passage only at z > 5
    g = open_room([wall])
    a, b = (1.5, 1.0), (4.5, 1.0)
    d = g.geodesic_distance(a, [b])
    # Around the wall end at (3, 5 + clearance): two legs of about sqrt(1.5^2 + 4.2^2).
    lower = 2 * math.hypot(1.5, 4.0 + 0.05 + 0.18)
    assert lower - 0.05 < d < lower + 0.4
    path = g.shortest_path(a, [b])
    assert g.is_navigable(path[:, 0], path[:, 1], island_only=False).all()
    assert np.linalg.norm(np.diff(path, axis=0), axis=1).sum() == pytest.approx(d, rel=0.05)


def test_unreachable_is_inf_and_segment_blocking():
    box = (4.5, 4.5, 0.8, 0.8, 0.0)
    g = open_room([box])
    assert math.isinf(g.geodesic_distance((1, 1), [(4.5, 4.5)]))  # inside the obstacle
    assert g.segment_free((1, 4.5), (5.5, 4.5)) < 1.0
    assert g.segment_free((1, 1), (2, 1)) == 1.0


def test_rotated_obstacle_and_bad_parameters():
    g = open_room([(3, 3, 1.0, 0.1, math.pi / 4)])
    assert not g.is_navigable(3 + 0.5, 3 - 0.5, island_only=False)  # on the rotated bar
    assert g.is_navigable(3 + 0.5, 3 + 0.5, island_only=False)
    with pytest.raises(ValueError):
        NavGrid((0, 0, 1, 1), [(0, 0, 1, 1)], [], agent_radius=0.18, resolution=0)
    with pytest.raises(ValueError, match="no navigable"):
        NavGrid((0, 0, 0.2, 0.2), [(0, 0, 0.2, 0.2)], [], agent_radius=0.18)


def test_rooms_touching_only_at_a_corner_do_not_connect():
    # Motion and geodesic agree: the fast marching steps between 4-neighbours, so a straight move must not
    # slip through two navigable cells that share only a corner (the agent would end in a pocket the
    # metrics call unreachable).
    g = NavGrid((0, 0, 2, 2), [(0, 0, 1, 1), (1, 1, 2, 2)], [], agent_radius=0.0, resolution=0.05)
    r0, c0 = g.spec.to_cell(0.975, 0.975)
    r1, c1 = g.spec.to_cell(1.025, 1.025)
    assert g.navigable[r0, c0] and g.navigable[r1, c1] and not g.navigable[r0, c1] and not g.navigable[r1, c0]
    assert not math.isfinite(g.geodesic_distance((0.5, 0.5), np.array([[1.5, 1.5]])))
    frac = g.segment_free((0.5, 0.5), (1.5, 1.5), step=0.01)
    assert 0.4 < frac < 0.5  # stops before the corner
    assert g.segment_free((0.2, 0.2), (0.8, 0.8), step=0.01) == 1.0  # diagonal moves inside a room are free


def test_a_target_on_a_cut_off_cell_reads_zero_there_and_inf_elsewhere():
    # Fast marching finds no zero level when the targets fill their whole navigable patch (a one-cell
    # island, as in house 115): the field must say so instead of raising.
    g = open_room()
    g.navigable[:] = False
    g.navigable[10, 10] = True
    g.navigable[40:60, 40:60] = True
    x, z = g.spec.x0 + 10.5 * g.spec.resolution, g.spec.z0 + 10.5 * g.spec.resolution
    field = g.distance_field(np.array([[x, z]]))
    assert field[10, 10] == 0.0 and np.isinf(field[40:60, 40:60]).all()
    assert len(g.shortest_path((2.5, 2.5), [(x, z)])) == 0


def test_a_start_inside_the_clearance_is_snapped_not_infinite():
    # the body can stop closer to a wall than the grid's clearance (a GOAT subtask ending there): the
    # next subtask's distance must be finite, and never shorter than the straight line
    g = open_room()
    start, goal = (0.1, 3.0), (5.0, 3.0)
    assert not g.is_navigable(*start, island_only=False)
    d = g.geodesic_distance(start, [goal])
    assert math.isfinite(d) and 4.9 - 1e-6 <= d <= 4.9 + 0.2
    assert math.isinf(g.geodesic_distance(start, [goal], snap_radius=0.0))
    assert math.isinf(g.geodesic_distance((-2.0, 3.0), [goal]))  # far outside: nothing within reach
