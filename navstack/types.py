"""Core data types shared by every layer (backends, perception, mapping, planning, agents).

Coordinates follow Habitat: y up, the agent looks along -Z, quaternions are [x, y, z, w].
Only numpy is imported here so everything above can depend on this module cheaply.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np


# ---------------------------------------------------------------- rotations
def quat_from_yaw(yaw: float) -> np.ndarray:
    """Quaternion [x, y, z, w] for a rotation of `yaw` radians about +Y (counter-clockwise seen from above)."""
    return np.array([0.0, math.sin(yaw / 2.0), 0.0, math.cos(yaw / 2.0)])


def yaw_from_quat(q) -> float:
    """Heading about +Y of quaternion [x, y, z, w]; the inverse of `quat_from_yaw` for pure yaw."""
    x, y, z, w = (float(v) for v in q)
    # Rotate the forward vector (-Z) and read its heading in the XZ plane.
    fx = -(2.0 * (x * z + w * y))
    fz = -(1.0 - 2.0 * (x * x + y * y))
    return math.atan2(-fx, -fz)


def quat_to_matrix(q) -> np.ndarray:
    """3x3 rotation matrix of quaternion [x, y, z, w]."""
    x, y, z, w = (float(v) for v in q)
    n = x * x + y * y + z * z + w * w
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"quaternion {list(q)} is not a valid rotation")
    s = 2.0 / n
    return np.array(
        [
            [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
            [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
            [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
        ]
    )


def heading_vector(yaw: float) -> np.ndarray:
    """Unit forward vector (x, z) on the floor plane for heading `yaw` (yaw 0 looks along -Z)."""
    return np.array([-math.sin(yaw), -math.cos(yaw)])


# ---------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera intrinsics in pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> "Intrinsics":
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov must be in (0, 180) degrees, got {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width, height, f, f, width / 2.0, height / 2.0)

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])


@dataclass
class Pose:
    """Agent pose in the world frame: position of the base (on the floor) and rotation [x,y,z,w]."""

    position: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))

    def __post_init__(self):
        self.position = np.asarray(self.position, dtype=np.float64).reshape(3)
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(4)

    @property
    def yaw(self) -> float:
        return yaw_from_quat(self.rotation)

    @classmethod
    def from_xz_yaw(cls, x: float, z: float, yaw: float, y: float = 0.0) -> "Pose":
        return cls(np.array([x, y, z]), quat_from_yaw(yaw))


@dataclass
class Observation:
    """One sensor frame. `depth` is z-depth in metres (0 where invalid / out of range)."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres
    pose: Pose  # base pose
    intrinsics: Intrinsics
    stamp: float = 0.0
    camera_height: float = 0.88
    camera_pitch: float = 0.0  # radians, positive looks up
    instance: Optional[np.ndarray] = None  # (H, W) int32 ground-truth ids; oracle ablations only


# ---------------------------------------------------------------- goals
@dataclass(frozen=True)
class CategoryGoal:
    category: str


@dataclass(frozen=True)
class TextGoal:
    text: str
    category: Optional[str] = None


@dataclass(frozen=True, eq=False)
class ImageGoal:
    image: np.ndarray  # (H, W, 3) uint8
    category: Optional[str] = None
    hfov_deg: float = 79.0


Goal = Union[CategoryGoal, TextGoal, ImageGoal]


# ---------------------------------------------------------------- actions
class DiscreteAction(enum.IntEnum):
    """Habitat's discrete action space, in habitat-lab's order."""

    STOP = 0
    MOVE_FORWARD = 1
    TURN_LEFT = 2
    TURN_RIGHT = 3
    LOOK_UP = 4
    LOOK_DOWN = 5


@dataclass(frozen=True)
class VelocityCommand:
    """Body-frame velocity held for `dt` seconds (the ROS bridge's action)."""

    linear: float  # m/s forward
    angular: float  # rad/s, positive turns left (counter-clockwise seen from above)
    dt: float = 0.1


Action = Union[DiscreteAction, VelocityCommand]
