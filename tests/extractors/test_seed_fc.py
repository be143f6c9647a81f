"""SeedFC against numpy/scipy computations written from the formula, planted connectivity,
confound handling (vs nilearn's load_confounds) and bad input."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import signal as sp_signal

from painmarkers.exceptions import DataError, ExtractorError, PainmarkersWarning
from painmarkers.extractors import SeedFC, select_confounds
from painmarkers.rois import MaskROI, Sphere

SHAPE = (5, 5, 4)
T = 80


def _seed_mask(affine):
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[1:3, 1:3, 1] = 1
    return nib.Nifti1Image(mask, affine)


def _corr(x, y):
    x = x - x.mean()
    y = y - y.mean(axis=0)
    return (x @ y) / np.sqrt((x @ x) * (y * y).sum(axis=0))


def _planted(rng, n_noise_confounds=0):
    """Voxels = a * seed signal + noise; returns data (x, y, z, t), the loadings a."""
    signal = rng.standard_normal(T)
    loadings = rng.uniform(-1, 1, SHAPE)
    data = loadings[..., None] * signal + rng.standard_normal((*SHAPE, T)) + 50.0
    return data, loadings


def test_r_map_equals_pearson_of_the_mean_seed_series(rng, bold_image, affine_3mm):
    data, _ = _planted(rng)
    img = bold_image(data)
    seed_roi = MaskROI("seed", _seed_mask(affine_3mm))
    fc = SeedFC(seed_roi, t_r=2.0, detrend=False, fisher_z=False).fit(img)
    r = fc.transform(img)[0]
    flat = data.astype(np.float32).astype(float).reshape(-1, T)
    seed = data.astype(np.float32).astype(float)[np.asarray(_seed_mask(affine_3mm).dataobj) > 0]
    expected = np.array([np.corrcoef(seed.mean(axis=0), v)[0, 1] for v in flat])
    np.testing.assert_allclose(r, expected, rtol=1e-8, atol=1e-10)
    assert fc.n_seed_voxels_ == 4


def test_fisher_z_and_linear_detrend(rng, bold_image, affine_3mm):
    data, _ = _planted(rng)
    data = data + np.linspace(0, 5, T) * rng.uniform(0, 1, SHAPE)[..., None]  # drifts
    img = bold_image(data)
    seed_roi = MaskROI("seed", _seed_mask(affine_3mm))
    z = SeedFC(seed_roi, t_r=2.0).fit(img).transform(img)[0]
    x = sp_signal.detrend(data.astype(np.float32).astype(float).reshape(-1, T), axis=1)
    seed = x[np.ravel(np.asarray(_seed_mask(affine_3mm).dataobj) > 0)].mean(axis=0)
    expected = np.arctanh(_corr(seed, x.T))
    np.testing.assert_allclose(z, expected, rtol=1e-7, atol=1e-9)


def test_confound_regression_equals_joint_least_squares(rng, bold_image, affine_3mm, tmp_path):
    data, _ = _planted(rng)
    motion = rng.standard_normal((T, 6))
    data = data + (motion @ rng.standard_normal((6, np.prod(SHAPE)))).T.reshape(*SHAPE, T)
    names = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    table = pd.DataFrame(motion, columns=names)
    table["csf"] = rng.standard_normal(T)
    tsv = tmp_path / "confounds.tsv"
    table.to_csv(tsv, sep="\t", index=False)
    img = bold_image(data)
    seed_roi = MaskROI("seed", _seed_mask(affine_3mm))
    fc = SeedFC(seed_roi, t_r=2.0, confounds_strategy=("motion",), fisher_z=False).fit(img)
    r = fc.compute_map(img, confounds=tsv).get_fdata().ravel()
    # independent: residuals of [1, t, motion] by least squares (Frisch-Waugh-Lovell)
    design = np.column_stack([np.ones(T), np.arange(T), motion])
    x = data.astype(np.float32).astype(float).reshape(-1, T).T
    resid = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    seed = resid[:, np.ravel(np.asarray(_seed_mask(affine_3mm).dataobj) > 0)].mean(axis=1)
    np.testing.assert_allclose(r, _corr(seed, resid), rtol=1e-5, atol=1e-6)


def test_planted_connectivity_is_recovered(rng, bold_image, affine_3mm):
    signal = rng.standard_normal(T)
    loadings = rng.uniform(-1.5, 1.5, SHAPE)
    seed = np.asarray(_seed_mask(affine_3mm).dataobj) > 0
    loadings[seed] = 1.0
    data = loadings[..., None] * signal + rng.standard_normal((*SHAPE, T)) + 50.0
    img = bold_image(data)
    r = SeedFC(MaskROI("seed", _seed_mask(affine_3mm)), t_r=2.0,
               fisher_z=False).fit(img).compute_map(img).get_fdata()
    # voxel a*s + e against the seed mean s + mean of 4 unit noises (variance 1/4):
    # r = a / sqrt((a^2 + 1) * (1 + 1/4))
    expected = loadings / np.sqrt((loadings**2 + 1) * 1.25)
    outside = ~seed  # seed voxels share their own noise with the mean
    error = r[outside] - expected[outside]
    assert abs(error.mean()) < 0.03  # unbiased
    assert np.sqrt((error**2).mean()) < 0.15  # ~ sampling SD of r with T = 80


def test_band_pass_equals_nilearn_clean_of_voxels_and_seed(rng, bold_image, affine_3mm):
    from nilearn import signal as nl_signal

    t = np.arange(T) * 2.0
    fast = np.sin(2 * np.pi * 0.2 * t)  # 0.2 Hz, outside 0.01-0.08 Hz
    slow = np.sin(2 * np.pi * 0.04 * t)  # inside the band
    data = 50 + rng.standard_normal((*SHAPE, T))
    seed = np.asarray(_seed_mask(affine_3mm).dataobj) > 0
    data[seed] += 3 * fast + 3 * slow
    data[4, 4, 3] += 3 * fast  # coupled to the seed only at 0.2 Hz
    data[0, 0, 0] += 3 * slow  # coupled to the seed only in the band
    img = bold_image(data)
    seed_roi = MaskROI("seed", _seed_mask(affine_3mm))
    r_raw = SeedFC(seed_roi, t_r=2.0, fisher_z=False).fit(img).compute_map(img).get_fdata()
    r_bp = SeedFC(seed_roi, t_r=2.0, fisher_z=False, high_pass=0.01,
                  low_pass=0.08).fit(img).compute_map(img).get_fdata()
    # independent path: nilearn's clean on the voxels and, separately, on the seed mean
    x = data.astype(np.float32).astype(float).reshape(-1, T).T
    kw = dict(detrend=True, standardize=None, filter="butterworth", low_pass=0.08,
              high_pass=0.01, t_r=2.0)
    clean_x = nl_signal.clean(x, **kw)
    clean_seed = nl_signal.clean(x[:, seed.ravel()].mean(axis=1, keepdims=True), **kw)[:, 0]
    np.testing.assert_allclose(r_bp.ravel(), _corr(clean_seed, clean_x), rtol=1e-6, atol=1e-8)
    assert r_bp[0, 0, 0] > r_raw[0, 0, 0] + 0.2  # in-band coupling gains
    assert r_bp[4, 4, 3] < r_raw[4, 4, 3] - 0.2  # out-of-band coupling loses


def test_zero_variance_seed_is_an_error_naming_it(rng, bold_image, affine_3mm):
    data = 50 + rng.standard_normal((*SHAPE, T))
    data[1:3, 1:3, 1] = 7.0
    img = bold_image(data)
    fc = SeedFC(MaskROI("flat", _seed_mask(affine_3mm)), t_r=2.0).fit(img)
    with pytest.raises(ExtractorError, match="seed 'flat' has zero variance"):
        fc.transform(img)


def test_constant_voxels_get_zero_with_a_warning(rng, bold_image, affine_3mm):
    data, _ = _planted(rng)
    data[4, 4, 3] = 3.0
    img = bold_image(data)
    mask = nib.Nifti1Image(np.ones(SHAPE, dtype=np.uint8), affine_3mm)
    fc = SeedFC(MaskROI("seed", _seed_mask(affine_3mm)), mask_img=mask, t_r=2.0).fit()
    with pytest.warns(PainmarkersWarning, match="1 voxel"):
        z = fc.compute_map(img).get_fdata()
    assert z[4, 4, 3] == 0.0


def test_seed_outside_mask_is_an_error(rng, bold_image, affine_3mm):
    img = bold_image(50 + rng.standard_normal((*SHAPE, T)))
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[3:] = 1
    with pytest.raises(DataError, match="ROI 'away' lies entirely outside the brain mask"):
        SeedFC(Sphere("away", (-9, -9, -6), 3.0), t_r=2.0,
               mask_img=nib.Nifti1Image(mask, affine_3mm)).fit(img)


def test_confounds_row_count_mismatch_names_file(rng, bold_image, affine_3mm, tmp_path):
    img = bold_image(50 + rng.standard_normal((*SHAPE, T)))
    tsv = tmp_path / "conf.tsv"
    pd.DataFrame({"csf": rng.standard_normal(T - 5)}).to_csv(tsv, sep="\t", index=False)
    fc = SeedFC(MaskROI("seed", _seed_mask(affine_3mm)), t_r=2.0).fit(img)
    with pytest.raises(DataError, match=rf"conf\.tsv' has {T - 5} rows but img has {T} volumes"):
        fc.compute_map(img, confounds=tsv)
    with pytest.raises(DataError, match="lacks the confound column"):
        SeedFC(MaskROI("seed", _seed_mask(affine_3mm)), t_r=2.0,
               confounds_strategy=("motion",)).fit(img).compute_map(img, confounds=tsv)


def test_bad_parameters():
    seed = Sphere("s", (0, 0, 0), 3.0)
    img = nib.Nifti1Image(np.ones((2, 2, 2, 4), dtype=np.float32), np.eye(4))
    with pytest.raises(ExtractorError, match="'seed' parameter must be"):
        SeedFC(None).fit(img)
    with pytest.raises(ValueError, match=r"'high_pass'.*must be below 'low_pass'"):
        SeedFC(seed, high_pass=0.1, low_pass=0.05).fit(img)
    with pytest.raises(ValueError, match="'confounds_strategy' parameter must be one of"):
        SeedFC(seed, confounds_strategy=("bogus",)).fit(img)


def _fmriprep_layout(tmp_path, rng, bold_image, coupled=False):
    """An fMRIPrep-like run: BOLD, and a confounds table with n/a in the first row of
    derivatives; with ``coupled`` the voxels load on every confound column."""
    func = tmp_path / "derivatives" / "fmriprep" / "sub-01" / "func"
    func.mkdir(parents=True)
    stem = "sub-01_task-rest"
    base = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "white_matter", "csf",
            "global_signal"]
    cols = {}
    for c in base:
        x = rng.standard_normal(T)
        d = np.r_[np.nan, np.diff(x)]
        cols.update({c: x, f"{c}_derivative1": d, f"{c}_power2": x**2,
                     f"{c}_derivative1_power2": d**2})
    for k in range(3):
        cols[f"cosine{k:02d}"] = np.cos(np.pi * (k + 1) * (np.arange(T) + 0.5) / T)
    table = pd.DataFrame(cols)
    data = 50 + rng.standard_normal((*SHAPE, T))
    if coupled:  # every voxel loads on every column (first rows filled as nilearn does)
        filled = table.to_numpy(dtype=float, copy=True)
        filled[0] = np.where(np.isnan(filled[0]), filled[1], filled[0])
        filled /= filled.std(axis=0)
        data += (filled @ rng.uniform(-0.5, 0.5, (filled.shape[1], np.prod(SHAPE)))
                 ).T.reshape(*SHAPE, T)
    bold = func / f"{stem}_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"
    nib.save(bold_image(data), bold)
    tsv = func / f"{stem}_desc-confounds_timeseries.tsv"
    table.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    (func / f"{stem}_desc-confounds_timeseries.json").write_text(json.dumps({}))
    return bold, tsv, data


# --- confounds: one reader, one n/a rule, every strategy, first rows included ----------------
MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
BASE = {"motion": MOTION, "wm_csf": ["white_matter", "csf"], "global_signal": ["global_signal"]}


def _expected_columns(strategy, levels, table):
    """The columns a strategy selects, written out from nilearn's documented names."""
    cols = []
    for s in strategy:
        if s == "high_pass":
            cols += [c for c in table.columns if c.startswith("cosine")]
            continue
        base, level = BASE[s], levels.get(s, "basic")
        cols += base
        if level in ("derivatives", "full"):
            cols += [f"{c}_derivative1" for c in base]
        if level in ("power2", "full"):
            cols += [f"{c}_power2" for c in base]
        if level == "full":
            cols += [f"{c}_derivative1_power2" for c in base]
    return cols


