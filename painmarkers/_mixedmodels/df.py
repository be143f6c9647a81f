"""Denominator degrees of freedom of linear mixed models: Satterthwaite and Kenward-Roger.

Satterthwaite (lmerTest; Kuznetsova, Brockhoff & Christensen 2017)
------------------------------------------------------------------
The variance parameters are lmerTest's ``varpar = (theta, sigma)``.  With
:math:`D(\\theta,\\sigma)` the (REML or ML) deviance, ``-2 log L``, not profiled over
sigma, :math:`A = 2 H^{+}` (``H`` its Hessian at the optimum, ``+`` the Moore-Penrose
inverse over eigenvalues above 1e-8) estimates the covariance of ``varpar``, and for a
contrast ``l``

.. math::

    \\nu = \\frac{2\\,(l^\\top C l)^2}{g^\\top A g},\\qquad
    g_k = l^\\top \\frac{\\partial C(\\theta,\\sigma)}{\\partial\\,\\mathrm{varpar}_k} l,
    \\quad C = \\sigma^2 (X^\\top V^{-1}X)^{-1}.

Both ``H`` and the Jacobian of ``C`` are analytic here (lmerTest differentiates
numerically with numDeriv).  A multi-row ``L`` is rotated by the eigenvectors of
``L C L'`` into ``q`` independent t statistics with df ``nu_m``;
``F = mean(t_m^2)`` and its denominator df is ``2E/(E - q)``,
``E = sum nu_m/(nu_m - 2)`` (2 if any ``nu_m <= 2``; ``mean(nu)`` if all are equal).

Kenward-Roger (pbkrtest; Kenward & Roger 1997; Halekoh & Hojsgaard 2014)
---------------------------------------------------------------------------
The covariance of ``y`` is written :math:`\\Sigma = \\sum_k \\gamma_k G_k`: one
:math:`G_k = Z E_k Z^\\top` per element of the random-effect covariance matrix (lower
triangle) and :math:`G = I` for the residual variance.  With
:math:`\\Phi = (X^\\top\\Sigma^{-1}X)^{-1}`, :math:`P_k = -X^\\top\\Sigma^{-1}G_k\\Sigma^{-1}X`,
:math:`Q_{kl} = X^\\top\\Sigma^{-1}G_k\\Sigma^{-1}G_l\\Sigma^{-1}X` and
:math:`W = 2\\,\\mathcal{I}_E^{-1}` (``I_E`` twice the expected REML information,
:math:`\\mathrm{tr}(\\Sigma^{-1}G_k\\Sigma^{-1}G_l) - 2\\,\\mathrm{tr}(\\Phi Q_{kl}) +
\\mathrm{tr}(\\Phi P_k\\Phi P_l)`), the adjusted covariance is

.. math::

    \\Phi_A = \\Phi + 2\\,\\Phi\\Big[\\sum_{k,l} W_{kl}(Q_{kl} - P_k\\Phi P_l)\\Big]\\Phi

(no second-derivative term: ``Sigma`` is linear in ``gamma``).  For ``L`` of rank ``q``,
:math:`\\Theta = L^\\top(L\\Phi L^\\top)^{-1}L`, :math:`A_1 = \\sum W_{kl}\\,
\\mathrm{tr}(\\Theta\\Phi P_k\\Phi)\\,\\mathrm{tr}(\\Theta\\Phi P_l\\Phi)`,
:math:`A_2 = \\sum W_{kl}\\,\\mathrm{tr}(\\Theta\\Phi P_k\\Phi\\Theta\\Phi P_l\\Phi)` give the
scaled statistic :math:`F^* = \\lambda\\,(L\\hat\\beta)^\\top(L\\Phi_A L^\\top)^{-1}
(L\\hat\\beta)/q` on ``(q, m)`` df, with ``m`` and ``lambda`` from the KR moment matching
(code below follows pbkrtest 0.5.2 line by line, including its guards).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from painmarkers._mixedmodels.fit import (
    Blocks,
    Profile,
    dpsi_dtheta,
    first_terms,
    pair_terms,
    theta_index,
)

__all__: list[str] = []

_EPS = np.sqrt(np.finfo(float).eps)


# --------------------------------------------------------------------------- Satterthwaite
@dataclass(frozen=True, eq=False)
class SatterthwaiteState:
    """vcov(beta), its Jacobian over varpar and the covariance of varpar (lmerTest)."""

    vcov: np.ndarray            # (p, p)
    jacobian: np.ndarray        # (k, p, p): d vcov / d varpar_k, varpar = (theta, sigma)
    vcov_varpar: np.ndarray     # (k, k) = 2 pinv(Hessian of the deviance)
    hessian: np.ndarray         # (k, k) Hessian of -2 log L in varpar
    hessian_eigenvalues: np.ndarray


def satterthwaite_state(prof: Profile) -> SatterthwaiteState:
    """Analytic Hessian of D(theta, sigma) and Jacobian of sigma^2 C at the optimum."""
    q = prof.D.shape[1]
    d1, d2 = dpsi_dtheta(prof.theta, q)
    k = len(d1)
    ft = first_terms(prof, d1)
    pt = pair_terms(prof, ft)
    flat2 = [d2[s][t] for s in range(k) for t in range(k)]
    ft2 = first_terms(prof, flat2)
    key = "trPH" if prof.reml else "trVH"
    f2 = -(pt["trPHPH"] if prof.reml else pt["trVHVH"]) + ft2[key].reshape(k, k)
    Q, s2 = prof.Q, prof.sigma2
    sigma = np.sqrt(s2)
    Q1 = -ft["yPHPy"]
    Q2 = 2.0 * pt["yPHPHPy"] - ft2["yPHPy"].reshape(k, k)
    H = np.zeros((k + 1, k + 1))
    H[:k, :k] = f2 + Q2 / s2
    H[:k, k] = H[k, :k] = -2.0 * Q1 / sigma ** 3
    H[k, k] = 6.0 * Q / s2 ** 2 - 2.0 * prof.dof / s2
    H = 0.5 * (H + H.T)
    w, v = np.linalg.eigh(H)
    pos = w > 1e-8
    A = 2.0 * (v[:, pos] / w[pos]) @ v[:, pos].T
    vcov = s2 * prof.C
    jac = np.empty((k + 1, prof.p, prof.p))
    for j in range(k):
        jac[j] = s2 * prof.C @ ft["G"][j] @ prof.C
    jac[k] = 2.0 * sigma * prof.C
    return SatterthwaiteState(vcov=vcov, jacobian=jac, vcov_varpar=A, hessian=H,
                              hessian_eigenvalues=w[::-1])


def satterthwaite_df(state: SatterthwaiteState, ell: np.ndarray) -> float:
    """Satterthwaite df of one contrast ``ell`` (lmerTest's contest1D)."""
    var = float(ell @ state.vcov @ ell)
    grad = np.einsum("a,kab,b->k", ell, state.jacobian, ell)
    denom = float(grad @ state.vcov_varpar @ grad)
    if not denom > 0:
        return np.inf
    return 2.0 * var ** 2 / denom


def _fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's get_Fstat_ddf."""
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - nu.size)


