"""Image files in, upright 8-bit RGB arrays out (what ``predict`` feeds the network).

"Original-image pixels" everywhere in bodynet means pixels of the image as a viewer shows it: after
the EXIF orientation is applied, before any downscaling done here to bound memory.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import RGB_MEAN
from bodynet_cli.errors import BodyNetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MIN_SIDE = 16  # smaller images carry no usable person
# Transparent pixels become the network's mean colour, which normalises to zero (no signal).
FILL_RGB = tuple(int(round(255 * m)) for m in RGB_MEAN)
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for cropping.

    rgb: uint8 (H, W, 3), the upright image, possibly downscaled.
    scale: original-image pixels per pixel of ``rgb`` (1.0 unless the image was downscaled).
    width, height: size of the original (upright) image in pixels.
    """

    rgb: np.ndarray
    scale: float
    width: int
    height: int


def _to_rgb8(img):
    """Any Pillow mode -> an 8-bit RGB Pillow image (16-bit scaled, alpha composited on FILL_RGB)."""
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        # 16-bit data arrives as I;16 or as 32-bit I holding 0..65535; floats are taken as 0..1.
        peak = 1.0 if img.mode == "F" else (255.0 if a.max(initial=0) <= 255 else 65535.0)
        a = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, mode="L").convert("RGB")
    if (img.mode == "P" and "transparency" in img.info) or img.mode in ("PA", "LA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        bg = Image.new("RGBA", img.size, (*FILL_RGB, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


def load_image(path: str | os.PathLike, max_side: int = 2048) -> LoadedImage:
    """Decode one image file, upright (EXIF), as 8-bit RGB with its longer side <= ``max_side``.

    Handles PNG, JPEG, BMP, TIFF, WebP; grayscale, palette, RGBA/LA (composited on the mean colour),
    16-bit. Raises ``BodyNetError`` with a one-line reason for unreadable, truncated or tiny files.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            w0, h0 = img.size
            if orientation in (5, 6, 7, 8):  # these orientations swap width and height
                w0, h0 = h0, w0
            if min(w0, h0) < MIN_SIDE:
                raise BodyNetError(f"{path}: image is {w0}x{h0} pixels; need at least {MIN_SIDE} per side")
            k = max(1.0, max(w0, h0) / max_side)
            if k > 1 and img.format == "JPEG":
                # Decode at a reduced DCT scale: a 50-megapixel JPEG never exists at full size.
                img.draft("RGB", (int(img.size[0] / k), int(img.size[1] / k)))
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_rgb8(img)
            target = (max(1, round(w0 / k)), max(1, round(h0 / k)))
            if img.size != target:
                img = img.resize(target, Image.Resampling.BILINEAR, reducing_gap=3.0)
            rgb = np.asarray(img, dtype=np.uint8).copy()
    except BodyNetError:
        raise
    except UnidentifiedImageError:
        raise BodyNetError(f"{path}: not an image Pillow can read (wrong extension or corrupt file)") from None
    except Image.DecompressionBombError as e:
        raise BodyNetError(f"{path}: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BodyNetError(f"{path}: corrupt or truncated image ({e})") from None
    return LoadedImage(rgb=rgb, scale=float(k), width=int(w0), height=int(h0))


@dataclass(frozen=True)
class ImageInput:
    """One image to process: its ``path`` and ``rel``, the output path stem relative to ``--out``."""

    path: Path
    rel: Path


def _glob_base(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard (outputs mirror what follows it)."""
    parts = Path(pattern).parts
    base: list[str] = []
    for p in parts[:-1]:
        if glob.has_magic(p):
            break
        base.append(p)
    return Path(*base) if base else Path(".")


def discover_images(inputs: list[str | os.PathLike]) -> list[ImageInput]:
    """Expand folders (recursively), files and glob patterns into a sorted, de-duplicated list.

    Folders keep their sub-folder structure in ``rel``; a file given by name maps to its own name.
    Files inside folders are picked by suffix (``IMAGE_SUFFIXES``); a file named explicitly is taken
    whatever its suffix (a bad file then fails on decoding and is reported).
    """
    found: dict[Path, ImageInput] = {}

    def add(path: Path, rel: Path) -> None:
        key = path.resolve()
        if key not in found:
            found[key] = ImageInput(path=path, rel=rel.with_suffix(""))

    for raw in inputs:
        s = str(raw)
        p = Path(s)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                    add(f, f.relative_to(p))
        elif p.is_file():
            add(p, Path(p.name))
        elif glob.has_magic(s):
            base = _glob_base(s)
            matches = [Path(m) for m in sorted(glob.glob(s, recursive=True))]
            matches = [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES]
            if not matches:
                raise BodyNetError(f"input pattern {s!r} matches no image files")
            for m in matches:
                add(m, m.relative_to(base))
        else:
            raise BodyNetError(f"input {s!r}: no such file or folder")
    return sorted(found.values(), key=lambda item: str(item.rel))
