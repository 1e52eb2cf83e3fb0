"""SURREAL (Varol et al., CVPR 2017): synthetic video clips with SMPL ground truth.

Layout: ``ROOT[/train|val|test]/<run>/<sequence>/<clip>.mp4`` (320×240) beside ``<clip>_info.mat``
(``joints2D`` 2×24×T, ``joints3D`` 3×24×T world metres, ``pose`` 72×T, ``shape`` 10×T, ``zrot``, ``camLoc``,
``gender``) and ``<clip>_segm.mat`` (``segm_1`` .. ``segm_T``, 240×320, value k = the part of SMPL joint
k − 1, 0 background). Facts from the public SURREAL code (github.com/gulvarol/surreal, issues 10 and 49):

- camera: X_cam = R·(X_world − camLoc), R = [[0, 0, −1], [0, 1, 0], [−1, 0, 0]]; K = [[600, 0, 160],
  [0, 600, 120], [0, 0, 1]]; ``joints2D`` are K·X_cam in 0-based pixels (x column, y row from the top),
  which is also our convention (the principal point 160, 120 is the image centre).
- det R = −1: the frames are mirror images of the labelled body. A joint or part labelled SMPL-left
  appears on the person's anatomical right in the frame, so joints and parts here are read with their
  left and right swapped (ours are the person's as they appear); the geometry (vertices, voxels) is
  simply the camera-space body (its faces reversed so they still face outwards).
- ``pose`` is stored without ``zrot``: the world global orientation is Rx(+90°)·Rz(zrot)·R(pose[0:3]).
  The body is SMPL(shape, pose) + trans with trans = joints3D's pelvis − the model's rest pelvis at zero
  shape (SURREAL's ``misc/smpl_relations/smpl_relations.py``). ``gender`` 0 female, 1 male.

The paper's test protocol: the middle frame of the middle clip of each sequence of SURREAL's ``val/``
split (the BodyNet code's ``testDir``; middle = index (n − 1) // 2 of the n sorted clips, and (T − 1) // 2
of the T frames, its ``ceil(T/2)`` from 1). The BodyNet code lists its 507 clips in
``fitting/testnames/namescmu.txt``, which ``clips=`` reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import JOINT_FLIP, SEG_FLIP, SMPL_PART_TO_SEG, SMPL_TO_BODYNET, VOXEL_PART_FLIP
from bodynet_cli.data.datasets.frames import AnnotatedFrame, BodyMesh
from bodynet_cli.data.datasets.smpl_files import BodyModels
from bodynet_cli.errors import BodyNetError

F_PX, CX, CY = 600.0, 160.0, 120.0
EXTRINSIC_R = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
# Our 16 joints from SURREAL's 24 (SMPL order, SMPL's left/right): the mirror swaps left and right.
MIRRORED_SMPL_TO_BODYNET = SMPL_TO_BODYNET[JOINT_FLIP]
# segm value (0 background, k = SMPL part k − 1) -> our 15 classes, left and right swapped by the mirror.
SEGM_TO_SEG = np.concatenate([[0], SEG_FLIP[SMPL_PART_TO_SEG]]).astype(np.uint8)
INFO_KEYS = ("joints2D", "joints3D", "pose", "shape", "zrot", "camLoc", "gender")


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rodrigues(v: np.ndarray) -> np.ndarray:
    """Axis-angle (3,) -> rotation matrix (3, 3)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(v, dtype=np.float64)).as_matrix()


