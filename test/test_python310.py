"""The code stays valid Python 3.10, the version of ROS 2 Humble on Jetsons (Ubuntu 22.04)."""

from pathlib import Path
import shutil
import subprocess
from typing import Optional

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_python310() -> Optional[str]:
    """Return a working Python 3.10 interpreter: on PATH, or one installed by pyenv."""
    candidates = [shutil.which('python3.10')]
    candidates += sorted(str(p) for p in Path.home().glob('.pyenv/versions/3.10*/bin/python3.10'))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, '--version'], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.startswith('Python 3.10'):
            return candidate
    return None


def test_sources_compile_with_python310(tmp_path: Path) -> None:
    """Every runtime, launch and trainer source byte-compiles with a Python 3.10 interpreter."""
    python310 = find_python310()
    if python310 is None:
        pytest.skip('no Python 3.10 interpreter found to check Humble compatibility with')
    sources = [str(path) for folder in ('ros2_depth', 'launch', 'trainer')
               for path in (REPO / folder).rglob('*.py')]
    assert len(sources) > 20
    result = subprocess.run(
        [python310, '-c', 'import py_compile, sys\n'
         'for path in sys.argv[1:]:\n'
         '    py_compile.compile(path, cfile=sys.argv[0] + ".pyc", doraise=True)', *sources],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
