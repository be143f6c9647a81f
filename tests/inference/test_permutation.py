"""Tests of permutation cluster inference (painmarkers.inference.permutation).

Reference values are computed independently in the tests: scipy.stats t tests
and scipy.ndimage.label looping over the very same permutations, statsmodels
OLS for covariate models, nilearn's permuted_ols / non_parametric_inference.
"""

from __future__ import annotations

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import ndimage, stats

from painmarkers.exceptions import DataError, DesignError, ImageError
from painmarkers.inference import (
    ClusterResult,
    PermutationClusterResult,
    permutation_cluster_correct,
    voxelwise_ttest,
)
from painmarkers.inference._permutation_glm import build_model, ratio_block, ratio_to_t, t_block
from painmarkers.inference._sparse_clusters import MaskNeighbours, block_cluster_maxima
from painmarkers.inference._tfce import tfce_block
from painmarkers.inference.permutation import _block_maxima, _draw_operations
from painmarkers.schema import CLUSTER_COLUMNS

SHAPE = (12, 12, 10)
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
STRUCT = {6: 1, 18: 2, 26: 3}


def smooth_maps(rng, n, shape=SHAPE, sigma=1.0):
    """Gaussian-filtered white noise, standardised to unit variance per map."""
    out = np.empty((n, *shape))
    for i in range(n):
        x = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
        out[i] = x / x.std()
    return out


def to_imgs(data):
    return [nib.Nifti1Image(d.astype(np.float32), AFFINE) for d in data]


def full_mask(shape=SHAPE):
    return nib.Nifti1Image(np.ones(shape, np.uint8), AFFINE)


def blob(shape=SHAPE, centre=(4, 4, 4), radius=1):
    m = np.zeros(shape, bool)
    sl = tuple(slice(c - radius, c + radius + 1) for c in centre)
    m[sl] = True
    return m


# --- naive reference: loop over permutations with scipy -------------------------------------
def naive_maxima(t_maps, threshold, connectivity, two_tailed):
    """max |t|, max cluster size and mass per map, with scipy.ndimage.label."""
    struct = ndimage.generate_binary_structure(3, STRUCT[connectivity])
    rows = []
    for t in t_maps:
        max_t = np.abs(t).max() if two_tailed else t.max()
        best_size, best_mass = 0, 0.0
        for sign in ((1, -1) if two_tailed else (1,)):
            lab, n = ndimage.label(sign * t > threshold, struct)
            for c in range(1, n + 1):
                sel = lab == c
                best_size = max(best_size, int(sel.sum()))
                best_mass = max(best_mass, float((sign * t[sel] - threshold).sum()))
        rows.append((max_t, best_size, best_mass))
    return np.array(rows)


def naive_tfce(t, dh, E=0.5, H=2.0, connectivity=26):
    """TFCE of the positive part of a 3-D map, one ndimage.label per threshold."""
    struct = ndimage.generate_binary_structure(3, STRUCT[connectivity])
    out = np.zeros_like(t)
    j = 1
    while j * dh <= t.max():
        lab, _ = ndimage.label(t >= j * dh, struct)
        sizes = np.bincount(lab.ravel()).astype(float)
        sizes[0] = 0
        out += sizes[lab] ** E * (j * dh) ** H * dh
        j += 1
    return out


# --- engine ------------------------------------------------------------------------------------
def test_t_block_matches_scipy_and_statsmodels():
    rng = np.random.default_rng(1)
    n, v = 14, 30
    y = rng.standard_normal((n, v)) + 0.4
    flips = rng.choice([-1.0, 1.0], size=(6, n))
    model = build_model(y, np.ones(n), None, "sign_flip")
    expected = np.array([stats.ttest_1samp(y * s[:, None], 0).statistic for s in flips])
    np.testing.assert_allclose(t_block(model, flips), expected, rtol=1e-10, atol=1e-12)

    g = np.r_[np.ones(6), np.zeros(8)]
    perms = np.array([rng.permutation(n) for _ in range(6)])
    model = build_model(y, g, np.ones((n, 1)), "permute")
    assert model.used_columns == (1,)  # the intercept column is skipped
    expected = np.array([stats.ttest_ind(y[g[p] == 1], y[g[p] == 0]).statistic for p in perms])
    np.testing.assert_allclose(t_block(model, perms), expected, rtol=1e-10, atol=1e-12)

    # Freedman-Lane with covariates: refit the full model on rearranged residuals
    cov = rng.standard_normal((n, 2))
    cov -= cov.mean(0)
    z = np.c_[np.ones(n), cov]
    resid = y - z @ np.linalg.lstsq(z, y, rcond=None)[0]
    model = build_model(y, g, z, "permute")
    got = t_block(model, perms)
    for i, p in enumerate(perms[:3]):
        for j in range(0, v, 7):
            fit = sm.OLS(resid[np.argsort(p), j], np.c_[z, g]).fit()
            np.testing.assert_allclose(got[i, j], fit.tvalues[-1], rtol=1e-9)
    model = build_model(y, np.ones(n), cov, "sign_flip")
    got = t_block(model, flips)
    resid = y - cov @ np.linalg.lstsq(cov, y, rcond=None)[0]
    for i, s in enumerate(flips[:3]):
        for j in range(0, v, 7):
            fit = sm.OLS(s * resid[:, j], np.c_[np.ones(n), cov]).fit()
            np.testing.assert_allclose(got[i, j], fit.tvalues[0], rtol=1e-9)


