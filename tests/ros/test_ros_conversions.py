"""Message <-> numpy / navstack conversions: round trips for every encoding, frames, limits; malformed input."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from navstack.types import Intrinsics, Pose, VelocityCommand, quat_from_yaw

cv = pytest.importorskip("navstack.ros.conversions")

pytestmark = pytest.mark.ros


def wire(msg):
    """Serialise and deserialise as rospy does on the wire (data arrives as bytes)."""
    buf = io.BytesIO()
    msg.serialize(buf)
    out = type(msg)()
    out.deserialize(buf.getvalue())
    return out


RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_rgb_round_trip(encoding):
    msg = wire(cv.image_from_rgb(RGB, 12.5, "cam", encoding))
    assert msg.encoding == encoding and msg.header.frame_id == "cam"
    assert msg.header.stamp.to_sec() == pytest.approx(12.5)
    out = cv.rgb_from_image(msg)
    assert out.dtype == np.uint8 and out.shape == RGB.shape and out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)
    if encoding == "bgr8":
        raw = np.frombuffer(msg.data, np.uint8).reshape(24, 32, 3)
        np.testing.assert_array_equal(raw, RGB[..., ::-1])


@pytest.mark.parametrize("encoding,alpha_first_channel", [("rgba8", False), ("bgra8", True)])
def test_rgba_and_bgra_drop_alpha(encoding, alpha_first_channel):
    from sensor_msgs.msg import Image

    px = np.concatenate([RGB[..., ::-1] if alpha_first_channel else RGB, np.full((24, 32, 1), 7, np.uint8)], 2)
    msg = Image(height=24, width=32, encoding=encoding, step=32 * 4, data=px.tobytes())
    np.testing.assert_array_equal(cv.rgb_from_image(wire(msg)), RGB)


def test_rgb_row_padding_is_skipped():
    from sensor_msgs.msg import Image

    step = 32 * 3 + 8
    buf = np.zeros((24, step), np.uint8)
    buf[:, : 32 * 3] = RGB.reshape(24, -1)
    msg = Image(height=24, width=32, encoding="rgb8", step=step, data=buf.tobytes())
    np.testing.assert_array_equal(cv.rgb_from_image(wire(msg)), RGB)


def test_depth_32fc1_round_trip_with_invalid_pixels():
    d = RNG.uniform(0.5, 5.0, (24, 32)).astype(np.float32)
    d[0, 0] = 0.0  # "no reading" in navstack
    msg = wire(cv.image_from_depth(d, 3.0, "cam", "32FC1"))
    assert msg.encoding == "32FC1" and msg.step == 32 * 4
    assert math.isnan(np.frombuffer(msg.data, "<f4")[0])  # REP-118: NaN = no reading on the wire
    out = cv.depth_from_image(msg)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, d)


def test_depth_32fc1_nan_inf_negative_become_zero():
    from sensor_msgs.msg import Image

    d = np.array([[1.0, np.nan, np.inf], [-np.inf, -1.0, 2.5]], "<f4")
    out = cv.depth_from_image(Image(height=2, width=3, encoding="32FC1", step=12, data=d.tobytes()))
    np.testing.assert_array_equal(out, [[1.0, 0, 0], [0, 0, 2.5]])


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_depth_16uc1_millimetres_round_trip(encoding):
    d = np.round(RNG.uniform(0.5, 5.0, (24, 32)), 3).astype(np.float32)
    d[3, 4] = 0.0
    msg = cv.image_from_depth(d, None, "cam", "16UC1")
    msg.encoding = encoding
    msg = wire(msg)
    assert np.frombuffer(msg.data, "<u2")[3 * 32 + 4] == 0
    np.testing.assert_allclose(cv.depth_from_image(msg), d, atol=5e-4)


@pytest.mark.parametrize("encoding,dtype", [("16UC1", ">u2"), ("32FC1", ">f4")])
def test_depth_big_endian(encoding, dtype):
    from sensor_msgs.msg import Image

    mm = np.array([[1000, 2500], [0, 65535]])
    vals = mm if encoding == "16UC1" else mm / 1000.0
    msg = Image(height=2, width=2, encoding=encoding, is_bigendian=1, step=2 * np.dtype(dtype).itemsize,
                data=vals.astype(dtype).tobytes())
    np.testing.assert_allclose(cv.depth_from_image(wire(msg)), [[1.0, 2.5], [0.0, 65.535]], rtol=1e-6)


def test_camera_info_round_trip_and_binning():
    intr = Intrinsics.from_hfov(320, 240, 79.0)
    msg = wire(cv.camera_info_from_intrinsics(intr, 1.0, "cam"))
    back = cv.intrinsics_from_camera_info(msg)
    assert back == intr
    assert back.hfov_deg == pytest.approx(79.0)
    msg.binning_x = msg.binning_y = 2
    half = cv.intrinsics_from_camera_info(msg)
    assert (half.width, half.height, half.fx, half.cx) == (160, 120, intr.fx / 2, intr.cx / 2)


@pytest.mark.parametrize("make,field,match", [
    (lambda I: I(height=4, width=4, encoding="yuv422", step=8, data=bytes(32)), "rgb", "encoding 'yuv422'"),
    (lambda I: I(height=4, width=4, encoding="rgb8", step=12, data=bytes(47)), "rgb", "47 bytes, expected"),
    (lambda I: I(height=4, width=4, encoding="rgb8", step=8, data=bytes(32)), "rgb", "step 8 is smaller"),
    (lambda I: I(height=0, width=4, encoding="rgb8", step=12, data=b""), "rgb", "empty"),
    (lambda I: I(height=4, width=4, encoding="rgb8", step=12, data=bytes(48)), "depth", "not a depth encoding"),
    (lambda I: I(height=4, width=4, encoding="16UC1", step=8, data=bytes(30)), "depth", "30 bytes"),
    (lambda I: I(height=4, width=4, encoding="32FC1", step=8, data=bytes(64)), "depth", "step 8 is smaller"),
])
def test_malformed_images_are_rejected_with_clear_errors(make, field, match):
    from sensor_msgs.msg import Image

    fn = cv.rgb_from_image if field == "rgb" else cv.depth_from_image
    with pytest.raises(cv.MalformedMessage, match=match):
        fn(wire(make(Image)))


def test_malformed_camera_info_odometry_transform_twist():
    from geometry_msgs.msg import Transform, Twist
    from nav_msgs.msg import Odometry

    info = cv.camera_info_from_intrinsics(Intrinsics.from_hfov(8, 6, 79.0))
    info.K = [float("nan")] + list(info.K[1:])
    with pytest.raises(cv.MalformedMessage, match="K must be 9 finite"):
        cv.intrinsics_from_camera_info(info)
    info.K = [0.0] * 9
    with pytest.raises(cv.MalformedMessage, match="focal lengths must be positive"):
        cv.intrinsics_from_camera_info(info)
    info = cv.camera_info_from_intrinsics(Intrinsics.from_hfov(8, 6, 79.0))
    info.width = 0
    with pytest.raises(cv.MalformedMessage, match="empty"):
        cv.intrinsics_from_camera_info(info)
    odom = Odometry()
    odom.pose.pose.orientation.w = 1.0
    odom.pose.pose.position.x = float("nan")
    with pytest.raises(cv.MalformedMessage, match="non-finite"):
        cv.pose_from_odometry(odom)
    odom.pose.pose.position.x = 0.0
    odom.pose.pose.orientation.w = 0.0
    with pytest.raises(cv.MalformedMessage, match="zero rotation|not a rotation"):
        cv.pose_from_odometry(odom)
    tf = Transform()
    tf.rotation.w = float("inf")
    with pytest.raises(cv.MalformedMessage):
        cv.transform_from_msg(tf)
    tw = Twist()
    tw.angular.z = float("nan")
    with pytest.raises(cv.MalformedMessage, match="non-finite"):
        cv.command_from_twist(tw)


# ----------------------------------------------------------------------------- frames
def test_frame_convention_rep103_vs_habitat():
    # ROS forward (+x) is Habitat -Z, ROS left (+y) is Habitat -X, up is up.
    np.testing.assert_allclose(cv.habitat_from_ros_vector([1, 0, 0]), [0, 0, -1])
    np.testing.assert_allclose(cv.habitat_from_ros_vector([0, 1, 0]), [-1, 0, 0])
    np.testing.assert_allclose(cv.habitat_from_ros_vector([0, 0, 1]), [0, 1, 0])
    for yaw in np.linspace(-3.1, 3.1, 13):
        # A ROS yaw is the same Habitat yaw: both counter-clockwise seen from above, 0 = forward of the frame.
        pose = cv.pose_from_ros([1.0, 2.0, 0.0], cv.ros_yaw_quat(yaw))
        assert pose.yaw == pytest.approx(yaw, abs=1e-9)
        np.testing.assert_allclose(pose.rotation, quat_from_yaw(yaw), atol=1e-12)
        np.testing.assert_allclose(pose.position, [-2.0, 0.0, -1.0])
        # Driving forward in ROS moves along the Habitat heading vector.
        fwd_ros = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        fwd_hab = cv.habitat_from_ros_vector(fwd_ros)
        np.testing.assert_allclose(fwd_hab[[0, 2]], [-math.sin(yaw), -math.cos(yaw)], atol=1e-12)


def test_pose_round_trip_through_odometry_and_tf():
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        pose = Pose(rng.normal(size=3), q)
        msg = wire(cv.odometry_from_pose(pose, 0.3, -0.2, 5.0, "odom", "base_link"))
        back = cv.pose_from_odometry(msg)
        np.testing.assert_allclose(back.position, pose.position, atol=1e-12)
        assert abs(abs(float(np.dot(back.rotation, pose.rotation))) - 1.0) < 1e-9
        assert (msg.twist.twist.linear.x, msg.twist.twist.angular.z) == (0.3, -0.2)
        p, qr = cv.ros_from_pose(pose)
        ts = wire(cv.transform_stamped("map", "base_link", p, qr, 5.0))
        back2 = cv.pose_from_transform(cv.transform_from_msg(ts.transform))
        np.testing.assert_allclose(back2.position, pose.position, atol=1e-12)


def test_rigid_transform_compose_inverse_interpolate():
    a = cv.RigidTransform([1, 2, 3], cv.ros_yaw_quat(0.5))
    b = cv.RigidTransform([0.5, 0, 0], cv.ros_yaw_quat(-0.2))
    ident = a @ a.inverse()
    np.testing.assert_allclose(ident.t, 0, atol=1e-12)
    ab = a @ b
    assert cv.yaw_from_ros_quat(ab.q) == pytest.approx(0.3)
    np.testing.assert_allclose(ab.t, [1 + 0.5 * math.cos(0.5), 2 + 0.5 * math.sin(0.5), 3])
    mid = cv.RigidTransform([0, 0, 0], cv.ros_yaw_quat(0.0)).interpolate(cv.RigidTransform([2, 0, 0], cv.ros_yaw_quat(1.0)), 0.5)
    np.testing.assert_allclose(mid.t, [1, 0, 0])
    assert cv.yaw_from_ros_quat(mid.q) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- velocity
def test_velocity_limiter_clamps_speed_and_acceleration():
    from navstack.ros.config import Limits

    lim = Limits(max_linear=0.5, max_reverse=0.1, max_angular=1.0, max_linear_accel=1.0, max_angular_accel=2.0)
    f = cv.VelocityLimiter(lim, period=0.1)
    out = [f(2.0, -5.0, 0.1 * i) for i in range(10)]
    vs, ws = np.array(out).T
    assert vs.max() == pytest.approx(0.5) and ws.min() == pytest.approx(-1.0)
    assert np.all(np.abs(np.diff(np.r_[0, vs])) <= 0.1 + 1e-12)
    assert np.all(np.abs(np.diff(np.r_[0, ws])) <= 0.2 + 1e-12)
    # A late tick does not get a bigger step; reverse is capped.
    g = cv.VelocityLimiter(lim, period=0.1)
    assert g(1.0, 0.0, 0.0) == (pytest.approx(0.1), 0.0)
    assert g(1.0, 0.0, 5.0)[0] == pytest.approx(0.2)
    h = cv.VelocityLimiter(lim, period=1.0)
    assert h(-3.0, 0.0, 0.0)[0] == pytest.approx(-0.1)
    with pytest.raises(ValueError):
        h(float("nan"), 0.0, 1.0)
    tw = cv.twist_from_command(VelocityCommand(0.05, 0.1), cv.VelocityLimiter(lim, 0.1), 0.0)
    assert (tw.linear.x, tw.angular.z) == (pytest.approx(0.05), pytest.approx(0.1))


# ----------------------------------------------------------------------------- map outputs
def test_occupancy_grid_orientation():
    # Habitat grid: rows along +z, columns along +x, cell [0, 0] corner at (x0, z0) = (1, 2), 0.5 m cells.
    g = np.zeros((4, 6), np.int8)  # 4 rows (z) x 6 columns (x)
    g[0, 5] = 100  # the cell at x in [3.5, 4.0], z in [2.0, 2.5]
    msg = wire(cv.occupancy_grid_msg(g, 0.5, (1.0, 2.0), 1.0, "map"))
    assert (msg.info.width, msg.info.height) == (4, 6)
    data = np.array(msg.data, np.int8).reshape(msg.info.height, msg.info.width)
    r, c = np.argwhere(data == 100)[0]
    # The ROS centre of that cell maps back to the Habitat centre (3.75, 2.25).
    x_ros = msg.info.origin.position.x + (c + 0.5) * 0.5
    y_ros = msg.info.origin.position.y + (r + 0.5) * 0.5
    np.testing.assert_allclose(cv.habitat_from_ros_vector([x_ros, y_ros, 0])[[0, 2]], [3.75, 2.25])
    probs = np.array([[np.nan, 0.26], [1.0, 0.0]])
    np.testing.assert_array_equal(np.sort(cv.occupancy_to_ros(probs, 1.0, (0, 0))[0].ravel()), [-1, 0, 26, 100])


def test_markers_and_path():
    ma = cv.instance_markers_msg([{"position": [1.0, 0.5, -2.0], "label": "chair", "id": 3, "score": 0.9},
                                  {"center": [0, 0, 0], "category": "bed"}], 1.0, "map")
    assert ma.markers[0].action == 3  # DELETEALL first
    texts = [m.text for m in ma.markers if m.text]
    assert texts == ["chair 0.90", "bed"]
    box = ma.markers[1]
    assert (box.pose.position.x, box.pose.position.y, box.pose.position.z) == (2.0, -1.0, 0.5)
    path = cv.path_msg(np.array([[0.0, 0.0], [0.0, -1.0], [-1.0, -1.0]]), 1.0, "map")
    xs = [(p.pose.position.x, p.pose.position.y) for p in path.poses]
    assert xs == [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]
    assert cv.yaw_from_ros_quat([path.poses[1].pose.orientation.x, path.poses[1].pose.orientation.y,
                                 path.poses[1].pose.orientation.z, path.poses[1].pose.orientation.w]) == pytest.approx(math.pi / 2)
