"""
The node's import graph: depth_node reaches none of the demo, bag, metrics, trainer or torch code.

Each check runs in a fresh interpreter (the test process itself has imported everything), imports
the node, loads a model and runs one frame through the pipeline as the node does, then lists
``sys.modules``.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
from typing import List

import pytest

# Packages the node must never import: the demo and its tools, training-only code, and the
# heavy libraries that only they use.
FORBIDDEN = (
    'ros2_depth.demo',
    'ros2_depth.cli',
    'ros2_depth.metrics',
    'ros2_depth_trainer',
    'torch',
    'rosbags',
    'tqdm',
    'matplotlib',
    'h5py',
)

NODE_PATH = """
import json, sys
import numpy as np
import ros2_depth.depth_node
from ros2_depth.backends import create_backend
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.model_spec import load_spec
from ros2_depth.pipeline import DepthPipeline
spec = load_spec(sys.argv[1])
pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1))
image = np.zeros((48, 64, 3), np.uint8)
result = pipeline.run(image, 'rgb8', PinholeCamera(64, 48, 50.0, 50.0, 31.5, 23.5))
assert np.isfinite(result.depth).any()
print(json.dumps(sorted(sys.modules)))
"""


def _modules(script: str, *args: str) -> List[str]:
    """Run a script in a fresh interpreter; return the module names it printed."""
    result = subprocess.run([sys.executable, '-c', script, *args], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _forbidden(modules: List[str]) -> List[str]:
    return [m for m in modules if any(m == f or m.startswith(f + '.') for f in FORBIDDEN)]


def test_node_path_imports_no_demo_bag_or_training_code(tiny_model: Path) -> None:
    """depth_node, a backend and one frame through the pipeline: only the node's core."""
    modules = _modules(NODE_PATH, str(tiny_model))
    assert 'ros2_depth.depth_node' in modules and 'ros2_depth.pipeline' in modules
    assert _forbidden(modules) == []
    runtime = {m for m in modules if m.split('.')[0] == 'ros2_depth'}
    assert runtime <= {
        'ros2_depth', 'ros2_depth.backends', 'ros2_depth.backends.base',
        'ros2_depth.backends.onnxruntime_backend', 'ros2_depth.backends.tensorrt_compat',
        'ros2_depth.camera_info_cache',
        'ros2_depth.camera_model', 'ros2_depth.compressed_image',
        'ros2_depth.depth_node', 'ros2_depth.geometry', 'ros2_depth.image_encoding',
        'ros2_depth.model_spec', 'ros2_depth.pipeline', 'ros2_depth.resample',
        'ros2_depth.resources', 'ros2_depth.ros_messages'}, sorted(runtime)


def test_importing_the_node_loads_no_backend() -> None:
    """Backends are imported only when selected: importing the node loads no ONNX Runtime."""
    modules = _modules('import json, sys\nimport ros2_depth.depth_node\n'
                       'print(json.dumps(sorted(sys.modules)))')
    assert _forbidden(modules) == []
    assert not [m for m in modules if m.split('.')[0] == 'onnxruntime']


@pytest.mark.parametrize('name, absent', [
    ('ros2_depth.metrics', ('PROTOCOLS', 'EvalProtocol', 'CROPS', 'nyu_eigen_crop')),
    ('ros2_depth.geometry', ('normals_from_depth', 'depth_jumps', 'smallest_eigen')),
])
def test_training_only_code_is_in_the_trainer(name: str, absent: tuple) -> None:
    """The papers' protocols and normals from depth live in ros2_depth_trainer."""
    module = __import__(name, fromlist=['_'])
    assert [a for a in absent if hasattr(module, a)] == []


def test_the_runtime_top_level_is_the_node_core() -> None:
    """ros2_depth/ holds the node's modules (plus cli and metrics); the demo tools sit apart."""
    package = Path(__file__).resolve().parents[1] / 'ros2_depth'
    assert sorted(p.stem for p in package.glob('*.py')) == [
        '__init__', 'camera_info_cache', 'camera_model', 'cli', 'compressed_image', 'depth_node',
        'depth_node_managed', 'geometry', 'image_encoding', 'metrics', 'model_spec', 'pipeline',
        'resample', 'resources', 'ros_messages', 'topics']
    assert sorted(p.stem for p in (package / 'demo').glob('*.py')) == [
        '__init__', 'bag_processing', 'bag_source', 'bench', 'depth_client', 'image_files',
        'relay', 'run', 'scene', 'soak', 'visualize']
