"""BlazePose's 33 landmarks -> bodynet's 16 joints, on hand-made landmark sets seen from the front, in
profile (facing left and right) and from the back; the derived joints' ratios against the body model."""

from __future__ import annotations

import numpy as np
import pytest

from bodynet_cli.body.conventions import JOINT_NAMES
from bodynet_cli.body.load import bundled_model_path, read_body_model_file
from bodynet_cli.people import joints as J

# Landmark indices (MediaPipe's topology) used to build the sets.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR, L_MOUTH, R_MOUTH = 0, 2, 5, 7, 8, 9, 10
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN = 23, 24, 25, 26, 27, 28


def person(view: str):
    """Landmarks (33, 2) and visibility (33,) of a standing person, hips at (300, 600), y down, 100 px
    from hips to shoulders. ``view``: front (the person's left on the image's right), back, or
    left / right (profile, facing the image's left / right)."""
    lm = np.full((33, 2), np.nan)
    vis = np.full(33, 0.9)
    side = {"front": 1.0, "back": -1.0}.get(view, 0.0)  # x of the person's left side, per unit width
    face = {"left": -1.0, "right": 1.0}.get(view, 0.0)  # the nose's direction in profile
    half = 40 * side if side else 4.0 * face  # profile: shoulders nearly on top of each other
    def pair(left_i, right_i, x, y, w):
        lm[left_i] = [300 + x + w, 600 + y]
        lm[right_i] = [300 + x - w, 600 + y]
    pair(L_SH, R_SH, 0, -100, half)
    pair(L_EL, R_EL, 0, -50, half * 1.2)
    pair(L_WR, R_WR, 0, 0, half * 1.3)
    pair(L_HIP, R_HIP, 0, 0, half * 0.6)
    pair(L_KN, R_KN, 0, 90, half * 0.6)
    pair(L_AN, R_AN, 0, 180, half * 0.6)
    ear_w = 14 * side if side else 1.0 * face
    pair(L_EAR, R_EAR, 0, -150, ear_w)
    nose_x = 16 * face
    pair(L_EYE, R_EYE, nose_x * 0.8, -158, 7 * side if side else 0.5 * face)
    pair(1, 4, nose_x * 0.8, -158, 4 * side if side else 0.5 * face)
    pair(3, 6, nose_x * 0.8, -158, 10 * side if side else 0.5 * face)
    pair(L_MOUTH, R_MOUTH, nose_x * 0.9, -140, 5 * side if side else 0.5 * face)
    lm[NOSE] = [300 + nose_x, 600 - 148]
    for k in range(17, 23):  # hands at the wrists
        lm[k] = lm[L_WR if k % 2 else R_WR]
    for k in range(29, 33):  # feet at the ankles
        lm[k] = lm[L_AN if k % 2 else R_AN] + [0, 8]
    if view == "back":
        vis[[NOSE, 1, 2, 3, 4, 5, 6, L_MOUTH, R_MOUTH]] = 0.05  # the face is a guess
    if view in ("left", "right"):
        # The person's right ear faces the camera when they look to the image's left (and vice versa);
        # the far ear is hidden (BlazePose still guesses it, here a little off).
        far = L_EAR if view == "left" else R_EAR
        vis[far] = 0.1
        lm[far] += [-10 * face, 6]
    assert not np.isnan(lm).any()
    return lm, vis


@pytest.mark.parametrize("view", ["front", "back", "left", "right"])
def test_joints_from_landmarks(view):
    lm, vis = person(view)
    joints, score = J.landmarks_to_joints(lm, vis)
    assert joints.shape == (16, 2) and score.shape == (16,)
    name = {n: i for i, n in enumerate(JOINT_NAMES)}
    # The twelve landmark joints, the person's own sides.
    for joint, landmark in [("r_ankle", R_AN), ("l_knee", L_KN), ("r_hip", R_HIP), ("l_wrist", L_WR),
                            ("r_elbow", R_EL), ("l_shoulder", L_SH)]:
        np.testing.assert_allclose(joints[name[joint]], lm[landmark], atol=1e-4)
    mid_hip, mid_sh = (lm[L_HIP] + lm[R_HIP]) / 2, (lm[L_SH] + lm[R_SH]) / 2
    np.testing.assert_allclose(joints[name["pelvis"]], mid_hip, atol=1e-4)
    np.testing.assert_allclose(joints[name["thorax"]], mid_hip + J.THORAX_FRACTION * (mid_sh - mid_hip), atol=1e-4)
    head, neck = joints[name["head"]], joints[name["neck"]]
    # The head sits on the skull's centre line near the ears, below them towards the shoulders, never on
    # the face: in profile it is at the visible ear, away from the nose.
    visible_ear = lm[R_EAR] if view == "left" else lm[L_EAR] if view == "right" else (lm[L_EAR] + lm[R_EAR]) / 2
    assert np.linalg.norm(head - visible_ear) < 0.15 * 50  # 50 px ears -> shoulders
    assert mid_sh[1] - 50 < head[1] < mid_sh[1] - 35
    if view in ("left", "right"):
        assert abs(head[0] - lm[NOSE][0]) > 12  # the nose is 16 px in front of the ears
        assert np.sign(lm[NOSE][0] - head[0]) == (-1 if view == "left" else 1)
    else:
        assert abs(head[0] - 300) < 1e-3  # symmetric views: on the body's axis
    # The neck on the segment mid-shoulders -> head.
    np.testing.assert_allclose(neck, mid_sh + J.NECK_FRACTION * (head - mid_sh), atol=1e-4)
    assert mid_sh[1] > neck[1] > head[1]
    # Scores: landmark visibility; derived: the minimum of their sources (the head's: its better ear).
    assert score[name["l_wrist"]] == pytest.approx(vis[L_WR])
    assert score[name["head"]] == pytest.approx(max(vis[L_EAR], vis[R_EAR]))
    assert score[name["neck"]] == pytest.approx(min(vis[L_SH], vis[R_SH], score[name["head"]]))


def test_joints_batch_and_low_visibility():
    lm, vis = person("front")
    vis = vis.copy()
    vis[L_HIP] = 0.2
    joints, score = J.landmarks_to_joints(np.stack([lm, lm]), np.stack([vis, vis]))
    assert joints.shape == (2, 16, 2)
    assert score[0, 6] == pytest.approx(0.2) and score[0, 7] == pytest.approx(0.2)  # pelvis, thorax


def test_derived_joint_ratios_match_the_body_model():
    """THORAX_FRACTION, NECK_FRACTION and HEAD_FROM_EARS place the joints where the bundled body model's are."""
    m = read_body_model_file(bundled_model_path())
    v = np.asarray(m.v_template, dtype=np.float64)
    j = np.asarray(m.J_regressor, dtype=np.float64) @ v
    y = j[:, 1]  # up
    hips, sh = (y[1] + y[2]) / 2, (y[16] + y[17]) / 2
    assert (y[6] - hips) / (sh - hips) == pytest.approx(J.THORAX_FRACTION, abs=0.02)  # spine2
    assert (y[12] - sh) / (y[15] - sh) == pytest.approx(J.NECK_FRACTION, abs=0.03)  # neck between shoulders, head
    # The ears: the head's widest (most lateral) point above the neck.
    head = v[v[:, 1] > y[12] + 0.03]
    ears_y = head[np.argmax(np.abs(head[:, 0])), 1]
    assert (ears_y - y[15]) / (ears_y - sh) == pytest.approx(J.HEAD_FROM_EARS, abs=0.05)
