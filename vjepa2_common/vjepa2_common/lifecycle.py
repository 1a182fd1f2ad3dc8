"""Lifecycle base node of the suite: the lifecycle services in their own callback group, autostart, and
transitions that fail or are impossible without taking the node down.

Subclasses implement the ``do_*`` hooks; a hook that raises fails its transition::

    class Planner(ManagedNode):
        def __init__(self, **kwargs):
            super().__init__("vjepa2_planner", **kwargs)  # declares autostart, diagnostics_period_s
            self.settings = declare_parameters(self, PlannerParams, frozen_state=self.configured_state)

        def do_configure(self) -> None:  # raise to fail: the node stays unconfigured, reason logged + diagnosed
            self.settings = read_parameters(self, PlannerParams)
            self.model = load(self.settings.model.checkpoint)

        def do_cleanup(self) -> None:  # also runs after a failed configure: tolerate partial state
            self.model = None

- A failed ``configure`` runs ``do_cleanup`` and leaves the node ``unconfigured``; a failed ``activate``
  runs ``do_deactivate`` and leaves it ``inactive``. The reason is logged, published on /diagnostics
  (task ``lifecycle``, ERROR) until a transition succeeds, and kept in :attr:`ManagedNode.transition_error`.
- An impossible transition request (e.g. ``activate`` while unconfigured) is answered ``success=False`` with
  a logged message; rclpy's own handler lets the error escape into the executor, which ends the process.
- ``autostart`` (read-only parameter) configures and activates once the node spins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleNodeMixin, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node

from vjepa2_common.diagnostics import ERROR, OK, DiagnosticsPublisher
from vjepa2_common.params import declare_parameters, param, schema_specs

#: transition id -> name as ``ros2 lifecycle set`` spells it (configure, activate, ..., active_shutdown)
TRANSITION_NAMES: dict[int, str] = {
    value: name.removeprefix("TRANSITION_").lower()
    for name, value in vars(Transition).items()
    if name.startswith("TRANSITION_") and isinstance(value, int)
}
#: the primary state a node stays in when each transition fails
_STATE_AFTER_FAILURE = {"configure": "unconfigured", "activate": "inactive", "deactivate": "active"}


@dataclass
class LifecycleParams:
    """The parameters every :class:`ManagedNode` declares (read at start-up)."""

    autostart: bool = param(False, "Configure and activate at start-up (no lifecycle manager needed)", read_only=True)
    diagnostics_period_s: float = param(
        1.0, "Period of the /diagnostics status [s]", min=0.05, max=60.0, read_only=True
    )


#: what a ManagedNode declares besides its own schema (LifecycleParams, rclpy's use_sim_time): no unknown names
#: in a parameter file read without ROS (vjepa2_common.params.settings_from_values ``ignore``)
MANAGED_NODE_PARAMETERS = frozenset({spec.name for spec in schema_specs(LifecycleParams)} | {"use_sim_time"})


class ManagedNode(LifecycleNode):
    """A lifecycle node whose lifecycle services run in their own callback group; see the module doc.

    The group is mutually exclusive (transitions are serialised) and separate from the default group, so a
    long ``do_configure`` (a model load) leaves parameter services, timers and diagnostics responsive.
    """

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        # LifecycleNode.__init__ does not forward a callback group, so call its two halves (public API).
        Node.__init__(self, node_name, **kwargs)
        self.lifecycle_group = MutuallyExclusiveCallbackGroup()
        LifecycleNodeMixin.__init__(self, callback_group=self.lifecycle_group)
        self.transition_error = ""
        self._refuse_impossible_transitions()
        base = declare_parameters(self, LifecycleParams)
        self.diagnostics = DiagnosticsPublisher(self, hardware_id=node_name, period_s=base.diagnostics_period_s)
        self.diagnostics.add("lifecycle", self.lifecycle_status)
        if base.autostart:
            self._autostart_timer = self.create_timer(0.0, self._autostart, callback_group=self.lifecycle_group)

    # ------------------------------------------------------------------------------------------ hooks
    def do_configure(self) -> None:
        """Read configure-time parameters and acquire resources; raise to fail the transition."""

    def do_activate(self) -> None:
        """Start streaming (subscriptions, workers); raise to fail the transition."""

    def do_deactivate(self) -> None:
        """Stop streaming; also runs after a failed activate."""

    def do_cleanup(self) -> None:
        """Release what configure acquired; also runs after a failed configure, on shutdown and on error."""

    # ------------------------------------------------------------------------------------------ state
    @property
    def state_label(self) -> str:
        """The current lifecycle state: unconfigured, inactive, active, finalized (or a transition state)."""
        return self._state_machine.current_state[1]

    def configured_state(self) -> str | None:
        """The state name while configured (inactive/active), else None: ``frozen_state`` of declare_parameters."""
        state = self.state_label
        return None if state in ("unconfigured", "finalized") else state

    def lifecycle_status(self) -> tuple[int, str, dict[str, object]]:
        """/diagnostics task ``lifecycle``: ERROR with the reason while the last transition failed."""
        if self.transition_error:
            return ERROR, self.transition_error, {"state": self.state_label}
        return OK, self.state_label, {"state": self.state_label}

    # ------------------------------------------------------------------------------------------ transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._run("configure", self.do_configure, undo=self.do_cleanup)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self._run("activate", self.do_activate, undo=self.do_deactivate)
        if result == TransitionCallbackReturn.SUCCESS:
            return super().on_activate(state)  # activates the lifecycle publishers
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self._run("deactivate", self.do_deactivate)
        return super().on_deactivate(state) if result == TransitionCallbackReturn.SUCCESS else result

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._run("cleanup", self.do_cleanup)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._run("shutdown", self._stop_all)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._run("error recovery", self._stop_all)
        return TransitionCallbackReturn.SUCCESS  # -> unconfigured, ready to configure again

    def _stop_all(self) -> None:
        try:
            self.do_deactivate()
        finally:
            self.do_cleanup()

    def _run(self, transition: str, hook: Any, undo: Any = None) -> TransitionCallbackReturn:
        try:
            hook()
        except Exception as exc:  # any failure fails the transition, never the node
            self.transition_error = f"{transition} failed: {exc}"
            stays = _STATE_AFTER_FAILURE.get(transition, "where it was")
            self.get_logger().error(f"{self.transition_error} (the node stays {stays}; fix it and {transition} again)")
            if undo is not None:
                try:
                    undo()
                except Exception as undo_exc:
                    self.get_logger().error(f"undoing the failed {transition} also failed: {undo_exc}")
            return TransitionCallbackReturn.FAILURE
        self.transition_error = ""
        return TransitionCallbackReturn.SUCCESS

    def _autostart(self) -> None:
        self._autostart_timer.cancel()
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _refuse_impossible_transitions(self) -> None:
        """Answer an impossible ``change_state`` request with success=False instead of ending the process.

        rclpy's handler lets the RCLError of ``trigger_transition_by_id`` escape into the executor. The one
        place the suite wraps rclpy's lifecycle internals; test_lifecycle.py fails if they change.
        """
        (service,) = [s for s in self.services if s.srv_type is ChangeState]
        handle = service.callback

        def guarded(request: ChangeState.Request, response: ChangeState.Response) -> ChangeState.Response:
            state = self.state_label
            try:
                return handle(request, response)
            except Exception as exc:
                name = request.transition.label or TRANSITION_NAMES.get(request.transition.id, "?")
                self.get_logger().warning(
                    f"refused transition '{name}' (id {request.transition.id}) in state '{state}': "
                    f"{str(exc).split(',')[0]} (see 'vjepa2-lifecycle {self.get_fully_qualified_name()} get')"
                )
                response.success = False
                return response

        service.callback = guarded
