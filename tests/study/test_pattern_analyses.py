"""The ``pattern`` and ``external_validation`` analyses of study specifications: spec
errors, ``painmarkers check`` problems, a pattern run (report, maps, figures, model card)
whose numbers equal evaluate_pattern called directly, and a second study applying the
saved cards whose predictions equal apply_model called directly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from painmarkers.datasets import simulate_cohort
from painmarkers.exceptions import DataError, SpecError
from painmarkers.prediction import apply_model, evaluate_pattern, load_model_card, save_model_card
from painmarkers.study import check_study, parse_spec, run_study

TRAIN = """
random_state = 3

[study]
name = "voxel pattern"
dataset = "bids"
output = "train_results"
task = "rest"

[[extractors]]
name = "alff"
band = [0.01, 0.08]

[rois]
spheres = [{ name = "INS_L", center = [-36, 16, 2], radius_mm = 10 }]

[[analyses]]
type = "pattern"
name = "clbp_pattern"
feature = "alff"
target = "group"
positive = "CLBP"
sessions = { CLBP = "pre", HC = "baseline" }
levels = ["CLBP", "HC"]
n_splits = 2
n_repeats = 1
n_permutations = 9
n_bootstrap_weights = 20

[[analyses]]
type = "pattern"
name = "clbp_pattern_age"           # age regressed out of every voxel inside the folds
feature = "alff"
target = "group"
positive = "CLBP"
sessions = { CLBP = "pre", HC = "baseline" }
levels = ["CLBP", "HC"]
confounds = ["age"]
n_splits = 2
n_repeats = 1
n_permutations = 0
n_bootstrap_weights = 0

[[analyses]]
type = "classifier"
name = "clbp_roi"
features = [["alff", "INS_L"]]
target = "group"
positive = "CLBP"
sessions = { CLBP = "pre", HC = "baseline" }
n_splits = 2
n_repeats = 1
n_permutations = 0
"""

VALIDATE = """
random_state = 5

[study]
name = "external validation"
dataset = "bids"
output = "validation_results"
task = "rest"

[[extractors]]
name = "alff"
band = [0.01, 0.08]

[rois]
spheres = [{ name = "INS_L", center = [-36, 16, 2], radius_mm = 10 }]

[[analyses]]
type = "external_validation"
name = "voxel_card"
card = "train_results/models/clbp_pattern"
target = "group"

[[analyses]]
type = "external_validation"
name = "voxel_card_age"
card = "train_results/models/clbp_pattern_age"
target = "group"

[[analyses]]
type = "external_validation"
name = "roi_card"
card = "train_results/models/clbp_roi"
target = "group"
positive = "HC"                     # the new label standing for the card's 'CLBP'
sessions = { CLBP = "pre", HC = "baseline" }
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pattern")
    simulate_cohort("rtms_alff_clbp", root / "bids", resolution_mm=8, n_volumes=64,
                    n_clbp=6, n_hc=4, random_state=4)
    return root


@pytest.fixture(scope="module")
def runs(dataset):
    """The training study (pattern + ROI classifier), then the validation study."""
    (dataset / "train.toml").write_text(TRAIN)
    (dataset / "validate.toml").write_text(VALIDATE)
    train = run_study(dataset / "train.toml", progress=False)
    validate = run_study(dataset / "validate.toml", progress=False)
    return train, validate


def _spec(analysis: dict) -> dict:
    return {"study": {"dataset": "bids"}, "analyses": [analysis]}


PATTERN = {"type": "pattern", "feature": "alff", "target": "group", "positive": "CLBP"}


