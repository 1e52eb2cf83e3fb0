"""``Predictor.predict(..., proxies=)``: a person detector's joints and mask reach a proxy model in input
pixels, and the output's joints2d are the proxies' own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.models.bodynet import BodyNet, Proxies
from bodynet_cli.models.config import get_config
from bodynet_cli.pipelines.predict.infer import CropProxies, Predictor

TINY = get_config("small").replace(
    name="tiny", input_size=32, heatmap_size=8, voxel_res=16, features=16, depth=2, stem_channels=(8, 16)
)
PROXY_TINY = TINY.replace(name="tiny_proxy", pose2d_inputs=(), segm_inputs=("joints", "mask"),
                          pose3d_inputs=("segm", "joints", "mask"), voxels_inputs=("segm", "joints", "mask", "pose3d"))
CROPS = [Crop(x0=100.0, y0=40.0, side=160.0, size=32), Crop(x0=-20.0, y0=10.0, side=64.0, size=32)]


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    joints = np.stack([c.crop_to_image(rng.uniform(0, 32, (16, 2)), size=32) for c in CROPS])
    return pixels, CropProxies(joints2d=joints, scores=rng.uniform(0, 1, (2, 16)),
                               mask=(rng.random((2, 32, 32)) > 0.5).astype(np.uint8))  # fmt: skip


def test_proxies_are_mapped_into_each_crop_and_joints2d_come_from_them():
    torch.manual_seed(0)
    model = BodyNet(PROXY_TINY).eval()
    pixels, prox = _inputs()
    preds = Predictor(model, torch.device("cpu")).predict(pixels, CROPS, prox)
    # Reference: the model called directly with the joints in input pixels, written out per crop.
    inside = np.stack([(j - [c.x0, c.y0]) * 32 / c.side for j, c in zip(prox.joints2d, CROPS, strict=True)])
    direct = Proxies(torch.tensor(inside, dtype=torch.float32), torch.tensor(prox.scores, dtype=torch.float32),
                     torch.tensor(prox.mask[:, None], dtype=torch.float32))  # fmt: skip
    with torch.no_grad():
        out = model(torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255, direct)
    probs = torch.sigmoid(out.voxel_logits[:, -1]).half().numpy()
    for i, p in enumerate(preds):
        np.testing.assert_array_equal(p.voxel_probs, probs[i])
        np.testing.assert_allclose(p.joints2d, prox.joints2d[i], rtol=1e-6)
        np.testing.assert_allclose(p.joints2d_score, prox.scores[i], rtol=1e-6)
        assert p.joints3d.shape == (16, 3) and p.segmentation.shape == (8, 8)
    # A different mask changes the prediction: the mask reaches the model.
    other = CropProxies(prox.joints2d, prox.scores, 1 - prox.mask)
    assert not np.array_equal(Predictor(model, torch.device("cpu")).predict(pixels, CROPS, other)[0].voxel_probs,
                              preds[0].voxel_probs)  # fmt: skip


def test_proxy_model_errors_and_rgb_models_ignore_proxies():
    pixels, prox = _inputs(1)
    predictor = Predictor(BodyNet(PROXY_TINY), torch.device("cpu"))
    with pytest.raises(BodyNetError, match="proxies"):
        predictor.predict(pixels, CROPS)
    with pytest.raises(BodyNetError, match="mask"):
        predictor.predict(pixels, CROPS, CropProxies(prox.joints2d, prox.scores, prox.mask[:, :16]))
    torch.manual_seed(1)
    rgb = Predictor(BodyNet(TINY), torch.device("cpu"))
    a, b = rgb.predict(pixels, CROPS), rgb.predict(pixels, CROPS, prox)
    assert all(np.array_equal(x.voxel_probs, y.voxel_probs) and np.array_equal(x.joints2d, y.joints2d)
               for x, y in zip(a, b, strict=True))  # fmt: skip
