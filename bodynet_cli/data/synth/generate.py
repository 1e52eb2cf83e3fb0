"""One synthetic sample: a random body, camera and appearance, rendered at the BodyNet crop, with its
complete SPEC section 4 ground truth.

Every random choice comes from generators seeded by ``(seed, index, stream)``, so a sample depends on
nothing but its seed and index (not on the worker that makes it or the samples made before it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from bodynet_cli import __version__
from bodynet_cli.body.conventions import PELVIS, SEG_TO_VOXEL_PART
from bodynet_cli.body.model_data import BodyModelData
from bodynet_cli.body.pose_library import DEFAULT_WEIGHTS
from bodynet_cli.data.synth.appearance import (
    BodyLayout,
    add_occluders,
    corrupt,
    evaluate_texture,
    face_majority,
    sample_lighting,
    sample_outfit,
    shade,
    vertex_regions,
)
from bodynet_cli.data.synth.backgrounds import sample_background
from bodynet_cli.data.synth.bodies import sample_body
from bodynet_cli.data.synth.camera import (
    TRUNCATED,
    CameraSettings,
    grow_crop,
    sample_camera,
    sample_crop,
    sample_framing,
    shifted_crop,
    truncated_crop,
)
from bodynet_cli.geometry.rasterize import Fragments, interpolate, rasterize
from bodynet_cli.geometry.space import Camera, Crop, camera_to_grid, project
from bodynet_cli.io.sample import Sample
from bodynet_cli.models.config import ModelConfig

# Independent random streams per sample: changing how one aspect is drawn leaves the others alone.
_BODY, _CAMERA, _LOOK, _IMAGE = range(4)


@dataclass(frozen=True)
class SynthSettings:
    """Everything that decides the data besides the body model: recorded in every sample's ``meta``.

    seed: the dataset's seed; input_size: side of the saved image and segmentation (pixels);
    voxel_res: R of ``voxels`` and ``part_voxels``; pose_spread: perturbation scale of the library poses;
    pose_weights: probability weight of each pose family (``bodynet_cli.body.pose_library.FAMILIES``);
    p_extreme: share of extreme-shape bodies; tilt_deg: body tilt range; p_photo: share of photograph
    backgrounds; p_occluder: share of images with occluders; supersample: body colour samples per pixel
    side (anti-aliasing; the segmentation is always the label at the pixel centre); camera: the camera's
    random ranges.
    """

    seed: int = 0
    input_size: int = 128
    voxel_res: int = 64
    pose_spread: float = 1.0
    pose_weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    p_extreme: float = 0.1
    tilt_deg: float = 8.0
    p_photo: float = 0.6
    p_occluder: float = 0.2
    supersample: int = 2
    camera: CameraSettings = field(default_factory=CameraSettings)

    @classmethod
    def for_config(cls, config: ModelConfig, seed: int = 0, **changes) -> SynthSettings:
        return cls(**{"seed": seed, "input_size": config.input_size, "voxel_res": config.voxel_res, **changes})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SynthItem:
    """A generated sample: ``image`` uint8 (H, W, 3) (the crop at input size) and its ground truth."""

    image: np.ndarray
    sample: Sample


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit vertex normals (B, V, 3) of meshes (B, V, 3) with faces (F, 3): area-weighted face normals,
    pointing out of a mesh whose faces run counter-clockwise seen from outside."""
    tri = vertices[:, faces]  # (B, F, 3, 3)
    fn = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    vn = torch.zeros_like(vertices)
    for k in range(3):
        vn.index_add_(1, faces[:, k], fn)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)


def render_fragments(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, crop: Crop, size: int,
                     cull_backfaces: bool = True) -> Fragments:
    """Rasterize camera-space meshes (B, V, 3) into the crop at ``size`` × ``size`` pixels."""
    grid = camera_to_grid(vertices, camera, crop, size)
    screen = torch.stack([grid[..., 0], grid[..., 1], vertices[..., 2]], -1)
    return rasterize(screen, faces, size, size, cull_backfaces=cull_backfaces)


