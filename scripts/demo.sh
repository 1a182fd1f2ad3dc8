#!/usr/bin/env bash
# make demo (see vjepa2/vjepa2/demo.py): the closed loop in simulation with the embedded demo model shipped in
# vjepa2/models/demo/ — the simulated Franka with its stereo camera, the V-JEPA 2 encoder node and the CEM planner
# node (vjepa2/config/sim.yaml). For 3 goals a goal image is rendered and sent as a PlanToGoal goal; the planner
# drives the arm. It prints the energy and the TCP-to-goal distance per step and writes outputs/demo/
# (contact_sheet.png, demo.mp4, demo.json). Arguments: make demo DEMO_ARGS="--goals 5 --seed 1" (--help lists them).
set -euo pipefail
python -m vjepa2.demo "$@"
