"""ros2_depth: metric depth, surface normals and point clouds from one camera image."""

__version__ = '0.1.0'
