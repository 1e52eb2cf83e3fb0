"""Image files in, upright 8-bit RGB arrays out (what ``predict`` feeds the network).

"Original-image pixels" everywhere in bodynet means pixels of the image as a viewer shows it: after
the EXIF orientation is applied, before any downscaling done here to bound memory.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import RGB_MEAN
from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.io.inputs import InputFile, discover_inputs

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
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
    warnings: caveats about the file that still gave an image (recorded in the output's meta).
    time_s: for a video frame, its presentation time in seconds (else None).
    """

    rgb: np.ndarray
    scale: float
    width: int
    height: int
    warnings: tuple[str, ...] = ()
    time_s: float | None = None


def _to_rgb8(img):
    """Any Pillow mode -> an 8-bit RGB Pillow image (16-bit scaled, alpha composited on FILL_RGB)."""
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("the image holds NaN or infinite pixel values")
        # 16-bit data arrives as I;16 or as 32-bit I holding 0..65535. Floating-point images come as 0..1,
        # 0..255 or 0..65535 depending on the writer: the range the values occupy tells which.
        top = a.max(initial=0)
        peak = 1.0 if img.mode == "F" and top <= 1.0 else (255.0 if top <= 255 else 65535.0)
        a = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, mode="L").convert("RGB")
    if (img.mode == "P" and "transparency" in img.info) or img.mode in ("PA", "LA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        bg = Image.new("RGBA", img.size, (*FILL_RGB, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


def _quiet_pillow() -> None:
    """Silence Pillow's warning for images above its pixel limit: ``load_image`` reports those in the
    output's meta instead (the warning would reach stderr from a worker thread). A process-wide filter
    (``warnings.catch_warnings`` is not thread-safe), put back whenever something reset the filters."""
    from PIL import Image

    if not any(f[0] == "ignore" and f[2] is Image.DecompressionBombWarning for f in warnings.filters):
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def load_image(path: str | os.PathLike, max_side: int = 2048) -> LoadedImage:
    """Decode one image file, upright (EXIF), as 8-bit RGB with its longer side <= ``max_side``.

    Handles PNG, JPEG, BMP, TIFF, WebP, GIF; grayscale, palette, RGBA/LA (composited on the mean colour),
    16-bit and floating-point. Raises ``BodyNetError`` with a one-line reason for unreadable, truncated or
    tiny files, and for files holding several images (multipage TIFF, animations): which one was meant
    is not ours to guess.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from bodynet_cli.io.inputs import unreadable_reason

    path = Path(path)
    if not path.is_file():
        raise BodyNetError(f"{path}: {unreadable_reason(path)}")
    notes: list[str] = []
    try:
        _quiet_pillow()
        with Image.open(path) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                raise BodyNetError(f"{path}: holds {frames} images (pages or frames); save the one to use as its "
                                   "own file")
            if img.size[0] * img.size[1] > (Image.MAX_IMAGE_PIXELS or np.inf):
                notes.append(f"very large image ({img.size[0]}x{img.size[1]} pixels), decoded before downscaling")
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
    return LoadedImage(rgb=rgb, scale=float(k), width=int(w0), height=int(h0), warnings=tuple(notes))


def discover_images(inputs: list[str | os.PathLike], out: str | os.PathLike | None = None,
                    videos: bool = False) -> list[InputFile]:  # fmt: skip
    """Image files among ``inputs`` (folders, files, globs; see ``io.inputs.discover_inputs``), picked by
    ``IMAGE_SUFFIXES`` (and ``io.video.VIDEO_SUFFIXES`` with ``videos``), none from inside the output folder
    ``out``; an input that does not exist is an error."""
    from bodynet_cli.io.video import VIDEO_SUFFIXES

    suffixes = IMAGE_SUFFIXES + (VIDEO_SUFFIXES if videos else ())
    return discover_inputs(inputs, suffixes, what="image or video" if videos else "image", out=out)


def load_input(item: InputFile, max_side: int = 2048) -> LoadedImage:
    """The image of one input: an image file, or one frame of a video (``item.frame``)."""
    if item.frame is None:
        return load_image(item.path, max_side=max_side)
    from bodynet_cli.io.video import read_video_frame

    frame = read_video_frame(item.path, item.frame)
    h, w = frame.rgb.shape[:2]
    if min(w, h) < MIN_SIDE:
        raise BodyNetError(f"{item.path}: video frames are {w}x{h} pixels; need at least {MIN_SIDE} per side")
    k = max(1.0, max(w, h) / max_side)
    rgb = frame.rgb
    if k > 1:
        from PIL import Image

        target = (max(1, round(w / k)), max(1, round(h / k)))
        rgb = np.asarray(Image.fromarray(rgb).resize(target, Image.Resampling.BILINEAR, reducing_gap=3.0))
    return LoadedImage(rgb=np.ascontiguousarray(rgb), scale=float(k), width=w, height=h, time_s=frame.time_s)


def crop_pixels(image: LoadedImage, crop: Crop) -> np.ndarray:
    """Resample ``crop`` of ``image`` to uint8 (size, size, 3), antialiased, outside = mean colour.

    Output pixel i's centre i + 0.5 samples original pixel ``crop.x0 + (i + 0.5) · side / size``.
    Memory is bounded by the image and the output, whatever the crop: a crop reaching far beyond the
    image (a huge box, a large margin) is resampled by ``_crop_far``, one wholly outside is the fill colour.
    """
    from PIL import Image

    k = image.scale
    x0, y0, side = crop.x0 / k, crop.y0 / k, crop.side / k  # in pixels of image.rgb
    h, w = image.rgb.shape[:2]
    # Pad by the filter's reach beyond the crop too: the resampling then sees the fill colour outside
    # the image whether or not the crop touches its border (the same crop of the same pixels always
    # gives the same result, wherever the image lies in a larger canvas).
    m = int(np.ceil(side / crop.size)) + 1
    if x0 - m >= w or y0 - m >= h or x0 + side + m <= 0 or y0 + side + m <= 0:
        return np.full((crop.size, crop.size, 3), FILL_RGB, dtype=np.uint8)  # nothing of the image in reach
    pl, pt = max(0, int(np.ceil(m - x0))), max(0, int(np.ceil(m - y0)))
    pr, pb = max(0, int(np.ceil(x0 + side + m - w))), max(0, int(np.ceil(y0 + side + m - h)))
    if (w + pl + pr) * (h + pt + pb) > _MAX_CANVAS * max(w, h, crop.size) ** 2:
        return _crop_far(image.rgb, x0, y0, side, crop.size)
    img = Image.fromarray(image.rgb)
    if pl or pt or pr or pb:
        canvas = Image.new("RGB", (w + pl + pr, h + pt + pb), FILL_RGB)
        canvas.paste(img, (pl, pt))
        img = canvas
    box = (x0 + pl, y0 + pt, x0 + pl + side, y0 + pt + side)
    out = img.resize((crop.size, crop.size), Image.Resampling.BILINEAR, box=box)
    return np.asarray(out, dtype=np.uint8)


# A padded canvas up to this many times the square of the image's longer side (or of the output) is
# made whole: every letterbox and person crop of an ordinary image stays on that exact path.
_MAX_CANVAS = 4


def _block_sums(a: np.ndarray, start: int, q: int, n: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums (int64) of ``a`` over the blocks [start + b·q, start + (b+1)·q), b = 0..n-1, along ``axis``, and
    how many positions of each block lie inside ``a`` (the rest is outside the image). Every block must
    overlap ``a``."""
    lo = np.clip(start + np.arange(n) * q, 0, a.shape[axis])
    hi = np.clip(start + np.arange(1, n + 1) * q, 0, a.shape[axis])
    assert np.all(hi > lo), "every block overlaps the array"
    part = np.take(a, np.arange(lo[0], hi[-1]), axis=axis)
    return np.add.reduceat(part, lo - lo[0], axis=axis, dtype=np.int64), hi - lo


def _crop_far(rgb: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """A crop much larger than the image (x0, y0, side in pixels of ``rgb``), in memory proportional to the
    image plus the output: the canvas is first reduced by an integer factor q (exact block means, the
    outside counting as the fill colour), so the final bilinear resample works on a canvas of a few
    output sizes. Two filters instead of one: results differ slightly from the one-pass path, which
    would need a canvas of the crop's full size.
    """
    from PIL import Image

    s = side / size  # image pixels per output pixel
    q = max(1, int(s // 2))  # the final resample then reduces by s / q in [2, 4)
    m = int(np.ceil(s)) + 1  # the bilinear filter's reach, as in crop_pixels
    bx, by = int(np.floor(x0)) - m, int(np.floor(y0)) - m  # canvas origin, image pixels
    nx, ny = int(np.ceil((side + 2 * m + 2) / q)), int(np.ceil((side + 2 * m + 2) / q))  # canvas in blocks
    h, w = rgb.shape[:2]
    # Only the blocks that overlap the image need its pixels.
    bx0, bx1 = max(0, (0 - bx) // q), min(nx, -(-(w - bx) // q))
    by0, by1 = max(0, (0 - by) // q), min(ny, -(-(h - by) // q))
    canvas = np.empty((ny, nx, 3), np.float64)
    canvas[:] = FILL_RGB
    if bx0 < bx1 and by0 < by1:
        cols, ncols = _block_sums(rgb, bx + bx0 * q, q, bx1 - bx0, 1)
        sums, nrows = _block_sums(cols, by + by0 * q, q, by1 - by0, 0)
        inside = (nrows[:, None] * ncols[None, :])[..., None].astype(np.float64)
        canvas[by0:by1, bx0:bx1] = (sums + (q * q - inside) * np.asarray(FILL_RGB, np.float64)) / (q * q)
    box = ((x0 - bx) / q, (y0 - by) / q, (x0 - bx + side) / q, (y0 - by + side) / q)
    # Float channels: the block means keep their fractions (a small image in a huge crop is a few levels).
    out = [np.asarray(Image.fromarray(canvas[..., c].astype(np.float32), mode="F").resize(
        (size, size), Image.Resampling.BILINEAR, box=box)) for c in range(3)]  # fmt: skip
    return np.clip(np.stack(out, axis=-1) + 0.5, 0, 255).astype(np.uint8)
