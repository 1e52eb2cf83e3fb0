"""How a synthetic person looks: clothing regions on the body, procedural textures, shading, and the
image-level corruptions (occluders, blur, noise, colour jitter).

Textures are solid textures evaluated at each pixel's rest-pose body point, so a pattern sticks to the
body as it moves and needs no UV map. Regions are decided per vertex from the SMPL part of each vertex
and its position along its limb's bone in the rest pose (how far a sleeve or trouser leg reaches).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodynet_cli.data.synth.backgrounds import photo_crop, procedural_background, random_colour

SKIN, HAIR, UPPER, LOWER, SHOES = range(5)  # clothing regions
REGIONS = ("skin", "hair", "upper", "lower", "shoes")

# Segmentation class -> (SMPL joint at the bone's head, at its tail): the limb bones of docs/formats.md.
_LIMB_BONES = {3: (17, 19), 4: (19, 21), 6: (16, 18), 7: (18, 20), 9: (2, 5), 10: (5, 8), 12: (1, 4), 13: (4, 7)}
_UPPER_ARM, _LOWER_ARM, _HAND = (3, 6), (4, 7), (5, 8)
_UPPER_LEG, _LOWER_LEG, _FOOT = (9, 12), (10, 13), (11, 14)
_PELVIS, _SPINE1, _NECK, _HEAD = 0, 3, 12, 15


@dataclass(frozen=True)
class BodyLayout:
    """Per-vertex facts about the rest body that clothing needs (computed once per body model).

    rest: float32 (V, 3) rest-pose vertices (model space, Y-up, facing +Z).
    seg15: int64 (V,) segmentation class of each vertex.
    bone_t: float32 (V,) position along the vertex's limb bone (0 at its head joint, 1 at its tail;
        NaN off the limbs).
    rest_joints: float32 (24, 3).
    """

    rest: np.ndarray
    seg15: np.ndarray
    bone_t: np.ndarray
    rest_joints: np.ndarray

    @classmethod
    def from_model(cls, v_template: np.ndarray, J_regressor: np.ndarray, seg15: np.ndarray) -> BodyLayout:
        rest = np.asarray(v_template, np.float64)
        joints = np.asarray(J_regressor, np.float64) @ rest
        bone_t = np.full(len(rest), np.nan)
        for cls_, (a, b) in _LIMB_BONES.items():
            m = seg15 == cls_
            ab = joints[b] - joints[a]
            bone_t[m] = (rest[m] - joints[a]) @ ab / max(float(ab @ ab), 1e-12)
        return cls(rest.astype(np.float32), np.asarray(seg15, np.int64), bone_t.astype(np.float32),
                   joints.astype(np.float32))


@dataclass
class Texture:
    """A solid texture: ``kind`` in plain/stripes/checks/noise, two colours (2, 3), a period (metres),
    a direction (3,) and a phase; ``waves`` (K, 4) random 3-D sine waves for ``noise``."""

    kind: str
    colours: np.ndarray
    period: float
    direction: np.ndarray
    phase: float
    waves: np.ndarray


@dataclass
class Outfit:
    """One person's clothing: reach of each garment and a texture per region (``REGIONS`` order)."""

    sleeve: float  # fraction of the arm (0 none, 1 upper arm, 2 whole arm) the shirt covers
    legwear: str  # trousers / shorts / skirt
    leg_reach: float  # fraction of the leg (1 upper leg, 2 whole leg) the lower garment covers
    waist: float  # height of the waistline between pelvis (0) and spine1 (1)
    hair: str  # HAIR_STYLES: none (bald) / short / long / ponytail / hat
    textures: list[Texture]
    hair_volume: float = 0.0  # metres the hair (or hat) stands off the scalp
    loose: str = "none"  # none / coat (a loose top) / flare (a skirt or dress flaring out)
    looseness: float = 0.0  # coat: metres off the body; flare: metres of flare per metre below the waist
    face: FaceLook | None = None

    def describe(self) -> dict:
        return {"sleeve": round(self.sleeve, 3), "legwear": self.legwear, "leg_reach": round(self.leg_reach, 3),
                "hair": self.hair, "hair_volume": round(self.hair_volume, 3), "loose": self.loose,
                "looseness": round(self.looseness, 3), "textures": [t.kind for t in self.textures]}


HAIR_STYLES = ("none", "short", "long", "ponytail", "hat")


@dataclass(frozen=True)
class FaceLook:
    """Colours (3,) of the painted face: iris, eyebrows, lips."""

    iris: np.ndarray
    brows: np.ndarray
    lips: np.ndarray


