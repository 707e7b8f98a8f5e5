"""The embedded simulator as a ROS robot (`navstack_sim_robot`).

A generated house (seed from the robot config or ~seed) and `EmbeddedBackend` in velocity mode:
* consumes cmd_vel (geometry_msgs/Twist); a command older than `sim.cmd_vel_timeout` counts as zero, like
  a real base's safety timeout; the unicycle is integrated at `sim.rate` Hz with the simulator's collision
  model (a blocked move stops at the contact point, no sliding);
* publishes odometry (nav_msgs/Odometry, odom -> base_link; the twist is the velocity actually achieved,
  so a blocked base reports zero) and TF odom -> base_link at `sim.rate`; map -> odom (identity: the sim's
  odometry is perfect), base_link -> camera_link and camera_link -> camera_optical_frame on /tf_static;
* publishes rgb (rgb8), depth (32FC1 metres) and camera_info, stamped alike in camera_optical_frame, at
  `sim.camera_rate` Hz, rendered at the pose of their stamp;
* `initialpose` (geometry_msgs/PoseWithCovarianceStamped, map frame, as RViz's "2D Pose Estimate" sends)
  teleports the robot (used by the benchmark to start episodes).

The map/odom frames are the house's world frame converted to REP-103 (see navstack.ros.conversions).
Parameters: ~robot_config (default sim), ~seed, ~start ("x z yaw", Habitat world frame), ~overrides.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from typing import Optional, Sequence

import numpy as np

from navstack.ros import conversions as cv
from navstack.ros.config import RobotConfig
from navstack.types import VelocityCommand, quat_from_yaw


def open_start(house, seed: int = 0, candidates: int = 300, reach: float = 3.0):
    """A deterministic start with free space ahead: (x, z, yaw) maximising the clear straight run."""
    rng = np.random.default_rng([seed, 7])
    grid = house.navgrid
    pts = grid.sample_navigable(rng, candidates)
    best, best_score = None, -1.0
    for x, z in pts:
        for k in range(12):
            yaw = -math.pi + k * math.pi / 6
            fwd = np.array([-math.sin(yaw), -math.cos(yaw)])
            frac = grid.segment_free(np.array([x, z]), np.array([x, z]) + fwd * reach, step=0.05)
            if frac > best_score:
                best, best_score = (float(x), float(z), float(yaw)), frac
        if best_score >= 1.0:
            break
    return best


class SimRobot:
    def __init__(self, config: RobotConfig, seed: Optional[int] = None, start: Optional[Sequence[float]] = None):
        import rospy
        from geometry_msgs.msg import PoseWithCovarianceStamped, Twist
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import CameraInfo, Image
        from tf2_msgs.msg import TFMessage

        from navstack.config import load_sim_config
        from navstack.sim.backend import EmbeddedBackend
        from navstack.sim.scene import HouseConfig, generate_house

        self.rospy = rospy
        self.config = config.validate()
        sc = config.sim
        self.seed = sc.seed if seed is None else int(seed)
        self.sim = load_sim_config(config.sim_config)
        t0 = time.monotonic()
        self.house = generate_house(self.seed, HouseConfig(agent_radius=self.sim.agent_radius))
        renderer = self.house.renderer(threads=sc.render_threads or None)
        self.backend = EmbeddedBackend(self.house, self.sim, renderer)
        start = start if start is not None else sc.start
        if start is None:
            start = open_start(self.house, self.seed)
        x, z, yaw = (float(v) for v in start)
        self.backend.reset(position=[x, 0.0, z], rotation=quat_from_yaw(yaw))
        rospy.loginfo(f"navstack sim robot: house {self.seed} ready in {time.monotonic() - t0:.1f} s, "
                      f"start x={x:.2f} z={z:.2f} yaw={yaw:.2f} (Habitat frame)")

        self._lock = threading.Lock()
        self._cmd = (0.0, 0.0)
        self._cmd_t = -math.inf
        self.velocity = (0.0, 0.0)  # achieved, for odometry
        self.malformed = 0
        t, fr = config.topics, config.frames
        self.fr = fr
        self.rgb_pub = rospy.Publisher(t.rgb, Image, queue_size=2)
        self.depth_pub = rospy.Publisher(t.depth, Image, queue_size=2)
        self.info_pub = rospy.Publisher(t.camera_info, CameraInfo, queue_size=2)
        self.odom_pub = rospy.Publisher(t.odom, Odometry, queue_size=10)
        self.tf_pub = rospy.Publisher(t.tf, TFMessage, queue_size=10)
        self.tf_static_pub = rospy.Publisher(t.tf_static, TFMessage, queue_size=1, latch=True)
        self._subs = [
            rospy.Subscriber(t.cmd_vel, Twist, self._on_cmd, queue_size=1, tcp_nodelay=True),
            rospy.Subscriber(t.initialpose, PoseWithCovarianceStamped, self._on_initialpose, queue_size=1),
        ]
        self._publish_static()

    # ------------------------------------------------------------------ inputs
    def _on_cmd(self, msg) -> None:
        try:
            c = cv.command_from_twist(msg)
        except cv.MalformedMessage as e:
            self.malformed += 1
            self.rospy.logwarn_throttle(2.0, f"navstack sim robot: {e}; stopping")
            c = VelocityCommand(0.0, 0.0)
        with self._lock:
            self._cmd = (c.linear, c.angular)
            self._cmd_t = time.monotonic()

    def _on_initialpose(self, msg) -> None:
        p = msg.pose.pose
        try:
            pose = cv.pose_from_ros([p.position.x, p.position.y, p.position.z],
                                    [p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w])
            with self._lock:
                self.backend.reset(position=[pose.position[0], 0.0, pose.position[2]], rotation=quat_from_yaw(pose.yaw))
                self._cmd, self._cmd_t = (0.0, 0.0), -math.inf
                self.velocity = (0.0, 0.0)
        except ValueError as e:
            self.rospy.logerr(f"navstack sim robot: initialpose rejected: {e}")
            return
        self.rospy.loginfo(f"navstack sim robot: teleported to x={pose.position[0]:.2f} z={pose.position[2]:.2f} "
                           f"yaw={pose.yaw:.2f} (Habitat frame)")

    # ------------------------------------------------------------------ outputs
    def _publish_static(self) -> None:
        from tf2_msgs.msg import TFMessage

        now = self.rospy.Time.now()
        fr = self.fr
        pitch = -math.radians(self.config.camera_pitch_deg)  # ROS pitch about +y: positive looks down
        cam_q = np.array([0.0, math.sin(pitch / 2), 0.0, math.cos(pitch / 2)])
        self.tf_static_pub.publish(TFMessage([
            cv.transform_stamped(fr.map, fr.odom, (0, 0, 0), (0, 0, 0, 1), now),
            cv.transform_stamped(fr.base, fr.camera, (0, 0, self.sim.sensor_height), cam_q, now),
            cv.transform_stamped(fr.camera, fr.camera_optical, (0, 0, 0), cv.OPTICAL_FROM_LINK, now),
        ]))

    def step(self, dt: float) -> None:
        now = time.monotonic()
        with self._lock:
            v, w = self._cmd if now - self._cmd_t <= self.config.sim.cmd_vel_timeout else (0.0, 0.0)
            b = self.backend
            x0, z0, yaw0 = b.position[0], b.position[2], b.yaw
            if dt > 0 and (v != 0.0 or w != 0.0):
                b.act(VelocityCommand(v, w, dt))
            dx, dz = b.position[0] - x0, b.position[2] - z0
            fwd = -math.sin(yaw0) * dx - math.cos(yaw0) * dz
            dyaw = (b.yaw - yaw0 + math.pi) % (2 * math.pi) - math.pi
            self.velocity = (fwd / dt, dyaw / dt) if dt > 0 else (0.0, 0.0)
            pose = b.pose
        self._publish_pose(pose, self.rospy.Time.now())

    def _publish_pose(self, pose, stamp) -> None:
        from tf2_msgs.msg import TFMessage

        fr = self.fr
        odom = cv.odometry_from_pose(pose, *self.velocity, stamp=stamp, frame_id=fr.odom, child_frame_id=fr.base)
        self.odom_pub.publish(odom)
        p, q = cv.ros_from_pose(pose)
        self.tf_pub.publish(TFMessage([cv.transform_stamped(fr.odom, fr.base, p, q, stamp)]))

    def render_once(self) -> None:
        with self._lock:
            shadow = copy.copy(self.backend)  # shares the renderer; position/yaw are replaced, never mutated
            stamp = self.rospy.Time.now()
        obs = shadow.observe()
        frame = self.fr.camera_optical
        self.rgb_pub.publish(cv.image_from_rgb(obs.rgb, stamp, frame))
        self.depth_pub.publish(cv.image_from_depth(obs.depth, stamp, frame))
        self.info_pub.publish(cv.camera_info_from_intrinsics(obs.intrinsics, stamp, frame))

    def _camera_loop(self) -> None:
        period = 1.0 / self.config.sim.camera_rate
        nxt = time.monotonic()
        while not self.rospy.is_shutdown():
            try:
                self.render_once()
            except Exception as e:  # noqa: BLE001 - keep the robot alive; a render error is logged
                self.rospy.logerr_throttle(5.0, f"navstack sim robot: render failed: {e}")
            nxt += period
            delay = nxt - time.monotonic()
            if delay < 0:
                nxt = time.monotonic()  # rendering slower than the rate: publish as fast as it can
            else:
                time.sleep(delay)

    def run(self) -> None:
        cam = threading.Thread(target=self._camera_loop, name="sim-camera", daemon=True)
        cam.start()
        period = 1.0 / self.config.sim.rate
        last = time.monotonic()
        nxt = last
        while not self.rospy.is_shutdown():
            now = time.monotonic()
            self.step(now - last)
            last = now
            nxt += period
            delay = nxt - time.monotonic()
            if delay < 0:
                nxt = time.monotonic()
            else:
                time.sleep(delay)


def main(argv=None) -> int:
    import rospy

    from navstack.ros.agent_node import config_from_params

    rospy.init_node("navstack_sim_robot", argv=argv)
    try:
        config = config_from_params(rospy)
        seed = rospy.get_param("~seed", "")
        start = rospy.get_param("~start", "")
        if isinstance(start, str):
            start = [float(v) for v in start.replace(",", " ").split()] or None
        if start is not None and len(start) != 3:
            raise ValueError(f"~start must be 'x z yaw', got {start!r}")
        robot = SimRobot(config, None if seed in (None, "") else int(seed), start)
    except (ValueError, FileNotFoundError) as e:
        rospy.logfatal(f"navstack sim robot: {e}")
        return 2
    try:
        robot.run()
    except rospy.ROSInterruptException:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
