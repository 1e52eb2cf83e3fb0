"""SURREAL-style synthetic training data: bodies, cameras, appearance, backgrounds.

``generate.SynthGenerator`` makes one sample (an image and its ground truth, docs/formats.md) from a
seed and an index; the ``synth`` pipeline (``pipelines/synth.py`` ``write_dataset``) fills an output
folder with many, in parallel.
"""
