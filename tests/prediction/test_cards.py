"""Model cards of ROI / table models: save, load (also in a fresh process), apply, validate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.decomposition import PCA
from sklearn.feature_selection import (
    SelectKBest,
    SelectPercentile,
    VarianceThreshold,
    f_classif,
    f_regression,
)
from sklearn.linear_model import (
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import LinearSVC

from painmarkers.exceptions import DataError, DesignError, InferenceWarning, OutputError
from painmarkers.prediction import (
    ConfoundRegressor,
    ModelCard,
    apply_model,
    binary_metrics,
    evaluate_biomarker,
    evaluate_prognosis,
    load_model_card,
    regression_metrics,
    roc_auc_ci,
    save_model_card,
)
from painmarkers.prediction import cards as cards_module

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["alff__INS_L", "alff__SMA_L", "falff__mPFC"]


def cohort(n, seed, shift=0.0, sites=("A", "B")):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"subject_id": [f"s{seed}-{i:03d}" for i in range(n)],
                       "age": rng.uniform(20, 65, n).round(1),
                       "sex": rng.choice(["F", "M"], n),
                       "site": rng.choice(list(sites), n)})
    for j, f in enumerate(FEATURES):
        df[f] = rng.normal(size=n) + shift * (j == 0)
    latent = df["alff__INS_L"] - 0.5 * df["falff__mPFC"]
    df["group"] = np.where(latent + rng.normal(0, 0.8, n) > 0, "CLBP", "HC")
    df["ppr"] = 30 + 12 * latent + 0.1 * df["age"] + rng.normal(0, 6, n)
    return df


@pytest.fixture(scope="module")
def classifier():
    return evaluate_biomarker(cohort(80, 0), FEATURES, "group", positive="CLBP",
                              n_permutations=0, n_repeats=2, random_state=0, progress=False)


@pytest.fixture(scope="module")
def regressor():
    return evaluate_prognosis(cohort(80, 0), FEATURES, "ppr", confounds=["age", "sex"],
                              n_permutations=0, n_repeats=2, random_state=0, progress=False)


def test_evaluations_keep_their_final_model_and_training_data(classifier, regressor):
    df = cohort(80, 0)
    assert classifier.final_model_ is not None
    with sklearn.config_context(enable_metadata_routing=True):
        proba = classifier.final_model_.predict_proba(df[FEATURES].to_numpy(float))[:, 1]
    ref = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    z = StandardScaler().fit_transform(df[FEATURES].to_numpy(float))
    ref.fit(z, (df["group"] == "CLBP").astype(int))
    assert_allclose(proba, ref.predict_proba(z)[:, 1], rtol=1e-10)
    t = classifier.training
    assert t["n_rows"] == 80 and t["n_subjects"] == 80
    assert t["target"]["class_counts"] == df["group"].value_counts().sort_index().to_dict()
    for f in FEATURES:
        assert_allclose([t["features"][f][k] for k in ("mean", "sd", "min", "max")],
                        [df[f].mean(), df[f].std(ddof=1), df[f].min(), df[f].max()],
                        rtol=1e-12)
    assert_allclose([t["age"]["min"], t["age"]["max"]], [df["age"].min(), df["age"].max()])
    assert t["sites"] == df["site"].value_counts().sort_index().to_dict()
    r = regressor.training
    assert_allclose(r["target"]["mean"], df["ppr"].mean(), rtol=1e-12)
    assert r["confounds"] == [{"name": "age", "kind": "numeric"},
                              {"name": "sex", "kind": "categorical", "levels": ["F", "M"]}]


def test_classifier_round_trip_is_bit_identical(classifier, tmp_path):
    card = save_model_card(classifier, tmp_path / "card", intended_use="research only")
    assert isinstance(card, ModelCard)
    df = cohort(50, 7)
    ext = apply_model(card, df, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        ref = classifier.final_model_.predict_proba(df[FEATURES].to_numpy(float))[:, 1]
    assert ext.predictions["score"].to_numpy().tobytes() == ref.tobytes()
    assert (ext.predictions["predicted"] == (ref >= 0.5)).all()
    c = json.loads((tmp_path / "card" / "model_card.json").read_text())
    assert c["format_version"] == cards_module.FORMAT_VERSION
    assert c["task"] == "classification" and c["positive"] == "CLBP"
    assert c["threshold"] == 0.5 and c["score"] == "predict_proba"
    assert c["input"]["features"] == FEATURES
    assert c["intended_use"] == "research only"
    assert set(c["files"]) == {"pipeline.npz", "weights.npz"}
    assert c["versions"]["scikit-learn"] == sklearn.__version__
    assert [s["class"] for s in c["pipeline"]["steps"]] == ["StandardScaler",
                                                            "LogisticRegression"]
    assert {r["metric"] for r in c["performance"]["metrics"]} >= {"auc", "balanced_accuracy"}
    # effective weights: the log-odds is weights . x + intercept
    w = card.weights
    logit = np.log(ref / (1 - ref))
    assert_allclose(df[FEATURES].to_numpy(float) @ w[FEATURES].to_numpy() + card.intercept,
                    logit, rtol=1e-9, atol=1e-9)
    assert "Intended use: research only" in card.summary()


def test_external_classification_metrics_equal_the_metric_functions(classifier, tmp_path):
    card = save_model_card(classifier, tmp_path)
    df = cohort(120, 3)
    ext = apply_model(card, df, random_state=1)
    y = (df["group"] == "CLBP").to_numpy().astype(int)
    p = ext.predictions["score"].to_numpy()
    m = ext.metrics.set_index("metric")
    auc = roc_auc_ci(y, p)
    assert_allclose(m.loc["auc", ["estimate", "ci_low", "ci_high"]].astype(float),
                    auc.loc[0, ["estimate", "ci_low", "ci_high"]].astype(float), rtol=1e-12)
    bm = binary_metrics(y, (p >= 0.5).astype(int)).set_index("metric")
    for k in ("sensitivity", "specificity", "ppv", "npv", "accuracy"):
        assert_allclose(m.loc[k, ["estimate", "ci_low", "ci_high"]].astype(float),
                        bm.loc[k, ["estimate", "ci_low", "ci_high"]].astype(float))
    assert_allclose(m.loc["brier", "estimate"], np.mean((p - y) ** 2), rtol=1e-12)
    # calibration (Steyerberg) against statsmodels' logistic GLM
    import statsmodels.api as sm

    lp = np.log(p / (1 - p))
    slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-13)
    large = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(),
                   offset=lp).fit(tol=1e-13)
    assert_allclose(m.loc["calibration_slope", "estimate"], slope.params[1], rtol=1e-9)
    assert_allclose(m.loc["calibration_slope", ["ci_low", "ci_high"]].astype(float),
                    slope.conf_int()[1], rtol=1e-9)
    assert_allclose(m.loc["calibration_intercept", "estimate"], large.params[0], rtol=1e-9,
                    atol=1e-9)
    assert_allclose(m.loc["calibration_intercept", ["ci_low", "ci_high"]].astype(float),
                    large.conf_int()[0], rtol=1e-9)
    assert ext.n == 120 and ext.n_subjects == 120
    assert not ext.calibration.empty
    files = ext.save(tmp_path / "ext")
    assert set(files) >= {"metrics", "predictions", "calibration", "shift", "parameters"}


def test_regression_with_confounds_round_trip_and_metrics(regressor, tmp_path):
    card = save_model_card(regressor, tmp_path)
    assert card.weights is None  # confound regression: no fixed linear map
    df = cohort(60, 9)
    ext = apply_model(card, df, random_state=0)
    conf = pd.get_dummies(df[["age", "sex"]], drop_first=True, dtype=float).to_numpy(float)
    with sklearn.config_context(enable_metadata_routing=True):
        ref = regressor.final_model_.predict(df[FEATURES].to_numpy(float), confounds=conf)
    assert ext.predictions["predicted"].to_numpy().tobytes() == ref.tobytes()
    y = df["ppr"].to_numpy()
    m = ext.metrics.set_index("metric")
    base = regressor.training["target"]["mean"]
    assert_allclose(m.loc["r2", "estimate"],
                    1 - np.sum((y - ref) ** 2) / np.sum((y - base) ** 2), rtol=1e-12)
    slope, intercept = np.polyfit(ref, y, 1)
    assert_allclose(m.loc["calibration_slope", "estimate"], slope, rtol=1e-9)
    assert_allclose(m.loc["calibration_intercept", "estimate"], intercept, rtol=1e-9)
    ref_m = regression_metrics(y, ref, baseline=np.full(y.size, base), random_state=0)
    assert_allclose(m.loc["mae", "estimate"], ref_m.set_index("metric").loc["mae", "estimate"])
    assert ext.parameters["r2_baseline"] == "training mean of the target"
    # a sex level unseen in training is refused by name
    bad = df.assign(sex=["X", *df["sex"][1:]])
    with pytest.raises(ValueError, match=r"confound 'sex' has level\(s\) \['X'\]"):
        apply_model(card, bad)


def test_combat_model_round_trip(tmp_path):
    df = cohort(90, 2, sites=("A", "B", "C"))
    res = evaluate_biomarker(df, FEATURES, "group", positive="CLBP", site="site",
                             harmonize=True, cv=5, n_permutations=0, random_state=0,
                             progress=False)
    card = save_model_card(res, tmp_path)
    assert card.card["input"]["site"] == {"column": "site",
                                          "names": list(pd.unique(df["site"]))}
    new = cohort(40, 5, sites=("B", "D"))  # site D unseen: standardised on itself
    ext = apply_model(card, new, random_state=0)
    names = list(pd.unique(df["site"]))
    codes = {n: k for k, n in enumerate(names)} | {"D": len(names)}
    with sklearn.config_context(enable_metadata_routing=True):
        ref = res.final_model_.predict_proba(new[FEATURES].to_numpy(float),
                                             site=new["site"].map(codes).to_numpy())[:, 1]
    assert ext.predictions["score"].to_numpy().tobytes() == ref.tobytes()
    with pytest.raises(DataError, match=r"lack the confound/site column\(s\) \['site'\]"):
        apply_model(card, new.drop(columns="site"))


MODELS = [LogisticRegression(), LinearSVC(), RidgeClassifier(), Ridge(), Lasso(alpha=0.05),
          LinearRegression()]


@pytest.mark.parametrize("model", MODELS, ids=[type(m).__name__ for m in MODELS])
def test_every_supported_step_round_trips_bit_identically(model, tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 8))
    X[:, 7] = 1.0  # constant: removed by VarianceThreshold
    y = (X[:, 0] - X[:, 1] + rng.normal(size=60) > 0).astype(int)
    classifier = hasattr(model, "decision_function")
    target = y if classifier else X[:, 0] * 3 + rng.normal(size=60)
    score = f_classif if classifier else f_regression
    pipe = Pipeline([("vt", VarianceThreshold()), ("scale", StandardScaler()),
                     ("k", SelectKBest(score, k=6)),
                     ("pct", SelectPercentile(score, percentile=80)),
                     ("pca", PCA(n_components=3, whiten=True)), ("model", model)])
    pipe.fit(X, target)
    names = [f"f{i}" for i in range(8)]
    card = save_model_card(pipe, tmp_path, features=names,
                           positive=1 if classifier else None, target="y")
    new = pd.DataFrame(rng.normal(size=(25, 8)), columns=names)
    new["f7"] = 1.0
    out = apply_model(card, new).predictions
    if not classifier:
        ref = pipe.predict(new.to_numpy())
        assert out["predicted"].to_numpy().tobytes() == ref.tobytes()
    elif hasattr(model, "predict_proba"):
        ref = pipe.predict_proba(new.to_numpy())[:, 1]
        assert out["score"].to_numpy().tobytes() == ref.tobytes()
    else:
        ref = pipe.decision_function(new.to_numpy())
        assert out["score"].to_numpy().tobytes() == ref.tobytes()
        assert (out["predicted"].to_numpy() == pipe.predict(new.to_numpy())).all()
    decision = (pipe.decision_function(new.to_numpy()) if classifier
                else pipe.predict(new.to_numpy()))
    assert_allclose(new.to_numpy() @ card.weights.to_numpy() + card.intercept, decision,
                    rtol=1e-9, atol=1e-9)


def test_a_search_is_saved_as_its_best_estimator(tmp_path):
    from sklearn.model_selection import GridSearchCV

    df = cohort(60, 1)
    search = GridSearchCV(Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]),
                          {"m__C": [0.1, 1.0]}, cv=3)
    res = evaluate_biomarker(df, FEATURES, "group", positive="CLBP", model=search,
                             n_permutations=0, n_repeats=1, random_state=0, progress=False)
    card = save_model_card(res, tmp_path)
    assert [s["key"] for s in card.card["pipeline"]["steps"]] == ["model/best/s",
                                                                  "model/best/m"]
    new = cohort(30, 4)
    with sklearn.config_context(enable_metadata_routing=True):
        ref = res.final_model_.predict_proba(new[FEATURES].to_numpy(float))[:, 1]
    assert apply_model(card, new).predictions["score"].to_numpy().tobytes() == ref.tobytes()


FRESH = """
import sys, numpy as np, pandas as pd
from painmarkers.prediction import load_model_card, apply_model
card = load_model_card(sys.argv[1])
data = pd.read_csv(sys.argv[2], dtype={"subject_id": str})
ext = apply_model(card, data, random_state=0)
col = "score" if card.task == "classification" else "predicted"
np.save(sys.argv[3], ext.predictions[col].to_numpy())
"""


def run_fresh(card_dir: Path, data_csv: Path, out: Path) -> np.ndarray:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-W", "error", "-c", FRESH, str(card_dir), str(data_csv),
                    str(out)], check=True, env=env, capture_output=True, timeout=300)
    return np.load(out, allow_pickle=False)


@pytest.mark.parametrize("which", ["classifier", "regressor"])
def test_fresh_process_gives_identical_bytes(which, classifier, regressor, tmp_path):
    res = classifier if which == "classifier" else regressor
    card = save_model_card(res, tmp_path / "card")
    df = cohort(40, 11)
    df.to_csv(tmp_path / "new.csv", index=False)
    data = pd.read_csv(tmp_path / "new.csv", dtype={"subject_id": str})
    here = apply_model(card, data, random_state=0).predictions
    col = "score" if which == "classifier" else "predicted"
    there = run_fresh(tmp_path / "card", tmp_path / "new.csv", tmp_path / "pred.npy")
    assert there.tobytes() == here[col].to_numpy().tobytes()


# -- bad input ----------------------------------------------------------------------------------
def _rewrite(path: Path, change, keep_integrity=False):
    card = json.loads(path.read_text())
    change(card)
    if keep_integrity:
        card["integrity"] = {"card_sha256": cards_module._card_digest(card)}
    path.write_text(json.dumps(card, indent=2))


def test_newer_format_and_hand_edits_are_refused(classifier, tmp_path):
    save_model_card(classifier, tmp_path)
    file = tmp_path / "model_card.json"
    original = file.read_text()
    _rewrite(file, lambda c: c.update(format_version=2), keep_integrity=True)
    with pytest.raises(DataError, match=r"model-card format 2; this painmarkers .* reads "
                                        r"formats up to 1\. Upgrade"):
        load_model_card(tmp_path)
    file.write_text(original)
    _rewrite(file, lambda c: c.update(threshold=0.3))
    with pytest.raises(DataError, match=r"model_card\.json' was changed after it was written"):
        load_model_card(file)
    file.write_text(original)
    npz = tmp_path / "pipeline.npz"
    raw = bytearray(npz.read_bytes())
    raw[-30] ^= 0xFF
    npz.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"pipeline\.npz' does not match the SHA-256"):
        load_model_card(tmp_path)
    npz.unlink()
    with pytest.raises(DataError, match=r"lists 'pipeline\.npz', which is missing"):
        load_model_card(tmp_path)
    with pytest.raises(DataError, match="No model card at"):
        load_model_card(tmp_path / "nowhere")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model_card.json").write_text('{"format": "something"}')
    with pytest.raises(DataError, match="is not a painmarkers model card"):
        load_model_card(tmp_path / "other")


def test_an_existing_card_is_not_overwritten_silently(classifier, tmp_path):
    save_model_card(classifier, tmp_path)
    with pytest.raises(OutputError, match="already exists; pass overwrite=True"):
        save_model_card(classifier, tmp_path)
    card = save_model_card(classifier, tmp_path, overwrite=True, name="v2")
    assert card.card["name"] == "v2"
    copy = card.save(tmp_path / "copy")
    assert load_model_card(tmp_path / "copy").card == card.card
    assert copy["card"].read_bytes() == (tmp_path / "model_card.json").read_bytes()


def test_missing_features_shift_and_single_class(classifier, tmp_path):
    card = save_model_card(classifier, tmp_path)
    df = cohort(40, 6)
    with pytest.raises(DataError, match=r"lack the feature column\(s\) \['alff__INS_L'\].*"
                                        r"'alff__INS_L' -> 'alff_INS_L'"):
        apply_model(card, df.rename(columns={"alff__INS_L": "alff_INS_L"}))
    shifted = cohort(40, 6, shift=3.0)
    with pytest.warns(InferenceWarning, match=r"alff__INS_L \(mean .* training SD; \d+ of 40 "
                                              r"values outside"):
        ext = apply_model(card, shifted)
    assert ext.shift.set_index("feature").loc["alff__INS_L", "flagged"]
    assert not ext.shift.set_index("feature").loc["alff__SMA_L", "flagged"]
    assert_allclose(ext.shift.set_index("feature").loc["alff__INS_L", "shift_sd"],
                    (shifted["alff__INS_L"].mean() - classifier.training["features"]
                     ["alff__INS_L"]["mean"]) / classifier.training["features"]["alff__INS_L"]
                    ["sd"], rtol=1e-12)
    one = df[df["group"] == "HC"]
    with pytest.warns(InferenceWarning, match=r"one class only \(negative, n = \d+\)"):
        ext = apply_model(card, one)
    assert ext.metrics["metric"].tolist() == ["specificity"]
    # no target column: predictions only
    ext = apply_model(card, df.drop(columns="group"))
    assert ext.metrics.empty and len(ext.predictions) == 40
    # missing feature values: raise naming the subject, or omit and list
    holes = df.copy()
    holes.loc[3, "alff__SMA_L"] = np.nan
    with pytest.raises(DataError, match=r"Subject 's6-003' has no value for \['alff__SMA_L'\]"):
        apply_model(card, holes)
    ext = apply_model(card, holes, nan_policy="omit")
    assert len(ext.predictions) == 39
    assert ext.excluded["reason"].tolist() == ["missing alff__SMA_L"]
    # a missing outcome is predicted but not validated, and listed
    no_y = df.copy()
    no_y.loc[0, "group"] = None
    ext = apply_model(card, no_y)
    assert ext.n == 39 and len(ext.predictions) == 40
    assert "predicted, not in the metrics" in ext.excluded["reason"].iloc[0]


def test_unsupported_models_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    knn = Pipeline([("s", StandardScaler()), ("m", KNeighborsClassifier())]).fit(X, y)
    with pytest.raises(DataError, match="last step is a KNeighborsClassifier"):
        save_model_card(knn, tmp_path, features=["a", "b", "c"], positive=1)
    poly = Pipeline([("p", PolynomialFeatures()), ("m", LogisticRegression())]).fit(X, y)
    with pytest.raises(DataError, match="class 'PolynomialFeatures' is not one a model card"):
        save_model_card(poly, tmp_path, features=["a", "b", "c"], positive=1)
    three = LogisticRegression().fit(X, np.arange(40) % 3)
    with pytest.raises(DataError, match="binary classifiers; this one has 3 classes"):
        save_model_card(three, tmp_path, features=["a", "b", "c"], positive=1)
    lr = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="'positive' parameter must name the positive class"):
        save_model_card(lr, tmp_path, features=["a", "b", "c"])
    with pytest.raises(DataError, match="2 feature names for a model fitted on 3"):
        save_model_card(lr, tmp_path, features=["a", "b"], positive=1)
    conf = Pipeline([("c", ConfoundRegressor(n_confounds=None)),
                     ("m", LogisticRegression())]).fit(X, y)
    with pytest.raises(DataError, match="need each row's site or confounds"):
        save_model_card(conf, tmp_path, features=["a", "b", "c"], positive=1)
    with pytest.raises(TypeError, match="fitted scikit-learn pipeline or an evaluation"):
        save_model_card("model.pkl", tmp_path)


def test_class_imbalance_too_strong_for_the_folds_names_the_counts():
    df = cohort(40, 0)
    df["group"] = ["CLBP"] * 3 + ["HC"] * 37
    with pytest.raises(DesignError, match=r"Class 'CLBP' has 3 subject\(s\) but 5-fold"):
        evaluate_biomarker(df, FEATURES, "group", positive="CLBP", n_permutations=0,
                           progress=False)


def test_calibration_under_separation_is_reported_not_fitted():
    from painmarkers.prediction._external import logistic_calibration

    rows = logistic_calibration(np.array([0, 0, 0, 1, 1, 1]),
                                np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), 0.95)
    slope = {r["metric"]: r for r in rows}["calibration_slope"]
    assert np.isnan(slope["estimate"])
    assert slope["ci_method"] == "logistic ML did not converge (separation)"
    intercept = {r["metric"]: r for r in rows}["calibration_intercept"]
    assert_allclose(intercept["estimate"], 0.0, atol=1e-8)  # symmetric: in the large


def test_shift_table_tolerates_rounding_at_the_training_range():
    """Values equal to the training min and max up to summation-order rounding are inside
    the range; a value 1e-6 (relative) beyond the max is outside and counted."""
    from painmarkers.prediction._external import shift_table
    from painmarkers.prediction._final import _stats

    train = np.array([0.362, 0.371, 0.38, 0.39, 0.402])
    stats = {"image_sd": _stats(train)}
    again = pd.DataFrame({"image_sd": train * (1 + np.array([-1, 0, 0, 0, 1]) * 4e-16)})
    row = shift_table(stats, again, max_shift=1.0).iloc[0]
    assert row["n_outside"] == 0 and not row["flagged"]
    beyond = pd.DataFrame({"image_sd": np.r_[train[:-1], 0.402 * (1 + 1e-6)]})
    row = shift_table(stats, beyond, max_shift=1.0).iloc[0]
    assert row["n_outside"] == 1 and row["flagged"]  # 1 of 5 > 10 % outside


def test_shift_table_with_one_bound_checks_that_bound():
    """A (hand-written) card recording only the training maximum: values above it are
    counted, nothing fails for the missing minimum."""
    from painmarkers.prediction._external import shift_table

    stats = {"x": {"mean": 1.0, "sd": 1.0, "max": 2.0}}
    row = shift_table(stats, pd.DataFrame({"x": [-5.0, 0.5, 1.5, 3.0]}), max_shift=9.0).iloc[0]
    assert row["n_outside"] == 1 and row["train_min"] is None
    stats = {"x": {"mean": 1.0, "sd": 1.0, "min": 0.0}}
    row = shift_table(stats, pd.DataFrame({"x": [-5.0, 0.5, 1.5, 3.0]}), max_shift=9.0).iloc[0]
    assert row["n_outside"] == 1
