"""The ``predict`` pipeline: image decoding and person crops, the network, outputs, sharding."""
