"""State shared by the steps of a study run: output folders, report, provenance."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from painmarkers._atomic import write_json
from painmarkers.reporting.report import HTMLReport


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def slug(text: str) -> str:
    """File-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


@dataclass
class RunContext:
    """Mutable state of one study run (private to :mod:`painmarkers.study`)."""

    out_dir: Path
    report: HTMLReport
    n_jobs: int | None = None
    progress: bool = True
    random_state: int = 0
    tables: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    maps: dict[str, Path] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    rois: tuple = ()
    #: (subject, session, reason) of the sessions the motion rule removed
    excluded_sessions: list = field(default_factory=list)
    started: float = field(default_factory=lambda: __import__("time").perf_counter())

    def save_table(self, name: str, frame: pd.DataFrame, shown: pd.DataFrame | None = None,
                   caption: str = "") -> Path:
        """Write ``tables/<name>.tsv`` and ``.csv`` (full precision), ``.md`` and ``.tex``.

        The Markdown and LaTeX files hold ``shown`` (the report's version of the table,
        default ``frame``) formatted as the report shows it.
        """
        from painmarkers.reporting.formatting import export_table

        files = export_table(frame, self.out_dir / "tables" / slug(name), shown=shown,
                             caption=caption)
        self.tables[name] = files["tsv"]
        return files["tsv"]

    def save_figure(self, name: str, fig, caption: str = "") -> Path:
        """Write ``figures/<name>`` as 300 dpi PNG, SVG and PDF, and add it to the report."""
        from painmarkers.reporting.figures import figure_bytes, save_figure

        if not hasattr(fig, "savefig") and hasattr(fig, "figure"):  # an Axes was returned
            fig = fig.figure
        self.report.figure(figure_bytes(fig, "png", dpi=150), caption=caption)
        path = save_figure(fig, self.out_dir / "figures" / slug(name))["png"]
        self.figures[name] = path
        return path

    def save_json(self, relpath: str, payload: Any) -> Path:
        """Write JSON atomically below the output folder."""
        return write_json(self.out_dir / relpath, payload)

    def log(self, message: str) -> None:
        """Print a progress line (with the elapsed time) unless quiet."""
        import time

        if self.progress:
            elapsed = time.perf_counter() - self.started
            print(f"[painmarkers {elapsed:6.1f}s] {message}", flush=True)
