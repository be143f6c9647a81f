"""The random-intercept LMM for many responses at once: one design, one response per voxel.

The model of :mod:`.fit` with ``Z = 1`` (a random intercept per subject) is fitted to
``V`` responses that share ``X`` and the subjects, as array operations over a leading voxel
axis.  Every step is the one the single-response code takes (and gives its numbers):

1. *Sufficient statistics.*  With ``U_i = 1/sqrt(n_i)`` (the eigenvector of
   ``V_i = I + theta^2 11'`` with eigenvalue ``N_i = 1 + n_i theta^2``; every other
   eigenvalue is 1), the design gives ``WXX = sum_i X_i'(I - U_iU_i')X_i`` and
   ``xu_i = U_i'X_i`` once, and each voxel only ``Wyy = sum_i ||y_i - U_iU_i'y_i||^2``,
   ``WXy`` and ``yu_i = U_i'y_i``: ``N + p + 1`` numbers.  :class:`Accumulator` collects
   them from row blocks of images, each subject's rows shifted by that subject's first
   image (and every row by the first image when the columns of ``X`` span the constant),
   so no sum of squares loses precision to the maps' offset.
2. *Profile.*  With ``w_i = 1/N_i``: ``X'V^-1X = WXX + sum_i w_i xu_i xu_i'`` (a
   ``(V, p, p)`` stack: one matrix product of the ``(V, N)`` weights with the
   ``(N, p^2)`` outer products), ``X'V^-1y``, the GLS estimate, ``Q = y'Py`` and the
   REML / ML deviance, all batched.
3. *Optimiser, in lockstep.*  The deviance of every voxel on the grid of :mod:`.fit`
   (``theta = 0`` and 57 log-spaced values, 1e-4 to 1e3; ``X'V^-1X`` is the same for all
   voxels at a grid point); the grid minimum brackets the optimum exactly as in
   :func:`.fit._fit_1d`.  A minimum at ``theta = 0`` with a non-negative curvature there
   (the deviance is even in theta) is the boundary fit ``theta = 0``.  Otherwise a
   safeguarded Newton iteration on the analytic gradient and Hessian (Newton step inside
   the bracket, bisection on the sign of the gradient otherwise) runs for all voxels at
   once until the step is below 1e-14 relative, as the single-response Newton polish
   does; a final ``theta < 1e-7`` is set to 0 when the deviance there is not larger.
   A grid minimum at the last point (theta = 1e3) with the deviance still decreasing
   stops there, as the single-response Newton polish does (a variance ratio beyond 1e6,
   reported as not converged).  Voxels whose bracket does not hold a sign change of the
   gradient (checked when a bisection step is first needed) or that do not converge in
   100 steps are refitted one by one with the single-response optimiser (counted as
   ``n_fallback``).
4. *Inference* (:mod:`.batch_infer`).  lmerTest's Satterthwaite df (analytic Hessian of
   the deviance in ``(theta, sigma)`` and Jacobian of ``sigma^2 C``, 2 x 2 per voxel) and
   pbkrtest's Kenward-Roger adjusted covariance (``Sigma = gamma_1 ZZ' + gamma_2 I``;
   every trace is a weighted sum over subjects), for each coefficient and for each Type
   III hypothesis (lmerTest's eigen-rotation and df combination for a q-df F).

Derivatives.  With unit-direction sums ``S1 = sum n_i w_i``, ``M1 = sum n_i w_i^2 xu xu'``,
``S2 = sum n_i^2 w_i^2``, ``M2 = sum n_i^2 w_i^3 xu xu'``, ``e_i = w_i (yu_i - xu_i'b)``,
``Y1 = sum n_i e_i^2``, ``Y2 = sum n_i^2 w_i e_i^2`` and ``f = sum n_i w_i e_i xu_i``:
``tr(PH) = 2 theta (S1 - tr(C M1))``, ``y'PHPy = 2 theta Y1``,
``tr(PHPH) = 4 theta^2 (S2 - 2 tr(C M2) + tr(C M1 C M1))``,
``y'PHPHPy = 4 theta^2 (Y2 - f'Cf)``, and the second-derivative direction of
``Psi = theta^2`` is the constant 2 (see :func:`.fit.profiled_derivatives`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from painmarkers._mixedmodels.fit import (
    _LOG2PI,
    THETA_GRID,
    Blocks,
    ResponseStats,
    _fit_1d,
    make_blocks,
)

__all__: list[str] = []

_TINY = np.finfo(float).tiny
#: Voxels fitted together (bounds memory: a few (block, N) and (block, p, p) arrays).
VOXEL_BLOCK = 4096
#: Residual sum of squares below this share of the total: the voxel has zero variance.
ZERO_VARIANCE = 1e-12

#: Bits of the status map.
SINGULAR, NOT_CONVERGED, ZERO_VAR, FAILED = 1, 2, 4, 8


# --------------------------------------------------------------------------- statistics
@dataclass(frozen=True, eq=False)
class RIDesign:
    """Design-only sufficient statistics of a random-intercept model."""

    blocks: Blocks          # as :func:`.fit.make_blocks` makes them (single-response fallback)
    n_i: np.ndarray         # (N,) rows per subject
    d2: np.ndarray          # (N,) D_i^2 (= n_i)
    u: np.ndarray           # (N,) the entry of U_i (+-1/sqrt(n_i), the SVD's sign)
    xu: np.ndarray          # (N, p) U_i'X_i
    xx: np.ndarray          # (N, p(p+1)/2) upper triangle of xu_i xu_i'
    unpack: np.ndarray      # (p*p,) position in xx of each element of a p x p matrix
    RX: np.ndarray          # (n, p) X_i - U_iU_i'X_i, in the rows' order
    groups: np.ndarray      # (n,) subject code of each row
    ones_coef: np.ndarray | None   # X c = 1 (None when the constant is not in span(X))

    @property
    def n(self) -> int:
        return int(self.RX.shape[0])

    @property
    def p(self) -> int:
        return int(self.xu.shape[1])

    @property
    def N(self) -> int:
        return int(self.xu.shape[0])


def ri_design(X: np.ndarray, groups: np.ndarray) -> RIDesign:
    """The design statistics of ``X`` with a random intercept per subject (codes 0..N-1)."""
    n, p = X.shape
    blocks, _ = make_blocks(X, np.ones((n, 1)), np.zeros(n), groups)
    n_i = blocks.n_i.astype(float)
    u = blocks.U[:, 0, 0]
    xu = blocks.Xu[:, 0, :]
    RX = X - u[groups, None] * xu[groups]
    coef = np.linalg.lstsq(X, np.ones(n), rcond=None)[0]
    spans = np.max(np.abs(X @ coef - 1.0)) < 1e-10
    rows, cols = np.triu_indices(p)
    pos = np.empty((p, p), int)
    pos[rows, cols] = pos[cols, rows] = np.arange(rows.size)
    return RIDesign(blocks=blocks, n_i=n_i, d2=blocks.D[:, 0, 0] ** 2, u=u, xu=xu,
                    xx=np.ascontiguousarray(xu[:, rows] * xu[:, cols]),
                    unpack=pos.ravel(), RX=RX,
                    groups=np.asarray(groups), ones_coef=coef if spans else None)


@dataclass(frozen=True, eq=False)
class RIResponses:
    """Per-voxel sufficient statistics (voxel axis first)."""

    Wyy: np.ndarray         # (V,)
    WXy: np.ndarray         # (V, p)
    yu: np.ndarray          # (V, N)
    tss: np.ndarray         # (V,) sum of squares about the grand mean (zero-variance scale)
    offset: np.ndarray      # (V,) constant subtracted from every row (0 if not spanned)

    def take(self, sel) -> RIResponses:
        return RIResponses(self.Wyy[sel], self.WXy[sel], self.yu[sel], self.tss[sel],
                           self.offset[sel])


class Accumulator:
    """Collect :class:`RIResponses` from blocks of rows (images), each read once."""

    def __init__(self, design: RIDesign, n_voxels: int, neighbours: tuple | None = None):
        self.des = design
        # (used, nx, ny, nz) voxel positions: lag-1 cross products of the subject-centred
        # data along x, y, z (for the smoothness of the residuals)
        self.neighbours = neighbours
        self.cross = None if neighbours is None else np.zeros((3, len(neighbours[0])))
        N, p = design.N, design.p
        self.offset: np.ndarray | None = None
        self.first = np.zeros((N, n_voxels))     # each subject's first row (after offset)
        self.seen = np.zeros(N, bool)
        self.sums = np.zeros((N, n_voxels))      # sum over a subject's rows of (y - first)
        self.ss = np.zeros(n_voxels)             # sum of (y - first)^2
        self.wxy = np.zeros((p, n_voxels))
        self.count = 0

    def add(self, rows, values: np.ndarray) -> None:
        """Rows ``rows`` (indices into the design) with values of shape (len(rows), V)."""
        rows = np.asarray(rows, int)
        values = np.asarray(values, float)
        if self.offset is None:
            self.offset = (values[0].copy() if self.des.ones_coef is not None
                           else np.zeros(values.shape[1]))
        values = values - self.offset
        g = self.des.groups[rows]
        for r, gi in enumerate(g):
            if not self.seen[gi]:
                self.first[gi] = values[r]
                self.seen[gi] = True
        dev = values - self.first[g]
        for r, gi in enumerate(g):
            self.sums[gi] += dev[r]
        self.ss += np.einsum("rv,rv->v", dev, dev)
        self.wxy += self.des.RX[rows].T @ dev
        if self.neighbours is not None:
            # voxel-major copy: gathering whole rows is faster than gathering columns
            dt = np.ascontiguousarray(dev.T)
            du = dt[self.neighbours[0]]
            for d, nb in enumerate(self.neighbours[1:]):
                self.cross[d] += np.einsum("vr,vr->v", du, dt[nb])
        self.count += len(rows)

    def finish(self, keep=None) -> RIResponses:
        """The statistics of the voxels ``keep`` (all by default) once every row was added."""
        if self.count != self.des.n or not self.seen.all():
            raise RuntimeError(f"{self.count} of {self.des.n} rows were accumulated")
        sel = slice(None) if keep is None else keep
        n_i = self.des.n_i[:, None]
        sums, first = self.sums[:, sel], self.first[:, sel]
        within = self.ss[sel] - np.sum(sums * sums / n_i, axis=0)
        means = first + sums / n_i                                  # subject means (N, V)
        grand = np.sum(n_i * means, axis=0) / self.des.n
        tss = np.maximum(within, 0.0) + np.sum(n_i * (means - grand) ** 2, axis=0)
        yu = (self.des.u[:, None] * (sums + n_i * first)).T
        return RIResponses(Wyy=np.maximum(within, 0.0), WXy=self.wxy[:, sel].T.copy(),
                           yu=np.ascontiguousarray(yu), tss=tss,
                           offset=self.offset[sel].copy())


def responses(design: RIDesign, Y: np.ndarray) -> RIResponses:
    """:class:`RIResponses` of a response matrix ``Y`` (rows of the design x voxels)."""
    acc = Accumulator(design, Y.shape[1])
    acc.add(np.arange(design.n), Y)
    return acc.finish()


# --------------------------------------------------------------------------- profile
@dataclass(eq=False)
class _Prof:
    """The profiled quantities of every voxel at its theta (see :func:`.fit.profile`)."""

    theta: np.ndarray       # (V,)
    w: np.ndarray           # (V, N)
    C: np.ndarray           # (V, p, p) (X'V^-1X)^-1
    beta: np.ndarray        # (V, p)
    Q: np.ndarray           # (V,)
    e: np.ndarray           # (V, N) w_i (yu_i - xu_i'b)
    deviance: np.ndarray    # (V,)
    dof: int
    reml: bool
    ok: np.ndarray          # (V,) finite and positive definite

    @property
    def sigma2(self) -> np.ndarray:
        return self.Q / self.dof


def _gram(des: RIDesign, wts: np.ndarray) -> np.ndarray:
    """``sum_i wts_i xu_i xu_i'`` for each voxel: (V, p, p) (one product, upper triangle)."""
    return (wts @ des.xx)[:, des.unpack].reshape(len(wts), des.p, des.p)


