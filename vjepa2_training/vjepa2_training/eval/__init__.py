"""Evaluation of trained models: energy landscapes, loss plots, exports."""
