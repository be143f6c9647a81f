"""Numbers as a journal prints them, and tables exported as TSV, CSV, Markdown and LaTeX.

Result frames of painmarkers hold numbers (never strings); this module decides how
they are shown, once for the HTML report, the Markdown and the LaTeX exports:

* integers as integers (``n = 15``, ``df = 14``, cluster sizes), a fractional df
  (Welch) with one decimal;
* p values in APA style: three decimals without a leading zero, ``"< .001"``
  below .001 and ``"> .999"`` above .999;
* MNI coordinates (mm) without decimals;
* other numbers with two decimals, or two significant digits when smaller than 1
  (so susceptibilities of a few hundredths of a ppm stay readable);
* a missing value as an em dash.

How a column is shown is decided from its name (:func:`column_kind`); callers can
override it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import write_text
from painmarkers._validation import check_choice, check_positive_int

__all__ = ["EXPORT_FORMATS", "MISSING", "column_kind", "export_table", "format_frame",
           "format_number", "format_p", "to_latex", "to_markdown"]

#: How a missing number is shown (APA: a dash for "no data").
MISSING = "—"
#: Formats :func:`export_table` writes by default.
EXPORT_FORMATS: tuple[str, ...] = ("tsv", "csv", "md", "tex")
_KINDS = ("int", "df", "p", "coord", "float", "bool", "text")

_P = re.compile(r"^(p|p[_ ].*|.*_p|pval.*|p-value.*|pvalue.*)$")
_COORD = re.compile(r"(^|_)(mni|coord)(_|$)|^(mni|com|centre|center)[ _]?[xyz]$|"
                    r"^[xyz][ _]?\(mm\)$|^(mni )[xyz]$")
_INT = re.compile(r"^(n|k|n_.*|.*_n|size_voxels|n_voxels|voxels|cluster_id|cluster|sign|"
                  r"peak_[ijk]|index|rank|fold|repeat|seed|random_state|.*_count|count|numerator|"
                  r"denominator|n_permutations|permutations|n_splits|n_repeats)$")
_MM3 = re.compile(r"(^|_)(mm3|volume_mm3|size_mm3)$|mm³")
_DF = re.compile(r"^(df|df\d|df_.*|.*_df|dof)$")


def _bare(name: Any) -> str:
    """A column name without its parenthesised units or group: ``"p (HC)"`` -> ``"p"``."""
    text = str(name).strip().lower()
    return re.sub(r"\s*[\(\[].*?[\)\]]\s*$", "", text).strip() or text


def column_kind(name: Any, values: pd.Series | None = None) -> str:
    """How a column is shown, from its name (and values): one of the kinds below.

    Parameters
    ----------
    name : str
        Column name. Trailing parentheses (units, a group) are ignored:
        ``"p (HC)"`` is a p column, ``"size (mm3)"`` a volume.
    values : pandas.Series or None, default=None
        The column; boolean columns are ``"bool"``, text ``"text"``, an integer
        dtype ``"int"``.

    Returns
    -------
    {"p", "coord", "int", "df", "float", "bool", "text"}
        ``"p"``: ``p``, ``p_adjusted``, ``p_cluster``, ``*_p``; ``"coord"``: MNI
        coordinates (``peak_mni_x``, ``MNI x``, ``com_mni_z``); ``"int"``: counts
        (``n``, ``n_*``, ``*_n``, ``size_voxels``, ``cluster_id``) and volumes in
        mm3; ``"df"``: degrees of freedom (integer when whole, else one decimal);
        ``"float"`` otherwise.

    Examples
    --------
    >>> from painmarkers.reporting import column_kind
    >>> [column_kind(c) for c in ("p_adjusted", "p (HC)", "peak_mni_x", "n", "df", "t")]
    ['p', 'p', 'coord', 'int', 'df', 'float']
    """
    if values is not None:
        if pd.api.types.is_bool_dtype(values):
            return "bool"
        if not pd.api.types.is_numeric_dtype(values):
            non_missing = values.dropna()
            if len(non_missing) and not all(isinstance(v, int | float | np.number)
                                            and not isinstance(v, bool) for v in non_missing):
                return "text"
    bare = _bare(name)
    full = str(name).strip().lower()
    if _P.match(bare) and bare not in ("pre", "post"):
        return "p"
    if _COORD.search(bare) or _COORD.search(full):
        return "coord"
    if _DF.match(bare):
        return "df"
    if _INT.match(bare) or _MM3.search(full):
        return "int"
    if values is not None and pd.api.types.is_integer_dtype(values):
        return "int"
    return "float"


def _finite(x: Any) -> bool:
    try:
        return x is not None and x is not pd.NA and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def format_p(p: Any, decimals: int = 3) -> str:
    """A p value in APA style: no leading zero, ``"< .001"`` below the smallest shown value.

    Parameters
    ----------
    p : float
        The p value (NaN or None gives :data:`MISSING`).
    decimals : int, default=3
        Decimals shown; values below ``10**-decimals`` print as ``"< .001"``
        (for 3), values that would round to 1 as ``"> .999"``.

    Returns
    -------
    str
        The p value without its leading zero (``".012"``), ``"< .001"``, ``"> .999"``
        or :data:`MISSING`.

    Raises
    ------
    ValueError
        ``decimals < 1`` or a p value outside [0, 1].

    Notes
    -----
    APA Publication Manual (7th ed.), section 6.36: p values are reported to
    two or three decimals without a leading zero (they cannot exceed 1), and
    values below .001 as p < .001.

    Examples
    --------
    >>> from painmarkers.reporting import format_p
    >>> format_p(0.0123), format_p(0.00004), format_p(0.5), format_p(0.99991)
    ('.012', '< .001', '.500', '> .999')
    """
    check_positive_int(decimals, "decimals")
    if not _finite(p):
        return MISSING
    p = float(p)
    if p < 0 or p > 1:
        raise ValueError(f"A p value must be in [0, 1]. Got {p!r}.")
    floor = 10.0 ** -decimals
    if p < floor:
        return f"< {floor:.{decimals}f}".replace("0.", ".", 1)
    text = f"{p:.{decimals}f}"
    if float(text) >= 1.0:
        return "> ." + "9" * decimals
    return text.replace("0.", ".", 1)


def format_number(x: Any, decimals: int = 2, *, kind: str = "float") -> str:
    """One number as shown in a table.

    Parameters
    ----------
    x : number
        The value (NaN or None gives :data:`MISSING`; a string is returned as is).
    decimals : int, default=2
        Decimals of ``"float"`` numbers of magnitude at least 1; smaller ones get
        two significant digits (at least ``decimals`` decimals, at most 6).
    kind : {"float", "int", "df", "coord", "p", "bool"}, default="float"
        ``"int"`` and ``"coord"`` round to an integer; ``"df"`` is an integer
        when whole, else one decimal; ``"p"`` is :func:`format_p`; ``"bool"``
        is ``"yes"``/``"no"``.

    Returns
    -------
    str
        The number as text (``x`` itself when it is a string).

    Raises
    ------
    ValueError
        ``kind`` not one of the six.

    Examples
    --------
    >>> from painmarkers.reporting import format_number
    >>> format_number(14.0, kind="df"), format_number(27.43, kind="df")
    ('14', '27.4')
    >>> format_number(-47.0, kind="coord"), format_number(0.0123), format_number(3.14159)
    ('-47', '0.012', '3.14')
    """
    check_choice(kind, _KINDS, "kind")
    if isinstance(x, str):
        return x
    if kind == "bool" and isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if not _finite(x):
        return MISSING
    x = float(x)
    if kind == "p":
        return format_p(x, max(decimals, 1))
    if kind in ("int", "coord"):
        value = round(x)
        return str(0 if value == 0 else value)
    if kind == "df":
        return str(round(x)) if abs(x - round(x)) < 1e-9 else f"{x:.1f}"
    if kind == "bool":
        return "yes" if x else "no"
    a = abs(x)
    places = decimals
    if 0 < a < 1:
        places = min(max(decimals, 1 - math.floor(math.log10(a))), 6)
    text = f"{x:.{places}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def format_frame(frame: pd.DataFrame, *, decimals: int = 2, p_decimals: int = 3,
                 kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every value of a result frame as shown in a table (strings).

    Parameters
    ----------
    frame : pandas.DataFrame
        A result frame (numbers, text, booleans); strings are kept as they are.
    decimals : int, default=2
        See :func:`format_number`.
    p_decimals : int, default=3
        Decimals of p values (:func:`format_p`).
    kinds : mapping of str to str or None, default=None
        Column -> kind, overriding :func:`column_kind` (``{"t (HC)": "float"}``).

    Returns
    -------
    pandas.DataFrame
        Same index and columns, every value a string.

    Raises
    ------
    ValueError
        An unknown kind in ``kinds``.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import format_frame
    >>> df = pd.DataFrame({"n": [15.0], "statistic": [6.8012], "df": [14.0], "p": [2e-6],
    ...                    "peak_mni_x": [-47.0]})
    >>> format_frame(df).iloc[0].tolist()
    ['15', '6.80', '14', '< .001', '-47']
    """
    check_positive_int(decimals, "decimals", minimum=0)
    check_positive_int(p_decimals, "p_decimals")
    kinds = dict(kinds or {})
    for col, kind in kinds.items():
        check_choice(kind, _KINDS, f"kinds[{col!r}]")
    out = {}
    for position, col in enumerate(frame.columns):
        values = frame.iloc[:, position]
        kind = kinds.get(col) or column_kind(col, values)
        if kind == "text":
            out[position] = [MISSING if v is None or (isinstance(v, float) and math.isnan(v))
                             else str(v) for v in values]
            continue
        d = p_decimals if kind == "p" else decimals
        out[position] = [format_number(v, d, kind=kind) if not isinstance(v, str) else v
                         for v in values]
    shown = pd.DataFrame(out, index=frame.index)
    shown.columns = frame.columns
    return shown


