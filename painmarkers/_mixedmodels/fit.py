"""REML / ML fit of a linear mixed model with one grouping factor (the subject).

The model is, for subject :math:`i` with :math:`n_i` rows,

.. math::

    y_i = X_i\\beta + Z_i b_i + \\varepsilon_i,\\quad
    b_i \\sim N(0, \\sigma^2\\Lambda\\Lambda^\\top),\\quad
    \\varepsilon_i \\sim N(0, \\sigma^2 I),

so that :math:`\\operatorname{Var}(y_i) = \\sigma^2 V_i` with
:math:`V_i = I + Z_i\\Psi Z_i^\\top` and :math:`\\Psi = \\Lambda\\Lambda^\\top`.
:math:`\\Lambda` is lower triangular and ``theta`` holds its lower-triangle elements in
column-major order with a non-negative diagonal: exactly lme4's ``theta`` (Bates et al.
2015), so that the Satterthwaite computations below use lmerTest's parametrisation
``(theta, sigma)`` and agree with it also on the boundary.

Structure (what a voxelwise version vectorises)
-----------------------------------------------
Each subject's random-effect design is factored once, ``Z_i = U_i D_i`` (thin SVD:
``U_i`` has orthonormal columns, ``D_i = S_i W_i^T`` is ``q x q``; columns of a
rank-deficient ``Z_i`` are zero-padded).  Then

.. math::

    V_i^{-1} = (I - U_iU_i^\\top) + U_i N_i^{-1} U_i^\\top,\\quad
    N_i = I_q + D_i\\Psi D_i^\\top,\\quad |V_i| = |N_i|,

and every quantity of the fit is a sum over subjects of ``q``-dimensional pieces:

* design only (shared by all responses): ``WXX = sum_i X_i'(I - U_iU_i')X_i``,
  ``Xu_i = U_i'X_i`` (``q x p``), ``D_i``;
* per response (one per voxel): ``WXy``, ``Wyy`` (the within-subject parts) and
  ``yu_i = U_i'y_i`` (``q``).

For a random intercept ``q = 1``, ``U_i = 1/sqrt(n_i)``, ``D_i = sqrt(n_i)`` and
``N_i = 1 + n_i theta^2``: the eigen-decomposition of ``V_i``.  The profiled deviance of
a response costs ``O(N p^2)`` from these statistics, and ``X'V^{-1}X`` is a sum of
positive semi-definite terms (no cancellation, even for large variance ratios).  The
functions here take one response; the arrays broadcast over a leading voxel axis except
for the final linear solves.

Profiled deviances (lme4's ``REMLcrit`` / ``deviance``), with ``Q = y'Py`` the penalised
residual sum of squares at the GLS estimate and ``p* = p`` (REML) or ``0`` (ML):

.. math::

    d_{REML}(\\theta) = \\log|V| + \\log|X^\\top V^{-1}X| + (n-p)\\,
        [1 + \\log(2\\pi Q/(n-p))],\\qquad
    d_{ML}(\\theta) = \\log|V| + n\\,[1 + \\log(2\\pi Q/n)].

Derivatives are analytic.  With ``V_j = dV/dtheta_j = Z (dPsi/dtheta_j) Z'`` and
``P = V^{-1} - V^{-1}X(X'V^{-1}X)^{-1}X'V^{-1}``:
``d log|V| + log|X'V^{-1}X| / dtheta_j = tr(P V_j)``,
``dQ/dtheta_j = -y'P V_j P y`` and the second derivatives follow from ``dP = -P dV P``
(Psi is quadratic in theta, so ``d^2 V / dtheta_j dtheta_m`` is constant).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

__all__: list[str] = []

_LOG2PI = np.log(2.0 * np.pi)

#: Start grid of the random-intercept fit (theta = 0 and 57 log-spaced values, 1e-4 to 1e3);
#: shared with the voxelwise fit (:mod:`.batch`) so that both bracket the same minimum.
THETA_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 1e3, 57)])
THETA_GRID.flags.writeable = False


# --------------------------------------------------------------------------- structures
@dataclass(frozen=True, eq=False)
class Blocks:
    """Per-subject sufficient statistics of a design (see the module docstring)."""

    n_obs: int
    n_i: np.ndarray          # (N,) rows per subject
    WXX: np.ndarray          # (p, p)
    Xu: np.ndarray           # (N, q, p)
    D: np.ndarray            # (N, q, q)
    # padded per-subject matrices (Kenward-Roger and residuals)
    Xp: np.ndarray           # (N, m, p)
    Zp: np.ndarray           # (N, m, q)
    mask: np.ndarray         # (N, m) bool
    U: np.ndarray            # (N, m, q)

    @property
    def p(self) -> int:
        return self.WXX.shape[0]

    @property
    def q(self) -> int:
        return self.D.shape[1]


@dataclass(frozen=True, eq=False)
class ResponseStats:
    """The response's part of the sufficient statistics."""

    Wyy: float
    WXy: np.ndarray          # (p,)
    yu: np.ndarray           # (N, q)
    yp: np.ndarray           # (N, m) padded response


def make_blocks(X: np.ndarray, Z: np.ndarray, y: np.ndarray,
                groups: np.ndarray) -> tuple[Blocks, ResponseStats]:
    """Factor the per-subject designs; ``groups`` holds subject codes 0..N-1 per row."""
    n, p = X.shape
    q = Z.shape[1]
    n_sub = int(groups.max()) + 1
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=n_sub)
    m = int(counts.max())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    Xp = np.zeros((n_sub, m, p))
    Zp = np.zeros((n_sub, m, q))
    yp = np.zeros((n_sub, m))
    mask = np.zeros((n_sub, m), dtype=bool)
    U = np.zeros((n_sub, m, q))
    D = np.zeros((n_sub, q, q))
    Xu = np.zeros((n_sub, q, p))
    yu = np.zeros((n_sub, q))
    WXX = np.zeros((p, p))
    WXy = np.zeros(p)
    Wyy = 0.0
    for i in range(n_sub):
        rows = order[starts[i]:starts[i] + counts[i]]
        k = rows.size
        Xi, Zi, yi = X[rows], Z[rows], y[rows]
        Xp[i, :k], Zp[i, :k], yp[i, :k], mask[i, :k] = Xi, Zi, yi, True
        Ui, s, Wt = np.linalg.svd(Zi, full_matrices=False)
        r = int(np.sum(s > max(Zi.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)))
        U[i, :k, :r] = Ui[:, :r]
        D[i, :r, :] = s[:r, None] * Wt[:r]
        Xu[i, :r] = Ui[:, :r].T @ Xi
        yu[i, :r] = Ui[:, :r].T @ yi
        RX = Xi - Ui[:, :r] @ Xu[i, :r]
        ry = yi - Ui[:, :r] @ yu[i, :r]
        WXX += RX.T @ RX
        WXy += RX.T @ ry
        Wyy += float(ry @ ry)
    blocks = Blocks(n_obs=n, n_i=counts, WXX=WXX, Xu=Xu, D=D, Xp=Xp, Zp=Zp, mask=mask, U=U)
    return blocks, ResponseStats(Wyy=Wyy, WXy=WXy, yu=yu, yp=yp)


# --------------------------------------------------------------------------- theta <-> Lambda
def theta_index(q: int) -> list[tuple[int, int]]:
    """(row, col) of each theta element: lower triangle, column-major (lme4's order)."""
    return [(r, c) for c in range(q) for r in range(c, q)]


def lambda_of(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    for t, (r, c) in zip(theta, theta_index(q)):
        lam[r, c] = t
    return lam


def diagonal_theta(q: int) -> np.ndarray:
    """Boolean mask of the theta elements on the diagonal of Lambda (bounded below by 0)."""
    return np.array([r == c for r, c in theta_index(q)])


def dpsi_dtheta(theta: np.ndarray, q: int) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """First and second derivatives of Psi = Lambda Lambda' with respect to theta."""
    lam = lambda_of(theta, q)
    idx = theta_index(q)
    units = []
    for r, c in idx:
        e = np.zeros((q, q))
        e[r, c] = 1.0
        units.append(e)
    first = [e @ lam.T + lam @ e.T for e in units]
    second = [[a @ b.T + b @ a.T for b in units] for a in units]
    return first, second


# --------------------------------------------------------------------------- profile
@dataclass(eq=False)
class Profile:
    """Everything the deviance and its derivatives need at one theta."""

    theta: np.ndarray
    reml: bool
    n: int
    p: int
    psi: np.ndarray
    Ninv: np.ndarray       # (N, q, q)
    logdetV: float
    XVX: np.ndarray
    C: np.ndarray          # (X'V^-1 X)^-1
    logdetXVX: float
    beta: np.ndarray
    Q: float               # y'Py
    F: np.ndarray          # (N, q, p) = N_i^-1 Xu_i
    e: np.ndarray          # (N, q)    = N_i^-1 (yu_i - Xu_i beta)
    D: np.ndarray
    ok: bool = True
    cache: dict = field(default_factory=dict)

    @property
    def dof(self) -> int:
        return self.n - self.p if self.reml else self.n

    @property
    def sigma2(self) -> float:
        return self.Q / self.dof

    @property
    def deviance(self) -> float:
        """lme4's REMLcrit (REML) or deviance (ML) at the profiled sigma."""
        k = self.dof
        dev = self.logdetV + k * (1.0 + _LOG2PI + np.log(self.Q / k))
        return dev + self.logdetXVX if self.reml else dev


def profile(theta: np.ndarray, blocks: Blocks, resp: ResponseStats, reml: bool) -> Profile:
    """Profile the deviance at ``theta`` (GLS estimate, Q, C)."""
    q = blocks.q
    lam = lambda_of(np.asarray(theta, float), q)
    psi = lam @ lam.T
    Nmat = np.eye(q) + np.einsum("iab,bc,idc->iad", blocks.D, psi, blocks.D)
    cho = np.linalg.cholesky(Nmat)
    logdetV = 2.0 * float(np.sum(np.log(np.diagonal(cho, axis1=1, axis2=2))))
    eye = np.broadcast_to(np.eye(q), Nmat.shape)
    Ninv = np.linalg.solve(Nmat, eye)
    Ninv = 0.5 * (Ninv + np.swapaxes(Ninv, 1, 2))
    F = Ninv @ blocks.Xu
    XVX = blocks.WXX + np.einsum("iap,iaq->pq", blocks.Xu, F)
    XVX = 0.5 * (XVX + XVX.T)
    Niyu = np.einsum("iab,ib->ia", Ninv, resp.yu)
    XVy = resp.WXy + np.einsum("iap,ia->p", blocks.Xu, Niyu)
    yVy = resp.Wyy + float(np.einsum("ia,ia->", resp.yu, Niyu))
    try:
        cx = linalg.cho_factor(XVX, lower=True)
    except linalg.LinAlgError:
        nan = np.full_like(XVX, np.nan)
        return Profile(theta=np.asarray(theta, float), reml=reml, n=blocks.n_obs, p=blocks.p,
                       psi=psi, Ninv=Ninv, logdetV=logdetV, XVX=XVX, C=nan,
                       logdetXVX=np.nan, beta=np.full(blocks.p, np.nan), Q=np.nan, F=F,
                       e=np.full_like(resp.yu, np.nan), D=blocks.D, ok=False)
    beta = linalg.cho_solve(cx, XVy)
    C = linalg.cho_solve(cx, np.eye(blocks.p))
    C = 0.5 * (C + C.T)
    logdetXVX = 2.0 * float(np.sum(np.log(np.diag(cx[0]))))
    Q = yVy - float(XVy @ beta)
    e = np.einsum("iab,ib->ia", Ninv, resp.yu - blocks.Xu @ beta)
    # Q recomputed from the GLS residuals (within part + between part): less cancellation
    rwithin = resp.Wyy - 2.0 * float(resp.WXy @ beta) + float(beta @ blocks.WXX @ beta)
    ru = resp.yu - blocks.Xu @ beta
    Q2 = rwithin + float(np.einsum("ia,ia->", ru, e))
    if np.isfinite(Q2) and Q2 > 0:
        Q = Q2
    return Profile(theta=np.asarray(theta, float), reml=reml, n=blocks.n_obs, p=blocks.p,
                   psi=psi, Ninv=Ninv, logdetV=logdetV, XVX=XVX, C=C,
                   logdetXVX=logdetXVX, beta=beta, Q=max(Q, np.finfo(float).tiny), F=F, e=e,
                   D=blocks.D)


# --------------------------------------------------------------------------- derivatives
def _E(prof: Profile, psi_dir: np.ndarray) -> np.ndarray:
    """Per-subject D_i Psi_dir D_i' (the direction in U coordinates)."""
    return np.einsum("iab,bc,idc->iad", prof.D, psi_dir, prof.D)


def first_terms(prof: Profile, dirs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """tr(V^-1 H), tr(P H), y'PHPy and G = X'V^-1 H V^-1 X for each direction H = Z Psi Z'."""
    Es = [_E(prof, d) for d in dirs]
    trVH = np.array([float(np.einsum("iab,iba->", prof.Ninv, E)) for E in Es])
    G = np.array([np.einsum("iap,iab,ibq->pq", prof.F, E, prof.F) for E in Es])
    trPH = trVH - np.array([float(np.sum(prof.C * g)) for g in G])
    yPHPy = np.array([float(np.einsum("ia,iab,ib->", prof.e, E, prof.e)) for E in Es])
    return {"E": Es, "trVH": trVH, "trPH": trPH, "yPHPy": yPHPy, "G": G}


def pair_terms(prof: Profile, first: dict) -> dict[str, np.ndarray]:
    """tr(V^-1 H_a V^-1 H_b), tr(P H_a P H_b) and y'P H_a P H_b P y for all pairs."""
    Es, G = first["E"], first["G"]
    k = len(Es)
    NE = [prof.Ninv @ E for E in Es]                 # N^-1 E_a
    Fe = [np.einsum("iap,iab,ib->p", prof.F, E, prof.e) for E in Es]  # F'E e (p,)
    a = np.zeros((k, k))
    b = np.zeros((k, k))
    c = np.zeros((k, k))
    yy = np.zeros((k, k))
    CG = [prof.C @ g for g in G]
    for s in range(k):
        for t in range(s, k):
            a[s, t] = float(np.einsum("iab,iba->", NE[s], NE[t]))
            FEF = np.einsum("iap,iab,ibc,icq->pq", prof.F, Es[s], NE[t], prof.F)
            b[s, t] = float(np.sum(prof.C * FEF))
            c[s, t] = float(np.sum(CG[s] * CG[t].T))
            yy[s, t] = (float(np.einsum("ia,iab,ibc,ic->", prof.e, Es[s], NE[t], prof.e))
                        - float(Fe[s] @ prof.C @ Fe[t]))
            a[t, s], b[t, s], c[t, s], yy[t, s] = a[s, t], b[s, t], c[s, t], yy[s, t]
    return {"trVHVH": a, "trPHPH": a - 2.0 * b + c, "yPHPHPy": yy}


def profiled_derivatives(prof: Profile, order: int = 2) -> tuple[float, np.ndarray,
                                                                   np.ndarray | None]:
    """Deviance, gradient and Hessian of the profiled deviance d(theta)."""
    q = prof.D.shape[1]
    d1, d2 = dpsi_dtheta(prof.theta, q)
    ft = first_terms(prof, d1)
    k = len(d1)
    key = "trPH" if prof.reml else "trVH"
    f1 = ft[key]
    Q1 = -ft["yPHPy"]
    dof = prof.dof
    grad = f1 + dof * Q1 / prof.Q
    if order < 2:
        return prof.deviance, grad, None
    pt = pair_terms(prof, ft)
    flat2 = [d2[s][t] for s in range(k) for t in range(k)]
    ft2 = first_terms(prof, flat2)
    f2 = (-(pt["trPHPH"] if prof.reml else pt["trVHVH"])
          + ft2[key].reshape(k, k))
    Q2 = 2.0 * pt["yPHPHPy"] - ft2["yPHPy"].reshape(k, k)
    hess = f2 + dof * (Q2 / prof.Q - np.outer(Q1, Q1) / prof.Q ** 2)
    return prof.deviance, grad, 0.5 * (hess + hess.T)


# --------------------------------------------------------------------------- optimiser
@dataclass(frozen=True, eq=False)
class FitInfo:
    """Outcome of the optimisation."""

    theta: np.ndarray
    deviance: float
    converged: bool
    singular: bool
    gradient: np.ndarray
    hessian_min_eigenvalue: float
    message: str
    n_evaluations: int


def fit(blocks: Blocks, resp: ResponseStats, reml: bool) -> tuple[Profile, FitInfo]:
    """Minimise the profiled deviance over theta (lme4's bounds: diagonal >= 0)."""
    if blocks.q == 1:
        theta, nfev = _fit_1d(blocks, resp, reml)
    else:
        theta, nfev = _fit_nd(blocks, resp, reml)
    prof = profile(theta, blocks, resp, reml)
    return prof, _diagnose(prof, nfev)


def _dev(theta, blocks, resp, reml) -> float:
    prof = profile(np.atleast_1d(theta), blocks, resp, reml)
    return prof.deviance if prof.ok and np.isfinite(prof.deviance) else np.inf


def deviance_1d(thetas: np.ndarray, blocks: Blocks, resp: ResponseStats,
                reml: bool) -> np.ndarray:
    """Profiled deviance of a random-intercept model at many theta at once.

    With ``q = 1``, ``N_i = 1 + d_i^2 theta^2`` is a scalar per subject, so every piece of
    :func:`profile` is a weighted sum over subjects: one batched solve per theta (the same
    arithmetic vectorises over voxels, each with its own response statistics).
    """
    t = np.asarray(thetas, float)
    d2 = blocks.D[:, 0, 0] ** 2                                # (N,)
    Nv = 1.0 + d2[None, :] * t[:, None] ** 2                   # (G, N)
    w = 1.0 / Nv
    xu = blocks.Xu[:, 0, :]                                    # (N, p)
    yu = resp.yu[:, 0]                                         # (N,)
    XVX = blocks.WXX + np.einsum("gi,ip,iq->gpq", w, xu, xu)
    XVy = resp.WXy + np.einsum("gi,ip,i->gp", w, xu, yu)
    yVy = resp.Wyy + w @ (yu * yu)
    out = np.full(t.shape, np.inf)
    try:
        cho = np.linalg.cholesky(XVX)
    except np.linalg.LinAlgError:
        return np.array([_dev(v, blocks, resp, reml) for v in t])
    beta = np.linalg.solve(XVX, XVy[..., None])[..., 0]
    Q = yVy - np.einsum("gp,gp->g", XVy, beta)
    ok = Q > 0
    n, p = blocks.n_obs, blocks.p
    k = n - p if reml else n
    dev = np.log(Nv).sum(axis=1) + k * (1.0 + _LOG2PI + np.log(np.where(ok, Q, 1.0) / k))
    if reml:
        dev = dev + 2.0 * np.log(np.diagonal(cho, axis1=1, axis2=2)).sum(axis=1)
    out[ok] = dev[ok]
    return out


def _fit_1d(blocks: Blocks, resp: ResponseStats, reml: bool) -> tuple[np.ndarray, int]:
    """Grid in log theta, bounded Brent refinement, then Newton polishing."""
    grid = THETA_GRID
    devs = deviance_1d(grid, blocks, resp, reml)
    nfev = grid.size
    k = int(np.argmin(devs))
    if k == 0:
        # boundary candidate: d is even in theta; at 0 its curvature is 2 d(dev)/d(psi)
        _, _, h = profiled_derivatives(profile(np.array([0.0]), blocks, resp, reml))
        nfev += 1
        if h[0, 0] >= 0:
            return np.array([0.0]), nfev
        lo, hi = 0.0, grid[1]
    else:
        lo, hi = grid[k - 1], grid[min(k + 1, grid.size - 1)]
    res = optimize.minimize_scalar(lambda t: _dev(t, blocks, resp, reml), bounds=(lo, hi),
                                   method="bounded", options={"xatol": 1e-9 * max(hi, 1.0)})
    nfev += res.nfev
    t = float(res.x)
    for _ in range(50):
        _, g, h = profiled_derivatives(profile(np.array([t]), blocks, resp, reml))
        nfev += 1
        if not (h[0, 0] > 0):
            break
        step = g[0] / h[0, 0]
        new = min(max(t - step, lo), hi)
        if _dev(new, blocks, resp, reml) > _dev(t, blocks, resp, reml) + 1e-12:
            break
        done = abs(new - t) <= 1e-14 * max(1.0, abs(t))
        t = new
        if done:
            break
    # a boundary optimum reached from the inside
    if t < 1e-7 and _dev(0.0, blocks, resp, reml) <= _dev(t, blocks, resp, reml):
        t = 0.0
    return np.array([t]), nfev


def _fit_nd(blocks: Blocks, resp: ResponseStats, reml: bool) -> tuple[np.ndarray, int]:
    """L-BFGS-B with the analytic gradient from lme4's start, then projected Newton."""
    q = blocks.q
    diag = diagonal_theta(q)
    bounds = [(0.0, None) if d else (None, None) for d in diag]
    nfev = 0

    def fun(th):
        prof = profile(th, blocks, resp, reml)
        if not prof.ok or not np.isfinite(prof.deviance):
            return np.inf, np.zeros_like(th)
        dev, g, _ = profiled_derivatives(prof, order=1)
        return dev, g

    best = None
    for start in (diag.astype(float), 0.5 * diag.astype(float)):
        res = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
        nfev += res.nfev
        if best is None or res.fun < best.fun:
            best = res
    theta = np.array(best.x, float)
    theta[diag] = np.maximum(theta[diag], 0.0)
    # Newton on the free parameters (diagonal elements at 0 stay there)
    for _ in range(60):
        prof = profile(theta, blocks, resp, reml)
        dev, g, h = profiled_derivatives(prof)
        nfev += 1
        free = ~(diag & (theta <= 0.0))
        if not free.any():
            break
        hf = h[np.ix_(free, free)]
        try:
            w = np.linalg.eigvalsh(hf)
        except np.linalg.LinAlgError:
            break
        if w.min() <= 0:
            break
        step = np.zeros_like(theta)
        step[free] = np.linalg.solve(hf, g[free])
        lam = 1.0
        while lam > 1e-6:
            new = theta - lam * step
            new[diag] = np.maximum(new[diag], 0.0)
            if _dev(new, blocks, resp, reml) <= dev + 1e-12 * max(1.0, abs(dev)):
                break
            lam /= 2
        else:
            break
        done = np.max(np.abs(new - theta)) <= 1e-13 * max(1.0, np.max(np.abs(theta)))
        theta = new
        if done:
            break
    return theta, nfev


def _diagnose(prof: Profile, nfev: int) -> FitInfo:
    q = prof.D.shape[1]
    diag = diagonal_theta(q)
    theta = prof.theta
    if not prof.ok or not np.isfinite(prof.deviance):
        return FitInfo(theta=theta, deviance=np.nan, converged=False, singular=False,
                       gradient=np.full(theta.shape, np.nan), hessian_min_eigenvalue=np.nan,
                       message="the deviance is not finite at the solution", n_evaluations=nfev)
    dev, g, h = profiled_derivatives(prof)
    at_bound = diag & (theta <= 0.0)
    free = ~at_bound
    gfree = g[free]
    hfree = h[np.ix_(free, free)]
    min_eig = float(np.linalg.eigvalsh(hfree).min()) if free.any() else np.inf
    # at a zero diagonal element the deviance is even in it: the curvature must be >= 0
    bound_ok = all(h[j, j] >= -1e-8 for j in np.nonzero(at_bound)[0])
    grad_ok = (not gfree.size) or np.max(np.abs(gfree)) < 1e-5
    converged = bool(grad_ok and bound_ok and (not free.any() or min_eig > 0))
    singular = bool(np.any(np.abs(theta[diag]) < 1e-4))   # lme4::isSingular(tol = 1e-4)
    if converged:
        message = "converged"
    else:
        parts = []
        if not grad_ok:
            parts.append(f"gradient {np.max(np.abs(gfree)):.2g} at the solution")
        if free.any() and not min_eig > 0:
            parts.append(f"Hessian not positive definite (smallest eigenvalue {min_eig:.2g})")
        if not bound_ok:
            parts.append("the deviance decreases away from a zero variance")
        message = "; ".join(parts)
    return FitInfo(theta=theta, deviance=dev, converged=converged, singular=singular,
                   gradient=g, hessian_min_eigenvalue=min_eig, message=message,
                   n_evaluations=nfev)
