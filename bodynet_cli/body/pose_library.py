"""A wide library of everyday and sports poses for synthetic data, and its sampler.

The 14 base poses of ``bodynet_cli.body.poses`` (which also define the fitting prior and stay as they
are) cover standing people; photos show people sitting on chairs and floors, crouching, kneeling,
bending, reaching, walking and running in every phase, jumping, doing sports, lying down and dancing.
Each family here is a few SMPL axis-angle keyframes (same joint conventions as ``poses``: X to the
person's left, Y up, Z forward; right-side values mirror the left ones). A sample is

1. a family drawn with the configured category weights, then two keyframes of it and a random blend
   of the two (axis-angle interpolated per joint: keyframes of a family are close, so this is a
   smooth in-between pose; keyframes lying in different orientations are not blended),
2. a joint-limited Gaussian perturbation (``poses._JOINT_SIGMA`` × ``spread``),
3. a left/right mirror with probability 1/2,
4. a plausibility check: inside the joint limits (clipped) and, when a rest skeleton is given, no
   hand or elbow inside the torso (forward kinematics of the joints only, about 0.1 ms); a rejected
   draw is redrawn, up to ``max_tries``, after which the unperturbed blend (checked by the tests) is used.

Lying families carry a global orientation (model frame) that lays the body down; callers compose
their camera orientation on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from bodynet_cli.body.conventions import SMPL_JOINT_NAMES, SMPL_PARENTS
from bodynet_cli.body.poses import _JOINT_SIGMA, BASE_POSES, POSE_LIMITS, clamp_to_limits, mirror_pose

_INDEX = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def _mirror_name(name: str) -> str | None:
    if name.startswith("l_"):
        return "r_" + name[2:]
    return None


def _p(sym: dict | None = None, **joints: tuple[float, float, float]) -> np.ndarray:
    """A pose (72,) float64. ``sym``: left-joint values applied to both sides (the right one mirrored:
    y and z negated); keyword joints are set as given (after ``sym``, so they override it)."""
    p = np.zeros((24, 3))
    for name, v in (sym or {}).items():
        p[_INDEX[name]] = v
        m = _mirror_name(name)
        if m:
            p[_INDEX[m]] = (v[0], -v[1], -v[2])
    for name, v in joints.items():
        p[_INDEX[name]] = v
    return p.reshape(72)


def _arms(z: float = -1.25, y: float = 0.0, elbow: float = -0.15) -> dict:
    """Both arms: shoulder raise ``z`` (−1.25 hangs down), forward swing ``y`` (< 0), elbow flexion (< 0)."""
    return {"l_shoulder": (0.0, y, z), "l_elbow": (0.0, elbow, 0.0)}


def _with_orient(pose: np.ndarray, rotvec: tuple[float, float, float]) -> np.ndarray:
    p = pose.copy()
    p[:3] = rotvec
    return p


LIE_BACK, LIE_FRONT, LIE_SIDE = (-np.pi / 2, 0.0, 0.0), (np.pi / 2, 0.0, 0.0), (0.0, 0.0, np.pi / 2)

# family -> keyframes (K, 72); visually checked on the open body model (tools/pose_library_sheet.py).
FAMILIES: dict[str, list[np.ndarray]] = {
    "standing": [
        _p(_arms(-1.3, 0.0, -0.2), l_hip=(0, 0, 0.05), r_hip=(0, 0, -0.05)),
        _p(_arms(-1.1, -0.3, -0.6)),
        _p(_arms(-1.0, -0.9, -1.5), spine2=(0.05, 0, 0), head=(0.35, 0, 0)),  # looking at a phone
        _p({"l_shoulder": (0.4, -0.1, -1.1), "l_elbow": (0, -1.7, 0), "l_wrist": (0, 0, -0.3)}),  # hands on hips
        _p({"l_shoulder": (0.0, -0.75, -1.1), "l_elbow": (0, -2.15, 0), "l_collar": (0, -0.2, 0)}),  # arms crossed
        _p(_arms(-1.25), l_hip=(-0.1, 0, 0.12), r_hip=(0, 0, -0.12), spine1=(0, 0, -0.1), l_knee=(0.25, 0, 0)),
        _p(_arms(-0.7, 0.0, -0.1)),
    ],
    "one_leg": [
        _p(_arms(-0.6, 0.0, -0.2), l_hip=(-1.0, 0, 0.1), l_knee=(1.7, 0, 0), l_ankle=(0.4, 0, 0)),  # flamingo
        _p(_arms(-1.2), l_hip=(0.35, 0, 0.0), l_knee=(2.2, 0, 0), l_shoulder=(0.0, 0.75, -1.1),
           l_elbow=(0, -0.2, 0)),  # stretching the thigh
        _p(_arms(-0.3, 0.0, 0.0), l_hip=(-0.2, 0, 0.7), l_knee=(0.1, 0, 0)),  # leg out to the side
    ],
    "walking": [
        _p(l_hip=(-0.45, 0, 0.03), r_hip=(0.3, 0, -0.03), l_knee=(0.1, 0, 0), r_knee=(0.35, 0, 0),
           r_ankle=(-0.15, 0, 0), l_shoulder=(0, 0.3, -1.3), r_shoulder=(0, 0.35, 1.3),
           l_elbow=(0, -0.25, 0), r_elbow=(0, 0.45, 0)),  # heel strike
        _p(l_hip=(-0.1, 0, 0.03), r_hip=(-0.35, 0, -0.03), l_knee=(0.15, 0, 0), r_knee=(1.0, 0, 0),
           r_ankle=(0.3, 0, 0), l_shoulder=(0, 0.1, -1.3), r_shoulder=(0, -0.1, 1.3),
           l_elbow=(0, -0.3, 0), r_elbow=(0, 0.3, 0)),  # swing leg passing
        _p(l_hip=(0.2, 0, 0.03), r_hip=(-0.6, 0, -0.03), l_knee=(0.3, 0, 0), r_knee=(0.5, 0, 0),
           l_ankle=(-0.2, 0, 0), l_shoulder=(0, -0.3, -1.3), r_shoulder=(0, -0.3, 1.3),
           l_elbow=(0, -0.5, 0), r_elbow=(0, 0.2, 0), spine2=(0, 0.1, 0)),  # push off
    ],
    "running": [
        _p(spine1=(0.15, 0, 0), l_hip=(-1.1, 0, 0.05), r_hip=(0.45, 0, -0.05), l_knee=(1.0, 0, 0),
           r_knee=(1.5, 0, 0), l_ankle=(0.2, 0, 0), r_ankle=(0.5, 0, 0), l_shoulder=(0, 0.6, -1.2),
           r_shoulder=(0, 0.8, 1.2), l_elbow=(0, -1.5, 0), r_elbow=(0, 1.4, 0)),  # flight
        _p(spine1=(0.2, 0, 0), l_hip=(-0.5, 0, 0.05), r_hip=(0.1, 0, -0.05), l_knee=(0.5, 0, 0),
           r_knee=(2.2, 0, 0), r_ankle=(0.6, 0, 0), l_shoulder=(0, 0.2, -1.2), r_shoulder=(0, 0.2, 1.2),
           l_elbow=(0, -1.6, 0), r_elbow=(0, 1.6, 0)),  # mid-stance, heel to the buttock
        _p(spine1=(0.25, 0, 0), l_hip=(0.4, 0, 0.05), r_hip=(-1.3, 0, -0.05), l_knee=(0.3, 0, 0),
           r_knee=(1.4, 0, 0), l_ankle=(-0.1, 0, 0), l_shoulder=(0, -0.7, -1.2), r_shoulder=(0, -0.6, 1.2),
           l_elbow=(0, -1.4, 0), r_elbow=(0, 1.7, 0)),  # toe off, sprinting
    ],
    "sitting_chair": [
        _p({"l_hip": (-1.5, 0, 0.1), "l_knee": (1.5, 0, 0)}, l_shoulder=(0, -0.35, -1.25),
           r_shoulder=(0, 0.35, 1.25), l_elbow=(0, -1.0, 0), r_elbow=(0, 1.0, 0)),  # hands on the thighs
        _p({"l_hip": (-1.4, 0, 0.15), "l_knee": (1.2, 0, 0), "l_ankle": (-0.2, 0, 0)}, spine1=(-0.2, 0, 0),
           **{"l_shoulder": (0, 0.2, -1.2), "r_shoulder": (0, -0.2, 1.2)}),  # leaning back
        _p({"l_hip": (-1.6, 0, 0.1), "l_knee": (1.9, 0, 0), "l_shoulder": (0, -0.8, -1.0),
            "l_elbow": (0, -1.6, 0)}, spine1=(0.35, 0, 0), spine2=(0.15, 0, 0)),  # at a desk, leaning in
        _p(l_hip=(-1.5, 0.3, 0.0), r_hip=(-1.7, 0, -0.15), l_knee=(1.3, 0, 0), r_knee=(1.6, 0, 0),
           l_shoulder=(0, -0.4, -1.2), r_shoulder=(0, 0.4, 1.2), l_elbow=(0, -1.0, 0), r_elbow=(0, 1.0, 0)),
    ],
    "sitting_floor": [
        _p({"l_hip": (-1.55, 0, 0.15), "l_knee": (0.1, 0, 0), "l_shoulder": (0.0, 0.5, -1.05),
            "l_elbow": (0, -0.1, 0)}, spine1=(-0.1, 0, 0)),  # legs out, leaning on the hands
        _p({"l_hip": (-1.4, 0.4, 0.85), "l_knee": (2.4, 0, 0), "l_shoulder": (0, -0.4, -1.25),
            "l_elbow": (0, -0.9, 0)}, spine1=(0.15, 0, 0)),  # cross-legged
        _p({"l_hip": (-2.1, 0, 0.15), "l_knee": (2.2, 0, 0), "l_shoulder": (0, -0.9, -1.0),
            "l_elbow": (0, -0.7, 0)}, spine1=(0.3, 0, 0)),  # knees up, arms round them
    ],
    "crouching": [
        _p({"l_hip": (-2.0, 0, 0.3), "l_knee": (2.3, 0, 0), "l_ankle": (-0.35, 0, 0), "l_shoulder": (0, -0.9, -1.0),
            "l_elbow": (0, -0.8, 0)}, spine1=(0.4, 0, 0), spine2=(0.2, 0, 0), neck=(-0.4, 0, 0)),
        _p({"l_hip": (-2.2, 0, 0.45), "l_knee": (2.5, 0, 0), "l_ankle": (-0.5, 0, 0), "l_shoulder": (0, -1.3, -0.3),
            "l_elbow": (0, -0.3, 0)}, spine1=(0.25, 0, 0), neck=(-0.3, 0, 0)),  # deep squat, arms forward
        _p({"l_hip": (-1.2, 0, 0.2), "l_knee": (1.5, 0, 0), "l_ankle": (-0.3, 0, 0), "l_shoulder": (0, -0.6, -1.0),
            "l_elbow": (0, -1.2, 0)}, spine1=(0.5, 0, 0), spine2=(0.2, 0, 0), neck=(-0.5, 0, 0)),  # half squat
    ],
    "kneeling": [
        _p({"l_hip": (0.05, 0, 0.1), "l_knee": (1.65, 0, 0), "l_ankle": (0.7, 0, 0), **_arms(-1.3, 0.0, -0.3)}),
        _p(_arms(-1.2, -0.2, -0.5), l_hip=(-1.5, 0, 0.1), l_knee=(1.6, 0, 0), r_hip=(0.1, 0, -0.1),
           r_knee=(1.6, 0, 0), r_ankle=(0.7, 0, 0)),  # on one knee
        _p({"l_hip": (-0.6, 0, 0.1), "l_knee": (2.5, 0, 0), "l_ankle": (0.8, 0, 0), "l_shoulder": (0, -0.4, -1.2),
            "l_elbow": (0, -0.8, 0)}, spine1=(0.1, 0, 0)),  # sitting on the heels
    ],
    "bending": [
        _p({"l_hip": (-0.15, 0, 0), "l_knee": (0.1, 0, 0), "l_shoulder": (0, -0.5, -1.3)}, spine1=(0.7, 0, 0),
           spine2=(0.5, 0, 0), spine3=(0.4, 0, 0), neck=(-0.4, 0, 0)),
        _p({"l_hip": (-1.1, 0, 0.1), "l_knee": (0.15, 0, 0), "l_shoulder": (0, -1.3, -1.0), "l_elbow": (0, -0.2, 0)},
           spine1=(0.6, 0, 0), spine2=(0.4, 0, 0), spine3=(0.3, 0, 0), neck=(-0.3, 0, 0)),  # touching the toes
        _p({"l_hip": (-0.9, 0, 0.15), "l_knee": (0.7, 0, 0), "l_shoulder": (0, -1.2, -0.9), "l_elbow": (0, -0.6, 0)},
           spine1=(0.5, 0, 0), spine2=(0.2, 0, 0), neck=(-0.3, 0, 0)),  # picking something up
    ],
    "reaching": [
        _p(_arms(-1.25), l_collar=(0, 0, 0.4), l_shoulder=(0, 0, 1.5), l_elbow=(0, -0.1, 0),
           spine2=(0, 0, -0.1), spine3=(0, 0, -0.1)),  # one arm straight up
        _p(_arms(-1.25), l_shoulder=(0, -0.1, 0.05), l_elbow=(0, -0.05, 0), spine1=(0, 0, 0.25),
           spine2=(0, 0, 0.2), r_hip=(0, 0, -0.1)),  # sideways, leaning
        _p(_arms(-1.2), l_shoulder=(0, -1.45, 0.1), l_elbow=(0, -0.1, 0), spine2=(0.15, 0.2, 0),
           spine3=(0.1, 0.15, 0)),  # forward
        _p({"l_collar": (0, 0, 0.3), "l_shoulder": (0, -0.3, 1.3), "l_elbow": (0, -0.3, 0)}, neck=(-0.4, 0, 0),
           head=(-0.3, 0, 0)),  # both up, looking up
    ],
    "jumping": [
        _p({"l_collar": (0, 0, 0.3), "l_shoulder": (0, 0, 1.2), "l_hip": (0, 0, 0.45), "l_ankle": (0.5, 0, 0)}),
        _p({"l_hip": (-1.3, 0, 0.15), "l_knee": (1.9, 0, 0), "l_shoulder": (0, -1.1, -0.3), "l_elbow": (0, -0.6, 0)},
           spine1=(0.2, 0, 0)),  # tuck
        _p({"l_hip": (-0.4, 0, 0.05), "l_knee": (0.9, 0, 0), "l_ankle": (0.6, 0, 0), "l_collar": (0, 0, 0.3),
            "l_shoulder": (0, -0.4, 1.3), "l_elbow": (0, -0.1, 0)}, spine1=(-0.2, 0, 0)),  # reaching up
    ],
    "sports": [
        _p(spine2=(0, -0.35, 0), spine3=(0, -0.25, 0), l_hip=(-0.6, 0, 0.2), l_knee=(0.3, 0, 0),
           r_hip=(0.25, 0, -0.2), r_knee=(0.3, 0, 0), l_shoulder=(0, -1.2, 0.2), l_elbow=(0, -0.3, 0),
           r_shoulder=(0, -0.5, -0.5), r_elbow=(0, 1.6, 0)),  # throwing, arm cocked
        _p(r_hip=(-1.4, 0, -0.05), r_knee=(0.3, 0, 0), r_ankle=(0.6, 0, 0), l_knee=(0.25, 0, 0),
           spine1=(-0.25, 0, 0), l_shoulder=(0, 0.3, -0.5), r_shoulder=(0, 0.4, 0.5), l_elbow=(0, -0.4, 0),
           r_elbow=(0, 0.4, 0)),  # kicking
        _p({"l_hip": (-0.35, 0, 0.35), "l_knee": (0.4, 0, 0)}, spine1=(0.3, 0, 0), spine2=(0, -0.4, 0),
           l_shoulder=(0, -1.0, -0.6), r_shoulder=(0, 0.3, 0.4), l_elbow=(0, -1.2, 0), r_elbow=(0, 2.0, 0),
           head=(0, 0.4, 0)),  # batting stance
        _p({"l_hip": (-0.4, 0, 0.3), "l_knee": (0.6, 0, 0)}, spine1=(0.3, 0, 0), spine2=(0, 0.38, 0),
           r_shoulder=(0, 1.2, -0.1), r_elbow=(0, 0.4, 0), l_shoulder=(0, -0.6, -0.8),
           l_elbow=(0, -0.9, 0)),  # tennis forehand
        _p(spine1=(0.6, 0, 0), spine2=(0.3, 0, 0), neck=(-0.45, 0, 0), l_hip=(-1.9, 0, 0.1), l_knee=(2.2, 0, 0),
           r_hip=(-1.0, 0, -0.1), r_knee=(0.9, 0, 0), l_shoulder=(0, -1.0, -0.4), r_shoulder=(0, 1.0, 0.4),
           l_elbow=(0, -0.4, 0), r_elbow=(0, 0.4, 0)),  # cycling
    ],
    "lying": [
        _with_orient(_p(_arms(-1.3, 0, -0.1)), LIE_BACK),
        _with_orient(_p({"l_shoulder": (0, 0, 0.9), "l_elbow": (0, -1.8, 0)}, l_hip=(-0.3, 0, 0.1),
                        l_knee=(0.9, 0, 0)), LIE_BACK),  # hands behind the head, one knee up
        _with_orient(_p({"l_hip": (-0.4, 0, 0.05), "l_knee": (0.7, 0, 0), "l_shoulder": (0, -0.9, -1.0),
                         "l_elbow": (0, -0.8, 0)}, spine1=(0.2, 0, 0)), LIE_SIDE),
        _with_orient(_p(_arms(-0.4, 0, -1.6)), LIE_FRONT),  # on the front, head on the arms
        _with_orient(_p({"l_hip": (-0.5, 0, 0.1), "l_knee": (0.9, 0, 0)}, l_shoulder=(0, -1.0, -0.9),
                        r_shoulder=(0, 0.3, 1.0), l_elbow=(0, -1.2, 0)), LIE_SIDE),
    ],
    "dancing": [
        _p(spine1=(0, 0, 0.2), spine2=(0, 0.2, 0.1), l_collar=(0, 0, 0.3), l_shoulder=(0, 0.0, 1.2),
           l_elbow=(0, -0.6, 0), r_shoulder=(0, 0.6, -0.2), r_elbow=(0, 1.3, 0), l_hip=(-0.3, 0, 0.2),
           l_knee=(0.6, 0, 0), r_knee=(0.15, 0, 0)),
        _p(l_shoulder=(0, -0.2, 0.2), r_shoulder=(0, 0.2, -0.2), l_elbow=(0, -0.3, 0), r_elbow=(0, 0.3, 0),
           r_hip=(0.4, 0, -0.4), r_knee=(0.8, 0, 0), spine1=(0, 0, -0.15)),  # arabesque-like, arms spread
        _p({"l_shoulder": (0, -0.8, 0.4), "l_elbow": (0, -1.4, 0)}, spine1=(0.1, 0, 0.15), l_hip=(-0.9, 0, 0.1),
           l_knee=(1.4, 0, 0), head=(0.2, 0.3, 0)),  # knee up, arms bent
    ],
    "library": [p.astype(np.float64) for p in BASE_POSES.values()],
}  # fmt: skip

# Default category weights (normalised by the sampler): photos mostly show standing and walking
# people, then sitting, with a long tail of activities.
DEFAULT_WEIGHTS: dict[str, float] = {
    "standing": 0.14, "one_leg": 0.03, "walking": 0.12, "running": 0.07, "sitting_chair": 0.09,
    "sitting_floor": 0.05, "crouching": 0.06, "kneeling": 0.05, "bending": 0.05, "reaching": 0.06,
    "jumping": 0.04, "sports": 0.08, "lying": 0.06, "dancing": 0.05, "library": 0.05,
}  # fmt: skip

# (joint, child) bones checked against the torso: elbows and hands must stay outside it.
_LIMB_POINTS = (_INDEX["l_elbow"], _INDEX["r_elbow"], _INDEX["l_wrist"], _INDEX["r_wrist"], _INDEX["l_hand"],
                _INDEX["r_hand"])
_TORSO = (_INDEX["pelvis"], _INDEX["neck"])


@dataclass(frozen=True)
class PoseDraw:
    """One sampled pose: ``pose`` (72,) float64 axis-angle (global orientation in the model frame, zero
    except for lying families), its family, whether it was mirrored, and how many draws were rejected."""

    pose: np.ndarray
    family: str
    mirrored: bool
    rejected: int


def forward_joints(pose: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Posed SMPL joints (24, 3) of ``pose`` (72,) on a rest skeleton ``rest_joints`` (24, 3), rooted at
    the rest pelvis (shape blend shapes and skinning are not needed for a joint-level check)."""
    rot = Rotation.from_rotvec(np.asarray(pose, np.float64).reshape(24, 3)).as_matrix()
    world = np.zeros((24, 3, 3))
    out = np.zeros((24, 3))
    for j in range(24):
        p = SMPL_PARENTS[j]
        if p < 0:
            world[j], out[j] = rot[j], rest_joints[j]
        else:
            world[j] = world[p] @ rot[j]
            out[j] = out[p] + world[p] @ (rest_joints[j] - rest_joints[p])
    return out