@dataclass(frozen=True)
class HeadFrame:
    """Where the face is on the rest head (model space: Y up, the face towards +Z).

    centre_x: the head's midline; bottom, top: its lowest and highest y; half_width: half its x extent;
    nose: (y, z) of its front-most point (the nose tip); back_z: its rearmost z.
    """

    centre_x: float
    bottom: float
    top: float
    half_width: float
    nose: tuple[float, float]
    back_z: float

    @classmethod
    def from_layout(cls, layout: BodyLayout) -> HeadFrame:
        h = layout.rest[layout.seg15 == 1].astype(np.float64)
        assert len(h), "the body model has no head vertices (segmentation class 1)"
        tip = h[np.argmax(h[:, 2])]
        return cls(float((h[:, 0].max() + h[:, 0].min()) / 2), float(h[:, 1].min()), float(h[:, 1].max()),
                   float((h[:, 0].max() - h[:, 0].min()) / 2), (float(tip[1]), float(tip[2])), float(h[:, 2].min()))


def _skin_colour(rng: np.random.Generator) -> np.ndarray:
    light, dark = np.array([0.96, 0.80, 0.69]), np.array([0.30, 0.19, 0.13])
    t = rng.beta(1.3, 1.3)
    c = (1 - t) * light + t * dark
    return np.clip(c * rng.uniform(0.93, 1.07, 3), 0, 1).astype(np.float32)


def _hair_colour(rng: np.random.Generator) -> np.ndarray:
    palette = np.array([[0.05, 0.04, 0.03], [0.2, 0.12, 0.06], [0.45, 0.3, 0.15], [0.8, 0.65, 0.4],
                        [0.55, 0.2, 0.08], [0.6, 0.6, 0.6]], np.float32)
    return np.clip(palette[rng.integers(len(palette))] * rng.uniform(0.85, 1.15), 0, 1)


def _texture(rng: np.random.Generator, c1: np.ndarray, kinds=("plain", "stripes", "checks", "noise"),
             p=(0.35, 0.25, 0.15, 0.25)) -> Texture:
    kind = str(rng.choice(kinds, p=p))
    c2 = random_colour(rng) if rng.random() < 0.6 else np.clip(c1 * rng.uniform(0.4, 0.8), 0, 1)
    d = rng.normal(size=3)
    d[1] += 3.0 * np.sign(rng.normal())  # mostly vertical: horizontal stripes around the body
    d /= np.linalg.norm(d)
    waves = np.concatenate([rng.normal(size=(6, 3)) * rng.uniform(8, 40, (6, 1)), rng.uniform(0, 6.3, (6, 1))], 1)
    return Texture(kind, np.stack([c1, c2]).astype(np.float32), float(rng.uniform(0.02, 0.12)), d.astype(np.float32),
                   float(rng.uniform(0, 2 * np.pi)), waves.astype(np.float32))


def sample_outfit(rng: np.random.Generator) -> Outfit:
    """Random clothing: sleeve length, trousers / shorts / skirt, hair, and a texture per region."""
    skin = _skin_colour(rng)
    tex = [
        _texture(rng, skin, kinds=("plain", "noise"), p=(0.5, 0.5)),
        _texture(rng, _hair_colour(rng), kinds=("plain", "noise"), p=(0.4, 0.6)),
        _texture(rng, random_colour(rng)),
        _texture(rng, random_colour(rng, value=(0.1, 0.8))),
        _texture(rng, random_colour(rng, saturation=(0.0, 0.6), value=(0.05, 0.7)), kinds=("plain", "noise"),
                 p=(0.6, 0.4)),
    ]
    tex[SKIN].colours[1] = np.clip(skin * 0.9, 0, 1)  # skin varies only gently
    legwear = str(rng.choice(["trousers", "shorts", "skirt"], p=[0.6, 0.25, 0.15]))
    leg_reach = {"trousers": rng.uniform(1.85, 2.05), "shorts": rng.uniform(0.3, 0.9),
                 "skirt": rng.uniform(0.7, 1.5)}[legwear]
    sleeve = float(rng.choice([rng.uniform(0.0, 0.2), rng.uniform(0.3, 1.0), rng.uniform(1.6, 2.0)],
                              p=[0.2, 0.4, 0.4]))
    hair = str(rng.choice(HAIR_STYLES, p=[0.1, 0.4, 0.25, 0.1, 0.15]))
    volume = {"none": 0.0, "short": rng.uniform(0.004, 0.012), "long": rng.uniform(0.01, 0.03),
              "ponytail": rng.uniform(0.004, 0.01), "hat": rng.uniform(0.008, 0.02)}[hair]
    if hair == "hat":  # a hat, not hair: any garment colour, plain or striped
        tex[HAIR] = _texture(rng, random_colour(rng), kinds=("plain", "stripes"), p=(0.7, 0.3))
    loose = "flare" if legwear == "skirt" else str(rng.choice(["none", "coat"], p=[0.75, 0.25]))
    looseness = rng.uniform(0.15, 0.45) if loose == "flare" else rng.uniform(0.01, 0.035) if loose == "coat" else 0.0
    face = FaceLook(iris=np.clip(np.array([0.25, 0.17, 0.1]) * rng.uniform(0.4, 1.6, 3), 0, 1).astype(np.float32),
                    brows=np.clip(tex[HAIR].colours[0] * 0.7 if hair != "hat" else skin * 0.4, 0, 1).astype(np.float32),
                    lips=np.clip(skin * np.array([0.85, 0.55, 0.55]) * rng.uniform(0.85, 1.1), 0, 1).astype(np.float32))
    return Outfit(sleeve, legwear, float(leg_reach), float(rng.uniform(0.0, 0.7)), hair, tex, float(volume), loose,
                  float(looseness), face)


