"""Real photos with person annotations from mmpose's test data, in one folder format (``tools/photo_eval.py``).

    PYTHONPATH=. python tools/photo_sets.py MMPOSE --out SET [--rev HEAD] [--min-limb-joints 6]

MMPOSE is a checkout of open-mmlab/mmpose, or a git repository of it without a work tree (files are then read
with ``git show REV:tests/data/...``). Nothing is downloaded. The photos come from its ``tests/data``: coco (4),
mpii (5), ochuman (3), crowdpose (2), aic (3), humanart (the 1 real_human photo; the drawn and figurine ones
are left out), h36m (4) and mpi_inf_3dhp (4). A dataset whose files are missing is skipped with a note.

Output, SET/:

- ``images/<source>_<stem>.jpg``: the photos, byte for byte.
- ``masks/<source>_<stem>_<k>.png``: person k's mask at the photo's size, mode L, 255 = person (optional).
- ``annotations.json``: ``{"format": "bodynet-photo-set", "version": 1, "joints": [16 names], "frame3d": ...,
  "images": [{"file", "source", "width", "height", "persons": [...]}]}``, each person
  ``{"id", "box": [x0, y0, x1, y1], "box_from": "annotation" | "mask" | "joints", "joints2d": 16 x [x, y],
  "visible": 16 x 0/1, "mask": path or null, "joints3d": 16 x [X, Y, Z] or null, "visible3d": 16 x 0/1 or
  null}``.

Conventions (the repository's docs/formats.md): pixels in the original photo, pixel i covers [i, i+1);
joints are our 16 (MPII order, the person's own left and right). ``visible`` = 1 where the dataset gives the
joint a position (COCO-style v >= 1, i.e. occluded but labelled joints count), else 0 and the position is 0.
Mapping: the limb joints (ankles, knees, hips, wrists, elbows, shoulders) from every dataset; pelvis and
thorax from MPII and H36M (its root and thorax) and pelvis from MPI-INF-3DHP (root), otherwise pelvis =
mid-hips and thorax = mid-shoulders when both are labelled; neck and head only as a dataset names them
(MPII upper neck / head top, AIC and CrowdPose neck / head top, H36M neck base / head, MPI-INF-3DHP neck /
head top), never from COCO-style faces. MPII's 1-based pixels are shifted by -0.5; the COCO-style files'
coordinates are taken as given (continuous, like their boxes and polygons).

Boxes: COCO-style files' ``bbox``; H36M: the mask's extent; MPII and MPI-INF-3DHP (no box, no mask): the
labelled joints' extent widened by 5 % of its longer side on each side. Masks: COCO polygons rasterised at
pixel centres, OCHuman's RLE decoded (both here), H36M's from ``BF_IUV_gt`` (a body-fit render: the fitted
body's silhouette, any channel non-zero); the others have none.

3D joints (``frame3d``): camera frame in metres, OpenCV axes (x right, y down, z forward: Z is the depth
along the optical axis), from H36M's ``test_h36m_body3d.npz`` and MPI-INF-3DHP's ``test_3dhp_*.npz`` ``S``
(their projection matches the 2D joints with f ~1140 px and ~1500 px); ``visible3d`` from ``S``'s
confidence. ``test_h36m.npz`` holds the same frames (SPIN's 24 joints) and is not used; no ``.pkl`` is read.

Kept persons: not ``iscrowd``, and at least ``--min-limb-joints`` (6) of the 12 limb joints labelled.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bodynet_cli.body.conventions import JOINT_NAMES, PELVIS
from bodynet_cli.metrics.photos import LIMB_JOINTS

THORAX, R_HIP, L_HIP, R_SHOULDER, L_SHOULDER = (JOINT_NAMES.index(n) for n in
                                                ("thorax", "r_hip", "l_hip", "r_shoulder", "l_shoulder"))  # fmt: skip
FRAME3D = "camera, metres, OpenCV axes (x right, y down, z forward): Z is the depth along the optical axis"

# For each of our 16 joints, its index in the dataset's keypoints (None: the dataset has no such joint).
_ = None
COCO17 = (16, 14, 12, 11, 13, 15, _, _, _, _, 10, 8, 6, 5, 7, 9)
AIC14 = (8, 7, 6, 9, 10, 11, _, _, 13, 12, 2, 1, 0, 3, 4, 5)
CROWDPOSE14 = (11, 9, 7, 6, 8, 10, _, _, 13, 12, 5, 3, 1, 0, 2, 4)
MPII16 = tuple(range(16))
H36M17 = (3, 2, 1, 4, 5, 6, 0, 8, 9, 10, 16, 15, 14, 11, 12, 13)
MPI_INF_3DHP17 = (10, 9, 8, 11, 12, 13, 14, _, 1, 0, 4, 3, 2, 5, 6, 7)
del _


@dataclass
class Person:
    """One annotated person: box (x0, y0, x1, y1) px, joints2d 16 x (x, y) px, visible 16 x 0/1, and optionally a
    mask file (relative to the set) and 3D joints 16 x (X, Y, Z) camera metres with their visibility."""

    id: str
    box: list[float]
    box_from: str
    joints2d: list[list[float]]
    visible: list[int]
    mask: str | None = None
    joints3d: list[list[float]] | None = None
    visible3d: list[int] | None = None


class MMPoseFiles:
    """Files of mmpose's ``tests/data`` from a checkout or, without one, from its git repository."""

    def __init__(self, root: Path, rev: str = "HEAD"):
        self.root, self.rev = root, rev
        self.checkout = (root / "tests" / "data").is_dir()
        if not self.checkout and self._git("cat-file", "-e", f"{rev}:tests/data").returncode:
            raise SystemExit(f"{root}: neither a checkout of mmpose (no tests/data) nor a git repository with "
                             f"{rev}:tests/data; pass the mmpose folder or its git directory")

    def _git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(self.root), *args], capture_output=True)

    def exists(self, rel: str) -> bool:
        if self.checkout:
            return (self.root / "tests" / "data" / rel).is_file()
        return self._git("cat-file", "-e", f"{self.rev}:tests/data/{rel}").returncode == 0

    def read(self, rel: str) -> bytes:
        if self.checkout:
            return (self.root / "tests" / "data" / rel).read_bytes()
        done = self._git("show", f"{self.rev}:tests/data/{rel}")
        if done.returncode:
            raise SystemExit(f"{self.root}: cannot read {self.rev}:tests/data/{rel}: {done.stderr.decode().strip()}")
        return done.stdout

    def listdir(self, rel: str) -> list[str]:
        """Names of the files in a folder of tests/data, sorted; [] when it is missing."""
        if self.checkout:
            folder = self.root / "tests" / "data" / rel
            return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        done = self._git("ls-tree", "--name-only", f"{self.rev}:tests/data/{rel}")
        return sorted(done.stdout.decode().split()) if done.returncode == 0 else []


