import math

import numpy as np
import pytest

from navstack.mapping.occupancy import OccupancyConfig, OccupancyGrid
from navstack.planning.action_search import plan_actions
from navstack.planning.navigator import Navigator, NavigatorConfig
from navstack.planning.topo_graph import TopoGraph
from navstack.planning.value_map import ValueMap
from navstack.types import DiscreteAction, heading_vector


def free_forward(blocked=lambda x, z: False):
    def forward(x, z, yaw, d):
        v = heading_vector(yaw)
        ex, ez = x, z
        for i in range(1, 11):
            qx, qz = x + v[0] * d * i / 10, z + v[1] * d * i / 10
            if blocked(qx, qz):
                return ex, ez, True
            ex, ez = qx, qz
        return ex, ez, False
    return forward


def test_action_search_straight_and_around_a_wall():
    goal = np.array([0.0, -3.0])
    dist = lambda x, z: math.hypot(x - goal[0], z - goal[1])  # noqa: E731
    p = plan_actions(0, 0, 0.0, free_forward(), dist, 0.1, 0.25, math.radians(30))
    assert p is not None and all(a == DiscreteAction.MOVE_FORWARD for a in p.actions)
    assert p.cost == pytest.approx(3.0, abs=0.13)
    # A wall across the straight line: the plan must go around it and never through it.
    wall = lambda x, z: abs(z + 1.5) < 0.1 and abs(x) < 1.0  # noqa: E731
    p = plan_actions(0, 0, 0.0, free_forward(wall), dist, 0.1, 0.25, math.radians(30))
    assert p is not None and p.cost > 3.2
    assert not any(wall(x, z) for x, z, _ in p.states)
    assert any(a in (DiscreteAction.TURN_LEFT, DiscreteAction.TURN_RIGHT) for a in p.actions)


def test_action_search_unreachable_returns_none():
    dist = lambda x, z: math.inf  # noqa: E731
    assert plan_actions(0, 0, 0, free_forward(), dist, 0.1, 0.25, math.radians(30)) is None


def grid_with_room():
    occ = OccupancyGrid(OccupancyConfig(initial_size=8.0))
    occ.ensure(-3, -3, 3, 3)
    occ.observed[:] = True
    occ.logodds[:] = -1.0  # free
    r, c = occ.to_cell(np.array([0.0]), np.array([-1.0]))
    occ.logodds[int(r[0]) - 1 : int(r[0]) + 2, :] = 3.0  # a wall along x at z = -1 ...
    gap_c0, gap_c1 = occ.to_cell(np.array([-2.6, -2.0]), np.array([0, 0]))[1]
    occ.logodds[int(r[0]) - 1 : int(r[0]) + 2, int(gap_c0) : int(gap_c1)] = -1.0  # ... with a door at x in [-2.6, -2]
    occ._cache.clear()
    return occ


def test_distance_field_goes_through_the_door():
    occ = grid_with_room()
    nav = Navigator()
    f = nav.distance_field(occ, np.array([[0.0, -2.0]]), 0.0, 0.0)
    d = f(0.0, 0.0)
    assert math.isfinite(d) and d > 4.0  # around through the door at x ~ -2.3, not 2 m straight through
    assert f(0.0, -2.0) == 0.0


def test_targets_filling_their_whole_pocket_are_the_only_reachable_cells():
    # skfmm has no zero level when the targets cover their traversable patch; an eval crashed on it
    from navstack.planning.navigator import DistanceField

    trav = np.zeros((20, 20), bool)
    trav[2:4, 2:4] = True  # a 2x2 pocket, all of it targets
    trav[10:18, 10:18] = True  # the rest of the map, unreachable from the pocket
    targets = np.array([[r, c] for r in (2, 3) for c in (2, 3)])
    f = DistanceField(trav, targets, 0.0, 0.0, 0.1)
    assert f(0.25, 0.25) == 0.0 and f(1.45, 1.45) == math.inf and f.reachable
    f = DistanceField(trav, np.array([[0, 0]]), 0.0, 0.0, 0.1)  # a target off the traversable cells
    assert not f.reachable
    f = DistanceField(trav, np.array([[12, 12]]), 0.0, 0.0, 0.1)
    assert f(1.25, 1.45) == pytest.approx(0.2, abs=0.03) and f(0.25, 0.25) == math.inf


def test_navigator_drives_to_target_on_its_map():
    occ = grid_with_room()
    nav = Navigator()
    x, z, yaw = 0.0, 0.5, 0.0
    trav = nav.traversable(occ, x, z)
    for _ in range(120):
        a = nav.step(occ, x, z, yaw, np.array([[0.5, -2.0]]), "t")
        if a is None:
            break
        if a == DiscreteAction.MOVE_FORWARD:
            # The body moves the full step unless the map's obstacles stop it (no sliding).
            v = heading_vector(yaw)
            for _ in range(10):
                nx, nz = x + 0.025 * v[0], z + 0.025 * v[1]
                r, c = occ.to_cell(nx, nz)
                if not trav[r, c]:
                    break
                x, z = nx, nz
            assert not occ.occupied()[occ.to_cell(x, z)], "the agent ended inside an obstacle"
        elif a == DiscreteAction.TURN_LEFT:
            yaw += math.radians(30)
        elif a == DiscreteAction.TURN_RIGHT:
            yaw -= math.radians(30)
    assert math.hypot(x - 0.5, z + 2.0) < 0.3


