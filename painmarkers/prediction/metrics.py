"""Classifier metrics with confidence intervals.

:func:`roc_auc_ci` gives the ROC AUC with a DeLong (Sun & Xu 2014 fast algorithm)
or stratified bootstrap interval; :func:`binary_metrics` gives sensitivity,
specificity, PPV, NPV (also at a user-given prevalence), accuracy and balanced
accuracy with Wilson or bootstrap intervals; :func:`forced_choice_accuracy`
scores paired designs. All return tidy frames
(:data:`painmarkers.schema.METRIC_COLUMNS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._validation import (
    check_array_finite,
    check_choice,
    check_interval,
    check_positive_int,
    check_random_state,
)
from painmarkers.exceptions import DataError, DesignError
from painmarkers.schema import METRIC_COLUMNS

__all__ = [
    "binary_metrics",
    "delong_auc_variance",
    "forced_choice_accuracy",
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


def wilson_ci(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    successes : int or array-like
        Number of successes.
    n : int or array-like
        Number of trials (> 0).
    confidence : float, default=0.95
        Confidence level.

    Returns
    -------
    low, high : numpy.ndarray
        Interval limits (NaN where ``n`` is 0).

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
    auc, variance : float
        The Mann-Whitney AUC (ties count 1/2) and the DeLong variance estimate.

    Notes
    -----
    With m positives X and n negatives Y, ``V10_i = mean_j psi(X_i, Y_j)`` and
    ``V01_j = mean_i psi(X_i, Y_j)`` where ``psi`` is 1, 1/2, 0 for >, =, <. Then
    ``Var(AUC) = S10/m + S01/n`` with S the sample variances (ddof 1) of the
    structural components (DeLong et al. 1988). Sun & Xu compute the components
    from midranks in O(N log N): ``V10_i = (R_i - R^X_i) / n`` with R the midrank in the
    pooled sample and R^X the midrank among positives.

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


def _clustered_delong(y: np.ndarray, s: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """AUC and Obuchowski's (1997) clustered DeLong variance."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    r_all = _midrank(np.concatenate([pos, neg]))
    v10 = (r_all[:m] - _midrank(pos)) / n
    v01 = 1.0 - (r_all[m:] - _midrank(neg)) / m
    auc = float(v10.mean())
    codes, uniq = pd.factorize(np.concatenate([groups[y == 1], groups[y == 0]]))
    k = len(uniq)
    if k < 2:
        raise DesignError("A clustered AUC variance needs at least 2 subjects (groups).")
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


def roc_auc_ci(
    y_true,
    scores,
    method: str = "delong",
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=None,
    *,
    groups=None,
) -> pd.DataFrame:
    """ROC AUC with a confidence interval.

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
        controls resampled separately), or of a cluster bootstrap over ``groups``.
    confidence : float, default=0.95
        Confidence level.
    n_bootstrap : int, default=2000
        Bootstrap resamples (bootstrap only).
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the bootstrap.
    groups : array-like of shape (n,), optional
        Cluster labels (subject ids) when subjects contribute several rows (e.g.
        sessions). ``"delong"`` then uses Obuchowski's (1997) clustered extension of
        the DeLong variance and the bootstrap resamples whole subjects.

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

    Notes
    -----
    AUC = P(score of a random positive > score of a random negative) + P(tie)/2, the
    Mann-Whitney statistic. DeLong: ``AUC ± z_{1-alpha/2} sqrt(Var)`` clipped to
    [0, 1] (as R pROC). With ``groups`` (I clusters, M positive and N negative rows,
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
    if groups is not None and np.asarray(groups).shape != y.shape:
        raise DataError(
            f"groups has shape {np.asarray(groups).shape} but y_true has shape {y.shape}."
        )
    if method == "delong":
        if groups is None:
            auc, var = delong_auc_variance(y, s)
            label = "DeLong"
        else:
            auc, var = _clustered_delong(y, s, np.asarray(groups))
            label = "clustered DeLong (Obuchowski)"
        half = stats.norm.isf(alpha / 2) * np.sqrt(var)
        low, high = max(0.0, auc - half), min(1.0, auc + half)
    else:
        n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", minimum=10)
        rng = check_random_state(random_state)
        auc, _ = delong_auc_variance(y, s)
        boots = _bootstrap_auc(y, s, n_bootstrap, rng, groups)
        low, high = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        label = "stratified bootstrap" if groups is None else "cluster bootstrap"
    return _frame([{
        "metric": "auc", "estimate": auc, "ci_low": float(low), "ci_high": float(high),
        "confidence": confidence, "ci_method": label, "n": int(y.size),
        "numerator": int(y.sum()), "denominator": int((1 - y).sum()),
    }])


def _bootstrap_auc(y, s, n_bootstrap, rng, groups=None) -> np.ndarray:
    if groups is None:
        pos, neg = s[y == 1], s[y == 0]
        bp = pos[rng.integers(0, pos.size, (n_bootstrap, pos.size))]
        bn = neg[rng.integers(0, neg.size, (n_bootstrap, neg.size))]
        lab = np.r_[np.ones(pos.size, int), np.zeros(neg.size, int)]
        return _auc_batch(lab, np.hstack([bp, bn]))
    g = np.asarray(groups)
    if g.shape != y.shape:
        raise DataError(f"groups has shape {g.shape} but y_true has shape {y.shape}.")
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
        low, high = wilson_ci(num, den, confidence)
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


def forced_choice_accuracy(
    y_true, scores, groups, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Forced-choice accuracy of a paired design (e.g. pre vs post within subject).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        1 for the positive condition, 0 for the other.
    scores : array-like of shape (n,)
        Classifier scores.
    groups : array-like of shape (n,)
        Subject ids; each subject must have exactly one positive and one negative row.

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
    g = np.asarray(groups)
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
    low, high = wilson_ci(correct, n, confidence)
    return _frame([{"metric": "forced_choice_accuracy", "estimate": correct / n,
                    "ci_low": float(low), "ci_high": float(high), "confidence": confidence,
                    "ci_method": "Wilson", "n": n, "numerator": correct, "denominator": n}])
