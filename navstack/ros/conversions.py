"""ROS message <-> navstack conversions, without cv_bridge (numpy only).

Frames. ROS follows REP-103/105: x forward, y left, z up (`map` -> `odom` -> `base_link`). navstack follows
Habitat: x right, y up, the agent looks along -Z. A vector converts as

    habitat = (-y_ros, z_ros, -x_ros)          ros = (-z_hab, -x_hab, y_hab)

(a proper rotation, so a quaternion's vector part converts the same way and w is unchanged). A ROS yaw
(counter-clockwise about +z, 0 along +x) equals the Habitat yaw (counter-clockwise about +Y, 0 along -Z).

Images. RGB: rgb8, bgr8, rgba8, bgra8 (alpha dropped). Depth: 32FC1 in metres (NaN / inf / <= 0 mean
"no reading", REP-118) and 16UC1 (or mono16) in millimetres (0 = no reading); both become float32 metres
with 0 where there is no reading, as navstack's Observation expects. Row padding (`step`) and big-endian
data are handled. Anything else -- unknown encoding, a size that does not match width/height/step, NaN in a
pose, a non-positive focal length -- raises `MalformedMessage` naming the field.

Message classes are imported inside the functions, so the pure numpy helpers here work without ROS.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

from navstack.types import Intrinsics, Pose, VelocityCommand

RGB_ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True)}
DEPTH_ENCODINGS = {"32FC1": (np.dtype("float32"), 1.0), "16UC1": (np.dtype("uint16"), 1e-3),
                   "mono16": (np.dtype("uint16"), 1e-3)}
# Rotation taking camera_link (x forward, y left, z up) to camera_optical (z forward, x right, y down).
OPTICAL_FROM_LINK = np.array([-0.5, 0.5, -0.5, 0.5])


class MalformedMessage(ValueError):
    """A ROS message that cannot be used (bad encoding, size mismatch, non-finite values, ...)."""


# ============================================================================ frames
def habitat_from_ros_vector(v) -> np.ndarray:
    x, y, z = (float(a) for a in v)
    return np.array([-y, z, -x])


def ros_from_habitat_vector(v) -> np.ndarray:
    x, y, z = (float(a) for a in v)
    return np.array([-z, -x, y])


def habitat_from_ros_quat(q) -> np.ndarray:
    """[x, y, z, w] of a body rotation in ROS frames -> the same rotation in Habitat frames."""
    x, y, z, w = (float(a) for a in q)
    return np.array([-y, z, -x, w])


def ros_from_habitat_quat(q) -> np.ndarray:
    x, y, z, w = (float(a) for a in q)
    return np.array([-z, -x, y, w])


def ros_yaw_quat(yaw: float) -> np.ndarray:
    return np.array([0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)])


def yaw_from_ros_quat(q) -> float:
    x, y, z, w = (float(a) for a in q)
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def pose_from_ros(position, orientation) -> Pose:
    """ROS (map/odom frame) position + quaternion [x, y, z, w] -> navstack Pose (Habitat frame)."""
    p = np.asarray(position, float).reshape(3)
    q = np.asarray(orientation, float).reshape(4)
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise MalformedMessage(f"pose has non-finite values: position {p.tolist()}, orientation {q.tolist()}")
    n = float(np.linalg.norm(q))
    if n < 1e-6:
        raise MalformedMessage(f"pose orientation {q.tolist()} is not a rotation (zero quaternion)")
    return Pose(habitat_from_ros_vector(p), habitat_from_ros_quat(q / n))


def ros_from_pose(pose: Pose) -> Tuple[np.ndarray, np.ndarray]:
    """navstack Pose (Habitat frame) -> ROS position, quaternion [x, y, z, w]."""
    return ros_from_habitat_vector(pose.position), ros_from_habitat_quat(pose.rotation)


# ============================================================================ small SE(3) helpers
def quat_multiply(a, b) -> np.ndarray:
    x1, y1, z1, w1 = a
    x2, y2, z2, w2 = b
    return np.array([
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    ])


def quat_rotate(q, v) -> np.ndarray:
    qv = np.array([v[0], v[1], v[2], 0.0])
    qc = np.array([-q[0], -q[1], -q[2], q[3]])
    return quat_multiply(quat_multiply(q, qv), qc)[:3]


def slerp(q0, q1, t: float) -> np.ndarray:
    q0 = np.asarray(q0, float)
    q1 = np.asarray(q1, float)
    d = float(np.dot(q0, q1))
    if d < 0:
        q1, d = -q1, -d
    if d > 0.9995:
        q = q0 + t * (q1 - q0)
    else:
        th = math.acos(min(1.0, d))
        q = (math.sin((1 - t) * th) * q0 + math.sin(t * th) * q1) / math.sin(th)
    return q / np.linalg.norm(q)


class RigidTransform:
    """Translation + unit quaternion [x, y, z, w] (parent <- child)."""

    __slots__ = ("t", "q")

    def __init__(self, t=(0.0, 0.0, 0.0), q=(0.0, 0.0, 0.0, 1.0)):
        self.t = np.asarray(t, float).reshape(3)
        q = np.asarray(q, float).reshape(4)
        n = float(np.linalg.norm(q))
        if not (np.isfinite(self.t).all() and np.isfinite(q).all()) or n < 1e-6:
            raise MalformedMessage(f"transform has non-finite values or a zero rotation: t={self.t.tolist()} q={q.tolist()}")
        self.q = q / n

    def __matmul__(self, other: "RigidTransform") -> "RigidTransform":
        return RigidTransform(self.t + quat_rotate(self.q, other.t), quat_multiply(self.q, other.q))

    def inverse(self) -> "RigidTransform":
        qi = np.array([-self.q[0], -self.q[1], -self.q[2], self.q[3]])
        return RigidTransform(-quat_rotate(qi, self.t), qi)

    def interpolate(self, other: "RigidTransform", a: float) -> "RigidTransform":
        return RigidTransform(self.t + a * (other.t - self.t), slerp(self.q, other.q, a))


# ============================================================================ images
def _check_image_size(msg, bpp: int, what: str) -> Tuple[int, int, int]:
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise MalformedMessage(f"{what}: image size {w}x{h} is empty")
    if step < w * bpp:
        raise MalformedMessage(f"{what}: step {step} is smaller than width*bytes_per_pixel = {w}*{bpp}")
    n = len(msg.data)
    if n != step * h:
        raise MalformedMessage(f"{what}: data has {n} bytes, expected step*height = {step}*{h} = {step * h} "
                               f"({w}x{h} {msg.encoding})")
    return h, w, step


def _pixels(msg, h: int, w: int, step: int, bpp: int) -> np.ndarray:
    """(h, w*bpp) uint8 view of the pixel bytes without the row padding."""
    buf = np.frombuffer(msg.data, np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data.view(np.uint8)
    return buf.reshape(h, step)[:, : w * bpp]


def rgb_from_image(msg, what: str = "rgb image") -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8) -> (H, W, 3) uint8 RGB (a new array)."""
    enc = str(msg.encoding)
    if enc not in RGB_ENCODINGS:
        raise MalformedMessage(f"{what}: encoding {enc!r} is not supported; expected one of {', '.join(RGB_ENCODINGS)}")
    ch, bgr = RGB_ENCODINGS[enc]
    h, w, step = _check_image_size(msg, ch, what)
    px = _pixels(msg, h, w, step, ch).reshape(h, w, ch)
    return np.array(px[..., 2::-1] if bgr else px[..., :3], order="C")  # a writable copy, never a view of the message


