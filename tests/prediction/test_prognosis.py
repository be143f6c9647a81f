"""evaluate_prognosis and join_outcomes: numbers, exclusions, bad input, result protocol."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import painmarkers as pm
from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import (
    PrognosisEvaluation,
    evaluate_biomarker,
    evaluate_prognosis,
    join_outcomes,
)
from painmarkers.schema import METRIC_COLUMNS
from painmarkers.stats import outcomes

FAST = {"progress": False, "n_bootstrap": 200}


def _frame(n=40, effect=1.0, seed=0, sessions=("pre",)):
    rng = np.random.default_rng(seed)
    ids = [f"sub-{i:02d}" for i in range(n)]
    rows = []
    alff = rng.normal(size=n)
    ppr = 35 + 12 * effect * alff + rng.normal(0, 10, n)
    for i, sid in enumerate(ids):
        for s, ses in enumerate(sessions):
            rows.append({"subject_id": sid, "group": "CLBP", "session": ses,
                         "age": 40 + i % 17, "site": "AB"[i % 2],
                         "alff__SMA_L": alff[i] + 0.3 * s + rng.normal(0, 0.1),
                         "alff__INS_L": rng.normal(), "ppr": ppr[i]})
    return pd.DataFrame(rows)


def test_planted_effect_and_result_contract(tmp_path):
    df = _frame(effect=1.0, seed=1)
    res = evaluate_prognosis(df, [("alff", "SMA_L"), ("alff", "INS_L")], "ppr",
                             n_repeats=3, n_permutations=49, random_state=0, **FAST)
    assert isinstance(res, PrognosisEvaluation)
    assert res.r2 > 0.3 and res.r2_ci_low < res.r2 < res.r2_ci_high
    assert res.permutation_p == pytest.approx(1 / 50)
    assert res.n == 40 and res.n_subjects == 40 and res.excluded.empty
    frame = res.to_frame()
    assert list(frame.columns) == list(METRIC_COLUMNS)
    assert list(frame["metric"]) == ["r2", "mae", "rmse", "pearson_r", "calibration_slope",
                                     "calibration_intercept", "r2_mean_over_repeats",
                                     "permutation_p"]
    assert len(res.folds) == 15 and (res.predictions["n_predictions"] == 3).all()
    assert "Permutation p" in res.summary() and "training-fold mean" in res.summary()
    files = res.save(tmp_path / "out")
    assert set(files) == {"metrics", "folds", "predictions", "excluded", "null_distribution",
                          "parameters", "summary"}
    saved = json.loads(files["parameters"].read_text())
    assert saved["type"] == "PrognosisEvaluation" and "numpy" in saved["versions"]
    assert saved["parameters"]["r2_baseline"].startswith("training-fold mean")
    assert pd.read_csv(files["null_distribution"]).shape == (49, 1)
    ax = res.plot_predictions()
    assert ax.get_xlabel() == "predicted (out of fold)"


def test_metrics_equal_independent_computations():
    """Predictions equal cross_val_predict with the same folds; every metric recomputed
    from them with scikit-learn / SciPy / numpy."""
    df = _frame(n=36, seed=2)
    cv = GroupKFold(4)
    res = evaluate_prognosis(df, ["alff__SMA_L", "alff__INS_L"], "ppr", cv=cv,
                             n_permutations=0, random_state=0, **FAST)
    X = df[["alff__SMA_L", "alff__INS_L"]].to_numpy()
    y = df["ppr"].to_numpy()
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    ref = cross_val_predict(model, X, y, cv=cv, groups=df["subject_id"])
    pred = res.predictions
    np.testing.assert_allclose(pred["predicted"], ref, rtol=1e-10)
    # fold-external mean: the training-fold mean of each row's fold
    base = np.empty_like(y)
    for tr, te in cv.split(X, y, df["subject_id"]):
        base[te] = y[tr].mean()
    np.testing.assert_allclose(pred["baseline"], base, rtol=1e-12)
    m = res.metrics.set_index("metric")["estimate"]
    np.testing.assert_allclose(m["r2"], 1 - np.sum((y - ref) ** 2) / np.sum((y - base) ** 2),
                               rtol=1e-10)
    np.testing.assert_allclose(m["mae"], mean_absolute_error(y, ref), rtol=1e-10)
    np.testing.assert_allclose(m["rmse"], np.sqrt(mean_squared_error(y, ref)), rtol=1e-10)
    np.testing.assert_allclose(m["pearson_r"], stats.pearsonr(ref, y)[0], rtol=1e-10)
    slope, intercept = np.polyfit(ref, y, 1)
    np.testing.assert_allclose(m["calibration_slope"], slope, rtol=1e-10)
    np.testing.assert_allclose(m["calibration_intercept"], intercept, rtol=1e-10)
    # per-fold R² against the fold's training mean
    for row, (tr, te) in zip(res.folds.itertuples(), cv.split(X, y, df["subject_id"])):
        r2 = 1 - np.sum((y[te] - ref[te]) ** 2) / np.sum((y[te] - y[tr].mean()) ** 2)
        np.testing.assert_allclose(row.r2, r2, rtol=1e-10)
        assert row.training_mean == pytest.approx(y[tr].mean(), rel=1e-12)


def test_intercept_only_model_scores_zero():
    """Predicting the training mean is the baseline: R² exactly 0 (not slightly below,
    as against the in-sample mean)."""
    df = _frame(seed=3)
    res = evaluate_prognosis(df, ["alff__SMA_L"], "ppr", model=DummyRegressor(),
                             n_repeats=2, n_permutations=0, random_state=0, **FAST)
    assert res.r2 == pytest.approx(0.0, abs=1e-12)
    y, pred = res.predictions["observed"], res.predictions["predicted"]
    assert 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2) < 0


def test_repeats_average_predictions_and_permutation_count():
    df = _frame(n=30, effect=0.0, seed=4)
    res = evaluate_prognosis(df, ["alff__SMA_L"], "ppr", n_repeats=4, n_permutations=30,
                             random_state=2, **FAST)
    c = np.sum(res.null_distribution >= res.r2 - 1e-12)
    assert res.permutation_p == pytest.approx((c + 1) / 31)
    assert 0 < c < 30
    row = res.metrics.set_index("metric").loc["r2_mean_over_repeats"]
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"]


def test_nan_outcomes_excluded_and_counted():
    df = _frame(n=30, seed=5)
    df.loc[[3, 7], "ppr"] = np.nan
    df["outcome_excluded_reason"] = None
    df.loc[7, "outcome_excluded_reason"] = "no 'post' session"
    res = evaluate_prognosis(df, ["alff__SMA_L"], "ppr", n_permutations=0, n_repeats=1,
                             random_state=0, **FAST)
    assert res.n == 28
    assert res.excluded.to_dict("records") == [
        {"row": 3, "subject_id": "sub-03", "reason": "missing ppr"},
        {"row": 7, "subject_id": "sub-07", "reason": "missing ppr (no 'post' session)"}]
    assert "missing ppr: 1" in res.summary()


def test_missing_features_follow_nan_policy():
    df = _frame(n=30, seed=6)
    df.loc[4, "alff__SMA_L"] = np.nan
    with pytest.raises(DataError, match=r"Subject 'sub-04'.*alff__SMA_L"):
        evaluate_prognosis(df, ["alff__SMA_L"], "ppr", n_permutations=0, **FAST)
    res = evaluate_prognosis(df, ["alff__SMA_L"], "ppr", n_permutations=0, n_repeats=1,
                             nan_policy="omit", **FAST)
    assert res.excluded["reason"].tolist() == ["missing alff__SMA_L"] and res.n == 29


@pytest.mark.parametrize("values, match", [
    ([1.0, 2.0] * 15, "2 distinct value"),
    ([5.0] * 30, "1 distinct value"),
])
def test_too_few_distinct_values_refused(values, match):
    df = _frame(n=30, seed=7)
    df["ppr"] = values
    with pytest.raises(DesignError, match=match) as err:
        evaluate_prognosis(df, ["alff__SMA_L"], "ppr", n_permutations=0, **FAST)
    assert "evaluate_biomarker" in str(err.value)


def test_boolean_and_text_targets_refused():
    df = _frame(n=30, seed=8)
    df["resp"] = df["ppr"] > 30
    with pytest.raises(DesignError, match="boolean"):
        evaluate_prognosis(df, ["alff__SMA_L"], "resp", n_permutations=0, **FAST)
    df["txt"] = df["ppr"].astype(str)
    df.loc[2, "txt"] = "n/a"
    with pytest.raises(DataError, match="subject 'sub-02' has 'n/a'"):
        evaluate_prognosis(df, ["alff__SMA_L"], "txt", n_permutations=0, **FAST)


def test_bad_model_and_too_few_subjects():
    df = _frame(n=30, seed=9)
    from sklearn.linear_model import LogisticRegression
    with pytest.raises(TypeError, match="regressor"):
        evaluate_prognosis(df, ["alff__SMA_L"], "ppr", model=LogisticRegression(), **FAST)
    with pytest.raises(DesignError, match="at least 5 subjects"):
        evaluate_prognosis(df.iloc[:4], ["alff__SMA_L"], "ppr", n_permutations=0, **FAST)


def test_subjects_stay_together_and_sessions_select_baseline():
    df = _frame(n=24, seed=10, sessions=("pre", "post"))
    both = evaluate_prognosis(df, ["alff__SMA_L"], "ppr", n_repeats=2, n_permutations=5,
                              random_state=0, **FAST)
    assert both.n == 48 and both.n_subjects == 24
    for row in both.folds.itertuples():
        tested = set(row.test_subjects.split(";"))
        assert len(tested) * 2 == row.n_test   # both sessions of a tested subject
    assert "target permuted across subjects" == both.parameters["permutation_scheme"]
    # cluster bootstrap when subjects have several rows
    assert (both.metrics.set_index("metric").loc["r2", "ci_method"]
            == "percentile bootstrap (subjects)")
    pre = evaluate_prognosis(df.drop(index=[2]), ["alff__SMA_L"], "ppr", sessions="pre",
                             n_permutations=0, random_state=0, **FAST)
    assert pre.n == 23
    assert pre.excluded[["subject_id", "reason"]].to_dict("records") == [
        {"subject_id": "sub-01", "reason": "no session 'pre'"}]
    assert pre.excluded["row"].isna().all()


def test_confounds_site_harmonisation_and_nested_cv():
    df = _frame(n=36, seed=11)
    res = evaluate_prognosis(df, ["alff__SMA_L", "alff__INS_L"], "ppr", confounds=["age"],
                             site="site", harmonize=True, n_permutations=5, random_state=0,
                             **FAST)
    assert res.parameters["cv"] == "leave-one-site-out over 2 sites" and len(res.folds) == 2
    assert set(res.folds["test_sites"]) == {"A", "B"}
    search = GridSearchCV(make_pipeline(StandardScaler(), Ridge()),
                          {"ridge__alpha": [0.1, 10.0]}, cv=3)
    nested = evaluate_prognosis(df, ["alff__SMA_L", "alff__INS_L"], "ppr", model=search,
                                n_repeats=1, n_permutations=2, random_state=0, **FAST)
    chosen = [json.loads(b)["ridge__alpha"] for b in nested.folds["best_params"]]
    assert set(chosen) <= {0.1, 10.0} and len(chosen) == 5


def test_user_cv_splitting_a_subject_is_refused():
    df = _frame(n=20, seed=12, sessions=("pre", "post"))
    with pytest.raises(DesignError, match="puts subject"):
        evaluate_prognosis(df, ["alff__SMA_L"], "ppr", cv=KFold(4, shuffle=True,
                                                                random_state=0),
                           n_permutations=0, **FAST)


def test_parallel_equals_serial_on_the_generic_route():
    df = _frame(n=30, seed=13)
    model = make_pipeline(StandardScaler(), Ridge(alpha=2.0, solver="lsqr", tol=1e-10))
    kw = {"model": model, "n_repeats": 2, "n_permutations": 6, "random_state": 3, **FAST}
    serial = evaluate_prognosis(df, ["alff__SMA_L"], "ppr", **kw)
    parallel = evaluate_prognosis(df, ["alff__SMA_L"], "ppr", n_jobs=2, **kw)
    np.testing.assert_allclose(parallel.null_distribution, serial.null_distribution,
                               rtol=1e-12)


# ---- join_outcomes ---------------------------------------------------------------------------
def _outcome_cohort():
    participants = pd.DataFrame({"participant_id": ["01", "02", "03", "04"],
                                 "group": ["CLBP", "CLBP", "CLBP", "HC"]})
    scores = pd.DataFrame({"participant_id": ["01", "01", "02", "02", "03", "04"],
                           "session_id": ["pre", "post", "pre", "post", "pre", "baseline"],
                           "vas": [8.0, 4.0, 6.0, 5.4, 7.0, 1.0]})
    measures = pd.DataFrame({"participant_id": ["01", "01", "02", "02", "03", "04"],
                             "session": ["pre", "post", "pre", "post", "pre", "baseline"],
                             "roi": "SMA_L", "feature": "alff",
                             "value": [1.0, 1.1, 2.0, 2.1, 3.0, 4.0]})
    return pm.Cohort.from_frames(participants, scores, measures)


def test_join_outcomes_with_stats_outcomes():
    cohort = _outcome_cohort()
    out = outcomes(cohort, "VAS")
    table = join_outcomes(cohort, out)
    assert len(table) == len(cohort.wide())
    pre = table[table["session"] == "pre"].set_index("subject_id")
    assert pre.loc["01", "percent_change"] == pytest.approx(50.0)
    assert pre.loc["02", "percent_change"] == pytest.approx(10.0)
    assert np.isnan(pre.loc["03", "percent_change"])
    assert pre.loc["03", "outcome_excluded_reason"] == out.set_index("subject_id").loc[
        "03", "excluded_reason"]
    # every row of a subject carries its outcome
    assert (table.loc[table["subject_id"] == "01", "percent_change"] == 50.0).all()


def test_join_outcomes_keeps_everyone():
    wide = pd.DataFrame({"subject_id": ["a", "a", "b"], "group": "CLBP",
                         "session": ["pre", "post", "pre"], "x": [1.0, 2.0, 3.0]})
    out = pd.DataFrame({"subject_id": ["a", "c"], "group": ["CLBP", "CLBP"],
                        "percent_change": [40.0, 20.0], "excluded_reason": [None, None]})
    table = join_outcomes(wide, out)
    assert table["subject_id"].tolist() == ["a", "a", "b", "c"]
    assert table.loc[2, "outcome_excluded_reason"] == "no outcome row"
    assert pd.isna(table.loc[3, "session"]) and table.loc[3, "percent_change"] == 20.0
    # an outcome-only subject (no session) is excluded by a session selection, by name
    rows = [{"subject_id": f"s{i}", "group": "CLBP", "session": "pre", "x": float(i)}
            for i in range(12)]
    big = pd.DataFrame(rows)
    res_out = pd.DataFrame({"subject_id": [f"s{i}" for i in range(13)], "group": "CLBP",
                            "percent_change": np.arange(13.0) * 3 % 7,
                            "excluded_reason": None})
    for sessions in ("pre", {"CLBP": "pre"}):
        res = evaluate_prognosis(join_outcomes(big, res_out), ["x"], "percent_change",
                                 sessions=sessions, n_splits=3, n_repeats=1,
                                 n_permutations=0, **FAST)
        assert res.excluded[["subject_id", "reason"]].to_dict("records") == [
            {"subject_id": "s12", "reason": "no session 'pre'"}]
    with pytest.raises(DataError, match="twice"):
        join_outcomes(wide, pd.concat([out, out]))
    with pytest.raises(DataError, match="already in data"):
        join_outcomes(wide, out.assign(x=1.0))
    with pytest.raises(DataError, match="group 'CLBP' in data but 'HC'"):
        join_outcomes(wide, out.assign(group="HC"))
    with pytest.raises(TypeError, match="outcomes"):
        join_outcomes(wide, out.to_dict())


def test_prognostic_evaluation_from_a_cohort():
    """Baseline features, outcome from stats.outcomes; subjects without an outcome or
    without the baseline session are listed, never dropped silently."""
    rng = np.random.default_rng(14)
    n = 30
    ids = [f"{i:02d}" for i in range(n)]
    participants = pd.DataFrame({"participant_id": ids, "group": "CLBP"})
    alff = rng.normal(size=n)
    ppr = np.clip(35 + 15 * alff + rng.normal(0, 8, n), 1, 95)
    vas_pre = rng.uniform(6, 9, n).round(1)
    scores = pd.DataFrame({"participant_id": np.repeat(ids, 2),
                           "session_id": ["pre", "post"] * n,
                           "vas": np.column_stack([vas_pre, vas_pre * (1 - ppr / 100)])
                           .ravel().round(2)})
    scores = scores.drop(index=[1])          # subject 00 has no post score
    measures = pd.DataFrame({"participant_id": ids[1:], "session": "pre", "roi": "SMA_L",
                             "feature": "alff", "value": alff[1:]})
    measures = measures[measures["participant_id"] != "05"]  # 05: no baseline imaging
    cohort = pm.Cohort.from_frames(participants, scores, measures)
    table = join_outcomes(cohort, outcomes(cohort, "VAS"))
    res = evaluate_prognosis(table, [("alff", "SMA_L")], "percent_change", sessions="pre",
                             nan_policy="omit", n_permutations=19, random_state=0, **FAST)
    reasons = dict(zip(res.excluded["subject_id"], res.excluded["reason"]))
    assert reasons["00"].startswith("missing percent_change (")
    assert reasons["05"] == "missing alff__SMA_L"
    assert res.n == n - 2 and res.r2 > 0.3
    # responder status is a class target: evaluate_biomarker on the same table
    bio = evaluate_biomarker(table, [("alff", "SMA_L")], "responder_moderate", positive=True,
                             sessions="pre", nan_policy="omit", n_permutations=0,
                             n_splits=3, random_state=0, progress=False)
    assert bio.n == n - 2


def test_progress_bars_on_long_steps_and_off_on_request(capfd):
    df = _frame(n=30, seed=15)
    kw = {"n_repeats": 1, "n_permutations": 20, "n_bootstrap": 100, "random_state": 0}
    evaluate_prognosis(df, ["alff__SMA_L"], "ppr", progress=True, **kw)
    err = capfd.readouterr().err
    assert "permutations" in err and "bootstrap" in err
    evaluate_prognosis(df, ["alff__SMA_L"], "ppr", progress=False, **kw)
    evaluate_biomarker(df.assign(g=np.arange(30) % 2), ["alff__SMA_L"], "g", positive=1,
                       progress=False, **kw)
    assert capfd.readouterr().err == ""
    evaluate_biomarker(df.assign(g=np.arange(30) % 2), ["alff__SMA_L"], "g", positive=1, **kw)
    assert "permutations" in capfd.readouterr().err