def test_collision_cells_stay_occupied_and_block_the_plan():
    occ = grid_with_room()
    nav = Navigator()
    before = nav.distance_field(occ, np.array([[0.0, 2.0]]), 0.0, 0.0)(0.0, 0.0)
    # The body bumped into something the camera missed, 0.25 m ahead (yaw 0 looks along -z... so +z is behind):
    n = occ.mark_blocked(0.0, 1.0, math.pi, 0.25, 0.6)  # a 1.2 m wide invisible obstacle across z = 1.25
    assert n > 0 and occ.occupied()[occ.to_cell(0.0, 1.25)]
    occ.logodds[:] = np.minimum(occ.logodds, -1.0)  # however much free evidence comes afterwards
    occ._cache.clear()
    assert occ.occupied()[occ.to_cell(0.0, 1.25)]
    after = nav.distance_field(occ, np.array([[0.0, 2.0]]), 0.0, 0.0)(0.0, 0.0)
    assert math.isfinite(after) and after > before + 0.3  # the plan goes around it


def test_navigator_squeezes_through_a_doorway_the_map_makes_too_narrow():
    occ = grid_with_room()
    # narrow the door to 0.3 m: closed for a 0.18 m radius body inflated in full, open at 0.3 x the radius
    c0, c1 = occ.to_cell(np.array([-2.6, -2.3]), np.array([0, 0]))[1]
    r = int(occ.to_cell(np.array([0.0]), np.array([-1.0]))[0][0])
    occ.logodds[r - 1: r + 2, int(c0): int(c1)] = 3.0
    occ._cache.clear()
    nav = Navigator()
    full = nav.distance_field(occ, np.array([[0.0, -2.0]]), 0.0, 0.0)
    assert not math.isfinite(full(0.0, 0.0))
    a = nav.step(occ, 0.0, 0.0, 0.0, np.array([[0.0, -2.0]]), "t")
    assert a is not None and math.isfinite(nav.distance_to_target(0.0, 0.0))
    nav_strict = Navigator(NavigatorConfig(fallback_inflation=()))
    assert nav_strict.step(occ, 0.0, 0.0, 0.0, np.array([[0.0, -2.0]]), "t") is None


def test_value_map_writes_the_view_cone():
    from navstack.types import Intrinsics, Observation, Pose

    occ = OccupancyGrid(OccupancyConfig())
    occ.ensure(-5, -5, 5, 5)
    vm = ValueMap()
    obs = Observation(np.zeros((48, 64, 3), np.uint8), np.full((48, 64), 3.0, np.float32),
                      Pose([0, 0, 0], [0, 0, 0, 1]), Intrinsics.from_hfov(64, 48, 79))
    vm.update(occ, obs, 0.7)
    assert vm.near(0.0, -2.0, 0.3) == pytest.approx(0.7)  # ahead (yaw 0 looks along -Z)
    assert math.isnan(vm.near(0.0, 2.0, 0.3))  # behind: never seen
    assert math.isnan(vm.near(0.0, -4.5, 0.3))  # beyond the 3 m depth
    vm.update(occ, obs, 0.1)
    assert 0.1 < vm.near(0.0, -2.0, 0.3) < 0.7
    occ.ensure(-9, -9, 5, 5)  # the grid grows: values stay in world place
    vm.align(occ)
    assert 0.1 < vm.near(0.0, -2.0, 0.3) < 0.7


def test_topo_graph_places_objects_frontiers():
    from types import SimpleNamespace

    g = TopoGraph(place_spacing=1.0)
    for x in np.arange(0, 3.01, 0.25):
        g.update_place(float(x), 0.0, 0.0, None, 0.0)
    assert len(g.places()) == 4
    inst = SimpleNamespace(id=7, centre=np.array([3.0, 0.5, 1.0]))
    g.update_objects([inst], [7])
    f = SimpleNamespace(target=np.array([3.5, -1.0]), size=10)
    g.set_frontiers([f], [0.3])
    route = g.route("object:7")
    assert route[0] == g.current_place and route[-1] == "object:7"
    cands = g.unvisited_candidates(3.0, 0.0)
    assert {c[0] for c in cands} == {"object:7", "frontier:0"}
    g.mark_visited("frontier:0")
    assert {c[0] for c in g.unvisited_candidates(3.0, 0.0)} == {"object:7"}
    g.set_frontiers([])
    assert g.stats()["place"] == 4 and "frontier" not in g.stats()


def test_turning_in_place_is_not_being_stuck():
    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    gs = GoalSearch(GoalSearchConfig(stuck_steps=4), None, None, None, None, None, 30.0)
    gs._reset_progress()
    assert not gs._stuck(5.0, DiscreteAction.MOVE_FORWARD)  # first distance: progress
    # a half turn (6 x 30 degrees) makes no progress and is not "stuck"
    assert not any(gs._stuck(5.0, DiscreteAction.TURN_LEFT) for _ in range(6))
    assert not gs._stuck(4.5, DiscreteAction.MOVE_FORWARD)  # progress resets the count
    # forward moves that get nowhere (a collision) are
    assert [gs._stuck(4.5, DiscreteAction.MOVE_FORWARD) for _ in range(4)] == [False, False, False, True]


