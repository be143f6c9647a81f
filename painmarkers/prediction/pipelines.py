"""Leakage-safe pipeline steps: confound regression and ComBat harmonisation.

Both are scikit-learn transformers fitted on the training fold only and then applied
to the test fold, so they can sit inside a :class:`~sklearn.pipeline.Pipeline` that is
cross-validated or permuted as a whole. Besides the features they need per-row side
information (the site and covariates of :class:`ComBat`, the confounds of
:class:`ConfoundRegressor`), given in one of two ways:

* **metadata** (scikit-learn metadata routing): ``fit(X, site=..., covariates=...)``
  and ``transform(X, site=..., covariates=...)``. Both estimators request their
  metadata by default, so a Pipeline routes it once routing is on::

      with sklearn.config_context(enable_metadata_routing=True):
          pipe = make_pipeline(ComBat(), ConfoundRegressor(), LogisticRegression())
          pipe.fit(X_train, y_train, site=site_train, covariates=age_train,
                   confounds=age_train)
          proba = pipe.predict_proba(X_test, site=site_test, covariates=age_test,
                                     confounds=age_test)

* **columns of X**, named by ``site_column``/``covariate_columns`` and
  ``confound_columns``: the side information then travels with the rows through any
  scikit-learn utility. Use this form with ``cross_val_predict``, ``cross_validate``
  or a search's scorer, which route metadata to ``fit`` but not to the
  ``predict``/``transform`` of the test fold.

:func:`~painmarkers.prediction.evaluate_biomarker` uses the metadata form. The layout
of painmarkers < 0.2, site and covariates as the *last columns* of ``X`` counted by
``n_covariates``/``n_confounds``, still works until painmarkers 0.3 with a
``FutureWarning``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from painmarkers._deprecation import deprecate_positional
from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import _side
from painmarkers.prediction._side import DEPRECATED

__all__ = ["ComBat", "ConfoundRegressor"]


def _validate(est: BaseEstimator, X: Any, *, columns: bool, reset: bool) -> np.ndarray:
    """validate_data: float for the metadata layouts; any dtype when X holds side columns."""
    if columns:
        return validate_data(est, X, dtype=None, ensure_all_finite=False, reset=reset)
    return validate_data(est, X, dtype=float, reset=reset)


def _names_in(est: BaseEstimator, input_features: Any) -> np.ndarray:
    """The input feature names (validated as scikit-learn does for one-to-one output)."""
    return OneToOneFeatureMixin.get_feature_names_out(est, input_features)


class ConfoundRegressor(TransformerMixin, BaseEstimator):
    """Regress confounds out of features, with coefficients from the training data.

    Parameters
    ----------
    confound_columns : str, int or list of them, default=None
        Columns of ``X`` holding the confounds (names when ``X`` is a DataFrame, or
        numbers); they are removed from the output. Use this form inside
        ``cross_val_predict`` and other scikit-learn utilities that do not route
        metadata to ``transform``. None: the confounds come as metadata
        (``fit(X, confounds=...)``, ``transform(X, confounds=...)``).
    n_confounds : int, None or "deprecated", default="deprecated"
        Deprecated layout of painmarkers < 0.2: the last ``n_confounds`` columns of ``X``
        are the confounds (``"deprecated"`` means 1 when neither ``confounds=`` nor
        ``confound_columns`` is given), with a FutureWarning; removed in 0.3. None opts
        into the new behaviour: without confounds only the training mean is removed.

    Attributes
    ----------
    coef_ : numpy.ndarray of shape (1 + n_confounds, n_features)
        Intercept and slopes of each feature on the confounds (training data).
    layout_ : {"metadata", "columns", "none", "last_columns"}
        Where the confounds came from in ``fit`` (``"none"``: no confounds).
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit``.
    feature_names_in_ : numpy.ndarray
        Column names of ``X`` (when a DataFrame with string column names).

    Notes
    -----
    For features F and confounds C of the training fold, ``B = argmin ||F - [1 C] B||²``
    (ordinary least squares); ``transform`` returns ``F - [1 C] B`` for any data,
    using the training ``B``. Fitting ``B`` on all subjects before cross-validation
    would let test subjects shape the features of training subjects (leakage);
    here it is refitted in every fold (Snoek et al. 2019; More et al. 2021).
    Confounds must be numeric (code a categorical one as 0/1 columns).

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
    >>> out = ConfoundRegressor().fit_transform(feature[:, None], confounds=age)
    >>> bool(np.abs(out).max() < 1e-10)
    True
    """

    # requested by default: a Pipeline routes them once metadata routing is on
    __metadata_request__fit: ClassVar[dict] = {"confounds": True}
    __metadata_request__transform: ClassVar[dict] = {"confounds": True}

    @deprecate_positional(n_confounds=1)
    def __init__(self, *, confound_columns=None, n_confounds=DEPRECATED):
        self.confound_columns = confound_columns
        self.n_confounds = n_confounds

    def _layout(self, confounds) -> str:
        if self.confound_columns is not None:
            if confounds is not None:
                raise ValueError("ConfoundRegressor got confounds twice: as confounds= and as "
                                 f"confound_columns={self.confound_columns!r}; pass one.")
            if self.n_confounds not in (DEPRECATED, None):
                raise ValueError("n_confounds (the deprecated last-columns layout) cannot be "
                                 "combined with confound_columns; drop n_confounds.")
            return "columns"
        if confounds is not None:
            if self.n_confounds not in (DEPRECATED, None):
                raise ValueError("n_confounds (the deprecated last-columns layout) cannot be "
                                 "combined with confounds=; drop n_confounds.")
            return "metadata"
        return "none" if self.n_confounds is None else "last_columns"

    def _arrays(self, X, confounds, layout: str, reset: bool):
        """Features and confounds of ``X`` under ``layout``; records the output names."""
        x = _validate(self, X, columns=layout == "columns", reset=reset)
        n = x.shape[0]
        if layout == "columns":
            conf_idx = _side.column_positions(X, self.confound_columns, x.shape[1],
                                              "confound_columns")
            feat_idx = [i for i in range(x.shape[1]) if i not in set(conf_idx)]
            if not feat_idx:
                raise DataError(f"ConfoundRegressor needs at least one feature column besides "
                                f"its {len(conf_idx)} confound column(s); X has "
                                f"{x.shape[1]} feature(s) (n_features = {x.shape[1]}).")
            feats = _side.numeric(x[:, feat_idx], "X", n)
            conf = _side.numeric(x[:, conf_idx], "confound_columns", n)
        elif layout == "last_columns":
            n_conf = _side.n_tail(self.n_confounds, "n_confounds")
            n_conf = 1 if n_conf < 0 else n_conf
            feats, conf = _side.split_tail(x, n_conf, "ConfoundRegressor")
            feat_idx = list(range(feats.shape[1]))
        else:
            feats = x
            conf = (np.empty((n, 0)) if confounds is None
                    else _side.numeric(confounds, "confounds", n))
            feat_idx = list(range(x.shape[1]))
        if reset:
            self._out_idx = feat_idx
        return feats, conf

    def fit(self, X, y=None, *, confounds=None):
        """Estimate the confound slopes on training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (and the confound columns when ``confound_columns`` is set).
        y : None
            Ignored.
        confounds : array-like of shape (n_samples,) or (n_samples, n_confounds), default=None
            Confounds of the rows (metadata form).

        Returns
        -------
        ConfoundRegressor
            The fitted transformer (``self``).

        Raises
        ------
        DataError
            No feature column besides the confounds, or no more training rows than
            confounds + 1.
        DesignError
            Confounds collinear or constant in the training rows.
        ValueError
            Confounds given twice (``confounds=`` and ``confound_columns``).
        """
        layout = self._layout(confounds)
        if layout == "last_columns":
            n_conf = _side.n_tail(self.n_confounds, "n_confounds")
            _side.warn_last_columns("ConfoundRegressor", "n_confounds",
                                    1 if n_conf < 0 else n_conf, "confounds",
                                    "fit(X, confounds=...) and transform(X, confounds=...)")
        feats, conf = self._arrays(X, confounds, layout, reset=True)
        n, n_conf = conf.shape
        if n <= n_conf + 1:
            raise DataError(
                f"ConfoundRegressor needs more than {n_conf + 1} training rows to fit "
                f"{n_conf} confound(s) and an intercept; got n_samples={n}."
            )
        design = np.column_stack([np.ones(n), conf])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise DesignError(
                f"The confounds are collinear or constant in the training data ({n} rows,"
                f" {n_conf} confound(s)); drop a redundant confound."
            )
        self.coef_ = np.linalg.lstsq(design, feats, rcond=None)[0]
        self.layout_ = layout
        return self

    def transform(self, X, *, confounds=None):
        """Return the features minus their training-fold confound fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.
        confounds : array-like or None, default=None
            Confounds of these rows (required when ``fit`` got ``confounds=``).

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_out)
            The residual features (confound columns removed).

        Raises
        ------
        ValueError
            ``confounds`` missing although ``fit`` got them (or given although it did
            not), or a different number of confounds than in ``fit``.
        """
        check_is_fitted(self, "coef_")
        if self.layout_ == "metadata" and confounds is None:
            raise ValueError("ConfoundRegressor was fitted with confounds=; transform needs the "
                             "confounds of these rows too (in a Pipeline: enable metadata "
                             "routing and pass confounds= to predict/transform, or use "
                             "confound_columns= for cross_val_predict).")
        if self.layout_ != "metadata" and confounds is not None:
            raise ValueError(f"ConfoundRegressor was fitted without confounds= (layout "
                             f"{self.layout_!r}); do not pass them to transform.")
        feats, conf = self._arrays(X, confounds, self.layout_, reset=False)
        if conf.shape[1] != self.coef_.shape[0] - 1:
            raise ValueError(f"ConfoundRegressor was fitted with {self.coef_.shape[0] - 1} "
                             f"confound(s); got {conf.shape[1]}.")
        return feats - np.column_stack([np.ones(len(feats)), conf]) @ self.coef_

    def fit_transform(self, X, y=None, *, confounds=None):
        """Fit on ``X`` and return its residual features (see :meth:`fit`, :meth:`transform`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        confounds : array-like or None, default=None
            Confounds of the rows (metadata form), passed to both steps.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_out)
            The residual features of the training rows (confound columns removed).
        """
        return self.fit(X, y, confounds=confounds).transform(X, confounds=confounds)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: the input features minus the confound columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input names; None uses ``feature_names_in_`` (or ``x0, x1, ...``).

        Returns
        -------
        numpy.ndarray of str
            One name per output column of :meth:`transform`.
        """
        check_is_fitted(self, "coef_")
        return _names_in(self, input_features)[self._out_idx]


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat site harmonisation (Johnson et al. 2007) that fits on train, applies to test.

    Parameters
    ----------
    site_column : str or int, default=None
        Column of ``X`` holding the site (a name when ``X`` is a DataFrame, or a
        number); it is removed from the output. Use this form inside
        ``cross_val_predict`` and other scikit-learn utilities that do not route
        metadata to ``transform``. None: the site comes as metadata
        (``fit(X, site=...)``, ``transform(X, site=...)``).
    covariate_columns : str, int or list of them, default=None
        Columns of ``X`` holding covariates whose effects ComBat preserves (e.g. age,
        sex coded 0/1), with ``site_column``. Never put the diagnostic label here (nor
        in ``covariates=``): it is not known for test subjects, and using it is a
        source of leakage.
    empirical_bayes : bool, default=True
        Shrink the site location/scale estimates across features (parametric EB). With a
        single feature or a single training site there is nothing to pool and the plain
        estimates are used (likewise for a site whose estimates do not vary across
        features).
    keep_covariates : bool, default=False
        Return the covariates after the harmonised features (so that a following
        :class:`ConfoundRegressor` can take them as its ``confound_columns``).
    unseen_site : {"error", "self"}, default="error"
        What ``transform`` does with a site absent from training data: raise, or
        estimate that site's location and scale from the data being transformed
        (label-free; needs >= 2 rows of that site). "self" is what leave-one-site-out
        cross-validation requires.
    max_iter : int, default=1000
        Iterations of the empirical Bayes fixed point.
    tol : float, default=1e-6
        Convergence tolerance (max relative change).
    n_covariates : int, None or "deprecated", default="deprecated"
        Deprecated layout of painmarkers < 0.2: the last column of ``X`` is the site and
        the ``n_covariates`` columns before it are covariates (``"deprecated"`` means 0
        when neither ``site=`` nor ``site_column`` is given), with a FutureWarning;
        removed in 0.3. None opts into the new behaviour: without a site, all rows are
        one site.

    Attributes
    ----------
    sites_ : numpy.ndarray
        Site labels seen in training (sorted).
    grand_mean_ : numpy.ndarray of shape (n_features,)
        Sample-size weighted mean of the site intercepts.
    beta_ : numpy.ndarray of shape (n_covariates, n_features)
        Covariate slopes.
    var_pooled_ : numpy.ndarray of shape (n_features,)
        Pooled residual variance.
    gamma_hat_, delta_hat_ : numpy.ndarray of shape (n_sites, n_features)
        Per-site additive and multiplicative effects before shrinkage.
    gamma_star_, delta_star_ : numpy.ndarray of shape (n_sites, n_features)
        (Shrunken) additive and multiplicative site effects on the standardised scale.
    eb_applied_ : bool
        Whether empirical Bayes shrinkage was used.
    n_iter_ : int
        Iterations of the empirical Bayes fixed point (the most over sites); 0 when
        empirical Bayes was not applied.
    layout_ : {"metadata", "columns", "one_site", "last_columns"}
        Where site and covariates came from in ``fit`` (``"one_site"``: no site given,
        all rows one site).
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit``.
    feature_names_in_ : numpy.ndarray
        Column names of ``X`` (when a DataFrame with string column names).

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
    (parametric EB), as in neuroCombat (Fortin et al. 2018), whose output it matches
    (``tests/prediction/test_pipelines.py``). With one site there is nothing to
    harmonise: each feature is only rescaled by ``sqrt((n - 1) / n)`` about its mean.

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
    >>> site = np.repeat(["A", "B"], 20)
    >>> feats = rng.normal(size=(40, 3)) + 2.0 * (site == "B")[:, None]
    >>> out = ComBat().fit_transform(feats, site=site)
    >>> bool(abs(out[site == "B"].mean() - out[site == "A"].mean()) < 0.2)
    True
    """

    # requested by default: a Pipeline routes them once metadata routing is on
    __metadata_request__fit: ClassVar[dict] = {"site": True, "covariates": True}
    __metadata_request__transform: ClassVar[dict] = {"site": True, "covariates": True}

    @deprecate_positional(n_covariates=1, empirical_bayes=2, keep_covariates=3, unseen_site=4,
                          max_iter=5, tol=6)
    def __init__(self, *, site_column=None, covariate_columns=None, empirical_bayes=True,
                 keep_covariates=False, unseen_site="error", max_iter=1000, tol=1e-6,
                 n_covariates=DEPRECATED):
        self.site_column = site_column
        self.covariate_columns = covariate_columns
        self.empirical_bayes = empirical_bayes
        self.keep_covariates = keep_covariates
        self.unseen_site = unseen_site
        self.max_iter = max_iter
        self.tol = tol
        self.n_covariates = n_covariates

    # -- where site and covariates come from ------------------------------------------------
    def _layout(self, site, covariates) -> str:
        if self.site_column is not None or self.covariate_columns is not None:
            if self.site_column is None:
                raise ValueError("covariate_columns needs site_column (the site column of X).")
            if site is not None or covariates is not None:
                raise ValueError(f"ComBat got site_column={self.site_column!r}; do not pass "
                                 "site= or covariates= as well.")
            if self.n_covariates not in (DEPRECATED, None):
                raise ValueError("n_covariates (the deprecated last-columns layout) cannot be "
                                 "combined with site_column; drop n_covariates.")
            return "columns"
        if site is not None or covariates is not None:
            if self.n_covariates not in (DEPRECATED, None):
                raise ValueError("n_covariates (the deprecated last-columns layout) cannot be "
                                 "combined with site=/covariates=; drop n_covariates.")
            return "metadata" if site is not None else "one_site"
        return "one_site" if self.n_covariates is None else "last_columns"

    def _arrays(self, X, site, covariates, layout: str, reset: bool):
        """(features, covariates, site labels) of ``X`` under ``layout``."""
        x = _validate(self, X, columns=layout == "columns", reset=reset)
        n = x.shape[0]
        if layout == "columns":
            site_idx = _side.column_positions(X, self.site_column, x.shape[1], "site_column")
            if len(site_idx) != 1:
                raise ValueError(f"The 'site_column' parameter must name one column. "
                                 f"Got {self.site_column!r}.")
            cov_idx = _side.column_positions(X, self.covariate_columns, x.shape[1],
                                             "covariate_columns")
            if site_idx[0] in cov_idx:
                raise ValueError("The site column is also among covariate_columns.")
            used = set(site_idx) | set(cov_idx)
            feat_idx = [i for i in range(x.shape[1]) if i not in used]
            if not feat_idx:
                raise DataError(f"ComBat needs at least one feature column besides its site "
                                f"and covariate columns; X has {x.shape[1]} feature(s).")
            feats = _side.numeric(x[:, feat_idx], "X", n)
            cov = _side.numeric(x[:, cov_idx], "covariate_columns", n)
            sites = _side.labels(x[:, site_idx[0]], "site_column", n)
            out_idx = feat_idx + (cov_idx if self.keep_covariates else [])
        elif layout == "last_columns":
            n_cov = max(_side.n_tail(self.n_covariates, "n_covariates"), 0)
            feats, tail = _side.split_tail(x, n_cov + 1, "ComBat")
            cov, sites = tail[:, :n_cov], tail[:, n_cov]
            p = feats.shape[1]
            out_idx = list(range(p)) + (list(range(p, p + n_cov)) if self.keep_covariates
                                        else [])
        else:
            feats = x
            cov = (np.empty((n, 0)) if covariates is None
                   else _side.numeric(covariates, "covariates", n))
            sites = (np.zeros(n, dtype=int) if layout == "one_site"
                     else _side.labels(site, "site", n))
            out_idx = list(range(x.shape[1]))
            if self.keep_covariates:
                out_idx += [f"covariate{j}" for j in range(cov.shape[1])]
        if reset:
            self._out_idx = out_idx
        return feats, cov, sites

    def _check_params(self) -> None:
        if self.unseen_site not in ("error", "self"):
            raise ValueError(f"The 'unseen_site' parameter must be one of 'error', 'self'. "
                             f"Got {self.unseen_site!r}.")
        if self.n_covariates not in (DEPRECATED, None):
            _side.n_tail(self.n_covariates, "n_covariates")

    # -- fit / transform ----------------------------------------------------------------------
    def fit(self, X, y=None, *, site=None, covariates=None):
        """Estimate site effects on the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (and the site/covariate columns when ``site_column`` is set).
        y : None
            Ignored (never pass the diagnosis anywhere to ComBat).
        site : array-like of shape (n_samples,) or None, default=None
            Site label of each row (metadata form). None (and no ``site_column``): all
            rows are one site.
        covariates : array-like of shape (n_samples,) or (n_samples, n_covariates), default=None
            Numeric covariates whose effects are preserved (metadata form).

        Returns
        -------
        ComBat
            The fitted transformer (``self``).

        Raises
        ------
        DataError
            A site with fewer than 2 training rows, site labels of mixed types, a
            feature with zero residual variance.
        DesignError
            Site indicators and covariates rank deficient (a covariate constant or
            confounded with site).
        ValueError
            Invalid ``unseen_site``, or site and covariates given both as columns and
            as metadata.
        """
        self._check_params()
        layout = self._layout(site, covariates)
        if layout == "last_columns":
            _side.warn_last_columns("ComBat", "n_covariates",
                                    max(_side.n_tail(self.n_covariates, "n_covariates"), 0),
                                    "site (and covariates)",
                                    "fit(X, site=..., covariates=...) and the same to "
                                    "transform")
        feats, cov, site_arr = self._arrays(X, site, covariates, layout, reset=True)
        try:
            sites, codes, counts = np.unique(site_arr, return_inverse=True, return_counts=True)
        except TypeError:
            raise DataError("The site labels must be of one type (all numbers or all "
                            f"strings); got {sorted({type(s).__name__ for s in site_arr})}.")\
                from None
        codes = codes.ravel()
        if (counts < 2).any():
            if layout == "one_site":
                raise DataError(f"ComBat needs at least 2 training rows; got n_samples = "
                                f"{counts.min()}.")
            raise DataError(
                f"ComBat needs at least 2 training rows per site; site "
                f"{_side.label_name(sites[counts < 2][0])} has {counts.min()}."
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
        n_iter = 0
        if eb:
            gamma_star, delta_star, n_iter = self._eb(z, codes, counts, gamma_hat, delta_hat)
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
        self.n_iter_ = n_iter
        self.layout_ = layout
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
        n_iter = 0
        for i in range(k):
            if not (tau2[i] > 0 and s2[i] > 0):
                # the site's estimates are identical across features: no prior to fit
                g_star[i], d_star[i] = gamma_hat[i], delta_hat[i]
                continue
            zi = z[codes == i]
            n = counts[i]
            g_old, d_old = gamma_hat[i].copy(), delta_hat[i].copy()
            for it in range(1, int(self.max_iter) + 1):
                n_iter = max(n_iter, it)
                g_new = (n * tau2[i] * gamma_hat[i] + d_old * gamma_bar[i]) / (n * tau2[i] + d_old)
                ss = ((zi - g_new) ** 2).sum(axis=0)
                d_new = (b[i] + 0.5 * ss) / (n / 2 + a[i] - 1)
                change = max(np.max(np.abs(g_new - g_old) / np.maximum(np.abs(g_old), 1e-12)),
                             np.max(np.abs(d_new - d_old) / d_old))
                g_old, d_old = g_new, d_new
                if change < self.tol:
                    break
            g_star[i], d_star[i] = g_old, d_old
        return g_star, d_star, n_iter

    def transform(self, X, *, site=None, covariates=None):
        """Harmonise rows with the training-fold site effects.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.
        site : array-like of shape (n_samples,) or None, default=None
            Site of each row (required when ``fit`` got ``site=``).
        covariates : array-like or None, default=None
            Covariates of these rows (required when ``fit`` got ``covariates=``).

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_out)
            Harmonised features, followed by the covariates if ``keep_covariates``.

        Raises
        ------
        DataError
            A site unseen in training (with ``unseen_site="error"``, or with one row
            under ``"self"``), site labels of mixed types.
        ValueError
            ``site`` or ``covariates`` missing although ``fit`` got them (or given
            although it did not), or a different number of covariates than in ``fit``.
        """
        check_is_fitted(self, "gamma_star_")
        layout = self.layout_
        if layout == "metadata" and site is None:
            raise ValueError("ComBat was fitted with site=; transform needs the site of these "
                             "rows too (in a Pipeline: enable metadata routing and pass site= "
                             "to predict/transform, or use site_column= for "
                             "cross_val_predict).")
        if layout in ("columns", "last_columns") and (site is not None
                                                       or covariates is not None):
            raise ValueError(f"ComBat takes site and covariates from the columns of X (layout "
                             f"{layout!r}); do not pass site= or covariates=.")
        if layout == "one_site" and site is not None:
            raise ValueError("ComBat was fitted without a site (all rows one site); do not "
                             "pass site= to transform.")
        n_cov = self.beta_.shape[0]
        if layout in ("metadata", "one_site") and n_cov and covariates is None:
            raise ValueError(f"ComBat was fitted with {n_cov} covariate(s); transform needs "
                             "covariates= too.")
        feats, cov, site_arr = self._arrays(X, site, covariates, layout, reset=False)
        if cov.shape[1] != n_cov:
            raise ValueError(f"ComBat was fitted with {n_cov} covariate(s); got "
                             f"{cov.shape[1]}.")
        if layout == "one_site":
            site_arr = np.full(len(feats), self.sites_[0])
        stand = self.grand_mean_ + cov @ self.beta_
        z = (feats - stand) / np.sqrt(self.var_pooled_)
        out = np.empty_like(z)
        try:
            present = np.unique(site_arr)
        except TypeError:
            raise DataError("The site labels must be of one type (all numbers or all "
                            "strings).") from None
        for s in present:
            rows = site_arr == s
            hit = np.flatnonzero(self.sites_ == s)
            if hit.size:
                g, d = self.gamma_star_[hit[0]], self.delta_star_[hit[0]]
            elif self.unseen_site == "self":
                if rows.sum() < 2:
                    raise DataError(f"Site {_side.label_name(s)} was not in the training data "
                                    "and has only one row to estimate its effects from.")
                g = z[rows].mean(axis=0)
                d = z[rows].var(axis=0, ddof=1)
            else:
                raise DataError(
                    f"Site {_side.label_name(s)} was not in the training data (sites "
                    f"{self.sites_.tolist()}); pass unseen_site='self' to estimate it from "
                    "the new rows."
                )
            out[rows] = z[rows] - g
            out[rows] /= np.sqrt(d)
        harmonised = out * np.sqrt(self.var_pooled_) + stand
        if self.keep_covariates:
            return np.column_stack([harmonised, cov])
        return harmonised

    def fit_transform(self, X, y=None, *, site=None, covariates=None):
        """Fit on ``X`` and harmonise it (see :meth:`fit` and :meth:`transform`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        site, covariates : array-like or None, default=None
            Metadata of the rows, passed to both steps.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_out)
            The harmonised training rows, followed by the covariates if
            ``keep_covariates``.
        """
        return self.fit(X, y, site=site, covariates=covariates).transform(
            X, site=site, covariates=covariates)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: the features, then any kept covariates.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input names; None uses ``feature_names_in_`` (or ``x0, x1, ...``).

        Returns
        -------
        numpy.ndarray of str
            One name per output column of :meth:`transform`.
        """
        check_is_fitted(self, "gamma_star_")
        names = _names_in(self, input_features)
        return np.asarray([names[i] if not isinstance(i, str) else i for i in self._out_idx],
                          dtype=object)

