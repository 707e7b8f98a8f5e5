"""The random baseline: uniformly random movement actions, STOP with small probability (Habitat's)."""

from __future__ import annotations

import numpy as np

from navstack.agent import Agent, register
from navstack.types import DiscreteAction, Goal, Observation


class RandomAgent(Agent):
    name = "random"

    def __init__(self, seed: int = 0, stop_probability: float = 0.01):
        self.rng = np.random.default_rng(seed)
        self.stop_probability = stop_probability

    def reset(self, goal: Goal) -> None:
        self.goal = goal

    def act(self, obs: Observation) -> DiscreteAction:
        if self.rng.random() < self.stop_probability:
            return DiscreteAction.STOP
        return DiscreteAction(int(self.rng.choice([1, 2, 3])))


@register("random")
def _make(sim, privileged, seed: int, **options) -> Agent:
    return RandomAgent(seed)
