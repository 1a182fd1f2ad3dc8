"""The lifecycle base node over DDS: failed and impossible transitions leave it up, autostart, responsive
parameter services during a long configure; and the rclpy internals the base relies on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.srv import GetParameters
from rclpy.lifecycle import LifecycleNode, LifecycleNodeMixin
from rclpy.parameter import Parameter

from vjepa2_common.lifecycle import ManagedNode
from vjepa2_common.lifecycle_client import LifecycleClient, TransitionFailed
from vjepa2_common.testing import RosHarness


class Probe(ManagedNode):
    """A managed node whose hooks fail or block on demand and record what ran."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.fail: set[str] = set()
        self.calls: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def do_configure(self) -> None:
        self.calls.append("configure")
        self.entered.set()
        self.release.wait(30.0)
        if "configure" in self.fail:
            raise FileNotFoundError("no checkpoint at /missing.pt")

    def do_activate(self) -> None:
        self.calls.append("activate")
        if "activate" in self.fail:
            raise RuntimeError("camera unavailable")

    def do_deactivate(self) -> None:
        self.calls.append("deactivate")

    def do_cleanup(self) -> None:
        self.calls.append("cleanup")


@pytest.fixture
def probe_factory(ros: RosHarness) -> Iterator[Any]:
    nodes: list[Probe] = []

    def make(name: str = "probe", **kwargs: Any) -> Probe:
        node = Probe(name, context=ros.context, **kwargs)
        ros.executor.add_node(node)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        ros.executor.remove_node(node)
        node.destroy_node()


def test_failed_transitions_leave_the_node_up_in_the_right_state(ros: RosHarness, probe_factory: Any) -> None:
    probe = probe_factory()
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    client = LifecycleClient(ros.node, "/probe")
    probe.fail = {"configure"}
    with pytest.raises(TransitionFailed, match="'configure' failed; the node is now 'unconfigured'"):
        client.change("configure")
    assert probe.calls == ["configure", "cleanup"]  # the partial configure is undone
    assert probe.transition_error == "configure failed: no checkpoint at /missing.pt"
    diagnostics.wait_for(1, predicate=lambda a: any("configure failed: no checkpoint" in s.message for s in a.status))

    probe.fail = {"activate"}
    assert client.change("configure") == "inactive" and probe.transition_error == ""
    with pytest.raises(TransitionFailed, match="the node is now 'inactive'"):
        client.change("activate")
    probe.fail = set()
    assert client.up() == "active"
    assert probe.calls[-4:] == ["configure", "activate", "deactivate", "activate"]


def test_impossible_transitions_are_refused_and_the_node_keeps_answering(ros: RosHarness, probe_factory: Any) -> None:
    probe_factory()
    request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_ACTIVATE))
    assert not ros.call(ChangeState, "/probe/change_state", request).success
    request = ChangeState.Request(transition=Transition(label="deactivate"))
    assert not ros.call(ChangeState, "/probe/change_state", request).success
    assert LifecycleClient(ros.node, "/probe").state() == "unconfigured"


def test_autostart_configures_and_activates(ros: RosHarness, probe_factory: Any) -> None:
    probe = probe_factory("auto", parameter_overrides=[Parameter("autostart", value=True)])
    client = LifecycleClient(ros.node, "/auto")
    from vjepa2_common.testing import wait_until

    wait_until(lambda: client.state() == "active", 30.0, "the autostarted node to become active")
    assert probe.calls == ["configure", "activate"]


def test_parameter_services_answer_during_a_long_configure(ros: RosHarness, probe_factory: Any) -> None:
    probe = probe_factory()
    probe.release.clear()
    done = threading.Event()
    result: list[Any] = []

    def configure() -> None:
        request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
        result.append(ros.call(ChangeState, "/probe/change_state", request))
        done.set()

    threading.Thread(target=configure, daemon=True).start()
    assert probe.entered.wait(30.0)
    answer = ros.call(GetParameters, "/probe/get_parameters", GetParameters.Request(names=["autostart"]))
    assert answer.values[0].bool_value is False  # answered while do_configure still blocks
    assert not done.is_set()
    probe.release.set()
    assert done.wait(30.0) and result[0].success


def test_rclpy_lifecycle_internals_the_base_relies_on(ros: RosHarness) -> None:
    """Fails when rclpy changes what ManagedNode wraps: then revisit vjepa2_common/lifecycle.py."""
    import inspect

    assert "callback_group" in inspect.signature(LifecycleNodeMixin.__init__).parameters
    node = LifecycleNode("internals", context=ros.context)
    try:
        assert node._state_machine.current_state[1] == "unconfigured"
        (service,) = [s for s in node.services if s.srv_type is ChangeState]
        request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_ACTIVATE))
        # rclpy's own handler raises on an impossible transition (which would end the executor): the reason
        # for ManagedNode's guard. If this stops raising, the guard can go.
        with pytest.raises(Exception, match=r"activate|transition"):
            service.callback(request, ChangeState.Response())
    finally:
        node.destroy_node()
