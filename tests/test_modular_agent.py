"""The modular agent end to end in a generated house (real renderer, real CLIP model from assets/).

These check behaviour that must hold whatever the model's accuracy: a goal that matches nothing
ends the episode cleanly after exploring, memory across GOAT subtasks, and bad goals.
"""

import math

import numpy as np
import pytest

from navstack.agent import make_agent
from navstack.config import SimConfig
from navstack.types import CategoryGoal, DiscreteAction, ImageGoal, TextGoal


@pytest.fixture(scope="module")
def small_house():
    from navstack.sim.scene import HouseConfig, generate_house

    return generate_house(21, HouseConfig(num_rooms=4))


def run(agent, backend, max_steps):
    for step in range(1, max_steps + 1):
        a = agent.act(backend.observe())
        if a == DiscreteAction.STOP:
            return step
        backend.act(a)
    return None


def start(backend, seed=0):
    p = backend.house.navgrid.navigable_points()
    q = p[np.random.default_rng(seed).integers(len(p))]
    backend.reset(position=[q[0], 0, q[1]], rotation=[0, 0, 0, 1])


def test_goal_matching_nothing_ends_cleanly_after_exploring(small_house):
    from navstack.sim.backend import EmbeddedBackend

    sim = SimConfig(width=160, height=120)
    backend = EmbeddedBackend(small_house, sim)
    start(backend)
    agent = make_agent("modular", sim)
    agent.reset(CategoryGoal("piano"))  # no instance of this (open-vocabulary) category can ever match
    steps = run(agent, backend, sim.max_episode_steps)
    assert steps is not None, "the agent must STOP by itself, not run out the step budget"
    assert agent.search.mode == "done"
    x0, z0, x1, z1 = small_house.plan.bounds
    assert agent.smap.occupancy.explored_area() > 0.6 * (x1 - x0) * (z1 - z0), "it explored before giving up"
    assert len(agent.topo.places()) >= 3
    for key in ("occupancy_grid", "instances", "planned_path"):  # what a robot node publishes
        assert getattr(agent, key)() is not None
    # A next GOAT subtask that the kept, fully explored map cannot answer starts over once with a fresh map
    # (spin + exploration) before it gives up, instead of stopping at once.
    agent.next_goal(CategoryGoal("harp"))
    steps2 = run(agent, backend, sim.max_episode_steps)
    assert steps2 is not None and steps2 > 12 and agent.refreshes == 1 and agent.search.mode == "done"


def test_memory_across_subtasks_and_no_memory_ablation(small_house):
    from navstack.sim.backend import EmbeddedBackend

    sim = SimConfig(width=160, height=120)
    backend = EmbeddedBackend(small_house, sim)
    for name, keeps in (("modular", True), ("no-memory", False)):
        start(backend, 1)
        agent = make_agent(name, sim)
        agent.reset(CategoryGoal("piano"))
        run(agent, backend, 20)
        seen = agent.smap.frames
        assert seen == 20
        agent.next_goal(CategoryGoal("harp"))
        assert (agent.smap.frames == seen) == keeps


def test_bad_goals_are_rejected_clearly():
    sim = SimConfig(width=160, height=120)
    agent = make_agent("modular", sim)
    with pytest.raises(ValueError, match="empty"):
        agent.reset(TextGoal("   "))
    with pytest.raises(ValueError):
        agent.reset(TextGoal("chair " * 3000))  # 18 kB of text
    with pytest.raises(ValueError):
        agent.reset(ImageGoal(np.zeros((4, 4), np.float64)))
