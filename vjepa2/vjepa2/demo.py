"""make demo: the closed loop in simulation with the embedded demo model — goal images in, the arm reaches them.

It starts the simulated closed-loop graph (``DEMO_GRAPH``: the simulated Franka with its stereo camera, the V-JEPA 2
encoder node and the CEM planner node, parameters ``vjepa2/config/sim.yaml``, weights shipped in
``vjepa2/models/demo/``) with the same runner as ``vjepa2-launch``. Then, for each of ``--goals`` goals:

1. it picks a goal position (seeded, in the reach box ``vjepa2_sim.scene.REACH_BOX_MIN/MAX``, 10-20 cm from the
   current TCP) and has the simulator render the goal image there (``~/render_goal``, camera ``stereo``). The goal
   pose is used only for that and for scoring: the planner never sees it;
2. it sends the image as a ``PlanToGoal`` goal to ``/vjepa2_planner/plan_to_goal``; the planner encodes the camera,
   runs CEM over V-JEPA 2-AC predictions and executes the first action of each plan until its steps run out;
3. it prints, per executed step, the planner's energy to the goal image (action feedback / result) and the
   TCP-to-goal distance it measures itself from the state topic.

It writes ``outputs/demo/``: ``contact_sheet.png`` (a row per goal: goal | start | end and energy / distance per
step), ``demo.mp4`` (the camera stream with the goal image under it) and ``demo.json`` (every number), plus
``nodes.log`` (the nodes' output). ``--encoder`` / ``--predictor`` replace the shipped weights (e.g. a training run's
export); a missing model ends the demo at once with one message that says how to get it.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from vjepa2_common import names
from vjepa2_common.dds import ensure_localhost_discovery

#: The graph the demo starts: vjepa2.graphs' "sim" (the simulated Franka, the encoder and the planner node)
DEMO_GRAPH = "sim"
#: The demo's parameter file (in share/vjepa2/config, or the source tree)
DEMO_PARAMS = "sim.yaml"
ENCODER_NODE = names.ENCODER_NODE
PLANNER_NODE = names.PLANNER_NODE
STARTUP_TIMEOUT_S = 240.0  # three processes importing torch / MuJoCo and loading the models on a busy 2-core machine
STEP_TIMEOUT_S = 45.0  # [s] per executed step of a goal (CEM + motion + a fresh frame) before the demo gives up
SERVICE_TIMEOUT_S = 30.0
FAILURE = re.compile(r"configure failed|Traceback")  # a node's output that means the loop cannot run


class DemoError(RuntimeError):
    """The loop cannot start or run; the message says what is wrong and how to fix it."""


# ---------------------------------------------------------------------------------------------- parameters
def demo_params_file(params_file: str, overrides: dict[str, dict[str, Any]], out_dir: Path) -> Path:
    """``params_file`` with ``{node: {dotted.name: value}}`` set in every section that applies to ``node`` (a
    ``/**/node`` section is added if none does), written to ``out_dir``; ``params_file`` itself if no overrides."""
    import yaml

    path = Path(params_file)
    if not path.is_file():
        raise DemoError(f"demo: the parameter file {path} does not exist (make setup installs new config files)")
    if not overrides:
        return path
    data = yaml.safe_load(path.read_text()) or {}
    for node, values in overrides.items():
        sections = [s for s in data if str(s).rstrip("/").rsplit("/", 1)[-1] == node] or [f"/**/{node}"]
        for section in sections:
            params = data.setdefault(section, {}).setdefault("ros__parameters", {})
            for dotted, value in values.items():
                *parents, leaf = dotted.split(".")
                target = params
                for key in parents:
                    target = target.setdefault(key, {})
                target[leaf] = value
                params.pop(dotted, None)  # a flat spelling of the same key would win
    out = out_dir / f"demo_{path.name}"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``NODE:NAME=VALUE`` items (VALUE in YAML) -> ``{node: {name: value}}``; ValueError for another shape."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        match = re.fullmatch(r"([\w/]+):([\w.]+)=(.*)", item)
        if not match:
            raise ValueError(f"--set {item!r}: write NODE:NAME=VALUE, e.g. {PLANNER_NODE}:cem.samples=128")
        node, name, value = match.groups()
        out.setdefault(node, {})[name] = yaml.safe_load(value)
    return out


def check_weights(params_file: Path) -> dict[str, str]:
    """The resolved encoder and predictor checkpoints of ``params_file``; DemoError naming the missing one."""
    from vjepa2_common.params import parameter_file_values
    from vjepa2_common.paths import resolve_path

    found = {}
    for node, key in ((ENCODER_NODE, "model.checkpoint"), (PLANNER_NODE, "predictor.checkpoint")):
        value = str(parameter_file_values(params_file, node).get(key, ""))
        if value in ("", "random"):
            found[key] = value or "(unset)"
            continue
        try:
            path = resolve_path(value)
        except (FileNotFoundError, ValueError) as exc:
            raise DemoError(missing_model(f"{node} {key} {exc}")) from None
        if not Path(path).exists():
            raise DemoError(missing_model(f"{node} {key} '{value}' does not exist"))
        found[key] = path
    return found


def missing_model(what: str) -> str:
    return (
        f"demo: cannot start the closed loop: {what}. The demo model belongs in vjepa2/models/demo/ (see its "
        "MODEL_CARD.md): reproduce it with `make train-demo-model`, or give weights with "
        '`make demo DEMO_ARGS="--encoder FILE --predictor FILE"`'
    )


# ---------------------------------------------------------------------------------------------- the ROS side
class NodeLog:
    """Where the runner writes the nodes' output: a file, with the lines that report failures kept apart."""

    def __init__(self, path: Path) -> None:
        self.file: IO[str] = path.open("w")
        self.failures: list[tuple[str, str]] = []  # (node, line) of each line that reports a failure
        self.last_line: dict[str, str] = {}  # node name -> its newest line
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.file.write(text)
            for line in text.splitlines():
                node, _, rest = line.partition("] ")
                node = node[1:] if node.startswith("[") else ""
                if FAILURE.search(line):
                    self.failures.append((node, rest.strip()))
                if node and rest.strip():
                    self.last_line[node] = rest.strip()
        return len(text)

    def flush(self) -> None:
        with self.lock:
            self.file.flush()

    def close(self) -> None:
        with self.lock:
            self.file.close()


