"""ALFF / FractionalALFF estimators on NIfTI images: agreement with the array function,
streaming reader vs in-memory masking, repetition time sources, and bad input."""

from __future__ import annotations

import gzip
import json
import sys

import nibabel as nib
import numpy as np
import pytest
import scipy.stats
from sklearn.base import clone

from painmarkers.exceptions import DataError, ImageError, PainmarkersWarning
from painmarkers.extractors.alff import ALFF, FractionalALFF, alff_falff

SHAPE = (5, 6, 4)
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])


def _mask():
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[1:4, 1:5, 1:3] = 1
    return mask


def _bold_array(n_t=150, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_t)
    data = (800 + rng.normal(0, 40, SHAPE)[..., None]
            + np.cumsum(rng.normal(size=(*SHAPE, n_t)), axis=-1) * 0.5
            + 0.02 * t + rng.normal(0, 3, (*SHAPE, n_t)))
    return data


def _bold_img(data, dtype=np.float32, t_r=2.0):
    img = nib.Nifti1Image(data.astype(dtype), AFFINE)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = t_r
    return img


@pytest.fixture
def files(tmp_path):
    data = _bold_array()
    img = _bold_img(data)
    paths = {}
    for suffix in (".nii", ".nii.gz"):
        path = tmp_path / f"sub-01_task-rest_bold{suffix}"
        nib.save(img, path)
        paths[suffix] = path
    mask_path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(_mask(), AFFINE), mask_path)
    return data.astype(np.float32), paths, mask_path


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("convention", ["dpabi", "bandpass_std"])
def test_transform_matches_array_function(files, suffix, convention):
    data, paths, mask_path = files
    masked = data[_mask().astype(bool)].T  # (T, V) in the mask's C order
    exp_alff, exp_falff = alff_falff(masked, 2.0, convention=convention, discard=10)
    alff = ALFF(mask_img=mask_path, convention=convention, discard=10).fit()
    falff = FractionalALFF(mask_img=mask_path, convention=convention, discard=10).fit()
    np.testing.assert_allclose(alff.transform(paths[suffix])[0], exp_alff, rtol=1e-12)
    np.testing.assert_allclose(falff.transform(paths[suffix])[0], exp_falff, rtol=1e-12)
    alff_img, falff_img = alff.compute_maps(paths[suffix])
    out = np.asarray(alff_img.dataobj)
    assert alff_img.shape == SHAPE and np.all(out[_mask() == 0] == 0)
    np.testing.assert_allclose(out[_mask() == 1], exp_alff, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(falff_img.dataobj)[_mask() == 1], exp_falff,
                               rtol=1e-6)


def test_streaming_reader_equals_in_memory_masking(files, monkeypatch):
    data, paths, mask_path = files
    est = ALFF(mask_img=mask_path).fit()
    in_memory = est.transform(_bold_img(data))  # no file behind it: base-class masking
    from_nii = est.transform(paths[".nii"])
    from_gz = est.transform(paths[".nii.gz"])
    monkeypatch.setitem(sys.modules, "isal", None)  # force the zlib fallback
    from_gz_zlib = est.transform(paths[".nii.gz"])
    for other in (from_nii, from_gz, from_gz_zlib):
        np.testing.assert_array_equal(other, in_memory)


def test_scaled_int16_and_big_endian_files(tmp_path, files):
    data, _, mask_path = files
    est = ALFF(mask_img=mask_path).fit()
    # int16 with slope/intercept: nibabel's scaling is the reference
    raw = np.round((data - 700) * 20).astype(np.int16)
    img = nib.Nifti1Image(raw, AFFINE)
    img.header.set_slope_inter(0.05, 700.0)
    img.header["pixdim"][4] = 2.0
    path = tmp_path / "scaled.nii.gz"
    nib.save(img, path)
    expected_data = nib.load(path).get_fdata()[_mask().astype(bool)].T
    np.testing.assert_allclose(est.transform(path)[0], alff_falff(expected_data, 2.0)[0],
                               rtol=1e-5)
    # big-endian float32
    be = nib.Nifti1Image(data.astype(">f4"), AFFINE)
    be.header["pixdim"][4] = 2.0
    be_path = tmp_path / "be.nii"
    nib.save(be, be_path)
    np.testing.assert_allclose(est.transform(be_path), est.transform(_bold_img(data)),
                               rtol=1e-12)


def test_standardize_over_mask_and_zero_outside(files):
    _data, paths, mask_path = files
    raw = ALFF(mask_img=mask_path).fit().transform(paths[".nii"])[0]
    z_est = ALFF(mask_img=mask_path, standardize="z").fit()
    np.testing.assert_allclose(z_est.transform(paths[".nii"])[0],
                               scipy.stats.zscore(raw, ddof=1), rtol=1e-10, atol=1e-12)
    z_map = np.asarray(z_est.compute_map(paths[".nii"]).dataobj)
    assert np.all(z_map[_mask() == 0] == 0)
    m_est = FractionalALFF(mask_img=mask_path, standardize="mean").fit()
    m_falff = m_est.transform(paths[".nii"])[0]
    raw_f = FractionalALFF(mask_img=mask_path).fit().transform(paths[".nii"])[0]
    np.testing.assert_allclose(m_falff, raw_f / raw_f.mean(), rtol=1e-12)


