#!/usr/bin/env bash
# ROS 1 (Noetic-era packages from Debian 12, no /opt/ros) for navstack's ROS bridge, usable from the venv.
#
#   bash scripts/setup_ros.sh [VENV]        (VENV defaults to .venv next to this repository)
#
# 1. apt-installs Debian's ROS 1 packages if any is missing (roscore, rospy, roslaunch, rostopic, catkin,
#    the message packages navstack uses);
# 2. links ONLY the ROS Python modules (and the few pure helpers they need that the venv lacks) from
#    /usr/lib/python3/dist-packages into VENV/ros-dist-packages/, named by VENV/.../site-packages/navstack_ros.pth.
#    Debian's dist-packages as a whole is never put on the venv's path (its numpy 1.24 / cv2 would shadow
#    the venv's numpy 2).
# Idempotent; takes well under a second when everything is already there.
#
# Environment: NAVSTACK_SKIP_ROS=1 does nothing (machines without apt or root; the ROS tests then skip).
# NAVSTACK_ROS_APT=0 skips step 1 (ROS installed otherwise, e.g. ROS Noetic from packages.ros.org);
# NAVSTACK_ROS_PYTHONPATH=dir1:dir2 are the folders the modules are linked from, first match wins
# (default /usr/lib/python3/dist-packages; Noetic: /opt/ros/noetic/lib/python3/dist-packages:/usr/lib/python3/dist-packages).
set -euo pipefail
if [ "${NAVSTACK_SKIP_ROS:-0}" = "1" ]; then echo "navstack setup_ros: skipped (NAVSTACK_SKIP_ROS=1)"; exit 0; fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$(realpath -m "${1:-$ROOT/.venv}")"  # absolute: the .pth entry must not be relative
IFS=: read -r -a DISTS <<< "${NAVSTACK_ROS_PYTHONPATH:-/usr/lib/python3/dist-packages}"

# -------------------------------------------------------------- Debian packages
PKGS=(python3-rosmaster rosout python3-roslaunch python3-rospy python3-rostopic python3-rostest catkin
      python3-std-msgs python3-sensor-msgs python3-geometry-msgs python3-nav-msgs python3-visualization-msgs
      python3-tf2-msgs)
need=()
[ "${NAVSTACK_ROS_APT:-1}" = "0" ] && PKGS=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "navstack setup_ros: installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# -------------------------------------------------------------- venv link folder
if [ ! -x "$VENV/bin/python" ]; then
  echo "navstack setup_ros: no virtual environment at $VENV (run 'make setup' first); Debian packages are installed" >&2
  exit 0
fi
LINKS="$VENV/ros-dist-packages"
# Quick exit when done: links checked after this script last changed and the .pth is in place.
if [ -f "$LINKS/.checked" ] && [ "$LINKS/.checked" -nt "$0" ] && [ -n "$(ls "$VENV"/lib/python3*/site-packages/navstack_ros.pth 2>/dev/null)" ]; then
  exit 0
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$LINKS"

# ROS's own Python modules (rospy, roslaunch, message packages, catkin's build helpers).
ROS_MODULES=(rospy rosgraph roslib rospkg rosmaster roslaunch rosparam rostopic rostest rosunit rosclean rosbag
             roslz4 genpy genmsg catkin catkin_pkg std_msgs sensor_msgs geometry_msgs nav_msgs
             visualization_msgs tf2_msgs rosgraph_msgs roscpp actionlib_msgs)
# Helpers they import; linked only when the venv does not already provide them (the venv's copy wins).
HELPERS=(yaml _yaml netifaces defusedxml em distro docutils pyparsing six dateutil)

link() {  # link NAME: the package folder, module file or extension of that name (first folder that has it)
  local name="$1" dist src
  for dist in "${DISTS[@]}"; do
    local found=0
    for src in "$dist/$name" "$dist/$name.py" "$dist"/"$name".cpython-*.so; do
      [ -e "$src" ] || continue
      found=1
      local dst="$LINKS/$(basename "$src")"
      if [ "$(readlink "$dst" 2>/dev/null)" != "$src" ]; then ln -sfn "$src" "$dst"; fi
    done
    [ $found -eq 1 ] && return 0
  done
  return 1
}

for m in "${ROS_MODULES[@]}"; do
  link "$m" || { echo "navstack setup_ros: Python module $m not found in ${DISTS[*]} (ROS package not installed?)" >&2; exit 1; }
done
# One interpreter start for all helper checks (keeps the no-op run quick). -S: without `site`, so neither
# this .pth nor the base interpreter's own site-packages count, only the venv's site-packages.
missing_helpers="$("$VENV/bin/python" -S - "$SITE" "${HELPERS[@]}" <<'EOF'
import importlib.util, sys
sys.path.append(sys.argv[1])
print(" ".join(m for m in sys.argv[2:] if importlib.util.find_spec(m) is None))
EOF
)"
for m in $missing_helpers; do link "$m" || true; done

PTH="$SITE/navstack_ros.pth"
if [ "$(cat "$PTH" 2>/dev/null)" != "$LINKS" ]; then echo "$LINKS" > "$PTH"; fi

# Check: the venv imports rospy and the messages, and still gets its own numpy.
"$VENV/bin/python" -c '
import numpy, rospy, roslaunch, rostopic, std_msgs.msg, sensor_msgs.msg, nav_msgs.msg, geometry_msgs.msg
import visualization_msgs.msg, tf2_msgs.msg
assert not numpy.__file__.startswith("/usr/lib/python3/"), "Debian numpy shadows the venv numpy"
' || { echo "navstack setup_ros: the venv cannot import rospy from $LINKS" >&2; exit 1; }
touch "$LINKS/.checked"
