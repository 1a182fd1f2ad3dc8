"""``call_service``: a node that calls one ROS 2 service once, logs the response and exits (a graph's one-shot step).

The ``franka`` graph uses it to switch MoveIt Servo to twist commands (Servo starts in joint-jog mode and
ignores twists until ``~/switch_command_type`` is called), what a launch file would do with
``ros2 service call``. Exit code 0 when the response came (and its ``success`` field, if it has one, is true),
1 when the service did not answer within ``timeout_s`` or answered ``success: false``, 2 for bad parameters
(an unknown service type, request fields the type does not have).

    call_service --ros-args -p service:=servo_node/switch_command_type \\
        -p type:=moveit_msgs/srv/ServoCommandType -p "request:={command_type: 1}"
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node

from vjepa2_common.messages import call_service, interface_class
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, param

NODE_NAME = "call_service"


@dataclass
class CallServiceParams:
    """Parameters of ``call_service`` (read at start-up)."""

    service: str = param("", "Service to call (a relative name resolves in the node's namespace)", read_only=True)
    type: str = param("", "Service type, pkg/srv/Name (e.g. std_srvs/srv/Trigger)", read_only=True)
    request: str = param("{}", "Request fields as a YAML mapping, e.g. '{command_type: 1}'", read_only=True)
    timeout_s: float = param(
        60.0, "Wait this long for the service to appear and for its response [s]", min=0.1, max=3600.0, read_only=True
    )


def service_class(srv_type: str) -> Any:
    """The rclpy service class of ``pkg/srv/Name``; ValueError saying what is wrong."""
    try:
        return interface_class(srv_type, "srv")
    except ValueError as exc:
        raise ValueError(f"parameter 'type': {exc}") from None


def fill(msg: Any, values: dict[str, Any], where: str) -> Any:
    """Set ``values`` (nested dicts for nested messages) on ``msg``; ValueError naming a field that is wrong."""
    fields = msg.get_fields_and_field_types()
    for name, value in values.items():
        if name not in fields:
            raise ValueError(f"{where} has no field '{name}'; its fields: {', '.join(fields) or 'none'}")
        if isinstance(value, dict):
            fill(getattr(msg, name), value, f"{where}.{name}")
            continue
        try:
            setattr(msg, name, value)
        except (AssertionError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}.{name} = {value!r} does not fit its type {fields[name]}: {exc}") from None
    return msg


def build_request(srv: Any, text: str) -> Any:
    """A ``srv.Request`` with the fields of the YAML mapping ``text``; ValueError for bad YAML or fields."""
    import yaml

    try:
        values = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ValueError(f"parameter 'request' is not YAML: {' '.join(str(exc).split())[:200]}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"parameter 'request' must be a YAML mapping of request fields, got {text!r}")
    return fill(srv.Request(), values, "the request")


class ServiceCaller(Node):
    """Calls ``service`` once from a thread of its own, then shuts its context down (``run_node`` returns)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        s = declare_parameters(self, CallServiceParams)
        if not s.service:
            raise ValueError("parameter 'service' is empty; give the service to call")
        srv = service_class(s.type)
        request = build_request(srv, s.request)
        self.exit_code = 1
        self._client = self.create_client(srv, s.service)
        self._service = self.resolve_service_name(s.service)
        threading.Thread(target=self._call, args=(request, s.timeout_s), daemon=True).start()

    def _call(self, request: Any, timeout_s: float) -> None:
        name = self._service
        try:
            response = call_service(self, self._client, request, timeout_s)
        except TimeoutError as exc:
            self.get_logger().error(str(exc))
        else:
            fields = {f: getattr(response, f) for f in response.get_fields_and_field_types()}
            if getattr(response, "success", True):
                self.exit_code = 0
                self.get_logger().info(f"{name} answered {fields}")
            else:
                self.get_logger().error(f"{name} refused the request: {fields}")
        self.context.try_shutdown()


def main(args: list[str] | None = None) -> int:
    nodes: list[ServiceCaller] = []

    def service_caller(**kwargs: Any) -> ServiceCaller:
        nodes.append(ServiceCaller(**kwargs))
        return nodes[-1]

    code = run_node(service_caller, args)
    return code or (nodes[0].exit_code if nodes else 1)


if __name__ == "__main__":
    sys.exit(main())
