"""ROS 1 bridge (rospy): RosBackend, the navstack agent node, and the embedded simulator as a ROS robot.

Modules: `config` (RobotConfig, configs/robot/*.yaml), `conversions` (messages <-> numpy / navstack types,
REP-103 <-> Habitat frames, velocity limits), `backend` (RosBackend), `agent_node`, `sim_robot`, `scripted`
(the `scripted-ros-test` agent), `testing` (a throwaway roscore for tests and benchmarks).
Nothing here imports rospy at module import time except inside the functions and classes that need it;
`import navstack` never imports this package. Install ROS with scripts/setup_ros.sh (see docs/ros.md).
"""
