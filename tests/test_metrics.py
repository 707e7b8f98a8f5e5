"""habitat-lab Success / SPL / SoftSPL and GOAT-Bench subtask metrics, on hand-worked cases."""

from __future__ import annotations

import math

import pytest

from navstack.tasks.metrics import (
    GOAT_SUCCESS_DISTANCE,
    OBJECTNAV_SUCCESS_DISTANCE,
    EpisodeMetrics,
    aggregate,
    goat_metrics,
    soft_spl,
    spl,
    success,
)

approx = pytest.approx


def test_success_is_strict_and_needs_stop():
    assert OBJECTNAV_SUCCESS_DISTANCE == 0.1 and GOAT_SUCCESS_DISTANCE == 0.25
    assert success(0.0999, True, 0.1) == 1.0
    assert success(0.1, True, 0.1) == 0.0  # habitat: distance_to_target < success_distance
    assert success(0.05, False, 0.1) == 0.0  # no STOP, no success
    assert success(math.inf, True, 0.1) == 0.0  # unreachable
    assert success(math.nan, True, 0.1) == 0.0


def test_spl_and_soft_spl_functions():
    # spl = S * l / max(l, p)
    assert spl(1.0, 4.0, 10.0) == approx(0.4)  # 4 / 10
    assert spl(1.0, 4.0, 3.0) == 1.0  # p < l (l measured to view points, agent cut a corner): l / l
    assert spl(0.0, 4.0, 4.0) == 0.0
    # soft_spl = max(0, 1 - d_end / d_start) * l / max(l, p)
    assert soft_spl(4.0, 1.0, 4.0, 5.0) == approx(0.6)  # (1 - 1/4) * 4/5 = 0.75 * 0.8
    assert soft_spl(4.0, 6.0, 4.0, 5.0) == 0.0  # ended farther than it started: progress clipped to 0
    assert soft_spl(2.0, 0.0, 2.0, 2.0) == 1.0
    with pytest.raises(ValueError):
        spl(1.0, -1.0, 2.0)
    with pytest.raises(ValueError):
        spl(1.0, math.inf, 2.0)


def test_zero_length_shortest_path():
    # l = 0, p > 0: habitat computes 0 / p = 0, even on success
    assert spl(1.0, 0.0, 0.5) == 0.0
    assert soft_spl(0.0, 0.0, 0.0, 0.5) == 0.0
    # l = 0, p = 0 (start on a view point, STOP at once): habitat divides 0/0 (ZeroDivisionError);
    # convention: the path is optimal, SPL = success
    assert spl(1.0, 0.0, 0.0) == 1.0
    assert spl(0.0, 0.0, 0.0) == 0.0
    # d_start = 0: habitat's SoftSPL divides by 0; convention: progress 1 if still at 0, else 0
    assert soft_spl(0.0, 0.0, 0.0, 0.0) == 1.0
    assert soft_spl(0.0, 0.3, 0.0, 0.0) == 0.0
    m = EpisodeMetrics(0.1, start_position=[1.0, 0.0, 1.0], start_distance_to_goal=0.0)
    m.update([1.0, 0.0, 1.0], 0.0, called_stop=True)
    assert m.result() == {"success": 1.0, "spl": 1.0, "soft_spl": 1.0, "distance_to_goal": 0.0,
                          "path_length": 0.0, "steps": 1}


def test_straight_path():
    # goal view point 1 m ahead along -Z; four 0.25 m forward steps, then STOP.
    m = EpisodeMetrics(success_distance=0.1)
    m.reset([0.0, 0.0, 0.0], 1.0)
    for k in range(1, 5):
        m.update([0.0, 0.0, -0.25 * k], 1.0 - 0.25 * k)
    m.update([0.0, 0.0, -1.0], 0.0, called_stop=True)
    r = m.result()
    # path 4 * 0.25 = 1.0 = l  ->  success 1, spl 1 * 1/max(1, 1) = 1, soft_spl (1 - 0/1) * 1 = 1
    assert r == {"success": 1.0, "spl": 1.0, "soft_spl": 1.0, "distance_to_goal": 0.0,
                 "path_length": 1.0, "steps": 5}
    assert m.done
    with pytest.raises(RuntimeError):
        m.update([0.0, 0.0, -1.0], 0.0)  # episode over


