"""A self-contained HTML report: sections of text, tables and figures in one file.

Figures are embedded as base64 PNG, tables as HTML; the page has no script and no
external resource, so it opens offline and can be archived with a paper.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import _atomic

__all__ = ["HTMLReport", "write_atomic"]

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #345;padding-bottom:.3em}h2{margin-top:2em;color:#345}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border-bottom:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f0f3f6}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}.note{color:#555;font-size:.9em}
nav ul{columns:2}code{background:#f4f4f4;padding:0 .2em}
.scroll{overflow-x:auto}details{margin:1em 0}summary{cursor:pointer;color:#345}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:.85em}
caption{caption-side:top;text-align:left;font-weight:bold;padding:.3em 0}
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
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return _atomic.write_bytes(path, payload)


def _format_cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return ""
        a = abs(value)
        if a != 0 and (a < 1e-3 or a >= 1e5):
            return f"{value:.2e}"
        return f"{value:.3f}" if a < 100 else f"{value:.1f}"
    if value is None or value is pd.NA:
        return ""
    return html.escape(str(value))


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

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import HTMLReport
    >>> rep = HTMLReport("Demo")
    >>> rep.section("Clinical outcomes")
    >>> rep.text("Pain decreased after rTMS.")
    >>> rep.table(pd.DataFrame({"t": [6.8], "p": [1e-5]}), caption="Paired t-test")
    >>> "<table" in rep.to_html()
    True
    """

    def __init__(self, title: str):
        self.title = title
        self._sections: list[_Section] = []
        self._current_index = -1

    def section(self, title: str, *, first: bool = False) -> None:
        """Start a new section; with ``first=True`` it goes before the existing ones."""
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

    def text(self, text: str, *, note: bool = False, preformatted: bool = False) -> None:
        """Add a paragraph (plain text, escaped).

        With ``preformatted=True`` line breaks and alignment are kept (a
        ``<pre>`` block), for the multi-line ``summary()`` of result objects.
        """
        cls = ' class="note"' if note else ""
        tag = "pre" if preformatted else "p"
        self._current().blocks.append(f"<{tag}{cls}>{html.escape(text)}</{tag}>")

    def table(self, frame: pd.DataFrame, caption: str = "", *, max_rows: int = 200,
              collapsed: bool = False) -> None:
        """Add a table; numbers are rounded for display only (files keep full precision).

        With ``collapsed=True`` the table is folded under its caption (a
        ``<details>`` element, no script needed).
        """
        shown = frame.head(max_rows)
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_format_cell(v)}</td>" for v in row) + "</tr>"
            for row in shown.itertuples(index=False)
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        more = (f'<p class="note">{len(frame) - max_rows} more rows in the TSV file.</p>'
                if len(frame) > max_rows else "")
        table = (f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
                 f"<tbody>{body}</tbody></table></div>{more}")
        if collapsed:
            summary = html.escape(caption or "table") + f" ({len(frame)} rows)"
            table = f"<details><summary>{summary}</summary>{table}</details>"
        self._current().blocks.append(table)

    def figure(self, fig_or_png: Any, caption: str = "") -> None:
        """Add a figure: a matplotlib Figure, PNG bytes or the path of a PNG file."""
        if isinstance(fig_or_png, bytes):
            png = fig_or_png
        elif isinstance(fig_or_png, str | os.PathLike):
            png = Path(fig_or_png).read_bytes()
        else:
            buf = io.BytesIO()
            fig_or_png.savefig(buf, format="png", dpi=100, bbox_inches="tight")
            png = buf.getvalue()
        if png[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError("HTMLReport.figure expects PNG data.")
        data = base64.b64encode(png).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._current().blocks.append(
            f'<figure><img alt="{html.escape(caption or "figure")}" '
            f'src="data:image/png;base64,{data}">{cap}</figure>')

    def to_html(self) -> str:
        """Return the whole page as a string."""
        nav = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
                      for i, s in enumerate(self._sections))
        body = "".join(f'<section id="s{i}"><h2>{html.escape(s.title)}</h2>'
                       + "".join(s.blocks) + "</section>"
                       for i, s in enumerate(self._sections))
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><nav><ul>{nav}</ul></nav>{body}</body></html>\n"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page atomically to ``path`` and return the path."""
        return write_atomic(path, self.to_html())
