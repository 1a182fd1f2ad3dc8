"""A real Franka behind the suite's ROS 2 interface, through franky (libfranka inside)."""
