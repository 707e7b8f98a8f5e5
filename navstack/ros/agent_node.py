"""The navstack agent node: any registered agent driving a ROS robot.

Subscribes (private, `~`): goal/category and goal/text (std_msgs/String), goal/image (sensor_msgs/Image),
cancel and reset (std_msgs/Empty); plus the robot's sensors through `RosBackend` (topics from the robot
config, remappable). Publishes: cmd_vel (geometry_msgs/Twist), ~status (std_msgs/String, JSON, latched),
and -- when the agent exposes them (duck-typed, see `AgentNode.publish_map`) -- ~map
(nav_msgs/OccupancyGrid), ~instances (visualization_msgs/MarkerArray) and ~path (nav_msgs/Path).

Each goal calls `agent.reset(goal)` the first time and `agent.next_goal(goal)` afterwards (lifelong memory,
GOAT), unless ~lifelong is false or a message on ~reset came in between. The loop: newest matched frame ->
agent.act -> backend.act, at most `control_rate` decisions per second and one per new frame. The agent
raising, stale sensors or a stuck loop give a zero Twist; a malformed message is logged and dropped.

Parameters: ~robot_config (name under configs/robot/ or a YAML path; default sim), ~agent (registry name;
default: the robot config's `agent`), ~seed, ~lifelong (default true), ~overrides (dict merged into the robot
config, e.g. `_overrides:="{stale_timeout: 0.3}"`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import traceback
from typing import Any, Dict, Optional

import numpy as np

from navstack.ros import conversions as cv
from navstack.ros.config import RobotConfig, load_robot_config
from navstack.types import CategoryGoal, DiscreteAction, ImageGoal, TextGoal, VelocityCommand

log = logging.getLogger("navstack.ros")
STATES = ("idle", "navigating", "stopped", "gave_up", "failed", "cancelled")


def build_agent(name: str, sim_config, seed: int = 0, privileged=None):
    """An agent from the registry; `scripted-ros-test` is registered here too."""
    from navstack import agent as registry
    from navstack.ros import scripted  # noqa: F401  (registers scripted-ros-test)

    if name not in registry.available_agents():
        raise ValueError(f"agent {name!r} is not registered; available: {', '.join(registry.available_agents())}")
    return registry.make_agent(name, sim_config, privileged, seed)


class AgentNode:
    def __init__(self, config: RobotConfig, agent, agent_name: str = "", sim_config=None, lifelong: bool = True,
                 namespace: str = "", private: str = "~"):
        """`namespace` prefixes the robot's topics, `private` the node's own (default: the node's private
        namespace); both only matter when several nodes share one process (tests, benchmarks)."""
        import rospy
        from nav_msgs.msg import OccupancyGrid, Path
        from sensor_msgs.msg import Image
        from std_msgs.msg import Empty, String
        from visualization_msgs.msg import MarkerArray

        from navstack.config import load_sim_config
        from navstack.ros.backend import RosBackend

        self.rospy = rospy
        self.config = config.validate()
        self.sim = sim_config or load_sim_config(config.sim_config)
        self.agent = agent
        self.agent_name = agent_name or getattr(agent, "name", type(agent).__name__)
        self.lifelong = lifelong
        self.backend = RosBackend(config, self.sim, namespace)
        self._lock = threading.Lock()
        self._pending = None  # (goal, description) from a goal callback
        self._cancel = threading.Event()
        self._fresh_memory = True
        self.state = "idle"
        self.goal_desc: Dict[str, Any] = {}
        self.steps = 0
        self.goals = 0
        self.errors = 0
        self.total_errors = 0
        self.last_error = ""
        self.last_action = ""
        self.last_result = ""
        self.decision_times: list = []
        self.latency_ms: Optional[float] = None
        self.act_ms: list = []
        self._last_map = -math.inf
        self._warned_intrinsics = False

        self.status_pub = rospy.Publisher(private + "status", String, queue_size=5, latch=True)
        self.map_pub = rospy.Publisher(private + "map", OccupancyGrid, queue_size=1, latch=True)
        self.markers_pub = rospy.Publisher(private + "instances", MarkerArray, queue_size=1, latch=True)
        self.path_pub = rospy.Publisher(private + "path", Path, queue_size=1, latch=True)
        self._subs = [
            rospy.Subscriber(private + "goal/category", String, self._on_category, queue_size=5),
            rospy.Subscriber(private + "goal/text", String, self._on_text, queue_size=5),
            rospy.Subscriber(private + "goal/image", Image, self._on_image, queue_size=2, buff_size=1 << 24),
            rospy.Subscriber(private + "cancel", Empty, self._on_cancel, queue_size=5),
            rospy.Subscriber(private + "reset", Empty, self._on_reset, queue_size=5),
        ]
        self.backend.on_stale_change = lambda stale: self.publish_status()
        self.backend.start_watchdog()
        self._status_timer = rospy.Timer(rospy.Duration(1.0 / config.status_rate), lambda _: self.publish_status())
        rospy.on_shutdown(self.backend.shutdown)
        self._shutdown = threading.Event()
        self.publish_status()

    def shutdown(self) -> None:
        """Stop this node's loop, timers, subscriptions and watchdog (the process's rospy node stays up)."""
        self._shutdown.set()
        self._status_timer.shutdown()
        for sub in self._subs:
            sub.unregister()
        self.backend.shutdown()

    # ================================================================== goals
    def _set_goal(self, goal, desc: Dict[str, Any]) -> None:
        with self._lock:
            self._pending = (goal, desc)
        self._cancel.set()  # interrupt a discrete action in progress
        self.rospy.loginfo(f"navstack: new goal {desc}")

    def _reject(self, topic: str, err: str) -> None:
        self.backend.malformed[topic] += 1
        self.backend.last_malformed = f"{topic}: {err}"
        self.rospy.logwarn(f"navstack: ignored goal on {topic}: {err}")
        self.publish_status()

    def _on_category(self, msg) -> None:
        c = str(msg.data).strip()
        if not c or len(c) > 200:
            return self._reject("goal/category", "empty or over-long category")
        self._set_goal(CategoryGoal(c), {"type": "category", "category": c})

    def _on_text(self, msg) -> None:
        t = str(msg.data).strip()
        if not t or len(t) > 2000:
            return self._reject("goal/text", "empty or over-long text")
        self._set_goal(TextGoal(t), {"type": "text", "text": t})

    def _on_image(self, msg) -> None:
        try:
            rgb = cv.rgb_from_image(msg, "goal image")
        except (cv.MalformedMessage, ValueError) as e:
            return self._reject("goal/image", str(e))
        intr = self.backend.intrinsics
        hfov = intr.hfov_deg if intr is not None and intr.width == rgb.shape[1] else self.sim.hfov
        self._set_goal(ImageGoal(rgb, None, float(hfov)),
                       {"type": "image", "size": [int(rgb.shape[1]), int(rgb.shape[0])]})

    def _on_cancel(self, _msg) -> None:
        with self._lock:
            self._pending = ("cancel", {})
        self._cancel.set()

    def _on_reset(self, _msg) -> None:
        with self._lock:
            self._fresh_memory = True
        self.rospy.loginfo("navstack: the next goal starts with a fresh agent memory")

    def set_goal(self, goal, fresh: bool = False) -> None:
        """In-process API (benchmarks): the same as a goal message; `fresh` forgets the agent's memory."""
        if fresh:
            self._fresh_memory = True
        kind = type(goal).__name__.replace("Goal", "").lower()
        self._set_goal(goal, {"type": kind, **({"category": goal.category} if getattr(goal, "category", None) else {})})

    def _take_pending(self) -> bool:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return False
        self._cancel.clear()
        goal, desc = pending
        if goal == "cancel":
            self.backend.ramp_down()
            self._set_state("cancelled")
            return True
        try:
            if self._fresh_memory or not self.lifelong:
                self.agent.reset(goal)
            else:
                self.agent.next_goal(goal)
        except Exception as e:  # noqa: BLE001 - an agent bug must not kill the node
            self._agent_error("reset", e)
            self._set_state("failed")
            return True
        self._fresh_memory = False
        self.goal_desc = desc
        self.goals += 1
        self.steps = 0
        self.errors = 0
        self.last_error = ""
        self.decision_times = []
        self._set_state("navigating")
        return True

    # ================================================================== loop
    def _set_state(self, state: str) -> None:
        self.state = state
        self.publish_status()

    def _agent_error(self, where: str, e: Exception) -> None:
        self.backend.emergency_stop()
        self.errors += 1
        self.total_errors += 1
        self.last_error = f"{where}: {type(e).__name__}: {e}"
        self.rospy.logerr_throttle(2.0, f"navstack: agent {where} raised; zero velocity.\n{traceback.format_exc()}")

    def spin_once(self, last_stamp: float) -> float:
        """One decision (or a short wait); returns the stamp of the frame used."""
        from navstack.ros.backend import NoObservation

        period = 1.0 / self.config.control_rate
        self._take_pending()
        if self.state != "navigating":
            time.sleep(period / 2)
            return last_stamp
        try:
            obs = self.backend.observe(newer_than=last_stamp, timeout=period)
        except NoObservation as e:
            self.last_result = str(e)
            return last_stamp
        if self._pending is not None:
            return last_stamp
        self._check_intrinsics(obs)
        t_decide = time.monotonic()
        try:
            action = self.agent.act(obs)
            self.act_ms.append((time.monotonic() - t_decide) * 1e3)
            self.act_ms = self.act_ms[-50:]
        except Exception as e:  # noqa: BLE001
            self._agent_error("act", e)
            if self.errors >= self.config.max_agent_errors:
                self.rospy.logerr(f"navstack: {self.errors} agent errors in a row; goal abandoned")
                self._set_state("failed")
            return obs.stamp
        self.errors = 0
        self.steps += 1
        self.decision_times.append(t_decide)
        self.decision_times = self.decision_times[-50:]
        self.last_action = action.name if isinstance(action, DiscreteAction) else \
            (f"v={action.linear:.2f} w={action.angular:.2f}" if isinstance(action, VelocityCommand) else repr(action))
        try:
            if isinstance(action, DiscreteAction) and action == DiscreteAction.STOP:
                self.backend.act(action)
                self._set_state("stopped")
                return obs.stamp
            res = self.backend.act(action, cancel=self._cancel)
            self.last_result = res.status if not res.detail else f"{res.status}: {res.detail}"
            self.latency_ms = (self.rospy.get_time() - obs.stamp) * 1e3 if isinstance(action, VelocityCommand) else None
        except Exception as e:  # noqa: BLE001 - e.g. an invalid action from the agent
            self._agent_error("action", e)
            return obs.stamp
        self._maybe_publish_map()
        if self.config.max_steps and self.steps >= self.config.max_steps:
            self.backend.ramp_down()
            self._set_state("gave_up")
        return obs.stamp

    def run(self) -> None:
        last = -math.inf
        while not self.rospy.is_shutdown() and not self._shutdown.is_set():
            last = self.spin_once(last)

    def _check_intrinsics(self, obs) -> None:
        if self._warned_intrinsics:
            return
        i, s = obs.intrinsics, self.sim
        if (i.width, i.height) != (s.width, s.height) or abs(i.hfov_deg - s.hfov) > 1.0:
            self.rospy.logwarn(f"navstack: camera is {i.width}x{i.height} hfov {i.hfov_deg:.1f} but the agent's sim "
                               f"config says {s.width}x{s.height} hfov {s.hfov:.1f}; the agent gets the camera's")
        self._warned_intrinsics = True

    # ================================================================== outputs
    def decision_rate(self) -> Optional[float]:
        t = self.decision_times
        if len(t) < 3:
            return None
        return (len(t) - 1) / max(t[-1] - t[0], 1e-9)

    def status(self) -> Dict[str, Any]:
        b = self.backend
        pose = b.latest_pose()
        out = {
            "state": self.state, "agent": self.agent_name, "goal": self.goal_desc, "goals": self.goals,
            "steps": self.steps, "last_action": self.last_action, "last_result": self.last_result,
            "errors": self.total_errors, "last_error": self.last_error,
            "stale": b.stale, "malformed": dict(b.malformed), "last_malformed": b.last_malformed,
            "command": list(b.last_command), "zero_commands": b.zero_count,
            "decision_hz": self.decision_rate(), "latency_ms": self.latency_ms,
            "act_ms": float(np.median(self.act_ms)) if self.act_ms else None,
            "time": self.rospy.get_time(),
        }
        if pose is not None:
            t = pose[1]
            out["pose"] = {"x": float(t.t[0]), "y": float(t.t[1]), "yaw": cv.yaw_from_ros_quat(t.q)}
        return out

    def publish_status(self) -> None:
        try:
            self.status_pub.publish(json.dumps(self.status()))
        except Exception as e:  # noqa: BLE001 - during shutdown the publisher may be closed
            log.debug("status not published: %s", e)

    def _maybe_publish_map(self) -> None:
        now = time.monotonic()
        if now - self._last_map < 1.0 / self.config.map_rate:
            return
        self._last_map = now
        try:
            self.publish_map()
        except Exception as e:  # noqa: BLE001 - visualisation must never stop the robot
            self.rospy.logwarn_throttle(10.0, f"navstack: map not published: {type(e).__name__}: {e}")

    def publish_map(self) -> None:
        """Publish what the agent exposes (each optional, looked up by name, called if callable):

        * `occupancy_grid` -> (grid, resolution, origin_xz) or an object / dict with `grid` (or `data`),
          `resolution`, `origin` (Habitat x, z of cell [0, 0]'s corner); rows along +z, columns along +x;
          values bool (occupied), float in [0, 1] (NaN unknown) or int (-1 unknown, 0..100);
        * `instances` -> iterable of dicts / objects with `position` [x, y, z] and `label` (or `category`),
          optional `id`, `size` and `score`;
        * `planned_path` -> (N, 2) Habitat x, z or (N, 3) points.
        """
        frame = self.config.frames.map if self.config.pose_source == "tf" else self.config.frames.odom
        stamp = self.rospy.Time.now()
        grid = _exposed(self.agent, "occupancy_grid")
        if grid is not None:
            if isinstance(grid, (tuple, list)):
                data, res, origin = grid
            else:
                data = _get(grid, "grid", "data")
                res, origin = _get(grid, "resolution"), _get(grid, "origin", "origin_xz")
            self.map_pub.publish(cv.occupancy_grid_msg(data, res, origin, stamp, frame))
        inst = _exposed(self.agent, "instances")
        if inst is not None:
            self.markers_pub.publish(cv.instance_markers_msg(list(inst), stamp, frame))
        path = _exposed(self.agent, "planned_path")
        if path is not None and len(path):
            self.path_pub.publish(cv.path_msg(path, stamp, frame))


