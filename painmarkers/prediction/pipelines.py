"""Leakage-safe pipeline steps: confound regression and ComBat harmonisation.

Both are scikit-learn transformers fitted on the training fold only and then
applied to the test fold, so they can sit inside a :class:`~sklearn.pipeline.Pipeline`
that is cross-validated or permuted as a whole. Because scikit-learn passes only
``X`` through a pipeline, the confounds and the site travel as the *last columns*
of ``X``; each step removes the columns it consumed from its output. The column
layout used by :func:`~painmarkers.prediction.evaluate_biomarker` is::

    [features ..., confounds ..., site code]

and its pipeline is ``ComBat(n_covariates=len(confounds), keep_covariates=True)``
-> ``ConfoundRegressor(n_confounds=len(confounds))`` -> model.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from painmarkers.exceptions import DataError, DesignError

__all__ = ["ComBat", "ConfoundRegressor"]


def _split_columns(x: np.ndarray, n_tail: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    if x.shape[1] <= n_tail:
        raise DataError(
            f"{name} expects at least one feature column before its {n_tail} trailing "
            f"column(s); X has n_features={x.shape[1]}."
        )
    return x[:, : x.shape[1] - n_tail], x[:, x.shape[1] - n_tail:]


class ConfoundRegressor(TransformerMixin, BaseEstimator):
    """Regress confounds out of features, with coefficients from the training data.

    Parameters
    ----------
    n_confounds : int, default=1
        The last ``n_confounds`` columns of ``X`` are confounds (age, sex coded 0/1,
        mean framewise displacement, ...); the others are features. 0 passes the
        features through unchanged.

    Attributes
    ----------
    coef_ : numpy.ndarray of shape (1 + n_confounds, n_features)
        Intercept and slopes of each feature on the confounds (training data).
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit`` (features + confounds).

    Notes
    -----
    For features F and confounds C of the training fold, ``B = argmin ||F - [1 C] B||²``
    (ordinary least squares); ``transform`` returns ``F - [1 C] B`` for any data,
    using the training ``B``. Fitting ``B`` on all subjects before cross-validation
    would let test subjects shape the features of training subjects (leakage);
    here it is refitted in every fold (Snoek et al. 2019; More et al. 2021).

    References
    ----------
    .. [1] Snoek, L., Miletić, S., & Scholte, H. S. (2019). How to control for
       confounds in decoding analyses of neuroimaging data. NeuroImage, 184, 741-760.

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.prediction import ConfoundRegressor
    >>> age = np.arange(10.0)
    >>> feature = 2 * age + 1
    >>> X = np.column_stack([feature, age])
    >>> np.abs(ConfoundRegressor(n_confounds=1).fit_transform(X)).max() < 1e-10
    np.True_
    """

    def __init__(self, n_confounds: int = 1):
        self.n_confounds = n_confounds

    def fit(self, X, y=None):
        """Estimate the confound slopes on training data; returns self."""
        x = validate_data(self, X, dtype=float)
        if self.n_confounds < 0 or int(self.n_confounds) != self.n_confounds:
            raise ValueError(
                f"The 'n_confounds' parameter must be a non-negative integer. "
                f"Got {self.n_confounds!r}."
            )
        n_conf = int(self.n_confounds)
        feats, conf = _split_columns(x, n_conf, "ConfoundRegressor")
        if len(x) <= n_conf + 1:
            raise DataError(
                f"ConfoundRegressor needs more than {n_conf + 1} training rows to fit "
                f"{n_conf} confound(s) and an intercept; got n_samples={len(x)}."
            )
        design = np.column_stack([np.ones(len(x)), conf])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise DesignError(
                f"The confounds are collinear or constant in the training data ({len(x)} rows,"
                f" {n_conf} confound(s)); drop a redundant confound."
            )
        self.coef_ = np.linalg.lstsq(design, feats, rcond=None)[0]
        return self

    def transform(self, X):
        """Return the features minus their training-fold confound fit."""
        check_is_fitted(self, "coef_")
        x = validate_data(self, X, dtype=float, reset=False)
        feats, conf = _split_columns(x, int(self.n_confounds), "ConfoundRegressor")
        return feats - np.column_stack([np.ones(len(x)), conf]) @ self.coef_


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat site harmonisation (Johnson et al. 2007) that fits on train, applies to test.

    Parameters
    ----------
    n_covariates : int, default=0
        Columns just before the last one are covariates whose effects ComBat
        preserves (e.g. age, sex). Never put the diagnostic label here: it is not
        known for test subjects, and using it is a source of leakage.
    empirical_bayes : bool, default=True
        Shrink the site location/scale estimates across features (parametric EB). With a
        single feature or a single training site there is nothing to pool and the plain
        estimates are used (likewise for a site whose estimates do not vary across
        features).
    keep_covariates : bool, default=False
        Return the covariate columns after the harmonised features (so that a
        following :class:`ConfoundRegressor` can use them).
    unseen_site : {"error", "self"}, default="error"
        What ``transform`` does with a site absent from training data: raise, or
        estimate that site's location and scale from the data being transformed
        (label-free; needs >= 2 rows of that site). "self" is what leave-one-site-out
        cross-validation requires.
    max_iter : int, default=1000
        Iterations of the empirical Bayes fixed point.
    tol : float, default=1e-6
        Convergence tolerance (max relative change).

    Attributes
    ----------
    sites_ : numpy.ndarray
        Site codes seen in training.
    grand_mean_ : numpy.ndarray of shape (n_features,)
        Sample-size weighted mean of the site intercepts.
    beta_ : numpy.ndarray of shape (n_covariates, n_features)
        Covariate slopes.
    var_pooled_ : numpy.ndarray of shape (n_features,)
        Pooled residual variance.
    gamma_star_, delta_star_ : numpy.ndarray of shape (n_sites, n_features)
        (Shrunken) additive and multiplicative site effects on the standardised scale.
    eb_applied_ : bool
        Whether empirical Bayes shrinkage was used.

    Notes
    -----
    Model: ``y_ijg = alpha_g + x_ij beta_g + gamma_ig + delta_ig eps_ijg`` for site i,
    subject j, feature g. Fit: OLS of y on site indicators and covariates gives
    ``alpha_g = sum_i (n_i/n) gamma_hat_ig`` and beta; ``sigma²_g`` is the mean squared
    residual. Standardise ``z = (y - alpha - x beta) / sigma``. Per site,
    ``gamma_hat = mean(z)``, ``delta²_hat = var(z)``; empirical Bayes priors
    ``gamma ~ N(gamma_bar, tau²)`` and ``delta² ~ InvGamma(a, b)`` by the method of
    moments across features; posterior means iterate
    ``gamma* = (n tau² gamma_hat + delta*² gamma_bar) / (n tau² + delta*²)`` and
    ``delta*² = (b + SS(z - gamma*)/2) / (n/2 + a - 1)``. Output:
    ``y* = sigma (z - gamma*) / delta* + alpha + x beta``. Implemented from the paper
    (parametric EB), as in neuroCombat (Fortin et al. 2018).

    References
    ----------
    .. [1] Johnson, W. E., Li, C., & Rabinovic, A. (2007). Adjusting batch effects in
       microarray expression data using empirical Bayes methods. Biostatistics, 8(1),
       118-127.
    .. [2] Fortin, J.-P., et al. (2018). Harmonization of cortical thickness
       measurements across scanners and sites. NeuroImage, 167, 104-120.

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.prediction import ComBat
    >>> rng = np.random.default_rng(0)
    >>> site = np.repeat([0, 1], 20)
    >>> feats = rng.normal(size=(40, 3)) + 2.0 * site[:, None]
    >>> out = ComBat().fit_transform(np.column_stack([feats, site]))
    >>> bool(abs(out[site == 1].mean() - out[site == 0].mean()) < 0.2)
    True
    """

    def __init__(self, n_covariates: int = 0, empirical_bayes: bool = True,
                 keep_covariates: bool = False, unseen_site: str = "error",
                 max_iter: int = 1000, tol: float = 1e-6):
        self.n_covariates = n_covariates
        self.empirical_bayes = empirical_bayes
        self.keep_covariates = keep_covariates
        self.unseen_site = unseen_site
        self.max_iter = max_iter
        self.tol = tol

    def _parts(self, x):
        n_cov = int(self.n_covariates)
        feats, tail = _split_columns(x, n_cov + 1, "ComBat")
        return feats, tail[:, :n_cov], tail[:, n_cov]

    def fit(self, X, y=None):
        """Estimate site effects on the training rows; returns self."""
        x = validate_data(self, X, dtype=float)
        if self.n_covariates < 0 or int(self.n_covariates) != self.n_covariates:
            raise ValueError(f"The 'n_covariates' parameter must be a non-negative integer. "
                             f"Got {self.n_covariates!r}.")
        if self.unseen_site not in ("error", "self"):
            raise ValueError(f"The 'unseen_site' parameter must be one of 'error', 'self'. "
                             f"Got {self.unseen_site!r}.")
        feats, cov, site = self._parts(x)
        sites, codes, counts = np.unique(site, return_inverse=True, return_counts=True)
        if (counts < 2).any():
            raise DataError(
                f"ComBat needs at least 2 training rows per site; site {sites[counts < 2][0]:g} "
                f"has {counts.min()}."
            )
        n, p = feats.shape
        onehot = (codes[:, None] == np.arange(sites.size)[None]).astype(float)
        design = np.column_stack([onehot, cov])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise DesignError(
                "ComBat's design (site indicators and covariates) is rank deficient in the "
                "training data: a covariate is constant or confounded with site."
            )
        coef = np.linalg.lstsq(design, feats, rcond=None)[0]
        site_coef, beta = coef[: sites.size], coef[sites.size:]
        grand = (counts / n) @ site_coef
        resid = feats - design @ coef
        var_pooled = (resid**2).mean(axis=0)
        if (var_pooled <= 0).any():
            raise DataError("ComBat found a feature with zero residual variance in the training "
                            f"data (column {int(np.argmax(var_pooled <= 0))}).")
        z = (feats - grand - cov @ beta) / np.sqrt(var_pooled)
        gamma_hat = np.vstack([z[codes == i].mean(axis=0) for i in range(sites.size)])
        delta_hat = np.vstack([z[codes == i].var(axis=0, ddof=1) for i in range(sites.size)])
        # EB pools a site's estimates across features; with one feature there is nothing
        # to pool, and with one training site (leave-one-site-out over two sites) every
        # feature has gamma_hat = 0 and the same delta_hat, so the priors are degenerate.
        eb = bool(self.empirical_bayes) and p > 1 and sites.size > 1
        if eb:
            gamma_star, delta_star = self._eb(z, codes, counts, gamma_hat, delta_hat)
        else:
            gamma_star, delta_star = gamma_hat, delta_hat
        self.sites_ = sites
        self.grand_mean_ = grand
        self.beta_ = beta
        self.var_pooled_ = var_pooled
        self.gamma_hat_ = gamma_hat
        self.delta_hat_ = delta_hat
        self.gamma_star_ = gamma_star
        self.delta_star_ = delta_star
        self.eb_applied_ = eb
        return self

    def _eb(self, z, codes, counts, gamma_hat, delta_hat):
        k = gamma_hat.shape[0]
        gamma_bar = gamma_hat.mean(axis=1)
        tau2 = gamma_hat.var(axis=1, ddof=1)
        m = delta_hat.mean(axis=1)
        s2 = delta_hat.var(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):  # s2 == 0 handled below
            a = (2 * s2 + m**2) / s2
            b = (m * s2 + m**3) / s2
        g_star = np.empty_like(gamma_hat)
        d_star = np.empty_like(delta_hat)
        for i in range(k):
            if not (tau2[i] > 0 and s2[i] > 0):
                # the site's estimates are identical across features: no prior to fit
                g_star[i], d_star[i] = gamma_hat[i], delta_hat[i]
                continue
            zi = z[codes == i]
            n = counts[i]
            g_old, d_old = gamma_hat[i].copy(), delta_hat[i].copy()
            for _ in range(int(self.max_iter)):
                g_new = (n * tau2[i] * gamma_hat[i] + d_old * gamma_bar[i]) / (n * tau2[i] + d_old)
                ss = ((zi - g_new) ** 2).sum(axis=0)
                d_new = (b[i] + 0.5 * ss) / (n / 2 + a[i] - 1)
                change = max(np.max(np.abs(g_new - g_old) / np.maximum(np.abs(g_old), 1e-12)),
                             np.max(np.abs(d_new - d_old) / d_old))
                g_old, d_old = g_new, d_new
                if change < self.tol:
                    break
            g_star[i], d_star[i] = g_old, d_old
        return g_star, d_star

    def transform(self, X):
        """Harmonise rows with the training-fold site effects."""
        check_is_fitted(self, "gamma_star_")
        x = validate_data(self, X, dtype=float, reset=False)
        feats, cov, site = self._parts(x)
        stand = self.grand_mean_ + cov @ self.beta_
        z = (feats - stand) / np.sqrt(self.var_pooled_)
        out = np.empty_like(z)
        for s in np.unique(site):
            rows = site == s
            hit = np.flatnonzero(self.sites_ == s)
            if hit.size:
                g, d = self.gamma_star_[hit[0]], self.delta_star_[hit[0]]
            elif self.unseen_site == "self":
                if rows.sum() < 2:
                    raise DataError(f"Site {s:g} was not in the training data and has only one "
                                    "row to estimate its effects from.")
                g = z[rows].mean(axis=0)
                d = z[rows].var(axis=0, ddof=1)
            else:
                raise DataError(
                    f"Site {s:g} was not in the training data (sites {self.sites_.tolist()}); "
                    "pass unseen_site='self' to estimate it from the new rows."
                )
            out[rows] = z[rows] - g
            out[rows] /= np.sqrt(d)
        harmonised = out * np.sqrt(self.var_pooled_) + stand
        if self.keep_covariates:
            return np.column_stack([harmonised, cov])
        return harmonised
