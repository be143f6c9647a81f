"""``save(directory)`` of a result reports a folder it cannot create as an OutputError.

Their docstrings say so (``%(save_raises)s`` of painmarkers._docs): every file goes
through painmarkers._atomic, which creates the folder and turns a disk error into one
line naming it. A ``save`` that created the folder itself with ``Path.mkdir`` raised a
bare ``PermissionError`` instead.
"""

import errno
import pathlib

import numpy as np
import pandas as pd
import pytest

from painmarkers.exceptions import OutputError


def _smoothness():
    from painmarkers.inference import smoothness_from_fwhm

    return smoothness_from_fwhm(8.0, 2.0, 1000)


def _icc_map():
    from painmarkers.stats import icc_map

    rng = np.random.default_rng(0)
    return icc_map(rng.normal(size=(6, 2, 4)))


def _motion():
    from painmarkers.extractors import MotionQC

    return MotionQC().assess(np.zeros((5, 6)))


def _ancova():
    from painmarkers.stats import ancova

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"subject_id": [f"s{i}" for i in range(12)],
                          "arm": np.repeat(["a", "b"], 6), "VAS": rng.normal(5, 1, 12)})
    return ancova(table, "VAS", "arm")


def _lmm():
    from painmarkers.stats import lmm

    rng = np.random.default_rng(0)
    subjects = np.repeat([f"s{i}" for i in range(8)], 2)
    table = pd.DataFrame({"subject_id": subjects, "session": np.tile(["pre", "post"], 8),
                          "VAS": rng.normal(5, 1, 16) + np.repeat(rng.normal(0, 1, 8), 2)})
    return lmm(table, "VAS ~ session")


def _voxelwise_lmm():
    import nibabel as nib

    from painmarkers.inference import voxelwise_lmm

    rng = np.random.default_rng(0)
    data = pd.DataFrame({"subject_id": np.repeat([f"s{i}" for i in range(6)], 2),
                         "session": ["pre", "post"] * 6})
    imgs = [nib.Nifti1Image(rng.normal(10, 1, (3, 3, 3)), np.eye(4)) for _ in range(12)]
    return voxelwise_lmm(imgs, data, "~ session", estimate_smoothness=False)


RESULTS = {"Smoothness": _smoothness, "ICCMapResult": _icc_map, "MotionReport": _motion,
           "AncovaResult": _ancova, "LMMResult": _lmm, "VoxelwiseLMMResult": _voxelwise_lmm}


@pytest.mark.parametrize("make", RESULTS.values(), ids=RESULTS.keys())
def test_save_into_an_uncreatable_folder_raises_output_error(tmp_path, monkeypatch, make):
    result = make()

    def refuse(self, *args, **kwargs):  # as a folder one may not write to (tests run as root)
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    with pytest.raises(OutputError, match=r"^Could not create the folder '.*/out': "
                                          r"permission denied \[EACCES\]") as info:
        result.save(tmp_path / "out")
    assert isinstance(info.value, OSError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("make", RESULTS.values(), ids=RESULTS.keys())
def test_save_creates_the_folder(tmp_path, make):
    files = make().save(tmp_path / "new" / "folder")
    assert files and all(path.is_file() for path in files.values())
    assert all(path.parent == tmp_path / "new" / "folder" for path in files.values())
