"""Staged training, the training loop, distributed set-up."""
