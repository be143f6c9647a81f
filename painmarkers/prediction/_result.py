"""The result of evaluate_biomarker (stage 6 assembles it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from painmarkers._docs import fill_doc
from painmarkers._words import plain
from painmarkers.prediction import _save

__all__ = ["BiomarkerEvaluation"]

#: The tables of a BiomarkerEvaluation written by ``save()`` (one CSV each).
TABLES = ("metrics", "folds", "roc", "calibration", "predictions", "excluded")


@dataclass(frozen=True, eq=False)
class BiomarkerEvaluation:  # numpydoc ignore=PR01,EX01
    """Result of :func:`~painmarkers.prediction.evaluate_biomarker`.

    Follows the painmarkers result protocol: ``to_frame()``, ``summary()``,
    ``save(directory) -> dict[str, Path]``, ``parameters`` and ``versions``.

    Attributes
    ----------
    auc, auc_ci_low, auc_ci_high : float
        Cross-validated ROC AUC (repeat-averaged out-of-fold scores) and its DeLong CI.
    permutation_p : float
        Label-permutation p-value of the AUC, (C + 1) / (n_permutations + 1); NaN
        when ``n_permutations=0``.
    metrics : pandas.DataFrame
        One row per metric (:data:`painmarkers.schema.METRIC_COLUMNS`): ``auc``
        (DeLong CI), ``auc_bootstrap``, ``balanced_accuracy``, ``sensitivity``,
        ``specificity``, ``ppv``, ``npv``, ``accuracy``, optionally
        ``ppv_at_prevalence``/``npv_at_prevalence``, ``brier``,
        ``auc_mean_over_repeats``, ``forced_choice_accuracy`` (paired designs),
        ``permutation_p``.
    folds : pandas.DataFrame
        One row per split: ``repeat``, ``fold``, ``n_train``, ``n_test``,
        ``n_test_positive``, ``n_test_negative``, ``test_subjects``, ``test_sites``,
        ``auc``, ``balanced_accuracy``, ``sensitivity``, ``specificity``, ``best_params``.
    roc : pandas.DataFrame
        ``fpr``, ``tpr``, ``threshold`` of the pooled ROC curve.
    calibration : pandas.DataFrame
        ``bin``, ``bin_low``, ``bin_high``, ``mean_predicted``, ``fraction_positive``,
        ``n`` (empty if the model gives no probabilities).
    predictions : pandas.DataFrame
        One row per analysed row: ``row``, ``subject_id``, ``target``, ``y``, ``score``
        (mean over repeats), ``score_sd``, ``n_scores``, ``predicted``.
    null_distribution : numpy.ndarray
        AUCs of the permuted-label refits.
    excluded : pandas.DataFrame
        What was left out, with ``row`` (row of the input table; empty for a subject
        that lacks the needed session), ``subject_id`` and ``reason`` (``missing age``,
        ``no session 'pre'``, ``never in a test fold``, ...).
    n, n_positive, n_negative, n_subjects : int
        Rows analysed, by class, and distinct subjects.
    parameters : dict
        Everything that produced the result (features, target, positive, subject,
        sessions, model, cv, confounds, site, seeds, ...).
    versions : dict
        Versions of Python, painmarkers and its dependencies
        (:func:`painmarkers._versions.versions`).
    final_model_ : sklearn.pipeline.Pipeline or None
        The evaluated pipeline refitted on every analysed row: the model to apply to
        new data, e.g. through a model card
        (:func:`~painmarkers.prediction.save_model_card`). Its performance is the
        cross-validated one above.
    training : dict
        The data ``final_model_`` was fitted on: ``n_rows``, ``n_subjects``, sessions,
        groups, sites, age and sex of the subjects, the class counts, each feature's
        ``n``, ``mean``, ``sd``, ``min``, ``max``, and how the confounds are coded.

    See Also
    --------
    evaluate_biomarker : Compute it; its examples use this result.
    save_model_card : Write ``final_model_`` with ``training`` as a model card.
    """

    auc: float
    auc_ci_low: float
    auc_ci_high: float
    permutation_p: float
    metrics: pd.DataFrame = field(repr=False)
    folds: pd.DataFrame = field(repr=False)
    roc: pd.DataFrame = field(repr=False)
    calibration: pd.DataFrame = field(repr=False)
    predictions: pd.DataFrame = field(repr=False)
    null_distribution: np.ndarray = field(repr=False)
    excluded: pd.DataFrame = field(repr=False)
    n: int = 0
    n_positive: int = 0
    n_negative: int = 0
    n_subjects: int = 0
    parameters: dict = field(default_factory=dict, repr=False)
    versions: dict = field(default_factory=dict, repr=False)
    final_model_: object = field(default=None, repr=False)
    training: dict = field(default_factory=dict, repr=False)

    to_frame = _save.metrics_frame

    def summary(self) -> str:
        """Human-readable summary: design, AUC with CIs, metrics, permutation p.

        Returns
        -------
        str
            Several lines: target and features, n by class and subjects, what was
            excluded, model and CV, one line per metric with its CI, the permutation p.
        """
        p = self.parameters
        sessions = p.get("sessions")
        lines = [
            f"Biomarker evaluation: {p['target']} == {p['positive']!r} from "
            f"{', '.join(p['features'])}",
            f"n = {self.n} rows ({self.n_positive} positive, {self.n_negative} negative) from "
            f"{self.n_subjects} subjects" + (f", sessions {plain(sessions)}" if sessions else "")
            + f"; {_save.excluded_text(self.excluded)}.",
            *_save.design_lines(p),
            *_save.metric_lines(self.metrics),
        ]
        if self.auc in (0.0, 1.0):
            lines.append("Note: the out-of-fold scores separate the classes perfectly, so the "
                         "DeLong and bootstrap intervals collapse to a point; they understate "
                         f"the uncertainty with {self.n_positive} + {self.n_negative} rows "
                         "(report the permutation p and a replication).")
        lines += _save.permutation_line(self.permutation_p, p.get("n_permutations"), "label")
        return "\n".join(lines)

    def plot_roc(self, ax=None):
        """Plot the pooled out-of-fold ROC curve with the AUC and its CI.

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
        ax.plot(self.roc["fpr"], self.roc["tpr"], lw=2,
                label=f"AUC {self.auc:.2f} [{self.auc_ci_low:.2f}, {self.auc_ci_high:.2f}]")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1),
               title="Cross-validated ROC")
        ax.legend(loc="lower right")
        return ax

    def plot_calibration(self, ax=None):
        """Plot observed fraction positive against mean predicted probability per bin.

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
            If the model gives no probabilities.
        """
        if self.calibration.empty:
            raise ValueError("The model gives no probabilities; there is no calibration curve.")
        ax = _save.axes(ax)
        cal = self.calibration
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        ax.plot(cal["mean_predicted"], cal["fraction_positive"], marker="o")
        ax.set(xlabel="mean predicted probability", ylabel="fraction positive",
               xlim=(0, 1), ylim=(0, 1), title="Calibration")
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
            Keys ``metrics``, ``folds``, ``roc``, ``calibration``,
            ``predictions``, ``excluded`` (CSV), ``null_distribution`` (CSV, column
            ``auc``), ``parameters`` (``parameters.json``: ``type``, ``parameters``,
            ``versions``) and ``summary`` (``summary.txt``).

        Raises
        ------
        %(save_raises)s
        """
        tables = {name: getattr(self, name) for name in TABLES}
        return _save.save_result(self, directory, tables, null="auc")
