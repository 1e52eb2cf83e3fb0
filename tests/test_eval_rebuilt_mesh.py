"""``eval --fits`` on labels written without their mesh (``synth --no-mesh``): the ground-truth mesh is
rebuilt from the label's body parameters, and the surface error is what it is with the stored mesh."""

import numpy as np
import pytest
from typer.testing import CliRunner

from bodynet_cli.cli.app import app
from bodynet_cli.io.fitted_body import FittedBody, write_fitted_body
from bodynet_cli.io.npz import read_npz, write_npz
from bodynet_cli.io.sample import load_sample
from bodynet_cli.pipelines.evaluate import evaluate

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two synth labels with meshes (gt/), the same without (bare/), predictions (their own labels) and
    fits: the true mesh moved 10 mm along x (fits/)."""
    from bodynet_cli.pipelines.synth import write_dataset

    root = tmp_path_factory.mktemp("rebuilt")
    write_dataset(root / "synth", 2, config_name="small", seed=11, mesh=True)
    for name in ("gt", "bare", "pred", "fits"):
        (root / name).mkdir()
    for f in sorted((root / "synth" / "labels").glob("*.npz")):
        z = read_npz(f)
        write_npz(root / "gt" / f.name, **z)
        write_npz(root / "pred" / f.name, **{k: v for k, v in z.items() if k not in ("vertices", "faces")})
        write_npz(root / "bare" / f.name, **{k: v for k, v in z.items() if k not in ("vertices", "faces")})
        s = load_sample(f)
        write_fitted_body(root / "fits" / f.name, FittedBody(
            betas=s.betas, global_orient=s.global_orient, body_pose=s.body_pose, transl=s.transl, scale=1.0,
            joints=np.zeros((24, 3), np.float32), vertices=s.vertices + np.float32([0.01, 0, 0]), model="test",
            meta={"frame": "camera"}))  # fmt: skip
    return root


def test_rebuilt_ground_truth_gives_the_stored_meshes_surface_error(folders):
    stored = evaluate(folders / "pred", folders / "gt", folders / "fits")
    rebuilt = evaluate(folders / "pred", folders / "bare", folders / "fits")
    a = [s.surface_error_mm for s in stored.samples]
    b = [s.surface_error_mm for s in rebuilt.samples]
    assert all(x is not None for x in a + b), (a, b)
    np.testing.assert_allclose(a, 10.0, atol=1e-3)  # the fits are the true meshes moved by 10 mm
    np.testing.assert_allclose(b, a, atol=1e-3)  # the rebuilt mesh is the stored one (float32)
    assert {s.surface_method for s in rebuilt.samples} == {"per-vertex"}


def test_a_label_of_another_body_model_is_a_named_error(folders, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in sorted((folders / "bare").glob("*.npz")):
        z = read_npz(f)
        z["meta"] = np.asarray(str(z["meta"]).replace('"body_model": "', '"body_model": "other-'))
        write_npz(bare / f.name, **z)
    result = runner.invoke(app, ["eval", str(folders / "pred"), "--gt", str(bare), "--fits", str(folders / "fits")])
    assert result.exit_code == 3, result.output
    assert "are for the body model other-" in result.output and "--body-model" in result.output