def test_ratio_block_gives_the_same_t():
    rng = np.random.default_rng(15)
    n, v = 16, 40
    y = rng.standard_normal((n, v))
    y[:, 3] = 2.0  # constant voxel: t = 0 under label permutation
    cov = rng.standard_normal((n, 2))
    flips = rng.choice([-1.0, 1.0], size=(5, n))
    perms = np.array([rng.permutation(n) for _ in range(5)])
    g = np.r_[np.ones(7), np.zeros(9)]
    cases = [(build_model(y, np.ones(n), None, "sign_flip"), flips),
             (build_model(y, np.ones(n), cov - cov.mean(0), "sign_flip"), flips),
             (build_model(y, g, np.ones((n, 1)), "permute"), perms),
             (build_model(y, g, np.c_[np.ones(n), cov], "permute"), perms)]
    for model, ops in cases:
        t = t_block(model, ops)
        last, ratio = ratio_block(model, ops)
        np.testing.assert_allclose(ratio_to_t(ratio, model.df, sign=last), t, rtol=1e-9,
                                   atol=1e-12)
        if model.scheme == "permute":
            np.testing.assert_array_equal(t[:, 3], 0.0)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_sparse_labelling_matches_ndimage(connectivity):
    rng = np.random.default_rng(2)
    mask = np.zeros(SHAPE, bool)
    mask[1:-1, 2:, 1:-2] = True
    mask[5, 5, 5] = False
    maps = smooth_maps(rng, 15, sigma=1.2)
    maps[:, ~mask] = 0
    nb = MaskNeighbours(mask, connectivity)
    size, mass = block_cluster_maxima(maps[:, mask], 1.2, nb, two_tailed=True)
    ref = naive_maxima(maps, 1.2, connectivity, True)
    np.testing.assert_array_equal(size, ref[:, 1])
    np.testing.assert_allclose(mass, ref[:, 2], rtol=1e-12)
    size1, _ = block_cluster_maxima(maps[:, mask], 1.2, nb, two_tailed=False)
    np.testing.assert_array_equal(size1, naive_maxima(maps, 1.2, connectivity, False)[:, 1])


@pytest.mark.parametrize("connectivity", [6, 26])
def test_tfce_matches_threshold_loop(connectivity):
    rng = np.random.default_rng(3)
    maps = smooth_maps(rng, 3, sigma=1.2) * 2.5
    mask = np.ones(SHAPE, bool)
    nb = MaskNeighbours(mask, connectivity)
    got = tfce_block(maps.reshape(3, -1), nb, dh=0.1)
    for i in range(3):
        ref = naive_tfce(maps[i], 0.1, connectivity=connectivity)
        np.testing.assert_allclose(got[i], ref.ravel(), rtol=1e-10, atol=1e-10)
    got = tfce_block(maps.reshape(3, -1), nb, dh=0.25, extent=1.0, height=1.5)
    ref = naive_tfce(maps[0], 0.25, E=1.0, H=1.5, connectivity=connectivity)
    np.testing.assert_allclose(got[0], ref.ravel(), rtol=1e-10, atol=1e-10)


# --- full function against a naive loop over the same permutations -----------------------------
@pytest.mark.parametrize("design", ["one_sample", "two_sample", "paired"])
def test_null_distribution_equals_naive_loop(design):
    rng = np.random.default_rng(4)
    n = 12
    data = smooth_maps(rng, n)
    kw = {}
    if design == "one_sample":
        data[:, blob()] += 1.0
    if design == "two_sample":
        data[:5, blob()] += 1.5
        kw["labels"] = ["pat"] * 5 + ["hc"] * 7
    if design == "paired":
        data[0::2, blob()] += 1.0
        kw["labels"] = ["pre", "post"] * 6
        kw["subjects"] = np.repeat(np.arange(6), 2)
    n_perm, seed, voxel_p, conn = 60, 11, 0.01, 18
    res = permutation_cluster_correct(to_imgs(data), design, mask_img=full_mask(),
                                      voxel_p=voxel_p, cluster_stat="mass",
                                      n_permutations=n_perm, connectivity=conn,
                                      random_state=seed, atlas=False, **kw)
    # the same rearrangements as the function draws
    y = data.astype(np.float32).astype(float)
    if design == "one_sample":
        ops = _draw_operations("sign_flip", n, n_perm, np.random.default_rng(seed))
        maps = [stats.ttest_1samp(y * s[:, None, None, None], 0).statistic for s in ops]
        obs = stats.ttest_1samp(y, 0).statistic
        df = n - 1
    elif design == "paired":
        d = y[0::2] - y[1::2]  # first level ("pre") minus second
        ops = _draw_operations("sign_flip", 6, n_perm, np.random.default_rng(seed))
        maps = [stats.ttest_1samp(d * s[:, None, None, None], 0).statistic for s in ops]
        obs = stats.ttest_1samp(d, 0).statistic
        df = 5
    else:
        g = np.array(kw["labels"])
        ops = _draw_operations("permute", n, n_perm, np.random.default_rng(seed))
        maps = [stats.ttest_ind(y[g[p] == "pat"], y[g[p] == "hc"]).statistic for p in ops]
        obs = stats.ttest_ind(y[g == "pat"], y[g == "hc"]).statistic
        df = n - 2
    threshold = stats.t.isf(voxel_p / 2, df)
    ref = naive_maxima([obs, *maps], threshold, conn, True)
    null = res.null_distribution
    assert list(null["permutation"]) == list(range(n_perm + 1))
    np.testing.assert_allclose(null["max_t"], ref[:, 0], rtol=1e-9)
    np.testing.assert_array_equal(null["max_size"], ref[:, 1])
    np.testing.assert_allclose(null["max_mass"], ref[:, 2], rtol=1e-9)
    np.testing.assert_allclose(np.asarray(res.t_img.dataobj), obs, rtol=1e-5, atol=1e-5)
    assert res.parameters["cluster_forming_t"] == pytest.approx(threshold, rel=1e-12)
    # cluster p = (C + 1) / (n_perm + 1), identity included, from the naive masses
    table = res.clusters
    struct = ndimage.generate_binary_structure(3, STRUCT[conn])
    lab, _ = ndimage.label(obs > threshold, struct)
    top = np.bincount(lab.ravel())[1:].argmax() + 1
    mass = float((obs[lab == top] - threshold).sum())
    c = int(np.sum(ref[1:, 2] >= mass - 1e-9))
    row = table.loc[table["size_voxels"] == int((lab == top).sum())].iloc[0]
    assert row["p_cluster"] == pytest.approx((c + 1) / (n_perm + 1), rel=1e-12)
    # voxel-level FWE p from max |t|
    vox_p = np.asarray(res.voxel_fwe_p_img.dataobj)
    for j in [np.unravel_index(np.argmax(np.abs(obs)), SHAPE), (5, 9, 2), (0, 0, 0)]:
        expected = np.mean(ref[:, 0] >= abs(obs[j]) - 1e-9)
        assert vox_p[j] == pytest.approx(expected, abs=1e-6)
    assert vox_p.min() >= 1 / (n_perm + 1) - 1e-7