def depth_from_image(msg, what: str = "depth image") -> np.ndarray:
    """sensor_msgs/Image 32FC1 (m) or 16UC1/mono16 (mm) -> (H, W) float32 metres, 0 where no reading."""
    enc = str(msg.encoding)
    if enc not in DEPTH_ENCODINGS:
        raise MalformedMessage(f"{what}: encoding {enc!r} is not a depth encoding; expected one of "
                               f"{', '.join(DEPTH_ENCODINGS)}")
    dtype, scale = DEPTH_ENCODINGS[enc]
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    h, w, step = _check_image_size(msg, dtype.itemsize, what)
    raw = np.ascontiguousarray(_pixels(msg, h, w, step, dtype.itemsize)).view(dtype).reshape(h, w)
    if scale == 1.0:
        d = raw.astype(np.float32)
        bad = ~np.isfinite(d) | (d <= 0)
        if bad.any():
            d[bad] = 0.0
        return d
    return (raw.astype(np.float32) * np.float32(scale))


def image_from_rgb(rgb: np.ndarray, stamp=None, frame_id: str = "", encoding: str = "rgb8"):
    """(H, W, 3) uint8 RGB -> sensor_msgs/Image in rgb8 or bgr8."""
    from sensor_msgs.msg import Image

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"encoding must be rgb8 or bgr8, got {encoding!r}")
    px = rgb[..., ::-1] if encoding == "bgr8" else rgb
    msg = Image()
    _header(msg.header, stamp, frame_id)
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(px).tobytes()
    return msg


