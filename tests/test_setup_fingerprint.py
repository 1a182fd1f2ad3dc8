"""make setup skips colcon build only when no build input changed (scripts/workspace_fingerprint.py)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "workspace_fingerprint.py"
spec = importlib.util.spec_from_file_location("workspace_fingerprint", SCRIPT)
workspace_fingerprint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(workspace_fingerprint)


def copy_package(name: str, dst: Path) -> Path:
    shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dst / name


def test_interface_and_data_file_changes_rebuild_python_edits_do_not(tmp_path: Path) -> None:
    msgs, bringup = copy_package("vjepa2_msgs", tmp_path), copy_package("vjepa2", tmp_path)
    copy_package("vjepa2_core", tmp_path)  # COLCON_IGNORE: not a build input
    (tmp_path / "build" / "x").mkdir(parents=True)  # colcon's outputs are not inputs either
    (tmp_path / "build" / "x" / "package.xml").write_text("<package/>")

    def fp() -> str:
        return workspace_fingerprint.fingerprint(tmp_path)

    before = fp()
    assert fp() == before
    # --symlink-install links the Python package directory: edits and new modules need no rebuild
    (bringup / "vjepa2" / "runner.py").write_text("# edited\n")
    (bringup / "vjepa2" / "new_module.py").write_text("X = 1\n")
    (bringup / "test" / "test_new.py").write_text("")
    (tmp_path / "vjepa2_core" / "vjepa2_core" / "x.py").write_text("")
    assert fp() == before

    for change in (
        lambda: (msgs / "msg" / "Embedding.msg").write_text((msgs / "msg" / "Embedding.msg").read_text() + "uint8 x\n"),
        lambda: (msgs / "srv" / "New.srv").write_text("---\n"),
        lambda: (bringup / "config" / "new.yaml").write_text("{}\n"),  # a new file of data_files
        lambda: (bringup / "launch" / "plan.launch.py").write_text("# edited\n"),
        lambda: (bringup / "setup.py").write_text((bringup / "setup.py").read_text() + "\n"),
        lambda: (bringup / "package.xml").write_text((bringup / "package.xml").read_text() + "\n"),
        lambda: copy_package("vjepa2_planner", tmp_path),  # a new package
    ):
        change()
        after = fp()
        assert after != before
        before = after
    assert workspace_fingerprint.fingerprint(tmp_path, ["deps 2"]) != before  # new dependencies rebuild


def test_the_script_runs_on_this_workspace() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), str(ROOT)], capture_output=True, text=True, check=True)
    assert len(out.stdout.strip()) == 16
