"""Inference of the voxelwise random-intercept model (:mod:`.batch`): df and tests per voxel.

lmerTest's Satterthwaite df and pbkrtest's Kenward-Roger adjusted covariance and df, for
each coefficient and each hypothesis matrix (Type III F with lmerTest's eigen-rotation
and df combination), as array operations over a leading voxel axis; the formulas and
their single-response versions are in :mod:`.df`.  :func:`analyse` is the driver used by
:func:`painmarkers.inference.voxelwise_lmm`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from painmarkers._mixedmodels.batch import (
    FAILED,
    NOT_CONVERGED,
    SINGULAR,
    VOXEL_BLOCK,
    ZERO_VAR,
    BatchFit,
    RIDesign,
    RIResponses,
    _gram,
    fit,
)
from painmarkers._threads import single_blas_thread

__all__: list[str] = []

_EPS = np.sqrt(np.finfo(float).eps)


# --------------------------------------------------------------------------- Satterthwaite
@dataclass(eq=False)
class SatState:
    """vcov(beta), its Jacobian pieces and A = 2 pinv(H) per voxel (lmerTest)."""

    vcov: np.ndarray        # (V, p, p)
    CM1C: np.ndarray        # (V, p, p)  C M1 C (d vcov / d theta = 2 theta s2 C M1 C)
    A: np.ndarray           # (V, 2, 2)
    theta: np.ndarray
    sigma2: np.ndarray


def satterthwaite_state(bf: BatchFit) -> SatState:
    """Analytic Hessian of D(theta, sigma) and the Jacobian of sigma^2 C (:mod:`.df`)."""
    prof, sm = bf.prof, bf.sums
    t, Q, s2, dof = prof.theta, prof.Q, prof.sigma2, prof.dof
    sigma = np.sqrt(s2)
    f2 = -(2.0 * t) ** 2 * sm.ff_u + 2.0 * sm.f_u
    Q1 = -2.0 * t * sm.Y1
    Q2 = 2.0 * (2.0 * t) ** 2 * sm.yy_u - 2.0 * sm.Y1
    H = np.empty((len(t), 2, 2))
    H[:, 0, 0] = f2 + Q2 / s2
    H[:, 0, 1] = H[:, 1, 0] = -2.0 * Q1 / sigma ** 3
    H[:, 1, 1] = 6.0 * Q / s2 ** 2 - 2.0 * dof / s2
    H = np.where(np.isfinite(H), H, 0.0)
    lam, vec = np.linalg.eigh(H)
    inv = np.where(lam > 1e-8, 1.0 / np.where(lam > 1e-8, lam, 1.0), 0.0)
    A = 2.0 * np.einsum("vak,vk,vbk->vab", vec, inv, vec)
    C = prof.C
    return SatState(vcov=s2[:, None, None] * C, CM1C=C @ sm.M1 @ C, A=A, theta=t, sigma2=s2)


def _sat_nu(st: SatState, ells: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Satterthwaite df of per-voxel rows ``ells`` (V, m, p) with variances ``var`` (V, m)."""
    quad_M = np.einsum("vma,vab,vmb->vm", ells, st.CM1C, ells)
    quad_C = var / st.sigma2[:, None]
    g_t = 2.0 * st.theta[:, None] * st.sigma2[:, None] * quad_M
    g_s = 2.0 * np.sqrt(st.sigma2)[:, None] * quad_C
    A = st.A
    denom = (A[:, None, 0, 0] * g_t * g_t + 2.0 * A[:, None, 0, 1] * g_t * g_s
             + A[:, None, 1, 1] * g_s * g_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2.0 * var * var / denom, np.inf)


