"""Leakage-safe, cross-validated evaluation of an imaging biomarker as a classifier."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from painmarkers import schema
from painmarkers._atomic import write_text
from painmarkers._validation import (
    check_choice,
    check_columns,
    check_interval,
    check_n_jobs,
    check_positive_int,
    check_random_state,
)
from painmarkers.exceptions import DataError, DesignError
from painmarkers.prediction import _cv
from painmarkers.prediction.metrics import (
    binary_metrics,
    forced_choice_accuracy,
    roc_auc_ci,
)
from painmarkers.prediction.pipelines import ComBat, ConfoundRegressor

__all__ = ["BiomarkerEvaluation", "evaluate_biomarker"]


def _brier_ci(y, p, groups, confidence: float, n_bootstrap: int,
              rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the Brier score, mean((p - y)^2).

    Rows are resampled with replacement, or whole subjects when a subject has several
    rows (a cluster bootstrap, as for the AUC).
    """
    err = (np.asarray(p, float) - np.asarray(y, float)) ** 2
    if groups is None:
        means = err[rng.integers(0, err.size, (n_bootstrap, err.size))].mean(axis=1)
    else:
        codes, uniq = pd.factorize(np.asarray(groups))
        sums = np.bincount(codes, weights=err, minlength=len(uniq))
        counts = np.bincount(codes, minlength=len(uniq))
        pick = rng.integers(0, len(uniq), (n_bootstrap, len(uniq)))
        means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