def satterthwaite_ftest(state: SatterthwaiteState, beta: np.ndarray,
                        L: np.ndarray) -> tuple[float, int, float]:
    """F, numerator df and denominator df of H0: L beta = 0 (lmerTest's contestMD)."""
    L = np.atleast_2d(L)
    VL = L @ state.vcov @ L.T
    w, P = np.linalg.eigh(0.5 * (VL + VL.T))
    w, P = w[::-1], P[:, ::-1]                    # R's eigen(): decreasing
    tol = max(_EPS * w[0], 0.0)
    pos = w > tol
    q = int(pos.sum())
    if q == 0:
        return np.nan, 0, np.nan
    PtL = P[:, :q].T @ L
    if q == 1:
        ell = PtL[0]
        t = float(ell @ beta) / np.sqrt(float(ell @ state.vcov @ ell))
        return t * t, 1, satterthwaite_df(state, ell)
    t2 = (PtL @ beta) ** 2 / w[:q]
    F = float(np.sum(t2) / q)
    nu = np.array([2.0 * w[m] ** 2 / float(
        np.einsum("a,kab,b->k", PtL[m], state.jacobian, PtL[m])
        @ state.vcov_varpar
        @ np.einsum("a,kab,b->k", PtL[m], state.jacobian, PtL[m])) for m in range(q)])
    return F, q, _fstat_ddf(nu)


