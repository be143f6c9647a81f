"""Figures of a pain-imaging study, in the style of the seed papers.

Every function returns a matplotlib Figure; matplotlib (and nilearn's plotting for
brain maps) is imported only when a function is called.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["plot_alff_spectrum", "plot_correlation", "plot_group_values", "plot_stat_map"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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

    Notes
    -----
    The amplitude spectrum is ``2 |FFT(x - mean(x))| / N`` (no padding), and the
    value annotated per series is its mean over the band bins: the textbook ALFF
    of Zang et al. (2007). Use :mod:`painmarkers.extractors` for DPABI-exact values.
    """
    plt = _pyplot()
    fig, (ax_t, ax_f) = plt.subplots(1, 2, figsize=(11, 3.4))
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
    ax_t.set(xlabel="time (s)", ylabel="BOLD (a.u.)", title="ROI mean time series")
    ax_f.set(xlabel="frequency (Hz)", ylabel="amplitude (a.u.)", title="amplitude spectrum",
             xlim=(0, 1 / (2 * t_r)))
    ax_t.legend(fontsize=8)
    ax_f.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_correlation(x: Sequence[float], y: Sequence[float], *, r: float | None = None,
                     ci: tuple[float, float] | None = None, p: float | None = None,
                     xlabel: str = "x", ylabel: str = "y", title: str = ""):
    """Scatter plot with the least-squares line and the correlation (seed Figure 5).

    Parameters
    ----------
    x, y : sequence of float
        Paired values (NaN pairs are not drawn).
    r, p : float or None, default=None
        Correlation and p value to annotate (computed with
        :func:`painmarkers.stats.correlate`; not recomputed here).
    ci : tuple of float or None, default=None
        Confidence interval of r to annotate.
    xlabel, ylabel, title : str
        Axis labels and title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.scatter(x[ok], y[ok], s=22, color="#2a6f97")
    if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        xs = np.linspace(x[ok].min(), x[ok].max(), 50)
        ax.plot(xs, intercept + slope * xs, color="#c1121f", lw=1.5)
    parts = []
    if r is not None:
        parts.append(f"r = {r:.2f}")
    if ci is not None:
        parts.append(f"95% CI [{ci[0]:.2f}, {ci[1]:.2f}]")
    if p is not None:
        parts.append(f"p = {p:.3g}")
    parts.append(f"n = {int(ok.sum())}")
    # The statistics go inside the axes: as a title they are clipped at this width.
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or None)
    ax.text(0.02, 0.98, ", ".join(parts), transform=ax.transAxes, va="top", fontsize=8)
    if ok.any():  # headroom so that the statistics line never covers a point
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.12 * (hi - lo))
    fig.tight_layout()
    return fig


def plot_group_values(values: dict[str, Sequence[float]], ylabel: str = "value",
                      title: str = "", paired: bool = False):
    """Strip plot of one measure per group or session, with means (and subject lines if paired).

    Parameters
    ----------
    values : dict of str to sequence of float
        Values per condition, in plotting order. With ``paired=True`` all
        sequences are aligned by subject.
    ylabel, title : str
        Labels.
    paired : bool, default=False
        Draw a line per subject across conditions.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.4 + 1.3 * len(values), 3.6))
    arrays = [np.asarray(v, dtype=float) for v in values.values()]
    if paired and len({a.size for a in arrays}) == 1:
        ax.plot(np.arange(len(arrays)), np.vstack(arrays), color="0.8", lw=0.8, zorder=0)
    for i, a in enumerate(arrays):
        jitter = np.linspace(-0.08, 0.08, a.size) if not paired else np.zeros(a.size)
        ax.scatter(i + jitter, a, s=18, zorder=2)
        ax.hlines(np.nanmean(a), i - 0.25, i + 0.25, color="k", lw=2, zorder=3)
    ax.set_xticks(range(len(arrays)), list(values))
    ax.set(ylabel=ylabel, title=title)
    fig.tight_layout()
    return fig


def plot_stat_map(stat_img, *, threshold: float | None = None, title: str = "",
                  display_mode: str = "z", cut_coords: int | Sequence[float] = 6,
                  bg_img=None):
    """Plot a statistical map on the MNI152 template (nilearn), e.g. seed Figures 3-4.

    Parameters
    ----------
    stat_img : Niimg-like
        The map (t, z or a thresholded cluster map).
    threshold : float or None, default=None
        Values with smaller absolute value are transparent. None makes only exact
        zeros transparent (a thresholded cluster map shows its clusters over the
        template instead of an opaque box).
    title : str, default=""
        Title.
    display_mode : str, default="z"
        nilearn display mode.
    cut_coords : int or sequence of float, default=6
        Number or positions of slices.
    bg_img : Niimg-like or None, default=None
        Background; nilearn's bundled MNI152 template when None.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    from nilearn import datasets, plotting

    if bg_img is None:
        bg_img = datasets.load_mni152_template(resolution=2)
    if threshold is None:
        threshold = 1e-12
    from nilearn.image import load_img

    data = np.asarray(load_img(stat_img).get_fdata())
    empty = not (np.abs(data[np.isfinite(data)]) > threshold).any()
    if empty:  # e.g. no significant cluster: say so instead of nilearn's "empty mask"
        title = f"{title}: no voxel above threshold" if title else "no voxel above threshold"
    fig = plt.figure(figsize=(11, 2.6))
    with warnings.catch_warnings():
        if empty:
            warnings.filterwarnings("ignore", message="empty mask", category=UserWarning)
        plotting.plot_stat_map(stat_img, bg_img=bg_img, threshold=threshold,
                               title=title or None, display_mode=display_mode,
                               cut_coords=cut_coords, figure=fig, colorbar=True,
                               draw_cross=False)
    return fig