def _independent_confounds(tsv, strategy, levels):
    table = pd.read_csv(tsv, sep="\t", na_values=["n/a"])
    x = table[_expected_columns(strategy, levels, table)].to_numpy(dtype=float, copy=True)
    x[0] = np.where(np.isnan(x[0]), x[1], x[0])  # the documented rule (nilearn's)
    return x


def _independent_z(data, seed_mask, confounds):
    """Fisher z from least-squares residuals of [1, t, confounds] (numpy only)."""
    t = data.shape[-1]
    design = np.column_stack([np.ones(t), np.arange(t), confounds])
    x = data.astype(np.float32).astype(float).reshape(-1, t).T
    resid = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    seed = resid[:, seed_mask.ravel()].mean(axis=1)
    return np.arctanh(np.clip(_corr(seed, resid), -1 + 1e-7, 1 - 1e-7))


ALL_LEVELS = ("basic", "power2", "derivatives", "full")
STRATEGIES = [(("motion",), m) for m in ALL_LEVELS] + [
    (("wm_csf",), "basic"), (("global_signal",), "basic"), (("high_pass",), "basic"),
    (("motion", "wm_csf", "global_signal", "high_pass"), "full"),
    (("motion", "high_pass", "wm_csf"), "derivatives"),
]


@pytest.mark.parametrize(("strategy", "motion"), STRATEGIES,
                         ids=lambda v: "+".join(v) if isinstance(v, tuple) else v)
