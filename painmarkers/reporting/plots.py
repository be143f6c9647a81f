"""Figures of a pain-imaging study, in the style of the seed papers.

Every function returns a matplotlib Figure sized for a journal page (3.5 in for one
column, 7.2 in for the full width; :data:`~painmarkers.reporting.FIGURE_WIDTH_IN`);
matplotlib is imported only when a function is called. Brain maps are in
:mod:`painmarkers.reporting.brain` (:func:`plot_stat_map` is importable from here too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from painmarkers._words import plain
from painmarkers.reporting.brain import plot_stat_map
from painmarkers.reporting.figures import _pyplot

__all__ = ["correlation_caption", "plot_alff_spectrum", "plot_correlation", "plot_group_values",
           "plot_stat_map", "residualise"]


def plot_alff_spectrum(timeseries: Sequence[Sequence[float]], t_r: float,
                       band: tuple[float, float] = (0.01, 0.08),
                       labels: Sequence[str] = ("pre", "post"), title: str = ""):
    """Plot ROI time series, their amplitude spectra and the ALFF band (seed Figure 2).

    Parameters
    ----------
    timeseries : sequence of 1-D arrays
        One mean ROI time series per condition (e.g. pre and post rTMS).
    t_r : float
        Repetition time in seconds.
    band : tuple of float, default=(0.01, 0.08)
        The ALFF band in Hz, shaded in the spectrum panel.
    labels : sequence of str, default=("pre", "post")
        Legend labels.
    title : str, default=""
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, 7.2 in wide: the time series (left) and their amplitude spectra
        with the band shaded, each labelled with its band mean (right).

    See Also
    --------
    painmarkers.extractors.alff_falff : ALFF and fALFF as DPABI computes them.

    Notes
    -----
    The amplitude spectrum is ``2 |FFT(x - mean(x))| / N`` (no padding), and the
    value annotated per series is its mean over the band bins: the textbook ALFF
    of Zang et al. (2007). Use :mod:`painmarkers.extractors` for DPABI-exact values.

    References
    ----------
    .. [1] Zang, Y. F., et al. (2007). Altered baseline brain activity in children with
       ADHD revealed by resting-state functional MRI. Brain & Development, 29(2),
       83-91.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from painmarkers.reporting import plot_alff_spectrum
    >>> t = np.arange(200) * 2.0
    >>> pre, post = np.sin(2 * np.pi * 0.05 * t), 0.5 * np.sin(2 * np.pi * 0.05 * t)
    >>> fig = plot_alff_spectrum([pre, post], t_r=2.0)
    >>> [ax.get_title() for ax in fig.axes]
    ['ROI mean time series', 'amplitude spectrum']
    >>> plt.close(fig)
    """
    plt = _pyplot()
    fig, (ax_t, ax_f) = plt.subplots(1, 2, figsize=(7.2, 2.8))
    for ts, label in zip(timeseries, labels, strict=False):
        x = np.asarray(ts, dtype=float)
        n = x.size
        ax_t.plot(np.arange(n) * t_r, x, lw=1, label=label)
        freqs = np.fft.rfftfreq(n, d=t_r)
        amp = 2 * np.abs(np.fft.rfft(x - x.mean())) / n
        inband = (freqs >= band[0]) & (freqs <= band[1])
        alff = amp[inband].mean() if inband.any() else np.nan
        ax_f.plot(freqs, amp, lw=1, label=f"{label} (band mean {alff:.3g})")
    ax_f.axvspan(*band, color="0.85", zorder=0, label=f"{band[0]}-{band[1]} Hz")
    ax_t.set_xlabel("time (s)")
    ax_t.set_ylabel("BOLD (a.u.)")
    ax_t.set_title("ROI mean time series")
    ax_f.set_xlabel("frequency (Hz)")
    ax_f.set_ylabel("amplitude (a.u.)")
    ax_f.set_title("amplitude spectrum")
    ax_f.set_xlim(0, 1 / (2 * t_r))
    for ax in (ax_t, ax_f):
        _style(ax)
        ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _style(ax) -> None:
    """Journal sizes: 8 pt labels, 7 pt ticks, 9 pt titles; no top/right spines."""
    ax.xaxis.label.set_size(8)
    ax.yaxis.label.set_size(8)
    ax.title.set_size(9)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def residualise(values: Sequence[float], covariates: Any, *, rank: bool = False) -> np.ndarray:
    """Residuals of ``values`` after least-squares regression on an intercept and covariates.

    Parameters
    ----------
    values : sequence of float, length n
        The variable (no missing values).
    covariates : array-like of shape (n, k)
        The covariates (no missing values).
    rank : bool, default=False
        Rank ``values`` and every covariate first (average ranks for ties), as
        a partial Spearman correlation does.

    Returns
    -------
    ndarray of shape (n,)
        The residuals (of the ranks when ``rank=True``); they sum to 0.

    Raises
    ------
    ValueError
        ``covariates`` with another number of rows than ``values``.

    Notes
    -----
    ``e = v - Z (Z'Z)^+ Z'v`` with ``Z = [1, C]``. The Pearson correlation of the
    residuals of x and of y is the partial correlation of x and y given C
    (with ranks: the partial Spearman correlation, as
    :func:`pingouin.partial_corr` computes it).

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.reporting import residualise
    >>> residualise([1.0, 2.0, 4.0], np.array([[0.0], [1.0], [2.0]])).round(3).tolist()
    [0.167, -0.333, 0.167]
    """
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=float)
    c = np.asarray(covariates, dtype=float)
    if c.ndim == 1:
        c = c[:, None]
    if c.shape[0] != v.shape[0]:
        raise ValueError(f"covariates have {c.shape[0]} rows for {v.shape[0]} values.")
    if rank:
        v = rankdata(v)
        c = np.column_stack([rankdata(col) for col in c.T]) if c.size else c
    z = np.column_stack([np.ones(len(v)), c])
    beta, *_ = np.linalg.lstsq(z, v, rcond=None)
    return v - z @ beta


def _names(covariates: Any, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        return [str(n) for n in names]
    if hasattr(covariates, "columns"):
        return [str(c) for c in covariates.columns]
    if hasattr(covariates, "name") and covariates.name is not None:
        return [str(covariates.name)]
    k = 1 if np.ndim(covariates) == 1 else np.shape(covariates)[1]
    return [f"covariate {i + 1}" for i in range(k)]


def plot_correlation(x: Sequence[float], y: Sequence[float], *, r: float | None = None,
                     ci: tuple[float, float] | None = None, p: float | None = None,
                     xlabel: str = "x", ylabel: str = "y", title: str = "",
                     method: str = "pearson", covariates: Any = None,
                     covariate_names: Sequence[str] | None = None):
    """Scatter plot with the correlation (seed Figure 5); partial correlations on residuals.

    Parameters
    ----------
    x, y : sequence of float
        Paired values (pairs with a missing value, or a missing covariate, are
        not drawn).
    r : float or None, default=None
        Correlation to annotate (computed with :func:`painmarkers.stats.correlate`;
        not recomputed here).
    ci : tuple of float or None, default=None
        Confidence interval of r to annotate.
    p : float or None, default=None
        The p value to annotate (APA style, :func:`format_p`).
    xlabel, ylabel, title : str, default="x", "y", ""
        Axis labels (with units) and title.
    method : {"pearson", "spearman"}, default="pearson"
        The correlation annotated: ``r`` or Spearman's ``ρ``. The least-squares
        line is drawn for Pearson only.
    covariates : array-like of shape (n, k), DataFrame or None, default=None
        Covariates of a partial correlation. Both axes then show residuals of
        x and y after regression on an intercept and the covariates
        (:func:`residualise`; ranks for Spearman), whose correlation is the
        partial correlation, and the labels say so.
    covariate_names : sequence of str or None, default=None
        Names of the covariates for the labels (None: the DataFrame's columns, a
        Series' name, or ``covariate 1, 2, ...``).

    Returns
    -------
    matplotlib.figure.Figure
        One scatter panel (3.5 x 3.1 in) with the statistics written inside it.

    Raises
    ------
    ValueError
        ``method`` not Pearson or Spearman; ``covariates`` with another number of rows
        than ``x``.

    See Also
    --------
    correlation_caption : The caption that says what this figure draws.
    painmarkers.stats.correlate : The correlation, its CI and p value.

    Notes
    -----
    A partial correlation drawn on raw values would show a different
    association than the one annotated; on residuals, the slope of the line
    is the partial regression coefficient and the points' Pearson correlation
    is the annotated partial r (Frisch-Waugh-Lovell).

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.reporting import plot_correlation
    >>> rng = np.random.default_rng(0)
    >>> age = rng.normal(45, 10, 30); x = age + rng.normal(0, 5, 30)
    >>> y = age + rng.normal(0, 5, 30)
    >>> fig = plot_correlation(x, y, r=0.1, xlabel="VAS", ylabel="ALFF", covariates=age,
    ...                        covariate_names=["age"])
    >>> fig.axes[0].get_xlabel()
    'VAS (residual, adjusted for age)'
    """
    from painmarkers._validation import check_choice

    check_choice(method, ("pearson", "spearman"), "method")
    plt = _pyplot()
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    partial = covariates is not None
    if partial:
        names = _names(covariates, covariate_names)
        cov = np.asarray(covariates, dtype=float)
        cov = cov[:, None] if cov.ndim == 1 else cov
        if cov.shape[0] != x.shape[0]:
            raise ValueError(f"'covariates' has {cov.shape[0]} rows for {x.shape[0]} values.")
        ok &= np.isfinite(cov).all(axis=1)
        xs = residualise(x[ok], cov[ok], rank=method == "spearman")
        ys = residualise(y[ok], cov[ok], rank=method == "spearman")
        what = "rank residual" if method == "spearman" else "residual"
        xlabel = f"{xlabel} ({what}, adjusted for {plain(names)})"
        ylabel = f"{ylabel} ({what}, adjusted for {plain(names)})"
    else:
        xs, ys = x[ok], y[ok]
    fig, ax = plt.subplots(figsize=(3.5, 3.1))
    ax.scatter(xs, ys, s=18, color="#2a6f97", edgecolor="white", linewidth=0.4, zorder=2)
    if method == "pearson" and len(xs) >= 2 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(grid, intercept + slope * grid, color="#c1121f", lw=1.4, zorder=3)
    if partial:
        ax.axhline(0, color="0.8", lw=0.6, zorder=1)
        ax.axvline(0, color="0.8", lw=0.6, zorder=1)
    symbol = "r" if method == "pearson" else "ρ"
    parts = []
    if r is not None:
        parts.append(f"{'partial ' if partial else ''}{symbol} = {r:.2f}")
    if ci is not None:
        parts.append(f"95% CI [{ci[0]:.2f}, {ci[1]:.2f}]")
    if p is not None:
        from painmarkers.reporting.formatting import format_p

        shown = format_p(p)
        parts.append(f"p {shown}" if shown.startswith(("<", ">")) else f"p = {shown}")
    parts.append(f"n = {int(ok.sum())}")
    # The statistics go inside the axes: as a title they are clipped at this width.
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    ax.text(0.02, 0.98, ", ".join(parts), transform=ax.transAxes, va="top", fontsize=7)
    if ok.any():  # headroom so that the statistics line never covers a point
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.14 * (hi - lo))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def correlation_caption(x: str, y: str, *, method: str = "pearson",
                        covariates: Sequence[str] = (), n: int | None = None,
                        where: str = "", line: bool | None = None) -> str:
    """A caption saying exactly what :func:`plot_correlation` drew.

    Parameters
    ----------
    x, y : str
        Readable names of the two variables (with units).
    method : {"pearson", "spearman"}, default="pearson"
        The correlation.
    covariates : sequence of str, default=()
        Covariates of a partial correlation; the caption then says that both
        axes are residuals after regression on them.
    n : int or None, default=None
        Number of points.
    where : str, default=""
        The subjects/session, e.g. ``"CLBP, pre"``.
    line : bool or None, default=None
        Whether a least-squares line is drawn (None: for Pearson).

    Returns
    -------
    str
        One sentence: the correlation and its variables, what the axes show (raw
        values or residuals), the line, and the statistics annotated.

    Examples
    --------
    >>> from painmarkers.reporting import correlation_caption
    >>> print(correlation_caption("VAS", "ALFF (mPFC)", covariates=["age"], n=15)[:80])
    Partial Pearson correlation of ALFF (mPFC) with VAS adjusted for age (n = 15): b
    """
    from painmarkers._validation import check_choice

    check_choice(method, ("pearson", "spearman"), "method")
    covariates = [str(c) for c in covariates]
    name = method.capitalize()
    line = method == "pearson" if line is None else line
    size = f"n = {n}" if n is not None else ""
    scope = ", ".join(s for s in (where, size) if s)
    scope = f" ({scope})" if scope else ""
    symbol = "r" if method == "pearson" else "ρ"
    if covariates:
        adj = plain(covariates)
        ranks = "the ranks of " if method == "spearman" else ""
        on = plain(["an intercept", *(f"the rank of {c}" if ranks else c for c in covariates)])
        text = (f"Partial {name} correlation of {y} with {x} adjusted for {adj}{scope}: both "
                f"axes show residuals of {ranks}{x} and {y} after least-squares "
                f"regression on {on}, so the points' correlation is the partial {symbol}")
    else:
        text = (f"{name} correlation of {y} with {x}{scope}: raw values, one point per "
                "subject")
    if line:
        text += "; line = least-squares fit" + (" of the residuals" if covariates else "")
    return (text + f"; {'partial ' if covariates else ''}{symbol} with its 95 % CI (Fisher "
            "z) and uncorrected p.")


def plot_group_values(values: dict[str, Sequence[float]], ylabel: str = "value",
                      title: str = "", paired: bool = False):
    """Strip plot of one measure per group or session, with means (and subject lines if paired).

    Parameters
    ----------
    values : dict of str to sequence of float
        Values per condition, in plotting order. With ``paired=True`` all
        sequences are aligned by subject.
    ylabel, title : str, default="value", ""
        Label of the y axis and title.
    paired : bool, default=False
        Draw a line per subject across conditions.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: the values of each condition (jittered unless paired), a
        horizontal bar at each mean, and with ``paired=True`` a grey line per subject.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from painmarkers.reporting import plot_group_values
    >>> fig = plot_group_values({"pre": [6.0, 7.5, 5.0], "post": [3.0, 4.5, 4.0]},
    ...                         ylabel="VAS", paired=True)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['pre', 'post']
    >>> plt.close(fig)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(1.2 + 0.8 * len(values), 7.2), 2.8))
    arrays = [np.asarray(v, dtype=float) for v in values.values()]
    if paired and len({a.size for a in arrays}) == 1:
        ax.plot(np.arange(len(arrays)), np.vstack(arrays), color="0.8", lw=0.8, zorder=0)
    for i, a in enumerate(arrays):
        jitter = np.linspace(-0.08, 0.08, a.size) if not paired else np.zeros(a.size)
        ax.scatter(i + jitter, a, s=14, zorder=2)
        ax.hlines(np.nanmean(a), i - 0.25, i + 0.25, color="k", lw=2, zorder=3)
    ax.set_xticks(range(len(arrays)), list(values))
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    _style(ax)
    fig.tight_layout()
    return fig
