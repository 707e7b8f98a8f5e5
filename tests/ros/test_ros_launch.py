"""The catkin package end to end: built with catkin_make, started with roslaunch, goals sent with rostopic.

* sim.launch (embedded simulator as a ROS robot + agent node) with the `scripted-ros-test` agent: the robot's
  odometry moves as commanded, within the velocity and acceleration limits, then it stops cleanly on SIGINT;
* robot.launch (agent node only, real-robot config) starts, takes topic arguments and stops cleanly;
* a goal sent with `rostopic pub` makes the simulated robot reach it, with the agent named by
  NAVSTACK_ROS_TEST_AGENT (default: modular; skipped while that agent is not registered).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from ros_helpers import Recorder, status_of, twist_of

pytestmark = pytest.mark.ros

LIMITS = {"max_linear": 0.3, "max_angular": 0.8, "max_linear_accel": 0.6, "max_angular_accel": 1.5}
OVERRIDES = "{limits: {max_linear: 0.3, max_angular: 0.8, max_linear_accel: 0.6, max_angular_accel: 1.5}, " \
            "sim: {camera_rate: 10.0}}"
CONTROL_RATE = 15.0  # configs/robot/sim.yaml


def _odom_of(msg):
    from navstack.ros import conversions as cv

    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    return (p.x, p.y, cv.yaw_from_ros_quat([q.x, q.y, q.z, q.w]), msg.twist.twist.linear.x, msg.twist.twist.angular.z)


def _roslaunch(env, ns, args, log):
    env = dict(env, ROS_NAMESPACE=ns)
    return subprocess.Popen(["roslaunch", "--wait", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait(recorder, proc, log_path, pred, timeout, what, after=-math.inf):
    """recorder.wait_for, failing at once (with the launch log) if roslaunch exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return recorder.wait_for(pred, min(1.0, max(deadline - time.monotonic(), 0.01)), what, after)
        except AssertionError:
            if proc.poll() is not None:
                raise AssertionError(f"roslaunch exited ({proc.returncode}) while waiting for {what}; log {log_path}:\n"
                                     f"{open(log_path).read()[-3000:]}") from None
            if time.monotonic() >= deadline:
                raise


def _registered(node_name):
    import rosgraph

    state = rosgraph.Master("/navstack_test_probe").getSystemState()
    return any(node_name in nodes for group in state for _, nodes in group)


