"""Bringup of the vjepa2 suite."""
