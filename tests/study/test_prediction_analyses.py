"""The ``prognosis`` and ``signature`` analyses of study specifications: spec checks,
``painmarkers check``, a run with its report, model card and signature tables."""

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
from painmarkers.exceptions import SpecError
from painmarkers.prediction import apply_model, load_model_card, pattern_expression
from painmarkers.study import check_study, parse_spec, run_study

SPEC = """
random_state = 3

[study]
name = "prognosis and signature"
dataset = "bids"
output = "results"
task = "rest"

[[extractors]]
name = "alff"
band = [0.01, 0.08]

[rois]
spheres = [
  { name = "INS_L", center = [-36, 16, 2], radius_mm = 10 },
  { name = "mPFC", center = [0, 50, -4], radius_mm = 10 },
]

[[analyses]]
type = "prognosis"
name = "ppr_from_alff"
instrument = "VAS"
features = [["alff", "INS_L"], ["alff", "mPFC"]]
levels = "CLBP"
clinical = ["VAS"]
n_splits = 3
n_repeats = 2
n_permutations = 19

[[analyses]]
type = "signature"
name = "planted_signature"
weights = "weights.nii.gz"
feature = "alff"
levels = "CLBP"
sessions = ["pre", "post"]
target = "session"
positive = "pre"
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("progsig")
    simulate_cohort("rtms_alff_clbp", root / "bids", resolution_mm=8, n_volumes=64,
                    n_clbp=12, n_hc=2, random_state=4)
    mask = next((root / "bids" / "derivatives").rglob("*desc-brain_mask.nii.gz"))
    m = nib.load(mask)
    rng = np.random.default_rng(0)
    w = np.where(np.asarray(m.dataobj) > 0, rng.normal(size=m.shape), 0.0)
    nib.save(nib.Nifti1Image(w, m.affine), root / "weights.nii.gz")
    return root


@pytest.fixture
def study(dataset, tmp_path) -> Path:
    shutil.copytree(dataset / "bids", tmp_path / "bids")
    shutil.copy(dataset / "weights.nii.gz", tmp_path / "weights.nii.gz")
    (tmp_path / "study.toml").write_text(SPEC)
    return tmp_path / "study.toml"


def _spec(analysis: dict, base=".") -> dict:
    return {"study": {"dataset": "bids"}, "analyses": [analysis]}


def test_spec_reading_fills_defaults_and_resolves_paths(tmp_path):
    spec = parse_spec(_spec({"type": "prognosis", "instrument": "VAS",
                             "features": [["alff", "INS_L"]]}), base_dir=tmp_path)
    p = spec.analyses[0].params
    assert p["outcome"] == "percent_change" and p["sessions"] is None
    assert (p["n_splits"], p["n_repeats"], p["n_permutations"]) == (5, 10, 1000)
    sig = parse_spec(_spec({"type": "signature", "weights": "w.nii.gz", "feature": "alff",
                            "mask": "/abs/mask.nii"}), base_dir=tmp_path)
    assert sig.analyses[0].params["weights"] == str(tmp_path / "w.nii.gz")
    assert sig.analyses[0].params["mask"] == "/abs/mask.nii"


@pytest.mark.parametrize(("analysis", "message"), [
    ({"type": "prognosis", "instrument": "VAS", "features": [["alff", "INS_L"]],
      "outcome": "ppr"}, "'outcome' must be one of"),
    ({"type": "prognosis", "instrument": "VAS", "features": []},
     "'features' must name at least one feature"),
    ({"type": "prognosis", "instrument": "VAS", "features": [["alff"]]},
     "'features' #1 must be a column name or a"),
    ({"type": "prognosis", "instrument": "VAS", "features": ["x"], "sessions": 3},
     "'sessions' must be a session label"),
    ({"type": "prognosis", "instrument": "VAS", "features": ["x"], "n_splits": 1},
     "'n_splits' must be an integer >= 2"),
    ({"type": "prognosis", "instrument": "VAS", "features": ["x"], "pre": "a", "post": "a"},
     "two different session labels"),
    ({"type": "prognosis", "instrument": "VAS", "features": ["x"], "clinical": "VAS"},
     "'clinical' must be a list of non-empty strings"),
    ({"type": "signature", "weights": "w.nii", "feature": "alff", "metric": "dice"},
     "'metric' must be one of"),
    ({"type": "signature", "weights": "w.nii", "feature": "alff", "target": "session"},
     "'target' and 'positive' go together"),
    ({"type": "signature", "weights": "w.nii", "feature": "alff", "min_coverage": 2},
     r"'min_coverage' must be in \[0, 1\]"),
    ({"type": "signature", "weights": "", "feature": "alff"},
     "'weights' must be a non-empty string"),
    ({"type": "signature", "weights": "w.nii", "feature": "alff", "kind": "alff"},
     r"Unknown key\(s\) \['kind'\]"),
])
def test_spec_errors_name_the_key_and_value(analysis, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(_spec(analysis))


def test_check_finds_every_problem(study):
    text = study.read_text().replace('[["alff", "INS_L"], ["alff", "mPFC"]]',
                                     '[["alff", "INSULA"], ["alff", "mPFC"]]')
    text = text.replace('positive = "pre"', 'positive = "baseline"')
    text = text.replace('weights = "weights.nii.gz"', 'weights = "missing.nii.gz"')
    text += """
