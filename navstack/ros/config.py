"""Robot configuration for the ROS bridge (`configs/robot/*.yaml`): topics, frames, limits, timing.

Loaded with `navstack.config.load_config` (OmegaConf structured config: unknown keys and wrong types are
errors naming the file and key). No ROS import here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional

from navstack.config import load_config


@dataclass
class Topics:
    """Topic names; relative names resolve in the node's namespace and can be remapped in launch files."""

    rgb: str = "camera/rgb/image_raw"
    depth: str = "camera/depth/image_raw"
    camera_info: str = "camera/rgb/camera_info"
    odom: str = "odom"
    cmd_vel: str = "cmd_vel"
    tf: str = "/tf"
    tf_static: str = "/tf_static"
    initialpose: str = "initialpose"  # sim robot only: teleport (geometry_msgs/PoseWithCovarianceStamped, map frame)


@dataclass
class Frames:
    """REP-105 frames. Images are stamped in `camera_optical` (z forward, x right, y down)."""

    map: str = "map"
    odom: str = "odom"
    base: str = "base_link"
    camera: str = "camera_link"
    camera_optical: str = "camera_optical_frame"


@dataclass
class Limits:
    """Command limits applied to every Twist the bridge publishes (the watchdog's emergency zero excepted)."""

    max_linear: float = 0.5  # m/s forward
    max_reverse: float = 0.0  # m/s backward (0: never drive backwards)
    max_angular: float = 1.0  # rad/s
    max_linear_accel: float = 1.0  # m/s^2 (also the deceleration limit)
    max_angular_accel: float = 2.0  # rad/s^2


@dataclass
class DiscreteExecution:
    """How Habitat's discrete actions become motion: closed loop on odometry, with the limits above.

    MOVE_FORWARD drives forward_step_size metres and TURN_* turns turn_angle degrees (from the agent's sim
    config). A move that stops making progress for `stall_time` (a collision) ends early, like Habitat's
    no-sliding forward step. LOOK_UP/LOOK_DOWN need a pan-tilt head; without one they are no-ops.
    """

    linear_speed: float = 0.5  # cruise speed (capped by limits.max_linear)
    angular_speed: float = 1.0  # cruise turn rate (capped by limits.max_angular)
    position_tolerance: float = 0.002  # m
    angle_tolerance_deg: float = 0.25
    heading_gain: float = 2.0  # rad/s per rad of heading error while driving straight
    stall_time: float = 0.5  # s without progress -> the move is blocked (collision)
    timeout: float = 10.0  # s, one action at most
    settle_linear: float = 0.02  # m/s: the base counts as stopped below these (odometry twist)
    settle_angular: float = 0.05  # rad/s
    settle_timeout: float = 1.0  # s to wait for the base to report zero velocity


@dataclass
class SimRobot:
    """The embedded simulator as a ROS robot (navstack_sim_robot)."""

    seed: int = 9000  # house seed
    start: Optional[List[float]] = None  # [x, z, yaw] Habitat world frame; null: an open spot of the house
    rate: float = 30.0  # Hz: physics step, odometry and TF
    camera_rate: float = 10.0  # Hz: rgb, depth, camera_info
    cmd_vel_timeout: float = 0.5  # s: the base stops when cmd_vel is older than this (like real bases)
    render_threads: int = 0  # 0: all cores


@dataclass
class RobotConfig:
    name: str = "robot"
    sim_config: str = "embedded"  # configs/sim/<name> or a YAML path: the agent's action and sensor model
    agent: str = "modular"  # default agent of the navstack agent node (registry name)
    topics: Topics = field(default_factory=Topics)
    frames: Frames = field(default_factory=Frames)
    pose_source: str = "odom"  # odom: nav_msgs/Odometry pose; tf: map -> base via /tf
    camera_height: float = 0.88  # m above the floor
    camera_pitch_deg: float = 0.0  # positive looks up
    limits: Limits = field(default_factory=Limits)
    discrete: DiscreteExecution = field(default_factory=DiscreteExecution)
    sync_tolerance: float = 0.05  # s: rgb/depth/odometry stamps matched within this
    stale_timeout: float = 0.5  # s without a new rgb, depth or pose message -> zero velocity
    control_rate: float = 10.0  # Hz: the agent node's loop (at most one decision per new frame)
    max_steps: int = 0  # decisions per goal before giving up; 0: unlimited
    max_agent_errors: int = 10  # consecutive agent exceptions before the goal is abandoned
    status_rate: float = 2.0  # Hz
    map_rate: float = 1.0  # Hz: OccupancyGrid / MarkerArray / Path when the agent exposes them
    sim: SimRobot = field(default_factory=SimRobot)

    def validate(self) -> "RobotConfig":
        problems = []
        if self.pose_source not in ("odom", "tf"):
            problems.append(f"pose_source must be 'odom' or 'tf' (got {self.pose_source!r})")
        lim = self.limits
        for k in ("max_linear", "max_angular", "max_linear_accel", "max_angular_accel"):
            v = getattr(lim, k)
            if not (math.isfinite(v) and v > 0):
                problems.append(f"limits.{k} must be a positive number (got {v})")
        if not (math.isfinite(lim.max_reverse) and lim.max_reverse >= 0):
            problems.append(f"limits.max_reverse must be >= 0 (got {lim.max_reverse})")
        d = self.discrete
        if d.linear_speed <= 0 or d.angular_speed <= 0:
            problems.append("discrete.linear_speed and discrete.angular_speed must be positive")
        if d.position_tolerance <= 0 or d.angle_tolerance_deg <= 0:
            problems.append("discrete tolerances must be positive")
        for k in ("sync_tolerance", "stale_timeout", "control_rate", "status_rate", "map_rate"):
            v = getattr(self, k)
            if not (math.isfinite(v) and v > 0):
                problems.append(f"{k} must be a positive number (got {v})")
        if self.max_steps < 0:
            problems.append(f"max_steps must be >= 0 (got {self.max_steps})")
        if self.sim.rate <= 0 or self.sim.camera_rate <= 0:
            problems.append("sim.rate and sim.camera_rate must be positive")
        if self.sim.start is not None and len(self.sim.start) != 3:
            problems.append(f"sim.start must be [x, z, yaw] (got {self.sim.start})")
        for k, v in vars(self.topics).items():
            if not v:
                problems.append(f"topics.{k} is empty")
        for k, v in vars(self.frames).items():
            if not v or v.startswith("/"):
                problems.append(f"frames.{k} must be a non-empty frame id without a leading '/' (got {v!r})")
        if problems:
            raise ValueError(f"invalid robot config {self.name!r}: " + "; ".join(problems))
        return self


def load_robot_config(name_or_path: Optional[str] = None, **overrides) -> RobotConfig:
    """`configs/robot/<name>.yaml` or a YAML path (default: sim), then keyword overrides (nested dicts)."""
    return load_config(RobotConfig, name_or_path or "sim", "robot", **overrides)
