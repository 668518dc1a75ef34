# Sourced by scripts/setup-env, scripts/test and scripts/demo: the ROS 2 distribution whose PyPI wheels
# are used, ROS2_DEPTH_DISTRO=jazzy (the default; LTS, supported to May 2029) or kilted, and the virtual
# environment that holds it. Each distribution has its own: their wheels install the same modules.
ros_distro=${ROS2_DEPTH_DISTRO:-jazzy}
case "$ros_distro" in
  jazzy) venv=.venv ;;
  kilted) venv=.venv-kilted ;;
  *)
    echo "ROS2_DEPTH_DISTRO=$ros_distro: choose jazzy (the default) or kilted" >&2
    exit 2
    ;;
esac
