"""The oracle: plans the shortest sequence of Habitat's discrete actions to the goal and follows it.

A harness check (like habitat-lab's ShortestPathFollower), not a navigation method: it is handed the
exact geodesic distance to the goal and the simulator's own collision model. Greedy descent with 30
degree headings and no sliding gets stuck on door corners, so it searches instead: A* over states
(position, heading index), actions forward / turn left / turn right, cost = metres walked (+ a tiny
cost per turn), heuristic = geodesic distance. It re-plans whenever the body ends up somewhere the
plan did not predict, and calls STOP inside the success distance.
"""

from __future__ import annotations

import heapq
import math
from typing import List, Optional

from navstack.agent import Agent, PrivilegedInfo, register
from navstack.config import SimConfig
from navstack.types import DiscreteAction, Goal, Observation

TURN_COST = 1e-3
KEY_RES = 0.02  # positions closer than this are one search state


class ShortestPathFollower(Agent):
    name = "oracle"

    def __init__(self, sim: SimConfig, privileged: PrivilegedInfo, stop_margin: float = 0.02,
                 weight: float = 1.05, max_expansions: int = 60000):
        self.sim = sim
        self.info = privileged
        self.stop_distance = sim.success_distance - stop_margin
        self.turn = math.radians(sim.turn_angle)
        self.n_headings = max(1, int(round(2 * math.pi / self.turn)))
        self.weight = weight
        self.max_expansions = max_expansions
        self.plan: List[tuple] = []  # [(action, predicted x, z, heading index after it)]
        self._expect = None

    def reset(self, goal: Goal) -> None:
        self.goal = goal
        self.plan = []
        self._expect = None

    def act(self, obs: Observation) -> DiscreteAction:
        x, z, yaw = float(obs.pose.position[0]), float(obs.pose.position[2]), obs.pose.yaw
        if self.info.distance_to_goal(x, z) <= self.stop_distance:
            return DiscreteAction.STOP
        if self.plan and (self._expect is None or math.hypot(self._expect[0] - x, self._expect[1] - z) > 1e-3):
            self.plan = []  # the world did not do what the plan said: re-plan from here
        if not self.plan:
            self.base_yaw = yaw
            self.plan = (self._search(x, z) or [None])[1:]  # first entry is the current state
            if not self.plan:
                return DiscreteAction.STOP  # unreachable, or no step gets closer: stop here
        action, px, pz, _ = self.plan.pop(0)
        self._expect = (px, pz)
        return action

    def _yaw(self, k: int) -> float:
        return self.base_yaw + k * self.turn

    def _search(self, x0: float, z0: float) -> Optional[List[tuple]]:
        h = self.info.distance_to_goal
        step = self.sim.forward_step_size
        start = (x0, z0, 0)
        key = lambda x, z, k: (round(x / KEY_RES), round(z / KEY_RES), k)  # noqa: E731
        open_: list = [(self.weight * h(x0, z0), 0.0, 0, start)]
        parent = {key(*start): (None, None, start)}
        best_g = {key(*start): 0.0}
        counter = 0
        while open_ and counter < self.max_expansions:
            _, g, _, s = heapq.heappop(open_)
            x, z, k = s
            if g > best_g.get(key(x, z, k), math.inf) + 1e-9:
                continue
            if h(x, z) <= self.stop_distance:
                return self._unwind(parent, key(x, z, k))
            counter += 1
            nx, nz, _ = self.info.forward(x, z, self._yaw(k), step)
            moved = math.hypot(nx - x, nz - z)
            succ = [(DiscreteAction.TURN_LEFT, (x, z, (k + 1) % self.n_headings), TURN_COST),
                    (DiscreteAction.TURN_RIGHT, (x, z, (k - 1) % self.n_headings), TURN_COST)]
            if moved > 1e-3:
                succ.append((DiscreteAction.MOVE_FORWARD, (nx, nz, k), moved))
            for action, ns, cost in succ:
                d = h(ns[0], ns[1])
                if not math.isfinite(d):
                    continue
                ng = g + cost
                nk = key(*ns)
                if ng < best_g.get(nk, math.inf) - 1e-9:
                    best_g[nk] = ng
                    parent[nk] = (key(x, z, k), action, ns)
                    heapq.heappush(open_, (ng + self.weight * d, ng, id(ns), ns))
        return None

    def _unwind(self, parent: dict, k) -> List[tuple]:
        out = []
        while k is not None:
            pk, action, state = parent[k]
            out.append((action, state[0], state[1], state[2]))
            k = pk
        out.reverse()
        # out[i] = (action that led to state i, state i); return (action, predicted state after it).
        return [(None, out[0][1], out[0][2], out[0][3])] + [(a, x, z, k) for a, x, z, k in out[1:]]


@register("oracle")
def _make(sim: SimConfig, privileged: PrivilegedInfo, seed: int) -> Agent:
    return ShortestPathFollower(sim, privileged)
