"""voxelwise_lmm against the ROI-level painmarkers.stats.lmm at every voxel, planted effects,
bad input, the result protocol and GRF's handling of maps with voxelwise df.

The ROI model is itself checked against lme4 / lmerTest / pbkrtest fixtures
(tests/stats/test_lmm_r.py); here each voxel's column is given to it as the response.
"""

from __future__ import annotations

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from painmarkers._results import Result
from painmarkers.exceptions import (
    DataError,
    DesignError,
    ImageError,
    InferenceWarning,
    PainmarkersWarning,
)
from painmarkers.inference import (
    VoxelwiseLMMResult,
    estimate_smoothness,
    grf_cluster_correct,
    voxelwise_lmm,
)
from painmarkers.stats import lmm

from .conftest import smooth_field

SHAPE = (8, 8, 5)
AFFINE = np.array([[-3.0, 0, 0, 30], [0, 3, 0, -40], [0, 0, 3, -20], [0, 0, 0, 1]])
#: subject-to-residual variance ratio of the voxels (cycled): boundary fits (0, small) to
#: large ratios
RATIOS = np.array([0.0, 0.0, 0.02, 0.3, 1.0, 3.0, 10.0, 100.0, 1e4])
REL = {"rtol": 1e-6, "atol": 1e-12}


def _trial(seed=0, n_sub=28, dropout=0.15):
    """Three-visit two-arm table (one row per planned visit) and who is missing."""
    rng = np.random.default_rng(seed)
    rows = [(f"s{i:02d}", "active" if i % 2 else "sham", ses, 30.0 + (i * 7) % 25)
            for i in range(n_sub) for ses in ("pre", "post", "fu")]
    data = pd.DataFrame(rows, columns=["subject_id", "arm", "session", "age"])
    data["session"] = pd.Categorical(data["session"], ["pre", "post", "fu"])
    missing = (rng.random(len(data)) < dropout) & (data["session"] != "pre").to_numpy()
    return data, missing


def _maps(data, rng, ratios, effect=None, offset=10.0, fwhm=2.0):
    """One map per row: subject intercepts (variance ratio per voxel) + smooth noise."""
    codes = pd.Categorical(data["subject_id"]).codes
    n_sub = codes.max() + 1
    nvox = int(np.prod(SHAPE))
    scale = np.sqrt(np.resize(ratios, nvox)).reshape(SHAPE)
    subj = rng.standard_normal((n_sub, *SHAPE)) * scale
    maps = np.stack([smooth_field(rng, SHAPE, fwhm) for _ in range(len(data))])
    maps += subj[codes] + offset + 0.02 * data["age"].to_numpy()[:, None, None, None]
    if effect is not None:
        maps += effect
    return maps


def _images(maps, missing=None):
    imgs = [nib.Nifti1Image(m, AFFINE) for m in maps]
    if missing is not None:
        imgs = [None if miss else im for im, miss in zip(imgs, missing)]
    return imgs


def _roi(data, y, formula, **kw):
    frame = data.assign(y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferenceWarning)
        return lmm(frame, "y " + formula, **kw)


@pytest.fixture(scope="module")
def trial():
    data, missing = _trial()
    data.loc[5, "age"] = np.nan                     # a missing covariate: that row is left out
    rng = np.random.default_rng(1)
    maps = _maps(data, rng, RATIOS)
    maps[7, 0, 0, 0] = 1e3                          # one image far off at one voxel
    return data, missing, maps


@pytest.mark.parametrize(("ddf", "reml", "every"), [("satterthwaite", True, 2),
                                                     ("kenward-roger", True, 4),
                                                     ("satterthwaite", False, 5)])
