"""
Generate and build a ROS 2 interface package (.srv/.msg) as a pip-installable project.

Usage: generate-interfaces.py SOURCE OUTPUT. SOURCE holds the package's package.xml and its msg/
and srv/ folders (as in ../shared/third_party); OUTPUT becomes a setuptools project that
`pip wheel` turns into a wheel: the Python package, its typesupport extension, the C libraries
(installed into the venv's lib/, where the ROS wheels' own lie), the interface files and the ament
index marker. Everything comes from the ROS 2 wheels of requirements/: rosidl_adapter translates
.srv/.msg to .idl (its rosidl CLI extension imports catkin_pkg), rosidl_generator_c,
rosidl_typesupport_introspection_c, rosidl_typesupport_fastrtps_c (the one rmw_fastrtps_cpp
takes), rosidl_typesupport_c and rosidl_generator_py write the sources, which are compiled here
with cc/c++ against the headers and libraries in the venv's include/ and lib/, as rosidl's CMake
functions would. Without a compiler or Python's headers it says so and builds the Python classes
alone: they import and construct, but no publisher, client or service of them can be created.
Run with AMENT_PREFIX_PATH set to the venv.
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys
import sysconfig
from typing import List
import xml.etree.ElementTree as ElementTree

from ament_index_python import get_package_share_directory
import numpy
from rosidl_cli.command.translate.api import translate
from rosidl_generator_c.cli import GenerateC
from rosidl_generator_py.cli import GeneratePython
from rosidl_typesupport_c.cli import GenerateCTypesupport
from rosidl_typesupport_fastrtps_c.cli import GenerateFastRTPSCTypesupport
from rosidl_typesupport_introspection_c.cli import GenerateIntrospectionCTypesupport

SETUP = '''from setuptools import setup
from setuptools.dist import Distribution


class BinaryDistribution(Distribution):
    """A wheel for this platform when it holds compiled typesupport."""

    def has_ext_modules(self):
        return {binary!r}


setup(
    name={name!r},
    version={version!r},
    packages={packages!r},
    package_data={package_data!r},
    data_files={data_files!r},
    distclass=BinaryDistribution,
    description='ROS 2 interfaces {name}, generated with rosidl from the ROS 2 wheels',
    license='Apache-2.0',
)
'''
IMPLEMENTATIONS = ['rosidl_typesupport_fastrtps_c', 'rosidl_typesupport_introspection_c']


def run(cmd: List[str]) -> None:
    """Run a compiler command; raise with its output if it fails."""
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(' '.join(cmd) + '\n' + result.stdout + result.stderr)


def build_typesupport(name: str, deps: List[str], gen: Path, lib: Path, package: Path) -> None:
    """Compile the generated C/C++ sources in `gen` into lib/*.so and the Python extension."""
    prefix = Path(sys.prefix)
    include = gen / 'include'
    for kind in ('c', 'introspection_c', 'fastrtps_c'):
        shutil.copytree(gen / kind, include / name, dirs_exist_ok=True)
    flags = ['-shared', '-fPIC', '-O2', f'-I{include}', f'-I{prefix / "include"}',
             *(f'-I{d}' for d in sorted((prefix / 'include').iterdir()) if d.is_dir()),
             f'-I{sysconfig.get_paths()["include"]}', f'-I{numpy.get_include()}']
    links = [f'-L{prefix / "lib"}', f'-L{lib}']
    lib.mkdir(parents=True)

    def library(kind: str, sources: List[Path], libs: List[str], cxx: bool = False) -> None:
        compiler = os.environ.get('CXX', 'c++') if cxx else os.environ.get('CC', 'cc')
        out = lib / f'lib{name}__rosidl_{kind}.so'
        # Every symbol resolved at link time, but Python's, which the interpreter provides.
        strict = [] if kind == 'generator_py' else ['-Wl,--no-undefined']
        run([compiler, *(['-std=c++17'] if cxx else []), *flags, *map(str, sources), '-o',
             str(out), *links, *strict, '-Wl,-rpath,$ORIGIN', *(f'-l{x}' for x in libs)])

    def of(kind: str) -> List[str]:
        return [f'{name}__rosidl_{kind}'] + [f'{d}__rosidl_{kind}' for d in deps]

    runtime = [f'{d}__rosidl_generator_c' for d in deps] + ['rosidl_runtime_c', 'rcutils']
    library('generator_c', sorted((gen / 'c').glob('*/detail/*.c')), runtime)
    library('typesupport_introspection_c',
            sorted((gen / 'introspection_c').glob('*/detail/*.c')),
            of('typesupport_introspection_c')[1:] + [f'{name}__rosidl_generator_c',
                                                     'rosidl_typesupport_introspection_c']
            + runtime)
    library('typesupport_fastrtps_c', sorted((gen / 'fastrtps_c').glob('*/detail/*.cpp')),
            of('typesupport_fastrtps_c')[1:] + [f'{name}__rosidl_generator_c',
                                                'rosidl_typesupport_fastrtps_c',
                                                'rosidl_typesupport_fastrtps_cpp', 'fastcdr',
                                                'rmw', 'rosidl_dynamic_typesupport'] + runtime,
            cxx=True)
    library('typesupport_c', sorted((gen / 'typesupport_c').glob('*/*.cpp')),
            [f'{name}__rosidl_generator_c', 'rosidl_typesupport_c', 'rcpputils'] + runtime,
            cxx=True)
    library('generator_py', sorted((gen / 'py').glob('*/_*_s.c')),
            [f'{name}__rosidl_generator_c', f'{name}__rosidl_typesupport_c']
            + [f'{d}__rosidl_generator_py' for d in deps] + runtime)
    extension = package / f'{name}_s__rosidl_typesupport_c.so'
    # The extension lies in lib/pythonX.Y/site-packages/NAME/, the libraries in lib/.
    run([os.environ.get('CC', 'cc'), *flags,
         str(gen / 'py' / f'_{name}_s.ep.rosidl_typesupport_c.c'), '-o', str(extension),
         *links, '-Wl,-rpath,$ORIGIN/../../..',
         *(f'-l{x}' for x in [f'{name}__rosidl_generator_py', f'{name}__rosidl_typesupport_c',
                              f'{name}__rosidl_generator_c', 'rosidl_runtime_c'])])


