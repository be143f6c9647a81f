"""The result of evaluate_prognosis (a continuous target)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from painmarkers._docs import fill_doc
from painmarkers._words import plain
from painmarkers.prediction import _save

__all__ = ["PrognosisEvaluation"]

#: The tables of a PrognosisEvaluation written by ``save()`` (one CSV each).
TABLES = ("metrics", "folds", "predictions", "excluded")


@dataclass(frozen=True, eq=False)
class PrognosisEvaluation:  # numpydoc ignore=PR01,EX01
    """Result of :func:`~painmarkers.prediction.evaluate_prognosis`.

    Follows the painmarkers result protocol: ``to_frame()``, ``summary()``,
    ``save(directory) -> dict[str, Path]``, ``parameters`` and ``versions``.

    Attributes
    ----------
    r2, r2_ci_low, r2_ci_high : float
        Out-of-fold R² of the repeat-averaged predictions against the fold-external
        mean, and its subject-level bootstrap interval.
    permutation_p : float
        Target-permutation p-value of the R², (C + 1) / (n_permutations + 1); NaN when
        ``n_permutations=0``.
    metrics : pandas.DataFrame
        One row per metric (:data:`painmarkers.schema.METRIC_COLUMNS`): ``r2``
        (``numerator`` SS_res, ``denominator`` SS_tot), ``mae``, ``rmse``,
        ``pearson_r``, ``calibration_slope``, ``calibration_intercept`` (percentile
        bootstrap intervals over subjects), ``r2_mean_over_repeats`` (mean and range of
        the R² of each CV repeat), ``permutation_p``.
    folds : pandas.DataFrame
        One row per split: ``repeat``, ``fold``, ``n_train``, ``n_test``,
        ``test_subjects``, ``test_sites``, ``training_mean``, ``r2`` (against the
        training mean), ``mae``, ``rmse``, ``pearson_r``, ``best_params``.
    predictions : pandas.DataFrame
        One row per analysed row: ``row``, ``subject_id``, ``observed``,
        ``predicted`` (mean over repeats), ``predicted_sd``, ``n_predictions``,
        ``baseline`` (mean training-fold mean), ``residual`` (observed - predicted).
    null_distribution : numpy.ndarray
        R² of the permuted-target refits (NaN where a permutation's CV could not be
        built).
    excluded : pandas.DataFrame
        What was left out: ``row``, ``subject_id``, ``reason`` (``missing ppr (no
        'post' session)``, ``no session 'pre'``, ``missing age``, ...).
    n, n_subjects : int
        Rows analysed and distinct subjects.
    parameters : dict
        Everything that produced the result (features, target, model, cv, ...,
        ``r2_baseline`` naming the mean R² is measured against).
    versions : dict
        Versions of Python, painmarkers and its dependencies.
    final_model_ : sklearn.pipeline.Pipeline or None
        The evaluated pipeline refitted on every analysed row: the model to apply to
        new data, e.g. through a model card
        (:func:`~painmarkers.prediction.save_model_card`).
    training : dict
        The data ``final_model_`` was fitted on: ``n_rows``, ``n_subjects``, sessions,
        groups, sites, age and sex, the target's and each feature's ``n``, ``mean``,
        ``sd``, ``min``, ``max``, and how the confounds are coded.

    See Also
    --------
    evaluate_prognosis : Compute it; its examples use this result.
    save_model_card : Write ``final_model_`` with ``training`` as a model card.
    """

    r2: float
    r2_ci_low: float
    r2_ci_high: float
    permutation_p: float
    metrics: pd.DataFrame = field(repr=False)
    folds: pd.DataFrame = field(repr=False)
    predictions: pd.DataFrame = field(repr=False)
    null_distribution: np.ndarray = field(repr=False)
    excluded: pd.DataFrame = field(repr=False)
    n: int = 0
    n_subjects: int = 0
    parameters: dict = field(default_factory=dict, repr=False)
    versions: dict = field(default_factory=dict, repr=False)
    final_model_: object = field(default=None, repr=False)
    training: dict = field(default_factory=dict, repr=False)

    to_frame = _save.metrics_frame

    def summary(self) -> str:
        """Human-readable summary: design, R² with CI, metrics, permutation p.

        Returns
        -------
        str
            Several lines: target and features, n rows and subjects, what was excluded,
            model and CV, one line per metric with its CI, the permutation p.
        """
        p = self.parameters
        sessions = p.get("sessions")
        lines = [
            f"Prognostic evaluation: {p['target']} from {', '.join(p['features'])}",
            f"n = {self.n} rows from {self.n_subjects} subjects"
            + (f", sessions {plain(sessions)}" if sessions else "")
            + f"; {_save.excluded_text(self.excluded)}.",
            *_save.design_lines(p),
            "R² = 1 - SS_res / SS_tot against each row's training-fold mean.",
            *_save.metric_lines(self.metrics),
        ]
        lines += _save.permutation_line(self.permutation_p, p.get("n_permutations"), "target")
        return "\n".join(lines)

    def plot_predictions(self, ax=None):
        """Scatter of observed against predicted values, with the calibration line.

        The dashed diagonal is perfect prediction; the solid line is the least-squares
        fit of observed on predicted (its slope and intercept are the calibration slope
        and intercept).

        Parameters
        ----------
        ax : matplotlib.axes.Axes or None, default=None
            Axes to draw in; None draws in a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn in.
        """
        ax = _save.axes(ax)
        pred, obs = self.predictions["predicted"], self.predictions["observed"]
        m = self.metrics.set_index("metric")["estimate"]
        ax.scatter(pred, obs, s=18, alpha=0.8)
        lo = float(min(pred.min(), obs.min()))
        hi = float(max(pred.max(), obs.max()))
        ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=1, label="observed = predicted")
        xs = np.linspace(float(pred.min()), float(pred.max()), 2)
        ax.plot(xs, m["calibration_intercept"] + m["calibration_slope"] * xs, lw=2,
                label=f"calibration slope {m['calibration_slope']:.2f}")
        ax.set(xlabel="predicted (out of fold)", ylabel="observed",
               title=f"R² {self.r2:.2f} [{self.r2_ci_low:.2f}, {self.r2_ci_high:.2f}]")
        ax.legend(loc="upper left", fontsize="small")
        return ax

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write every table (CSV), the null distribution, parameters (JSON) and summary.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            Keys ``metrics``, ``folds``, ``predictions``, ``excluded``
            (CSV), ``null_distribution`` (CSV, column ``r2``), ``parameters``
            (``parameters.json``: ``type``, ``parameters``, ``versions``) and
            ``summary`` (``summary.txt``).

        Raises
        ------
        %(save_raises)s
        """
        tables = {name: getattr(self, name) for name in TABLES}
        return _save.save_result(self, directory, tables, null="r2")
