"""``planner_node``: the PlanToGoal action server over V-JEPA 2-AC + CEM, behind the safety layer (lifecycle).

A thin ROS shell over ROS-free logic: :mod:`.world_model` (predictor, embedding checks, CEM), :mod:`.loop`
(the receding-horizon sequencing), :mod:`.safety` (limits, watchdog, e-stop), :mod:`.servo` (twist
streaming). Threads: subscriptions only store the newest inputs; one worker thread runs goals (encoding
goal images, CEM, commanding motion); the action server's execute callback just waits for the worker; a
watchdog thread stops motion and aborts the goal when inputs go stale; a twist streamer thread runs while a
servo_twist step executes. Service clients live in their own reentrant group, so the worker's calls get
their responses while every other callback keeps running.

Lifecycle: configure loads the predictor and creates the inputs and outputs (a bad checkpoint fails the
transition, the node stays up); activate lets goals in; deactivate aborts the running goal and stops motion.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, PoseStamped, TransformStamped, TwistStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, ColorRGBA, Float64
from std_srvs.srv import Trigger

from vjepa2_common import names
from vjepa2_common.diagnostics import ERROR, OK, WARN, LatencyStats, RateMeter
from vjepa2_common.image import ImageConversionError, image_to_rgb, rgb_to_image
from vjepa2_common.lifecycle import ManagedNode
from vjepa2_common.messages import call_service, embedding_tokens, ns_to_stamp, stamp_to_ns
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, read_parameters
from vjepa2_common.qos import qos_from_name
from vjepa2_core.conventions import apply_action, state_from_pose
from vjepa2_core.limits import CommandError
from vjepa2_msgs.action import PlanToGoal
from vjepa2_msgs.msg import Embedding, PlannerStatus
from vjepa2_msgs.srv import EncodeImage, ExecuteAction, SetGoal

from .loop import (
    GoalControl,
    GoalResult,
    GoalStopped,
    LoopError,
    Motion,
    Observation,
    Outcome,
    Phase,
    Status,
    run_goal,
)
from .params import DRY_RUN, PlannerParams
from .safety import NS_PER_S, SafeAction, SafetyLayer
from .servo import ServoGains, TwistStreamer, pose_error
from .visuals import debug_image, planned_path
from .world_model import EmbeddingMismatch, Plan, PlannerModel

NODE_NAME = names.PLANNER_NODE
_THROTTLE_S = 2.0
_WATCHDOG_PERIOD_S = 0.02
_ENCODE_ATTEMPT_S = 5.0  # one encode_image request; lost requests are sent again until service_timeout_s
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass
class _Goal:
    """A goal's token map, and its picture when it came as an image."""

    tokens: np.ndarray
    rgb: np.ndarray | None = None


@dataclass
class _Job:
    """One accepted PlanToGoal goal on its way through the worker."""

    handle: ServerGoalHandle
    control: GoalControl = field(default_factory=GoalControl)
    done: threading.Event = field(default_factory=threading.Event)
    result: GoalResult | None = None
    invalid: str = ""  # a reason found at acceptance: the goal ends with it without preempting anything


@dataclass
class _Frame:
    tokens: np.ndarray
    stamp_ns: int
    received_ns: int


