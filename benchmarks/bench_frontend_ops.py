"""The person front end before and after its CPU work (the old paths are copied here), in one process.

    python benchmarks/bench_frontend_ops.py [--repeats 5] [--threads 1]

Networks: ``old`` is ``LegacyGraph``, ``TFLiteGraph.forward`` as it was (dispatch on the op name at
every op, ``F.pad`` before every SAME conv and for every ``pad`` op, ``clamp`` for ReLU6, contiguous
NCHW); ``steps`` the compiled steps in contiguous NCHW; ``+ channels_last`` those in channels_last;
``all fused`` oneDNN's fused conv + bias + activation for every conv; ``new`` (the default) that op only
for the 1×1 convs on maps of 32² and more. All share the same buffers.

Printed: max abs error of old and new against the TFLite reference outputs
(tests/data/blazepose_reference.npz) and between them; CPU time (ms, best of --repeats, the variants
interleaved round by round) of the detector forward (one 224² window, and the tiled windows of the
two-astronaut photo) and the landmark forward (one person, and two); one pyramid level, the sampling
grids and ``roi.warp`` against ``legacy_warp`` (avg_pool2d pyramid on the photo's strided view, the
einsum grid); ``FrontEnd.detect`` on scikit-image's astronaut and two astronauts side by side, tiles off
and on, old against new (and new networks with the old warp), with the ratios and the landmarks' largest
difference. The old detect() column already has the new uint8 (3, H, W) conversion of the photo.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_people_graph import REFERENCE, TOLERANCE, reference_inputs  # noqa: E402

from bodynet_cli.people import FrontEnd, frontend  # noqa: E402
from bodynet_cli.people.frontend import LANDMARK_SIZE, detector_windows  # noqa: E402
from bodynet_cli.people.graph import NHWC_TO_NCHW_AXIS, TFLiteGraph, load_graph, same_pads  # noqa: E402
from bodynet_cli.people.roi import halve, sample_grid, warp  # noqa: E402


def _legacy_act(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu6":
        return x.clamp(0.0, 6.0)
    if act == "relu":
        return x.clamp_min(0.0)
    return x


class LegacyGraph(TFLiteGraph):
    """The interpreter before this change (the baseline of the A/B), sharing the new graph's buffers."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        g = self.graph
        env = {g["input"]: x}
        for op in g["ops"]:
            kind = op["op"]
            if kind in ("conv_2d", "depthwise_conv_2d"):
                w, b = self._const(op["weight"]), self._const(op["bias"])
                h = env[op["x"]]
                if op["padding"] == "same":
                    h = F.pad(h, same_pads(h, w.shape[2:], op["stride"]))
                groups = h.shape[1] if kind == "depthwise_conv_2d" else 1
                y = _legacy_act(F.conv2d(h, w, b, stride=op["stride"], groups=groups), op["act"])
            elif kind == "add":
                y = _legacy_act(env[op["a"]] + env[op["b"]], op["act"])
            elif kind == "max_pool_2d":
                h = env[op["x"]]
                if op["padding"] == "same":
                    h = F.pad(h, same_pads(h, op["kernel"], op["stride"]), value=float("-inf"))
                y = F.max_pool2d(h, op["kernel"], op["stride"])
            elif kind == "pad":
                (_, _), (top, bottom), (left, right), (c0, c1) = op["pads"]
                y = F.pad(env[op["x"]], [left, right, top, bottom, c0, c1])
            elif kind == "reshape":
                y = env[op["x"]]
                y = (y.permute(0, 2, 3, 1) if y.dim() == 4 else y).reshape(-1, *op["shape"][1:])
                if y.dim() == 4:
                    y = y.permute(0, 3, 1, 2)
            elif kind == "concatenation":
                xs = [env[k] for k in op["xs"]]
                axis = op["axis"] % len(op["shape"])
                y = torch.cat(xs, dim=NHWC_TO_NCHW_AXIS[axis] if xs[0].dim() == 4 else axis)
            elif kind == "resize_bilinear":
                y = F.interpolate(env[op["x"]], size=op["shape"][1:3], mode="bilinear", align_corners=False)
            elif kind == "depth_to_space":
                h, bs = env[op["x"]], op["block"]
                b, c, hh, ww = h.shape
                y = (h.reshape(b, bs, bs, c // bs**2, hh, ww).permute(0, 3, 4, 1, 5, 2)
                     .reshape(b, c // bs**2, hh * bs, ww * bs))
            elif kind == "logistic":
                y = torch.sigmoid(env[op["x"]])
            else:
                raise AssertionError(kind)
            env[op["out"]] = y
        return {o["name"]: env[o["tensor"]] for o in g["outputs"]}


def legacy_sample_grid(matrices: np.ndarray, out_size: int, height: int, width: int) -> torch.Tensor:
    """``roi.sample_grid`` before this change (an einsum over an (O, O, 2) point array)."""
    c = (np.arange(out_size) + 0.5) * 1.0
    t, s = np.meshgrid(c, c, indexing="ij")
    pts = np.stack([s, t], axis=-1)
    img = np.einsum("nij,hwj->nhwi", matrices[:, :, :2], pts) + matrices[:, None, None, :, 2]
    norm = img / np.array([width, height]) * 2.0 - 1.0
    return torch.from_numpy(norm.astype(np.float32))


def legacy_warp(image: torch.Tensor, matrices: np.ndarray, out_size: int, padding: str = "border",
                max_shrink: float = 4.0) -> torch.Tensor:
    """``roi.warp`` before this change: avg_pool2d pyramid, sampling the image as given (a strided view),
    the old grid."""
    out = []
    pyramid = {0: image[None]}
    for m in np.asarray(matrices):
        scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
        level = max(0, math.ceil(math.log2(scale / max_shrink))) if scale > max_shrink else 0
        for lv in range(1, level + 1):
            if lv not in pyramid:
                pyramid[lv] = F.avg_pool2d(pyramid[lv - 1], 2, ceil_mode=True)
        src = pyramid[level]
        grid = legacy_sample_grid((m / 2**level)[None], out_size, src.shape[-2], src.shape[-1]).to(image.device)
        out.append(F.grid_sample(src, grid, mode="bilinear", padding_mode=padding, align_corners=False))
    return torch.cat(out) if out else image.new_zeros((0, image.shape[0], out_size, out_size))


def variant(graph: TFLiteGraph, cls=TFLiteGraph, memory_format=torch.channels_last, fused=None) -> TFLiteGraph:
    """graph's buffers and op list under another interpreter class, memory format or conv kernel."""
    other = cls.__new__(cls)
    other.__dict__ = dict(graph.__dict__)
    other._steps, other.memory_format, other.fused = None, memory_format, fused
    return other


def legacy(graph: TFLiteGraph) -> LegacyGraph:
    return variant(graph, LegacyGraph, torch.contiguous_format, False)


def best_of(fns: dict, repeats: int) -> dict[str, float]:
    """Best time of each of fns {label: fn}, the labels interleaved round by round (the machine's load
    drifts alike for all of them)."""
    for fn in fns.values():
        fn()  # warm-up (the compiled path builds its steps here)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def row(threads: int, label: str, t: dict[str, float]) -> None:
    print(f"| {threads} | {label} | " + " | ".join(f"{t[k] * 1e3:.1f}" for k in ("old", "steps", "nhwc", "all", "new"))
          + " | " + " | ".join(f"{t[k] / t['old']:.2f}" for k in ("steps", "nhwc", "all", "new")) + " |")


def parity() -> None:
    ref = np.load(REFERENCE, allow_pickle=False)
    print("| network | output | tolerance | old vs TFLite | new vs TFLite | new vs old |")
    print("|---|---|---|---|---|---|")
    for name, x in reference_inputs(ref).items():
        new = load_graph(name)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2)
        with torch.no_grad():
            a, b = legacy(new)(xt), new(xt)
        for k in sorted(b):
            pa, pb = a[k], b[k]
            if pb.dim() == 4:  # stored NHWC through a sigmoid, as the parity test compares
                pa, pb = torch.sigmoid(pa.permute(0, 2, 3, 1)), torch.sigmoid(pb.permute(0, 2, 3, 1))
            expected = ref[f"{name}/{k}"].astype(np.float32)
            ea, eb = np.abs(pa.numpy() - expected).max(), np.abs(pb.numpy() - expected).max()
            print(f"| {name} | {k} | {TOLERANCE[f'{name}/{k}']:.0e} | {ea:.2e} | {eb:.2e} | "
                  f"{(pa - pb).abs().max().item():.2e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    args = ap.parse_args()

    print("## Parity (max abs error; 4-D outputs through a sigmoid)\n")
    parity()

    from skimage.data import astronaut

    a = astronaut()
    photos = [("astronaut", a), ("two_astronauts", np.concatenate([a, a], axis=1))]
    fronts = {tiles: FrontEnd(tiles=tiles) for tiles in (False, True)}
    nets = {"new": (fronts[False].detector, fronts[False].landmarker)}
    nets["steps"] = tuple(variant(n, memory_format=torch.contiguous_format, fused=False) for n in nets["new"])
    nets["nhwc"] = tuple(variant(n, fused=False) for n in nets["new"])
    nets["old"] = tuple(legacy(n) for n in nets["new"])
    nets["all"] = tuple(variant(n, fused=True) for n in nets["new"])
    names = ("old", "steps", "nhwc", "all", "new")
    g = torch.Generator().manual_seed(0)
    n_tiled = len(detector_windows(2 * a.shape[1], a.shape[0], True))
    cases = [(f"detector forward ×{n}", "det", torch.rand(n, 3, 224, 224, generator=g)) for n in (1, n_tiled)]
    cases += [(f"landmark forward ×{n}", "lm", torch.rand(n, 3, LANDMARK_SIZE, LANDMARK_SIZE, generator=g))
              for n in (1, 2)]

    print(f"\n## Networks: CPU time (ms, best of {args.repeats})\n")
    print("| threads | what | old | steps (NCHW) | + channels_last | all fused | new | steps / old | "
          "+ channels_last / old | all fused / old | new / old |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with torch.no_grad():
            for label, which, x in cases:
                i = 0 if which == "det" else 1
                t = best_of({v: (lambda net=nets[v][i], x=x: net(x)) for v in names}, args.repeats)
                row(threads, label, t)

    two = torch.tensor(photos[1][1]).permute(2, 0, 1).float()  # as FrontEnd.detect makes it: a strided view
    windows = np.stack([[[c.side / 224, 0.0, c.x0], [0.0, c.side / 224, c.y0]]
                        for c in detector_windows(two.shape[2], two.shape[1], True)])
    print(f"\n## Resampling, two_astronauts (ms, best of {args.repeats})\n")
    print("| threads | what | old | new | new / old | max abs difference |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for label, old, new in (
                ("pyramid level (avg_pool2d -> halve)", lambda: F.avg_pool2d(two[None], 2, ceil_mode=True),
                 lambda: halve(two.contiguous()[None])),
                ("sampling grids of the tiled detector windows", lambda: legacy_sample_grid(windows, 224, 512, 1024),
                 lambda: sample_grid(windows, 224, 512, 1024)),
                ("warp of the tiled detector windows", lambda: legacy_warp(two, windows, 224, "zeros", 2.0),
                 lambda: warp(two, windows, 224, "zeros", 2.0))):
            t = best_of({"old": old, "new": new}, args.repeats)
            diff = (old() - new()).abs().max().item()
            print(f"| {threads} | {label} | {t['old'] * 1e3:.2f} | {t['new'] * 1e3:.2f} | "
                  f"{t['new'] / t['old']:.2f} | {diff:.1e} |")

    print(f"\n## detect(): CPU time (ms, best of {args.repeats})\n")
    print("old: old networks and old warp; graphs: new networks, old warp; new: both new. Landmark difference:")
    print("max over people and landmarks of |new - old| in image pixels (same people found).\n")
    print("| threads | image | tiles | people | old | graphs | new | graphs / old | new / old | landmark difference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    modes = {"old": ("old", legacy_warp), "graphs": ("new", legacy_warp), "new": ("new", warp)}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, rgb in photos:
            for tiles, front in fronts.items():
                def run(mode, front=front, rgb=rgb):
                    net, warp_fn = modes[mode]
                    front.detector, front.landmarker = nets[net]
                    frontend.warp = warp_fn
                    return front.detect([rgb])[0]

                t = best_of({m: (lambda m=m, run=run: run(m)) for m in modes}, args.repeats)
                old, new = run("old"), run("new")
                same = len(old) == len(new)
                pairs = zip(old, new, strict=True) if same else []
                diff = max((np.abs(p.landmarks[:, :2] - q.landmarks[:, :2]).max() for p, q in pairs),
                           default=0.0 if same else float("nan"))
                print(f"| {threads} | {name} | {'on' if tiles else 'off'} | {len(old)} / {len(new)} | "
                      f"{t['old'] * 1e3:.1f} | {t['graphs'] * 1e3:.1f} | {t['new'] * 1e3:.1f} | "
                      f"{t['graphs'] / t['old']:.2f} | {t['new'] / t['old']:.2f} | {diff:.1e} |")
    frontend.warp = warp


if __name__ == "__main__":
    main()
