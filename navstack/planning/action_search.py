"""A* over Habitat's discrete actions: the shortest forward/turn sequence to a goal region.

Greedy descent with 30 degree headings and no sliding gets stuck on door corners, so planners search:
states are (position, heading index), actions forward / turn left / turn right, cost = metres walked
plus a tiny cost per turn, heuristic = a distance field to the goal (weighted A*). Both the oracle
(ground-truth collision model and geodesic) and the modular agent (its own occupancy map) use it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from navstack.types import DiscreteAction

TURN_COST = 1e-3
KEY_RES = 0.02  # positions closer than this are one search state


@dataclass
class ActionPlan:
    """actions[i] leads to states[i + 1]; states[0] is the start (x, z, heading index)."""

    actions: List[DiscreteAction]
    states: List[Tuple[float, float, int]]
    cost: float


def plan_actions(
    x0: float,
    z0: float,
    yaw0: float,
    forward: Callable[[float, float, float, float], tuple],
    distance: Callable[[float, float], float],
    goal_radius: float,
    step: float,
    turn: float,
    weight: float = 1.05,
    max_expansions: int = 60000,
) -> Optional[ActionPlan]:
    """Search from (x0, z0, yaw0) until `distance(x, z) <= goal_radius`.

    forward(x, z, yaw, step) -> (x', z', collided): the motion model (stops at contact).
    distance(x, z): heuristic distance to the goal region (inf = unreachable / forbidden).
    Returns None when no plan is found within `max_expansions`.
    """
    n_headings = max(1, int(round(2 * math.pi / turn)))

    def key(x, z, k):
        return (round(x / KEY_RES), round(z / KEY_RES), k)

    start = (x0, z0, 0)
    h0 = distance(x0, z0)
    if not math.isfinite(h0):
        return None
    open_: list = [(weight * h0, 0.0, 0, start)]
    parent = {key(*start): (None, None, start)}
    best_g = {key(*start): 0.0}
    expansions = 0
    tie = 0
    while open_ and expansions < max_expansions:
        _, g, _, s = heapq.heappop(open_)
        x, z, k = s
        ks = key(x, z, k)
        if g > best_g.get(ks, math.inf) + 1e-9:
            continue
        if distance(x, z) <= goal_radius:
            return _unwind(parent, ks, g)
        expansions += 1
        nx, nz, _ = forward(x, z, yaw0 + k * turn, step)
        moved = math.hypot(nx - x, nz - z)
        succ = [(DiscreteAction.TURN_LEFT, (x, z, (k + 1) % n_headings), TURN_COST),
                (DiscreteAction.TURN_RIGHT, (x, z, (k - 1) % n_headings), TURN_COST)]
        if moved > 1e-3:
            succ.append((DiscreteAction.MOVE_FORWARD, (nx, nz, k), moved))
        for action, ns, cost in succ:
            d = distance(ns[0], ns[1])
            if not math.isfinite(d):
                continue
            ng = g + cost
            nk = key(*ns)
            if ng < best_g.get(nk, math.inf) - 1e-9:
                best_g[nk] = ng
                parent[nk] = (ks, action, ns)
                tie += 1
                heapq.heappush(open_, (ng + weight * d, ng, tie, ns))
    return None


def _unwind(parent: dict, k, cost: float) -> ActionPlan:
    actions, states = [], []
    while k is not None:
        pk, action, state = parent[k]
        states.append(state)
        if action is not None:
            actions.append(action)
        k = pk
    return ActionPlan(actions[::-1], states[::-1], cost)