@dataclass(frozen=True, eq=False)
class BiomarkerEvaluation:
    """Result of :func:`evaluate_biomarker`.

    Attributes
    ----------
    auc, auc_ci_low, auc_ci_high : float
        Cross-validated ROC AUC (repeat-averaged out-of-fold scores) and its DeLong CI.
    permutation_p : float
        Label-permutation p-value of the AUC, (C + 1) / (n_permutations + 1); NaN
        when ``n_permutations=0``.
    metrics : pandas.DataFrame
        One row per metric (:data:`painmarkers.schema.METRIC_COLUMNS`): ``auc``
        (DeLong CI), ``auc_bootstrap``, ``balanced_accuracy``, ``sensitivity``,
        ``specificity``, ``ppv``, ``npv``, ``accuracy``, optionally
        ``ppv_at_prevalence``/``npv_at_prevalence``, ``brier``,
        ``auc_mean_over_repeats``, ``forced_choice_accuracy`` (paired designs),
        ``permutation_p``.
    folds : pandas.DataFrame
        One row per split: ``repeat``, ``fold``, ``n_train``, ``n_test``,
        ``n_test_positive``, ``n_test_negative``, ``test_subjects``, ``test_sites``,
        ``auc``, ``balanced_accuracy``, ``sensitivity``, ``specificity``, ``best_params``.
    roc : pandas.DataFrame
        ``fpr``, ``tpr``, ``threshold`` of the pooled ROC curve.
    calibration : pandas.DataFrame
        ``bin``, ``bin_low``, ``bin_high``, ``mean_predicted``, ``fraction_positive``,
        ``n`` (empty if the model gives no probabilities).
    predictions : pandas.DataFrame
        One row per analysed row: ``row``, ``subject_id``, ``target``, ``y``, ``score``
        (mean over repeats), ``score_sd``, ``n_scores``, ``predicted``.
    null_distribution : numpy.ndarray
        AUCs of the permuted-label refits.
    excluded : pandas.DataFrame
        Rows dropped before fitting, with ``row``, ``subject_id``, ``reason``.
    n, n_positive, n_negative, n_subjects : int
        Rows analysed, by class, and distinct subjects.
    parameters : dict
        Everything that produced the result (features, target, positive, model,
        cv, confounds, site, seeds, versions).
    """

    auc: float
    auc_ci_low: float
    auc_ci_high: float
    permutation_p: float
    metrics: pd.DataFrame = field(repr=False)
    folds: pd.DataFrame = field(repr=False)
    roc: pd.DataFrame = field(repr=False)
    calibration: pd.DataFrame = field(repr=False)
    predictions: pd.DataFrame = field(repr=False)
    null_distribution: np.ndarray = field(repr=False)
    excluded: pd.DataFrame = field(repr=False)
    n: int = 0
    n_positive: int = 0
    n_negative: int = 0
    n_subjects: int = 0
    parameters: dict = field(default_factory=dict, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The metrics table (one row per metric, see ``metrics``)."""
        return self.metrics.copy()

    def summary(self) -> str:
        """Human-readable summary: design, AUC with CIs, metrics, permutation p."""
        p = self.parameters
        m = self.metrics.set_index("metric")
        lines = [
            f"Biomarker evaluation: {p['target']} == {p['positive']!r} from "
            f"{', '.join(p['features'])}",
            f"n = {self.n} rows ({self.n_positive} positive, {self.n_negative} negative) from "
            f"{self.n_subjects} subjects; excluded {len(self.excluded)} row(s).",
            f"Model: {p['model']}",
            f"CV: {p['cv']}; confounds: {p['confounds'] or 'none'}; harmonisation: "
            f"{'ComBat in-fold' if p['harmonize'] else 'none'}.",
        ]
        for name in m.index:
            row = m.loc[name]
            if name == "permutation_p":
                continue
            ci = ("" if pd.isna(row["ci_low"]) else
                  f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}] ({row['ci_method']})")
            lines.append(f"  {name:<24s} {row['estimate']:.3f}{ci}")
        if self.auc in (0.0, 1.0):
            lines.append("Note: the out-of-fold scores separate the classes perfectly, so the "
                         "DeLong and bootstrap intervals collapse to a point; they understate "
                         f"the uncertainty with {self.n_positive} + {self.n_negative} rows "
                         "(report the permutation p and a replication).")
        if np.isfinite(self.permutation_p):
            lines.append(f"Permutation p = {self.permutation_p:.4f} "
                         f"({p['n_permutations']} label permutations, whole pipeline refitted).")
        return "\n".join(lines)

    def plot_roc(self, ax=None):
        """Plot the pooled out-of-fold ROC curve with the AUC and its CI; returns the Axes."""
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 4))
        ax.plot(self.roc["fpr"], self.roc["tpr"], lw=2,
                label=f"AUC {self.auc:.2f} [{self.auc_ci_low:.2f}, {self.auc_ci_high:.2f}]")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1),
               title="Cross-validated ROC")
        ax.legend(loc="lower right")
        return ax

    def plot_calibration(self, ax=None):
        """Plot observed fraction positive against mean predicted probability per bin."""
        plt = _pyplot()
        if self.calibration.empty:
            raise ValueError("The model gives no probabilities; there is no calibration curve.")
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 4))
        cal = self.calibration
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        ax.plot(cal["mean_predicted"], cal["fraction_positive"], marker="o")
        ax.set(xlabel="mean predicted probability", ylabel="fraction positive",
               xlim=(0, 1), ylim=(0, 1), title="Calibration")
        return ax

    def save(self, directory: str | os.PathLike) -> Path:
        """Write every table (CSV), the null distribution, parameters (JSON) and summary.

        Files are written atomically (temporary file then rename) into ``directory``,
        which is created if needed. Returns the directory path.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("metrics", "folds", "roc", "calibration", "predictions", "excluded"):
            write_text(out / f"{name}.csv", getattr(self, name).to_csv(index=False))
        write_text(out / "null_distribution.csv",
                      pd.Series(self.null_distribution, name="auc").to_csv(index=False))
        write_text(out / "parameters.json", json.dumps(self.parameters, indent=2, default=str))
        write_text(out / "summary.txt", self.summary() + "\n")
        return out


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("Plotting needs matplotlib: pip install matplotlib") from exc
    return plt


def _feature_columns(features) -> list[str]:
    if isinstance(features, str | tuple):
        features = [features]
    cols = []
    for f in features:
        if isinstance(f, tuple):
            if len(f) != 2:
                raise ValueError(f"Feature pairs must be (feature, roi); got {f!r}.")
            cols.append(schema.measure_column(*f))
        elif isinstance(f, str):
            cols.append(f)
        else:
            raise TypeError(f"Features must be column names or (feature, roi) pairs; got {f!r}.")
    if not cols:
        raise ValueError("The 'features' parameter must name at least one feature.")
    return cols


def _as_frame(data) -> tuple[pd.DataFrame, str | None]:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), None
    if hasattr(data, "wide") and hasattr(data, "subjects"):
        return data.wide().reset_index(drop=True), schema.SUBJECT
    raise TypeError(
        f"The 'data' parameter must be a Cohort or a pandas DataFrame. Got {type(data)}."
    )


