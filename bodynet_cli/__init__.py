"""bodynet: BodyNet (Varol et al., ECCV 2018) in PyTorch.

Dimension letters used in every docstring of the package:

    B  batch                 S  hourglass stacks       J  joints (16 BodyNet / 24 SMPL)
    P  parts / classes       V  mesh vertices          F  mesh faces
    R  voxel resolution      H, W  image or heatmap height and width
    D  depth bins of the 3D pose volume (19)           NB  shape coefficients (10)

Layout: ``cli`` wires commands; ``io`` file schemas; ``geometry`` BodyNet space, voxelizer,
rasterizer; ``body`` SMPL-format body models; ``models`` networks; ``data`` synthetic data;
``fitting`` body-model fitting; ``metrics`` scores; ``train`` training; ``viz`` pictures.
Imports point downwards only: nothing below ``cli`` imports it.
"""

__version__ = "0.1.0"
