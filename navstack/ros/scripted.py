"""`scripted-ros-test`: a goal-independent agent that proves the ROS loop end to end.

It ignores the goal and the images: drives forward, turns left, then calls STOP, timed by the observation
stamps (so it behaves the same whatever the frame rate). Its commands deliberately ask for more than a
robot's limits allow (the bridge must clamp them). Registered in navstack's agent registry when this module
is imported (the agent node and the ROS tests import it). Not a navigation method.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from navstack.agent import Agent, register
from navstack.types import Action, DiscreteAction, Goal, Observation, VelocityCommand

NAME = "scripted-ros-test"
# (linear m/s, angular rad/s, seconds)
DEFAULT_SCHEDULE: Tuple[Tuple[float, float, float], ...] = ((0.6, 0.0, 2.5), (0.0, 1.5, 2.0))


class ScriptedRosTestAgent(Agent):
    name = NAME

    def __init__(self, schedule: Sequence[Tuple[float, float, float]] = DEFAULT_SCHEDULE, dt: float = 0.1):
        self.schedule = [tuple(float(v) for v in s) for s in schedule]
        self.dt = dt
        self.t0: Optional[float] = None
        self.goal: Optional[Goal] = None

    def reset(self, goal: Goal) -> None:
        self.goal = goal
        self.t0 = None

    def act(self, obs: Observation) -> Action:
        if self.t0 is None:
            self.t0 = obs.stamp
        t = obs.stamp - self.t0
        for linear, angular, duration in self.schedule:
            if t < duration:
                return VelocityCommand(linear, angular, self.dt)
            t -= duration
        return DiscreteAction.STOP


@register(NAME)
def _make(sim, privileged, seed: int) -> Agent:
    return ScriptedRosTestAgent()