# --------------------------------------------------------------------------- Kenward-Roger
@dataclass(frozen=True, eq=False)
class KRState:
    """pbkrtest's vcovAdj: the adjusted covariance and the P and W it keeps."""

    vcov: np.ndarray          # Phi (unadjusted)
    vcov_adj: np.ndarray      # Phi_A
    P: list                   # P_k (p x p)
    W: np.ndarray             # 2 I_E^{-1}
    condition: float          # smallest |eigenvalue| of I_E (pbkrtest's "condi")


def kr_state(prof: Profile, blocks: Blocks) -> KRState:
    """Kenward-Roger adjusted covariance of beta at a REML fit (pbkrtest::vcovAdj)."""
    q = blocks.q
    s2 = prof.sigma2
    psi = prof.psi
    Z, X, mask = blocks.Zp, blocks.Xp, blocks.mask
    m = mask.shape[1]
    eye = np.eye(m)
    # Sigma_i on the real rows; identity on the padding (decoupled, zero X and Z rows)
    Sigma = s2 * (mask[:, :, None] * mask[:, None, :] * eye
                  + np.einsum("iaq,qr,ibr->iab", Z, psi, Z))
    Sigma = Sigma + (~mask)[:, :, None] * eye
    SI = np.linalg.inv(Sigma)
    SI = 0.5 * (SI + np.swapaxes(SI, 1, 2))
    Gs = []
    for r, c in theta_index(q):
        E = np.zeros((q, q))
        E[r, c] = E[c, r] = 1.0
        Gs.append(np.einsum("iaq,qr,ibr->iab", Z, E, Z))
    Gs.append(mask[:, :, None] * mask[:, None, :] * eye)
    n_g = len(Gs)
    Phi = s2 * prof.C
    TT = SI @ X
    HH = [G @ SI for G in Gs]
    OO = [H @ X for H in HH]
    PP = []
    for r in range(n_g):
        Pr = -np.einsum("iap,iaq->pq", OO[r], TT)
        PP.append(0.5 * (Pr + Pr.T))
    QQ = {}
    for r in range(n_g):
        for s in range(r, n_g):
            QQ[r, s] = np.einsum("iap,iab,ibq->pq", OO[r], SI, OO[s])
    Kt = np.zeros((n_g, n_g))
    IE2 = np.zeros((n_g, n_g))
    for r in range(n_g):
        for s in range(r, n_g):
            Kt[r, s] = Kt[s, r] = float(np.einsum("iab,iba->", HH[r], HH[s]))
    for r in range(n_g):
        for s in range(r, n_g):
            IE2[r, s] = IE2[s, r] = (Kt[r, s] - 2.0 * float(np.sum(Phi * QQ[r, s]))
                                     + float(np.sum((Phi @ PP[r]) * (PP[s] @ Phi))))
    condi = float(np.min(np.abs(np.linalg.eigvalsh(IE2))))
    W = 2.0 * (np.linalg.inv(IE2) if condi > 1e-10 else np.linalg.pinv(IE2))
    W = 0.5 * (W + W.T)
    UU = np.zeros_like(Phi)
    for r in range(n_g - 1):
        for s in range(r + 1, n_g):
            UU += W[r, s] * (QQ[r, s] - PP[r] @ Phi @ PP[s])
    UU = UU + UU.T
    for r in range(n_g):
        UU += W[r, r] * (QQ[r, r] - PP[r] @ Phi @ PP[r])
    PhiA = Phi + 2.0 * Phi @ UU @ Phi
    return KRState(vcov=Phi, vcov_adj=0.5 * (PhiA + PhiA.T), P=PP, W=W, condition=condi)


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    return 1.0 if abs(x) < tol and abs(y) < tol else x / y


def _kr_moments(state: KRState, L: np.ndarray, q: int) -> tuple[float, float]:
    """A2-based df (``df2``) and F scaling of pbkrtest's .KR_adjust / Lb_ddf."""
    Phi = state.vcov
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    ThetaPhi = Theta @ Phi
    us = [ThetaPhi @ P @ Phi for P in state.P]
    A1 = A2 = 0.0
    n_g = len(us)
    for i in range(n_g):
        for j in range(i, n_g):
            e = 1.0 if i == j else 2.0
            A1 += e * state.W[i, j] * np.trace(us[i]) * np.trace(us[j])
            A2 += e * state.W[i, j] * float(np.sum(us[i] * us[j].T))
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    V0 = 1 + c1 * B
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    rho = 1.0 / q * _div_zero(1 - A2 / q, V1) ** 2 * V0 / V2
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scaling)


def kr_df(state: KRState, ell: np.ndarray) -> float:
    """pbkrtest's Lb_ddf: KR df of one contrast."""
    return _kr_moments(state, np.atleast_2d(ell), 1)[0]


def kr_ftest(state: KRState, beta: np.ndarray, L: np.ndarray) -> tuple[float, int, float]:
    """Scaled KR F, numerator df (rank of L) and denominator df (pbkrtest::KRmodcomp)."""
    L = np.atleast_2d(L)
    q = int(np.linalg.matrix_rank(L))
    df2, scaling = _kr_moments(state, L, q)
    Lb = L @ beta
    wald = float(Lb @ np.linalg.solve(L @ state.vcov_adj @ L.T, Lb))
    return scaling * wald / q, q, df2


# --------------------------------------------------------------------------- Wald
def wald_ftest(vcov: np.ndarray, beta: np.ndarray, L: np.ndarray) -> tuple[float, int, float]:
    """Wald chi2 / q with infinite denominator df."""
    L = np.atleast_2d(L)
    q = int(np.linalg.matrix_rank(L))
    Lb = L @ beta
    wald = float(Lb @ np.linalg.lstsq(L @ vcov @ L.T, Lb, rcond=None)[0])
    return wald / q, q, np.inf


def t_pvalue(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p of a t (infinite df: normal)."""
    t = np.asarray(t, float)
    df = np.broadcast_to(np.asarray(df, float), t.shape)
    out = np.where(np.isinf(df), 2 * stats.norm.sf(np.abs(t)),
                   2 * stats.t.sf(np.abs(t), np.where(np.isinf(df), 1.0, df)))
    return out


def t_quantile(confidence: float, df: np.ndarray) -> np.ndarray:
    """Two-sided critical value for a ``confidence`` interval (infinite df: normal)."""
    df = np.asarray(df, float)
    upper = 0.5 + confidence / 2.0
    return np.where(np.isinf(df), stats.norm.ppf(upper),
                    stats.t.ppf(upper, np.where(np.isinf(df), 1.0, df)))


def f_pvalue(F: float, q: int, ddf: float) -> float:
    """Upper-tail p of F(q, ddf) (infinite ddf: chi2(q)/q)."""
    if not np.isfinite(F):
        return np.nan
    if np.isinf(ddf):
        return float(stats.chi2.sf(F * q, q))
    return float(stats.f.sf(F, q, ddf))
