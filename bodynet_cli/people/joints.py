"""BlazePose's 33 landmarks -> bodynet's 16 joints (docs/formats.md order) with a score each.

Twelve joints are landmarks (the person's own left and right in both conventions). The other four are
placed where bodynet's joints of the same name sit on its bodies (the bundled body model's rest pose,
which ``bodynet synth`` renders), so that the front end's joints mean what the network's do:

- pelvis (SMPL pelvis): the mid-hips point.
- thorax (SMPL spine2, the lower chest): ``THORAX_FRACTION`` of the way from mid-hips to mid-shoulders.
- head (SMPL head, the centre of the skull a little below the ears, not its top): the ears' centre
  moved ``HEAD_FROM_EARS`` of the way towards mid-shoulders.
- neck (SMPL neck): ``NECK_FRACTION`` of the way from mid-shoulders to the head joint.

The head uses the ears only, never the face: ears are on the skull's centre line whichever way the
person faces (frontal, profile, back view, where face landmarks are guesses). The ears are weighted
by their visibility, so a profile uses the visible ear (the hidden one is BlazePose's guess).

Scores: a landmark joint's score is its visibility; a derived joint's the minimum over its sources,
where the head's source is its better ear.
"""

from __future__ import annotations

import numpy as np

# BlazePose landmark indices (MediaPipe's pose landmark topology).
NOSE, L_EAR, R_EAR = 0, 7, 8
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24

# Joint j of docs/formats.md <- BlazePose landmark; -1: derived below.
LANDMARK_OF_JOINT = np.array([28, 26, 24, 23, 25, 27, -1, -1, -1, -1, 16, 14, 12, 11, 13, 15])
PELVIS, THORAX, NECK, HEAD = 6, 7, 8, 9

# Ratios measured on the bundled body model's rest pose (joint heights above the pelvis: spine2
# 0.166 m, shoulders 0.461 m, neck 0.557 m, head 0.653 m; the ears' centre about 0.68 m); the test
# tests/test_people_joints.py recomputes the joint ratios from the model file.
THORAX_FRACTION = 0.36
NECK_FRACTION = 0.5
HEAD_FROM_EARS = 0.12


def landmarks_to_joints(landmarks: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """landmarks (..., 33, 2+) x, y (any further columns ignored), visibility (..., 33) in [0, 1]
    -> joints2d (..., 16, 2), joints2d_score (..., 16)."""
    xy = np.asarray(landmarks, dtype=np.float64)[..., :2]
    vis = np.asarray(visibility, dtype=np.float64)
    idx = np.where(LANDMARK_OF_JOINT >= 0, LANDMARK_OF_JOINT, 0)
    joints = xy[..., idx, :].copy()
    score = vis[..., idx].copy()

    mid_hip = (xy[..., L_HIP, :] + xy[..., R_HIP, :]) / 2
    mid_sh = (xy[..., L_SHOULDER, :] + xy[..., R_SHOULDER, :]) / 2
    hip_s = np.minimum(vis[..., L_HIP], vis[..., R_HIP])
    sh_s = np.minimum(vis[..., L_SHOULDER], vis[..., R_SHOULDER])

    w = np.stack([vis[..., L_EAR], vis[..., R_EAR]], axis=-1) + 1e-3  # both hidden: their midpoint
    ears = (xy[..., L_EAR, :] * w[..., :1] + xy[..., R_EAR, :] * w[..., 1:]) / w.sum(-1, keepdims=True)
    head = ears + HEAD_FROM_EARS * (mid_sh - ears)
    head_s = np.maximum(vis[..., L_EAR], vis[..., R_EAR])

    joints[..., PELVIS, :], score[..., PELVIS] = mid_hip, hip_s
    joints[..., THORAX, :] = mid_hip + THORAX_FRACTION * (mid_sh - mid_hip)
    score[..., THORAX] = np.minimum(hip_s, sh_s)
    joints[..., HEAD, :], score[..., HEAD] = head, head_s
    joints[..., NECK, :] = mid_sh + NECK_FRACTION * (head - mid_sh)
    score[..., NECK] = np.minimum(sh_s, head_s)
    return joints.astype(np.float32), score.astype(np.float32)
