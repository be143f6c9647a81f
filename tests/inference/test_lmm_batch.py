"""The voxelwise core (painmarkers._mixedmodels.batch / batch_infer) against the
single-response core it vectorises (painmarkers._mixedmodels.fit / df), piece by piece.

The single-response core is itself checked against dense textbook formulas and finite
differences (tests/stats/test_lmm_core.py) and against lme4 / lmerTest / pbkrtest.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from painmarkers._mixedmodels import batch, batch_infer
from painmarkers._mixedmodels import df as dfm
from painmarkers._mixedmodels import fit as core


def _problem(seed=0, n_vox=40):
    """Unbalanced random-intercept design (1 to 4 rows per subject), responses per voxel."""
    rng = np.random.default_rng(seed)
    sizes = [3, 1, 2, 3, 3, 2, 3, 4, 2, 3, 3, 1]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    n = groups.size
    t = np.concatenate([np.arange(k) for k in sizes]).astype(float)
    X = np.column_stack([np.ones(n), t, rng.normal(size=n), (groups % 2).astype(float)])
    perm = rng.permutation(n)                       # rows of a subject need not be adjacent
    X, groups = X[perm], groups[perm]
    ratio = np.resize([0.0, 0.1, 1.0, 10.0, 300.0], n_vox)
    Y = (X @ rng.normal(size=(4, n_vox)) + rng.normal(size=(len(sizes), n_vox))[groups]
         * np.sqrt(ratio) + rng.normal(size=(n, n_vox)))
    return X, groups, Y


def _single(X, groups, y):
    return core.make_blocks(X, np.ones((len(y), 1)), y, groups)


@pytest.mark.parametrize("reml", [True, False])
def test_profile_and_derivatives_equal_the_single_response_core(reml):
    X, groups, Y = _problem()
    des = batch.ri_design(X, groups)
    resp = batch.responses(des, Y)
    for theta in (0.0, 0.2, 1.7, 40.0):
        th = np.full(Y.shape[1], theta)
        prof = batch._profile(des, resp, th, reml)
        g, h = batch._derivatives(prof, batch._sums(des, prof))
        for v in range(0, Y.shape[1], 7):
            blocks, rs = _single(X, groups, Y[:, v])
            ref = core.profile(np.array([theta]), blocks, rs, reml)
            dev, grad, hess = core.profiled_derivatives(ref)
            # the batch works on the responses minus an offset (the intercept absorbs it)
            beta = prof.beta[v] + resp.offset[v] * des.ones_coef
            assert_allclose(beta, ref.beta, rtol=1e-10, atol=1e-12)
            assert_allclose(prof.Q[v], ref.Q, rtol=1e-10)
            assert_allclose(prof.deviance[v], dev, rtol=1e-12)
            assert_allclose(g[v], grad[0], rtol=1e-8, atol=1e-9)
            assert_allclose(h[v], hess[0, 0], rtol=1e-8, atol=1e-9)
    devs, _ = batch.grid_deviance(des, resp, reml)
    blocks, rs = _single(X, groups, Y[:, 3])
    assert_allclose(devs[:, 3], core.deviance_1d(core.THETA_GRID, blocks, rs, reml),
                    rtol=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_lockstep_theta_equals_the_single_response_optimiser(reml):
    X, groups, Y = _problem(seed=1, n_vox=60)
    des = batch.ri_design(X, groups)
    resp = batch.responses(des, Y)
    devs, _ = batch.grid_deviance(des, resp, reml)
    theta, fallback = batch.fit_theta(des, resp, reml, devs)
    assert not fallback.any()
    ref = np.array([core.fit(*_single(X, groups, Y[:, v]), reml)[1].theta[0]
                    for v in range(Y.shape[1])])
    assert_allclose(theta, ref, rtol=1e-8, atol=1e-12)
    assert np.sum(ref == 0) >= 5                    # boundary fits among them
    # with no Newton step allowed every voxel takes the single-response path: same theta
    slow, all_fallback = batch.fit_theta(des, resp, reml, devs, max_iter=0)
    assert all_fallback[theta > 0].all()
    assert_allclose(slow, ref, rtol=1e-12, atol=0)


def test_accumulated_statistics_do_not_depend_on_blocks_order_or_offset():
    X, groups, Y = _problem(seed=2, n_vox=25)
    des = batch.ri_design(X, groups)
    whole = batch.responses(des, Y)
    acc = batch.Accumulator(des, Y.shape[1])
    order = np.random.default_rng(0).permutation(len(Y))
    for chunk in np.array_split(order, 5):
        acc.add(chunk, Y[chunk])
    parts = acc.finish()
    _, rs = _single(X, groups, Y[:, 4])
    # the voxel's statistics are those of the single-response core, up to the offset
    # (the first row of the block order), which only moves the intercept
    for stats in (whole, parts):
        assert_allclose(stats.Wyy[4], rs.Wyy, rtol=1e-10)
        assert_allclose(stats.WXy[4], rs.WXy, rtol=1e-9, atol=1e-10)
    shifted = batch.responses(des, Y + 1e4)
    assert_allclose(shifted.Wyy, whole.Wyy, rtol=1e-8)
    assert_allclose(shifted.offset - whole.offset, 1e4)


def test_satterthwaite_and_kenward_roger_states_equal_the_single_response_ones():
    X, groups, Y = _problem(seed=3, n_vox=30)
    des = batch.ri_design(X, groups)
    resp = batch.responses(des, Y)
    bf = batch.fit(des, resp, True)
    sat = batch_infer.satterthwaite_state(bf)
    kr = batch_infer.kr_state(des, bf)
    L = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, -1.0]])
    F_s = batch_infer.sat_ftest(sat, bf.prof.beta, L)
    F_k = batch_infer.kr_ftest(kr, bf.prof.beta, L)
    rows_s = batch_infer.sat_rows(sat, bf.prof.beta, np.eye(4))
    rows_k = batch_infer.kr_rows(kr, bf.prof.beta, np.eye(4))
    for v in range(Y.shape[1]):
        blocks, rs = _single(X, groups, Y[:, v])
        prof = core.profile(bf.theta[v:v + 1], blocks, rs, True)
        ss = dfm.satterthwaite_state(prof)
        ks = dfm.kr_state(prof, blocks)
        assert_allclose(sat.vcov[v], ss.vcov, rtol=1e-9, atol=1e-14)
        assert_allclose(kr.PhiA[v], ks.vcov_adj, rtol=1e-9, atol=1e-14)
        # L does not involve the intercept, so the batch's offset does not change L b
        F, _, den = dfm.satterthwaite_ftest(ss, prof.beta, L)
        assert_allclose([F_s[0][v], F_s[2][v]], [F, den], rtol=1e-8)
        F, _, den = dfm.kr_ftest(ks, prof.beta, L)
        assert_allclose([F_k[0][v], F_k[2][v]], [F, den], rtol=1e-8)
        for j in range(4):
            ell = np.eye(4)[j]
            assert_allclose(rows_s["df"][v, j], dfm.satterthwaite_df(ss, ell), rtol=1e-8)
            assert_allclose(rows_k["df"][v, j], dfm.kr_df(ks, ell), rtol=1e-8)


def test_design_one_sided_formulas():
    import pandas as pd

    from painmarkers._mixedmodels.design import build_design

    data = pd.DataFrame({"subject_id": [1, 1, 2, 2, 3, 3, 4, 4], "arm": list("aabbaabb"),
                         "VAS": [1, 2, 3, 4, 5, 7.0, 1, 0]})
    # a model with a response needs one (ValueError, no AttributeError)
    with pytest.raises(ValueError, match="has no response"):
        build_design(data, "~ arm", subject="subject_id", random="1", between=[])
    des = build_design(data, "~ arm", subject="subject_id", random="1", between=[],
                       response=False)
    assert des.y is None and des.column_names == ["Intercept", "arm[T.b]"]