def test_tfce_null_and_map_equal_naive(tmp_path):
    rng = np.random.default_rng(5)
    n, n_perm, seed = 10, 15, 3
    data = smooth_maps(rng, n)
    data[:, blob()] += 1.2
    res = permutation_cluster_correct(to_imgs(data), mask_img=full_mask(), cluster_stat="tfce",
                                      n_permutations=n_perm, random_state=seed, atlas=False,
                                      tfce_params={"dh": 0.2})
    y = data.astype(np.float32).astype(float)
    ops = _draw_operations("sign_flip", n, n_perm, np.random.default_rng(seed))
    obs = stats.ttest_1samp(y, 0).statistic
    ref_map = naive_tfce(obs, 0.2) - naive_tfce(-obs, 0.2)
    np.testing.assert_allclose(np.asarray(res.stat_img.dataobj), ref_map, rtol=1e-4, atol=1e-3)
    for i, s in enumerate(ops[:5], start=1):
        t = stats.ttest_1samp(y * s[:, None, None, None], 0).statistic
        expected = max(naive_tfce(t, 0.2).max(), naive_tfce(-t, 0.2).max())
        assert res.null_distribution["max_tfce"].iloc[i] == pytest.approx(expected, rel=1e-9)
    assert res.stat == "tfce" and res.voxel_p is None and res.height_threshold is None
    saved = res.save(tmp_path)
    np.testing.assert_allclose(nib.load(saved["tfce_map"]).get_fdata(), ref_map, rtol=1e-4,
                               atol=1e-3)
    p_map = np.asarray(res.p_img.dataobj)
    peak = np.unravel_index(np.argmax(np.abs(ref_map)), SHAPE)
    assert p_map[peak] == pytest.approx(1 / (n_perm + 1), rel=1e-6)


# --- agreement with other tools ----------------------------------------------------------------
@pytest.mark.parametrize("design", ["one_sample", "two_sample", "paired"])
def test_observed_t_equals_voxelwise_ttest(design):
    rng = np.random.default_rng(6)
    n = 16
    data = smooth_maps(rng, n) + 0.3
    kw = {"covariates": pd.DataFrame({"age": rng.normal(40, 10, n)})}
    if design == "two_sample":
        kw["labels"] = ["a", "b"] * 8
    if design == "paired":
        kw["labels"] = ["pre", "post"] * 8
        kw["subjects"] = np.repeat(np.arange(8), 2)
        kw["covariates"] = pd.DataFrame({"motion": rng.normal(0.2, 0.05, n)})
    imgs = to_imgs(data)
    ref = voxelwise_ttest(imgs, design, mask_img=full_mask(), estimate_smoothness=False, **kw)
    res = permutation_cluster_correct(imgs, design, mask_img=full_mask(), n_permutations=5,
                                      random_state=0, atlas=False, **kw)
    np.testing.assert_allclose(np.asarray(res.t_img.dataobj), np.asarray(ref.t_img.dataobj),
                               rtol=1e-5, atol=1e-5)
    assert res.df == ref.df
    assert res.parameters["contrast"] == ref.contrast


