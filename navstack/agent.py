"""The agent interface every navstack agent implements, and the registry `navstack eval --agent` reads.

Minimal on purpose (home-robot's lesson): `reset(goal)` then `act(observation) -> Action` until it
returns STOP. An agent never imports a backend; privileged agents (the oracle) receive ground truth
through an explicit `PrivilegedInfo` handed over by the evaluation harness, never by reaching into it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from navstack.config import SimConfig
from navstack.types import Action, Goal, Observation


class Agent(abc.ABC):
    name = "agent"

    @abc.abstractmethod
    def reset(self, goal: Goal) -> None:
        """Start navigating to a new goal (a new episode, or the next GOAT subtask)."""

    @abc.abstractmethod
    def act(self, observation: Observation) -> Action:
        """The next action for this observation."""

    def next_goal(self, goal: Goal) -> None:
        """The next subtask of the same episode (GOAT); agents with memory keep it. Default: reset."""
        self.reset(goal)


@dataclass
class PrivilegedInfo:
    """Ground truth for harness agents only.

    distance_to_goal(x, z): geodesic distance (m) to the current goal's nearest view point (the straight line
    where the nav grid reaches none: HouseRunner.goal_distance).
    forward(x, z, yaw, distance) -> (x, z, collided): the simulator's own collision model.
    """

    distance_to_goal: Callable[[float, float], float]
    forward: Callable[[float, float, float, float], tuple]


# factory(sim_config, privileged, seed, **options) -> Agent
AgentFactory = Callable[..., Agent]
_REGISTRY: Dict[str, AgentFactory] = {}
PRIVILEGED_AGENTS = {"oracle"}


def register(name: str):
    def deco(factory: AgentFactory) -> AgentFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def _load_builtin() -> None:
    # Imported lazily so `import navstack.agent` stays light; each module registers its agents.
    from navstack import modular_agent  # noqa: F401
    from navstack.policy import random_agent, shortest_path_follower  # noqa: F401


def available_agents():
    _load_builtin()
    return sorted(_REGISTRY)


def make_agent(name: str, sim_config: SimConfig, privileged: Optional[PrivilegedInfo] = None, seed: int = 0,
               **options) -> Agent:
    """Build a registered agent; `options` are agent-specific (e.g. keep_map for the modular agents)."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown agent {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    if name in PRIVILEGED_AGENTS and privileged is None:
        raise ValueError(f"agent {name!r} needs ground truth (PrivilegedInfo); it only runs under the evaluator")
    return _REGISTRY[name](sim_config, privileged, seed, **options)
