"""
package.xml, setup.py and requirements/ declare exactly what the code imports.

An AST scan finds every module that ros2_depth/ and launch/ (the installed package) and test/
import: at the top, inside functions (the lazily imported backends and demo), and named to
``importlib.import_module`` or ``pytest.importorskip``. MODULES maps each to its rosdep key and its
pip name, so a new import, or a declaration that outlives its import, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path
import re
import sys
from typing import Dict, Iterator, NamedTuple, Optional, Set, Tuple
import xml.etree.ElementTree as ElementTree

import pytest

REPO = Path(__file__).resolve().parents[1]
DISTROS = ('jazzy', 'kilted')


class Dep(NamedTuple):
    """Where an imported module comes from: its rosdep key and its pip name (None: none)."""

    rosdep: Optional[str]
    pip: Optional[str]


# Imported module -> rosdep key (package.xml) and pip name (setup.py, requirements/). ROS packages
# have no pip name of their own: they come from a ROS install or requirements/ros-<distro>*.txt.
MODULES: Dict[str, Dep] = {
    'ament_flake8': Dep('ament_flake8', None),
    'ament_index_python': Dep('ament_index_python', None),
    'ament_pep257': Dep('ament_pep257', None),
    'builtin_interfaces': Dep('builtin_interfaces', None),
    'composition_interfaces': Dep('composition_interfaces', None),
    'cuda': Dep(None, 'cuda-python'),  # CUDA Python bindings, the tensorrt backend's only
    'cv2': Dep('python3-opencv', 'opencv-python-headless'),
    'diagnostic_msgs': Dep('diagnostic_msgs', None),
    'launch': Dep('launch', None),
    'launch_ros': Dep('launch_ros', None),
    'launch_testing': Dep('launch_testing', None),
    'lifecycle_msgs': Dep('lifecycle_msgs', None),
    'numpy': Dep('python3-numpy', 'numpy'),
    'onnx': Dep(None, 'onnx'),  # no rosdep key
    'onnxruntime': Dep('python3-onnxruntime-pip', 'onnxruntime'),
    'pytest': Dep('python3-pytest', 'pytest'),
    'rcl_interfaces': Dep('rcl_interfaces', None),
    'rclpy': Dep('rclpy', None),
    'rosbags': Dep(None, 'rosbags'),  # no rosdep key
    'sensor_msgs': Dep('sensor_msgs', None),
    'std_msgs': Dep('std_msgs', None),
    'tensorrt': Dep(None, 'tensorrt'),  # JetPack's python3-libnvinfer; no rosdep key
    'tqdm': Dep('python3-tqdm', 'tqdm'),
    'yaml': Dep('python3-yaml', 'pyyaml'),
}
# Imported only by an optional backend (ros2_depth/backends), in functions: the extra "tensorrt".
OPTIONAL = {'cuda', 'tensorrt'}
# Test dependencies that no test imports: pytest-timeout enforces pytest.ini's `timeout`.
TEST_TOOLS = {'python3-pytest-timeout'}
# ROS packages that are not published as PyPI wheels: a ROS install has them, and scripts/setup-env
# builds them from ../shared/third_party where that is (scripts/install-ros2-launch).
NO_WHEEL = {'composition_interfaces', 'launch', 'launch_ros', 'launch_testing'}
# The other ROS packages that scripts/install-ros2-launch builds (constraints-jazzy.txt pins them).
FROM_THIRD_PARTY = {'launch_testing_ros', 'launch_xml', 'launch_yaml'}
# Python packages that the ROS wheels install besides those imported here (pip freeze lists them).
ROS_WHEEL_CONTENTS = {
    'action_msgs', 'geometry_msgs', 'rcutils', 'rmw_dds_common',
    'rosgraph_msgs', 'service_msgs', 'type_description_interfaces', 'unique_identifier_msgs',
}


def imports(folder: Path) -> Iterator[Tuple[str, Path, int]]:
    """Yield (top-level module, file, line) of every import in the Python files in ``folder``."""
    for path in sorted(folder.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ('import_module', 'importorskip') and node.args
                  and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)):
                names = [node.args[0].value]
            for name in names:
                yield name.split('.')[0], path, node.lineno


def third_party(folder: Path) -> Dict[str, Set[Path]]:
    """Map each imported module that is neither standard library nor local to its files."""
    local = {'ros2_depth', '__future__'} | {p.stem for p in folder.glob('*.py')}
    found: Dict[str, Set[Path]] = {}
    for module, path, _ in imports(folder):
        if module not in local and module not in sys.stdlib_module_names:
            found.setdefault(module, set()).add(path)
    return found


def merged(*found: Dict[str, Set[Path]]) -> Dict[str, Set[Path]]:
    """Merge module -> files maps."""
    result: Dict[str, Set[Path]] = {}
    for one in found:
        for module, paths in one.items():
            result[module] = result.get(module, set()) | paths
    return result


RUNTIME = merged(third_party(REPO / 'ros2_depth'), third_party(REPO / 'launch'))
TESTS = third_party(REPO / 'test')
DEMO = REPO / 'ros2_depth' / 'demo'


def demo_only(module: str) -> bool:
    """Whether only the demo (ros2_depth/demo/) imports this runtime module."""
    return all(DEMO in path.parents for path in RUNTIME[module])


def package_xml(tag: str) -> Set[str]:
    """Return the dependencies of one kind (exec_depend, test_depend, ...) in package.xml."""
    root = ElementTree.parse(REPO / 'package.xml').getroot()
    return {element.text.strip() for element in root.iter(tag)}


def setup_py_keywords() -> Dict[str, object]:
    """Return the literal keyword arguments of the setup() call in setup.py."""
    tree = ast.parse((REPO / 'setup.py').read_text(encoding='utf-8'))
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, 'id', None) == 'setup')
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords
            if k.arg in ('install_requires', 'extras_require')}


def requirement_names(name: str) -> Set[str]:
    """Return the normalised package names that requirements/<name> lists."""
    lines = (REPO / 'requirements' / name).read_text(encoding='utf-8').splitlines()
    return {re.split(r'[=<>!~; ]', line)[0].lower().replace('_', '-') for line in lines
            if line.strip() and not line.startswith('#')}


def rosdeps(modules) -> Set[str]:
    """Return the rosdep keys of these modules (those that have one)."""
    return {MODULES[m].rosdep for m in modules if MODULES[m].rosdep}


def test_every_imported_module_is_mapped() -> None:
    """A new third-party import must be added to MODULES, and so to package.xml and setup.py."""
    unknown = sorted(f'{module} ({", ".join(str(p.relative_to(REPO)) for p in sorted(paths))})'
                     for module, paths in {**TESTS, **RUNTIME}.items() if module not in MODULES)
    assert unknown == [], 'add these imports to MODULES in this file and declare them: ' + \
        '; '.join(unknown)


def test_the_scan_sees_lazy_imports() -> None:
    """The backend and the demo import their libraries inside functions or by name: still found."""
    assert 'onnxruntime' in RUNTIME and 'rosbags' in RUNTIME and 'tqdm' in RUNTIME
    assert 'launch_testing' in TESTS  # only through pytest.importorskip


def test_exec_depends_are_exactly_what_the_package_imports() -> None:
    """package.xml's exec_depend: one rosdep key per imported module, nothing else."""
    assert sorted(package_xml('exec_depend')) == sorted(rosdeps(RUNTIME))
    assert package_xml('depend') == set() and package_xml('run_depend') == set()


