"""Saving figures for submission: vector (SVG, PDF) and 300 dpi PNG, written atomically.

Every figure painmarkers writes goes through :func:`save_figure`, so a study run,
an example and a user's script give the same files: ``<stem>.png`` at 300 dpi for
journals that take raster images, ``<stem>.svg`` and ``<stem>.pdf`` as vector
graphics (brain slices inside them stay raster images at the resolution of the
template, as in nilearn's and fMRIPrep's reports). File metadata carry no creation
date, so the same figure gives the same bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from painmarkers._atomic import write_bytes
from painmarkers._validation import check_choice

__all__ = ["FIGURE_FORMATS", "FIGURE_WIDTH_IN", "figure_bytes", "save_figure"]

#: Formats :func:`save_figure` writes by default, in this order.
FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")

#: Widths (inches) of figures sized for a journal page: one column and the full text width.
#: Figures of painmarkers are drawn at these widths, so their fonts (7-9 pt) stay legible
#: when printed or shown at 100 % in a report or a documentation gallery.
FIGURE_WIDTH_IN: dict[str, float] = {"single": 3.5, "double": 7.2}

_KNOWN = ("png", "svg", "pdf")
#: Metadata that would make two saves of one figure differ (creation dates).
_METADATA = {"png": {"Software": None}, "svg": {"Date": None},
             "pdf": {"CreationDate": None, "ModDate": None}}


def _pyplot():
    """matplotlib.pyplot, switched to the Agg backend unless an inline backend is active."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _as_figure(fig: Any):
    """A matplotlib Figure from a Figure or an Axes (``ax.figure``)."""
    if hasattr(fig, "savefig"):
        return fig
    if hasattr(fig, "figure") and hasattr(fig.figure, "savefig"):
        return fig.figure
    raise TypeError(f"Expected a matplotlib Figure or Axes. Got {type(fig).__name__}.")


def figure_bytes(fig: Any, fmt: str = "png", *, dpi: float = 300) -> bytes:
    """Render a figure to bytes in one format.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or matplotlib.axes.Axes
        The figure (an Axes stands for its figure).
    fmt : {"png", "svg", "pdf"}, default="png"
        Output format.
    dpi : float, default=300
        Resolution of raster output (PNG, and raster parts of SVG/PDF).

    Returns
    -------
    bytes
        The file content in ``fmt`` (what :func:`save_figure` writes).

    Raises
    ------
    ValueError
        Unknown format.
    TypeError
        ``fig`` is neither a Figure nor an Axes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from painmarkers.reporting import figure_bytes
    >>> fig, ax = plt.subplots(figsize=(2, 2))
    >>> figure_bytes(fig, "png", dpi=50)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    >>> plt.close(fig)
    """
    check_choice(fmt, _KNOWN, "fmt")
    figure = _as_figure(fig)
    buf = io.BytesIO()
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "painmarkers", "pdf.fonttype": 42,
                                "svg.fonttype": "none"}):
        figure.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.05,
                       metadata=_METADATA[fmt])
    return buf.getvalue()


def save_figure(fig: Any, path_stem: str | os.PathLike, *,
                formats: str | Sequence[str] = FIGURE_FORMATS, dpi: float = 300,
                close: bool = True) -> dict[str, Path]:
    """Write a figure for submission: 300 dpi PNG plus vector SVG and PDF.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or matplotlib.axes.Axes
        The figure (an Axes stands for its figure).
    path_stem : path-like
        Output path without extension (``figures/fig3``); any extension given
        is replaced. Its folder is created if needed.
    formats : str or sequence of {"png", "svg", "pdf"}, default=("png", "svg", "pdf")
        Formats to write, one file each.
    dpi : float, default=300
        Resolution of the PNG (and of raster parts, such as brain slices, of
        the vector files). Journals ask for at least 300 dpi.
    close : bool, default=True
        Close the figure afterwards (frees its memory in long runs).

    Returns
    -------
    dict of str to Path
        The written file of each format, in the order of ``formats``.

    Raises
    ------
    ValueError
        An unknown or repeated format, no format, or ``dpi <= 0``.
    TypeError
        ``fig`` is neither a Figure nor an Axes.
    OutputError
        A file cannot be written (the message names it).

    Notes
    -----
    Files are written atomically (a temporary file, then a rename) with the
    user's umask. Text stays text in SVG (``svg.fonttype = "none"``) and PDF
    (TrueType, ``pdf.fonttype = 42``), so journals' editors can change fonts;
    creation dates are left out so that the same figure gives the same bytes.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import tempfile, pathlib
    >>> from painmarkers.reporting import save_figure
    >>> fig, ax = plt.subplots(figsize=(3.5, 2.5))
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> out = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "line")
    >>> sorted(p.name for p in out.values())
    ['line.pdf', 'line.png', 'line.svg']
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    if not formats:
        raise ValueError("The 'formats' parameter must name at least one of "
                         f"{list(_KNOWN)}. Got {formats!r}.")
    for fmt in formats:
        check_choice(fmt, _KNOWN, "formats")
    if len(set(formats)) != len(formats):
        raise ValueError(f"The 'formats' parameter repeats a format. Got {formats!r}.")
    if not (isinstance(dpi, int | float) and dpi > 0):
        raise ValueError(f"The 'dpi' parameter must be a positive number. Got {dpi!r}.")
    figure = _as_figure(fig)
    stem = Path(path_stem)
    stem = stem.with_suffix("") if stem.suffix.lower().lstrip(".") in _KNOWN else stem
    out: dict[str, Path] = {}
    try:
        for fmt in formats:
            out[fmt] = write_bytes(stem.parent / f"{stem.name}.{fmt}",
                                   figure_bytes(figure, fmt, dpi=dpi))
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(figure)
    return out
