"""Video files in, RGB frames out (``predict`` on videos, SURREAL's clips), through PyAV.

PyAV's wheels carry their own FFmpeg, so decoding needs no system codecs. Frames are numbered from 0
in presentation order; a frame's time is its presentation timestamp in seconds.
"""

from __future__ import annotations

import os
import threading
from collections import deque
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


class _Cursor:
    """An open video decoded forwards: frames asked for in increasing order cost one decode each."""

    # Loader threads ask for neighbouring frames slightly out of order: the last few stay at hand.
    KEEP = 8

    def __init__(self, path: Path):
        self.path = path
        self.frames = iter_frames(path)
        self.recent: deque[VideoFrame] = deque(maxlen=self.KEEP)

    def get(self, index: int) -> VideoFrame | None:
        """Frame ``index`` if it is at or after the cursor or among the last few, else None (the caller
        starts a new cursor)."""
        for f in self.recent:
            if f.index == index:
                return f
        if self.recent and index < self.recent[-1].index:
            return None
        while not self.recent or self.recent[-1].index < index:
            nxt = next(self.frames, None)
            if nxt is None:
                n = 0 if not self.recent else self.recent[-1].index + 1
                raise BodyNetError(f"{self.path}: has {n} frames, frame {index} was asked for")
            self.recent.append(nxt)
        return self.recent[-1]


_cursors: dict[Path, _Cursor] = {}
_cursor_locks: dict[Path, threading.Lock] = {}
_cursors_lock = threading.Lock()
MAX_OPEN_VIDEOS = 4


def read_video_frame(path: str | os.PathLike, index: int) -> VideoFrame:
    """Frame ``index`` of ``path``, for callers that read many frames of a video, mostly in order (``predict``):
    an open decoder per video (at most ``MAX_OPEN_VIDEOS``) continues from the last frame it gave."""
    path = Path(path)
    with _cursors_lock:
        lock = _cursor_locks.setdefault(path, threading.Lock())
    with lock:
        cursor = _cursors.get(path)
        frame = cursor.get(index) if cursor is not None else None
        if frame is None:
            cursor = _Cursor(path)
            with _cursors_lock:
                while len(_cursors) >= MAX_OPEN_VIDEOS:
                    _cursors.pop(next(iter(_cursors))).frames.close()
                _cursors[path] = cursor
            frame = cursor.get(index)
        return frame


def expand_videos(items: list, every: int = 1) -> list:
    """Replace each video among ``items`` (``io.inputs.InputFile``) by its frames 0, every, 2·every, ...:
    ``rel`` becomes ``<video rel>/<frame number, 6 digits>``. A video that cannot be read stays one item
    (frame 0), so reading it fails and the command records the failure."""
    from dataclasses import replace

    out = []
    for item in items:
        if not is_video(item.path):
            out.append(item)
            continue
        try:
            n = count_frames(item.path)
        except BodyNetError:
            n = 1
        out += [replace(item, rel=item.rel / f"{i:06d}", frame=i) for i in range(0, n, every)]
    return out


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
