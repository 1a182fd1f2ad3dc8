"""package://PKG/PATH parameters (vjepa2_common.paths): the installed share directory, the source-tree fallback,
and one clear error naming the package and every path looked at."""

from __future__ import annotations

from pathlib import Path

import pytest

import vjepa2_common.paths as paths
from vjepa2_common.paths import PackagePathError, resolve_path, split_package_url


def test_plain_paths_pass_through() -> None:
    assert resolve_path("/data/vitg.pt") == "/data/vitg.pt"
    assert resolve_path("~/w.pt") == str(Path.home() / "w.pt")
    assert resolve_path("random") == "random" and resolve_path("") == ""


def test_installed_file_resolves_to_the_share_directory() -> None:
    from ament_index_python.packages import get_package_share_directory

    resolved = resolve_path("package://vjepa2/config/sim.yaml")
    assert resolved == str(Path(get_package_share_directory("vjepa2"), "config", "sim.yaml"))
    assert Path(resolved).is_file()


def test_source_tree_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the install lacks (e.g. weights dropped in after the last build) and a package never built."""
    monkeypatch.setattr(paths, "SOURCE_ROOT", tmp_path)
    for package in ("vjepa2", "vjepa2_not_built"):
        (tmp_path / package / "models").mkdir(parents=True)
        (tmp_path / package / "package.xml").write_text("<package/>")
        (tmp_path / package / "models" / "w.safetensors").write_bytes(b"x")
        assert resolve_path(f"package://{package}/models/w.safetensors") == str(
            tmp_path / package / "models" / "w.safetensors"
        )


def test_missing_and_malformed_give_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PackagePathError) as missing:
        resolve_path("package://vjepa2/models/demo/nope.safetensors")
    text = str(missing.value)
    assert "package 'vjepa2' has no file 'models/demo/nope.safetensors'" in text
    assert "share/vjepa2/models/demo/nope.safetensors" in text  # where it looked
    monkeypatch.setattr(paths, "SOURCE_ROOT", tmp_path)
    with pytest.raises(PackagePathError, match=r"package 'no_such_pkg' is neither installed .* nor in the source tree"):
        resolve_path("package://no_such_pkg/a.pt")
    for bad in (
        "package://",
        "package://vjepa2",
        "package://vjepa2/",
        "package://vjepa2//etc/x",
        "package://vjepa2/../x",
    ):
        with pytest.raises(ValueError, match="malformed"):
            split_package_url(bad)
