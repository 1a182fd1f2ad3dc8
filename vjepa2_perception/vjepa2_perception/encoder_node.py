"""``encoder_node``: camera topics in, V-JEPA 2 embeddings (and probe classes) out; a lifecycle node.

Threads: image callbacks (their own callback group) only decode into a bounded buffer; a worker thread takes
the newest frames (per-frame mode) or the newest clip (clip mode), encodes and publishes; the encode service
has its own callback group; a lock around the model serialises the worker and the service. The executor is
never blocked by inference.

Lifecycle: configure loads the model (a bad checkpoint fails the transition with a logged reason, the node
stays unconfigured and can be configured again); activate subscribes and starts the worker (reloading the
model if deactivate released it); deactivate stops both and, with ``release_on_deactivate``, frees the model;
cleanup frees everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from vjepa2_common.diagnostics import ERROR, OK, WARN, LatencyStats, RateMeter
from vjepa2_common.image import ImageConversionError, compressed_to_rgb, image_to_rgb
from vjepa2_common.lifecycle import ManagedNode
from vjepa2_common.messages import embedding_msg, float32_array, stamp_to_ns
from vjepa2_common.node import run_node
from vjepa2_common.params import declare_parameters, namespace, param, read_parameters
from vjepa2_common.qos import QOS_CHOICES, qos_from_name
from vjepa2_core.crop_defaults import AC_MAX_ASPECT, AC_MIN_ASPECT
from vjepa2_core.devices import CANONICAL_DTYPES
from vjepa2_msgs.msg import Classification, Embedding
from vjepa2_msgs.srv import EncodeImage

from .buffers import ClipWindow, Frame, LatestFrames

if TYPE_CHECKING:
    from .model import ModelSpec

NODE_NAME = "vjepa2_encoder"
MODES = ("per_frame", "clip")
INPUTS = ("raw", "compressed", "both")
RAW_TOPIC = "image"
COMPRESSED_TOPIC = "image/compressed"
DTYPE_CHOICES = CANONICAL_DTYPES
PREPROCESSING_CHOICES = ("auto", "ac", "video")


@dataclass
class ClipParams:
    num_frames: int = param(
        16, "clip: frames per clip (a multiple of the tubelet size, 2)", min=2, max=256, configure=True
    )
    fps: float = param(
        4.0, "clip: sampling rate of clip frames by header stamp [Hz]", min=0.1, max=240.0, configure=True
    )
    stride: int = param(1, "clip: new sampled frames between successive clips", min=1, max=256, configure=True)


@dataclass
class ModelParams:
    checkpoint: str = param(
        "",
        "Encoder weights: official .pt, HF model directory or vjepa2_core checkpoint (format detected); 'random' = "
        "random weights of model.preset (demos only)",
        configure=True,
    )
    preset: str = param(
        "auto",
        "Encoder size: auto = inferred from the weights (vit_large for 'random'); or vit_large, vit_huge, vit_giant, "
        "vit_giant_384, which the weights must match",
        configure=True,
    )
    device: str = param("cpu", "Torch device: cpu, cuda or cuda:N", configure=True)
    dtype: str = param(
        "float32",
        "Weights and compute dtype (bfloat16 is fast on CPUs with AMX and on GPUs)",
        choices=DTYPE_CHOICES,
        configure=True,
    )
    torch_threads: int = param(0, "torch intra-op threads; 0 = torch's default", min=0, max=256, configure=True)


@dataclass
class OutputParams:
    tokens: bool = param(True, "Publish the full token map [num_tokens, dim]")
    pooled: bool = param(True, "Publish the mean over tokens [dim]")
    normalize: bool = param(
        False, "Affine-free LayerNorm over dim before publishing (what V-JEPA 2-AC and the planner use)"
    )


@dataclass
class ProbeParams:
    checkpoint: str = param(
        "", "Attentive-probe classifier weights (official, HF or ours); empty = no classification", configure=True
    )
    labels: str = param(
        "",
        "Label file: one label per line, or JSON (list, id->name or name->id); empty = the names stored in a "
        "vjepa2-train-probe probe, else class ids",
        configure=True,
    )
    top_k: int = param(5, "Classes per Classification message", min=1, max=1000)
    num_heads: int = param(
        0, "Heads of an official probe file; 0 = 16 (the released probes)", min=0, max=64, configure=True
    )


@dataclass
class EncoderParams:
    """Parameters of ``encoder_node`` (``autostart`` and ``diagnostics_period_s`` come from ManagedNode)."""

    mode: str = param(
        "per_frame",
        "per_frame: every frame is one 2-frame tubelet (V-JEPA 2-AC); clip: clip.num_frames frames sampled at "
        "clip.fps (video understanding)",
        choices=MODES,
        configure=True,
    )
    input: str = param(
        "raw",
        "Subscribe to 'image' (sensor_msgs/Image), 'image/compressed' (sensor_msgs/CompressedImage, jpeg/png) or both",
        choices=INPUTS,
        configure=True,
    )
    qos: str = param(
        "sensor_data",
        "QoS of the image subscriptions (sensor_data = best effort; use reliable for reliable-only publishers, e.g. "
        "some bag players)",
        choices=QOS_CHOICES,
        configure=True,
    )
    qos_depth: int = param(1, "History depth of the image subscriptions", min=1, max=100, configure=True)
    queue_size: int = param(
        1,
        "per_frame: frames kept for the encoder (oldest dropped first); all held frames are encoded as one batch",
        min=1,
        max=64,
        configure=True,
    )
    clip: ClipParams = namespace(ClipParams)
    model: ModelParams = namespace(ModelParams)
    preprocessing: str = param(
        "auto",
        "ac: DROID/V-JEPA 2-AC aspect crop + squash resize; video: short-side resize + centre crop (eval); auto: ac "
        "in per_frame, video in clip mode",
        choices=PREPROCESSING_CHOICES,
        configure=True,
    )
    crop_size: int = param(256, "Encoder input size in pixels (a multiple of 16)", min=16, max=1024, configure=True)
    ac_max_aspect: float = param(
        AC_MAX_ASPECT,
        "ac preprocessing: frames wider than this width/height ratio are centre-cropped to it before the square "
        "resize (1.35: the official V-JEPA 2-AC crop; n keeps n square views side by side whole, e.g. 2.0 for the "
        "sim's stereo camera)",
        min=AC_MIN_ASPECT,
        max=16.0,
        configure=True,
    )
    output: OutputParams = namespace(OutputParams)
    probe: ProbeParams = namespace(ProbeParams)
    warmup: bool = param(True, "Run one dummy encode on activate (first calls are slow)", configure=True)
    release_on_deactivate: bool = param(
        True,
        "Free the model on deactivate (activate reloads it); false keeps it for a fast re-activate and for "
        "~/encode_image while inactive",
        configure=True,
    )

    def resolved_preprocessing(self) -> str:
        """``preprocessing`` with ``auto`` resolved by ``mode``: ac per frame, video for clips."""
        if self.preprocessing != "auto":
            return self.preprocessing
        return "ac" if self.mode == "per_frame" else "video"

    def model_spec(self) -> ModelSpec:
        """What configure loads (ROS-free, for ROS-free users too: ``benchmarks/reach.py``): a
        :class:`~vjepa2_perception.model.ModelSpec` of the model, preprocessing and probe parameters."""
        from .model import ModelSpec

        return ModelSpec(
            checkpoint=self.model.checkpoint,
            preset=self.model.preset,
            device=self.model.device,
            dtype=self.model.dtype,
            preprocessing=self.resolved_preprocessing(),
            crop_size=self.crop_size,
            ac_max_aspect=self.ac_max_aspect,
            probe_checkpoint=self.probe.checkpoint,
            probe_labels=self.probe.labels,
            probe_num_heads=self.probe.num_heads,
        )


_WARN_THROTTLE_S = 5.0
_NO_INPUT_WARN_S = 5.0


class EncoderNode(ManagedNode):
    """Lifecycle node ``vjepa2_encoder``; see the package README for topics, services and parameters."""

    def __init__(self, **kwargs: Any) -> None:
        # ManagedNode: the lifecycle services run in their own callback group, so a long model load in
        # configure leaves the default group (diagnostics timer, parameter services) running.
        super().__init__(NODE_NAME, **kwargs)
        self._settings = declare_parameters(self, EncoderParams, frozen_state=self.configured_state)
        self._preprocessing = ""  # the resolved preprocessing of the configured model (ac or video)
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._service_group = MutuallyExclusiveCallbackGroup()

        self._model_lock = threading.Lock()  # held while the model runs and while it is (un)loaded
        self._model: Any = None  # PerceptionModel once configured (imported lazily: torch is slow to import)
        self._buffer: LatestFrames | ClipWindow | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._subscriptions_active: list[Any] = []
        self._embedding_pub: Any = None
        self._classification_pub: Any = None

        self._input_rate = RateMeter()
        self._output_rate = RateMeter()
        self._encode_latency = LatencyStats()
        self._pipeline_latency = LatencyStats()
        self._counts = {"encoded": 0, "published": 0, "rejected": 0, "errors": 0}
        self._last_input_s: float | None = None
        self._last_rejection = ""
        self._last_rejection_s: float | None = None
        self._last_error = ""
        self._stats_lock = threading.Lock()

        self.create_service(EncodeImage, "~/encode_image", self._on_encode_image, callback_group=self._service_group)
        self.diagnostics.add("encoder", self._status)

    # ------------------------------------------------------------------------------------------ parameters
    def _read_settings(self) -> EncoderParams:
        settings = read_parameters(self, EncoderParams)
        if settings.mode == "clip" and settings.clip.num_frames % 2:
            raise ValueError(f"clip.num_frames is {settings.clip.num_frames}; it must be even (2-frame tubelets)")
        if settings.crop_size % 16:
            raise ValueError(f"crop_size is {settings.crop_size}; it must be a multiple of 16 (the patch size)")
        return settings

    # ------------------------------------------------------------------------------------------ lifecycle
    def do_configure(self) -> None:
        settings = self._settings = self._read_settings()
        self._preprocessing = settings.resolved_preprocessing()
        self._load_model()
        self._embedding_pub = self.create_lifecycle_publisher(Embedding, "embedding", self._output_qos())
        if settings.probe.checkpoint:
            self._classification_pub = self.create_lifecycle_publisher(
                Classification, "classification", self._output_qos()
            )
        if settings.mode == "per_frame":
            self._buffer = LatestFrames(settings.queue_size)
        else:
            self._buffer = ClipWindow(settings.clip.num_frames, settings.clip.fps, settings.clip.stride)
        self.get_logger().info(
            f"configured: {self._model.model_id} on {settings.model.device} ({settings.model.dtype}), mode "
            f"{settings.mode}, preprocessing {self._preprocessing} {settings.crop_size}px"
        )

    def do_activate(self) -> None:
        settings = self._settings
        if self._model is None:
            self._load_model()
        if settings.warmup:
            self._warm_up()
        self._buffer.reopen()
        self._buffer.clear()
        qos = qos_from_name(settings.qos, settings.qos_depth)
        if settings.input in ("raw", "both"):
            self._subscriptions_active.append(
                self.create_subscription(Image, RAW_TOPIC, self._on_image, qos, callback_group=self._input_group)
            )
        if settings.input in ("compressed", "both"):
            self._subscriptions_active.append(
                self.create_subscription(
                    CompressedImage, COMPRESSED_TOPIC, self._on_compressed, qos, callback_group=self._input_group
                )
            )
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="vjepa2_encoder_worker", daemon=True)
        self._worker.start()
        topics = ", ".join(s.topic_name for s in self._subscriptions_active)
        self.get_logger().info(f"active: encoding {topics} ({settings.qos} QoS)")

    def do_deactivate(self) -> None:
        self._stop_streaming()
        if self._settings.release_on_deactivate:
            self._release_model()
        self.get_logger().info("inactive" + (" (model released)" if self._model is None else ""))

    def do_cleanup(self) -> None:
        self._teardown()
        self.get_logger().info("unconfigured")

    def destroy_node(self) -> None:
        self._stop_streaming()
        self._release_model()
        super().destroy_node()

    def _teardown(self) -> None:
        self._stop_streaming()
        self._release_model()
        for pub in (self._embedding_pub, self._classification_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._embedding_pub = self._classification_pub = None
        self._buffer = None

    def _output_qos(self) -> QoSProfile:
        return QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)

    # ------------------------------------------------------------------------------------------ model
    def _load_model(self) -> None:
        """Load the model from the configured settings and swap it in under the model lock (ModelLoadError)."""
        from .model import PerceptionModel

        s = self._settings
        if s.model.torch_threads:
            import torch

            torch.set_num_threads(s.model.torch_threads)
        started = time.monotonic()
        model = PerceptionModel(s.model_spec())
        with self._model_lock:
            self._model = model
        if s.model.checkpoint == "random":
            self.get_logger().warning("model.checkpoint is 'random': the embeddings come from untrained weights")
        self.get_logger().info(f"loaded {model.model_id} in {time.monotonic() - started:.1f} s")

    def _release_model(self) -> None:
        with self._model_lock:  # waits for a running encode (worker or service) to finish
            model, self._model = self._model, None
        if model is not None:
            model.release()

    def _warm_up(self) -> None:
        settings = self._settings
        frames = [np.zeros((settings.crop_size, settings.crop_size, 3), np.uint8)] * (
            settings.clip.num_frames if settings.mode == "clip" else 1
        )
        with self._model_lock:
            if settings.mode == "clip":
                self._model.encode_clip(frames)
            else:
                self._model.encode_frames(frames)

    # ------------------------------------------------------------------------------------------ input
    def _on_image(self, msg: Image) -> None:
        self._accept(msg.header, lambda: image_to_rgb(msg), RAW_TOPIC)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._accept(msg.header, lambda: compressed_to_rgb(msg), COMPRESSED_TOPIC)

    def _accept(self, header: Header, decode: Any, topic: str) -> None:
        """Decode a frame the buffer wants and add it; reject undecodable ones with a throttled warning."""
        received = time.monotonic()
        self._input_rate.tick(received)
        self._last_input_s = received
        buffer = self._buffer
        if buffer is None:
            return
        stamp = stamp_to_ns(header.stamp) or self.get_clock().now().nanoseconds
        if not buffer.offer(stamp):
            return
        try:
            rgb = decode()
        except Exception as exc:  # ImageConversionError, or a decoder failing on hostile data: never end the node
            with self._stats_lock:
                self._counts["rejected"] += 1
                self._last_rejection, self._last_rejection_s = f"{topic}: {exc}", received
                rejected = self._counts["rejected"]
            self.get_logger().warning(
                f"rejected an image on '{topic}' ({rejected} so far): {exc}", throttle_duration_sec=_WARN_THROTTLE_S
            )
            return
        buffer.add(Frame(rgb=rgb, header=header, stamp_ns=stamp, received_s=received))

    # ------------------------------------------------------------------------------------------ worker
    def _stop_streaming(self) -> None:
        for sub in self._subscriptions_active:
            self.destroy_subscription(sub)
        self._subscriptions_active = []
        self._stop.set()
        if self._buffer is not None:
            self._buffer.close()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self._buffer is not None:
            self._buffer.clear()

    def _work(self) -> None:
        buffer = self._buffer
        clip_mode = self._settings.mode == "clip"
        while not self._stop.is_set():
            frames = buffer.take(timeout=0.5)
            if not frames:
                continue
            try:
                self._encode_and_publish(frames, clip_mode)
            except Exception as exc:  # keep the stream alive; reported in log + diagnostics
                if not self.context.ok():  # SIGINT/SIGTERM shut the context down under us: just stop
                    break
                with self._stats_lock:
                    self._counts["errors"] += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                self.get_logger().error(f"encoding failed: {exc}", throttle_duration_sec=_WARN_THROTTLE_S)

    def _encode_and_publish(self, frames: list[Frame], clip_mode: bool) -> None:
        started = time.monotonic()
        with self._model_lock:
            model = self._model
            if model is None:
                return
            rgbs = [f.rgb for f in frames]
            if clip_mode:
                outputs = [(model.encode_clip(rgbs), frames)]
            else:
                outputs = [(tokens, [frame]) for tokens, frame in zip(model.encode_frames(rgbs), frames)]
            classes = None
            if clip_mode and self._classification_pub is not None:
                classes = model.classify(outputs[0][0], self.get_parameter("probe.top_k").value)
            elif self._classification_pub is not None:
                classes = [model.classify(tokens, self.get_parameter("probe.top_k").value) for tokens, _ in outputs]
        encode_s = time.monotonic() - started
        self._encode_latency.add(encode_s)
        for i, (tokens, source) in enumerate(outputs):
            self._embedding_pub.publish(self._embedding(model, tokens, source))
            if classes is not None:
                ids, scores = classes if clip_mode else classes[i]
                self._classification_pub.publish(self._classification(model, source[-1].header, ids, scores))
        done = time.monotonic()
        for _, source in outputs:
            self._pipeline_latency.add(done - source[-1].received_s)
            self._output_rate.tick(done)
        with self._stats_lock:
            self._counts["encoded"] += len(frames)
            self._counts["published"] += len(outputs)

    # ------------------------------------------------------------------------------------------ messages
    def _embedding(self, model: Any, tokens: np.ndarray, frames: Sequence[Frame]) -> Embedding:
        return make_embedding(
            model,
            tokens,
            [f.header for f in frames],
            tokens_out=self.get_parameter("output.tokens").value,
            pooled_out=self.get_parameter("output.pooled").value,
            normalize=self.get_parameter("output.normalize").value,
        )

    @staticmethod
    def _classification(model: Any, header: Header, ids: np.ndarray, scores: np.ndarray) -> Classification:
        msg = Classification(header=header, model_id=model.model_id)
        msg.class_ids = [int(i) for i in ids]
        msg.labels = [model.label(int(i)) for i in ids]
        msg.scores = float32_array(scores)
        return msg

    # ------------------------------------------------------------------------------------------ service
    def _on_encode_image(self, request: EncodeImage.Request, response: EncodeImage.Response) -> EncodeImage.Response:
        response.success = False
        if not request.images:
            response.message = "no images in the request; send one image (per-frame) or an even number (a clip)"
            return response
        if not (request.tokens or request.pooled):
            response.message = "nothing requested: set tokens and/or pooled to true"
            return response
        rgbs = []
        for index, image in enumerate(request.images):
            try:
                rgbs.append(image_to_rgb(image))
            except ImageConversionError as exc:
                response.message = f"images[{index}]: {exc}"
                return response
        with self._model_lock:
            model = self._model
            if model is None:
                response.message = (
                    f"no model loaded (the node is {self.state_label}); configure it (and "
                    "activate it, if release_on_deactivate is true) first"
                )
                return response
            try:
                tokens = model.encode_frames(rgbs)[0] if len(rgbs) == 1 else model.encode_clip(rgbs)
            except ValueError as exc:
                response.message = str(exc)
                return response
            except Exception as exc:  # e.g. a RuntimeError for a huge allocation: answer, never end the node
                reason = " ".join(str(exc).split())[:300]
                with self._stats_lock:
                    self._counts["errors"] += 1
                    self._last_error = f"{type(exc).__name__}: {reason}"
                self.get_logger().error(f"~/encode_image failed: {type(exc).__name__}: {reason}")
                response.message = f"encoding failed ({type(exc).__name__}): {reason}"
                return response
        try:
            response.embedding = make_embedding(
                model,
                tokens,
                [image.header for image in request.images],
                tokens_out=request.tokens,
                pooled_out=request.pooled,
                normalize=request.normalized,
            )
        except Exception as exc:
            response.message = f"could not build the embedding ({type(exc).__name__}): {exc}"
            return response
        response.success = True
        response.message = f"encoded {len(rgbs)} image(s) with {model.model_id}"
        return response

    # ------------------------------------------------------------------------------------------ diagnostics
    def _status(self) -> tuple[int, str, dict[str, object]]:
        state = self.state_label
        buffer = self._buffer
        stats = buffer.stats() if buffer is not None else None
        model = self._model
        with self._stats_lock:
            counts = dict(self._counts)
            last_rejection, last_rejection_s = self._last_rejection, self._last_rejection_s
            last_error = self._last_error
        now = time.monotonic()
        values: dict[str, object] = {
            "state": state,
            "model_loaded": model is not None,
            "model_id": model.model_id if model is not None else "",
            "mode": self._settings.mode,
            "device": self._settings.model.device,
            "dtype": self._settings.model.dtype,
            "input_rate_hz": f"{self._input_rate.rate(now):.2f}",
            "output_rate_hz": f"{self._output_rate.rate(now):.2f}",
            "encode_latency_p50_ms": f"{self._encode_latency.percentile(50) * 1e3:.1f}",
            "encode_latency_p95_ms": f"{self._encode_latency.percentile(95) * 1e3:.1f}",
            "pipeline_latency_p50_ms": f"{self._pipeline_latency.percentile(50) * 1e3:.1f}",
            "pipeline_latency_p95_ms": f"{self._pipeline_latency.percentile(95) * 1e3:.1f}",
            "queue_size": stats.size if stats else 0,
            "queue_capacity": stats.capacity if stats else 0,
            "queue_max_size": stats.max_size if stats else 0,
            "frames_received": stats.received if stats else 0,
            "frames_skipped": stats.skipped if stats else 0,
            "dropped": stats.dropped if stats else 0,
            "frames_encoded": counts["encoded"],
            "messages_published": counts["published"],
            "frames_rejected": counts["rejected"],
            "last_rejection": last_rejection,
            "encode_errors": counts["errors"],
            "last_error": last_error,
        }
        if self.transition_error:
            return ERROR, self.transition_error, values
        if state != "active":
            return OK, state, values
        if self._last_input_s is None or now - self._last_input_s > _NO_INPUT_WARN_S:
            topics = ", ".join(s.topic_name for s in self._subscriptions_active)
            return (
                WARN,
                (
                    f"no images on {topics} for {_NO_INPUT_WARN_S:.0f} s (check the topic remapping and that "
                    f"the publisher's QoS is compatible with '{self._settings.qos}')"
                ),
                values,
            )
        if last_rejection_s is not None and now - last_rejection_s < _NO_INPUT_WARN_S:
            return WARN, f"rejecting images: {last_rejection}", values
        if last_error:
            return WARN, f"encoding failed: {last_error}", values
        return OK, f"encoding at {self._output_rate.rate(now):.1f} Hz", values


def make_embedding(
    model: Any, tokens: np.ndarray, headers: Sequence[Header], *, tokens_out: bool, pooled_out: bool, normalize: bool
) -> Embedding:
    """An Embedding for ``tokens`` [N, D] of the frames with ``headers`` (oldest first; the newest stamps it)."""
    from .model import normalize_tokens

    if normalize:
        tokens = normalize_tokens(tokens)
    return embedding_msg(
        tokens,
        headers,
        model_id=model.model_id,
        grid=model.grid(len(headers)),
        normalized=normalize,
        tokens_out=tokens_out,
        pooled_out=pooled_out,
    )


def main(args: list[str] | None = None) -> int:
    return run_node(EncoderNode, args, num_threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
