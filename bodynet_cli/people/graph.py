"""A small torch interpreter for the two converted BlazePose networks.

``tools/build_blazepose.py`` turns each TFLite file into ``{name}.json`` (an op list over numbered
tensors, in TFLite's order) and ``{name}.safetensors`` (the constants, already in torch layouts). Why an
interpreter rather than hand-written modules: the op list is the TFLite graph itself, so there is no
hand transcription of ~250 layers, their strides, paddings and skip connections to get wrong; the op set
is small (below) and each op is a line of torch. The numerical parity with the TFLite runtime is tested
(tests/test_people_graph.py).

Layout: 4-D tensors are NCHW inside the interpreter (TFLite's are NHWC); the op list keeps TFLite's
NHWC shapes and axes, which the ops translate. Non-4-D tensors (the reshaped outputs) keep TFLite's
layout. The batch dimension is free (TFLite's files say 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from bodynet_cli.errors import BodyNetError

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "blazepose"
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def _act(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu6":
        return x.clamp(0.0, 6.0)
    if act == "relu":
        return x.clamp_min(0.0)
    assert act == "none", act
    return x


def same_pads(x: torch.Tensor, kernel, stride) -> list[int]:
    """TFLite SAME padding of x (B, C, H, W) as F.pad's [left, right, top, bottom].

    Per axis: total = max((ceil(n/s) - 1)·s + k - n, 0), the odd pixel after (right/bottom).
    """
    pads = []
    for n, k, s in zip(x.shape[:1:-1], kernel[::-1], stride[::-1], strict=True):  # W then H, as F.pad wants
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _to_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


class TFLiteGraph(torch.nn.Module):
    """Runs one converted graph: ``forward(x (B, 3, I, I)) -> {output name: tensor}``.

    4-D outputs come back NCHW (B, C, H, W); the others in TFLite's shape with batch B.
    """

    def __init__(self, graph: dict, constants: dict[str, torch.Tensor]):
        super().__init__()
        self.graph = graph
        self.input_size = int(graph["input_shape"][1])
        self._names = {}
        for i, (k, v) in enumerate(sorted(constants.items())):
            name = f"c{i}"
            self._names[k] = name
            self.register_buffer(name, v.float(), persistent=False)

    def _const(self, key: str) -> torch.Tensor:
        return getattr(self, self._names[key])

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
                y = _act(F.conv2d(h, w, b, stride=op["stride"], groups=groups), op["act"])
            elif kind == "add":
                y = _act(env[op["a"]] + env[op["b"]], op["act"])
            elif kind == "max_pool_2d":
                h = env[op["x"]]
                if op["padding"] == "same":  # TFLite pads max pooling with -inf, never with 0
                    h = F.pad(h, same_pads(h, op["kernel"], op["stride"]), value=float("-inf"))
                y = F.max_pool2d(h, op["kernel"], op["stride"])
            elif kind == "pad":
                (_, _), (top, bottom), (left, right), (c0, c1) = op["pads"]
                y = F.pad(env[op["x"]], [left, right, top, bottom, c0, c1])
            elif kind == "reshape":
                y = _to_nhwc(env[op["x"]]).reshape(-1, *op["shape"][1:])
                if y.dim() == 4:
                    y = y.permute(0, 3, 1, 2)
            elif kind == "concatenation":
                xs = [env[k] for k in op["xs"]]
                axis = op["axis"] % len(op["shape"])
                y = torch.cat(xs, dim=NHWC_TO_NCHW_AXIS[axis] if xs[0].dim() == 4 else axis)
            elif kind == "resize_bilinear":  # half-pixel centres, as TFLite's half_pixel_centers
                y = F.interpolate(env[op["x"]], size=op["shape"][1:3], mode="bilinear", align_corners=False)
            elif kind == "depth_to_space":
                # TFLite's order (as TensorFlow's DCR): input channel (i·bs + j)·C + c -> output (c, i, j).
                h, bs = env[op["x"]], op["block"]
                b, c, hh, ww = h.shape
                y = (h.reshape(b, bs, bs, c // bs**2, hh, ww).permute(0, 3, 4, 1, 5, 2)
                     .reshape(b, c // bs**2, hh * bs, ww * bs))
            elif kind == "logistic":
                y = torch.sigmoid(env[op["x"]])
            else:  # pragma: no cover - the converter refuses other ops
                raise AssertionError(f"op {kind} not supported")
            env[op["out"]] = y
        return {o["name"]: env[o["tensor"]] for o in g["outputs"]}


def load_graph(name: str, assets: Path | None = None) -> TFLiteGraph:
    """Load ``{assets}/{name}.json`` + ``.safetensors`` (BodyNetError naming the file if missing)."""
    from safetensors.torch import load_file

    assets = ASSETS if assets is None else Path(assets)
    spec, weights = assets / f"{name}.json", assets / f"{name}.safetensors"
    for f in (spec, weights):
        if not f.is_file():
            raise BodyNetError(f"person front end: {f} is missing; build it with `python tools/build_blazepose.py`")
    graph = TFLiteGraph(json.loads(spec.read_text()), load_file(str(weights)))
    return graph.eval()
