"""evaluate_biomarker against the issue's contract: CIs on every metric, the permutation
p-value and its refits, and the bad-input messages not covered in test_evaluate.py."""

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.proportion import proportion_confint

from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import ComBat, ConfoundRegressor, evaluate_biomarker
from painmarkers.prediction import _model as model_module


def _frame(n_pos=20, n_neg=20, effect=1.0, seed=0, n_sessions=1):
    rng = np.random.default_rng(seed)
    n = n_pos + n_neg
    rows = []
    for i in range(n):
        base = rng.normal() + effect * (i < n_pos)
        for s in range(n_sessions):
            rows.append({"subject_id": f"sub-{i:02d}", "session": f"ses-{s}",
                         "group": "CLBP" if i < n_pos else "HC",
                         "age": 30 + i % 17, "site": "AB"[i % 2],
                         "alff__SMA_L": base + 0.3 * rng.normal(),
                         "alff__PC_L": rng.normal()})
    return pd.DataFrame(rows)


WITH_CI = ["auc", "auc_bootstrap", "sensitivity", "specificity", "ppv", "npv", "accuracy",
           "balanced_accuracy", "ppv_at_prevalence", "npv_at_prevalence", "brier"]


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_every_metric_has_a_ci(confidence):
    res = evaluate_biomarker(_frame(effect=1.0, seed=1), ["alff__SMA_L", "alff__PC_L"],
                             "group", positive="CLBP", n_permutations=0, n_repeats=2,
                             random_state=0, prevalence=0.1, confidence=confidence,
                             n_bootstrap=500)
    m = res.to_frame().set_index("metric")
    for name in WITH_CI:
        row = m.loc[name]
        assert np.isfinite([row["ci_low"], row["ci_high"]]).all(), name
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"], name
        assert row["ci_high"] > row["ci_low"], name
        assert row["confidence"] == confidence, name
        assert isinstance(row["ci_method"], str) and row["ci_method"], name
    # the Wilson intervals are those of the counts behind the out-of-fold predictions
    pred = res.predictions
    y, yhat = pred["y"].to_numpy(), pred["predicted"].to_numpy()
    counts = {"sensitivity": (np.sum(yhat[y == 1] == 1), np.sum(y == 1)),
              "specificity": (np.sum(yhat[y == 0] == 0), np.sum(y == 0)),
              "ppv": (np.sum(y[yhat == 1] == 1), np.sum(yhat == 1)),
              "npv": (np.sum(y[yhat == 0] == 0), np.sum(yhat == 0)),
              "accuracy": (np.sum(y == yhat), y.size)}
    for name, (k, n) in counts.items():
        ref = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        np.testing.assert_allclose(m.loc[name, ["ci_low", "ci_high"]].to_numpy(float), ref,
                                   rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(m.loc[name, "estimate"], k / n, rtol=1e-12)
    # Brier score and calibration curve: of the same out-of-fold probabilities
    np.testing.assert_allclose(m.loc["brier", "estimate"],
                               np.mean((pred["score"] - pred["y"]) ** 2), rtol=1e-12)
    # its bootstrap interval has about the normal-approximation width 2 z SD(e)/sqrt(n)
    err = ((pred["score"] - pred["y"]) ** 2).to_numpy()
    z = stats.norm.ppf(0.5 + confidence / 2)
    half = z * err.std(ddof=1) / np.sqrt(err.size)
    low, high = m.loc["brier", ["ci_low", "ci_high"]].to_numpy(float)
    assert low <= m.loc["brier", "estimate"] <= high
    np.testing.assert_allclose(high - low, 2 * half, rtol=0.25)
    cal = res.calibration
    assert cal["n"].sum() == res.n
    np.testing.assert_allclose((cal["fraction_positive"] * cal["n"]).sum(), res.n_positive)


# The counting steps record every fit in a class-level list, which survives clone().
class CountingCombat(ComBat):
    calls: ClassVar[list] = []

    def fit(self, X, y=None, **metadata):
        type(self).calls.append(len(X))
        return super().fit(X, y, **metadata)


class CountingRegressor(ConfoundRegressor):
    calls: ClassVar[list] = []

    def fit(self, X, y=None, **metadata):
        type(self).calls.append(len(X))
        return super().fit(X, y, **metadata)


class CountingLogistic(LogisticRegression):
    calls: ClassVar[list] = []

    def fit(self, X, y, sample_weight=None):
        type(self).calls.append(tuple(np.asarray(y)))
        return super().fit(X, y, sample_weight)


def test_permutation_p_refits_whole_pipeline(monkeypatch):
    """p = (C + 1) / (n + 1) from the stored null; every permutation refits ComBat, the
    confound regression and the model on every training fold, with permuted labels."""
    monkeypatch.setattr(model_module, "ComBat", CountingCombat)
    monkeypatch.setattr(model_module, "ConfoundRegressor", CountingRegressor)
    for cls in (CountingCombat, CountingRegressor, CountingLogistic):
        cls.calls.clear()
    n_perm, n_splits, n_repeats = 7, 4, 2
    df = _frame(effect=0.0, seed=1)  # no effect: the observed AUC falls inside the null
    model = make_pipeline(StandardScaler(), CountingLogistic())
    res = evaluate_biomarker(df, ["alff__SMA_L", "alff__PC_L"], "group",
                             positive="CLBP", model=model,
                             confounds=["age"], site="site", harmonize=True,
                             n_splits=n_splits,
                             n_repeats=n_repeats, n_permutations=n_perm, random_state=5)
    # with site given and cv=None the CV is leave-one-site-out: 2 sites, 1 repeat;
    # + 1: the final model (final_model_) refitted on all rows
    n_fits = (n_perm + 1) * 2 + 1
    assert len(CountingCombat.calls) == n_fits
    assert len(CountingRegressor.calls) == n_fits
    assert len(CountingLogistic.calls) == n_fits
    assert res.null_distribution.size == n_perm
    c = np.sum(res.null_distribution >= res.auc - 1e-12)
    assert res.permutation_p == pytest.approx((c + 1) / (n_perm + 1))
    assert 0 < c < n_perm  # a p-value off the grid's ends, so the count is exercised
    # the observed fits see the true training labels, the permuted fits others
    y = (df["group"] == "CLBP").to_numpy().astype(int)
    observed = {tuple(y[df["site"] != s]) for s in "AB"}
    assert set(CountingLogistic.calls[:2]) == observed
    assert sum(lab not in observed for lab in CountingLogistic.calls[2:-1]) >= n_perm
    assert CountingLogistic.calls[-1] == tuple(y)  # the final model: every row

    # the same with the default repeated k-fold (no site): (n + 1) x splits x repeats fits
    CountingLogistic.calls.clear()
    res = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", model=model,
                             n_splits=n_splits, n_repeats=n_repeats, n_permutations=n_perm,
                             random_state=5)
    assert len(CountingLogistic.calls) == (n_perm + 1) * n_splits * n_repeats + 1
    c = np.sum(res.null_distribution >= res.auc - 1e-12)
    assert res.permutation_p == pytest.approx((c + 1) / (n_perm + 1))
    assert 0 < c < n_perm