def vertex_regions(layout: BodyLayout, outfit: Outfit) -> np.ndarray:
    """int64 (V,) clothing region of every vertex for this outfit."""
    seg, t, p, J = layout.seg15, layout.bone_t, layout.rest, layout.rest_joints
    reg = np.full(len(seg), SKIN, np.int64)
    waist_y = J[_PELVIS, 1] + outfit.waist * (J[_SPINE1, 1] - J[_PELVIS, 1])
    torso = seg == 2
    reg[torso & (p[:, 1] >= waist_y)] = UPPER
    reg[torso & (p[:, 1] < waist_y)] = LOWER
    upper_arm, lower_arm = np.isin(seg, _UPPER_ARM), np.isin(seg, _LOWER_ARM)
    reg[upper_arm & (t < outfit.sleeve)] = UPPER
    reg[lower_arm & (t < outfit.sleeve - 1)] = UPPER
    upper_leg, lower_leg = np.isin(seg, _UPPER_LEG), np.isin(seg, _LOWER_LEG)
    reg[upper_leg & (t < outfit.leg_reach)] = LOWER
    reg[lower_leg & (t < outfit.leg_reach - 1)] = LOWER
    feet = np.isin(seg, _FOOT)
    reg[feet] = SHOES
    reg[lower_leg & (t > 0.93)] = SHOES  # shoe tops cover the ankle
    if outfit.hair != "none":
        head = seg == 1
        hj = J[_HEAD]
        top = p[head, 1].max() if head.any() else hj[1]
        front_z = p[head, 2].max() if head.any() else hj[2]
        # the hairline: above the brows at the sides and back, higher over the forehead
        front = p[:, 2] > hj[2] + 0.5 * (front_z - hj[2])
        cap = p[:, 1] > hj[1] + np.where(front, 0.62, 0.45) * (top - hj[1])
        if outfit.hair == "hat":
            reg[head & (p[:, 1] > hj[1] + 0.5 * (top - hj[1]))] = HAIR
            return reg
        low = {"short": 0.02, "ponytail": 0.04}.get(outfit.hair, 0.08)
        back = (p[:, 2] < hj[2] - 0.01) & (p[:, 1] > hj[1] - low)
        reg[head & (cap | back)] = HAIR
        if outfit.hair == "long":
            nape = torso & (p[:, 2] < J[_NECK, 2] - 0.02) & (p[:, 1] > J[_NECK, 1] - 0.15) \
                & (np.abs(p[:, 0] - J[_NECK, 0]) < 0.09)
            reg[nape] = HAIR
    return reg