def _stop_cleanly(proc, log_path, timeout=20.0):
    """SIGINT to roslaunch (as Ctrl-C): exit status 0 and nothing left in its session."""
    from navstack.ros.testing import session_processes

    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"roslaunch did not exit within {timeout} s of SIGINT; log {log_path}")
    took = time.monotonic() - t0
    deadline = time.monotonic() + 5.0
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = session_processes(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 0, f"roslaunch exited with {rc}; log {log_path}:\n{open(log_path).read()[-3000:]}"
    assert not left, f"processes left after roslaunch exited: {left}"
    return took


@pytest.fixture(scope="module")
def sim_launch(catkin_ws, ros_node, tmp_path_factory):
    from std_msgs.msg import String

    ws, env = catkin_ws
    log_path = tmp_path_factory.mktemp("launch") / "sim_launch.log"
    log = open(log_path, "w")
    proc = _roslaunch(env, "/e2e", ["navstack_ros", "sim.launch", "agent:=scripted-ros-test", f"overrides:={OVERRIDES}"], log)
    status = Recorder(ros_node, "/e2e/navstack_agent/status", String, status_of)
    try:
        _wait(status, proc, log_path, lambda s: s["state"] == "idle" and not s["stale"], 90,
              "the agent node with fresh sensors")
        yield proc, status, env, log_path
    finally:
        status.close()
        if proc.poll() is None:
            from navstack.ros.testing import stop_process_group

            stop_process_group(proc)
        log.close()


def test_sim_launch_scripted_agent_drives_the_sim_robot_within_limits(sim_launch, ros_node):
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry

    proc, status, env, log_path = sim_launch
    cmd = Recorder(ros_node, "/e2e/cmd_vel", Twist, twist_of)
    odom = Recorder(ros_node, "/e2e/odom", Odometry, _odom_of)
    try:
        odom.wait_for(lambda o: True, 10, "odometry")
        t_goal = time.monotonic()
        pub = subprocess.Popen(["rostopic", "pub", "-1", "/e2e/navstack_agent/goal/category", "std_msgs/String",
                                "data: chair"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        t_stop, s = _wait(status, proc, log_path, lambda s: s["state"] == "stopped", 40, "the scripted agent's STOP",
                          after=t_goal)
        time.sleep(0.3)
        pub.wait(10)
        assert s["goal"] == {"type": "category", "category": "chair"} and s["errors"] == 0
        cmds = [(t, c) for t, c in cmd.snapshot() if t > t_goal]
        odoms = [(t, o) for t, o in odom.snapshot() if t > t_goal]
        v = np.array([c for _, c in cmds])
        tc = np.array([t for t, _ in cmds])
        # Limits: the agent asks for 0.6 m/s and 1.5 rad/s; the bridge clamps speed and acceleration.
        assert v[:, 0].max() == pytest.approx(LIMITS["max_linear"]) and v[:, 0].min() >= 0.0
        assert np.abs(v[:, 1]).max() == pytest.approx(LIMITS["max_angular"])
        # Steps between received commands: cmd_vel's queue of one may drop a message on a loaded machine, so
        # allow a skipped step now and then (unlimited, the first command alone would jump 0.6 m/s).
        steps = np.abs(np.diff(v, axis=0)) / [LIMITS["max_linear_accel"] / CONTROL_RATE,
                                              LIMITS["max_angular_accel"] / CONTROL_RATE]
        assert steps.max() <= 2.0 + 1e-6 and np.mean(steps.max(axis=1) <= 1.0 + 1e-6) >= 0.9, steps.max(axis=0)
        assert tuple(v[-1]) == (0.0, 0.0)
        # Odometry moved as commanded: distance and heading change match the integrated commands.
        dt = np.diff(np.r_[tc, tc[-1] + 0.1])
        want_dist = float(np.sum(v[:, 0] * dt))
        want_turn = float(np.sum(v[:, 1] * dt))
        xy = np.array([[o[0], o[1]] for _, o in odoms])
        yaw = np.unwrap([o[2] for _, o in odoms])
        got_dist = float(np.sum(np.linalg.norm(np.diff(xy, axis=0), axis=1)))
        got_turn = float(yaw[-1] - yaw[0])
        assert want_dist > 0.5 and want_turn > 1.0
        assert got_dist == pytest.approx(want_dist, rel=0.15), (got_dist, want_dist)
        assert got_turn == pytest.approx(want_turn, rel=0.15), (got_turn, want_turn)
        # The base's odometry twist never exceeded the limits either.
        assert max(o[3] for _, o in odoms) <= LIMITS["max_linear"] * 1.05
        assert max(abs(o[4]) for _, o in odoms) <= LIMITS["max_angular"] * 1.05
        print(f"drove {got_dist:.3f} m (commanded {want_dist:.3f}), turned {got_turn:.3f} rad (commanded "
              f"{want_turn:.3f}); decision rate {s['decision_hz']}")
    finally:
        cmd.close()
        odom.close()


def test_sim_launch_stops_cleanly(sim_launch):
    proc, _, _, log_path = sim_launch
    assert proc.poll() is None, "sim.launch died"
    assert _registered("/e2e/navstack_agent") and _registered("/e2e/navstack_sim_robot")
    took = _stop_cleanly(proc, log_path)
    assert not _registered("/e2e/navstack_agent") and not _registered("/e2e/navstack_sim_robot")
    print(f"sim.launch stopped in {took:.2f} s")


def test_robot_launch_starts_with_topic_args_and_stops_cleanly(catkin_ws, ros_node, tmp_path):
    import rosgraph
    from std_msgs.msg import String

    ws, env = catkin_ws
    log_path = tmp_path / "robot_launch.log"
    with open(log_path, "w") as log:
        proc = _roslaunch(env, "/rl", ["navstack_ros", "robot.launch", "agent:=scripted-ros-test",
                                       "rgb:=/my_camera/rgb", "cmd_vel:=/my_base/cmd_vel"], log)
        status = Recorder(ros_node, "/rl/navstack_agent/status", String, status_of)
        try:
            _, s = _wait(status, proc, log_path, lambda s: s["state"] == "idle", 60, "the agent node's status")
            assert s["agent"] == "scripted-ros-test"
            state = rosgraph.Master("/navstack_test_probe").getSystemState()
            subs = {t: n for t, n in state[1]}
            pubs = {t: n for t, n in state[0]}
            assert "/rl/navstack_agent" in subs.get("/my_camera/rgb", [])  # the launch argument
            assert "/rl/navstack_agent" in subs.get("/rl/camera/aligned_depth_to_color/image_raw", [])  # locobot.yaml
            assert "/rl/navstack_agent" in subs.get("/tf", [])  # locobot: pose from TF
            assert "/rl/navstack_agent" in pubs.get("/my_base/cmd_vel", [])
            for goal in ("category", "text", "image"):
                assert "/rl/navstack_agent" in subs.get(f"/rl/navstack_agent/goal/{goal}", [])
            _stop_cleanly(proc, log_path)
        finally:
            status.close()
            if proc.poll() is None:
                from navstack.ros.testing import stop_process_group

                stop_process_group(proc)


# ----------------------------------------------------------------------------- a real goal
@pytest.mark.slow  # minutes: the full modular agent (CLIP on CPU) drives a whole episode over ROS
def test_goal_sent_with_rostopic_pub_is_reached(catkin_ws, ros_node, tmp_path):
    """ObjectNav over ROS: `rostopic pub` a category, the agent drives the simulated robot there and stops
    within the success distance of a goal view point."""
    from navstack.agent import available_agents
    from navstack.ros import scripted  # noqa: F401

    name = os.environ.get("NAVSTACK_ROS_TEST_AGENT", "modular")
    if name not in available_agents():
        pytest.skip(f"{name} agent not available yet" if name != "modular" else "modular agent not available yet")
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from nav_msgs.msg import Odometry
    from std_msgs.msg import String

    from navstack.config import load_sim_config
    from navstack.eval import EvalConfig, HouseRunner
    from navstack.ros import conversions as cv
    from navstack.tasks.episodes import view_point_positions
    from navstack.tasks.generate import SUCCESS_DISTANCE
    from navstack.types import Pose

    seed = int(os.environ.get("NAVSTACK_ROS_TEST_SEED", "9000"))
    timeout = float(os.environ.get("NAVSTACK_ROS_TEST_TIMEOUT", "120"))
    ws, env = catkin_ws
    log_path = tmp_path / "goal_launch.log"
    with open(log_path, "w") as log:
        # Launch first (a broken agent shows at once), then make the episode and teleport the robot to its start.
        proc = _roslaunch(env, "/goal", ["navstack_ros", "sim.launch", f"agent:={name}", f"seed:={seed}"], log)
        status = Recorder(ros_node, "/goal/navstack_agent/status", String, status_of)
        odom = Recorder(ros_node, "/goal/odom", Odometry, _odom_of)
        teleport = ros_node.Publisher("/goal/initialpose", PoseWithCovarianceStamped, queue_size=1, latch=True)
        try:
            try:
                _wait(status, proc, log_path, lambda s: s["state"] == "idle" and not s["stale"], 90, "the agent node")
            except AssertionError:
                fatal = [ln for ln in open(log_path).read().splitlines() if "[FATAL]" in ln and "agent node" in ln]
                if proc.poll() is not None and fatal:  # the agent is registered but cannot be built here yet
                    pytest.skip(f"{name} agent not available yet: {fatal[-1].split('agent node: ', 1)[-1]}")
                raise
            sim = load_sim_config("embedded")
            runner = HouseRunner(seed, EvalConfig(task="objectnav", scene_seeds=[seed], episodes_per_scene=5,
                                                  out=str(tmp_path / "eval"), save_maps=False, progress=False), sim, 0)
            dataset = runner.episodes()
            ep = min(dataset.episodes, key=lambda e: (e.info or {}).get("geodesic_distance", math.inf))
            targets = view_point_positions(runner.subtasks(dataset, ep)[0][1])[:, [0, 2]]
            start = Pose(ep.start_position, ep.start_rotation)
            p, q = cv.ros_from_pose(Pose.from_xz_yaw(start.position[0], start.position[2], start.yaw))
            msg = PoseWithCovarianceStamped()
            msg.header.frame_id = "map"
            msg.pose.pose.position.x, msg.pose.pose.position.y = p[0], p[1]
            (msg.pose.pose.orientation.x, msg.pose.pose.orientation.y, msg.pose.pose.orientation.z,
             msg.pose.pose.orientation.w) = q
            t_tp = time.monotonic()
            teleport.publish(msg)
            _wait(odom, proc, log_path, lambda o: math.hypot(o[0] - p[0], o[1] - p[1]) < 1e-3, 20, "the teleport", t_tp)
            time.sleep(1.0)  # frames of the new start pose
            t_goal = time.monotonic()
            subprocess.Popen(["rostopic", "pub", "-1", "/goal/navstack_agent/goal/category", "std_msgs/String",
                              f"data: {ep.object_category}"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
            _, s = _wait(status, proc, log_path, lambda s: s["state"] in ("stopped", "gave_up", "failed"), timeout,
                         f"the agent to finish ({ep.object_category})", after=t_goal)
            time.sleep(0.3)
            x, y = odom.snapshot()[-1][1][:2]
            hab = cv.habitat_from_ros_vector([x, y, 0.0])
            dist = runner.house.navgrid.geodesic_distance((hab[0], hab[2]), targets)
            assert s["state"] == "stopped", f"agent ended in state {s['state']}: {s}"
            assert dist < SUCCESS_DISTANCE["objectnav"], f"stopped {dist:.2f} m from the nearest {ep.object_category} view point"
            _stop_cleanly(proc, log_path)
        finally:
            status.close()
            odom.close()
            teleport.unregister()
            if proc.poll() is None:
                from navstack.ros.testing import stop_process_group

                stop_process_group(proc)
