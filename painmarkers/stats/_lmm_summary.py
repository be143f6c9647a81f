"""Plain-text summary of an :class:`~painmarkers.stats.LMMResult`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from painmarkers.stats._anova_report import text_table

__all__: list[str] = []

_SINGULAR = ("YES - the random-effect covariance is singular (a variance ~0 or a correlation "
             "of +-1)")
_METHOD = {"satterthwaite": "Satterthwaite's method", "kenward-roger": "Kenward-Roger's method",
           "wald": "Wald z / chi-square tests (infinite df)"}


def _fmt(x: Any) -> str:
    if isinstance(x, float | np.floating):
        if np.isnan(x):
            return "NA"
        if np.isinf(x):
            return "Inf"
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4f}"
    return str(x)


def _table(frame: pd.DataFrame) -> list[str]:
    return text_table(frame, _fmt)


def format_summary(res) -> str:
    """Header, fit flags, exclusions, variance components, fixed effects and ANOVA."""
    fit = "REML" if res.reml else "maximum likelihood"
    lines = [f"Linear mixed model fit by {fit} (painmarkers.stats.lmm; {_METHOD[res.ddf]})",
             f"Formula: {res.formula} + ({res.random} | {res.subject})",
             f"Data: {res.n_obs} rows of {res.n_subjects} subjects"]
    if res.n_excluded_rows:
        lines.append(f"Excluded: {res.n_excluded_rows} row(s) with missing values from "
                     f"{len(res.excluded)} subject(s); {res.n_excluded_subjects} subject(s) "
                     "left without any row")
        for row in res.excluded.itertuples(index=False):
            lines.append(f"  {row.subject}: {row.reason}")
    crit = "REML criterion" if res.reml else "deviance"
    lines.append(f"{crit} {res.deviance:.4f}; log-likelihood {res.loglik:.4f}")
    status = "converged" if res.converged else f"NOT CONVERGED ({res.convergence_message})"
    lines.append(f"Optimiser: {status}; boundary (singular) fit: "
                 f"{_SINGULAR if res.singular else 'no'}")
    for note in res.notes:
        lines.append(f"Note: {note}")
    lines += ["", "Random effects:", *_table(res.variance_components)]
    lines += ["", f"Fixed effects ({_METHOD[res.ddf]}, {res.confidence:.0%} CI):"]
    lines += _table(res.fixed_effects)
    anova = res.anova()
    if len(anova):
        lines += ["", f"Type III analysis of variance ({_METHOD[res.ddf]}):", *_table(anova)]
    return "\n".join(lines)