class DemoClient:
    """An rclpy node in this process: the state and camera subscriptions, services and the PlanToGoal client."""

    def __init__(self, on_frame: Callable[[np.ndarray], None]) -> None:
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.action import ActionClient
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from vjepa2_common.executors import ResponsiveExecutor
        from vjepa2_common.qos import qos_from_name
        from vjepa2_msgs.action import PlanToGoal

        rclpy.init()
        self.node = rclpy.create_node("vjepa2_demo")
        self._cond = threading.Condition()
        self._on_frame = on_frame
        self.pose: np.ndarray | None = None
        self.pose_count = 0
        self.orientation: Any = None
        self.frame: np.ndarray | None = None
        self.frame_count = 0
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(PoseStamped, names.CURRENT_POSE_TOPIC, self._on_pose, best_effort)
        self.node.create_subscription(Image, names.CAMERA_IMAGE_TOPIC, self._on_image, qos_from_name("sensor_data"))
        # rclpy's ActionClient files a request under its sequence number only after sending it: a response handled
        # by another executor thread in between is dropped. Requests are sent from a callback of the client's own
        # mutually exclusive group (in_action_group).
        self._action_group = MutuallyExclusiveCallbackGroup()
        self.plan = ActionClient(self.node, PlanToGoal, names.PLANNER_PLAN_ACTION, callback_group=self._action_group)
        self.executor = ResponsiveExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _on_pose(self, msg: Any) -> None:
        p = msg.pose.position
        with self._cond:
            self.pose, self.orientation = np.array([p.x, p.y, p.z]), msg.pose.orientation
            self.pose_count += 1
            self._cond.notify_all()

    def _on_image(self, msg: Any) -> None:
        from vjepa2_common.image import image_to_rgb

        rgb = image_to_rgb(msg)
        with self._cond:
            self.frame = rgb
            self.frame_count += 1
            self._cond.notify_all()
        self._on_frame(rgb)

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float, check: Callable[[], None]) -> None:
        """Until ``predicate()``; ``check()`` raises if waiting is pointless (a node failed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                check()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError(f"demo: no {what} within {timeout:.0f} s")
                self._cond.wait(min(left, 0.5))

    def fresh_pose(self, check: Callable[[], None]) -> np.ndarray:
        """A TCP position published after this call."""
        count = self.pose_count
        self.wait(lambda: self.pose_count >= count + 2, "robot state", SERVICE_TIMEOUT_S, check)
        return self.pose.copy()

    def fresh_frame(self, check: Callable[[], None]) -> np.ndarray:
        count = self.frame_count
        self.wait(lambda: self.frame_count >= count + 2, "camera frame", SERVICE_TIMEOUT_S, check)
        return self.frame.copy()

    def call(self, srv_type: Any, name: str, request: Any) -> Any:
        from vjepa2_common.messages import call_service

        client = self.node.create_client(srv_type, name)
        try:
            return call_service(self.node, client, request, SERVICE_TIMEOUT_S)
        except TimeoutError as exc:
            raise DemoError(f"demo: {exc}") from None
        finally:
            self.node.destroy_client(client)

    def in_action_group(self, request: Callable[[], Any]) -> Any:
        """Run ``request()`` (which sends an action request and returns its future) in the client's group."""
        out: list[Any] = []
        done = threading.Event()

        def run() -> None:
            out.append(request())
            done.set()

        guard = self.node.create_guard_condition(run, callback_group=self._action_group)
        try:
            guard.trigger()
            if not done.wait(SERVICE_TIMEOUT_S):
                raise DemoError("demo: this process's ROS executor did not send the goal")
        finally:
            self.node.destroy_guard_condition(guard)
        return out[0]

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def wait_future(future: Any, timeout: float, what: str, check: Callable[[], None]) -> Any:
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    deadline = time.monotonic() + timeout
    while not done.wait(0.5):
        check()
        if time.monotonic() > deadline:
            raise DemoError(f"demo: no {what} within {timeout:.0f} s")
    return future.result()


