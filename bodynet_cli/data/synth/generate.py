"""One synthetic sample: a random body, camera and appearance, rendered at the BodyNet crop, with its
complete ground truth (docs/formats.md).

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
    SKIN,
    BodyLayout,
    HeadFrame,
    Outfit,
    add_occluders,
    corrupt,
    evaluate_texture,
    face_majority,
    paint_face,
    sample_lighting,
    sample_outfit,
    shade,
    shell_offsets,
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
_BODY, _CAMERA, _LOOK, _IMAGE, _OTHER = range(5)


@dataclass(frozen=True)
class SynthSettings:
    """Everything that decides the data besides the body model: recorded in every sample's ``meta``.

    seed: the dataset's seed; input_size: side of the saved image and segmentation (pixels);
    voxel_res: R of ``voxels`` and ``part_voxels``; pose_spread: perturbation scale of the library poses;
    pose_weights: probability weight of each pose family (``bodynet_cli.body.pose_library.FAMILIES``);
    p_extreme: share of extreme-shape bodies; tilt_deg: body tilt range; p_photo: share of photograph
    backgrounds; p_occluder: share of images with occluders; p_other: share of images with another person
    near the main one (image only: the labels stay the main person's); supersample: body colour samples per pixel
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
    p_other: float = 0.25
    supersample: int = 2
    camera: CameraSettings = field(default_factory=CameraSettings)

    @classmethod
    def for_config(cls, config: ModelConfig, seed: int = 0, **changes) -> SynthSettings:
        return cls(**{"seed": seed, "input_size": config.input_size, "voxel_res": config.voxel_res, **changes})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Person:
    """A person to render: camera-space vertices (V', 3) and normals (V', 3) of the body followed by its
    shells, faces (F', 3), rest-pose points (V', 3) for the textures, and per face its clothing region
    and whether it is head (where a face may be painted)."""

    vertices: torch.Tensor
    faces: np.ndarray
    rest: np.ndarray
    normals: torch.Tensor
    face_region: np.ndarray
    face_head: np.ndarray
    outfit: Outfit


@dataclass
class SynthItem:
    """A generated sample: ``image`` uint8 (H, W, 3) (the crop at input size) and its ground truth."""

    image: np.ndarray
    sample: Sample


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor, incidence=None) -> torch.Tensor:
    """Unit vertex normals (B, V, 3) of meshes (B, V, 3) with faces (F, 3): area-weighted face normals,
    pointing out of a mesh whose faces run counter-clockwise seen from outside.

    incidence: optional scipy sparse (V, F) matrix with a 1 where a vertex is a corner of a face
    (``face_incidence``): the same sums as a scatter over the corners, several times faster on a CPU.
    """
    tri = vertices[:, faces]  # (B, F, 3, 3)
    fn = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    if incidence is not None:
        vn = torch.stack([torch.from_numpy(incidence @ f.numpy()) for f in fn]).to(vertices.dtype)
    else:
        vn = torch.zeros_like(vertices)
        for k in range(3):
            vn.index_add_(1, faces[:, k], fn)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)


