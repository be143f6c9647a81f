"""voxelwise_ttest against scipy, statsmodels, pingouin and nilearn on generated maps."""

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.api as sm
from scipy import stats

from painmarkers.exceptions import DataError, DesignError, ImageError
from painmarkers.inference import VoxelwiseResult, estimate_smoothness, voxelwise_ttest

from .conftest import smooth_field

SHAPE = (8, 9, 7)
AFFINE = np.array([[-3.0, 0, 0, 30], [0, 3, 0, -40], [0, 0, 3, -20], [0, 0, 0, 1]])


def _maps(rng, n, offset=0.0, fwhm=2.0):
    data = np.stack([smooth_field(rng, SHAPE, fwhm) for _ in range(n)]) + offset
    return data, [nib.Nifti1Image(d.astype(np.float32), AFFINE) for d in data]


def _stored(imgs):
    return np.stack([im.get_fdata() for im in imgs])


def _mask():
    m = np.zeros(SHAPE, bool)
    m[1:7, 1:8, 1:6] = True
    return m, nib.Nifti1Image(m.astype(np.uint8), AFFINE)


def _ols_t(y, x, c):
    fit = sm.OLS(y, x).fit()
    tt = fit.t_test(c)
    return float(np.squeeze(tt.tvalue)), float(np.squeeze(tt.effect)), fit


def test_one_sample_matches_scipy_statsmodels_nilearn():
    rng = np.random.default_rng(0)
    _, imgs = _maps(rng, 15, offset=0.3)
    y = _stored(imgs)
    m, mimg = _mask()
    res = voxelwise_ttest(imgs, mask_img=mimg)
    assert isinstance(res, VoxelwiseResult) and res.df == 14 and res.n == 15
    t_ref, p_ref = stats.ttest_1samp(y[:, m], 0.0)
    np.testing.assert_allclose(res.t_img.get_fdata()[m], t_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.z_img.get_fdata()[m],
                               np.sign(t_ref) * stats.norm.isf(p_ref / 2), rtol=1e-7)
    np.testing.assert_allclose(res.effect_img.get_fdata()[m], y[:, m].mean(0), rtol=1e-8)
    d_ref = y[:, m].mean(0) / y[:, m].std(0, ddof=1)
    np.testing.assert_allclose(res.cohen_d_img.get_fdata()[m], d_ref, rtol=1e-8)
    assert np.all(res.t_img.get_fdata()[~m] == 0)
    assert res.r_img is None
    # nilearn's SecondLevelModel on the same images and mask
    from nilearn.glm.second_level import SecondLevelModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slm = SecondLevelModel(mask_img=mimg).fit(
            imgs, design_matrix=pd.DataFrame({"intercept": np.ones(15)}))
        out = slm.compute_contrast("intercept", output_type="all")
    np.testing.assert_allclose(res.t_img.get_fdata()[m], out["stat"].get_fdata()[m],
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.z_img.get_fdata()[m], out["z_score"].get_fdata()[m],
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.effect_img.get_fdata()[m],
                               out["effect_size"].get_fdata()[m], rtol=1e-6, atol=1e-7)


