"""EmbeddedBackend: the agent's body in a generated house (observe / act), plus evaluation ground truth.

Discrete actions follow Habitat (forward 0.25 m, turn 30 deg, look 30 deg, no sliding: a move that would
collide stops at the contact point); `VelocityCommand` integrates a unicycle for the ROS bridge.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from navstack.config import SimConfig
from navstack.sim.scene import House
from navstack.types import (
    Action,
    DiscreteAction,
    Intrinsics,
    Observation,
    Pose,
    VelocityCommand,
    heading_vector,
    quat_from_yaw,
)

MAX_PITCH = math.radians(60)


def camera_rotation(yaw: float, pitch: float) -> np.ndarray:
    """Quaternion [x, y, z, w] of a camera with heading `yaw` tilted by `pitch` (positive looks up)."""
    qy = quat_from_yaw(yaw)
    qx = np.array([math.sin(pitch / 2), 0.0, 0.0, math.cos(pitch / 2)])
    x1, y1, z1, w1 = qy
    x2, y2, z2, w2 = qx
    return np.array([
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    ])


class EmbeddedBackend:
    def __init__(self, house: House, config: Optional[SimConfig] = None, renderer=None):
        self.house = house
        self.config = (config or SimConfig()).validate()
        if abs(self.config.agent_radius - house.config.agent_radius) > 1e-9:
            raise ValueError(
                f"sim agent_radius {self.config.agent_radius} differs from the house's navigable grid "
                f"({house.config.agent_radius}); generate the house with the same radius"
            )
        self.renderer = renderer if renderer is not None else house.renderer()
        self.intrinsics = Intrinsics.from_hfov(self.config.width, self.config.height, self.config.hfov)
        self.grid = house.navgrid
        self.position = np.zeros(3)
        self.yaw = 0.0
        self.pitch = 0.0
        self.time = 0.0
        self.collided = False

    # ------------------------------------------------------------------ protocol
    def reset(self, episode=None, position=None, rotation=None) -> None:
        """Place the agent at an episode's start (anything with start_position/start_rotation) or a pose."""
        if episode is not None:
            position, rotation = episode.start_position, episode.start_rotation
        if position is None:
            raise ValueError("reset needs an episode or a start position")
        position = np.asarray(position, float).reshape(3)
        if not np.isfinite(position).all():
            raise ValueError(f"start position {position.tolist()} is not finite")
        if not self.grid.is_navigable(position[0], position[2], island_only=False):
            raise ValueError(f"start position {position.tolist()} is not navigable in house {self.house.seed}")
        self.position = np.array([position[0], 0.0, position[2]])
        self.yaw = Pose(position, rotation if rotation is not None else [0, 0, 0, 1]).yaw
        self.pitch = 0.0
        self.time = 0.0
        self.collided = False

    @property
    def pose(self) -> Pose:
        return Pose(self.position.copy(), quat_from_yaw(self.yaw))

    def observe(self) -> Observation:
        cfg = self.config
        cam = self.position + np.array([0.0, cfg.sensor_height, 0.0])
        r = self.renderer.render(cam, camera_rotation(self.yaw, self.pitch), self.intrinsics)
        # Habitat's depth sensor: metres clipped to [min_depth, max_depth]; we treat a miss as far.
        depth = np.where(np.isfinite(r.depth), r.depth, cfg.max_depth)
        depth = np.clip(depth, cfg.min_depth, cfg.max_depth).astype(np.float32)
        return Observation(r.rgb, depth, self.pose, self.intrinsics, self.time, cfg.sensor_height, self.pitch, r.instance)

    def act(self, action: Action) -> None:
        cfg = self.config
        self.collided = False
        if isinstance(action, VelocityCommand):
            self._drive(action)
            return
        try:
            action = DiscreteAction(action)
        except ValueError:
            raise ValueError(f"unknown action {action!r}; expected a DiscreteAction or VelocityCommand") from None
        if action == DiscreteAction.MOVE_FORWARD:
            self._move(cfg.forward_step_size)
        elif action == DiscreteAction.TURN_LEFT:
            self.yaw = _wrap(self.yaw + math.radians(cfg.turn_angle))
        elif action == DiscreteAction.TURN_RIGHT:
            self.yaw = _wrap(self.yaw - math.radians(cfg.turn_angle))
        elif action == DiscreteAction.LOOK_UP:
            self.pitch = min(self.pitch + math.radians(cfg.tilt_angle), MAX_PITCH)
        elif action == DiscreteAction.LOOK_DOWN:
            self.pitch = max(self.pitch - math.radians(cfg.tilt_angle), -MAX_PITCH)
        self.time += 1.0

    # ------------------------------------------------------------------ motion
    def simulate_forward(self, x: float, z: float, yaw: float, distance: float):
        """Where a straight move from (x, z) along `yaw` ends (stops at first contact: no sliding)."""
        a = np.array([x, z], float)
        b = a + heading_vector(yaw) * distance
        frac = self.grid.segment_free(a, b, step=0.01)
        end = a + (b - a) * frac
        return float(end[0]), float(end[1]), frac < 1.0

    def _move(self, distance: float) -> None:
        x, z, hit = self.simulate_forward(self.position[0], self.position[2], self.yaw, distance)
        self.collided = self.collided or hit
        self.position = np.array([x, 0.0, z])

    def _drive(self, cmd: VelocityCommand) -> None:
        if not all(math.isfinite(v) for v in (cmd.linear, cmd.angular, cmd.dt)) or cmd.dt < 0:
            raise ValueError(f"velocity command {cmd} has non-finite or negative values")
        n = max(1, int(math.ceil(cmd.dt / 0.05)))
        h = cmd.dt / n
        for _ in range(n):
            self.yaw = _wrap(self.yaw + cmd.angular * h)
            self._move(cmd.linear * h)
        self.time += cmd.dt

    # ------------------------------------------------------------------ ground truth (evaluation only)
    def geodesic_distance(self, targets_xz, start_xz=None) -> float:
        start = self.position[[0, 2]] if start_xz is None else np.asarray(start_xz, float)
        return self.grid.geodesic_distance(start, targets_xz)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi
