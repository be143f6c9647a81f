"""Model comparison: paired DeLong (against R pROC), the Nadeau-Bengio corrected t-test
(against hand calculations) and the incremental value of imaging."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import (
    IncrementalValue,
    corrected_ttest,
    delong_test,
    evaluate_biomarker,
    evaluate_prognosis,
    incremental_value,
    roc_auc_ci,
)
from painmarkers.prediction.compare import _delong_covariance
from painmarkers.schema import COMPARISON_COLUMNS

PROC = Path(__file__).parent / "data" / "delong_proc"


@pytest.mark.parametrize("case", range(1, 7))
def test_delong_test_equals_proc(case):
    """R pROC 1.18.0 roc.test(method="delong", paired=TRUE); see data/delong_proc/README.md."""
    cases = pd.read_csv(PROC / "cases.csv")
    ref = pd.read_csv(PROC / "proc_results.csv", skipinitialspace=True)
    d = cases[cases["case"] == case]
    for r in ref[ref["case"] == case].itertuples():
        alt = "two-sided" if r.alternative == "two.sided" else r.alternative
        res = delong_test(d["y"], d["a"], d["b"], alternative=alt)
        assert list(res.columns) == list(COMPARISON_COLUMNS)
        row = res.iloc[0]
        np.testing.assert_allclose(row["estimate_a"], r.auc_a, rtol=1e-12)
        np.testing.assert_allclose(row["estimate_b"], r.auc_b, rtol=1e-12)
        np.testing.assert_allclose(row["statistic"], r.z, rtol=1e-10)
        np.testing.assert_allclose(row["p"], r.p, rtol=1e-10)
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [r.ci_low, r.ci_high],
                                   rtol=1e-10, atol=1e-14)
        assert row["comparison"] == "delong" and row["n"] == len(d) and np.isnan(row["df"])


def test_delong_variances_equal_roc_auc_ci():
    """The diagonal of the covariance is the (clustered) DeLong variance of one AUC."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(30), 3)
    y = np.repeat(rng.integers(0, 2, 30), 3)
    y[:3] = [0, 1, 1]
    a = rng.normal(size=90) + y
    b = rng.normal(size=90) + 0.5 * y
    for clusters in (None, g):
        auc, cov = _delong_covariance(y, np.vstack([a, b]), clusters)
        for k, s in enumerate((a, b)):
            ci = roc_auc_ci(y, s, clusters=clusters).iloc[0]
            half = (ci["ci_high"] - ci["ci_low"]) / 2
            np.testing.assert_allclose(np.sqrt(cov[k, k]) * stats.norm.isf(0.025), half,
                                       rtol=1e-10)
            np.testing.assert_allclose(auc[k], ci["estimate"], rtol=1e-12)
        # a score against itself: no difference, no variance
        res = delong_test(y, a, a, clusters=clusters)
        assert res.loc[0, "difference"] == 0 and np.isnan(res.loc[0, "statistic"])
    clustered = delong_test(y, a, b, clusters=g)
    assert clustered.loc[0, "method"] == "paired DeLong (Obuchowski clustered)"


def test_delong_bad_input():
    with pytest.raises(DataError, match="scores_b has shape"):
        delong_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(DesignError, match="one class"):
        delong_test([1, 1, 1], [1, 2, 3], [3, 2, 1])
    with pytest.raises(ValueError, match="'alternative' parameter"):
        delong_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, 3, 4], alternative="bigger")


