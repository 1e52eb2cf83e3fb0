"""Video files in, RGB frames out (``predict`` on videos, SURREAL's clips), through PyAV.

PyAV's wheels carry their own FFmpeg, so decoding needs no system codecs. Frames are numbered from 0
in presentation order; a frame's time is its presentation timestamp in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.errors import BodyNetError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: ``index`` from 0, ``time_s`` its presentation time, ``rgb`` uint8 (H, W, 3)."""

    index: int
    time_s: float
    rgb: np.ndarray


def _av():
    try:
        import av
    except ImportError:
        raise BodyNetError("reading video needs PyAV: pip install av (it ships its own FFmpeg)") from None
    return av


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def iter_frames(path: str | os.PathLike, every: int = 1, stop: int | None = None) -> Iterator[VideoFrame]:
    """Decode ``path`` and yield frames 0, every, 2·every, ... (before ``stop`` when given).

    Raises ``BodyNetError`` naming the file when it cannot be opened, has no video stream, or is broken
    before any wanted frame came out; a file damaged further on ends the iteration with that error.
    """
    av = _av()
    assert every >= 1
    path = Path(path)
    try:
        container = av.open(str(path))
    except (OSError, av.error.FFmpegError, ValueError) as e:
        raise BodyNetError(f"{path}: not a readable video ({e})") from None
    try:
        if not container.streams.video:
            raise BodyNetError(f"{path}: holds no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base) if stream.time_base is not None else None
        index = 0
        try:
            for frame in container.decode(stream):
                if stop is not None and index >= stop:
                    break
                if index % every == 0:
                    t = float(frame.pts * tb) if (frame.pts is not None and tb is not None) else float(frame.time or 0)
                    yield VideoFrame(index, t, frame.to_ndarray(format="rgb24"))
                index += 1
        except (av.error.FFmpegError, ValueError) as e:
            raise BodyNetError(f"{path}: video broken at frame {index} ({e})") from None
        if index == 0:
            raise BodyNetError(f"{path}: the video has no frames")
    finally:
        container.close()


def read_frame(path: str | os.PathLike, index: int) -> VideoFrame:
    """Frame ``index`` of ``path`` (decoding from the start: exact whatever the keyframes)."""
    last = None
    for frame in iter_frames(path, every=1, stop=index + 1):
        last = frame
    if last is None or last.index != index:
        n = 0 if last is None else last.index + 1
        raise BodyNetError(f"{Path(path)}: has {n} frames, frame {index} was asked for")
    return last


def count_frames(path: str | os.PathLike) -> int:
    """The number of frames of ``path``: the container's count when it states one, else by decoding."""
    av = _av()
    try:
        with av.open(str(path)) as c:
            if c.streams.video and c.streams.video[0].frames > 0:
                return int(c.streams.video[0].frames)
    except (OSError, av.error.FFmpegError, ValueError) as e:
        raise BodyNetError(f"{Path(path)}: not a readable video ({e})") from None
    return sum(1 for _ in iter_frames(path))


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 25) -> None:
    """Write uint8 (H, W, 3) frames (even H and W) as an H.264 or MPEG-4 video (tests and tools)."""
    av = _av()
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w") as c:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            s.options = {"crf": "0", "preset": "ultrafast"}  # near-lossless: tests compare pixels
        for rgb in frames:
            for packet in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