def main(source: Path, output: Path) -> None:
    """Generate and build `source`'s interfaces into the setuptools project `output`."""
    manifest = ElementTree.parse(source / 'package.xml').getroot()
    name = manifest.findtext('name')
    version = manifest.findtext('version')
    # Services also use service_msgs (their event type) and builtin_interfaces (its stamp).
    deps = list(dict.fromkeys([e.text for e in manifest.iter('depend')]
                              + ['service_msgs', 'builtin_interfaces']))
    files = sorted(str(p.relative_to(source)) for kind in ('msg', 'srv')
                   for p in (source / kind).glob(f'*.{kind}'))
    # Dependencies' .idl files (rcl_interfaces, builtin_interfaces...) lie in the venv's share/.
    include = [str(Path(get_package_share_directory('rcl_interfaces')).parent)]
    shutil.rmtree(output, ignore_errors=True)
    gen = output / 'generated'
    idl = translate(package_name=name, interface_files=[f'{source}:{f}' for f in files],
                    include_paths=include, output_format='idl', output_path=output / 'idl')
    # translate() returns 'PREFIX:RELATIVE' paths, which generate() takes as they are.
    GenerateC('c').generate(name, idl, include, gen / 'c')
    GenerateIntrospectionCTypesupport('introspection_c').generate(
        name, idl, include, gen / 'introspection_c')
    GenerateFastRTPSCTypesupport('fastrtps_c').generate(name, idl, include, gen / 'fastrtps_c')
    GenerateCTypesupport('c', typesupport_implementations=IMPLEMENTATIONS).generate(
        name, idl, include, gen / 'typesupport_c')
    GeneratePython('py', typesupport_implementations=['rosidl_typesupport_c']).generate(
        name, idl, include, gen / 'py')
    package = output / name
    shutil.copytree(gen / 'py', package, ignore=shutil.ignore_patterns('*.c'))
    (package / '__init__.py').touch()
    packages = [name] + [f'{name}.{p.name}' for p in sorted(package.iterdir()) if p.is_dir()]
    try:
        build_typesupport(name, deps, gen, output / 'lib', package)
        binary = True
    except (OSError, RuntimeError) as error:
        print(f'{name}: no typesupport (its classes import, but no publisher, client or '
              f'service of them can be made): {error}', file=sys.stderr)
        binary = False
    marker = output / 'resource' / name
    marker.parent.mkdir()
    marker.touch()
    share = f'share/{name}'
    data_files = [('share/ament_index/resource_index/packages', [f'resource/{name}']),
                  (share, ['package.xml'])]
    if binary:
        data_files.append(('lib', [f'lib/{p.name}' for p in sorted((output / 'lib').iterdir())]))
    shutil.copy(source / 'package.xml', output / 'package.xml')
    for kind in ('msg', 'srv'):
        kept = []
        for path in sorted((source / kind).glob(f'*.{kind}')):
            (output / kind).mkdir(exist_ok=True)
            shutil.copy(path, output / kind / path.name)
            kept.append(f'{kind}/{path.name}')
        kept += [f'idl/{kind}/{p.name}' for p in sorted((output / 'idl' / kind).glob('*.idl'))]
        if kept:
            data_files.append((f'{share}/{kind}', kept))
    (output / 'setup.py').write_text(SETUP.format(
        name=name, version=version, packages=packages, binary=binary,
        package_data={name: ['*.so']} if binary else {}, data_files=data_files))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: generate-interfaces.py SOURCE OUTPUT')
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
