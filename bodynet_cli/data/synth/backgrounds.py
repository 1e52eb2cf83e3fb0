"""Backgrounds: random crops of real photographs shipped inside scikit-image, and procedural textures.

Only images that scikit-image installs with itself are used (nothing is downloaded); each loads in
milliseconds and is cached per process.
"""

from __future__ import annotations

import functools

import numpy as np

# scikit-image sample images that ship inside the wheel (checked offline): scenes, objects, textures.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "grass", "gravel", "brick", "coins", "moon",
          "clock", "page", "text", "hubble_deep_field", "immunohistochemistry", "retina", "cat", "colorwheel",
          "stereo_motorcycle")


@functools.lru_cache(maxsize=1)
def photo_library() -> tuple[np.ndarray, ...]:
    """The photographs as float32 (H, W, 3) in [0, 1]; grey ones are repeated over channels."""
    import skimage.data

    out = []
    for name in PHOTOS:
        try:
            img = getattr(skimage.data, name)()
            img = np.asarray(img[0] if isinstance(img, tuple) else img)  # stereo pairs: the left view
        except Exception:  # noqa: BLE001 - a scikit-image build without one image still has the others
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        out.append(img[..., :3].astype(np.float32) / 255.0)
    if not out:
        raise RuntimeError("scikit-image ships none of its sample photographs here")
    return tuple(out)


def photo_crop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random square crop of a random photograph, resized to (size, size, 3) float32 in [0, 1]."""
    from PIL import Image

    photos = photo_library()
    img = photos[rng.integers(len(photos))]
    h, w = img.shape[:2]
    side = int(rng.uniform(0.3, 1.0) * min(h, w))
    y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    patch = img[y0:y0 + side, x0:x0 + side]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    pil = Image.fromarray((patch * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    return np.asarray(pil, dtype=np.float32) / 255.0


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise (size, size) float32 in [0, 1]: a random ``cells``² grid, bicubically enlarged."""
    from PIL import Image

    g = rng.random((cells, cells)).astype(np.float32)
    return np.clip(np.asarray(Image.fromarray(g, mode="F").resize((size, size), Image.BICUBIC)), 0, 1)


def random_colour(rng: np.random.Generator, saturation: tuple[float, float] = (0.2, 0.9),
                  value: tuple[float, float] = (0.15, 0.95)) -> np.ndarray:
    """A random RGB colour (3,) in [0, 1] from uniform hue, saturation and value ranges."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value)),
                    dtype=np.float32)


def procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A procedural scene-like texture (size, size, 3) float32 in [0, 1]: a floor-and-wall gradient,
    blotchy noise, and sometimes stripes or checks."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c1, c2 = random_colour(rng), random_colour(rng)
    horizon = rng.uniform(0.4, 0.9)
    wall = (yy < horizon)[..., None]
    base = np.where(wall, c1, c2) * (0.8 + 0.4 * yy[..., None])
    noise = smooth_noise(rng, size, int(rng.integers(3, 12)))[..., None]
    out = base * (0.7 + 0.6 * noise)
    kind = rng.integers(3)
    if kind > 0:
        period = rng.uniform(0.04, 0.25)
        angle = rng.uniform(0, np.pi)
        u = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        if kind == 1:
            pattern = (np.floor(u) % 2).astype(np.float32)
        else:
            v = (-xx * np.sin(angle) + yy * np.cos(angle)) / period
            pattern = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
        out = out * (1 - 0.3 * pattern[..., None]) + 0.3 * pattern[..., None] * random_colour(rng)
    fine = smooth_noise(rng, size, max(4, size // 4))[..., None]
    return np.clip(out * (0.9 + 0.2 * fine), 0, 1).astype(np.float32)


def sample_background(rng: np.random.Generator, size: int, p_photo: float = 0.6) -> tuple[np.ndarray, str]:
    """``(background (size, size, 3) float32 in [0, 1], kind)``: a photo crop or a procedural texture."""
    if rng.random() < p_photo:
        bg = photo_crop(rng, size)
        # random colour cast keeps 18 photographs from looking like 18 backgrounds
        bg = np.clip(bg * rng.uniform(0.7, 1.2, 3).astype(np.float32), 0, 1)
        return bg, "photo"
    return procedural_background(rng, size), "procedural"