def test_a_much_longer_route_is_a_new_route_not_a_stall():
    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    gs = GoalSearch(GoalSearchConfig(stuck_steps=4, reroute_jump=1.0, max_reroutes=2), None, None, None, None, None, 30.0)
    gs._reset_progress(2)
    assert not gs._stuck(3.0, DiscreteAction.MOVE_FORWARD)
    for k in range(2):  # a doorway found blocked: the route jumps from 3 m to 6 m; progress counts from there
        assert not any(gs._stuck(3.0 + 3.0 * (k + 1), DiscreteAction.MOVE_FORWARD) for _ in range(3))
        assert gs.progress[0] == 3.0 + 3.0 * (k + 1)
    # only max_reroutes times per target: a route that keeps growing is a stall after all (2 + 2 steps)
    assert [gs._stuck(12.0, DiscreteAction.MOVE_FORWARD) for _ in range(2)] == [False, True]
    gs._reset_progress(2)  # a new target gets its reroutes back
    assert gs.reroutes_left == 2
    gs._reset_progress()  # a frontier gets none: a growing route there is a stall
    assert not gs._stuck(3.0, DiscreteAction.MOVE_FORWARD)
    assert [gs._stuck(6.0, DiscreteAction.MOVE_FORWARD) for _ in range(4)] == [False, False, False, True]


def test_plans_through_collision_cells_are_a_limited_last_resort():
    occ = grid_with_room()
    # the only door (x in [-2.6, -2]) gets a collision mark across it
    occ.mark_blocked(-2.3, -0.7, 0.0, 0.3, 0.4)
    nav = Navigator(NavigatorConfig(max_collision_overrides=1))
    nav.new_goal()
    assert nav.step(occ, 0.0, 0.0, 0.0, np.array([[0.0, -2.0]]), "t") is not None  # through the mark: allowed
    assert nav._collisions is False
    nav.note_collision()  # ... and it bumped again: the override is used up
    assert nav.step(occ, 0.0, 0.0, 0.0, np.array([[0.0, -2.0]]), "t") is None
    nav.new_goal()  # a new goal gets the overrides back
    assert nav.step(occ, 0.0, 0.0, 0.0, np.array([[0.0, -2.0]]), "t") is not None


def test_a_bumped_forward_step_is_never_planned_again_from_that_pose():
    occ = grid_with_room()
    nav = Navigator()
    nav.new_goal()
    target = np.array([[0.0, 1.5]])  # straight ahead along +z: yaw pi faces +z
    first = nav.step(occ, 0.0, 0.0, math.pi, target, "t")
    assert first == DiscreteAction.MOVE_FORWARD
    # The body did not move: something the map does not show is in the way (e.g. grazing a wall edge).
    nav.note_collision([(0.0, 0.0, math.pi)])
    plan = [nav.step(occ, 0.0, 0.0, math.pi, target, "t")]
    assert plan[0] in (DiscreteAction.TURN_LEFT, DiscreteAction.TURN_RIGHT)
    # Elsewhere, or along another heading, forward steps are planned as before.
    assert nav._bumped(0.0, 0.0, math.pi + math.radians(3)) and not nav._bumped(0.0, 0.0, math.pi + math.radians(30))
    assert not nav._bumped(0.2, 0.0, math.pi)
    nav.note_collision([(3.0, 0.0, math.pi)])
    nav.forget_bumps(near=(2.5, 0.0), radius=1.0)  # only the bumps near a point (the goal search's unwedge)
    assert nav._bumped(0.0, 0.0, math.pi) and not nav._bumped(3.0, 0.0, math.pi)
    nav.forget_bumps()
    assert not nav._bumped(0.0, 0.0, math.pi)
    nav.reset()
    assert nav.step(occ, 0.0, 0.0, math.pi, target, "t") == DiscreteAction.MOVE_FORWARD


def test_frontiers_closed_off_by_collision_cells_are_retried_before_giving_up():
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    occ = grid_with_room()
    # unknown beyond z < -2.5: frontiers there, reachable only through the door ...
    r, _ = occ.to_cell(np.array([0.0]), np.array([-2.5]))
    occ.observed[: int(r[0]), :] = False
    occ.logodds[: int(r[0]), :] = 0.0
    occ._cache.clear()
    # ... which bumps have closed for good as far as the map knows
    occ.mark_blocked(-2.3, -0.7, 0.0, 0.3, 0.4)
    occ._cache.clear()
    nav = Navigator(NavigatorConfig(max_collision_overrides=1))
    nav.new_goal()
    nav.overrides_left = 0  # the overrides of this goal are used up
    smap = SimpleNamespace(occupancy=occ, categories=[], instance_map=SimpleNamespace(instances={}))
    vm = ValueMap()
    gs = GoalSearch(GoalSearchConfig(semantic_exploration=False, frontier_retries=1), smap, vm, TopoGraph(), nav,
                    None, 30.0)
    gs.start(SimpleNamespace(kind="category", category="chair", parsed=SimpleNamespace(category=None)), 0)
    gs.best_candidate = lambda: None  # nothing mapped matches
    assert gs.choose_frontier(0.0, 0.0) is None and gs.unreachable_frontiers > 0
    a = gs.step(None, 0.0, 0.0, 0.0)
    assert gs.mode == "explore" and a != DiscreteAction.STOP, gs.debug
    assert nav.overrides_left == 1 and gs.frontier_retries_left == 0



