"""Workspace-wide pytest set-up: the vjepa2_common fixtures (DDS isolation, node processes) for every test."""

pytest_plugins = ["vjepa2_common.testing"]