def test_every_voxel_equals_the_roi_lmm(trial, ddf, reml, every):
    data, missing, maps = trial
    formula = "~ arm * session + age"
    with pytest.warns(PainmarkersWarning, match=r"row\(s\) of .* excluded"):
        res = voxelwise_lmm(_images(maps, missing), data, formula, ddf=ddf, reml=reml,
                            estimate_smoothness=False)
    used = ~missing & data["age"].notna().to_numpy()
    assert res.n_obs == int(used.sum()) and res.n_subjects == 28
    assert res.n_excluded_rows == int((~used).sum())
    assert list(res.design_matrix.index) == list(np.flatnonzero(used))
    mask = res.mask_img.get_fdata().astype(bool)
    assert mask.all()                                # every voxel (offset 10: non-zero)
    rows = data[used]
    Y = maps[used][:, mask]
    status = res.status_img.get_fdata()[mask]
    theta = res.theta_img.get_fdata()[mask]
    checked = {"singular": 0, "large": 0}
    for v in range(0, Y.shape[1], every):
        ref = _roi(rows, Y[:, v], formula, ddf=ddf, reml=reml)
        fe = ref.fixed_effects
        for j, name in enumerate(res.coefficients):
            maps_j = res.fixed_effect_maps[name]
            for key in ("estimate", "se", "df", "t", "p"):
                got = maps_j[key].get_fdata()[mask][v]
                assert_allclose(got, fe[key].iloc[j], **REL, err_msg=f"{name} {key} v{v}")
        an = ref.anova()
        for _, row in an.iterrows():
            maps_t = res.anova_maps[row.term]
            assert res.num_df[row.term] == row.num_df
            for key, col in (("F", "F"), ("den_df", "den_df"), ("p", "p")):
                assert_allclose(maps_t[key].get_fdata()[mask][v], row[col], **REL,
                                err_msg=f"{row.term} {key} v{v}")
        assert_allclose(theta[v], ref.theta[0], rtol=1e-6, atol=1e-9)
        assert_allclose(res.sigma2_img.get_fdata()[mask][v], ref.sigma ** 2, rtol=1e-6)
        assert_allclose(res.loglik_img.get_fdata()[mask][v], ref.loglik, rtol=1e-9)
        assert bool(int(status[v]) & 1) == ref.singular
        assert bool(int(status[v]) & 2) == (not ref.converged)
        checked["singular"] += ref.singular
        checked["large"] += ref.theta[0] > 30
    # the boundary and large-ratio voxels were among those compared
    assert checked["singular"] >= 10 and checked["large"] >= 5
    assert res.n_singular == int(np.sum(status.astype(int) & 1 > 0))


def test_planted_interaction_in_named_voxels_and_nulls_elsewhere():
    data, missing = _trial(seed=3, n_sub=40, dropout=0.2)
    rng = np.random.default_rng(4)
    effect = np.zeros((len(data), *SHAPE))
    planted = np.zeros(SHAPE, bool)
    planted[2:4, 2:5, 1:3] = True                  # 12 named voxels
    active = (data["arm"] == "active").to_numpy()
    post = (data["session"] != "pre").to_numpy()
    effect[active & post] += np.where(planted, -3.0, 0.0)   # the active arm improves
    maps = _maps(data, rng, np.array([0.5, 1.0, 2.0]), effect=effect, fwhm=1.0)
    with pytest.warns(PainmarkersWarning, match="excluded"):
        res = voxelwise_lmm(_images(maps, missing), data, "~ arm * session",
                            estimate_smoothness=False)
    p = res.anova_maps["arm:session"]["p"].get_fdata()
    assert np.all(p[planted] < 1e-4)
    null = ~planted
    share = float(np.mean(p[null] < 0.05))
    # 308 null voxels (spatially correlated): rate within a generous band around 5 %
    assert share < 0.12
    est = res.fixed_effect_maps["arm[T.sham]:session[T.post]"]["estimate"].get_fdata()
    se = res.fixed_effect_maps["arm[T.sham]:session[T.post]"]["se"].get_fdata()
    # sham - active difference of changes: +3 where planted, 0 elsewhere
    assert abs(np.mean(est[planted]) - 3.0) < 3 * np.mean(se[planted]) / np.sqrt(4)
    assert abs(np.mean(est[null])) < 0.1


def test_missing_visits_keep_the_other_visits_and_nan_voxels_leave_the_mask():
    data, missing = _trial(seed=5, n_sub=12, dropout=0.3)
    maps = _maps(data, np.random.default_rng(6), np.array([1.0]))
    maps[0, 0, 0, 0] = np.nan                       # NaN in one image at one voxel
    maps[3, 1, 0, 0] = 0.0                          # no data in one image (rows 0, 3: "pre")
    with pytest.warns(PainmarkersWarning, match="excluded"):
        res = voxelwise_lmm(_images(maps, missing), data, "~ arm + session",
                            estimate_smoothness=False)
    assert res.n_obs == int((~missing).sum())
    per = res.excluded.set_index("subject")
    dropped = data[missing].groupby("subject_id").size()
    assert dict(per["n_rows_excluded"]) == dict(dropped)
    assert not per["subject_excluded"].any()
    assert "imgs missing" in per["reason"].iloc[0]
    mask = res.mask_img.get_fdata().astype(bool)
    assert not mask[0, 0, 0] and not mask[1, 0, 0]
    assert res.n_voxels == np.prod(SHAPE) - 2
    assert res.parameters["n_partial_coverage"] == 2
    # the same numbers as the ROI model on the kept rows
    rows = data[~missing]
    y = maps[~missing][:, 3, 3, 2]
    ref = _roi(rows, y, "~ arm + session")
    got = [res.fixed_effect_maps[c]["t"].get_fdata()[3, 3, 2] for c in res.coefficients]
    assert_allclose(got, ref.fixed_effects["t"], **REL)


