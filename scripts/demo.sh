#!/usr/bin/env bash
# make demo: runs the most complete path of the planning loop that works today.
# Today: the camera_relay graph for a few seconds, checked by a subscriber (the set-up smoke test).
set -euo pipefail
python -m vjepa2.demo "$@"
