"""RosBackend: a robot's topics as a navstack backend (observe() -> Observation, act(action) -> cmd_vel).

Inputs: RGB and depth `sensor_msgs/Image`, `sensor_msgs/CameraInfo`, and the base pose from
`nav_msgs/Odometry` (pose_source: odom) or from TF, map -> base (pose_source: tf). Messages are converted
in their callbacks; a malformed one is logged (throttled), counted in `malformed` and dropped.

observe() returns the newest *matched* frame: an RGB image, the depth image closest in time (within
`sync_tolerance`), and the pose interpolated at the image stamp (nearest within the tolerance otherwise).

act(action):
* `VelocityCommand` -> one Twist, limited (velocity and acceleration), held for `dt` (re-published by the
  watchdog thread at the control rate), returns at once;
* Habitat's discrete actions -> closed-loop motion on odometry (forward_step_size metres / turn_angle
  degrees from the agent's sim config) at the control rate with the same limits; returns when the base has
  stopped, so the next observe() only returns a frame taken after the motion;
* STOP -> ramps the base down to zero within the deceleration limits.

Safety (the watchdog thread, started by `start_watchdog()`): when RGB, depth or pose messages stop
arriving for more than `stale_timeout` seconds, or a held command expires, it publishes a zero Twist
(at the control rate while stale). `emergency_stop()` (used when the agent raises) does the same. Every
non-zero command is refused while sensors are stale.

rospy is imported when a RosBackend is built, never at module import.
"""

from __future__ import annotations

import bisect
import collections
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Tuple

import numpy as np

from navstack.config import SimConfig
from navstack.ros import conversions as cv
from navstack.ros.config import RobotConfig
from navstack.types import Action, DiscreteAction, Intrinsics, Observation, VelocityCommand

class NoObservation(RuntimeError):
    """No matched frame is available (yet): stale or missing sensors, or nothing matches in time."""


class SensorsStale(NoObservation):
    pass


@dataclass
class ActionResult:
    status: str  # done | blocked | cancelled | stale | timeout
    detail: str = ""


@dataclass
class _Stamped:
    stamp: float
    value: object
    received: float


class _TfTree:
    """The latest transforms per child frame from /tf (history) and /tf_static; lookup by walking parents."""

    def __init__(self, history: int = 100):
        self.parent: Dict[str, str] = {}
        self.dynamic: Dict[str, Deque[Tuple[float, cv.RigidTransform]]] = {}
        self.static: Dict[str, cv.RigidTransform] = {}
        self.history = history

    def add(self, parent: str, child: str, stamp: float, tf: cv.RigidTransform, static: bool) -> None:
        parent, child = parent.lstrip("/"), child.lstrip("/")
        self.parent[child] = parent
        if static:
            self.static[child] = tf
            return
        d = self.dynamic.setdefault(child, collections.deque(maxlen=self.history))
        if d and stamp < d[-1][0]:
            d.clear()  # time went backwards (bag loop, sim reset)
        d.append((stamp, tf))

    def _edge(self, child: str, stamp: Optional[float], tol: float) -> cv.RigidTransform:
        if child in self.static:
            return self.static[child]
        d = self.dynamic.get(child)
        if not d:
            raise LookupError(f"no transform to frame {child!r}")
        if stamp is None:
            return d[-1][1]
        return _sample_at(list(d), stamp, tol, what=f"transform {self.parent.get(child)} -> {child}")

    def lookup(self, target: str, source: str, stamp: Optional[float], tol: float) -> cv.RigidTransform:
        """Transform target <- source at `stamp` (None: latest)."""

        def chain(frame):
            out = [frame]
            while out[-1] in self.parent and len(out) < 64:
                out.append(self.parent[out[-1]])
            return out

        up_s, up_t = chain(source), chain(target)
        common = next((f for f in up_s if f in set(up_t)), None)
        if common is None:
            raise LookupError(f"frames {target!r} and {source!r} are not connected in TF")

        def to_common(ch):
            t = cv.RigidTransform()
            for f in ch[: ch.index(common)]:
                t = self._edge(f, stamp, tol) @ t
            return t

        return to_common(up_t).inverse() @ to_common(up_s)


