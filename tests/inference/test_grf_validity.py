"""GRF cluster inference warns when the field is too rough for random-field theory.

Below a FWHM of about 2 voxels the lattice is too coarse for the continuous-field
approximation (Hayasaka & Nichols 2003); the demo's maps were 1.1 voxels smooth (4.5 mm
on a 4 mm grid). The warning names the smoothness and points to permutation inference.
"""

import warnings

import nibabel as nib
import numpy as np
import pytest

from painmarkers.exceptions import InferenceWarning
from painmarkers.inference import grf_cluster_correct, smoothness_from_fwhm

SHAPE = (12, 12, 12)


def _map(voxel_mm=4.0):
    z = np.zeros(SHAPE)
    z[4:7, 4:7, 4:7] = 5.0
    return nib.Nifti1Image(z, np.diag([voxel_mm] * 3 + [1.0]))


def _correct(fwhm_mm, voxel_mm=4.0):
    return grf_cluster_correct(_map(voxel_mm), 0.001, 0.05, stat="z", atlas=False,
                               smoothness=smoothness_from_fwhm(fwhm_mm, voxel_mm,
                                                               int(np.prod(SHAPE))))


def test_rough_field_warns_and_points_to_permutation():
    # the demo's smoothness: FWHM 4.5 mm on 4 mm voxels = 1.125 voxels
    with pytest.warns(InferenceWarning, match=r"FWHM 1\.12 voxels .*below 2 voxels") as rec:
        res = _correct(4.5)
    message = str(next(w.message for w in rec if "FWHM" in str(w.message)))
    assert "permutation_cluster_correct" in message and "4.5, 4.5, 4.5 mm" in message
    assert res.n_significant == 1  # the correction itself still runs


@pytest.mark.parametrize("fwhm_mm", [8.0, 12.0])
def test_smooth_enough_field_does_not_warn(fwhm_mm):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _correct(fwhm_mm)  # 2 and 3 voxels


def test_limit_uses_the_geometric_mean_over_axes():
    # (1, 4, 4) voxels: geometric mean 2.52 -> no warning; (1, 1, 4): 1.59 -> warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _correct((4.0, 16.0, 16.0))
    with pytest.warns(InferenceWarning, match=r"FWHM 1\.59 voxels"):
        _correct((4.0, 4.0, 16.0))


def test_same_fwhm_in_mm_warns_only_on_the_coarse_grid():
    with pytest.warns(InferenceWarning, match="below 2 voxels"):
        _correct(6.0, voxel_mm=4.0)  # 1.5 voxels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _correct(6.0, voxel_mm=2.0)  # 3 voxels
