"""vjepa2_core: ROS-free PyTorch V-JEPA 2 / V-JEPA 2-AC that loads the released weights exactly."""

__version__ = "0.1.0"