# ---------------------------------------------------------------------------------------------- one goal
@dataclass
class GoalRun:
    """One goal: what the demo sent, saw and measured."""

    index: int
    start_tcp: np.ndarray
    goal_tcp: np.ndarray
    goal_image: np.ndarray
    start_image: np.ndarray
    end_image: np.ndarray | None = None
    end_tcp: np.ndarray | None = None  # measured once the planner answered (the arm has settled)
    initial_energy: float = float("nan")
    steps: list[dict[str, Any]] = field(default_factory=list)  # per executed step: energy, distance, action, times
    outcome: str = ""
    message: str = ""
    wall_s: float = 0.0

    def distance_cm(self, tcp: np.ndarray) -> float:
        return 100.0 * float(np.linalg.norm(np.asarray(tcp) - self.goal_tcp))

    @property
    def start_distance_cm(self) -> float:
        return self.distance_cm(self.start_tcp)

    @property
    def final_distance_cm(self) -> float:
        return self.steps[-1]["distance_cm"] if self.steps else self.start_distance_cm

    def record(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_tcp": self.start_tcp.round(5).tolist(),
            "goal_tcp": self.goal_tcp.round(5).tolist(),
            "end_tcp": None if self.end_tcp is None else self.end_tcp.round(5).tolist(),
            "start_distance_cm": round(self.start_distance_cm, 3),
            "final_distance_cm": round(self.final_distance_cm, 3),
            "initial_energy": self.initial_energy,
            "steps": self.steps,
            "outcome": self.outcome,
            "message": self.message,
            "wall_s": round(self.wall_s, 2),
        }


OUTCOMES = {0: "REACHED", 1: "MAX_STEPS", 2: "CANCELED", 3: "ERROR"}