def test_matches_nilearn_permuted_ols():
    """Same data, design and number of permutations as nilearn (6-connectivity).

    The permutations differ (nilearn draws its own), so the null distributions
    of the maximum cluster size are compared by a two-sample KS test; the
    observed t map must be identical and the planted cluster significant in both.
    """
    from nilearn.maskers import NiftiMasker
    from nilearn.mass_univariate import permuted_ols

    rng = np.random.default_rng(7)
    n, n_perm = 20, 500
    data = smooth_maps(rng, n, sigma=1.2)
    data[:, blob(radius=1)] += 1.0
    imgs = to_imgs(data)
    res = permutation_cluster_correct(imgs, mask_img=full_mask(), voxel_p=0.01,
                                      connectivity=6, n_permutations=n_perm, random_state=1,
                                      atlas=False)
    masker = NiftiMasker(full_mask(), standardize=None).fit()
    y = masker.transform(imgs)
    with warnings.catch_warnings():  # nilearn writes its int64 cluster maps as int32
        warnings.filterwarnings("ignore", message="Data array used to create a new image",
                                category=UserWarning)
        out = permuted_ols(np.ones((n, 1)), y, model_intercept=False, n_perm=n_perm,
                           two_sided_test=True, random_state=1, threshold=0.01, masker=masker,
                           output_type="dict", verbose=0)
    np.testing.assert_allclose(np.asarray(res.t_img.dataobj)[np.ones(SHAPE, bool)],
                               out["t"].ravel(), rtol=1e-6, atol=1e-6)
    ours = res.null_distribution["max_size"].to_numpy()[1:]
    theirs = out["h0_max_size"].ravel()
    assert stats.ks_2samp(ours, theirs).pvalue > 0.01
    assert stats.ks_2samp(res.null_distribution["max_t"].to_numpy()[1:],
                          out["h0_max_t"].ravel()).pvalue > 0.01
    # the very same sign flips as nilearn (its RandomState stream, one job, flips
    # compounded from one permutation to the next) give the same null maxima
    seed = np.random.RandomState(1).randint(1, np.iinfo(np.int32).max - 1)
    chunk_rng = np.random.RandomState(seed)
    signs, current = [], np.ones(n)
    for _ in range(n_perm):
        current = current * (chunk_rng.randint(2, size=(n, 1)) * 2 - 1).ravel()
        signs.append(current)
    model = build_model(y.astype(float), np.ones(n), None, "sign_flip")
    nb = MaskNeighbours(np.ones(SHAPE, bool), 6)
    thr = stats.t.isf(0.01 / 2, n - 1)
    mine = _block_maxima(model, np.array(signs), thr, nb, True, "size", None)
    np.testing.assert_array_equal(mine[:, 1], out["h0_max_size"].ravel())
    np.testing.assert_allclose(mine[:, 2], out["h0_max_mass"].ravel(), rtol=1e-5)
    np.testing.assert_allclose(mine[:, 0], out["h0_max_t"].ravel(), rtol=1e-6)
    # both call the planted cluster significant; nilearn's p excludes the identity
    top = res.clusters.iloc[0]
    assert top["significant"]
    nl_p = 10 ** -out["logp_max_size"].ravel().reshape(SHAPE)
    assert nl_p[4, 4, 4] < 0.05


def test_tfce_map_matches_nilearn():
    """nilearn's TFCE uses 6-connectivity, 100 steps up to max|t|, and omits the factor dh."""
    from nilearn.glm.second_level import non_parametric_inference

    rng = np.random.default_rng(8)
    n = 12
    data = smooth_maps(rng, n)
    data[:, blob()] += 1.0
    imgs = to_imgs(data)
    design = pd.DataFrame({"intercept": np.ones(n)})
    with warnings.catch_warnings():  # nilearn's own deprecation notice about its masker
        warnings.simplefilter("ignore", FutureWarning)
        out = non_parametric_inference(imgs, design_matrix=design, mask=full_mask(), n_perm=5,
                                       two_sided_test=True, tfce=True, random_state=0,
                                       n_jobs=1, verbose=0)
    # dh from the float64 t map (nilearn's image holds a rounded copy)
    dh = np.abs(stats.ttest_1samp(data.astype(np.float32).astype(float), 0).statistic).max() / 100
    res = permutation_cluster_correct(imgs, mask_img=full_mask(), cluster_stat="tfce",
                                      n_permutations=2, random_state=0, atlas=False,
                                      connectivity=6, tfce_params={"dh": dh})
    ours = np.asarray(res.stat_img.dataobj)
    theirs = np.asarray(out["tfce"].dataobj) * dh
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


# --- validity -------------------------------------------------------------------------------
def _null_fwe(statistic, design, n_reps, n_perm, seed, covariate=False):
    """FWE rate on null smooth data; with ``covariate`` the maps carry a real
    nuisance effect of a covariate that is also correlated with group."""
    rng = np.random.default_rng(seed)
    hits = 0
    groups = np.array(["a"] * 7 + ["b"] * 7)
    for rep in range(n_reps):
        data = smooth_maps(rng, 14, sigma=1.2)
        kw = {"labels": list(groups)} if design == "two_sample" else {}
        if covariate:
            cov = rng.standard_normal(14) + (0.8 * (groups == "a") if kw else 0.0)
            cov -= cov.mean()
            data += 0.8 * cov[:, None, None, None]
            kw["covariates"] = {"age": cov}
        res = permutation_cluster_correct(to_imgs(data), design, mask_img=full_mask(),
                                          voxel_p=0.01, cluster_stat=statistic,
                                          n_permutations=n_perm, random_state=rep,
                                          atlas=False, **kw)
        hits += res.n_significant > 0
    return hits / n_reps


def test_null_fwe_small():
    # 40 null data sets; P(>= 8 false positives | FWE = 0.05) = 0.0006
    rate = _null_fwe("size", "one_sample", 40, 99, seed=20)
    assert rate <= 7 / 40


