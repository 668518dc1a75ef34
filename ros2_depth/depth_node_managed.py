"""
depth_node_managed: depth_node as a managed (lifecycle) node, for Nav2's lifecycle manager.

The same node name, parameters, topics and work as depth_node (DepthCore), in the steps the
lifecycle transitions drive (``ros2 lifecycle set /camera/depth_node configure``, or a lifecycle
manager that drives the node by name):

- configure checks the parameters and loads the model; a failure leaves the node unconfigured
  with one error line;
- activate enables the outputs and subscribes to the images and camera_info;
- deactivate unsubscribes, lets the worker finish the frame in hand and disables the outputs: no
  inference, nothing published;
- cleanup releases the model (its backend) and the outputs;
- shutdown, from any state, stops what runs and releases what is held; the node is then
  finalized and the process exits with code 0. SIGINT and SIGTERM stop it in any state, as for
  depth_node.
"""

from __future__ import annotations

from typing import Any, Optional

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from ros2_depth.backends import BackendError
from ros2_depth.depth_node import DepthCore, run_node
from ros2_depth.model_spec import ModelSpecError
from ros2_depth.pipeline import PipelineError


class ManagedDepthNode(DepthCore, LifecycleNode):
    """depth_node driven through configure, activate, deactivate, cleanup and shutdown."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare the parameters; nothing is loaded or wired before configure."""
        super().__init__('depth_node', **kwargs)
        self._declare_parameters()
        self._outputs: list = []
        self.pub_diag = self._diag_timer = self.pipeline = self.spec = None

    def on_configure(self, state: Any) -> TransitionCallbackReturn:
        """Check the parameters, load the model, create the outputs (still disabled)."""
        try:
            self._configure(self.create_lifecycle_publisher)
        except (ModelSpecError, BackendError, PipelineError) as exc:
            self._release()
            self.get_logger().error(f'configure failed, the node stays unconfigured: {exc}')
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: Any) -> TransitionCallbackReturn:
        """Enable the outputs, subscribe to the camera and start the worker."""
        result = super().on_activate(state)  # the lifecycle publishers
        if result == TransitionCallbackReturn.SUCCESS:
            self._subscribe()
            self._start_worker()
            topics = ', '.join(subscription.topic_name for subscription in self._inputs)
            self.get_logger().info(f'active: subscribed to {topics}')
        return result

    def on_deactivate(self, state: Any) -> TransitionCallbackReturn:
        """Unsubscribe, finish the frame in hand, then disable the outputs."""
        self._unsubscribe()
        self._stop_worker()
        self.get_logger().info('inactive: unsubscribed, no inference')
        return super().on_deactivate(state)

    def on_cleanup(self, state: Any) -> TransitionCallbackReturn:
        """Release the model and its backend, the outputs and the diagnostics."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: Any) -> TransitionCallbackReturn:
        """From any state: stop and release everything; the process then ends (exit code 0)."""
        self._stop()
        self.finished = True
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: Any) -> TransitionCallbackReturn:
        """After a transition raised: stop and release everything, back to unconfigured."""
        self._stop()
        self.get_logger().error('a transition failed: stopped and released, now unconfigured')
        return TransitionCallbackReturn.SUCCESS

    def _stop(self) -> None:
        """Unsubscribe, stop the worker, release what configure made (whatever of it exists)."""
        self._unsubscribe()
        self._stop_worker()
        self._release()

    def _release(self) -> None:
        """Destroy the outputs, the diagnostics and the pipeline with its backend."""
        for publisher in self._outputs:
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = []
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
        if self.pub_diag is not None:
            self.destroy_publisher(self.pub_diag)
        self.pub_diag = self._diag_timer = self.pipeline = self.spec = None


def main(args: Optional[list] = None) -> int:
    """Run depth_node as a managed node until finalized, SIGINT or SIGTERM (see run_node)."""
    return run_node(ManagedDepthNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
