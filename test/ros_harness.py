"""Test helpers around ros2_depth.demo.depth_client: start depth_node, build camera messages."""

from __future__ import annotations

from pathlib import Path
import subprocess
import time
from typing import Dict, Optional, Tuple

import numpy as np
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.depth_client import (  # noqa: F401 (re-exported for the tests)
    camera_info_msg,
    DepthClient as Harness,
    image_msg,
    isolated_ros_env,
    start_node_process,
    stop_process,
)
from sensor_msgs.msg import CameraInfo, Image

NAMESPACE = '/cam'
EXIT_TIMEOUT_S = 20.0  # how long a stopping node may take to exit
# What a clean stop never prints (the last: BackendError's advice when an import is interrupted).
NOT_IN_CLEAN_OUTPUT = ('ERROR', 'FATAL', 'Traceback', 'install it')
LOG_LINE_STARTS = ('[INFO]', '[WARN]')


def start_depth_node(
    model: Optional[Path],
    log_path: Path,
    env: Dict[str, str],
    *extra: str,
    namespace: str = NAMESPACE,
    module: str = 'ros2_depth.depth_node',
) -> subprocess.Popen:
    """Start depth_node (or `module`) with one inference thread (and the model, if any)."""
    args = ['-p', 'num_threads:=1', *extra]
    if model is not None:
        args += ['-p', f'model:={model}']
    return start_node_process(log_path, env, namespace, args, module)


def make_camera_info(
    stamp: Tuple[int, int],
    frame: str,
    width: int,
    height: int,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
) -> CameraInfo:
    """Return a rectified CameraInfo with the given intrinsics."""
    return camera_info_msg(stamp, frame, PinholeCamera(width, height, fx, fy, cx, cy))


def make_image(
    stamp: Tuple[int, int], frame: str, pixels: np.ndarray, encoding: str = 'rgb8'
) -> Image:
    """Return an Image with the given stamp, frame and pixels."""
    return image_msg(stamp, frame, pixels, encoding)


def node_log_until(log_path: Path, marker: str, timeout: float, *args: str) -> str:
    """
    Start depth_node with these arguments, wait until its log shows `marker`, stop it; its log.

    The node must stop with exit code 0 (whether or not the marker came: the caller checks).
    """
    proc = start_node_process(log_path, isolated_ros_env(), NAMESPACE, list(args))
    try:
        deadline = time.monotonic() + timeout
        while marker not in log_path.read_text() and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        code = stop_process(proc)
    text = log_path.read_text()
    assert code == 0, f'depth_node exited with {code}:\n{text}'
    return text


def exit_code(proc: subprocess.Popen) -> int:
    """Wait for the process to exit on its own (killing it after EXIT_TIMEOUT_S)."""
    try:
        return proc.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -999  # did not stop


def assert_clean_stop(code: int, log: Path) -> None:
    """Exit code 0; only INFO and WARN lines in the node's output, none of NOT_IN_CLEAN_OUTPUT."""
    text = log.read_text()
    assert code == 0, f'exit code {code}:\n{text}'
    for word in NOT_IN_CLEAN_OUTPUT:
        assert word not in text, f'"{word}" in the output of a clean stop:\n{text}'
    other = [line for line in text.splitlines() if line and not line.startswith(LOG_LINE_STARTS)]
    assert not other, f'lines other than the log of a clean stop:\n{text}'
