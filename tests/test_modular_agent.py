"""The modular agent end to end in a generated house (real renderer, real CLIP model from assets/).

These check behaviour that must hold whatever the model's accuracy: a goal that matches nothing
ends the episode cleanly after exploring, memory across GOAT subtasks, and bad goals.
"""


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
        weights = [i.category_weight for i in agent.smap.instance_map.instances.values()]
        agent.next_goal(CategoryGoal("harp"))
        assert (agent.smap.frames == seen) == keeps
        if keeps:  # the kept instances' evidence is discounted: fresh views decide the next STOP
            w = agent.config.remembered_evidence_weight
            assert w < 1 and weights
            assert np.allclose([i.category_weight for i in agent.smap.instance_map.instances.values()],
                               np.array(weights) * w)


def test_bad_goals_are_rejected_clearly():
    sim = SimConfig(width=160, height=120)
    agent = make_agent("modular", sim)
    with pytest.raises(ValueError, match="empty"):
        agent.reset(TextGoal("   "))
    with pytest.raises(ValueError):
        agent.reset(TextGoal("chair " * 3000))  # 18 kB of text
    with pytest.raises(ValueError):
        agent.reset(ImageGoal(np.zeros((4, 4), np.float64)))


def test_hurry_visits_near_misses_before_the_step_budget_runs_out(small_house):
    from navstack.modular_agent import ModularAgent, ModularConfig
    from navstack.sim.backend import EmbeddedBackend

    sim = SimConfig(width=160, height=120, max_episode_steps=80)
    backend = EmbeddedBackend(small_house, sim)
    start(backend, 2)
    # nothing is ever accepted (threshold > 1), anything is plausible as a last resort
    cfg = ModularConfig(hurry_after=0.5, search={"match_threshold": 1.01, "last_resort_min_p": 0.0})
    agent = ModularAgent(sim, cfg)
    agent.reset(CategoryGoal("chair"))
    hurried = []
    for step in range(sim.max_episode_steps):
        a = agent.act(backend.observe())
        hurried.append(agent.search.last_resort_active or bool(agent.search.last_resort_tried))
        if a == DiscreteAction.STOP:
            break
        backend.act(a)
    assert not any(hurried[:40]), "no last resort while the budget lasts and the house is not explored"
    assert any(hurried[40:]), "past half the budget the agent visits its best near-miss"
    with pytest.raises(ValueError, match="hurry_after"):
        ModularAgent(sim, ModularConfig(hurry_after=0))


def test_stop_needs_the_instance_in_view_when_required(small_house):
    """require_visible_at_stop: facing a remembered instance that is not observed in this frame gives the
    stand point up (approach elsewhere) instead of STOP; the approach then avoids that stand point. With
    `visible_points`, one whose mapped points are in view unhidden is judged there instead."""
    from navstack.modular_agent import ModularAgent, ModularConfig
    from navstack.sim.backend import EmbeddedBackend

    sim = SimConfig(width=160, height=120)
    backend = EmbeddedBackend(small_house, sim)
    start(backend, 1)
    agent = ModularAgent(sim, ModularConfig(search={"require_visible_at_stop": True, "visible_points": 40}))
    agent.reset(CategoryGoal("piano"))
    obs = None
    for _ in range(14):
        obs = backend.observe()
        backend.act(agent.act(obs))
    obs = backend.observe()
    agent.act(obs)
    x, z, yaw = float(obs.pose.position[0]), float(obs.pose.position[2]), float(obs.pose.yaw)
    search, imap = agent.search, agent.smap.instance_map
    # one out of sight (behind the camera or hidden) and one in view but, say, not associated in this frame
    hidden = [i for i in imap.instances if agent.smap.visible_box(obs, i) is None]
    shown = [i for i in imap.instances if agent.smap.visible_box(obs, i, min_points=search.config.visible_points)]
    assert hidden and shown
    for i in imap.instances:
        imap[i].last_frame = imap.frame - 5  # none observed in the current frame
    search.instance, search.mode, search.verify_turns = shown[0], "verify", search.config.max_verify_turns
    search._verify(obs, x, z, yaw)
    assert shown[0] not in search.unseen_stands  # its mapped points are in view: judged here, not walked off
    iid = next(i for i in hidden if len(search.approach_cells(i, x, z)) > 10)
    search.instance, search.mode, search.verify_turns = iid, "verify", search.config.max_verify_turns
    assert search._verify(obs, x, z, yaw) == DiscreteAction.TURN_LEFT
    assert search.mode == "approach" and search.unseen_stands[iid] == [(x, z)]
    assert search._at_unseen_stand(iid, x + 0.1, z) and not search._at_unseen_stand(iid, x + 2.0, z)
    cells = search.approach_cells(iid, x, z)
    assert len(cells) == 0 or np.min(np.hypot(cells[:, 0] - x, cells[:, 1] - z)) > search.config.unseen_stand_radius
    # after max_unseen_stands such stand points the instance is given up
    for k in range(search.config.max_unseen_stands - 1):
        search.instance, search.mode = iid, "verify"
        search._verify(obs, x + 3.0 * (k + 1), z, yaw)
    assert iid in search.blacklist and search.mode == "recover"


