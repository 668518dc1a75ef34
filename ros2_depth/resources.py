"""
Where the package's installed files are.

The share directory of a colcon install, or the source tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

PACKAGE = 'ros2_depth'
DEFAULT_MODEL = 'default.json'
# The variables Fast DDS reads its XML profile file from: FASTRTPS_ up to 2.x (Humble, Jazzy),
# FASTDDS_ from 3.0 (Kilted).
FASTDDS_PROFILE_VARIABLES = ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE')


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


def fastdds_profile_path() -> Path:
    """Return the shipped Fast DDS profile (config/fastdds.xml: images through shared memory)."""
    return share_directory() / 'config' / 'fastdds.xml'


def with_fastdds_profile(env: Dict[str, str]) -> Dict[str, str]:
    """
    Return ``env`` with the shipped Fast DDS profile, unless it names a profile file already.

    A profile the user chose is kept as it is. Fast DDS reads the file when a process creates its
    first participant, so this is for the environment of processes about to start.
    """
    env = dict(env)
    if not any(env.get(name) for name in FASTDDS_PROFILE_VARIABLES):
        for name in FASTDDS_PROFILE_VARIABLES:
            env[name] = str(fastdds_profile_path())
    return env
