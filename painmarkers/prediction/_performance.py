"""Stage 4 of evaluate_biomarker: metrics of the out-of-fold scores, and their tables.

:func:`pooled_scores` turns the (repeats x rows) score matrix into one score per row;
:func:`metric_rows` computes the AUC (DeLong and bootstrap), the thresholded metrics,
the Brier score, the spread over repeats and the forced-choice accuracy, drawing from
``rng`` in a fixed order; :func:`fold_table`, :func:`calibration_table` and
:func:`prediction_table` give the per-split, calibration and per-row tables.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painmarkers.exceptions import DesignError
from painmarkers.prediction._cv import OutOfFold, Split
from painmarkers.prediction._inputs import Design
from painmarkers.prediction.metrics import (
    _auc_batch,
    binary_metrics,
    forced_choice_accuracy,
    roc_auc_ci,
)

__all__: list[str] = []


@dataclass(frozen=True, eq=False)
class Pooled:
    """One score per tested row: the mean of its out-of-fold scores over repeats."""

    score: np.ndarray       # (n_tested,)
    y: np.ndarray           # (n_tested,)
    subjects: np.ndarray    # (n_tested,)
    predicted: np.ndarray   # (n_tested,) 0/1 at the threshold
    tested: np.ndarray      # (n,) bool
    never_tested: list[dict] = field(default_factory=list)

    @property
    def several_rows(self) -> bool:
        """Some subject has several tested rows (clustered intervals then)."""
        return bool(pd.Series(self.subjects).duplicated().any())


def pooled_scores(oof: OutOfFold, design: Design) -> Pooled:
    """Mean score of each row over repeats; rows never tested are listed, not scored."""
    mat = oof.matrix
    tested = oof.tested
    never = []
    if tested.all():
        score = np.nanmean(mat, axis=0)
    else:
        with np.errstate(invalid="ignore"):
            score = np.nanmean(np.where(tested, mat, 0), axis=0)
        for i in np.flatnonzero(~tested):
            never.append({"row": int(design.rows[i]), "subject_id": design.subjects[i],
                          "reason": "never in a test fold"})
    y, st = design.y[tested], score[tested]
    if np.unique(y).size < 2:
        raise DesignError("The rows that were ever tested hold one class only.")
    return Pooled(score=st, y=y, subjects=design.subjects[tested],
                  predicted=(st >= oof.threshold).astype(int), tested=tested,
                  never_tested=never)


def pooled_auc(mat: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC of the repeat-averaged scores of the rows ever tested."""
    with warnings.catch_warnings():  # rows never tested: all-NaN columns, dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        score = np.nanmean(mat, axis=0)
    ok = np.isfinite(score)
    return float(_auc_batch(y[ok][None], score[ok][None])[0])


