"""The network side of ``predict``: batches of crops in, predictions in original-image pixels out."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from bodynet_cli.body.conventions import PELVIS
from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.models.bodynet import BodyNet, Proxies


@dataclass
class Prediction:
    """One image's prediction, mapped back to the original image.

    crop: the crop the network saw (original pixels).
    joints2d: float32 (J, 2) x, y original pixels; joints2d_score: float32 (J,) heatmap peaks (a proxy model
        without a pose2d net: the proxies' joints and scores).
    joints3d: float32 (J, 3) x, y original pixels (from the 3D-pose volume), z metres relative to the
        pelvis (from the depth bins, + away from the camera).
    segmentation: uint8 (H, W) classes over the crop, H = W = heatmap size.
    voxel_probs: float16 (R, R, R) occupancy probabilities ``[z, y, x]`` (as stored; half the transfer).
    part_voxels: uint8 (R, R, R) voxel-part labels, or None when the model has no part head.
    """

    crop: Crop
    joints2d: np.ndarray
    joints2d_score: np.ndarray
    joints3d: np.ndarray
    segmentation: np.ndarray
    voxel_probs: np.ndarray
    part_voxels: np.ndarray | None


@dataclass
class CropProxies:
    """A person detector's proxies for a batch of crops (what a proxy model reads instead of RGB).

    joints2d: (B, J, 2) x, y in original-image pixels (continuous); scores: (B, J) in [0, 1], 0 = missing;
    mask: (B, I, I) person mask in [0, 1] over each crop, resampled to the input size I like the crop's pixels.
    """

    joints2d: np.ndarray
    scores: np.ndarray
    mask: np.ndarray


def crops_to_image(coords: np.ndarray, crops: list[Crop], size: int) -> np.ndarray:
    """Points in ``size``-pixel crop coordinates (B, J, 2) -> original-image pixels (B, J, 2), one crop each."""
    return np.stack([c.crop_to_image(p, size=size) for p, c in zip(coords, crops, strict=True)])


class Predictor:
    """A loaded BodyNet on one device; ``predict`` runs the whole model on person crops. bf16 autocast on
    CUDA unless ``precision='fp32'``."""

    def __init__(self, model: BodyNet, device: torch.device, precision: str = "auto"):
        self.model = model.to(device).eval()
        self.config = model.config
        self.device = device
        if precision == "auto":
            precision = "bf16" if device.type == "cuda" else "fp32"
        self.precision = precision
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one input size for the whole run: autotune once

    @property
    def needs_proxies(self) -> bool:
        """The model reads a person detector's joints and mask (``predict`` must pass ``proxies``)."""
        return self.config.uses_proxies

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _tensor(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 (B, I, I, 3) -> float (B, 3, I, I) in [0, 1] on the device."""
        t = torch.from_numpy(np.require(pixels, requirements=("C", "W")))
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        return t.permute(0, 3, 1, 2).float().div_(255.0)

    def _proxies(self, proxies: CropProxies, crops: list[Crop], size: int) -> Proxies:
        """Detector proxies in original pixels -> ``Proxies`` in each crop's input pixels, on the device."""
        b = len(crops)
        joints = np.asarray(proxies.joints2d, dtype=np.float64)
        scores = np.asarray(proxies.scores, dtype=np.float32)
        mask = np.asarray(proxies.mask, dtype=np.float32)
        if joints.shape != (b, self.config.num_joints, 2) or scores.shape != joints.shape[:2] or \
                mask.shape != (b, size, size):
            raise BodyNetError(f"proxies for {b} crops need joints2d ({b}, {self.config.num_joints}, 2), scores "
                               f"({b}, {self.config.num_joints}) and mask ({b}, {size}, {size}); got {joints.shape}, "
                               f"{scores.shape}, {mask.shape}")  # fmt: skip
        inside = np.stack([c.image_to_crop(j, size=size) for j, c in zip(joints, crops, strict=True)])
        t = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)
             for a in (inside, scores, mask[:, None])]  # fmt: skip
        return Proxies(joints=t[0], scores=t[1], mask=t[2])

    @torch.inference_mode()
    def predict(self, pixels: np.ndarray, crops: list[Crop], proxies: CropProxies | None = None) -> list[Prediction]:
        """Run the full model on uint8 (B, I, I, 3) crops and decode every output (see ``Prediction``).

        proxies: a person detector's joints and mask for each crop; a proxy model (config reading 'joints' or
        'mask') needs them, other models ignore them. A model without a pose2d net reports the proxies'
        joints (original pixels) and scores as its ``joints2d`` and ``joints2d_score``.
        """
        from bodynet_cli.models.decode import decode_heatmaps, decode_segmentation, decode_volume, part_voxel_labels

        cfg = self.config
        prox = None
        if proxies is not None and cfg.uses_proxies:
            prox = self._proxies(proxies, crops, pixels.shape[1])
        with self._autocast():
            out = self.model(self._tensor(pixels), prox)
        h = cfg.heatmap_size
        if out.heatmaps is not None:
            coords2d, score = decode_heatmaps(out.heatmaps[:, -1].float())
            joints2d = crops_to_image(coords2d.cpu().numpy().astype(np.float64), crops, h)
            score = score.cpu().numpy()
        else:
            joints2d = np.asarray(proxies.joints2d, dtype=np.float64)
            score = np.asarray(proxies.scores, dtype=np.float32)
        coords3d, depth_m = decode_volume(out.volumes[:, -1].float(), cfg.depth_bins)
        seg = decode_segmentation(out.segm_logits[:, -1].float())
        probs = torch.sigmoid(out.voxel_logits[:, -1].float()).half()
        parts = None
        if out.part_voxel_logits is not None:
            parts = part_voxel_labels(out.part_voxel_logits[:, -1].float()).cpu().numpy()
        xy3d = crops_to_image(coords3d.cpu().numpy().astype(np.float64), crops, h)
        depth = depth_m.cpu().numpy().astype(np.float64)
        z = depth - depth[:, PELVIS : PELVIS + 1]
        joints3d = np.concatenate([xy3d, z[..., None]], axis=-1)
        seg, probs = seg.cpu().numpy(), probs.cpu().numpy()
        return [
            Prediction(
                crop=crops[i],
                joints2d=joints2d[i].astype(np.float32),
                joints2d_score=score[i].astype(np.float32),
                joints3d=joints3d[i].astype(np.float32),
                segmentation=seg[i],
                voxel_probs=probs[i],
                part_voxels=None if parts is None else parts[i],
            )
            for i in range(len(crops))
        ]
