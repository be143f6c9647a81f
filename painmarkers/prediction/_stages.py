"""The stages every cross-validated evaluation runs, in one place (private).

:func:`~painmarkers.prediction.evaluate_biomarker` (class target) and
:func:`~painmarkers.prediction.evaluate_prognosis` (continuous target) run
:func:`fit_table` (stages 1-3: inputs -> design, CV splits, out-of-fold fits) then
:func:`evaluate_oof` (stages 4-6: metrics, permutation test, result);
:func:`~painmarkers.prediction.evaluate_pattern` reads images for stage 1 and runs
:func:`cv_splits` and :func:`evaluate_oof`; :func:`~painmarkers.prediction.incremental_value`
draws its seed and splits the same way. The random generator is consumed in one order:
the CV seed, then the metrics' bootstrap, then the permutations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve
from sklearn.pipeline import Pipeline

from painmarkers import schema
from painmarkers._validation import check_random_state
from painmarkers._versions import versions
from painmarkers.prediction import (
    _cv,
    _engine,
    _inputs,
    _model,
    _performance,
    _permutation,
    _regression,
)
from painmarkers.prediction._prognosis_result import PrognosisEvaluation
from painmarkers.prediction._result import BiomarkerEvaluation

__all__: list[str] = []


def build_pipeline(model, design: _inputs.Design, harmonize: bool,
                   task: str = "classification") -> tuple[Pipeline, bool]:
    """The pipeline fitted in every training fold (see :func:`._model.build_pipeline`)."""
    return _model.build_pipeline(model, len(design.features), design.n_confounds, harmonize,
                                 task)


def metadata(design: _inputs.Design, harmonize: bool) -> dict[str, np.ndarray]:
    """Per-row side information routed to the pipeline steps (sliced per fold)."""
    return _model.metadata(design.sites, design.confound_matrix, harmonize)


def draw_seed(random_state) -> tuple[np.random.Generator, int]:
    """The evaluation's generator and the seed of its CV splits (its first draw)."""
    rng = check_random_state(random_state)
    return rng, int(rng.integers(0, 2**31 - 1))


def cv_splits(cv, X: np.ndarray, design: _inputs.Design, settings: _inputs.Settings,
              seed: int) -> tuple[Any, list[_cv.Split]]:
    """Stage 2: the splitter and its splits, checked to keep each subject in one fold."""
    splitter = _cv.build_splitter(
        cv, X=X, groups=design.subjects, subject=design.subject, sites=design.sites,
        site_names=design.site_names, class_names=design.class_names,
        n_splits=settings.n_splits, n_repeats=settings.n_repeats, seed=seed)
    splits = splitter.split(design.y)
    _cv.check_grouped(splits, design.subjects)
    return splitter, splits


def permutation_scheme(design: _inputs.Design, what: str) -> str:
    """How the permutation test permutes ``what`` (``"labels"``, ``"target"``)."""
    constant = pd.Series(design.y).groupby(design.subjects).nunique().eq(1).all()
    return (f"{what} permuted across subjects" if constant
            else f"{what} shuffled within subjects")


@dataclass(frozen=True, eq=False)
class Fitted:
    """What stages 1-3 of a table-based evaluation produce."""

    design: _inputs.Design
    rng: np.random.Generator
    pipe: Pipeline
    route: bool
    metadata: dict
    splitter: Any
    splits: list
    oof: _cv.OutOfFold


def fit_table(data, features, target: str, positive, *, task: str, model, cv,
              subject: str | None, sessions, within: str, between: str, confounds,
              site: str | None, harmonize: bool, settings: _inputs.Settings,
              random_state) -> Fitted:
    """Stages 1-3 of a table-based evaluation: design, splits, out-of-fold fits."""
    design = _inputs.resolve(data, features, target, positive, subject=subject,
                             sessions=sessions, within=within, between=between,
                             confounds=confounds, site=site, harmonize=harmonize,
                             nan_policy=settings.nan_policy, task=task)
    rng, seed = draw_seed(random_state)
    pipe, route = build_pipeline(model, design, harmonize, task)
    meta = metadata(design, harmonize)
    splitter, splits = cv_splits(cv, design.X, design, settings, seed)
    oof = _engine.cross_validate(pipe, design.X, [_engine.Job(design.y, splits)],
                                 task=task, groups=design.subjects, route_groups=route,
                                 metadata=meta, n_jobs=settings.n_jobs)[0]
    return Fitted(design=design, rng=rng, pipe=pipe, route=route, metadata=meta,
                  splitter=splitter, splits=splits, oof=oof)


