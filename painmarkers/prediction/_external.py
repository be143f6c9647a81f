"""External validation of a saved model: the metrics and the result of apply_model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._docs import fill_doc
from painmarkers.prediction import _save
from painmarkers.prediction._performance import brier_ci, calibration_table
from painmarkers.prediction.metrics import binary_metrics, regression_metrics, roc_auc_ci
from painmarkers.schema import METRIC_COLUMNS

__all__ = ["ExternalValidation"]

#: Tables of an ExternalValidation written by ``save()``.
TABLES = ("metrics", "predictions", "calibration", "shift", "excluded")
#: Columns of ``ExternalValidation.shift``.
SHIFT_COLUMNS = ["feature", "train_mean", "train_sd", "train_min", "train_max", "new_n",
                 "new_mean", "new_sd", "new_min", "new_max", "shift_sd", "n_outside",
                 "fraction_outside", "flagged"]
#: Fraction of new values outside the training range above which a feature is flagged.
OUTSIDE_FRACTION = 0.10


def _row(**kw) -> dict:
    return {c: kw.get(c, np.nan) for c in METRIC_COLUMNS}


# -- calibration of probabilities (Steyerberg) -----------------------------------------------
def _logistic(X: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iter: int = 100
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """Maximum-likelihood logistic coefficients and their covariance (Newton), or None
    when the fit does not converge (separation: the coefficients run off to infinity)."""
    from scipy.special import expit

    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = expit(X @ beta + offset)
        hess = X.T @ (X * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(hess, X.T @ (y - p))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 30:
            return None
        if np.max(np.abs(step)) < 1e-10:
            p = expit(X @ beta + offset)
            hess = X.T @ (X * (p * (1 - p))[:, None])
            return beta, np.linalg.inv(hess)
    return None


def logistic_calibration(y: np.ndarray, p: np.ndarray, confidence: float) -> list[dict]:
    """Calibration intercept (``logit P = a + logit p``) and slope (``a + b logit p``)."""
    eps = 1e-12
    lp = np.log(np.clip(p, eps, 1 - eps) / np.clip(1 - p, eps, 1 - eps))
    z = stats.norm.isf((1 - confidence) / 2)
    rows = []
    one = np.ones((y.size, 1))
    fits = {"calibration_intercept": (_logistic(one, y, lp), 0),
            "calibration_slope": (_logistic(np.column_stack([one, lp]), y, np.zeros(y.size)),
                                  1)}
    for name, (fit, j) in fits.items():
        if fit is None:
            rows.append(_row(metric=name, confidence=confidence,
                             ci_method="logistic ML did not converge (separation)",
                             n=int(y.size)))
            continue
        beta, cov = fit
        se = float(np.sqrt(cov[j, j]))
        rows.append(_row(metric=name, estimate=float(beta[j]), ci_low=float(beta[j] - z * se),
                         ci_high=float(beta[j] + z * se), confidence=confidence,
                         ci_method="logistic ML, Wald", n=int(y.size)))
    return rows


def classification_metrics(y: np.ndarray, score: np.ndarray, predicted: np.ndarray,
                           is_proba: bool, clusters, *, confidence: float, n_bootstrap: int,
                           rng: np.random.Generator) -> pd.DataFrame:
    """AUC, threshold metrics, Brier score and calibration of a frozen classifier."""
    parts = [roc_auc_ci(y, score, method="delong", confidence=confidence, clusters=clusters),
             binary_metrics(y, predicted, confidence=confidence, n_bootstrap=n_bootstrap,
                            random_state=rng)]
    extra = []
    if is_proba:
        low, high = brier_ci(y, score, clusters, confidence, n_bootstrap, rng)
        extra.append(_row(metric="brier", estimate=float(np.mean((score - y) ** 2)),
                          ci_low=low, ci_high=high, confidence=confidence,
                          ci_method="bootstrap" + (" (subjects)" if clusters is not None
                                                   else ""), n=int(y.size)))
        extra += logistic_calibration(y, score, confidence)
    return pd.concat([*parts, pd.DataFrame(extra, columns=list(METRIC_COLUMNS))],
                     ignore_index=True)


def one_class_metrics(y: np.ndarray, predicted: np.ndarray, confidence: float) -> pd.DataFrame:
    """Sensitivity (all positive) or specificity (all negative) when one class is present."""
    from painmarkers.prediction.metrics import wilson_ci

    positive = bool(y[0] == 1)
    correct = int((predicted == y).sum())
    low, high = wilson_ci(correct, y.size, confidence=confidence)
    return pd.DataFrame([_row(metric="sensitivity" if positive else "specificity",
                              estimate=correct / y.size, ci_low=float(low),
                              ci_high=float(high), confidence=confidence, ci_method="Wilson",
                              n=int(y.size), numerator=correct, denominator=int(y.size))])


def regression_metrics_external(y: np.ndarray, pred: np.ndarray, baseline: float | None,
                                clusters, *, confidence: float, n_bootstrap: int,
                                rng: np.random.Generator) -> pd.DataFrame:
    """R² against the training mean, MAE, RMSE, r, calibration (bootstrap CIs)."""
    base = None if baseline is None else np.full(y.size, float(baseline))
    frame = regression_metrics(y, pred, baseline=base, clusters=clusters,
                               confidence=confidence, n_bootstrap=n_bootstrap,
                               random_state=rng)
    if clusters is not None:
        frame["ci_method"] = "percentile bootstrap (subjects)"
    return frame


def regression_calibration(y: np.ndarray, pred: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Quantile bins of the predictions: mean predicted vs mean observed."""
    cols = ["bin", "bin_low", "bin_high", "mean_predicted", "mean_observed", "n"]
    if y.size < n_bins:
        return pd.DataFrame(columns=cols)
    edges = np.quantile(pred, np.linspace(0, 1, n_bins + 1))
    idx = np.clip(np.searchsorted(edges[1:-1], pred, side="right"), 0, n_bins - 1)
    rows = [{"bin": b, "bin_low": edges[b], "bin_high": edges[b + 1],
             "mean_predicted": pred[idx == b].mean(), "mean_observed": y[idx == b].mean(),
             "n": int((idx == b).sum())} for b in range(n_bins) if (idx == b).any()]
    return pd.DataFrame(rows, columns=cols)


