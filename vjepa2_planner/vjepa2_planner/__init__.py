"""V-JEPA 2-AC + CEM planner node and the safety layer (the planning issue fills this package in).

The planning maths (CEM, energy, pose integration) belongs in vjepa2_core so it runs without ROS; this
package holds the PlanToGoal action server and the command safety layer.
"""