# ---- masks ----


def rle_counts(counts: str | list[int]) -> list[int]:
    """COCO run lengths from an uncompressed list or a compressed string (pycocotools' ``rleFrString``: 5-bit
    groups offset by 48, 0x20 = more groups follow, 0x10 in the last group = negative; from the third count on
    each is a difference from the count two before)."""
    if not isinstance(counts, str):
        return [int(c) for c in counts]
    out: list[int] = []
    p = 0
    while p < len(counts):
        x = k = 0
        more = True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def rle_decode(counts: str | list[int], height: int, width: int) -> np.ndarray:
    """A COCO RLE mask -> bool (height, width). Runs alternate 0 and 1, starting with 0, down the columns."""
    runs = rle_counts(counts)
    if sum(runs) != height * width:
        raise ValueError(f"RLE runs cover {sum(runs)} pixels, the mask has {height * width}")
    flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    return flat.reshape(width, height).T


def polygons_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """COCO polygons (each x0, y0, x1, y1, ... in continuous pixels) -> bool (height, width), their union.

    A pixel is inside a polygon when its centre is (even-odd rule along its row). PIL's ``ImageDraw.polygon``
    is not used: it rounds the vertices to whole pixels and fills the edges too (a 4 x 3 pixel square gives
    5 x 4), which would bias the silhouette IoU."""
    out = np.zeros((height, width), bool)
    yc, xc = np.arange(height) + 0.5, np.arange(width) + 0.5
    for poly in polygons:
        p = np.asarray(poly, np.float64).reshape(-1, 2)
        if len(p) < 3:
            continue
        (xa, ya), (xb, yb) = p.T, np.roll(p, -1, axis=0).T
        crosses = (ya[None] <= yc[:, None]) != (yb[None] <= yc[:, None])  # (H, E): the edge spans the row centre
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = xa + (yc[:, None] - ya) / (yb - ya) * (xb - xa)  # (H, E): where it crosses the row
        for row in np.flatnonzero(crosses.any(1)):
            left = np.searchsorted(np.sort(xs[row, crosses[row]]), xc)  # crossings left of each pixel centre
            out[row] |= left % 2 == 1
    return out


