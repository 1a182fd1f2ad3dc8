"""make demo: the simulated Franka and the V-JEPA 2 encoder node, end to end over ROS 2 (what runs today).

It starts the ``sim`` graph (simulated Franka + V-JEPA 2 encoder node + planner node) with the same runner as
``vjepa2-launch``, asks the simulator for a goal image (the camera view with the end effector elsewhere),
has the encoder node embed it (``~/encode_image``), then drives the arm towards the goal with blocking
``~/execute_action`` calls while the encoder embeds the live camera. After every step it prints the V-JEPA 2
energy between the observation and the goal (the quantity the CEM planner will minimise) and the distance to
the goal pose, and it writes a picture (goal, start, end, energy curve) under ``outputs/demo/``.

The motions are scripted: a straight-line controller that knows the goal pose; the graph's CEM planner
node (which chooses motions from V-JEPA 2-AC predictions when sent a ``PlanToGoal`` goal) is not used here.
With ``model.checkpoint: random`` the encoder is untrained, so the energy only shows the wiring; give real
weights in a parameter file: ``make demo DEMO_ARGS="--params-file FILE"``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from vjepa2_common import names
from vjepa2_common.dds import ensure_localhost_discovery
from vjepa2_common.messages import call_service, embedding_tokens, stamp_to_ns

TIMEOUT_S = 120.0  # model loading (ViT-L) and the first frames on a busy 2-core machine


class DemoClient:
    """An rclpy node in this process with the few calls the demo makes."""

    def __init__(self) -> None:
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from vjepa2_common.executors import ResponsiveExecutor
        from vjepa2_common.qos import qos_from_name
        from vjepa2_msgs.msg import Embedding

        rclpy.init()
        self.node = rclpy.create_node("vjepa2_demo")
        self._cond = threading.Condition()
        self.pose: np.ndarray | None = None
        self.orientation: Any = None
        self.image: Any = None
        self.embeddings: list[Any] = []
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(PoseStamped, names.CURRENT_POSE_TOPIC, self._on_pose, best_effort)
        self.node.create_subscription(Image, names.CAMERA_IMAGE_TOPIC, self._on_image, qos_from_name("sensor_data"))
        self.node.create_subscription(Embedding, names.EMBEDDING_TOPIC, self._on_embedding, 10)
        self.executor = ResponsiveExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _notify(self, attr: str, value: Any) -> None:
        with self._cond:
            if attr == "embeddings":
                self.embeddings = [*self.embeddings[-20:], value]
            else:
                setattr(self, attr, value)
            self._cond.notify_all()

    def _on_pose(self, msg: Any) -> None:
        p = msg.pose.position
        self.orientation = msg.pose.orientation
        self._notify("pose", np.array([p.x, p.y, p.z]))

    def _on_image(self, msg: Any) -> None:
        self._notify("image", msg)

    def _on_embedding(self, msg: Any) -> None:
        self._notify("embeddings", msg)

    def wait(self, predicate: Any, what: str, timeout: float = TIMEOUT_S) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"demo: no {what} within {timeout:.0f} s")

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = TIMEOUT_S) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            return call_service(self.node, client, request, timeout)
        finally:
            self.node.destroy_client(client)

    def embedding_after(self, stamp_ns: int) -> np.ndarray:
        """Tokens of the first embedding of a camera frame taken after ``stamp_ns``."""

        def fresh() -> list[Any]:
            return [e for e in self.embeddings if stamp_to_ns(e.header.stamp) > stamp_ns]

        self.wait(lambda: bool(fresh()), "embedding of a new camera frame")
        return embedding_tokens(fresh()[0])

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def energy(tokens: np.ndarray, goal: np.ndarray) -> float:
    """V-JEPA 2-AC energy of two token maps ``[N, D]``: :func:`vjepa2_core.planning.energy`, the planner's."""
    import torch

    from vjepa2_core.planning import energy as planning_energy

    return float(planning_energy(torch.from_numpy(tokens)[None], torch.from_numpy(goal))[0])