def _profile(des: RIDesign, resp: RIResponses, theta: np.ndarray, reml: bool,
             deviance: bool = True) -> _Prof:
    """GLS fit at ``theta`` (:func:`.fit.profile`); ``deviance=False`` skips the deviance."""
    V, p = len(theta), des.p
    Nv = 1.0 + des.d2[None, :] * theta[:, None] ** 2
    w = 1.0 / Nv
    XVX = des.blocks.WXX[None] + _gram(des, w)
    XVX = 0.5 * (XVX + np.swapaxes(XVX, 1, 2))
    XVy = resp.WXy + (w * resp.yu) @ des.xu
    C = np.linalg.inv(XVX)
    C = 0.5 * (C + np.swapaxes(C, 1, 2))
    beta = np.einsum("vpq,vq->vp", C, XVy)
    ru = resp.yu - beta @ des.xu.T
    e = w * ru
    WXX = des.blocks.WXX
    rwithin = (resp.Wyy - 2.0 * np.einsum("vp,vp->v", resp.WXy, beta)
               + np.einsum("vp,pq,vq->v", beta, WXX, beta))
    Q = rwithin + np.einsum("vi,vi->v", ru, e)
    bad = ~(np.isfinite(Q) & (Q > 0))
    if bad.any():                            # the other form of Q (as the single fit)
        yVy = resp.Wyy + np.einsum("vi,vi->v", w, resp.yu * resp.yu)
        Q1 = yVy - np.einsum("vp,vp->v", XVy, beta)
        Q = np.where(bad, Q1, Q)
    Q = np.maximum(Q, _TINY)
    ok = np.isfinite(Q) & np.all(np.isfinite(beta), axis=1)
    n = des.n
    dof = n - p if reml else n
    dev = np.full(V, np.nan)
    if deviance:
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.sum(np.log(Nv), axis=1) + dof * (1.0 + _LOG2PI + np.log(Q / dof))
            if reml:
                sign, logdet = np.linalg.slogdet(XVX)
                dev = dev + np.where(sign > 0, logdet, np.nan)
        ok &= np.isfinite(dev)
    return _Prof(theta=theta, w=w, C=C, beta=beta, Q=Q, e=e, deviance=dev, dof=dof,
                 reml=reml, ok=ok)


