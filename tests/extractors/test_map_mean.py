"""MapMean / roi_summary against direct numpy means on the map grid, resampling, errors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from painmarkers.exceptions import DataError, ImageError
from painmarkers.extractors import MapMean, roi_summary
from painmarkers.rois import MaskROI, Sphere


def _map(rng, shape=(10, 10, 10), zoom=2.0):
    affine = np.diag([zoom, zoom, zoom, 1.0])
    affine[:3, 3] = -zoom * (np.asarray(shape) - 1) / 2
    return nib.Nifti1Image(rng.standard_normal(shape).astype(np.float32), affine)


def test_mean_and_median_equal_numpy_on_the_sphere_voxels(rng):
    img = _map(rng)
    data = img.get_fdata()
    ijk = np.indices(img.shape).reshape(3, -1)
    xyz = img.affine[:3, :3] @ ijk + img.affine[:3, 3:4]
    inside = (np.sqrt(((xyz - np.array([[2.0], [-1.0], [3.0]])) ** 2).sum(0)) <= 5.0)
    values = data.reshape(-1)[inside]
    rois = [Sphere("a", (2, -1, 3), 5.0)]
    np.testing.assert_allclose(roi_summary(img, rois), [values.mean()], rtol=1e-12)
    np.testing.assert_allclose(roi_summary(img, rois, "median"), [np.median(values)],
                               rtol=1e-12)


def test_rois_are_resampled_to_each_map_grid(rng, tmp_path):
    # a label cube defined on a 1 mm grid, summarised on a 2 mm and a 3 mm map
    fine = np.zeros((30, 30, 30), dtype=np.uint8)
    fine[10:20, 10:20, 10:20] = 1
    fine_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    fine_affine[:3, 3] = -14.5
    cube = MaskROI("cube", nib.Nifti1Image(fine, fine_affine))
    for zoom in (2.0, 3.0):
        img = _map(rng, shape=(12, 12, 12), zoom=zoom)
        ijk = np.indices(img.shape).reshape(3, -1)
        xyz = img.affine[:3, :3] @ ijk + img.affine[:3, 3:4]
        src = np.rint(np.linalg.solve(fine_affine, np.r_[xyz, np.ones((1, xyz.shape[1]))])[:3])
        ok = np.all((src >= 0) & (src < 30), axis=0)
        member = np.zeros(xyz.shape[1], dtype=bool)
        s = src[:, ok].astype(int)
        member[ok] = fine[s[0], s[1], s[2]] > 0
        expected = img.get_fdata().reshape(-1)[member].mean()
        np.testing.assert_allclose(roi_summary(img, cube), [expected], rtol=1e-12)


def test_nan_inside_an_roi_is_an_error_naming_roi_and_map(rng, tmp_path):
    img = _map(rng)
    data = img.get_fdata()
    data[4:6, 4:6, 4:6] = np.nan
    path = tmp_path / "qsm.nii.gz"
    nib.save(nib.Nifti1Image(data, img.affine), path)
    with pytest.raises(ImageError, match=r"qsm\.nii\.gz.*NaN/inf voxel\(s\) inside ROI 'c'"):
        roi_summary(path, [Sphere("c", (0, 0, 0), 2.0)])


def test_roi_outside_mask_is_an_error(rng):
    img = _map(rng)
    mask = np.zeros(img.shape, dtype=np.uint8)
    mask[:3] = 1
    with pytest.raises(DataError, match="ROI 'c' lies entirely outside the brain mask"):
        roi_summary(img, [Sphere("c", (0, 0, 0), 2.0)],
                    mask_img=nib.Nifti1Image(mask, img.affine))


def test_map_mean_transformer(rng):
    imgs = [_map(rng) for _ in range(3)]
    rois = [Sphere("a", (0, 0, 0), 3.0), Sphere("b", (4, 4, 4), 3.0)]
    mm = MapMean(rois, statistic="median", kind="qsm").fit()
    out = mm.transform(imgs)
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out[2], roi_summary(imgs[2], rois, "median"), rtol=1e-12)
    assert list(mm.get_feature_names_out()) == ["qsm_median__a", "qsm_median__b"]
    with pytest.raises(ValueError, match="'statistic' parameter must be one of"):
        MapMean(rois, statistic="max").fit()
    with pytest.raises(ValueError, match="'kind' parameter must be an identifier"):
        MapMean(rois, kind="q s m").fit()
    with pytest.raises(ImageError, match="must be a 3-D image"):
        mm.transform(nib.Nifti1Image(np.ones((3, 3, 3, 2)), np.eye(4)))
