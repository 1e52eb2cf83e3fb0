"""Convert MediaPipe's BlazePose networks (Apache-2.0) to the files bodynet's person front end reads (developers only).

    python -m venv /tmp/bpvenv
    /tmp/bpvenv/bin/pip install tflite ai-edge-litert numpy safetensors scikit-image pillow
    /tmp/bpvenv/bin/python tools/build_blazepose.py [--wheel mediapipe-0.10.21-...whl]

What it does (the installed tool never imports tflite, flatbuffers, ai-edge-litert or mediapipe; it
reads the files this writes, see ``bodynet_cli/people/graph.py``):

1. Gets ``mediapipe==0.10.21`` (``pip download --no-deps``, or ``--wheel``) and takes
   ``pose_detection.tflite`` (person detector, 224×224) and ``pose_landmark_full.tflite`` (33 + 6
   landmarks, pose flag, segmentation, heatmap, world landmarks, 256×256) out of the wheel.
2. Reads each TFLite flatbuffer with the ``tflite`` package: the operator list, their options and the
   tensor shapes. Constant tensors are taken from the TFLite runtime itself (``ai-edge-litert`` with
   ``experimental_preserve_all_tensors``) after one run, so that TFLite does its own DENSIFY (sparse
   weights) and DEQUANTIZE (float16 weights) and nothing about those formats is re-implemented here.
3. Writes ``bodynet_cli/assets/blazepose/{name}.json`` (a generic op list over numbered tensors, run
   by a small torch interpreter) and ``{name}.safetensors`` (the constants, already in torch's layouts:
   convolutions OIHW, depthwise (C, 1, kh, kw)). Weights are stored float16 when that is lossless
   (they are float16 in the .tflite files), else float32.
4. Runs the original .tflite files with the TFLite runtime (its reference kernels) on seeded random
   inputs and on skimage's ``astronaut`` photo and writes inputs + outputs to
   ``tests/data/blazepose_reference.npz`` (the test holds the torch networks to them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIAPIPE = "mediapipe==0.10.21"
MODELS = {
    "pose_detection": "mediapipe/modules/pose_detection/pose_detection.tflite",
    "pose_landmark_full": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
}
# Op types computed from constants only (folded into the stored constants).
CONSTANT_OPS = {"DEQUANTIZE", "DENSIFY"}
ACTIVATIONS = {0: "none", 1: "relu", 3: "relu6"}
PADDINGS = {0: "same", 1: "valid"}
# Seeds of the random reference inputs (the test regenerates them with the same numpy calls).
REFERENCE_SEED = 0


def get_wheel(wheel: str | None, workdir: Path) -> Path:
    if wheel:
        return Path(wheel)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
         "--platform", "manylinux_2_28_x86_64", "-d", str(workdir), MEDIAPIPE],  # any platform: same models
        check=True,
    )
    return next(workdir.glob("mediapipe-*.whl"))


def _options(op, cls):
    import tflite

    o = getattr(tflite, cls)()
    t = op.BuiltinOptions()
    o.Init(t.Bytes, t.Pos)
    return o


def convert(model_bytes: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """TFLite flatbuffer -> (graph spec, constants by tensor key in torch layout)."""
    import tflite
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite.BuiltinOperator import BuiltinOperator

    opnames = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(model_bytes, 0)
    assert model.SubgraphsLength() == 1
    g = model.Subgraphs(0)

    # TFLite itself densifies / dequantizes the weights: run once without delegates, keep all tensors.
    interp = Interpreter(model_content=model_bytes, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
    interp.invoke()

    def shape(i):
        return [int(v) for v in g.Tensors(i).ShapeAsNumpy()]

    def key(i):
        return f"t{i}"

    graph_input = g.Inputs(0)
    produced = {graph_input}
    ops, consts, layouts = [], {}, {}

    def const(i, layout):
        """Register tensor i as a constant in ``layout`` ('conv', 'depthwise', 'vector', 'nhwc', 'raw')."""
        assert i not in produced, f"tensor {i} is not constant"
        k = key(i)
        assert layouts.setdefault(k, layout) == layout, f"tensor {i} used in two layouts"
        v = np.asarray(interp.get_tensor(i), dtype=np.float32)
        if layout == "conv":  # (O, kh, kw, I) -> (O, I, kh, kw)
            v = v.transpose(0, 3, 1, 2)
        elif layout == "depthwise":  # (1, kh, kw, C) -> (C, 1, kh, kw)
            v = v.transpose(3, 0, 1, 2)
        elif layout == "nhwc" and v.ndim == 4:
            v = v.transpose(0, 3, 1, 2)
        consts[k] = np.ascontiguousarray(v)
        return k

    for n in range(g.OperatorsLength()):
        op = g.Operators(n)
        oc = model.OperatorCodes(op.OpcodeIndex())
        name = opnames[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
        ins = [op.Inputs(k) for k in range(op.InputsLength())]
        out = op.Outputs(0)
        assert op.OutputsLength() == 1
        if name in CONSTANT_OPS:
            continue
        spec: dict = {"op": name.lower(), "out": key(out), "shape": shape(out)}
        if name == "CONV_2D":
            o = _options(op, "Conv2DOptions")
            assert o.DilationHFactor() == 1 and o.DilationWFactor() == 1
            spec.update(x=key(ins[0]), weight=const(ins[1], "conv"), bias=const(ins[2], "vector"),
                        stride=[o.StrideH(), o.StrideW()], padding=PADDINGS[o.Padding()],
                        act=ACTIVATIONS[o.FusedActivationFunction()])
        elif name == "DEPTHWISE_CONV_2D":
            o = _options(op, "DepthwiseConv2DOptions")
            assert o.DilationHFactor() == 1 and o.DilationWFactor() == 1 and o.DepthMultiplier() == 1
            spec.update(x=key(ins[0]), weight=const(ins[1], "depthwise"), bias=const(ins[2], "vector"),
                        stride=[o.StrideH(), o.StrideW()], padding=PADDINGS[o.Padding()],
                        act=ACTIVATIONS[o.FusedActivationFunction()])
        elif name == "ADD":
            o = _options(op, "AddOptions")
            assert all(i in produced for i in ins), "ADD with a constant operand"
            spec.update(a=key(ins[0]), b=key(ins[1]), act=ACTIVATIONS[o.FusedActivationFunction()])
        elif name == "MAX_POOL_2D":
            o = _options(op, "Pool2DOptions")
            assert o.FusedActivationFunction() == 0
            spec.update(x=key(ins[0]), kernel=[o.FilterHeight(), o.FilterWidth()],
                        stride=[o.StrideH(), o.StrideW()], padding=PADDINGS[o.Padding()])
        elif name == "PAD":
            pads = np.asarray(interp.get_tensor(ins[1])).astype(int).tolist()  # NHWC (4, 2)
            assert pads[0] == [0, 0]
            spec.update(x=key(ins[0]), pads=pads)
        elif name == "RESHAPE":
            spec.update(x=key(ins[0]))
        elif name == "CONCATENATION":
            o = _options(op, "ConcatenationOptions")
            assert o.FusedActivationFunction() == 0
            spec.update(xs=[key(i) for i in ins], axis=o.Axis())
        elif name == "RESIZE_BILINEAR":
            o = _options(op, "ResizeBilinearOptions")
            # half_pixel_centers is torch's align_corners=False; the legacy TF mode is not handled.
            assert o.HalfPixelCenters() and not o.AlignCorners()
            spec.update(x=key(ins[0]))
        elif name == "DEPTH_TO_SPACE":
            o = _options(op, "DepthToSpaceOptions")
            spec.update(x=key(ins[0]), block=o.BlockSize())
        elif name == "LOGISTIC":
            spec.update(x=key(ins[0]))
        else:
            raise NotImplementedError(f"TFLite op {name} is not converted")
        produced.add(out)
        ops.append(spec)

    graph = {
        "input": key(graph_input),
        "input_shape": shape(graph_input),
        "outputs": [{"name": g.Tensors(g.Outputs(k)).Name().decode(), "tensor": key(g.Outputs(k)),
                     "shape": shape(g.Outputs(k))} for k in range(g.OutputsLength())],
        "ops": ops,
    }
    return graph, consts


def _dump_graph(graph: dict) -> str:
    """JSON with one op per line (readable diffs, small file)."""
    head = {k: v for k, v in graph.items() if k != "ops"}
    ops = ",\n".join("  " + json.dumps(op, separators=(",", ":")) for op in graph["ops"])
    return json.dumps(head, indent=1)[:-2] + ',\n "ops": [\n' + ops + "\n ]\n}\n"


def run_tflite(model_bytes: bytes, inputs: np.ndarray) -> list[np.ndarray]:
    """Run the original network (TFLite's reference kernels) on inputs (N, H, W, 3); outputs (N, ...) each."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # TFLite's reference kernels: plain float32 arithmetic. (MediaPipe runs XNNPACK, whose outputs
    # differ from these by about as much as the torch interpreter's do; see the test.)
    interp = Interpreter(model_content=model_bytes, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = sorted(interp.get_output_details(), key=lambda d: d["name"])
    results = [[] for _ in outs]
    for x in inputs:
        interp.set_tensor(inp["index"], x[None].astype(np.float32))
        interp.invoke()
        for r, d in zip(results, outs, strict=True):
            r.append(interp.get_tensor(d["index"])[0].copy())
    return [np.stack(r) for r in results]


def reference_inputs() -> dict[str, np.ndarray]:
    """Network inputs (NHWC float32): one seeded random tensor + the astronaut photo, per network."""
    from PIL import Image
    from skimage.data import astronaut

    rng = np.random.default_rng(REFERENCE_SEED)
    det_rand = rng.uniform(-1.0, 1.0, (224, 224, 3)).astype(np.float32)
    lm_rand = rng.uniform(0.0, 1.0, (256, 256, 3)).astype(np.float32)
    photo = Image.fromarray(astronaut())
    det_photo = np.asarray(photo.resize((224, 224), Image.BILINEAR))
    lm_photo = np.asarray(photo.resize((256, 256), Image.BILINEAR))
    return {
        "pose_detection_photo_u8": det_photo,
        "pose_landmark_full_photo_u8": lm_photo,
        "pose_detection": np.stack([det_rand, det_photo.astype(np.float32) / 127.5 - 1.0]),
        "pose_landmark_full": np.stack([lm_rand, lm_photo.astype(np.float32) / 255.0]),
    }


def main() -> None:
    from safetensors.numpy import save_file

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", help="a downloaded mediapipe 0.10.21 wheel (default: pip download it)")
    ap.add_argument("--out", default=str(ROOT / "bodynet_cli/assets/blazepose"))
    ap.add_argument("--reference", default=str(ROOT / "tests/data/blazepose_reference.npz"))
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = reference_inputs()
    reference: dict[str, np.ndarray] = {k: v for k, v in inputs.items() if k.endswith("_u8")}
    with tempfile.TemporaryDirectory() as tmp:
        wheel = get_wheel(args.wheel, Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            files = {name: zf.read(path) for name, path in MODELS.items()}
    for name, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        graph, consts = convert(data)
        graph["source"] = {"package": MEDIAPIPE, "file": MODELS[name], "sha256": sha,
                           "license": "Apache-2.0, Copyright Google LLC (MediaPipe)"}
        stored = {}
        for k, v in consts.items():
            lossless = np.array_equal(v.astype(np.float16).astype(np.float32), v)
            stored[k] = v.astype(np.float16) if lossless else v
        tmp_json, tmp_st = out / f".{name}.json.tmp", out / f".{name}.safetensors.tmp"
        tmp_json.write_text(_dump_graph(graph))
        save_file(stored, str(tmp_st), metadata={"source": MODELS[name], "sha256": sha})
        os.chmod(tmp_st, 0o644)  # safetensors writes 0600; the package files are world-readable
        os.replace(tmp_json, out / f"{name}.json")
        os.replace(tmp_st, out / f"{name}.safetensors")
        n16 = sum(v.dtype == np.float16 for v in stored.values())
        print(f"{name}: sha256 {sha}, {len(graph['ops'])} ops, {len(stored)} constants ({n16} float16), "
              f"{sum(v.size for v in stored.values()):,} values")

        outs = run_tflite(data, inputs[name])
        for spec, o in zip(sorted(graph["outputs"], key=lambda d: d["name"]), outs, strict=True):
            if len(spec["shape"]) == 4:
                # Segmentation and heatmap logits are only ever used through a sigmoid: store that, as
                # float16 (abs. error <= 2.5e-4), to keep the test file small.
                o = (0.5 + 0.5 * np.tanh(o.astype(np.float64) / 2)).astype(np.float16)  # sigmoid, no overflow
            reference[f"{name}/{spec['name']}"] = o
    Path(args.reference).parent.mkdir(parents=True, exist_ok=True)
    tmp_ref = Path(args.reference).with_suffix(".tmp.npz")
    np.savez_compressed(tmp_ref, **reference)
    os.replace(tmp_ref, args.reference)
    print(f"wrote {out} and {args.reference} ({Path(args.reference).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
