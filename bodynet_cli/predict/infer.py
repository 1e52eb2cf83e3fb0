"""The network side of ``predict``: batches of crops in, predictions in original-image pixels out."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from bodynet_cli.body.conventions import PELVIS
from bodynet_cli.geometry.space import Crop
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.predict.crops import person_box


@dataclass
class Prediction:
    """One image's prediction, mapped back to the original image.

    crop: the crop the network saw (original pixels).
    joints2d: float32 (J, 2) x, y original pixels; joints2d_score: float32 (J,) heatmap peaks.
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


def crops_to_image(coords: np.ndarray, crops: list[Crop], size: int) -> np.ndarray:
    """Points in ``size``-pixel crop coordinates (B, J, 2) -> original-image pixels (B, J, 2), one crop each."""
    return np.stack([c.crop_to_image(p, size=size) for p, c in zip(coords, crops, strict=True)])


class Predictor:
    """A loaded BodyNet on one device; ``locate`` finds people in letterboxed images, ``predict`` runs
    the whole model on person crops. bf16 autocast on CUDA unless ``precision='fp32'``."""

    def __init__(self, model: BodyNet, device: torch.device, precision: str = "auto"):
        self.model = model.to(device).eval()
        self.config = model.config
        self.device = device
        if precision == "auto":
            precision = "bf16" if device.type == "cuda" else "fp32"
        self.precision = precision
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one input size for the whole run: autotune once

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

    @torch.inference_mode()
    def locate(self, pixels: np.ndarray, crops: list[Crop]) -> list[np.ndarray | None]:
        """Person boxes (4,) ``x0, y0, x1, y1`` in original pixels, or None where nobody is found.

        pixels: uint8 (B, I, I, 3) letterboxed whole images; crops: their letterbox crops.
        Runs only the segmentation sub-net; its logits are upsampled to the input size before the
        arg-max so the box is located to an input pixel rather than a heatmap pixel.
        """
        from bodynet_cli.models.targets import decode_segmentation

        m = self.model
        x = self._tensor(pixels)
        with self._autocast():
            logits = m.segm((x - m.rgb_mean) / m.rgb_std)[:, -1]
        size = pixels.shape[1]
        labels = decode_segmentation(logits.float(), size).cpu().numpy()
        boxes: list[np.ndarray | None] = []
        for lab, crop in zip(labels, crops, strict=True):
            box = person_box(lab)
            boxes.append(None if box is None else crop.crop_to_image(box.reshape(2, 2), size=size).reshape(4))
        return boxes

    @torch.inference_mode()
    def predict(self, pixels: np.ndarray, crops: list[Crop]) -> list[Prediction]:
        """Run the full model on uint8 (B, I, I, 3) crops and decode every output (see ``Prediction``)."""
        from bodynet_cli.models.targets import decode_heatmaps, decode_segmentation, decode_volume, part_voxel_labels

        cfg = self.config
        with self._autocast():
            out = self.model(self._tensor(pixels))
        coords2d, score = decode_heatmaps(out.heatmaps[:, -1].float())
        coords3d, depth_m = decode_volume(out.volumes[:, -1].float(), cfg.depth_bins)
        seg = decode_segmentation(out.segm_logits[:, -1].float())
        probs = torch.sigmoid(out.voxel_logits[:, -1].float()).half()
        parts = None
        if out.part_voxel_logits is not None:
            parts = part_voxel_labels(out.part_voxel_logits[:, -1].float()).cpu().numpy()
        h = cfg.heatmap_size
        joints2d = crops_to_image(coords2d.cpu().numpy().astype(np.float64), crops, h)
        xy3d = crops_to_image(coords3d.cpu().numpy().astype(np.float64), crops, h)
        depth = depth_m.cpu().numpy().astype(np.float64)
        z = depth - depth[:, PELVIS : PELVIS + 1]
        joints3d = np.concatenate([xy3d, z[..., None]], axis=-1)
        score, seg, probs = score.cpu().numpy(), seg.cpu().numpy(), probs.cpu().numpy()
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