class PlannerNode(ManagedNode):
    """Lifecycle node ``vjepa2_planner``; see the package README for topics, services and parameters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.settings: PlannerParams = declare_parameters(self, PlannerParams, frozen_state=self.configured_state)
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._embedding_group = MutuallyExclusiveCallbackGroup()  # never queued behind state or image callbacks
        self._state_group = MutuallyExclusiveCallbackGroup()  # never queued behind image callbacks
        self._estop_group = MutuallyExclusiveCallbackGroup()
        self._client_group = ReentrantCallbackGroup()
        self._service_group = MutuallyExclusiveCallbackGroup()

        self._model: PlannerModel | None = None
        self._safety: SafetyLayer | None = None
        self._streamer: TwistStreamer | None = None
        self._inputs: list[Any] = []  # subscriptions, publishers and clients made by configure
        self._cond = threading.Condition()  # guards and signals the newest inputs below
        self._frame: _Frame | None = None
        self._mismatch: tuple[int, str] | None = None  # (received ns, reason) of the newest rejected embedding
        self._poses: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=400)  # (stamp ns, pos, quat xyzw)
        self._closure = 0.0
        self._camera_rgb: np.ndarray | None = None
        self._stored_goals: list[_Goal] = []

        self._jobs_lock = threading.Lock()
        self._jobs: dict[bytes, _Job] = {}
        self._current: _Job | None = None
        self._watch: GoalControl | None = None  # the goal the watchdog guards (armed after its first observation)
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._energies: list[float] = []
        self._goal_rgb: np.ndarray | None = None
        self._tolerance = 0.0

        self._rates = {name: RateMeter() for name in ("embedding", "state", "twist", "feedback")}
        self._plan_latency = LatencyStats()
        self._encode_latency = LatencyStats()
        self._stats = {"goals": 0, "reached": 0, "aborted": 0, "canceled": 0, "mismatched_embeddings": 0}
        self._last_abort = ""
        self._last_warning: dict[str, float] = {}

        self._status_pub = self.create_publisher(PlannerStatus, "~/status", 10)
        self._action_server = ActionServer(
            self,
            PlanToGoal,
            "~/plan_to_goal",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            handle_accepted_callback=self._on_accepted,
            cancel_callback=self._on_cancel,
            callback_group=ReentrantCallbackGroup(),
        )
        self.create_service(SetGoal, "~/set_goal", self._on_set_goal, callback_group=self._service_group)
        self.create_service(Trigger, "~/reset_estop", self._on_reset_estop, callback_group=self._estop_group)
        self.diagnostics.add("planner", self._planner_status)
        self.diagnostics.add("safety", self._safety_status)

        self._closing = threading.Event()
        self._worker = threading.Thread(target=self._work, name="planner-worker", daemon=True)
        self._worker.start()
        self._watchdog = threading.Thread(target=self._watch_inputs, name="planner-watchdog", daemon=True)
        self._watchdog.start()

    # ------------------------------------------------------------------------------------------ lifecycle
    def do_configure(self) -> None:
        s = self.settings = read_parameters(self, PlannerParams)
        started = time.monotonic()
        self._model = s.load_model()
        if s.predictor.checkpoint == "random":
            self.get_logger().warning("predictor.checkpoint is 'random': plans come from untrained weights")
        self.get_logger().info(
            f"loaded {self._model.model_id} ({self._model.dim}-dim tokens on a {self._model.grid[1]}x"
            f"{self._model.grid[2]} grid) in {time.monotonic() - started:.1f} s"
        )
        self._safety = s.safety()
        self._create_io()

    def do_activate(self) -> None:
        interface = self.settings.command_interface
        commands = (
            "dry run: planned actions on ~/planned_action, no robot is commanded"
            if interface == DRY_RUN
            else f"commands via {interface}"
        )
        self.get_logger().info(f"active: PlanToGoal on ~/plan_to_goal, {commands}")

    def do_deactivate(self) -> None:
        self._stop_all_goals(Outcome.CANCELED, "the planner was deactivated")

    def do_cleanup(self) -> None:
        self._stop_all_goals(Outcome.CANCELED, "the planner was cleaned up")
        for entity in self._inputs:
            for destroy in (self.destroy_subscription, self.destroy_publisher, self.destroy_client):
                try:
                    if destroy(entity):
                        break
                except Exception:  # not this kind of entity
                    continue
        self._inputs = []
        if self._model is not None:
            self._model.release()
        self._model = None
        self._streamer = None
        with self._cond:
            self._frame, self._mismatch = None, None
            self._poses.clear()

    def destroy_node(self) -> None:
        self._closing.set()
        self._stop_all_goals(Outcome.CANCELED, "the planner is shutting down")
        self._queue.put(None)
        self._worker.join(timeout=5.0)
        self._watchdog.join(timeout=2.0)
        super().destroy_node()

    def _create_io(self) -> None:
        s = self.settings
        sub = self.create_subscription
        best_effort = qos_from_name("sensor_data", depth=1)
        state_type = PoseStamped if s.state_type == "PoseStamped" else TransformStamped
        self._inputs = [
            sub(Embedding, s.topics.embedding, self._on_embedding, 5, callback_group=self._embedding_group),
            sub(state_type, s.topics.state, self._on_state, best_effort, callback_group=self._state_group),
            sub(Bool, s.topics.estop, self._on_estop, LATCHED, callback_group=self._estop_group),
        ]
        if s.topics.gripper_state:
            self._inputs.append(
                sub(JointState, s.topics.gripper_state, self._on_gripper, 10, callback_group=self._input_group)
            )
        if s.topics.image:
            self._inputs.append(
                sub(Image, s.topics.image, self._on_image, best_effort, callback_group=self._input_group)
            )
        self._encode_client = self.create_client(
            EncodeImage, s.services.encode_image, callback_group=self._client_group
        )
        robot = s.command_interface != DRY_RUN  # a dry run has no robot: no command outputs at all
        self._execute_client = (
            self.create_client(ExecuteAction, s.services.execute_action, callback_group=self._client_group)
            if robot
            else None
        )
        self._stop_client = (
            self.create_client(Trigger, s.services.stop, callback_group=self._client_group)
            if s.services.stop and robot
            else None
        )
        self._twist_pub = self.create_publisher(TwistStamped, s.topics.twist, 10) if robot else None
        self._pose_pub = self.create_publisher(PoseStamped, s.topics.pose_target, 10) if robot else None
        self._gripper_pub = (
            self.create_publisher(Float64, s.topics.gripper_command, 10) if s.topics.gripper_command and robot else None
        )
        self._planned_pub = self.create_publisher(PlannerStatus, "~/planned_action", 10)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 2)
        self._marker_pub = self._create_marker_publisher() if s.publish_markers else None
        self._inputs += [self._encode_client, self._planned_pub, self._debug_pub]
        self._inputs += [
            e
            for e in (
                self._execute_client,
                self._twist_pub,
                self._pose_pub,
                self._stop_client,
                self._gripper_pub,
                self._marker_pub,
            )
            if e is not None
        ]
        sv = s.servo
        self._streamer = (
            TwistStreamer(
                self._publish_twist,
                self._latest_pose,
                self._safety,
                self._now_ns,
                ServoGains(sv.rate_hz, sv.linear_gain, sv.angular_gain, sv.position_tolerance, sv.rotation_tolerance),
            )
            if robot
            else None
        )

    # ------------------------------------------------------------------------------------------ inputs
    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _warn(self, text: str, key: str | None = None, error: bool = False) -> None:
        """Log ``text`` at most once per _THROTTLE_S per ``key`` (default: the text)."""
        now = time.monotonic()
        key = key or text
        if now - self._last_warning.get(key, -1e9) >= _THROTTLE_S:
            self._last_warning[key] = now
            if error:  # rclpy wants one severity per call site
                self.get_logger().error(text)
            else:
                self.get_logger().warning(text)

    def _on_embedding(self, msg: Embedding) -> None:
        model = self._model
        if model is None:
            return
        now = self._now_ns()
        self._rates["embedding"].tick()
        try:
            model.check_embedding(
                msg.model_id, msg.dim, msg.grid, msg.num_tokens, f"the embedding on {self.settings.topics.embedding}"
            )
            tokens = embedding_tokens(msg)
        except (EmbeddingMismatch, ValueError) as exc:
            self._stats["mismatched_embeddings"] += 1
            with self._cond:
                self._mismatch = (now, str(exc))
                self._cond.notify_all()
            self._warn(
                f"rejected an embedding ({self._stats['mismatched_embeddings']} so far): {exc}",
                key="mismatch",
                error=True,
            )
            return
        if not msg.normalized:
            tokens = _layer_norm(tokens)
        stamp = stamp_to_ns(msg.header.stamp)
        self._encode_latency.add(max(0.0, (now - stamp) / NS_PER_S))
        with self._cond:
            self._frame = _Frame(tokens, stamp, now)
            self._cond.notify_all()
        self._safety.note_observation(stamp)

    def _on_state(self, msg: PoseStamped | TransformStamped) -> None:
        if msg.header.frame_id != self.settings.base_frame:
            self._warn(
                f"ignored the end-effector state on {self.settings.topics.state}: frame '{msg.header.frame_id}', "
                f"expected base_frame '{self.settings.base_frame}'"
            )
            self._safety.count("wrong_frame_state")
            return
        if isinstance(msg, PoseStamped):
            p, q = msg.pose.position, msg.pose.orientation
        else:
            p, q = msg.transform.translation, msg.transform.rotation
        pos = np.array([p.x, p.y, p.z], float)
        quat = np.array([q.x, q.y, q.z, q.w], float)
        stamp = stamp_to_ns(msg.header.stamp)
        try:
            if not (np.all(np.isfinite(quat)) and abs(np.linalg.norm(quat) - 1.0) < 0.01):
                raise CommandError(f"orientation {quat.tolist()} is not a unit quaternion")
            self._safety.update_state(state_from_pose(pos, quat, self._closure), stamp)
        except CommandError as exc:
            self._warn(f"ignored the end-effector state on {self.settings.topics.state}: {exc}")
            return
        self._rates["state"].tick()
        with self._cond:
            self._poses.append((stamp, pos, quat))
            self._cond.notify_all()

    def _on_gripper(self, msg: JointState) -> None:
        if len(msg.position) and np.all(np.isfinite(msg.position)):
            width = float(sum(msg.position))
            self._closure = float(np.clip(1.0 - width / self.settings.gripper_max_width, 0.0, 1.0))

    def _on_image(self, msg: Image) -> None:
        if not self.settings.publish_debug_image:
            return
        try:
            self._camera_rgb = image_to_rgb(msg)
        except ImageConversionError as exc:
            self._warn(f"camera image on {self.settings.topics.image} not shown: {exc}")

    def _on_estop(self, msg: Bool) -> None:
        if self._safety is None:
            return
        if self._safety.set_estop(bool(msg.data), f"{self.settings.topics.estop} topic"):
            self.get_logger().error("e-stop asserted: all motion stopped; ~/reset_estop once it is released")
            self._halt_motion("e-stop")
            with self._jobs_lock:
                current = self._current
            if current is not None:
                current.control.stop(Outcome.ERROR, f"e-stop asserted on {self.settings.topics.estop}")

    def _on_reset_estop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self._safety is None:
            response.success, response.message = False, "the planner is not configured"
            return response
        response.success, response.message = self._safety.reset()
        self.get_logger().info(f"reset_estop: {response.message}")
        return response

    def _latest_pose(self) -> tuple[np.ndarray, np.ndarray] | None:
        with self._cond:
            if not self._poses:
                return None
            _, pos, quat = self._poses[-1]
            return pos.copy(), quat.copy()

    def _state_at(self, stamp_ns: int) -> np.ndarray | None:
        """The state nearest to ``stamp_ns`` once one at or after it arrived; None while waiting (hold _cond)."""
        if not self._poses or self._poses[-1][0] < stamp_ns:
            return None
        stamp, pos, quat = min(self._poses, key=lambda item: abs(item[0] - stamp_ns))
        if abs(stamp - stamp_ns) > self.settings.state_sync_tolerance_s * NS_PER_S:
            return None
        return state_from_pose(pos, quat, self._closure)

    # ------------------------------------------------------------------------------------------ goals
    def _on_goal(self, request: PlanToGoal.Goal) -> GoalResponse:
        if self.state_label != "active" or self._model is None:
            self.get_logger().warning(f"rejected a goal: the planner is {self.state_label}; configure and activate it")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_accepted(self, handle: ServerGoalHandle) -> None:
        job = _Job(handle)
        job.invalid = self._check_goal(handle.request)
        with self._jobs_lock:
            if not job.invalid:
                for other in list(self._jobs.values()):
                    other.control.stop(Outcome.CANCELED, "preempted by a newer goal")
                if self._current is not None:
                    self._halt_motion("preempted by a newer goal")
            self._jobs[bytes(handle.goal_id.uuid)] = job
        self._queue.put(job)
        handle.execute()

    def _on_cancel(self, handle: ServerGoalHandle) -> CancelResponse:
        with self._jobs_lock:
            job = self._jobs.get(bytes(handle.goal_id.uuid))
        if job is not None:
            job.control.stop(Outcome.CANCELED, "canceled by the client")
        return CancelResponse.ACCEPT

    def _execute(self, handle: ServerGoalHandle) -> PlanToGoal.Result:
        """Wait for the worker (this callback never plans itself), then report the outcome."""
        with self._jobs_lock:
            job = self._jobs[bytes(handle.goal_id.uuid)]
        while not job.done.wait(0.5):
            if self._closing.is_set():
                break
        with self._jobs_lock:
            self._jobs.pop(bytes(handle.goal_id.uuid), None)
        result = job.result or GoalResult(Outcome.ERROR, "the planner shut down")
        msg = PlanToGoal.Result(
            success=result.success,
            outcome=int(result.outcome),
            final_energy=float(result.final_energy),
            steps_executed=result.steps_executed,
            energy_history=[float(e) for e in result.energy_history],
            message=result.message,
        )
        if result.outcome == Outcome.REACHED:
            handle.succeed()
            self._stats["reached"] += 1
        elif result.outcome == Outcome.CANCELED and handle.is_cancel_requested:
            handle.canceled()
            self._stats["canceled"] += 1
        else:
            handle.abort()
            self._stats["aborted"] += 1
            self._last_abort = result.message
        text = f"goal finished ({result.outcome.name}): {result.message}"
        if result.outcome in (Outcome.REACHED, Outcome.MAX_STEPS):
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        return msg

    def _check_goal(self, goal: PlanToGoal.Goal) -> str:
        """Why this goal cannot run (bad images, embeddings, step list), or ''; cheap, runs at acceptance."""
        if goal.goal_images and goal.goal_embeddings:
            return "give goal_images or goal_embeddings, not both"
        count = len(goal.goal_images) or len(goal.goal_embeddings) or len(self._stored_goals)
        if not count:
            return "no goal: give goal_images or goal_embeddings, or set goals with ~/set_goal first"
        if goal.steps_per_goal and len(goal.steps_per_goal) != count:
            return (
                f"steps_per_goal has {len(goal.steps_per_goal)} entries for {count} goal(s); give one per goal or none"
            )
        for i, image in enumerate(goal.goal_images):
            reason = self._check_goal_image(image)
            if reason:
                return f"goal_images[{i}]: {reason}"
        for i, emb in enumerate(goal.goal_embeddings):
            try:
                self._model.check_embedding(emb.model_id, emb.dim, emb.grid, emb.num_tokens, f"goal_embeddings[{i}]")
                embedding_tokens(emb)
            except (EmbeddingMismatch, ValueError) as exc:
                return str(exc) if str(exc).startswith("goal_embeddings") else f"goal_embeddings[{i}]: {exc}"
        return ""

    def _check_goal_image(self, image: Image) -> str:
        try:
            rgb = image_to_rgb(image)
        except ImageConversionError as exc:
            return str(exc)
        camera = self._camera_rgb
        if camera is not None and rgb.shape != camera.shape:
            return (
                f"the goal image is {rgb.shape[1]}x{rgb.shape[0]} but the camera's frames are {camera.shape[1]}x"
                f"{camera.shape[0]}; take the goal with the planning camera (e.g. the simulator's ~/render_goal)"
            )
        return ""

    def _on_set_goal(self, request: SetGoal.Request, response: SetGoal.Response) -> SetGoal.Response:
        response.success = False
        if request.clear:
            self._stored_goals = []
            response.success, response.message = True, "goals cleared"
            return response
        if self._model is None:
            response.message = "the planner is not configured (no predictor loaded)"
            return response
        goal = PlanToGoal.Goal(goal_images=request.goal_images, goal_embeddings=request.goal_embeddings)
        if not (request.goal_images or request.goal_embeddings):
            response.message = "no goal: give goal_images or goal_embeddings (or clear: true)"
            return response
        reason = self._check_goal(goal)
        if not reason:
            try:
                self._stored_goals = self._resolve_goals(goal, GoalControl())
            except (LoopError, EmbeddingMismatch, GoalStopped) as exc:
                reason = str(exc)
        if reason:
            response.message = reason
            return response
        response.success, response.num_goals = True, len(self._stored_goals)
        response.message = f"{response.num_goals} goal(s) set; send a PlanToGoal goal without images to pursue them"
        return response

    def _resolve_goals(self, goal: PlanToGoal.Goal, control: GoalControl) -> list[_Goal]:
        """Token maps of the goal's images (encoded by the encoder node), embeddings, or the stored goals."""
        model = self._model
        if goal.goal_embeddings:
            out = []
            for emb in goal.goal_embeddings:
                tokens = embedding_tokens(emb)
                out.append(_Goal(tokens if emb.normalized else _layer_norm(tokens)))
            return out
        if not goal.goal_images:
            return list(self._stored_goals)
        out = []
        for i, image in enumerate(goal.goal_images):
            control.raise_if_stopped()
            request = EncodeImage.Request(images=[image], normalized=True, tokens=True, pooled=False)
            started = time.monotonic()
            response = self._encode(request, control, f"goal_images[{i}]")
            if not response.success:
                raise LoopError(f"the encoder rejected goal_images[{i}]: {response.message}")
            emb = response.embedding
            model.check_embedding(emb.model_id, emb.dim, emb.grid, emb.num_tokens, f"goal_images[{i}] (encoded)")
            out.append(_Goal(embedding_tokens(emb), image_to_rgb(image)))
            self.get_logger().info(f"goal_images[{i}] encoded by {emb.model_id} in {time.monotonic() - started:.2f} s")
        return out

    def _encode(self, request: EncodeImage.Request, control: GoalControl, what: str) -> EncodeImage.Response:
        """Call encode_image; a lost request (e.g. an encoder that just restarted) is sent again until
        service_timeout_s is spent."""
        deadline = time.monotonic() + self.settings.service_timeout_s
        while True:
            control.raise_if_stopped()
            remaining = deadline - time.monotonic()
            try:
                return call_service(self, self._encode_client, request, min(_ENCODE_ATTEMPT_S, max(remaining, 0.1)))
            except TimeoutError as exc:
                if time.monotonic() >= deadline:
                    raise LoopError(f"cannot encode {what}: {exc}") from exc
                self._warn(f"encode_image: {exc}; sending the request again", key="encode_retry")

    def _stop_all_goals(self, outcome: Outcome, reason: str) -> None:
        with self._jobs_lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.control.stop(outcome, reason)
        if jobs:
            self._halt_motion(reason)

    # ------------------------------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._jobs_lock:
                self._current = job
            try:
                job.result = self._run_job(job)
            except Exception as exc:  # a bug must end the goal with its reason, not the worker
                self.get_logger().error(f"goal failed: {type(exc).__name__}: {exc}")
                job.result = GoalResult(Outcome.ERROR, f"planner error: {type(exc).__name__}: {exc}")
            finally:
                self._watch = None
                with self._jobs_lock:
                    self._current = None
                job.done.set()

    def _run_job(self, job: _Job) -> GoalResult:
        self._stats["goals"] += 1
        if job.invalid:
            return GoalResult(Outcome.ERROR, f"goal rejected: {job.invalid}")
        if job.control.stopped:
            return GoalResult(job.control.outcome or Outcome.CANCELED, job.control.reason)
        if self._model is None:
            return GoalResult(Outcome.ERROR, "the planner is not configured")
        request = job.handle.request
        s = self.settings
        io = _NodeIO(self, job)
        try:
            io.feedback(Status(Phase.ENCODING, message="encoding the goal image(s)"))
            goals = self._resolve_goals(request, job.control)
        except GoalStopped:
            return GoalResult(job.control.outcome or Outcome.CANCELED, job.control.reason)
        except (LoopError, EmbeddingMismatch, ValueError) as exc:
            return GoalResult(Outcome.ERROR, str(exc))
        self._energies, self._goal_rgb = [], goals[-1].rgb
        settings = s.loop_settings(request.energy_tolerance, request.max_steps)
        self._tolerance = settings.energy_tolerance
        io.goals = goals
        result = run_goal(
            [g.tokens for g in goals],
            list(request.steps_per_goal),
            settings,
            self._model,
            self._safety,
            io,
            job.control,
        )
        phase = {Outcome.REACHED: Phase.SUCCEEDED, Outcome.CANCELED: Phase.CANCELED}.get(result.outcome, Phase.FAILED)
        io.feedback(Status(phase, step=result.steps_executed, energy=result.final_energy, message=result.message))
        return result

    # ------------------------------------------------------------------------------------------ motion
    def _publish_twist(self, linear: np.ndarray, angular: np.ndarray) -> None:
        msg = TwistStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.settings.base_frame
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(v) for v in linear)
        msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = (float(v) for v in angular)
        self._twist_pub.publish(msg)
        self._rates["twist"].tick()

    def _halt_motion(self, reason: str) -> None:
        """Stop whatever moves now (any thread): zero twists, the robot's stop service, a hold-here pose."""
        interface = self.settings.command_interface
        if self._streamer is not None:
            self._streamer.halt(reason)
        if interface == "servo_twist" and self._twist_pub is not None:
            self._publish_twist(np.zeros(3), np.zeros(3))
        if self._stop_client is not None and interface == "execute_action" and self._stop_client.service_is_ready():
            self._stop_client.call_async(Trigger.Request())
        if interface == "pose_target":
            pose = self._latest_pose()
            if pose is not None:
                self._pose_pub.publish(self._pose_msg(*pose))

    def _pose_msg(self, pos: np.ndarray, quat: np.ndarray) -> PoseStamped:
        msg = PoseStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.settings.base_frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in quat)
        return msg

    def _watch_inputs(self) -> None:
        """Watchdog: stale or missing inputs during a goal -> zero motion and the goal aborts with the reason."""
        while not self._closing.wait(_WATCHDOG_PERIOD_S):
            control, safety = self._watch, self._safety
            if control is None or safety is None or control.stopped:
                continue
            reason = safety.stale_reason(self._now_ns())
            if reason and control.stop(Outcome.ERROR, f"watchdog: {reason}"):
                self._halt_motion(reason)
                self.get_logger().error(f"watchdog: {reason}; motion stopped, goal aborted")

    # ------------------------------------------------------------------------------------------ feedback
    def publish_feedback(self, job: _Job, status: Status, plan: Plan | None, goal_rgb: np.ndarray | None) -> None:
        msg = PlannerStatus(
            state=int(status.phase),
            goal_index=status.goal_index,
            step=status.step,
            cem_iteration=status.cem_iteration,
            cem_iterations=status.cem_iterations,
            energy=float(status.energy),
            best_energy=float(status.best_energy),
            energy_per_iteration=[float(e) for e in status.energy_per_iteration],
            chosen_action=[float(v) for v in status.chosen_action],
            ee_state=[float(v) for v in status.ee_state],
            encode_time_s=float(status.encode_time_s),
            plan_time_s=float(status.plan_time_s),
            execute_time_s=float(status.execute_time_s),
            message=status.message,
        )
        msg.header.frame_id = self.settings.base_frame
        msg.header.stamp = ns_to_stamp(status.stamp_ns) if status.stamp_ns else self.get_clock().now().to_msg()
        self._status_pub.publish(msg)
        if job.handle.is_active:
            job.handle.publish_feedback(PlanToGoal.Feedback(status=msg))
        self._rates["feedback"].tick()
        if status.phase == Phase.PLANNING and status.cem_iteration == 0:  # a new observation
            self._energies.append(status.energy)
            if self.settings.publish_debug_image:
                picture = debug_image(self._camera_rgb, goal_rgb, self._energies, self._tolerance)
                self._debug_pub.publish(rgb_to_image(picture, msg.header.stamp, self.settings.base_frame))
        if status.phase == Phase.EXECUTING and status.execute_time_s == 0.0:  # about to be commanded
            self._planned_pub.publish(msg)  # the action after the safety layer (the only output of a dry run)
            if status.message.startswith("safety:"):
                self._warn(f"step {status.step}: {status.message}", key="clipped")
        if plan is not None and status.phase == Phase.EXECUTING and status.execute_time_s == 0.0:
            self._plan_latency.add(plan.seconds)
            if self._marker_pub is not None:
                self._marker_pub.publish(self._markers(status.ee_state, plan, msg.header.stamp))

    def _create_marker_publisher(self) -> Any:
        try:
            from visualization_msgs.msg import MarkerArray
        except ImportError:
            self.get_logger().warning(
                "publish_markers is true but visualization_msgs is not installed (pip install "
                "ros-jazzy-visualization-msgs, or apt ros-jazzy-visualization-msgs); ~/markers is not published"
            )
            return None
        return self.create_publisher(MarkerArray, "~/markers", 2)

    def _markers(self, state: np.ndarray, plan: Plan, stamp: Any) -> Any:
        from visualization_msgs.msg import Marker, MarkerArray

        frame = self.settings.base_frame
        path = Marker(ns="planned_path", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
        path.header.frame_id, path.header.stamp = frame, stamp
        path.scale.x = 0.005
        path.color = ColorRGBA(r=0.1, g=0.4, b=1.0, a=1.0)
        path.pose.orientation.w = 1.0
        path.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in planned_path(state, plan.actions)]
        elites = Marker(ns="elite_first_actions", id=1, type=Marker.LINE_LIST, action=Marker.ADD)
        elites.header.frame_id, elites.header.stamp = frame, stamp
        elites.scale.x = 0.002
        elites.color = ColorRGBA(r=1.0, g=0.5, b=0.0, a=0.6)
        elites.pose.orientation.w = 1.0
        start = Point(x=float(state[0]), y=float(state[1]), z=float(state[2]))
        for action in plan.elite_first_actions if plan.elite_first_actions is not None else plan.actions[:1]:
            elites.points += [
                start,
                Point(x=start.x + float(action[0]), y=start.y + float(action[1]), z=start.z + float(action[2])),
            ]
        return MarkerArray(markers=[path, elites])

    # ------------------------------------------------------------------------------------------ diagnostics
    def _planner_status(self) -> tuple[int, str, dict[str, object]]:
        with self._jobs_lock:
            current = self._current
        values: dict[str, object] = {
            "state": self.state_label,
            "model": self._model.model_id if self._model is not None else "",
            "command_interface": self.settings.command_interface,
            "goal_active": current is not None,
            **{f"{name}_rate_hz": f"{meter.rate():.1f}" for name, meter in self._rates.items()},
            "plan_time_p50_s": f"{self._plan_latency.percentile(50):.3f}",
            "plan_time_p95_s": f"{self._plan_latency.percentile(95):.3f}",
            "embedding_age_p50_ms": f"{self._encode_latency.percentile(50) * 1e3:.1f}",
            "embedding_age_p95_ms": f"{self._encode_latency.percentile(95) * 1e3:.1f}",
            "embedding_age_max_ms": f"{self._encode_latency.percentile(100) * 1e3:.1f}",
            **self._stats,
            "last_abort": self._last_abort,
        }
        with self._cond:
            mismatch = self._mismatch
            frame = self._frame
        if self.transition_error:
            return ERROR, self.transition_error, values
        if mismatch is not None and (frame is None or mismatch[0] > frame.received_ns):
            return ERROR, mismatch[1], values
        if self.state_label != "active":
            return OK, self.state_label, values
        return OK, "planning" if current is not None else "idle: waiting for a goal", values

    def _safety_status(self) -> tuple[int, str, dict[str, object]]:
        safety = self._safety
        if safety is None:
            return OK, "not configured", {}
        reason = safety.block_reason(self._now_ns())
        values: dict[str, object] = {"estop_latched": safety.estop_latched, **safety.snapshot()}
        if safety.estop_latched:
            return ERROR, reason or "e-stop latched", values
        if reason:
            return WARN, f"motion blocked: {reason}", values
        return OK, "motion allowed", values


