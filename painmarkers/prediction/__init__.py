"""Biomarker evaluation: leakage-safe cross-validated classifiers and regressors.

``evaluate_biomarker`` (a class target: AUC and threshold metrics) and
``evaluate_prognosis`` (a continuous target: R², MAE, RMSE, r, calibration) run a
whole pipeline (site harmonisation, confound regression, scaling, model) inside
grouped, repeated cross-validation and report metrics with confidence intervals and a
permutation p-value that refits the whole pipeline. ``join_outcomes`` puts
per-subject outcomes next to the baseline imaging rows. Model comparison:
``delong_test`` (paired AUCs), ``corrected_ttest`` (Nadeau-Bengio corrected
repeated-CV t-test) and ``incremental_value`` (imaging over clinical covariates).
Signatures and external validation: ``pattern_expression`` (the response of a weight map
in new images) and ``evaluate_signature``; ``save_model_card`` / ``load_model_card`` (a
trained model as pickle-free files with a JSON model card) and ``apply_model`` (apply it
to a new cohort and validate it there).
``evaluate_pattern`` fits whole-brain voxel-pattern models on 3-D maps (through
:class:`VoxelMasker`) and adds their weight, bootstrap and Haufe maps.

The stages live in private modules: ``_inputs`` (input resolution and validation),
``_cv`` and ``_sgkf`` (splits), ``_engine`` and ``_linear`` (out-of-fold fits of many
targets, with a fast route for linear models), ``_performance`` / ``_regression``
(metrics and tables), ``_permutation`` (the permutation test) and ``_result`` /
``_prognosis_result`` (the result objects). The voxel-pattern models reuse them:
``_masker`` (images), ``_pattern_inputs``, ``_kernel`` / ``_kernel_cv`` (the dual route of
the engine), ``_pattern_maps`` (final model, weights, bootstrap and Haufe maps) and
``_pattern_result``.
"""

from painmarkers.prediction.cards import (
    ExternalValidation,
    ModelCard,
    apply_model,
    load_model_card,
    save_model_card,
)
from painmarkers.prediction.compare import corrected_ttest, delong_test
from painmarkers.prediction.evaluate import BiomarkerEvaluation, evaluate_biomarker
from painmarkers.prediction.incremental import IncrementalValue, incremental_value
from painmarkers.prediction.metrics import (
    binary_metrics,
    delong_auc_variance,
    forced_choice_accuracy,
    regression_metrics,
    roc_auc_ci,
    wilson_ci,
)
from painmarkers.prediction.patterns import PatternEvaluation, VoxelMasker, evaluate_pattern
from painmarkers.prediction.pipelines import ComBat, ConfoundRegressor
from painmarkers.prediction.prognosis import (
    PrognosisEvaluation,
    evaluate_prognosis,
    join_outcomes,
)
from painmarkers.prediction.signatures import (
    PatternExpression,
    evaluate_signature,
    pattern_expression,
)

__all__ = [
    "BiomarkerEvaluation",
    "ComBat",
    "ConfoundRegressor",
    "IncrementalValue",
    "PatternEvaluation",
    "PrognosisEvaluation",
    "VoxelMasker",
    "binary_metrics",
    "corrected_ttest",
    "delong_auc_variance",
    "delong_test",
    "evaluate_biomarker",
    "evaluate_pattern",
    "evaluate_prognosis",
    "forced_choice_accuracy",
    "incremental_value",
    "join_outcomes",
    "regression_metrics",
    "roc_auc_ci",
    "wilson_ci",
]

# signatures, model cards and external validation
__all__ += [
    "ExternalValidation",
    "ModelCard",
    "PatternExpression",
    "apply_model",
    "evaluate_signature",
    "load_model_card",
    "pattern_expression",
    "save_model_card",
]
