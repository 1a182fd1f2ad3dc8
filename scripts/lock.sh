#!/usr/bin/env bash
# Re-pin requirements.txt from requirements.in in a throw-away venv (torch stays the CPU build here).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q -r "$ROOT/requirements.in"
{ sed -n '1,/^setuptools==/p' "$ROOT/requirements.txt" | grep '^#'
  echo "setuptools==$("$tmp/venv/bin/python" -c 'import setuptools; print(setuptools.__version__)')"
  "$tmp/venv/bin/pip" freeze | grep -vE '^(-e|pip==)' | sed -E 's/^torch==([0-9.]+)\+cpu$/torch==\1/'
} > "$ROOT/requirements.txt"
echo "requirements.txt re-pinned ($(grep -c '==' "$ROOT/requirements.txt") packages)"
