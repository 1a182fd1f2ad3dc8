"""Offline V-JEPA 2 training from a lab's own robot data (ROS-free except the recorder node)."""

__all__ = ["__version__"]
__version__ = "0.1.0"