def _default_model(n_features: int):
    # Same L2 objective either way; Newton-Cholesky is ~20x faster than lbfgs on the
    # small ROI designs that permutation tests refit thousands of times.
    solver = "newton-cholesky" if n_features <= 200 else "lbfgs"
    return Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(C=1.0, solver=solver, max_iter=1000))])


def _is_search(model) -> bool:
    return hasattr(model, "best_estimator_") or (
        hasattr(model, "estimator") and (hasattr(model, "param_grid")
                                         or hasattr(model, "param_distributions")))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import sklearn

    try:
        own = version("painmarkers")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        own = "unknown"
    return {"painmarkers": own, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__}


def _calibration(y, prob, n_bins) -> pd.DataFrame:
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(prob, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            rows.append({"bin": b, "bin_low": edges[b], "bin_high": edges[b + 1],
                         "mean_predicted": prob[sel].mean(), "fraction_positive": y[sel].mean(),
                         "n": int(sel.sum())})
    return pd.DataFrame(rows, columns=["bin", "bin_low", "bin_high", "mean_predicted",
                                       "fraction_positive", "n"])


def _fold_row(sp, y, scores, threshold, groups, sites, site_names, best):
    yt = y[sp.test]
    pred = (scores >= threshold).astype(int)
    pos, neg = yt == 1, yt == 0
    auc = np.nan
    if pos.any() and neg.any():
        auc = float(roc_auc_ci(yt, scores).loc[0, "estimate"])
    sens = pred[pos].mean() if pos.any() else np.nan
    spec = 1 - pred[neg].mean() if neg.any() else np.nan
    return {
        "repeat": sp.repeat, "fold": sp.fold, "n_train": sp.train.size, "n_test": sp.test.size,
        "n_test_positive": int(pos.sum()), "n_test_negative": int(neg.sum()),
        "test_subjects": ";".join(map(str, pd.unique(groups[sp.test]))),
        "test_sites": "" if sites is None else ";".join(
            str(site_names[s]) for s in pd.unique(sites[sp.test])),
        "auc": auc, "balanced_accuracy": np.nanmean([sens, spec]) if pos.any() and neg.any()
        else np.nan,
        "sensitivity": sens, "specificity": spec,
        "best_params": "" if best is None else json.dumps(best, default=str),
    }


def _repeat_sd(mat: np.ndarray) -> np.ndarray:
    """SD (ddof 1) of each column's finite scores; NaN with fewer than two."""
    ok = np.isfinite(mat)
    k = ok.sum(axis=0)
    filled = np.where(ok, mat, 0.0)
    mean = filled.sum(axis=0) / np.maximum(k, 1)
    ss = (np.where(ok, mat - mean, 0.0) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 1, np.sqrt(ss / (k - 1)), np.nan)


def _pooled_auc(mat: np.ndarray, y: np.ndarray) -> float:
    score = np.nanmean(mat, axis=0)
    ok = np.isfinite(score)
    from painmarkers.prediction.metrics import _auc_batch

    return float(_auc_batch(y[ok][None], score[ok][None])[0])


def _one_permutation(pipe, X, y, groups, make_splits, route, seed):
    rng = np.random.default_rng(seed)
    yp = _cv.permute_labels(y, groups, rng)
    try:
        splits = make_splits(yp)
    except DesignError:
        return np.nan
    mat, _, _ = _cv.run_cv(pipe, X, yp, groups, splits, route)
    return _pooled_auc(mat, yp)


def evaluate_biomarker(
    data,
    features,
    target: str,
    positive,
    model=None,
    cv=None,
    confounds=None,
    site: str | None = None,
    groups: str | None = None,
    n_permutations: int = 1000,
    random_state=None,
    n_jobs: int | None = None,
    *,
    harmonize: bool = False,
    n_splits: int = 5,
    n_repeats: int = 10,
    prevalence: float | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    n_bins: int = 5,
    nan_policy: str = "raise",
) -> BiomarkerEvaluation:
    """Cross-validated, leakage-safe evaluation of a biomarker as a classifier.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A :class:`painmarkers.model.Cohort` (its ``wide()`` table is used, with
        ``subject_id`` as groups) or a wide DataFrame with one row per subject-session.
    features : str, (feature, roi) tuple, or list of them
        Feature columns; ``("alff", "SMA_L")`` means the column
        ``schema.measure_column("alff", "SMA_L")`` (``"alff__SMA_L"``).
    target : str
        Column holding the class (e.g. ``"group"``).
    positive : scalar
        Value of ``target`` that is the positive class (e.g. ``"CLBP"``); every other
        value is negative.
    model : scikit-learn classifier or pipeline, optional
        Default: ``StandardScaler`` + L2 ``LogisticRegression(C=1)`` (Newton-Cholesky
        solver up to 200 features, lbfgs above). A
        ``GridSearchCV``-like model is tuned by nested CV: its inner CV is made
        grouped (``StratifiedGroupKFold``) when given as an int or None.
    cv : int, splitter or iterable of (train, test), optional
        Default: ``StratifiedGroupKFold(n_splits)`` repeated ``n_repeats`` times with
        new shuffles, or leave-one-site-out when ``site`` is given. Whatever the
        splitter, the splits are checked to never put one subject in both train and test.
    confounds : list of str, optional
        Columns regressed out of the features inside every training fold
        (:class:`ConfoundRegressor`); non-numeric columns are one-hot coded.
    site : str, optional
        Column with the acquisition site: defines leave-one-site-out CV (when ``cv``
        is None) and the batches of ComBat (when ``harmonize=True``).
    groups : str, optional
        Column of subject ids. Default: ``subject_id`` if present, else one group per row.
    n_permutations : int, default=1000
        Label permutations; each refits the whole pipeline with the same CV. 0 skips.
    random_state : int, numpy.random.Generator or None, default=None
        Seed for CV shuffles, permutations and bootstraps.
    n_jobs : int or None, default=None
        joblib workers over splits (observed fit) and permutations.
    harmonize : bool, default=False
        Apply :class:`ComBat` (fitted on training folds; confounds as preserved
        covariates; a test site unseen in training is standardised on itself).
    n_splits : int, default=5
        Folds of the default CV.
    n_repeats : int, default=10
        Repeats of the default CV.
    prevalence : float, optional
        Population base rate for ``ppv_at_prevalence``/``npv_at_prevalence``.
    confidence : float, default=0.95
        Confidence level of every interval.
    n_bootstrap : int, default=2000
        Bootstrap resamples (AUC, balanced accuracy, prevalence-adjusted values).
    n_bins : int, default=5
        Bins of the calibration curve.
    nan_policy : {"raise", "omit"}, default="raise"
        Missing feature, target, confound, site or group values: raise naming the
        subject and column, or drop the row and list it in ``excluded``.

    Returns
    -------
    BiomarkerEvaluation
        Metrics with CIs, permutation p, per-fold table, ROC and calibration data,
        out-of-fold predictions, exclusions and parameters.

    Raises
    ------
    DataError
        Missing columns; missing values (``nan_policy="raise"``); positive label absent.
    DesignError
        A single class; fewer subjects per class than folds; a site with one class
        under leave-one-site-out; a user CV that splits a subject across train and test.
    TypeError
        Data of the wrong type; a model without scores.

    Notes
    -----
    Every data-dependent step (ComBat, confound regression, scaling, feature
    selection, hyperparameter search) lives in one scikit-learn pipeline that is
    cloned and fitted on each training fold, then applied to its test fold.

    *Pooling.* With R repeats each row gets R out-of-fold scores; the headline AUC,
    ROC, calibration and threshold metrics use each row's mean score (threshold 0.5
    for probabilities, 0 for decision values), one score per row, so counts and
    Wilson intervals use the real n. The DeLong and bootstrap intervals treat those
    scores as independent, which cross-validated scores only approximately are
    (models share training data), so the intervals are approximate; the spread of
    per-repeat AUCs is in ``auc_mean_over_repeats`` and ``folds``. When subjects
    have several rows the DeLong variance is Obuchowski's clustered version and the
    bootstrap resamples subjects.

    *Permutation p.* Labels are permuted across subjects (or within subjects when
    they vary within subjects, e.g. pre vs post), the whole CV is rerun and the
    pooled AUC recomputed; ``p = (C + 1) / (n_permutations + 1)`` with C the number
    of permuted AUCs >= the observed one (Ojala & Garriga 2010).

    *Cost.* ``(n_permutations + 1) x n_repeats x n_splits`` pipeline fits (50 050 with
    the defaults: a few minutes for a logistic regression on one core); use ``n_jobs``
    or fewer repeats for the permutations of exploratory runs.

    *Confounded designs.* With site confounded with the target and no true effect,
    not removing site lets site masquerade as diagnosis, and harmonising on all data
    while preserving the diagnosis as a covariate (the usual neuroCombat call) leaks
    the test labels: AUC about 0.93 in the simulation of ``test_leakage.py`` (4 sites,
    90/10 class mix, 100 features), where this function with ``harmonize=True`` and a
    grouped k-fold gives about 0.51. Harmonising or regressing site out on all data
    *without* the label leaks in the other direction (AUC 0.14-0.16 there). With
    leave-one-site-out each held-out site is standardised on itself, which removes its
    class mix with its scanner offset: a null AUC below 0.5 (about 0.38 there), i.e.
    conservative. Prefer balanced designs and report the site-by-group table.

    *Forced choice.* When every subject has exactly one positive and one negative
    row, the forced-choice accuracy (the positive row scores higher) is added.

    References
    ----------
    .. [1] Varoquaux, G., et al. (2017). Assessing and tuning brain decoders:
       cross-validation, caveats, and guidelines. NeuroImage, 145, 166-179.
    .. [2] Ojala, M., & Garriga, G. C. (2010). Permutation tests for studying
       classifier performance. JMLR, 11, 1833-1863.
    .. [3] Poldrack, R. A., Huckins, G., & Varoquaux, G. (2020). Establishment of best
       practices for evidence for prediction. JAMA Psychiatry, 77(5), 534-540.
    .. [4] Snoek, L., Miletić, S., & Scholte, H. S. (2019). How to control for
       confounds in decoding analyses of neuroimaging data. NeuroImage, 184, 741-760.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from painmarkers.prediction import evaluate_biomarker
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"subject_id": [f"sub-{i:02d}" for i in range(40)],
    ...                    "group": ["CLBP"] * 20 + ["HC"] * 20})
    >>> df["alff__SMA_L"] = rng.normal(size=40) + (df["group"] == "CLBP") * 1.5
    >>> res = evaluate_biomarker(df, [("alff", "SMA_L")], "group", "CLBP",
    ...                          n_permutations=19, n_repeats=2, random_state=0)
    >>> bool(res.auc > 0.7), res.permutation_p
    (True, 0.05)
    """
    frame, default_groups = _as_frame(data)
    feat_cols = _feature_columns(features)
    confounds = [confounds] if isinstance(confounds, str) else list(confounds or [])
    check_choice(nan_policy, ("raise", "omit"), "nan_policy")
    n_permutations = check_positive_int(n_permutations, "n_permutations", minimum=0)
    n_splits = check_positive_int(n_splits, "n_splits", minimum=2)
    n_repeats = check_positive_int(n_repeats, "n_repeats", minimum=1)
    n_bins = check_positive_int(n_bins, "n_bins", minimum=2)
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    n_jobs = check_n_jobs(n_jobs)
    if prevalence is not None:
        prevalence = check_interval(prevalence, "prevalence", 0, 1, closed="neither")
    if groups is None and default_groups is None and schema.SUBJECT in frame.columns:
        default_groups = schema.SUBJECT
    group_col = groups or default_groups
    needed = [*feat_cols, target, *confounds]
    check_columns(frame, needed, "data")
    for name, col in (("site", site), ("groups", group_col)):
        if col is not None and col not in frame.columns:
            raise DataError(f"The {name} column {col!r} is not in data; it has "
                            f"{list(frame.columns)}.")
    rng = check_random_state(random_state)
    seed = int(rng.integers(0, 2**31 - 1))

    # ---- missing values --------------------------------------------------------------
    ids = (frame[group_col].astype(str) if group_col else
           pd.Series([f"row {i}" for i in range(len(frame))]))
    feats = frame[feat_cols].apply(pd.to_numeric, errors="coerce")
    for c in feat_cols:
        bad = feats[c].isna() & frame[c].notna()
        if bad.any():
            i = bad.idxmax()
            raise DataError(f"Feature {c!r} must be numeric; subject {ids[i]!r} has "
                            f"{frame.at[i, c]!r}.")
    check_cols = feat_cols + [target] + confounds + [c for c in (site, group_col) if c]
    missing = frame[check_cols].isna()
    missing[feat_cols] = feats.isna()
    excluded = []
    if missing.any(axis=None):
        rows = np.flatnonzero(missing.any(axis=1).to_numpy())
        if nan_policy == "raise":
            i = rows[0]
            cols = [c for c in check_cols if missing.at[i, c]]
            session = (f", session {frame.at[i, schema.SESSION]!r}"
                       if schema.SESSION in frame.columns else "")
            raise DataError(
                f"Subject {ids[i]!r}{session} has no value for {cols} ({len(rows)} row(s) "
                "with missing values in total); fill them or pass nan_policy='omit' to drop "
                "those rows (they are then listed in the result's 'excluded')."
            )
        for i in rows:
            excluded.append({"row": int(i), "subject_id": ids[i],
                             "reason": "missing " + ", ".join(
                                 c for c in check_cols if missing.at[i, c])})
    keep = ~missing.any(axis=1).to_numpy()
    frame, feats, ids = frame[keep].reset_index(drop=True), feats[keep].reset_index(
        drop=True), ids[keep].reset_index(drop=True)
    kept_rows = np.flatnonzero(keep)

    # ---- target ----------------------------------------------------------------------
    labels = frame[target]
    present = pd.unique(labels)
    if positive not in set(present.tolist()):
        raise DataError(f"The positive label {positive!r} does not occur in {target!r}; its "
                        f"values are {sorted(map(str, present))}.")
    if present.size < 2:
        raise DesignError(f"{target!r} holds a single class ({positive!r}, n={len(labels)}); "
                          "a classifier needs two.")
    y = (labels == positive).to_numpy().astype(int)
    neg_names = sorted(map(str, set(present.tolist()) - {positive}))
    class_names = {1: str(positive), 0: "/".join(neg_names)}
    groups_arr = ids.to_numpy() if group_col else np.arange(len(frame)).astype(str)

    # ---- design matrix: [features, confounds, site] ------------------------------------
    blocks = [feats.to_numpy(float)]
    n_conf = 0
    if confounds:
        conf = pd.get_dummies(frame[confounds], drop_first=True, dtype=float)
        n_conf = conf.shape[1]
        blocks.append(conf.to_numpy(float))
    sites = site_names = None
    if site is not None:
        codes, site_names = pd.factorize(frame[site])
        sites = codes
        if harmonize:
            blocks.append(codes[:, None].astype(float))
    elif harmonize:
        raise ValueError("harmonize=True needs the 'site' column.")
    X = np.column_stack(blocks)

    # ---- model ----------------------------------------------------------------------
    model = _default_model(len(feat_cols)) if model is None else model
    if not (is_classifier(model) or _is_search(model)):
        raise TypeError(f"The 'model' parameter must be a scikit-learn classifier. Got {model!r}.")
    model = clone(model)
    route = False
    if _is_search(model):
        inner = getattr(model, "cv", None)
        if inner is None or isinstance(inner, int):
            model.set_params(cv=StratifiedGroupKFold(n_splits=inner or 5))
        route = True
    steps = []
    if harmonize:
        steps.append(("combat", ComBat(n_covariates=n_conf, keep_covariates=True,
                                       unseen_site="self")))
    if n_conf:
        steps.append(("confounds", ConfoundRegressor(n_confounds=n_conf)))
    steps.append(("model", model))
    pipe = Pipeline(steps)

    # ---- cross-validation -------------------------------------------------------------
    if cv is None and site is not None:
        def make_splits(yy):
            return _cv.site_splits(yy, groups_arr, sites, site_names, class_names)
        cv_text = f"leave-one-site-out over {len(site_names)} sites"
    elif cv is None:
        def make_splits(yy):
            return _cv.default_splits(yy, groups_arr, n_splits, n_repeats, seed, class_names)
        cv_text = (f"StratifiedGroupKFold({n_splits}) x {n_repeats} repeats, grouped by "
                   f"{group_col or 'row'}")
    else:
        def make_splits(yy):
            return _cv.user_splits(cv, X, yy, groups_arr)
        cv_text = repr(cv)
    splits = make_splits(y)
    _cv.check_grouped(splits, groups_arr)

    mat, is_proba, raw = _cv.run_cv(pipe, X, y, groups_arr, splits, route, n_jobs)
    threshold = 0.5 if is_proba else 0.0
    score = np.nanmean(mat, axis=0) if np.isfinite(mat).any(axis=0).all() else None
    tested = np.isfinite(mat).any(axis=0)
    if score is None:
        with np.errstate(invalid="ignore"):
            score = np.nanmean(np.where(tested, mat, 0), axis=0)
        for i in np.flatnonzero(~tested):
            excluded.append({"row": int(kept_rows[i]), "subject_id": groups_arr[i],
                             "reason": "never in a test fold"})
    yt, st, gt = y[tested], score[tested], groups_arr[tested]
    if np.unique(yt).size < 2:
        raise DesignError("The rows that were ever tested hold one class only.")
    pred = (st >= threshold).astype(int)
    multi = pd.Series(gt).duplicated().any()

    auc_d = roc_auc_ci(yt, st, "delong", confidence, groups=gt if multi else None)
    auc_b = roc_auc_ci(yt, st, "bootstrap", confidence, n_bootstrap, rng,
                       groups=gt if multi else None)
    auc_b["metric"] = "auc_bootstrap"
    parts = [auc_d, auc_b,
             binary_metrics(yt, pred, confidence=confidence, prevalence=prevalence,
                            n_bootstrap=n_bootstrap, random_state=rng)]
    per_repeat = [_pooled_auc(mat[r][None], y) for r in range(mat.shape[0])
                  if np.isfinite(mat[r]).all()]
    extra = []
    if is_proba:
        low, high = _brier_ci(yt, st, gt if multi else None, confidence, n_bootstrap, rng)
        extra.append({"metric": "brier", "estimate": float(np.mean((st - yt) ** 2)),
                      "ci_low": low, "ci_high": high,
                      "ci_method": "bootstrap" + (" (subjects)" if multi else ""),
                      "n": int(yt.size)})
    if per_repeat:
        extra.append({"metric": "auc_mean_over_repeats", "estimate": float(np.mean(per_repeat)),
                      "ci_low": float(np.min(per_repeat)), "ci_high": float(np.max(per_repeat)),
                      "ci_method": f"range over {len(per_repeat)} repeats",
                      "n": int(yt.size)})
    if multi:
        counts = pd.crosstab(gt, yt)
        if counts.shape[1] == 2 and ((counts == 1).all(axis=None)):
            parts.append(forced_choice_accuracy(yt, st, gt, confidence=confidence))

    # ---- permutations -----------------------------------------------------------------
    null = np.array([])
    p_value = np.nan
    observed = float(auc_d.loc[0, "estimate"])
    if n_permutations:
        seeds = rng.integers(0, 2**31 - 1, n_permutations)
        if n_jobs is None or n_jobs == 1:
            null = [_one_permutation(pipe, X, y, groups_arr, make_splits, route, s)
                    for s in seeds]
        else:
            null = Parallel(n_jobs=n_jobs)(
                delayed(_one_permutation)(pipe, X, y, groups_arr, make_splits, route, s)
                for s in seeds)
        null = np.asarray(null, dtype=float)
        valid = null[np.isfinite(null)]
        p_value = (np.sum(valid >= observed - 1e-12) + 1) / (valid.size + 1)
        extra.append({"metric": "permutation_p", "estimate": float(p_value),
                      "n": int(valid.size), "ci_method": "(C + 1) / (n_permutations + 1)"})
    metrics = pd.concat(
        [*parts, pd.DataFrame([{c: r.get(c, np.nan) for c in schema.METRIC_COLUMNS}
                               for r in extra])], ignore_index=True)
    metrics["confidence"] = metrics["confidence"].fillna(confidence)

    folds = pd.DataFrame([
        _fold_row(sp, y, res[0], threshold, groups_arr, sites, site_names, res[2])
        for sp, res in zip(splits, raw)
    ])
    fpr, tpr, thr = roc_curve(yt, st)
    roc = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})
    calib = (_calibration(yt, st, n_bins) if is_proba else
             _calibration(np.array([]), np.array([]), n_bins).iloc[0:0])
    predictions = pd.DataFrame({
        "row": kept_rows[tested], "subject_id": gt, "target": labels.to_numpy()[tested],
        "y": yt, "score": st,
        "score_sd": _repeat_sd(mat[:, tested]),
        "n_scores": np.isfinite(mat[:, tested]).sum(axis=0), "predicted": pred,
    })
    params = {
        "features": feat_cols, "target": target, "positive": positive,
        "model": repr(model), "cv": cv_text, "confounds": confounds, "site": site,
        "harmonize": harmonize, "groups": group_col, "n_permutations": n_permutations,
        "random_state": random_state if isinstance(random_state, int | type(None)) else
        repr(random_state), "n_splits": n_splits, "n_repeats": n_repeats,
        "prevalence": prevalence, "confidence": confidence, "n_bootstrap": n_bootstrap,
        "score": "predict_proba" if is_proba else "decision_function",
        "threshold": threshold, "nan_policy": nan_policy,
        "permutation_scheme": (
            "labels permuted across subjects"
            if pd.Series(y).groupby(groups_arr).nunique().eq(1).all()
            else "labels shuffled within subjects"),
        "versions": _versions(),
    }
    return BiomarkerEvaluation(
        auc=observed, auc_ci_low=float(auc_d.loc[0, "ci_low"]),
        auc_ci_high=float(auc_d.loc[0, "ci_high"]), permutation_p=float(p_value),
        metrics=metrics, folds=folds, roc=roc, calibration=calib, predictions=predictions,
        null_distribution=null,
        excluded=pd.DataFrame(excluded, columns=["row", "subject_id", "reason"]),
        n=int(yt.size), n_positive=int(yt.sum()), n_negative=int((1 - yt).sum()),
        n_subjects=int(pd.unique(gt).size), parameters=params,
    )
