"""Shared message helpers: header stamps <-> nanoseconds, ``Embedding`` <-> numpy, a blocking service call."""

from __future__ import annotations

import array
import importlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

NS_PER_S = 1_000_000_000
#: what each ROS interface kind is called in messages
_INTERFACE_KINDS = {"msg": "message", "srv": "service", "action": "action"}


def interface_class(type_name: str, kind: str = "msg") -> Any:
    """The rclpy class of the interface ``pkg/<kind>/Name`` (kind ``msg``, ``srv`` or ``action``); ValueError saying
    what is wrong (the shape, or that its package is not built or sourced)."""
    word = _INTERFACE_KINDS[kind]
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != kind or not all(parts):
        raise ValueError(f"{word} type must look like 'pkg/{kind}/Name', got {type_name!r}")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.{kind}"), parts[2])
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"cannot import {word} type {type_name!r} ({err}); is its package built and sourced?") from err


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (or anything with ``sec`` and ``nanosec``)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(ns: int, stamp_type: Any = None) -> Any:
    """A ``builtin_interfaces/Time`` (or ``stamp_type``, e.g. a rosbags type) for ``ns`` >= 0 nanoseconds."""
    if stamp_type is None:
        from builtin_interfaces.msg import Time as stamp_type
    if ns < 0:
        raise ValueError(f"a stamp cannot be negative (got {ns} ns)")
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return stamp_type(sec=sec, nanosec=nanosec)


def float32_array(values: np.ndarray) -> array.array:
    """A float32 ``array.array`` (what rclpy stores without a per-element Python check) from a numpy array."""
    out = array.array("f")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    return out


def embedding_msg(
    tokens: np.ndarray,
    headers: Sequence[Any],
    *,
    model_id: str,
    grid: Sequence[int],
    normalized: bool,
    tokens_out: bool = True,
    pooled_out: bool = True,
) -> Any:
    """A ``vjepa2_msgs/Embedding`` for ``tokens`` [N, D] of the frames with ``headers`` (oldest first).

    The newest header stamps the message; ``grid`` (tubelets, rows, cols) must multiply to N; ``normalized``
    says whether ``tokens`` are already layer-normed (this function does not normalise).
    """
    from vjepa2_msgs.msg import Embedding

    if tokens.ndim != 2 or int(np.prod(grid)) != tokens.shape[0]:
        raise ValueError(f"tokens of shape {tokens.shape} do not match the grid {list(grid)}")
    msg = Embedding(
        header=headers[-1],
        model_id=model_id,
        num_frames=len(headers),
        frame_stamps=[h.stamp for h in headers],
        grid=[int(g) for g in grid],
        num_tokens=int(tokens.shape[0]),
        dim=int(tokens.shape[1]),
        normalized=bool(normalized),
    )
    if tokens_out:
        msg.tokens = float32_array(tokens)
    if pooled_out:
        msg.pooled = float32_array(tokens.mean(axis=0))
    return msg


def embedding_tokens(msg: Any) -> np.ndarray:
    """The token map [num_tokens, dim] (float32) of an ``Embedding``; ValueError when it has none or is malformed."""
    values = np.asarray(msg.tokens, np.float32)
    if values.size == 0:
        raise ValueError(f"embedding from {msg.model_id!r} carries no tokens (the encoder's output.tokens is false)")
    if values.size != msg.num_tokens * msg.dim:
        raise ValueError(f"embedding has {values.size} token values, not num_tokens x dim = {msg.num_tokens}x{msg.dim}")
    return values.reshape(msg.num_tokens, msg.dim)


def embedding_pooled(msg: Any) -> np.ndarray:
    """The pooled vector [dim] (float32) of an ``Embedding``; ValueError when it has none or is malformed."""
    values = np.asarray(msg.pooled, np.float32)
    if values.size != msg.dim or values.size == 0:
        raise ValueError(f"embedding carries {values.size} pooled values, not dim = {msg.dim}")
    return values


def call_service(node: Any, client: Any, request: Any, timeout_s: float, *, attempts: int = 1) -> Any:
    """Call ``client``'s service and block until the response; TimeoutError naming the service after ``timeout_s``.

    Waits for the service to appear first (within the same ``timeout_s``). ``node`` must be spun by an
    executor in another thread; never call this from one of ``node``'s own callbacks in a
    mutually exclusive group that the response needs.

    ``attempts`` > 1 re-sends the request when a reply does not come within ``timeout_s / attempts``: only for
    idempotent requests (e.g. ``get_state``). Right after discovery, DDS can drop a reply because the server has
    not matched the client's response reader yet ("failed to send response (timeout)").
    """
    import time

    deadline = time.monotonic() + timeout_s
    if not client.wait_for_service(timeout_sec=timeout_s):
        raise TimeoutError(
            f"service {client.srv_name} did not appear within {timeout_s:g} s; is its node running (on this "
            "ROS_DOMAIN_ID)?"
        )
    attempts = max(1, attempts)
    for attempt in range(attempts):
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f, done=done: done.set())
        left = max(0.0, deadline - time.monotonic())
        if done.wait(left / (attempts - attempt)):
            return future.result()
        client.remove_pending_request(future)
    raise TimeoutError(f"no response from {client.srv_name} within {timeout_s:g} s (node {node.get_name()})")
