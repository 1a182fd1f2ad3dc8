#!/usr/bin/env bash
# make demo (see vjepa2/vjepa2/demo.py): the sim graph (the simulated Franka, the V-JEPA 2 encoder node and the
# planner node), a goal image, blocking motions scripted by a straight-line controller that knows the goal pose,
# and the V-JEPA 2 energy to the goal after each step. Arguments: make demo DEMO_ARGS="--params-file FILE".
set -euo pipefail
python -m vjepa2.demo "$@"