def probability_calibration(y: np.ndarray, p: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Equal-width probability bins (as evaluate_biomarker's calibration table)."""
    return calibration_table(y, p, n_bins)


def shift_table(training: dict, new: pd.DataFrame, max_shift: float) -> pd.DataFrame:
    """Each feature's training range against the new data's values."""
    rows = []
    for name in new.columns:
        t = training.get(name) or {}
        v = pd.to_numeric(new[name], errors="coerce").to_numpy(float)
        v = v[np.isfinite(v)]
        mean, sd = t.get("mean"), t.get("sd")
        lo, hi = t.get("min"), t.get("max")
        shift = ((v.mean() - mean) / sd if v.size and mean is not None and sd else np.nan)
        # a tolerance of a few ulps of the range: the training images themselves, summed
        # in another order when applied, must not fall "outside" their own min and max
        # (a card with only one bound checks that one)
        bounds = [abs(b) for b in (lo, hi) if b is not None]
        tol = 1e-9 * max(bounds) if bounds else 0.0
        low = v < lo - tol if lo is not None else np.zeros(v.shape, bool)
        high = v > hi + tol if hi is not None else np.zeros(v.shape, bool)
        outside = int((low | high).sum())
        frac = outside / v.size if v.size else np.nan
        flagged = bool((np.isfinite(shift) and abs(shift) > max_shift)
                       or (np.isfinite(frac) and frac > OUTSIDE_FRACTION))
        rows.append({"feature": name, "train_mean": mean, "train_sd": sd, "train_min": lo,
                     "train_max": hi, "new_n": int(v.size),
                     "new_mean": float(v.mean()) if v.size else np.nan,
                     "new_sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                     "new_min": float(v.min()) if v.size else np.nan,
                     "new_max": float(v.max()) if v.size else np.nan,
                     "shift_sd": shift, "n_outside": outside, "fraction_outside": frac,
                     "flagged": flagged})
    return pd.DataFrame(rows, columns=SHIFT_COLUMNS)


# -- the result ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ExternalValidation:  # numpydoc ignore=PR01,EX01
    """Result of :func:`~painmarkers.prediction.apply_model`.

    Follows the painmarkers result protocol: ``to_frame()``, ``summary()``,
    ``save(directory) -> dict[str, Path]``, ``parameters`` and ``versions``.

    Attributes
    ----------
    task : {"classification", "regression"}
        The model's task.
    metrics : pandas.DataFrame
        One row per metric (:data:`painmarkers.schema.METRIC_COLUMNS`); empty when the
        outcome is unknown. Classification: ``auc``, ``sensitivity``, ``specificity``,
        ``ppv``, ``npv``, ``accuracy``, ``balanced_accuracy``, and for probabilities
        ``brier``, ``calibration_intercept``, ``calibration_slope``. Regression: ``r2``
        (against the training mean), ``mae``, ``rmse``, ``pearson_r``,
        ``calibration_slope``, ``calibration_intercept``.
    predictions : pandas.DataFrame
        One row per row (or image) predicted: ``row`` (row of the input table, or image
        number), ``subject_id``, ``name`` (image name or session), ``observed`` (NaN
        when unknown), then ``score`` and ``predicted`` (0/1 at the card's threshold)
        for a classifier, or ``predicted`` and ``residual`` for a regressor.
    calibration : pandas.DataFrame
        Classification: ``bin``, ``bin_low``, ``bin_high``, ``mean_predicted``,
        ``fraction_positive``, ``n`` (probability bins). Regression: ``bin``,
        ``bin_low``, ``bin_high``, ``mean_predicted``, ``mean_observed``, ``n``
        (quantile bins of the predictions).
    shift : pandas.DataFrame
        Each input feature (for a voxel model: each image's mean and SD in the mask)
        against its training distribution: ``feature``, ``train_mean``, ``train_sd``,
        ``train_min``, ``train_max``, ``new_n``, ``new_mean``, ``new_sd``,
        ``new_min``, ``new_max``, ``shift_sd`` ((new mean - training mean) / training
        SD), ``n_outside``, ``fraction_outside`` (of the training range), ``flagged``.
    excluded : pandas.DataFrame
        ``row``, ``subject_id``, ``reason`` of rows (or images) not predicted or not in
        the metrics.
    notes : list of str
        What the warnings said (grid resampling, shifted features, single class).
    n, n_subjects : int
        Rows (images) in the metrics (all predicted rows when the outcome is unknown)
        and their distinct subjects.
    parameters : dict
        The card (name, folder, training versions) and the arguments of apply_model.
    versions : dict
        Versions of Python, painmarkers and its dependencies now.

    See Also
    --------
    apply_model : Compute it; its examples use this result.
    """

    task: str
    metrics: pd.DataFrame = field(repr=False)
    predictions: pd.DataFrame = field(repr=False)
    calibration: pd.DataFrame = field(repr=False)
    shift: pd.DataFrame = field(repr=False)
    excluded: pd.DataFrame = field(repr=False)
    notes: list = field(default_factory=list, repr=False)
    n: int = 0
    n_subjects: int = 0
    parameters: dict = field(default_factory=dict, repr=False)
    versions: dict = field(default_factory=dict, repr=False)

    to_frame = _save.metrics_frame

    def summary(self) -> str:
        """Plain-text summary: the card, the data, the metrics, the shifts.

        Returns
        -------
        str
            Several lines: the card and its target, the rows predicted and excluded,
            one line per metric with its CI, the shifted features and the notes.
        """
        p = self.parameters
        lines = [f"External validation of model card {p.get('card_name')!r} "
                 f"({self.task} of {p.get('target')!r}"
                 + (f", positive = {p.get('positive')!r}" if self.task == "classification"
                    else "") + ")",
                 f"{len(self.predictions)} row(s) predicted; {self.n} with an observed outcome "
                 f"from {self.n_subjects} subjects; excluded {len(self.excluded)}."]
        if self.metrics.empty:
            lines.append("No observed outcome: predictions only.")
        lines += _save.metric_lines(self.metrics, skip=())
        flagged = self.shift[self.shift["flagged"]] if len(self.shift) else self.shift
        if len(flagged):
            lines.append(f"Shifted from training: {', '.join(flagged['feature'])}.")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot_predictions(self, ax=None):
        """Plot observed against predicted values, or the scores by observed class.

        Regression: a scatter with the diagonal and the calibration line.
        Classification: each class's scores, with the threshold.

        Parameters
        ----------
        ax : matplotlib.axes.Axes or None, default=None
            Axes to draw in; None draws in a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn in.

        Raises
        ------
        ValueError
            When the outcome is unknown.
        """
        pred = self.predictions.dropna(subset=["observed"])
        if pred.empty:
            raise ValueError("The outcome is unknown; there is nothing to plot against.")
        ax = _save.axes(ax)
        m = self.metrics.set_index("metric")["estimate"]
        if self.task == "regression":
            x, y = pred["predicted"].astype(float), pred["observed"].astype(float)
            ax.scatter(x, y, s=18, alpha=0.8)
            lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
            ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=1,
                    label="observed = predicted")
            xs = np.linspace(float(x.min()), float(x.max()), 2)
            if np.isfinite(m.get("calibration_slope", np.nan)):
                ax.plot(xs, m["calibration_intercept"] + m["calibration_slope"] * xs, lw=2,
                        label=f"calibration slope {m['calibration_slope']:.2f}")
            ax.set(xlabel="predicted", ylabel="observed",
                   title=f"External R² {m.get('r2', np.nan):.2f}")
            ax.legend(loc="upper left", fontsize="small")
            return ax
        obs = pred["observed"].astype(int)
        positive = self.parameters.get("positive")
        names = (["negative", "positive"] if positive is None else
                 [f"not {positive}", str(positive)])
        for k in (0, 1):
            s = pred.loc[obs == k, "score"]
            ax.scatter(np.full(s.size, k) + np.linspace(-0.1, 0.1, s.size), s, s=18,
                       label=f"{names[k]} (n = {s.size})")
        ax.axhline(self.parameters.get("threshold", 0.5), ls="--", color="grey", lw=1)
        ax.set_xticks([0, 1], names)
        ax.set(ylabel="score", title=f"External AUC {m.get('auc', np.nan):.2f}")
        return ax

    def plot_calibration(self, ax=None):
        """Calibration plot: observed against predicted per bin, with the diagonal.

        Parameters
        ----------
        ax : matplotlib.axes.Axes or None, default=None
            Axes to draw in; None draws in a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn in.

        Raises
        ------
        ValueError
            No calibration table (unknown outcome, or decision values).
        """
        if self.calibration.empty:
            raise ValueError("No calibration table: the outcome is unknown or the model "
                             "gives decision values, not probabilities.")
        ax = _save.axes(ax)
        cal = self.calibration
        ycol = "fraction_positive" if self.task == "classification" else "mean_observed"
        lo = float(min(cal["mean_predicted"].min(), cal[ycol].min()))
        hi = float(max(cal["mean_predicted"].max(), cal[ycol].max()))
        if self.task == "classification":
            lo, hi = 0.0, 1.0
        ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=1)
        ax.plot(cal["mean_predicted"], cal[ycol], marker="o")
        ax.set(xlabel="mean predicted", ylabel="fraction positive" if ycol ==
               "fraction_positive" else "mean observed", title="Calibration (new data)")
        return ax

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the tables (CSV), parameters (JSON) and summary into ``directory``.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            ``metrics``, ``predictions``, ``calibration``, ``shift``, ``excluded``
            (CSV), ``parameters`` (``parameters.json``) and ``summary``
            (``summary.txt``).

        Raises
        ------
        %(save_raises)s
        """
        return _save.save_result(self, directory, {name: getattr(self, name) for name in TABLES})