def limbs_inside_torso(joints: np.ndarray, radius: float) -> bool:
    """True when an elbow, wrist or hand joint of posed ``joints`` (24, 3) lies within ``radius`` metres
    of the torso's axis (the segment pelvis–neck): an arm through the body."""
    a, b = joints[_TORSO[0]], joints[_TORSO[1]]
    ab = b - a
    pts = joints[list(_LIMB_POINTS)]
    t = np.clip((pts - a) @ ab / max(float(ab @ ab), 1e-12), 0, 1)
    d = np.linalg.norm(pts - (a + t[:, None] * ab), axis=1)
    return bool((d < radius).any())


def plausible(pose: np.ndarray, rest_joints: np.ndarray | None, torso_radius: float = 0.07) -> bool:
    """Inside the joint limits and, given a rest skeleton (24, 3), no arm joint inside the torso."""
    p = np.asarray(pose).reshape(24, 3)[1:]
    lim = POSE_LIMITS[1:]
    if ((p < lim[..., 0] - 1e-6) | (p > lim[..., 1] + 1e-6)).any():
        return False
    return rest_joints is None or not limbs_inside_torso(forward_joints(pose, rest_joints), torso_radius)


def family_names() -> tuple[str, ...]:
    return tuple(FAMILIES)


def normalised_weights(weights: dict[str, float] | None) -> np.ndarray:
    """(K,) probabilities of ``family_names()`` from a (partial) weight dict; families not named get 0
    when ``weights`` is given, the defaults otherwise."""
    w = DEFAULT_WEIGHTS if weights is None else weights
    unknown = set(w) - set(FAMILIES)
    assert not unknown, f"unknown pose families {sorted(unknown)}"
    p = np.array([float(w.get(name, 0.0)) for name in FAMILIES])
    assert (p >= 0).all() and p.sum() > 0, "pose family weights must be >= 0 with a positive sum"
    return p / p.sum()