@dataclass(eq=False)
class _Sums:
    """Unit-direction pieces of the derivatives (see the module docstring)."""

    f_u: np.ndarray         # tr(PH) (REML) or tr(V^-1 H) (ML) per unit direction
    ff_u: np.ndarray        # tr(PHPH) or tr(V^-1HV^-1H)
    Y1: np.ndarray
    yy_u: np.ndarray        # Y2 - f'Cf
    M1: np.ndarray          # (V, p, p)


def _sums(des: RIDesign, prof: _Prof) -> _Sums:
    w, d2, C = prof.w, des.d2, prof.C
    S1 = w @ d2
    M1 = _gram(des, w * w * d2)
    S2 = (w * w) @ (d2 * d2)
    M2 = _gram(des, w ** 3 * d2 * d2)
    e2 = prof.e * prof.e
    Y1 = e2 @ d2
    Y2 = (w * e2) @ (d2 * d2)
    fe = (w * prof.e * d2) @ des.xu
    CM1 = C @ M1
    trCM1 = np.einsum("vab,vba->v", C, M1)
    trCM2 = np.einsum("vab,vba->v", C, M2)
    trCM1CM1 = np.einsum("vab,vba->v", CM1, CM1)
    yy_u = Y2 - np.einsum("va,vab,vb->v", fe, C, fe)
    if prof.reml:
        f_u, ff_u = S1 - trCM1, S2 - 2.0 * trCM2 + trCM1CM1
    else:
        f_u, ff_u = S1, S2
    return _Sums(f_u=f_u, ff_u=ff_u, Y1=Y1, yy_u=yy_u, M1=M1)