def test_walled_in_by_its_own_collision_cells_the_agent_forgets_them_once_before_giving_up():
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    occ = grid_with_room()
    r, _ = occ.to_cell(np.array([0.0]), np.array([-2.5]))
    occ.observed[: int(r[0]), :] = False  # frontiers beyond the door
    occ.logodds[: int(r[0]), :] = 0.0
    # bumps all round a pocket between furniture: a ring of collision cells 0.5 m around the agent
    for k in range(24):
        yaw = 2 * np.pi * k / 24
        occ.mark_blocked(0.0, 0.0, yaw, 0.5, 0.1)
    occ._cache.clear()

    def search(unwedge, unwedge_all=0):
        nav = Navigator(NavigatorConfig(max_collision_overrides=1))
        nav.new_goal()
        nav.overrides_left = 0
        smap = SimpleNamespace(occupancy=occ, categories=[], instance_map=SimpleNamespace(instances={}))
        gs = GoalSearch(GoalSearchConfig(semantic_exploration=False, frontier_retries=0, unwedge=unwedge,
                                         unwedge_all=unwedge_all, last_resort=False),
                        smap, ValueMap(), TopoGraph(), nav, None, 30.0)
        gs.start(SimpleNamespace(kind="category", category="chair", parsed=SimpleNamespace(category=None)), 0)
        gs.best_candidate = lambda: None
        return gs

    assert search(0).step(None, 0.0, 0.0, 0.0) == DiscreteAction.STOP  # without: "nothing left to explore"
    assert occ.blocked.any()
    gs = search(1)
    a = gs.step(None, 0.0, 0.0, 0.0)
    assert a != DiscreteAction.STOP and gs.mode == "explore", gs.debug
    assert gs.debug["unwedged_cells"] > 0 and gs.unwedges_left == 0
    assert occ.clear_blocked(0.0, 0.0, 1.0) == 0  # the ring is gone
    # collision cells that closed the doorway 2.4 m off (beyond unwedge_radius): unwedge_all forgets them all
    occ.mark_blocked(-2.3, -0.7, 0.0, 0.3, 0.4)
    occ._cache.clear()
    assert occ.clear_blocked(0.0, 0.0, 1.0) == 0
    assert search(0).step(None, 0.0, 0.0, 0.0) == DiscreteAction.STOP
    gs = search(0, unwedge_all=1)
    assert gs.step(None, 0.0, 0.0, 0.0) != DiscreteAction.STOP and gs.mode == "explore", gs.debug
    assert gs.unwedges_all_left == 0 and gs.debug["unwedged_cells"] > 0 and not occ.blocked.any()


class _Instances(dict):
    """instance_map stand-in: id -> instance, `.instances` like InstanceMap's."""

    @property
    def instances(self):
        return self


def _instance(iid, points):
    """InstanceMap instance stand-in: what the goal search reads."""
    from types import SimpleNamespace

    pts = np.asarray(points, float)
    return SimpleNamespace(id=iid, points=pts, centre=pts.mean(0), bbox_min=pts.min(0), bbox_max=pts.max(0),
                           observations=4)


def test_last_resort_visits_the_best_instance_that_fell_short_once_the_house_is_explored():
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    occ = grid_with_room()  # fully observed: no frontier left
    inst = _instance(5, [[1.0, 0.4, 1.2], [1.2, 0.4, 1.3]])
    smap = SimpleNamespace(occupancy=occ, categories=["chair", "sofa"], instance_map=_Instances({5: inst}))
    # the instance's arg-max is sofa; P(chair) = 0.15 is below the approach threshold but not negligible
    cand = SimpleNamespace(instance_id=5, category="sofa", score=1.0, parts={"category": math.log(0.15)})
    enc = SimpleNamespace(config=SimpleNamespace(w_category=1.0, w_image_clip=1.0), match=lambda g, m: [cand])

    def search(category, **kw):
        nav = Navigator()
        nav.new_goal()
        gs = GoalSearch(GoalSearchConfig(semantic_exploration=False, **kw), smap, ValueMap(), TopoGraph(), nav, enc,
                        30.0)
        gs.start(SimpleNamespace(kind="category", category=category, parsed=SimpleNamespace(category=None)), 0)
        return gs

    gs = search("chair")
    assert gs.best_candidate() is None  # not accepted the normal way
    a = gs.step(None, -1.0, 0.0, 0.0)
    assert gs.mode == "approach" and gs.instance == 5 and gs.last_resort_active and a != DiscreteAction.STOP
    # tried once only: after it, nothing is left and the search ends
    gs.instance, gs.mode, gs.last_resort_active = None, "explore", False
    assert gs.step(None, -1.0, 0.0, 0.0) == DiscreteAction.STOP and gs.mode == "done"
    # a category the map does not know (open vocabulary) or the option off: no last resort
    for gs in (search("piano"), search("chair", last_resort=False)):
        assert gs.step(None, -1.0, 0.0, 0.0) == DiscreteAction.STOP and gs.mode == "done"