def run_goal(demo: Demo, index: int, goal_tcp: np.ndarray, max_steps: int) -> GoalRun:
    from vjepa2_common.image import image_to_rgb
    from vjepa2_msgs.action import PlanToGoal
    from vjepa2_msgs.msg import PlannerStatus
    from vjepa2_msgs.srv import RenderGoal
    from vjepa2_sim.views import STEREO_CAMERA

    client, check = demo.client, demo.check
    start_tcp = client.fresh_pose(check)
    request = RenderGoal.Request(gripper=-1.0, camera=STEREO_CAMERA)
    request.pose.header.frame_id = names.BASE_FRAME
    request.pose.pose.position.x, request.pose.pose.position.y, request.pose.pose.position.z = goal_tcp.tolist()
    request.pose.pose.orientation = copy.deepcopy(client.orientation)  # the TCP keeps pointing as it does now
    rendered = client.call(RenderGoal, names.SIM_RENDER_GOAL_SERVICE, request)
    if not rendered.success:
        raise DemoError(f"demo: the simulator could not render goal {index + 1}: {rendered.message}")
    run = GoalRun(index, start_tcp, goal_tcp, image_to_rgb(rendered.image), client.fresh_frame(check))
    demo.overlay.update(goal=run.goal_image, text=f"goal {index + 1}: planning")
    print(
        f"demo: goal {index + 1}/{demo.opts.goals}: TCP {np.round(100 * start_tcp, 1).tolist()} cm -> goal image "
        f"rendered at {np.round(100 * goal_tcp, 1).tolist()} cm ({run.start_distance_cm:.1f} cm away)",
        flush=True,
    )
    lock = threading.Lock()
    pending: dict[int, dict[str, Any]] = {}  # executed step -> what the feedback said about it

    def report(step: int, energy: float, tcp: np.ndarray) -> None:
        info = pending.get(step, {})
        action = info.get("action", [0.0] * 3)
        distance_cm = run.distance_cm(tcp)
        entry = {"step": step, "energy": energy, "distance_cm": round(distance_cm, 3), "tcp": tcp.round(5).tolist()}
        run.steps.append({**entry, **info})
        demo.overlay.update(text=f"goal {index + 1} step {step}: energy {energy:.3f}, {distance_cm:.1f} cm")
        print(
            f"demo: goal {index + 1} step {step}: moved {np.round(100 * np.asarray(action[:3]), 1).tolist()} cm, "
            f"energy {energy:.4f}, TCP {distance_cm:.1f} cm from the goal"
            + (f" (plan {info['plan_time_s']:.2f} s)" if "plan_time_s" in info else ""),
            flush=True,
        )

    def on_feedback(msg: Any) -> None:
        status = msg.feedback.status
        with lock:
            if status.state == PlannerStatus.PLANNING and status.cem_iteration == 0:  # a new observation
                if status.step == 0:
                    run.initial_energy = float(status.energy)
                    print(f"demo: goal {index + 1} step 0: energy {status.energy:.4f}", flush=True)
                elif len(run.steps) < status.step:
                    report(int(status.step), float(status.energy), client.pose.copy())
            elif status.state == PlannerStatus.EXECUTING:
                if status.execute_time_s == 0.0:  # about to execute step + 1
                    pending[status.step + 1] = {
                        "action": [round(float(v), 5) for v in status.chosen_action],
                        "plan_time_s": round(float(status.plan_time_s), 3),
                    }
                else:
                    pending.setdefault(int(status.step), {})["execute_time_s"] = round(float(status.execute_time_s), 3)

    goal = PlanToGoal.Goal(goal_images=[rendered.image], max_steps=max_steps)
    started = time.monotonic()
    handle = wait_future(
        client.in_action_group(lambda: client.plan.send_goal_async(goal, feedback_callback=on_feedback)),
        SERVICE_TIMEOUT_S,
        "goal acceptance",
        check,
    )
    if not handle.accepted:
        raise DemoError(f"demo: the planner rejected goal {index + 1}; see {demo.log_path}")
    steps_budget = max_steps or demo.planner_max_steps
    reply = wait_future(
        client.in_action_group(handle.get_result_async),
        60.0 + STEP_TIMEOUT_S * steps_budget,
        f"result of goal {index + 1}",
        check,
    )
    run.wall_s = time.monotonic() - started
    result = reply.result
    run.outcome, run.message = OUTCOMES.get(result.outcome, str(result.outcome)), result.message
    end_tcp = run.end_tcp = client.fresh_pose(check)  # the arm has settled: the planner answers after the motion
    with lock:
        for step in range(len(run.steps) + 1, result.steps_executed + 1):  # after the planner's last observation
            report(step, float(result.energy_history[step - 1]), end_tcp)
        for entry, energy in zip(run.steps, result.energy_history):
            entry["energy"] = float(energy)  # the result's history is authoritative
    run.end_image = client.fresh_frame(check)
    print(
        f"demo: goal {index + 1}: {run.outcome} after {result.steps_executed} step(s) in {run.wall_s:.0f} s: "
        f"{run.start_distance_cm:.1f} -> {run.final_distance_cm:.1f} cm from the goal ({result.message})",
        flush=True,
    )
    return run