class SynthGenerator:
    """Makes samples for one body model and one set of settings (holds the model and its tables)."""

    def __init__(self, body: BodyModelData, settings: SynthSettings) -> None:
        from bodynet_cli.body.model import BodyModel
        from bodynet_cli.geometry.voxelize import check_watertight

        self.body, self.settings = body, settings
        self.model = BodyModel(body)
        self.faces = torch.as_tensor(body.faces, dtype=torch.long)
        self.faces_np = np.asarray(body.faces, np.int64)
        seg15 = np.asarray(body.vertex_seg15, np.int64)
        self.face_seg15 = face_majority(seg15, self.faces_np)
        self.vertex_part7 = torch.as_tensor(SEG_TO_VOXEL_PART[seg15])
        self.layout = BodyLayout.from_model(body.v_template, body.J_regressor, seg15)
        self.rest = torch.as_tensor(self.layout.rest)
        # decided once: a closed, consistently oriented body model is voxelized by winding numbers without
        # re-checking its topology per sample; anything else lets the voxelizer check and choose
        self.closed = True if check_watertight(self.faces_np, body.v_template).oriented else None

    def _composite(self, vertices: torch.Tensor, camera: Camera, crop: Crop, frag: Fragments, outfit, lighting,
                   face_region: np.ndarray, background: np.ndarray) -> np.ndarray:
        """The shaded body over ``background`` (N, N, 3) float32, anti-aliased by rendering the body at
        ``supersample``² samples per pixel and averaging colour and coverage."""
        N, ss = background.shape[0], self.settings.supersample
        if ss > 1:
            frag = render_fragments(vertices, self.faces, camera, crop, N * ss)
        fi = frag.face_index[0].numpy()
        fg = fi >= 0
        normals = interpolate(frag, self.faces, vertex_normals(vertices, self.faces))[0].numpy()[fg]
        normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
        rest_points = interpolate(frag, self.faces, self.rest)[0].numpy()[fg]
        regions = face_region[fi[fg]]
        albedo = np.zeros((len(regions), 3), np.float32)
        for r, tex in enumerate(outfit.textures):
            m = regions == r
            if m.any():
                albedo[m] = evaluate_texture(tex, rest_points[m])
        body = np.zeros((N * ss, N * ss, 3), np.float32)
        body[fg] = shade(albedo, normals, lighting)
        # box filter: coverage-weighted mean colour of the body in each output pixel
        cover = fg.reshape(N, ss, N, ss).mean((1, 3), dtype=np.float32)[..., None]
        colour = body.reshape(N, ss, N, ss, 3).mean((1, 3))
        return background * (1 - cover) + colour

    def _frame(self, rng: np.random.Generator, framing: str, v: np.ndarray, uv: np.ndarray, joints_uv: np.ndarray,
               camera: Camera) -> Crop:
        """The crop of ``framing`` around the camera-space body ``v`` (V, 3) projecting to ``uv`` (V, 2).

        Depth rule: the grid spans Z0·S/f metres in depth around Z0, so the side S is at least
        2.1 × (the largest |Z − Z0| of the vertices that project into the crop) × f / Z0 (5 % margin):
        the voxels of the visible body stay inside the grid (a side view of a stride gets a larger
        crop). Only visible vertices count, so a truncated crop is not widened to the legs it leaves out;
        growing a crop can bring more of the body into view, so the rule is applied until it holds (at
        most 4 times). A truncated crop grows away from its cut edge, the others about their centre.
        An ``edge`` crop is a full crop (whole body in depth) moved sideways afterwards.
        """
        s, N = self.settings.camera, self.settings.input_size

        def depth_side(c: Crop) -> float:
            inside = ((uv[:, 0] >= c.x0) & (uv[:, 0] <= c.x0 + c.side) & (uv[:, 1] >= c.y0)
                      & (uv[:, 1] <= c.y0 + c.side))
            if not inside.any():
                return 0.0
            return 2.1 * float(np.abs(v[inside, 2] - camera.z0).max()) * camera.f / camera.z0

        anchor = None
        if framing in TRUNCATED:
            crop, axis, sign = truncated_crop(rng, framing, uv, joints_uv, N, s)
            anchor = (axis, sign)
        else:
            crop = sample_crop(rng, uv, N, s)
        for _ in range(4):
            need = depth_side(crop)
            if need <= crop.side:
                break
            crop = grow_crop(crop, need, anchor)
        if framing == "edge":
            crop = shifted_crop(rng, crop, uv, s)
        return Crop.from_array(crop.to_array())

    def _rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.settings.seed, index, stream]))

    @torch.no_grad()
    def generate(self, index: int) -> SynthItem:
        """Sample number ``index`` of this dataset."""
        s = self.settings
        N, R = s.input_size, s.voxel_res

        # body, in the camera frame with the pelvis where the camera wants it
        params = sample_body(self._rng(index, _BODY), self.body.num_betas, s.pose_spread, s.p_extreme, s.tilt_deg,
                             s.pose_weights, self.layout.rest_joints)
        rng = self._rng(index, _CAMERA)
        framing, elevation = sample_framing(rng, s.camera)
        camera, pelvis = sample_camera(rng, s.camera, near=framing in TRUNCATED)
        # a camera above (elevation > 0) or below the person: the body turns about the camera's x axis
        params.global_orient = (Rotation.from_rotvec([np.deg2rad(elevation), 0.0, 0.0])
                                * Rotation.from_rotvec(params.global_orient)).as_rotvec()
        t = lambda a: torch.as_tensor(a, dtype=torch.float32)[None]  # noqa: E731
        out = self.model(t(params.betas), t(params.global_orient), t(params.body_pose))
        transl = pelvis - out.joints[0, 0].double().numpy()
        # the model adds transl last (v = LBS + transl): the same as posing again with it
        vertices, joints16 = out.vertices + t(transl)[:, None], out.joints16 + t(transl)[:, None]  # camera metres
        # the alignment is used exactly as it is stored (float32), so files reproduce the grids
        camera = Camera.from_array(Camera(camera.f, camera.cx, camera.cy, float(joints16[0, PELVIS, 2])).to_array())
        v = vertices[0].double().numpy()
        uv = project(v, camera)
        crop = self._frame(rng, framing, v, uv, project(out.joints[0].double().numpy() + transl, camera), camera)

        # render: visible faces, the label buffer, shaded clothing over a background
        frag = render_fragments(vertices, self.faces, camera, crop, N)
        fi = frag.face_index[0].numpy()
        fg = fi >= 0
        segmentation = np.zeros((N, N), np.uint8)
        segmentation[fg] = self.face_seg15[fi[fg]]

        rng = self._rng(index, _LOOK)
        outfit = sample_outfit(rng)
        lighting = sample_lighting(rng)
        face_region = face_majority(vertex_regions(self.layout, outfit), self.faces_np)
        background, bg_kind = sample_background(rng, N, s.p_photo)
        image = self._composite(vertices, camera, crop, frag, outfit, lighting, face_region, background)

        rng = self._rng(index, _IMAGE)
        n_occluders = add_occluders(rng, image, fg) if rng.random() < s.p_occluder else 0
        image_u8, corruption = corrupt(rng, image)

        # ground truth in BodyNet space
        from bodynet_cli.geometry.voxelize import label_part_voxels, voxelize_camera

        voxels = voxelize_camera(vertices[0], self.faces, camera, crop, R, closed=self.closed)
        part_voxels = label_part_voxels(voxels, camera_to_grid(vertices[0].double(), camera, crop, R),
                                        self.faces, self.vertex_part7)
        j = joints16[0].double().numpy()
        joints2d = project(j, camera)
        joints3d = np.concatenate([joints2d, j[:, 2:] - camera.z0], 1)
        meta = {
            "tool": f"bodynet {__version__} synth", "body_model": self.body.model_id, "seed": s.seed,
            "index": int(index), "settings": s.to_dict(), "extreme_shape": params.extreme_shape,
            "pose_family": params.pose_family, "pose_mirrored": params.mirrored, "pose_rejected": params.rejected,
            "framing": framing, "elevation_deg": round(elevation, 3),
            "background": bg_kind, "occluders": n_occluders, "outfit": outfit.describe(),
            "lighting": lighting.describe(), "corruption": corruption,
            "segmentation": "the body's own parts, not hidden by occluders",
        }
        sample = Sample(
            voxels=voxels.numpy(), part_voxels=part_voxels.numpy(), joints2d=joints2d.astype(np.float32),
            joints3d=joints3d.astype(np.float32), segmentation=segmentation, crop=crop.to_array(),
            camera=camera.to_array(), vertices=vertices[0].numpy(), faces=self.faces_np.astype(np.int32),
            betas=params.betas.astype(np.float32), global_orient=params.global_orient.astype(np.float32),
            body_pose=params.body_pose.astype(np.float32), transl=transl.astype(np.float32),
            meta=json.loads(json.dumps(meta)),
        )
        return SynthItem(image_u8, sample)