def test_text_goals_need_the_named_room_to_be_accepted_and_for_the_last_resort():
    """A description names a room: an instance the map places elsewhere is neither approached as the goal
    nor visited as a last resort (development textnav houses 1118 and 1121 stopped at such instances)."""
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    occ = grid_with_room()
    inst = _instance(5, [[1.0, 0.4, 1.2], [1.2, 0.4, 1.3]])
    smap = SimpleNamespace(occupancy=occ, categories=["cabinet", "sofa"], instance_map=_Instances({5: inst}))
    w = SimpleNamespace(w_category=1.0, w_colour=2.0, w_material=1.0, w_room=0.5, w_image_clip=1.0)

    def search(kind="text", **kw):
        gs = GoalSearch(GoalSearchConfig(semantic_exploration=False, **kw), smap, ValueMap(), TopoGraph(),
                        Navigator(), SimpleNamespace(config=w), 30.0)
        gs.start(SimpleNamespace(kind=kind, category=None, parsed=SimpleNamespace(category="cabinet")), 0)
        return gs

    def cand(p_room, p_cat=0.9, p_colour=0.9, p_material=1 / 8):
        parts = {"category": math.log(p_cat), "colour": w.w_colour * math.log(p_colour),
                 "material": w.w_material * math.log(p_material), "room": w.w_room * math.log(p_room)}
        return SimpleNamespace(instance_id=5, category="cabinet", score=0.0, parts=parts)

    gs = search()
    assert gs.accept(cand(0.4)) and gs.accept(cand(0.16))
    assert not gs.accept(cand(0.12))  # the named room is unlikely: keep looking
    assert not gs.accept(cand(1 / 7))  # no room evidence yet (uniform over 7 types): wait for it
    assert not gs.accept(cand(0.4, p_colour=0.1))  # the colour word still counts
    assert search(room_threshold=0.1).accept(cand(0.12))  # the threshold is the config's
    # the material word only ranks by default (the embedded model cannot see materials); a real CLIP may gate
    assert gs.accept(cand(0.4, p_material=0.01))
    assert not search(material_threshold=0.2).accept(cand(0.4)) and search(material_threshold=0.1).accept(cand(0.4))
    # the last resort's relaxed test: the category may fall short, the room must not be clearly another
    assert gs._plausible(cand(0.12, p_cat=0.15)) and gs._plausible(cand(1 / 7, p_cat=0.15))
    assert not gs._plausible(cand(0.07, p_cat=0.15))
    # category goals have no room phrase: the part is ignored even when present
    assert search(kind="category").accept(cand(0.05))


def test_exploring_in_place_for_idle_steps_gives_the_target_up():
    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    gs = GoalSearch(GoalSearchConfig(idle_steps=10, idle_radius=0.5), None, None, None, None, None, 30.0)
    gs.start(None, 0)
    # walking on: never idle
    assert not any(gs._idle(0.25 * i, 0.0) for i in range(30))
    # dithering within 0.3 m (targets flip-flopping, bumps): idle once the window is full
    wiggle = [gs._idle(3.0 + 0.1 * (i % 3), 0.1 * (i % 2)) for i in range(10)]
    assert wiggle[:-1] == [False] * 9 and wiggle[-1] is True


def _idle_approach(category, points):
    """A GoalSearch approaching instance 5 (the only one, always the best candidate until blacklisted) where
    stalls and bumps never trigger: only the going-nowhere check (10 steps within 0.5 m) can end it."""
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    smap = SimpleNamespace(occupancy=grid_with_room(), categories=[category],
                           instance_map=_Instances({5: _instance(5, points)}))
    cand = SimpleNamespace(instance_id=5, category=category, score=1.0, parts={"category": 0.0})
    nav = Navigator()
    nav.new_goal()
    gs = GoalSearch(GoalSearchConfig(semantic_exploration=False, stuck_steps=1000, max_target_collisions=1000,
                                     idle_steps=10, idle_radius=0.5), smap, ValueMap(), TopoGraph(), nav, None, 30.0)
    gs.start(SimpleNamespace(kind="category", category=category, parsed=SimpleNamespace(category=None)), 0)
    gs.best_candidate = lambda: None if 5 in gs.blacklist else cand
    return gs


def test_approaching_in_place_for_idle_steps_gives_the_instance_up():
    gs = _idle_approach("chair", [[1.0, 0.4, 1.2], [1.2, 0.4, 1.3]])
    modes = []
    for i in range(10):  # the body dithers within 0.2 m of where it was: the planner's steps get it nowhere
        gs.step(None, -1.0 + 0.1 * (i % 3), 0.0, 0.0)
        modes.append(gs.mode)
    assert modes[:9] == ["approach"] * 9, modes
    assert modes[9] == "recover" and 5 in gs.blacklist and gs.instance is None


def test_an_approach_narrowed_by_line_of_sight_is_tried_once_with_all_cells_before_giving_up():
    gs = _idle_approach("tv", [[x, 0.4, -0.8] for x in np.arange(0.0, 0.31, 0.05)])  # against the wall at z = -1
    modes = []
    for i in range(20):  # going nowhere, far from the instance
        gs.step(None, -2.0 + 0.1 * (i % 3), 1.5, 0.0)
        modes.append(gs.mode)
    assert modes[:19] == ["approach"] * 19, modes
    assert 5 in gs.sightless  # the first time: once more without the filter (far side of the wall included)
    assert (gs.approach_cells(5, -2.0, 1.5)[:, 1] < -1.0).any()
    assert modes[19] == "recover" and 5 in gs.blacklist