def _null_fwe_fast(statistic, design, n_reps, seed, covariate=False):
    """FWE rate of permutation_cluster_correct on null smooth data, made cheap where the
    validity argument allows: exchangeability makes the test exact whatever the grid
    (8 x 8 x 8 here), the number of rearrangements (99: nominal rate 4/100) and the TFCE
    step (0.25); the 14 maps go in as one 4-D image and the permutations in one block."""
    shape = (8, 8, 8)
    rng = np.random.default_rng(seed)
    groups = np.array(["a"] * 7 + ["b"] * 7)
    mask = full_mask(shape)
    hits = 0
    for rep in range(n_reps):
        data = smooth_maps(rng, 14, shape=shape, sigma=1.2)
        kw = {"labels": list(groups)} if design == "two_sample" else {}
        if covariate:
            cov = rng.standard_normal(14) + (0.8 * (groups == "a") if kw else 0.0)
            cov -= cov.mean()
            data += 0.8 * cov[:, None, None, None]
            kw["covariates"] = {"age": cov}
        img = nib.Nifti1Image(np.moveaxis(data, 0, -1).astype(np.float32), AFFINE)
        res = permutation_cluster_correct(img, design, mask_img=mask, voxel_p=0.01,
                                          cluster_stat=statistic, n_permutations=99,
                                          tfce_params={"dh": 0.25}, block_size=100,
                                          random_state=rep, atlas=False, **kw)
        hits += res.n_significant > 0
    return hits / n_reps


@pytest.mark.fwe
@pytest.mark.parametrize("statistic,design,covariate", [
    ("size", "one_sample", False), ("mass", "two_sample", False), ("tfce", "one_sample", False),
    ("size", "one_sample", True), ("size", "two_sample", True),
])
def test_null_fwe_holds_alpha(statistic, design, covariate):
    # 400 null data sets (TFCE 200): the Monte-Carlo sd of a 0.05 rate is 0.011 (0.015)
    n_reps = 400 if statistic != "tfce" else 200
    rate = _null_fwe_fast(statistic, design, n_reps, seed=30, covariate=covariate)
    se = np.sqrt(0.05 * 0.95 / n_reps)
    assert rate <= 0.05 + 3 * se
    assert rate >= 0.05 - 3 * se


@pytest.mark.parametrize("design,statistic", [("one_sample", "size"), ("two_sample", "mass"),
                                              ("paired", "tfce")])
def test_planted_blob_detected(design, statistic):
    rng = np.random.default_rng(9)
    n = 20
    data = smooth_maps(rng, n)
    where = blob(centre=(6, 7, 5), radius=1)
    kw = {}
    if design == "one_sample":
        data[:, where] += 1.5
    elif design == "two_sample":
        data[:10, where] += 2.0
        kw["labels"] = ["cases"] * 10 + ["controls"] * 10
    else:
        data[0::2, where] += 1.5
        kw["labels"] = ["post", "pre"] * 10
        kw["subjects"] = [f"sub-{i // 2:02d}" for i in range(n)]
    res = permutation_cluster_correct(to_imgs(data), design, mask_img=full_mask(),
                                      cluster_stat=statistic, n_permutations=199, random_state=0,
                                      atlas=False, **kw)
    sig = res.clusters[res.clusters["significant"]]
    assert len(sig) >= 1
    top = sig.iloc[0]
    assert top["sign"] == 1
    peak = (int(top["peak_i"]), int(top["peak_j"]), int(top["peak_k"]))
    assert where[peak]
    assert top["p_cluster"] <= 0.01
    labels = np.asarray(res.label_img.dataobj)
    covered = (labels == top["cluster_id"]) & where
    assert covered.sum() >= 0.5 * where.sum()


# --- results object ------------------------------------------------------------------------
def test_result_object_and_save(tmp_path):
    rng = np.random.default_rng(10)
    data = smooth_maps(rng, 12)
    data[:, blob()] += 1.5
    res = permutation_cluster_correct(to_imgs(data), mask_img=full_mask(), n_permutations=50,
                                      random_state=0, atlas=True)
    assert isinstance(res, ClusterResult) and isinstance(res, PermutationClusterResult)
    assert list(res.to_frame().columns) == list(CLUSTER_COLUMNS)
    assert res.method == "permutation" and res.stat == "t" and res.connectivity == 26
    assert res.min_cluster_size is not None
    table = res.clusters
    # every cluster at least k* voxels large is significant, and only those
    np.testing.assert_array_equal(table["significant"],
                                  table["size_voxels"] >= res.min_cluster_size)
    assert "Permutation inference" in res.summary()
    out = res.save(tmp_path / "perm")
    for key in ("thresholded_map", "cluster_labels", "p_map", "clusters", "provenance", "tmap",
                "voxel_fwe_p_map", "null_distribution"):
        assert out[key].exists()
    prov = json.loads(out["provenance"].read_text())
    assert prov["method"] == "permutation"
    assert prov["parameters"]["n_permutations"] == 50
    assert prov["parameters"]["random_state"] == 0
    null = pd.read_csv(out["null_distribution"], sep="\t")
    assert len(null) == 51
    thr = nib.load(out["thresholded_map"]).get_fdata()
    labels = np.asarray(res.label_img.dataobj)
    sig_ids = table.loc[table["significant"], "cluster_id"]
    np.testing.assert_array_equal(thr != 0, np.isin(labels, sig_ids) & (labels > 0))
    assert not list(tmp_path.glob("perm/.*"))  # no temporary files left


