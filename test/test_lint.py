"""The ROS 2 linters (ament_flake8 with its default rules, ament_pep257) over the package and the trainer."""

from pathlib import Path

import pytest
from ament_flake8.main import main_with_errors as flake8_main
from ament_pep257.main import main as pep257_main

REPO = Path(__file__).resolve().parents[1]
SOURCES = [str(REPO / p) for p in ('ros2_depth', 'trainer', 'test', 'launch', 'setup.py')]


@pytest.mark.linter
def test_flake8() -> None:
    """ament_flake8: pyflakes, pycodestyle at 99 columns, import order, quotes, builtins, docstrings."""
    rc, errors = flake8_main(argv=SOURCES)
    assert rc == 0, f'{len(errors)} flake8 problem(s):\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257() -> None:
    """ament_pep257: docstring conventions."""
    assert pep257_main(argv=SOURCES) == 0, 'pep257 problems, see the output above'
