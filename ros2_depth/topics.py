"""
depth_node's topic names, and the layout launch/depth.launch.py gives them in a camera namespace.

The node uses relative names (`image`, `camera_info` in; `depth/image`, `points`... out). The
launch file puts it in the camera's namespace, so it reads `<camera>/<image>` and
`<camera>/camera_info`, and remaps every output into the child namespace OUTPUT_NAMESPACE:
`<camera>/mono_depth/depth/image`, `<camera>/mono_depth/points`... An RGB-D driver or
depth_image_proc in the same camera namespace publishes `depth/camera_info` and `points`
itself; under `mono_depth/` the network's outputs never collide with a sensor's.
"""

from __future__ import annotations

import json
import re
from typing import Dict, List, Tuple

# The node's inputs, relative to its namespace.
INPUTS = ('image', 'camera_info')
# Output key -> the node's relative topic name. 'labels' and 'labels_color' exist only for a
# model with a labels output.
OUTPUTS: Dict[str, str] = {
    'depth': 'depth/image',
    'info': 'depth/camera_info',
    'normals': 'normals/image',
    'points': 'points',
    'labels': 'labels/image',
    'labels_color': 'labels/color',
}
LABEL_KEYS = ('labels', 'labels_color')
# The child of the camera namespace that the launch file moves every output into.
OUTPUT_NAMESPACE = 'mono_depth'


def output_remappings(namespace: str = OUTPUT_NAMESPACE) -> List[Tuple[str, str]]:
    """Return the (from, to) remappings that move every output into `namespace`."""
    return [(topic, f'{namespace}/{topic}') for topic in OUTPUTS.values()]


def output_remap_args(namespace: str = OUTPUT_NAMESPACE) -> List[str]:
    """Return output_remappings() as `--ros-args` arguments: `-r depth/image:=...` each."""
    return [arg for src, dst in output_remappings(namespace) for arg in ('-r', f'{src}:={dst}')]


def laid_out(camera: str, key: str, namespace: str = OUTPUT_NAMESPACE) -> str:
    """Return the absolute name of output `key` under the launch layout for camera `camera`."""
    return f'{camera.rstrip("/")}/{namespace}/{OUTPUTS[key]}'


# What config/depth.rviz is written for: the launch file's default camera, image and frame.
RVIZ_CAMERA = '/camera'
RVIZ_IMAGE = 'image_rect'
RVIZ_FRAME = 'camera_optical_frame'


def rviz_topics(camera: str = RVIZ_CAMERA, image: str = RVIZ_IMAGE) -> Dict[str, str]:
    """Return the topics config/depth.rviz shows for a camera: its input image and every output."""
    camera = '/' + camera.strip('/')
    topics = {'image': f'{camera}/{image}'.replace('//', '/')}
    topics.update((key, laid_out(camera, key)) for key in OUTPUTS)
    return topics


def retarget_rviz_config(text: str, camera: str, image: str, frame: str) -> str:
    """Return config/depth.rviz's text with its topics and fixed frame set for another camera."""
    new = rviz_topics(camera, image)
    mapping = {old: new[key] for key, old in rviz_topics().items()}
    text = re.sub(r'^(\s*Value: )(/\S*)$',
                  lambda m: m.group(1) + mapping.get(m.group(2), m.group(2)), text, flags=re.M)
    return re.sub(r'^(\s*Fixed Frame: ).*$', lambda m: m.group(1) + json.dumps(frame), text,
                  flags=re.M)
