"""The agent node against a real roscore: watchdog, malformed messages, agent errors, discrete actions.

A fake robot in this process publishes the sensors (small images, so the tests stay cheap); the agent node
runs as a separate process (the real node script) or, where a test needs its own agent, in this process.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ros_helpers import REPO, FakeRobot, Recorder, angle_diff, status_of, twist_of, wait_subscribed

pytestmark = pytest.mark.ros

NODE_SCRIPT = REPO / "ros_ws" / "src" / "navstack_ros" / "scripts" / "navstack_agent_node"
STALE_TIMEOUT = 0.5  # the default of configs/robot/sim.yaml


@pytest.fixture(scope="module")
def agent_proc(roscore, ros_node, tmp_path_factory):
    """The real agent node script (scripted-ros-test agent) in namespace /t1."""
    from std_msgs.msg import String

    log = open(tmp_path_factory.mktemp("logs") / "agent_node.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(NODE_SCRIPT), "__name:=navstack_agent", "__ns:=/t1", "_agent:=scripted-ros-test",
         "_robot_config:=sim"],
        env=roscore.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    status = Recorder(ros_node, "/t1/navstack_agent/status", String, status_of)
    try:
        status.wait_for(lambda s: s["state"] == "idle", 60, "the agent node's first status")
        yield proc, status
    finally:
        from navstack.ros.testing import stop_process_group

        rc = stop_process_group(proc)
        status.close()
        log.close()
        assert rc == 0 or rc == -2, f"agent node exited with {rc}; log {log.name}"


def publish_goal(ros_node, topic, text):
    from std_msgs.msg import String

    pub = ros_node.Publisher(topic, String, queue_size=1, latch=True)
    wait_subscribed(pub)
    pub.publish(String(text))
    return pub


def test_stale_sensors_give_zero_cmd_vel_within_timeout(ros_node, agent_proc):
    from geometry_msgs.msg import Twist

    proc, status = agent_proc
    fake = FakeRobot(ros_node, "/t1/")
    cmd = Recorder(ros_node, "/t1/cmd_vel", Twist, twist_of)
    try:
        fake.start()
        publish_goal(ros_node, "/t1/navstack_agent/goal/category", "chair")
        t_move, _ = cmd.wait_for(lambda c: c[0] > 0.05, 20, "a forward command")
        time.sleep(0.5)
        t_last = fake.stop()
        t_zero = None
        deadline = time.monotonic() + 3.0
        while t_zero is None and time.monotonic() < deadline:
            t_zero = next((t for t, c in cmd.snapshot() if t > t_last and c == (0.0, 0.0)), None)
            time.sleep(0.01)
        assert t_zero is not None, "no zero cmd_vel after the sensors stopped"
        delay = t_zero - t_last
        # Zero comes once the sensors are stale (> stale_timeout), and within 0.2 s of that (watchdog at 50 Hz).
        assert STALE_TIMEOUT - 0.1 <= delay <= STALE_TIMEOUT + 0.2, f"zero cmd_vel {delay:.3f} s after the last sensor message"
        time.sleep(0.6)
        after = [c for t, c in cmd.snapshot() if t > t_zero]
        assert after and all(c == (0.0, 0.0) for c in after), f"moved while sensors were stale: {after[:5]}"
        s = status.wait_for(lambda s: "rgb" in s["stale"] and "depth" in s["stale"], 5, "stale in status", after=t_last)[1]
        assert s["zero_commands"] >= 1
        # Sensors back -> the robot drives again (a new goal restarts the scripted agent).
        fake.start()
        t_back = time.monotonic()
        publish_goal(ros_node, "/t1/navstack_agent/goal/category", "bed")
        cmd.wait_for(lambda c: c[0] > 0.05, 10, "motion after recovery", after=t_back)
        print(f"zero cmd_vel {delay * 1e3:.0f} ms after the last sensor message (stale_timeout {STALE_TIMEOUT} s)")
    finally:
        fake.stop()
        fake.close()
        cmd.close()


def test_malformed_messages_do_not_crash_the_node(ros_node, agent_proc, roscore):
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import String

    proc, status = agent_proc
    env = roscore.env()
    # The command-line tool, as a user would (each `rostopic pub -1` lingers ~3 s: run them in the background).
    cli = [subprocess.Popen(["rostopic", "pub", "-1", topic, typ, yaml], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
           for topic, typ, yaml in [
               ("/t1/camera/rgb/image_raw", "sensor_msgs/Image",
                "{header: {stamp: now}, height: 2, width: 2, encoding: yuv422, step: 4, data: [1,2,3,4,5,6,7,8]}"),
               ("/t1/odom", "nav_msgs/Odometry",
                "{header: {stamp: now, frame_id: odom}, pose: {pose: {position: {x: .nan}, orientation: {w: 1.0}}}}"),
               ("/t1/navstack_agent/goal/category", "std_msgs/String", "{data: ''}"),
           ]]
    fake = FakeRobot(ros_node, "/t1/")
    cmd = Recorder(ros_node, "/t1/cmd_vel", Twist, twist_of)
    goal_img = ros_node.Publisher("/t1/navstack_agent/goal/image", Image, queue_size=5)
    goal_txt = ros_node.Publisher("/t1/navstack_agent/goal/text", String, queue_size=5)
    try:
        fake.start()
        publish_goal(ros_node, "/t1/navstack_agent/goal/category", "chair")
        cmd.wait_for(lambda c: c[0] > 0.05, 20, "a forward command")
        for p in (goal_img, goal_txt):
            wait_subscribed(p)
        now = ros_node.Time.now
        bad = []
        m = Image(height=48, width=64, encoding="rgb8", step=192, data=bytes(100))  # size mismatch
        m.header.stamp = now()
        bad.append((fake.rgb, m))
        m = Image(height=48, width=64, encoding="rgb8", step=192, data=bytes(192 * 48))  # no stamp
        bad.append((fake.rgb, m))
        m = Image(height=48, width=64, encoding="rgb8", step=192, data=bytes(192 * 48))  # not a depth encoding
        m.header.stamp = now()
        bad.append((fake.depth, m))
        m = Image(height=48, width=64, encoding="32FC1", step=256, data=bytes(10))  # size mismatch
        m.header.stamp = now()
        bad.append((fake.depth, m))
        m = CameraInfo(width=64, height=48, K=[float("nan")] * 9)
        m.header.stamp = now()
        bad.append((fake.info, m))
        m = Odometry()
        m.header.stamp = now()  # zero quaternion
        bad.append((fake.odom, m))
        bad.append((goal_img, Image(height=4, width=4, encoding="mono8", step=4, data=bytes(16))))
        bad.append((goal_img, Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(5))))
        bad.append((goal_txt, String("   ")))
        for pub, msg in bad:
            pub.publish(msg)
            time.sleep(0.02)
        for p in cli:
            p.wait(timeout=30)
        expect = {"rgb": 3, "depth": 2, "camera_info": 1, "odom": 2, "goal/image": 2, "goal/text": 1, "goal/category": 1}
        _, s = status.wait_for(lambda s: all(s["malformed"].get(k, 0) >= n for k, n in expect.items()), 10,
                               f"malformed counts {expect}")
        assert proc.poll() is None, "the agent node died"
        assert s["errors"] == 0
        # Still responding: fresh status, and a new goal still drives the robot.
        t_check = time.monotonic()
        publish_goal(ros_node, "/t1/navstack_agent/goal/text", "the blue armchair next to the lamp")
        status.wait_for(lambda s: s["goal"].get("type") == "text" and s["state"] == "navigating", 10, "the text goal",
                        after=t_check)
        cmd.wait_for(lambda c: c[0] > 0.05, 10, "motion after the malformed messages", after=t_check)
        assert proc.poll() is None
        # ~cancel stops the goal (decelerating within the limits to zero).
        from std_msgs.msg import Empty

        t_cancel = time.monotonic()
        cancel = ros_node.Publisher("/t1/navstack_agent/cancel", Empty, queue_size=1, latch=True)
        wait_subscribed(cancel)
        cancel.publish(Empty())
        status.wait_for(lambda s: s["state"] == "cancelled" and s["command"] == [0.0, 0.0], 10, "cancelled",
                        after=t_cancel)
        cancel.unregister()
    finally:
        for p in cli:
            if p.poll() is None:
                p.kill()
        fake.stop()
        fake.close()
        cmd.close()
        goal_img.unregister()
        goal_txt.unregister()


# ----------------------------------------------------------------------------- in-process nodes
class _RaisingAgent:
    name = "raising"

    def __init__(self, raise_after: float):
        self.raise_after = raise_after
        self.t0 = None

    def reset(self, goal):
        self.t0 = None

    def next_goal(self, goal):
        self.reset(goal)

    def act(self, obs):
        from navstack.types import VelocityCommand

        if self.t0 is None:
            self.t0 = obs.stamp
        if obs.stamp - self.t0 > self.raise_after:
            raise RuntimeError("agent bug")
        return VelocityCommand(0.3, 0.0, 0.1)


class _DiscreteAgent:
    """FORWARD, FORWARD, LEFT, RIGHT, RIGHT, STOP; records the poses it observed."""

    name = "discrete-test"

    def __init__(self):
        from navstack.types import DiscreteAction as A

        self.plan = [A.MOVE_FORWARD, A.MOVE_FORWARD, A.TURN_LEFT, A.TURN_RIGHT, A.TURN_RIGHT, A.STOP]
        self.seen = []

    def reset(self, goal):
        self.i = 0
        self.seen = []

    def next_goal(self, goal):
        self.reset(goal)

    def act(self, obs):
        self.seen.append((float(obs.pose.position[0]), float(obs.pose.position[2]), obs.pose.yaw, obs.stamp))
        a = self.plan[min(self.i, len(self.plan) - 1)]
        self.i += 1
        return a


def _in_process_node(ros_node, ns, agent, **overrides):
    from navstack.ros.agent_node import AgentNode
    from navstack.ros.config import load_robot_config

    config = load_robot_config("sim", **overrides)
    node = AgentNode(config, agent, agent.name, namespace=ns, private=ns + "navstack_agent/")
    th = threading.Thread(target=node.run, daemon=True)
    th.start()
    return node, th


def test_agent_exception_gives_zero_velocity_and_node_survives(ros_node):
    from geometry_msgs.msg import Twist
    from std_msgs.msg import String

    ns = "/t2/"
    node, th = _in_process_node(ros_node, ns, _RaisingAgent(raise_after=0.6), max_agent_errors=3)
    fake = FakeRobot(ros_node, ns)
    cmd = Recorder(ros_node, ns + "cmd_vel", Twist, twist_of)
    status = Recorder(ros_node, ns + "navstack_agent/status", String, status_of)
    try:
        fake.start()
        publish_goal(ros_node, ns + "navstack_agent/goal/category", "chair")
        t_move, _ = cmd.wait_for(lambda c: c[0] > 0.05, 10, "motion")
        _, s = status.wait_for(lambda s: s["state"] == "failed", 10, "state failed after 3 agent errors", after=t_move)
        assert s["errors"] >= 3 and "RuntimeError: agent bug" in s["last_error"]
        cmds = cmd.snapshot()
        t_err = next(t for t, c in cmds if t > t_move and c == (0.0, 0.0))
        # The first agent exception zeroed the base at once (no deceleration ramp): nothing non-zero after it.
        assert all(c == (0.0, 0.0) for t, c in cmds if t > t_err)
        assert th.is_alive()
        # The node still takes goals.
        t_new = time.monotonic()
        publish_goal(ros_node, ns + "navstack_agent/goal/category", "bed")
        status.wait_for(lambda s: s["state"] == "navigating" and s["goal"].get("category") == "bed", 10, "new goal",
                        after=t_new)
    finally:
        node.shutdown()
        fake.stop()
        fake.close()
        cmd.close()
        status.close()


def test_discrete_actions_execute_closed_loop_on_odometry(ros_node):
    """Habitat's discrete actions over cmd_vel: 0.25 m steps and 30 degree turns, each observed after the
    base stopped, within the velocity and acceleration limits."""
    from geometry_msgs.msg import Twist
    from std_msgs.msg import String

    ns = "/t3/"
    agent = _DiscreteAgent()
    limits = {"max_linear": 0.5, "max_angular": 1.5, "max_linear_accel": 1.0, "max_angular_accel": 3.0}
    node, th = _in_process_node(ros_node, ns, agent, limits=limits, discrete={"linear_speed": 0.5, "angular_speed": 1.5})
    fake = FakeRobot(ros_node, ns, rate=30.0, drive=True)
    cmd = Recorder(ros_node, ns + "cmd_vel", Twist, twist_of)
    status = Recorder(ros_node, ns + "navstack_agent/status", String, status_of)
    try:
        fake.start()
        publish_goal(ros_node, ns + "navstack_agent/goal/category", "chair")
        status.wait_for(lambda s: s["state"] == "stopped", 30, "STOP")
        seen = np.array(agent.seen)
        print("observed (x, z, yaw deg):", [(round(x, 4), round(z, 4), round(math.degrees(y), 2)) for x, z, y, _ in seen])
        assert len(seen) == 6
        # Observed poses (Habitat frame: forward = -Z at yaw 0): 0, 0.25, 0.5 m, then +30, 0, -30 degrees.
        np.testing.assert_allclose(-seen[:, 1], [0, 0.25, 0.5, 0.5, 0.5, 0.5], atol=0.015)
        np.testing.assert_allclose(seen[:, 0], 0.0, atol=0.01)
        want = np.radians([0, 0, 0, 30, 0, -30])
        assert np.all(np.abs([angle_diff(a, b) for a, b in zip(seen[:, 2], want)]) < math.radians(1.5)), np.degrees(seen[:, 2])
        # Each observation was taken after the previous motion had finished (pose equals the settled one).
        assert np.all(np.diff(seen[:, 3]) > 0)
        v = np.array([c for _, c in cmd.snapshot()])
        rate = node.config.control_rate
        assert np.all(v[:, 0] <= limits["max_linear"] + 1e-9) and np.all(np.abs(v[:, 1]) <= limits["max_angular"] + 1e-9)
        # Acceleration limits hold between consecutive published commands (cmd_vel's queue of one may drop a
        # message on its way to a subscriber on a loaded machine, so the received stream can skip a step).
        sent = np.array([(lin, ang) for _, lin, ang in node.backend.command_log])
        assert len(sent) >= len(v) and np.abs(sent).max() > 0.1
        dv = np.abs(np.diff(sent, axis=0))
        assert dv[:, 0].max() <= limits["max_linear_accel"] / rate + 1e-9
        assert dv[:, 1].max() <= limits["max_angular_accel"] / rate + 1e-9
    finally:
        node.shutdown()
        fake.stop()
        fake.close()
        cmd.close()
        status.close()


class _MapAgent:
    """Stands still; exposes a map, instances and a path; records the goals it gets."""

    name = "map-test"

    def __init__(self):
        self.goals = []
        self.calls = []

    def reset(self, goal):
        self.goals.append(("reset", goal))

    def next_goal(self, goal):
        self.goals.append(("next_goal", goal))

    def act(self, obs):
        from navstack.types import VelocityCommand

        return VelocityCommand(0.0, 0.0, 0.1)

    def occupancy_grid(self):
        g = np.zeros((10, 20), np.float32)
        g[2, 3] = 1.0
        g[5:, :] = np.nan
        return g, 0.1, (-1.0, -0.5)

    instances = [{"position": [0.5, 0.4, -1.0], "label": "chair", "id": 7}]

    def planned_path(self):
        return np.array([[0.0, 0.0], [0.0, -0.5], [0.3, -0.8]])


def test_goal_types_lifelong_memory_and_map_outputs(ros_node):
    from nav_msgs.msg import OccupancyGrid, Path
    from sensor_msgs.msg import Image
    from std_msgs.msg import Empty, String
    from visualization_msgs.msg import MarkerArray

    from navstack.ros import conversions as cv
    from navstack.types import CategoryGoal, ImageGoal, TextGoal

    ns = "/t4/"
    agent = _MapAgent()
    node, th = _in_process_node(ros_node, ns, agent, map_rate=20.0)
    fake = FakeRobot(ros_node, ns)
    grid = Recorder(ros_node, ns + "navstack_agent/map", OccupancyGrid)
    markers = Recorder(ros_node, ns + "navstack_agent/instances", MarkerArray)
    path = Recorder(ros_node, ns + "navstack_agent/path", Path)
    status = Recorder(ros_node, ns + "navstack_agent/status", String, status_of)
    img = ros_node.Publisher(ns + "navstack_agent/goal/image", Image, queue_size=1, latch=True)
    reset = ros_node.Publisher(ns + "navstack_agent/reset", Empty, queue_size=1, latch=True)
    try:
        fake.start()
        publish_goal(ros_node, ns + "navstack_agent/goal/category", "chair")
        status.wait_for(lambda s: s["goals"] == 1 and s["steps"] > 0, 10, "the first goal")
        publish_goal(ros_node, ns + "navstack_agent/goal/text", "the lamp by the sofa")
        status.wait_for(lambda s: s["goals"] == 2, 10, "the text goal")
        goal_rgb = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        wait_subscribed(img)
        wait_subscribed(reset)
        reset.publish(Empty())
        time.sleep(0.3)
        img.publish(cv.image_from_rgb(goal_rgb[..., ::-1].copy(), ros_node.Time.now(), "cam", "bgr8"))
        status.wait_for(lambda s: s["goals"] == 3 and s["goal"].get("type") == "image", 10, "the image goal")
        kinds = [(how, type(g)) for how, g in agent.goals]
        # First goal resets, later ones keep the memory (lifelong) until ~reset.
        assert kinds == [("reset", CategoryGoal), ("next_goal", TextGoal), ("reset", ImageGoal)]
        g = agent.goals[-1][1]
        np.testing.assert_array_equal(g.image, goal_rgb[..., ::-1])  # bgr8 of goal_rgb[..., ::-1] -> rgb
        assert g.hfov_deg == pytest.approx(79.0, abs=0.01)  # from the camera's CameraInfo (same size)
        assert agent.goals[1][1].text == "the lamp by the sofa"
        _, m = grid.wait_for(lambda m: True, 10, "the occupancy grid")
        assert (m.info.width, m.info.height, m.info.resolution) == (10, 20, pytest.approx(0.1))
        assert sorted(set(m.data)) == [-1, 0, 100] and m.header.frame_id == "odom"
        _, ma = markers.wait_for(lambda m: len(m.markers) == 3, 10, "instance markers")
        assert ma.markers[2].text == "chair"
        _, p = path.wait_for(lambda m: len(m.poses) == 3, 10, "the path")
        assert (p.poses[1].pose.position.x, p.poses[1].pose.position.y) == (pytest.approx(0.5), pytest.approx(0.0))
    finally:
        node.shutdown()
        fake.stop()
        fake.close()
        for r in (grid, markers, path, status):
            r.close()
        img.unregister()
        reset.unregister()