def _derivatives(prof: _Prof, sm: _Sums) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the profiled deviance in theta (as
    :func:`.fit.profiled_derivatives`)."""
    t, Q, dof = prof.theta, prof.Q, prof.dof
    Q1 = -2.0 * t * sm.Y1
    grad = 2.0 * t * sm.f_u + dof * Q1 / Q
    f2 = -(2.0 * t) ** 2 * sm.ff_u + 2.0 * sm.f_u
    Q2 = 2.0 * (2.0 * t) ** 2 * sm.yy_u - 2.0 * sm.Y1
    hess = f2 + dof * (Q2 / Q - Q1 * Q1 / Q ** 2)
    return grad, hess


def _grad_hess(des, resp, theta, reml):
    prof = _profile(des, resp, theta, reml, deviance=False)
    with np.errstate(all="ignore"):
        g, h = _derivatives(prof, _sums(des, prof))
    bad = ~(prof.ok & np.isfinite(g) & np.isfinite(h))
    return g, h, bad


def grid_deviance(des: RIDesign, resp: RIResponses,
                  reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """Deviance of every voxel at every theta of the grid, (G, V) (as :func:`.fit.deviance_1d`),
    and the residual sum of squares of the OLS fit (theta = 0), (V,)."""
    grid = THETA_GRID
    p, n = des.p, des.n
    dof = n - p if reml else n
    out = np.full((grid.size, len(resp.Wyy)), np.inf)
    yu2 = resp.yu * resp.yu
    for k, t in enumerate(grid):
        Nv = 1.0 + des.d2 * t * t
        w = 1.0 / Nv
        XVX = des.blocks.WXX + (w @ des.xx)[des.unpack].reshape(p, p)
        cho = np.linalg.cholesky(XVX)
        XVy = resp.WXy + (resp.yu * w) @ des.xu                   # (V, p)
        beta = np.linalg.solve(XVX, XVy.T).T
        yVy = resp.Wyy + yu2 @ w
        Q = yVy - np.einsum("vp,vp->v", XVy, beta)
        okq = Q > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = np.log(Nv).sum() + dof * (1.0 + _LOG2PI + np.log(np.where(okq, Q, 1.0) / dof))
        if reml:
            dev = dev + 2.0 * np.log(np.diag(cho)).sum()
        out[k, okq] = dev[okq]
        if k == 0:
            rss = Q
    return out, rss


# --------------------------------------------------------------------------- optimiser
def _scalar_theta(des: RIDesign, resp: RIResponses, v: int, reml: bool) -> float:
    """theta of voxel ``v`` from the single-response optimiser (:func:`.fit._fit_1d`)."""
    rs = ResponseStats(Wyy=float(resp.Wyy[v]), WXy=resp.WXy[v].copy(),
                       yu=resp.yu[v][:, None].copy(), yp=np.zeros(0))
    theta, _ = _fit_1d(des.blocks, rs, reml)
    return float(theta[0])


def _start(devs: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through the grid deviances around ``k`` (in log theta)."""
    grid = THETA_GRID
    last = grid.size - 1
    start = grid[k].copy()
    ok = (k >= 2) & (k < last)
    if ok.any():
        kk = k[ok]
        cols = np.flatnonzero(ok)
        d0, d1, d2 = devs[kk - 1, cols], devs[kk, cols], devs[kk + 1, cols]
        h = np.log(grid[2] / grid[1])                       # uniform step in log theta
        curv = d0 - 2.0 * d1 + d2
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curv > 0, 0.5 * h * (d0 - d2) / curv, 0.0)
        shift = np.clip(np.where(np.isfinite(shift), shift, 0.0), -0.9 * h, 0.9 * h)
        start[ok] = grid[kk] * np.exp(shift)
    return start


