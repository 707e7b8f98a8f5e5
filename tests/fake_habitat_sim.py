"""FAKE habitat_sim, for tests only: habitat-sim cannot be installed here (no wheel for Python 3.11).

It implements just the surface HabitatBackend touches, with a flat empty world, so the backend's
configuration, state conversion and observation contract can be tested. It is not a simulator.
"""

import math
import types

import numpy as np


class SensorType:
    COLOR, DEPTH = "color", "depth"


class _Bag:
    def __init__(self, *args, **kw):
        self.args = args
        self.__dict__.update(kw)


SimulatorConfiguration = CameraSensorSpec = AgentState = _Bag
agent = types.SimpleNamespace(AgentConfiguration=_Bag, ActionSpec=lambda name, act: (name, act.amount),
                              ActuationSpec=lambda amount: types.SimpleNamespace(amount=amount))


class Configuration:
    def __init__(self, sim_cfg, agents):
        self.sim_cfg, self.agents = sim_cfg, agents


def _coeffs_to_quat(c):
    return np.asarray(c, float)  # the fake keeps [x, y, z, w] arrays


utils = types.SimpleNamespace(common=types.SimpleNamespace(quat_from_coeffs=_coeffs_to_quat,
                                                           quat_to_coeffs=lambda q: np.asarray(q, float)))


class _Agent:
    def __init__(self):
        self.state = AgentState(position=np.zeros(3, np.float32), rotation=np.array([0, 0, 0, 1.0]))

    def set_state(self, s):
        self.state = s

    def get_state(self):
        return self.state


class MultiGoalShortestPath(_Bag):
    pass


class _PathFinder:
    def find_path(self, path):
        ends = np.asarray(path.requested_ends)
        path.geodesic_distance = float(np.min(np.linalg.norm(ends - path.requested_start, axis=1)))
        return True


class Simulator:
    def __init__(self, cfg):
        self.cfg = cfg
        self.agent = _Agent()
        self.pathfinder = _PathFinder()
        self.previous_step_collided = False
        spec = cfg.agents[0].sensor_specifications[0]
        self.h, self.w = spec.resolution
        self.actions = dict(cfg.agents[0].action_space)

    def initialize_agent(self, i):
        return self.agent

    def get_sensor_observations(self):
        return {"rgb": np.full((self.h, self.w, 4), 128, np.uint8), "depth": np.full((self.h, self.w, 1), 7.0, np.float32)}

    def step(self, name):
        amount = self.actions[name][1]
        s = self.agent.state
        x, y, z, w = s.rotation
        yaw = 2 * math.atan2(y, w)
        if name == "move_forward":
            s.position = s.position + np.array([-math.sin(yaw), 0, -math.cos(yaw)], np.float32) * amount
        elif name in ("turn_left", "turn_right"):
            yaw += math.radians(amount) * (1 if name == "turn_left" else -1)
            s.rotation = np.array([0, math.sin(yaw / 2), 0, math.cos(yaw / 2)])
        return self.get_sensor_observations()

    def close(self):
        pass