def test_two_sample_with_covariates_matches_statsmodels_and_nilearn():
    rng = np.random.default_rng(1)
    _, imgs = _maps(rng, 18, offset=5.0)
    y = _stored(imgs)
    groups = np.array(["CLBP"] * 10 + ["HC"] * 8)
    age = rng.normal(45, 10, 18)
    m, mimg = _mask()
    res = voxelwise_ttest(imgs, "two_sample", labels=groups, covariates=pd.DataFrame({"age": age}),
                          mask_img=mimg)
    assert res.contrast == "CLBP - HC" and res.df == 15
    x = np.c_[groups == "CLBP", groups == "HC", age - age.mean()].astype(float)
    for v in np.argwhere(m)[::17]:
        t, eff, fit = _ols_t(y[(slice(None), *v)], x, [1, -1, 0])
        np.testing.assert_allclose(res.t_img.get_fdata()[tuple(v)], t, rtol=1e-8)
        np.testing.assert_allclose(res.effect_img.get_fdata()[tuple(v)], eff, rtol=1e-7)
        assert res.df == fit.df_resid
        d = eff / np.sqrt(fit.scale)
        np.testing.assert_allclose(res.cohen_d_img.get_fdata()[tuple(v)], d, rtol=1e-7)
    from nilearn.glm.second_level import SecondLevelModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slm = SecondLevelModel(mask_img=mimg).fit(
            imgs, design_matrix=pd.DataFrame(x, columns=["clbp", "hc", "age"]))
        out = slm.compute_contrast([1, -1, 0], output_type="all")
    np.testing.assert_allclose(res.t_img.get_fdata()[m], out["stat"].get_fdata()[m],
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.z_img.get_fdata()[m], out["z_score"].get_fdata()[m],
                               rtol=1e-6, atol=1e-6)


def test_two_sample_without_covariates_equals_student_and_pingouin_d():
    rng = np.random.default_rng(2)
    _, imgs = _maps(rng, 12)
    y = _stored(imgs)
    groups = ["b", "a"] * 6
    res = voxelwise_ttest(imgs, "two_sample", labels=groups, levels=["a", "b"],
                          estimate_smoothness=False)
    a, b = y[1::2].reshape(6, -1), y[0::2].reshape(6, -1)
    t_ref = stats.ttest_ind(a, b).statistic
    np.testing.assert_allclose(res.t_img.get_fdata().ravel(), t_ref, rtol=1e-8)
    d_ref = [pg.compute_effsize(a[:, i], b[:, i], eftype="cohen")
             for i in range(0, a.shape[1], 50)]
    np.testing.assert_allclose(res.cohen_d_img.get_fdata().ravel()[::50], d_ref, rtol=1e-8)
    assert res.parameters["n_per_group"] == {"a": 6, "b": 6}


def test_paired_matches_ttest_rel_and_dpabi_design():
    rng = np.random.default_rng(3)
    n = 11
    pre, pre_imgs = _maps(rng, n)
    post, post_imgs = _maps(rng, n)
    post_imgs = [nib.Nifti1Image((p + 0.4 * q).astype(np.float32), AFFINE)
                 for p, q in zip(post, pre)]
    imgs = pre_imgs + post_imgs
    y = _stored(imgs)
    subjects = [f"s{i:02d}" for i in range(n)] * 2
    cond = ["pre"] * n + ["post"] * n
    # shuffle the order to check matching by subject id
    order = rng.permutation(2 * n)
    res = voxelwise_ttest([imgs[i] for i in order], "paired",
                          labels=[cond[i] for i in order], subjects=[subjects[i] for i in order],
                          levels=("post", "pre"), estimate_smoothness=False)
    assert res.df == n - 1 and res.contrast == "post - pre"
    diff = (y[n:] - y[:n]).reshape(n, -1)
    t_ref = stats.ttest_rel(y[n:].reshape(n, -1), y[:n].reshape(n, -1)).statistic
    np.testing.assert_allclose(res.t_img.get_fdata().ravel(), t_ref, rtol=1e-8)
    np.testing.assert_allclose(res.effect_img.get_fdata().ravel(), diff.mean(0), rtol=1e-7,
                               atol=1e-12)
    np.testing.assert_allclose(res.cohen_d_img.get_fdata().ravel(),
                               diff.mean(0) / diff.std(0, ddof=1), rtol=1e-8)
    # with a session-level covariate: DPABI design (+-1 column, subject dummies, covariate)
    motion = rng.normal(0.1, 0.03, 2 * n)
    res_c = voxelwise_ttest(imgs, "paired", labels=cond, subjects=subjects,
                            levels=("post", "pre"), covariates={"fd": motion},
                            estimate_smoothness=False)
    assert res_c.df == n - 1 - 1
    x = np.c_[np.where(np.array(cond) == "post", 1.0, -1.0),
              np.kron(np.ones((2, 1)), np.eye(n)), motion - motion.mean()]
    for v in [(2, 3, 3), (5, 6, 2)]:
        t, _, _ = _ols_t(y[(slice(None), *v)], x, np.r_[1.0, np.zeros(n + 1)])
        np.testing.assert_allclose(res_c.t_img.get_fdata()[v], t, rtol=1e-8)


