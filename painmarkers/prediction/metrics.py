"""Classifier and regression metrics with confidence intervals.

:func:`roc_auc_ci` gives the ROC AUC with a DeLong (Sun & Xu 2014 fast algorithm)
or stratified bootstrap interval; :func:`binary_metrics` gives sensitivity,
specificity, PPV, NPV (also at a user-given prevalence), accuracy and balanced
accuracy with Wilson or bootstrap intervals; :func:`forced_choice_accuracy`
scores paired designs; :func:`regression_metrics` gives R², MAE, RMSE, Pearson r
and the calibration slope and intercept of continuous predictions with (cluster)
bootstrap intervals. All return tidy frames
(:data:`painmarkers.schema.METRIC_COLUMNS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._validation import (
    check_array_finite,
    check_choice,
    check_interval,
    check_positive_int,
    check_random_state,
)
from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction._progress import progress_bar
from painmarkers.schema import METRIC_COLUMNS

__all__ = [
    "binary_metrics",
    "delong_auc_variance",
    "forced_choice_accuracy",
    "regression_metrics",
    "roc_auc_ci",
    "wilson_ci",
]


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c, np.nan) for c in METRIC_COLUMNS} for r in rows])


def _binary_target(y_true, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise DataError(f"{name} must be 1-D; got shape {y.shape}.")
    values = np.unique(y[~pd.isna(y)]) if y.dtype == object else np.unique(y)
    if not set(values.tolist()) <= {0, 1}:
        raise DataError(
            f"{name} must hold 0/1 (or booleans), 1 marking the positive class; got values "
            f"{values.tolist()[:6]}."
        )
    y = y.astype(int)
    if y.min() == y.max():
        raise DesignError(
            f"{name} holds only one class ({'positive' if y[0] else 'negative'}, n={y.size}); "
            "a ROC curve needs both."
        )
    return y


@deprecate_positional(confidence=2)
def wilson_ci(successes, n, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    successes : int or array-like
        Number of successes.
    n : int or array-like
        Number of trials (> 0).
    confidence : float, default=0.95
        Confidence level (keyword-only; by position it still works until 0.3, with a
        FutureWarning).

    Returns
    -------
    low : numpy.ndarray
        Lower limit of the interval (NaN where ``n`` is 0).
    high : numpy.ndarray
        Upper limit of the interval (NaN where ``n`` is 0).

    See Also
    --------
    binary_metrics : Sensitivity, specificity and predictive values with these intervals.

    Notes
    -----
    With p = x/n and z = Phi^-1(1 - alpha/2), the limits are
    ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` (Wilson 1927); it keeps
    good coverage near 0 and 1 and for small n, unlike the Wald interval.

    References
    ----------
    .. [1] Wilson, E. B. (1927). Probable inference, the law of succession, and
       statistical inference. JASA, 22(158), 209-212.

    Examples
    --------
    >>> from painmarkers.prediction.metrics import wilson_ci
    >>> low, high = wilson_ci(8, 10)
    >>> round(float(low), 4), round(float(high), 4)
    (0.4902, 0.9433)
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.isf((1 - confidence) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _midrank(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, axis=-1)


def delong_auc_variance(y_true, scores) -> tuple[float, float]:
    """AUC and its DeLong variance (fast algorithm of Sun & Xu 2014).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for positives, 0 for negatives.
    scores : array-like of shape (n,)
        Higher means more likely positive.

    Returns
    -------
    auc : float
        The Mann-Whitney AUC (ties count 1/2).
    variance : float
        The DeLong variance estimate of the AUC.

    See Also
    --------
    roc_auc_ci : The AUC with its interval (clustered when rows share subjects).
    delong_test : Compare two correlated AUCs.

    Notes
    -----
    With m positives X and n negatives Y, ``V10_i = mean_j psi(X_i, Y_j)`` and
    ``V01_j = mean_i psi(X_i, Y_j)`` where ``psi`` is 1, 1/2, 0 for >, =, <. Then
    ``Var(AUC) = S10/m + S01/n`` with S the sample variances (ddof 1) of the
    structural components (DeLong et al. 1988). Sun & Xu compute the components
    from midranks in O(N log N): ``V10_i = (R_i - R^X_i) / n`` with R the midrank in the
    pooled sample and R^X the midrank among positives.

    References
    ----------
    .. [1] DeLong, E. R., DeLong, D. M., & Clarke-Pearson, D. L. (1988). Comparing the
       areas under two or more correlated receiver operating characteristic curves: a
       nonparametric approach. Biometrics, 44(3), 837-845.
    .. [2] Sun, X., & Xu, W. (2014). Fast implementation of DeLong's algorithm for
       comparing the areas under correlated receiver operating characteristic curves.
       IEEE Signal Processing Letters, 21(11), 1389-1393.

    Examples
    --------
    >>> from painmarkers.prediction.metrics import delong_auc_variance
    >>> auc, var = delong_auc_variance([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> auc
    0.75
    """
    y = _binary_target(y_true)
    s = check_array_finite(scores, "scores")
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    r_all = _midrank(np.concatenate([pos, neg]))
    r_pos = _midrank(pos)
    r_neg = _midrank(neg)
    v10 = (r_all[:m] - r_pos) / n
    v01 = 1.0 - (r_all[m:] - r_neg) / m
    auc = float(v10.mean())
    s10 = v10.var(ddof=1) if m > 1 else 0.0
    s01 = v01.var(ddof=1) if n > 1 else 0.0
    return auc, float(s10 / m + s01 / n)


def _clustered_delong(y: np.ndarray, s: np.ndarray, clusters: np.ndarray
                      ) -> tuple[float, float]:
    """AUC and Obuchowski's (1997) clustered DeLong variance."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    r_all = _midrank(np.concatenate([pos, neg]))
    v10 = (r_all[:m] - _midrank(pos)) / n
    v01 = 1.0 - (r_all[m:] - _midrank(neg)) / m
    auc = float(v10.mean())
    codes, uniq = pd.factorize(np.concatenate([clusters[y == 1], clusters[y == 0]]))
    k = len(uniq)
    if k < 2:
        raise DesignError("A clustered AUC variance needs at least 2 clusters (subjects).")
    c10 = np.bincount(codes[:m], weights=v10, minlength=k)
    c01 = np.bincount(codes[m:], weights=v01, minlength=k)
    m_i = np.bincount(codes[:m], minlength=k)
    n_i = np.bincount(codes[m:], minlength=k)
    d10 = c10 - m_i * auc
    d01 = c01 - n_i * auc
    s10 = k / ((k - 1) * m) * np.sum(d10**2)
    s01 = k / ((k - 1) * n) * np.sum(d01**2)
    s11 = k / (k - 1) * np.sum(d10 * d01)
    return auc, float(s10 / m + s01 / n + 2 * s11 / (m * n))


def _auc_batch(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each row of ``s`` (B, n) against labels ``y`` (B, n) or (n,)."""
    y = np.broadcast_to(y, s.shape)
    ranks = stats.rankdata(s, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@rename_parameters(groups="clusters")
@deprecate_positional(method=2, confidence=3, n_bootstrap=4, random_state=5)
def roc_auc_ci(
    y_true,
    scores,
    *,
    method: str = "delong",
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=None,
    clusters=None,
) -> pd.DataFrame:
    """ROC AUC with a confidence interval.

    All parameters after ``scores`` are keyword-only (by position they still work
    until 0.3, with a FutureWarning).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 (or True) for positives, 0 for negatives.
    scores : array-like of shape (n,)
        Continuous scores, higher meaning positive (probabilities, decision values or
        a raw biomarker such as SMA ALFF).
    method : {"delong", "bootstrap"}, default="delong"
        ``"delong"``: asymptotic normal interval with the DeLong variance.
        ``"bootstrap"``: percentile interval of a stratified bootstrap (cases and
        controls resampled separately), or of a cluster bootstrap over ``clusters``.
    confidence : float, default=0.95
        Confidence level.
    n_bootstrap : int, default=2000
        Bootstrap resamples (bootstrap only).
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the bootstrap.
    clusters : array-like of shape (n,) or None, default=None
        One resampling-unit id per row (the subject id of each row when subjects
        contribute several rows, e.g. sessions). ``"delong"`` then uses Obuchowski's
        (1997) clustered extension of the DeLong variance and the bootstrap resamples
        whole clusters; None treats every row as independent. Was ``groups``
        (FutureWarning until 0.3).

    Returns
    -------
    pandas.DataFrame
        One row, columns :data:`painmarkers.schema.METRIC_COLUMNS`: ``metric``
        (``"auc"``), ``estimate``, ``ci_low``, ``ci_high``, ``confidence``,
        ``ci_method``, ``n`` (rows), ``numerator`` (positives), ``denominator``
        (negatives).

    Raises
    ------
    DesignError
        If ``y_true`` holds one class only.
    DataError
        If labels are not binary, lengths differ or scores are not finite.

    See Also
    --------
    delong_auc_variance : The DeLong variance of one AUC.
    delong_test : Compare two correlated AUCs.
    binary_metrics : Threshold metrics with intervals.

    Notes
    -----
    AUC = P(score of a random positive > score of a random negative) + P(tie)/2, the
    Mann-Whitney statistic. DeLong: ``AUC ± z_{1-alpha/2} sqrt(Var)`` clipped to
    [0, 1] (as R pROC). With ``clusters`` (I clusters, M positive and N negative rows,
    cluster sums ``V10_i``, ``V01_i`` of the structural components and cluster class
    counts ``m_i``, ``n_i``)::

        S10 = I / ((I-1) M) sum_i (V10_i - m_i AUC)²
        S01 = I / ((I-1) N) sum_i (V01_i - n_i AUC)²
        S11 = I / (I-1)     sum_i (V10_i - m_i AUC)(V01_i - n_i AUC)
        Var = S10 / M + S01 / N + 2 S11 / (M N)

    (Obuchowski 1997), which allows rows of one subject to be correlated. The
    bootstrap interval is the percentile interval; resamples with a single class
    (cluster bootstrap) are redrawn. Out-of-fold scores of cross-validation are not
    independent of each other (models share training data), so intervals from them
    are approximate; :func:`evaluate_biomarker` averages each row's scores over CV
    repeats before calling this function.

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

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.prediction.metrics import roc_auc_ci
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> s = np.array([0.1, 0.3, 0.2, 0.6, 0.4, 0.7, 0.8, 0.9])
    >>> res = roc_auc_ci(y, s)
    >>> float(res.loc[0, "estimate"])
    0.9375
    """
    check_choice(method, ("delong", "bootstrap"), "method")
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    y = _binary_target(y_true)
    s = check_array_finite(scores, "scores")
    if s.shape != y.shape:
        raise DataError(f"scores has shape {s.shape} but y_true has shape {y.shape}.")
    alpha = 1 - confidence
    if clusters is not None and np.asarray(clusters).shape != y.shape:
        raise DataError(
            f"clusters has shape {np.asarray(clusters).shape} but y_true has shape {y.shape}."
        )
    if method == "delong":
        if clusters is None:
            auc, var = delong_auc_variance(y, s)
            label = "DeLong"
        else:
            auc, var = _clustered_delong(y, s, np.asarray(clusters))
            label = "clustered DeLong (Obuchowski)"
        half = stats.norm.isf(alpha / 2) * np.sqrt(var)
        low, high = max(0.0, auc - half), min(1.0, auc + half)
    else:
        n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", minimum=10)
        rng = check_random_state(random_state)
        auc, _ = delong_auc_variance(y, s)
        boots = _bootstrap_auc(y, s, n_bootstrap, rng, clusters)
        low, high = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        label = "stratified bootstrap" if clusters is None else "cluster bootstrap"
    return _frame([{
        "metric": "auc", "estimate": auc, "ci_low": float(low), "ci_high": float(high),
        "confidence": confidence, "ci_method": label, "n": int(y.size),
        "numerator": int(y.sum()), "denominator": int((1 - y).sum()),
    }])


def _bootstrap_auc(y, s, n_bootstrap, rng, clusters=None) -> np.ndarray:
    if clusters is None:
        pos, neg = s[y == 1], s[y == 0]
        bp = pos[rng.integers(0, pos.size, (n_bootstrap, pos.size))]
        bn = neg[rng.integers(0, neg.size, (n_bootstrap, neg.size))]
        lab = np.r_[np.ones(pos.size, int), np.zeros(neg.size, int)]
        return _auc_batch(lab, np.hstack([bp, bn]))
    g = np.asarray(clusters)
    if g.shape != y.shape:
        raise DataError(f"clusters has shape {g.shape} but y_true has shape {y.shape}.")
    codes, uniq = pd.factorize(g)
    members = [np.flatnonzero(codes == k) for k in range(len(uniq))]
    out = np.empty(n_bootstrap)
    i = 0
    while i < n_bootstrap:
        pick = rng.integers(0, len(members), len(members))
        idx = np.concatenate([members[k] for k in pick])
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        out[i] = _auc_batch(yy[None], s[idx][None])[0]
        i += 1
    return out


def binary_metrics(
    y_true,
    y_pred,
    *,
    confidence: float = 0.95,
    prevalence: float | None = None,
    n_bootstrap: int = 2000,
    random_state=None,
) -> pd.DataFrame:
    """Sensitivity, specificity, PPV, NPV, accuracy and balanced accuracy with CIs.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for positives (e.g. patients), 0 for negatives.
    y_pred : array-like of shape (n,)
        Predicted labels (0/1).
    confidence : float, default=0.95
        Confidence level.
    prevalence : float or None, default=None
        Base rate in the population where the test would be used, in (0, 1). If
        given, rows ``ppv_at_prevalence`` and ``npv_at_prevalence`` are added (a
        case-control sample's own PPV/NPV reflect its sampling ratio, not the clinic's).
    n_bootstrap : int, default=2000
        Resamples for the balanced-accuracy and prevalence-adjusted intervals.
    random_state : int, numpy.random.Generator or None, default=None
        Seed of those resamples.

    Returns
    -------
    pandas.DataFrame
        One row per metric (``sensitivity``, ``specificity``, ``ppv``, ``npv``,
        ``accuracy``, ``balanced_accuracy``, and optionally ``ppv_at_prevalence``,
        ``npv_at_prevalence``), columns :data:`painmarkers.schema.METRIC_COLUMNS`;
        ``numerator``/``denominator`` are the counts of the proportion.

    Raises
    ------
    DataError, DesignError
        For non-binary labels, mismatched lengths, or one class only.

    Notes
    -----
    Proportions get Wilson intervals. Balanced accuracy (sens + spec)/2 and
    prevalence-adjusted ``PPV = sens π / (sens π + (1 - spec)(1 - π))`` (and
    ``NPV = spec (1-π) / (spec (1-π) + (1 - sens) π)``) get percentile intervals from
    a stratified bootstrap, drawn exactly as binomial resamples of the true-positive
    and true-negative counts (resampling cases and controls with replacement gives
    binomial counts). A metric with a zero denominator (no predicted positives for
    PPV) is NaN.

    References
    ----------
    .. [1] Altman, D. G., & Bland, J. M. (1994). Diagnostic tests 2: predictive
       values. BMJ, 309, 102.

    Examples
    --------
    >>> from painmarkers.prediction.metrics import binary_metrics
    >>> res = binary_metrics([1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 1],
    ...                      random_state=0)
    >>> res.set_index("metric").loc["sensitivity", "estimate"]
    np.float64(0.75)
    """
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    y = _binary_target(y_true)
    p = np.asarray(y_pred)
    if p.shape != y.shape:
        raise DataError(f"y_pred has shape {p.shape} but y_true has shape {y.shape}.")
    if not set(np.unique(p).tolist()) <= {0, 1}:
        raise DataError(f"y_pred must hold 0/1 labels; got {np.unique(p).tolist()[:6]}.")
    p = p.astype(int)
    if prevalence is not None:
        prevalence = check_interval(prevalence, "prevalence", 0, 1, closed="neither")
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", minimum=10)
    tp = int(((p == 1) & (y == 1)).sum())
    tn = int(((p == 0) & (y == 0)).sum())
    fp = int(((p == 1) & (y == 0)).sum())
    fn = int(((p == 0) & (y == 1)).sum())
    n_pos, n_neg = tp + fn, tn + fp
    props = [
        ("sensitivity", tp, n_pos), ("specificity", tn, n_neg), ("ppv", tp, tp + fp),
        ("npv", tn, tn + fn), ("accuracy", tp + tn, y.size),
    ]
    rows = []
    for name, num, den in props:
        low, high = wilson_ci(num, den, confidence=confidence)
        rows.append({"metric": name, "estimate": num / den if den else np.nan,
                     "ci_low": float(low) if den else np.nan,
                     "ci_high": float(high) if den else np.nan, "confidence": confidence,
                     "ci_method": "Wilson", "n": int(y.size), "numerator": num,
                     "denominator": den})
    rng = check_random_state(random_state)
    sens_b = rng.binomial(n_pos, tp / n_pos, n_bootstrap) / n_pos
    spec_b = rng.binomial(n_neg, tn / n_neg, n_bootstrap) / n_neg
    q = [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2]
    sens, spec = tp / n_pos, tn / n_neg
    bal_b = (sens_b + spec_b) / 2
    lo, hi = np.percentile(bal_b, q)
    rows.append({"metric": "balanced_accuracy", "estimate": (sens + spec) / 2, "ci_low": lo,
                 "ci_high": hi, "confidence": confidence, "ci_method": "stratified bootstrap",
                 "n": int(y.size)})
    if prevalence is not None:
        pi = prevalence
        for name, fun in (
            ("ppv_at_prevalence", lambda se, sp: se * pi / (se * pi + (1 - sp) * (1 - pi))),
            ("npv_at_prevalence",
             lambda se, sp: sp * (1 - pi) / (sp * (1 - pi) + (1 - se) * pi)),
        ):
            with np.errstate(divide="ignore", invalid="ignore"):
                est = fun(sens, spec)
                boot = fun(sens_b, spec_b)
            boot = boot[np.isfinite(boot)]
            lo, hi = np.percentile(boot, q) if boot.size else (np.nan, np.nan)
            rows.append({"metric": name, "estimate": est, "ci_low": lo, "ci_high": hi,
                         "confidence": confidence,
                         "ci_method": f"stratified bootstrap (prevalence {pi:g})",
                         "n": int(y.size)})
    return _frame(rows)


@rename_parameters(groups="clusters")
def forced_choice_accuracy(
    y_true, scores, clusters, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Forced-choice accuracy of a paired design (e.g. pre vs post within subject).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for the positive condition, 0 for the other.
    scores : array-like of shape (n,)
        Classifier scores.
    clusters : array-like of shape (n,)
        One pair id per row (the subject id in a pre/post design); each pair must have
        exactly one positive and one negative row. Was ``groups`` (FutureWarning
        until 0.3).

    confidence : float, default=0.95
        Confidence level of the Wilson interval.

    Returns
    -------
    pandas.DataFrame
        One row (``metric="forced_choice_accuracy"``), columns
        :data:`painmarkers.schema.METRIC_COLUMNS`; ``numerator`` is the number of
        correctly ordered pairs (ties count 1/2), ``denominator`` the number of pairs.

    Raises
    ------
    DesignError
        If a subject does not have exactly one row of each condition (named).

    Notes
    -----
    For each subject the two scores are compared: correct if the positive condition
    scores higher (Wager et al. 2013). The accuracy is the mean over subjects; under
    H0 it is Binomial(n, 1/2)/n. Equal to the AUC restricted to within-subject pairs.

    References
    ----------
    .. [1] Wager, T. D., et al. (2013). An fMRI-based neurologic signature of
       physical pain. NEJM, 368(15), 1388-1397.

    Examples
    --------
    >>> from painmarkers.prediction.metrics import forced_choice_accuracy
    >>> res = forced_choice_accuracy([1, 0, 1, 0], [0.9, 0.2, 0.3, 0.5], ["a", "a", "b", "b"])
    >>> float(res.loc[0, "estimate"])
    0.5
    """
    y = _binary_target(y_true)
    s = check_array_finite(scores, "scores")
    g = np.asarray(clusters)
    if g.shape != y.shape:
        raise DataError(f"clusters has shape {g.shape} but y_true has shape {y.shape}.")
    frame = pd.DataFrame({"g": g, "y": y, "s": s})
    counts = frame.groupby(["g", "y"]).size().unstack(fill_value=0)
    bad = counts[(counts.get(0, 0) != 1) | (counts.get(1, 0) != 1)]
    if len(bad):
        who = bad.index[0]
        raise DesignError(
            f"Forced-choice accuracy needs exactly one positive and one negative row per "
            f"subject; subject {who!r} has {int(bad.loc[who].get(1, 0))} positive and "
            f"{int(bad.loc[who].get(0, 0))} negative row(s)."
        )
    wide = frame.pivot(index="g", columns="y", values="s")
    diff = wide[1] - wide[0]
    correct = float((diff > 0).sum() + 0.5 * (diff == 0).sum())
    n = len(diff)
    low, high = wilson_ci(correct, n, confidence=confidence)
    return _frame([{"metric": "forced_choice_accuracy", "estimate": correct / n,
                    "ci_low": float(low), "ci_high": float(high), "confidence": confidence,
                    "ci_method": "Wilson", "n": n, "numerator": correct, "denominator": n}])


#: Rows of :func:`regression_metrics`, in order.
REGRESSION_METRICS = ("r2", "mae", "rmse", "pearson_r", "calibration_slope",
                      "calibration_intercept")


def _cluster_weights(codes: np.ndarray, n_clusters: int, n_boot: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Row weights (n_boot, n): how often each row's cluster was drawn (with replacement)."""
    picks = rng.integers(0, n_clusters, (n_boot, n_clusters))
    flat = (np.arange(n_boot)[:, None] * n_clusters + picks).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_clusters).reshape(n_boot, n_clusters)
    return counts[:, codes].astype(float)


def _weighted_regression_stats(w: np.ndarray, y: np.ndarray, pred: np.ndarray,
                               base: np.ndarray) -> np.ndarray:
    """The :data:`REGRESSION_METRICS` for row weights ``w`` of shape (B, n): (B, 6)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = w.sum(axis=1)
        res = y - pred
        ss_res = w @ res**2
        ss_tot = w @ (y - base) ** 2
        my = (w @ y) / sw
        mp = (w @ pred) / sw
        dy = y[None] - my[:, None]
        dp = pred[None] - mp[:, None]
        cov = (w * dy * dp).sum(axis=1)
        vy = (w * dy**2).sum(axis=1)
        vp = (w * dp**2).sum(axis=1)
        slope = cov / vp
        return np.column_stack([1 - ss_res / ss_tot, (w @ np.abs(res)) / sw,
                                np.sqrt(ss_res / sw), cov / np.sqrt(vy * vp), slope,
                                my - slope * mp])


def regression_metrics(
    y_true,
    y_pred,
    *,
    baseline=None,
    clusters=None,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=None,
    progress: bool = False,
) -> pd.DataFrame:
    """R², MAE, RMSE, Pearson r and calibration of continuous predictions, with CIs.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed values.
    y_pred : array-like of shape (n,)
        Predicted values (e.g. out-of-fold predictions).
    baseline : array-like of shape (n,) or None, default=None
        What the intercept-only model predicts for each row: R² is measured against it.
        None: the mean of ``y_true`` (the in-sample mean). For cross-validated
        predictions pass each row's training-fold mean (what
        :func:`evaluate_prognosis` does), so that predicting the training mean scores 0.
    clusters : array-like of shape (n,) or None, default=None
        One resampling-unit id per row (the subject id when subjects have several rows):
        the bootstrap resamples whole clusters. None: every row its own cluster.
    confidence : float, default=0.95
        Level of the percentile bootstrap intervals.
    n_bootstrap : int, default=2000
        Bootstrap resamples (at least 10).
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the bootstrap.
    progress : bool, default=False
        Show a progress bar over the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per metric, columns :data:`painmarkers.schema.METRIC_COLUMNS`:
        ``r2`` (``numerator`` = SS_res, ``denominator`` = SS_tot), ``mae``, ``rmse``,
        ``pearson_r``, ``calibration_slope``, ``calibration_intercept``; ``n`` is the
        number of rows.

    Raises
    ------
    DataError
        Non-finite values or mismatched lengths.
    ValueError
        Fewer than 3 rows, or a parameter out of range.

    Notes
    -----
    With residuals ``e_i = y_i - ŷ_i`` and baseline ``b_i``::

        R²   = 1 - SS_res / SS_tot,  SS_res = Σ e_i²,  SS_tot = Σ (y_i - b_i)²
        MAE  = mean |e_i|,  RMSE = sqrt(mean e_i²)
        r    = Pearson correlation of ŷ and y
        y_i  = a + b ŷ_i  (least squares): calibration slope b, intercept a

    R² is the fraction of the baseline's squared error that the predictions remove
    (Poldrack et al. 2020): it is 0 for predictions as good as the baseline and
    negative for worse ones (out-of-sample it can be far below 0), unlike the squared
    correlation r², which ignores bias and scale. Perfect calibration is slope 1 and
    intercept 0; a slope below 1 means the predictions are too extreme (overfitting),
    above 1 too timid (over-shrunk). Intervals are percentile intervals of a bootstrap
    that resamples rows (or clusters) with replacement, each resample computing every
    metric from the same rows; resamples where a metric is undefined (constant
    predictions) are skipped for it. They treat the predictions as fixed: the
    uncertainty of refitting the model is not included.

    References
    ----------
    .. [1] Poldrack, R. A., Huckins, G., & Varoquaux, G. (2020). Establishment of best
       practices for evidence for prediction: a review. JAMA Psychiatry, 77(5), 534-540.
    .. [2] Steyerberg, E. W. (2019). Clinical Prediction Models, 2nd ed. Springer
       (calibration slope and intercept).

    Examples
    --------
    >>> from painmarkers.prediction import regression_metrics
    >>> res = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.0],
    ...                          n_bootstrap=100, random_state=0)
    >>> float(res.set_index("metric").loc["r2", "estimate"])
    0.9
    """
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", minimum=10)
    y = check_array_finite(y_true, "y_true").ravel()
    pred = check_array_finite(y_pred, "y_pred").ravel()
    if pred.shape != y.shape:
        raise DataError(f"y_pred has shape {pred.shape} but y_true has shape {y.shape}.")
    if y.size < 3:
        raise ValueError(f"regression_metrics needs at least 3 rows; got {y.size}.")
    base = (np.full_like(y, y.mean()) if baseline is None
            else check_array_finite(baseline, "baseline").ravel())
    if base.shape != y.shape:
        raise DataError(f"baseline has shape {base.shape} but y_true has shape {y.shape}.")
    if clusters is None:
        codes, k = np.arange(y.size), y.size
    else:
        g = np.asarray(clusters)
        if g.shape != y.shape:
            raise DataError(f"clusters has shape {g.shape} but y_true has shape {y.shape}.")
        codes, uniq = pd.factorize(g)
        k = len(uniq)
    rng = check_random_state(random_state)
    point = _weighted_regression_stats(np.ones((1, y.size)), y, pred, base)[0]
    boots = []
    bar = progress_bar(n_bootstrap, "bootstrap", progress, unit="resample")
    try:
        for start in range(0, n_bootstrap, 500):
            b = min(500, n_bootstrap - start)
            boots.append(_weighted_regression_stats(_cluster_weights(codes, k, b, rng), y,
                                                    pred, base))
            bar.update(b)
    finally:
        bar.close()
    boots = np.vstack(boots)
    alpha = 1 - confidence
    label = "percentile bootstrap" + (" (clusters)" if clusters is not None else "")
    ss_res, ss_tot = float(np.sum((y - pred) ** 2)), float(np.sum((y - base) ** 2))
    rows = []
    for j, name in enumerate(REGRESSION_METRICS):
        col = boots[:, j][np.isfinite(boots[:, j])]
        low, high = (np.quantile(col, [alpha / 2, 1 - alpha / 2]) if col.size
                     else (np.nan, np.nan))
        row = {"metric": name, "estimate": float(point[j]), "ci_low": float(low),
               "ci_high": float(high), "confidence": confidence, "ci_method": label,
               "n": int(y.size)}
        if name == "r2":
            row.update(numerator=ss_res, denominator=ss_tot)
        rows.append(row)
    return _frame(rows)
