"""The user's SMPL files for the datasets that need a gendered body (SURREAL) or the neutral one (UP-3D).

``--body-model`` names either one SMPL-format file (used for every gender) or a folder holding the
files under their usual names (the SMPL release's, or the ``SMPL_<GENDER>`` names of smplx). Every file
is read by ``body.load`` (restricted unpickler for ``.pkl``, ``allow_pickle=False`` for ``.npz``).
"""

from __future__ import annotations

import os
from pathlib import Path

from bodynet_cli.errors import BodyNetError

GENDERS = ("female", "male", "neutral")
FILE_NAMES = {
    "female": ("SMPL_FEMALE", "basicModel_f_lbs_10_207_0_v1.0.0", "basicmodel_f_lbs_10_207_0_v1.1.0", "smpl_female"),
    "male": ("SMPL_MALE", "basicModel_m_lbs_10_207_0_v1.0.0", "basicmodel_m_lbs_10_207_0_v1.1.0", "smpl_male"),
    "neutral": ("SMPL_NEUTRAL", "basicModel_neutral_lbs_10_207_0_v1.0.0", "basicmodel_neutral_lbs_10_207_0_v1.1.0",
                "smpl_neutral"),
}  # fmt: skip


class BodyModels:
    """The body model of each gender, loaded on first use. ``source``: a file or a folder (see above);
    ``what``: the dataset that needs them (named in errors)."""

    def __init__(self, source: str | os.PathLike | None, what: str):
        if source is None or str(source) == "":
            raise BodyNetError(f"{what} needs your SMPL files: pass --body-model SMPL_FILE_OR_FOLDER (the SMPL "
                               "licence does not allow bundling them)")
        self.source = Path(source).expanduser()
        if not self.source.exists():
            raise BodyNetError(f"{self.source}: no such SMPL file or folder (given with --body-model)")
        self.what = what
        self._models: dict[str, object] = {}

    def path(self, gender: str) -> Path:
        """The file for ``gender`` (female, male, neutral)."""
        assert gender in GENDERS
        if self.source.is_file():
            return self.source
        tried = [f"{stem}{ext}" for stem in FILE_NAMES[gender] for ext in (".pkl", ".npz")]
        for name in tried:
            if (self.source / name).is_file():
                return self.source / name
        raise BodyNetError(f"{self.source}: no {gender} SMPL file for {self.what} (looked for {', '.join(tried[:2])} "
                           "and the SMPL release names); add it, or pass one --body-model file for every gender")

    def model(self, gender: str):
        """The ``BodyModel`` (float64) of ``gender``."""
        if gender not in self._models:
            import torch

            from bodynet_cli.body.load import load_body_model
            from bodynet_cli.body.model import BodyModel

            self._models[gender] = BodyModel(load_body_model(self.path(gender)), dtype=torch.float64)
        return self._models[gender]

    def __getstate__(self):  # DataLoader workers load their own copies
        return {"source": self.source, "what": self.what, "_models": {}}
