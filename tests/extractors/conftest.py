"""Fixtures of the extractor tests: small generated NIfTI images written in tmp_path."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

_AFFINE_3MM = np.array([[3.0, 0, 0, -9.0], [0, 3.0, 0, -9.0], [0, 0, 3.0, -9.0], [0, 0, 0, 1]])


def _bold_image(data, affine=_AFFINE_3MM, t_r=2.0):
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    img.header.set_xyzt_units("mm", "sec")
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    img.header.set_zooms((*zooms, t_r))
    return img


@pytest.fixture
def affine_3mm():
    """3 mm isotropic affine with the origin 3 voxels in."""
    return _AFFINE_3MM.copy()


@pytest.fixture
def bold_image():
    """Factory: a float32 4-D image with the TR (seconds) in the header."""
    return _bold_image


@pytest.fixture
def write_bold(tmp_path):
    """Factory: write a 4-D image (and optionally a JSON sidecar) and return its path."""

    def _write(data, name="sub-01_task-rest_bold.nii.gz", t_r=2.0, sidecar_t_r=None,
               folder=None, affine=_AFFINE_3MM):
        folder = tmp_path if folder is None else folder
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        nib.save(_bold_image(data, affine, t_r), path)
        if sidecar_t_r is not None:
            stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name[:-4]
            (folder / f"{stem}.json").write_text(json.dumps({"RepetitionTime": sidecar_t_r}))
        return path

    return _write


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)
