"""Helpers of the ROS tests (imported by the test modules; fixtures are in conftest.py)."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    """Collects messages of a topic with their receipt time (monotonic)."""

    def __init__(self, rospy, topic, cls, convert=lambda m: m):
        self.items = []
        self.lock = threading.Lock()
        self.convert = convert
        self.sub = rospy.Subscriber(topic, cls, self._cb, queue_size=100, tcp_nodelay=True)

    def _cb(self, msg):
        with self.lock:
            self.items.append((time.monotonic(), self.convert(msg)))

    def snapshot(self):
        with self.lock:
            return list(self.items)

    def wait_for(self, pred, timeout, what="message", after=-math.inf):
        """First (time, message) received after `after` (monotonic) that satisfies `pred`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, m in self.snapshot():
                if t > after and pred(m):
                    return t, m
            time.sleep(0.02)
        last = self.snapshot()[-1:] if self.items else None
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last}")

    def close(self):
        self.sub.unregister()


def status_of(msg):
    return json.loads(msg.data)


def twist_of(msg):
    return (msg.linear.x, msg.angular.z)


class FakeRobot:
    """Publishes rgb/depth/camera_info/odometry at `rate` Hz in namespace `ns`; with `drive`, a perfect
    unicycle base that follows `ns`cmd_vel (x forward, yaw in the odom frame)."""

    def __init__(self, rospy, ns: str, width: int = 64, height: int = 48, rate: float = 15.0, drive: bool = False):
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import CameraInfo, Image

        self.rospy = rospy
        self.ns = ns
        self.rate = rate
        self.rgb = rospy.Publisher(ns + "camera/rgb/image_raw", Image, queue_size=2)
        self.depth = rospy.Publisher(ns + "camera/depth/image_raw", Image, queue_size=2)
        self.info = rospy.Publisher(ns + "camera/rgb/camera_info", CameraInfo, queue_size=2)
        self.odom = rospy.Publisher(ns + "odom", Odometry, queue_size=5)
        from navstack.types import Intrinsics

        self.intr = Intrinsics.from_hfov(width, height, 79.0)
        self.img = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
        self.dep = np.full((height, width), 2.0, np.float32)
        self.x = self.y = self.yaw = 0.0
        self.cmd = (0.0, 0.0)
        self.drive = drive
        self.lock = threading.Lock()
        self.cmd_sub = rospy.Subscriber(ns + "cmd_vel", Twist, self._on_cmd, queue_size=1) if drive else None
        self.running = threading.Event()
        self.last_publish = None
        self.count = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._alive = True
        self._thread.start()

    def _on_cmd(self, msg):
        with self.lock:
            self.cmd = (msg.linear.x, msg.angular.z)

    def _integrate(self, dt):
        with self.lock:
            v, w = self.cmd
            n = 10
            for _ in range(n):
                self.yaw += w * dt / n
                self.x += v * math.cos(self.yaw) * dt / n
                self.y += v * math.sin(self.yaw) * dt / n
            return v, w

    def publish_once(self, dt=0.0):
        from navstack.ros import conversions as cv

        v, w = self._integrate(dt) if self.drive else (0.0, 0.0)
        stamp = self.rospy.Time.now()
        with self.lock:
            pose = cv.pose_from_ros([self.x, self.y, 0.0], cv.ros_yaw_quat(self.yaw))
        self.rgb.publish(cv.image_from_rgb(self.img, stamp, "camera_optical_frame"))
        self.depth.publish(cv.image_from_depth(self.dep, stamp, "camera_optical_frame"))
        self.info.publish(cv.camera_info_from_intrinsics(self.intr, stamp, "camera_optical_frame"))
        self.odom.publish(cv.odometry_from_pose(pose, v, w, stamp=stamp))
        self.last_publish = time.monotonic()
        self.count += 1

    def _loop(self):
        last = time.monotonic()
        while self._alive:
            now = time.monotonic()
            if self.running.is_set():
                self.publish_once(now - last)
            last = now
            time.sleep(1.0 / self.rate)

    def start(self):
        self.running.set()

    def stop(self):
        self.running.clear()
        time.sleep(1.5 / self.rate)  # let an in-flight publish finish
        return self.last_publish

    def close(self):
        self._alive = False
        self.running.clear()
        for p in (self.rgb, self.depth, self.info, self.odom):
            p.unregister()
        if self.cmd_sub is not None:
            self.cmd_sub.unregister()


def wait_subscribed(pub, n=1, timeout=20.0):
    deadline = time.monotonic() + timeout
    while pub.get_num_connections() < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"nobody subscribed to {pub.resolved_name} within {timeout} s")
        time.sleep(0.02)


def angle_diff(a, b):
    return (a - b + math.pi) % (2 * math.pi) - math.pi
