"""Rasterizer speed: bodynet's torch rasterizer against moderngl (OpenGL through headless EGL).

    python benchmarks/bench_rasterize.py [--body-model PATH] [--frames 30]

Renders the body model's face-index buffer at 128² and 256² (the two configurations' input sizes)
from random views, one frame at a time as ``bodynet synth`` does, single-threaded. moderngl is optional
(not a bodynet dependency): when it cannot be imported or no EGL context opens, its rows say why.
Prints ms per frame and the ratio to the torch rasterizer, and how often the two agree on a pixel.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _views(vertices: np.ndarray, size: int, frames: int, seed: int = 0):
    """Screen points (x, y, Z) of the mesh turned about its vertical and framed in a size² crop."""
    rng = np.random.default_rng(seed)
    c = vertices.mean(0)
    for _ in range(frames):
        a = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(a), 0, np.sin(a)], [0, -1, 0], [np.sin(a), 0, -np.cos(a)]])  # upright, y down
        cam = (vertices - c) @ rot.T + np.array([0, 0, rng.uniform(4, 10)])
        uv = cam[:, :2] / cam[:, 2:]
        lo, hi = uv.min(0), uv.max(0)
        side = 1.2 * (hi - lo).max()
        xy = (uv - (lo + hi) / 2 + side / 2) * size / side
        yield np.concatenate([xy, cam[:, 2:]], 1).astype(np.float32)


def bench_torch(faces: np.ndarray, views: list[np.ndarray], size: int) -> tuple[float, list[np.ndarray]]:
    from bodynet_cli.geometry.rasterize import rasterize

    f = torch.from_numpy(faces.astype(np.int64))
    out = []
    rasterize(torch.from_numpy(views[0])[None], f, size, size, cull_backfaces=True)
    t = time.perf_counter()
    for v in views:
        out.append(rasterize(torch.from_numpy(v)[None], f, size, size, cull_backfaces=True).face_index[0].numpy())
    return (time.perf_counter() - t) / len(views), out


_VS = """
#version 330
in vec3 in_pos;
uniform vec2 size;
uniform vec2 inv_z_range;
void main() {
    // 1/Z is affine on the screen, so depth = (1/near - 1/Z) scaled is what the z-buffer should hold
    float d = (inv_z_range.x - 1.0 / in_pos.z) / (inv_z_range.x - inv_z_range.y) * 2.0 - 1.0;
    gl_Position = vec4(2.0 * in_pos.x / size.x - 1.0, 1.0 - 2.0 * in_pos.y / size.y, d, 1.0);
}
"""
_FS = """
#version 330
out int face;
void main() { face = gl_PrimitiveID + 1; }
"""


def bench_moderngl(faces: np.ndarray, views: list[np.ndarray], size: int) -> tuple[float, list[np.ndarray]]:
    import os

    os.environ.setdefault("LP_NUM_THREADS", "1")  # llvmpipe (software GL) single-threaded, like torch here
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    prog = ctx.program(vertex_shader=_VS, fragment_shader=_FS)
    prog["size"].value = (size, size)
    prog["inv_z_range"].value = (1 / 0.5, 1 / 50.0)
    vbo = ctx.buffer(reserve=views[0].nbytes)
    ibo = ctx.buffer(faces.astype(np.int32).tobytes())
    vao = ctx.vertex_array(prog, [(vbo, "3f", "in_pos")], index_buffer=ibo, index_element_size=4)
    fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer((size, size), components=1, dtype="i4")],
                          depth_attachment=ctx.depth_renderbuffer((size, size)))
    ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)  # front faces: anticlockwise as seen, GL's default

    def frame(v: np.ndarray) -> np.ndarray:
        vbo.write(v.tobytes())
        fbo.use()
        fbo.clear(depth=1.0)
        vao.render(moderngl.TRIANGLES)
        buf = np.frombuffer(fbo.read(components=1, dtype="i4"), np.int32).reshape(size, size)
        return buf[::-1] - 1  # GL rows start at the bottom

    frame(views[0])
    t = time.perf_counter()
    out = [frame(v) for v in views]
    return (time.perf_counter() - t) / len(views), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--body-model", default=None, help="SMPL-format body model (default: the usual look-up)")
    ap.add_argument("--frames", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from bodynet_cli.body.load import load_body_model

    body = load_body_model(args.body_model)
    print(f"body model {body.model_id}: {body.num_vertices} vertices, {len(body.faces)} faces; torch threads 1")
    print(f"{'size':>5} {'renderer':>10} {'ms/frame':>9} {'vs torch':>9} {'same face':>10}")
    for size in (128, 256):
        views = list(_views(body.v_template, size, args.frames))
        t_torch, ref = bench_torch(body.faces, views, size)
        print(f"{size:>5} {'torch':>10} {1000 * t_torch:9.2f} {1.0:9.2f} {'':>10}")
        try:
            t_gl, out = bench_moderngl(body.faces, views, size)
        except Exception as e:  # noqa: BLE001 - report why moderngl is unavailable, keep the torch rows
            print(f"{size:>5} {'moderngl':>10} unavailable: {type(e).__name__}: {str(e)[:80]}")
            continue
        agree = np.mean([(a == b).mean() for a, b in zip(ref, out, strict=True)])
        print(f"{size:>5} {'moderngl':>10} {1000 * t_gl:9.2f} {t_gl / t_torch:9.2f} {100 * agree:9.2f}%")


if __name__ == "__main__":
    main()