# ---- bad input not covered in test_evaluate.py -----------------------------------------
def test_too_few_subjects_counts_subjects_not_rows():
    """Three HC subjects with four sessions each are 12 rows but 3 subjects."""
    df = _frame(n_pos=10, n_neg=3, n_sessions=4)
    with pytest.raises(DesignError, match=r"Class 'HC' has 3 subject\(s\) but 5-fold "
                                          r".*'HC': 3.*Use n_splits=3 or "
                                          r"cv=LeaveOneGroupOut\(\)"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", n_permutations=0)
    with pytest.raises(DesignError, match=r"Class 'HC' has 1 subject\(s\); cross-validation "
                                          "needs at least 2 per class"):
        evaluate_biomarker(_frame(n_pos=10, n_neg=1), ["alff__SMA_L"], "group", positive="CLBP",
                           n_permutations=0)


def test_missing_value_messages_name_subject_session_and_column():
    df = _frame(n_sessions=2)
    df.loc[7, "alff__PC_L"] = np.nan  # sub-03, ses-1
    with pytest.raises(DataError, match=r"Subject 'sub-03', session 'ses-1' has no value "
                                        r"for \['alff__PC_L'\] \(1 row\(s\)"):
        evaluate_biomarker(df, ["alff__SMA_L", "alff__PC_L"], "group", positive="CLBP",
                           n_permutations=0)
    df = _frame()
    df.loc[4, "age"] = np.nan
    with pytest.raises(DataError, match=r"Subject 'sub-04', session 'ses-0' has no value "
                                        r"for \['age'\]"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", confounds=["age"],
                           n_permutations=0)
    res = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", confounds=["age"],
                             n_permutations=0, n_repeats=1, nan_policy="omit",
                             random_state=0)
    assert res.excluded["reason"].tolist() == ["missing age"] and res.n == 39


