"""Drive a lifecycle node from scripts and tests (the ``ros2 lifecycle`` CLI is not available here).

Library::

    client = LifecycleClient(node, "/vjepa2_encoder")   # node must be spun by an executor elsewhere
    client.change("configure")                          # raises TransitionFailed with the node's state
    client.state()                                      # -> "inactive"

Command line (``vjepa2-lifecycle``)::

    vjepa2-lifecycle /vjepa2_encoder get
    vjepa2-lifecycle /vjepa2_encoder configure activate
    vjepa2-lifecycle /vjepa2_encoder up          # configure + activate from whatever state it is in
"""

from __future__ import annotations

import argparse
import sys
import threading

from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node

from vjepa2_common.messages import call_service

#: transition names accepted by :meth:`LifecycleClient.change`, as ``ros2 lifecycle set`` spells them
TRANSITIONS: dict[str, int] = {
    "configure": Transition.TRANSITION_CONFIGURE,
    "cleanup": Transition.TRANSITION_CLEANUP,
    "activate": Transition.TRANSITION_ACTIVATE,
    "deactivate": Transition.TRANSITION_DEACTIVATE,
    "shutdown": -1,  # resolved from the current state (unconfigured/inactive/active_shutdown)
}
_SHUTDOWN_FROM = {
    "unconfigured": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
    "inactive": Transition.TRANSITION_INACTIVE_SHUTDOWN,
    "active": Transition.TRANSITION_ACTIVE_SHUTDOWN,
}
#: the primary state each transition starts from
_VALID_FROM = {"configure": "unconfigured", "cleanup": "inactive", "activate": "inactive", "deactivate": "active"}
#: transitions that bring a node from each primary state to active
_UP_FROM = {"unconfigured": ["configure", "activate"], "inactive": ["activate"], "active": []}


class TransitionFailed(RuntimeError):
    """The node rejected or failed a transition; the message names it and the state the node is in."""


class LifecycleClient:
    """Calls ``<node>/get_state`` and ``<node>/change_state`` of one lifecycle node.

    ``node`` must be spun by an executor in another thread (e.g. the ``ros`` test fixture's); calls block
    the calling thread until the response arrives or ``timeout`` passes.
    """

    def __init__(self, node: Node, target: str, timeout: float = 30.0) -> None:
        self.target = target.rstrip("/")
        self.timeout = timeout
        self._node = node
        self._get = node.create_client(GetState, f"{self.target}/get_state")
        self._change = node.create_client(ChangeState, f"{self.target}/change_state")

    def wait_for_services(self, timeout: float | None = None) -> None:
        for client in (self._get, self._change):
            if not client.wait_for_service(timeout_sec=self.timeout if timeout is None else timeout):
                raise TimeoutError(
                    f"{client.srv_name} did not appear; is the node '{self.target}' running "
                    "(and on this ROS_DOMAIN_ID)?"
                )

    def state(self) -> str:
        """The node's current state label: unconfigured, inactive, active or finalized."""
        self.wait_for_services()
        return call_service(self._node, self._get, GetState.Request(), self.timeout, attempts=3).current_state.label

    def change(self, transition: str) -> str:
        """Run ``transition`` (a name in TRANSITIONS); return the new state or raise TransitionFailed."""
        if transition not in TRANSITIONS:
            raise ValueError(f"unknown transition '{transition}'; use one of: {', '.join(TRANSITIONS)}")
        self.wait_for_services()
        transition_id = TRANSITIONS[transition]
        current = self.state()
        if transition == "shutdown":
            if current not in _SHUTDOWN_FROM:
                raise TransitionFailed(f"{self.target}: cannot shut down from state '{current}'")
            transition_id = _SHUTDOWN_FROM[current]
        elif current != _VALID_FROM[transition]:
            raise TransitionFailed(
                f"{self.target}: cannot {transition} in state '{current}' (only from '{_VALID_FROM[transition]}')"
            )
        request = ChangeState.Request(transition=Transition(id=transition_id))
        response = call_service(self._node, self._change, request, self.timeout)
        state = self.state()
        if not response.success:
            raise TransitionFailed(
                f"{self.target}: transition '{transition}' failed; the node is now '{state}' (its log says why)"
            )
        return state

    def up(self) -> str:
        """Configure and activate as needed, from any primary state; return the final state ("active")."""
        current = self.state()
        if current not in _UP_FROM:
            raise TransitionFailed(f"{self.target}: cannot bring up a node in state '{current}'")
        for transition in _UP_FROM[current]:
            current = self.change(transition)
        return current


def main(argv: list[str] | None = None) -> int:
    """``vjepa2-lifecycle NODE get|up|TRANSITION...``: print the state after each step; exit 1 on failure."""
    parser = argparse.ArgumentParser(prog="vjepa2-lifecycle", description=__doc__.split("\n\n")[0])
    parser.add_argument("node", help="fully qualified node name, e.g. /vjepa2_encoder")
    parser.add_argument(
        "steps",
        nargs="+",
        choices=["get", "up", *TRANSITIONS],
        help="'get' prints the state; 'up' configures and activates; others are transitions",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each response")
    args, ros_argv = parser.parse_known_args(sys.argv[1:] if argv is None else argv)

    from vjepa2_common.dds import ensure_localhost_discovery

    ensure_localhost_discovery()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(args=["vjepa2-lifecycle", *ros_argv], context=context)
    node = rclpy.create_node("vjepa2_lifecycle_cli", context=context, start_parameter_services=False)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    code = 0
    try:
        client = LifecycleClient(node, args.node, timeout=args.timeout)
        for step in args.steps:
            state = client.state() if step == "get" else client.up() if step == "up" else client.change(step)
            print(f"{args.node}: {state}")
    except (TransitionFailed, TimeoutError) as exc:
        print(f"vjepa2-lifecycle: {exc}", file=sys.stderr)
        code = 1
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=5.0)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