def test_reproducible_and_independent_of_jobs_and_blocks():
    rng = np.random.default_rng(11)
    data = smooth_maps(rng, 10)
    imgs = to_imgs(data)
    kw = dict(mask_img=full_mask(), voxel_p=0.01, n_permutations=40, atlas=False)
    a = permutation_cluster_correct(imgs, random_state=5, **kw)
    b = permutation_cluster_correct(imgs, random_state=5, block_size=7, n_jobs=2, **kw)
    c = permutation_cluster_correct(imgs, random_state=6, **kw)
    pd.testing.assert_frame_equal(a.null_distribution, b.null_distribution)
    assert not a.null_distribution["max_t"].equals(c.null_distribution["max_t"])


def test_implicit_mask_reports_partial_coverage():
    rng = np.random.default_rng(12)
    data = smooth_maps(rng, 8) + 5.0
    data[:, 0] = 0.0  # outside the brain in every image
    data[3, 1, 1, 1] = 0.0  # missing in one image only
    data[5, 2, 3, 4] = np.nan  # NaN in one image only
    res = permutation_cluster_correct(to_imgs(data), n_permutations=5, random_state=0,
                                      atlas=False)
    assert res.n_mask_voxels == np.prod(SHAPE) - SHAPE[1] * SHAPE[2] - 2
    assert res.parameters["n_partial_coverage"] == 2
    t = np.asarray(res.t_img.dataobj)
    assert t[1, 1, 1] == 0 and t[2, 3, 4] == 0 and np.isfinite(t).all()
    assert np.asarray(res.voxel_fwe_p_img.dataobj)[2, 3, 4] == 1.0  # outside the mask


def test_one_tailed_ignores_negative_effects():
    rng = np.random.default_rng(13)
    data = smooth_maps(rng, 16)
    data[:, blob()] -= 2.0
    kw = dict(mask_img=full_mask(), n_permutations=99, random_state=0, atlas=False)
    two = permutation_cluster_correct(to_imgs(data), **kw)
    one = permutation_cluster_correct(to_imgs(data), two_tailed=False, **kw)
    assert two.clusters["significant"].iloc[0] and two.clusters["sign"].iloc[0] == -1
    assert (one.clusters["sign"] > 0).all() and one.n_significant == 0
    assert one.parameters["cluster_forming_t"] == pytest.approx(stats.t.isf(0.001, 15))


# --- bad input -----------------------------------------------------------------------------
@pytest.fixture
def small_imgs():
    rng = np.random.default_rng(14)
    return to_imgs(smooth_maps(rng, 6, shape=(6, 6, 6)))


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"voxel_p": 0.0}, ValueError, r"'voxel_p' parameter must be in \(0, 1\). Got 0.0"),
    ({"voxel_p": 1.5}, ValueError, r"'voxel_p' parameter must be in \(0, 1\). Got 1.5"),
    ({"cluster_p": 1.0}, ValueError, r"'cluster_p' parameter must be in \(0, 1\)"),
    ({"n_permutations": 0}, ValueError, r"'n_permutations' parameter must be >= 1. Got 0"),
    ({"n_permutations": 2.5}, TypeError, r"'n_permutations' parameter must be an integer"),
    ({"cluster_stat": "peak"}, ValueError, r"'cluster_stat' parameter must be one of"),
    ({"connectivity": 8}, ValueError, r"'connectivity' parameter must be one of"),
    ({"design": "anova"}, ValueError, r"'design' parameter must be one of"),
    ({"tfce_params": {"E": 0.5, "h": 2}}, ValueError, r"unknown key\(s\) \['h'\]"),
    ({"tfce_params": {"dh": -0.1}}, ValueError, r"tfce_params\['dh'\]\" parameter must be in"),
    ({"two_tailed": "yes"}, TypeError, r"'two_tailed' parameter must be True or False"),
    ({"n_jobs": 0}, ValueError, r"'n_jobs' parameter must be None or a non-zero int"),
    ({"labels": ["a", "b"] * 3}, DesignError, r"'labels' is not used by design='one_sample'"),
])
def test_bad_parameters(small_imgs, kwargs, exc, match):
    kwargs = {"n_permutations": 5, **kwargs}
    design = kwargs.pop("design", "one_sample")
    with pytest.raises(exc, match=match):
        permutation_cluster_correct(small_imgs, design, **kwargs)


