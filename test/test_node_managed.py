"""
depth_node_managed, as its own process over real DDS, driven through every lifecycle transition.

A client calls ``/cam/depth_node/change_state`` and ``get_state`` (lifecycle_msgs) by transition
label, as ``ros2 lifecycle set`` and Nav2's lifecycle manager do, and watches the graph and the
outputs: configure fails cleanly on a missing model and succeeds on the tiny one; nothing
subscribes to ``image`` before activate; depth comes out while active and none after deactivate;
activate works again after deactivate; cleanup releases the outputs; shutdown (from unconfigured,
inactive or active) ends the process with exit code 0 and no error.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
import signal
import subprocess
from typing import Dict, Iterator, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
import pytest
from ros_harness import (
    assert_clean_stop,
    exit_code,
    Harness,
    isolated_ros_env,
    make_camera_info,
    make_image,
    start_depth_node,
)

WIDTH, HEIGHT, FOCAL = 640, 480, 525.0
FRAME = 'camera_color_optical_frame'
NODE = '/cam/depth_node'
MODULE = 'ros2_depth.depth_node_managed'


class LifecycleClient:
    """Calls a lifecycle node's change_state and get_state services through a Harness."""

    def __init__(self, harness: Harness, node: str = NODE) -> None:
        """Create the service clients on the harness node."""
        self.harness = harness
        self.change = harness.node.create_client(ChangeState, f'{node}/change_state')
        self.get = harness.node.create_client(GetState, f'{node}/get_state')

    def wait(self, timeout: float = 20.0) -> bool:
        """Wait until both services are there."""
        return self.harness.spin_until(
            lambda: self.change.service_is_ready() and self.get.service_is_ready(), timeout)

    def _call(self, client, request, timeout: float = 30.0):
        future = client.call_async(request)
        assert self.harness.spin_until(future.done, timeout), 'no reply from the node'
        return future.result()

    def state(self) -> str:
        """Return the node's state label (unconfigured, inactive, active, finalized)."""
        return self._call(self.get, GetState.Request()).current_state.label

    def transition(self, label: str) -> bool:
        """Trigger a transition by label (configure, activate, ...); return its success."""
        request = ChangeState.Request()
        request.transition.label = label
        return self._call(self.change, request).success


@pytest.fixture(scope='module')
def env() -> Dict[str, str]:
    """Return an isolated ROS environment for this module."""
    return isolated_ros_env(salt=31)


@pytest.fixture
def client(env: Dict[str, str]) -> Iterator[Harness]:
    """
    Yield a Harness of its own per test (conftest's is shared by a module).

    Each test starts a new depth_node_managed under the same name; a participant that had
    discovered the previous, stopped one can still take its services for ready and send the
    request there (seen in CI: "no reply from the node").
    """
    harness = Harness(env, namespace='/cam')
    yield harness
    harness.close()


@contextlib.contextmanager
def managed_node(model: Path, log: Path, env: Dict[str, str],
                 client: Harness) -> Iterator[Tuple[subprocess.Popen, LifecycleClient]]:
    """Start depth_node_managed; yield it and a lifecycle client; kill it if left running."""
    proc = start_depth_node(model, log, env, module=MODULE)
    try:
        lifecycle = LifecycleClient(client)
        assert lifecycle.wait(), log.read_text()
        yield proc, lifecycle
    finally:
        if proc.poll() is None:  # a failed test left it running
            proc.kill()
            proc.wait()


def frame(stamp: Tuple[int, int]):
    """Return a 640x480 image and its camera_info with this stamp."""
    pixels = np.random.default_rng(stamp[0] % 1000).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)
    info = make_camera_info(stamp, FRAME, WIDTH, HEIGHT, FOCAL, FOCAL, 319.5, 239.5)
    return make_image(stamp, FRAME, pixels), info


