"""Stamp <-> ns, Embedding <-> numpy (through a real DDS round trip) and the blocking service call."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from vjepa2_common import names
from vjepa2_common.messages import (
    call_service,
    embedding_msg,
    embedding_pooled,
    embedding_tokens,
    ns_to_stamp,
    stamp_to_ns,
)
from vjepa2_common.testing import RosHarness

pytest.importorskip("vjepa2_msgs", reason="the workspace is not built (make setup)")
from vjepa2_msgs.msg import Embedding


def test_stamp_round_trip() -> None:
    for ns in (0, 1, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789):
        stamp = ns_to_stamp(ns)
        assert isinstance(stamp, Time) and stamp.nanosec < 1_000_000_000 and stamp_to_ns(stamp) == ns
    with pytest.raises(ValueError, match="negative"):
        ns_to_stamp(-1)


def test_embedding_round_trip_over_dds(ros: RosHarness) -> None:
    rng = np.random.default_rng(0)
    tokens = rng.standard_normal((6, 4)).astype(np.float32)
    headers = [Header(stamp=ns_to_stamp(10), frame_id="cam"), Header(stamp=ns_to_stamp(20), frame_id="cam")]
    msg = embedding_msg(tokens, headers, model_id="vit_tiny:test", grid=(1, 2, 3), normalized=True)
    assert stamp_to_ns(msg.header.stamp) == 20 and msg.num_frames == 2 and list(msg.grid) == [1, 2, 3]
    received = ros.collect(Embedding, "/test_embedding")
    ros.publisher(Embedding, "/test_embedding", subscribers=1).publish(msg)
    (echo,) = received.wait_for(1)
    np.testing.assert_array_equal(embedding_tokens(echo), tokens)
    np.testing.assert_allclose(embedding_pooled(echo), tokens.mean(axis=0), rtol=1e-6)

    with pytest.raises(ValueError, match="do not match the grid"):
        embedding_msg(tokens, headers, model_id="m", grid=(1, 2, 2), normalized=False)
    pooled_only = embedding_msg(tokens, headers, model_id="m", grid=(1, 2, 3), normalized=False, tokens_out=False)
    with pytest.raises(ValueError, match="carries no tokens"):
        embedding_tokens(pooled_only)
    pooled_only.num_tokens = 7
    pooled_only.tokens = tokens.ravel().tolist()
    with pytest.raises(ValueError, match="not num_tokens x dim"):
        embedding_tokens(pooled_only)


def test_call_service_answers_and_times_out_naming_the_service(ros: RosHarness) -> None:
    release = threading.Event()

    def slow(request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        release.wait(10.0)
        response.success = True
        return response

    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

    ros.node.create_service(Trigger, "/slow_trigger", slow, callback_group=MutuallyExclusiveCallbackGroup())
    client = ros.node.create_client(Trigger, "/slow_trigger")
    with pytest.raises(TimeoutError, match=r"no response from /slow_trigger within 0\.3 s"):
        call_service(ros.node, client, Trigger.Request(), timeout_s=0.3)
    release.set()
    assert call_service(ros.node, client, Trigger.Request(), timeout_s=10.0).success
    missing = ros.node.create_client(Trigger, "/nobody_serves_this")
    with pytest.raises(TimeoutError, match=r"service /nobody_serves_this did not appear within 0\.2 s"):
        call_service(ros.node, missing, Trigger.Request(), timeout_s=0.2)


def test_names_are_absolute_ros_names() -> None:
    from rclpy.validate_topic_name import validate_topic_name

    topics = {k: v for k, v in vars(names).items() if k.endswith(("_TOPIC", "_SERVICE"))}
    assert len(topics) > 10
    for value in topics.values():
        assert value.startswith("/") and validate_topic_name(value)
