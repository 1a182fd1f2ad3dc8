"""``vjepa2-goal``: goal images for the planner from a shell (the ros2 CLI cannot carry an image, and the PyPI
wheels of ``make setup`` have no ros2 CLI at all).

    vjepa2-goal save goal.png                    # the next frame of /camera/image_raw, as a PNG (or .jpg)
    vjepa2-goal set goal.png [next.png ...]      # the planner's ~/set_goal: stored (encoded now), in order
    vjepa2-goal set --clear
    vjepa2-goal plan                             # PlanToGoal towards the stored goals; Ctrl-C cancels it
    vjepa2-goal plan goal.png --max-steps 10     # ... or towards these images

Exit codes: 0 done (``plan``: goal reached), 1 refused or not reached (the planner's message is printed),
2 a usage or file error, 3 no answer in time (is the node running, on this ROS_DOMAIN_ID?), 130 cancelled.
Only the client side: what the planner does with the goals is the planner's (see vjepa2_planner/README.md).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from vjepa2_common import names

#: image files cv2 writes and reads for goals
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
OUTCOMES = {0: "REACHED", 1: "MAX_STEPS", 2: "CANCELED", 3: "ERROR"}


class CliError(Exception):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def read_goal_image(path: str) -> Any:
    """An rgb8 ``sensor_msgs/Image`` of the file at ``path``."""
    import cv2

    from vjepa2_common.image import rgb_to_image

    file = Path(path).expanduser()
    if not file.is_file():
        raise CliError(f"goal image '{path}' does not exist")
    bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CliError(f"cannot read '{path}' as an image (give a png or jpg file)")
    return rgb_to_image(bgr[:, :, ::-1].copy(), frame_id="goal")


class Client:
    """One rclpy node spun on a background thread; closed by :meth:`close`."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        from vjepa2_common.dds import ensure_localhost_discovery
        from vjepa2_common.executors import ResponsiveExecutor

        ensure_localhost_discovery()
        self.context = rclpy.context.Context()
        # no rclpy signal handlers: Ctrl-C is a KeyboardInterrupt and the context stays up to send the cancel
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("vjepa2_goal", context=self.context)
        self.executor = ResponsiveExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=10.0)  # a spin thread alive at exit aborts the process ("terminate called")


def wait(future: Any, timeout: float, what: str) -> Any:
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    if not done.wait(timeout):
        raise CliError(f"no {what} within {timeout:g} s", code=3)
    return future.result()


def save(client: Client, args: argparse.Namespace) -> int:
    import cv2
    from sensor_msgs.msg import Image

    from vjepa2_common.image import ImageConversionError, image_to_rgb
    from vjepa2_common.qos import qos_from_name

    out = Path(args.output).expanduser()
    frames: list[Any] = []
    got = threading.Event()

    def on_image(msg: Image) -> None:
        if not frames:
            frames.append(msg)
            got.set()

    client.node.create_subscription(Image, args.topic, on_image, qos_from_name(args.qos, depth=1))
    if not got.wait(args.timeout):
        raise CliError(
            f"no image on {args.topic} within {args.timeout:g} s (is the camera publishing there, on this "
            f"ROS_DOMAIN_ID, with a QoS compatible with '{args.qos}'?)",
            code=3,
        )
    try:
        rgb = image_to_rgb(frames[0])
    except ImageConversionError as exc:
        raise CliError(f"the frame on {args.topic} cannot be saved: {exc}", code=1) from None
    if not cv2.imwrite(str(out), rgb[:, :, ::-1]):
        raise CliError(f"cannot write '{out}'")
    stamp = frames[0].header.stamp
    print(f"saved {out} ({rgb.shape[1]}x{rgb.shape[0]}, stamp {stamp.sec}.{stamp.nanosec:09d}, from {args.topic})")
    return 0


def set_goals(client: Client, args: argparse.Namespace) -> int:
    from vjepa2_common.messages import call_service
    from vjepa2_msgs.srv import SetGoal

    service = f"{args.planner.rstrip('/')}/set_goal"
    request = SetGoal.Request(goal_images=args.goal_images, clear=args.clear)
    try:
        response = call_service(client.node, client.node.create_client(SetGoal, service), request, args.timeout)
    except TimeoutError as exc:
        raise CliError(str(exc), code=3) from None
    verdict = "ok" if response.success else "refused"
    print(f"{service}: {verdict}, {response.num_goals} goal(s) held; {response.message}")
    return 0 if response.success else 1


