"""Figures of the trial analyses of a study report: means plots and forest plots.

Private to :mod:`painmarkers.study` (the report's figures); each function returns a
matplotlib Figure and imports matplotlib only when called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["plot_forest", "plot_trial_means"]

_COLORS = ("#c0392b", "#2471a3", "#1e8449", "#7d3c98", "#b9770e", "#5d6d7e")


def _pyplot():
    from painmarkers.reporting.plots import _pyplot as pyplot

    return pyplot()


def plot_trial_means(panels: Sequence[dict], *, levels: Sequence[str],
                     sessions: Sequence[str], max_columns: int = 4):
    """Mean ± CI per arm and visit over the individual trajectories, one panel per measure.

    Parameters
    ----------
    panels : list of dict
        ``title``, ``ylabel``, ``means`` (DataFrame: ``level``, ``session``, ``mean``,
        ``ci_low``, ``ci_high``) and ``individual`` (DataFrame: ``subject``, ``level``,
        ``session``, ``value``; a subject's visits are joined by a thin line, a subject
        seen once is a dot).
    levels, sessions : list of str
        Arms (colours, in order) and visits (x positions, in order).
    max_columns : int, default=4
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    n = len(panels)
    ncol = min(max_columns, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol + 0.6, 3.0 * nrow + 0.4),
                             squeeze=False)
    x_of = {s: i for i, s in enumerate(sessions)}
    dodge = np.linspace(-0.08, 0.08, len(levels)) if len(levels) > 1 else [0.0]
    for ax, panel in zip(axes.ravel(), panels):
        ind = panel["individual"]
        for k, level in enumerate(levels):
            color = _COLORS[k % len(_COLORS)]
            sub = ind[ind["level"].astype(str) == str(level)]
            for _, traj in sub.groupby("subject", sort=False):
                traj = traj[traj["session"].isin(x_of)]
                xs = traj["session"].map(x_of).to_numpy(float)
                order = np.argsort(xs)
                ax.plot(xs[order] + dodge[k], traj["value"].to_numpy(float)[order],
                        color=color, alpha=0.22, lw=0.7, marker="." if len(xs) == 1 else None,
                        ms=3, zorder=1)
            m = panel["means"]
            m = m[m["level"].astype(str) == str(level)]
            m = m[m["session"].isin(x_of)]
            xs = m["session"].map(x_of).to_numpy(float) + dodge[k]
            order = np.argsort(xs)
            mean = m["mean"].to_numpy(float)[order]
            err = np.vstack([mean - m["ci_low"].to_numpy(float)[order],
                             m["ci_high"].to_numpy(float)[order] - mean])
            ax.errorbar(xs[order], mean, yerr=err, color=color, lw=2.2, marker="o", ms=5,
                        capsize=3, label=str(level), zorder=3)
        ax.set_xticks(range(len(sessions)), [str(s) for s in sessions])
        ax.set_xlim(-0.4, len(sessions) - 0.6)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_ylabel(panel.get("ylabel", ""), fontsize=9)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_forest(frame: pd.DataFrame, *, label: str, estimate: str = "estimate",
                low: str = "ci_low", high: str = "ci_high", xlabel: str = "", title: str = ""):
    """Horizontal forest plot: one row per line of ``frame`` (estimate and interval).

    Parameters
    ----------
    frame : DataFrame
        One row per estimate.
    label : str
        Column of the row labels.
    estimate, low, high : str
        Columns of the estimate and its interval.
    xlabel, title : str
        Labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    n = len(frame)
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.32 * max(n, 1)))
    y = np.arange(n)[::-1]
    est = frame[estimate].to_numpy(float)
    lo, hi = frame[low].to_numpy(float), frame[high].to_numpy(float)
    excludes = (lo > 0) | (hi < 0)
    ax.hlines(y, lo, hi, color=np.where(excludes, "#c0392b", "0.35"), lw=2)
    ax.scatter(est, y, color=np.where(excludes, "#c0392b", "0.2"), zorder=3, s=22)
    ax.axvline(0.0, color="0.5", lw=0.8, ls="--")
    ax.set_yticks(y, [str(v) for v in frame[label]], fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set(xlabel=xlabel, title=title)
    fig.tight_layout()
    return fig