def test_every_transition(tiny_model: Path, env: Dict[str, str], client: Harness,
                          tmp_path: Path) -> None:
    """Unconfigured -> inactive -> active -> inactive -> active -> ... -> finalized, exit 0."""
    log = tmp_path / 'managed.log'
    statuses = []
    diagnostics = client.node.create_subscription(
        DiagnosticArray, '/diagnostics', lambda msg: statuses.extend(msg.status), 10)
    with managed_node(tiny_model, log, env, client) as (proc, lifecycle):
        assert lifecycle.state() == 'unconfigured'
        assert not client.spin_until(lambda: client.node.count_publishers('/cam/depth/image'),
                                     1.0), 'outputs before configure'

        assert lifecycle.transition('configure'), log.read_text()
        assert lifecycle.state() == 'inactive'
        # Once the node's outputs are seen, its endpoints are discovered: none on the inputs.
        assert client.spin_until(lambda: client.node.count_publishers('/cam/depth/image') > 0,
                                 10.0), log.read_text()
        client.spin_until(lambda: False, 0.5)
        assert client.node.count_subscribers('/cam/image') == 0, 'image subscribed while inactive'
        assert client.node.count_subscribers('/cam/camera_info') == 0
        assert client.spin_until(lambda: statuses, 5.0), 'no /diagnostics while inactive'
        assert statuses[-1].message == 'inactive', statuses[-1].message

        for round_index in range(2):  # activate again after a deactivate
            assert lifecycle.transition('activate'), log.read_text()
            assert lifecycle.state() == 'active'
            assert client.wait_for_node(), log.read_text()
            stamp = (1_700_004_000 + round_index, 0)
            assert client.send_until_complete(*frame(stamp)), log.read_text()
            depth = client.received[stamp]['depth']
            assert (depth.header.frame_id, depth.width, depth.height) == (FRAME, 147, 109)

            assert lifecycle.transition('deactivate'), log.read_text()
            assert lifecycle.state() == 'inactive'
            assert client.spin_until(lambda: client.pub_image.get_subscription_count() == 0,
                                     10.0), 'still subscribed to image after deactivate'
            quiet = [(1_700_004_100 + 10 * round_index + k, 0) for k in range(5)]
            for stamp in quiet:
                client.send(*frame(stamp))
                client.spin_until(lambda: False, 0.3)
            client.spin_until(lambda: False, 1.0)
            assert not [s for s in quiet if s in client.received], 'outputs while inactive'

        assert lifecycle.transition('cleanup'), log.read_text()
        assert lifecycle.state() == 'unconfigured'
        assert client.spin_until(lambda: client.node.count_publishers('/cam/depth/image') == 0,
                                 10.0), 'outputs left after cleanup'

        assert lifecycle.transition('configure'), log.read_text()  # configure again
        assert lifecycle.state() == 'inactive'
        assert lifecycle.transition('shutdown'), log.read_text()
        assert_clean_stop(exit_code(proc), log)
    client.node.destroy_subscription(diagnostics)
    text = log.read_text()
    assert text.count('model tiny') == 2, text  # loaded at each configure, not at start


def test_configure_fails_cleanly_without_the_model(
        env: Dict[str, str], client: Harness, tmp_path: Path) -> None:
    """A missing model: configure fails with one error line, the node stays unconfigured."""
    log = tmp_path / 'missing.log'
    with managed_node(tmp_path / 'missing.json', log, env, client) as (proc, lifecycle):
        assert not lifecycle.transition('configure')
        assert lifecycle.state() == 'unconfigured'
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith('[ERROR]'), lines
        assert 'missing.json does not exist' in lines[0] and 'unconfigured' in lines[0], lines
        assert not lifecycle.transition('activate'), 'activated without a model'
        assert lifecycle.transition('shutdown')  # from unconfigured
        assert exit_code(proc) == 0, log.read_text()


@pytest.mark.parametrize('stop', ['shutdown', 'SIGINT', 'SIGTERM'])
def test_stop_while_active(tiny_model: Path, env: Dict[str, str], client: Harness,
                           tmp_path: Path, stop: str) -> None:
    """From active: the shutdown transition, or a signal, ends the process cleanly (exit 0)."""
    log = tmp_path / 'active.log'
    with managed_node(tiny_model, log, env, client) as (proc, lifecycle):
        assert lifecycle.transition('configure') and lifecycle.transition('activate')
        stamp = (1_700_004_200 + len(stop), 0)
        assert client.send_until_complete(*frame(stamp)), log.read_text()
        if stop == 'shutdown':
            assert lifecycle.transition('shutdown')
        else:
            proc.send_signal(getattr(signal, stop))
        assert_clean_stop(exit_code(proc), log)
