"""The command line shared by the training entry points (``vjepa2-pretrain``, ``vjepa2-train-ac``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from vjepa2_core.checkpoint import CheckpointError

from ..config_io import ConfigError, load_yaml
from ..data.episodes import DatasetError
from .checkpointing import CheckpointLoadError
from .trainer import TrainResult

C = TypeVar("C")

# what a bad config, dataset or checkpoint raises: reported as one line, exit status 2
TRAINING_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    DatasetError,
    CheckpointLoadError,
    CheckpointError,
    ValueError,
    FileNotFoundError,
    FloatingPointError,
)


def training_main(
    argv: list[str] | None,
    prog: str,
    description: str,
    config_type: type[C],
    train: Callable[[C], TrainResult],
) -> int:
    """``prog --config x.yaml [--set KEY=VALUE ...]``: load ``config_type`` from YAML and run ``train`` on it.

    Returns 0 when the run completed, 3 when it stopped early (signal; resume by running it again) and 2 after
    printing one error line for a bad config, dataset or checkpoint.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", required=True, help=f"YAML {config_type.__name__}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_yaml(config_type, args.config, args.set)
        result = train(cfg)
    except TRAINING_ERRORS as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0 if result.completed else 3
