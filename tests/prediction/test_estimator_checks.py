"""scikit-learn contract of the pipeline steps."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from painmarkers.prediction import ComBat, ConfoundRegressor


@parametrize_with_checks([ConfoundRegressor(n_confounds=1)])
def test_confound_regressor_sklearn_checks(estimator, check):
    check(estimator)


def test_combat_contract():
    """ComBat needs a site column, so the generic checks (random X) cannot run; these
    are the contract points they would cover."""
    rng = np.random.default_rng(0)
    site = np.repeat([0.0, 1.0, 2.0], 8)
    X = np.column_stack([rng.normal(size=(24, 3)) + site[:, None], site])
    est = ComBat(n_covariates=0, empirical_bayes=True)
    assert est.get_params()["unseen_site"] == "error"
    with pytest.raises(NotFittedError):
        est.transform(X)
    assert est.fit(X) is est
    out = est.transform(X)
    np.testing.assert_allclose(clone(est).fit(X).transform(X), out, rtol=0)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(est)).transform(X), out, rtol=0)
    np.testing.assert_allclose(est.fit_transform(X), out, rtol=1e-12)
    # order invariance: transforming shuffled rows gives the shuffled output
    perm = rng.permutation(24)
    np.testing.assert_allclose(est.transform(X[perm]), out[perm], rtol=1e-12)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, 1:])
    assert est.n_features_in_ == 4