def test_corrected_ttest_hand_calculation():
    a = np.array([0.81, 0.74, 0.90, 0.69, 0.77, 0.85, 0.72, 0.80, 0.79, 0.83])
    b = np.array([0.78, 0.75, 0.84, 0.66, 0.70, 0.82, 0.73, 0.74, 0.76, 0.79])
    # by hand: d = a - b, J = 10, n_test/n_train = 20/80
    d = [0.03, -0.01, 0.06, 0.03, 0.07, 0.03, -0.01, 0.06, 0.03, 0.04]
    mean = sum(d) / 10                                        # 0.033
    var = sum((x - mean) ** 2 for x in d) / 9                 # 0.00661 / 9
    se = (var * (1 / 10 + 20 / 80)) ** 0.5
    t = mean / se
    res = corrected_ttest(a, b, n_train=80, n_test=20).iloc[0]
    np.testing.assert_allclose(mean, 0.033, rtol=1e-12)
    np.testing.assert_allclose(var, 0.00661 / 9, rtol=1e-10)
    np.testing.assert_allclose(res["difference"], mean, rtol=1e-12)
    np.testing.assert_allclose(res["statistic"], t, rtol=1e-12)
    np.testing.assert_allclose(res["p"], 2 * stats.t.sf(t, 9), rtol=1e-12)
    half = stats.t.isf(0.025, 9) * se
    np.testing.assert_allclose([res["ci_low"], res["ci_high"]], [mean - half, mean + half],
                               rtol=1e-12)
    assert res["df"] == 9 and res["n"] == 10
    # the uncorrected paired t (1/J only) is larger: the correction widens the interval
    naive = stats.ttest_rel(a, b)
    assert naive.statistic > res["statistic"]
    np.testing.assert_allclose(naive.statistic / res["statistic"],
                               np.sqrt((1 / 10 + 0.25) / (1 / 10)), rtol=1e-10)
    # per-split sizes: their means are used; one-sided alternatives
    res2 = corrected_ttest(a, b, n_train=np.full(10, 80), n_test=np.r_[[19] * 5, [21] * 5],
                           alternative="greater").iloc[0]
    np.testing.assert_allclose(res2["p"], stats.t.sf(t, 9), rtol=1e-12)
    less = corrected_ttest(a, b, n_train=80, n_test=20, alternative="less").iloc[0]
    np.testing.assert_allclose(less["p"], stats.t.cdf(t, 9), rtol=1e-12)


def test_corrected_ttest_degenerate_and_bad_input():
    same = corrected_ttest([0.7, 0.8], [0.7, 0.8], n_train=8, n_test=2).iloc[0]
    assert np.isnan(same["statistic"]) and np.isnan(same["p"])
    shift = corrected_ttest([1.0, 2.0], [0.5, 1.5], n_train=8, n_test=2).iloc[0]
    assert shift["statistic"] == np.inf and shift["p"] == 0
    with pytest.raises(DataError, match="same splits"):
        corrected_ttest([1, 2, 3], [1, 2], n_train=8, n_test=2)
    with pytest.raises(DataError, match="at least 2 splits"):
        corrected_ttest([1], [1], n_train=8, n_test=2)
    with pytest.raises(DataError, match="positive"):
        corrected_ttest([1, 2], [1, 3], n_train=0, n_test=2)


# ---- incremental value ----------------------------------------------------------------------
def _table(n=60, imaging_effect=1.0, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"subject_id": [f"s{i:02d}" for i in range(n)],
                       "age": rng.normal(45, 10, n), "duration": rng.gamma(2, 3, n),
                       "alff__SMA_L": rng.normal(size=n), "alff__INS_L": rng.normal(size=n)})
    score = 0.05 * (df["age"] - 45) + imaging_effect * df["alff__SMA_L"] + rng.normal(size=n)
    df["ppr"] = 35 + 10 * score
    df["group"] = np.where(score > np.median(score), "CLBP", "HC")
    return df