class _NodeIO:
    """The loop's I/O for one goal (see :class:`~vjepa2_planner.loop.LoopIO`)."""

    def __init__(self, node: PlannerNode, job: _Job) -> None:
        self.node = node
        self.job = job
        self.goals: list[_Goal] = []
        self._goal_index = 0

    def now_ns(self) -> int:
        return self.node._now_ns()

    def feedback(self, status: Status, plan: Plan | None = None) -> None:
        self._goal_index = status.goal_index
        rgb = self.goals[status.goal_index].rgb if status.goal_index < len(self.goals) else None
        self.node.publish_feedback(self.job, status, plan, rgb)

    def observe(self, after_ns: int, control: GoalControl) -> Observation:
        node = self.node
        timeout = node.settings.observation_timeout_s
        deadline = time.monotonic() + timeout
        with node._cond:
            while True:
                control.raise_if_stopped()
                frame, mismatch = node._frame, node._mismatch
                if mismatch is not None and (frame is None or mismatch[0] > frame.received_ns):
                    raise LoopError(mismatch[1])
                if frame is not None and frame.stamp_ns > after_ns:
                    state = node._state_at(frame.stamp_ns)
                    if state is not None:
                        node._watch = control  # the watchdog guards this goal from its first observation on
                        return Observation(
                            frame.tokens, state, frame.stamp_ns, (frame.received_ns - frame.stamp_ns) / NS_PER_S
                        )
                if time.monotonic() > deadline:
                    what = (
                        "an embedding of a camera frame"
                        if frame is None or frame.stamp_ns <= after_ns
                        else "an end-effector state"
                    )
                    raise LoopError(
                        f"no {what} captured after the last motion settled within {timeout:g} s "
                        f"(observation_timeout_s); are the camera, the encoder node and the robot state running?"
                    )
                node._cond.wait(0.05)

    def execute(self, action: SafeAction, state: np.ndarray, control: GoalControl) -> Motion:
        node = self.node
        interface = node.settings.command_interface
        if interface == DRY_RUN:  # nothing moves: the next observation is just the next frame
            return Motion(settled=True, settled_ns=self.now_ns(), state=state, message="dry run: not executed")
        if interface == "execute_action":
            return self._execute_action(action, control)
        start, _ = node._safety.state()
        target = apply_action(start, action.action)
        if node._gripper_pub is not None and action.action[6] != 0.0:
            node._gripper_pub.publish(Float64(data=float(target[6])))
        quat = Rotation.from_euler("xyz", target[3:6]).as_quat()
        if interface == "servo_twist":
            outcome = node._streamer.run(
                target[:3], quat, node.settings.step_timeout_s, lambda: control.reason if control.stopped else None
            )
            control.raise_if_stopped()
            if not outcome.reached and node._safety.block_reason(self.now_ns()):
                raise GoalStopped(outcome.reason)
            message = "" if outcome.reached else outcome.reason
        else:
            node._pose_pub.publish(node._pose_msg(target[:3], quat))
            message = self._wait_pose(target[:3], quat, control)
        return self._settle(message)

    def _wait_pose(self, pos: np.ndarray, quat: np.ndarray, control: GoalControl) -> str:
        node, servo = self.node, self.node.settings.servo
        deadline = time.monotonic() + node.settings.step_timeout_s
        while not control.wait(0.01):
            pose = node._latest_pose()
            if pose is not None:
                dp, dr = pose_error(pos, quat, *pose)
                if np.linalg.norm(dp) <= servo.position_tolerance and np.linalg.norm(dr) <= servo.rotation_tolerance:
                    return ""
            if time.monotonic() > deadline:
                return f"pose target not reached within {node.settings.step_timeout_s:g} s"
        raise GoalStopped(control.reason)

    def _settle(self, message: str) -> Motion:
        """Wait settle_s for the arm to come to rest, on the state stream (not a sleep), then report."""
        node = self.node
        until = self.now_ns() + int(node.settings.servo.settle_s * NS_PER_S)
        with node._cond:
            node._cond.wait_for(
                lambda: bool(node._poses) and node._poses[-1][0] >= until,
                node.settings.stale_after_s + node.settings.servo.settle_s,
            )
        state, _ = node._safety.state()
        return Motion(settled=True, settled_ns=max(until, self.now_ns()), state=state, message=message)

    def _execute_action(self, action: SafeAction, control: GoalControl) -> Motion:
        node = self.node
        client = node._execute_client
        timeout = node.settings.step_timeout_s
        if not client.wait_for_service(timeout_sec=min(timeout, 5.0)):
            raise LoopError(f"service {client.srv_name} is not available; is the robot (or vjepa2_sim) running?")
        done = threading.Event()
        request = ExecuteAction.Request(action=[float(v) for v in action.action], timeout_s=float(timeout))
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        deadline = time.monotonic() + timeout + 2.0
        while not done.wait(0.01):
            if control.stopped:
                node._halt_motion(control.reason)
                done.wait(2.0)
                raise GoalStopped(control.reason)
            if time.monotonic() > deadline:
                client.remove_pending_request(future)
                node._halt_motion("execute_action timed out")
                raise LoopError(f"no response from {client.srv_name} within {timeout + 2.0:g} s")
        response = future.result()
        message = "" if response.success else f"execute_action: {response.message}"
        return Motion(
            settled=bool(response.settled), settled_ns=self.now_ns(), state=np.array(response.state), message=message
        )


def _layer_norm(tokens: np.ndarray) -> np.ndarray:
    import torch

    from vjepa2_core.inference import layer_norm_tokens

    return layer_norm_tokens(torch.from_numpy(tokens)).numpy()


def main(args: list[str] | None = None) -> int:
    return run_node(PlannerNode, args, num_threads=10)


if __name__ == "__main__":
    raise SystemExit(main())
