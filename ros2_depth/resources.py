"""
Where the package's installed files are.

The share directory of a colcon install, or the source tree.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = 'ros2_depth'
DEFAULT_MODEL = 'default.json'


def share_directory() -> Path:
    """share/ros2_depth of an ament install, else the source checkout (pip editable installs)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return Path(__file__).resolve().parents[1]
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        return Path(__file__).resolve().parents[1]


def default_model_path() -> Path:
    """Return the path of the bundled default model's sidecar."""
    return share_directory() / 'engines' / DEFAULT_MODEL