def test_test_depends_are_exactly_what_only_the_tests_import() -> None:
    """package.xml's test_depend: the tests' imports that the package itself does not need."""
    test_only = set(TESTS) - set(RUNTIME)
    assert sorted(package_xml('test_depend')) == sorted(rosdeps(test_only) | TEST_TOOLS)


def test_modules_without_a_rosdep_key_are_named_in_package_xml() -> None:
    """Where no rosdep key exists, a comment in package.xml names the pip package instead."""
    text = (REPO / 'package.xml').read_text(encoding='utf-8')
    missing = [MODULES[m].pip for m in {**TESTS, **RUNTIME}
               if MODULES[m].rosdep is None and MODULES[m].pip not in text]
    assert missing == []


def test_setup_py_requires_the_node_and_makes_the_demo_an_extra() -> None:
    """install_requires: the node's pip imports; the extra "demo": what only the demo imports."""
    keywords = setup_py_keywords()
    pip_modules = [m for m in RUNTIME if MODULES[m].pip and m not in OPTIONAL]
    assert sorted(keywords['install_requires']) == sorted(
        MODULES[m].pip for m in pip_modules if not demo_only(m))
    extras = keywords['extras_require']
    assert sorted(extras['demo']) == sorted(MODULES[m].pip for m in pip_modules if demo_only(m))
    assert sorted(extras['tensorrt']) == sorted(MODULES[m].pip for m in OPTIONAL)
    assert extras['test'] == ['pytest']  # colcon test runs pytest only for such a package