def test_zero_variance_and_non_convergence_are_counted_not_silent():
    data, _ = _trial(seed=7, n_sub=10, dropout=0.0)
    maps = _maps(data, np.random.default_rng(8), np.array([1.0]))
    maps[:, 0, 0, 0] = 5.0                          # constant voxel
    codes = pd.Categorical(data["subject_id"]).codes
    rng = np.random.default_rng(9)
    # subject variance 1e8 x the residual: beyond the optimiser's range (as the ROI fit)
    maps[:, 1, 1, 1] = 10 + 1e4 * rng.standard_normal(10)[codes] + rng.standard_normal(30)
    with pytest.warns(InferenceWarning, match="1 voxel\\(s\\) may not have converged"):
        res = voxelwise_lmm(_images(maps), data, "~ arm * session", estimate_smoothness=False)
    status = res.status_img.get_fdata().astype(int)
    assert status[0, 0, 0] == 4 and res.n_zero_variance == 1
    t = res.t_img("session[T.post]").get_fdata()
    p = res.fixed_effect_maps["session[T.post]"]["p"].get_fdata()
    assert t[0, 0, 0] == 0 and p[0, 0, 0] == 1
    assert np.isnan(res.df_img("session[T.post]").get_fdata()[0, 0, 0])
    assert res.f_img("arm:session").get_fdata()[0, 0, 0] == 0
    assert_allclose(res.fixed_effect_maps["Intercept"]["estimate"].get_fdata()[0, 0, 0], 5.0)
    assert status[1, 1, 1] & 2 and res.n_not_converged == 1 and res.n_failed == 0
    ref = _roi(data, maps[:, 1, 1, 1], "~ arm * session")
    assert not ref.converged
    assert_allclose(t[1, 1, 1], ref.fixed_effects["t"].iloc[2], rtol=1e-6)
    others = np.ones(SHAPE, bool)
    others[0, 0, 0] = others[1, 1, 1] = False
    assert np.all(np.isfinite(t[others]))
    assert "1 not converged, 1 with zero variance" in res.summary()


def test_residual_smoothness_equals_explicit_whitened_residuals():
    data, missing = _trial(seed=10, n_sub=16, dropout=0.2)
    maps = _maps(data, np.random.default_rng(11), RATIOS, fwhm=3.0)
    with pytest.warns(PainmarkersWarning, match="excluded"):
        res = voxelwise_lmm(_images(maps, missing), data, "~ arm * session")
    kept = ~missing
    X = res.design_matrix.to_numpy()
    y = maps[kept].reshape(kept.sum(), -1)
    beta = np.stack([res.fixed_effect_maps[c]["estimate"].get_fdata().ravel()
                     for c in res.coefficients])
    theta = res.theta_img.get_fdata().ravel()
    groups = pd.Categorical(data["subject_id"][kept]).codes
    resid = y - X @ beta
    white = resid.copy()
    for g in np.unique(groups):
        rows = groups == g
        n_i = rows.sum()
        shrink = 1.0 - 1.0 / np.sqrt(1.0 + n_i * theta ** 2)   # V_i^-1/2 = I - shrink P_i
        white[rows] -= shrink * resid[rows].mean(axis=0)
    res4d = np.moveaxis(white.reshape(kept.sum(), *SHAPE), 0, -1)
    ref = estimate_smoothness(nib.Nifti1Image(res4d, AFFINE), res.mask_img,
                              dof=res.n_obs - X.shape[1])
    assert_allclose(res.smoothness.fwhm_voxels, ref.fwhm_voxels, rtol=1e-6)
    assert_allclose(res.smoothness.dlh, ref.dlh, rtol=1e-6)
    z = res.z_img("arm:session")
    assert z.header.get_intent()[0] == "z score"


