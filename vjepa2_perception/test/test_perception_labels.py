"""Probe label files: text, JSON list, id->name and name->id (SSv2 layout); clear errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vjepa2_perception.labels import LabelFileError, load_labels


@pytest.mark.parametrize(
    "content",
    [
        "# SSv2 subset\npushing\n\npulling\n  nothing  \n",
        json.dumps(["pushing", "pulling", "nothing"]),
        json.dumps({"0": "pushing", "2": "nothing", "1": "pulling"}),
        json.dumps({"pulling": "1", "pushing": "0", "nothing": "2"}),  # SSv2's labels.json: name -> id as text
        json.dumps({"pulling": 1, "pushing": 0, "nothing": 2}),
    ],
)
def test_label_formats(tmp_path: Path, content: str) -> None:
    path = tmp_path / "labels"
    path.write_text(content)
    assert load_labels(path, num_classes=3) == ["pushing", "pulling", "nothing"]


@pytest.mark.parametrize(
    "content,match",
    [
        ("a\nb\n", "has 2 labels but the classifier has 3 classes"),
        ("", "has no labels"),
        ("[1, 2, 3]", "must hold strings only"),
        ('{"a": 0, "b": 2, "c": 3}', "ids must be 0..2"),
        ('{"a": "x"}', "ids must be integers"),
        ('["a",', "not valid JSON"),
    ],
)
def test_bad_label_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "labels.txt"
    path.write_text(content)
    with pytest.raises(LabelFileError, match=match):
        load_labels(path, num_classes=3)


def test_missing_label_file(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match=r"cannot read label file .*nope\.txt"):
        load_labels(tmp_path / "nope.txt")