def test_constant_voxels_in_mask_warn_with_image_name(tmp_path, files):
    data, _, mask_path = files
    data = data.copy()
    data[2, 2, 1] = 500.0
    path = tmp_path / "const.nii"
    nib.save(_bold_img(data), path)
    with pytest.warns(PainmarkersWarning, match=r"const\.nii.*1 of 24 voxel"):
        values = ALFF(mask_img=mask_path).fit().transform(path)[0]
    assert np.count_nonzero(values == 0) == 1


def test_mask_computed_when_not_given(files):
    data, paths, _ = files
    est = ALFF(t_r=2.0).fit(paths[".nii"])
    assert est.n_voxels_ == int(np.prod(SHAPE))
    np.testing.assert_allclose(est.transform(paths[".nii"])[0],
                               alff_falff(data.reshape(-1, data.shape[-1]).T, 2.0)[0],
                               rtol=1e-12)


def test_clone_and_params():
    est = ALFF(band=(0.01, 0.1), convention="rest", discard=5, standardize="mean")
    params = clone(est).get_params()
    assert params["band"] == (0.01, 0.1) and params["convention"] == "rest"
    assert params["discard"] == 5 and params["standardize"] == "mean"
    assert FractionalALFF.feature == "falff" and ALFF.feature == "alff"


# --------------------------------------------------------------------------------------------
# Repetition time sources
# --------------------------------------------------------------------------------------------
def test_t_r_from_header_in_milliseconds(tmp_path, files):
    data, paths, mask_path = files
    img = _bold_img(data, t_r=2000.0)
    img.header.set_xyzt_units("mm", "msec")
    path = tmp_path / "ms.nii"
    nib.save(img, path)
    est = ALFF(mask_img=mask_path).fit()
    np.testing.assert_allclose(est.transform(path), est.transform(paths[".nii"]), rtol=1e-12)


def test_t_r_from_sidecar_and_disagreement(tmp_path, files):
    data, _, mask_path = files
    est = ALFF(mask_img=mask_path).fit()
    path = tmp_path / "sub-02_bold.nii.gz"
    nib.save(_bold_img(data, t_r=2.5), path)
    (tmp_path / "sub-02_bold.json").write_text(json.dumps({"RepetitionTime": 2.5}))
    masked = data[_mask().astype(bool)].T
    np.testing.assert_allclose(est.transform(path)[0], alff_falff(masked, 2.5)[0], rtol=1e-12)
    (tmp_path / "sub-02_bold.json").write_text(json.dumps({"RepetitionTime": 2.0}))
    with pytest.raises(DataError, match=r"sub-02_bold\.nii\.gz.*disagree"):
        est.transform(path)
    # explicit t_r wins over both
    np.testing.assert_allclose(est.compute_maps(path, t_r=2.5)[0].get_fdata()[_mask() == 1],
                               alff_falff(masked, 2.5)[0], rtol=1e-6)


def test_t_r_missing_or_zero(tmp_path, files):
    data, _, mask_path = files
    img = _bold_img(data, t_r=0.0)
    path = tmp_path / "notr.nii"
    nib.save(img, path)
    with pytest.raises(DataError, match=r"repetition time.*missing"):
        ALFF(mask_img=mask_path).fit().transform(path)
    with pytest.raises(DataError, match=r"'t_r' parameter must be > 0 seconds. Got 0"):
        ALFF(mask_img=mask_path, t_r=0).fit().transform(path)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
def test_three_d_image_is_refused(tmp_path, files):
    _, _, mask_path = files
    path = tmp_path / "map3d.nii.gz"
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE), path)
    with pytest.raises(ImageError, match=r"map3d\.nii\.gz.*must be a 4-D image"):
        ALFF(mask_img=mask_path, t_r=2.0).fit().transform(path)


def test_too_short_series_names_minimum(tmp_path, files):
    data, _, mask_path = files
    path = tmp_path / "short.nii"
    nib.save(_bold_img(data[..., :14]), path)
    # 14 - 10 = 4 volumes at TR 2 s: padded to 4 bins, none in 0.01-0.08 Hz; 5 are needed.
    with pytest.raises(DataError, match=r"short\.nii.*4 volume\(s\) after discarding 10.*"
                                        r"At least 5 volumes.*\(15 before discarding 10\)"):
        ALFF(mask_img=mask_path, discard=10).fit().transform(path)


def test_discard_all_volumes(tmp_path, files):
    _data, paths, mask_path = files
    with pytest.raises(DataError, match=r"'discard'=150 removes every volume.*150 volume"):
        ALFF(mask_img=mask_path, discard=150).fit().transform(paths[".nii"])


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nan_voxels_are_refused(tmp_path, files, suffix):
    data, _, mask_path = files
    data = data.copy()
    data[2, 2, 1, 40] = np.nan
    data[1, 1, 1, 3] = np.inf
    path = tmp_path / f"nan{suffix}"
    nib.save(_bold_img(data), path)
    with pytest.raises(ImageError, match=rf"nan{suffix.replace('.', '[.]')}.*2 voxel"):
        ALFF(mask_img=mask_path).fit().transform(path)


