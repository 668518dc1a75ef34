"""Packaging for the ros2_depth runtime (an ament_python package)."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'ros2_depth'


def bag_data_files():
    """Install bags/ into share/ros2_depth/bags, each sample bag in a directory of its own."""
    share = 'share/' + PACKAGE + '/'
    entries = [(share + 'bags', sorted(f for f in glob('bags/*') if os.path.isfile(f)))]
    for bag in sorted(d for d in glob('bags/*') if os.path.isdir(d)):
        files = sorted(f for f in glob(os.path.join(bag, '*')) if os.path.isfile(f))
        entries.append((share + bag.replace(os.sep, '/'), files))
    return entries


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, PACKAGE + '.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config',
         glob('config/*.yaml') + glob('config/*.xml') + glob('config/*.rviz')),
        ('share/' + PACKAGE + '/engines', glob('engines/*.onnx') + glob('engines/*.json')
         + glob('engines/*.pt')),
        *bag_data_files(),
    ],
    # What ros2_depth/ imports from pip (ROS 2 comes from a ROS install, or the ros-<distro>-*
    # wheels of requirements/); test/test_package_deps.py checks these against the code.
    install_requires=['numpy', 'onnxruntime', 'opencv-python-headless'],
    extras_require={
        # The demo and the offline tools (bags, progress bars, calibration files); depth_node needs
        # none of them.
        'demo': ['pyyaml', 'rosbags', 'tqdm'],
        # backend tensorrt (docs/tensorrt.md): on a Jetson both come with JetPack instead
        'tensorrt': ['cuda-python', 'tensorrt'],
        'test': ['pytest'],  # also tells colcon test to run pytest
    },
    zip_safe=True,
    maintainer='ros2_depth maintainers',
    maintainer_email='maintainers@ros2-depth.dev',
    description='Metric depth, surface normals and point clouds from a single camera image.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depth_node = ros2_depth.depth_node:main',
            'depth_node_managed = ros2_depth.depth_node_managed:main',
            'ros2-depth = ros2_depth.cli:main',
        ],
    },
)
