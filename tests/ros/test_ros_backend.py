"""RosBackend without the network: messages fed to its callbacks -> matched Observations (timestamp matching,
odometry interpolation, pose from TF), and `import navstack` never importing rospy."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from ros_helpers import REPO

pytestmark = pytest.mark.ros


def _backend(ros_node, ns, **overrides):
    from navstack.config import SimConfig
    from navstack.ros.backend import RosBackend
    from navstack.ros.config import load_robot_config

    return RosBackend(load_robot_config("sim", **overrides), SimConfig(width=8, height=6), namespace=ns)


def _frames(b, stamp, depth_stamp=None, width=8, height=6):
    from navstack.ros import conversions as cv
    from navstack.types import Intrinsics

    rgb = np.full((height, width, 3), int(stamp * 10) % 255, np.uint8)
    b._on_rgb(cv.image_from_rgb(rgb, stamp, "cam"))
    b._on_depth(cv.image_from_depth(np.full((height, width), 1.5, np.float32), depth_stamp or stamp, "cam"))
    b._on_info(cv.camera_info_from_intrinsics(Intrinsics.from_hfov(width, height, 79.0), stamp, "cam"))


def _odom(b, stamp, x, y=0.0, yaw=0.0):
    from navstack.ros import conversions as cv

    b._on_odom(cv.odometry_from_pose(cv.pose_from_ros([x, y, 0.0], cv.ros_yaw_quat(yaw)), stamp=stamp))


def test_observation_matches_stamps_and_interpolates_odometry(ros_node):
    from navstack.ros.backend import NoObservation

    b = _backend(ros_node, "/b1/", sync_tolerance=0.05)
    try:
        t = 1000.0
        _odom(b, t, 0.0)
        _odom(b, t + 0.1, 1.0, yaw=0.2)
        _frames(b, t + 0.05, depth_stamp=t + 0.06)
        obs = b.observe()
        assert obs.stamp == pytest.approx(t + 0.05)
        # Interpolated half-way: ROS x = 0.5 -> Habitat z = -0.5; yaw 0.1.
        np.testing.assert_allclose(obs.pose.position, [0.0, 0.0, -0.5], atol=1e-9)
        assert obs.pose.yaw == pytest.approx(0.1, abs=1e-6)
        assert obs.rgb.shape == (6, 8, 3) and obs.depth.dtype == np.float32 and obs.camera_height == 0.88
        # Nothing newer than that frame yet.
        with pytest.raises(NoObservation):
            b.observe(newer_than=obs.stamp)
        # A depth image too far in time does not match; the older matched frame is not returned as new either.
        _frames(b, t + 0.2, depth_stamp=t + 0.4)
        _odom(b, t + 0.2, 2.0)
        with pytest.raises(NoObservation):
            b.observe(newer_than=obs.stamp)
        # Odometry further than the tolerance from the image: no match.
        _frames(b, t + 0.5)
        with pytest.raises(NoObservation):
            b.observe(newer_than=obs.stamp)
        _odom(b, t + 0.52, 3.0)
        assert b.observe(newer_than=obs.stamp).stamp == pytest.approx(t + 0.5)
        # Frames from before a motion ended are never returned (min_stamp).
        b.min_stamp = t + 0.6
        with pytest.raises(NoObservation):
            b.observe()
    finally:
        b.shutdown()


def test_pose_from_tf_chain_map_odom_base(ros_node):
    from tf2_msgs.msg import TFMessage

    from navstack.ros import conversions as cv

    b = _backend(ros_node, "/b2/", pose_source="tf")
    try:
        t = 2000.0
        # map -> odom: 1 m along map x, rotated 90 deg; odom -> base_link: 2 m forward in odom.
        b._on_tf_static(TFMessage([cv.transform_stamped("map", "odom", (1, 0, 0), cv.ros_yaw_quat(math.pi / 2), t)]))
        b._on_tf(TFMessage([cv.transform_stamped("odom", "base_link", (2, 0, 0), cv.ros_yaw_quat(0.0), t)]))
        b._on_tf(TFMessage([cv.transform_stamped("odom", "base_link", (2, 0, 0), cv.ros_yaw_quat(0.0), t + 0.1)]))
        _frames(b, t + 0.05)
        obs = b.observe()
        # base in map: (1, 2, 0) heading +y (yaw 90 deg) -> Habitat (-2, 0, -1), yaw 90 deg.
        np.testing.assert_allclose(obs.pose.position, [-2.0, 0.0, -1.0], atol=1e-9)
        assert obs.pose.yaw == pytest.approx(math.pi / 2)
        # A malformed transform is counted and dropped.
        bad = cv.transform_stamped("odom", "base_link", (float("nan"), 0, 0), (0, 0, 0, 1), t + 0.2)
        b._on_tf(TFMessage([bad]))
        assert b.malformed["tf"] == 1
    finally:
        b.shutdown()


def test_size_mismatch_between_streams_is_reported(ros_node):
    from navstack.ros.backend import NoObservation

    b = _backend(ros_node, "/b3/")
    try:
        _odom(b, 3000.0, 0.0)
        _frames(b, 3000.0)
        from navstack.ros import conversions as cv

        b._on_depth(cv.image_from_depth(np.ones((3, 4), np.float32), 3000.01, "cam"))
        b._on_rgb(cv.image_from_rgb(np.zeros((6, 8, 3), np.uint8), 3000.01, "cam"))
        with pytest.raises(NoObservation, match="registered depth"):
            b.observe()
    finally:
        b.shutdown()


def test_import_navstack_never_imports_rospy():
    code = ("import sys, navstack, navstack.agent, navstack.ros, navstack.ros.config, navstack.ros.conversions, "
            "navstack.ros.backend, navstack.ros.agent_node, navstack.ros.sim_robot, navstack.ros.scripted, "
            "navstack.ros.testing; bad = [m for m in ('rospy', 'rosgraph', 'sensor_msgs') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
