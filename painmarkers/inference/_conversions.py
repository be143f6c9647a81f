"""Tail-accurate conversions between t statistics, p values and z scores."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = ["f_to_z", "p_to_z", "t_logsf", "t_to_z"]


def t_logsf(t, df):
    """Log survival function of Student's t, finite far into the tail.

    ``scipy.stats.t.logsf`` underflows to ``-inf`` once the survival function
    drops below the smallest double (e.g. t = 40 with 10 000 df). There the
    exact identity ``sf(t) = I_x(df/2, 1/2) / 2`` with ``x = df / (df + t²)`` is
    evaluated in log space through the hypergeometric series of the
    incomplete beta function (DLMF 8.17.8):
    ``I_x(a, b) = x^a (1-x)^b / (a B(a, b)) · 2F1(a + b, 1; a + 1; x)``.
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        # stdtr(df, -t) = P(T > t), accurate in the upper tail (incomplete beta)
        out = np.asarray(np.log(special.stdtr(df, -t)), dtype=float)
    bad = ~np.isfinite(out) & np.isfinite(t) & (t > 0)
    if np.any(bad):
        tb = t[bad] if t.ndim else t
        a = df / 2.0
        b = 0.5
        x = df / (df + tb * tb)
        with np.errstate(divide="ignore"):
            val = (
                np.log(0.5)
                + a * np.log(x)
                + b * np.log1p(-x)
                - np.log(a)
                - special.betaln(a, b)
                + np.log(special.hyp2f1(a + b, 1.0, a + 1.0, x))
            )
        if out.ndim:
            out[bad] = val
        else:
            out = np.asarray(val, dtype=float)
    return out


def t_to_z(t, df):
    """Convert t statistics to z scores with the same tail probability.

    Parameters
    ----------
    t : array-like
        The t statistics.
    df : float
        Degrees of freedom (> 0).

    Returns
    -------
    numpy.ndarray
        Z scores with ``P(Z > z) = P(T > t)``, sign preserved.

    Notes
    -----
    ``z = -Φ⁻¹(exp(log P(T > |t|)))·sign(t)``, computed with
    ``scipy.special.ndtri_exp`` on the log survival function so that it stays
    accurate when the p value underflows (``|t|`` up to 40 and beyond), unlike
    ``norm.isf(t.sf(t))``. Using the upper tail of ``|t|`` for both signs keeps
    the map exactly antisymmetric.

    Examples
    --------
    >>> from painmarkers.inference import t_to_z
    >>> round(float(t_to_z(2.0, 1e6)), 4)
    2.0
    """
    t = np.asarray(t, dtype=float)
    absval = np.abs(t)
    with np.errstate(invalid="ignore"):
        z = -special.ndtri_exp(t_logsf(absval, df))
    z = np.where(absval == 0, 0.0, z)
    return np.sign(t) * z if t.ndim else float(np.sign(t) * z)


def f_to_z(f, df):
    """Convert F statistics with ``df = (df1, df2)`` to z scores of the same upper tail.

    ``z = -Φ⁻¹(P(F > f))`` computed from the log survival function (``ndtri_exp``), as DPABI
    converts F maps before GRF; F ≤ 0 gives the z of p = 1 − ... (negative z for small F).
    """
    f = np.asarray(f, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = -special.ndtri_exp(stats.f.logsf(f, float(df[0]), float(df[1])))
    return z if z.ndim else float(z)


def p_to_z(p, two_tailed=False):
    """Convert p values to z thresholds: Φ⁻¹(1 − p) or Φ⁻¹(1 − p/2)."""
    p = np.asarray(p, dtype=float)
    q = p / 2.0 if two_tailed else p
    z = stats.norm.isf(q)
    return z if z.ndim else float(z)
