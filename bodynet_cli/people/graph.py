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

import functools
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from bodynet_cli.errors import BodyNetError

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "blazepose"
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}
_FRESH = ("conv_2d", "depthwise_conv_2d", "add", "pad", "concatenation", "resize_bilinear")  # ops whose
# result is a new tensor (never a view of an input), so an add may write into it once it is dead


def _act(x: torch.Tensor, act: str) -> torch.Tensor:
    """TFLite's fused activation, in place on x (a fresh tensor of the op that owns it)."""
    if act == "relu6":
        return F.hardtanh_(x, 0.0, 6.0)
    if act == "relu":
        return F.relu_(x)
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

    def __init__(self, graph: dict, constants: dict[str, torch.Tensor],
                 memory_format: torch.memory_format = torch.channels_last, fused: bool | None = None):
        super().__init__()
        self.graph = graph
        self.input_size = int(graph["input_shape"][1])
        self._names = {}
        for i, (k, v) in enumerate(sorted(constants.items())):
            name = f"c{i}"
            self._names[k] = name
            self.register_buffer(name, v.float(), persistent=False)
        self._steps: list | None = None
        # The layout the ops run in. channels_last (NHWC in memory, TFLite's own) takes oneDNN's
        # kernels for every conv, depthwise and 1×1 alike, where contiguous NCHW sends the 1×1 convs to
        # im2col + GEMM: 0.6-0.7× the time on one CPU thread (benchmarks/bench_frontend_ops.py).
        self.memory_format = memory_format
        # oneDNN's fused conv + bias + activation (the op torch's own compiler emits on CPU) for the
        # convs where it is faster (``_fused``): 8 -> 8 channels at 256², 0.25 ms instead of 1.1 ms.
        # True / False: for every conv / none.
        self.fused = fused

    def _const(self, key: str) -> torch.Tensor:
        return getattr(self, self._names[key])

    def _compile(self) -> list:
        """The op list as steps (out, fn, input names, names dead after it), built at the first forward
        from the current buffers (``_apply`` drops them, so ``.to(device)`` is followed). Built once
        rather than dispatching on op names at every op of every call.

        Rewrites that change no value: a symmetric zero ``pad`` op read only by VALID convs becomes
        their own ``padding=``; a SAME conv whose padding is symmetric (stride 1, odd kernel)
        takes it as ``padding=`` rather than through ``F.pad``; an ``add`` whose first operand is read
        by nothing later writes into it.
        """
        g = self.graph
        ops = g["ops"]
        outputs = {o["tensor"] for o in g["outputs"]}
        readers: dict[str, list[int]] = {}
        for i, op in enumerate(ops):
            for k in _inputs(op):
                readers.setdefault(k, []).append(i)
        folded: dict[int, tuple[str, int, int]] = {}  # conv index -> (the pad's input, its rows, its columns)
        skip = set()  # the folded pad ops
        for i, op in enumerate(ops):
            if op["op"] != "pad" or op["out"] in outputs:
                continue
            (n0, n1), (top, bottom), (left, right), (c0, c1) = op["pads"]
            users = readers.get(op["out"], [])
            if (n0, n1, c0, c1) != (0, 0, 0, 0) or top != bottom or left != right or not users:
                continue
            if all(ops[u]["op"] in ("conv_2d", "depthwise_conv_2d") and ops[u]["padding"] == "valid" for u in users):
                folded.update({u: (op["x"], top, left) for u in users})
                skip.add(i)
        kept = [(i, op) for i, op in enumerate(ops) if i not in skip]
        ins = {i: ([folded[i][0]] if i in folded else _inputs(op)) for i, op in kept}
        last_use = {k: i for i, _ in kept for k in ins[i]}
        fresh = {op["out"] for op in ops if op["op"] in _FRESH}  # new tensors, never views of another
        keep = outputs | {g["input"]}
        steps = []
        for i, op in kept:
            fn = self._step(op, folded.get(i), last_use.get(op.get("a")) == i and op.get("a") in fresh - keep
                            and op.get("b") != op.get("a"))
            dead = [k for k in dict.fromkeys(ins[i]) if last_use[k] == i and k not in keep]
            steps.append((op["out"], fn, ins[i], dead))
        return steps

    def _fused(self, w: torch.Tensor, out_shape: list[int]) -> bool:
        """Whether a conv runs as oneDNN's fused conv + bias + activation (``fused``; None: the 1×1 convs
        with outputs of at least 32×32 pixels, where it works). Measured per conv, one thread: 0.55-0.6×
        the time of F.conv2d for those (GEMM plus a strided bias copy there); 1.0-1.25× for the others
        (depthwise, and the 1×1 convs on small maps, whose GEMMs are better)."""
        if self.fused is not None:
            return self.fused
        return (w.shape[2:] == (1, 1) and out_shape[1] * out_shape[2] >= 32 * 32 and w.device.type == "cpu"
                and w.dtype == torch.float32 and self.memory_format == torch.channels_last
                and _onednn_pointwise_works())

    def _step(self, op: dict, fold: tuple[str, int, int] | None, inplace: bool):
        """One op -> fn(*inputs) -> output. fold: a symmetric zero pad (input, rows, columns) taken
        into a VALID conv; inplace: an add may write into its first operand."""
        kind = op["op"]
        if kind in ("conv_2d", "depthwise_conv_2d"):
            w, b = self._const(op["weight"]).contiguous(memory_format=self.memory_format), self._const(op["bias"])
            stride, act = tuple(op["stride"]), op["act"]
            depthwise = kind == "depthwise_conv_2d"
            kernel = tuple(w.shape[2:])
            padding: tuple[int, int] = (0, 0)
            runtime_pad = False
            if fold is not None:
                padding = fold[1:]
            elif op["padding"] == "same":
                if stride == (1, 1) and all(k % 2 for k in kernel):
                    padding = (kernel[0] // 2, kernel[1] // 2)  # symmetric: (k - 1) / 2 each side
                else:
                    runtime_pad = True

            if self._fused(w, op["shape"]):
                attr, scalars = _ONEDNN_ACT[act]
                padding, stride = list(padding), list(stride)

                def conv(h, w=w, b=b, stride=stride, padding=padding, depthwise=depthwise, pad=runtime_pad,
                         kernel=kernel, attr=attr, scalars=scalars):
                    if pad:
                        h = F.pad(h, same_pads(h, kernel, stride))
                    return _conv_pointwise(h, w, b, padding, stride, [1, 1], h.shape[1] if depthwise else 1,
                                           attr, scalars, "")
            else:
                def conv(h, w=w, b=b, stride=stride, padding=padding, depthwise=depthwise, act=act, pad=runtime_pad,
                         kernel=kernel):
                    if pad:
                        h = F.pad(h, same_pads(h, kernel, stride))
                    y = F.conv2d(h, w, b, stride=stride, padding=padding, groups=h.shape[1] if depthwise else 1)
                    return _act(y, act)

            return conv
        if kind == "add":
            act = op["act"]

            def add(a, b, act=act, inplace=inplace):
                return _act(a.add_(b) if inplace and a.shape == b.shape else a + b, act)

            return add
        if kind == "max_pool_2d":
            kernel, stride, same = op["kernel"], op["stride"], op["padding"] == "same"

            def max_pool(h, kernel=kernel, stride=stride, same=same):
                if same:  # TFLite pads max pooling with -inf, never with 0
                    h = F.pad(h, same_pads(h, kernel, stride), value=float("-inf"))
                return F.max_pool2d(h, kernel, stride)

            return max_pool
        if kind == "pad":
            (_, _), (top, bottom), (left, right), (c0, c1) = op["pads"]
            pads = [left, right, top, bottom, c0, c1]
            return lambda h, pads=pads: F.pad(h, pads)
        if kind == "reshape":
            shape = op["shape"][1:]

            def reshape(h, shape=shape):
                y = _to_nhwc(h).reshape(-1, *shape)
                return y.permute(0, 3, 1, 2) if y.dim() == 4 else y

            return reshape
        if kind == "concatenation":
            axis = op["axis"] % len(op["shape"])

            def cat(*xs, axis=axis):
                return torch.cat(xs, dim=NHWC_TO_NCHW_AXIS[axis] if xs[0].dim() == 4 else axis)

            return cat
        if kind == "resize_bilinear":  # half-pixel centres, as TFLite's half_pixel_centers
            size = tuple(op["shape"][1:3])
            return lambda h, size=size: F.interpolate(h, size=size, mode="bilinear", align_corners=False)
        if kind == "depth_to_space":
            bs = op["block"]

            def depth_to_space(h, bs=bs, fmt=self.memory_format):
                # TFLite's order (as TensorFlow's DCR): input channel (i·bs + j)·C + c -> output (c, i, j).
                b, c, hh, ww = h.shape
                return (h.reshape(b, bs, bs, c // bs**2, hh, ww).permute(0, 3, 4, 1, 5, 2)
                        .reshape(b, c // bs**2, hh * bs, ww * bs).contiguous(memory_format=fmt))

            return depth_to_space
        if kind == "logistic":
            return torch.sigmoid
        raise AssertionError(f"op {kind} not supported")  # pragma: no cover - the converter refuses others

    def _apply(self, fn, *args, **kwargs):
        self._steps = None  # the steps hold the buffers: rebuild them after .to(), .float(), ...
        return super()._apply(fn, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        g = self.graph
        if self._steps is None:
            self._steps = self._compile()
        env = {g["input"]: x.contiguous(memory_format=self.memory_format)}
        for out, fn, ins, dead in self._steps:
            env[out] = fn(*[env[k] for k in ins])
            for k in dead:  # free early: smaller working set, and the in-place adds own their operand
                del env[k]
        return {o["name"]: env[o["tensor"]].contiguous() for o in g["outputs"]}


_ONEDNN_ACT = {"relu6": ("hardtanh", [0.0, 6.0]), "relu": ("relu", []), "none": ("none", [])}


def _conv_pointwise(*args):
    return torch.ops.mkldnn._convolution_pointwise(*args)


@functools.cache
def _onednn_pointwise_works() -> bool:
    """oneDNN's fused conv is a private op of torch's CPU builds: use it only where it exists and agrees
    with F.conv2d on a small probe."""
    if not torch.backends.mkldnn.is_available():
        return False
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 5, generator=g).contiguous(memory_format=torch.channels_last)
    w = torch.randn(4, 1, 3, 3, generator=g).contiguous(memory_format=torch.channels_last)
    b = torch.randn(4, generator=g)
    try:
        y = _conv_pointwise(x, w, b, [1, 1], [1, 1], [1, 1], 4, "hardtanh", [0.0, 6.0], "")
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return bool(torch.allclose(y, F.conv2d(x, w, b, padding=1, groups=4).clamp(0.0, 6.0), atol=1e-5))


def _inputs(op: dict) -> list[str]:
    """Names of the tensors an op reads (constants excluded)."""
    if op["op"] == "add":
        return [op["a"], op["b"]]
    if op["op"] == "concatenation":
        return list(op["xs"])
    return [op["x"]]


def load_graph(name: str, assets: Path | None = None, memory_format: torch.memory_format = torch.channels_last,
               fused: bool | None = None) -> TFLiteGraph:
    """Load ``{assets}/{name}.json`` + ``.safetensors`` (BodyNetError naming the file if missing)."""
    from safetensors.torch import load_file

    assets = ASSETS if assets is None else Path(assets)
    spec, weights = assets / f"{name}.json", assets / f"{name}.safetensors"
    for f in (spec, weights):
        if not f.is_file():
            raise BodyNetError(f"person front end: {f} is missing; build it with `python tools/build_blazepose.py`")
    graph = TFLiteGraph(json.loads(spec.read_text()), load_file(str(weights)), memory_format, fused)
    return graph.eval()
