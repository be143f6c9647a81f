"""Validity by simulation of the permutation tests (classification and regression), of
planted effects and of leakage safety for continuous targets (long: marked slow).

Each test's docstring records what it measured when written; the bounds are the 99 %
binomial (Monte Carlo) limits around the nominal rate.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from painmarkers.prediction import evaluate_biomarker, evaluate_prognosis, incremental_value

pytestmark = pytest.mark.slow

QUIET = {"progress": False, "n_bootstrap": 100}


def _mc_bounds(n, rate=0.05, level=0.99):
    lo = stats.binom.ppf((1 - level) / 2, n, rate) / n
    hi = stats.binom.ppf(1 - (1 - level) / 2, n, rate) / n
    return lo, hi


def _table(rng, n=40, p=3, beta=0.0):
    """Noise features; the outcome is ``beta x0 + e`` (groups unrelated to anything)."""
    X = rng.normal(size=(n, p))
    df = pd.DataFrame(X, columns=[f"alff__roi{j}" for j in range(p)])
    df.insert(0, "subject_id", [f"sub-{i:03d}" for i in range(n)])
    df["ppr"] = 35 + 10 * (beta * X[:, 0] + rng.normal(size=n))
    df["group"] = np.repeat(["CLBP", "HC"], n // 2)
    return df


def _rate_within_mc_error(ps):
    ps = np.asarray(ps)
    lo, hi = _mc_bounds(ps.size)
    rate = float(np.mean(ps <= 0.05))
    assert lo <= rate <= hi, (rate, lo, hi)
    # p lives on the grid k/100: compare its ECDF with the uniform one at the grid points
    grid = np.arange(1, 101) / 100
    ecdf = np.searchsorted(np.sort(ps), grid, side="right") / ps.size
    assert np.max(np.abs(ecdf - grid)) < 1.63 / np.sqrt(ps.size)   # KS 1 % critical value
    return rate


def test_null_regression_permutation_p_uniform():
    """300 null studies (40 subjects, 3 noise features, default ridge, 5 x 10 CV, 99
    permutations): P(p <= .05) = 0.040 (99 % MC bounds 0.020-0.083), max |ECDF - U| over
    the grid 0.037 (bound 0.094)."""
    rng = np.random.default_rng(101)
    ps = [evaluate_prognosis(_table(rng), ["alff__roi0", "alff__roi1", "alff__roi2"], "ppr",
                             n_permutations=99, random_state=rng, **QUIET).permutation_p
          for _ in range(300)]
    _rate_within_mc_error(ps)


def test_null_classification_permutation_p_uniform():
    """200 null studies (20 + 20 subjects, 3 noise features, default L2 logistic,
    5 x 2 CV, 99 permutations): P(p <= .05) = 0.055 (99 % MC bounds 0.015-0.095), max
    |ECDF - U| 0.060 (bound 0.115)."""
    rng = np.random.default_rng(202)
    ps = [evaluate_biomarker(_table(rng), ["alff__roi0", "alff__roi1", "alff__roi2"], "group",
                             positive="CLBP", n_repeats=2, n_permutations=99,
                             random_state=rng, **QUIET).permutation_p
          for _ in range(200)]
    _rate_within_mc_error(ps)


def test_planted_effect_recovered():
    """y = 0.8 x0 + e (population R² 0.39, r 0.62), 60 subjects, 2 noise features,
    20 studies: detected (p <= .05) in 20/20; mean out-of-fold R² 0.33, mean r 0.55,
    mean calibration slope 0.89."""
    rng = np.random.default_rng(303)
    r2, r, slope, hits = [], [], [], 0
    for _ in range(20):
        res = evaluate_prognosis(_table(rng, n=60, beta=0.8), ["alff__roi0", "alff__roi1",
                                                                "alff__roi2"], "ppr",
                                 n_permutations=99, random_state=rng, **QUIET)
        m = res.metrics.set_index("metric")["estimate"]
        r2.append(res.r2)
        r.append(m["pearson_r"])
        slope.append(m["calibration_slope"])
        hits += res.permutation_p <= 0.05
    pop_r2 = 0.64 / 1.64
    assert hits >= 19
    assert pop_r2 - 0.15 < np.mean(r2) < pop_r2 + 0.02   # out-of-sample R² below population
    assert abs(np.mean(r) - np.sqrt(pop_r2)) < 0.1
    assert 0.8 < np.mean(slope) < 1.15


def test_incremental_value_null():
    """Imaging independent of everything, 200 null studies (50 subjects, 2 clinical
    covariates predicting the outcome, 5 x 2 CV, 99 permutations): P(p <= .05) = 0.025
    (99 % MC bounds 0.015-0.095), max |ECDF - U| 0.050 (bound 0.115). (600 more studies
    with 19 permutations: P(p <= .05, .1, .2, .5) = 0.067, 0.117, 0.212, 0.483.)"""
    rng = np.random.default_rng(404)
    ps = []
    for _ in range(200):
        n = 50
        df = pd.DataFrame({"subject_id": [f"s{i}" for i in range(n)],
                           "age": rng.normal(size=n), "bmi": rng.normal(size=n),
                           "alff__SMA_L": rng.normal(size=n)})
        df["ppr"] = df["age"] + 0.5 * df["bmi"] + rng.normal(size=n)
        ps.append(incremental_value(df, ["age", "bmi"], ["alff__SMA_L"], "ppr", n_repeats=2,
                                    n_permutations=99, random_state=rng,
                                    **QUIET).permutation_p)
    _rate_within_mc_error(ps)


def test_feature_selection_leakage():
    """500 noise features, 40 subjects, mean of 5 data sets: the 10 best features chosen on
    all data before CV give R² 0.47 (permutation p 0.01, the smallest possible with 99
    permutations, in every data set); chosen inside the folds (SelectKBest in the model)
    R² -0.26."""
    rng = np.random.default_rng(505)
    leaky, safe = [], []
    for _ in range(5):
        df = _table(rng, n=40, p=500)
        feats = [c for c in df.columns if c.startswith("alff__")]
        f, _ = f_regression(df[feats], df["ppr"])
        chosen = [feats[i] for i in np.argsort(f)[-10:]]
        leaky.append(evaluate_prognosis(df, chosen, "ppr", n_repeats=2, n_permutations=0,
                                        random_state=0, **QUIET).r2)
        model = make_pipeline(SelectKBest(f_regression, k=10), StandardScaler(), Ridge())
        safe.append(evaluate_prognosis(df, feats, "ppr", model=model, n_repeats=2,
                                       n_permutations=0, random_state=0, **QUIET).r2)
    assert np.mean(leaky) > 0.3
    assert np.mean(safe) < 0.05


def test_confound_removed_in_fold():
    """The outcome depends on age only and the feature is age plus noise (mean of 5 data
    sets, 60 subjects): R² 0.59 without adjustment, -0.01 with age regressed out of the
    feature inside every training fold."""
    rng = np.random.default_rng(606)
    raw, adjusted = [], []
    for _ in range(5):
        n = 60
        age = rng.normal(45, 10, n)
        df = pd.DataFrame({"subject_id": [f"s{i}" for i in range(n)], "age": age,
                           "alff__SMA_L": 0.1 * age + rng.normal(0, 0.5, n),
                           "ppr": 0.8 * age + rng.normal(0, 6, n)})
        kw = {"n_repeats": 2, "n_permutations": 0, "random_state": 0, **QUIET}
        raw.append(evaluate_prognosis(df, ["alff__SMA_L"], "ppr", **kw).r2)
        adjusted.append(evaluate_prognosis(df, ["alff__SMA_L"], "ppr", confounds=["age"],
                                           **kw).r2)
    assert np.mean(raw) > 0.3
    assert np.mean(adjusted) < 0.05
