"""Biomarker evaluation: leakage-safe cross-validated classifiers and their metrics.

``evaluate_biomarker`` runs a whole pipeline (site harmonisation, confound
regression, scaling, model) inside grouped cross-validation and reports the AUC
and threshold metrics with confidence intervals and a permutation p-value.
"""

from painmarkers.prediction.evaluate import BiomarkerEvaluation, evaluate_biomarker
from painmarkers.prediction.metrics import (
    binary_metrics,
    delong_auc_variance,
    forced_choice_accuracy,
    roc_auc_ci,
    wilson_ci,
)
from painmarkers.prediction.pipelines import ComBat, ConfoundRegressor

__all__ = [
    "BiomarkerEvaluation",
    "ComBat",
    "ConfoundRegressor",
    "binary_metrics",
    "delong_auc_variance",
    "evaluate_biomarker",
    "forced_choice_accuracy",
    "roc_auc_ci",
    "wilson_ci",
]
