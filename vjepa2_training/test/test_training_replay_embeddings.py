"""Replay reproduces perception: the simulated Franka's camera is embedded live while vjepa2-record records it;
vjepa2-play then plays the bag (recorded stamps) into a second encoder node with the same weights, and every
recorded frame gets the embedding it got live, under the same stamp."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader

from vjepa2_common.messages import embedding_tokens, stamp_to_ns
from vjepa2_common.testing import Collector, executable_path, ros_args
from vjepa2_core.checkpoint import save_pretrained
from vjepa2_core.models import EncoderConfig, VisionEncoder

pytest.importorskip("vjepa2_sim.sim_node", reason="vjepa2_sim is not installed")

CROP = 64
FRAMES = 24
START_TIMEOUT = 300.0  # MuJoCo and two torch processes starting at once on two busy cores (load 10-15 seen)
IMAGE = "/camera/image_raw"
REPLAYED = "/replay/camera/image_raw"


def encoder(launcher, checkpoint: Path, namespace: str, image_topic: str):
    params = {
        "model.checkpoint": str(checkpoint),
        "crop_size": CROP,
        "autostart": True,
        "qos": "reliable",  # the sim and the player publish reliably: no frame is lost on the way
        "qos_depth": 50,
        "queue_size": 32,  # no frame is dropped before the encoder (a tiny model keeps up anyway)
        "output.normalize": False,
        "model.torch_threads": 1,
    }
    args = ros_args("vjepa2_encoder", namespace, params, remaps={"image": image_topic}, params_dir=launcher.tmp_dir)
    cmd = [sys.executable, executable_path("vjepa2_perception", "encoder_node"), *args]
    return launcher.start(cmd, label=f"encoder{namespace.replace('/', '_')}")


def by_stamp(messages) -> dict[int, object]:
    out = {}
    for msg in messages:
        stamp = stamp_to_ns(msg.header.stamp)
        assert stamp not in out, f"two embeddings of the frame stamped {stamp}"
        out[stamp] = msg
    return out


def test_replayed_bag_gives_the_live_embeddings(ros, launcher, tmp_path: Path) -> None:
    from vjepa2_msgs.msg import Embedding

    torch.manual_seed(0)
    tiny = save_pretrained(
        VisionEncoder(EncoderConfig(embed_dim=32, depth=1, num_heads=2, img_size=CROP, name="vit_tiny")),
        tmp_path / "tiny",
    )
    live = Collector()
    ros.node.create_subscription(Embedding, "/embedding", live, 200)
    replayed = Collector()
    ros.node.create_subscription(Embedding, "/replay/embedding", replayed, 200)

    sim = launcher.module(
        "vjepa2_sim.sim_node",
        *ros_args(
            "franka_sim",
            params={
                "image_width": CROP,
                "image_height": CROP,
                "render_geometry": "collision",
                "randomize": False,
                "image_qos": "reliable",
                "camera_rate": 10.0,
            },
            remaps={"exterior/image_raw": "camera/image_raw"},
            params_dir=tmp_path,
        ),
    )
    live_encoder = encoder(launcher, tiny, "", IMAGE)
    replay_encoder = encoder(launcher, tiny, "/replay", REPLAYED)  # loads while the live run goes on
    sim.wait_for_output("simulated Franka ready", START_TIMEOUT)
    live.wait_for(3, timeout=START_TIMEOUT)  # the live encoder embeds the camera

    bag = tmp_path / "sim_bag"
    rec = launcher.module(
        "vjepa2_training.data.recorder_node",
        "-o",
        str(bag),
        "--max-frames",
        str(FRAMES),
        "--command-topic",
        "",
    )
    assert rec.proc.wait(START_TIMEOUT) == 0, rec.output()[-2000:]
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == IMAGE]
        messages = reader.messages(connections=conns)
        recorded = [stamp_to_ns(reader.deserialize(raw, c.msgtype).header.stamp) for c, _, raw in messages]
    assert len(recorded) == FRAMES
    live.wait_for(1, predicate=lambda m: stamp_to_ns(m.header.stamp) >= recorded[-1], timeout=120.0)
    sim.stop()  # the live run is over
    live_encoder.stop()

    replay_encoder.wait_for_output("active: encoding", START_TIMEOUT)
    player = launcher.module(
        "vjepa2_training.data.bag_player",
        str(bag),
        "--remap",
        f"{IMAGE}:={REPLAYED}",
        "--wait-for-subscribers",
        REPLAYED,
        "--exit-when-done",
    )
    assert player.proc.wait(START_TIMEOUT) == 0, player.output()[-2000:]
    replayed.wait_for(FRAMES, timeout=120.0)

    live_by_stamp, replay_by_stamp = by_stamp(live.messages), by_stamp(replayed.messages)
    assert sorted(replay_by_stamp) == recorded  # every recorded frame, once, under its recorded stamp
    missing = [s for s in recorded if s not in live_by_stamp]
    assert not missing, f"{len(missing)} recorded frames were not embedded live"
    worst = 0.0
    for stamp in recorded:
        a, b = live_by_stamp[stamp], replay_by_stamp[stamp]
        assert (a.model_id, list(a.grid), a.dim) == (b.model_id, list(b.grid), b.dim)
        assert [stamp_to_ns(s) for s in a.frame_stamps] == [stamp_to_ns(s) for s in b.frame_stamps]
        np.testing.assert_allclose(embedding_tokens(b), embedding_tokens(a), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(b.pooled), np.asarray(a.pooled), rtol=1e-5, atol=1e-5)
        worst = max(worst, float(np.abs(embedding_tokens(b) - embedding_tokens(a)).max()))
    print(f"{FRAMES} frames: replayed embeddings equal the live ones (largest token difference {worst:.2e})")