# ---------------------------------------------------------------------------------------------- outputs
class Overlay:
    """What the video shows under the camera: the current goal image and a line of text."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.goal: np.ndarray | None = None
        self.text = "starting"

    def update(self, goal: np.ndarray | None = None, text: str | None = None) -> None:
        with self.lock:
            if goal is not None:
                self.goal = goal
            if text is not None:
                self.text = text


class Video:
    """demo.mp4: each camera frame (top) over the current goal image (bottom), with the demo's status line."""

    def __init__(self, path: Path, fps: float, overlay: Overlay) -> None:
        self.path, self.fps, self.overlay = path, fps, overlay
        self.writer: Any = None
        self.size: tuple[int, int] | None = None  # (width, height) of the first frame: the video's
        self.frames = 0
        self.recording = False
        self.lock = threading.Lock()

    def add(self, rgb: np.ndarray) -> None:
        """Called for every camera frame (executor thread); writes it while recording."""
        import cv2

        if not self.recording:
            return
        with self.overlay.lock:
            goal, text = self.overlay.goal, self.overlay.text
        goal = np.zeros_like(rgb) if goal is None or goal.shape != rgb.shape else goal
        band = np.full((24, rgb.shape[1], 3), 255, np.uint8)
        frame = cv2.cvtColor(np.concatenate([rgb, band, goal], axis=0), cv2.COLOR_RGB2BGR)
        font, white = cv2.FONT_HERSHEY_SIMPLEX, (255, 255, 255)
        cv2.putText(frame, text, (6, rgb.shape[0] + 17), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(frame, "camera", (6, 16), font, 0.45, white, 1, cv2.LINE_AA)
        cv2.putText(frame, "goal image", (6, rgb.shape[0] + 40), font, 0.45, white, 1, cv2.LINE_AA)
        with self.lock:
            if not self.recording:
                return
            if self.writer is None:
                self.size = (frame.shape[1], frame.shape[0])
                self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if (frame.shape[1], frame.shape[0]) == self.size and self.writer.isOpened():
                self.writer.write(frame)
                self.frames += 1

    def close(self) -> dict[str, Any]:
        """Finish the file and read it back: it must open and hold frames."""
        import cv2

        with self.lock:
            self.recording = False
            if self.writer is not None:
                self.writer.release()
                self.writer = None
        capture = cv2.VideoCapture(str(self.path))
        readable = capture.isOpened() and capture.read()[0]
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if readable else 0
        capture.release()
        return {"path": str(self.path), "frames_written": self.frames, "frames_read": count, "fps": self.fps}


def save_contact_sheet(path: Path, runs: list[GoalRun], title: str) -> None:
    """A row per goal: goal image | start | end | energy and distance per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(runs))
    fig, axes = plt.subplots(
        rows, 4, figsize=(17, 2.6 * rows + 0.6), gridspec_kw={"width_ratios": [2, 2, 2, 1.5]}, squeeze=False
    )
    for row, run in zip(axes, runs):
        images = (
            (run.goal_image, f"goal {run.index + 1}: goal image ({run.start_distance_cm:.1f} cm away)"),
            (run.start_image, "start"),
            (run.end_image if run.end_image is not None else run.start_image, f"end: {run.final_distance_cm:.1f} cm"),
        )
        for ax, (image, label) in zip(row[:3], images):
            ax.imshow(image)
            ax.set_title(label, fontsize=9)
            ax.axis("off")
        steps = [0, *(s["step"] for s in run.steps)]
        energies = [run.initial_energy, *(s["energy"] for s in run.steps)]
        distances = [run.start_distance_cm, *(s["distance_cm"] for s in run.steps)]
        ax = row[3]
        ax.plot(steps, energies, "o-", color="tab:blue", markersize=3)
        ax.set_xlabel("executed step", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("energy", color="tab:blue", fontsize=8)
        ax.tick_params(labelsize=7)
        twin = ax.twinx()
        twin.plot(steps, distances, "s--", color="tab:orange", markersize=3)
        twin.set_ylabel("TCP-goal [cm]", color="tab:orange", fontsize=8)
        twin.tick_params(labelsize=7)
        twin.set_ylim(bottom=0)
        ax.set_title(f"{run.outcome}, {len(run.steps)} step(s)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- the demo
class Demo:
    def __init__(self, opts: argparse.Namespace, params_file: Path, out: Path, log: NodeLog) -> None:
        from vjepa2_common.params import parameter_file_values

        self.opts, self.params_file, self.out, self.log = opts, params_file, out, log
        self.log_path = out / "nodes.log"
        self.runner: Any = None
        self.planner_max_steps = int(parameter_file_values(params_file, PLANNER_NODE).get("max_steps", 20))
        fps = float(parameter_file_values(params_file, names.SIM_NODE).get("camera_rate", 10.0))
        self.overlay = Overlay()
        self.video = Video(out / "demo.mp4", fps, self.overlay)
        self.client = DemoClient(self.video.add)

    def check(self) -> None:
        """DemoError if a node reported a failure or a node process ended."""
        if self.log.failures:
            node, line = self.log.failures[0]
            if line.startswith("Traceback"):
                time.sleep(1.0)  # the exception's own line follows the traceback
                line = self.log.last_line.get(node, line)
            raise DemoError(f"demo: {node or 'a node'} failed: {line} (all output: {self.log_path})")
        for spec, proc in self.runner.procs if self.runner else ():
            if proc.poll() is not None:
                last = self.log.last_line.get(spec.name, "no output")
                raise DemoError(
                    f"demo: node {spec.name} exited with code {proc.returncode}: {last} (all output: {self.log_path})"
                )

    def wait_ready(self) -> None:
        from vjepa2_common.lifecycle_client import LifecycleClient

        client = self.client
        ready = lambda: client.pose is not None and client.frame is not None  # noqa: E731
        client.wait(ready, "robot state and camera", self.opts.startup_timeout, self.check)
        deadline = time.monotonic() + self.opts.startup_timeout
        for node in (ENCODER_NODE, PLANNER_NODE):
            lifecycle = LifecycleClient(client.node, f"/{node}", timeout=10.0)
            while True:
                self.check()
                try:
                    if lifecycle.state() == "active":
                        break
                except TimeoutError:
                    pass
                if time.monotonic() > deadline:
                    raise DemoError(f"demo: {node} did not become active within {self.opts.startup_timeout:.0f} s")
                time.sleep(0.5)  # polling a lifecycle state: nothing to wait on
        if not client.plan.wait_for_server(timeout_sec=SERVICE_TIMEOUT_S):
            raise DemoError(f"demo: no action server {names.PLANNER_PLAN_ACTION}")

    def run(self) -> list[GoalRun]:
        from std_srvs.srv import SetBool

        from vjepa2.graphs import get_graph
        from vjepa2.runner import GraphRunner
        from vjepa2_sim.scene import REACH_BOX_MAX, REACH_BOX_MIN, sample_near_goal

        nodes = get_graph(DEMO_GRAPH).nodes({"params_file": str(self.params_file)})
        print(
            f"demo: starting the '{DEMO_GRAPH}' graph ({', '.join(n.name for n in nodes)}) with {self.params_file}; "
            f"node output: {self.log_path}",
            flush=True,
        )
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            self.runner = GraphRunner(nodes, Path(tmp), out=self.log)
            self.runner.start()
            try:
                print("demo: waiting for the simulator, the encoder and the planner (loading models) ...", flush=True)
                self.wait_ready()
                self.client.call(SetBool, names.SIM_RESET_SERVICE, SetBool.Request(data=False))  # nominal layout
                print(f"demo: the loop is up after {time.monotonic() - started:.0f} s", flush=True)
                self.video.recording = True
                rng = np.random.default_rng(self.opts.seed)
                runs = []
                for index in range(self.opts.goals):
                    tcp = self.client.fresh_pose(self.check)
                    goal = sample_near_goal(rng, tcp, REACH_BOX_MIN, REACH_BOX_MAX)
                    runs.append(run_goal(self, index, goal, self.opts.max_steps))
                return runs
            finally:
                self.video.recording = False
                self.runner.stop()
                self.client.close()


def write_outputs(demo: Demo, runs: list[GoalRun], weights: dict[str, str], wall_s: float) -> dict[str, Any]:
    from vjepa2_sim.scene import REACH_SUCCESS_RADIUS

    out = demo.out
    video = demo.video.close()
    reached = sum(r.final_distance_cm <= 100 * REACH_SUCCESS_RADIUS for r in runs)
    title = (
        f"make demo: {len(runs)} goal images, CEM over V-JEPA 2-AC predictions; {reached}/{len(runs)} within "
        f"{100 * REACH_SUCCESS_RADIUS:.0f} cm (encoder {Path(weights['model.checkpoint']).name}, predictor "
        f"{Path(weights['predictor.checkpoint']).name})"
    )
    save_contact_sheet(out / "contact_sheet.png", runs, title)
    summary = {
        "graph": DEMO_GRAPH,
        "params_file": str(demo.params_file),
        "weights": weights,
        "seed": demo.opts.seed,
        "goals": [r.record() for r in runs],
        "within_radius": reached,
        "success_radius_cm": 100 * REACH_SUCCESS_RADIUS,
        "video": video,
        "contact_sheet": str(out / "contact_sheet.png"),
        "wall_s": round(wall_s, 1),
    }
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def preload() -> None:
    """Import the plotting and video libraries while the nodes start (seconds on a busy machine)."""
    import cv2  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goals", type=int, default=3, help="goal images to reach, one after the other")
    parser.add_argument("--seed", type=int, default=0, help="seed of the goal positions")
    parser.add_argument("--max-steps", type=int, default=0, help="actions per goal (0: the planner's max_steps)")
    parser.add_argument("--params-file", default="", help=f"the graph's parameters (default: config/{DEMO_PARAMS})")
    parser.add_argument("--encoder", default="", help="encoder weights instead of the params file's model.checkpoint")
    parser.add_argument(
        "--predictor", default="", help="AC predictor weights instead of the params file's predictor.checkpoint"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE:NAME=VALUE",
        help="override a parameter of the params file, e.g. vjepa2_planner:cem.samples=128 (value in YAML)",
    )
    parser.add_argument("--out", default="outputs/demo", help="where the contact sheet, video and JSON go")
    parser.add_argument("--startup-timeout", type=float, default=STARTUP_TIMEOUT_S, help="[s] for the nodes to start")
    opts = parser.parse_args(argv)
    if opts.goals < 1 or opts.max_steps < 0:
        parser.error("--goals must be >= 1 and --max-steps >= 0")
    ensure_localhost_discovery()
    from vjepa2.graph_spec import config_path

    started = time.monotonic()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        overrides = parse_overrides(opts.set)
    except ValueError as exc:
        parser.error(str(exc))
    if opts.encoder:
        overrides.setdefault(ENCODER_NODE, {})["model.checkpoint"] = str(Path(opts.encoder).expanduser().resolve())
    if opts.predictor:
        overrides.setdefault(PLANNER_NODE, {})["predictor.checkpoint"] = str(
            Path(opts.predictor).expanduser().resolve()
        )
    log = NodeLog(out / "nodes.log")
    threading.Thread(target=preload, daemon=True).start()
    try:
        params_file = demo_params_file(opts.params_file or config_path(DEMO_PARAMS), overrides, out)
        weights = check_weights(params_file)
        demo = Demo(opts, params_file, out, log)
        runs = demo.run()
        summary = write_outputs(demo, runs, weights, time.monotonic() - started)
    except DemoError as exc:
        print(exc, flush=True)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted", flush=True)
        return 130
    finally:
        log.close()
    video = summary["video"]
    finals = ", ".join(f"{r['final_distance_cm']:.1f}" for r in summary["goals"])
    print(
        f"demo: {len(runs)} goal(s): final TCP-goal distances {finals} cm ({summary['within_radius']}/{len(runs)} "
        f"within {summary['success_radius_cm']:.0f} cm); {out / 'contact_sheet.png'}, {out / 'demo.mp4'} "
        f"({video['frames_read']} frames), {out / 'demo.json'}; finished in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    if not video["frames_read"]:
        print(f"demo: {out / 'demo.mp4'} has no readable frames", flush=True)
        return 1
    errors = [r for r in runs if r.outcome == "ERROR"]
    if errors:
        print(f"demo: goal {errors[0].index + 1} ended with an error: {errors[0].message}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