def coco_mask(segmentation, height: int, width: int) -> np.ndarray | None:
    """A COCO ``segmentation`` (polygons or RLE) -> bool (height, width); None when there is none."""
    if not segmentation:
        return None
    if isinstance(segmentation, dict):
        h, w = segmentation.get("size", (height, width))
        return rle_decode(segmentation["counts"], int(h), int(w))
    return polygons_mask(segmentation, height, width)


# ---- joints ----


def to_ours(points: np.ndarray, present: np.ndarray, mapping: tuple) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's keypoints (K, D) with ``present`` (K,) bool -> our 16 joints (16, D) and visibility (16,).

    Pelvis and thorax that the mapping leaves out become mid-hips and mid-shoulders when both are present."""
    out = np.zeros((16, points.shape[1]))
    vis = np.zeros(16, dtype=np.int64)
    for ours, theirs in enumerate(mapping):
        if theirs is not None and present[theirs]:
            out[ours], vis[ours] = points[theirs], 1
    for joint, (a, b) in ((PELVIS, (R_HIP, L_HIP)), (THORAX, (R_SHOULDER, L_SHOULDER))):
        if mapping[joint] is None and vis[a] and vis[b]:
            out[joint], vis[joint] = (out[a] + out[b]) / 2, 1
    return out, vis


def joints_box(joints2d: np.ndarray, visible: np.ndarray, pad: float = 0.05) -> list[float]:
    """The labelled joints' extent widened by ``pad`` x its longer side on each side: x0, y0, x1, y1."""
    p = joints2d[visible.astype(bool)]
    lo, hi = p.min(0), p.max(0)
    m = pad * float((hi - lo).max())
    return [float(lo[0] - m), float(lo[1] - m), float(hi[0] + m), float(hi[1] + m)]


def mask_box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


# ---- the set being written ----


class PhotoSet:
    """Writes SET/images, SET/masks and collects annotations.json."""

    def __init__(self, out: Path, min_limb_joints: int):
        self.out, self.min_limb_joints = out, min_limb_joints
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "masks").mkdir(exist_ok=True)
        self.images: list[dict] = []
        self.skipped: dict[str, int] = {}

    def keep(self, source: str, visible: np.ndarray, crowd: bool = False) -> bool:
        if crowd or int(visible[list(LIMB_JOINTS)].sum()) < self.min_limb_joints:
            self.skipped[source] = self.skipped.get(source, 0) + 1
            return False
        return True

    def add(self, source: str, stem: str, jpeg: bytes, persons: list[tuple[Person, np.ndarray | None]]) -> None:
        name = f"{source}_{stem}"
        (self.out / "images" / f"{name}.jpg").write_bytes(jpeg)
        width, height = Image.open(io.BytesIO(jpeg)).size
        listed = []
        for k, (person, mask) in enumerate(persons):
            if mask is not None:
                if mask.shape != (height, width):
                    raise ValueError(f"{name}: mask {mask.shape} for a {width}x{height} photo")
                person.mask = f"masks/{name}_{k}.png"
                Image.fromarray(mask.astype(np.uint8) * 255).save(self.out / person.mask)
            listed.append(asdict(person))
        self.images.append({"file": f"images/{name}.jpg", "source": source, "width": width, "height": height,
                            "persons": listed})  # fmt: skip

    def write(self) -> Path:
        doc = {"format": "bodynet-photo-set", "version": 1, "joints": list(JOINT_NAMES), "frame3d": FRAME3D,
               "images": self.images}  # fmt: skip
        path = self.out / "annotations.json"
        path.write_text(json.dumps(doc, indent=1))
        return path