def test_bad_images(small_imgs, tmp_path):
    other = nib.Nifti1Image(np.ones((6, 6, 5), np.float32), AFFINE)
    with pytest.raises(ImageError, match=r"imgs\[3\] has shape \(6, 6, 5\)"):
        permutation_cluster_correct([*small_imgs[:3], other], n_permutations=5)
    shifted = nib.Nifti1Image(np.asarray(small_imgs[0].dataobj), AFFINE @ np.diag([1, 1, 2, 1]))
    path = tmp_path / "shifted.nii.gz"
    nib.save(shifted, path)
    with pytest.raises(ImageError, match=r"imgs\[2\] \(.*shifted.nii.gz\) and imgs\[0\] have "
                                         r"different affines"):
        permutation_cluster_correct([*small_imgs[:2], path], n_permutations=5)
    with pytest.raises(ImageError, match="does not exist"):
        permutation_cluster_correct([*small_imgs[:2], tmp_path / "missing.nii"])
    nan = np.asarray(small_imgs[4].dataobj).copy()
    nan[2, 3, 1] = np.nan
    bad = [*small_imgs[:4], nib.Nifti1Image(nan, AFFINE)]
    mask = nib.Nifti1Image(np.ones((6, 6, 6), np.uint8), AFFINE)
    with pytest.raises(DataError, match=r"imgs\[4\] has 1 NaN/inf voxel\(s\) inside mask_img "
                                        r"\(first at voxel \(2, 3, 1\)\)"):
        permutation_cluster_correct(bad, mask_img=mask, n_permutations=5)
    empty = nib.Nifti1Image(np.zeros((6, 6, 6), np.uint8), AFFINE)
    with pytest.raises(ImageError, match="mask_img is empty"):
        permutation_cluster_correct(small_imgs, mask_img=empty, n_permutations=5)
    wrong = nib.Nifti1Image(np.ones((5, 6, 6), np.uint8), AFFINE)
    with pytest.raises(ImageError, match=r"has shape \(6, 6, 6\) but mask_img has shape"):
        permutation_cluster_correct(small_imgs, mask_img=wrong, n_permutations=5)
    with pytest.raises(DataError, match="'imgs' parameter is empty"):
        permutation_cluster_correct([], n_permutations=5)


def test_bad_designs(small_imgs):
    imgs = small_imgs
    with pytest.raises(DesignError,
                       match=r"exactly one image per subject and condition \('pre' and 'post'\): "
                             r"subject 2 has 0 image\(s\) for 'post'; subject 3 has 0"):
        permutation_cluster_correct(imgs, "paired", labels=["pre", "post", "pre", "post", "pre",
                                                            "pre"],
                                    subjects=[0, 0, 1, 1, 2, 3], n_permutations=5)
    with pytest.raises(DesignError, match=r"subject 0 has 2 image\(s\) for 'pre'"):
        permutation_cluster_correct(imgs, "paired", labels=["pre", "pre", "post", "post",
                                                            "pre", "post"],
                                    subjects=[0, 0, 0, 1, 1, 1], n_permutations=5)
    with pytest.raises(DesignError, match="needs 'subjects'"):
        permutation_cluster_correct(imgs, "paired", labels=["a", "b"] * 3, n_permutations=5)
    with pytest.raises(DesignError,
                       match=r"exactly 2 levels in 'labels'; got 3: \['a', 'b', 'c'\]"):
        permutation_cluster_correct(imgs, "two_sample", labels=list("aabbcc"), n_permutations=5)
    with pytest.raises(DataError, match="'labels' has 5 entries for 6 images"):
        permutation_cluster_correct(imgs, "two_sample", labels=list("aabbb"), n_permutations=5)
    with pytest.raises(DesignError, match=r"'levels' must name the two levels"):
        permutation_cluster_correct(imgs, "two_sample", labels=list("aabbbb"),
                                    levels=("a", "c"), n_permutations=5)
    cov = pd.DataFrame({"age": [30, 40, 50, 60, 70, 80.0]})
    cov["age_months"] = cov["age"] * 12
    with pytest.raises(DesignError, match="column 'age_months' is a linear combination"):
        permutation_cluster_correct(imgs, covariates=cov, n_permutations=5)
    with pytest.raises(DataError, match=r"column 'age' has missing .* at image\(s\) \[2\]"):
        permutation_cluster_correct(imgs, covariates={"age": [30, 40, np.nan, 1, 2, 3]},
                                    n_permutations=5)
    with pytest.raises(DesignError, match="'age' is constant within every subject"):
        permutation_cluster_correct(imgs, "paired", labels=["a", "b"] * 3,
                                    subjects=[0, 0, 1, 1, 2, 2],
                                    covariates={"age": [30, 30, 40, 40, 50, 50]},
                                    n_permutations=5)
    with pytest.raises(DesignError, match="leaves 0 residual degrees of freedom"):
        permutation_cluster_correct(imgs[:2], "two_sample", labels=["a", "b"], n_permutations=5)


@pytest.mark.parametrize("n_perm,cluster_p", [(99, 0.05), (99, 0.1), (60, 0.05)])
def test_min_cluster_size_is_smallest_significant_size(n_perm, cluster_p):
    rng = np.random.default_rng(16)
    data = smooth_maps(rng, 10)
    res = permutation_cluster_correct(to_imgs(data), mask_img=full_mask(), voxel_p=0.05,
                                      cluster_p=cluster_p, n_permutations=n_perm,
                                      random_state=0, atlas=False)
    h0 = res.null_distribution["max_size"].to_numpy()
    # brute force: p(k) = #(h0 >= k) / (n_perm + 1), identity included
    k_star = next(k for k in range(1, int(h0.max()) + 2)
                  if np.sum(h0 >= k) / (n_perm + 1) < cluster_p)
    assert res.min_cluster_size == k_star