def test_detour():
    # l = 4; path (0,0,0) -> (3,0,0) -> (3,0,-4) -> (0,0,-4): 3 + 4 + 3 = 10 m; STOP 0.05 m from a view point.
    m = EpisodeMetrics(0.1, start_position=[0.0, 0.0, 0.0], start_distance_to_goal=4.0)
    m.update([3.0, 0.0, 0.0], 5.0)
    m.update([3.0, 0.0, -4.0], 3.0)
    m.update([0.0, 0.0, -4.0], 0.05)
    m.update([0.0, 0.0, -4.0], 0.05, called_stop=True)  # STOP does not move the agent
    r = m.result()
    assert r["success"] == 1.0 and r["path_length"] == 10.0 and r["steps"] == 4
    assert r["spl"] == approx(0.4)  # 1 * 4 / max(4, 10)
    assert r["soft_spl"] == approx(0.395)  # (1 - 0.05/4) * 0.4 = 0.9875 * 0.4


def test_failure_without_stop():
    # d_start 2; one 5 m move (3-4-5 triangle), ends 1 m away, never calls STOP (step limit reached).
    m = EpisodeMetrics(0.1, start_position=[0.0, 0.0, 0.0], start_distance_to_goal=2.0)
    m.update([3.0, 0.0, -4.0], 1.0)
    r = m.result()
    assert r["success"] == 0.0 and r["spl"] == 0.0
    assert r["path_length"] == 5.0 and r["distance_to_goal"] == 1.0
    assert r["soft_spl"] == approx(0.2)  # (1 - 1/2) * 2 / max(2, 5) = 0.5 * 0.4


def test_stop_outside_success_radius():
    # d_start 1; moves 0.9 m straight; STOP exactly 0.1 m from the view point: 0.1 < 0.1 is false.
    m = EpisodeMetrics(0.1, start_position=[0.0, 0.0, 0.0], start_distance_to_goal=1.0)
    m.update([0.0, 0.0, -0.9], 0.1)
    m.update([0.0, 0.0, -0.9], 0.1, called_stop=True)
    r = m.result()
    assert r["success"] == 0.0 and r["spl"] == 0.0
    assert r["soft_spl"] == approx(0.9)  # (1 - 0.1/1) * 1 / max(1, 0.9)
    assert r["path_length"] == approx(0.9)


def test_soft_spl_partial_progress_with_vertical_motion():
    # path length is 3D Euclidean, like habitat (np.linalg.norm of the position difference):
    # (0,0,0) -> (0,1,0) stairs, 1 m; -> (0,1,-2), 2 m; total 3. d_start 4, end 1.
    m = EpisodeMetrics(0.1, start_position=[0.0, 0.0, 0.0], start_distance_to_goal=4.0)
    m.update([0.0, 1.0, 0.0], 3.5)
    m.update([0.0, 1.0, -2.0], 1.0)
    r = m.result()
    assert r["path_length"] == 3.0
    assert r["soft_spl"] == approx(0.75)  # (1 - 1/4) * 4 / max(4, 3) = 0.75


def test_accumulator_errors():
    m = EpisodeMetrics()
    with pytest.raises(RuntimeError):
        m.update([0.0, 0.0, 0.0], 1.0)
    with pytest.raises(ValueError):
        m.reset([0.0, 0.0], 1.0)
    with pytest.raises(ValueError):
        m.reset([0.0, math.nan, 0.0], 1.0)
    with pytest.raises(ValueError):
        EpisodeMetrics(0.1, start_position=[0.0, 0.0, 0.0])