def _exposed(agent, name: str):
    v = getattr(agent, name, None)
    return v() if callable(v) else v


def _get(obj, *names):
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    raise AttributeError(f"map object has none of {names}")


# ====================================================================== entry point
def config_from_params(rospy) -> RobotConfig:
    """The robot config named by ~robot_config, with ~overrides (a dict or YAML text) and the non-empty
    ~topic_<name> parameters (launch-file arguments) merged in."""
    import yaml

    overrides = rospy.get_param("~overrides", {}) or {}
    if isinstance(overrides, str):
        overrides = yaml.safe_load(overrides) or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"~overrides must be a dict, got {overrides!r}")
    from navstack.ros.config import Topics

    for key in Topics.__dataclass_fields__:
        v = rospy.get_param(f"~topic_{key}", "")
        if v:
            overrides.setdefault("topics", {})[key] = str(v)
    return load_robot_config(rospy.get_param("~robot_config", "sim") or "sim", **overrides)


def main(argv=None) -> int:
    import rospy

    from navstack.config import load_sim_config

    rospy.init_node("navstack_agent", argv=argv)
    try:
        config = config_from_params(rospy)
        sim = load_sim_config(config.sim_config)
        # the agent paces its search by its step budget (ModularConfig.hurry_after): the robot's, or none
        sim.max_episode_steps = config.max_steps or 10**9
        name = rospy.get_param("~agent", "") or config.agent
        agent = build_agent(name, sim, int(rospy.get_param("~seed", 0)))
    except (ValueError, FileNotFoundError) as e:
        rospy.logfatal(f"navstack agent node: {e}")
        return 2
    node = AgentNode(config, agent, name, sim, lifelong=bool(rospy.get_param("~lifelong", True)))
    rospy.loginfo(f"navstack agent node: agent {name!r}, robot config {config.name!r}; goals on "
                  f"{rospy.resolve_name('~goal/category')}, {rospy.resolve_name('~goal/text')}, "
                  f"{rospy.resolve_name('~goal/image')}")
    try:
        node.run()
    except rospy.ROSInterruptException:
        pass
    finally:
        node.backend.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
