"""Test helpers around ros2_depth.demo.depth_client: start depth_node, build camera messages."""

from __future__ import annotations

from pathlib import Path
import subprocess
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
