"""
Where the package's installed files are.

The share directory of a colcon install, or the source tree.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

PACKAGE = 'ros2_depth'
DEFAULT_MODEL = 'default.json'
# The variables Fast DDS reads its XML profile file from: FASTRTPS_ up to 2.x (Humble, Jazzy),
# FASTDDS_ from 3.0 (Kilted), which still reads FASTRTPS_ but warns about it in every process.
FASTDDS_PROFILE_VARIABLES = ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE')
# ROS 2 distributions whose Fast DDS is 2.x.
FASTDDS_2_DISTROS = ('foxy', 'galactic', 'humble', 'iron', 'jazzy')


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


def fastdds_major() -> Optional[int]:
    """
    Return the major version of the installed Fast DDS (2 or 3), or None if it cannot be told.

    From the ROS 2 wheels' metadata (ros-fastrtps is 2.x, ros-fastdds 3.x), else the ament index
    of a ROS install (package fastrtps or fastdds), else ROS_DISTRO.
    """
    for name, major in (('ros-fastdds', 3), ('ros-fastrtps', 2)):
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return major
    try:
        from ament_index_python.packages import get_package_prefix
    except ImportError:
        get_package_prefix = None
    for name, major in (('fastdds', 3), ('fastrtps', 2)):
        if get_package_prefix is None:
            break
        try:
            get_package_prefix(name)
        except (LookupError, OSError, ValueError):
            continue
        return major
    distro = os.environ.get('ROS_DISTRO', '')
    if distro:
        return 2 if distro in FASTDDS_2_DISTROS else 3
    return None


def fastdds_profile_variables() -> Tuple[str, ...]:
    """Return the profile variable(s) the installed Fast DDS reads (both when it is unknown)."""
    major = fastdds_major()
    if major == 2:
        return ('FASTRTPS_DEFAULT_PROFILES_FILE',)
    if major == 3:
        return ('FASTDDS_DEFAULT_PROFILES_FILE',)
    return FASTDDS_PROFILE_VARIABLES


def with_fastdds_profile(env: Dict[str, str]) -> Dict[str, str]:
    """
    Return ``env`` with the shipped Fast DDS profile, unless it names a profile file already.

    A profile the user chose is kept as it is. Only the variable the installed Fast DDS reads is
    set (Fast DDS 3 warns about the old one in every process). Fast DDS reads the file when a
    process creates its first participant, so this is for the environment of processes about
    to start.
    """
    env = dict(env)
    if not any(env.get(name) for name in FASTDDS_PROFILE_VARIABLES):
        for name in fastdds_profile_variables():
            env[name] = str(fastdds_profile_path())
    return env
