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


def start_depth_node(
    model: Optional[Path],
    log_path: Path,
    env: Dict[str, str],
    *extra: str,
    namespace: str = NAMESPACE,
) -> subprocess.Popen:
    """Start depth_node with one inference thread (and the given model, if any)."""
    args = ['-p', 'num_threads:=1', *extra]
    if model is not None:
        args += ['-p', f'model:={model}']
    return start_node_process(log_path, env, namespace, args)


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