def test_non_numeric_feature_names_subject_and_value():
    df = _frame().astype({"alff__SMA_L": object})
    df.loc[6, "alff__SMA_L"] = "n/a?"
    with pytest.raises(DataError, match=r"Feature 'alff__SMA_L' must be numeric; subject "
                                        r"'sub-06' has 'n/a\?'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", n_permutations=0)


def test_decision_function_model_and_model_without_scores():
    """A margin classifier (no probabilities): scores are decision values, threshold 0, no
    Brier score or calibration curve; a classifier with no continuous score is refused."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    df = _frame(effect=1.0, seed=2)
    svm = make_pipeline(StandardScaler(), LinearSVC())
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    res = evaluate_biomarker(df, ["alff__SMA_L", "alff__PC_L"], "group",
                             positive="CLBP", model=svm,
                             cv=cv, n_permutations=0, random_state=0)
    y = (df["group"] == "CLBP").to_numpy().astype(int)
    ref = cross_val_predict(svm, df[["alff__SMA_L", "alff__PC_L"]].to_numpy(), y, cv=cv,
                            method="decision_function")
    np.testing.assert_allclose(res.predictions["score"], ref, rtol=1e-6)
    assert res.parameters["score"] == "decision_function" and res.parameters["threshold"] == 0
    np.testing.assert_array_equal(res.predictions["predicted"], (ref >= 0).astype(int))
    assert "brier" not in set(res.metrics["metric"]) and res.calibration.empty
    with pytest.raises(ValueError, match="no probabilities"):
        res.plot_calibration()

    class LabelsOnly(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.zeros(len(X), int)

    with pytest.raises(TypeError, match="neither predict_proba nor decision_function"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", model=LabelsOnly(),
                           n_permutations=0, n_repeats=1)


def test_perfect_separation_is_flagged_in_the_summary():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"f": np.r_[rng.normal(5, 0.1, 10), rng.normal(0, 0.1, 10)],
                       "group": ["CLBP"] * 10 + ["HC"] * 10})
    res = evaluate_biomarker(df, ["f"], "group", positive="CLBP", n_permutations=0, n_repeats=1,
                             random_state=0)
    assert res.auc == 1.0 and res.auc_ci_low == res.auc_ci_high == 1.0
    assert "separate the classes perfectly" in res.summary()
    df["f"] = rng.normal(size=20)
    res = evaluate_biomarker(df, ["f"], "group", positive="CLBP", n_permutations=0, n_repeats=1,
                             random_state=0)
    assert "perfectly" not in res.summary()


def test_permutations_with_rows_never_tested_do_not_warn():
    """A CV that leaves rows untested (GroupShuffleSplit): the permutation refits pool
    only the tested rows, without a 'Mean of empty slice' warning (an error here)."""
    from sklearn.model_selection import GroupShuffleSplit

    cv = GroupShuffleSplit(n_splits=2, test_size=0.3, random_state=0)
    res = evaluate_biomarker(_frame(seed=3), ["alff__SMA_L"], "group", positive="CLBP",
                             cv=cv, n_permutations=3, random_state=0, n_bootstrap=100)
    assert res.null_distribution.size == 3 and np.isfinite(res.null_distribution).all()
    assert (res.excluded["reason"] == "never in a test fold").sum() + res.n == 40