def evaluate_oof(task: str, pipe, X: np.ndarray, design: _inputs.Design,
                 settings: _inputs.Settings, oof: _cv.OutOfFold, splits, splitter,
                 route: bool, metadata: dict, rng: np.random.Generator, parameters: dict,
                 progress: bool, cache: dict | None = None
                 ) -> BiomarkerEvaluation | PrognosisEvaluation:
    """Stages 4-6: metrics, permutation test and the result of out-of-fold predictions.

    ``parameters`` gets ``score`` and ``threshold`` (classification) or
    ``r2_baseline`` (regression); a key already there keeps its place.
    """
    if task == "classification":
        pooled = _performance.pooled_scores(oof, design)
        parts, extra = _performance.metric_rows(
            oof, pooled, design, confidence=settings.confidence,
            prevalence=settings.prevalence, n_bootstrap=settings.n_bootstrap, rng=rng)
        perm = None
        if settings.n_permutations:
            perm = _permutation.permutation_test(
                pipe, X, design.y, design.subjects, splitter, route,
                observed=float(parts[0].loc[0, "estimate"]),
                n_permutations=settings.n_permutations, rng=rng, n_jobs=settings.n_jobs,
                metadata=metadata, progress=progress, cache=cache)
            extra.append(perm.metric_row())
        params = dict(parameters, score="predict_proba" if oof.is_proba else
                      "decision_function", threshold=oof.threshold)
        return _classification_result(design, settings, oof, pooled, parts, extra, perm,
                                      splits, params)
    pooled = _regression.pooled_predictions(oof, design, splits)
    metrics = _regression.metric_rows(oof, pooled, splits, design.y,
                                      confidence=settings.confidence,
                                      n_bootstrap=settings.n_bootstrap, rng=rng,
                                      progress=progress)
    r2_row = metrics.set_index("metric").loc["r2"]
    perm = None
    if settings.n_permutations:
        perm = _permutation.permutation_test(
            pipe, X, design.y, design.subjects, splitter, route,
            observed=float(r2_row["estimate"]), n_permutations=settings.n_permutations,
            rng=rng, n_jobs=settings.n_jobs, metadata=metadata,
            statistic=_regression.r2_statistic, task="regression", progress=progress,
            cache=cache)
        row = {c: np.nan for c in schema.METRIC_COLUMNS}
        row.update(perm.metric_row())
        metrics = pd.concat([metrics, pd.DataFrame([row])], ignore_index=True)
    params = dict(parameters,
                  r2_baseline="training-fold mean of the target (fold-external mean)")
    return PrognosisEvaluation(
        r2=float(r2_row["estimate"]), r2_ci_low=float(r2_row["ci_low"]),
        r2_ci_high=float(r2_row["ci_high"]),
        permutation_p=float(np.nan if perm is None else perm.p_value),
        metrics=metrics, folds=_regression.fold_table(splits, oof, design),
        predictions=_regression.prediction_table(oof, pooled, design),
        null_distribution=np.array([]) if perm is None else perm.null,
        excluded=_inputs.excluded_frame(design.excluded + pooled.never_tested),
        n=int(pooled.y.size), n_subjects=int(pd.unique(pooled.subjects).size),
        parameters=params, versions=versions(),
    )


def _classification_result(design: _inputs.Design, settings: _inputs.Settings,
                           oof: _cv.OutOfFold, pooled: _performance.Pooled,
                           parts: list[pd.DataFrame], extra: list[dict],
                           perm: _permutation.PermutationTest | None,
                           splits: list[_cv.Split], parameters: dict) -> BiomarkerEvaluation:
    """The :class:`BiomarkerEvaluation` of the stages' outputs."""
    auc_d = parts[0]
    metrics = pd.concat(
        [*parts, pd.DataFrame([{c: r.get(c, np.nan) for c in schema.METRIC_COLUMNS}
                               for r in extra])], ignore_index=True)
    metrics["confidence"] = metrics["confidence"].fillna(settings.confidence)
    fpr, tpr, thr = roc_curve(pooled.y, pooled.score)
    calib = (_performance.calibration_table(pooled.y, pooled.score, settings.n_bins)
             if oof.is_proba else
             _performance.calibration_table(np.array([]), np.array([]), settings.n_bins)
             .iloc[0:0])
    yt = pooled.y
    return BiomarkerEvaluation(
        auc=float(auc_d.loc[0, "estimate"]), auc_ci_low=float(auc_d.loc[0, "ci_low"]),
        auc_ci_high=float(auc_d.loc[0, "ci_high"]),
        permutation_p=float(np.nan if perm is None else perm.p_value),
        metrics=metrics, folds=_performance.fold_table(splits, oof, design),
        roc=pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr}), calibration=calib,
        predictions=_performance.prediction_table(oof, pooled, design),
        null_distribution=np.array([]) if perm is None else perm.null,
        excluded=_inputs.excluded_frame(design.excluded + pooled.never_tested),
        n=int(yt.size), n_positive=int(yt.sum()), n_negative=int((1 - yt).sum()),
        n_subjects=int(pd.unique(pooled.subjects).size), parameters=parameters,
        versions=versions(),
    )
