"""Leakage-safe, cross-validated evaluation of an imaging biomarker as a predictor of a
continuous outcome (prognosis: does baseline ALFF predict the pain reduction?).

:func:`evaluate_prognosis` runs the stages of :func:`evaluate_biomarker` (:mod:`._stages`)
with a continuous target: input resolution (:mod:`._inputs`), grouped repeated CV
(:mod:`._cv`), out-of-fold fits (:mod:`._engine`), regression metrics
(:mod:`._regression`), the permutation test (:mod:`._permutation`) and the
:class:`PrognosisEvaluation`. :func:`join_outcomes` puts per-subject outcomes (as
:func:`painmarkers.stats.outcomes` returns them) next to the imaging rows.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._docs import fill_doc
from painmarkers.exceptions import DataError
from painmarkers.prediction import (
    _final,
    _inputs,
    _stages,
)
from painmarkers.prediction._prognosis_result import PrognosisEvaluation

__all__ = ["PrognosisEvaluation", "evaluate_prognosis", "join_outcomes"]


def join_outcomes(data, outcomes: pd.DataFrame, *, subject: str = schema.SUBJECT,
                  between: str = schema.GROUP, columns=None) -> pd.DataFrame:
    """The rows of ``data`` with each subject's outcomes as extra columns.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        Imaging rows: a Cohort (its ``wide()`` table) or a wide table, one row per
        subject and session.
    outcomes : pandas.DataFrame
        One row per subject, e.g. :func:`painmarkers.stats.outcomes` (``percent_change``
        = PPR or PDC, ``responder_moderate``, ...).
    subject : str, default="subject_id"
        The subject-id column of both tables.
    between : str, default="group"
        The group column: taken from ``data`` (``outcomes`` must agree with it), and
        from ``outcomes`` for subjects only there.
    columns : list of str or None, default=None
        Outcome columns to add (None: all but ``subject`` and ``between``).
        ``excluded_reason`` is added as ``outcome_excluded_reason``, which
        :func:`evaluate_prognosis` quotes when it excludes a subject without outcome.

    Returns
    -------
    pandas.DataFrame
        ``data``'s rows and columns (in order) plus the outcome columns; every row of a
        subject carries its subject's outcomes. Subjects of ``outcomes`` without any
        row in ``data`` are appended as one row each with no session and no features,
        so that an evaluation lists them as excluded instead of losing them; a subject
        of ``data`` absent from ``outcomes`` gets missing outcomes (``no outcome row``).

    Raises
    ------
    DataError
        A missing subject column, a subject twice in ``outcomes``, an outcome column
        already in ``data``, or groups that disagree between the tables.

    See Also
    --------
    evaluate_prognosis : Evaluate a prognostic biomarker on the joined table.
    painmarkers.stats.outcomes : The clinical outcomes table.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.prediction import join_outcomes
    >>> wide = pd.DataFrame({"subject_id": ["01", "01", "02"], "group": "CLBP",
    ...                      "session": ["pre", "post", "pre"], "alff__SMA_L": [1., 2., 3.]})
    >>> out = pd.DataFrame({"subject_id": ["01", "02"], "group": "CLBP",
    ...                     "percent_change": [40.0, None],
    ...                     "excluded_reason": [None, "no 'post' session"]})
    >>> join_outcomes(wide, out)[["session", "percent_change", "outcome_excluded_reason"]]
      session  percent_change outcome_excluded_reason
    0     pre            40.0                     NaN
    1    post            40.0                     NaN
    2     pre             NaN       no 'post' session
    """
    frame, _ = _inputs.as_frame(data)
    if not isinstance(outcomes, pd.DataFrame):
        raise TypeError(f"The 'outcomes' parameter must be a pandas DataFrame (e.g. "
                        f"painmarkers.stats.outcomes(...)). Got {type(outcomes)}.")
    for name, table in (("data", frame), ("outcomes", outcomes)):
        if subject not in table.columns:
            raise DataError(f"{name} has no subject column {subject!r}; it has "
                            f"{list(table.columns)}.")
    out = outcomes.copy()
    out[subject] = out[subject].astype(str)
    dup = out[subject][out[subject].duplicated()]
    if len(dup):
        raise DataError(f"outcomes holds subject {dup.iloc[0]!r} twice; it must have one row "
                        "per subject.")
    if columns is None:
        columns = [c for c in out.columns if c not in (subject, between)]
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in columns if c not in out.columns]
    if missing:
        raise DataError(f"outcomes lacks the column(s) {missing}; it has {list(out.columns)}.")
    renamed = {c: _inputs.OUTCOME_REASON if c == "excluded_reason" else c for c in columns}
    clash = [renamed[c] for c in columns if renamed[c] in frame.columns]
    if clash:
        raise DataError(f"The outcome column(s) {clash} are already in data; pick others "
                        "with columns= or rename them.")
    ids = frame[subject].astype(str)
    if between in frame.columns and between in out.columns:
        theirs = out.set_index(subject)[between]
        both = ids.isin(theirs.index)
        mine = frame.loc[both.to_numpy(), between].astype(str).to_numpy()
        other = theirs.reindex(ids[both]).astype(str).to_numpy()
        bad = np.flatnonzero(mine != other)
        if bad.size:
            who = ids[both].iloc[bad[0]]
            raise DataError(f"Subject {who!r} is in group {mine[bad[0]]!r} in data but "
                            f"{other[bad[0]]!r} in outcomes.")
    table = out.set_index(subject)[columns].rename(columns=renamed)
    joined = frame.copy()
    added = table.reindex(ids)
    for c in table.columns:
        joined[c] = added[c].to_numpy()
    if _inputs.OUTCOME_REASON in joined.columns:
        absent = ~ids.isin(table.index).to_numpy()
        joined.loc[absent, _inputs.OUTCOME_REASON] = "no outcome row"
    else:
        absent = ~ids.isin(table.index).to_numpy()
        if absent.any():
            joined[_inputs.OUTCOME_REASON] = np.where(absent, "no outcome row", None)
    extra = out[~out[subject].isin(set(ids))]
    if len(extra):
        rows = pd.DataFrame({subject: extra[subject].to_numpy()})
        if between in frame.columns and between in out.columns:
            rows[between] = extra[between].to_numpy()
        for c, new in renamed.items():
            rows[new] = extra[c].to_numpy()
        joined = pd.concat([joined, rows], ignore_index=True)
    joined[subject] = joined[subject].astype(str) if frame[subject].dtype == object else \
        joined[subject]
    return joined


@fill_doc
def evaluate_prognosis(
    data,
    features,
    target: str,
    *,
    subject: str | None = schema.SUBJECT,
    sessions=None,
    within: str = schema.SESSION,
    between: str = schema.GROUP,
    model=None,
    cv=None,
    confounds=None,
    site: str | None = None,
    harmonize: bool = False,
    n_splits: int = 5,
    n_repeats: int = 10,
    n_permutations: int = 1000,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    nan_policy: str = "raise",
    random_state=None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> PrognosisEvaluation:
    """Cross-validated, leakage-safe evaluation of a biomarker predicting an outcome.

    The outcome is continuous (for a binary one see :func:`evaluate_biomarker`).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A :class:`painmarkers.model.Cohort` (its ``wide()`` table) or a wide DataFrame
        with one row per subject and session, e.g. from :func:`join_outcomes`.
    features : str, (feature, roi) tuple, or list of them
        Feature columns; ``("alff", "SMA_L")`` means the column ``"alff__SMA_L"``.
    target : str
        Column holding the continuous outcome (e.g. ``"percent_change"``, the PPR).
        Rows without a value are excluded and listed (whatever ``nan_policy``).
    subject : str or None, default="subject_id"
        The subject-id column: a subject's rows stay in one fold, are permuted
        together and are resampled together by the bootstrap (see
        :func:`evaluate_biomarker`).
    sessions : str, list of str, mapping or None, default=None
        The session(s) whose rows are used, e.g. ``"pre"`` for baseline features, or
        ``{group label: session label}``; a subject without it is listed in
        ``excluded``. None: every row.
    %(within)s
    %(between)s
        Its labels key a ``sessions`` mapping.
    model : scikit-learn regressor, pipeline or None, default=None
        None: ``StandardScaler`` + ``Ridge(alpha=1)`` (see Notes). A
        ``GridSearchCV``-like model is tuned by nested CV (inner ``GroupKFold`` when
        its ``cv`` is an int or None, with the subject ids routed to it).
    cv : int, splitter, iterable of (train, test) or None, default=None
        None: grouped K-fold over shuffled subjects (``n_splits`` folds) repeated
        ``n_repeats`` times, or leave-one-site-out when ``site`` is given; an int means
        ``GroupKFold(int)``. Every split is checked to keep subjects on one side.
    confounds : str, list of str or None, default=None
        Columns regressed out of the features inside every training fold
        (:class:`ConfoundRegressor`); non-numeric columns are one-hot coded. None: no
        confound.
    site : str or None, default=None
        Acquisition site column: leave-one-site-out CV (when ``cv`` is None) and the
        batches of ComBat (``harmonize=True``). None: one site.
    harmonize : bool, default=False
        ComBat fitted on the training folds (confounds as preserved covariates).
    n_splits : int, default=5
        Folds of the default CV.
    n_repeats : int, default=10
        Repeats of the default CV.
    n_permutations : int, default=1000
        Target permutations; each refits the whole pipeline with the same folds. 0 skips.
    %(confidence)s
        Every interval has this level.
    n_bootstrap : int, default=2000
        Bootstrap resamples (subjects) of the metric intervals; at least 10.
    nan_policy : {"raise", "omit"}, default="raise"
        Missing feature, confound, site or subject values: raise naming the subject and
        column, or drop the row and list it in ``excluded``.
    %(random_state)s
        It seeds the CV shuffles, the permutations and the bootstraps.
    %(n_jobs)s
        Workers for models refitted by scikit-learn (the fast route of ridge needs
        none).
    %(progress)s
        Here bars over the permutations and the bootstrap.

    Returns
    -------
    PrognosisEvaluation
        R² with CI and permutation p, MAE, RMSE, Pearson r, calibration slope and
        intercept (with CIs), per-fold table, out-of-fold predictions, exclusions,
        null distribution, parameters and versions.

    Raises
    ------
    DataError
        Missing columns; missing feature values (``nan_policy="raise"``); a
        non-numeric target; a multi-session table without a subject column.
    DesignError
        A target with fewer than 3 distinct values (use :func:`evaluate_biomarker`
        for a binary one) or a boolean target; fewer subjects than folds; a user CV
        that puts a subject on both sides; a session of ``sessions`` absent.
    TypeError
        Data of the wrong type; a model that is not a regressor.
    ValueError
        A parameter out of range; ``harmonize=True`` without ``site``.

    See Also
    --------
    evaluate_biomarker : The same for a class target.
    join_outcomes : Put clinical outcomes next to baseline features.
    regression_metrics : The metrics, on any predictions.
    save_model_card : Save ``final_model_`` for use on new data.

    Notes
    -----
    *Pipeline.* As in :func:`evaluate_biomarker`: ComBat, confound regression, scaling,
    feature selection and tuning are refitted inside every training fold.

    *Default model.* Ridge regression (L2, α = 1) on standardised features: with few
    correlated ROI features and tens of subjects it keeps the variance of ordinary
    least squares in check without selecting features (α = 1 is one observation's
    worth of shrinkage per coefficient, small against n), has no hyperparameter to tune
    inside the folds, and is linear in the target, so the permutation test is exact
    and fast (below). Tune α by nested CV (``GridSearchCV``/``RidgeCV``) when features
    approach the number of subjects.

    *Metrics.* Each row's prediction is the mean of its out-of-fold predictions over
    the R repeats. With residuals ``e_i = y_i - ŷ_i``,
    ``R² = 1 - Σ e_i² / Σ (y_i - b_i)²`` where ``b_i`` is the *fold-external mean*:
    the mean target of the training rows of the fold that predicted row i (averaged
    over repeats), i.e. what an intercept-only model fitted in the same folds
    predicts. R² is 0 for a model no better than that and negative for a worse one;
    unlike r² it penalises bias and miscalibration (Poldrack et al. 2020). (The
    in-sample mean of all rows as ``b`` would peek at the test rows and make R²
    slightly lower: ``regression_metrics`` without ``baseline`` computes that one.)
    MAE, RMSE, the Pearson r of predicted and observed, and the calibration slope and
    intercept (least-squares fit ``y = a + b ŷ``; 1 and 0 when calibrated) complete
    the set. Intervals: percentile bootstrap over subjects of the pooled predictions
    (rows of one subject resampled together); they treat the predictions as fixed.
    ``r2_mean_over_repeats`` gives the mean and range of the per-repeat R².

    *Permutation p.* The target is permuted across subjects (within subjects when it
    varies within them), the whole pipeline refitted on the same folds (the default
    folds do not depend on the target), and ``p = (C + 1) / (n_permutations + 1)``
    with C the number of permuted R² >= the observed one. For label-free steps
    followed by ridge or least squares, the out-of-fold predictions are linear in the
    target: for each training set, the test predictions of all permuted targets are
    one matrix product (the fold's hat matrix applied to them), equal to refitting
    (tested to ``rtol=1e-8``); 1000 permutations of 5 x 10-fold CV take well under a
    second for 100 subjects (``benchmarks/bench_prediction.py``).

    *Prognostic use.* Features from the baseline session, target from the outcomes:
    ``join_outcomes(cohort, stats.outcomes(cohort, "VAS"))`` with ``sessions="pre"``
    (see the example). A binary outcome (``responder_moderate``) is a classification:
    :func:`evaluate_biomarker` on the same table with ``positive=True``.

    References
    ----------
    .. [1] Poldrack, R. A., Huckins, G., & Varoquaux, G. (2020). Establishment of best
       practices for evidence for prediction: a review. JAMA Psychiatry, 77(5), 534-540.
    .. [2] Varoquaux, G., et al. (2017). Assessing and tuning brain decoders:
       cross-validation, caveats, and guidelines. NeuroImage, 145, 166-179.
    .. [3] Ojala, M., & Garriga, G. C. (2010). Permutation tests for studying
       classifier performance. JMLR, 11, 1833-1863.
    .. [4] Steyerberg, E. W. (2019). Clinical Prediction Models, 2nd ed. Springer.

    Examples
    --------
    Baseline SMA ALFF predicting the percent pain reduction (PPR) after treatment:

    >>> import numpy as np, pandas as pd
    >>> from painmarkers.prediction import evaluate_prognosis, join_outcomes
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"{i:02d}" for i in range(40)]
    >>> wide = pd.DataFrame({"subject_id": np.repeat(ids, 2), "group": "CLBP",
    ...                      "session": ["pre", "post"] * 40,
    ...                      "alff__SMA_L": rng.normal(size=80)})
    >>> baseline = wide.loc[wide["session"] == "pre", "alff__SMA_L"].to_numpy()
    >>> outcomes = pd.DataFrame({"subject_id": ids, "group": "CLBP",
    ...                          "percent_change": 30 + 15 * baseline
    ...                          + rng.normal(0, 10, 40)})
    >>> # with a Cohort: outcomes = painmarkers.stats.outcomes(cohort, "VAS")
    >>> table = join_outcomes(wide, outcomes)
    >>> res = evaluate_prognosis(table, [("alff", "SMA_L")], "percent_change",
    ...                          sessions="pre", n_permutations=99, random_state=0,
    ...                          progress=False)
    >>> bool(res.r2 > 0.3), res.permutation_p
    (True, 0.01)
    """
    settings = _inputs.check_settings(
        n_permutations=n_permutations, n_splits=n_splits, n_repeats=n_repeats, n_bins=5,
        n_bootstrap=n_bootstrap, confidence=confidence, prevalence=None, n_jobs=n_jobs,
        nan_policy=nan_policy)
    # -- stages 1-3: inputs -> design, CV splits, out-of-fold fits --------------------------
    fit = _stages.fit_table(data, features, target, None, task="regression", model=model,
                            cv=cv, subject=subject, sessions=sessions, within=within,
                            between=between, confounds=confounds, site=site,
                            harmonize=harmonize, settings=settings, random_state=random_state)
    design, pipe = fit.design, fit.pipe
    parameters = {
        "features": design.features, "target": target, "subject": design.subject,
        "sessions": sessions, "within": within, "between": between,
        "model": repr(pipe.named_steps["model"]), "cv": fit.splitter.description,
        "confounds": design.confounds, "site": site, "harmonize": harmonize,
        "n_permutations": settings.n_permutations,
        "random_state": _inputs.describe_parameters(random_state),
        "n_splits": settings.n_splits, "n_repeats": settings.n_repeats,
        "confidence": settings.confidence, "n_bootstrap": settings.n_bootstrap,
        "nan_policy": settings.nan_policy,
        "r2_baseline": "training-fold mean of the target (fold-external mean)",
        "permutation_scheme": _stages.permutation_scheme(design, "target"),
    }
    # -- stages 4-6: metrics, permutation test, result ----------------------------------------
    result = _stages.evaluate_oof("regression", pipe, design.X, design, settings, fit.oof,
                                  fit.splits, fit.splitter, fit.route, fit.metadata, fit.rng,
                                  parameters, progress)
    return dataclasses.replace(
        result, final_model_=_final.refit(pipe, design, fit.metadata, fit.route),
        training=_final.describe(data, design, "regression", target=target, within=within,
                                 between=between, site=site))
