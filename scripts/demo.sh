#!/usr/bin/env bash
# make demo: the most complete path of the planning loop that works today (see vjepa2/vjepa2/demo.py):
# simulated Franka + V-JEPA 2 encoder node, a goal image, blocking motions, energy to the goal per step.
set -euo pipefail
python -m vjepa2.demo "$@"