def fit_theta(des: RIDesign, resp: RIResponses, reml: bool, devs: np.ndarray,
              max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The REML / ML theta of every voxel from its grid deviances ``devs`` (G, V).

    Also returns which voxels needed the single-response optimiser.
    """
    V = len(resp.Wyy)
    grid = THETA_GRID
    last = grid.size - 1
    k = np.argmin(devs, axis=0)
    theta = np.zeros(V)
    fallback = ~np.isfinite(devs[k, np.arange(V)])
    lo = np.where(k > 0, grid[np.maximum(k - 1, 0)], 0.0)
    hi = grid[np.minimum(k + 1, last)]
    start = _start(devs, k)
    start[k == last] = 0.5 * (grid[last - 1] + grid[last])
    solve = (k > 0) & ~fallback
    # minimum at the end of the grid: still decreasing there, the single-response Newton
    # polish stops at the bound (theta = 1e3, subject / residual variance 1e6; reported
    # as not converged); otherwise the minimum is inside (grid[-2], grid[-1])
    end = np.flatnonzero((k == last) & ~fallback)
    if end.size:
        g_end, _, bad_end = _grad_hess(des, resp.take(end), np.full(end.size, grid[last]), reml)
        fallback[end[bad_end]] = True
        stop = end[~bad_end & (g_end < 0)]
        theta[stop] = grid[last]
        solve[end[bad_end]] = solve[stop] = False
    # boundary candidates: the curvature at 0 decides (the deviance is even in theta)
    at0 = np.flatnonzero((k == 0) & ~fallback)
    if at0.size:
        _, h0, bad0 = _grad_hess(des, resp.take(at0), np.zeros(at0.size), reml)
        fallback[at0[bad0]] = True
        inner = at0[~bad0 & ~(h0 >= 0)]
        start[inner] = 0.5 * grid[1]
        solve[inner] = True
    idx = np.flatnonzero(solve)
    if idx.size:
        theta[idx], ok = _newton(des, resp.take(idx), reml, lo[idx], hi[idx], start[idx],
                                 max_iter)
        fallback[idx[~ok]] = True
        # a boundary optimum reached from the inside (as the single-response fit)
        small = idx[ok & (theta[idx] < 1e-7)]
        if small.size:
            rs = resp.take(small)
            d0 = _profile(des, rs, np.zeros(small.size), reml).deviance
            dt = _profile(des, rs, theta[small], reml).deviance
            theta[small[d0 <= dt]] = 0.0
    for v in np.flatnonzero(fallback):
        theta[v] = _scalar_theta(des, resp, int(v), reml)
    return theta, fallback


def _newton(des, resp, reml, a, b, t, max_iter):
    """Safeguarded Newton on the gradient in the brackets (a, b), all voxels in lockstep.

    A Newton step inside the bracket is taken; otherwise the bracket is bisected, which
    needs a sign change of the gradient over the original bracket (checked on first use:
    the gradient must be < 0 at ``a``, or ``a = 0`` with negative curvature there, and
    > 0 at ``b``).  Stops when the step is below 1e-14 relative (the single-response
    Newton polish's criterion).  Returns theta and whether it converged.
    """
    a, b, t = a.copy(), b.copy(), t.copy()
    lo0, hi0 = a.copy(), b.copy()
    V = len(t)
    ok = np.ones(V, bool)
    checked = np.zeros(V, bool)
    active = np.ones(V, bool)
    for _ in range(max_iter):
        act = np.flatnonzero(active)
        if not act.size:
            break
        g, h, bad = _grad_hess(des, resp.take(act), t[act], reml)
        if bad.any():
            ok[act[bad]] = active[act[bad]] = False
            act, g, h = act[~bad], g[~bad], h[~bad]
        ta = t[act]
        neg = g < 0
        a[act] = np.where(neg, ta, a[act])
        b[act] = np.where(neg, b[act], ta)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = ta - g / h
        use = (h > 0) & (newton > a[act]) & (newton < b[act])
        need = act[~use & ~checked[act]]
        if need.size:                                      # first bisection: check ends
            r = resp.take(need)
            ga, ha, bada = _grad_hess(des, r, lo0[need], reml)
            gb, _, badb = _grad_hess(des, r, hi0[need], reml)
            valid = ~bada & ~badb & ((ga < 0) | ((lo0[need] == 0) & (ha < 0))) & (gb > 0)
            checked[need] = True
            ok[need[~valid]] = active[need[~valid]] = False
        new = np.where(use, newton, 0.5 * (a[act] + b[act]))
        scale = np.maximum(1.0, np.abs(ta))
        done = (g == 0) | (use & (np.abs(new - ta) <= 1e-14 * scale)) | (
            b[act] - a[act] <= 1e-15 * scale)
        t[act] = np.where(g == 0, ta, new)
        active[act[done]] = False
    ok &= ~active                                          # not converged in max_iter
    return t, ok


# --------------------------------------------------------------------------- the fit
@dataclass(eq=False)
class BatchFit:
    """Everything inference needs at the optimum of every voxel."""

    prof: _Prof
    sums: _Sums
    gradient: np.ndarray
    hessian: np.ndarray
    converged: np.ndarray
    singular: np.ndarray
    zero_variance: np.ndarray
    fallback: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def theta(self) -> np.ndarray:
        return self.prof.theta

    @property
    def sigma2(self) -> np.ndarray:
        return self.prof.sigma2


def fit(des: RIDesign, resp: RIResponses, reml: bool) -> BatchFit:
    """Fit every voxel (see the module docstring); zero-variance voxels stay at theta = 0."""
    V = len(resp.Wyy)
    devs, rss = grid_deviance(des, resp, reml)
    zero = (resp.tss <= 0) | (rss <= ZERO_VARIANCE * resp.tss)
    theta = np.zeros(V)
    fallback = np.zeros(V, bool)
    live = np.flatnonzero(~zero)
    if live.size:
        theta[live], fallback[live] = fit_theta(des, resp.take(live), reml, devs[:, live])
    prof = _profile(des, resp, theta, reml)
    with np.errstate(all="ignore"):
        sm = _sums(des, prof)
        g, h = _derivatives(prof, sm)
    at_bound = theta <= 0.0
    converged = np.where(at_bound, h >= -1e-8, (np.abs(g) < 1e-5) & (h > 0))
    return BatchFit(prof=prof, sums=sm, gradient=g, hessian=h,
                    converged=converged & prof.ok & ~zero,
                    singular=(np.abs(theta) < 1e-4) & ~zero, zero_variance=zero,
                    fallback=fallback)
