"""From one annotated frame of a published dataset to a sample in our schema (docs/formats.md).

Every reader (SURREAL, UP-3D, MPII) turns its own files into an ``AnnotatedFrame``: the full image,
the 16 joints in our order and left/right convention, and, where the dataset has them, the 15-class
segmentation of the full image and the camera-space body. ``make_sample`` then crops and resamples it
for a model configuration and voxelizes the body in BodyNet space, so every dataset ends up as the
same sample files and training batches as ``bodynet synth`` data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bodynet_cli.body.conventions import NUM_JOINTS, PELVIS
from bodynet_cli.geometry.space import Camera, Crop
from bodynet_cli.io.sample import Sample

# The original BodyNet code's framing (training/util/img.lua, getTightBox/getCenter/getScale): the 16 joints'
# box, widened by 25 % of its width on each side, 35 % of its height above and 25 % below, makes a square
# of side 200/240 of the widened box's longer side (hourglass scale = longer side / 240, side = 200 · scale).
_WIDEN_X, _WIDEN_TOP, _WIDEN_BOTTOM = 0.25, 0.35, 0.25
_SIDE_PER_BOX = 200.0 / 240.0


@dataclass
class BodyMesh:
    """A body in camera metres (OpenCV axes). vertices: float (V, 3); faces: int (F, 3) outward-facing;
    part7: int (V,) voxel part of each vertex in our left/right convention (1..6)."""

    vertices: np.ndarray
    faces: np.ndarray
    part7: np.ndarray


@dataclass
class AnnotatedFrame:
    """One frame of a dataset, in our conventions, before cropping.

    rgb: uint8 (H, W, 3) the full image. joints2d: float (16, 2) x, y image pixels (pixel i covers
    [i, i+1)). visible: bool (16,) whether each joint is annotated and visible. joints_cam: float (16, 3)
    camera metres, or None. segmentation: uint8 (H, W) 15 classes over the full image, or None.
    f, cx, cy: intrinsics in pixels, or None. body: the camera-space mesh, or None. head_box: float (4,)
    x0, y0, x1, y1 of the annotated head, or None. person_box: float (3,) centre x, y and side of the square
    the dataset frames the person with (MPII's centre and scale), or None (the crop then comes from the
    joints). params: body parameters in the camera frame
    (``betas``, ``global_orient``, ``body_pose``, ``transl``), or empty. meta: provenance for the file.
    """

    rgb: np.ndarray
    joints2d: np.ndarray
    visible: np.ndarray
    joints_cam: np.ndarray | None = None
    segmentation: np.ndarray | None = None
    f: float | None = None
    cx: float | None = None
    cy: float | None = None
    body: BodyMesh | None = None
    head_box: np.ndarray | None = None
    person_box: np.ndarray | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


@dataclass
class CroppedFrame:
    """A frame made ready for a model: image uint8 (I, I, 3) of the crop and its sample (ground truth)."""

    image: np.ndarray
    sample: Sample


def bodynet_crop(joints2d: np.ndarray, size: int) -> Crop:
    """The square crop the original BodyNet code takes around a person from its 16 joints (J, 2) pixels.

    Box sizes count pixels inclusively (max − min + 1) and the centre carries the original's one-pixel
    offset (its 1-based joints used as 0-based positions), so crops agree with the paper's to a pixel.
    """
    lo, hi = joints2d.min(axis=0), joints2d.max(axis=0)
    w, h = hi - lo + 1.0
    box_w, box_h = (1 + 2 * _WIDEN_X) * w, (1 + _WIDEN_TOP + _WIDEN_BOTTOM) * h
    cx = lo[0] + 1.0 - _WIDEN_X * w + box_w / 2
    cy = lo[1] + 1.0 - _WIDEN_TOP * h + box_h / 2
    side = max(_SIDE_PER_BOX * max(box_w, box_h), 1.0)
    return Crop(x0=float(cx - side / 2), y0=float(cy - side / 2), side=float(side), size=size)


def crop_labels(labels: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    """Nearest-neighbour resample of a label map (H, W) to the crop at ``size`` (size, size): each output
    pixel takes the label of the input pixel its centre falls in; outside the image is 0."""
    h, w = labels.shape
    c = (np.arange(size) + 0.5) * (crop.side / size)
    xs, ys = np.floor(crop.x0 + c).astype(np.int64), np.floor(crop.y0 + c).astype(np.int64)
    ok = (ys[:, None] >= 0) & (ys[:, None] < h) & (xs[None] >= 0) & (xs[None] < w)
    out = labels[np.clip(ys, 0, h - 1)[:, None], np.clip(xs, 0, w - 1)[None]]
    return np.where(ok, out, 0).astype(labels.dtype)


def project(points: np.ndarray, f: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole projection: camera points (..., 3) -> pixels (..., 2)."""
    return np.stack([f * points[..., 0] / points[..., 2] + cx, f * points[..., 1] / points[..., 2] + cy], -1)