def sample_pose(rng: np.random.Generator, spread: float = 1.0, weights: dict[str, float] | None = None,
                rest_joints: np.ndarray | None = None, max_tries: int = 8) -> PoseDraw:
    """One random pose from the library (see the module docstring for the steps)."""
    names = family_names()
    family = names[int(rng.choice(len(names), p=normalised_weights(weights)))]
    keys = FAMILIES[family]
    a, b = rng.integers(0, len(keys), 2)
    blend = rng.uniform(0, 1)
    if not np.array_equal(keys[a][:3], keys[b][:3]):
        blend = 0.0  # lying on the back and on the side: a blend of the two orientations is neither
    mirrored = bool(rng.random() < 0.5)
    base = (1 - blend) * keys[a] + blend * keys[b]
    base = clamp_to_limits(base)
    sigma = np.repeat(_JOINT_SIGMA, 3) * spread
    sigma[:3] = 0.0  # the global orientation is the caller's (lying families keep theirs)
    for tries in range(max_tries):
        pose = clamp_to_limits(base + rng.normal(size=72) * sigma)
        pose = mirror_pose(pose) if mirrored else pose
        if plausible(pose, rest_joints):
            return PoseDraw(pose, family, mirrored, tries)
    pose = mirror_pose(base) if mirrored else base
    return PoseDraw(pose, family, mirrored, max_tries)