def sat_rows(st: SatState, beta: np.ndarray, L: np.ndarray) -> dict[str, np.ndarray]:
    """Estimate, se, df, t and p of each row of ``L`` (m, p) at every voxel: (V, m) each."""
    ells = np.broadcast_to(L, (len(beta), *L.shape))
    var = np.einsum("ma,vab,mb->vm", L, st.vcov, L)
    est = beta @ L.T
    se = np.sqrt(var)
    df = _sat_nu(st, ells, var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    return {"estimate": est, "se": se, "df": df, "t": t, "p": t_pvalue(t, df)}


def _fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """lmerTest's get_Fstat_ddf for each voxel's row of nu (V, q)."""
    q = nu.shape[1]
    if q == 1:
        return nu[:, 0]
    equal = np.all(np.abs(np.diff(nu, axis=1)) < tol, axis=1)
    low = np.any(nu <= 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        E = np.sum(nu / (nu - 2.0), axis=1)
        comb = 2.0 * E / (E - q)
    return np.where(equal, nu.mean(axis=1), np.where(low, 2.0, comb))


def sat_ftest(st: SatState, beta: np.ndarray, L: np.ndarray):
    """F, numerator df, denominator df and p of H0: L beta = 0 (lmerTest's contestMD).

    Returns ``(F, q, den, p, deficient)``; ``deficient`` marks voxels where ``L C L'`` has
    fewer than ``len(L)`` positive eigenvalues (their F is NaN).
    """
    V = len(beta)
    VL = np.einsum("ma,vab,nb->vmn", L, st.vcov, L)
    lam, P = np.linalg.eigh(0.5 * (VL + np.swapaxes(VL, 1, 2)))
    lam, P = lam[:, ::-1], P[:, :, ::-1]                     # decreasing, as R's eigen()
    tol = np.maximum(_EPS * lam[:, 0], 0.0)
    q = L.shape[0]
    deficient = np.sum(lam > tol[:, None], axis=1) < q
    if q == 1:
        est = beta @ L[0]
        var = VL[:, 0, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            F = est * est / var
        den = _sat_nu(st, np.broadcast_to(L, (V, 1, L.shape[1])), var[:, None])[:, 0]
    else:
        PtL = np.einsum("vmk,mp->vkp", P, L)                   # rows P[:, k]' L
        with np.errstate(divide="ignore", invalid="ignore"):
            t2 = np.einsum("vkp,vp->vk", PtL, beta) ** 2 / lam
            F = np.sum(t2, axis=1) / q
        den = _fstat_ddf(_sat_nu(st, PtL, lam))
    F = np.where(deficient, np.nan, F)
    den = np.where(deficient, np.nan, den)
    return F, q, den, f_pvalue(F, q, den), deficient


# --------------------------------------------------------------------------- Kenward-Roger
@dataclass(eq=False)
class KRState:
    """pbkrtest's vcovAdj per voxel for Sigma = gamma_1 ZZ' + gamma_2 I."""

    Phi: np.ndarray         # (V, p, p)
    PhiA: np.ndarray        # (V, p, p)
    P: tuple                # P_1, P_2: (V, p, p) each
    W: np.ndarray           # (V, 2, 2)


def kr_state(des: RIDesign, bf: BatchFit) -> KRState:
    """Kenward-Roger adjusted covariance (:func:`.df.kr_state`, as weighted subject sums)."""
    prof = bf.prof
    s2 = prof.sigma2
    w = prof.w
    n_i = des.n_i
    WXX = des.blocks.WXX[None]
    s2_2, s2_3 = (s2 ** 2)[:, None, None], (s2 ** 3)[:, None, None]
    w2, w3 = w * w, w ** 3
    P1 = -_gram(des, w2 * n_i) / s2_2
    P2 = -(WXX + _gram(des, w2)) / s2_2
    Q11 = _gram(des, w3 * n_i * n_i) / s2_3
    Q12 = _gram(des, w3 * n_i) / s2_3
    Q22 = (WXX + _gram(des, w3)) / s2_3
    K11 = (w2 @ (n_i * n_i)) / s2 ** 2
    K12 = (w2 @ n_i) / s2 ** 2
    K22 = (des.n - des.N + w2.sum(axis=1)) / s2 ** 2
    Phi = s2[:, None, None] * prof.C

    def tr(a, b):
        return np.einsum("vab,vba->v", a, b)

    PhiP1, PhiP2 = Phi @ P1, Phi @ P2
    IE = np.empty((len(s2), 2, 2))
    IE[:, 0, 0] = K11 - 2.0 * tr(Phi, Q11) + tr(PhiP1, PhiP1)
    IE[:, 0, 1] = IE[:, 1, 0] = K12 - 2.0 * tr(Phi, Q12) + tr(PhiP1, PhiP2)
    IE[:, 1, 1] = K22 - 2.0 * tr(Phi, Q22) + tr(PhiP2, PhiP2)
    IE = np.where(np.isfinite(IE), IE, 0.0)
    condi = np.min(np.abs(np.linalg.eigvalsh(IE)), axis=1)
    W = np.empty_like(IE)
    good = condi > 1e-10
    if good.any():
        W[good] = 2.0 * np.linalg.inv(IE[good])
    if (~good).any():
        W[~good] = 2.0 * np.linalg.pinv(IE[~good])
    W = 0.5 * (W + np.swapaxes(W, 1, 2))
    w12, w11, w22 = (W[:, 0, 1, None, None], W[:, 0, 0, None, None],
                     W[:, 1, 1, None, None])
    UU = w12 * (Q12 - P1 @ Phi @ P2)
    UU = UU + np.swapaxes(UU, 1, 2)
    UU = UU + w11 * (Q11 - P1 @ Phi @ P1) + w22 * (Q22 - P2 @ Phi @ P2)
    PhiA = Phi + 2.0 * Phi @ UU @ Phi
    return KRState(Phi=Phi, PhiA=0.5 * (PhiA + np.swapaxes(PhiA, 1, 2)), P=(P1, P2), W=W)


def _div_zero(x, y, tol=1e-14):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((np.abs(x) < tol) & (np.abs(y) < tol), 1.0, x / y)


def _kr_moments(st: KRState, L: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """pbkrtest's df (``df2``) and F scaling for the hypothesis ``L`` (:func:`.df._kr_moments`)."""
    Phi = st.Phi
    LPL = np.einsum("ma,vab,nb->vmn", L, Phi, L)
    Theta = np.einsum("ma,vmn,nb->vab", L, np.linalg.inv(LPL), L)
    TP = Theta @ Phi
    us = [TP @ P @ Phi for P in st.P]
    tr = [np.trace(u, axis1=1, axis2=2) for u in us]
    W = st.W
    A1 = W[:, 0, 0] * tr[0] ** 2 + 2.0 * W[:, 0, 1] * tr[0] * tr[1] + W[:, 1, 1] * tr[1] ** 2

    def tt(a, b):
        return np.einsum("vab,vba->v", a, b)

    A2 = (W[:, 0, 0] * tt(us[0], us[0]) + 2.0 * W[:, 0, 1] * tt(us[0], us[1])
          + W[:, 1, 1] * tt(us[1], us[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den3 = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den3, (q - g) / den3, (q + 2 - g) / den3
        V0 = 1 + c1 * B
        V1 = 1 - c2 * B
        V2 = 1 - c3 * B
        V0 = np.where(np.abs(V0) < 1e-10, 0.0, V0)
        rho = 1.0 / q * _div_zero(1 - A2 / q, V1) ** 2 * V0 / V2
        df2 = 4 + (q + 2) / (q * rho - 1)
        scaling = np.where(np.abs(df2 - 2) < 1e-2, 1.0, df2 * (1 - A2 / q) / (df2 - 2))
    return df2, scaling


def kr_rows(st: KRState, beta: np.ndarray, L: np.ndarray) -> dict[str, np.ndarray]:
    """Estimate, se (adjusted covariance), KR df, t and p of each row of ``L``: (V, m)."""
    var = np.einsum("ma,vab,mb->vm", L, st.PhiA, L)
    est = beta @ L.T
    se = np.sqrt(var)
    df = np.column_stack([_kr_moments(st, L[m:m + 1], 1)[0] for m in range(len(L))])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    return {"estimate": est, "se": se, "df": df, "t": t, "p": t_pvalue(t, df)}


def kr_ftest(st: KRState, beta: np.ndarray, L: np.ndarray):
    """Scaled KR F, q (rank of L), KR denominator df and p (:func:`.df.kr_ftest`)."""
    q = int(np.linalg.matrix_rank(L))
    df2, scaling = _kr_moments(st, L, q)
    Lb = beta @ L.T
    M = np.einsum("ma,vab,nb->vmn", L, st.PhiA, L)
    wald = np.einsum("vm,vm->v", Lb, np.linalg.solve(M, Lb[..., None])[..., 0])
    F = scaling * wald / q
    return F, q, df2, f_pvalue(F, q, df2), np.zeros(len(beta), bool)


# --------------------------------------------------------------------------- p values
def t_pvalue(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p of t with (per-voxel) df; infinite df: normal (as :func:`.df.t_pvalue`)."""
    t = np.asarray(t, float)
    df = np.broadcast_to(np.asarray(df, float), t.shape)
    inf = np.isinf(df)
    with np.errstate(invalid="ignore"):
        return np.where(inf, 2 * stats.norm.sf(np.abs(t)),
                        2 * stats.t.sf(np.abs(t), np.where(inf, 1.0, df)))


def f_pvalue(F: np.ndarray, q: int, den: np.ndarray) -> np.ndarray:
    """Upper-tail p of F(q, den) per voxel (infinite den: chi2(q)/q)."""
    F = np.asarray(F, float)
    den = np.broadcast_to(np.asarray(den, float), F.shape)
    inf = np.isinf(den)
    with np.errstate(invalid="ignore"):
        out = np.where(inf, stats.chi2.sf(F * q, q),
                       stats.f.sf(F, q, np.where(inf, 1.0, den)))
    return np.where(np.isfinite(F), out, np.nan)


# --------------------------------------------------------------------------- driver
def analyse(des: RIDesign, resp: RIResponses, reml: bool, ddf: str,
            hypotheses: dict[str, np.ndarray], block: int = VOXEL_BLOCK) -> dict:
    """Fit every voxel and test every coefficient and hypothesis, block by block.

    Returns a dict of per-voxel arrays: ``theta``, ``sigma2``, ``deviance``, ``status``
    (bits :data:`SINGULAR`, :data:`NOT_CONVERGED`, :data:`ZERO_VAR`, :data:`FAILED`),
    ``fallback``, ``coef`` (``estimate``, ``se``, ``df``, ``t``, ``p``: (V, p) each) and
    ``anova`` (term -> ``F``, ``den_df``, ``p``: (V,) each, and ``num_df``), and for the
    residuals ``Q`` (whitened residual sum of squares), ``beta0`` (the estimates of the
    responses minus their offset) and ``rb`` (``sqrt(w_i) (yu_i - xu_i'b)``).  Zero-variance
    voxels (residual sum of squares <= 1e-12 of the total: the design fits the voxel
    exactly, e.g. a constant voxel) get their OLS estimates, se = t = F = 0, p = 1 and df
    NaN; failed voxels (non-finite numbers at the solution) NaN everywhere.
    """
    # many small products: one BLAS thread is faster than several (and never oversubscribes)
    with single_blas_thread():
        return _analyse(des, resp, reml, ddf, hypotheses, block)


def _analyse(des, resp, reml, ddf, hypotheses, block) -> dict:
    V, p = len(resp.Wyy), des.p
    eye = np.eye(p)
    out = {key: np.empty(V) for key in ("theta", "sigma2", "deviance")}
    out["status"] = np.zeros(V, np.uint8)
    out["fallback"] = np.zeros(V, bool)
    out["Q"] = np.empty(V)
    out["beta0"] = np.empty((V, p))
    out["rb"] = np.empty((V, des.N))
    out["coef"] = {key: np.empty((V, p)) for key in ("estimate", "se", "df", "t", "p")}
    out["anova"] = {term: {"F": np.empty(V), "den_df": np.empty(V), "p": np.empty(V),
                           "num_df": 0} for term in hypotheses}
    for start in range(0, V, block):
        sl = slice(start, min(V, start + block))
        r = resp.take(sl)
        with np.errstate(all="ignore"):
            bf = fit(des, r, reml)
            beta = bf.prof.beta                  # of the responses minus their offset
            if des.ones_coef is not None:
                beta = beta + r.offset[:, None] * des.ones_coef[None, :]
            if ddf == "kenward-roger":
                state = kr_state(des, bf)
                rows, ftest = kr_rows(state, beta, eye), kr_ftest
            else:
                state = satterthwaite_state(bf)
                rows, ftest = sat_rows(state, beta, eye), sat_ftest
            tests = {term: ftest(state, beta, L) for term, L in hypotheses.items()}
        zero = bf.zero_variance
        finite = bf.prof.ok & np.all(np.isfinite(rows["se"]) & np.isfinite(rows["df"]), axis=1)
        for F, _, den, _, deficient in tests.values():
            finite &= np.isfinite(F) & np.isfinite(den) & ~deficient
        failed = ~zero & ~finite
        if zero.any():
            rows["se"][zero], rows["t"][zero], rows["p"][zero] = 0.0, 0.0, 1.0
            rows["df"][zero] = np.nan
        for key in out["coef"]:
            vals = rows[key]
            if failed.any():
                vals[failed] = np.nan
            out["coef"][key][sl] = vals
        for term, (F, q, den, pv, _) in tests.items():
            F, den, pv = F.copy(), den.copy(), pv.copy()
            F[zero], den[zero], pv[zero] = 0.0, np.nan, 1.0
            F[failed], den[failed], pv[failed] = np.nan, np.nan, np.nan
            res = out["anova"][term]
            res["F"][sl], res["den_df"][sl], res["p"][sl], res["num_df"] = F, den, pv, q
        out["theta"][sl] = bf.theta
        out["sigma2"][sl] = np.where(zero, 0.0, bf.sigma2)
        out["deviance"][sl] = np.where(zero, np.nan, bf.prof.deviance)
        status = (bf.singular * SINGULAR | (~bf.converged & ~zero) * NOT_CONVERGED
                  | zero * ZERO_VAR | failed * FAILED)
        out["status"][sl] = status.astype(np.uint8)
        out["fallback"][sl] = bf.fallback
        out["Q"][sl] = bf.prof.Q
        out["beta0"][sl] = bf.prof.beta
        with np.errstate(all="ignore"):
            out["rb"][sl] = bf.prof.e / np.sqrt(bf.prof.w)     # sqrt(w_i) (yu_i - xu_i'b)
    return out
