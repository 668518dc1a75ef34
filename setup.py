"""Packaging for the ros2_depth runtime (an ament_python package)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'ros2_depth'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, PACKAGE + '.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml')),
        ('share/' + PACKAGE + '/engines', glob('engines/*.onnx') + glob('engines/*.json')),
    ],
    install_requires=['setuptools', 'numpy', 'pyyaml'],
    zip_safe=True,
    maintainer='ros2_depth maintainers',
    maintainer_email='maintainers@ros2-depth.dev',
    description='Metric depth, surface normals and point clouds from a single camera image.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depth_node = ros2_depth.depth_node:main',
            'ros2-depth = ros2_depth.cli:main',
        ],
    },
)
