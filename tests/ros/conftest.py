"""Fixtures for the ROS tests: a real roscore per test session, this process as a rospy node, a catkin
workspace built from ros_ws/src with Debian's catkin_make (helpers, e.g. the fake robot: ros_helpers.py).

Every test here is marked `ros` (`pytest -m "not ros"` leaves them out); the whole directory is skipped, with
the reason, when Debian's ROS 1 packages are missing (run scripts/setup_ros.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROS_MISSING = None
if shutil.which("roscore") is None:
    ROS_MISSING = "roscore is not on PATH: Debian's ROS 1 packages are not installed (run scripts/setup_ros.sh)"
else:
    try:
        import rospy  # noqa: F401
        import sensor_msgs.msg  # noqa: F401
    except ImportError as e:
        ROS_MISSING = f"rospy is not importable from this Python ({e}): run scripts/setup_ros.sh"


def pytest_configure(config):
    # rospy's threads (alive for the whole session) warn about notifyAll/warn during whatever test runs.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:rospy")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ros)
            if ROS_MISSING:
                item.add_marker(pytest.mark.skip(reason=ROS_MISSING))


@pytest.fixture(scope="session")
def roscore():
    """A fresh master on a free port for this test session; ROS_MASTER_URI set for us and children."""
    from navstack.ros.testing import RosMaster

    with RosMaster() as master:
        yield master


@pytest.fixture(scope="session")
def ros_node(roscore):
    """This test process as a rospy node (once per process: rospy allows one init_node)."""
    import rospy

    rospy.init_node("navstack_test", anonymous=True, disable_signals=True)
    yield rospy
    rospy.signal_shutdown("tests done")


@pytest.fixture(scope="session")
def catkin_ws(roscore, tmp_path_factory):
    """ros_ws/src/navstack_ros built with catkin_make (devel space, the venv's Python); env to launch it."""
    ws = tmp_path_factory.mktemp("catkin_ws")
    (ws / "src").mkdir()
    (ws / "src" / "navstack_ros").symlink_to(REPO / "ros_ws" / "src" / "navstack_ros")
    r = subprocess.run(["catkin_make", "-C", str(ws), f"-DPYTHON_EXECUTABLE={sys.executable}"], cwd=ws, env=roscore.env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"catkin_make failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    env = roscore.env()
    env["ROS_PACKAGE_PATH"] = str(ws / "src")
    env["CMAKE_PREFIX_PATH"] = os.pathsep.join([str(ws / "devel"), env.get("CMAKE_PREFIX_PATH", "/usr")])
    return ws, env