def test_paths_4d_and_images_give_the_same_result(tmp_path):
    rng = np.random.default_rng(17)
    data = smooth_maps(rng, 8)
    data[:, blob()] += 1.5
    imgs = to_imgs(data)
    paths = []
    for i, img in enumerate(imgs):
        paths.append(tmp_path / f"sub-{i:02d}_alff.nii.gz")
        nib.save(img, paths[-1])
    four_d = nib.Nifti1Image(np.stack([np.asarray(i.dataobj) for i in imgs], axis=-1), AFFINE)
    kw = dict(mask_img=full_mask(), n_permutations=30, random_state=3, atlas=False)
    ref = permutation_cluster_correct(imgs, **kw)
    for other in (paths, four_d):
        res = permutation_cluster_correct(other, **kw)
        pd.testing.assert_frame_equal(res.null_distribution, ref.null_distribution)
        pd.testing.assert_frame_equal(res.clusters, ref.clusters)
    assert permutation_cluster_correct(paths, **kw).parameters["images"][0].endswith(
        "sub-00_alff.nii.gz)")
    assert sorted(tmp_path.iterdir()) == sorted(paths)  # nothing written next to the inputs


@pytest.mark.parametrize("design", ["one_sample", "two_sample"])
def test_small_samples_enumerate_every_rearrangement(design):
    import itertools

    rng = np.random.default_rng(18)
    n = 5 if design == "one_sample" else 8
    data = smooth_maps(rng, n, shape=(6, 6, 6)) + 0.5
    kw = {"labels": ["a"] * 4 + ["b"] * 4} if design == "two_sample" else {}
    mask = nib.Nifti1Image(np.ones((6, 6, 6), np.uint8), AFFINE)
    res = permutation_cluster_correct(to_imgs(data), design, mask_img=mask, voxel_p=0.05,
                                      n_permutations=1000, random_state=0, atlas=False, **kw)
    y = data.astype(np.float32).astype(float)
    if design == "one_sample":
        maps = [stats.ttest_1samp(y * np.array(s)[:, None, None, None], 0).statistic
                for s in itertools.product([1, -1], repeat=n)]
    else:
        maps = []
        for chosen in itertools.combinations(range(n), 4):
            g = np.isin(np.arange(n), chosen)
            maps.append(stats.ttest_ind(y[g], y[~g]).statistic)
    ref = naive_maxima(maps, stats.t.isf(0.025, res.df), 26, True)
    assert res.parameters["exhaustive"] is True
    assert res.parameters["n_permutations"] == len(maps) - 1
    null = res.null_distribution
    np.testing.assert_allclose(np.sort(null["max_t"]), np.sort(ref[:, 0]), rtol=1e-9)
    np.testing.assert_array_equal(np.sort(null["max_size"]), np.sort(ref[:, 1]))
    # exact p: the smallest attainable is 1 / (number of rearrangements)
    assert np.asarray(res.voxel_fwe_p_img.dataobj).min() >= 1 / len(maps) - 1e-7


def test_uncentred_covariates_test_the_intercept():
    rng = np.random.default_rng(19)
    n = 12
    data = smooth_maps(rng, n, shape=(5, 5, 5)) + 0.2
    age = rng.normal(40, 8, n)
    mask = nib.Nifti1Image(np.ones((5, 5, 5), np.uint8), AFFINE)
    res = permutation_cluster_correct(to_imgs(data), mask_img=mask, covariates={"age": age},
                                      center_covariates=False, n_permutations=5,
                                      random_state=0, atlas=False)
    y = data.astype(np.float32).astype(float).reshape(n, -1)
    expected = [sm.OLS(y[:, v], np.c_[np.ones(n), age]).fit().tvalues[0] for v in range(0, 125, 9)]
    got = np.asarray(res.t_img.dataobj).reshape(-1)[::9]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert res.df == n - 2
    assert res.parameters["exchangeability"] == "sign flipping (Freedman-Lane)"


def test_zero_variance_voxels_are_counted_by_every_result(tmp_path):
    from painmarkers.inference import grf_cluster_correct

    rng = np.random.default_rng(20)
    data = smooth_maps(rng, 12) + 3.0
    data[:, 1, 1, 1] = 5.0  # constant over images
    data[:6, 2, 2, 2], data[6:, 2, 2, 2] = 1.0, 2.0  # constant within each group
    labels = ["a"] * 6 + ["b"] * 6
    imgs = to_imgs(data)
    vr = voxelwise_ttest(imgs, "two_sample", labels=labels, mask_img=full_mask())
    pr = permutation_cluster_correct(imgs, "two_sample", labels=labels, mask_img=full_mask(),
                                     n_permutations=20, random_state=0, atlas=False)
    # both voxels have zero residual variance: t = 0 there, and both are counted (the
    # permutation count was of constant voxels only, so the second one went uncounted)
    assert int(np.sum(np.ptp(data.reshape(12, -1), axis=0) == 0)) == 1
    assert vr.n_zero_variance == pr.n_zero_variance == 2
    assert pr.parameters["n_zero_variance"] == 2
    for t in (vr.t_img.get_fdata(), np.asarray(pr.t_img.dataobj)):
        assert t[1, 1, 1] == 0 and t[2, 2, 2] == 0
    assert "2 with zero variance" in vr.summary()
    assert "2 voxel(s) with zero variance" in pr.summary()
    # GRF reports the count it is handed: from the result, or from the saved map's sidecar
    assert grf_cluster_correct(vr, 0.001, 0.05, atlas=False).n_zero_variance == 2
    out = vr.save(tmp_path)
    from_file = grf_cluster_correct(out["tmap"], 0.001, 0.05, mask_img=out["mask"],
                                    atlas=False)
    assert from_file.n_zero_variance == 2
    assert json.loads(pr.save(tmp_path / "perm")["tmap_sidecar"].read_text())[
        "n_zero_variance"] == 2