def test_correlation_and_partial_correlation():
    rng = np.random.default_rng(4)
    _data, imgs = _maps(rng, 20)
    vas = pd.Series(rng.uniform(2, 9, 20), name="VAS")
    age = rng.normal(40, 8, 20)
    res = voxelwise_ttest(imgs, "correlation", variable=vas, estimate_smoothness=False)
    y = _stored(imgs).reshape(20, -1)
    r_ref = np.array([stats.pearsonr(vas, y[:, i]).statistic for i in range(y.shape[1])])
    np.testing.assert_allclose(res.r_img.get_fdata().ravel(), r_ref, rtol=1e-7, atol=1e-10)
    assert res.df == 18 and res.contrast == "slope of VAS"
    slope = np.polyfit(vas, y, 1)[0]
    np.testing.assert_allclose(res.effect_img.get_fdata().ravel(), slope, rtol=1e-7)
    res_p = voxelwise_ttest(imgs, "correlation", variable=vas, covariates={"age": age},
                            estimate_smoothness=False)
    frame = pd.DataFrame({"vas": vas, "age": age})
    for i in (0, 77, 301):
        frame["y"] = y[:, i]
        ref = pg.partial_corr(frame, x="vas", y="y", covar="age")["r"].iloc[0]
        np.testing.assert_allclose(res_p.r_img.get_fdata().ravel()[i], ref, rtol=1e-7)
    r = res_p.r_img.get_fdata()
    np.testing.assert_allclose(res_p.cohen_d_img.get_fdata(), 2 * r / np.sqrt(1 - r ** 2),
                               rtol=1e-10)


def test_correlation_t_and_r_from_t_match_statsmodels():
    # t of the slope from statsmodels OLS ([1, VAS] and [1, VAS, age]); r = t / sqrt(df + t^2)
    rng = np.random.default_rng(12)
    _data, imgs = _maps(rng, 17)
    vas = rng.uniform(2, 9, 17)
    age = rng.normal(40, 8, 17)
    y = _stored(imgs).reshape(17, -1)
    for covariates, x in ((None, np.c_[np.ones(17), vas]),
                          ({"age": age}, np.c_[np.ones(17), vas, age])):
        res = voxelwise_ttest(imgs, "correlation", variable=vas, covariates=covariates,
                              estimate_smoothness=False)
        t_map = res.t_img.get_fdata().ravel()
        z_map = res.z_img.get_fdata().ravel()
        r_map = res.r_img.get_fdata().ravel()
        c = np.zeros(x.shape[1])
        c[1] = 1.0
        for i in (0, 41, 250, 503):
            t, _, fit = _ols_t(y[:, i], x, c)
            assert res.df == fit.df_resid == 17 - x.shape[1]
            np.testing.assert_allclose(t_map[i], t, rtol=1e-8)
            np.testing.assert_allclose(z_map[i], np.sign(t) * stats.norm.isf(
                stats.t.sf(abs(t), fit.df_resid)), rtol=1e-7)
            np.testing.assert_allclose(r_map[i], t / np.sqrt(fit.df_resid + t * t), rtol=1e-8)