@pytest.mark.parametrize("positive, target", [(None, "ppr"), ("CLBP", "group")])
def test_incremental_value_uses_the_same_folds_as_separate_evaluations(positive, target):
    """Both models on the same splits: each equals its own evaluation with those splits;
    delta, bootstrap, permutation p, corrected t and DeLong are recomputed."""
    df = _table(seed=1)
    clinical, imaging = ["age", "duration"], [("alff", "SMA_L"), ("alff", "INS_L")]
    res = incremental_value(df, clinical, imaging, target, positive=positive, n_repeats=2,
                            n_permutations=19, n_bootstrap=300, random_state=0,
                            progress=False)
    assert isinstance(res, IncrementalValue)
    assert list(res.comparisons.columns) == list(COMPARISON_COLUMNS)
    assert res.delta == pytest.approx(res.full - res.clinical, abs=1e-12)
    assert res.delta > 0.1 and res.delta_ci_low > 0 and res.permutation_p == 0.05
    c = np.sum(res.null_distribution >= res.delta - 1e-12)
    assert res.permutation_p == pytest.approx((c + 1) / 20)
    # the same splits, given as a list of (train, test), reproduce each model alone
    assert len(res.folds) == 10
    splits = [(np.flatnonzero(~m), np.flatnonzero(m)) for m in _test_masks(res, df)]
    kw = {"cv": splits, "n_permutations": 0, "progress": False, "n_bootstrap": 100}
    both = [*clinical, "alff__SMA_L", "alff__INS_L"]
    if positive is None:
        full = evaluate_prognosis(df, both, target, **kw)
        clin = evaluate_prognosis(df, clinical, target, **kw)
        np.testing.assert_allclose([clin.r2, full.r2], [res.clinical, res.full], rtol=1e-10)
        np.testing.assert_allclose(res.folds["full"], full.folds["r2"], rtol=1e-10)
    else:
        full = evaluate_biomarker(df, both, target, positive=positive, **kw)
        clin = evaluate_biomarker(df, clinical, target, positive=positive, **kw)
        np.testing.assert_allclose([clin.auc, full.auc], [res.clinical, res.full], rtol=1e-10)
        np.testing.assert_allclose(res.folds["full"], full.folds["auc"], rtol=1e-10)
        dl = res.comparisons.set_index("comparison").loc["delong"]
        ref = delong_test(full.predictions["y"], full.predictions["score"],
                          clin.predictions["score"]).iloc[0]
        np.testing.assert_allclose(dl["statistic"], ref["statistic"], rtol=1e-10)
    nb = res.comparisons.set_index("comparison").loc["nadeau_bengio"]
    ref = corrected_ttest(res.folds["full"], res.folds["clinical"], n_train=res.folds["n_train"],
                          n_test=res.folds["n_test"]).iloc[0]
    np.testing.assert_allclose(nb["statistic"], ref["statistic"], rtol=1e-12)
    assert "permutation p" in res.summary()


def _test_masks(res, df):
    """Boolean test mask of each split of incremental_value (its fold table)."""
    ids = df["subject_id"].to_numpy()
    return [np.isin(ids, subjects.split(";")) for subjects in res.folds["test_subjects"]]


def test_incremental_value_null_when_imaging_is_noise():
    df = _table(seed=2, imaging_effect=0.0)
    res = incremental_value(df, ["age"], ["alff__SMA_L"], "ppr", n_repeats=2,
                            n_permutations=39, n_bootstrap=200, random_state=1,
                            progress=False)
    assert res.delta < 0.05 and res.permutation_p > 0.1


def test_incremental_value_bad_input(tmp_path):
    df = _table(seed=3)
    with pytest.raises(DesignError, match="both clinical and imaging"):
        incremental_value(df, ["age"], ["age"], "ppr", progress=False)
    two = pd.concat([df, df])
    with pytest.raises(DesignError, match="several rows"):
        incremental_value(two, ["age"], ["alff__SMA_L"], "ppr", progress=False)
    res = incremental_value(df, ["age"], ["alff__SMA_L"], "ppr", n_repeats=1,
                            n_permutations=0, n_bootstrap=50, random_state=0, progress=False)
    assert np.isnan(res.permutation_p) and res.null_distribution.size == 0
    files = res.save(tmp_path / "inc")
    assert {"comparisons", "models", "folds", "parameters", "summary"} <= set(files)
