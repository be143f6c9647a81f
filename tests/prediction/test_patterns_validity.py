"""Validity of voxel-pattern models by simulation: uniform permutation p under the null,
a planted pattern recovered, and voxel selection leaking only when done on all images.

The null-distribution checks are slow (``-m slow``): 200 simulated studies each for a class
and a continuous target, every study a full ``evaluate_pattern`` call (99 permutations).
"""

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage, stats
from sklearn.feature_selection import SelectKBest, f_classif

from painmarkers.prediction import evaluate_pattern

SHAPE = (16, 16, 12)   # 3072 voxels


def _smooth_noise(rng, n, fwhm=2.0):
    sigma = fwhm / np.sqrt(8 * np.log(2))
    vols = ndimage.gaussian_filter(rng.normal(size=(n, *SHAPE)), (0, sigma, sigma, sigma))
    return vols / vols.std()


def _imgs(vols):
    return [nib.Nifti1Image(v, np.eye(4)) for v in vols]


MASK = nib.Nifti1Image(np.ones(SHAPE, np.uint8), np.eye(4))
QUICK = dict(mask_img=MASK, n_repeats=1, n_bootstrap=10, n_bootstrap_weights=0,
             progress=False)


def _null_rate(task, n_studies=200, n=40, n_permutations=99):
    rng = np.random.default_rng(2024 if task == "classification" else 2025)
    ps = []
    for s in range(n_studies):
        vols = _smooth_noise(rng, n)
        if task == "classification":
            res = evaluate_pattern(_imgs(vols), np.repeat(["a", "b"], n // 2), positive="a",
                                   n_permutations=n_permutations, random_state=s, **QUICK)
        else:
            res = evaluate_pattern(_imgs(vols), rng.normal(size=n),
                                   n_permutations=n_permutations, random_state=s, **QUICK)
        ps.append(res.permutation_p)
    return np.array(ps)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_null_permutation_p_is_uniform(task):
    """Pure noise images (3072 voxels, 40 images, L2 logistic or ridge): the rate of
    p <= .05 over 200 studies is within Monte Carlo error of .05 (two-sided binomial test
    at 1 %) and the p-values are uniform on the grid of 99 permutations (KS)."""
    ps = _null_rate(task)
    k = int((ps <= 0.05).sum())
    ks = stats.kstest(ps - 0.005, "uniform")
    print(f"{task}: rate at .05 = {k / ps.size:.3f} ({k}/{ps.size}), mean p = "
          f"{ps.mean():.3f}, KS D = {ks.statistic:.3f}")
    assert stats.binomtest(k, ps.size, 0.05).pvalue > 0.01
    assert ks.pvalue > 0.01
    assert abs(ps.mean() - 0.5) < 0.07


def _planted(rng, n, task, effect):
    pattern = _smooth_noise(rng, 1, fwhm=4.0)[0]
    pattern[pattern < 0.5] = 0.0   # a few blobs
    vols = _smooth_noise(rng, n)
    if task == "classification":
        y = np.repeat([1, 0], n // 2)
        vols = vols + effect * y[:, None, None, None] * pattern
    else:
        y = rng.normal(size=n)
        vols = vols + effect * y[:, None, None, None] * pattern
    return vols, y, pattern.ravel()


@pytest.mark.parametrize(("task", "model"), [("classification", "l2_logistic"),
                                             ("classification", "linear_svm"),
                                             ("regression", "ridge"),
                                             ("regression", "lasso_pcr")])
def test_planted_pattern_is_recovered(task, model):
    """A planted multivariate pattern (smooth blobs, effect 0.5 SD, 60 images): AUC or r
    well above chance, permutation p at its floor, the weights correlated with the
    pattern, and the Haufe pattern at least as close to it as the univariate correlation
    map (measured: 0.70 / 0.70 / 0.91 / 0.90 against 0.66 / 0.66 / 0.84 / 0.84)."""
    rng = np.random.default_rng(7)
    vols, y, pattern = _planted(rng, 60, task, 0.5)
    kw = dict(positive=1) if task == "classification" else {}
    res = evaluate_pattern(_imgs(vols), y, model=model, n_permutations=19, random_state=0,
                           **{**QUICK, "n_repeats": 2}, **kw)
    if task == "classification":
        assert res.evaluation.auc > 0.9
    else:
        r = res.metrics.set_index("metric").loc["pearson_r", "estimate"]
        assert r > 0.9
    assert res.permutation_p == pytest.approx(0.05)
    X = vols.reshape(len(y), -1)
    univariate = np.array([np.corrcoef(X[:, j], y)[0, 1] for j in range(X.shape[1])])
    haufe = np.asarray(res.pattern_img.dataobj).ravel()
    r_haufe = np.corrcoef(haufe, pattern)[0, 1]
    assert r_haufe > 0.6
    assert r_haufe > np.corrcoef(univariate, pattern)[0, 1] - 0.02
    assert np.corrcoef(res.weights, pattern)[0, 1] > 0.3


@pytest.mark.parametrize("seed", range(3))
def test_selection_on_all_data_leaks(seed):
    """Null images. The 50 voxels with the largest ANOVA F on *all* images, then CV:
    AUC near 1 (leak). The same selection inside every training fold: AUC near 0.5."""
    rng = np.random.default_rng(100 + seed)
    vols = rng.normal(size=(40, *SHAPE))
    y = np.repeat([1, 0], 20)
    X = vols.reshape(40, -1)
    keep = SelectKBest(f_classif, k=50).fit(X, y).get_support()
    leaky_mask = nib.Nifti1Image(keep.reshape(SHAPE).astype(np.uint8), np.eye(4))
    leaky = evaluate_pattern(_imgs(vols), y, positive=1, n_permutations=0, random_state=0,
                             **{**QUICK, "mask_img": leaky_mask})
    honest = evaluate_pattern(_imgs(vols), y, positive=1, feature_selection=("anova", 50),
                              n_permutations=0, random_state=0, **QUICK)
    assert leaky.evaluation.auc > 0.9
    assert 0.2 < honest.evaluation.auc < 0.8
