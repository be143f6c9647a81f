"""Type III (and Type I) hypothesis matrices of the fixed-effect terms, as lmerTest builds them.

lmerTest (3.1-3, ``get_contrasts_type3`` / ``extract_contrasts_type3``) builds, for a
treatment-coded full-rank ``X``:

1. ``rdX``: the intercept and, for every term, its full (indicator) coding ``~ 0 + term``;
2. ``L = t(ginv(X) rdX)`` rounded with ``zapsmall`` (7 significant digits);
3. for every term, from the highest order down, the term's columns of ``L`` are replaced
   by their residuals on the columns of the terms that *contain* it (more factors, the
   same numeric ones), then ``zapsmall``-ed;
4. the hypothesis of a term is the transpose of its columns of ``L``, restricted to the
   rows of ``X``'s own columns; rows with ``sum |L| <= 1e-8`` are dropped.

The resulting hypotheses are those of the "sum-to-zero" (SAS Type III) tests whatever the
contrasts.  The *basis* of each hypothesis matters for the multi-df Satterthwaite F (its
df combine the df of the eigen-rotated rows), so the construction is reproduced step by
step; only lmerTest's rounding of the entries to 7 significant digits is not (see
:func:`zapsmall`), which moves its F by ~1e-7 relative.  A model with one term (or one
column) uses Type I hypotheses (the Doolittle decomposition of ``X'X``), as lmerTest does.
"""

from __future__ import annotations

import numpy as np

from painmarkers._mixedmodels.design import Design, Term

__all__: list[str] = []


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """Zero the entries R's ``zapsmall`` zeroes (below ``10**-digits`` of the largest).

    R's ``zapsmall`` also rounds every other entry to ``digits`` significant digits, so
    that lmerTest's hypotheses hold e.g. 0.3333333 for 1/3 and its F statistics differ
    from those of the exact hypotheses by up to ~1e-7 (relative).  The exact values are
    kept here.
    """
    x = np.asarray(x, float)
    if x.size == 0:
        return x
    mx = float(np.max(np.abs(x)))
    dec = max(0, digits - int(np.ceil(np.log10(mx)))) if mx > 0 else digits
    return np.where(np.abs(x) < 0.5 * 10.0 ** -dec, 0.0, x)


def doolittle(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """lmerTest's Doolittle LU decomposition (no pivoting; small entries zeroed)."""
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            U[i, j] = x[i, j] - L[i, :i] @ U[:i, j]
        for j in range(i + 1, n):
            val = x[j, i] - L[j, :i] @ U[:i, i]
            L[j, i] = 0.0 if abs(U[i, i]) < eps else val / U[i, i]
    L[np.abs(L) < eps] = 0.0
    U[np.abs(U) < eps] = 0.0
    return L, U


def _term_cols(design: Design, term: Term) -> list[int]:
    return list(range(term.columns.start, term.columns.stop))


def type1_hypotheses(design: Design) -> dict[str, np.ndarray]:
    """lmerTest's ``get_contrasts_type1``: rows of ``t(doolittle(X'X)$L)`` per term."""
    X = design.X
    p = X.shape[1]
    Lt = np.eye(1) if p == 1 else doolittle(X.T @ X)[0].T
    return {t.name: Lt[_term_cols(design, t)] for t in design.terms}


def _contains(inner: Term, outer: Term) -> bool:
    a, b = set(inner.factors), set(outer.factors)
    return a < b and set(inner.numeric) == set(outer.numeric)


def _rdx_term(design: Design, term: Term) -> np.ndarray:
    cols = [design.factor_columns[f] for f in term.factors]
    out = cols[0]
    for mat in cols[1:]:
        out = (out[:, :, None] * mat[:, None, :]).reshape(out.shape[0], -1)
    return out


def type3_hypotheses(design: Design) -> dict[str, np.ndarray]:
    """lmerTest's Type III hypothesis matrix of every term (see the module docstring)."""
    X = design.X
    n, p = X.shape
    terms = design.terms
    if p <= 1 or len(terms) <= 1:
        return type1_hypotheses(design)
    blocks = [np.ones((n, 1))] if design.has_intercept else []
    blocks += [_rdx_term(design, t) for t in terms]
    rdX = np.hstack(blocks)
    coef = np.linalg.lstsq(X, rdX, rcond=None)[0]     # (p, n_rdx) = ginv(X) rdX
    L = zapsmall(coef.T)                                # rows: rdX columns; cols: X columns
    # rdX row of each X column: the identical column of rdX
    xrow = np.empty(p, dtype=int)
    for j in range(p):
        diff = np.max(np.abs(rdX - X[:, [j]]), axis=0)
        k = int(np.argmin(diff))
        if diff[k] > 1e-10 * max(1.0, float(np.max(np.abs(X[:, j])))):
            raise RuntimeError(f"column {design.column_names[j]!r} has no twin in rdX")
        xrow[j] = k
    order = sorted(range(len(terms)), key=lambda i: -len(terms[i].factors))  # stable
    for i in order:
        term = terms[i]
        cont = [t for t in terms if _contains(term, t)]
        if not cont:
            continue
        xcols = [c for t in cont for c in _term_cols(design, t)]
        ycols = _term_cols(design, term)
        A = L[:, xcols]
        Y = L[:, ycols]
        beta = np.linalg.lstsq(A, Y, rcond=1e-7)[0]         # lm.fit's rank tolerance
        L[:, ycols] = zapsmall(Y - A @ beta)
    Lsq = L[xrow]                                       # (p, p): rows of X's columns
    out = {}
    for term in terms:
        H = Lsq[:, _term_cols(design, term)].T
        out[term.name] = H[np.sum(np.abs(H), axis=1) > 1e-8]
    return out