def test_every_strategy_equals_an_independent_computation_first_rows_included(
        tmp_path, rng, bold_image, strategy, motion):
    bold, tsv, data = _fmriprep_layout(tmp_path, rng, bold_image, coupled=True)
    seed = Sphere("s", (-3, -3, -3), 3.0)
    fc = SeedFC(seed, t_r=2.0, confounds_strategy=strategy, motion=motion).fit(bold)
    expected = _independent_z(data, fc.seed_mask_, _independent_confounds(
        tsv, strategy, {"motion": motion}))
    found_next_to_bold = fc.transform(bold)[0]  # the fMRIPrep table is located
    explicit = fc.transform(bold, confounds=tsv)[0]
    np.testing.assert_allclose(found_next_to_bold, expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(explicit, found_next_to_bold)  # one path: same numbers
    if motion in ("derivatives", "full"):
        # the n/a rule of the first row matters (the former file path filled the column
        # mean): filling otherwise changes z beyond the tolerance above
        table = pd.read_csv(tsv, sep="\t", na_values=["n/a"])
        cols = _expected_columns(strategy, {"motion": motion}, table)
        mean_fill = table[cols].fillna(table[cols].mean()).to_numpy(dtype=float)
        other = _independent_z(data, fc.seed_mask_, mean_fill)
        assert np.abs(other - expected).max() > 1e-4


@pytest.mark.parametrize(("strategy", "levels"), [
    (("motion",), {"motion": m}) for m in ALL_LEVELS] + [
    (("wm_csf",), {"wm_csf": m}) for m in ALL_LEVELS] + [
    (("global_signal",), {"global_signal": m}) for m in ALL_LEVELS] + [
    (("motion", "wm_csf", "global_signal", "high_pass"),
     {"motion": "full", "wm_csf": "derivatives", "global_signal": "power2"}),
    (("high_pass",), {}),
])
def test_select_confounds_equals_nilearn_load_confounds_on_every_row(tmp_path, rng, bold_image,
                                                                     strategy, levels):
    from nilearn.interfaces.fmriprep import load_confounds

    bold, tsv, _ = _fmriprep_layout(tmp_path, rng, bold_image)
    ours = select_confounds(tsv, strategy, **levels)
    theirs, _ = load_confounds(str(bold), strategy=strategy, demean=False, **levels)
    assert sorted(ours.columns) == sorted(theirs.columns)
    cols = sorted(ours.columns)
    # all rows, the first (n/a in derivatives) included
    np.testing.assert_allclose(ours[cols].to_numpy(), theirs[cols].to_numpy(), rtol=1e-12,
                               atol=0)
    assert not ours.isna().any().any()


def test_na_beyond_the_first_row_is_an_error_naming_columns_and_rows(tmp_path, rng,
                                                                     bold_image):
    bold, tsv, _ = _fmriprep_layout(tmp_path, rng, bold_image)
    table = pd.read_csv(tsv, sep="\t", na_values=["n/a"])
    table.loc[[7, 9], "csf"] = np.nan
    table.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(DataError, match=r"n/a values in column\(s\) \['csf'\] at row\(s\) "
                                        r"\[7, 9\]"):
        select_confounds(tsv, ("wm_csf",))
    fc = SeedFC(Sphere("s", (-3, -3, -3), 3.0), t_r=2.0, confounds_strategy=("wm_csf",))
    with pytest.raises(DataError, match=r"confounds_timeseries\.tsv' has n/a"):
        fc.fit(bold).transform(bold)


def test_missing_fmriprep_confounds_names_the_candidates(tmp_path, rng, bold_image):
    bold, tsv, _ = _fmriprep_layout(tmp_path, rng, bold_image)
    tsv.unlink()
    fc = SeedFC(Sphere("s", (-3, -3, -3), 3.0), t_r=2.0, confounds_strategy=("motion",))
    with pytest.raises(DataError, match=r"neither \['sub-01_task-rest_desc-confounds_timeseries"
                                        r"\.tsv', 'sub-01_task-rest_desc-confounds_regressors"):
        fc.fit(bold).transform(bold)
    in_memory = nib.Nifti1Image(np.asanyarray(nib.load(bold).dataobj), nib.load(bold).affine)
    with pytest.raises(DataError, match="pass confounds= or give the BOLD image as an fMRIPrep"):
        fc.transform(in_memory)


def test_scaled_int16_run_streamed_as_float32_equals_float64_reference(tmp_path, rng,
                                                                         affine_3mm):
    # SeedFC reads the masked data as float32 (half the memory of float64); the cleaning
    # and correlation run in float64. On an int16 file with scl_slope the z map equals
    # the float64 computation to 1e-6 (absolute).
    data, _ = _planted(rng)
    raw = np.round((data - 50) * 1000).astype(np.int16)
    img = nib.Nifti1Image(raw, affine_3mm)
    img.header.set_slope_inter(0.001, 50.0)
    img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
    path = tmp_path / "int16_bold.nii.gz"
    nib.save(img, path)
    reference = np.asarray(nib.load(path).get_fdata(), dtype=np.float64)  # float64 scaling
    seed = _seed_mask(affine_3mm)
    z = SeedFC(MaskROI("seed", seed), t_r=2.0).fit(path).transform(path)[0]
    x = sp_signal.detrend(reference.reshape(-1, T), axis=1)
    s = x[np.ravel(np.asarray(seed.dataobj) > 0)].mean(axis=0)
    expected = np.arctanh(np.clip(_corr(s, x.T), -1 + 1e-7, 1 - 1e-7))
    np.testing.assert_allclose(z, expected, rtol=0, atol=1e-6)


def test_null_distribution_of_fisher_z(rng, bold_image, affine_3mm):
    # independent white noise: z = artanh(r) ~ N(0, 1 / (T - 3 - 2)) after removing mean and
    # linear trend (2 fitted parameters); the two-sided 5 % test should reject ~5 %
    shape, n = (20, 20, 10), 100
    data = 100 + rng.standard_normal((*shape, n))
    img = bold_image(data)
    seed = np.zeros(shape, dtype=np.uint8)
    seed[0, 0, 0] = 1
    fc = SeedFC(MaskROI("s", nib.Nifti1Image(seed, affine_3mm)), t_r=2.0).fit(img)
    z = fc.transform(img)[0]
    z = np.delete(z, 0)  # the seed voxel itself
    scaled = z * np.sqrt(n - 5)
    assert abs(scaled.mean()) < 0.05
    np.testing.assert_allclose(scaled.std(ddof=1), 1.0, rtol=0.05)
    rejection = np.mean(np.abs(scaled) > 1.959964)
    assert 0.04 < rejection < 0.06


def test_atlas_region_seed_on_the_mni_grid(rng):
    from nilearn.datasets import load_mni152_brain_mask

    from painmarkers.rois import AtlasRegion

    mask = load_mni152_brain_mask(resolution=3)
    inside = np.asarray(mask.dataobj) > 0
    n = 30
    data = np.zeros((*mask.shape, n), dtype=np.float32)
    data[inside] = rng.standard_normal((int(inside.sum()), n))
    img = nib.Nifti1Image(data, mask.affine)
    seed = AtlasRegion("aal", "Precentral_L")
    fc = SeedFC(seed, mask_img=mask, t_r=2.0, detrend=False, fisher_z=False).fit()
    seed_voxels = seed.to_mask(mask, mask)
    assert fc.n_seed_voxels_ == int(seed_voxels.sum()) > 50
    r = fc.transform(img)[0]
    x = data[inside].astype(float)  # (V, T) in mask order
    s = data[seed_voxels].astype(float).mean(axis=0)
    pick = rng.choice(x.shape[0], 50, replace=False)
    expected = [np.corrcoef(s, x[i])[0, 1] for i in pick]
    np.testing.assert_allclose(r[pick], expected, rtol=1e-7, atol=1e-9)


def test_sphere_seed_is_the_mean_of_voxels_within_the_radius(rng, bold_image, affine_3mm):
    # seed voxels found here by brute-force distances of the voxel centres (mm)
    data, _ = _planted(rng)
    img = bold_image(data)
    centre, radius = np.array([-3.0, -3.0, -3.0]), 4.5
    ijk = np.indices(SHAPE).reshape(3, -1)
    xyz = affine_3mm[:3, :3] @ ijk + affine_3mm[:3, 3:4]
    in_sphere = np.sqrt(((xyz - centre[:, None]) ** 2).sum(axis=0)) <= radius
    assert in_sphere.sum() == 19  # centre, 6 face and 12 edge neighbours (4.24 mm)
    fc = SeedFC(Sphere("s", tuple(centre), radius), t_r=2.0, detrend=False,
                fisher_z=False).fit(img)
    assert fc.n_seed_voxels_ == 19
    flat = data.astype(np.float32).astype(float).reshape(-1, T)
    seed = flat[in_sphere].mean(axis=0)
    expected = [np.corrcoef(seed, v)[0, 1] for v in flat]
    np.testing.assert_allclose(fc.transform(img)[0], expected, rtol=1e-8, atol=1e-10)