def test_residual_smoothness_equals_explicit_residuals():
    rng = np.random.default_rng(5)
    _, imgs = _maps(rng, 16, offset=100.0, fwhm=3.0)
    y = _stored(imgs)
    groups = ["a"] * 8 + ["b"] * 8
    m, mimg = _mask()
    res = voxelwise_ttest(imgs, "two_sample", labels=groups, mask_img=mimg, block_size=5)
    x = np.c_[np.r_[np.ones(8), np.zeros(8)], np.r_[np.zeros(8), np.ones(8)]]
    yy = y[:, m]
    resid = yy - x @ np.linalg.lstsq(x, yy, rcond=None)[0]
    res4d = np.zeros((*SHAPE, 16))
    res4d[m] = resid.T
    ref = estimate_smoothness(nib.Nifti1Image(res4d, AFFINE), mimg, dof=14)
    np.testing.assert_allclose(res.smoothness.fwhm_voxels, ref.fwhm_voxels, rtol=1e-6)
    np.testing.assert_allclose(res.smoothness.dlh, ref.dlh, rtol=1e-6)
    assert res.smoothness.n_voxels == ref.n_voxels == m.sum()


def test_paths_4d_blocks_threads_and_offset_agree(tmp_path):
    rng = np.random.default_rng(6)
    _, imgs = _maps(rng, 9, offset=1e4)
    paths = []
    for i, im in enumerate(imgs):
        p = tmp_path / f"sub-{i:02d}_alff.nii.gz"
        nib.save(im, p)
        paths.append(str(p))
    four_d = nib.Nifti1Image(np.stack([im.get_fdata() for im in imgs], axis=-1), AFFINE)
    base = voxelwise_ttest(imgs)
    for other in (voxelwise_ttest(paths, block_size=2, n_jobs=2), voxelwise_ttest(four_d),
                  voxelwise_ttest(pd.Series(paths))):
        np.testing.assert_allclose(other.t_img.get_fdata(), base.t_img.get_fdata(), rtol=1e-10)
        np.testing.assert_allclose(other.smoothness.fwhm_voxels, base.smoothness.fwhm_voxels,
                                   rtol=1e-8)
    y = _stored(imgs).reshape(9, -1)
    np.testing.assert_allclose(base.t_img.get_fdata().ravel(),
                               stats.ttest_1samp(y, 0).statistic, rtol=1e-9)
    assert base.parameters["images"][0] == f"imgs[0] ({paths[0]})"  # saved: named by file


def test_default_mask_excludes_zero_or_nan_voxels_and_zero_variance():
    rng = np.random.default_rng(7)
    data, _ = _maps(rng, 8)
    data[:, 0, 0, 0] = 0.0  # background
    data[3, 1, 1, 1] = np.nan  # invalid in one image
    data[:, 2, 2, 2] = 5.0  # constant: zero variance
    imgs = [nib.Nifti1Image(d, AFFINE) for d in data]
    res = voxelwise_ttest(imgs)
    mask = res.mask_img.get_fdata().astype(bool)
    assert not mask[0, 0, 0] and not mask[1, 1, 1] and mask[2, 2, 2]
    assert res.n_voxels == np.prod(SHAPE) - 2 and res.n_zero_variance == 1
    assert res.parameters["n_voxels_excluded"] == 2
    assert res.t_img.get_fdata()[2, 2, 2] == 0
    assert "zero variance" in res.summary()


def test_save_and_frame(tmp_path):
    rng = np.random.default_rng(8)
    _, imgs = _maps(rng, 10)
    res = voxelwise_ttest(imgs, "correlation", variable=np.arange(10.0))
    paths = res.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["tmap.nii.gz", "tmap.json", "zmap.nii.gz", "zmap.json", "effect.nii.gz",
         "cohen_d.nii.gz", "rmap.nii.gz", "mask.nii.gz", "design_matrix.tsv", "provenance.json"])
    prov = json.loads(paths["provenance"].read_text())
    assert prov["design"] == "correlation" and prov["df"] == 8 and prov["n"] == 10
    np.testing.assert_allclose(nib.load(paths["tmap"]).get_fdata(), res.t_img.get_fdata())
    frame = res.to_frame()
    assert list(frame.columns) == ["i", "j", "k", "x", "y", "z", "t", "z_score", "effect",
                                   "cohen_d", "r"]
    assert len(frame) == res.n_voxels
    row = frame.iloc[5]
    np.testing.assert_allclose([row.x, row.y, row.z],
                               (AFFINE @ np.r_[row.i, row.j, row.k, 1])[:3])