def world_global_orient(pose_root: np.ndarray, zrot: float) -> np.ndarray:
    """SURREAL's world-frame global orientation as axis-angle (3,): Rx(+90°)·Rz(zrot)·R(pose[0:3])."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(rot_x(np.pi / 2) @ rot_z(zrot) @ rodrigues(pose_root)).as_rotvec()


def world_to_camera(points: np.ndarray, cam_loc: np.ndarray) -> np.ndarray:
    """World points (..., 3) -> camera points (..., 3): R·(X − camLoc)."""
    return (points - cam_loc) @ EXTRINSIC_R.T


@dataclass(frozen=True)
class Clip:
    """One SURREAL clip: ``video`` (.mp4), ``info`` and ``segm`` (.mat), ``name`` relative to the root
    without suffix (``run0/seq/clip``), ``sequence`` its folder, ``frames`` T."""

    video: Path
    info: Path
    segm: Path
    name: str
    sequence: Path
    frames: int


def _loadmat(path: Path, keys: tuple[str, ...] | None = None) -> dict:
    from scipy.io import loadmat

    if not path.is_file():
        raise BodyNetError(f"{path}: no such file (every SURREAL clip needs its .mp4, _info.mat and _segm.mat)")
    try:
        return loadmat(str(path), variable_names=None if keys is None else list(keys))
    except Exception as e:  # noqa: BLE001 - scipy raises many types for a damaged file
        raise BodyNetError(f"{path}: not a readable MATLAB v5 file ({type(e).__name__}: {e})") from None


def read_info(path: Path) -> dict[str, np.ndarray]:
    """A clip's ``_info.mat``, checked: joints2D (T, 24, 2), joints3D (T, 24, 3), pose (T, 72), shape (T, 10),
    zrot (T,), camLoc (3,), gender (T,) (per-clip values repeated)."""
    raw = _loadmat(path, INFO_KEYS)
    missing = [k for k in INFO_KEYS if k not in raw]
    if missing:
        raise BodyNetError(f"{path}: missing {', '.join(missing)}; not a SURREAL _info.mat")
    out: dict[str, np.ndarray] = {}
    for key, rows in (("joints2D", 2), ("joints3D", 3)):
        a = np.asarray(raw[key], dtype=np.float64)
        a = a.reshape(rows, 24, -1) if a.size % (rows * 24) == 0 and a.shape[:2] == (rows, 24) else None
        if a is None:
            raise BodyNetError(f"{path}: '{key}' has shape {np.shape(raw[key])}, expected ({rows}, 24, T)")
        out[key] = a.transpose(2, 1, 0)
    t = out["joints2D"].shape[0]
    for key, rows in (("pose", 72), ("shape", 10)):
        a = np.asarray(raw[key], dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != rows or a.shape[1] < t:
            raise BodyNetError(f"{path}: '{key}' has shape {a.shape}, expected ({rows}, {t})")
        out[key] = a[:, :t].T
    for key in ("zrot", "gender"):
        a = np.asarray(raw[key], dtype=np.float64).ravel()
        if a.size == 0:
            raise BodyNetError(f"{path}: '{key}' is empty")
        out[key] = np.resize(a, t)  # stored once per clip or once per frame
    cam = np.asarray(raw["camLoc"], dtype=np.float64).ravel()
    if cam.size != 3:
        raise BodyNetError(f"{path}: 'camLoc' has {cam.size} values, expected 3")
    out["camLoc"] = cam
    if out["joints3D"].shape[0] != t:
        raise BodyNetError(f"{path}: joints2D has {t} frames, joints3D {out['joints3D'].shape[0]}")
    if not all(np.all(np.isfinite(v)) for v in out.values()):
        raise BodyNetError(f"{path}: holds NaN or infinite values")
    return out


def read_segm(path: Path, frame: int, shape: tuple[int, int], raw: dict | None = None) -> np.ndarray:
    """Frame ``frame`` (0-based) of a ``_segm.mat`` as our 15 classes, uint8 (H, W). raw: the whole file
    already loaded (else only this frame's variable is read)."""
    key = f"segm_{frame + 1}"
    raw = _loadmat(path, (key,)) if raw is None else raw
    if key not in raw:
        raise BodyNetError(f"{path}: has no '{key}' (frame {frame}); the clip's _segm.mat is incomplete")
    a = np.asarray(raw[key])
    if a.shape != shape or a.dtype.kind not in "iu" or (a.size and int(a.max()) > 24):
        raise BodyNetError(f"{path}: '{key}' is {a.dtype} {a.shape}, expected part labels 0..24 of shape {shape}")
    return SEGM_TO_SEG[a]


def find_clips(root: Path) -> list[Clip]:
    """Every clip under ``root`` (a clip is a ``*_info.mat``), sorted by name."""
    if not root.is_dir():
        raise BodyNetError(f"{root}: no such folder (SURREAL: the folder holding <run>/<sequence>/<clip>.mp4)")
    clips = []
    for info in sorted(root.rglob("*_info.mat")):
        stem = info.name[: -len("_info.mat")]
        j2 = np.asarray(_loadmat(info, ("joints2D",)).get("joints2D", np.zeros((0,))))
        if j2.ndim not in (2, 3) or j2.shape[:2] != (2, 24):  # the rest is checked when a frame is read
            raise BodyNetError(f"{info}: 'joints2D' is missing or has shape {j2.shape}, expected (2, 24, T); "
                               "not a SURREAL _info.mat")
        t = 1 if j2.ndim == 2 else j2.shape[2]
        rel = info.parent.relative_to(root) / stem
        clips.append(Clip(info.parent / f"{stem}.mp4", info, info.parent / f"{stem}_segm.mat", rel.as_posix(),
                          info.parent, t))  # fmt: skip
    return clips


def split_root(root: Path, split: str) -> Path:
    """The folder of one split: ``ROOT/<split>`` when ROOT has train/val/test folders, else ROOT itself
    (every clip under it, whatever the split)."""
    if any((root / s).is_dir() for s in ("train", "val", "test")):
        return root / split
    return root


def read_clip_list(path: Path) -> list[str]:
    """Clip names (``<run>/<sequence>/<clip>``) of a list file: one clip path per line, as the BodyNet code's
    ``fitting/testnames/namescmu.txt`` (``.../cmu/val/run1/ung_122_34/ung_122_34_c0004.mp4``); the last
    three path components name the clip."""
    if not path.is_file():
        raise BodyNetError(f"{path}: no such clip list file (given with --clips)")
    names = []
    for line in path.read_text().splitlines():
        parts = Path(line.strip()).with_suffix("").parts
        if not parts:
            continue
        if len(parts) < 3:
            raise BodyNetError(f"{path}: line {line.strip()!r} is not a <run>/<sequence>/<clip>.mp4 path")
        names.append("/".join(parts[-3:]))
    return names


class Surreal:
    """The frames of one SURREAL split. ``frames``: "all" (every frame of every clip) or "paper" (the
    middle frame of the middle clip of each sequence). ``clips``: a clip list file (``read_clip_list``)
    that picks the clips instead (with "paper": the middle frame of each). ``body_model``: the user's
    SMPL file or folder."""

    kind = "surreal"

    def __init__(self, root: str | os.PathLike, split: str = "test", frames: str = "all",
                 body_model: str | os.PathLike | None = None, clips: str | os.PathLike | None = None):  # fmt: skip
        self.root = Path(root)
        if frames not in ("all", "paper"):
            raise BodyNetError(f"SURREAL frames {frames!r}: choose all or paper")
        if not self.root.is_dir():
            raise BodyNetError(f"{self.root}: no such folder (SURREAL: the folder holding train/ val/ test/ or "
                               "<run>/<sequence>/<clip>.mp4)")
        base = split_root(self.root, split)
        found = find_clips(base) if base.is_dir() else []  # a split folder may be absent (e.g. no val/)
        if not found and base == self.root:
            raise BodyNetError(f"{self.root}: no SURREAL clips (<clip>_info.mat files) under it; point at the "
                               "folder holding train/ val/ test/ or <run>/<sequence>/ folders")
        self.base = base
        self.items: list[tuple[Clip, int]] = []
        if clips is not None:
            wanted = read_clip_list(Path(clips))
            by_name = {c.name: c for c in found}
            missing = [n for n in wanted if n not in by_name]
            if missing:
                raise BodyNetError(f"{clips}: {len(missing)} listed clip(s) are not under {base}, e.g. {missing[0]}; "
                                   "check --split (the paper's SURREAL test clips are in val/)")
            picked = [by_name[n] for n in wanted]
            self.items = [(c, t) for c in picked for t in ([(c.frames - 1) // 2] if frames == "paper"
                                                           else range(c.frames))]  # fmt: skip
        elif frames == "all":
            self.items = [(c, t) for c in found for t in range(c.frames)]
        else:
            by_seq: dict[Path, list[Clip]] = {}
            for c in found:
                by_seq.setdefault(c.sequence, []).append(c)
            for seq in sorted(by_seq):
                group = sorted(by_seq[seq], key=lambda c: c.name)
                c = group[(len(group) - 1) // 2]
                self.items.append((c, (c.frames - 1) // 2))
        self.models = BodyModels(body_model, "SURREAL") if body_model is not None else None
        self._body_model_arg = body_model
        self._cached: tuple[Clip, dict, dict] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self):  # DataLoader workers: no cached clip
        return {**self.__dict__, "_cached": None}

    def name(self, i: int) -> str:
        """Output name (no suffix) of item i: ``<run>/<sequence>/<clip>_f<frame>``."""
        clip, t = self.items[i]
        return f"{clip.name}_f{t:04d}"

    def frame(self, i: int, body: bool = True) -> AnnotatedFrame:
        """Item i in our conventions; with ``body``, the camera-space SMPL mesh (needs --body-model)."""
        from bodynet_cli.io.video import read_video_frame

        clip, t = self.items[i]
        if self._cached is None or self._cached[0] != clip:
            # The clip's files whole: a clip's frames are usually read one after another.
            self._cached = (clip, read_info(clip.info), _loadmat(clip.segm))
        _, info, segm = self._cached
        if t >= info["joints2D"].shape[0]:
            raise BodyNetError(f"{clip.info}: has {info['joints2D'].shape[0]} frames, frame {t} was asked for")
        rgb = read_video_frame(clip.video, t).rgb
        seg = read_segm(clip.segm, t, rgb.shape[:2], segm)
        joints_cam = world_to_camera(info["joints3D"][t], info["camLoc"])
        gender = "male" if int(round(info["gender"][t])) == 1 else "female"
        mesh = None
        if body:
            if self.models is None:
                self.models = BodyModels(self._body_model_arg, "SURREAL")
            mesh = self.body(info, t, gender)
        return AnnotatedFrame(
            rgb=rgb, joints2d=info["joints2D"][t][MIRRORED_SMPL_TO_BODYNET], visible=np.ones(16, bool),
            joints_cam=joints_cam[MIRRORED_SMPL_TO_BODYNET], segmentation=seg, f=F_PX, cx=CX, cy=CY, body=mesh,
            meta={"dataset": "surreal", "video": str(clip.video), "frame": t, "gender": gender},
        )  # fmt: skip

    def body(self, info: dict[str, np.ndarray], t: int, gender: str) -> BodyMesh:
        """The camera-space body of frame t: SMPL with the world orientation, pelvis on joints3D's."""
        import torch

        model = self.models.model(gender)
        pose = info["pose"][t]
        go = world_global_orient(pose[:3], float(info["zrot"][t]))
        out = model(torch.from_numpy(info["shape"][t][None]), torch.from_numpy(go[None]),
                    torch.from_numpy(pose[None, 3:]))  # fmt: skip
        # As SURREAL's own smpl_relations.py: trans = joints3D's pelvis - the template's rest pelvis (zero
        # shape), added to the posed, shaped body.
        rest_pelvis = model.J_template[0].numpy()
        v = out.vertices[0].numpy() + (info["joints3D"][t][0] - rest_pelvis)
        cam = world_to_camera(v, info["camLoc"])
        faces = model.faces.numpy()[:, ::-1]  # the mirror reverses the winding
        part7 = VOXEL_PART_FLIP[model.vertex_part7.numpy()]
        return BodyMesh(cam, np.ascontiguousarray(faces), part7)
