"""The numerical core of stats.lmm against brute-force dense computations.

The sufficient-statistic formulas (per-subject SVD of Z, q x q pieces) are checked against
the textbook formulas with the full n x n covariance, and every analytic derivative against
central finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from painmarkers._mixedmodels import df as dfm
from painmarkers._mixedmodels import fit as core


def _problem(q, seed=0):
    """Unbalanced design; with q = 2 one subject has a single row (rank-deficient Z_i)."""
    rng = np.random.default_rng(seed)
    sizes = [4, 3, 1, 4, 2, 3, 4, 4] if q == 2 else [3, 1, 2, 3, 3, 2, 3]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    n = groups.size
    t = np.concatenate([np.arange(k) for k in sizes]).astype(float)
    X = np.column_stack([np.ones(n), t, rng.normal(size=n), (groups % 2).astype(float)])
    Z = np.column_stack([np.ones(n), t])[:, :q]
    y = X @ [5.0, -0.4, 0.3, 0.5] + rng.normal(size=n) + rng.normal(size=len(sizes))[groups]
    perm = rng.permutation(n)              # rows of a subject need not be contiguous
    return X[perm], Z[perm], y[perm], groups[perm]


def _dense_deviance(theta, sigma, X, Z, y, groups, reml, profiled):
    """-2 log L from the full covariance (lme4's REMLcrit / deviance)."""
    n, p = X.shape
    q = Z.shape[1]
    lam = core.lambda_of(np.asarray(theta, float), q)
    psi = lam @ lam.T
    V = np.eye(n)
    for g in np.unique(groups):
        idx = np.nonzero(groups == g)[0]
        V[np.ix_(idx, idx)] += Z[idx] @ psi @ Z[idx].T
    Vi = np.linalg.inv(V)
    XVX = X.T @ Vi @ X
    beta = np.linalg.solve(XVX, X.T @ Vi @ y)
    r = y - X @ beta
    Q = r @ Vi @ r
    k = n - p if reml else n
    ld = np.linalg.slogdet(V)[1] + (np.linalg.slogdet(XVX)[1] if reml else 0.0)
    if profiled:
        return ld + k * (1 + np.log(2 * np.pi * Q / k))
    return ld + Q / sigma ** 2 + k * np.log(2 * np.pi * sigma ** 2)


def _num_grad(f, x, h=1e-5):
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        g[j] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _num_hess(f, x, h=1e-4):
    x = np.asarray(x, float)
    k = x.size
    H = np.zeros((k, k))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h
        for j in range(k):
            ej = np.zeros(k)
            ej[j] = h
            H[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h * h)
    return H


THETAS = {1: [np.array([0.0]), np.array([0.37]), np.array([2.5])],
          2: [np.array([0.8, -0.3, 0.4]), np.array([1.3, 0.2, 0.0])]}


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("q", "i"), [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1)])
def test_profile_matches_dense_formulas(q, i, reml):
    X, Z, y, g = _problem(q)
    blocks, resp = core.make_blocks(X, Z, y, g)
    theta = THETAS[q][i]
    prof = core.profile(theta, blocks, resp, reml)
    assert_allclose(prof.deviance, _dense_deviance(theta, 1, X, Z, y, g, reml, True),
                    rtol=1e-12)
    if q == 1:
        assert_allclose(core.deviance_1d(theta, blocks, resp, reml), prof.deviance, rtol=1e-12)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("q", "i"), [(1, 1), (1, 2), (2, 0)])
def test_profiled_derivatives_match_finite_differences(q, i, reml):
    X, Z, y, g = _problem(q)
    blocks, resp = core.make_blocks(X, Z, y, g)
    theta = THETAS[q][i]
    _, grad, hess = core.profiled_derivatives(core.profile(theta, blocks, resp, reml))

    def f(t):
        return _dense_deviance(t, 1, X, Z, y, g, reml, True)

    assert_allclose(grad, _num_grad(f, theta), rtol=1e-6, atol=1e-7)
    assert_allclose(hess, _num_hess(f, theta), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("q", [1, 2])
def test_satterthwaite_hessian_and_jacobian_match_finite_differences(q, reml):
    """H of D(theta, sigma) and d vcov(beta) / d(theta, sigma) at the optimum (lmerTest's)."""
    X, Z, y, g = _problem(q, seed=2)
    blocks, resp = core.make_blocks(X, Z, y, g)
    prof, info = core.fit(blocks, resp, reml)
    assert info.converged
    state = dfm.satterthwaite_state(prof)
    varpar = np.append(prof.theta, np.sqrt(prof.sigma2))
    k = prof.theta.size

    def dev(v):
        return _dense_deviance(v[:k], v[k], X, Z, y, g, reml, False)

    assert_allclose(state.hessian, _num_hess(dev, varpar), rtol=1e-5, atol=1e-5)

    def vcov(v):
        p = core.profile(v[:k], blocks, resp, reml)
        return v[k] ** 2 * p.C

    h = 1e-6
    for j in range(k + 1):
        e = np.zeros(k + 1)
        e[j] = h
        num = (vcov(varpar + e) - vcov(varpar - e)) / (2 * h)
        assert_allclose(state.jacobian[j], num, rtol=1e-6, atol=1e-9)


def test_fit_reaches_the_dense_optimum():
    """Stationary for the dense deviance, and no random theta does better."""
    X, Z, y, g = _problem(2, seed=4)
    blocks, resp = core.make_blocks(X, Z, y, g)
    prof, info = core.fit(blocks, resp, True)
    assert info.converged and not info.singular

    def f(t):
        return _dense_deviance(t, 1, X, Z, y, g, True, True)

    assert np.max(np.abs(_num_grad(f, prof.theta))) < 1e-6
    assert np.all(np.linalg.eigvalsh(_num_hess(f, prof.theta)) > 0)
    rng = np.random.default_rng(0)
    others = rng.normal(size=(200, 3)) * [2, 1, 2]
    others[:, [0, 2]] = np.abs(others[:, [0, 2]])      # lme4's bounds: diagonal >= 0
    assert all(f(t) >= prof.deviance - 1e-9 for t in others)


def test_satterthwaite_df_of_a_balanced_contrast_is_classical():
    """Additive balanced model: a within-subject contrast has the (N-1)(t-1) error df."""
    rng = np.random.default_rng(3)
    n_sub, t = 12, 3
    groups = np.repeat(np.arange(n_sub), t)
    visit = np.tile(np.arange(t), n_sub)
    arm = (groups >= 6).astype(float)
    X = np.column_stack([np.ones(groups.size), arm, visit == 1, visit == 2]).astype(float)
    y = X @ [5, 0.3, -0.5, -0.8] + rng.normal(size=n_sub)[groups] * 1.5 + rng.normal(
        size=groups.size)
    blocks, resp = core.make_blocks(X, np.ones((groups.size, 1)), y, groups)
    prof, _ = core.fit(blocks, resp, True)
    state = dfm.satterthwaite_state(prof)
    for ell in ([0, 0, 1.0, 0], [0, 0, 1.0, -1.0]):
        assert_allclose(dfm.satterthwaite_df(state, np.array(ell)), (n_sub - 1) * (t - 1),
                        rtol=1e-8)
