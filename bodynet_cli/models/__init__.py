"""The BodyNet networks: blocks, hourglasses, sub-networks, configs, losses, targets, checkpoints."""