def plan(client: Client, args: argparse.Namespace) -> int:
    from rclpy.action import ActionClient

    from vjepa2_msgs.action import PlanToGoal

    goal = PlanToGoal.Goal(
        goal_images=args.goal_images,
        steps_per_goal=list(args.steps_per_goal or []),
        energy_tolerance=args.tolerance,
        max_steps=args.max_steps,
    )
    name = f"{args.planner.rstrip('/')}/plan_to_goal"
    action = ActionClient(client.node, PlanToGoal, name)
    if not action.wait_for_server(timeout_sec=args.timeout):
        raise CliError(f"action {name} did not appear within {args.timeout:g} s; is the planner active?", code=3)
    shown: list[tuple[int, int, str]] = []
    finished = threading.Event()  # feedback that arrives after the result is not printed

    def on_feedback(feedback: Any) -> None:
        if finished.is_set():
            return
        s = feedback.feedback.status
        key = (s.goal_index, s.step, s.message)
        if shown and shown[-1] == key:
            return  # one line per step (and per new message), not per CEM iteration
        shown.append(key)
        action_text = " ".join(f"{v:+.3f}" for v in s.chosen_action[:3]) if len(s.chosen_action) else "-"
        print(
            f"goal {s.goal_index + 1} step {s.step}: energy {s.energy:.4f} (best {s.best_energy:.4f}) "
            f"dxyz [{action_text}] m{'; ' + s.message if s.message else ''}",
            flush=True,
        )

    handle = wait(action.send_goal_async(goal, feedback_callback=on_feedback), args.timeout, f"answer from {name}")
    if not handle.accepted:
        print(f"{name}: goal rejected")
        return 1
    result_future = handle.get_result_async()
    try:
        while not result_future.done():
            time.sleep(0.05)
    except KeyboardInterrupt:
        print("cancelling the goal ...", flush=True)
        wait(handle.cancel_goal_async(), 10.0, "answer to the cancel request")
        wait(result_future, 30.0, "result after the cancel")
        finished.set()
        print_result(result_future.result().result)
        return 130
    finished.set()
    result = result_future.result().result
    print_result(result)
    return 0 if result.success else 1


def print_result(result: Any) -> None:
    print(
        f"result: {OUTCOMES.get(result.outcome, result.outcome)} after {result.steps_executed} step(s), final energy "
        f"{result.final_energy:.4f}{'; ' + result.message if result.message else ''}",
        flush=True,
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="vjepa2-goal", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("save", help="save the next camera frame as an image file (the goal view)")
    p.add_argument("output", help="file to write (.png, .jpg)")
    p.add_argument("--topic", default=names.CAMERA_IMAGE_TOPIC, help="sensor_msgs/Image topic (default: %(default)s)")
    p.add_argument("--qos", default="sensor_data", choices=("sensor_data", "reliable"), help="subscription QoS")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a frame")
    for command, text in (("set", "store goal images in the planner (~/set_goal)"), ("plan", "run PlanToGoal")):
        p = sub.add_parser(command, help=text)
        p.add_argument("images", nargs="*", help="goal image files, in order (sub-goals)")
        p.add_argument("--planner", default=f"/{names.PLANNER_NODE}", help="planner node (default: %(default)s)")
        p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the planner to answer")
        if command == "set":
            p.add_argument("--clear", action="store_true", help="drop the stored goals")
        else:
            p.add_argument("--steps-per-goal", type=int, nargs="+", metavar="N", help="step budget of each goal")
            p.add_argument("--max-steps", type=int, default=0, help="executed actions in all (0: planner default)")
            p.add_argument("--tolerance", type=float, default=0.0, help="success energy (0: planner default)")
    return top


def check_inputs(args: argparse.Namespace) -> None:
    """Usage and file errors before any DDS start-up: the output path of ``save``, the goal images."""
    if args.command == "save":
        out = Path(args.output).expanduser()
        if out.suffix.lower() not in IMAGE_SUFFIXES:
            raise CliError(f"output '{args.output}' must end in {', '.join(IMAGE_SUFFIXES)}")
        if not out.parent.is_dir():
            raise CliError(f"output directory '{out.parent}' does not exist")
        return
    if args.command == "set" and not args.clear and not args.images:
        raise CliError("give goal image file(s), or --clear")
    args.goal_images = [read_goal_image(p) for p in args.images]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    client = None
    try:
        check_inputs(args)
        client = Client()
        return {"save": save, "set": set_goals, "plan": plan}[args.command](client, args)
    except CliError as exc:
        print(f"vjepa2-goal {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    sys.exit(main())
