"""End-to-end latency and throughput of vjepa2_perception's encoder_node over DDS (per-frame mode).

For each configuration it saves random weights of the model to a temporary checkpoint (vjepa2_core format),
starts ``encoder_node`` in its own process (autostart, CPU) and, from this process:

* latency: publishes one sensor_msgs/Image (256x256 rgb8), waits for its Embedding (matched by stamp), and
  repeats: p50/p95 of publish -> embedding received (conversion, preprocessing, encoder, message, DDS);
* throughput: streams frames at ``--rate-hz`` (a 30 Hz camera by default) for a few encode times and
  counts embeddings per second: the encode rate the node sustains while a camera feeds it (it drops stale
  frames); a model faster than the camera shows about the camera rate.

Prints, per configuration: ``perception latency ms: p50 X p95 Y, throughput Z Hz``.

    source env.sh && python benchmarks/perception_latency.py                 # tiny + ViT-L fp32 + ViT-L bf16
    python benchmarks/perception_latency.py --configs tiny --frames 50

CPU timings on a shared machine vary run to run; compare configurations within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BenchConfig:
    name: str
    preset: str | None  # a vjepa2_core preset, or None for the tiny model
    dtype: str
    frames: int  # closed-loop latency samples


def configs(frames_tiny: int, frames_large: int) -> dict[str, BenchConfig]:
    return {
        "tiny": BenchConfig("tiny (embed 64, depth 2, heads 4)", None, "float32", frames_tiny),
        "vitl": BenchConfig("ViT-L (vit_large, random weights)", "vit_large", "float32", frames_large),
        "vitl-bf16": BenchConfig("ViT-L (vit_large, random weights)", "vit_large", "bfloat16", frames_large),
    }


def save_checkpoint(cfg: BenchConfig, directory: Path) -> Path:
    import torch

    from vjepa2_core.checkpoint import save_pretrained
    from vjepa2_core.models import EncoderConfig, VisionEncoder, encoder_preset

    torch.manual_seed(0)
    enc_cfg = (
        encoder_preset(cfg.preset) if cfg.preset else EncoderConfig(embed_dim=64, depth=2, num_heads=4, name="vit_tiny")
    )
    return save_pretrained(VisionEncoder(enc_cfg), directory / (cfg.preset or "vit_tiny"))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_config(cfg: BenchConfig, args: argparse.Namespace, ros: Any, log_dir: Path) -> str:
    from vjepa2_common.testing import ManagedProcess, executable_path, ros_args

    with tempfile.TemporaryDirectory(prefix="perception_bench_") as tmp:
        started = time.monotonic()
        checkpoint = save_checkpoint(cfg, Path(tmp))
        print(f"  checkpoint saved in {time.monotonic() - started:.1f} s", flush=True)
        params = {
            "model.checkpoint": str(checkpoint),
            "model.dtype": cfg.dtype,
            "crop_size": args.size,
            "autostart": True,
            "qos": "reliable",
            "output.tokens": True,
            "output.pooled": True,
        }
        cmd = [executable_path("vjepa2_perception", "encoder_node"), *ros_args(params=params, params_dir=Path(tmp))]
        node = ManagedProcess(cmd, log_dir / f"encoder_{cfg.preset or 'tiny'}_{cfg.dtype}.log")
        try:
            return measure(cfg, args, ros, node)
        finally:
            node.stop()


def measure(cfg: BenchConfig, args: argparse.Namespace, ros: Any, node: Any) -> str:
    """Closed-loop latency, then open-loop throughput, against the running ``node`` process."""
    from builtin_interfaces.msg import Time
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from vjepa2_common.image import rgb_to_image
    from vjepa2_common.messages import stamp_to_ns
    from vjepa2_common.tools.image_publisher import test_pattern
    from vjepa2_msgs.msg import Embedding

    arrivals: dict[int, float] = {}
    cond = threading.Condition()

    def on_embedding(msg: Embedding) -> None:
        with cond:
            arrivals[stamp_to_ns(msg.header.stamp)] = time.monotonic()
            cond.notify_all()

    sub = ros.node.create_subscription(Embedding, "/embedding", on_embedding, 10)
    pub = ros.node.create_publisher(Image, "/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    frames = [rgb_to_image(test_pattern(i, args.size, args.size)) for i in range(8)]
    try:
        deadline = time.monotonic() + args.startup_timeout
        while pub.get_subscription_count() < 1:  # the node subscribes once it is active (model loaded)
            if not node.alive() or time.monotonic() > deadline:
                raise RuntimeError("encoder_node did not become active:\n" + node.output()[-3000:])
            time.sleep(0.05)
        stamp = [1]

        def send() -> int:
            msg = frames[stamp[0] % len(frames)]
            msg.header.stamp = Time(sec=stamp[0])
            stamp[0] += 1
            pub.publish(msg)
            return stamp_to_ns(msg.header.stamp)

        def wait_for(key: int, timeout: float) -> float:
            with cond:
                if not cond.wait_for(lambda: key in arrivals, timeout):
                    raise RuntimeError(f"no embedding within {timeout:.0f} s:\n" + node.output()[-3000:])
                return arrivals[key]

        latencies = []
        for i in range(cfg.frames + 1):  # the first one is a warm-up
            sent = time.monotonic()
            arrived = wait_for(send(), args.frame_timeout)
            if i:
                latencies.append(arrived - sent)

        # throughput: stream faster than the encoder for ~frames encode times (at least 1 s)
        duration = max(1.0, cfg.frames * float(np.median(latencies)))
        with cond:
            arrivals.clear()
        end = time.monotonic() + duration
        last = 0
        while time.monotonic() < end:
            last = send()
            time.sleep(1.0 / args.rate_hz)
        wait_for(last, args.frame_timeout)  # the newest frame is always encoded
        with cond:
            times = sorted(arrivals.values())
        throughput = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
        return (
            f"perception latency ms: p50 {percentile(latencies, 50) * 1e3:.1f} "
            f"p95 {percentile(latencies, 95) * 1e3:.1f}, throughput {throughput:.2f} Hz"
        )
    finally:
        ros.node.destroy_subscription(sub)
        ros.node.destroy_publisher(pub)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="tiny,vitl,vitl-bf16", help="comma list of: tiny, vitl, vitl-bf16")
    parser.add_argument("--frames", type=int, default=40, help="latency samples for the tiny model")
    parser.add_argument("--frames-large", type=int, default=4, help="latency samples for ViT-L (slow on CPU)")
    parser.add_argument("--size", type=int, default=256, help="camera and crop size [px]")
    parser.add_argument("--rate-hz", type=float, default=30.0, help="camera rate of the throughput phase [Hz]")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="[s] to load the model and activate")
    parser.add_argument("--frame-timeout", type=float, default=120.0, help="[s] to wait for one embedding")
    args = parser.parse_args()

    table = configs(args.frames, args.frames_large)
    chosen = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in table]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; choose from {sorted(table)}")

    from vjepa2_common.dds import ensure_localhost_discovery

    ensure_localhost_discovery()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))  # stay out of others' way
    from vjepa2_common.testing import RosHarness

    print(
        f"encoder_node, per-frame mode, {args.size}x{args.size} rgb8 over DDS (throughput: input at "
        f"{args.rate_hz:.0f} Hz), CPU, "
        f"{os.cpu_count()} cores (shared with other work: expect run-to-run spread)",
        flush=True,
    )
    ros = RosHarness("perception_bench")
    try:
        with tempfile.TemporaryDirectory(prefix="perception_bench_logs_") as logs:
            for key in chosen:
                cfg = table[key]
                print(f"== {cfg.name}, {cfg.dtype}, {cfg.frames} frames", flush=True)
                print(run_config(cfg, args, ros, Path(logs)), flush=True)
    finally:
        ros.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
