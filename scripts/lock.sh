#!/usr/bin/env bash
# Re-pin requirements.txt from requirements.in in a throw-away venv (torch stays the CPU build here).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q -r "$ROOT/requirements.in"
{ sed -n '1,/^[^#]/p' "$ROOT/requirements.txt" | grep '^#'
  "$tmp/venv/bin/python" "$ROOT/scripts/pip_pins.py"
} > "$ROOT/requirements.txt"
echo "requirements.txt re-pinned ($(grep -c '==' "$ROOT/requirements.txt") packages)"
