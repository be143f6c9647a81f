"""Comparing two predictive models: paired DeLong test and the corrected repeated-CV t-test.

:func:`delong_test` compares the AUCs of two scores of the same subjects (DeLong et al.
1988; clustered rows after Obuchowski 1997); :func:`corrected_ttest` compares two
models evaluated on the same cross-validation splits with the variance correction of
Nadeau & Bengio (2003) in the repeated k-fold form of Bouckaert & Frank (2004). Both
return one row with the columns :data:`painmarkers.schema.COMPARISON_COLUMNS`.
:func:`painmarkers.prediction.incremental_value` uses both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._validation import check_array_finite, check_choice, check_interval
from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction.metrics import _binary_target, _midrank
from painmarkers.schema import COMPARISON_COLUMNS

__all__ = ["corrected_ttest", "delong_test"]

_ALTERNATIVES = ("two-sided", "greater", "less")


def _row(**values) -> pd.DataFrame:
    return pd.DataFrame([{c: values.get(c, np.nan) for c in COMPARISON_COLUMNS}])


def _p_value(statistic: float, alternative: str, dist) -> float:
    if not np.isfinite(statistic):
        if np.isnan(statistic):
            return np.nan
        sign = np.sign(statistic)
        return float({"two-sided": 0.0, "greater": 0.0 if sign > 0 else 1.0,
                      "less": 0.0 if sign < 0 else 1.0}[alternative])
    if alternative == "two-sided":
        return float(2 * dist.sf(abs(statistic)))
    if alternative == "greater":
        return float(dist.sf(statistic))
    return float(dist.cdf(statistic))


def _components(y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (positives) and V01 (negatives)."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    r_all = _midrank(np.concatenate([pos, neg]))
    v10 = (r_all[:m] - _midrank(pos)) / n
    v01 = 1.0 - (r_all[m:] - _midrank(neg)) / m
    return float(v10.mean()), v10, v01


def _delong_covariance(y, scores, clusters=None) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and their DeLong covariance matrix (k, k) for scores (k, n)."""
    comps = [_components(y, s) for s in scores]
    auc = np.array([c[0] for c in comps])
    v10 = np.vstack([c[1] for c in comps])   # (k, m)
    v01 = np.vstack([c[2] for c in comps])   # (k, n)
    m, n = v10.shape[1], v01.shape[1]
    if clusters is None:
        s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(auc), len(auc)))
        s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(auc), len(auc)))
        return auc, s10 / m + s01 / n
    codes, uniq = pd.factorize(np.concatenate([clusters[y == 1], clusters[y == 0]]))
    k = len(uniq)
    if k < 2:
        raise DesignError("A clustered DeLong covariance needs at least 2 clusters (subjects).")
    m_i = np.bincount(codes[:m], minlength=k)
    n_i = np.bincount(codes[m:], minlength=k)
    c10 = np.vstack([np.bincount(codes[:m], weights=v, minlength=k) for v in v10])
    c01 = np.vstack([np.bincount(codes[m:], weights=v, minlength=k) for v in v01])
    d10 = c10 - m_i[None] * auc[:, None]
    d01 = c01 - n_i[None] * auc[:, None]
    s10 = k / ((k - 1) * m) * d10 @ d10.T
    s01 = k / ((k - 1) * n) * d01 @ d01.T
    s11 = k / (k - 1) * d10 @ d01.T
    return auc, s10 / m + s01 / n + (s11 + s11.T) / (m * n)


