"""What the prediction result objects write and print, built by hand from small tables.

Each result (BiomarkerEvaluation, PrognosisEvaluation, IncrementalValue,
ExternalValidation, PatternEvaluation, PatternExpression) is constructed directly, so the
expected files, keys and summary lines follow from the numbers given here: the CSV files
read back as the tables, ``parameters.json`` holds the type, parameters, versions (and
extras), ``summary.txt`` is ``summary()`` and the summary prints the given numbers.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from painmarkers._results import Result
from painmarkers.prediction import (
    BiomarkerEvaluation,
    IncrementalValue,
    PatternEvaluation,
    PatternExpression,
    PrognosisEvaluation,
)
from painmarkers.prediction._external import ExternalValidation
from painmarkers.schema import COMPARISON_COLUMNS, METRIC_COLUMNS

VERSIONS = {"python": "3.x", "painmarkers": "0.test"}


def _metrics(rows):
    return pd.DataFrame([{c: r.get(c, np.nan) for c in METRIC_COLUMNS} for r in rows],
                        columns=list(METRIC_COLUMNS))


def _excluded():
    return pd.DataFrame({"row": [3, 7, np.nan], "subject_id": ["03", "07", "09"],
                         "reason": ["missing age", "missing age", "no session 'pre'"]})


def _biomarker(auc=0.8125, permutation_p=0.04):
    metrics = _metrics([
        {"metric": "auc", "estimate": auc, "ci_low": 0.6, "ci_high": 0.95,
         "ci_method": "delong"},
        {"metric": "sensitivity", "estimate": 0.75},
        {"metric": "ppv", "estimate": np.nan},
        {"metric": "permutation_p", "estimate": permutation_p},
    ])
    return BiomarkerEvaluation(
        auc=auc, auc_ci_low=0.6, auc_ci_high=0.95, permutation_p=permutation_p,
        metrics=metrics, folds=pd.DataFrame({"repeat": [0, 0], "fold": [0, 1],
                                             "auc": [0.7, 0.9]}),
        roc=pd.DataFrame({"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.75, 1.0],
                          "threshold": [np.inf, 0.5, 0.1]}),
        calibration=pd.DataFrame({"bin": [0], "mean_predicted": [0.5],
                                  "fraction_positive": [0.5], "n": [16]}),
        predictions=pd.DataFrame({"row": [0, 1], "subject_id": ["01", "02"],
                                  "score": [0.25, 0.75]}),
        null_distribution=np.array([0.5, 0.625, 0.375]), excluded=_excluded(),
        n=16, n_positive=8, n_negative=8, n_subjects=16,
        parameters={"target": "group", "positive": "CLBP", "features": ["alff__SMA_L"],
                    "sessions": "pre", "model": "LogisticRegression()", "cv": "5-fold",
                    "confounds": None, "harmonize": False, "n_permutations": 24},
        versions=VERSIONS)


def _prognosis():
    metrics = _metrics([
        {"metric": "r2", "estimate": 0.25, "ci_low": 0.125, "ci_high": 0.375,
         "ci_method": "bootstrap"},
        {"metric": "mae", "estimate": 1.5},
        {"metric": "permutation_p", "estimate": 0.01},
    ])
    return PrognosisEvaluation(
        r2=0.25, r2_ci_low=0.125, r2_ci_high=0.375, permutation_p=0.01, metrics=metrics,
        folds=pd.DataFrame({"repeat": [0], "fold": [0], "r2": [0.2]}),
        predictions=pd.DataFrame({"row": [0], "observed": [3.0], "predicted": [2.5]}),
        null_distribution=np.array([0.0, -0.5]), excluded=_excluded().iloc[:1],
        n=20, n_subjects=20,
        parameters={"target": "ppr", "features": ["alff__SMA_L", "alff__INS_L"],
                    "sessions": None, "model": "Ridge()", "cv": "5-fold",
                    "confounds": ["age"], "harmonize": True, "n_permutations": 99},
        versions=VERSIONS)


def _incremental():
    comparisons = pd.DataFrame([
        {"comparison": "bootstrap", "metric": "auc", "statistic": np.nan, "p": 0.02,
         "method": "subject bootstrap"},
        {"comparison": "delong", "metric": "auc", "statistic": 2.5, "p": 0.0125,
         "method": "paired DeLong"}], columns=list(COMPARISON_COLUMNS))
    models = pd.DataFrame({"model": ["clinical", "full"], "features": ["age", "age;x"],
                           "estimate": [0.625, 0.875], "ci_low": [0.5, 0.75],
                           "ci_high": [0.75, 1.0], "mean_over_repeats": [0.6, 0.85]})
    return IncrementalValue(
        metric="auc", clinical=0.625, full=0.875, delta=0.25, delta_ci_low=0.125,
        delta_ci_high=0.375, permutation_p=0.02, comparisons=comparisons, models=models,
        folds=pd.DataFrame({"repeat": [0], "fold": [0], "difference": [0.25]}),
        predictions=pd.DataFrame({"row": [0], "clinical": [0.4], "full": [0.6]}),
        null_distribution=np.array([0.0, 0.125]), excluded=_excluded().iloc[:0],
        n=30, n_subjects=30,
        parameters={"imaging": ["x"], "clinical": ["age"], "target": "group",
                    "cv": "5-fold", "model": "LogisticRegression()", "n_permutations": 49},
        versions=VERSIONS)


def _external():
    metrics = _metrics([
        {"metric": "auc", "estimate": 0.75, "ci_low": 0.5, "ci_high": 1.0,
         "ci_method": "delong"},
        {"metric": "calibration_slope", "estimate": np.nan},
    ])
    shift = pd.DataFrame({"feature": ["alff__SMA_L", "alff__INS_L"], "flagged": [True, False],
                          "shift_sd": [3.5, 0.1]})
    return ExternalValidation(
        task="classification", metrics=metrics,
        predictions=pd.DataFrame({"row": [0, 1], "observed": [1, 0], "score": [0.9, 0.2]}),
        calibration=pd.DataFrame({"bin": [0], "mean_predicted": [0.5]}), shift=shift,
        excluded=_excluded().iloc[:2], notes=["2 feature(s) shifted"], n=2, n_subjects=2,
        parameters={"card_name": "demo", "target": "group", "positive": "CLBP"},
        versions=VERSIONS)


def _expression():
    table = pd.DataFrame({"image": ["a", "b"], "response": [1.5, -0.5], "n_voxels": [10, 8],
                          "coverage": [1.0, 0.8], "norm_coverage": [1.0, 0.9],
                          "resampled": [False, True]})
    overlap = {"n_weight_voxels": 12, "n_signature_voxels": 10, "mask_coverage": 10 / 12,
               "mask_norm_coverage": 0.95, "min_coverage": 0.8, "min_norm_coverage": 0.9,
               "n_resampled": 1}
    return PatternExpression(responses=np.array([1.5, -0.5]), table=table, overlap=overlap,
                             metric="cosine",
                             parameters={"weights": "w.nii.gz", "interpolation": "linear"},
                             versions=VERSIONS)


def _pattern():
    img = nib.Nifti1Image(np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.eye(4))
    mask = nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4))
    bootstrap = pd.DataFrame([{"n_bootstrap": 10, "n_valid": 9, "n_voxels_q05": 2,
                               "n_voxels_p001": 1, "scheme": "subjects resampled"}])
    return PatternEvaluation(
        evaluation=_biomarker(), weights_img=img, intercept=0.5, pattern_img=img, z_img=img,
        p_img=img, q_img=img, mask_img=mask, final_model_=None, bootstrap=bootstrap,
        n_voxels=8,
        parameters={"model_name": "ridge", "mask": "mask.nii.gz", "scaling": None,
                    "feature_selection": None, "pca": 5, "task": "classification"},
        versions=VERSIONS)


def _csv(path):
    return pd.read_csv(path, dtype={"subject_id": str})


def _read_params(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("make", [_biomarker, _prognosis, _incremental, _external,
                                  _expression, _pattern])
def test_every_result_follows_the_protocol(make, tmp_path):
    res = make()
    assert isinstance(res, Result)
    files = res.save(tmp_path / "deep" / "out")
    assert isinstance(files, dict)
    assert all(p.is_file() and p.parent == tmp_path / "deep" / "out" for p in files.values())
    assert files["summary"].read_text() == res.summary() + "\n"
    payload = _read_params(files["parameters"])
    assert payload["type"] == type(res).__name__
    assert payload["versions"] == VERSIONS
    assert payload["parameters"] == json.loads(json.dumps(res.parameters))


TABLE_FILES = [
    (_biomarker, ["metrics", "folds", "roc", "calibration", "predictions", "excluded"], "auc"),
    (_prognosis, ["metrics", "folds", "predictions", "excluded"], "r2"),
    (_incremental, ["comparisons", "models", "folds", "predictions", "excluded"], "delta"),
    (_external, ["metrics", "predictions", "calibration", "shift", "excluded"], None),
]


@pytest.mark.parametrize("make, tables, null", TABLE_FILES)
def test_tables_are_written_as_csv_by_kind(make, tables, null, tmp_path):
    res = make()
    files = res.save(tmp_path)
    assert list(files) == [*tables, *(["null_distribution"] if null else []), "parameters",
                           "summary"]
    for name in tables:
        assert files[name] == tmp_path / f"{name}.csv"
        assert_frame_equal(_csv(files[name]), getattr(res, name), check_dtype=False)
    if null:
        written = pd.read_csv(files["null_distribution"])
        assert list(written.columns) == [null]
        np.testing.assert_allclose(written[null], res.null_distribution, rtol=0, atol=0)
    if hasattr(res, "metrics"):
        assert_frame_equal(res.to_frame(), res.metrics)
        assert res.to_frame() is not res.metrics


def test_biomarker_evaluation_summary():
    assert _biomarker().summary().splitlines() == [
        "Biomarker evaluation: group == 'CLBP' from alff__SMA_L",
        "n = 16 rows (8 positive, 8 negative) from 16 subjects, sessions pre; "
        "excluded 3 row(s) (missing age: 2; no session 'pre': 1).",
        "Model: LogisticRegression()",
        "CV: 5-fold; confounds: none; harmonisation: none.",
        "  auc                      0.812 [0.600, 0.950] (delong)",
        "  sensitivity              0.750",
        "  ppv                      n/a",
        "Permutation p = 0.0400 (24 label permutations, whole pipeline refitted).",
    ]
    perfect = _biomarker(auc=1.0, permutation_p=np.nan).summary()
    assert "separate the classes perfectly" in perfect and "8 + 8 rows" in perfect
    assert "Permutation p" not in perfect


def test_prognosis_evaluation_summary():
    assert _prognosis().summary().splitlines() == [
        "Prognostic evaluation: ppr from alff__SMA_L, alff__INS_L",
        "n = 20 rows from 20 subjects; excluded 1 row(s) (missing age: 1).",
        "Model: Ridge()",
        "CV: 5-fold; confounds: ['age']; harmonisation: ComBat in-fold.",
        "R² = 1 - SS_res / SS_tot against each row's training-fold mean.",
        "  r2                       0.250 [0.125, 0.375] (bootstrap)",
        "  mae                      1.500",
        "Permutation p = 0.0100 (99 target permutations, whole pipeline refitted).",
    ]


def test_incremental_value_summary():
    assert _incremental().summary().splitlines() == [
        "Incremental value of x over age for group",
        "n = 30 subjects; excluded 0; CV: 5-fold; model: LogisticRegression()",
        "  clinical  AUC 0.625 [0.500, 0.750]",
        "  full      AUC 0.875 [0.750, 1.000]",
        "  delta     +0.250 [+0.125, +0.375] (subject bootstrap)",
        "  permutation p = 0.0200 (imaging features permuted across subjects, 49 "
        "permutations)",
        "  delong: statistic 2.500, p = 0.0125 (paired DeLong)",
    ]


def test_external_validation_summary():
    assert _external().summary().splitlines() == [
        "External validation of model card 'demo' (classification of 'group', "
        "positive = 'CLBP')",
        "2 row(s) predicted; 2 with an observed outcome from 2 subjects; excluded 2.",
        "  auc                      0.750 [0.500, 1.000] (delong)",
        "  calibration_slope        n/a",
        "Shifted from training: alff__SMA_L.",
        "Note: 2 feature(s) shifted",
    ]


def test_pattern_expression_files(tmp_path):
    res = _expression()
    files = res.save(tmp_path)
    assert list(files) == ["table", "parameters", "summary"]
    assert files["table"] == tmp_path / "pattern_expression.csv"
    assert_frame_equal(pd.read_csv(files["table"]), res.table)
    assert _read_params(files["parameters"])["overlap"] == res.overlap


def test_pattern_evaluation_files(tmp_path):
    res = _pattern()
    files = res.save(tmp_path)
    assert list(files) == [
        "metrics", "folds", "roc", "calibration", "predictions", "excluded",
        "null_distribution", "parameters", "summary", "weights", "weights_sidecar",
        "pattern", "pattern_sidecar", "weights_z", "weights_z_sidecar", "weights_p",
        "weights_p_sidecar", "weights_q", "weights_q_sidecar", "mask", "mask_sidecar",
        "bootstrap"]
    # the pattern's own parameters and summary replace the evaluation's
    assert _read_params(files["parameters"])["type"] == "PatternEvaluation"
    assert files["summary"].read_text().startswith("Voxel-pattern model: ridge on 8 voxels")
    sidecar = _read_params(files["weights_z_sidecar"])
    assert sidecar["n_bootstrap"] == 9 and sidecar["intercept"] == 0.5
    np.testing.assert_array_equal(nib.load(files["weights"]).get_fdata(),
                                  res.weights_img.get_fdata())
    assert_frame_equal(pd.read_csv(files["bootstrap"]), res.bootstrap)
