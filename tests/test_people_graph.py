"""The converted BlazePose networks against the TFLite runtime's outputs (tests/data/blazepose_reference.npz,
written by tools/build_blazepose.py with TFLite's reference kernels), and the interpreter's layout ops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bodynet_cli.errors import BodyNetError
from bodynet_cli.people.graph import TFLiteGraph, load_graph, same_pads

REFERENCE = Path(__file__).parent / "data" / "blazepose_reference.npz"

# Max abs error allowed per output. Measured (torch CPU fp32 vs TFLite reference kernels): detector
# boxes 4.6e-4 (values up to 742), scores 2.4e-4; landmarks 1.8e-3 (values up to 340), pose flag
# 4.2e-6, world landmarks 1.0e-5, sigmoid(segmentation) and sigmoid(heatmap) at the float16 storage
# step. TFLite's own XNNPACK path differs from its reference kernels by 8.6e-4, 4.7e-4, 4.5e-3, 1e-7,
# 5e-5 on the same outputs.
TOLERANCE = {
    "pose_detection/Identity": 5e-3,
    "pose_detection/Identity_1": 2e-3,
    "pose_landmark_full/Identity": 1e-2,
    "pose_landmark_full/Identity_1": 1e-4,
    "pose_landmark_full/Identity_2": 2e-3,
    "pose_landmark_full/Identity_3": 2e-3,
    "pose_landmark_full/Identity_4": 2e-4,
}


def reference_inputs(ref) -> dict[str, np.ndarray]:
    """The inputs of tools/build_blazepose.py's ``reference_inputs`` (same seed, same numpy calls)."""
    rng = np.random.default_rng(0)
    det_rand = rng.uniform(-1.0, 1.0, (224, 224, 3)).astype(np.float32)
    lm_rand = rng.uniform(0.0, 1.0, (256, 256, 3)).astype(np.float32)
    return {
        "pose_detection": np.stack([det_rand, ref["pose_detection_photo_u8"].astype(np.float32) / 127.5 - 1.0]),
        "pose_landmark_full": np.stack([lm_rand, ref["pose_landmark_full_photo_u8"].astype(np.float32) / 255.0]),
    }


