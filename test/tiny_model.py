"""
A tiny ONNX model with the real model's interface, built in tests without torch.

Its output grid has the same geometry as the Eigen & Fergus scale-3 path (conv 9x9 stride 2
padding 1, then max-pool 3x3 stride 1: output pixel j sits on input pixel 2j + 5), its depth is a
smooth function of the image, and its normals are unit vectors. With ``labels``, it also scores
LABEL_CLASSES classes (ids 1..4, "unlabelled" 0 is not scored) from the red, green and blue
means of the window and a constant; with ``canonical_focal``, its sidecar has a metric scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
from ros2_depth.model_spec import (
    file_sha256, InputSpec, MetricScale, ModelSpec, OutputGrid, OutputSpec)

HEIGHT, WIDTH = 228, 304
OUT_HEIGHT, OUT_WIDTH = 109, 147
LABEL_CLASSES = 4
LABEL_NAMES = ('unlabelled', 'red', 'green', 'blue', 'other')
LABEL_COLORS = ((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128))


def _label_kernel() -> np.ndarray:
    """Class k (1..3) scores the mean of channel k - 1 over the 9x9 window; class 4 scores 0."""
    kernel = np.zeros((LABEL_CLASSES, 3, 9, 9), np.float32)
    for channel in range(3):
        kernel[channel, channel] = 1.0 / 81.0
    return kernel


def build_tiny_model(directory: Path, name: str = 'tiny', trained: bool = True,
                     labels: bool = False, canonical_focal: Optional[float] = None) -> Path:
    """Write NAME.onnx and NAME.json into `directory`; return the sidecar's path."""
    rng = np.random.default_rng(0)
    mean_kernel = np.full((1, 3, 9, 9), 1.0 / 243.0, np.float32)
    normal_kernel = (0.02 * rng.standard_normal((3, 3, 9, 9))).astype(np.float32)
    inits = [
        numpy_helper.from_array(mean_kernel, 'w_depth'),
        numpy_helper.from_array(np.array([0.0], np.float32), 'b_depth'),
        numpy_helper.from_array(normal_kernel, 'w_normals'),
        numpy_helper.from_array(np.array([0.0, 0.0, -1.0], np.float32), 'b_normals'),
        numpy_helper.from_array(np.array(0.4, np.float32), 'gain'),
        numpy_helper.from_array(np.array(0.9, np.float32), 'offset'),
    ]
    conv = {'kernel_shape': [9, 9], 'strides': [2, 2], 'pads': [1, 1, 1, 1]}
    pool = {'kernel_shape': [3, 3], 'strides': [1, 1]}
    nodes = [
        helper.make_node('Conv', ['image', 'w_depth', 'b_depth'], ['c_depth'], **conv),
        helper.make_node('MaxPool', ['c_depth'], ['p_depth'], **pool),
        helper.make_node('Mul', ['p_depth', 'gain'], ['s_depth']),
        helper.make_node('Add', ['s_depth', 'offset'], ['depth']),
        helper.make_node('Conv', ['image', 'w_normals', 'b_normals'], ['c_normals'], **conv),
        helper.make_node('MaxPool', ['c_normals'], ['p_normals'], **pool),
        helper.make_node('LpNormalization', ['p_normals'], ['normals'], axis=1, p=2),
    ]
    outputs = [
        helper.make_tensor_value_info('depth', TensorProto.FLOAT, [1, 1, OUT_HEIGHT, OUT_WIDTH]),
        helper.make_tensor_value_info('normals', TensorProto.FLOAT, [1, 3, OUT_HEIGHT, OUT_WIDTH]),
    ]
    if labels:
        inits += [
            numpy_helper.from_array(_label_kernel(), 'w_labels'),
            numpy_helper.from_array(np.zeros(LABEL_CLASSES, np.float32), 'b_labels'),
        ]
        nodes += [
            helper.make_node('Conv', ['image', 'w_labels', 'b_labels'], ['c_labels'], **conv),
            helper.make_node('MaxPool', ['c_labels'], ['labels'], **pool),
        ]
        outputs.append(helper.make_tensor_value_info(
            'labels', TensorProto.FLOAT, [1, LABEL_CLASSES, OUT_HEIGHT, OUT_WIDTH]))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, 3, HEIGHT, WIDTH])],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    onnx_path = directory / f'{name}.onnx'
    onnx.save(model, str(onnx_path))
    spec = ModelSpec(
        name=name,
        onnx_file=onnx_path.name,
        trained=trained,
        onnx_sha256=file_sha256(onnx_path),
        input=InputSpec(
            name='image',
            height=HEIGHT,
            width=WIDTH,
            color_order='rgb',
            scale=1 / 255.0,
            mean=(0.5, 0.5, 0.5),
            std=(0.25, 0.25, 0.25),
        ),
        outputs={
            'depth': OutputSpec(
                name='depth',
                kind='depth',
                height=OUT_HEIGHT,
                width=OUT_WIDTH,
                encoding='log',
                units='m',
            ),
            'normals': OutputSpec(
                name='normals', kind='normals', height=OUT_HEIGHT, width=OUT_WIDTH, channels=3
            ),
            **({'labels': OutputSpec(
                name='labels', kind='labels', height=OUT_HEIGHT, width=OUT_WIDTH,
                channels=LABEL_CLASSES, encoding='logits', class_names=LABEL_NAMES,
                class_colors=LABEL_COLORS, first_class_id=1)} if labels else {}),
        },
        output_grid=OutputGrid(scale_x=2.0, offset_x=5.0, scale_y=2.0, offset_y=5.0),
        depth_range=(0.1, 20.0),
        description='test fixture',
        metric_scale=None if canonical_focal is None else MetricScale(
            canonical_focal_px=canonical_focal),
    )
    sidecar = directory / f'{name}.json'
    spec.save(sidecar)
    return sidecar