def test_approach_cells_keep_a_clear_line_to_the_instance():
    """An object against a wall: the far side of the wall is within approach range but out of sight; with
    line_of_sight the approach keeps only the near side, and standing behind the wall is no place to verify."""
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    occ = grid_with_room()  # a wall along x at z = -1 (0.15 m thick)
    inst = _instance(5, [[0.0, 0.4, -0.8], [0.3, 0.4, -0.8]])
    smap = SimpleNamespace(occupancy=occ, categories=["tv"], instance_map=_Instances({5: inst}))

    def search(**kw):
        nav = Navigator()
        nav.new_goal()
        gs = GoalSearch(GoalSearchConfig(**kw), smap, ValueMap(), TopoGraph(), nav, None, 30.0)
        gs.start(None, 0)
        return gs

    blind = search(line_of_sight=False).approach_cells(5, 0.0, 0.5)
    assert (blind[:, 1] < -1.0).any() and (blind[:, 1] > -0.8).any()  # without the test: both sides qualify
    gs = search()
    cells = gs.approach_cells(5, 0.0, 0.5)
    assert len(cells) > 10 and (cells[:, 1] > -1.0).all()
    assert gs._sight_ok(5, 0.1, -0.3) and not gs._sight_ok(5, 0.1, -1.4)
    # furniture between (another mapped instance) does not block: the camera looks over it
    occ2 = grid_with_room()
    r, c = occ2.to_cell(np.array([0.0, 0.3]), np.array([-0.4, -0.4]))
    occ2.logodds[r[0] - 1:r[0] + 2, c[0]:c[1] + 1] = 3.0  # an obstacle strip 0.4 m in front of the object
    occ2._cache.clear()
    smap.occupancy = occ2
    assert not search()._in_sight(occ2, *[np.array([v]) for v in (*occ2.to_cell(0.15, -0.1), *occ2.to_cell(0.15, -0.8))],
                                  (0, occ2.shape[0], 0, occ2.shape[1]))[0]
    smap.instance_map[6] = _instance(6, [[x, 0.4, -0.4] for x in np.arange(0.0, 0.31, 0.05)])  # the obstacle's points
    assert search()._in_sight(occ2, *[np.array([v]) for v in (*occ2.to_cell(0.15, -0.1), *occ2.to_cell(0.15, -0.8))],
                              (0, occ2.shape[0], 0, occ2.shape[1]))[0]


def test_explorer_falls_back_to_tight_frontiers_only_when_no_other_is_left_early():
    from types import SimpleNamespace

    from navstack.mapping.occupancy import Frontier
    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    def frontier(x, z):
        return Frontier(np.array([x, z]), np.array([x, z]), 8, 0.4, np.zeros((8, 2), int))

    lists = {False: [frontier(1.0, 1.0)], True: [frontier(1.0, 1.0), frontier(-2.0, 0.5)]}
    occ = SimpleNamespace(frontiers=lambda tight=False: lists[tight], explored_area=lambda: 12.0,
                          frontier_gain=lambda fs: np.full(len(fs), 10.0))  # no pockets here
    gs = GoalSearch(GoalSearchConfig(tight_frontier_area=20.0), SimpleNamespace(occupancy=occ), None, None, None,
                    None, 30.0)
    gs.start(None, 0)
    assert [tuple(f.target) for f in gs.open_frontiers()] == [(1.0, 1.0)]
    gs.bad_frontiers.append(np.array([1.1, 1.0]))  # the roomy one given up: the tight ones are next
    assert [tuple(f.target) for f in gs.open_frontiers()] == [(-2.0, 0.5)]
    occ.explored_area = lambda: 25.0  # a house explored this far: gaps between furniture, not a way out
    assert gs.open_frontiers() == []
    occ.explored_area = lambda: 12.0
    gs.bad_frontiers.append(np.array([-2.0, 0.4]))
    assert gs.open_frontiers() == []


def test_no_stop_at_an_instance_whose_shape_cannot_be_the_goal_category():
    """A 5 cm slab (a piece of a bed, CLIP says sofa) is refused at the STOP and given up; a sofa-sized
    instance is accepted. Without a shape prior, or with the check off, the map's category decides - and
    it must be sure: P(sofa) 0.6 was enough to approach, not to STOP (`verify_threshold` 0.65)."""
    from types import SimpleNamespace

    from navstack.mapping.instance_map import Detection, InstanceMap
    from navstack.mapping.shape_prior import ShapePrior
    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    def box(x0, x1, y0, y1, z0, z1):
        xs, ys, zs = (np.arange(a + 0.025, b, 0.05) for a, b in ((x0, x1), (y0, y1), (z0, z1)))
        return np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), -1).reshape(-1, 3)

    cats = ["sofa", "bed"]
    imap = InstanceMap(num_categories=2)
    slab, sofa = imap.integrate([Detection(box(0.0, 0.9, 0.45, 0.5, 1.0, 1.2), 1.0),
                                 Detection(box(-2.0, -0.1, 0.0, 0.85, 1.0, 1.9), 1.0)])
    prior = ShapePrior.load().for_categories(cats)
    p_sofa = {"p": 0.9}
    enc = SimpleNamespace(config=SimpleNamespace(w_category=1.0, w_image_clip=1.0),
                          match=lambda g, m: [SimpleNamespace(instance_id=i, category="sofa", score=5.0,
                                                              parts={"category": math.log(p_sofa["p"])})
                                              for i in (slab, sofa)])
    smap = SimpleNamespace(occupancy=grid_with_room(), categories=cats, instance_map=imap)

    def verify(iid, **kw):
        gs = GoalSearch(GoalSearchConfig(semantic_exploration=False, **kw), smap, ValueMap(), TopoGraph(), Navigator(),
                        enc, 30.0)
        gs.start(SimpleNamespace(kind="category", category="sofa", parsed=SimpleNamespace(category=None)), 0)
        c = imap[iid].centre
        gs.instance, gs.mode, gs.verify_turns = iid, "verify", gs.config.max_verify_turns
        return gs, gs._verify(None, float(c[0]), float(c[2]) + 1.0, 0.0)

    imap.set_shape_prior(prior)
    d2 = prior.mahalanobis2(imap[slab].points, imap[slab].voxel)
    assert d2.shape == (2,) and d2[0] > 25.0
    assert prior.mahalanobis2(imap[sofa].points, imap[sofa].voxel)[0] < 25.0
    gs, action = verify(slab)
    assert action != DiscreteAction.STOP and slab in gs.blacklist and gs.debug["shape_distance2"] > 25.0
    assert verify(sofa)[1] == DiscreteAction.STOP
    p_sofa["p"] = 0.6
    gs, action = verify(sofa)
    assert gs.accept(gs.ranked()[1]) and action != DiscreteAction.STOP and sofa in gs.blacklist
    assert verify(sofa, verify_threshold=0.5)[1] == DiscreteAction.STOP
    p_sofa["p"] = 0.9
    assert verify(slab, max_shape_distance2=0)[1] == DiscreteAction.STOP
    imap.set_shape_prior(None)
    assert verify(slab)[1] == DiscreteAction.STOP