def test_misspelt_agent_config_blocks_name_the_block_and_its_options():
    from navstack.modular_agent import ModularAgent, ModularConfig

    sim = SimConfig(width=160, height=120)
    with pytest.raises(ValueError, match="search: not a GoalSearchConfig option: match_treshold; options: .*match_threshold"):
        ModularAgent(sim, ModularConfig(search={"match_treshold": 0.3}))
    with pytest.raises(ValueError, match="navigator: not a NavigatorConfig option: foo"):
        ModularAgent(sim, ModularConfig(navigator={"foo": 1}))
    # the ablation switch lives at the top level; a search block cannot quietly undo frontier-only
    with pytest.raises(ValueError, match="search: semantic_exploration cannot be set here"):
        ModularAgent(sim, ModularConfig(search={"semantic_exploration": True}))
    with pytest.raises(ValueError, match="frontier_switch must be one of margin, commit, nearer, got 'sticky'"):
        ModularAgent(sim, ModularConfig(search={"frontier_switch": "sticky"}))
    agent = ModularAgent(sim, ModularConfig(search={"match_threshold": 0.3}, navigator={}))
    assert agent.search.config.match_threshold == 0.3


def test_the_clip_model_is_chosen_by_the_agent_config(tmp_path):
    import shutil

    from navstack.modular_agent import ModularAgent, ModularConfig
    from navstack.perception.clip_encoder import DEFAULT_MODEL_CONFIG, DEFAULT_WEIGHTS

    sim = SimConfig(width=160, height=120)
    weights = tmp_path / "mine.safetensors"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    agent = ModularAgent(sim, ModularConfig(clip={"weights": str(weights), "model_config": str(DEFAULT_MODEL_CONFIG),
                                                  "threads": 1}))
    assert agent.encoder.config.weights == str(weights) and agent.encoder.config.threads == 1
    with pytest.raises(ValueError, match="clip: not a ClipConfig option: weigths; options: .*weights"):
        ModularAgent(sim, ModularConfig(clip={"weigths": str(weights)}))
    with pytest.raises(Exception, match="missing.safetensors"):
        ModularAgent(sim, ModularConfig(clip={"weights": str(tmp_path / "missing.safetensors")}))


def test_shipped_agent_config_states_the_defaults():
    """configs/agent/modular.yaml documents the defaults: a key there that differs from ModularConfig's field
    default would make `navstack eval` (which reads the file) and ModularConfig() (tests, the API) disagree."""
    import dataclasses

    import yaml

    from navstack.config import CONFIG_DIR
    from navstack.modular_agent import ModularConfig

    shipped = yaml.safe_load((CONFIG_DIR / "agent" / "modular.yaml").read_text())
    defaults = {f.name: getattr(ModularConfig(), f.name) for f in dataclasses.fields(ModularConfig)}
    assert set(shipped) <= set(defaults), f"unknown keys: {set(shipped) - set(defaults)}"
    differ = {k: (v, defaults[k]) for k, v in shipped.items() if v != defaults[k]}
    assert not differ, f"modular.yaml vs ModularConfig defaults: {differ}"