def _cells(frame: pd.DataFrame, index: bool) -> tuple[list[str], list[list[str]]]:
    shown = format_frame(frame)
    header = [str(c) for c in shown.columns]
    rows = [[str(v) for v in row] for row in shown.itertuples(index=False)]
    if index:
        name = str(frame.index.name or "")
        header = [name, *header]
        rows = [[str(i), *r] for i, r in zip(frame.index, rows, strict=True)]
    return header, rows


def _numeric_looking(cells: Sequence[str]) -> bool:
    pattern = re.compile(r"^[<>]?\s*[-+−]?\.?\d[\d.,]*(e[-+]?\d+)?%?$|^" + MISSING + "$")
    filled = [c for c in cells if c != ""]
    return bool(filled) and all(pattern.match(c.strip()) for c in filled)


def to_markdown(frame: pd.DataFrame, *, index: bool = False) -> str:
    """A GitHub/Pandoc pipe table of a result frame (numbers formatted as in the report).

    Parameters
    ----------
    frame : pandas.DataFrame
        A result frame (formatted with :func:`format_frame` unless every value is
        already a string).
    index : bool, default=False
        Include the index as the first column.

    Returns
    -------
    str
        The table; numeric columns right-aligned (``---:``), ``|`` in cells
        escaped. Pandoc converts it to Word (``pandoc table.md -o table.docx``).

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import to_markdown
    >>> print(to_markdown(pd.DataFrame({"roi": ["INS_L"], "t": [5.44], "p": [0.0004]})))
    | roi   |    t |      p |
    |:------|-----:|-------:|
    | INS_L | 5.44 | < .001 |
    """
    header, rows = _cells(frame, index)
    columns = list(zip(header, *rows, strict=True)) if rows else [(h,) for h in header]
    right = [_numeric_looking(list(col[1:])) for col in columns]
    width = [max(3, *(len(c) for c in col)) for col in columns]

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    def line(cells: Sequence[str]) -> str:
        parts = [esc(c).rjust(w) if r else esc(c).ljust(w)
                 for c, w, r in zip(cells, width, right, strict=True)]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else (":" + "-" * (w + 1))
                          for w, r in zip(width, right, strict=True)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"$<$", ">": r"$>$", "±": r"$\pm$",
                  "−": r"$-$", "²": r"$^{2}$", "³": r"$^{3}$", "≥": r"$\geq$", "≤": r"$\leq$",
                  "×": r"$\times$", "°": r"$^{\circ}$", "·": r"$\cdot$", "—": "---",
                  "–": "--", "α": r"$\alpha$", "β": r"$\beta$", "μ": r"$\mu$",
                  "χ": r"$\chi$", "η": r"$\eta$", "ρ": r"$\rho$"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(frame: pd.DataFrame, *, caption: str = "", label: str = "",
             index: bool = False) -> str:
    """A LaTeX ``table`` (booktabs rules) of a result frame, formatted as in the report.

    Parameters
    ----------
    frame : pandas.DataFrame
        A result frame (formatted with :func:`format_frame` unless every value is
        already a string).
    caption : str, default=""
        Table caption (``\\caption``), escaped.
    label : str, default=""
        ``\\label`` for cross-references.
    index : bool, default=False
        Include the index as the first column.

    Returns
    -------
    str
        A ``table`` environment with a ``tabular`` (numeric columns right-aligned)
        that needs ``\\usepackage{booktabs}``; special characters escaped and
        symbols (±, −, ≥, ², ...) written as math, so pdfLaTeX compiles it.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.reporting import to_latex
    >>> print(to_latex(pd.DataFrame({"roi": ["INS_L"], "p": [0.0004]})))
    \\begin{table}[ht]
    \\centering
    \\begin{tabular}{lr}
    \\toprule
    roi & p \\\\
    \\midrule
    INS\\_L & $<$ .001 \\\\
    \\bottomrule
    \\end{tabular}
    \\end{table}
    """
    header, rows = _cells(frame, index)
    columns = list(zip(header, *rows, strict=True)) if rows else [(h,) for h in header]
    align = "".join("r" if _numeric_looking(list(col[1:])) else "l" for col in columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
              " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def export_table(frame: pd.DataFrame, path_stem: str | os.PathLike, *,
                 formats: str | Sequence[str] = EXPORT_FORMATS, caption: str = "",
                 shown: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write one table as TSV and CSV (full precision) and Markdown and LaTeX (formatted).

    Parameters
    ----------
    frame : pandas.DataFrame
        The result frame (numbers at full precision).
    path_stem : path-like
        Output path without extension; its folder is created if needed.
    formats : str or sequence of {"tsv", "csv", "md", "tex"}, default=("tsv", "csv", "md", "tex")
        Files to write.
    caption : str, default=""
        Caption of the LaTeX table.
    shown : pandas.DataFrame or None, default=None
        What the Markdown and LaTeX files show (e.g. the columns and labels of
        the report); None formats ``frame`` itself.

    Returns
    -------
    dict of str to Path
        The written file of each format.

    Raises
    ------
    ValueError
        An unknown or repeated format, or none.
    OutputError
        A file cannot be written.

    Notes
    -----
    TSV files write missing values as ``n/a`` (as BIDS does), CSV files as empty
    cells; both keep every digit. Markdown and LaTeX hold the numbers as the
    report shows them (:func:`format_frame`), ready to paste into a manuscript;
    ``pandoc table.md -o table.docx`` gives a Word table.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from painmarkers.reporting import export_table
    >>> out = export_table(pd.DataFrame({"t": [2.5], "p": [0.02]}),
    ...                    pathlib.Path(tempfile.mkdtemp()) / "table2")
    >>> sorted(out)
    ['csv', 'md', 'tex', 'tsv']
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    if not formats or len(set(formats)) != len(formats):
        raise ValueError(f"The 'formats' parameter must list distinct formats of "
                         f"{list(EXPORT_FORMATS)}. Got {formats!r}.")
    for fmt in formats:
        check_choice(fmt, EXPORT_FORMATS, "formats")
    stem = Path(path_stem)
    display = frame if shown is None else shown
    out: dict[str, Path] = {}
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"
        if fmt == "tsv":
            text = frame.to_csv(sep="\t", index=False, na_rep="n/a")
        elif fmt == "csv":
            text = frame.to_csv(index=False)
        elif fmt == "md":
            text = to_markdown(display) + "\n"
        else:
            text = to_latex(display, caption=caption) + "\n"
        out[fmt] = write_text(path, text)
    return out