def shell_offsets(layout: BodyLayout, outfit: Outfit, regions: np.ndarray, head: HeadFrame) -> np.ndarray:
    """(V,) metres by which a vertex's shell stands off the body along its normal (0: no shell).

    The shells are the image-only geometry of hair, hats and loose clothing that make the person's
    silhouette wider than the body: hair (and a hat) a few millimetres to centimetres over the hair
    region (long hair also over the nape, thicker downwards), a ponytail as a bump at the back of the
    head, a hat brim as a ridge at the hat's lower edge, a coat over the upper-body garment, and a skirt
    or dress flaring out linearly below the waist. They are not part of the voxels or the segmentation.
    """
    p = layout.rest.astype(np.float64)
    off = np.zeros(len(p))
    hair = regions == HAIR
    if outfit.hair != "none" and hair.any():
        off[hair] = outfit.hair_volume
        if outfit.hair == "long":  # falling hair: thicker towards its ends on the nape and the upper back
            off[hair] += 0.4 * np.clip(layout.rest_joints[_HEAD, 1] - p[hair, 1], 0, None)
        elif outfit.hair == "ponytail":
            tail = np.array([head.centre_x, head.nose[0] + 0.05 * (head.top - head.bottom), head.back_z])
            off[hair] += 0.07 * np.exp(-((p[hair] - tail) ** 2).sum(1) / (2 * 0.03 ** 2))
        elif outfit.hair == "hat":
            edge = p[hair, 1].min()
            off[hair] += 0.035 * np.exp(-(((p[hair, 1] - edge) / 0.012) ** 2))
    if outfit.loose == "coat":
        off[regions == UPPER] = outfit.looseness
    elif outfit.loose == "flare":
        J = layout.rest_joints
        waist_y = J[_PELVIS, 1] + outfit.waist * (J[_SPINE1, 1] - J[_PELVIS, 1])
        lower = (regions == LOWER) & (p[:, 1] < waist_y)
        off[lower] = 0.005 + outfit.looseness * (waist_y - p[lower, 1])
    return off


def paint_face(points: np.ndarray, albedo: np.ndarray, head: HeadFrame, look: FaceLook) -> np.ndarray:
    """Albedo (M, 3) with a face painted on head skin at rest-pose points (M, 3): eyes, eyebrows, the
    nose's sides and nostrils shaded, lips, ears shaded. Features sit on the front (+Z) of the head only,
    so a person seen from behind shows none of them. Proportions are fractions of the head's size."""
    out = albedo.copy()
    H = head.top - head.bottom
    D = head.nose[1] - head.back_z
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    u = (x - head.centre_x) / head.half_width
    au = np.abs(u)
    dy = (y - head.nose[0]) / H
    front = z > head.nose[1] - 0.45 * D
    eye = front & (((au - 0.38) / 0.15) ** 2 + ((dy - 0.17) / 0.035) ** 2 < 1)
    iris = eye & (((au - 0.38) / 0.07) ** 2 + ((dy - 0.17) / 0.03) ** 2 < 1)
    brow = front & (np.abs(au - 0.4) < 0.2) & (np.abs(dy - 0.26 + 0.04 * (au - 0.4)) < 0.014)
    nose_side = front & (au > 0.07) & (au < 0.2) & (dy > -0.02) & (dy < 0.12)
    nostril = front & (au > 0.04) & (au < 0.13) & (np.abs(dy + 0.025) < 0.012)
    mouth = front & (au < 0.27) & (np.abs(dy + 0.17 - 0.12 * u * u) < 0.02)
    ear = (au > 0.8) & (dy > -0.12) & (dy < 0.2) & (z < head.nose[1] - 0.45 * D) & (z > head.back_z + 0.3 * D)
    out[nose_side] *= 0.85
    out[ear] *= np.array([0.9, 0.82, 0.82], np.float32)
    out[eye] = 0.92
    out[iris] = look.iris
    out[nostril] *= 0.45
    out[brow] = look.brows
    out[mouth] = look.lips
    return out