def face_incidence(faces: np.ndarray, num_vertices: int):
    """scipy CSR (V, F) float32: 1 where vertex v is a corner of face f (for ``vertex_normals``)."""
    from scipy.sparse import csr_matrix

    faces = np.asarray(faces, np.int64)
    rows = faces.T.reshape(-1)
    cols = np.tile(np.arange(len(faces)), 3)
    return csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(num_vertices, len(faces)))


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
        self.head = HeadFrame.from_layout(self.layout)
        self.incidence = face_incidence(self.faces_np, len(seg15))
        # the vertices a truncated crop is framed on: head and torso (and the thighs for three-quarter)
        trunk = np.isin(seg15, (1, 2))
        self.core = {"three_quarter": trunk | np.isin(seg15, (9, 12)), "upper_body": trunk, "close_up": trunk}
        # decided once: a closed, consistently oriented body model is voxelized by winding numbers without
        # re-checking its topology per sample; anything else lets the voxelizer check and choose
        self.closed = True if check_watertight(self.faces_np, body.v_template).oriented else None

    def _dress(self, vertices: torch.Tensor, outfit: Outfit) -> _Person:
        """A posed body (1, V, 3) camera metres with ``outfit``'s regions and its image-only shells."""
        regions = vertex_regions(self.layout, outfit)
        normals = vertex_normals(vertices, self.faces, self.incidence)[0]
        off = shell_offsets(self.layout, outfit, regions, self.head)
        on = off > 0
        shell_faces = self.faces_np[on[self.faces_np].all(1)]
        idx = np.nonzero(on)[0]
        remap = np.full(len(on), -1, np.int64)
        remap[idx] = np.arange(len(idx)) + len(on)
        shell = vertices[0, idx] + normals[idx] * torch.as_tensor(off[idx, None], dtype=vertices.dtype)
        return _Person(
            vertices=torch.cat([vertices[0], shell]), faces=np.concatenate([self.faces_np, remap[shell_faces]]),
            rest=np.concatenate([self.layout.rest, self.layout.rest[idx]]),
            normals=torch.cat([normals, normals[idx]]),
            face_region=np.concatenate([face_majority(regions, self.faces_np), face_majority(regions, shell_faces)]),
            face_head=np.concatenate([self.face_seg15 == 1, np.zeros(len(shell_faces), bool)]), outfit=outfit)

    def _render(self, people: list[_Person], camera: Camera, crop: Crop, lighting, background: np.ndarray | None
                ) -> tuple[np.ndarray | None, np.ndarray]:
        """Shade ``people`` (z-buffered together) over ``background`` (N, N, 3) float32, anti-aliased by
        rendering at ``supersample``² samples per pixel and averaging colour and coverage.

        Returns ``(image (N, N, 3) or None without a background, coverage (K, N, N) float32 of each
        person's visible samples)``.
        """
        N, ss = self.settings.input_size, self.settings.supersample
        size = N * ss
        offsets = np.cumsum([0] + [len(p.vertices) for p in people])
        faces = np.concatenate([p.faces + o for p, o in zip(people, offsets, strict=False)])
        owner = np.concatenate([np.full(len(p.faces), k) for k, p in enumerate(people)])
        closed = np.concatenate([np.arange(len(p.faces)) < len(self.faces_np) for p in people])
        vertices = torch.cat([p.vertices for p in people])
        grid = camera_to_grid(vertices, camera, crop, size)
        screen = torch.stack([grid[..., 0], grid[..., 1], vertices[..., 2]], -1)
        # back faces of the closed bodies are culled; the shells are open surfaces and keep both sides
        xy = grid[:, :2].numpy()[faces]  # (F, 3, 2)
        d1, d2 = xy[:, 1] - xy[:, 0], xy[:, 2] - xy[:, 0]
        kept = np.nonzero(~closed | (d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1] < 0))[0]
        faces = faces[kept]
        # each kept face's owner and its index among that person's faces
        local = kept - np.concatenate([[0], np.cumsum([len(p.faces) for p in people])])[owner[kept]]
        owner = owner[kept]
        frag = rasterize(screen[None], torch.as_tensor(faces), size, size)
        fi = frag.face_index[0].numpy()
        fg = fi >= 0
        who = np.where(fg, owner[np.maximum(fi, 0)], -1)
        coverage = np.stack([(who == k).reshape(N, ss, N, ss).mean((1, 3), dtype=np.float32)
                             for k in range(len(people))])
        if background is None:
            return None, coverage
        faces_t = torch.as_tensor(faces)
        normals = interpolate(frag, faces_t, torch.cat([p.normals for p in people]))[0].numpy()[fg]
        normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
        rest = interpolate(frag, faces_t, torch.as_tensor(np.concatenate([p.rest for p in people])))[0].numpy()[fg]
        pix_face, pix_owner = fi[fg], who[fg]
        albedo = np.zeros((len(pix_face), 3), np.float32)
        for k, person in enumerate(people):
            mine = pix_owner == k
            regions = person.face_region[local[pix_face[mine]]]
            a = np.zeros((len(regions), 3), np.float32)
            for r, tex in enumerate(person.outfit.textures):
                m = regions == r
                if m.any():
                    a[m] = evaluate_texture(tex, rest[mine][m])
            face = person.face_head[local[pix_face[mine]]] & (regions == SKIN)
            if face.any() and person.outfit.face is not None:
                a[face] = paint_face(rest[mine][face], a[face], self.head, person.outfit.face)
            albedo[mine] = a
        body = np.zeros((size, size, 3), np.float32)
        body[fg] = shade(albedo, normals, lighting)
        # box filter: coverage-weighted mean colour of the people in each output pixel
        cover = fg.reshape(N, ss, N, ss).mean((1, 3), dtype=np.float32)[..., None]
        colour = body.reshape(N, ss, N, ss, 3).mean((1, 3))
        return background * (1 - cover) + colour, coverage

    def _other_person(self, index: int, camera: Camera, crop: Crop, pelvis: np.ndarray, elevation: float
                      ) -> tuple[_Person | None, dict]:
        """Another random person near the main one, or None (probability 1 − ``p_other``).

        Its pelvis is 0.8-4 m behind the main one's or (30 %) 0.8-2 m in front of it, at a random
        horizontal position across the crop (10 % beyond either edge), on the main person's ground plane
        (the same height above it, seen from the same elevation), with its own pose, shape and clothing.
        """
        s = self.settings
        rng = self._rng(index, _OTHER)
        if rng.random() >= s.p_other:
            return None, {}
        params = sample_body(rng, self.body.num_betas, s.pose_spread, s.p_extreme, s.tilt_deg, s.pose_weights,
                             self.layout.rest_joints)
        params.global_orient = (Rotation.from_rotvec([np.deg2rad(elevation), 0.0, 0.0])
                                * Rotation.from_rotvec(params.global_orient)).as_rotvec()
        z0 = float(pelvis[2])
        dz = rng.uniform(0.8, 4.0) if rng.random() < 0.7 else -rng.uniform(0.8, 2.0)
        if z0 + dz < 1.5:  # too near the camera: behind instead
            dz = -dz
        z = z0 + dz
        u = crop.x0 + crop.side * rng.uniform(-0.1, 1.1)
        x = (u - camera.cx) * z / camera.f
        y = pelvis[1] + (z0 - z) * np.tan(np.deg2rad(elevation))
        t = lambda a: torch.as_tensor(a, dtype=torch.float32)[None]  # noqa: E731
        out = self.model(t(params.betas), t(params.global_orient), t(params.body_pose))
        vertices = out.vertices + t(np.array([x, y, z]) - out.joints[0, 0].double().numpy())[:, None]
        if float(vertices[..., 2].min()) < 0.2:
            return None, {}
        outfit = sample_outfit(rng)
        info = {"depth_offset_m": round(float(dz), 3), "pose_family": params.pose_family,
                "outfit": outfit.describe()}
        return self._dress(vertices, outfit), info

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
            crop, axis, sign = truncated_crop(rng, framing, uv, joints_uv, N, s, self.core[framing])
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
        background, bg_kind = sample_background(rng, N, s.p_photo)
        main = self._dress(vertices, outfit)
        other, other_info = self._other_person(index, camera, crop, pelvis, elevation)
        people = [main] if other is None else [main, other]
        image, coverage = self._render(people, camera, crop, lighting, background)
        if other is not None:
            other_info["visible_pixels"] = int((coverage[1] >= 0.5).sum())
            coverage = self._render([main], camera, crop, lighting, None)[1]  # the main person alone
        # the main person's silhouette with hair and loose clothing, whatever is in front of it
        person_mask = (coverage[0] >= 0.5).astype(np.uint8)

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
            "segmentation": "the body's own parts, not hidden by occluders or other people",
            "person_mask": "the person's silhouette with hair and loose clothing, not hidden by occluders or "
                           "other people", "other_people": [other_info] if other is not None else [],
        }
        sample = Sample(
            voxels=voxels.numpy(), part_voxels=part_voxels.numpy(), joints2d=joints2d.astype(np.float32),
            joints3d=joints3d.astype(np.float32), segmentation=segmentation, person_mask=person_mask,
            crop=crop.to_array(),
            camera=camera.to_array(), vertices=vertices[0].numpy(), faces=self.faces_np.astype(np.int32),
            betas=params.betas.astype(np.float32), global_orient=params.global_orient.astype(np.float32),
            body_pose=params.body_pose.astype(np.float32), transl=transl.astype(np.float32),
            meta=json.loads(json.dumps(meta)),
        )
        return SynthItem(image_u8, sample)
