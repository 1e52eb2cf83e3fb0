"""The batch helpers every batch pipeline shares: output claims, failure records."""

from __future__ import annotations

import pytest

from bodynet_cli.errors import BodyNetError
from bodynet_cli.pipelines.batch import Failure, OutputClaims, failure


def test_first_input_claims_an_output_and_no_output_overwrites_its_input(tmp_path):
    out = tmp_path / "out"
    claims = OutputClaims(out)
    claims.claim(tmp_path / "a.obj", out / "a.npz")
    with pytest.raises(BodyNetError, match=r"same output name as .*a\.obj; rename one of them"):
        claims.claim(tmp_path / "a.ply", out / "a.npz")
    claims.claim(tmp_path / "b.obj", out / "b.npz")  # another name is free
    src = out / "c.npz"  # an input inside --out, named explicitly
    with pytest.raises(BodyNetError, match="would overwrite the input"):
        claims.claim(src, out / "c.npz")


def test_failure_records_drop_the_item_prefix_and_sort_like_tuples(tmp_path):
    f = failure(tmp_path / "x.npz", BodyNetError(f"{tmp_path / 'x.npz'}: key 'crop' is missing"))
    assert f == Failure(str(tmp_path / "x.npz"), "key 'crop' is missing")
    assert failure("y", BodyNetError("other: message")).reason == "other: message"  # another prefix stays
    records = [Failure("b", "2"), Failure("a", "9"), Failure("a", "1")]
    assert [(r.item, r.reason) for r in sorted(records)] == sorted((r.item, r.reason) for r in records)
