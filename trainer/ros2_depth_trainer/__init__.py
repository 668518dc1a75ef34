"""Training, evaluation and export of the Eigen & Fergus depth networks used by ros2_depth."""

__version__ = '0.1.0'
