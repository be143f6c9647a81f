"""MapMean / roi_summary against direct numpy means on the map grid, resampling, errors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from painmarkers.exceptions import DataError, ImageError
from painmarkers.extractors import MapMean, roi_summary
from painmarkers.extractors.maps import ROI_INDEX_CACHE
from painmarkers.rois import AtlasRegion, MaskROI, Sphere


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
    np.testing.assert_allclose(roi_summary(img, rois, summary="median"), [np.median(values)],
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
    mm = MapMean(rois, summary="median", kind="qsm").fit()
    out = mm.transform(imgs)
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out[2], roi_summary(imgs[2], rois, summary="median"),
                               rtol=1e-12)
    assert list(mm.get_feature_names_out()) == ["qsm_median__a", "qsm_median__b"]
    with pytest.raises(ValueError, match="'summary' parameter must be one of"):
        MapMean(rois, summary="max").fit()
    with pytest.raises(ValueError, match="'kind' parameter must be an identifier"):
        MapMean(rois, kind="q s m").fit()
    with pytest.raises(ImageError, match="must be a 3-D image"):
        mm.transform(nib.Nifti1Image(np.ones((3, 3, 3, 2)), np.eye(4)))


# --- vocabulary: summary= (was statistic=) -------------------------------------------------
def test_old_statistic_keyword_and_positional_summary_still_work_with_a_warning(rng):
    imgs = [_map(rng) for _ in range(2)]
    rois = [Sphere("a", (0, 0, 0), 3.0), Sphere("b", (4, 4, 4), 3.0)]
    expected = roi_summary(imgs[0], rois, summary="median")
    with pytest.warns(FutureWarning, match=r"'statistic'.*renamed 'summary'.*summary='median'"):
        old = MapMean(rois, statistic="median").fit()
    assert old.summary == "median" and "statistic" not in old.get_params()
    np.testing.assert_array_equal(old.transform(imgs[0])[0], expected)
    with pytest.warns(FutureWarning, match=r"'statistic'.*renamed 'summary'"):
        np.testing.assert_array_equal(roi_summary(imgs[0], rois, statistic="median"), expected)
    with pytest.warns(FutureWarning, match=r"Passing summary by position.*summary=\.\.\."):
        np.testing.assert_array_equal(roi_summary(imgs[0], rois, "median"), expected)
    with pytest.raises(TypeError, match="got both 'statistic'"):
        roi_summary(imgs[0], rois, statistic="median", summary="mean")


# --- ROI voxels found once per grid, all ROIs reduced at once -----------------------------
def _old_path(img, rois, mask_img=None, summary="mean"):
    """The former algorithm: each ROI drawn/resampled on the map's grid for every map."""
    data = np.asanyarray(img.dataobj)
    out = []
    for roi in rois:
        values = data[roi.to_mask(img, mask_img)].astype(np.float64)
        out.append(values.mean() if summary == "mean" else np.median(values))
    return np.array(out)


def test_roi_masks_are_built_once_per_grid_and_equal_the_old_path(rng):
    ROI_INDEX_CACHE.clear()
    grid_a = [_map(rng, shape=(12, 12, 12), zoom=2.0) for _ in range(4)]
    grid_b = [_map(rng, shape=(9, 9, 9), zoom=3.0) for _ in range(3)]
    mask = np.zeros((12, 12, 12), dtype=np.uint8)
    mask[2:10, 1:11, 2:11] = 1
    mask_img = nib.Nifti1Image(mask, grid_a[0].affine)
    # overlapping spheres and an atlas region resampled from its own grid
    rois = [Sphere("a", (0, 0, 0), 5.0), Sphere("b", (2, 2, 0), 5.0),
            MaskROI("cube", nib.Nifti1Image(mask, grid_a[0].affine))]
    mm = MapMean(rois, mask_img=mask_img).fit()
    for imgs in (grid_a, grid_b):
        got = mm.transform(imgs)
        for img, row in zip(imgs, got):
            np.testing.assert_allclose(row, _old_path(img, rois, mask_img), rtol=1e-12)
    # one build per ROI and grid (2 grids), not per map (7 maps)
    assert ROI_INDEX_CACHE.builds == 2 * len(rois)
    med = MapMean(rois, summary="median", mask_img=mask_img).fit().transform(grid_a[1])[0]
    np.testing.assert_allclose(med, _old_path(grid_a[1], rois, mask_img, "median"), rtol=1e-12)
    assert ROI_INDEX_CACHE.builds == 2 * len(rois)  # same grid and mask: cached
    ROI_INDEX_CACHE.clear()


def test_cached_masks_follow_a_changed_mask_file(rng, tmp_path):
    ROI_INDEX_CACHE.clear()
    img = _map(rng)
    path = tmp_path / "mask.nii.gz"
    full = np.ones(img.shape, dtype=np.uint8)
    nib.save(nib.Nifti1Image(full, img.affine), path)
    roi = [Sphere("c", (0, 0, 0), 4.0)]
    first = roi_summary(img, roi, mask_img=path)
    half = full.copy()
    half[:5] = 0
    nib.save(nib.Nifti1Image(half, img.affine), path)
    import os

    os.utime(path, ns=(1, 1))  # a different mtime even on coarse file-system clocks
    second = roi_summary(img, roi, mask_img=path)
    np.testing.assert_allclose(second, _old_path(img, roi, nib.Nifti1Image(half, img.affine)),
                               rtol=1e-12)
    assert not np.allclose(first, second)


def test_atlas_region_summary_equals_the_old_path(rng):
    from nilearn.datasets import load_mni152_brain_mask

    ROI_INDEX_CACHE.clear()
    mask = load_mni152_brain_mask(resolution=3)
    inside = np.asarray(mask.dataobj) > 0
    data = np.zeros(mask.shape, dtype=np.float32)
    data[inside] = rng.standard_normal(int(inside.sum()))
    img = nib.Nifti1Image(data, mask.affine)
    rois = [AtlasRegion("aal", "Precentral_L"), AtlasRegion("aal", "Insula_R"),
            Sphere("INS_L", (-47, 11, -5), 6.0)]
    np.testing.assert_allclose(roi_summary(img, rois, mask_img=mask),
                               _old_path(img, rois, mask), rtol=1e-12)
