"""MPII Human Pose (Andriluka et al., CVPR 2014): 2D joints of people in everyday photos.

Two annotation formats, each with the images in ``images/`` beside the annotation file (or beside its
folder, as in ``MPII/annot/train.json`` + ``MPII/images/``):

- the release's ``mpii_human_pose_v1_u12_1.mat`` (``RELEASE.annolist(i).image.name``, ``.annorect(j)``
  with ``annopoints.point(k).{x, y, id, is_visible}``, the head box ``x1, y1, x2, y2``, ``objpos``,
  ``scale``; ``RELEASE.img_train``). Its people with joints are the train split (the test split's joints
  are not public).
- the JSON of the pose-hourglass ports (``annot/train.json``, ``valid.json``, ``test.json``: a list of
  ``{"image", "joints" (16, 2), "joints_vis" (16,), "center" (2,), "scale"}``, and ``"headbox"``
  (x1, y1, x2, y2) where present).

MPII's 16 joints are ours, in our order (right ankle ... left wrist; its "upper neck" and "head top" are
our neck and head). Coordinates are MATLAB's 1-based pixels: ours (pixel i covers [i, i+1)) are x − 0.5.
A joint without coordinates is not annotated (``joints2d_visible`` 0); MPII's own visibility flag (whether
an annotated joint is occluded) is not used, as in the MPII evaluation. The person crop is the
pose-hourglass framing of MPII's person: centred 15 × ``scale`` pixels below ``center``/``objpos`` (which
sits high on the body), side 1.25 × 200 × ``scale``. No
segmentation and no 3D: training uses these samples for the 2D pose sub-net only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from bodynet_cli.data.datasets.frames import AnnotatedFrame
from bodynet_cli.errors import BodyNetError

MATLAB_TO_OURS = -0.5  # 1-based pixel centres -> continuous pixels
CROP_SCALE = 1.25 * 200.0  # crop side per unit of MPII's person scale
CENTRE_DROP = 15.0  # pixels per unit of scale the crop centre lies below MPII's person centre
JSON_SPLITS = {"train": "train.json", "val": "valid.json", "test": "test.json"}


def _person(image: str, joints, vis, center, scale, head_box, source: str) -> dict:
    joints = np.asarray(joints, dtype=np.float64).reshape(16, 2) + MATLAB_TO_OURS
    vis = np.asarray(vis, dtype=np.float64).reshape(16) > 0
    if not np.all(np.isfinite(joints[vis])):
        raise BodyNetError(f"{source}: person in {image} has non-finite joints")
    centre = np.asarray(center, dtype=np.float64).reshape(2) + MATLAB_TO_OURS
    box = None if head_box is None else np.asarray(head_box, dtype=np.float64).reshape(4) + MATLAB_TO_OURS
    return {"image": image, "joints": joints, "visible": vis, "centre": centre, "scale": float(scale),
            "head_box": box}  # fmt: skip


def read_json(path: Path) -> list[dict]:
    """The people of a pose-hourglass JSON annotation file."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BodyNetError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(doc, list):
        raise BodyNetError(f"{path}: expected a list of people (image, joints, joints_vis, center, scale)")
    people = []
    for k, a in enumerate(doc):
        try:
            people.append(_person(str(a["image"]), a["joints"], a.get("joints_vis", np.ones(16)), a["center"],
                                  a["scale"], a.get("headbox", a.get("head_box")), str(path)))  # fmt: skip
        except (KeyError, TypeError, ValueError) as e:
            raise BodyNetError(f"{path}: entry {k} is not an MPII person ({type(e).__name__}: {e})") from None
    return people


