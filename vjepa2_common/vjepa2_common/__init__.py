"""Shared ROS 2 plumbing of the vjepa2 suite (everything here may import rclpy; vjepa2_core may not)."""