@pytest.mark.parametrize("name", ["pose_detection", "pose_landmark_full"])
def test_converted_network_matches_tflite(name):
    ref = np.load(REFERENCE, allow_pickle=False)
    x = torch.from_numpy(reference_inputs(ref)[name]).permute(0, 3, 1, 2)
    with torch.no_grad():
        out = load_graph(name)(x)  # batch of 2: the batch dimension is free
    names = sorted(k.split("/", 1)[1] for k in ref.files if k.startswith(name + "/"))
    assert sorted(out) == names
    for k in names:
        expected = ref[f"{name}/{k}"].astype(np.float32)
        got = out[k]
        if got.dim() == 4:  # segmentation / heatmap: NCHW logits; stored NHWC through a sigmoid
            got = torch.sigmoid(got.permute(0, 2, 3, 1))
        err = np.abs(got.numpy() - expected).max()
        assert got.shape == expected.shape
        assert err <= TOLERANCE[f"{name}/{k}"], f"{name}/{k}: max abs error {err:.3g}"


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_same_padding_is_tflites():
    """Output size ceil(n/s); the odd pixel goes after; = torch's own 'same' where torch has it (stride 1)."""
    g = torch.Generator().manual_seed(0)
    for n in (7, 8, 13, 112):
        for k in (1, 2, 3, 5):
            for s in (1, 2):
                x = torch.randn(1, 2, n, n + 1, generator=g)
                pads = same_pads(x, (k, k), (s, s))
                w = torch.randn(3, 2, k, k, generator=g)
                y = F.conv2d(F.pad(x, pads), w, stride=s)
                assert y.shape[-2:] == (-(-n // s), -(-(n + 1) // s))
                assert pads[1] - pads[0] in (0, 1) and pads[3] - pads[2] in (0, 1)
                if s == 1:
                    torch.testing.assert_close(y, F.conv2d(x, w, padding="same"))


def _graph(ops, input_shape, outputs, consts=None):
    spec = {"input": "t0", "input_shape": input_shape, "ops": ops,
            "outputs": [{"name": o, "tensor": o, "shape": s} for o, s in outputs]}
    return TFLiteGraph(spec, consts or {})


def test_depth_to_space_and_reshape_follow_nhwc():
    """DEPTH_TO_SPACE and RESHAPE against naive NHWC loops (TFLite's layout)."""
    rng = np.random.default_rng(1)
    b, h, w, bs, c = 2, 3, 4, 2, 3
    x = rng.normal(size=(b, h, w, bs * bs * c)).astype(np.float32)
    ops = [{"op": "depth_to_space", "x": "t0", "out": "d", "block": bs, "shape": [1, h * bs, w * bs, c]},
           {"op": "reshape", "x": "d", "out": "r", "shape": [1, h * bs * w * bs, c]}]
    g = _graph(ops, [1, h, w, bs * bs * c], [("d", [1, h * bs, w * bs, c]), ("r", [1, h * bs * w * bs, c])])
    out = g(torch.from_numpy(x).permute(0, 3, 1, 2))
    expected = np.zeros((b, h * bs, w * bs, c), np.float32)
    for n in range(b):
        for i in range(h * bs):
            for j in range(w * bs):
                for k in range(c):
                    expected[n, i, j, k] = x[n, i // bs, j // bs, ((i % bs) * bs + j % bs) * c + k]
    np.testing.assert_array_equal(out["d"].permute(0, 2, 3, 1).numpy(), expected)
    np.testing.assert_array_equal(out["r"].numpy(), expected.reshape(b, -1, c))


def test_missing_assets_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(BodyNetError, match=r"pose_detection\.json.*tools/build_blazepose\.py"):
        load_graph("pose_detection", tmp_path)


@pytest.mark.parametrize("memory_format, fused", [(torch.contiguous_format, False), (torch.channels_last, False),
                                                  (torch.channels_last, None), (torch.channels_last, True)])
def test_compiled_steps_match_plain_ops(memory_format, fused):
    """The interpreter's rewrites (a symmetric pad op folded into the VALID convs that read it, symmetric
    SAME padding as the conv's own, asymmetric SAME through F.pad, in-place ReLU6 and adds, oneDNN's fused
    conv) against the ops written out with F.pad, F.conv2d and clamp, on seeded random input; the pad op
    has two readers and the add's operand is dead after it (written in place)."""
    g = torch.Generator().manual_seed(0)
    c = {k: torch.randn(*s, generator=g) * 0.5 for k, s in {
        "w1": (8, 3, 3, 3), "b1": (8,), "w2": (8, 8, 1, 1), "b2": (8,), "wd": (8, 1, 3, 3), "bd": (8,),
        "w3": (8, 8, 1, 1), "b3": (8,), "w4": (4, 8, 3, 3), "b4": (4,)}.items()}
    conv = {"op": "conv_2d", "stride": [1, 1]}
    ops = [
        {**conv, "x": "t0", "out": "a", "weight": "w1", "bias": "b1", "padding": "same", "act": "relu6",
         "shape": [1, 40, 40, 8]},
        {"op": "pad", "x": "a", "out": "p", "pads": [[0, 0], [1, 1], [1, 1], [0, 0]], "shape": [1, 42, 42, 8]},
        {"op": "depthwise_conv_2d", "x": "p", "out": "d", "weight": "wd", "bias": "bd", "stride": [2, 2],
         "padding": "valid", "act": "relu6", "shape": [1, 20, 20, 8]},
        {**conv, "x": "p", "out": "e", "weight": "w2", "bias": "b2", "padding": "valid", "act": "none",
         "shape": [1, 42, 42, 8]},
        {**conv, "x": "a", "out": "f", "weight": "w3", "bias": "b3", "padding": "same", "act": "none",
         "shape": [1, 40, 40, 8]},
        {"op": "add", "a": "f", "b": "a", "out": "s", "act": "relu6", "shape": [1, 40, 40, 8]},
        {**conv, "x": "s", "out": "q", "weight": "w4", "bias": "b4", "stride": [2, 2], "padding": "same",
         "act": "relu", "shape": [1, 20, 20, 4]},
    ]
    spec = {"input": "t0", "input_shape": [1, 40, 40, 3], "ops": ops,
            "outputs": [{"name": k, "tensor": k, "shape": []} for k in ("d", "e", "q")]}
    graph = TFLiteGraph(spec, c, memory_format, fused)
    x = torch.randn(2, 3, 40, 40, generator=g) * 2
    with torch.no_grad():
        out = graph(x)
        x_before = x.clone()
        a = F.conv2d(F.pad(x, [1, 1, 1, 1]), c["w1"], c["b1"]).clamp(0, 6)
        p = F.pad(a, [1, 1, 1, 1])
        d = F.conv2d(p, c["wd"], c["bd"], stride=2, groups=8).clamp(0, 6)
        e = F.conv2d(p, c["w2"], c["b2"])
        s = (F.conv2d(a, c["w3"], c["b3"]) + a).clamp(0, 6)
        q = F.conv2d(F.pad(s, [0, 1, 0, 1]), c["w4"], c["b4"], stride=2).clamp_min(0)  # SAME, 3×3/2 on 40: 0|1
    assert torch.equal(x, x_before)  # the graph's input is never written
    for k, expected in (("d", d), ("e", e), ("q", q)):
        assert out[k].shape == expected.shape and out[k].is_contiguous()
        torch.testing.assert_close(out[k], expected, rtol=1e-5, atol=1e-5)
    assert len(graph._steps) == len(ops) - 1  # the pad op is gone: both its readers pad themselves
