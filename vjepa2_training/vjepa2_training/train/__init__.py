"""Pretraining, AC post-training and what they share (trainer loop, configs, checkpoints, optimisation)."""
