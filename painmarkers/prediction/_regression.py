"""Stage 4 of evaluate_prognosis: metrics of out-of-fold predictions of a continuous target.

:func:`pooled_predictions` turns the (repeats x rows) prediction matrix into one
prediction per row and the matching *fold-external* baseline (the mean target of the
training rows of the fold that predicted the row, averaged over repeats);
:func:`pooled_r2` is the statistic of the permutation test; :func:`metric_rows`,
:func:`fold_table` and :func:`prediction_table` give the tables of the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers.prediction._cv import OutOfFold, Split
from painmarkers.prediction._inputs import Design
from painmarkers.prediction.metrics import regression_metrics

__all__: list[str] = []


def training_means(y: np.ndarray, splits: list[Split], n_repeats: int) -> np.ndarray:
    """(repeats, n) matrix: the training-fold mean of ``y`` at each test row (NaN untested)."""
    out = np.full((n_repeats, y.size), np.nan)
    for sp in splits:
        out[sp.repeat, sp.test] = y[sp.train].mean()
    return out


def _row_means(mat: np.ndarray) -> np.ndarray:
    ok = np.isfinite(mat)
    k = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, np.where(ok, mat, 0.0).sum(axis=0) / np.maximum(k, 1), np.nan)


def pooled_r2(mat: np.ndarray, y: np.ndarray, splits: list[Split]) -> float:
    """Out-of-fold R² of the repeat-averaged predictions against the fold-external mean."""
    pred = _row_means(mat)
    base = _row_means(training_means(y, splits, mat.shape[0]))
    ok = np.isfinite(pred)
    res = y[ok] - pred[ok]
    tot = y[ok] - base[ok]
    return float(1.0 - (res @ res) / (tot @ tot))


def r2_statistic(oof: OutOfFold, y: np.ndarray, splits: list[Split]) -> float:
    """The permutation statistic of a regression (see :func:`pooled_r2`)."""
    return pooled_r2(oof.matrix, y, splits)


@dataclass(frozen=True, eq=False)
class PooledRegression:
    """One prediction per tested row: the mean of its out-of-fold predictions."""

    predicted: np.ndarray   # (n_tested,)
    baseline: np.ndarray    # (n_tested,) fold-external mean
    y: np.ndarray           # (n_tested,)
    subjects: np.ndarray    # (n_tested,)
    tested: np.ndarray      # (n,) bool
    never_tested: list[dict] = field(default_factory=list)

    @property
    def several_rows(self) -> bool:
        """Some subject has several tested rows (cluster bootstrap then)."""
        return bool(pd.Series(self.subjects).duplicated().any())


def pooled_predictions(oof: OutOfFold, design: Design, splits: list[Split]) -> PooledRegression:
    """Mean prediction and baseline of each row; rows never tested are listed."""
    tested = oof.tested
    never = [{"row": int(design.rows[i]), "subject_id": design.subjects[i],
              "reason": "never in a test fold"} for i in np.flatnonzero(~tested)]
    pred = _row_means(oof.matrix)
    base = _row_means(training_means(design.y, splits, oof.matrix.shape[0]))
    return PooledRegression(predicted=pred[tested], baseline=base[tested], y=design.y[tested],
                            subjects=design.subjects[tested], tested=tested,
                            never_tested=never)


def metric_rows(oof: OutOfFold, pooled: PooledRegression, splits: list[Split], y: np.ndarray,
                *, confidence: float, n_bootstrap: int, rng: np.random.Generator,
                progress: bool = False) -> pd.DataFrame:
    """R², MAE, RMSE, r, calibration (cluster bootstrap CIs) and the per-repeat R² spread.

    ``y`` is the target of every row of the fit (tested or not).
    """
    clusters = pooled.subjects if pooled.several_rows else None
    frame = regression_metrics(pooled.y, pooled.predicted, baseline=pooled.baseline,
                               clusters=clusters, confidence=confidence,
                               n_bootstrap=n_bootstrap, random_state=rng, progress=progress)
    if clusters is not None:
        frame["ci_method"] = "percentile bootstrap (subjects)"
    mat = oof.matrix
    base = training_means(y, splits, mat.shape[0])
    per_repeat = []
    for r in range(mat.shape[0]):
        if np.isfinite(mat[r]).all():
            res, tot = y - mat[r], y - base[r]
            per_repeat.append(1.0 - (res @ res) / (tot @ tot))
    if per_repeat:
        extra = pd.DataFrame([{
            "metric": "r2_mean_over_repeats", "estimate": float(np.mean(per_repeat)),
            "ci_low": float(np.min(per_repeat)), "ci_high": float(np.max(per_repeat)),
            "confidence": np.nan, "ci_method": f"range over {len(per_repeat)} repeats",
            "n": int(pooled.y.size), "numerator": np.nan, "denominator": np.nan}])
        frame = pd.concat([frame, extra], ignore_index=True)
    return frame


def _fold_row(sp: Split, y, pred, groups, sites, site_names, best) -> dict:
    yt = y[sp.test]
    base = y[sp.train].mean()
    res = yt - pred
    tot = yt - base
    r = (stats.pearsonr(pred, yt)[0] if yt.size > 2 and np.ptp(pred) > 0 and np.ptp(yt) > 0
         else np.nan)
    return {
        "repeat": sp.repeat, "fold": sp.fold, "n_train": sp.train.size, "n_test": sp.test.size,
        "test_subjects": ";".join(map(str, pd.unique(groups[sp.test]))),
        "test_sites": "" if sites is None else ";".join(
            str(site_names[s]) for s in pd.unique(sites[sp.test])),
        "training_mean": float(base),
        "r2": float(1.0 - (res @ res) / (tot @ tot)) if (tot @ tot) > 0 else np.nan,
        "mae": float(np.mean(np.abs(res))), "rmse": float(np.sqrt(np.mean(res**2))),
        "pearson_r": float(r),
        "best_params": "" if best is None else json.dumps(best, default=str),
    }


def fold_table(splits: list[Split], oof: OutOfFold, design: Design) -> pd.DataFrame:
    """One row per split (see ``PrognosisEvaluation.folds``)."""
    return pd.DataFrame([
        _fold_row(sp, design.y, res[0], design.subjects, design.sites, design.site_names,
                  res[2])
        for sp, res in zip(splits, oof.raw)
    ], columns=FOLD_COLUMNS)


#: Columns of ``PrognosisEvaluation.folds``.
FOLD_COLUMNS = ["repeat", "fold", "n_train", "n_test", "test_subjects", "test_sites",
                "training_mean", "r2", "mae", "rmse", "pearson_r", "best_params"]


def prediction_table(oof: OutOfFold, pooled: PooledRegression, design: Design) -> pd.DataFrame:
    """One row per tested row (see ``PrognosisEvaluation.predictions``)."""
    from painmarkers.prediction._performance import repeat_sd

    tested = pooled.tested
    return pd.DataFrame({
        "row": design.rows[tested], "subject_id": pooled.subjects, "observed": pooled.y,
        "predicted": pooled.predicted, "predicted_sd": repeat_sd(oof.matrix[:, tested]),
        "n_predictions": np.isfinite(oof.matrix[:, tested]).sum(axis=0),
        "baseline": pooled.baseline, "residual": pooled.y - pooled.predicted,
    })
