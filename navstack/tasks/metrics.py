"""Navigation metrics with habitat-lab's definitions (habitat/tasks/nav/nav.py) and GOAT-Bench's
(Ram81/goat-bench goat/measurements/nav.py). numpy + stdlib only.

habitat-lab, per step, in this order: DistanceToGoal (geodesic distance from the agent to the
nearest goal view point when distance_to=VIEW_POINTS), Success, SPL, SoftSPL:

* Success = 1.0 if STOP was called and distance_to_goal < success_distance (strict), else 0.0.
  success_distance is 0.1 m for ObjectNav / InstanceImageNav (habitat-lab
  config/habitat/task/objectnav.yaml, instance_imagenav.yaml, both with distance_to: VIEW_POINTS),
  0.25 m for GOAT-Bench (config/tasks/goat_stretch_hm3d.yaml, GoatSuccess).
* SPL = success * l / max(l, p), where l = DistanceToGoal at reset (the geodesic distance from the
  start to the nearest view point) and p = the agent's path length, the sum of the Euclidean
  distances between the agent positions of successive steps (np.linalg.norm(cur - prev)).
* SoftSPL = max(0, 1 - d_end / d_start) * l / max(l, p), with d_start = l = DistanceToGoal at reset
  and d_end = DistanceToGoal now. It does not need STOP.

Degenerate cases. habitat-lab divides unguarded; its DistanceToGoal is a Python float, so:
* l == 0 and p > 0: SPL = success * 0 / p = 0.0 (same here: l / max(l, p) = 0).
* l == 0 and p == 0 (agent starts on a view point and stops at once): habitat raises
  ZeroDivisionError (0.0 / max(0.0, 0.0)). Here: l / max(l, p) is taken as 1 (the path is optimal),
  so SPL = success.
* d_start == 0: habitat's SoftSPL raises ZeroDivisionError (d_end / 0.0) already at reset. Here:
  progress = 1.0 if d_end == 0 else 0.0, then the same path factor as SPL.
Habitat's generators never emit such episodes (they require a minimum geodesic distance), so the
conventions only matter for hand-made or embedded-world episodes. Non-finite or negative lengths
raise ValueError (habitat would produce nan).

habitat takes positions as float32 arrays from the simulator; EpisodeMetrics computes in float64,
so path lengths can differ from habitat's in the 7th significant digit.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

__all__ = [
    "OBJECTNAV_SUCCESS_DISTANCE",
    "GOAT_SUCCESS_DISTANCE",
    "success",
    "spl",
    "soft_spl",
    "EpisodeMetrics",
    "goat_metrics",
    "aggregate",
]

OBJECTNAV_SUCCESS_DISTANCE = 0.1  # habitat-lab task/objectnav.yaml and task/instance_imagenav.yaml
GOAT_SUCCESS_DISTANCE = 0.25  # GOAT-Bench goat_stretch_hm3d.yaml: GoatSuccess success_distance
GOAT_TASK_TYPES = ("object", "image", "description")


def _length(x: Any, name: str) -> float:
    v = float(x)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {x!r}")
    return v


def success(distance_to_goal_at_stop: float, called_stop: bool, success_distance: float) -> float:
    """habitat Success: 1.0 iff STOP was called and distance < success_distance (strict)."""
    return 1.0 if (bool(called_stop) and float(distance_to_goal_at_stop) < float(success_distance)) else 0.0


def _path_factor(l: float, p: float) -> float:
    denom = max(l, p)
    if denom == 0.0:
        return 1.0  # habitat: ZeroDivisionError; convention documented above
    return l / denom


def spl(success: float, shortest_path_length: float, agent_path_length: float) -> float:
    """habitat SPL: success * l / max(l, p)."""
    l = _length(shortest_path_length, "shortest_path_length")
    p = _length(agent_path_length, "agent_path_length")
    return float(success) * _path_factor(l, p)


def soft_spl(start_distance_to_goal: float, end_distance_to_goal: float,
             shortest_path_length: float, agent_path_length: float) -> float:
    """habitat SoftSPL: max(0, 1 - d_end / d_start) * l / max(l, p). habitat uses l = d_start
    (both are DistanceToGoal at reset)."""
    d0 = _length(start_distance_to_goal, "start_distance_to_goal")
    d1 = float(end_distance_to_goal)
    if math.isnan(d1) or d1 < 0:
        raise ValueError(f"end_distance_to_goal must be a non-negative number, got {end_distance_to_goal!r}")
    l = _length(shortest_path_length, "shortest_path_length")
    p = _length(agent_path_length, "agent_path_length")
    if d0 == 0.0:
        progress = 1.0 if d1 == 0.0 else 0.0  # habitat: ZeroDivisionError
    else:
        progress = max(0.0, 1.0 - d1 / d0)
    return progress * _path_factor(l, p)


class EpisodeMetrics:
    """Per-step accumulator reproducing habitat's Success / SPL / SoftSPL / DistanceToGoal.

        m = EpisodeMetrics(success_distance=0.1)
        m.reset(start_position, distance_to_goal)         # at episode start (habitat reset_metric)
        for each action (STOP included):
            m.update(position_after_action, distance_to_goal_after_action, called_stop=action is STOP)
        m.result() -> {success, spl, soft_spl, distance_to_goal, path_length, steps}

    `distance_to_goal` is the geodesic distance to the nearest goal view point. The path length
    grows by |position - previous position| on every update, as in habitat's SPL. For a GOAT episode
    use one accumulator per subtask, reset at the subtask's start (the previous subtask's stop
    pose, distance to the new subtask's goals), exactly as GoatSPL restarts its counters.
    """

    def __init__(self, success_distance: float = OBJECTNAV_SUCCESS_DISTANCE,
                 start_position: Optional[Sequence[float]] = None,
                 start_distance_to_goal: Optional[float] = None):
        self.success_distance = float(success_distance)
        self._prev: Optional[np.ndarray] = None
        self._d_start = math.nan
        self._d = math.nan
        self._path = 0.0
        self._steps = 0
        self._stopped = False
        if start_position is not None or start_distance_to_goal is not None:
            if start_position is None or start_distance_to_goal is None:
                raise ValueError("give both start_position and start_distance_to_goal, or neither")
            self.reset(start_position, start_distance_to_goal)

    @staticmethod
    def _pos(position: Sequence[float]) -> np.ndarray:
        p = np.asarray(position, dtype=np.float64).reshape(-1)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"position must be 3 finite numbers, got {position!r}")
        return p

    def reset(self, position: Sequence[float], distance_to_goal: float) -> None:
        self._prev = self._pos(position)
        self._d_start = _length(distance_to_goal, "distance_to_goal at reset")
        self._d = self._d_start
        self._path = 0.0
        self._steps = 0
        self._stopped = False

    def update(self, position: Sequence[float], distance_to_goal: float, called_stop: bool = False) -> None:
        if self._prev is None:
            raise RuntimeError("EpisodeMetrics.update() before reset()")
        if self._stopped:
            raise RuntimeError("the episode is over (STOP was called); reset() first")
        cur = self._pos(position)
        self._path += float(np.linalg.norm(cur - self._prev, ord=2))
        self._prev = cur
        d = float(distance_to_goal)
        if math.isnan(d) or d < 0:
            raise ValueError(f"distance_to_goal must be a non-negative number, got {distance_to_goal!r}")
        self._d = d
        self._steps += 1
        if called_stop:
            self._stopped = True

    @property
    def done(self) -> bool:
        return self._stopped

    @property
    def path_length(self) -> float:
        return self._path

    @property
    def steps(self) -> int:
        return self._steps

    @property
    def distance_to_goal(self) -> float:
        return self._d

    @property
    def start_distance_to_goal(self) -> float:
        return self._d_start

    def result(self) -> dict:
        if self._prev is None:
            raise RuntimeError("EpisodeMetrics.result() before reset()")
        s = success(self._d, self._stopped, self.success_distance)
        return {
            "success": s,
            "spl": spl(s, self._d_start, self._path),
            "soft_spl": soft_spl(self._d_start, self._d, self._d_start, self._path),
            "distance_to_goal": self._d,
            "path_length": self._path,
            "steps": self._steps,
        }


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs))


def goat_metrics(subtask_results: Sequence[Mapping[str, Any]],
                 episode_stop_called: Optional[bool] = None) -> dict:
    """GOAT-Bench episode metrics (GoatSuccess / GoatSPL / GoatSoftSPL) from per-subtask results.

    Each result: {"type": "object"|"image"|"description", "success", "spl"[, "soft_spl"]} — e.g.
    an `EpisodeMetrics.result()` of that subtask plus its type ("task_type" is accepted too).
    Returns the lists `subtask_success`, `subtask_spl` (GOAT-Bench `spl_by_subtask`)[,
    `subtask_soft_spl`], their means `success` (= GOAT `partial_success`), `spl` (= GOAT
    `composite_spl`)[, `soft_spl` (= `composite_softspl`)], `composite_success` (1.0 iff every
    subtask succeeded), per type `{type}_success` (successes / subtasks of that type) and
    `{type}_spl`, and, when `episode_stop_called` is given, `task_success` (composite success and the
    final STOP called, GOAT `task_success`).
    Difference from GOAT-Bench: for a type absent from the episode GOAT writes `{type}_success` = 0.0;
    here it is None (and `aggregate` skips None), so per-type rates are not diluted.
    """
    results = list(subtask_results)
    if not results:
        raise ValueError("goat_metrics needs at least one subtask result")
    types, succ, spls, softs = [], [], [], []
    for i, r in enumerate(results):
        t = r.get("type", r.get("task_type"))
        if t not in GOAT_TASK_TYPES:
            raise ValueError(f"subtask {i}: type must be one of {GOAT_TASK_TYPES}, got {t!r}")
        types.append(t)
        succ.append(float(r["success"]))
        spls.append(float(r["spl"]))
        if "soft_spl" in r:
            softs.append(float(r["soft_spl"]))
    out: dict = {
        "num_subtasks": len(results),
        "subtask_types": types,
        "subtask_success": succ,
        "subtask_spl": spls,
        "success": _mean(succ),
        "spl": _mean(spls),
        "partial_success": _mean(succ),
        "composite_success": 1.0 if all(s == 1.0 for s in succ) else 0.0,
        "composite_spl": _mean(spls),
    }
    if len(softs) == len(results):
        out["subtask_soft_spl"] = softs
        out["soft_spl"] = _mean(softs)
        out["composite_soft_spl"] = out["soft_spl"]
    for k in GOAT_TASK_TYPES:
        idx = [i for i, t in enumerate(types) if t == k]
        out[f"{k}_success"] = _mean([succ[i] for i in idx]) if idx else None
        out[f"{k}_spl"] = _mean([spls[i] for i in idx]) if idx else None
    if episode_stop_called is not None:
        out["task_success"] = 1.0 if (out["composite_success"] == 1.0 and episode_stop_called) else 0.0
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating, np.bool_)) or isinstance(v, bool)


def aggregate(episode_dicts: Iterable[Mapping[str, Any]]) -> dict:
    """Mean of every numeric metric over episodes: {"episodes": n, key: mean, ...}. A key is averaged
    over the episodes that have a number for it (None, strings, lists, dicts are skipped); NaN
    propagates. Keys keep their order of first appearance."""
    eps = list(episode_dicts)
    sums: dict = {}
    counts: dict = {}
    for d in eps:
        for k, v in d.items():
            if k == "episodes" or not _is_number(v):
                continue
            sums[k] = sums.get(k, 0.0) + float(v)
            counts[k] = counts.get(k, 0) + 1
    out: dict = {"episodes": len(eps)}
    for k in sums:
        out[k] = sums[k] / counts[k]
    return out


# How an episode (or GOAT subtask) ended. The agent's own account (`agent_mode`, `last_resort`) is optional:
# agents that give none (oracle, random) still get success / stopped off the goal / out of steps.
OUTCOMES = ("success", "success, last resort", "stopped off the goal", "stopped off the goal, last resort",
            "gave up", "out of steps")


def outcome(result: Mapping[str, Any]) -> str:
    """One of :data:`OUTCOMES` for a result with `success` and `called_stop`, and optionally the agent's
    `agent_mode` ("done": it stopped because nothing was left to explore) and `last_resort` (it stopped at
    an instance that fell short of its tests before, revisited once the house was explored or most of the
    step budget was spent)."""
    late = bool(result.get("last_resort"))
    if float(result["success"]) > 0:
        return "success, last resort" if late else "success"
    if not result.get("called_stop"):
        return "out of steps"
    if result.get("agent_mode") == "done":
        return "gave up"
    return "stopped off the goal, last resort" if late else "stopped off the goal"


def outcome_breakdown(results: Iterable[Mapping[str, Any]]) -> dict:
    """Per outcome seen: {"n", "share", "spl", "path_ratio"} - path_ratio is the mean of path length over
    geodesic distance where both are known (successes' detours: SPL lost on the way, not at the end)."""
    groups: dict = {}
    rs = list(results)
    for r in rs:
        groups.setdefault(outcome(r), []).append(r)
    out = {}
    for name in OUTCOMES:
        g = groups.get(name)
        if not g:
            continue
        ratios = [float(r["path_length"]) / float(r["geodesic_distance"]) for r in g
                  if r.get("path_length") is not None and r.get("geodesic_distance") is not None
                  and 0 < float(r["geodesic_distance"]) < math.inf]
        out[name] = {"n": len(g), "share": len(g) / len(rs), "spl": _mean([float(r["spl"]) for r in g]),
                     "path_ratio": _mean(ratios) if ratios else None}
    return out
