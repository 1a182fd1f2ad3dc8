"""Simulated Franka Panda in MuJoCo that speaks the real robot's ROS 2 topics (see README.md)."""

import os

# Headless offscreen rendering by default (Mesa's EGL works without a display); must happen before any
# submodule imports mujoco. Set MUJOCO_GL yourself to choose another backend (osmesa, glfw).
os.environ.setdefault("MUJOCO_GL", "egl")