def image_from_depth(depth: np.ndarray, stamp=None, frame_id: str = "", encoding: str = "32FC1"):
    """(H, W) metres -> sensor_msgs/Image 32FC1 (metres, NaN where no reading) or 16UC1 (millimetres, 0)."""
    from sensor_msgs.msg import Image

    d = np.asarray(depth, np.float32)
    if d.ndim != 2:
        raise ValueError(f"expected an (H, W) depth image, got shape {d.shape}")
    valid = np.isfinite(d) & (d > 0)
    if encoding == "32FC1":
        out = np.where(valid, d, np.float32(np.nan)).astype("<f4")
    elif encoding == "16UC1":
        out = np.where(valid, np.clip(np.round(d * 1000.0), 0, 65535), 0).astype("<u2")
    else:
        raise ValueError(f"depth encoding must be 32FC1 or 16UC1, got {encoding!r}")
    msg = Image()
    _header(msg.header, stamp, frame_id)
    msg.height, msg.width = int(d.shape[0]), int(d.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * out.itemsize
    msg.data = out.tobytes()
    return msg


# ============================================================================ camera info
def intrinsics_from_camera_info(msg, what: str = "camera_info") -> Intrinsics:
    w, h = int(msg.width), int(msg.height)
    K = np.asarray(msg.K, float).reshape(-1)
    if w <= 0 or h <= 0:
        raise MalformedMessage(f"{what}: image size {w}x{h} is empty")
    if K.shape != (9,) or not np.isfinite(K).all():
        raise MalformedMessage(f"{what}: K must be 9 finite numbers, got {K.tolist()}")
    fx, fy, cx, cy = K[0], K[4], K[2], K[5]
    if fx <= 0 or fy <= 0:
        raise MalformedMessage(f"{what}: focal lengths must be positive (K = {K.tolist()})")
    bx, by = int(getattr(msg, "binning_x", 0) or 1), int(getattr(msg, "binning_y", 0) or 1)
    if bx > 1 or by > 1:
        # REP-104: K describes the full-resolution sensor; the published image is binned.
        fx, cx, fy, cy = fx / bx, cx / bx, fy / by, cy / by
        w, h = w // bx, h // by
    return Intrinsics(w, h, float(fx), float(fy), float(cx), float(cy))


def camera_info_from_intrinsics(intr: Intrinsics, stamp=None, frame_id: str = ""):
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    _header(msg.header, stamp, frame_id)
    msg.width, msg.height = int(intr.width), int(intr.height)
    msg.distortion_model = "plumb_bob"
    msg.D = [0.0] * 5
    msg.K = [intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0]
    msg.R = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.P = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


# ============================================================================ odometry / TF
def _xyz(v) -> np.ndarray:
    return np.array([v.x, v.y, v.z], float)


def _xyzw(q) -> np.ndarray:
    return np.array([q.x, q.y, q.z, q.w], float)


def transform_from_odometry(msg, what: str = "odometry") -> RigidTransform:
    try:
        return RigidTransform(_xyz(msg.pose.pose.position), _xyzw(msg.pose.pose.orientation))
    except MalformedMessage as e:
        raise MalformedMessage(f"{what}: {e}") from None


def transform_from_msg(tf, what: str = "transform") -> RigidTransform:
    """geometry_msgs/Transform -> RigidTransform."""
    try:
        return RigidTransform(_xyz(tf.translation), _xyzw(tf.rotation))
    except MalformedMessage as e:
        raise MalformedMessage(f"{what}: {e}") from None


def pose_from_odometry(msg) -> Pose:
    """nav_msgs/Odometry -> navstack Pose (Habitat frame) of the child frame in the header frame."""
    t = transform_from_odometry(msg)
    return pose_from_ros(t.t, t.q)


def pose_from_transform(t: RigidTransform) -> Pose:
    return pose_from_ros(t.t, t.q)


def odometry_from_pose(pose: Pose, linear: float = 0.0, angular: float = 0.0, stamp=None,
                       frame_id: str = "odom", child_frame_id: str = "base_link"):
    from nav_msgs.msg import Odometry

    p, q = ros_from_pose(pose)
    msg = Odometry()
    _header(msg.header, stamp, frame_id)
    msg.child_frame_id = child_frame_id
    _set_pose(msg.pose.pose, p, q)
    msg.twist.twist.linear.x = float(linear)
    msg.twist.twist.angular.z = float(angular)
    return msg


def transform_stamped(parent: str, child: str, t, q, stamp=None):
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    _header(msg.header, stamp, parent)
    msg.child_frame_id = child
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (float(v) for v in t)
    (msg.transform.rotation.x, msg.transform.rotation.y, msg.transform.rotation.z,
     msg.transform.rotation.w) = (float(v) for v in q)
    return msg


# ============================================================================ velocity
class VelocityLimiter:
    """Clamps (linear, angular) to the velocity limits and their change per control period to the
    acceleration limits. The step is computed over min(elapsed, period), so a late tick never gets a larger
    change than a punctual one: consecutive published commands always differ by at most accel / rate.
    """

    def __init__(self, limits, period: float):
        self.limits = limits
        self.period = float(period)
        self.linear = 0.0
        self.angular = 0.0
        self._t: Optional[float] = None

    def reset(self, now: Optional[float] = None) -> None:
        """The base was commanded to stand still (emergency stop): continue from zero."""
        self.linear = self.angular = 0.0
        self._t = now

    def __call__(self, linear: float, angular: float, now: float) -> Tuple[float, float]:
        lim = self.limits
        if not (math.isfinite(linear) and math.isfinite(angular)):
            raise ValueError(f"velocity command ({linear}, {angular}) is not finite")
        v = min(max(float(linear), -lim.max_reverse), lim.max_linear)
        w = min(max(float(angular), -lim.max_angular), lim.max_angular)
        dt = self.period if self._t is None else min(max(now - self._t, 0.0), self.period)
        dv, dw = lim.max_linear_accel * dt, lim.max_angular_accel * dt
        v = min(max(v, self.linear - dv), self.linear + dv)
        w = min(max(w, self.angular - dw), self.angular + dw)
        self.linear, self.angular, self._t = v, w, now
        return v, w


def twist(linear: float = 0.0, angular: float = 0.0):
    from geometry_msgs.msg import Twist

    msg = Twist()
    msg.linear.x = float(linear)
    msg.angular.z = float(angular)
    return msg


def twist_from_command(cmd: VelocityCommand, limiter: VelocityLimiter, now: float):
    """VelocityCommand (forward m/s, counter-clockwise rad/s) -> limited geometry_msgs/Twist (REP-103 base frame)."""
    v, w = limiter(cmd.linear, cmd.angular, now)
    return twist(v, w)


def command_from_twist(msg, dt: float = 0.1, what: str = "cmd_vel") -> VelocityCommand:
    v, w = float(msg.linear.x), float(msg.angular.z)
    others = [msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y]
    if not all(math.isfinite(a) for a in [v, w, *others]):
        raise MalformedMessage(f"{what}: twist has non-finite values")
    return VelocityCommand(v, w, dt)


# ============================================================================ map, instances, path
def occupancy_to_ros(grid: np.ndarray, resolution: float, origin_xz: Sequence[float]):
    """A Habitat-frame 2D grid (rows along +z, columns along +x; cell [0, 0]'s corner at origin_xz) ->
    (int8 (rows, cols) in ROS layout: rows along map +y, columns along map +x; ROS origin x, y).

    Values: bool (True = occupied), float probabilities in [0, 1] with NaN = unknown, or ints already in
    ROS's convention (-1 unknown, 0..100)."""
    g = np.asarray(grid)
    if g.ndim != 2 or g.size == 0:
        raise ValueError(f"occupancy grid must be a non-empty 2D array, got shape {g.shape}")
    res = float(resolution)
    if not (math.isfinite(res) and res > 0):
        raise ValueError(f"occupancy grid resolution must be positive, got {resolution}")
    if g.dtype == bool:
        vals = np.where(g, 100, 0).astype(np.int8)
    elif np.issubdtype(g.dtype, np.floating):
        vals = np.where(np.isfinite(g), np.clip(np.round(g * 100.0), 0, 100), -1).astype(np.int8)
    else:
        vals = np.clip(g, -1, 100).astype(np.int8)
    hz, wx = vals.shape
    x0, z0 = (float(v) for v in origin_xz)
    # ROS column axis is map +x = Habitat -z; ROS row axis is map +y = Habitat -x.
    ros = np.ascontiguousarray(vals.T[::-1, ::-1])
    return ros, -(z0 + hz * res), -(x0 + wx * res)


def occupancy_grid_msg(grid, resolution: float, origin_xz, stamp=None, frame_id: str = "map"):
    from nav_msgs.msg import OccupancyGrid

    ros, ox, oy = occupancy_to_ros(grid, resolution, origin_xz)
    msg = OccupancyGrid()
    _header(msg.header, stamp, frame_id)
    msg.info.map_load_time = msg.header.stamp
    msg.info.resolution = float(resolution)
    msg.info.height, msg.info.width = int(ros.shape[0]), int(ros.shape[1])
    msg.info.origin.position.x, msg.info.origin.position.y = ox, oy
    msg.info.origin.orientation.w = 1.0
    msg.data = ros.reshape(-1).tolist()
    return msg


def _field(obj, *names, default=None):
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def instance_markers_msg(instances: Iterable, stamp=None, frame_id: str = "map", ns: str = "instances"):
    """visualization_msgs/MarkerArray: a cube and a text label per instance (Habitat-frame positions).

    Each instance is a dict or object with `position` (or `center`) [x, y, z] and `label` (or `category`),
    optionally `id`, `size`/`extent` [sx, sy, sz] (Habitat axes) and `score`. Starts with DELETEALL so
    instances that disappeared are removed in RViz."""
    from visualization_msgs.msg import Marker, MarkerArray

    out = MarkerArray()
    clear = Marker()
    _header(clear.header, stamp, frame_id)
    clear.action = Marker.DELETEALL
    out.markers.append(clear)
    for k, inst in enumerate(instances):
        pos = _field(inst, "position", "center", "centre")
        if pos is None:
            continue
        p = ros_from_habitat_vector(np.asarray(pos, float).reshape(3))
        if not np.isfinite(p).all():
            continue
        label = str(_field(inst, "label", "category", "name", default="object"))
        iid = int(_field(inst, "id", "instance_id", default=k))
        size = _field(inst, "size", "extent", default=None)
        s = np.abs(ros_from_habitat_vector(size)) if size is not None else np.array([0.3, 0.3, 0.3])
        s = np.where(np.isfinite(s) & (s > 0.01), s, 0.3)
        score = _field(inst, "score", default=None)
        rgb = _label_colour(label)
        box = Marker()
        _header(box.header, stamp, frame_id)
        box.ns, box.id, box.type, box.action = ns, 2 * iid, Marker.CUBE, Marker.ADD
        box.pose.position.x, box.pose.position.y, box.pose.position.z = p
        box.pose.orientation.w = 1.0
        box.scale.x, box.scale.y, box.scale.z = (float(v) for v in s)
        box.color.r, box.color.g, box.color.b, box.color.a = (*rgb, 0.5)
        text = Marker()
        _header(text.header, stamp, frame_id)
        text.ns, text.id, text.type, text.action = ns, 2 * iid + 1, Marker.TEXT_VIEW_FACING, Marker.ADD
        text.pose.position.x, text.pose.position.y = p[0], p[1]
        text.pose.position.z = p[2] + s[2] / 2 + 0.15
        text.pose.orientation.w = 1.0
        text.scale.z = 0.2
        text.color.r = text.color.g = text.color.b = text.color.a = 1.0
        text.text = label if score is None else f"{label} {float(score):.2f}"
        out.markers.extend([box, text])
    return out


def path_msg(points, stamp=None, frame_id: str = "map"):
    """(N, 2) Habitat x, z or (N, 3) x, y, z points -> nav_msgs/Path (orientation along the path)."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path

    pts = np.asarray(points, float)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise ValueError(f"path must be (N, 2) x, z or (N, 3) points, got shape {pts.shape}")
    if pts.shape[1] == 2:
        pts = np.stack([pts[:, 0], np.zeros(len(pts)), pts[:, 1]], 1)
    ros = np.array([ros_from_habitat_vector(p) for p in pts]).reshape(-1, 3)
    msg = Path()
    _header(msg.header, stamp, frame_id)
    for i, p in enumerate(ros):
        ps = PoseStamped()
        ps.header = msg.header
        nxt = ros[min(i + 1, len(ros) - 1)] - (p if i + 1 < len(ros) else ros[max(i - 1, 0)])
        yaw = math.atan2(nxt[1], nxt[0]) if np.hypot(nxt[0], nxt[1]) > 1e-9 else 0.0
        _set_pose(ps.pose, p, ros_yaw_quat(yaw))
        msg.poses.append(ps)
    return msg


# ============================================================================ helpers
def _label_colour(label: str) -> Tuple[float, float, float]:
    import zlib

    h = (zlib.crc32(label.encode()) % 360) / 360.0
    import colorsys

    return colorsys.hsv_to_rgb(h, 0.7, 0.95)


def _header(header, stamp, frame_id: str) -> None:
    if stamp is not None:
        header.stamp = stamp if not isinstance(stamp, (int, float)) else _time(stamp)
    header.frame_id = frame_id


def _time(seconds: float):
    import rospy

    return rospy.Time.from_sec(float(seconds))


def _set_pose(pose_msg, p, q) -> None:
    pose_msg.position.x, pose_msg.position.y, pose_msg.position.z = (float(v) for v in p)
    pose_msg.orientation.x, pose_msg.orientation.y, pose_msg.orientation.z, pose_msg.orientation.w = (
        float(v) for v in q)


def stamp_seconds(header) -> float:
    return header.stamp.to_sec()
