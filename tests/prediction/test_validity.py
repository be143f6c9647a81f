"""Statistical validity of evaluate_biomarker by simulation (long: marked slow)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from painmarkers.prediction import evaluate_biomarker

pytestmark = pytest.mark.slow


def _data(rng, n_per=15, effect=0.0):
    df = pd.DataFrame({"subject_id": [f"sub-{i:02d}" for i in range(2 * n_per)],
                       "group": ["CLBP"] * n_per + ["HC"] * n_per})
    df["alff__SMA_L"] = rng.normal(size=2 * n_per) + effect * (df["group"] == "CLBP")
    df["alff__PC_L"] = rng.normal(size=2 * n_per)
    return df


def test_null_permutation_p_uniform_and_fpr():
    """No effect: permutation p ~ U(0, 1) (KS) and P(p <= .05) near .05."""
    rng = np.random.default_rng(2024)
    ps = []
    for _ in range(80):
        res = evaluate_biomarker(_data(rng), ["alff__SMA_L", "alff__PC_L"], "group",
                                 positive="CLBP",
                                 n_permutations=39, n_repeats=1, random_state=rng)
        ps.append(res.permutation_p)
    ps = np.asarray(ps)
    # p lives on the grid k/40; compare with the discrete uniform via a jitter-free KS bound
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    fpr = np.mean(ps <= 0.05)
    # binomial 99 % bounds around .05 with 80 runs
    assert fpr <= stats.binom.ppf(0.995, 80, 0.05) / 80


def test_planted_effect_detected():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(10):
        res = evaluate_biomarker(_data(rng, effect=1.5), ["alff__SMA_L"], "group", positive="CLBP",
                                 n_permutations=39, n_repeats=1, random_state=rng)
        hits += res.permutation_p <= 0.05
    assert hits >= 8


def test_auc_ci_coverage_single_biomarker():
    """One binormal biomarker: the DeLong CI of the CV AUC covers Phi(d / sqrt 2) ~ 95 %."""
    rng = np.random.default_rng(11)
    delta = 1.0
    true_auc = stats.norm.cdf(delta / np.sqrt(2))
    cover = []
    for _ in range(200):
        res = evaluate_biomarker(_data(rng, n_per=30, effect=delta), ["alff__SMA_L"], "group",
                                 positive="CLBP", n_permutations=0, n_repeats=1, random_state=rng,
                                 n_bootstrap=200)
        cover.append(res.auc_ci_low <= true_auc <= res.auc_ci_high)
    assert 0.90 <= np.mean(cover) <= 0.985