[[analyses]]
type = "prognosis"
name = "responders"
instrument = "VAS"
outcome = "responder_substantial"
features = [["alff", "mPFC"]]
levels = "CLBP"
n_splits = 12
"""
    study.write_text(text)
    report = check_study(study, raise_on_problems=False)
    problems = "\n".join(report.problems)
    assert "feature ['alff', 'INSULA']: ROI 'INSULA' is not an ROI" in problems
    assert "positive 'baseline' is not a value of 'session' in the maps selected " \
           "(values: ['post', 'pre'])" in problems
    assert "missing.nii.gz" in problems and "does not exist" in problems
    assert "analysis 'responders' (prognosis): n_splits = 12 is more than the" in problems
    assert "responders" in problems and "non-responders" in problems


def test_check_of_a_signature_with_sessions_per_group(study):
    """sessions as {group: session} with a target (a boolean mask built from a list)."""
    text = study.read_text().replace('sessions = ["pre", "post"]\ntarget = "session"',
                                     'sessions = { CLBP = "pre", HC = "baseline" }\n'
                                     'target = "group"')
    text = text.replace('positive = "pre"', 'positive = "CLBP"').replace(
        'feature = "alff"\nlevels = "CLBP"\n', 'feature = "alff"\n')
    assert 'CLBP = "pre"' in text and 'positive = "CLBP"' in text
    assert 'feature = "alff"\nsessions = {' in text  # both groups kept
    study.write_text(text)
    report = check_study(study, raise_on_problems=False)
    assert not [p for p in report.problems if "planted_signature" in p], report.problems


def test_run_writes_report_model_card_and_signature(study):
    res = run_study(study, progress=False)
    out = res.out_dir
    # prognosis: tables, figures, evaluation files and the model card
    assert {"ppr_from_alff", "ppr_from_alff_incremental", "planted_signature",
            "planted_signature_performance"} <= set(res.tables)
    assert {"ppr_from_alff_scatter", "ppr_from_alff_calibration", "planted_signature_weights",
            "planted_signature_responses"} <= set(res.figures)
    metrics = pd.read_csv(res.tables["ppr_from_alff"], sep="\t")
    assert {"r2", "mae", "calibration_slope", "permutation_p"} <= set(metrics["metric"])
    card = load_model_card(out / "models" / "ppr_from_alff")
    assert card.task == "regression" and card.features == ["alff__INS_L", "alff__mPFC"]
    assert card.card["target"] == "percent_change"
    assert card.card["training"]["n_rows"] == 12
    assert "Research use" in card.card["intended_use"]
    # the card reproduces the final model's predictions on the baseline rows
    from painmarkers.prediction import join_outcomes
    from painmarkers.stats import outcomes

    cohort = res.cohort.select(levels="CLBP")
    table = join_outcomes(cohort, outcomes(cohort, "VAS"))
    base = table[table["session"] == "pre"]
    ext = apply_model(card, base, random_state=0)
    ref = card.steps[-1][1].predict(card.steps[0][1].transform(
        base[card.features].to_numpy(float)))
    assert ext.predictions["predicted"].to_numpy().tobytes() == ref.tobytes()
    # signature: the responses equal pattern_expression on the same maps
    sig = pd.read_csv(res.tables["planted_signature"], sep="\t", dtype={"subject_id": str})
    assert len(sig) == 24 and set(sig["session"]) == {"pre", "post"}
    maps = {(s.id, ses.label): ses.images["alff"] for s, ses in cohort.iter_sessions()}
    ref = pattern_expression([maps[(a, b)] for a, b in zip(sig["subject_id"], sig["session"])],
                             study.parent / "weights.nii.gz")
    assert_allclose(sig["response"], ref.responses, rtol=1e-10)
    perf = pd.read_csv(res.tables["planted_signature_performance"], sep="\t")
    assert perf["metric"].tolist() == ["auc", "forced_choice_accuracy", "forced_choice_p"]
    html = res.report_path.read_text()
    assert "Prognosis: percent change of VAS" in html
    assert "Signature response (dot) of alff maps" in html
    prov = json.loads(res.provenance_path.read_text())
    rec = {a["name"]: a for a in prov["analyses"]}
    assert rec["ppr_from_alff"]["model_card"].endswith("models/ppr_from_alff")
    assert rec["ppr_from_alff"]["n"] == 12
    assert rec["planted_signature"]["metrics"]["auc"] == perf.set_index("metric").loc[
        "auc", "estimate"]


def test_responder_outcome_runs_as_a_classification(study):
    text = study.read_text()
    text = text.replace('clinical = ["VAS"]\n', 'outcome = "responder_moderate"\n'
                        'confounds = ["age"]\n')
    text = text[:text.index("[[analyses]]\ntype = \"signature\"")]
    text = text.replace("n_splits = 3", "n_splits = 2")
    study.write_text(text)
    res = run_study(study, progress=False)
    assert {"ppr_from_alff_roc", "ppr_from_alff_calibration"} <= set(res.figures)
    card = load_model_card(res.out_dir / "models" / "ppr_from_alff")
    assert card.task == "classification" and card.card["positive"] is True
    assert card.card["input"]["confounds"] == [{"name": "age", "kind": "numeric"}]
