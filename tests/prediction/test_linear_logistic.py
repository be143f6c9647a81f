"""The batched damped-Newton L2 logistic regression of the fast route."""

import numpy as np
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from painmarkers.prediction._linear import logistic_fit_batch


def _problem(rng, n=30, q=3):
    Z = rng.normal(size=(n, q))
    y = (Z[:, 0] + rng.normal(size=n) > 0).astype(float)
    return Z, y


def test_batch_equals_scikit_learn():
    rng = np.random.default_rng(0)
    problems = [_problem(rng) for _ in range(4)]
    Z = np.stack([p[0] for p in problems])
    y = np.stack([p[1] for p in problems])
    beta = logistic_fit_batch(Z, np.ones(y.shape), y, C=0.7)
    for (Zi, yi), bi in zip(problems, beta, strict=True):
        ref = LogisticRegression(C=0.7, solver="newton-cholesky", tol=1e-12,
                                 max_iter=1000).fit(Zi, yi)
        assert_allclose(bi, np.r_[ref.intercept_, ref.coef_[0]], rtol=1e-7, atol=1e-9)


def test_a_one_class_problem_does_not_break_the_batch():
    """Training rows of one class (a permuted label vector can give them): no curvature
    is left once every probability is 0 or 1 and the Hessian is singular; the batch
    still solves, and the other problems' coefficients are those fitted alone."""
    rng = np.random.default_rng(1)
    Z1, y1 = _problem(rng)
    Z2, _ = _problem(rng)
    y2 = np.ones(30)                   # one class only
    alone = logistic_fit_batch(Z1[None], np.ones((1, 30)), y1[None], C=1.0)
    both = logistic_fit_batch(np.stack([Z1, Z2]), np.ones((2, 30)), np.stack([y1, y2]),
                              C=1.0, max_iter=200)
    assert np.isfinite(both).all()
    assert_allclose(both[0], alone[0], rtol=1e-9, atol=1e-12)
    assert both[1, 0] > 10            # the intercept heads for +infinity (all ones)
