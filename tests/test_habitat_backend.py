"""HabitatBackend against a FAKE habitat_sim (tests/fake_habitat_sim.py): habitat-sim cannot be installed
here, so this checks navstack's side only: configuration, conversions, the backend protocol."""

import math
import sys

import numpy as np
import pytest

from navstack.config import load_sim_config
from navstack.types import DiscreteAction, VelocityCommand


@pytest.fixture
def fake_habitat(monkeypatch):
    import fake_habitat_sim

    monkeypatch.setitem(sys.modules, "habitat_sim", fake_habitat_sim)
    return fake_habitat_sim


def test_missing_habitat_sim_gives_install_hint(monkeypatch):
    from navstack.sim.habitat import import_habitat_sim

    monkeypatch.setitem(sys.modules, "habitat_sim", None)
    with pytest.raises(ImportError, match="conda"):
        import_habitat_sim()


def test_configuration_mirrors_objectnav_hm3d(fake_habitat):
    from navstack.sim.habitat import make_configuration

    sim = load_sim_config("sim/objectnav_hm3d")
    cfg = make_configuration(fake_habitat, "scene.glb", sim, "dataset.json")
    assert cfg.sim_cfg.scene_id == "scene.glb" and cfg.sim_cfg.allow_sliding is False
    agent = cfg.agents[0]
    assert agent.radius == 0.18
    rgb, depth = agent.sensor_specifications
    assert rgb.resolution == [480, 640] and rgb.hfov == 79 and rgb.position == [0.0, 0.88, 0.0]
    assert depth.sensor_type == fake_habitat.SensorType.DEPTH
    assert agent.action_space["move_forward"] == ("move_forward", 0.25)
    assert agent.action_space["turn_left"] == ("turn_left", 30)


def test_backend_protocol(fake_habitat):
    from navstack.sim.habitat import HabitatBackend

    b = HabitatBackend("scene.glb", load_sim_config(None, width=32, height=24))
    yaw = 0.5
    b.reset(position=[1.0, 0.0, 2.0], rotation=[0, math.sin(yaw / 2), 0, math.cos(yaw / 2)])
    obs = b.observe()
    assert obs.rgb.shape == (24, 32, 3) and obs.rgb.dtype == np.uint8
    assert obs.depth.max() == 5.0, "depth clipped to max_depth like habitat-lab"
    assert obs.pose.yaw == pytest.approx(yaw)
    b.act(DiscreteAction.MOVE_FORWARD)
    assert np.linalg.norm(b.pose.position - [1, 0, 2]) == pytest.approx(0.25, abs=1e-5)
    b.act(DiscreteAction.TURN_LEFT)
    assert b.pose.yaw == pytest.approx(yaw + math.radians(30))
    b.act(DiscreteAction.LOOK_DOWN)
    assert b.observe().camera_pitch == pytest.approx(-math.radians(30))
    assert b.geodesic_distance([[1.0, 0.0, 5.0]], start=[1.0, 0.0, 2.0]) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="discrete"):
        b.act(VelocityCommand(0.1, 0.0))