def test_result_protocol_files_and_grf(tmp_path):
    data, _ = _trial(seed=12, n_sub=14, dropout=0.0)
    maps = _maps(data, np.random.default_rng(13), np.array([0.5, 2.0]), fwhm=2.0)
    res = voxelwise_lmm(_images(maps), data, "~ arm * session", subject="subject_id",
                        between="arm")
    assert isinstance(res, Result) and isinstance(res, VoxelwiseLMMResult)
    assert res.coefficients[0] == "Intercept" and res.terms == ("arm", "session", "arm:session")
    frame = res.to_frame()
    n_tests = len(res.coefficients) + len(res.terms)
    assert len(frame) == n_tests * res.n_voxels
    assert list(frame.columns) == ["i", "j", "k", "x", "y", "z", "name", "test", "estimate",
                                   "se", "statistic", "num_df", "df", "p", "z_score", "status"]
    t_rows = frame[(frame.name == "arm[T.sham]") & (frame.test == "t")]
    assert_allclose(t_rows["statistic"], res.t_img("arm[T.sham]").get_fdata()[
        res.mask_img.get_fdata() > 0])
    assert "Voxelwise linear mixed model (REML, satterthwaite df per voxel)" in res.summary()
    # z maps: each voxel's t (F) through its own p
    m = res.mask_img.get_fdata() > 0
    maps = res.fixed_effect_maps["session[T.fu]"]
    t, p = maps["t"].get_fdata()[m], maps["p"].get_fdata()[m]
    assert_allclose(maps["z"].get_fdata()[m], np.sign(t) * stats.norm.isf(p / 2), rtol=1e-8)
    assert_allclose(p, 2 * stats.t.sf(np.abs(t), maps["df"].get_fdata()[m]), rtol=1e-10)
    F = res.anova_maps["arm:session"]
    assert_allclose(F["z"].get_fdata()[m], stats.norm.isf(F["p"].get_fdata()[m]), rtol=1e-8)
    assert_allclose(F["p"].get_fdata()[m], stats.f.sf(F["F"].get_fdata()[m], 2,
                                                      F["den_df"].get_fdata()[m]), rtol=1e-10)
    paths = res.save(tmp_path / "out")
    assert isinstance(paths, dict) and all(p.exists() for p in paths.values())
    side = json.loads(paths["coef-arm_T_sham_session_T_post_t_sidecar"].read_text())
    assert side["stat"] == "t" and side["df"] is None and side["df_voxelwise"] is True
    assert side["df_map"] == "coef-arm_T_sham_session_T_post_df.nii.gz"
    zside = json.loads(paths["anova-arm_session_z_sidecar"].read_text())
    assert zside["stat"] == "z" and zside["smoothness"]["source"] == "residuals"
    prov = json.loads(paths["provenance"].read_text())
    assert prov["file_names"]["terms"]["arm:session"] == "arm_session"
    # t and F maps with voxelwise df: GRF refuses them, from the file or in memory
    for src in (paths["coef-arm_T_sham_session_T_post_t"], res.t_img("session[T.post]"),
                paths["anova-arm_session_F"]):
        with pytest.raises(DataError, match="degrees of freedom vary over voxels"):
            grf_cluster_correct(src, 0.001, 0.05, two_tailed=False, atlas=False)
    with pytest.raises(DataError, match="vary over voxels"):
        grf_cluster_correct(paths["coef-arm_T_sham_session_T_post_t"], 0.001, 0.05, df=30,
                            atlas=False)
    # the z map is corrected, with the residual smoothness of its sidecar (these small test
    # maps are rougher than GRF wants, which is warned)
    with pytest.warns(InferenceWarning, match="below 2 voxels"):
        cr = grf_cluster_correct(paths["anova-arm_session_z"], 0.001, 0.05,
                                 two_tailed=False, atlas=False)
    assert cr.stat == "z" and "sidecar" in cr.parameters["smoothness_from"]
    assert_allclose(cr.smoothness.dlh, res.smoothness.dlh)


def test_a_4d_image_and_a_mask(tmp_path):
    data, missing = _trial(seed=14, n_sub=10, dropout=0.2)
    maps = _maps(data, np.random.default_rng(15), np.array([1.0]))
    img4 = nib.Nifti1Image(np.moveaxis(maps, 0, -1), AFFINE)
    mask = np.zeros(SHAPE, np.uint8)
    mask[2:6, 2:6, 1:4] = 1
    full = voxelwise_lmm(img4, data, "~ session", mask_img=nib.Nifti1Image(mask, AFFINE),
                         estimate_smoothness=False)
    assert full.n_voxels == mask.sum() and full.n_obs == len(data)
    # rows without a value are left out of a 4-D image too
    part = data.assign(session=data["session"].where(~missing))
    with pytest.warns(PainmarkersWarning, match="excluded"):
        sub = voxelwise_lmm(img4, part, "~ session", estimate_smoothness=False)
    listed = voxelwise_lmm(_images(maps[~missing]), data[~missing], "~ session",
                           estimate_smoothness=False)
    assert_allclose(sub.t_img("session[T.post]").get_fdata(),
                    listed.t_img("session[T.post]").get_fdata(), rtol=1e-12)
    assert "imgs volume" in sub.parameters["images"][0]