def test_goat_metrics_hand_worked():
    subtasks = [
        {"type": "object", "success": 1.0, "spl": 0.5, "soft_spl": 0.5},
        {"type": "image", "success": 0.0, "spl": 0.0, "soft_spl": 0.25},
        {"type": "description", "success": 1.0, "spl": 1.0, "soft_spl": 1.0},
        {"task_type": "object", "success": 0.0, "spl": 0.0, "soft_spl": 0.0},
    ]
    r = goat_metrics(subtasks, episode_stop_called=True)
    assert r["num_subtasks"] == 4
    assert r["subtask_types"] == ["object", "image", "description", "object"]
    assert r["subtask_success"] == [1.0, 0.0, 1.0, 0.0]
    assert r["subtask_spl"] == [0.5, 0.0, 1.0, 0.0]
    assert r["success"] == r["partial_success"] == 0.5  # 2 of 4
    assert r["spl"] == r["composite_spl"] == approx(0.375)  # (0.5 + 0 + 1 + 0) / 4
    assert r["soft_spl"] == approx(0.4375)  # (0.5 + 0.25 + 1 + 0) / 4
    assert r["composite_success"] == 0.0 and r["task_success"] == 0.0
    assert r["object_success"] == 0.5 and r["image_success"] == 0.0 and r["description_success"] == 1.0
    assert r["object_spl"] == 0.25 and r["description_spl"] == 1.0

    r = goat_metrics([{"type": "object", "success": 1, "spl": 0.8}, {"type": "object", "success": 1, "spl": 0.6}])
    assert r["composite_success"] == 1.0 and r["spl"] == approx(0.7) and "soft_spl" not in r
    assert r["image_success"] is None and "task_success" not in r
    with pytest.raises(ValueError):
        goat_metrics([])
    with pytest.raises(ValueError):
        goat_metrics([{"type": "audio", "success": 1, "spl": 1}])


def test_goat_subtasks_chain_accumulators():
    # subtask 2 starts where subtask 1 stopped; GoatSPL restarts its path length and start distance.
    a = EpisodeMetrics(0.25, start_position=[0.0, 0.0, 0.0], start_distance_to_goal=2.0)
    a.update([0.0, 0.0, -2.0], 0.2, called_stop=True)  # 0.2 < 0.25: success; spl = 2/2
    b = EpisodeMetrics(0.25, start_position=[0.0, 0.0, -2.0], start_distance_to_goal=1.0)
    b.update([2.0, 0.0, -2.0], 0.5, called_stop=True)  # failure
    r = goat_metrics([dict(a.result(), type="object"), dict(b.result(), type="image")])
    assert r["subtask_success"] == [1.0, 0.0] and r["subtask_spl"] == [1.0, 0.0]
    assert r["subtask_soft_spl"] == approx([0.9, 0.25])  # (1-0.2/2)*1 ; (1-0.5/1)*1/max(1,2)


def test_aggregate():
    eps = [
        {"success": 1.0, "spl": 0.5, "steps": 10, "scene": "a", "subtask_success": [1.0], "image_success": None},
        {"success": 0.0, "spl": 0.0, "steps": 30, "scene": "b", "image_success": 1.0},
        {"success": True, "spl": 0.25, "steps": 20},
    ]
    r = aggregate(eps)
    assert r == {"episodes": 3, "success": approx(2 / 3), "spl": approx(0.25), "steps": 20.0,
                 "image_success": 1.0}
    assert aggregate([]) == {"episodes": 0}


def test_outcome_tells_how_an_episode_ended():
    from navstack.tasks.metrics import outcome, outcome_breakdown

    ok = {"success": 1.0, "called_stop": True, "spl": 0.5, "path_length": 8.0, "geodesic_distance": 4.0}
    late = dict(ok, last_resort=True, spl=0.1, path_length=40.0)
    wrong = {"success": 0.0, "called_stop": True, "spl": 0.0, "agent_mode": "stopped"}
    gave_up = {"success": 0.0, "called_stop": True, "spl": 0.0, "agent_mode": "done"}
    timeout = {"success": 0.0, "called_stop": False, "spl": 0.0, "agent_mode": "explore"}
    assert [outcome(r) for r in (ok, late, wrong, dict(wrong, last_resort=True), gave_up, timeout)] == [
        "success", "success, last resort", "stopped off the goal", "stopped off the goal, last resort",
        "gave up", "out of steps"]
    # an agent that says nothing of itself (oracle, random) still gets the generic outcomes
    assert outcome({"success": 0.0, "called_stop": True}) == "stopped off the goal"
    b = outcome_breakdown([ok, ok, late, timeout])
    assert list(b) == ["success", "success, last resort", "out of steps"]
    assert b["success"]["n"] == 2 and b["success"]["share"] == 0.5
    assert b["success, last resort"]["spl"] == 0.1 and b["success, last resort"]["path_ratio"] == 10.0
    assert b["out of steps"]["path_ratio"] is None  # no path or geodesic known
    assert outcome_breakdown([dict(ok, geodesic_distance=math.inf)])["success"]["path_ratio"] is None
