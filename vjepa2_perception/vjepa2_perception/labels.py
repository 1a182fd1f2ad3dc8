"""Class names of probe classifiers: label files (one label per line, or JSON: a list, or a name/id mapping), or
the ``labels`` a probe exported by ``vjepa2-train-probe`` carries in its JSON config."""

from __future__ import annotations

import json
from pathlib import Path


class LabelFileError(ValueError):
    """A label file that cannot be read or does not fit the classifier; the message says why."""


def load_labels(path: str | Path, num_classes: int | None = None) -> list[str]:
    """Read class names, index = class id.

    Accepted formats (chosen by content, not by suffix):

    * text: one label per line; blank lines and lines starting with ``#`` are ignored;
    * JSON list: ``["pushing", "pulling", ...]``;
    * JSON object, either ``{"0": "pushing", ...}`` (id -> name) or ``{"pushing": 0, ...}`` (name -> id, the
      layout of the SSv2 ``labels.json``). Ids must cover 0..N-1 exactly once.

    With ``num_classes``, the number of labels must match it.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelFileError(f"cannot read label file '{path}': {exc.strerror or exc}") from exc
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        labels = _labels_from_json(path, text)
    else:
        labels = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not labels:
        raise LabelFileError(f"label file '{path}' has no labels")
    if num_classes is not None and len(labels) != num_classes:
        raise LabelFileError(
            f"label file '{path}' has {len(labels)} labels but the classifier has {num_classes} classes; "
            "give the label file of the probe you loaded"
        )
    return labels


def checkpoint_labels(path: str | Path, num_classes: int) -> list[str] | None:
    """The label names stored in a vjepa2_core probe (``metadata.labels`` of ``NAME.json`` /
    ``vjepa2_config.json``), or None when the checkpoint has none (official and HF probes, other exports)."""
    from vjepa2_core.checkpoint import CheckpointError, detect_format
    from vjepa2_core.checkpoint.common import read_json
    from vjepa2_core.checkpoint.ours import pair_paths

    path = Path(path).expanduser()
    try:
        if detect_format(path) != "ours":
            return None
        metadata = read_json(pair_paths(path)[1]).get("metadata")
    except CheckpointError as exc:
        raise LabelFileError(str(exc)) from exc
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    if labels is None:
        return None
    if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
        raise LabelFileError(f"probe '{path}': metadata.labels must be a list of strings")
    if len(labels) != num_classes:
        raise LabelFileError(
            f"probe '{path}' names {len(labels)} labels in its metadata but has {num_classes} classes; re-export it"
        )
    return labels


def _labels_from_json(path: Path, text: str) -> list[str]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelFileError(f"label file '{path}' is not valid JSON: {exc}") from exc
    if isinstance(doc, list):
        if not all(isinstance(v, str) for v in doc):
            raise LabelFileError(f"label file '{path}': a JSON list must hold strings only")
        return list(doc)
    if not isinstance(doc, dict) or not doc:
        raise LabelFileError(f"label file '{path}': expected a JSON list or object of labels")
    try:
        if all(_is_int(k) for k in doc) and all(isinstance(v, str) for v in doc.values()):  # {"0": "name"}
            by_id = {int(k): v for k, v in doc.items()}
        else:  # {"name": 0} or {"name": "0"} (SSv2's labels.json)
            by_id = {int(v): k for k, v in doc.items()}
    except (TypeError, ValueError) as exc:
        raise LabelFileError(f"label file '{path}': ids must be integers ({exc})") from exc
    if sorted(by_id) != list(range(len(doc))):
        raise LabelFileError(f"label file '{path}': ids must be 0..{len(doc) - 1}, each exactly once")
    return [by_id[i] for i in range(len(doc))]


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
