"""A self-contained HTML report: sections of text, tables and figures in one file.

Figures are embedded as base64 PNG (or SVG) data URIs and tables as HTML tables
whose numbers are formatted as a journal prints them
(:func:`~painmarkers.reporting.format_frame`). The page has no script and no
external resource (no font, stylesheet or image is fetched), so it opens offline,
keeps working when moved or e-mailed, and can be archived with a paper. The layout
fits a 1280-pixel-wide window without horizontal scrolling: long text wraps, long
machine output is folded in ``<details>`` sections, tables wrap their text cells.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from painmarkers import _atomic

__all__ = ["HTMLReport", "write_atomic"]

_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;max-width:1120px;margin:1.5em auto;
padding:0 1.2em;color:#1d2329;line-height:1.5;font-size:15px;overflow-wrap:break-word}
h1{font-size:1.6em;border-bottom:2px solid #2f4b66;padding-bottom:.3em}
h2{margin-top:2.2em;color:#2f4b66;font-size:1.3em;border-bottom:1px solid #d5dde5}
p{max-width:100%}
nav ol{columns:2;column-gap:2em;font-size:.92em;padding-left:1.4em}
.table-wrap{max-width:100%;overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:.82em;max-width:100%;
font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0 .5em;
font-size:1.05em;line-height:1.4}
th,td{padding:.22em .55em;vertical-align:top}
thead th{border-top:1.5px solid #333;border-bottom:1px solid #333;background:#f3f6f9;
text-align:center;font-weight:600;overflow-wrap:break-word}
tbody tr:last-child td{border-bottom:1.5px solid #333}
td.num{text-align:right;white-space:nowrap}
td.txt{text-align:left;overflow-wrap:break-word;min-width:3em}
tr.flag td{background:#fff4e0}
figure{margin:1.2em 0;max-width:100%}
figure img{max-width:100%;height:auto;display:block;border:1px solid #e4e8ec}
figcaption{font-size:.9em;color:#3b4650;margin-top:.4em}
.note{color:#4a5560;font-size:.9em}
.warning{background:#fff4e0;border-left:4px solid #e08a00;padding:.5em .8em;font-size:.93em}
details{margin:.8em 0;border:1px solid #e4e8ec;border-radius:3px;padding:.3em .6em}
summary{cursor:pointer;color:#2f4b66;font-weight:600}
pre{background:#f6f8fa;padding:.6em;font-size:.82em;white-space:pre-wrap;
overflow-wrap:anywhere;margin:.5em 0}
code{background:#f3f5f7;padding:0 .2em}
"""


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    path : path-like
        Destination; its folder is created if needed.
    data : str or bytes
        Content; text is written as UTF-8.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    OutputError
        The file or its folder cannot be written (full disk, no permission); the
        one-line message names it; a file already at ``path`` is left unchanged.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from painmarkers.reporting import write_atomic
    >>> path = write_atomic(Path(tempfile.mkdtemp()) / "notes" / "a.txt", "ALFF ↑ in SMA")
    >>> path.read_text(encoding="utf-8")
    'ALFF ↑ in SMA'
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return _atomic.write_bytes(path, payload)


_PNG = b"\x89PNG\r\n\x1a\n"


def _image_source(fig_or_image: Any, dpi: float) -> tuple[str, bytes]:
    """(MIME type, bytes) of a figure, PNG/SVG bytes or the path of a PNG/SVG file."""
    if isinstance(fig_or_image, bytes):
        data = fig_or_image
    elif isinstance(fig_or_image, str | os.PathLike):
        data = Path(fig_or_image).read_bytes()
    else:
        from painmarkers.reporting.figures import figure_bytes

        return "image/png", figure_bytes(fig_or_image, "png", dpi=dpi)
    if data[:8] == _PNG:
        return "image/png", data
    head = data[:512].lstrip()
    if head.startswith(b"<?xml") or head.startswith(b"<svg"):
        return "image/svg+xml", data
    raise ValueError("HTMLReport.figure expects PNG or SVG data, a matplotlib Figure, or the "
                     "path of a PNG or SVG file.")


def _breakable(text: str) -> str:
    """Escaped text whose long words may wrap after underscores and slashes.

    Atlas labels and file paths (``Right_Lateral_Occipital_Cortex``,
    ``tables/alff_clusters.tsv``) get a ``<wbr>`` after each ``_`` and ``/``; words of up
    to 12 characters (``kg/m²``, ``INS_L``) are kept whole.
    """
    def soften(match: re.Match) -> str:
        word = match.group(0)
        if len(word) <= 12:
            return html.escape(word)
        return html.escape(word).replace("_", "_<wbr>").replace("/", "/<wbr>")

    return re.sub(r"\S+", soften, text)


def _cell(value: str, numeric: bool) -> str:
    if numeric:
        return f'<td class="num">{html.escape(value)}</td>'
    return f'<td class="txt">{_breakable(value)}</td>'


