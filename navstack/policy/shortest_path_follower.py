"""The oracle: plans the shortest sequence of Habitat's discrete actions to the goal and follows it.

A harness check (like habitat-lab's ShortestPathFollower), not a navigation method: it is handed the
exact geodesic distance to the goal and the simulator's own collision model, searches with
`planning.action_search`, re-plans whenever the body ends up somewhere the plan did not predict, and
calls STOP inside the success distance.
"""

from __future__ import annotations

import math
from typing import List

from navstack.agent import Agent, PrivilegedInfo, register
from navstack.config import SimConfig
from navstack.planning.action_search import plan_actions
from navstack.types import DiscreteAction, Goal, Observation


class ShortestPathFollower(Agent):
    name = "oracle"

    def __init__(self, sim: SimConfig, privileged: PrivilegedInfo, stop_margin: float = 0.02, weight: float = 1.05):
        self.sim = sim
        self.info = privileged
        self.stop_distance = sim.success_distance - stop_margin
        self.weight = weight
        self.plan: List[tuple] = []  # [(action, predicted x, z after it)]
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
            p = plan_actions(x, z, yaw, self.info.forward, self.info.distance_to_goal, self.stop_distance,
                             self.sim.forward_step_size, math.radians(self.sim.turn_angle), self.weight)
            if p is None or not p.actions:
                return DiscreteAction.STOP  # unreachable: stop where we are
            self.plan = [(a, s[0], s[1]) for a, s in zip(p.actions, p.states[1:])]
        action, px, pz = self.plan.pop(0)
        self._expect = (px, pz)
        return action


@register("oracle")
def _make(sim: SimConfig, privileged: PrivilegedInfo, seed: int, **options) -> Agent:
    return ShortestPathFollower(sim, privileged)
