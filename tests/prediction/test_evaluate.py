"""Tests of evaluate_biomarker: numbers, leakage safety, grouped CV, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_val_predict,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import BiomarkerEvaluation, _cv, evaluate_biomarker
from painmarkers.schema import METRIC_COLUMNS


def _cohort_frame(n_pos=20, n_neg=20, effect=1.0, seed=0, p=1):
    rng = np.random.default_rng(seed)
    n = n_pos + n_neg
    df = pd.DataFrame({"subject_id": [f"sub-{i:02d}" for i in range(n)],
                       "group": ["CLBP"] * n_pos + ["HC"] * n_neg,
                       "age": rng.normal(45, 10, n).round(1),
                       "sex": rng.choice(["F", "M"], n)})
    for j in range(p):
        name = "alff__SMA_L" if j == 0 else f"alff__roi{j}"
        df[name] = rng.normal(size=n) + effect * (df["group"] == "CLBP") * (j == 0)
    return df


def test_planted_effect_detected_and_result_contract(tmp_path):
    df = _cohort_frame(effect=1.5, seed=1)
    res = evaluate_biomarker(df, [("alff", "SMA_L")], "group", positive="CLBP", n_permutations=19,
                             n_repeats=2, random_state=0, prevalence=0.2)
    assert isinstance(res, BiomarkerEvaluation)
    assert res.auc > 0.75 and res.auc_ci_low < res.auc < res.auc_ci_high
    assert res.permutation_p == pytest.approx(1 / 20)
    assert res.n == 40 and res.n_positive == 20 and res.n_subjects == 40
    frame = res.to_frame()
    assert list(frame.columns) == list(METRIC_COLUMNS)
    names = set(frame["metric"])
    assert {"auc", "auc_bootstrap", "balanced_accuracy", "sensitivity", "specificity", "ppv",
            "npv", "ppv_at_prevalence", "npv_at_prevalence", "brier",
            "permutation_p"} <= names
    # headline AUC is the AUC of the repeat-averaged out-of-fold scores
    pred = res.predictions
    np.testing.assert_allclose(res.auc, roc_auc_score(pred["y"], pred["score"]), rtol=1e-12)
    assert (pred["n_scores"] == 2).all()
    brier = frame.set_index("metric").loc["brier", "estimate"]
    np.testing.assert_allclose(brier, np.mean((pred["score"] - pred["y"]) ** 2), rtol=1e-12)
    assert len(res.folds) == 10 and set(res.folds["repeat"]) == {0, 1}
    assert res.calibration["n"].sum() == 40
    assert res.roc["fpr"].iloc[0] == 0 and res.roc["tpr"].iloc[-1] == 1
    assert "Permutation p" in res.summary()
    files = res.save(tmp_path / "eval")
    out = tmp_path / "eval"
    params = json.loads(files["parameters"].read_text())["parameters"]
    assert params["features"] == ["alff__SMA_L"] and params["positive"] == "CLBP"
    assert pd.read_csv(files["metrics"]).shape[0] == len(frame)
    assert not list(out.glob("*.tmp"))


def test_matches_manual_sklearn_pipeline():
    """Single repeat with a fixed splitter: same scores as cross_val_predict."""
    df = _cohort_frame(effect=0.8, seed=2, p=3)
    cols = ["alff__SMA_L", "alff__roi1", "alff__roi2"]
    cv = StratifiedKFold(5, shuffle=True, random_state=3)
    res = evaluate_biomarker(df, cols, "group", positive="CLBP", cv=cv, n_permutations=0,
                             random_state=0)
    y = (df["group"] == "CLBP").astype(int).to_numpy()
    # the default model, solved by scikit-learn to its tolerance of 1e-12 (evaluate_biomarker
    # solves it by the batched Newton route)
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000))
    ref = cross_val_predict(model, df[cols].to_numpy(), y, cv=cv, method="predict_proba")[:, 1]
    np.testing.assert_allclose(res.predictions["score"], ref, rtol=1e-8)
    assert np.isnan(res.permutation_p) and res.null_distribution.size == 0


def test_confounds_regressed_in_fold():
    """A feature that is only age carries no signal once age is regressed out in-fold."""
    rng = np.random.default_rng(4)
    df = _cohort_frame(effect=0.0, seed=4)
    # patients are older; the feature is age plus noise
    df["age"] = np.where(df["group"] == "CLBP", 55, 40) + rng.normal(0, 3, len(df))
    df["alff__SMA_L"] = 0.1 * df["age"] + rng.normal(0, 0.1, len(df))
    raw = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", n_permutations=0,
                             n_repeats=1, random_state=0)
    adj = evaluate_biomarker(df, ["alff__SMA_L"], "group",
                             positive="CLBP", confounds=["age", "sex"],
                             n_permutations=0, n_repeats=1, random_state=0)
    assert raw.auc > 0.95
    assert adj.auc < 0.75


def _multi_session(n_sub=24, n_ses=3, seed=0, p=20):
    """No group effect, strong subject fingerprints: ungrouped CV memorises subjects."""
    rng = np.random.default_rng(seed)
    fingerprint = rng.normal(0, 1, (n_sub, p))
    rows = []
    for i in range(n_sub):
        for s in range(n_ses):
            rows.append({"subject_id": f"sub-{i:02d}", "session": f"ses-{s}",
                         "group": "CLBP" if i < n_sub // 2 else "HC",
                         **{f"f{j}": fingerprint[i, j] + 0.2 * rng.normal()
                            for j in range(p)}})
    return pd.DataFrame(rows), [f"f{j}" for j in range(p)]


def test_grouped_cv_no_subject_in_train_and_test():
    df, cols = _multi_session()
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=3))
    res = evaluate_biomarker(df, cols, "group", positive="CLBP", model=knn, n_permutations=0,
                             n_repeats=3, random_state=0)
    groups = df["subject_id"].to_numpy()
    y = (df["group"] == "CLBP").to_numpy().astype(int)
    splits = _cv.default_splits(y, groups, 5, 3, 123, {1: "CLBP", 0: "HC"})
    for sp in splits:
        assert not set(groups[sp.train]) & set(groups[sp.test])
    # in the result: per repeat, each subject is tested in exactly one fold with all rows
    for _, rep in res.folds.groupby("repeat"):
        tested = [s for cell in rep["test_subjects"] for s in cell.split(";")]
        assert sorted(tested) == sorted(set(groups))
        assert rep["n_test"].sum() == len(df)
    assert res.n_subjects == 24 and res.n == 72
    # the grouped evaluation stays near chance, the leaky ungrouped CV does not
    assert res.auc < 0.75
    leaky = cross_val_predict(knn, df[cols].to_numpy(), y, cv=StratifiedKFold(5, shuffle=True,
                                                                         random_state=0),
                              method="predict_proba")[:, 1]
    assert roc_auc_score(y, leaky) > 0.9
    with pytest.raises(DesignError, match=r"puts subject 'sub-\d+' in both training"):
        evaluate_biomarker(df, cols, "group", positive="CLBP", cv=KFold(5, shuffle=True,
                                                              random_state=0),
                           n_permutations=0)


def test_site_leakage_harmonised_in_fold_stays_near_chance():
    """Site confounded with group, no group effect: naive CV without harmonisation scores
    high (site passes for diagnosis); in-fold ComBat does not. Over seeds 0-19: naive
    0.72 [0.63, 0.81], in-fold ComBat 0.49 [0.32, 0.62] (0.39 for the three seeds used
    here). The harmonise-on-all-data leak is in test_leakage.py."""
    aucs, naive = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        n = 80
        site = np.repeat(["A", "B"], n // 2)
        patient = np.where(site == "A", rng.random(n) < 0.8, rng.random(n) < 0.2)
        feats = rng.normal(size=(n, 10)) + 1.0 * (site == "B")[:, None]
        df = pd.DataFrame(feats, columns=[f"f{j}" for j in range(10)])
        df["group"] = np.where(patient, "CLBP", "HC")
        df["site"] = site
        cols = list(df.columns[:10])
        cv = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
        res = evaluate_biomarker(df, cols, "group", positive="CLBP", site="site", harmonize=True,
                                 cv=cv, n_permutations=0, random_state=0)
        aucs.append(res.auc)
        y = patient.astype(int)
        leaky = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression()),
                                  feats, y, cv=StratifiedKFold(5, shuffle=True,
                                                               random_state=seed),
                                  method="predict_proba")[:, 1]
        naive.append(roc_auc_score(y, leaky))
    assert np.mean(naive) > 0.7
    assert 0.35 < np.mean(aucs) < 0.62


def test_feature_selection_inside_folds():
    """Selecting features on all data leaks; the same selector inside the model does not."""
    rng = np.random.default_rng(5)
    n, p = 40, 500
    X = rng.normal(size=(n, p))
    df = pd.DataFrame(X, columns=[f"v{j}" for j in range(p)])
    df["group"] = ["CLBP"] * 20 + ["HC"] * 20
    y = (df["group"] == "CLBP").to_numpy().astype(int)
    model = make_pipeline(SelectKBest(f_classif, k=10), StandardScaler(),
                          LogisticRegression())
    res = evaluate_biomarker(df, list(df.columns[:p]), "group", positive="CLBP", model=model,
                             n_permutations=0, n_repeats=1, random_state=0)
    top = SelectKBest(f_classif, k=10).fit(X, y).get_support()
    leaky = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression()),
                              X[:, top], y, cv=StratifiedKFold(5, shuffle=True,
                                                               random_state=0),
                              method="predict_proba")[:, 1]
    assert roc_auc_score(y, leaky) > 0.85
    assert res.auc < 0.75


def test_nested_cv_with_grid_search():
    df = _cohort_frame(effect=1.2, seed=6, p=3)
    grid = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                        {"logisticregression__C": [0.1, 1.0]}, cv=3)
    res = evaluate_biomarker(df, ["alff__SMA_L", "alff__roi1", "alff__roi2"], "group",
                             positive="CLBP", model=grid, n_permutations=0, n_repeats=1,
                             random_state=0)
    assert res.folds["best_params"].str.contains("logisticregression__C").all()
    assert "StratifiedGroupKFold" in res.parameters["model"]
    assert res.auc > 0.7


def test_paired_design_forced_choice():
    rng = np.random.default_rng(7)
    n = 15
    base = rng.normal(0, 1, n)
    df = pd.DataFrame({"subject_id": np.repeat([f"sub-{i}" for i in range(n)], 2),
                       "session": ["pre", "post"] * n})
    df["alff__SMA_L"] = np.repeat(base, 2) + np.where(df["session"] == "pre", 0.8, 0.0) + \
        0.3 * rng.normal(size=2 * n)
    res = evaluate_biomarker(df, ["alff__SMA_L"], "session", positive="pre", n_permutations=9,
                             cv=StratifiedGroupKFold(3, shuffle=True, random_state=0),
                             random_state=0)
    m = res.metrics.set_index("metric")
    assert "forced_choice_accuracy" in m.index
    fc = m.loc["forced_choice_accuracy"]
    pred = res.predictions
    wide = pred.assign(pre=pred["target"] == "pre").pivot(index="subject_id", columns="pre",
                                                           values="score")
    expected = np.mean((wide[True] > wide[False]) + 0.5 * (wide[True] == wide[False]))
    np.testing.assert_allclose(fc["estimate"], expected, rtol=1e-12)
    assert fc["denominator"] == n
    # two rows per subject: the AUC interval is the clustered one, the bootstrap by subject
    assert m.loc["auc", "ci_method"] == "clustered DeLong (Obuchowski)"
    assert m.loc["auc_bootstrap", "ci_method"] == "cluster bootstrap"
    assert res.parameters["permutation_scheme"] == "labels shuffled within subjects"


def test_cohort_input():
    from painmarkers.model import Cohort

    rng = np.random.default_rng(8)
    ids = [f"sub-{i:02d}" for i in range(20)]
    participants = pd.DataFrame({"participant_id": ids, "group": ["CLBP"] * 10 + ["HC"] * 10})
    measures = pd.DataFrame({"participant_id": ids, "session": "baseline", "roi": "SMA_L",
                             "feature": "alff",
                             "value": rng.normal(size=20) + np.r_[np.ones(10), np.zeros(10)]})
    cohort = Cohort.from_frames(participants, measures=measures)
    res = evaluate_biomarker(cohort, [("alff", "SMA_L")], "group",
                             positive="CLBP", n_permutations=0,
                             n_splits=5, n_repeats=1, random_state=0)
    assert res.n == 20 and res.parameters["subject"] == "subject_id"


def test_plots():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = evaluate_biomarker(_cohort_frame(seed=9), ["alff__SMA_L"], "group", positive="CLBP",
                             n_permutations=0, n_repeats=1, random_state=0)
    ax = res.plot_roc()
    assert "AUC" in ax.get_legend().get_texts()[0].get_text()
    ax2 = res.plot_calibration()
    assert ax2.get_xlabel() == "mean predicted probability"
    plt.close("all")


# ---- bad input ------------------------------------------------------------------------
def test_one_class_and_absent_positive():
    df = _cohort_frame()
    with pytest.raises(DesignError, match="single class"):
        evaluate_biomarker(df[df.group == "CLBP"], ["alff__SMA_L"], "group", positive="CLBP",
                           n_permutations=0)
    with pytest.raises(DataError, match=r"positive label 'cLBP' does not occur.*'CLBP', 'HC'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="cLBP", n_permutations=0)


def test_too_few_subjects_per_class():
    df = _cohort_frame(n_pos=20, n_neg=3)
    with pytest.raises(DesignError, match=r"Class 'HC' has 3 subject\(s\).*n_splits=3"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", n_permutations=0)


def test_nan_features_named_or_dropped():
    df = _cohort_frame()
    df.loc[5, "alff__SMA_L"] = np.nan
    with pytest.raises(DataError, match=r"Subject 'sub-05' has no value for \['alff__SMA_L'\]"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", n_permutations=0)
    res = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", n_permutations=0,
                             n_repeats=1, nan_policy="omit", random_state=0)
    assert res.n == 39
    assert res.excluded.to_dict("records") == [
        {"row": 5, "subject_id": "sub-05", "reason": "missing alff__SMA_L"}]
    assert "excluded 1 row(s)" in res.summary()


def test_missing_columns():
    df = _cohort_frame()
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['motion_fd'\]"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group",
                           positive="CLBP", confounds=["age", "motion_fd"],
                           n_permutations=0)
    with pytest.raises(DataError, match="site column 'scanner'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", site="scanner",
                           n_permutations=0)
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['alff__PC_L'\]"):
        evaluate_biomarker(df, [("alff", "PC_L")], "group", positive="CLBP", n_permutations=0)


def test_site_with_one_class_under_leave_site_out():
    df = _cohort_frame()
    df["site"] = np.where(np.arange(40) < 10, "A", np.where(np.arange(40) < 25, "B", "C"))
    with pytest.raises(DesignError, match="Site 'A' holds only class 'CLBP'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", site="site",
                           n_permutations=0)


def test_single_site_under_leave_site_out():
    df = _cohort_frame().assign(site="A")
    with pytest.raises(DesignError, match=r"at least 2 sites.*only 'A'"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", site="site",
                           n_permutations=0)


def test_bad_parameters():
    df = _cohort_frame()
    with pytest.raises(TypeError, match="'data' parameter"):
        evaluate_biomarker(df.to_numpy(), ["alff__SMA_L"], "group", positive="CLBP")
    with pytest.raises(TypeError, match="'model' parameter must be a scikit-learn classifier"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", model=StandardScaler())
    with pytest.raises(ValueError, match="harmonize=True needs the 'site' column"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", harmonize=True)
    with pytest.raises(ValueError, match="'nan_policy' parameter"):
        evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", nan_policy="drop")


def test_shuffle_split_rows_never_tested_are_reported():
    from sklearn.model_selection import GroupShuffleSplit

    df = _cohort_frame(seed=10)
    cv = GroupShuffleSplit(n_splits=2, test_size=0.3, random_state=0)
    res = evaluate_biomarker(df, ["alff__SMA_L"], "group",
                             positive="CLBP", cv=cv, n_permutations=0,
                             random_state=0)
    never = res.excluded[res.excluded["reason"] == "never in a test fold"]
    assert res.n + len(never) == 40
    assert res.predictions["n_scores"].between(1, 2).all()
    one = res.predictions["n_scores"] == 1
    assert res.predictions.loc[one, "score_sd"].isna().all()


def test_permutation_scheme_respects_design():
    rng = np.random.default_rng(0)
    # between subjects, 3 sessions each: a subject keeps one label, class sizes kept
    groups = np.repeat([f"s{i}" for i in range(10)], 3)
    y = np.repeat([1] * 4 + [0] * 6, 3)
    changed = False
    for _ in range(20):
        yp = _cv.permute_labels(y, groups, rng)
        per = pd.Series(yp).groupby(groups).nunique()
        assert (per == 1).all() and yp.sum() == y.sum()
        changed |= not np.array_equal(yp, y)
    assert changed
    # paired: each subject keeps one positive and one negative row
    groups = np.repeat([f"s{i}" for i in range(10)], 2)
    y = np.tile([1, 0], 10)
    flips = 0
    for _ in range(20):
        yp = _cv.permute_labels(y, groups, rng)
        assert (pd.Series(yp).groupby(groups).sum() == 1).all()
        flips += (yp != y).sum()
    assert flips > 0


def test_parallel_equals_serial():
    df = _cohort_frame(effect=0.7, seed=12)
    kw = {"n_permutations": 6, "n_repeats": 2, "random_state": 3}
    serial = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", **kw)
    parallel = evaluate_biomarker(df, ["alff__SMA_L"], "group", positive="CLBP", n_jobs=2, **kw)
    np.testing.assert_allclose(parallel.predictions["score"], serial.predictions["score"],
                               rtol=1e-12)
    np.testing.assert_allclose(parallel.null_distribution, serial.null_distribution,
                               rtol=1e-12)
    assert parallel.permutation_p == serial.permutation_p