def _sample_at(samples: List[Tuple[float, object]], stamp: float, tol: float, what: str):
    """Interpolated (RigidTransform) or nearest sample at `stamp` from time-sorted (stamp, value) pairs."""
    stamps = [s for s, _ in samples]
    i = bisect.bisect_left(stamps, stamp)
    if 0 < i < len(samples):
        (s0, v0), (s1, v1) = samples[i - 1], samples[i]
        if s1 - s0 <= max(tol, 1e-9) * 4 and isinstance(v0, cv.RigidTransform):
            a = 0.0 if s1 <= s0 else (stamp - s0) / (s1 - s0)
            return v0.interpolate(v1, a)
    best = min(samples, key=lambda sv: abs(sv[0] - stamp))
    if abs(best[0] - stamp) > tol:
        raise LookupError(f"no {what} within {tol:.3f} s of {stamp:.3f} (nearest {best[0] - stamp:+.3f} s)")
    return best[1]


class RosBackend:
    def __init__(self, config: RobotConfig, sim_config: Optional[SimConfig] = None, namespace: str = ""):
        import rospy
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import CameraInfo, Image

        self.rospy = rospy
        self.config = config.validate()
        self.sim = (sim_config or SimConfig()).validate()
        self.period = 1.0 / config.control_rate
        self.tol = config.sync_tolerance
        self._lock = threading.RLock()  # sensor buffers
        self._cond = threading.Condition(self._lock)
        self._pub_lock = threading.RLock()  # cmd_vel publisher + limiter
        self._rgb: Deque[_Stamped] = collections.deque(maxlen=6)
        self._depth: Deque[_Stamped] = collections.deque(maxlen=6)
        self._poses: Deque[_Stamped] = collections.deque(maxlen=200)  # RigidTransform in the world frame
        self._twists: Deque[_Stamped] = collections.deque(maxlen=50)  # (v, w) from odometry
        self._tf = _TfTree()
        self.intrinsics: Optional[Intrinsics] = None
        self.last_received: Dict[str, float] = {}
        self.malformed: Dict[str, int] = collections.Counter()
        self.last_malformed: str = ""
        self.min_stamp = -math.inf  # frames older than this are never returned (after a motion)
        self.limiter = cv.VelocityLimiter(config.limits, self.period)
        self.last_command: Tuple[float, float] = (0.0, 0.0)
        # What was published, in order: cmd_vel has queue_size 1 (the newest command wins on a slow link), so
        # a subscriber may miss some; this log is what the limits apply to.
        self.command_log: Deque[Tuple[float, float, float]] = collections.deque(maxlen=2000)
        self._last_pub = -math.inf
        self._held: Optional[VelocityCommand] = None
        self._held_until = -math.inf
        self.stale: List[str] = []
        self.zero_count = 0
        self.on_stale_change: Optional[Callable[[List[str]], None]] = None
        self._watchdog: Optional[threading.Thread] = None
        self._closed = threading.Event()
        self._ever_moved = False

        t, ns = config.topics, namespace
        kw = dict(queue_size=2, buff_size=1 << 24, tcp_nodelay=True)
        self.cmd_pub = rospy.Publisher(ns + t.cmd_vel, Twist, queue_size=1, tcp_nodelay=True)
        self._subs = [
            rospy.Subscriber(ns + t.rgb, Image, self._on_rgb, **kw),
            rospy.Subscriber(ns + t.depth, Image, self._on_depth, **kw),
            rospy.Subscriber(ns + t.camera_info, CameraInfo, self._on_info, queue_size=1),
        ]
        # Odometry is subscribed in both modes: its twist tells when the base has stopped.
        self._subs.append(rospy.Subscriber(ns + t.odom, Odometry, self._on_odom, queue_size=20, tcp_nodelay=True))
        if config.pose_source == "tf":
            from tf2_msgs.msg import TFMessage

            self._subs.append(rospy.Subscriber(t.tf, TFMessage, self._on_tf, queue_size=50))
            self._subs.append(rospy.Subscriber(t.tf_static, TFMessage, self._on_tf_static, queue_size=50))

    # ================================================================== callbacks
    def _bad(self, topic: str, err: Exception) -> None:
        self.malformed[topic] += 1
        self.last_malformed = f"{topic}: {err}"
        self.rospy.logwarn_throttle(2.0, f"navstack: dropped malformed {topic} message: {err}")

    def _push(self, buf: Deque[_Stamped], name: str, stamp: float, value) -> None:
        now = time.monotonic()
        with self._cond:
            if buf and stamp < buf[-1].stamp - 1.0:
                buf.clear()  # the clock jumped back (sim reset, bag loop)
            buf.append(_Stamped(stamp, value, now))
            self.last_received[name] = now
            self._cond.notify_all()

    def _on_rgb(self, msg) -> None:
        try:
            stamp = self._stamp(msg, "rgb")
            self._push(self._rgb, "rgb", stamp, cv.rgb_from_image(msg))
        except (cv.MalformedMessage, ValueError) as e:
            self._bad("rgb", e)

    def _on_depth(self, msg) -> None:
        try:
            stamp = self._stamp(msg, "depth")
            self._push(self._depth, "depth", stamp, cv.depth_from_image(msg))
        except (cv.MalformedMessage, ValueError) as e:
            self._bad("depth", e)

    def _on_info(self, msg) -> None:
        try:
            intr = cv.intrinsics_from_camera_info(msg)
        except (cv.MalformedMessage, ValueError) as e:
            self._bad("camera_info", e)
            return
        with self._lock:
            self.intrinsics = intr
            self.last_received["camera_info"] = time.monotonic()

    def _on_odom(self, msg) -> None:
        try:
            stamp = self._stamp(msg, "odometry")
            tf = cv.transform_from_odometry(msg)
            tw = msg.twist.twist
            v, w = float(tw.linear.x), float(tw.angular.z)
            if not (math.isfinite(v) and math.isfinite(w)):
                raise cv.MalformedMessage(f"odometry: twist has non-finite values ({v}, {w})")
        except (cv.MalformedMessage, ValueError) as e:
            self._bad("odom", e)
            return
        self._push(self._twists, "odom", stamp, (v, w))
        if self.config.pose_source == "odom":
            self._push(self._poses, "pose", stamp, tf)

    def _on_tf(self, msg, static: bool = False) -> None:
        fr = self.config.frames
        updated = None
        for ts in msg.transforms:
            try:
                stamp = self._stamp(ts, "tf")
                tf = cv.transform_from_msg(ts.transform, f"tf {ts.header.frame_id} -> {ts.child_frame_id}")
            except (cv.MalformedMessage, ValueError) as e:
                self._bad("tf", e)
                continue
            with self._lock:
                self._tf.add(ts.header.frame_id, ts.child_frame_id, stamp, tf, static)
            if ts.child_frame_id.lstrip("/") == fr.base:
                updated = stamp
        if updated is not None:
            try:
                with self._lock:
                    pose = self._tf.lookup(fr.map, fr.base, updated, self.tol)
            except LookupError as e:
                self.rospy.logwarn_throttle(5.0, f"navstack: no {fr.map} -> {fr.base} transform yet: {e}")
                return
            self._push(self._poses, "pose", updated, pose)

    def _on_tf_static(self, msg) -> None:
        self._on_tf(msg, static=True)

    @staticmethod
    def _stamp(msg, what: str) -> float:
        s = msg.header.stamp.to_sec()
        if not math.isfinite(s) or s <= 0:
            raise cv.MalformedMessage(f"{what}: header stamp {s} is not set")
        return s

    # ================================================================== sensors
    def stale_sensors(self, now: Optional[float] = None) -> List[str]:
        now = time.monotonic() if now is None else now
        out = []
        for name in ("rgb", "depth", "pose"):
            t = self.last_received.get(name)
            if t is None or now - t > self.config.stale_timeout:
                out.append(name)
        if "camera_info" not in self.last_received:
            out.append("camera_info")
        return out

    def _match(self, newer_than: float) -> Optional[Observation]:
        """Newest complete frame with stamp > newer_than (and >= min_stamp); caller holds the lock."""
        if self.intrinsics is None or not self._rgb or not self._depth or not self._poses:
            return None
        poses = [(p.stamp, p.value) for p in self._poses]
        for rgb in reversed(self._rgb):
            if rgb.stamp <= newer_than or rgb.stamp < self.min_stamp:
                return None
            depth = min(self._depth, key=lambda d: abs(d.stamp - rgb.stamp))
            if abs(depth.stamp - rgb.stamp) > self.tol:
                continue
            try:
                world_base = _sample_at(poses, rgb.stamp, self.tol, "pose")
            except LookupError:
                continue
            im, dm, intr = rgb.value, depth.value, self.intrinsics
            if dm.shape != im.shape[:2]:
                raise NoObservation(f"depth image is {dm.shape[1]}x{dm.shape[0]} but rgb is "
                                    f"{im.shape[1]}x{im.shape[0]}: publish registered depth")
            if (intr.width, intr.height) != (im.shape[1], im.shape[0]):
                raise NoObservation(f"camera_info is {intr.width}x{intr.height} but rgb is {im.shape[1]}x{im.shape[0]}")
            return Observation(im, dm, cv.pose_from_transform(world_base), intr, rgb.stamp,
                               self.config.camera_height, math.radians(self.config.camera_pitch_deg))
        return None

    def observe(self, newer_than: float = -math.inf, timeout: float = 0.0) -> Observation:
        """The newest matched frame (stamp > newer_than); waits up to `timeout` s. Raises NoObservation."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                obs = self._match(newer_than)
                if obs is not None:
                    return obs
                stale = self.stale_sensors()
                left = deadline - time.monotonic()
                if left <= 0:
                    if stale:
                        raise SensorsStale(f"sensors stale or missing: {', '.join(stale)}")
                    raise NoObservation(f"no rgb/depth/pose frame matched within {self.tol:.3f} s"
                                        if newer_than == -math.inf else "no new frame yet")
                self._cond.wait(min(left, 0.05))

    def latest_pose(self) -> Optional[Tuple[float, cv.RigidTransform]]:
        with self._lock:
            if not self._poses:
                return None
            p = self._poses[-1]
            return p.stamp, p.value

    # ================================================================== commands
    def _publish(self, v: float, w: float) -> None:
        self._ever_moved = self._ever_moved or v != 0.0 or w != 0.0
        self.cmd_pub.publish(cv.twist(v, w))
        self.last_command = (v, w)
        self._last_pub = time.monotonic()
        self.command_log.append((self._last_pub, v, w))

    def send_velocity(self, linear: float, angular: float) -> bool:
        """Publish a limited Twist; refused (zero published instead) while sensors are stale."""
        with self._pub_lock:
            now = time.monotonic()
            if self.stale_sensors(now):
                self.emergency_stop()
                return False
            v, w = self.limiter(linear, angular, now)
            self._publish(v, w)
            return True

    def emergency_stop(self) -> None:
        """Zero Twist now, ignoring the deceleration limit (stale sensors, agent error, shutdown)."""
        with self._pub_lock:
            self._held = None
            self._publish(0.0, 0.0)
            self.limiter.reset(time.monotonic())
            self.zero_count += 1

    def ramp_down(self, cancel: Optional[threading.Event] = None) -> None:
        """Decelerate to zero within the limits (STOP, goal cancelled)."""
        with self._pub_lock:
            self._held = None
        rate = self.rospy.Rate(self.config.control_rate)
        for _ in range(1000):
            if self.limiter.linear == 0.0 and self.limiter.angular == 0.0:
                break
            if not self.send_velocity(0.0, 0.0) or self.rospy.is_shutdown():
                return
            rate.sleep()
        self.send_velocity(0.0, 0.0)

    def act(self, action: Action, cancel: Optional[threading.Event] = None) -> ActionResult:
        if isinstance(action, VelocityCommand):
            if not all(math.isfinite(x) for x in (action.linear, action.angular, action.dt)) or action.dt < 0:
                raise ValueError(f"velocity command {action} has non-finite or negative values")
            with self._pub_lock:
                ok = self.send_velocity(action.linear, action.angular)
                if ok:
                    self._held, self._held_until = action, time.monotonic() + action.dt
            return ActionResult("done" if ok else "stale")
        try:
            action = DiscreteAction(action)
        except ValueError:
            raise ValueError(f"unknown action {action!r}; expected a DiscreteAction or VelocityCommand") from None
        if action == DiscreteAction.STOP:
            self.ramp_down()
            return ActionResult("done")
        if action in (DiscreteAction.LOOK_UP, DiscreteAction.LOOK_DOWN):
            self.rospy.logwarn_once(f"navstack: {action.name} needs a pan-tilt head; ignored on this robot")
            return ActionResult("done", "no pan-tilt head")
        with self._pub_lock:
            self._held = None
        if action == DiscreteAction.MOVE_FORWARD:
            res = self._drive(self.sim.forward_step_size, 0.0, cancel)
        else:
            sign = 1.0 if action == DiscreteAction.TURN_LEFT else -1.0
            res = self._drive(0.0, sign * math.radians(self.sim.turn_angle), cancel)
        if res.status in ("done", "blocked"):
            self._settle()
        return res

    # ------------------------------------------------------------------ discrete motion
    def _drive(self, distance: float, angle: float, cancel: Optional[threading.Event]) -> ActionResult:
        d = self.config.discrete
        lim = self.config.limits
        start = self.latest_pose()
        if start is None:
            return ActionResult("stale", "no pose yet")
        p0 = start[1]
        yaw0 = cv.yaw_from_ros_quat(p0.q)
        fwd = np.array([math.cos(yaw0), math.sin(yaw0)])
        target_yaw = yaw0 + angle
        vmax = min(d.linear_speed, lim.max_linear)
        wmax = min(d.angular_speed, lim.max_angular)
        ang_tol = math.radians(d.angle_tolerance_deg)
        rate = self.rospy.Rate(self.config.control_rate)
        T = self.period
        t0 = time.monotonic()
        best, best_t = -math.inf, t0
        while True:
            if self.rospy.is_shutdown():
                self.emergency_stop()
                return ActionResult("cancelled", "shutdown")
            if cancel is not None and cancel.is_set():
                self.ramp_down()
                return ActionResult("cancelled")
            now = time.monotonic()
            latest = self.latest_pose()
            if latest is None:
                self.emergency_stop()
                return ActionResult("stale", "pose lost")
            stamp, p = latest
            yaw = cv.yaw_from_ros_quat(p.q)
            # The base kept moving since the pose was measured: predict with the last command.
            age = min(max(self.rospy.get_time() - stamp, 0.0), 2.0 * T)
            v_last, w_last = self.limiter.linear, self.limiter.angular
            if distance > 0:
                travelled = float(np.dot(p.t[:2] - p0.t[:2], fwd))
                rem = distance - travelled - v_last * age
                if rem <= d.position_tolerance:
                    break
                if travelled > best + 1e-3:
                    best, best_t = travelled, now
                elif now - best_t > d.stall_time:
                    self.ramp_down()
                    return ActionResult("blocked", f"stopped after {travelled:.3f} of {distance:.3f} m")
                v = min(vmax, _braking_speed(rem, lim.max_linear_accel, T))
                w = d.heading_gain * _wrap(yaw0 - yaw)
            else:
                err = _wrap(target_yaw - yaw)
                pred = err - w_last * age
                if abs(pred) <= ang_tol:
                    break
                progress = -abs(err)
                if progress > best + 1e-3:
                    best, best_t = progress, now
                elif now - best_t > d.stall_time:
                    self.ramp_down()
                    return ActionResult("blocked", f"turn stalled {math.degrees(err):.1f} deg short")
                w = math.copysign(min(wmax, _braking_speed(abs(pred), lim.max_angular_accel, T)), pred)
                v = 0.0
            if now - t0 > d.timeout:
                self.ramp_down()
                return ActionResult("timeout", f"action took more than {d.timeout} s")
            if not self.send_velocity(v, w):
                return ActionResult("stale", ", ".join(self.stale_sensors()))
            rate.sleep()
        # At the target the speed is already near zero: one step within the limits stops the base.
        self.ramp_down()
        return ActionResult("done")

    def _settle(self) -> None:
        """Wait until odometry reports the base stopped; later frames only (min_stamp)."""
        d = self.config.discrete
        t_zero = time.monotonic()
        deadline = t_zero + d.settle_timeout
        with self._cond:
            while time.monotonic() < deadline:
                for s in self._twists:
                    v, w = s.value
                    if s.received > t_zero and abs(v) <= d.settle_linear and abs(w) <= d.settle_angular:
                        self.min_stamp = s.stamp
                        return
                self._cond.wait(0.02)
        # No odometry twist (pose from TF only) or it never reads zero: the time now.
        self.min_stamp = self.rospy.get_time()

    # ================================================================== watchdog
    def start_watchdog(self, rate: float = 50.0) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, args=(rate,), name="navstack-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self, rate: float) -> None:
        """Zero velocity when sensors go stale (at once, then a few repeats against lost messages; only if
        this node ever commanded motion, so it never fights a joystick on an idle robot), and when a command
        is not refreshed: held VelocityCommands are re-published until their dt is over."""
        dt = 1.0 / rate
        was_stale: List[str] = []
        last_zero = -math.inf
        repeats = 0
        while not self.rospy.is_shutdown() and not self._closed.is_set():
            now = time.monotonic()
            stale = [s for s in self.stale_sensors(now) if s != "camera_info"]
            with self._pub_lock:
                moving = self.last_command != (0.0, 0.0)
                if stale and self._ever_moved:
                    if not was_stale or moving:
                        repeats = 3
                    if moving or (repeats > 0 and now - last_zero >= self.period):
                        self.emergency_stop()
                        last_zero, repeats = now, repeats - 1
                elif self._held is not None:
                    if now <= self._held_until:
                        if now - self._last_pub >= self.period:
                            self.send_velocity(self._held.linear, self._held.angular)
                    elif now - self._last_pub > self.config.stale_timeout:
                        self.rospy.logwarn_throttle(5.0, "navstack watchdog: no new command: zero velocity")
                        self.emergency_stop()
                elif moving and now - self._last_pub > self.config.stale_timeout:
                    self.emergency_stop()  # a command nobody refreshes (the control loop is stuck)
            if stale != was_stale:
                if stale and not self.last_received:
                    self.rospy.loginfo(f"navstack: waiting for sensors ({', '.join(stale)})")
                elif stale:
                    self.rospy.logwarn(f"navstack watchdog: sensors stale ({', '.join(stale)})"
                                       + (": zero velocity" if self._ever_moved else ""))
                elif was_stale:
                    self.rospy.loginfo("navstack watchdog: sensors fresh again")
                self.stale = stale
                if self.on_stale_change:
                    self.on_stale_change(stale)
            was_stale = stale
            time.sleep(dt)

    def shutdown(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self.emergency_stop()
        except Exception:  # noqa: BLE001 - the publisher may already be closed
            pass
        for s in self._subs:
            s.unregister()
        self.cmd_pub.unregister()


def _braking_speed(remaining: float, accel: float, period: float) -> float:
    """The highest speed from which the base still stops within `remaining`: this command runs for about one
    period, then the limiter ramps down by accel*period per period (~v^2/2a + v*T/2), so
    1.5*v*T + v^2/(2a) <= remaining."""
    if remaining <= 0:
        return 0.0
    return accel * (-1.5 * period + math.sqrt(2.25 * period * period + 2.0 * remaining / accel))


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi
