"""Plain-text tables and file output shared by the ANOVA and LMM result objects."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__: list[str] = []


def fmt(x: Any) -> str:
    """A number as the summaries print it (4 decimals, scientific when tiny or huge)."""
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        if np.isnan(x):
            return "NA"
        if np.isinf(x):
            return "Inf" if x > 0 else "-Inf"
        if x == int(x) and abs(x) < 1e6:
            return str(int(x))
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4f}"
    return str(x)


def text_table(frame: pd.DataFrame, formatter: Callable[[Any], str] = fmt) -> list[str]:
    """Lines of a fixed-width table of ``frame`` (header first), indented by two spaces.

    Each value is written by ``formatter``; the first column is left-aligned, the others
    right-aligned.
    """
    cells = [[str(c) for c in frame.columns]]
    cells += [[formatter(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(r[j]) for r in cells) for j in range(len(cells[0]))]
    return ["  " + "  ".join(c.rjust(w) if j else c.ljust(w)
                             for j, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in cells]


def excluded_frame(reasons: Mapping[str, str]) -> pd.DataFrame:
    """``{subject: reason}`` as a frame with columns ``subject``, ``reason``."""
    return pd.DataFrame({"subject": pd.Series(list(reasons), dtype=object),
                         "reason": pd.Series(list(reasons.values()), dtype=object)})


def save_tables(result: Any, directory: str | os.PathLike, prefix: str,
                tables: Mapping[str, pd.DataFrame], extra: Mapping[str, Any]
                ) -> dict[str, Path]:
    """Write CSV tables, the summary and the parameters of ``result`` atomically."""
    from painmarkers._atomic import atomic_write, write_text
    from painmarkers._results import save_parameters

    out = Path(directory)  # created by atomic_write (OutputError naming it on failure)
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        paths[name] = atomic_write(out / f"{prefix}_{name}.csv",
                                   lambda p, f=frame: f.to_csv(p, index=False))
    paths["summary"] = write_text(out / f"{prefix}_summary.txt", result.summary() + "\n")
    paths["parameters"] = save_parameters(out, result, extra=dict(extra),
                                          name=f"{prefix}_parameters.json")
    return paths
