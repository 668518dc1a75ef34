"""
The ROS 2 linters over the package and the trainer.

ament_flake8 with its default rules, and ament_pep257.
"""

from pathlib import Path

from ament_flake8.main import main_with_errors as flake8_main
from ament_pep257.main import main as pep257_main
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = [str(REPO / p) for p in ('ros2_depth', 'trainer', 'test', 'launch', 'setup.py')]


@pytest.mark.linter
def test_flake8() -> None:
    """
    ament_flake8 with its default rules.

    pyflakes, pycodestyle at 99 columns, import order, quotes, builtins and docstrings.
    """
    rc, errors = flake8_main(argv=SOURCES)
    assert rc == 0, f'{len(errors)} flake8 problem(s):\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257() -> None:
    """ament_pep257: docstring conventions."""
    assert pep257_main(argv=SOURCES) == 0, 'pep257 problems, see the output above'
