"""Find every person in whole photos with MediaPipe's BlazePose networks (converted to torch).

detector (224×224 letterbox) -> anchors + weighted NMS -> one rotated region per person -> landmark
network (256×256, batched over all people of all images) -> 33 landmarks, visibility, presence, a
person mask -> original-image pixels; then bodynet's 16 joints (``people/joints.py``).

What follows MediaPipe's graphs (``pose_detection_cpu``, ``pose_landmark_by_roi_cpu``,
``tensors_to_pose_landmarks_and_segmentation``; mediapipe 0.10.21): the letterbox with black borders
and [-1, 1] input, the region rule, the landmark input in [0, 1] with replicated borders, the landmark
decoding (x, y, z in input pixels, visibility and presence through a sigmoid), the heatmap refinement
(7×7 window, applied when its peak confidence reaches 0.5), the pose flag threshold 0.5. Where this
differs on purpose: every detection is kept (MediaPipe's pose solution tracks one person); regions
are resampled with a 2×2-average pyramid instead of plain bilinear sampling (no aliasing on large
photos); people whose landmark regions overlap heavily are merged (the detector's NMS works on face
boxes and can leave two detections of one body).

Letters: N people, L landmarks (33), I landmark input size (256).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.people import detection as det
from bodynet_cli.people.graph import load_graph
from bodynet_cli.people.joints import landmarks_to_joints
from bodynet_cli.people.roi import Roi, apply_affine, body_distance, roi_from_keypoints, sample_grid, warp

LANDMARK_SIZE = 256
HEATMAP_KERNEL = 7
MIN_REFINE_CONFIDENCE = 0.5
NUM_LANDMARKS = 33
FIRST_BODY_LANDMARK = 11  # 0-10 are the face
AUX_HIPS, AUX_SCALE = 33, 34  # auxiliary landmarks: the body's region for tracking (MediaPipe)
LANDMARK_BATCH = 32
DETECTOR_BATCH = 64
TILE_FRACTION = 0.6
SAME_MASK = 0.8  # two people whose masks overlap this much (of the smaller) are one (``mask_overlap``)
# Resampling (``roi.warp``): shrink at most this much by plain bilinear sampling, prefilter beyond.
# The detector shrinks whole photos by large factors, and plain sampling makes its scores flicker
# around the threshold (skimage's ``camera``: 0.44 to 0.57 under half-pixel shifts, 0.61 prefiltered).
# The landmark crops stay closer to MediaPipe's plain sampling (the astronaut's visible landmarks:
# 3.0 px from MediaPipe's with plain sampling, 5.5 px prefiltered from 2×), bounded for large photos.
DETECTOR_MAX_SHRINK = 2.0
LANDMARK_MAX_SHRINK = 4.0


@dataclass
class Person:
    """One person in original-image pixels (continuous coordinates: pixel i covers [i, i+1)).

    score: detector score after NMS; pose_score: the landmark network's pose flag in [0, 1].
    box: (4,) x0, y0, x1, y1 around the whole person: the mask > 0.5 (inside the image) and the
        landmarks with visibility > 0.5 (also outside the image).
    landmarks: (33, 3) x, y pixels, z BlazePose's depth relative to the hips (same scale as x).
    visibility, presence: (33,) in [0, 1].
    world_landmarks: (33, 3) metres, hip-centred (BlazePose's world landmarks).
    joints2d: (16, 2) pixels, docs/formats.md joint order; joints2d_score: (16,).
    image_size: (width, height) of the image in pixels.
    roi: the rotated square the landmark network saw; roi_mask: float32 (I, I) the person's mask
        probability over it. body_axis: (2, 2) the landmark network's auxiliary landmarks 33, 34 (mid-hips
        and the size/rotation point, as the detector's keypoints 0, 1; MediaPipe tracks with them).
    """

    score: float
    pose_score: float
    box: np.ndarray
    landmarks: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    world_landmarks: np.ndarray
    joints2d: np.ndarray
    joints2d_score: np.ndarray
    roi: Roi
    body_axis: np.ndarray
    image_size: tuple[int, int]
    roi_mask: np.ndarray = field(repr=False)

    def mask_in(self, crop: Crop) -> np.ndarray:
        """This person's mask probability resampled into ``crop``: float32 (crop.size, crop.size).

        0 outside the ROI and outside the image (there the network saw replicated border pixels).
        """
        matrix = self.roi.to_roi_matrix(LANDMARK_SIZE) @ crop.crop_to_image_matrix()  # crop pixels -> ROI pixels
        grid = sample_grid(matrix[None], crop.size, LANDMARK_SIZE, LANDMARK_SIZE)
        mask = torch.from_numpy(np.ascontiguousarray(self.roi_mask, dtype=np.float32))[None, None]
        out = F.grid_sample(mask, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0].numpy()
        centres = (np.arange(crop.size) + 0.5) * (crop.side / crop.size)
        inside_x = (centres + crop.x0 >= 0) & (centres + crop.x0 < self.image_size[0])
        inside_y = (centres + crop.y0 >= 0) & (centres + crop.y0 < self.image_size[1])
        return out * (inside_y[:, None] & inside_x[None, :])


def refine_from_heatmap(xy: torch.Tensor, heatmap: torch.Tensor, input_size: int = LANDMARK_SIZE,
                        kernel: int = HEATMAP_KERNEL, min_confidence: float = MIN_REFINE_CONFIDENCE) -> torch.Tensor:
    """MediaPipe's landmark refinement: xy (N, L, 2) input pixels, heatmap (N, L, H, W) logits -> xy (N, L, 2).

    For a landmark inside the heatmap, its cell (col, row) = trunc(x/I·W), trunc(y/I·H); over the
    kernel×kernel window around it (cut at the map's border) with confidences c = sigmoid(heatmap):
    if max c >= min_confidence, the landmark moves to Σ c·(col, row) / Σ c, in heatmap cells (MediaPipe
    takes a cell's index, not its centre, as its position), scaled back to input pixels.
    """
    n, lm, h, w = heatmap.shape
    conf = torch.sigmoid(heatmap)
    r = (kernel - 1) // 2
    padded = F.pad(conf, (r, r, r, r))  # zeros: the window is cut at the border
    col = torch.trunc(xy[..., 0] / input_size * w).long()
    row = torch.trunc(xy[..., 1] / input_size * h).long()
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    offs = torch.arange(kernel, device=xy.device)
    rr = row.clamp(0, h - 1)[..., None] + offs  # padded rows of the window (N, L, k)
    cc = col.clamp(0, w - 1)[..., None] + offs
    ni = torch.arange(n, device=xy.device)[:, None, None, None]
    li = torch.arange(lm, device=xy.device)[None, :, None, None]
    win = padded[ni, li, rr[..., :, None], cc[..., None, :]]  # (N, L, k, k)
    total = win.sum((-1, -2))
    wcol = (win * (cc - r)[..., None, :].to(win.dtype)).sum((-1, -2))
    wrow = (win * (rr - r)[..., :, None].to(win.dtype)).sum((-1, -2))
    peak = win.amax((-1, -2))
    ok = inside & (peak >= min_confidence) & (total > 0)
    refined = torch.stack([wcol / total.clamp_min(1e-12) / w, wrow / total.clamp_min(1e-12) / h], -1) * input_size
    return torch.where(ok[..., None], refined, xy)


class FrontEnd:
    """BlazePose on whole photos: ``detect(images) -> per image, the people found``, largest first.

    device: torch device for both networks. min_score: detector score threshold (MediaPipe: 0.5).
    min_pose_score: the landmark network's pose flag below which a detection is dropped as false (0.5).
    min_body_landmarks: a person needs at least this many body landmarks (shoulders and below,
    11-32) visible (> 0.5) inside the image; else dropped (face-only close-ups, false detections).
    same_body: two detections (from different detector windows), or two people after the landmarks,
    whose body axes are closer than this (``roi.body_distance``) are one person; the better detector
    score is kept. tiles: also run the detector on overlapping windows (see ``_detect``).
    assets: folder of the converted networks (default: the package's).
    """

    def __init__(self, device="cpu", min_score: float = det.MIN_SCORE, min_pose_score: float = 0.5,
                 min_body_landmarks: int = 2, same_body: float = 0.3, tiles: bool = True,
                 assets: str | Path | None = None):
        self.device = torch.device(device)
        self.tiles = tiles
        self.min_score = min_score
        self.min_pose_score = min_pose_score
        self.min_body_landmarks = min_body_landmarks
        self.same_body = same_body
        self.detector = load_graph("pose_detection", assets).to(self.device)
        self.landmarker = load_graph("pose_landmark_full", assets).to(self.device)
        self.anchors = torch.from_numpy(det.ssd_anchors()).to(self.device)

    @torch.no_grad()
    def detect(self, images: list[np.ndarray]) -> list[list[Person]]:
        """images: uint8 (H, W, 3) RGB each -> per image the people, sorted by box area, largest first."""
        if not images:
            return []
        for i, im in enumerate(images):
            if not (isinstance(im, np.ndarray) and im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3):
                raise BodyNetError(f"person front end: image {i} must be uint8 (H, W, 3) RGB, got "
                                   f"{getattr(im, 'dtype', type(im))} {getattr(im, 'shape', '')}")
        # (3, H, W) contiguous, made so in uint8: warp's sampling and pyramid want it, and a float copy
        # of the HWC view costs 4× more (made once per warp before).
        tensors = [torch.tensor(im, device=self.device).permute(2, 0, 1).contiguous().float() for im in images]
        detections = self._detect(tensors)
        rois = [[roi_from_keypoints(d.keypoints[0], d.keypoints[1]) for d in ds] for ds in detections]
        crops = [warp(t, np.stack([r.to_image_matrix(LANDMARK_SIZE) for r in rs]), LANDMARK_SIZE, "border",
                      LANDMARK_MAX_SHRINK)
                 for t, rs in zip(tensors, rois, strict=True) if rs]
        people: list[list[Person]] = [[] for _ in images]
        if not crops:
            return people
        outputs = self._landmarks(torch.cat(crops) / 255.0)
        k = 0
        for i, (ds, rs) in enumerate(zip(detections, rois, strict=True)):
            found = []
            for d, roi in zip(ds, rs, strict=True):
                p = self._person(d.score, roi, {name: v[k] for name, v in outputs.items()}, images[i].shape)
                k += 1
                if p is not None:
                    found.append((d, p))
            people[i] = self._deduplicate(found)
            people[i].sort(key=lambda p: -(p.box[2] - p.box[0]) * (p.box[3] - p.box[1]))
        return people

    def _detect(self, tensors: list[torch.Tensor]) -> list[list[det.Detection]]:
        """Detections per image (H, W), keypoints and boxes in original pixels.

        The detector sees each image letterboxed whole (MediaPipe) and, with ``tiles``, also as
        overlapping square windows (``detector_windows``), all in one batch: it scores one dominant
        person per view highly and small people low, so windows find the others. Per window MediaPipe's
        weighted NMS; across windows, detections whose body axes (keypoints 0, 1) are closer than
        ``same_body`` are one: the whole image's detection is kept (MediaPipe's view; on the test photos
        its landmarks are the closer to MediaPipe's), else the best-scored window's.
        """
        size = det.INPUT_SIZE
        windows = [detector_windows(t.shape[2], t.shape[1], self.tiles) for t in tensors]
        batch = torch.cat([
            warp(t, np.stack([[[c.side / size, 0.0, c.x0], [0.0, c.side / size, c.y0]] for c in ws]), size,
                 "zeros", DETECTOR_MAX_SHRINK)
            for t, ws in zip(tensors, windows, strict=True)
        ]) / 127.5 - 1.0  # black borders (0) become -1, as MediaPipe's BORDER_ZERO
        raw = [self.detector(batch[i:i + DETECTOR_BATCH]) for i in range(0, len(batch), DETECTOR_BATCH)]
        boxes, keypoints, scores = det.decode(torch.cat([o["Identity"] for o in raw]),
                                              torch.cat([o["Identity_1"] for o in raw]), self.anchors, size)
        boxes, keypoints, scores = (v.cpu().double().numpy() for v in (boxes, keypoints, scores))
        result, k = [], 0
        for ws in windows:
            found = []
            for w, c in enumerate(ws):
                keep = scores[k] >= self.min_score
                for d in det.weighted_nms(boxes[k, keep], keypoints[k, keep], scores[k, keep]):
                    d.box = c.crop_to_image((d.box * size).reshape(2, 2)).reshape(4)  # -> original pixels
                    d.keypoints = c.crop_to_image(d.keypoints * size)
                    d.view = w
                    found.append(d)
                k += 1
            kept: list[det.Detection] = []
            for d in sorted(found, key=_preference):
                if all(body_distance(d.keypoints[:2], e.keypoints[:2]) >= self.same_body for e in kept):
                    kept.append(d)
            result.append(kept)
        return result

    def _landmarks(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Landmark network on (N, 3, I, I) in [0, 1], in chunks; decoded outputs per person."""
        outs = [self.landmarker(batch[i:i + LANDMARK_BATCH]) for i in range(0, len(batch), LANDMARK_BATCH)]
        raw = torch.cat([o["Identity"] for o in outs]).reshape(len(batch), -1, 5)
        heatmap = torch.cat([o["Identity_3"] for o in outs])
        xy = refine_from_heatmap(raw[..., :2], heatmap)
        return {
            "xyz": torch.cat([xy, raw[..., 2:3]], -1).cpu().double().numpy(),
            "visibility": torch.sigmoid(raw[..., 3]).cpu().numpy(),
            "presence": torch.sigmoid(raw[..., 4]).cpu().numpy(),
            "pose_score": torch.cat([o["Identity_1"] for o in outs])[:, 0].cpu().numpy(),
            "mask": torch.sigmoid(torch.cat([o["Identity_2"] for o in outs])[:, 0]).cpu().numpy(),
            "world": torch.cat([o["Identity_4"] for o in outs]).reshape(len(batch), -1, 3).cpu().numpy(),
        }

    def _person(self, score: float, roi: Roi, out: dict, shape) -> Person | None:
        """One detection's decoded landmark outputs -> a Person in original pixels, or None if false."""
        if out["pose_score"] < self.min_pose_score:
            return None
        to_image = roi.to_image_matrix(LANDMARK_SIZE)
        xyz = out["xyz"].copy()
        xyz[:, :2] = apply_affine(to_image, xyz[:, :2])
        xyz[:, 2] *= roi.size / LANDMARK_SIZE
        vis = out["visibility"][:NUM_LANDMARKS]
        xy = xyz[FIRST_BODY_LANDMARK:NUM_LANDMARKS, :2]
        inside = (xy >= 0).all(-1) & (xy < [shape[1], shape[0]]).all(-1)
        if np.count_nonzero(inside & (vis[FIRST_BODY_LANDMARK:] > 0.5)) < self.min_body_landmarks:
            return None  # a face alone (skimage's cat gets a pose flag of 0.93) is no body to model
        joints, joint_score = landmarks_to_joints(xyz[:NUM_LANDMARKS], vis)
        return Person(
            score=float(score), pose_score=float(out["pose_score"]),
            box=person_box(out["mask"], to_image, xyz[:NUM_LANDMARKS, :2], vis, shape[1], shape[0]),
            landmarks=xyz[:NUM_LANDMARKS].astype(np.float32), visibility=vis.astype(np.float32),
            presence=out["presence"][:NUM_LANDMARKS].astype(np.float32),
            world_landmarks=out["world"][:NUM_LANDMARKS].astype(np.float32),
            joints2d=joints, joints2d_score=joint_score, roi=roi,
            body_axis=xyz[[AUX_HIPS, AUX_SCALE], :2].astype(np.float32), image_size=(shape[1], shape[0]),
            roi_mask=out["mask"].astype(np.float32),
        )

    def _deduplicate(self, found: list[tuple[det.Detection, Person]]) -> list[Person]:
        """Drop people whose landmark body axis (auxiliary landmarks 33, 34) is within ``same_body`` of a
        preferred person's (``roi.body_distance``; preference as in ``_detect``), or whose mask lies
        mostly inside a preferred person's (``mask_overlap``): a second detection of one body from a
        window that saw only part of it has a body axis of its own but the same pixels."""
        kept: list[Person] = []
        for _, p in sorted(found, key=lambda dp: _preference(dp[0])):
            if all(body_distance(p.body_axis, q.body_axis) >= self.same_body and mask_overlap(p, q) < SAME_MASK
                   for q in kept):  # fmt: skip
                kept.append(p)
        return kept


def mask_overlap(a: Person, b: Person, size: int = 96) -> float:
    """The share of the smaller of two people's masks (> 0.5) that the other covers, on a ``size``² square
    over the whole image: near 1 for two detections of one body, small for people side by side."""
    w, h = a.image_size
    side = float(max(w, h))
    whole = Crop((w - side) / 2, (h - side) / 2, side, size)
    ma, mb = a.mask_in(whole) > 0.5, b.mask_in(whole) > 0.5
    smaller = min(ma.sum(), mb.sum())
    return float((ma & mb).sum() / smaller) if smaller else 0.0


def person_box(mask: np.ndarray, to_image: np.ndarray, landmarks: np.ndarray, visibility: np.ndarray,
               width: int, height: int) -> np.ndarray:
    """(4,) x0, y0, x1, y1: the mask (I, I) pixels > 0.5 whose centres lie in the image (their corners
    through the ROI affine ``to_image`` (2, 3), cut to the image) joined with the landmarks (L, 2) whose
    visibility (L,) > 0.5 (not cut)."""
    pts = []
    ys, xs = np.nonzero(mask > 0.5)
    centres = apply_affine(to_image, np.stack([xs, ys], -1) + 0.5)
    inside = (centres >= 0).all(-1) & (centres < [width, height]).all(-1)
    xs, ys = xs[inside], ys[inside]
    if len(xs):
        corners = np.stack([np.stack([xs + dx, ys + dy], -1) for dx in (0, 1) for dy in (0, 1)]).reshape(-1, 2)
        img = np.clip(apply_affine(to_image, corners.astype(np.float64)), 0, [width, height])
        pts.append(np.concatenate([img.min(0), img.max(0)]).reshape(2, 2))
    seen = landmarks[visibility > 0.5]
    pts.append(seen if len(seen) else landmarks)
    allp = np.concatenate(pts)
    return np.concatenate([allp.min(0), allp.max(0)]).astype(np.float32)


def _preference(d: det.Detection) -> tuple[bool, float]:
    """Sort key among detections of one body: the whole image's view first, then the higher score."""
    return d.view > 0, -d.score


def detector_windows(width: int, height: int, tiles: bool, fraction: float = TILE_FRACTION) -> list[Crop]:
    """Square views of a width × height image for the detector: the letterbox of the whole image, then
    (``tiles``) windows of side ``fraction`` × the longer side, overlapping by at least half, covering
    the image (centred on an axis the window is longer than)."""
    long = float(max(width, height))
    out = [Crop(x0=(width - long) / 2, y0=(height - long) / 2, side=long, size=det.INPUT_SIZE)]
    if not tiles:
        return out
    side = fraction * long

    def starts(n: float) -> np.ndarray:
        if n <= side:
            return np.array([(n - side) / 2])
        count = int(np.ceil((n - side) / (side / 2))) + 1
        return np.linspace(0.0, n - side, count)

    out += [Crop(x0=float(x), y0=float(y), side=side, size=det.INPUT_SIZE)
            for y in starts(float(height)) for x in starts(float(width))]
    return out