def test_optional_backend_libraries_are_imported_only_in_the_backends() -> None:
    """Only ros2_depth/backends imports TensorRT and the CUDA bindings, never at import time."""
    backends = REPO / 'ros2_depth' / 'backends'
    assert set(OPTIONAL) <= set(RUNTIME)
    for module in OPTIONAL:
        assert all(backends in path.parents for path in RUNTIME[module]), RUNTIME[module]
    for path in backends.glob('*.py'):
        top_level = [node for node in ast.parse(path.read_text(encoding='utf-8')).body
                     if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = {alias.name.split('.')[0] for node in top_level for alias in node.names}
        names |= {node.module.split('.')[0] for node in top_level
                  if isinstance(node, ast.ImportFrom) and node.module}
        assert not names & OPTIONAL, path


def test_package_xml_and_setup_py_have_one_version() -> None:
    """The version of QUALITY_DECLARATION.md's policy: the same in package.xml and setup.py."""
    root = ElementTree.parse(REPO / 'package.xml').getroot()
    setup = (REPO / 'setup.py').read_text(encoding='utf-8')
    assert f"version='{root.findtext('version')}'" in setup


def test_the_node_needs_no_demo_library() -> None:
    """The demo's libraries, rosbags, tqdm, yaml: nothing outside ros2_depth/demo/ imports them."""
    assert demo_only('rosbags') and demo_only('tqdm') and demo_only('yaml')


@pytest.mark.parametrize('distro', DISTROS)
def test_requirements_install_what_is_declared(distro: str) -> None:
    """requirements/ pins every pip package setup.py names and a wheel of every ROS dependency."""
    keywords = setup_py_keywords()
    declared = set(keywords['install_requires']) | set(keywords['extras_require']['demo'])
    assert requirement_names('runtime.txt') == declared  # not "tensorrt": it needs a GPU machine

    def wheels(modules) -> Set[str]:
        names = {MODULES[m].rosdep for m in modules
                 if MODULES[m].pip is None and MODULES[m].rosdep not in NO_WHEEL}
        return {f'ros-{distro}-' + name.replace('_', '-') for name in names}

    middleware = {f'ros-{distro}-rmw-fastrtps-cpp'}
    assert requirement_names(f'ros-{distro}.txt') == wheels(RUNTIME) | middleware
    test_only = set(TESTS) - set(RUNTIME)
    assert requirement_names(f'ros-{distro}-test.txt') == wheels(test_only)
    pip_test = {MODULES[m].pip for m in test_only if MODULES[m].pip} - declared
    assert pip_test <= requirement_names('test.txt')


def test_distributions_share_every_pin_but_ros() -> None:
    """Jazzy's and Kilted's constraints differ only in ROS 2 packages (same numpy, torch, ...)."""
    ros = {m for m in MODULES if MODULES[m].pip is None} | ROS_WHEEL_CONTENTS | FROM_THIRD_PARTY

    def pins(distro: str) -> Set[str]:
        lines = (REPO / 'requirements' / f'constraints-{distro}.txt').read_text().splitlines()
        return {line for line in lines if line and not line.startswith(('#', 'ros-', 'rosidl'))
                and line.split('==')[0] not in ros}

    assert pins('jazzy') == pins('kilted')