def delong_test(
    y_true,
    scores_a,
    scores_b,
    *,
    clusters=None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    names: tuple[str, str] = ("a", "b"),
) -> pd.DataFrame:
    """Paired DeLong test of two ROC AUCs measured on the same subjects.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for positives, 0 for negatives.
    scores_a, scores_b : array-like of shape (n,)
        The two biomarkers' scores of the same rows (higher = positive), e.g. the
        out-of-fold scores of two models (``BiomarkerEvaluation.predictions["score"]``).
    clusters : array-like of shape (n,) or None, default=None
        Subject id of each row when subjects contribute several rows: the variances
        and covariance are Obuchowski's (1997) clustered versions.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        ``"greater"``: AUC a > AUC b.
    confidence : float, default=0.95
        Level of the interval of the difference.
    names : (str, str), default=("a", "b")
        Labels written to ``model_a`` and ``model_b``.

    Returns
    -------
    pandas.DataFrame
        One row, columns :data:`painmarkers.schema.COMPARISON_COLUMNS`:
        ``comparison="delong"``, ``metric="auc"``, ``estimate_a``/``estimate_b`` the
        AUCs, ``difference`` = a - b with its Wald interval, ``statistic`` z, ``p``,
        ``n`` rows; ``df`` is NaN.

    Raises
    ------
    DataError
        Non-binary labels, non-finite scores or mismatched lengths.
    DesignError
        One class only.

    See Also
    --------
    roc_auc_ci : One AUC with its interval.
    corrected_ttest : Compare models by their per-split metrics.

    Notes
    -----
    With structural components ``V10_r(X_i)`` (positives) and ``V01_r(Y_j)``
    (negatives) of scores r = a, b (see :func:`delong_auc_variance`), the covariance
    matrix of the two AUCs is ``S = S10 / m + S01 / n`` with ``S10``, ``S01`` the 2 x 2
    sample covariance matrices (ddof 1) of the components over the m positives and n
    negatives (DeLong et al. 1988, computed from midranks as Sun & Xu 2014). Then
    ``z = (AUC_a - AUC_b) / sqrt(S_aa + S_bb - 2 S_ab)``, p from the standard normal,
    and the interval ``difference ± z_{1-α/2} sqrt(...)``. The numbers equal R pROC's
    ``roc.test(roc_a, roc_b, method="delong", paired=TRUE)`` (tested on fixtures made
    by R; ``tests/prediction/data/delong_proc``). With ``clusters`` (I clusters,
    cluster sums of the components, cluster class counts ``m_i``, ``n_i``)::

        S10_rs = I / ((I-1) M) Σ_i (V10_r,i - m_i A_r)(V10_s,i - m_i A_s)
        S01_rs = I / ((I-1) N) Σ_i (V01_r,i - n_i A_r)(V01_s,i - n_i A_s)
        S11_rs = I / (I-1)     Σ_i (V10_r,i - m_i A_r)(V01_s,i - n_i A_s)
        Cov(A_r, A_s) = S10_rs / M + S01_rs / N + (S11_rs + S11_sr) / (M N)

    (Obuchowski 1997), the covariance version of the variance of :func:`roc_auc_ci`.
    Out-of-fold scores are not independent across rows (models share training data);
    the test treats them as if they were, as all published uses of DeLong on CV
    scores do. For two models evaluated on the same folds, :func:`corrected_ttest`
    accounts for the CV dependence.

    References
    ----------
    .. [1] DeLong, E. R., DeLong, D. M., & Clarke-Pearson, D. L. (1988). Comparing
       the areas under two or more correlated receiver operating characteristic
       curves: a nonparametric approach. Biometrics, 44(3), 837-845.
    .. [2] Sun, X., & Xu, W. (2014). Fast implementation of DeLong's algorithm for
       comparing the areas under correlated receiver operating characteristic
       curves. IEEE Signal Processing Letters, 21(11), 1389-1393.
    .. [3] Obuchowski, N. A. (1997). Nonparametric analysis of clustered ROC curve
       data. Biometrics, 53(2), 567-578.
    .. [4] Robin, X., et al. (2011). pROC: an open-source package for R and S+ to
       analyze and compare ROC curves. BMC Bioinformatics, 12, 77.

    Examples
    --------
    >>> from painmarkers.prediction import delong_test
    >>> y = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> a = [0.1, 0.3, 0.2, 0.6, 0.4, 0.7, 0.8, 0.9]
    >>> b = [0.2, 0.1, 0.5, 0.4, 0.3, 0.6, 0.5, 0.8]
    >>> res = delong_test(y, a, b)
    >>> res[["estimate_a", "estimate_b", "difference"]].round(4).to_dict("records")
    [{'estimate_a': 0.9375, 'estimate_b': 0.8438, 'difference': 0.0938}]
    """
    check_choice(alternative, _ALTERNATIVES, "alternative")
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    y = _binary_target(y_true)
    a = check_array_finite(scores_a, "scores_a").ravel()
    b = check_array_finite(scores_b, "scores_b").ravel()
    for name, s in (("scores_a", a), ("scores_b", b)):
        if s.shape != y.shape:
            raise DataError(f"{name} has shape {s.shape} but y_true has shape {y.shape}.")
    g = None
    if clusters is not None:
        g = np.asarray(clusters)
        if g.shape != y.shape:
            raise DataError(f"clusters has shape {g.shape} but y_true has shape {y.shape}.")
    auc, cov = _delong_covariance(y, np.vstack([a, b]), g)
    diff = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = np.sqrt(max(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se if se > 0 else (np.nan if diff == 0 else np.sign(diff) * np.inf)
    half = stats.norm.isf((1 - confidence) / 2) * se
    method = ("paired DeLong (Obuchowski clustered)" if g is not None else "paired DeLong")
    return _row(comparison="delong", metric="auc", model_a=names[0], model_b=names[1],
                estimate_a=float(auc[0]), estimate_b=float(auc[1]), difference=diff,
                ci_low=diff - half, ci_high=diff + half, confidence=confidence,
                statistic=float(z), p=_p_value(float(z), alternative, stats.norm),
                alternative=alternative, n=int(y.size), method=method)


def corrected_ttest(
    scores_a,
    scores_b,
    *,
    n_train,
    n_test,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    metric: str = "score",
    names: tuple[str, str] = ("a", "b"),
) -> pd.DataFrame:
    """Nadeau-Bengio corrected t-test of two models scored on the same CV splits.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (J,)
        Per-split scores of the two models on the same J = k x r splits (e.g. the
        ``auc`` or ``r2`` column of two results' ``folds`` tables, in the same order).
    n_train, n_test : int or array-like of shape (J,)
        Training and test set sizes (per split; their means are used).
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        ``"greater"``: model a scores higher.
    confidence : float, default=0.95
        Level of the interval of the mean difference.
    metric : str, default="score"
        Name written to the ``metric`` column.
    names : (str, str), default=("a", "b")
        Labels written to ``model_a`` and ``model_b``.

    Returns
    -------
    pandas.DataFrame
        One row, columns :data:`painmarkers.schema.COMPARISON_COLUMNS`:
        ``comparison="nadeau_bengio"``, ``estimate_a``/``estimate_b`` the mean scores,
        ``difference`` their mean difference with its interval, ``statistic`` t,
        ``df`` = J - 1, ``p``, ``n`` = J.

    Raises
    ------
    DataError
        Non-finite or mismatched scores, fewer than 2 splits, sizes not positive.

    See Also
    --------
    delong_test : Compare the AUCs of pooled scores.
    incremental_value : Uses both tests on nested models.

    Notes
    -----
    With differences ``d_j = a_j - b_j`` over J splits, mean ``d̄`` and sample variance
    ``s²`` (ddof 1)::

        t = d̄ / sqrt((1/J + n_test/n_train) s²),   df = J - 1

    The naive paired t-test uses ``s²/J`` and ignores that the training sets of
    different splits overlap, so the d_j are positively correlated; its type I error
    can exceed 50 %. Nadeau & Bengio (2003) add ``n_test/n_train`` to correct for
    that correlation; Bouckaert & Frank (2004) recommend it for r-times-repeated
    k-fold CV with J = k r (their "corrected repeated k-fold cv test"). The interval is
    ``d̄ ± t_{1-α/2, J-1} sqrt((1/J + n_test/n_train) s²)``. If all differences are
    equal the statistic is ±inf (p 0) or NaN (all zero).

    References
    ----------
    .. [1] Nadeau, C., & Bengio, Y. (2003). Inference for the generalization error.
       Machine Learning, 52(3), 239-281.
    .. [2] Bouckaert, R. R., & Frank, E. (2004). Evaluating the replicability of
       significance tests for comparing learning algorithms. PAKDD 2004, LNCS 3056,
       3-12.

    Examples
    --------
    >>> from painmarkers.prediction import corrected_ttest
    >>> res = corrected_ttest([0.8, 0.7, 0.9, 0.75], [0.7, 0.7, 0.8, 0.7],
    ...                       n_train=80, n_test=20)
    >>> round(float(res.loc[0, "statistic"]), 4), int(res.loc[0, "df"])
    (1.8464, 3)
    """
    check_choice(alternative, _ALTERNATIVES, "alternative")
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    a = check_array_finite(scores_a, "scores_a").ravel()
    b = check_array_finite(scores_b, "scores_b").ravel()
    if a.shape != b.shape:
        raise DataError(f"scores_a has {a.size} split(s) but scores_b has {b.size}; both "
                        "models must be scored on the same splits.")
    if a.size < 2:
        raise DataError(f"The corrected t-test needs at least 2 splits; got {a.size}.")
    tr = check_array_finite(n_train, "n_train").ravel()
    te = check_array_finite(n_test, "n_test").ravel()
    if (tr <= 0).any() or (te <= 0).any():
        raise DataError("n_train and n_test must be positive.")
    ratio = float(te.mean() / tr.mean())
    d = a - b
    J = d.size
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    se = np.sqrt((1.0 / J + ratio) * var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / se if se > 0 else (np.nan if mean == 0 else np.sign(mean) * np.inf)
    dist = stats.t(J - 1)
    half = dist.isf((1 - confidence) / 2) * se
    return _row(comparison="nadeau_bengio", metric=metric, model_a=names[0], model_b=names[1],
                estimate_a=float(a.mean()), estimate_b=float(b.mean()), difference=mean,
                ci_low=mean - half, ci_high=mean + half, confidence=confidence,
                statistic=float(t), df=float(J - 1), p=_p_value(float(t), alternative, dist),
                alternative=alternative, n=int(J),
                method=f"corrected repeated-CV t (n_test/n_train = {ratio:.4g})")
