"""HabitatBackend: the same backend protocol on habitat-sim (optional extra, imported lazily).

habitat-sim has no PyPI wheel for Python 3.11; install it with conda
(`conda install habitat-sim -c conda-forge -c aihabitat`) on a machine with a GPU, then
`pip install 'navstack[habitat]'`. Nothing else in navstack imports this module.

The agent is configured exactly like habitat-lab's ObjectNav HM3D benchmark from `SimConfig`
(RGB + depth at `sensor_height`, HFOV, radius, forward/turn/look amounts, no sliding). Observations
become `navstack.types.Observation` (depth clipped to [min_depth, max_depth] like habitat-lab's
depth sensor); `geodesic_distance` uses habitat's navmesh (`MultiGoalShortestPath`).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from navstack.config import SimConfig
from navstack.types import (
    Action,
    DiscreteAction,
    Intrinsics,
    Observation,
    Pose,
    VelocityCommand,
    quat_from_yaw,
    yaw_from_quat,
)

ACTION_NAMES = {
    DiscreteAction.MOVE_FORWARD: "move_forward",
    DiscreteAction.TURN_LEFT: "turn_left",
    DiscreteAction.TURN_RIGHT: "turn_right",
    DiscreteAction.LOOK_UP: "look_up",
    DiscreteAction.LOOK_DOWN: "look_down",
}


def import_habitat_sim():
    try:
        import habitat_sim  # noqa: F401
    except ImportError:
        raise ImportError(
            "the Habitat backend needs habitat-sim, which has no PyPI wheel for this Python: install it with "
            "conda (`conda install habitat-sim -c conda-forge -c aihabitat`), then `pip install 'navstack[habitat]'`; "
            "the embedded simulator (navstack.sim.backend.EmbeddedBackend) needs none of it"
        ) from None
    return habitat_sim


def make_configuration(habitat_sim, scene: str, sim: SimConfig, scene_dataset_config: Optional[str] = None,
                       gpu_device_id: int = 0):
    """habitat_sim.Configuration of one agent with RGB + depth, mirroring habitat-lab's objectnav_hm3d.yaml."""
    backend = habitat_sim.SimulatorConfiguration()
    backend.scene_id = scene
    if scene_dataset_config:
        backend.scene_dataset_config_file = scene_dataset_config
    backend.enable_physics = False
    backend.allow_sliding = sim.allow_sliding
    backend.gpu_device_id = gpu_device_id
    specs = []
    for uuid, kind in (("rgb", habitat_sim.SensorType.COLOR), ("depth", habitat_sim.SensorType.DEPTH)):
        spec = habitat_sim.CameraSensorSpec()
        spec.uuid = uuid
        spec.sensor_type = kind
        spec.resolution = [sim.height, sim.width]
        spec.position = [0.0, sim.sensor_height, 0.0]
        spec.hfov = sim.hfov
        specs.append(spec)
    agent = habitat_sim.agent.AgentConfiguration()
    agent.height = max(sim.agent_height, sim.sensor_height)
    agent.radius = sim.agent_radius
    agent.sensor_specifications = specs
    spec_ = habitat_sim.agent.ActionSpec
    act = habitat_sim.agent.ActuationSpec
    agent.action_space = {
        "move_forward": spec_("move_forward", act(amount=sim.forward_step_size)),
        "turn_left": spec_("turn_left", act(amount=sim.turn_angle)),
        "turn_right": spec_("turn_right", act(amount=sim.turn_angle)),
        "look_up": spec_("look_up", act(amount=sim.tilt_angle)),
        "look_down": spec_("look_down", act(amount=sim.tilt_angle)),
    }
    return habitat_sim.Configuration(backend, [agent])


class HabitatBackend:
    def __init__(self, scene: str, config: Optional[SimConfig] = None, scene_dataset_config: Optional[str] = None,
                 gpu_device_id: int = 0):
        self.hs = import_habitat_sim()
        self.config = (config or SimConfig()).validate()
        self.sim = self.hs.Simulator(make_configuration(self.hs, scene, self.config, scene_dataset_config, gpu_device_id))
        self.agent = self.sim.initialize_agent(0)
        self.intrinsics = Intrinsics.from_hfov(self.config.width, self.config.height, self.config.hfov)
        self.pitch = 0.0
        self.time = 0.0
        self.collided = False
        self._obs = None

    def reset(self, episode=None, position=None, rotation=None) -> None:
        if episode is not None:
            position, rotation = episode.start_position, episode.start_rotation
        if position is None:
            raise ValueError("reset needs an episode or a start position")
        state = self.hs.AgentState()
        state.position = np.asarray(position, np.float32)
        x, y, z, w = (float(v) for v in (rotation if rotation is not None else [0, 0, 0, 1]))
        state.rotation = self.hs.utils.common.quat_from_coeffs([x, y, z, w])
        self.agent.set_state(state)
        self.pitch = 0.0
        self.time = 0.0
        self._obs = self.sim.get_sensor_observations()

    @property
    def pose(self) -> Pose:
        st = self.agent.get_state()
        q = self.hs.utils.common.quat_to_coeffs(st.rotation)  # [x, y, z, w]
        return Pose(np.asarray(st.position, float), quat_from_yaw(yaw_from_quat(q)))

    def observe(self) -> Observation:
        if self._obs is None:
            self._obs = self.sim.get_sensor_observations()
        cfg = self.config
        rgb = np.ascontiguousarray(np.asarray(self._obs["rgb"])[..., :3], dtype=np.uint8)
        depth = np.asarray(self._obs["depth"], np.float32).reshape(cfg.height, cfg.width)
        # habitat-lab's depth sensor: metres clipped to [min_depth, max_depth] (a miss reads 0 -> min).
        depth = np.clip(depth, cfg.min_depth, cfg.max_depth)
        return Observation(rgb, depth, self.pose, self.intrinsics, self.time, cfg.sensor_height, self.pitch)

    def act(self, action: Action) -> None:
        if isinstance(action, VelocityCommand):
            raise ValueError("the Habitat backend runs Habitat's discrete actions; velocity commands need the "
                             "embedded simulator or a ROS robot")
        action = DiscreteAction(action)
        if action == DiscreteAction.STOP:
            return
        self._obs = self.sim.step(ACTION_NAMES[action])
        self.collided = bool(getattr(self.sim, "previous_step_collided", False))
        tilt = math.radians(self.config.tilt_angle)
        if action == DiscreteAction.LOOK_UP:
            self.pitch += tilt
        elif action == DiscreteAction.LOOK_DOWN:
            self.pitch -= tilt
        self.time += 1.0

    def geodesic_distance(self, targets, start=None) -> float:
        """Navmesh geodesic distance from `start` (or the agent) to the nearest of `targets` (N, 3)."""
        path = self.hs.MultiGoalShortestPath()
        path.requested_start = np.asarray(start if start is not None else self.agent.get_state().position, np.float32)
        path.requested_ends = [np.asarray(t, np.float32) for t in np.asarray(targets, float).reshape(-1, 3)]
        found = self.sim.pathfinder.find_path(path)
        return float(path.geodesic_distance) if found else math.inf

    def close(self) -> None:
        self.sim.close()