# -- reading the specification -----------------------------------------------------------------
def test_spec_defaults_and_paths(tmp_path):
    spec = parse_spec(_spec({**PATTERN, "mask": "masks/gm.nii.gz"}), base_dir=tmp_path)
    p = spec.analyses[0].params
    assert p["mask"] == str(tmp_path / "masks" / "gm.nii.gz")
    assert (p["model"], p["n_splits"], p["n_repeats"], p["n_permutations"],
            p["n_bootstrap_weights"], p["save_card"]) == (None, 5, 10, 1000, 1000, True)
    assert p["levels"] is None and p["sessions"] is None and p["confounds"] == []
    ev = parse_spec(_spec({"type": "external_validation", "card": "../run/models/m"}),
                    base_dir=tmp_path / "study")
    assert ev.analyses[0].params["card"] == str(tmp_path / "run" / "models" / "m")
    assert ev.analyses[0].params["max_shift"] == 1.0


@pytest.mark.parametrize(("analysis", "key", "message"), [
    ({**PATTERN, "model": "random_forest"}, "model", "'model' must be one of"),
    ({**PATTERN, "model": "lasso_pcr"}, "model",
     "'model' 'lasso_pcr' does not fit a class target"),
    ({"type": "pattern", "feature": "alff", "target": "age", "model": "linear_svm"},
     "model", "'model' 'linear_svm' does not fit a continuous target"),
    ({"type": "pattern", "feature": "alff"}, "target", "needs what to predict: 'target'"),
    ({**PATTERN, "instrument": "VAS"}, "instrument",
     "give either 'target' .* or 'instrument'"),
    ({"type": "pattern", "feature": "alff", "target": "age", "outcome": "change"},
     "outcome", "'outcome' needs 'instrument'"),
    ({"type": "pattern", "feature": "alff", "instrument": "VAS", "positive": True},
     "positive", "'positive' goes with 'target'"),
    ({**PATTERN, "n_bootstrap_weights": -1}, "n_bootstrap_weights",
     "'n_bootstrap_weights' must be an integer >= 0"),
    ({**PATTERN, "levels": ["CLBP", "CLBP"]}, "levels", "'levels' lists a name twice"),
    ({**PATTERN, "save_card": "yes"}, "save_card", "'save_card' must be true or false"),
    ({**PATTERN, "sessions": 3}, "sessions", "'sessions' must be a session label"),
    ({**PATTERN, "groups": ["CLBP"]}, "groups", r"Unknown key\(s\) \['groups'\]"),
    ({"type": "external_validation", "card": ""}, "card", "'card' must be a non-empty"),
    ({"type": "external_validation", "card": "m", "max_shift": 0}, "max_shift",
     "'max_shift' must be a positive number"),
    ({"type": "external_validation", "card": "m", "outcome": "change"}, "outcome",
     "'outcome' needs 'instrument'"),
])
def test_spec_errors_name_the_analysis_and_key(analysis, key, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(_spec(analysis))
    text = str(info.value)
    assert f"analysis '{analysis['type']}_1'" in text and key in text


# -- painmarkers check -------------------------------------------------------------------------
def test_check_reports_problems_before_running(dataset, tmp_path):
    shutil.copytree(dataset / "bids", tmp_path / "bids")
    (tmp_path / "mask.nii.gz").write_bytes(b"not an image")
    (tmp_path / "study.toml").write_text(TRAIN.replace('output = "train_results"',
                                                       'output = "out"') + """
[[analyses]]
type = "pattern"
name = "no_maps"
feature = "qsm"
target = "group"
positive = "CLBP"

[[analyses]]
type = "pattern"
name = "bad_labels"
feature = "alff"
target = "group"
positive = "patient"
levels = ["CLBP", "CBLP"]
mask = "mask.nii.gz"
n_splits = 5

[[analyses]]
type = "pattern"
name = "too_many_folds"
feature = "alff"
target = "group"
positive = "CLBP"
sessions = { CLBP = "pre", HC = "baseline" }

[[analyses]]
type = "external_validation"
name = "no_card"
card = "models/missing"

[[analyses]]
type = "external_validation"
name = "card_of_this_study"
card = "out/models/clbp_pattern"
""")
    report = check_study(tmp_path / "study.toml", raise_on_problems=False)
    problems = "\n".join(report.problems)
    assert ("analysis 'no_maps' (pattern): feature 'qsm' is not a map any extractor "
            "produces") in problems
    assert "analysis 'bad_labels' (pattern): levels 'CBLP' is not a group" in problems
    assert "analysis 'bad_labels' (pattern): mask: " in problems
    assert ("analysis 'too_many_folds' (pattern): n_splits = 5 is more than the 4 subjects "
            "of the smaller class") in problems
    assert "analysis 'no_card' (external_validation): card: No model card at" in problems
    # a card that an earlier analysis of the same study writes is checked when it runs
    assert "card_of_this_study" not in problems
    assert any("analysis 'card_of_this_study' (external_validation): the card is the model "
               "of analysis 'clbp_pattern' of this study" in n for n in report.notes)
    # the run stops before anything is written
    with pytest.raises(SpecError, match="analysis 'no_card'"):
        run_study(tmp_path / "study.toml", progress=False)
    assert not (tmp_path / "out").exists()


def test_check_of_external_validation_against_the_card(runs, dataset, tmp_path):
    train, _ = runs
    shutil.copytree(dataset / "bids", tmp_path / "bids")
    card = train.out_dir / "models" / "clbp_pattern"
    roi_card = train.out_dir / "models" / "clbp_roi"
    (tmp_path / "study.toml").write_text(f"""
[study]
dataset = "bids"
task = "rest"

[[analyses]]
type = "external_validation"
name = "no_extractor"
card = "{card}"

[[analyses]]
type = "external_validation"
name = "wrong_positive"
card = "{roi_card}"
target = "group"
sessions = "baseline"
""")
    report = check_study(tmp_path / "study.toml", raise_on_problems=False)
    problems = "\n".join(report.problems)
    assert ("analysis 'no_extractor' (external_validation): the card's map kind 'alff' is "
            "not a map") in problems
    assert ("analysis 'wrong_positive' (external_validation): the card's feature "
            "'alff__INS_L' is not a column the study produces") in problems
    assert ("the card's positive class 'CLBP' is not a value of 'group' in the rows "
            "selected (values: ['HC']); give 'positive'") in problems


# -- the runs ----------------------------------------------------------------------------------
def _cohort_maps(cohort, sessions):
    imgs, subjects, labels = [], [], []
    for sub, ses in cohort.iter_sessions():
        if sessions.get(sub.group) == ses.label:
            imgs.append(ses.images["alff"])
            subjects.append(sub.id)
            labels.append(sub.group)
    return imgs, subjects, labels


def test_pattern_run_writes_maps_figures_card_and_report(runs):
    train, _ = runs
    out = train.out_dir
    sessions = {"CLBP": "pre", "HC": "baseline"}
    maps = out / "maps" / "clbp_pattern"
    for stem in ("weights", "weights_z", "weights_p", "weights_q", "pattern", "mask"):
        assert (maps / f"{stem}.nii.gz").is_file() and (maps / f"{stem}.json").is_file()
    assert train.maps["clbp_pattern/pattern"] == maps
    assert {"clbp_pattern_roc", "clbp_pattern_weights", "clbp_pattern_weights_z",
            "clbp_pattern_haufe"} <= set(train.figures)
    # the same numbers as evaluate_pattern on the same maps, labels, mask and seed
    imgs, subjects, labels = _cohort_maps(train.cohort, sessions)
    assert len(imgs) == 10
    mask = nib.load(maps / "mask.nii.gz")
    ref = evaluate_pattern(imgs, np.asarray(labels, dtype=object), positive="CLBP",
                           subjects=subjects, mask_img=mask, n_splits=2, n_repeats=1,
                           n_permutations=9, n_bootstrap_weights=20, random_state=3,
                           progress=False)
    table = pd.read_csv(train.tables["clbp_pattern"], sep="\t").set_index("metric")
    expected = ref.metrics.set_index("metric")
    assert_allclose(table.loc[expected.index, "estimate"], expected["estimate"], rtol=1e-10)
    assert_allclose(nib.load(maps / "weights.nii.gz").get_fdata(),
                    ref.weights_img.get_fdata(), rtol=1e-10, atol=1e-14)
    # the FDR-thresholded z map keeps exactly the mask voxels with q < .05
    z, q = (nib.load(maps / f).get_fdata() for f in ("weights_z.nii.gz", "weights_q.nii.gz"))
    inside = mask.get_fdata() > 0
    thresholded = nib.load(maps / "weights_z_fdr05.nii.gz").get_fdata()
    surviving = inside & (q < 0.05)
    assert_allclose(thresholded[surviving], z[surviving], rtol=0)
    assert not thresholded[~surviving].any()
    prov = json.loads(train.provenance_path.read_text())
    rec = {a["name"]: a for a in prov["analyses"]}["clbp_pattern"]
    boot = pd.read_csv(maps / "bootstrap.csv")
    assert rec["n_voxels_q05"] == int(surviving.sum()) == int(boot.loc[0, "n_voxels_q05"])
    assert rec["n"] == 10 and rec["model"] == "l2_logistic" and rec["n_excluded"] == 0
    # the model card: the evaluation's weights, the training cohort, the map kind
    card = load_model_card(out / "models" / "clbp_pattern")
    assert card.is_voxel and card.card["input"]["image_kind"] == "alff"
    assert card.card["target"] == "group" and card.card["positive"] == "CLBP"
    assert card.card["training"]["groups"] == {"CLBP": 6, "HC": 4}
    assert card.card["training"]["sessions"] == {"baseline": 4, "pre": 6}
    assert card.card["training"]["image_stats"]["image_mean"]["n"] == 10
    assert_allclose(card.weights.get_fdata(), ref.weights_img.get_fdata(), rtol=1e-10,
                    atol=1e-14)
    html = train.report_path.read_text()
    assert "Whole-brain pattern: ALFF maps predicting group = CLBP" in html
    assert f"{rec['n_voxels_q05']} of {rec['n_voxels']} voxels have bootstrap weights" in html
    assert "models/clbp_pattern/" in html and "Haufe et al. (2014) activation pattern" in html
    assert "2-fold cross-validation stratified by class and grouped by subject" in html
    assert "red: higher ALFF pushes the prediction toward group = CLBP" in html
    assert "with an L2-penalised logistic regression on every voxel" in html  # methods


def test_external_validation_equals_apply_model(runs):
    train, validate = runs
    sessions = {"CLBP": "pre", "HC": "baseline"}
    card = load_model_card(train.out_dir / "models" / "clbp_pattern")
    imgs, subjects, labels = _cohort_maps(validate.cohort, sessions)
    ref = apply_model(card, imgs, target=labels, subjects=subjects, nan_policy="omit",
                      random_state=5)
    pred = pd.read_csv(validate.tables["voxel_card_predictions"], sep="\t",
                       dtype={"subject_id": str})
    assert pred["subject_id"].tolist() == subjects
    assert pred["session"].tolist() == [sessions[g] for g in labels]
    assert_allclose(pred["score"], ref.predictions["score"], rtol=1e-10)
    metrics = pd.read_csv(validate.tables["voxel_card"], sep="\t").set_index("metric")
    assert_allclose(metrics.loc[ref.metrics["metric"], "estimate"],
                    ref.metrics["estimate"], rtol=1e-10)
    shift = pd.read_csv(validate.tables["voxel_card_shift"], sep="\t")
    assert shift["feature"].tolist() == ["image_mean", "image_sd"]
    assert_allclose(shift["new_mean"], ref.shift["new_mean"], rtol=1e-10)
    # the ROI card (a table model) on the wide table, with 'HC' named as the label of
    # the card's positive class: the same scores, the observed classes swapped, so the
    # AUC is 1 - the AUC against the card's own labels
    roi = load_model_card(train.out_dir / "models" / "clbp_roi")
    wide = validate.cohort.wide()
    ref = apply_model(roi, wide, target="group", sessions=["baseline", "pre"],
                      nan_policy="omit", random_state=5)
    pred = pd.read_csv(validate.tables["roi_card_predictions"], sep="\t")
    assert len(pred) == 10
    assert_allclose(pred["score"], ref.predictions["score"], rtol=1e-10)
    assert_allclose(pred["observed"], 1 - ref.predictions["observed"], rtol=0)
    auc = pd.read_csv(validate.tables["roi_card"], sep="\t").set_index("metric").loc[
        "auc", "estimate"]
    assert_allclose(auc, 1 - ref.metrics.set_index("metric").loc["auc", "estimate"],
                    rtol=1e-12)
    html = validate.report_path.read_text()
    assert "External validation of the model &#x27;clbp_pattern&#x27; on ALFF maps" in html \
        or "External validation of the model 'clbp_pattern' on ALFF maps" in html
    assert "Intended use (from the card): Research use: predicting group = CLBP" in html
    assert "each image&#x27;s mean and SD" in html or "each image's mean and SD" in html
    assert {"voxel_card_calibration", "voxel_card_predictions"} <= set(validate.figures)
    prov = json.loads(validate.provenance_path.read_text())
    rec = {a["name"]: a for a in prov["analyses"]}
    assert rec["voxel_card"]["n"] == 10 and rec["voxel_card"]["validated"]
    assert rec["voxel_card"]["metrics"]["auc"] == pytest.approx(
        float(metrics.loc["auc", "estimate"]), rel=1e-12)


def test_voxel_card_with_confounds_applies_the_cohorts_confounds(runs):
    """A pattern trained with age regressed out inside the folds is saved with the coding
    of age; the validation study reads each map's age from its cohort, and its scores
    equal apply_model given the same ages, and the final model's own predictions."""
    import sklearn

    train, validate = runs
    sessions = {"CLBP": "pre", "HC": "baseline"}
    card = load_model_card(train.out_dir / "models" / "clbp_pattern_age")
    assert card.card["input"]["confounds"] == [{"name": "age", "kind": "numeric"}]
    assert card.card["training"]["n_rows"] == 10
    imgs, subjects, labels = _cohort_maps(validate.cohort, sessions)
    wide = validate.cohort.wide().set_index(["subject_id", "session"])
    age = wide.loc[[(s, sessions[g]) for s, g in zip(subjects, labels)], ["age"]]
    ref = apply_model(card, imgs, target=labels, subjects=subjects, confounds=age,
                      nan_policy="omit", random_state=5)
    pred = pd.read_csv(validate.tables["voxel_card_age_predictions"], sep="\t",
                       dtype={"subject_id": str})
    assert pred["subject_id"].tolist() == subjects
    assert_allclose(pred["score"], ref.predictions["score"], rtol=1e-10)
    # the card's pipeline is the pattern evaluation's final model, bit for bit
    trained = evaluate_pattern(imgs, labels, positive="CLBP", subjects=subjects,
                               confounds=age.reset_index(drop=True), n_permutations=0,
                               n_repeats=1, n_splits=2, n_bootstrap_weights=0,
                               random_state=0, progress=False)
    with sklearn.config_context(enable_metadata_routing=True):
        own = trained.final_model_.predict_proba(imgs, confounds=age.to_numpy(float))
    saved = save_model_card(trained, validate.out_dir / "age_card")
    again = apply_model(saved, imgs, confounds=age)
    assert_allclose(again.predictions["score"], own[:, 1], rtol=0, atol=0)
    with pytest.raises(DataError, match=r"confounds \['age'\] out of the images"):
        apply_model(card, imgs)


# -- a continuous outcome (slow: a larger cohort) ---------------------------------------------
PROGNOSIS = """
random_state = 2

[study]
name = "pattern prognosis"
dataset = "bids"
output = "{output}"
task = "rest"

[[extractors]]
name = "alff"
band = [0.01, 0.08]

{analyses}
"""


@pytest.mark.slow
def test_continuous_pattern_and_its_external_validation(tmp_path):
    simulate_cohort("rtms_alff_clbp", tmp_path / "bids", resolution_mm=8, n_volumes=64,
                    n_clbp=10, n_hc=2, random_state=7)
    (tmp_path / "train.toml").write_text(PROGNOSIS.format(output="train", analyses="""
[[analyses]]
type = "pattern"
name = "ppr_pattern"
feature = "alff"
instrument = "VAS"
levels = "CLBP"
model = "ridge"
n_splits = 3
n_repeats = 2
n_permutations = 19
n_bootstrap_weights = 25
"""))
    train = run_study(tmp_path / "train.toml", progress=False)
    (tmp_path / "validate.toml").write_text(PROGNOSIS.format(output="validate", analyses="""
[[analyses]]
type = "external_validation"
name = "with_outcome"
card = "train/models/ppr_pattern"
instrument = "VAS"
levels = "CLBP"

[[analyses]]
type = "external_validation"
name = "predictions_only"
card = "train/models/ppr_pattern"
levels = "CLBP"
"""))
    validate = run_study(tmp_path / "validate.toml", progress=False)
    from painmarkers.stats import outcomes

    cohort = train.cohort.select(levels="CLBP")
    ppr = outcomes(cohort, "VAS").set_index("subject_id")["percent_change"]
    imgs = [ses.images["alff"] for sub, ses in cohort.iter_sessions() if ses.label == "pre"]
    ids = [sub.id for sub, ses in cohort.iter_sessions() if ses.label == "pre"]
    mask = nib.load(train.out_dir / "maps" / "ppr_pattern" / "mask.nii.gz")
    ref = evaluate_pattern(imgs, ppr.loc[ids].to_numpy(float), subjects=ids, mask_img=mask,
                           model="ridge", n_splits=3, n_repeats=2, n_permutations=19,
                           n_bootstrap_weights=25, random_state=2, progress=False)
    table = pd.read_csv(train.tables["ppr_pattern"], sep="\t").set_index("metric")
    expected = ref.metrics.set_index("metric")
    assert_allclose(table.loc[expected.index, "estimate"], expected["estimate"], rtol=1e-10)
    assert {"ppr_pattern_scatter", "ppr_pattern_calibration", "ppr_pattern_weights",
            "ppr_pattern_weights_z", "ppr_pattern_haufe"} <= set(train.figures)
    card = load_model_card(train.out_dir / "models" / "ppr_pattern")
    assert card.task == "regression" and card.card["target"] == "percent_change"
    assert card.card["training"]["target"]["mean"] == pytest.approx(ppr.loc[ids].mean())
    # the validation study: R² against the training mean, as apply_model computes it
    ext = apply_model(card, imgs, target=ppr.loc[ids].to_numpy(float), subjects=ids,
                      nan_policy="omit", random_state=2)
    metrics = pd.read_csv(validate.tables["with_outcome"], sep="\t").set_index("metric")
    assert_allclose(metrics.loc[ext.metrics["metric"], "estimate"], ext.metrics["estimate"],
                    rtol=1e-10)
    pred = pd.read_csv(validate.tables["predictions_only_predictions"], sep="\t")
    assert_allclose(pred["predicted"], ext.predictions["predicted"], rtol=1e-10)
    assert pred["observed"].isna().all() and "predictions_only" not in validate.tables
    html = validate.report_path.read_text()
    assert "the outcome is unknown here: predictions only" in html
