"""Joint, part and class conventions of docs/formats.md, defined once for the whole package.

Left and right are the person's own. SMPL joint indices are 0-based.
"""

from __future__ import annotations

import numpy as np

SMPL_JOINT_NAMES = (
    "pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle",
    "spine3", "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder",
    "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hand", "r_hand",
)  # fmt: skip
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21], dtype=np.int64
)

# The 16 BodyNet joints, MPII order.
JOINT_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "neck", "head",
    "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)  # fmt: skip
SMPL_TO_BODYNET = np.array([8, 5, 2, 1, 4, 7, 0, 6, 12, 15, 21, 19, 17, 16, 18, 20], dtype=np.int64)
PELVIS = 6  # index of the pelvis among the 16 BodyNet joints
HEAD, NECK = 9, 8
# Left <-> right permutation of the 16 joints (for horizontal flips).
JOINT_FLIP = np.array([5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10], dtype=np.int64)
# Bones to draw, as pairs of the 16 joints.
SKELETON_EDGES = (
    (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
    (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
)  # fmt: skip

# 15 segmentation classes (0 = background, 14 body parts).
SEG_CLASSES = (
    "background", "head", "torso", "r_upper_arm", "r_lower_arm", "r_hand", "l_upper_arm",
    "l_lower_arm", "l_hand", "r_upper_leg", "r_lower_leg", "r_foot", "l_upper_leg", "l_lower_leg",
    "l_foot",
)  # fmt: skip
# SMPL part (= dominant skinning joint) -> segmentation class.
SMPL_PART_TO_SEG = np.array(
    [2, 12, 9, 2, 13, 10, 2, 14, 11, 2, 14, 11, 2, 2, 2, 1, 6, 3, 7, 4, 8, 5, 8, 5], dtype=np.int64
)
SEG_FLIP = np.array([0, 1, 2, 6, 7, 8, 3, 4, 5, 12, 13, 14, 9, 10, 11], dtype=np.int64)

# 7 voxel parts: background, head, torso, r-arm, l-arm, r-leg, l-leg.
VOXEL_PARTS = ("background", "head", "torso", "r_arm", "l_arm", "r_leg", "l_leg")
SEG_TO_VOXEL_PART = np.array([0, 1, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6], dtype=np.int64)
VOXEL_PART_FLIP = np.array([0, 1, 2, 4, 3, 6, 5], dtype=np.int64)

NUM_JOINTS = len(JOINT_NAMES)  # 16
NUM_SEG = len(SEG_CLASSES)  # 15
NUM_VOXEL_PARTS = len(VOXEL_PARTS)  # 7

# 3D pose volumes: metric depth bins relative to the pelvis (docs/formats.md).
DEPTH_BIN_M = 0.045
DEPTH_BINS = 19  # bins -9..+9 around the pelvis

# Network input normalisation (the paper's RGB mean and std).
RGB_MEAN = (0.510, 0.467, 0.411)
RGB_STD = (0.230, 0.235, 0.232)