def test_exploring_looks_around_again_only_far_from_where_it_last_looked():
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    smap = SimpleNamespace(occupancy=grid_with_room(), categories=["chair"], instance_map=_Instances({}))
    enc = SimpleNamespace(config=SimpleNamespace(w_category=1.0, w_image_clip=1.0), match=lambda g, m: [])

    def search(every):
        gs = GoalSearch(GoalSearchConfig(semantic_exploration=False, last_resort=False, look_around_every=every),
                        smap, ValueMap(), TopoGraph(), Navigator(), enc, 30.0)
        gs.start(SimpleNamespace(kind="category", category="chair", parsed=SimpleNamespace(category=None)), 0)
        return gs

    gs = search(1.0)
    turns = [gs.step(None, 0.0, 0.0, 0.0) for _ in range(12)]
    assert turns == [DiscreteAction.TURN_LEFT] * 12 and gs.looked_from == [(0.0, 0.0)]  # 12 x 30 deg
    # a full turn done: back to exploring (this room has no frontier left: the search ends), no second look
    assert gs.step(None, 0.0, 0.0, 0.0) == DiscreteAction.STOP and gs.mode == "done"
    gs.mode = "explore"
    assert gs.step(None, 0.8, 0.0, 0.0) == DiscreteAction.STOP  # within 1 m of the last look-around
    gs.mode = "explore"
    assert gs.step(None, 1.5, 0.0, 0.0) == DiscreteAction.TURN_LEFT and gs.mode == "spin"
    assert gs.looked_from == [(0.0, 0.0), (1.5, 0.0)]
    gs = search(0.0)  # off: no look-around beyond the start's
    assert gs.step(None, 0.0, 0.0, 0.0) == DiscreteAction.STOP and gs.looked_from == []


def test_exploration_commits_to_its_frontier_while_it_lasts():
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    occ = grid_with_room()
    rows, cols = occ.to_cell(np.array([0.0, 2.5]), np.array([2.5, 0.0]))
    occ.observed[int(rows[0]) :, :] = False  # unknown beyond z > 2.5 ...
    occ.observed[:, int(cols[1]) :] = False  # ... and beyond x > 2.5: a frontier on each side
    occ._cache.clear()
    vm = ValueMap()
    vm.align(occ)
    vm.confidence[:] = 1.0
    smap = SimpleNamespace(occupancy=occ, categories=[], instance_map=SimpleNamespace(instances={}))

    def search(**cfg):
        gs = GoalSearch(GoalSearchConfig(room_weight=0.0, **cfg), smap, vm, TopoGraph(), Navigator(NavigatorConfig()),
                        None, 30.0)
        gs.start(SimpleNamespace(kind="category", category="chair", parsed=SimpleNamespace(category=None)), 0)
        return gs

    def favour(side):  # the value map says the goal lies beyond the frontier on `side`
        vm.value[:] = 0.0
        if side == "z":
            vm.value[int(rows[0]) - 10 :, : int(cols[1]) - 10] = 1.0
        else:
            vm.value[: int(rows[0]) - 10, int(cols[1]) - 10 :] = 1.0

    for mode, switched in (("commit", False), ("margin", True)):
        gs = search(frontier_switch=mode)
        favour("z")
        first = gs.choose_frontier(0.0, 0.0)
        assert first is not None and first.target[1] > 2.0, first.target
        gs.frontier_xz = first.target  # heading there (GoalSearch.step keeps it)
        favour("x")  # new views: the other frontier now looks better
        again = gs.choose_frontier(0.0, 0.0)
        assert (again.target[0] > 2.0) == switched, (mode, again.target)