def _field(struct, name: str):
    return getattr(struct, name, None) if struct is not None else None


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def read_mat(path: Path) -> list[dict]:
    """The annotated training people of MPII's ``mpii_human_pose_v1_u12_1.mat``."""
    from scipy.io import loadmat

    try:
        release = loadmat(str(path), struct_as_record=False, squeeze_me=True)["RELEASE"]
    except KeyError:
        raise BodyNetError(f"{path}: has no RELEASE struct; not MPII's annotation .mat") from None
    except Exception as e:  # noqa: BLE001 - scipy raises many types for a damaged file
        raise BodyNetError(f"{path}: not a readable MATLAB file ({type(e).__name__}: {e})") from None
    annolist, img_train = _as_list(_field(release, "annolist")), _as_list(_field(release, "img_train"))
    if not annolist or len(img_train) != len(annolist):
        raise BodyNetError(f"{path}: RELEASE.annolist and img_train are missing or disagree in length")
    people = []
    for ann, train in zip(annolist, img_train, strict=True):
        if not train:
            continue
        image = str(_field(_field(ann, "image"), "name"))
        for rect in _as_list(_field(ann, "annorect")):
            points = _as_list(_field(_field(rect, "annopoints"), "point"))
            objpos, scale = _field(rect, "objpos"), _field(rect, "scale")
            if not points or objpos is None or scale is None:
                continue  # a person without joints (MPII marks some so)
            joints, vis = np.zeros((16, 2)), np.zeros(16)
            for p in points:
                j = int(_field(p, "id"))
                if 0 <= j < 16:
                    joints[j] = (float(_field(p, "x")), float(_field(p, "y")))
                    vis[j] = 1
            head = [_field(rect, k) for k in ("x1", "y1", "x2", "y2")]
            people.append(_person(image, joints, vis, (float(_field(objpos, "x")), float(_field(objpos, "y"))),
                                  float(scale), None if any(h is None for h in head) else head, str(path)))  # fmt: skip
    return people


class Mpii:
    """One split of MPII: ``path`` is the annotation file (.mat or .json) or the MPII folder
    (``annot/<split>.json`` or ``mpii_human_pose_v1_u12_1.mat`` inside)."""

    kind = "mpii"
    has_3d = False

    def __init__(self, path: str | os.PathLike, split: str = "test"):
        path = Path(path)
        self.root = path
        if path.is_dir():
            candidates = [path / "annot" / JSON_SPLITS[split], path / JSON_SPLITS[split],
                          path / "mpii_human_pose_v1_u12_1.mat"]  # fmt: skip
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise BodyNetError(f"{path}: no MPII annotation for split {split!r} (looked for "
                                   f"{', '.join(str(c.relative_to(path)) for c in candidates)})")
            path = found
        if not path.is_file():
            raise BodyNetError(f"{path}: no such file (MPII: the annotation .mat or .json, or its folder)")
        suffix = path.suffix.lower()
        if suffix == ".json":
            self.people = read_json(path)
        elif suffix == ".mat":
            self.people = read_mat(path) if split == "train" else []
        else:
            raise BodyNetError(f"{path}: unknown MPII annotation format {suffix!r}; use the .mat or a .json")
        self.annotation = path
        folders = [path.parent / "images", path.parent.parent / "images"]
        self.images = next((f for f in folders if f.is_dir()), folders[0])
        counts: dict[str, int] = {}
        self.names = []
        for p in self.people:
            k = counts.get(p["image"], 0)
            counts[p["image"]] = k + 1
            self.names.append(f"{Path(p['image']).stem}_p{k}")

    def __len__(self) -> int:
        return len(self.people)

    def name(self, i: int) -> str:
        return self.names[i]

    def frame(self, i: int) -> AnnotatedFrame:
        from PIL import Image

        p = self.people[i]
        img_path = self.images / p["image"]
        if not img_path.is_file():
            raise BodyNetError(f"{img_path}: no such image (MPII images go in images/ beside the annotations)")
        try:
            with Image.open(img_path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise BodyNetError(f"{img_path}: unreadable image ({e})") from None
        box = np.array([p["centre"][0], p["centre"][1] + CENTRE_DROP * p["scale"], CROP_SCALE * p["scale"]])
        if not np.all(np.isfinite(box)) or box[2] <= 0:
            raise BodyNetError(f"{self.annotation}: person {self.names[i]} has centre/scale {box.tolist()}")
        return AnnotatedFrame(rgb=rgb, joints2d=p["joints"], visible=p["visible"], head_box=p["head_box"],
                              person_box=box, meta={"dataset": "mpii", "image": str(img_path)})  # fmt: skip
