"""File parameters that name a file shipped in a package: ``package://PKG/RELATIVE/PATH``.

``resolve_path("package://vjepa2/models/demo/encoder.safetensors")`` is that file in the ``vjepa2`` package's
installed share directory (``ament_index_python``; what ``setup.py`` ``data_files`` installs), or, where the
workspace runs from its source tree without it (the file not installed, e.g. weights dropped in after the last
``colcon build``), ``<source root>/PKG/RELATIVE/PATH`` — the checkout this module is in. Any other value is a
plain path (``~`` expanded). The encoder and planner nodes resolve their checkpoint parameters with it, so
parameter files can name the weights shipped in the repository (``vjepa2/models/demo/``) on any machine.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_SCHEME = "package://"
#: the checkout's root when this module runs from a source tree (vjepa2_common/vjepa2_common/paths.py)
SOURCE_ROOT = Path(__file__).resolve().parents[2]


class PackagePathError(FileNotFoundError):
    """A ``package://`` path names no existing file; the message names the package and the paths looked at."""


def split_package_url(value: str) -> tuple[str, str]:
    """(package, relative path) of ``package://PKG/REL``; ValueError for anything else or a malformed one."""
    if not value.startswith(PACKAGE_SCHEME):
        raise ValueError(f"'{value}' is not a {PACKAGE_SCHEME}PACKAGE/PATH path")
    package, _, relative = value[len(PACKAGE_SCHEME) :].partition("/")
    if not package or not relative or relative.startswith("/") or ".." in Path(relative).parts:
        raise ValueError(
            f"'{value}' is malformed; write {PACKAGE_SCHEME}PACKAGE/PATH with a path inside the package "
            f"(e.g. {PACKAGE_SCHEME}vjepa2/models/demo/encoder.safetensors)"
        )
    return package, relative


def package_candidates(package: str, relative: str) -> list[Path]:
    """Where ``package://package/relative`` may be: the installed share directory, then the source tree."""
    candidates = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            candidates.append(Path(get_package_share_directory(package)) / relative)
        except (PackageNotFoundError, ValueError):
            pass
    except ImportError:  # no ROS 2 Python environment: only the source tree
        pass
    if (SOURCE_ROOT / package / "package.xml").is_file():
        candidates.append(SOURCE_ROOT / package / relative)
    return candidates


def resolve_path(value: str) -> str:
    """A file parameter's path: ``package://PKG/REL`` resolved (PackagePathError if no such file), else
    ``value`` with ``~`` expanded (existence is the caller's check)."""
    if not value.startswith(PACKAGE_SCHEME):
        return str(Path(value).expanduser()) if value else value
    package, relative = split_package_url(value)
    candidates = package_candidates(package, relative)
    for path in candidates:
        if path.exists():
            return str(path)
    if not candidates:
        raise PackagePathError(
            f"'{value}': package '{package}' is neither installed (ament index; source env.sh after make setup) "
            f"nor in the source tree {SOURCE_ROOT}"
        )
    raise PackagePathError(
        f"'{value}': package '{package}' has no file '{relative}' (looked at {', '.join(map(str, candidates))})"
    )