def test_bad_input():
    data, _ = _trial(seed=16, n_sub=8, dropout=0.0)
    maps = _maps(data, np.random.default_rng(17), np.array([1.0]))
    imgs = _images(maps)
    with pytest.raises(DataError, match="imgs has 23 images but data has 24 rows"):
        voxelwise_lmm(imgs[:-1], data, "~ session")
    other = list(imgs)
    other[5] = nib.Nifti1Image(maps[5][:-1], AFFINE)
    with pytest.raises(ImageError, match=r"imgs\[5\]"):
        voxelwise_lmm(other, data, "~ session")
    with pytest.raises(DataError, match=r"'visit'.*not a column"):
        voxelwise_lmm(imgs, data, "~ arm * visit")
    with pytest.raises(ValueError, match="left-hand side"):
        voxelwise_lmm(imgs, data, "alff ~ arm")
    with pytest.raises(ValueError, match="random intercept"):
        voxelwise_lmm(imgs, data, "~ arm", random="1 + age")
    with pytest.raises(ValueError, match="'ddf' parameter of voxelwise_lmm"):
        voxelwise_lmm(imgs, data, "~ arm", ddf="wald")
    with pytest.raises(ValueError, match="needs a REML fit"):
        voxelwise_lmm(imgs, data, "~ arm", ddf="kenward-roger", reml=False)
    with pytest.raises(TypeError, match="'data' parameter"):
        voxelwise_lmm(imgs, data.to_numpy(), "~ arm")
    with pytest.raises(DataError, match="subject column 'id'"):
        voxelwise_lmm(imgs, data, "~ arm", subject="id")
    bad = data.copy()
    bad.loc[1, "arm"] = "active" if bad.loc[1, "arm"] == "sham" else "sham"
    with pytest.raises(DataError, match="'arm' is a between-subject column"):
        voxelwise_lmm(imgs, bad, "~ arm", between="arm")
    with pytest.raises(DesignError, match="rank deficient"):
        voxelwise_lmm(imgs, data.assign(age2=2 * data["age"]), "~ age + age2")
    bad_map = maps[2].copy()
    bad_map[0, 0, 0] = np.nan
    nan = [nib.Nifti1Image(bad_map if i == 2 else m, AFFINE) for i, m in enumerate(maps)]
    with pytest.raises(DataError, match=r"imgs\[2\].*NaN"):
        voxelwise_lmm(nan, data, "~ arm", mask_img=nib.Nifti1Image(np.ones(SHAPE, np.uint8),
                                                                   AFFINE))


def test_null_interaction_p_is_uniform_over_independent_voxels():
    """3000 independent null voxels (20 % dropout): the Type III arm x session p is uniform."""
    data, missing = _trial(seed=30, n_sub=40, dropout=0.2)
    rng = np.random.default_rng(31)
    codes = pd.Categorical(data["subject_id"]).codes
    shape = (30, 10, 10)
    y = 5.0 + rng.standard_normal((40, *shape))[codes] + rng.standard_normal((len(data), *shape))
    imgs = [None if miss else nib.Nifti1Image(m, AFFINE) for m, miss in zip(y, missing)]
    with pytest.warns(PainmarkersWarning, match="excluded"):
        res = voxelwise_lmm(imgs, data, "~ arm * session", estimate_smoothness=False)
    for term in ("arm:session", "session"):
        p = res.anova_maps[term]["p"].get_fdata().ravel()
        assert stats.kstest(p, "uniform").pvalue > 0.001, term
        assert abs(np.mean(p < 0.05) - 0.05) < 3 * np.sqrt(0.05 * 0.95 / p.size), term
    t = res.fixed_effect_maps["arm[T.sham]:session[T.post]"]
    u = stats.t.cdf(t["t"].get_fdata().ravel(), t["df"].get_fdata().ravel())
    assert stats.kstest(u, "uniform").pvalue > 0.001