def test_bad_input(tmp_path):
    rng = np.random.default_rng(9)
    _, imgs = _maps(rng, 6)
    p0 = tmp_path / "sub-01.nii.gz"
    p1 = tmp_path / "sub-02.nii.gz"
    nib.save(imgs[0], p0)
    nib.save(nib.Nifti1Image(np.zeros((8, 9, 6), np.float32), AFFINE), p1)
    with pytest.raises(ImageError, match=r"imgs\[1\] \(.*sub-02.nii.gz\) has shape \(8, 9, 6\)"
                                         r".*imgs\[0\] \(.*sub-01"):
        voxelwise_ttest([p0, p1, *imgs[2:]])
    nib.save(nib.Nifti1Image(imgs[1].get_fdata(), np.eye(4)), p1)
    with pytest.raises(ImageError, match=r"sub-02\.nii\.gz\) and imgs\[0\] .* have different "
                                         r"affines"):
        voxelwise_ttest([p0, p1, *imgs[2:]])
    nan = imgs[1].get_fdata().copy()
    nan[3, 3, 3] = np.nan
    nib.save(nib.Nifti1Image(nan, AFFINE), p1)
    _m, mimg = _mask()
    with pytest.raises(DataError, match=r"sub-02.nii.gz\) has 1 NaN/inf voxel\(s\) inside "
                                        r"mask_img \(first at voxel \(3, 3, 3\)\)"):
        voxelwise_ttest([p0, p1, *imgs[2:]], mask_img=mimg)
    with pytest.raises(DataError, match="mask_img is empty"):
        voxelwise_ttest(imgs, mask_img=nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE))
    with pytest.raises(ImageError, match="mask_img has shape"):
        voxelwise_ttest(imgs, mask_img=nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), AFFINE))
    with pytest.raises(DesignError, match=r"subject 's2' has 0 image\(s\) for 'post'"):
        voxelwise_ttest(imgs, "paired", labels=["pre", "post", "pre", "post", "pre", "pre"],
                        subjects=["s1", "s1", "s2", "s3", "s3", "s4"])
    with pytest.raises(DesignError, match="needs 'subjects'"):
        voxelwise_ttest(imgs, "paired", labels=["pre", "post"] * 3)
    with pytest.raises(DesignError, match=r"column 'age_months' is a linear combination of"
                                          r" \['age'\]"):
        age = np.arange(6.0)
        voxelwise_ttest(imgs, covariates={"age": age, "age_months": 12 * age})
    with pytest.raises(DesignError, match=r"rank deficient.*'sex'"):
        voxelwise_ttest(imgs, "two_sample", labels=list("aaabbb"),
                        covariates={"sex": [1.0, 1, 1, 0, 0, 0]})
    with pytest.raises(DesignError, match="0 residual degrees of freedom"):
        voxelwise_ttest(imgs, covariates=rng.normal(size=(6, 5)))
    with pytest.raises(DesignError, match="exactly 2 levels"):
        voxelwise_ttest(imgs, "two_sample", labels=list("aabbcc"))
    with pytest.raises(DataError, match="'labels' has 5 entries for 6 images"):
        voxelwise_ttest(imgs, "two_sample", labels=list("aabbb"))
    with pytest.raises(DataError, match=r"covariates column 'age' has missing .* image\(s\) "
                                        r"\[2\]"):
        voxelwise_ttest(imgs, covariates={"age": [1, 2, np.nan, 4, 5, 6]})
    with pytest.raises(DesignError, match="needs 'variable'"):
        voxelwise_ttest(imgs, "correlation")
    with pytest.raises(ValueError, match="'design' parameter must be one of"):
        voxelwise_ttest(imgs, "anova")
    with pytest.raises(ImageError, match="single 3-D image"):
        voxelwise_ttest(imgs[0])
    with pytest.raises(DataError, match="empty"):
        voxelwise_ttest([])
    with pytest.raises(ImageError, match="does not exist"):
        voxelwise_ttest([tmp_path / "missing.nii.gz"] * 3)
