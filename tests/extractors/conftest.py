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


SESSION_SHAPE, SESSION_T, SESSION_TR = (6, 6, 6), 64, 2.0
MOTION_COLUMNS = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


@pytest.fixture
def make_session(rng):
    """Factory: write one BIDS-like session (BOLD + sidecar, brain mask, fMRIPrep-style
    confounds, a QSM map) under ``root`` and return its Session."""
    import pandas as pd

    from painmarkers import Session

    def _make(root, sub, ses, max_shift=0.5, n_conf=SESSION_T, n_vol=SESSION_T):
        func = root / f"sub-{sub}" / f"ses-{ses}" / "func"
        anat = root / f"sub-{sub}" / f"ses-{ses}" / "anat"
        func.mkdir(parents=True)
        anat.mkdir(parents=True)
        stem = f"sub-{sub}_ses-{ses}_task-rest"
        bold = func / f"{stem}_bold.nii.gz"
        data = 100 + rng.standard_normal((*SESSION_SHAPE, n_vol))
        nib.save(_bold_image(data, _AFFINE_3MM, SESSION_TR), bold)
        (func / f"{stem}_bold.json").write_text(json.dumps({"RepetitionTime": SESSION_TR}))
        mask = func / f"{stem}_desc-brain_mask.nii.gz"
        m = np.ones(SESSION_SHAPE, dtype=np.uint8)
        m[0] = 0
        nib.save(nib.Nifti1Image(m, _AFFINE_3MM), mask)
        motion = rng.uniform(-1, 1, (n_conf, 6)) * [0.1, 0.1, 0.1, 0.001, 0.001, 0.001]
        motion[n_conf // 2, 1] = max_shift
        confounds = func / f"{stem}_desc-confounds_timeseries.tsv"
        pd.DataFrame(motion, columns=MOTION_COLUMNS).to_csv(confounds, sep="\t", index=False)
        qsm = anat / f"sub-{sub}_ses-{ses}_Chimap.nii.gz"
        nib.save(nib.Nifti1Image(rng.standard_normal(SESSION_SHAPE).astype(np.float32),
                                 _AFFINE_3MM), qsm)
        return Session(ses, images={"bold": bold, "mask": mask, "confounds": confounds,
                                    "qsm": qsm})

    return _make