#: Width (px) a table may take: the page's 1120 px less its 2 x 18 px padding, with a margin.
_TABLE_BUDGET_PX = 1060
#: Width (px) of one character of table text (0.82 x 15 px Helvetica, generous).
_CHAR_PX = 7.2
_CELL_PADDING_PX = 18


def _min_width(cells: Sequence[str], header: str, numeric: bool) -> float:
    """Narrowest width (px) a column can take: numbers never wrap, text wraps at breaks."""
    def longest_piece(text: str) -> int:
        pieces = re.split(r"[\s_/]+", text)
        return max((len(p) + 1 for p in pieces), default=0)

    body = max((len(c) if numeric else longest_piece(c) for c in cells), default=0)
    return max(body, longest_piece(header)) * _CHAR_PX + _CELL_PADDING_PX


def _column_groups(shown: pd.DataFrame, numeric: Sequence[bool]) -> list[list[int]]:
    """Split the columns into tables that fit the page, repeating the first (label) column.

    A printed table too wide for the page continues below with its label column
    repeated, instead of overflowing the window.
    """
    widths = [_min_width([str(v) for v in shown.iloc[:, j]], str(shown.columns[j]), numeric[j])
              for j in range(shown.shape[1])]
    if sum(widths) <= _TABLE_BUDGET_PX or shown.shape[1] < 3:
        return [list(range(shown.shape[1]))]
    groups: list[list[int]] = [[0]]
    used = widths[0]
    for j in range(1, shown.shape[1]):
        if used + widths[j] > _TABLE_BUDGET_PX and len(groups[-1]) > 1:
            groups.append([0])
            used = widths[0]
        groups[-1].append(j)
        used += widths[j]
    return groups


@dataclass
class _Section:
    title: str
    blocks: list[str] = field(default_factory=list)


