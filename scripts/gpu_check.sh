#!/usr/bin/env bash
# Every GPU code path in one short run, for a machine with a CUDA GPU (CI has none):
#   1. the person front end and predict with bf16 on the GPU (bundled checkpoint, examples, --people all);
#   2. a few training steps of every stage on a tiny synth set with channels_last, bf16 and --compile;
#   3. the paper-size model's forward and training-step throughput on the GPU (bf16 and fp32).
# Writes its logs under ${OUT:-gpu_check_out}/; exits non-zero at the first failure. It uses the machine's
# own python3 with its CUDA torch (a GPU machine usually has one; nothing is installed), running this
# checkout through PYTHONPATH; the package's other dependencies must be importable there (trimesh only
# for PLY meshes and voxelize, so this script writes OBJ).
#   bash scripts/gpu_check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
bodynet() { "$PY" -m bodynet_cli "$@"; }
python() { "$PY" "$@"; }
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"

echo "== 0. the GPU"
python - <<'EOF'
import torch
assert torch.cuda.is_available(), "no CUDA GPU visible: this script checks the GPU paths"
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))
EOF

echo "== 1. front end + predict, bf16 on the GPU"
bodynet predict examples/images --out "$OUT/predict" --device cuda --precision bf16 --people all --viz \
    --mesh obj 2>&1 | tee "$OUT/predict.log"
python - "$OUT/predict" <<'EOF'
import json, sys
from pathlib import Path
doc = json.loads((Path(sys.argv[1]) / "joints.json").read_text())
people = sum(len(v["people"]) for v in doc["images"].values())
print(f"{len(doc['images'])} images, {people} people")
assert people >= len(doc["images"]) - 1
EOF
python - <<'EOF'
# the front end on the GPU agrees with the CPU on the astronaut
import numpy as np
from skimage import data
from bodynet_cli.people import FrontEnd
img = data.astronaut()
cpu, gpu = FrontEnd(device="cpu").detect([img])[0], FrontEnd(device="cuda").detect([img])[0]
assert len(cpu) == len(gpu) == 1, (len(cpu), len(gpu))
d = np.abs(cpu[0].joints2d - gpu[0].joints2d).max()
print(f"front end CPU vs GPU: max joint difference {d:.3f} px")
assert d < 2.0
EOF

echo "== 2. training steps: channels_last, bf16, --compile"
bodynet synth --n 64 --out "$OUT/synth" --config proxy --seed 3 --workers 2 --no-mesh
for extra in "--channels-last" "--channels-last --compile"; do
    run="$OUT/train_$(echo "$extra" | tr -d ' -')"
    bodynet train "$OUT/synth" --out "$run" --config proxy --stage all --steps 4 --batch-size 8 --device cuda \
        --val-samples 8 --ckpt-every 4 $extra 2>&1 | tail -n 3
    test -f "$run/final/model.safetensors"
done

echo "== 3. paper-size throughput on the GPU"
python - <<'EOF'
import time
import torch
from bodynet_cli.models.bodynet import BodyNet
from bodynet_cli.models.config import get_config

cfg = get_config("paper")
model = BodyNet(cfg).cuda().to(memory_format=torch.channels_last)
opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
for dtype in (torch.bfloat16, torch.float32):
    for batch in (8, 32):
        x = torch.rand(batch, 3, cfg.input_size, cfg.input_size, device="cuda").to(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            for _ in range(3):
                model(x)
            torch.cuda.synchronize(); t = time.perf_counter()
            for _ in range(10):
                model(x)
            torch.cuda.synchronize()
        fwd = 10 * batch / (time.perf_counter() - t)
        model.train()
        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                out = model(x)
                loss = out.voxel_logits.float().mean() + out.heatmaps.float().mean() + out.segm_logits.float().mean()
            loss.backward(); opt.step()
        for _ in range(2):
            step()
        torch.cuda.synchronize(); t = time.perf_counter()
        for _ in range(5):
            step()
        torch.cuda.synchronize()
        train = 5 * batch / (time.perf_counter() - t)
        model.eval()
        print(f"paper {str(dtype).split('.')[-1]:>8} batch {batch:>2}: forward {fwd:7.1f} img/s, "
              f"train step {train:6.1f} img/s, peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
EOF
echo "gpu_check: all GPU paths ran"
