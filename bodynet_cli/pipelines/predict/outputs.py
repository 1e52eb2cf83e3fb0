"""What ``predict`` writes, and where: one sample NPZ per image (+ mesh, + panel), joints.json,
failures.csv. Every file is written to a temporary name and renamed, so a file that exists is whole.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodynet_cli.body.conventions import JOINT_NAMES
from bodynet_cli.errors import BodyNetError
from bodynet_cli.io.inputs import InputFile
from bodynet_cli.io.npz import atomic_write_bytes, npz_complete, read_npz
from bodynet_cli.pipelines.batch import Failure, OutputClaims, failure

JOINTS_JSON = "joints.json"
FAILURES_CSV = "failures.csv"


@dataclass(frozen=True)
class OutputPaths:
    """Files written for one image: ``npz`` always, ``mesh`` and ``panel`` when asked for."""

    npz: Path
    mesh: Path | None
    panel: Path | None

    def all(self) -> list[Path]:
        return [p for p in (self.mesh, self.panel, self.npz) if p is not None]

    def done(self) -> bool:
        """All files exist and the NPZ is whole (a file truncated since it was written is redone)."""
        return all(p.is_file() for p in self.all()) and npz_complete(self.npz)


def output_paths(out: Path, item: InputFile, mesh: str | None, viz: bool) -> OutputPaths:
    """``out/<rel>.npz`` (sub-folders mirrored), ``<rel>.<mesh>`` and ``<rel>.viz.png`` beside it."""
    base = out / item.rel
    return OutputPaths(
        npz=base.parent / f"{base.name}.npz",
        mesh=base.parent / f"{base.name}.{mesh}" if mesh else None,
        panel=base.parent / f"{base.name}.viz.png" if viz else None,
    )


def person_item(item: InputFile, k: int) -> InputFile:
    """The output name of person ``k`` of an image under ``--people all``: ``<stem>_p<k>``."""
    return InputFile(path=item.path, rel=item.rel.parent / f"{item.rel.name}_p{k}")


def split_collisions(items: list[InputFile], out: Path) -> tuple[list[InputFile], list[Failure]]:
    """Keep the first image of each output name; later ones (``a.png`` after ``a.jpg``) become failures."""
    claims = OutputClaims(out)
    kept, failures = [], []
    for item in items:
        try:
            claims.claim(item.path, output_paths(out, item, None, False).npz)
            kept.append(item)
        except BodyNetError as e:
            failures.append(failure(item.path, e))
    return kept, failures


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Atomically write uint8 (H, W, 3) as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def write_joints_json(out: Path, items: list[InputFile], mesh: str | None, viz: bool, people: str = "largest") -> int:
    """Collect joints2d, joints2d_score, joints3d and crop of every finished output into ``out/joints.json``.

    Each image's entry lists its people (``people``: one for ``--people largest``, every person found for
    ``all``, largest first) and repeats the first person's fields at the top. Reads the NPZ files (not
    memory), so a resumed or sharded run lists everything that is done. Returns how many images it lists.
    """
    keys = ("joints2d", "joints2d_score", "joints3d", "crop")
    images = {}
    for item in items:
        outputs = [item] if people == "largest" else [person_item(item, k) for k in range(_count_people(out, item))]
        if not outputs or not output_paths(out, outputs[0], mesh, viz).done():
            continue
        entries = []
        for o in outputs:
            npz = output_paths(out, o, mesh, viz).npz
            z = read_npz(npz, keys=keys)
            entries.append({"output": npz.relative_to(out).as_posix(),
                            **{k: np.asarray(v, dtype=np.float64).round(3).tolist() for k, v in sorted(z.items())}})
        key = (item.rel.parent / item.path.name).as_posix()
        if item.frame is not None:  # a video's frames: one entry each, keyed <video>#<frame>
            key = f"{(item.rel.parent.parent / item.path.name).as_posix()}#{item.frame}"
        images[key] = {"image": str(item.path), **({"frame": item.frame} if item.frame is not None else {}),
                       **entries[0], "people": entries}
    doc = {
        "joint_names": list(JOINT_NAMES),
        "units": {
            "joints2d": "x, y in original-image pixels",
            "joints3d": "x, y in original-image pixels; z metres relative to the pelvis (+ away from the camera)",
            "crop": "x0, y0, side in original-image pixels; network input size",
        },
        "images": images,
    }
    atomic_write_bytes(out / JOINTS_JSON, (json.dumps(doc, indent=1) + "\n").encode())
    return len(images)


def _count_people(out: Path, item: InputFile) -> int:
    """How many consecutive ``<stem>_p<k>.npz`` outputs of ``item`` exist (k from 0)."""
    k = 0
    while output_paths(out, person_item(item, k), None, False).npz.is_file():
        k += 1
    return k


def write_failures_csv(out: Path, failures: list[Failure]) -> None:
    """``out/failures.csv``: a header ``image,reason`` and one row per failed image (header only if none)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image", "reason"])
    writer.writerows((f.item, f.reason) for f in sorted(failures))
    atomic_write_bytes(out / FAILURES_CSV, buf.getvalue().encode())
