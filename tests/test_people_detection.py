"""Detector decoding: SSD anchors, boxes + keypoints and weighted NMS against naive loops."""

from __future__ import annotations

import math

import numpy as np
import torch

from bodynet_cli.people import detection as det


def naive_anchors(strides=(8, 16, 32, 32, 32), size=224, min_scale=0.1484375, max_scale=0.75):
    """MediaPipe's SsdAnchorsCalculator written as its loops (with the scales it computes and then,
    with fixed anchor size, ignores)."""
    anchors = []
    layer = 0
    n = len(strides)
    while layer < n:
        scales = []
        last = layer
        while last < n and strides[last] == strides[layer]:
            scale = min_scale + (max_scale - min_scale) * last / (n - 1)
            scales.append(scale)  # aspect ratio 1.0
            nxt = 1.0 if last == n - 1 else min_scale + (max_scale - min_scale) * (last + 1) / (n - 1)
            scales.append(math.sqrt(scale * nxt))  # the interpolated anchor
            last += 1
        fm = math.ceil(size / strides[layer])
        for y in range(fm):
            for x in range(fm):
                for _ in scales:
                    anchors.append(((x + 0.5) / fm, (y + 0.5) / fm))
        layer = last
    return np.array(anchors)


def test_anchors_match_mediapipes_loop():
    a = det.ssd_anchors()
    assert a.shape == (2254, 2)  # the detector's output count
    np.testing.assert_allclose(a, naive_anchors(), atol=1e-7)
    np.testing.assert_allclose(a[:2], [[0.5 / 28, 0.5 / 28]] * 2, atol=1e-7)  # 2 anchors per stride-8 cell
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7], atol=1e-7)


def test_decode_matches_naive_loop():
    rng = np.random.default_rng(3)
    b, a = 2, 30
    raw = rng.normal(0, 40, size=(b, a, 12)).astype(np.float32)
    logits = rng.normal(0, 80, size=(b, a, 1)).astype(np.float32)
    anchors = rng.uniform(0, 1, size=(a, 2)).astype(np.float32)
    boxes, kps, scores = det.decode(torch.from_numpy(raw), torch.from_numpy(logits), torch.from_numpy(anchors))
    for i in range(b):
        for j in range(a):
            ax, ay = anchors[j]
            xc, yc = raw[i, j, 0] / 224 + ax, raw[i, j, 1] / 224 + ay
            w, h = raw[i, j, 2] / 224, raw[i, j, 3] / 224
            np.testing.assert_allclose(boxes[i, j].numpy(), [xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2],
                                       atol=1e-6)
            for k in range(4):
                kx, ky = raw[i, j, 4 + 2 * k] / 224 + ax, raw[i, j, 5 + 2 * k] / 224 + ay
                np.testing.assert_allclose(kps[i, j, k].numpy(), [kx, ky], atol=1e-6)
            s = min(max(float(logits[i, j, 0]), -100.0), 100.0)
            np.testing.assert_allclose(scores[i, j].item(), 1 / (1 + math.exp(-s)), rtol=1e-5, atol=1e-30)


def naive_iou(p, q):
    iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = iw * ih
    union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
    return inter / union if union > 0 else 0.0


def naive_weighted_nms(boxes, kps, scores, thr):
    remaining = sorted(range(len(scores)), key=lambda i: -scores[i])
    out = []
    while remaining:
        top = remaining[0]
        cand = [i for i in remaining if naive_iou(boxes[i], boxes[top]) > thr]
        rest = [i for i in remaining if i not in cand]
        total = sum(scores[i] for i in cand)
        box = sum(boxes[i] * scores[i] for i in cand) / total
        kp = sum(kps[i] * scores[i] for i in cand) / total
        out.append((box, kp, scores[top]))
        remaining = rest
    return out


def test_weighted_nms_matches_naive_loop():
    rng = np.random.default_rng(4)
    for _ in range(5):
        n = 40
        centres = rng.uniform(0.2, 0.8, size=(4, 2))[rng.integers(0, 4, n)] + rng.normal(0, 0.03, (n, 2))
        half = rng.uniform(0.05, 0.12, size=(n, 1))
        boxes = np.concatenate([centres - half, centres + half], 1)
        kps = rng.uniform(0, 1, size=(n, 4, 2))
        scores = rng.uniform(0.5, 1.0, size=n)
        got = det.weighted_nms(boxes, kps, scores, 0.3)
        want = naive_weighted_nms(boxes, kps, scores, 0.3)
        assert len(got) == len(want) and len(got) >= 2
        for g, (box, kp, s) in zip(got, want, strict=True):
            np.testing.assert_allclose(g.box, box, atol=1e-12)
            np.testing.assert_allclose(g.keypoints, kp, atol=1e-12)
            assert g.score == s


def test_box_iou_matches_naive():
    rng = np.random.default_rng(5)
    a = np.sort(rng.uniform(0, 1, (20, 2, 2)), axis=1).transpose(0, 2, 1).reshape(20, 4)[:, [0, 2, 1, 3]]
    for i in range(20):
        np.testing.assert_allclose(det.box_iou(a[i], a), [naive_iou(a[i], q) for q in a], atol=1e-12)