def make_sample(frame: AnnotatedFrame, input_size: int, voxel_res: int, *, part_voxels: bool = True,
                mesh: bool = True, voxels: bool = True) -> CroppedFrame:  # fmt: skip
    """Crop ``frame`` for a model of ``input_size`` and ``voxel_res`` and build its ground truth.

    The crop is the dataset's person box when it has one (MPII), else ``bodynet_crop`` (the paper's
    framing; as there, a body reaching far towards or away from the camera may leave the grid in depth,
    and its voxels stop at the grid's edge). The sample has joints2d (with ``joints2d_visible`` saying
    which have a ground-truth position), joints3d (x, y image pixels of the camera joints, z metres
    relative to the pelvis), the segmentation over the crop at ``input_size``, and, with a body, camera,
    voxels (exact at voxel centres) and part voxels. ``voxels=False`` skips the voxelization (a 2D-only use).
    """
    from bodynet_cli.io.images import LoadedImage, crop_pixels

    h, w = frame.rgb.shape[:2]
    body = frame.body
    z0 = None if frame.joints_cam is None else float(frame.joints_cam[PELVIS, 2])
    if frame.person_box is not None:
        cx, cy, side = (float(v) for v in frame.person_box)
        crop = Crop(cx - side / 2, cy - side / 2, side, input_size)
    else:
        crop = bodynet_crop(frame.joints2d[frame.visible] if frame.visible.any() else frame.joints2d, input_size)
    image = crop_pixels(LoadedImage(frame.rgb, 1.0, w, h), crop)
    s = Sample(joints2d=frame.joints2d.astype(np.float32), crop=crop.to_array(), meta=dict(frame.meta))
    s.joints2d_visible = frame.visible.astype(np.uint8)
    if frame.head_box is not None:
        s.head_box = np.asarray(frame.head_box, dtype=np.float32)
    if frame.segmentation is not None:
        s.segmentation = crop_labels(frame.segmentation, crop, input_size)
    if frame.joints_cam is not None:
        xy = project(frame.joints_cam, frame.f, frame.cx, frame.cy)
        s.joints3d = np.concatenate([xy, frame.joints_cam[:, 2:] - z0], axis=1).astype(np.float32)
        s.camera = Camera(frame.f, frame.cx, frame.cy, z0).to_array()
    if body is not None and voxels:
        import torch

        from bodynet_cli.geometry.space import camera_to_grid
        from bodynet_cli.geometry.voxelize import label_part_voxels, voxelize_camera

        cam = Camera(frame.f, frame.cx, frame.cy, z0)
        vc = torch.from_numpy(body.vertices.astype(np.float64))
        fc = torch.from_numpy(body.faces.astype(np.int64))
        grid_crop = Crop(crop.x0, crop.y0, crop.side, voxel_res)
        occ = voxelize_camera(vc, fc, cam, grid_crop, voxel_res)
        s.voxels = occ.numpy().astype(bool)
        if part_voxels:
            vg = camera_to_grid(vc, cam, grid_crop, voxel_res)
            s.part_voxels = label_part_voxels(occ, vg, fc, torch.from_numpy(body.part7)).numpy()
        if mesh:
            s.vertices = body.vertices.astype(np.float32)
            s.faces = body.faces.astype(np.int32)
    for k, v in frame.params.items():
        setattr(s, k, np.asarray(v, dtype=np.float32))
    assert s.joints2d.shape == (NUM_JOINTS, 2)
    return CroppedFrame(image=image, sample=s)


def render_segmentation(body: BodyMesh, seg15: np.ndarray, f: float, cx: float, cy: float, height: int,
                        width: int) -> np.ndarray:  # fmt: skip
    """The 15-class segmentation of a camera-space body over the full image, uint8 (height, width): each
    pixel takes the class of the nearest corner of the visible face. seg15: int (V,) class per vertex."""
    import torch

    from bodynet_cli.geometry.rasterize import rasterize

    v = torch.from_numpy(body.vertices.astype(np.float64))
    screen = torch.stack([f * v[:, 0] / v[:, 2] + cx, f * v[:, 1] / v[:, 2] + cy, v[:, 2]], dim=-1)
    faces = torch.from_numpy(body.faces.astype(np.int64))
    frag = rasterize(screen[None], faces, height, width)
    face = frag.face_index[0]
    corner = frag.bary[0].argmax(dim=-1)
    vid = faces[face.clamp_min(0), :].gather(-1, corner[..., None])[..., 0]
    labels = torch.from_numpy(np.asarray(seg15, dtype=np.int64))[vid]
    return torch.where(face >= 0, labels, 0).numpy().astype(np.uint8)
