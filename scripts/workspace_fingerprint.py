#!/usr/bin/env python3
"""Print a fingerprint of what `colcon build --symlink-install` reads: setup.sh skips the build when it is unchanged.

Covered: every file of every colcon package (a directory with package.xml and no COLCON_IGNORE) by path and
content — package.xml, setup.py, setup.cfg, CMakeLists.txt, msg/srv/action, resource/, launch/, config/,
README.md, new files in any of them — except what the symlink install does not copy: Python package
directories (the build links the directory itself, so edits and new modules need no rebuild), ``test/`` and
caches. Extra strings given on the command line (the dependency fingerprint, the interpreter) are mixed in.

    python scripts/workspace_fingerprint.py ROOT [EXTRA ...]
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: directories never part of a package's build inputs
SKIPPED_DIRS = {"test", "__pycache__", ".pytest_cache", ".ruff_cache", ".git"}
#: colcon's own output folders at the workspace root
WORKSPACE_OUTPUTS = {"build", "install", "log"}


def package_dirs(root: Path) -> Iterator[Path]:
    """colcon packages under ``root``, sorted: directories with package.xml, outside COLCON_IGNORE'd trees."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if "COLCON_IGNORE" in filenames:
            dirnames.clear()
            continue
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and not (here == root and d in WORKSPACE_OUTPUTS) and d not in SKIPPED_DIRS
        )
        if "package.xml" in filenames:
            dirnames.clear()  # no nested packages
            yield here


def build_inputs(package: Path) -> Iterator[Path]:
    """The files of ``package`` a symlink-install build copies or generates from, sorted."""
    for dirpath, dirnames, filenames in os.walk(package):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIPPED_DIRS and not d.endswith(".egg-info") and not (here / d / "__init__.py").exists()
        )
        for name in sorted(filenames):
            if not name.endswith(".pyc"):
                yield here / name


def fingerprint(root: Path, extra: list[str] = ()) -> str:
    digest = hashlib.sha256()
    for value in extra:
        digest.update(f"extra {value}\0".encode())
    for package in package_dirs(root):
        for path in build_inputs(package):
            digest.update(f"{path.relative_to(root)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    print(fingerprint(Path(sys.argv[1]).resolve(), sys.argv[2:]))
