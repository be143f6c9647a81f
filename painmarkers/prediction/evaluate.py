"""Leakage-safe, cross-validated evaluation of an imaging biomarker as a classifier.

:func:`evaluate_biomarker` runs its stages in order (:mod:`._stages`, shared with
:func:`~painmarkers.prediction.evaluate_prognosis` and
:func:`~painmarkers.prediction.evaluate_pattern`): input resolution and validation
(:mod:`._inputs`), CV construction and out-of-fold fitting (:mod:`._cv`,
:mod:`._engine`), metrics (:mod:`._performance`), the permutation test
(:mod:`._permutation`) and the assembly of the :class:`BiomarkerEvaluation`
(:mod:`._result`).
"""

from __future__ import annotations

import dataclasses

from painmarkers import schema
from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._docs import fill_doc
from painmarkers.prediction import (
    _final,
    _inputs,
    _stages,
)
from painmarkers.prediction._result import BiomarkerEvaluation

__all__ = ["BiomarkerEvaluation", "evaluate_biomarker"]


@rename_parameters(groups="subject")
@deprecate_positional(positive=3, model=4, cv=5, confounds=6, site=7, subject=8,
                      n_permutations=9, random_state=10, n_jobs=11)
@fill_doc
def evaluate_biomarker(
    data,
    features,
    target: str,
    *,
    positive,
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
    prevalence: float | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    n_bins: int = 5,
    nan_policy: str = "raise",
    random_state=None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> BiomarkerEvaluation:
    """Cross-validated, leakage-safe evaluation of a biomarker as a classifier.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A :class:`painmarkers.model.Cohort` (its ``wide()`` table is used) or a wide
        DataFrame with one row per subject and session.
    features : str, (feature, roi) tuple, or list of them
        Feature columns; ``("alff", "SMA_L")`` means the column
        ``schema.measure_column("alff", "SMA_L")`` (``"alff__SMA_L"``).
    target : str
        Column holding the class (e.g. ``"group"``, or ``"session"`` for pre vs post).
    positive : scalar
        Value of ``target`` that is the positive class (e.g. ``"CLBP"``); every other
        value is negative. Keyword-only (by position it still works until 0.3, with a
        FutureWarning).
    subject : str or None, default="subject_id"
        The subject-id column. Rows of one subject (several sessions) always stay in
        the same CV fold, are relabelled together by the permutation test (a subject
        keeps one label, or its labels are shuffled among its own rows when they vary
        within it), and make the AUC interval Obuchowski's clustered DeLong and the
        bootstrap resample subjects. The default is the column every painmarkers table
        has (a Cohort's always); a table of one row per subject may lack it, and then
        each row is its own subject. A table without it that holds several sessions
        (``within`` with more than one label) is refused, since its rows cannot be
        kept together. None: every row is a different subject. Was ``groups``
        (FutureWarning until 0.3).
    sessions : str, list of str, mapping or None, default=None
        The session(s) to evaluate: one label, a list of labels, or
        ``{group label: session label}`` (groups in column ``between``), e.g.
        ``{"CLBP": "pre", "HC": "baseline"}`` for one session per subject. A subject
        (of a selected group) with no row in its session is listed in ``excluded``
        with the reason ``no session 'pre'``. None: every row.
    %(within)s
        Used with ``sessions``, and in messages.
    %(between)s
        Its labels key a ``sessions`` mapping.
    model : scikit-learn classifier, pipeline or None, default=None
        None: ``StandardScaler`` + L2 ``LogisticRegression(C=1)`` (Newton-Cholesky
        solver with ``tol=1e-12`` up to 200 features, lbfgs above). A
        ``GridSearchCV``-like model is tuned by nested CV: its inner CV is made
        grouped (``StratifiedGroupKFold``) when given as an int or None, and the
        subject ids of the training rows are routed to it.
    cv : int, splitter, iterable of (train, test) or None, default=None
        None: ``StratifiedGroupKFold(n_splits)`` repeated ``n_repeats`` times with
        new shuffles, or leave-one-site-out when ``site`` is given. Whatever the
        splitter, the splits are checked to never put one subject in both train and test.
    confounds : str, list of str or None, default=None
        Columns regressed out of the features inside every training fold
        (:class:`ConfoundRegressor`); non-numeric columns are one-hot coded. None: no
        confound.
    site : str or None, default=None
        Column with the acquisition site: defines leave-one-site-out CV (when ``cv``
        is None) and the batches of ComBat (when ``harmonize=True``). None: one site.
    harmonize : bool, default=False
        Apply :class:`ComBat` (fitted on training folds; confounds as preserved
        covariates; a test site unseen in training is standardised on itself).
    n_splits : int, default=5
        Folds of the default CV.
    n_repeats : int, default=10
        Repeats of the default CV.
    n_permutations : int, default=1000
        Label permutations; each refits the whole pipeline with the same CV. 0 skips.
    prevalence : float or None, default=None
        Population base rate for ``ppv_at_prevalence``/``npv_at_prevalence`` (None:
        those rows are not computed).
    %(confidence)s
        Every interval has this level.
    n_bootstrap : int, default=2000
        Bootstrap resamples (AUC, balanced accuracy, prevalence-adjusted values, Brier
        score); at least 10.
    n_bins : int, default=5
        Bins of the calibration curve.
    nan_policy : {"raise", "omit"}, default="raise"
        Missing feature, target, confound, site or subject values: raise naming the
        subject, session and column, or drop the row and list it in ``excluded``.
    %(random_state)s
        It seeds the CV shuffles, the permutations and the bootstraps.
    %(n_jobs)s
        Workers over the splits (observed fit) and the permutations of a model fitted
        by scikit-learn; the fast route (see Notes) runs in one process.
    %(progress)s
        Here a bar over the permutations.

    Returns
    -------
    BiomarkerEvaluation
        Metrics with CIs, permutation p, per-fold table, ROC and calibration data,
        out-of-fold predictions, exclusions (rows and subjects, with reasons),
        parameters and versions.

    Raises
    ------
    DataError
        Missing columns; missing values (``nan_policy="raise"``); positive label absent;
        a multi-session table without a subject column.
    DesignError
        A single class; fewer subjects per class than folds; a site with one class
        under leave-one-site-out; a user CV that splits a subject across train and test;
        a session of ``sessions`` absent from the data.
    TypeError
        Data of the wrong type; a model without scores.
    ValueError
        A parameter out of range; ``harmonize=True`` without ``site``.

    See Also
    --------
    evaluate_prognosis : The same for a continuous outcome.
    evaluate_pattern : The same on whole-brain voxel patterns.
    incremental_value : Whether imaging adds to clinical covariates.
    save_model_card : Save ``final_model_`` for use on new data.

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
    the defaults). When the pipeline is label-free steps (scaling, ComBat, confound
    regression, PCA) followed by an L2 ``LogisticRegression`` solved to ``tol <= 1e-10``
    (the default model is), the fits run through a *fast route*: the label-free steps
    are fitted once per training set and the logistic regressions are solved in
    batches by Newton's method, with the same numbers as scikit-learn's fits (tested to
    ``rtol=1e-8``); the default evaluation of 100 subjects x 10 features then takes
    seconds (``benchmarks/bench_prediction.py``). The folds of the default CV are
    scikit-learn's ``StratifiedGroupKFold`` splits, rebuilt for every permutation (they
    are stratified on the permuted labels) by a replay of its algorithm that gives the
    same folds. Any other model is refitted by scikit-learn on every fold
    (use ``n_jobs``).

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

    *Stages.* Input resolution (``_inputs.resolve``), CV construction
    (``_cv.build_splitter``), out-of-fold fitting (``_cv.run_cv``), metrics
    (``_performance``), permutation test (``_permutation``) and result assembly are
    separate private functions of :mod:`painmarkers.prediction`, each tested.

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
    >>> res = evaluate_biomarker(df, [("alff", "SMA_L")], "group", positive="CLBP",
    ...                          n_permutations=19, n_repeats=2, random_state=0)
    >>> bool(res.auc > 0.7), res.permutation_p
    (True, 0.05)
    """
    settings = _inputs.check_settings(
        n_permutations=n_permutations, n_splits=n_splits, n_repeats=n_repeats, n_bins=n_bins,
        n_bootstrap=n_bootstrap, confidence=confidence, prevalence=prevalence, n_jobs=n_jobs,
        nan_policy=nan_policy)
    # -- stages 1-3: inputs -> design, CV splits, out-of-fold fits --------------------------
    fit = _stages.fit_table(data, features, target, positive, task="classification",
                            model=model, cv=cv, subject=subject, sessions=sessions,
                            within=within, between=between, confounds=confounds, site=site,
                            harmonize=harmonize, settings=settings, random_state=random_state)
    design, pipe, oof = fit.design, fit.pipe, fit.oof
    parameters = {
        "features": design.features, "target": target, "positive": positive,
        "subject": design.subject, "sessions": sessions, "within": within,
        "between": between, "model": repr(pipe.named_steps["model"]),
        "cv": fit.splitter.description, "confounds": design.confounds, "site": site,
        "harmonize": harmonize, "n_permutations": settings.n_permutations,
        "random_state": _inputs.describe_parameters(random_state),
        "n_splits": settings.n_splits, "n_repeats": settings.n_repeats,
        "prevalence": settings.prevalence, "confidence": settings.confidence,
        "n_bootstrap": settings.n_bootstrap,
        "score": "predict_proba" if oof.is_proba else "decision_function",
        "threshold": oof.threshold, "nan_policy": settings.nan_policy,
        "permutation_scheme": _stages.permutation_scheme(design, "labels"),
    }
    # -- stages 4-6: metrics, permutation test, result ----------------------------------------
    result = _stages.evaluate_oof("classification", pipe, design.X, design, settings, oof,
                                  fit.splits, fit.splitter, fit.route, fit.metadata, fit.rng,
                                  parameters, progress)
    # -- the final model (all rows) and its training data, for a model card -------------------
    return dataclasses.replace(
        result, final_model_=_final.refit(pipe, design, fit.metadata, fit.route),
        training=_final.describe(data, design, "classification", target=target,
                                 positive=positive, within=within, between=between,
                                 site=site))
