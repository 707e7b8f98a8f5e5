"""A throwaway ROS master for tests and benchmarks: `roscore -p <free port>` in its own session.

    with RosMaster() as master:        # sets ROS_MASTER_URI (and ROS_HOME/ROS_LOG_DIR) in os.environ
        subprocess.Popen([...], env=master.env())
    # the master's whole process group is stopped (SIGINT, then SIGKILL), by its PID

No rospy import; only `roscore` on PATH (Debian: /usr/bin/roscore) and rosgraph for the liveness check.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

REPO = Path(__file__).resolve().parents[2]
ROS_WS_SRC = REPO / "ros_ws" / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def master_online(uri: str, timeout: float = 0.5) -> bool:
    import xmlrpc.client

    class _T(xmlrpc.client.Transport):
        def make_connection(self, host):
            c = super().make_connection(host)
            c.timeout = timeout
            return c

    try:
        code, _, _ = xmlrpc.client.ServerProxy(uri, transport=_T()).getPid("/navstack_probe")
        return code == 1
    except (OSError, xmlrpc.client.Error):
        return False


def stop_process_group(proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 10.0) -> Optional[int]:
    """Signal the process group led by `proc` (started with start_new_session=True); SIGKILL after timeout."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return proc.wait()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait()


def session_processes(sid: int) -> list:
    """PIDs still alive in session `sid` (leftover check)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(p.name))
    return out


class RosMaster:
    def __init__(self, port: Optional[int] = None, startup_timeout: float = 30.0):
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: Optional[subprocess.Popen] = None
        self.home = Path(tempfile.mkdtemp(prefix="navstack-ros-"))
        self._saved: Dict[str, Optional[str]] = {}

    def env(self, **extra) -> Dict[str, str]:
        """Environment for ROS child processes: this master, the repo's catkin package, the venv first on PATH."""
        e = dict(os.environ)
        e.update(ROS_MASTER_URI=self.uri, ROS_HOME=str(self.home), ROS_LOG_DIR=str(self.home / "log"),
                 ROS_IP="127.0.0.1", ROSCONSOLE_STDOUT_LINE_BUFFERED="1", PYTHONUNBUFFERED="1")
        e.pop("ROS_HOSTNAME", None)
        rpp = [str(ROS_WS_SRC)] + ([e["ROS_PACKAGE_PATH"]] if e.get("ROS_PACKAGE_PATH") else [])
        e["ROS_PACKAGE_PATH"] = os.pathsep.join(rpp)
        venv_bin = str(Path(sys.executable).parent)
        e["PATH"] = venv_bin + os.pathsep + e.get("PATH", "")
        e["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
        e.update(extra)
        return e

    def start(self) -> "RosMaster":
        if shutil.which("roscore") is None:
            raise RuntimeError("roscore is not on PATH: run scripts/setup_ros.sh (Debian's ROS 1 packages)")
        env = self.env()
        self.log = open(self.home / "roscore.log", "w")
        self.proc = subprocess.Popen(["roscore", "-p", str(self.port)], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while not master_online(self.uri):
            if self.proc.poll() is not None:
                raise RuntimeError(f"roscore exited with {self.proc.returncode}: "
                                   f"{(self.home / 'roscore.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"roscore did not answer on {self.uri} within {self.startup_timeout} s")
            time.sleep(0.05)
        for k, v in self.env().items():
            if k.startswith("ROS") or k in ("PYTHONUNBUFFERED",):
                self._saved.setdefault(k, os.environ.get(k))
                os.environ[k] = v
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGINT, 10.0)
            self.proc = None
            self.log.close()
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved.clear()

    def __enter__(self) -> "RosMaster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
