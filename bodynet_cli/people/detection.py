"""BlazePose person detector: SSD anchors, box + keypoint decoding, weighted non-maximum suppression.

The parameters are those of MediaPipe's ``pose_detection_cpu`` graph (mediapipe 0.10.21): a 224×224
letterboxed input in [-1, 1], 2254 anchors on strides 8, 16, 32, 32, 32, boxes and 4 keypoints in input
pixels relative to the anchor centre, sigmoid scores clipped at ±100, minimum score 0.5, weighted NMS at
IoU 0.3. The detector's box is the FACE's box; keypoint 0 is the mid-hip centre and keypoint 1 a point
whose distance and direction from it give the full body's size and rotation (keypoints 2, 3: the same
for the upper body). Everything here is in normalized [0, 1] coordinates of the letterboxed square.

Letters: B images, A anchors, N detections, K keypoints (4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
MIN_SCALE, MAX_SCALE = 0.1484375, 0.75
# Anchor width/height ratios (MediaPipe's aspect_ratios).
WIDTH_HEIGHT_RATIOS = (1.0,)
# MediaPipe's SsdAnchorsCalculator default: one extra anchor per layer at the geometric mean scale.
INTERPOLATED_SCALE_RATIO = 1.0  # MediaPipe's interpolated_scale_aspect_ratio
ANCHOR_OFFSET = 0.5
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
NMS_IOU = 0.3
NUM_KEYPOINTS = 4


def ssd_anchors(input_size: int = INPUT_SIZE, strides=STRIDES) -> np.ndarray:
    """Anchor centres (A, 2) x, y in [0, 1], in the order of the detector's outputs.

    Layers with the same stride share one feature map; each of its cells holds, per layer, one anchor
    per aspect ratio plus the interpolated one. With MediaPipe's ``fixed_anchor_size`` every anchor's
    width and height are 1, so only the centres matter (the scales only fix the anchor count).
    """
    out = []
    layer = 0
    while layer < len(strides):
        same = layer
        per_cell = 0
        while same < len(strides) and strides[same] == strides[layer]:
            per_cell += len(WIDTH_HEIGHT_RATIOS) + (1 if INTERPOLATED_SCALE_RATIO > 0 else 0)
            same += 1
        n = -(-input_size // strides[layer])  # ceil
        ys, xs = np.meshgrid((np.arange(n) + ANCHOR_OFFSET) / n, (np.arange(n) + ANCHOR_OFFSET) / n, indexing="ij")
        centres = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
        layer = same
    return np.concatenate(out).astype(np.float32)


def decode(raw_boxes: torch.Tensor, raw_scores: torch.Tensor, anchors: torch.Tensor,
           input_size: int = INPUT_SIZE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Detector outputs -> boxes (B, A, 4) x0 y0 x1 y1, keypoints (B, A, K, 2) x y, scores (B, A).

    raw_boxes: (B, A, 4 + 2K) x, y, w, h, then keypoints x, y, in input pixels relative to the anchor
    centre (anchor width = height = 1); raw_scores: (B, A) or (B, A, 1) logits; anchors: (A, 2).
    """
    raw = raw_boxes / input_size
    centre = raw[..., 0:2] + anchors
    half = raw[..., 2:4] / 2
    boxes = torch.cat([centre - half, centre + half], dim=-1)
    keypoints = raw[..., 4:].reshape(*raw.shape[:-1], -1, 2) + anchors[:, None, :]
    scores = torch.sigmoid(raw_scores.reshape(raw.shape[:-1]).clamp(-SCORE_CLIP, SCORE_CLIP))
    return boxes, keypoints, scores


@dataclass
class Detection:
    """One detected person in normalized letterbox coordinates.

    box: (4,) x0, y0, x1, y1 of the face; keypoints: (K, 2) x, y; score: the best candidate's score;
    view: which of the detector's views of the image it came from (0: the whole image).
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float
    view: int = 0


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) with boxes (N, 4), all x0, y0, x1, y1; 0 where the union is empty."""
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou: float = NMS_IOU) -> list[Detection]:
    """MediaPipe's weighted non-maximum suppression.

    boxes (N, 4), keypoints (N, K, 2), scores (N,). Repeatedly: take the best remaining detection; every
    remaining one whose IoU with it exceeds ``iou`` (itself included) is merged into one detection whose
    box corners and keypoints are the score-weighted means, with the best one's score; the rest go on.
    """
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        best = order[0]
        merge = box_iou(boxes[best], boxes[order]) > iou
        merge[0] = True  # itself, even if its box is empty
        group = order[merge]
        w = scores[group][:, None]
        out.append(Detection(
            box=(boxes[group] * w).sum(0) / w.sum(),
            keypoints=(keypoints[group] * w[:, :, None]).sum(0) / w.sum(),
            score=float(scores[best]),
        ))
        order = order[~merge]
    return out