def _rounded(a: np.ndarray, nd: int) -> list:
    return np.round(np.asarray(a, np.float64), nd).tolist()


# ---- datasets ----


def add_coco_style(files: MMPoseFiles, out: PhotoSet, source: str, json_rel: str, mapping: tuple,
                   image_path=lambda name: name) -> None:  # fmt: skip
    """COCO-format keypoint files (coco, ochuman, crowdpose, aic, humanart): bbox, keypoints, segmentation."""
    doc = json.loads(files.read(json_rel))
    folder = json_rel.rsplit("/", 1)[0]
    by_image: dict = {}
    for ann in doc["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    for im in sorted(doc["images"], key=lambda i: i["file_name"]):
        rel = image_path(im["file_name"])
        if rel is None:
            continue
        persons = []
        for ann in by_image.get(im["id"], []):
            kp = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
            joints, vis = to_ours(kp[:, :2], kp[:, 2] > 0, mapping)
            if not out.keep(source, vis, bool(ann.get("iscrowd", 0))):
                continue
            x, y, w, h = ann["bbox"]
            mask = coco_mask(ann.get("segmentation"), im["height"], im["width"])
            persons.append((Person(str(ann["id"]), [x, y, x + w, y + h], "annotation", _rounded(joints, 3),
                                   vis.tolist()), mask))  # fmt: skip
        if persons:
            out.add(source, Path(rel).stem, files.read(f"{folder}/{rel}"), persons)


def add_mpii(files: MMPoseFiles, out: PhotoSet) -> None:
    for i, ann in enumerate(json.loads(files.read("mpii/test_mpii.json"))):
        joints = np.asarray(ann["joints"], np.float64) - 0.5  # 1-based pixel indices -> continuous
        joints, vis = to_ours(joints, np.asarray(ann["joints_vis"]) > 0, MPII16)
        if out.keep("mpii", vis):
            person = Person(str(i), joints_box(joints, vis), "joints", _rounded(joints, 3), vis.tolist())
            out.add("mpii", Path(ann["image"]).stem, files.read(f"mpii/{ann['image']}"), [(person, None)])


def _npz(files: MMPoseFiles, rel: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(files.read(rel)), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def add_3d(files: MMPoseFiles, out: PhotoSet, source: str, npz_rel: str, mapping: tuple, folder: str,
           mask_for=None) -> None:  # fmt: skip
    """``S`` (N, 17, 4) camera metres + confidence, ``part`` (N, 17, 3) pixels + confidence, ``imgname``."""
    z = _npz(files, npz_rel)
    for i, name in enumerate(z["imgname"]):
        name = str(name)
        joints, vis = to_ours(z["part"][i, :, :2], z["part"][i, :, 2] > 0, mapping)
        joints3d, vis3d = to_ours(z["S"][i, :, :3], z["S"][i, :, 3] > 0, mapping)
        if not out.keep(source, vis):
            continue
        mask = mask_for(name) if mask_for else None
        box, box_from = (mask_box(mask), "mask") if mask is not None and mask.any() else (joints_box(joints, vis),
                                                                                           "joints")
        person = Person("0", box, box_from, _rounded(joints, 3), vis.tolist(), None, _rounded(joints3d, 5),
                        vis3d.tolist())  # fmt: skip
        out.add(source, Path(name).stem, files.read(f"{folder}/{name}"), [(person, mask)])


def h36m_mask(files: MMPoseFiles, imgname: str) -> np.ndarray | None:
    """H36M's ``BF_IUV_gt/<stem>_<cx>_<cy>.png`` (full-frame IUV of a fitted body): non-zero = person."""
    stem = Path(imgname).stem
    names = [n for n in files.listdir("h36m/BF_IUV_gt") if n.startswith(stem + "_") and n.endswith(".png")]
    if not names:
        return None
    return np.asarray(Image.open(io.BytesIO(files.read(f"h36m/BF_IUV_gt/{names[0]}"))).convert("RGB")).any(-1)


def build(files: MMPoseFiles, out: PhotoSet) -> list[str]:
    """Converts every dataset present; returns notes on the ones skipped."""
    real = lambda name: name.split("images/", 1)[1] if "/real_human/" in name else None  # noqa: E731
    steps = [
        ("coco/test_coco.json", lambda: add_coco_style(files, out, "coco", "coco/test_coco.json", COCO17)),
        ("ochuman/test_ochuman.json",
         lambda: add_coco_style(files, out, "ochuman", "ochuman/test_ochuman.json", COCO17)),
        ("crowdpose/test_crowdpose.json",
         lambda: add_coco_style(files, out, "crowdpose", "crowdpose/test_crowdpose.json", CROWDPOSE14)),
        ("aic/test_aic.json", lambda: add_coco_style(files, out, "aic", "aic/test_aic.json", AIC14)),
        ("humanart/test_humanart.json",
         lambda: add_coco_style(files, out, "humanart", "humanart/test_humanart.json", COCO17, real)),
        ("mpii/test_mpii.json", lambda: add_mpii(files, out)),
        ("h36m/test_h36m_body3d.npz", lambda: add_3d(files, out, "h36m", "h36m/test_h36m_body3d.npz", H36M17,
                                                     "h36m", lambda n: h36m_mask(files, n))),
        ("mpi_inf_3dhp/test_3dhp_test.npz",
         lambda: add_3d(files, out, "mpi_inf_3dhp", "mpi_inf_3dhp/test_3dhp_test.npz", MPI_INF_3DHP17, "mpi_inf_3dhp")),
        ("mpi_inf_3dhp/test_3dhp_train.npz",
         lambda: add_3d(files, out, "mpi_inf_3dhp", "mpi_inf_3dhp/test_3dhp_train.npz", MPI_INF_3DHP17,
                        "mpi_inf_3dhp")),
    ]  # fmt: skip
    notes = []
    for rel, step in steps:
        if files.exists(rel):
            step()
        else:
            notes.append(f"skipped {rel}: not found")
    return notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mmpose", type=Path, help="a checkout of open-mmlab/mmpose, or its git repository")
    ap.add_argument("--out", type=Path, required=True, help="the set's folder (images/, masks/, annotations.json)")
    ap.add_argument("--rev", default="HEAD", help="revision to read when MMPOSE has no work tree")
    ap.add_argument("--min-limb-joints", type=int, default=6, help="keep persons with at least this many of the 12 "
                    "limb joints labelled")  # fmt: skip
    args = ap.parse_args(argv)
    files = MMPoseFiles(args.mmpose, args.rev)
    out = PhotoSet(args.out, args.min_limb_joints)
    notes = build(files, out)
    path = out.write()
    for note in notes:
        print(note, file=sys.stderr)
    counts: dict[str, list[int]] = {}
    for im in out.images:
        c = counts.setdefault(im["source"], [0, 0, 0, 0])
        c[0] += 1
        c[1] += len(im["persons"])
        c[2] += sum(p["mask"] is not None for p in im["persons"])
        c[3] += sum(p["joints3d"] is not None for p in im["persons"])
    print(f"{'source':<14}{'photos':>7}{'persons':>8}{'masks':>6}{'3D':>4}{'skipped':>8}")
    for source, (n_im, n_p, n_m, n_3d) in counts.items():
        print(f"{source:<14}{n_im:>7}{n_p:>8}{n_m:>6}{n_3d:>4}{out.skipped.get(source, 0):>8}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