def save_figure(
    path: Path,
    goal: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    energies: list[float],
    errors_cm: list[float],
    model_id: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 4), gridspec_kw={"width_ratios": [1, 1, 1, 1.4]})
    for ax, image, title in zip(axes[:3], (goal, start, end), ("goal image", "start", "after the last step")):
        ax.imshow(image)
        ax.set_title(title)
        ax.axis("off")
    steps = range(len(energies))
    axes[3].plot(steps, energies, "o-", color="tab:blue", label="V-JEPA 2 energy to the goal")
    axes[3].set_xlabel("step")
    axes[3].set_xticks(list(steps))
    axes[3].set_ylabel("energy (mean |Δ| of layer-normed tokens)", color="tab:blue")
    twin = axes[3].twinx()
    twin.plot(steps, errors_cm, "s--", color="tab:orange", label="distance to goal pose")
    twin.set_ylabel("distance to the goal pose [cm]", color="tab:orange")
    weights = "random encoder weights" if model_id.endswith(":random") else f"encoder {model_id}"
    axes[3].set_title(f"scripted straight-line motion to the goal; {weights}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(opts: argparse.Namespace) -> int:
    from std_srvs.srv import SetBool

    from vjepa2.graphs import get_graph
    from vjepa2.runner import GraphRunner
    from vjepa2_common.image import image_to_rgb
    from vjepa2_msgs.srv import EncodeImage, ExecuteAction, RenderGoal

    overrides = {"params_file": opts.params_file} if opts.params_file else {}
    client = DemoClient()
    with tempfile.TemporaryDirectory() as tmp:
        runner = GraphRunner(get_graph("sim").nodes(overrides), Path(tmp))
        runner.start()
        try:
            print("demo: waiting for the simulated Franka and the encoder (loading the model) ...", flush=True)
            client.call(SetBool, names.SIM_RESET_SERVICE, SetBool.Request(data=False))  # nominal layout
            client.wait(lambda: client.pose is not None and client.image is not None, "robot state and camera")
            client.wait(lambda: bool(client.embeddings), "embedding: is the encoder node active?")
            start_pose = client.pose.copy()
            goal_pose = start_pose + np.array(opts.offset)

            request = RenderGoal.Request(gripper=-1.0)
            request.pose.header.frame_id = names.BASE_FRAME
            request.pose.pose.position.x, request.pose.pose.position.y, request.pose.pose.position.z = goal_pose
            request.pose.pose.orientation = client.orientation  # same orientation: the demo moves in xyz only
            goal = client.call(RenderGoal, names.SIM_RENDER_GOAL_SERVICE, request)
            if not goal.success:
                raise RuntimeError(f"demo: the simulator could not render the goal: {goal.message}")
            encoded = client.call(
                EncodeImage,
                names.ENCODE_IMAGE_SERVICE,
                EncodeImage.Request(images=[goal.image], normalized=True, tokens=True),
            )
            if not encoded.success:
                raise RuntimeError(f"demo: the encoder could not embed the goal: {encoded.message}")
            e = encoded.embedding
            goal_tokens = embedding_tokens(e)
            print(f"demo: goal image embedded by {e.model_id}: {e.num_tokens} tokens x {e.dim}", flush=True)

            start_image = image_to_rgb(client.image)
            energies = [energy(client.embedding_after(client.now_ns()), goal_tokens)]
            errors_cm = [100 * float(np.linalg.norm(goal_pose - client.pose))]
            print(f"demo: step 0: energy {energies[0]:.4f}, {errors_cm[0]:.1f} cm from the goal pose", flush=True)
            for step in range(1, opts.steps + 1):
                delta = (goal_pose - client.pose) / (opts.steps - step + 1)
                result = client.call(
                    ExecuteAction,
                    names.SIM_EXECUTE_ACTION_SERVICE,
                    ExecuteAction.Request(action=[*delta.tolist(), 0.0, 0.0, 0.0, 0.0]),
                )
                if not result.settled:
                    print(f"demo: step {step}: {result.message}", flush=True)
                done_ns = client.now_ns()
                energies.append(energy(client.embedding_after(done_ns), goal_tokens))
                errors_cm.append(100 * float(np.linalg.norm(goal_pose - np.array(result.state[:3]))))
                print(
                    f"demo: step {step}: moved {np.round(100 * delta, 1).tolist()} cm, energy "
                    f"{energies[-1]:.4f}, {errors_cm[-1]:.1f} cm from the goal pose",
                    flush=True,
                )
            end_image = image_to_rgb(client.image)
        finally:
            runner.stop()
            client.close()
    figure = Path(opts.out) / "demo.png"
    save_figure(figure, image_to_rgb(goal.image), start_image, end_image, energies, errors_cm, e.model_id)
    print(
        f"demo: energy {energies[0]:.4f} -> {energies[-1]:.4f} while the end effector went "
        f"{errors_cm[0]:.1f} -> {errors_cm[-1]:.1f} cm from the goal; picture: {figure}"
    )
    return 0 if energies[-1] < energies[0] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="blocking motions towards the goal")
    parser.add_argument(
        "--offset",
        type=float,
        nargs=3,
        default=(0.08, -0.12, -0.12),
        metavar=("DX", "DY", "DZ"),
        help="goal position relative to the start [m] (base frame)",
    )
    parser.add_argument(
        "--params-file", default="", help="parameter file for the sim graph instead of vjepa2/config/sim.yaml"
    )
    parser.add_argument("--out", default="outputs/demo", help="where the picture goes")
    opts = parser.parse_args(argv)
    ensure_localhost_discovery()
    started = time.monotonic()
    try:
        code = run(opts)
    except (RuntimeError, TimeoutError) as exc:
        print(exc)
        return 1
    print(f"demo: finished in {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