class HTMLReport:
    """Build a self-contained HTML report section by section.

    Parameters
    ----------
    title : str
        Title of the page.

    Notes
    -----
    Text is escaped (never interpreted as HTML). Tables show numbers as a journal
    prints them (:func:`~painmarkers.reporting.format_frame`: integers as integers,
    p in APA style, MNI coordinates without decimals); the files a study writes
    keep full precision. :meth:`save` writes one file that needs nothing else.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import HTMLReport
    >>> rep = HTMLReport("Demo")
    >>> rep.section("Clinical outcomes")
    >>> rep.text("Pain decreased after rTMS.")
    >>> rep.table(pd.DataFrame({"t": [6.8], "df": [14.0], "p": [1e-5]}), caption="Paired t-test")
    >>> html = rep.to_html()
    >>> "<table" in html and "< .001" not in html and "&lt; .001" in html
    True
    """

    def __init__(self, title: str):
        self.title = title
        self._sections: list[_Section] = []
        self._current_index = -1
        self._n_figures = 0

    def section(self, title: str, *, first: bool = False) -> None:
        """Start a new section; what is added next goes into it.

        Parameters
        ----------
        title : str
            Heading of the section (also its entry in the page's contents).
        first : bool, default=False
            Put the section before the existing ones (e.g. a summary written last but
            read first) instead of after them.
        """
        if first:
            self._sections.insert(0, _Section(title))
            self._current_index = 0
        else:
            self._sections.append(_Section(title))
            self._current_index = len(self._sections) - 1

    def _current(self) -> _Section:
        if not self._sections:
            self.section("Results")
        return self._sections[self._current_index]

    def text(self, text: str, *, note: bool = False, preformatted: bool = False,
             warning: bool = False, summary: str | None = None) -> None:
        """Add a paragraph (plain text, escaped).

        Parameters
        ----------
        text : str
            The text; a blank line starts a new paragraph.
        note : bool, default=False
            Smaller, grey text (footnotes, exclusions).
        preformatted : bool, default=False
            Keep line breaks and alignment (the multi-line ``summary()`` of result
            objects), folded in a ``<details>`` section titled ``summary``; long
            lines wrap instead of widening the page.
        warning : bool, default=False
            A highlighted box (assumptions that fail, anatomically implausible
            clusters, ROIs too small for the grid).
        summary : str or None, default=None
            Title of the folded section of preformatted text (default
            ``"Details"``); ignored otherwise.
        """
        body = html.escape(text)
        if preformatted:
            title = html.escape(summary or "Details")
            block = f"<details><summary>{title}</summary><pre>{body}</pre></details>"
        elif warning:
            block = f'<p class="warning">{body}</p>'
        else:
            cls = ' class="note"' if note else ""
            paragraphs = [t.strip() for t in text.split("\n\n") if t.strip()] or [""]
            block = "".join(f"<p{cls}>{html.escape(t)}</p>" for t in paragraphs)
        self._current().blocks.append(block)

    def table(self, frame: pd.DataFrame, caption: str = "", *, max_rows: int = 200,
              collapsed: bool = False, kinds: Mapping[str, str] | None = None,
              decimals: int = 2, highlight: Sequence[bool] | None = None) -> None:
        """Add a table; numbers are formatted for display only (files keep full precision).

        Parameters
        ----------
        frame : pandas.DataFrame
            The table (numbers, text, booleans; strings are shown as they are).
        caption : str, default=""
            Caption above the table.
        max_rows : int, default=200
            Rows shown; a note says how many more the file has.
        collapsed : bool, default=False
            Fold the table under its caption (a ``<details>`` element, no script).
        kinds : mapping of str to str or None, default=None
            Column display kinds overriding
            :func:`~painmarkers.reporting.column_kind`.
        decimals : int, default=2
            Decimals of ordinary numbers (:func:`~painmarkers.reporting.format_number`).
        highlight : sequence of bool or None, default=None
            Rows to highlight (one flag per row of ``frame``), e.g. clusters
            flagged by the anatomical check.

        Raises
        ------
        ValueError
            ``highlight`` of a different length than ``frame``.

        Notes
        -----
        A table too wide for the page (estimated from its longest number and its
        longest unbreakable word per column) continues below in further tables
        that repeat its first column, as printed tables do; text cells wrap at
        spaces, underscores and slashes.
        """
        from painmarkers.reporting.formatting import _numeric_looking, format_frame

        if highlight is not None and len(highlight) != len(frame):
            raise ValueError(f"'highlight' has {len(highlight)} flags for {len(frame)} rows.")
        shown = format_frame(frame.head(max_rows), decimals=decimals, kinds=kinds)
        numeric = [_numeric_looking(list(shown.iloc[:, j])) for j in range(shown.shape[1])]
        flags = list(highlight[:max_rows]) if highlight is not None else [False] * len(shown)
        groups = _column_groups(shown, numeric)
        parts = []
        for g, cols in enumerate(groups):
            head = "".join(f'<th scope="col">{_breakable(str(shown.columns[j]))}</th>'
                           for j in cols)
            rows = []
            for flag, (_, row) in zip(flags, shown.iterrows(), strict=True):
                cls = ' class="flag"' if flag else ""
                rows.append(f"<tr{cls}>" + "".join(_cell(str(row.iloc[j]), numeric[j])
                                                   for j in cols) + "</tr>")
            text = caption if g == 0 else f"{caption} (continued, {g + 1} of {len(groups)})"
            cap = f"<caption>{_breakable(text)}</caption>" if text else ""
            parts.append(f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
                         f"<tbody>{''.join(rows)}</tbody></table></div>")
        more = (f'<p class="note">{len(frame) - max_rows} more rows in the table file.</p>'
                if len(frame) > max_rows else "")
        table = "".join(parts) + more
        if collapsed:
            summary = html.escape(caption or "table") + f" ({len(frame)} rows)"
            table = f"<details><summary>{summary}</summary>{table}</details>"
        self._current().blocks.append(table)

    def figure(self, fig_or_image: Any, caption: str = "", *, dpi: float = 150,
               number: bool = True) -> None:
        """Add a figure, embedded in the page.

        Parameters
        ----------
        fig_or_image : matplotlib Figure, bytes or path-like
            A figure (rendered as PNG at ``dpi``), PNG or SVG bytes, or the path
            of a PNG or SVG file.
        caption : str, default=""
            Caption under the figure; it should say exactly what is plotted.
        dpi : float, default=150
            Resolution of a rendered Figure: figures of painmarkers are 7.2 in
            wide, so 150 dpi fills the page width at full sharpness.
        number : bool, default=True
            Prefix the caption with "Figure N." (N counts the report's figures).

        Raises
        ------
        ValueError
            Data that is neither PNG nor SVG.
        """
        mime, data = _image_source(fig_or_image, dpi)
        encoded = base64.b64encode(data).decode("ascii")
        if number:
            self._n_figures += 1
            label = f"Figure {self._n_figures}."
            caption = f"{label} {caption}" if caption else label
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        alt = html.escape(caption or "figure", quote=True)
        self._current().blocks.append(
            f'<figure><img alt="{alt}" src="data:{mime};base64,{encoded}">{cap}</figure>')

    def to_html(self) -> str:
        """Return the whole page as a string.

        Returns
        -------
        str
            A complete HTML5 document: the styles inline, the figures embedded as
            base64 data, a table of contents linking the sections.
        """
        nav = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
                      for i, s in enumerate(self._sections))
        body = "".join(f'<section id="s{i}"><h2>{html.escape(s.title)}</h2>'
                       + "".join(s.blocks) + "</section>"
                       for i, s in enumerate(self._sections))
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><nav><ol>{nav}</ol></nav>{body}</body></html>\n"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page atomically to ``path`` and return the path.

        Parameters
        ----------
        path : path-like
            The HTML file to write; its folder is created if needed.

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        OutputError
            The file cannot be written; the one-line message names it.
        """
        return write_atomic(path, self.to_html())