def face_majority(vertex_labels: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Label (F,) of each face: the label at least two of its corners share, else its first corner's.

    vertex_labels: (V,) integers; faces: (F, 3).
    """
    l = vertex_labels[faces]
    return np.where(l[:, 1] == l[:, 2], l[:, 1], l[:, 0])


def evaluate_texture(tex: Texture, points: np.ndarray) -> np.ndarray:
    """Albedo (M, 3) float32 of a solid texture at rest-pose points (M, 3)."""
    c1, c2 = tex.colours
    if tex.kind == "plain":
        w = np.zeros(len(points), np.float32)
    elif tex.kind == "stripes":
        w = (np.sin(2 * np.pi * points @ tex.direction / tex.period + tex.phase) > 0).astype(np.float32)
    elif tex.kind == "checks":
        w = (np.floor(points / tex.period).sum(1) % 2).astype(np.float32)
    else:  # noise: a sum of random sine waves, squashed to [0, 1]
        s = np.sin(points @ tex.waves[:, :3].T + tex.waves[:, 3]).sum(1) / np.sqrt(3.0)
        w = (1 / (1 + np.exp(-2 * s))).astype(np.float32)
    return c1 * (1 - w[:, None]) + c2 * w[:, None]


def _rounded(a: np.ndarray) -> list[float]:
    """For ``meta``: float64 before rounding, or float32 values print as 0.9599999785423279."""
    return [round(float(v), 3) for v in np.asarray(a).ravel()]


@dataclass
class Lighting:
    """Lambertian plus ambient: direction (3,) towards the light in camera axes, colours (3,)."""

    direction: np.ndarray
    light: np.ndarray
    ambient: np.ndarray

    def describe(self) -> dict:
        return {"direction": _rounded(self.direction), "light": _rounded(self.light), "ambient": _rounded(self.ambient)}


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A light in front of the person, from above more often than not, with a random tint."""
    d = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.4), -rng.uniform(0.2, 1.0)])
    tint = np.clip(1 + rng.normal(0, 0.08, 3), 0.8, 1.2)
    amb_tint = np.clip(1 + rng.normal(0, 0.08, 3), 0.8, 1.2)
    return Lighting((d / np.linalg.norm(d)).astype(np.float32), (rng.uniform(0.5, 1.0) * tint).astype(np.float32),
                    (rng.uniform(0.25, 0.6) * amb_tint).astype(np.float32))


def shade(albedo: np.ndarray, normals: np.ndarray, lighting: Lighting) -> np.ndarray:
    """Lambertian shading: albedo (M, 3) × (ambient + light · max(0, n·l)); normals (M, 3) unit, camera axes."""
    lambert = np.clip(normals @ lighting.direction, 0, None)[:, None]
    return np.clip(albedo * (lighting.ambient + lighting.light * lambert), 0, 1)


def _shape_mask(rng: np.random.Generator, size: int, centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    a = rng.uniform(0, np.pi)
    u = (xx - centre[0]) * np.cos(a) + (yy - centre[1]) * np.sin(a)
    v = -(xx - centre[0]) * np.sin(a) + (yy - centre[1]) * np.cos(a)
    ru, rv = radius * rng.uniform(0.5, 1.5), radius * rng.uniform(0.3, 1.0)
    if rng.random() < 0.5:
        return (u / ru) ** 2 + (v / rv) ** 2 <= 1
    return (np.abs(u) <= ru) & (np.abs(v) <= rv)


def add_occluders(rng: np.random.Generator, image: np.ndarray, body_mask: np.ndarray) -> int:
    """Paint 1-2 textured ellipses or rectangles over part of the body, in place; returns how many.

    image: float32 (H, W, 3); body_mask: bool (H, W).
    """
    size = image.shape[0]
    ys, xs = np.nonzero(body_mask)
    if len(ys) == 0:
        return 0
    k = int(rng.integers(1, 3))
    for _ in range(k):
        i = rng.integers(len(ys))
        centre = np.array([xs[i], ys[i]], np.float32) + rng.normal(0, 0.05 * size, 2)
        m = _shape_mask(rng, size, centre, rng.uniform(0.06, 0.18) * size)
        fill = photo_crop(rng, size) if rng.random() < 0.5 else procedural_background(rng, size)
        image[m] = fill[m]
    return k


def corrupt(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, dict]:
    """Camera-like corruptions of a float32 (H, W, 3) image in [0, 1]: colour jitter, blur, noise, and
    sometimes JPEG artefacts (photos met at test time are mostly JPEGs).

    Returns ``(uint8 (H, W, 3), what was done)``.
    """
    import io

    from PIL import Image, ImageFilter

    gain = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-0.06, 0.06)
    mean = image.mean()
    image = (image - mean) * contrast + mean + brightness
    image = np.clip(image * gain, 0, 1)
    blur = float(rng.uniform(0.3, 1.2)) if rng.random() < 0.5 else 0.0
    noise = float(rng.uniform(0, 0.025))
    jpeg = int(rng.integers(40, 96)) if rng.random() < 0.3 else 0
    if noise > 0:
        image = image + rng.normal(0, noise, image.shape).astype(np.float32)
    out = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    if blur > 0:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(blur)))
    if jpeg:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=jpeg)
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out, {"gain": _rounded(gain), "contrast": round(float(contrast), 3),
                 "brightness": round(float(brightness), 3), "blur": round(blur, 3), "noise": round(noise, 4),
                 "jpeg_quality": jpeg}