def brier_ci(y, p, clusters, confidence: float, n_bootstrap: int,
             rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the Brier score, mean((p - y)^2).

    Rows are resampled with replacement, or whole subjects when a subject has several
    rows (a cluster bootstrap, as for the AUC).
    """
    err = (np.asarray(p, float) - np.asarray(y, float)) ** 2
    if clusters is None:
        means = err[rng.integers(0, err.size, (n_bootstrap, err.size))].mean(axis=1)
    else:
        codes, uniq = pd.factorize(np.asarray(clusters))
        sums = np.bincount(codes, weights=err, minlength=len(uniq))
        counts = np.bincount(codes, minlength=len(uniq))
        pick = rng.integers(0, len(uniq), (n_bootstrap, len(uniq)))
        means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def metric_rows(oof: OutOfFold, pooled: Pooled, design: Design, *, confidence: float,
                prevalence: float | None, n_bootstrap: int, rng: np.random.Generator
                ) -> tuple[list[pd.DataFrame], list[dict]]:
    """Metric frames (AUC, bootstrap AUC, thresholded, forced choice) and extra rows.

    The draws from ``rng`` happen in this order: AUC bootstrap, thresholded metrics'
    bootstrap, Brier bootstrap (the permutation seeds are drawn after them).
    """
    yt, st, gt = pooled.y, pooled.score, pooled.subjects
    clusters = gt if pooled.several_rows else None
    auc_d = roc_auc_ci(yt, st, method="delong", confidence=confidence, clusters=clusters)
    auc_b = roc_auc_ci(yt, st, method="bootstrap", confidence=confidence,
                       n_bootstrap=n_bootstrap, random_state=rng, clusters=clusters)
    auc_b["metric"] = "auc_bootstrap"
    parts = [auc_d, auc_b,
             binary_metrics(yt, pooled.predicted, confidence=confidence, prevalence=prevalence,
                            n_bootstrap=n_bootstrap, random_state=rng)]
    mat = oof.matrix
    per_repeat = [pooled_auc(mat[r][None], design.y) for r in range(mat.shape[0])
                  if np.isfinite(mat[r]).all()]
    extra = []
    if oof.is_proba:
        low, high = brier_ci(yt, st, clusters, confidence, n_bootstrap, rng)
        extra.append({"metric": "brier", "estimate": float(np.mean((st - yt) ** 2)),
                      "ci_low": low, "ci_high": high,
                      "ci_method": "bootstrap" + (" (subjects)" if clusters is not None
                                                  else ""),
                      "n": int(yt.size)})
    if per_repeat:
        extra.append({"metric": "auc_mean_over_repeats", "estimate": float(np.mean(per_repeat)),
                      "ci_low": float(np.min(per_repeat)), "ci_high": float(np.max(per_repeat)),
                      "ci_method": f"range over {len(per_repeat)} repeats",
                      "n": int(yt.size)})
    if clusters is not None:
        counts = pd.crosstab(gt, yt)
        if counts.shape[1] == 2 and ((counts == 1).all(axis=None)):
            parts.append(forced_choice_accuracy(yt, st, gt, confidence=confidence))
    return parts, extra


def fold_row(sp: Split, y, scores, threshold, groups, sites, site_names, best) -> dict:
    """One row of the per-split table."""
    yt = y[sp.test]
    pred = (scores >= threshold).astype(int)
    pos, neg = yt == 1, yt == 0
    auc = np.nan
    if pos.any() and neg.any():
        auc = float(roc_auc_ci(yt, scores).loc[0, "estimate"])
    sens = pred[pos].mean() if pos.any() else np.nan
    spec = 1 - pred[neg].mean() if neg.any() else np.nan
    return {
        "repeat": sp.repeat, "fold": sp.fold, "n_train": sp.train.size, "n_test": sp.test.size,
        "n_test_positive": int(pos.sum()), "n_test_negative": int(neg.sum()),
        "test_subjects": ";".join(map(str, pd.unique(groups[sp.test]))),
        "test_sites": "" if sites is None else ";".join(
            str(site_names[s]) for s in pd.unique(sites[sp.test])),
        "auc": auc, "balanced_accuracy": np.nanmean([sens, spec]) if pos.any() and neg.any()
        else np.nan,
        "sensitivity": sens, "specificity": spec,
        "best_params": "" if best is None else json.dumps(best, default=str),
    }


def fold_table(splits: list[Split], oof: OutOfFold, design: Design) -> pd.DataFrame:
    """One row per split (see ``BiomarkerEvaluation.folds``)."""
    return pd.DataFrame([
        fold_row(sp, design.y, res[0], oof.threshold, design.subjects, design.sites,
                 design.site_names, res[2])
        for sp, res in zip(splits, oof.raw)
    ])


def calibration_table(y, prob, n_bins) -> pd.DataFrame:
    """Equal-width probability bins: mean predicted probability vs fraction positive."""
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(prob, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            rows.append({"bin": b, "bin_low": edges[b], "bin_high": edges[b + 1],
                         "mean_predicted": prob[sel].mean(), "fraction_positive": y[sel].mean(),
                         "n": int(sel.sum())})
    return pd.DataFrame(rows, columns=["bin", "bin_low", "bin_high", "mean_predicted",
                                       "fraction_positive", "n"])


def repeat_sd(mat: np.ndarray) -> np.ndarray:
    """SD (ddof 1) of each column's finite scores; NaN with fewer than two."""
    ok = np.isfinite(mat)
    k = ok.sum(axis=0)
    filled = np.where(ok, mat, 0.0)
    mean = filled.sum(axis=0) / np.maximum(k, 1)
    ss = (np.where(ok, mat - mean, 0.0) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 1, np.sqrt(ss / (k - 1)), np.nan)


def prediction_table(oof: OutOfFold, pooled: Pooled, design: Design) -> pd.DataFrame:
    """One row per tested row (see ``BiomarkerEvaluation.predictions``)."""
    tested = pooled.tested
    return pd.DataFrame({
        "row": design.rows[tested], "subject_id": pooled.subjects,
        "target": design.labels[tested], "y": pooled.y, "score": pooled.score,
        "score_sd": repeat_sd(oof.matrix[:, tested]),
        "n_scores": np.isfinite(oof.matrix[:, tested]).sum(axis=0),
        "predicted": pooled.predicted,
    })
