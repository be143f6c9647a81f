"""ROIExtractor: mean of the map vs ALFF of the mean series, both against formulas in the test."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import signal as sp_signal

from painmarkers.exceptions import DataError, ExtractorError
from painmarkers.extractors import ALFF, ROIExtractor, SeedFC
from painmarkers.rois import MaskROI, Sphere

T, TR = 100, 2.0


def _dpabi_alff(x, t_r=TR, band=(0.01, 0.08)):
    """DPABI ALFF of the columns of x, from the formula (numpy FFT, one column at a time)."""
    n = x.shape[0]
    n_pad = 1 << (n - 1).bit_length()
    lo = int(np.ceil(band[0] * n_pad * t_r))
    hi = min(int(np.floor(band[1] * n_pad * t_r)), n_pad // 2)
    out = []
    for col in x.T:
        amp = 2 * np.abs(np.fft.fft(sp_signal.detrend(col), n_pad)) / n
        out.append(amp[lo:hi + 1].mean())
    return np.array(out)


def _setup(rng, bold_image, affine_3mm):
    data = 100 + rng.standard_normal((6, 6, 6, T))
    img = bold_image(data)
    roi_a = np.zeros((6, 6, 6), dtype=np.uint8)
    roi_a[1:3, 1:3, 1:3] = 1
    roi_b = np.zeros((6, 6, 6), dtype=np.uint8)
    roi_b[3:6, 2:5, 3] = 1
    rois = [MaskROI("A", nib.Nifti1Image(roi_a, affine_3mm)),
            MaskROI("B", nib.Nifti1Image(roi_b, affine_3mm))]
    x = data.astype(np.float32).astype(float)
    return img, rois, x, [roi_a > 0, roi_b > 0]


def test_mean_map_is_the_mean_of_voxel_alff(rng, bold_image, affine_3mm):
    img, rois, x, masks = _setup(rng, bold_image, affine_3mm)
    ext = ROIExtractor(ALFF(t_r=TR), rois, summary="mean_map").fit(img)
    expected = [_dpabi_alff(x[m].T).mean() for m in masks]
    np.testing.assert_allclose(ext.transform(img)[0], expected, rtol=1e-5)
    assert list(ext.get_feature_names_out()) == ["alff__A", "alff__B"]
    np.testing.assert_array_equal(ext.roi_n_voxels_, [8, 9])


def test_mean_timeseries_is_the_alff_of_the_mean_series(rng, bold_image, affine_3mm):
    img, rois, x, masks = _setup(rng, bold_image, affine_3mm)
    ext = ROIExtractor(ALFF(t_r=TR), rois, summary="mean_timeseries").fit(img)
    expected = _dpabi_alff(np.column_stack([x[m].mean(axis=0) for m in masks]))
    got = ext.transform([img, img])
    np.testing.assert_allclose(got, [expected, expected], rtol=1e-5)
    assert list(ext.get_feature_names_out()) == ["alff_meants__A", "alff_meants__B"]
    # averaging white noise over k voxels shrinks its amplitude by about sqrt(k)
    mean_map = ROIExtractor(ALFF(t_r=TR), rois).fit(img).transform(img)[0]
    assert np.all(got[0] < mean_map / 2)


def test_mean_timeseries_of_seed_fc_is_the_correlation_of_means(rng, bold_image, affine_3mm):
    img, rois, x, masks = _setup(rng, bold_image, affine_3mm)
    seed = np.zeros((6, 6, 6), dtype=np.uint8)
    seed[4:6, 4:6, 4:6] = 1
    fc = SeedFC(MaskROI("S", nib.Nifti1Image(seed, affine_3mm)), t_r=TR, fisher_z=False)
    got = ROIExtractor(fc, rois, summary="mean_timeseries").fit(img).transform(img)[0]
    s = sp_signal.detrend(x[seed > 0].mean(axis=0))
    expected = [np.corrcoef(s, sp_signal.detrend(x[m].mean(axis=0)))[0, 1] for m in masks]
    np.testing.assert_allclose(got, expected, rtol=1e-7)


def test_feature_by_registered_name(rng, bold_image, affine_3mm):
    img, rois, _, _ = _setup(rng, bold_image, affine_3mm)
    ext = ROIExtractor("alff", rois).fit(img)
    assert type(ext.extractor_).__name__ == "ALFF"


def test_errors(rng, bold_image, affine_3mm):
    img, rois, _, _ = _setup(rng, bold_image, affine_3mm)
    with pytest.raises(ExtractorError, match="cannot standardise over voxels"):
        ROIExtractor(ALFF(t_r=TR, standardize="z"), rois, summary="mean_timeseries").fit(img)
    with pytest.raises(ValueError, match="'summary' parameter must be one of"):
        ROIExtractor(ALFF(t_r=TR), rois, summary="max").fit(img)
    with pytest.raises(TypeError, match="'feature' parameter must be an extractor"):
        ROIExtractor(3, rois).fit(img)
    mask = np.zeros((6, 6, 6), dtype=np.uint8)
    mask[4:] = 1
    with pytest.raises(DataError, match="ROI 'A' lies entirely outside the brain mask"):
        ROIExtractor(ALFF(t_r=TR), rois,
                     mask_img=nib.Nifti1Image(mask, affine_3mm)).fit(img)
    with pytest.raises(DataError, match="ROI 'far' is empty"):
        ROIExtractor(ALFF(t_r=TR), [Sphere("far", (300, 0, 0), 3.0)]).fit(img)