def test_mask_grid_mismatch(tmp_path, files):
    _, paths, _ = files
    bad_shape = tmp_path / "mask_shape.nii"
    nib.save(nib.Nifti1Image(np.ones((5, 6, 5), np.uint8), AFFINE), bad_shape)
    with pytest.raises(ImageError, match="shape"):
        ALFF(mask_img=bad_shape).fit().transform(paths[".nii"])
    bad_affine = tmp_path / "mask_affine.nii"
    nib.save(nib.Nifti1Image(_mask(), np.diag([2.0, 2.0, 2.0, 1.0])), bad_affine)
    with pytest.raises(ImageError, match="different affines"):
        ALFF(mask_img=bad_affine).fit().transform(paths[".nii"])


def test_truncated_gzip_file(tmp_path, files):
    _, paths, mask_path = files
    raw = gzip.decompress(paths[".nii.gz"].read_bytes())
    path = tmp_path / "trunc.nii.gz"
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(ImageError, match=r"trunc\.nii\.gz"):
        ALFF(mask_img=mask_path).fit().transform(path)


@pytest.mark.parametrize("params,match", [
    ({"convention": "afni"}, "'convention' parameter must be one of"),
    ({"standardize": "z-score"}, "'standardize' parameter must be one of"),
    ({"discard": 2.5}, "'discard' parameter must be an integer"),
    ({"band": (0.1, 0.01)}, r"'band'.*0 <= low < high"),
    ({"detrend": "yes"}, "'detrend' parameter must be True or False"),
])
def test_bad_parameters_fail_at_fit(files, params, match):
    _, _, mask_path = files
    with pytest.raises((ValueError, TypeError), match=match):
        ALFF(mask_img=mask_path, **params).fit()


def test_band_above_nyquist_for_this_image(files):
    _, paths, mask_path = files
    with pytest.raises(ValueError, match=r"Nyquist frequency 0\.25 Hz of TR = 2 s"):
        ALFF(mask_img=mask_path, band=(0.3, 0.5)).fit().transform(paths[".nii"])
    # a band that starts below but ends above Nyquist is no longer clipped silently: the
    # error names the image, the band, the TR and the Nyquist frequency
    with pytest.raises(DataError, match=r"sub-01_task-rest_bold\.nii.*\(0\.01, 0\.4\) ends at "
                                        r"0\.4 Hz, above the Nyquist frequency 0\.25 Hz of "
                                        r"TR = 2 s"):
        ALFF(mask_img=mask_path, band=(0.01, 0.4)).fit().transform(paths[".nii"])


# --------------------------------------------------------------------------------------------
# Contract and ROI interplay
# --------------------------------------------------------------------------------------------
def test_alff_estimators_pass_the_plugin_contract():
    from painmarkers.testing import check_extractor

    assert isinstance(check_extractor(ALFF), ALFF)
    assert isinstance(check_extractor(FractionalALFF(convention="xcpd")), FractionalALFF)


def test_roi_mean_timeseries_and_mean_map(files):
    # The seed study's Figure 2: ALFF of the mean time series of a sphere, vs the mean of the
    # voxel ALFF map inside it. Both computed independently here from the masked array.
    from painmarkers.extractors import ROIExtractor
    from painmarkers.rois import Sphere

    data, paths, mask_path = files
    sphere = Sphere("s", (6.0, 9.0, 3.0), 3.0)  # voxel (2, 3, 1) and its 6 neighbours
    roi_ext = ROIExtractor(ALFF(discard=10), rois=[sphere], summary="mean_timeseries",
                           mask_img=mask_path).fit()
    in_mask = _mask().astype(bool)
    roi_mask = sphere.to_mask(nib.load(mask_path)) & in_mask
    assert roi_mask.sum() == 6  # (2, 3, 0) lies outside the mask
    mean_series = data[roi_mask].astype(np.float64).mean(axis=0)
    expected = alff_falff(mean_series, 2.0, discard=10)[0]
    np.testing.assert_allclose(roi_ext.transform(paths[".nii.gz"])[0], expected, rtol=1e-6)
    map_ext = ROIExtractor(ALFF(discard=10), rois=[sphere], summary="mean_map",
                           mask_img=mask_path).fit()
    voxel_alff = alff_falff(data[roi_mask].T, 2.0, discard=10)[0]
    np.testing.assert_allclose(map_ext.transform(paths[".nii"])[0], voxel_alff.mean(),
                               rtol=1e-6)
    # ALFF of a mean series is below the mean of the voxel ALFFs (averaging cancels noise)
    assert expected[0] < voxel_alff.mean()


def test_other_compressions_fall_back_to_nibabel(tmp_path, files):
    import bz2

    _data, paths, mask_path = files
    path = tmp_path / "bold.nii.bz2"
    path.write_bytes(bz2.compress(paths[".nii"].read_bytes()))
    est = ALFF(mask_img=mask_path).fit()
    np.testing.assert_array_equal(est.transform(path), est.transform(paths[".nii"]))
