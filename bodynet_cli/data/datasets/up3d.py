"""UP-3D (Lassner et al., CVPR 2017): images with SMPLify fits of the neutral SMPL body.

Layout (one folder): ``NNNNN_image.png``, ``NNNNN_body.pkl`` (``pose`` (72,), ``betas`` (10,),
``trans`` (3,) and the camera ``f`` (focal, px), ``rt`` (3,) rotation vector, ``t`` (3,)),
``NNNNN_fit_crop_info.txt`` and the split lists ``train.txt``, ``val.txt``, ``test.txt`` (one
``/NNNNN_image.png`` per line). The body was fitted (SMPLify) in a crop of the image, rescaled: the crop
info is ``h w y0 y1 x0 x1``, the fit image h × w showing rows y0..y1 and columns x0..x1 of the image.
In the fit image X_cam = R(rt)·(SMPL(pose, betas) + trans) + t and u = f·X/Z + (w/2, h/2) (SMPLify's
principal point, the centre); in the image that is focal f/λ and principal point (w/2)/λ + x0,
(h/2)/λ + y0 with λ = w/(x1 − x0) = h/(y1 − y0). Without the crop info the fit image is the image.
No mirror: SMPL's left is ours.
The pickles are read by the restricted unpickler of ``body.load`` (numbers and numpy arrays only).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import SMPL_TO_BODYNET
from bodynet_cli.data.datasets.frames import AnnotatedFrame, BodyMesh, render_segmentation
from bodynet_cli.data.datasets.smpl_files import BodyModels
from bodynet_cli.errors import BodyNetError

BODY_KEYS = ("pose", "betas", "trans", "f", "rt", "t")


def read_body_pickle(path: Path) -> dict[str, np.ndarray]:
    """A ``_body.pkl``, through the restricted unpickler: pose (72,), betas (10,), trans (3,), f (), rt (3,), t (3,)."""
    from bodynet_cli.body.load import _read_pkl, _to_array

    if not path.is_file():
        raise BodyNetError(f"{path}: no such file (every UP-3D image needs its _body.pkl)")
    d = _read_pkl(path.read_bytes(), path)
    missing = [k for k in BODY_KEYS if k not in d]
    if missing:
        raise BodyNetError(f"{path}: missing {', '.join(missing)}; not a UP-3D body pickle")
    out = {}
    for key, size in (("pose", 72), ("betas", None), ("trans", 3), ("f", None), ("rt", 3), ("t", 3)):
        a = np.asarray(_to_array(d[key], path, key), dtype=np.float64).ravel()
        if (size is not None and a.size != size) or a.size == 0 or not np.all(np.isfinite(a)):
            raise BodyNetError(f"{path}: '{key}' has {a.size} values{'' if size is None else f', expected {size}'}"
                               " (finite)")
        out[key] = a
    out["f"] = np.float64(out["f"][0])  # one focal length (the release repeats it for x and y)
    if out["f"] <= 0:
        raise BodyNetError(f"{path}: focal length 'f' is {out['f']}, expected > 0")
    return out


def read_split_list(path: Path) -> list[str]:
    """The sample stems (``NNNNN``) of a split list."""
    if not path.is_file():
        raise BodyNetError(f"{path}: no such file; UP-3D needs train.txt, val.txt and test.txt beside its images")
    stems = []
    for line in path.read_text().splitlines():
        name = Path(line.strip()).name
        if not name:
            continue
        if not name.endswith("_image.png"):
            raise BodyNetError(f"{path}: line {line.strip()!r} is not an NNNNN_image.png entry")
        stems.append(name[: -len("_image.png")])
    return stems


def fit_camera(f: float, crop_info: Path, image_hw: tuple[int, int]) -> tuple[float, float, float]:
    """The fit's camera in the image's pixels: (focal, cx, cy), from the fit's focal ``f`` and the crop info
    file (``h w y0 y1 x0 x1``; absent: the fit image is the image, principal point its centre)."""
    if not crop_info.is_file():
        h, w = image_hw
        return f, w / 2.0, h / 2.0
    try:
        h, w, y0, y1, x0, x1 = (float(v) for v in crop_info.read_text().split()[:6])
    except ValueError:
        raise BodyNetError(f"{crop_info}: expected six numbers, h w y0 y1 x0 x1") from None
    if min(h, w, y1 - y0, x1 - x0) <= 0:
        raise BodyNetError(f"{crop_info}: {crop_info.read_text().strip()!r} is not a crop (h w y0 y1 x0 x1)")
    lx, ly = w / (x1 - x0), h / (y1 - y0)
    if abs(lx - ly) > 0.02 * max(lx, ly):
        raise BodyNetError(f"{crop_info}: the fit image is scaled {lx:.3f} across and {ly:.3f} down; expected "
                           "one scale")
    lam = (lx + ly) / 2
    return f / lam, (w / 2.0) / lam + x0, (h / 2.0) / lam + y0


class Up3d:
    """One split of UP-3D, with the user's neutral SMPL file (``body_model``: a file or folder)."""

    kind = "up3d"

    def __init__(self, root: str | os.PathLike, split: str = "test", body_model: str | os.PathLike | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise BodyNetError(f"{self.root}: no such folder (UP-3D: the folder holding NNNNN_image.png files)")
        self.stems = read_split_list(self.root / f"{split}.txt")
        self._body_model = body_model
        self.models: BodyModels | None = None

    def __len__(self) -> int:
        return len(self.stems)

    def name(self, i: int) -> str:
        return self.stems[i]

    def frame(self, i: int) -> AnnotatedFrame:
        import torch
        from PIL import Image
        from scipy.spatial.transform import Rotation

        if self.models is None:
            self.models = BodyModels(self._body_model, "UP-3D")
        stem = self.stems[i]
        img_path = self.root / f"{stem}_image.png"
        try:
            with Image.open(img_path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise BodyNetError(f"{img_path}: unreadable image ({e})") from None
        b = read_body_pickle(self.root / f"{stem}_body.pkl")
        model = self.models.model("neutral")
        r_cam = Rotation.from_rotvec(b["rt"]).as_matrix()
        go_cam = Rotation.from_matrix(r_cam @ Rotation.from_rotvec(b["pose"][:3]).as_matrix()).as_rotvec()
        betas = torch.from_numpy(b["betas"][None])
        pelvis_rest = model.rest_joints(betas)[0, 0].numpy()
        transl = r_cam @ (pelvis_rest + b["trans"]) + b["t"] - pelvis_rest
        out = model(betas, torch.from_numpy(go_cam[None]), torch.from_numpy(b["pose"][None, 3:]),
                    transl=torch.from_numpy(transl[None]))  # fmt: skip
        h, w = rgb.shape[:2]
        crop_info = self.root / f"{stem}_fit_crop_info.txt"
        f, cx, cy = fit_camera(float(b["f"]), crop_info, (h, w))
        joints = out.joints[0].numpy()[SMPL_TO_BODYNET]
        body = BodyMesh(out.vertices[0].numpy(), model.faces.numpy(), model.vertex_part7.numpy())
        if np.any(body.vertices[:, 2] <= 0):
            raise BodyNetError(f"{self.root / f'{stem}_body.pkl'}: the fitted body reaches behind the camera")
        uv = np.stack([f * joints[:, 0] / joints[:, 2] + cx, f * joints[:, 1] / joints[:, 2] + cy], -1)
        return AnnotatedFrame(
            rgb=rgb, joints2d=uv, visible=np.ones(16, bool), joints_cam=joints,
            segmentation=render_segmentation(body, model.vertex_seg15.numpy(), f, cx, cy, h, w),
            f=f, cx=cx, cy=cy, body=body,
            params={"betas": b["betas"], "global_orient": go_cam, "body_pose": b["pose"][3:], "transl": transl},
            meta={"dataset": "up3d", "image": str(img_path),
                  "fit_crop_info": crop_info.read_text().strip() if crop_info.is_file() else None},
        )  # fmt: skip


