"""
colcon builds the package into an install space that runs, and colcon test runs its tests.

The installed node finds its bundled model through the ament index.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import time


REPO = Path(__file__).resolve().parents[1]
COLCON = Path(sys.executable).parent / 'colcon'


def test_install_space_layout(install_space: Path) -> None:
    """Executables in lib/ros2_depth, launch/config/engines and package.xml in share/ros2_depth."""
    assert os.access(install_space / 'lib' / 'ros2_depth' / 'depth_node', os.X_OK)
    assert os.access(install_space / 'lib' / 'ros2_depth' / 'depth_node_managed', os.X_OK)
    assert os.access(install_space / 'lib' / 'ros2_depth' / 'ros2-depth', os.X_OK)
    share = install_space / 'share' / 'ros2_depth'
    assert (share / 'package.xml').is_file()
    assert sorted(p.name for p in (share / 'launch').iterdir()) == sorted(
        p.name for p in (REPO / 'launch').glob('*.launch.py')
    )
    assert sorted(p.name for p in (share / 'config').iterdir()) == sorted(
        p.name for p in (REPO / 'config').iterdir() if p.is_file()
    ), 'the parameter file, the Fast DDS profile and the RViz configuration'
    assert (share / 'engines' / 'default.onnx').is_file() and (
        share / 'engines' / 'default.json'
    ).is_file()
    assert (
        install_space / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'ros2_depth'
    ).is_file()
    bags = [bag for bag in (REPO / 'bags').iterdir() if bag.is_dir()]
    assert bags, 'the sample bags are part of the package'
    for bag in bags:
        installed = sorted(p.name for p in (share / 'bags' / bag.name).iterdir())
        assert installed == sorted(p.name for p in bag.iterdir()), bag.name


def test_installed_node_loads_bundled_model(install_space: Path, tmp_path: Path) -> None:
    """The installed depth_node, found via the ament index, starts on share/ros2_depth/engines."""
    site = next((install_space / 'lib').glob('python3*/site-packages'))
    env = dict(
        os.environ,
        AMENT_PREFIX_PATH=str(install_space),
        PYTHONPATH=str(site),
        ROS_DOMAIN_ID=str(1 + (os.getpid() + 50) % 100),
        ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
        PYTHONUNBUFFERED='1',
    )
    log = tmp_path / 'node.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [sys.executable, str(install_space / 'lib' / 'ros2_depth' / 'depth_node')],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
        deadline = time.monotonic() + 30
        while 'CPUExecutionProvider' not in log.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        proc.send_signal(2)
        code = proc.wait(timeout=10)
    text = log.read_text()
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert str(install_space / 'share' / 'ros2_depth' / 'engines' / 'default.json') in text, text
    assert code == 0, text


def test_colcon_test_runs_the_package_tests(install_space: Path) -> None:
    """`colcon test` runs pytest on the package (setup.py's test extra) and its results pass."""
    work = install_space.parents[1]
    base = [str(COLCON), '--log-base', str(work / 'log')]
    paths = ['--base-paths', str(REPO), '--build-base', str(work / 'build'), '--install-base',
             str(work / 'install'), '--test-result-base', str(work / 'results')]
    # Two quick test files (scripts/test runs them all): the dependency audit and geometry.
    pytest_args = ['test/test_package_deps.py', 'test/test_geometry.py']
    run = subprocess.run(
        base + ['test', *paths, '--pytest-args', *pytest_args],
        cwd=work, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    result = subprocess.run(
        base + ['test-result', '--test-result-base', str(work / 'results'), '--verbose'],
        cwd=work, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r'Summary: (\d+) tests, (\d+) errors, (\d+) failures, (\d+) skipped',
                        result.stdout)
    assert summary, result.stdout
    tests, errors, failures, _ = map(int, summary.groups())
    assert tests >= 10 and errors == 0 and failures == 0, result.stdout
