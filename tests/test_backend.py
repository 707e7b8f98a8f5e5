import math

import numpy as np
import pytest

from navstack.config import SimConfig, load_sim_config
from navstack.types import DiscreteAction, VelocityCommand


def start(backend, yaw=0.0):
    p = backend.house.navgrid.navigable_points()
    center = p.mean(0)
    q = p[np.argmin(np.linalg.norm(p - center, axis=1))]
    backend.reset(position=[q[0], 0, q[1]], rotation=[0, math.sin(yaw / 2), 0, math.cos(yaw / 2)])
    return q


def test_observation_contract(backend):
    start(backend)
    obs = backend.observe()
    cfg = backend.config
    assert obs.rgb.shape == (cfg.height, cfg.width, 3) and obs.rgb.dtype == np.uint8
    assert obs.depth.shape == (cfg.height, cfg.width) and obs.depth.dtype == np.float32
    assert obs.depth.min() >= cfg.min_depth and obs.depth.max() <= cfg.max_depth
    assert obs.instance.shape == obs.depth.shape
    assert obs.intrinsics.hfov_deg == pytest.approx(79.0)
    assert obs.rgb.std() > 5, "a real image, not a flat colour"


def test_discrete_actions_follow_habitat(backend):
    start(backend, yaw=0.3)
    yaw0 = backend.pose.yaw
    backend.act(DiscreteAction.TURN_LEFT)
    assert backend.pose.yaw == pytest.approx(yaw0 + math.radians(30))
    backend.act(DiscreteAction.TURN_RIGHT)
    backend.act(DiscreteAction.TURN_RIGHT)
    assert backend.pose.yaw == pytest.approx(yaw0 - math.radians(30))
    backend.act(DiscreteAction.LOOK_UP)
    assert backend.observe().camera_pitch == pytest.approx(math.radians(30))
    backend.act(DiscreteAction.LOOK_DOWN)
    # Forward moves 0.25 m along the heading unless blocked.
    for _ in range(12):
        before = backend.pose.position.copy()
        backend.act(DiscreteAction.MOVE_FORWARD)
        moved = np.linalg.norm(backend.pose.position - before)
        if not backend.collided:
            assert moved == pytest.approx(0.25, abs=1e-6)
            heading = backend.pose.position - before
            assert math.atan2(-heading[0], -heading[2]) == pytest.approx(backend.pose.yaw, abs=1e-6)
        else:
            assert moved < 0.25
        assert backend.house.navgrid.is_navigable(backend.pose.position[0], backend.pose.position[2], island_only=False)


def test_never_passes_through_walls(backend):
    start(backend)
    rng = np.random.default_rng(0)
    for _ in range(300):
        backend.act(DiscreteAction(int(rng.choice([1, 1, 1, 2, 3]))))
        x, z = backend.pose.position[[0, 2]]
        assert backend.house.navgrid.is_navigable(x, z, island_only=False)


def test_velocity_mode(backend):
    start(backend)
    p0 = backend.pose.position.copy()
    yaw0 = backend.pose.yaw
    backend.act(VelocityCommand(0.0, 0.5, 1.0))
    assert backend.pose.yaw == pytest.approx(yaw0 + 0.5)
    backend.act(VelocityCommand(0.2, 0.0, 0.5))
    assert np.linalg.norm(backend.pose.position - p0) <= 0.1 + 1e-6
    with pytest.raises(ValueError, match="non-finite"):
        backend.act(VelocityCommand(float("nan"), 0.0, 0.1))


def test_depth_is_z_depth_facing_a_wall(house, renderer):
    from navstack.sim.backend import EmbeddedBackend

    b = EmbeddedBackend(house, SimConfig(width=64, height=48), renderer)
    room = house.plan.rooms[0]
    # Stand 1.5 m from the room's z0 wall, facing it (yaw 0 looks along -Z).
    x = (room.x0 + room.x1) / 2
    for dx in sorted(np.linspace(-1, 1, 21), key=abs):
        if b.grid.is_navigable(x + dx, room.z0 + 1.5, island_only=False):
            x = x + dx
            break
    b.reset(position=[x, 0, room.z0 + 1.5], rotation=[0, 0, 0, 1])
    d = b.observe().depth
    wall = 1.5 - house.plan.wall_thickness / 2
    rows = slice(0, 10)  # upper rows see the wall above any furniture
    assert np.median(d[rows, :]) == pytest.approx(wall, abs=0.03)
    # z-depth (not ray length) is constant across a fronto-parallel wall: off-centre pixels read the same.
    assert np.ptp(d[2, 20:44]) < 0.03


def test_bad_reset_and_config(backend):
    with pytest.raises(ValueError, match="not navigable"):
        backend.reset(position=[-50, 0, -50], rotation=[0, 0, 0, 1])
    with pytest.raises(ValueError, match="not finite"):
        backend.reset(position=[float("nan"), 0, 0], rotation=[0, 0, 0, 1])
    with pytest.raises(ValueError, match="unknown action"):
        backend.act(17)
    with pytest.raises(ValueError, match="hfov"):
        SimConfig(hfov=0).validate()
    with pytest.raises(ValueError):
        load_sim_config(None, width="wide")
    with pytest.raises(FileNotFoundError, match="known"):
        load_sim_config("no_such_config")


def test_habitat_config_is_the_benchmark():
    cfg = load_sim_config("sim/objectnav_hm3d")
    assert (cfg.width, cfg.height, cfg.hfov, cfg.sensor_height) == (640, 480, 79, 0.88)
    assert (cfg.forward_step_size, cfg.turn_angle, cfg.agent_radius, cfg.max_episode_steps) == (0.25, 30, 0.18, 500)
    assert (cfg.min_depth, cfg.max_depth, cfg.allow_sliding) == (0.5, 5.0, False)