def grid_with_pocket():
    """A free 6 x 9 m floor, unknown beyond z = 2.5 (a room not yet seen, 3.5 m deep), and a pocket (unknown,
    walled on three sides: the space behind a sofa) at x in [-2, -1.3], z in [-2, -1.5]."""
    occ = OccupancyGrid(OccupancyConfig(initial_size=8.0))
    occ.ensure(-3, -3, 3, 6)
    occ.observed[:] = True
    occ.logodds[:] = -1.0
    r0, c0 = occ.to_cell(-2.0, -2.0)
    r1, c1 = occ.to_cell(-1.3, -1.5)
    occ.observed[r0:r1, c0:c1] = False
    occ.logodds[r0:r1, c0:c1] = 0.0
    occ.logodds[r0 - 2:r0, c0 - 2:c1 + 2] = 3.0  # walls behind and beside the pocket; open towards +z
    occ.logodds[r0:r1, c0 - 2:c0] = 3.0
    occ.logodds[r0:r1, c1:c1 + 2] = 3.0
    rz, _ = occ.to_cell(0.0, 2.5)
    occ.observed[rz:, :] = False
    occ.logodds[rz:, :] = 0.0
    occ._cache.clear()
    return occ


def test_frontier_gain_tells_a_pocket_from_an_unseen_room():
    from navstack.mapping.occupancy import Frontier

    occ = grid_with_pocket()

    def frontier(x, z):
        return Frontier(np.array([x, z]), np.array([x, z]), 8, 0.4, np.zeros((8, 2), int))

    pocket, room = occ.frontier_gain([frontier(-1.65, -1.3), frontier(0.0, 2.4)])
    assert 0.05 < pocket <= 0.35 + 1e-9  # at most the pocket itself: the walls stop the rays
    assert room > 2.0  # rays fanning 3 m into the unseen room (sparser far out than the half disc's 14 m^2)
    assert occ.frontier_gain([]).shape == (0,)
    # the frontiers the grid finds: both are there, and only the room's opens onto more than 1 m^2
    found = occ.frontier_gain(occ.frontiers(tight=True))
    assert (found >= 1.0).sum() >= 1 and (found < 1.0).sum() >= 1


def test_explorer_leaves_pockets_for_last():
    """With `pocket_area` 1.0, a pocket frontier 0.3 m away waits while a frontier opening onto an unseen room
    is left, then is explored like any other; with pocket_area 0 (the default) the nearer pocket goes first."""
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    occ = grid_with_pocket()
    smap = SimpleNamespace(occupancy=occ, categories=[], instance_map=SimpleNamespace(instances={}))

    def search(pocket_area=1.0, **cfg):
        gs = GoalSearch(GoalSearchConfig(room_weight=0.0, semantic_exploration=False, tight_frontier_area=100.0,
                                         pocket_area=pocket_area, **cfg),
                        smap, ValueMap(), TopoGraph(), Navigator(NavigatorConfig()), None, 30.0)
        gs.start(SimpleNamespace(kind="category", category="chair", parsed=SimpleNamespace(category=None)), 0)
        return gs

    near_pocket = (-1.65, -1.0)
    f = search().choose_frontier(*near_pocket)
    assert f is not None and f.target[1] > 2.0, f.target
    f = search(pocket_area=0.0).choose_frontier(*near_pocket)
    assert f is not None and f.target[1] < -1.0, f.target
    gs = search()
    gs.bad_frontiers += [g.target for g in occ.frontiers(tight=True) if g.target[1] > 2.0]  # the room given up
    f = gs.choose_frontier(*near_pocket)
    assert f is not None and f.target[1] < -1.0, f.target


def test_approach_that_detours_round_the_house_is_given_up():
    """Walked + route left above max_detour x the first route + detour_slack: the approach is a detour, across
    retries of the same instance; another instance gets a budget of its own; max_detour 0 turns it off."""
    from types import SimpleNamespace

    from navstack.planning.goal_search import GoalSearch, GoalSearchConfig

    nav = SimpleNamespace(route=4.0, reset=lambda: None)
    gs = GoalSearch(GoalSearchConfig(max_detour=2.0, detour_slack=3.0), None, None, None, nav, None, 30.0)
    gs.start(None, 0)
    gs._begin_approach(7)
    assert not gs._detoured(0.0, 0.0, nav.route)  # budget: 2 x 4 + 3 = 11 m
    nav.route = 3.0
    assert not gs._detoured(1.0, 0.0, nav.route)
    nav.route = 12.0  # the way in front closed: round the house
    assert gs._detoured(2.0, 0.0, nav.route)
    gs._begin_approach(7, retry=True)  # a retry of the same instance keeps what was walked (2 m)
    nav.route = 8.0
    assert not gs._detoured(5.0, 0.0, nav.route)  # no jump from where the last try ended: 2 + 8 <= 11
    nav.route = 7.0
    assert gs._detoured(8.0, 0.0, nav.route)  # walked 2 + 3, + 7 left > 11
    gs._begin_approach(8)
    assert not gs._detoured(8.0, 0.0, nav.route)  # a new instance: a new budget (2 x 7 + 3)
    gs._begin_approach(7)  # instance 7 chosen afresh (say, by the last resort): a new budget too
    nav.route = 20.0
    assert not gs._detoured(30.0, 0.0, nav.route) and not gs._detoured(31.0, 0.0, nav.route)
    nav.route = math.inf  # unreachable is the navigator's to report, not a detour
    assert not gs._detoured(9.0, 0.0, nav.route)
    off = GoalSearch(GoalSearchConfig(max_detour=0.0), None, None, None, nav, None, 30.0)
    off.start(None, 0)
    off._begin_approach(7)
    nav.route = 100.0
    assert not off._detoured(0.0, 0.0, nav.route) and not off._detoured(50.0, 0.0, nav.route)
