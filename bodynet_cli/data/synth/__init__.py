"""SURREAL-style synthetic training data: bodies, cameras, appearance, backgrounds, the writer.

``generate.SynthGenerator`` makes one sample (an image and its ground truth, docs/formats.md) from a
seed and an index; ``writer.write_dataset`` fills an output folder with many, in parallel.
"""
