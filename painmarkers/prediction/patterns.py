"""Whole-brain (voxel-pattern) models: cross-validated, leakage-safe, with weight maps.

:func:`evaluate_pattern` reads the images once (:mod:`._masker`), builds the pipeline
(masker, then confound regression, scaling, univariate selection, PCA and a linear
model, all refitted inside every training fold), runs the stages of
:func:`~painmarkers.prediction.evaluate_biomarker` / :func:`evaluate_prognosis` on the
voxel matrix (one CV engine: :mod:`._engine`, whose dual route :mod:`._kernel_cv`
solves ridge and L2 logistic regression from kernels shared by every permutation), and
adds the model refitted on all images, its voxel weights, their bootstrap z / p / q maps
and the Haufe activation pattern (:mod:`._pattern_maps`).
"""

from __future__ import annotations

import numbers

import pandas as pd
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from painmarkers._docs import fill_doc
from painmarkers._threads import single_blas_thread
from painmarkers._validation import check_choice, check_positive_int
from painmarkers._versions import versions
from painmarkers._warnings import warn
from painmarkers.exceptions import PainmarkersWarning
from painmarkers.prediction import (
    _engine,
    _final,
    _inputs,
    _pattern_inputs,
    _pattern_maps,
    _stages,
)
from painmarkers.prediction._masker import VoxelMasker, read_images
from painmarkers.prediction._pattern_result import PatternEvaluation

__all__ = ["PatternEvaluation", "VoxelMasker", "evaluate_pattern"]

#: Named models of :func:`evaluate_pattern` and the tasks they serve.
MODELS = {"l2_logistic": ("classification",), "linear_svm": ("classification",),
          "ridge": ("classification", "regression"), "lasso_pcr": ("regression",)}

SCALINGS = (None, "voxels")


def _model_step(model, task: str, model_params: dict | None, pca, n_features: int,
                several_rows: bool):
    """(steps after scaling and selection, name of the model, route groups)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import (
        Lasso,
        LassoCV,
        LogisticRegression,
        Ridge,
        RidgeClassifier,
    )
    from sklearn.model_selection import GroupKFold
    from sklearn.svm import LinearSVC

    params = dict(model_params or {})
    pca_steps = [] if pca is None else [("pca", PCA(n_components=pca))]
    if not isinstance(model, str):
        ok = is_classifier(model) if task == "classification" else is_regressor(model)
        if not ok:
            kind = "classifier" if task == "classification" else "regressor"
            raise TypeError(f"The 'model' parameter must be a model name {sorted(MODELS)} or "
                            f"a scikit-learn {kind}; got {model!r}.")
        est = clone(model).set_params(**params) if params else clone(model)
        return [*pca_steps, ("model", est)], type(model).__name__, False
    check_choice(model, tuple(MODELS), "model")
    if task not in MODELS[model]:
        hint = ("give positive= for a class target" if task == "regression" else
                "use 'ridge' or pca= with 'l2_logistic'")
        raise ValueError(f"model={model!r} is for a {' or '.join(MODELS[model])} target; the "
                         f"target here is {'continuous' if task == 'regression' else 'a class'}"
                         f" ({hint}).")
    route = False
    if model == "l2_logistic":
        small = pca is not None or n_features <= 1000
        est = LogisticRegression(C=1.0, solver="newton-cholesky" if small else "lbfgs",
                                 tol=1e-10, max_iter=10000)
    elif model == "linear_svm":
        est = LinearSVC(C=1.0, max_iter=100000)
    elif model == "ridge":
        est = (RidgeClassifier(alpha=1.0) if task == "classification" else Ridge(alpha=1.0))
    else:   # lasso_pcr: PCA, then the Lasso (tuned by inner CV unless alpha is given)
        pca_steps = [("pca", PCA(n_components=pca))]
        if "alpha" in params:
            est = Lasso(max_iter=100000)
        else:
            inner = GroupKFold(5) if several_rows else 5
            est = LassoCV(cv=inner, max_iter=100000)
            route = several_rows
    if params:
        est.set_params(**params)
    return [*pca_steps, ("model", est)], model, route


def _selection_step(feature_selection, task: str):
    from sklearn.feature_selection import (
        SelectKBest,
        SelectPercentile,
        f_classif,
        f_regression,
    )

    if feature_selection is None:
        return []
    if not (isinstance(feature_selection, tuple | list) and len(feature_selection) == 2):
        raise TypeError("The 'feature_selection' parameter must be None or a pair (score, k), "
                        "e.g. ('anova', 2000) for the 2000 best voxels or ('f_regression', "
                        f"'5%') for the best 5%; got {feature_selection!r}.")
    score, k = feature_selection
    check_choice(score, ("anova", "f_classif", "f_regression"), "feature_selection score")
    func = f_regression if score == "f_regression" else f_classif
    if (func is f_classif) != (task == "classification"):
        right = "'anova'" if task == "classification" else "'f_regression'"
        raise ValueError(f"feature_selection score {score!r} does not fit a "
                         f"{'class' if task == 'classification' else 'continuous'} target; "
                         f"use {right}.")
    if isinstance(k, str) and k.endswith("%"):
        q = float(k[:-1])
        if not 0 < q <= 100:
            raise ValueError(f"The feature_selection percentile must be in (0, 100]; got {k!r}.")
        return [("select", SelectPercentile(func, percentile=q))]
    if isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1:
        return [("select", SelectKBest(func, k=int(k)))]
    raise ValueError("The feature_selection size must be a number of voxels (int >= 1) or a "
                     f"percentile as a string such as '5%'; got {k!r}.")


def build_pipeline(model, task: str, mask_img, *, scaling, feature_selection, pca,
                   model_params, n_confounds: int, n_features: int,
                   several_rows: bool = False) -> tuple[Pipeline, str, bool]:
    """The pipeline cross-validated by :func:`evaluate_pattern`, the model's name, and
    whether subject ids are routed to an inner CV."""
    from sklearn.preprocessing import StandardScaler

    from painmarkers.prediction.pipelines import ConfoundRegressor

    check_choice(scaling, SCALINGS, "scaling")
    steps = [("masker", VoxelMasker(mask_img=mask_img))]
    if n_confounds:
        steps.append(("confounds", ConfoundRegressor()))
    if scaling == "voxels":
        steps.append(("scale", StandardScaler()))
    steps += _selection_step(feature_selection, task)
    if pca is not None and not (isinstance(pca, numbers.Real) and pca > 0):
        raise ValueError(f"The 'pca' parameter must be None, a number of components (int) or "
                         f"a fraction of variance in (0, 1); got {pca!r}.")
    tail, name, route = _model_step(model, task, model_params, pca, n_features,
                                    several_rows)
    return Pipeline(steps + tail), name, route


@fill_doc
def evaluate_pattern(
    imgs,
    target,
    *,
    positive=None,
    subjects=None,
    kind: str | None = None,
    sessions=None,
    mask_img=None,
    model=None,
    model_params: dict | None = None,
    scaling: str | None = None,
    feature_selection=None,
    pca=None,
    cv=None,
    confounds=None,
    n_splits: int = 5,
    n_repeats: int = 10,
    n_permutations: int = 1000,
    prevalence: float | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    n_bootstrap_weights: int = 1000,
    n_bins: int = 5,
    nan_policy: str = "raise",
    random_state=None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> PatternEvaluation:
    """Cross-validated voxel-pattern model of a class or a continuous outcome, with maps.

    Parameters
    ----------
    imgs : list of 3-D maps, 4-D image, or Cohort
        One map per row: paths or nibabel images (or one 4-D image, a volume per row),
        all on one grid; or a :class:`~painmarkers.model.Cohort` whose sessions hold the
        maps in ``Session.images[kind]``.
    target : array-like, pandas.Series or str
        With a list of images: one value per image, or a Series indexed by subject id
        (with ``subjects``). With a Cohort: a column of ``Cohort.wide()`` (e.g.
        ``"group"``) or a Series indexed by subject id (e.g. the ``percent_change`` of
        :func:`painmarkers.stats.outcomes`).
    positive : scalar or None, default=None
        The positive class: given, the target is a class (classification, AUC and
        threshold metrics as :func:`evaluate_biomarker`); None, a continuous outcome
        (R², MAE, RMSE, r, calibration as :func:`evaluate_prognosis`).
    subjects : array-like or None, default=None
        With a list of images: the subject id of each image (images of one subject stay
        in one fold and are permuted and resampled together); None: every image is its
        own subject. With a Cohort: the subject ids to keep.
    kind : str or None, default=None
        With a Cohort: the map kind (``"alff"``, ``"falff"``, ...).
    sessions : str, list of str, mapping or None, default=None
        With a Cohort: the session(s) whose maps are used (as :func:`evaluate_biomarker`);
        None: every session.
    mask_img : path, image or None, default=None
        The voxels to use (> 0), on the maps' grid. None: the voxels finite and non-zero
        in every map (the implicit mask of :mod:`painmarkers.inference`), computed from
        the images without the target.
    model : str, estimator or None, default=None
        One of ``"l2_logistic"``, ``"linear_svm"``, ``"ridge"``, ``"lasso_pcr"``, or a
        linear scikit-learn estimator. None: ``"l2_logistic"`` (class target) or
        ``"ridge"`` (continuous target).
        ``"l2_logistic"``: ``LogisticRegression(C=1)`` solved to ``tol=1e-10``;
        ``"linear_svm"``: ``LinearSVC(C=1)``; ``"ridge"``: ``Ridge(alpha=1)`` or, for a
        class, ``RidgeClassifier(alpha=1)``; ``"lasso_pcr"`` (continuous target,
        CANlab's default): ``PCA`` (``pca`` components, default all) then the Lasso,
        whose penalty is tuned by an inner 5-fold CV in every training set
        (``LassoCV``; the final model holds ``Lasso(alpha)`` with the penalty tuned on
        all images) unless ``model_params={"alpha": ...}`` fixes it. A scikit-learn
        estimator must be linear (``coef_``).
    model_params : dict or None, default=None
        Parameters set on the model (e.g. ``{"C": 0.1}``, ``{"alpha": 100.0}``); None:
        its defaults.
    scaling : {None, "voxels"}, default=None
        None: the maps' own units (CANlab's default; standardise the maps beforehand
        if their scales differ). ``"voxels"``: every voxel z-scored on the training
        rows (``StandardScaler`` in the fold; see Notes for the cost).
    feature_selection : (score, size) or None, default=None
        Univariate voxel selection inside every training fold: score ``"anova"``
        (class target) or ``"f_regression"`` (continuous target), size a number of
        voxels (``("anova", 2000)``) or a percentile (``("f_regression", "5%")``).
        None: every voxel of the mask.
    pca : int, float or None, default=None
        PCA inside the folds (components, or a fraction of variance), before the model.
        None: no PCA (``"lasso_pcr"``: every component).
    cv : int, splitter, iterable of (train, test) or None, default=None
        As :func:`evaluate_biomarker`; None: ``StratifiedGroupKFold(n_splits)``
        (class target) or shuffled ``GroupKFold(n_splits)`` (continuous target),
        repeated ``n_repeats`` times.
    confounds : pandas.DataFrame, array, str, list of str or None, default=None
        Regressed out of every voxel inside each training fold (:class:`ConfoundRegressor`):
        one row per image (list input) or columns of ``Cohort.wide()`` (Cohort input).
        None: no confound.
    n_splits : int, default=5
        Folds of the default CV.
    n_repeats : int, default=10
        Repeats of the default CV.
    n_permutations : int, default=1000
        Target permutations, each refitting the whole pipeline. 0 skips.
    prevalence : float or None, default=None
        Population base rate for the predictive values (class target); None: those
        values are not computed.
    %(confidence)s
        Every interval has this level.
    n_bootstrap : int, default=2000
        Bootstrap resamples of the metric intervals.
    n_bootstrap_weights : int, default=1000
        Subject bootstrap refits for the z / p / q maps of the weights; 0 skips them.
    n_bins : int, default=5
        Bins of the calibration curve (class target).
    nan_policy : {"raise", "omit"}, default="raise"
        A missing class label or confound: raise naming the image, or exclude and list
        it. A missing continuous target is always excluded and listed.
    %(random_state)s
        It seeds the CV shuffles, the permutations and the bootstraps.
    %(n_jobs)s
        Threads of the dual route, workers of models refitted by scikit-learn.
    %(progress)s
        Here bars over reading the images, the fits, permutations and bootstraps.

    Returns
    -------
    PatternEvaluation
        ``evaluation`` (a :class:`BiomarkerEvaluation` or :class:`PrognosisEvaluation`
        with the same tables and columns as those functions give), ``weights_img``,
        ``intercept``, ``pattern_img`` (Haufe), ``z_img`` / ``p_img`` / ``q_img``,
        ``mask_img``, ``final_model_`` (the pipeline refitted on all images),
        ``bootstrap``, ``parameters``, ``versions``.

    Raises
    ------
    ImageError
        A map on another grid than the first (or than ``mask_img``; the message names
        it), an unreadable or non-3-D map, an empty mask.
    DataError
        NaN inside ``mask_img`` (naming the map); a target of the wrong length; missing
        values with ``nan_policy="raise"``; the positive label absent.
    DesignError
        Fewer subjects per class than folds; a single class; a continuous target with
        fewer than 3 distinct values; a CV that splits a subject.
    TypeError, ValueError
        Parameters of the wrong type or out of range; a model that does not fit the
        target (e.g. ``"lasso_pcr"`` for a class).

    See Also
    --------
    evaluate_biomarker : The same on ROI features (a table).
    VoxelMasker : The masking step of the pipeline.
    save_model_card : Save ``final_model_`` as a voxel model card.
    pattern_expression : Apply a published signature instead of training one.

    Notes
    -----
    *Leakage.* Everything that learns from data (confound regression, scaling, voxel
    selection, PCA, the model and the Lasso's penalty) is refitted inside every training
    fold and of every permutation. The mask is the user's or the voxels with data in
    every image: it never sees the target. Selecting voxels on all images before
    cross-validation inflates the accuracy of pure noise to near perfect (the test
    ``test_patterns_validity.py::test_selection_on_all_data_leaks``); in the fold it does
    not.

    *Speed.* For ridge, least squares, ridge classification and L2 logistic regression
    with at most confound regression and scaling before them, the fits run in the dual:
    the optimal weights are ``w = Zᵀa`` (representer theorem), so each fit needs only
    the n_train x n_train kernel of the training images. Without scaling, the centred
    kernel of any training set (every fold of every permutation, every bootstrap sample)
    is a centring of one Gram matrix ``X Xᵀ`` computed once, with confound regression
    applied to it; ridge predictions of all permutations sharing a training set are one
    product (continuous targets: the folds do not depend on the target), and L2
    logistic fits are Newton iterations in the dual (one n x n solve each), started on
    the ray of the interpolating fit, with the optimum of scikit-learn's objective
    (tested to ``rtol=1e-8``). 1000 permutations of 200 images x 70 000 voxels take
    minutes (``benchmarks/bench_patterns.py``). With ``scaling="voxels"`` each distinct
    training set needs its own kernel (n² x voxels operations): cheap for a continuous
    target (the 50 folds are shared by every permutation) but one kernel per fold and
    permutation for a class target, whose stratified folds change with the labels.
    Voxel selection, the SVM, the Lasso and user estimators are refitted by
    scikit-learn (``n_jobs``).

    *Weights and patterns.* ``weights_img`` is the refitted model's linear map of the
    images, back-projected through scaling, selection and PCA. Weights of a multivariate
    model are not a map of where the information is (a voxel may get a large weight for
    cancelling noise); the Haufe et al. (2014) activation pattern
    ``A = cov(X, s) / var(s)``, ``s`` the decision values, shows how each voxel covaries
    with the prediction. The bootstrap maps follow CANlab: the pipeline is refitted on
    ``n_bootstrap_weights`` samples of subjects drawn with replacement (within each
    class for a class target), ``z = mean / SD`` of each voxel's weight, ``p`` two-sided
    from the normal, ``q`` Benjamini-Hochberg over the voxels.

    References
    ----------
    .. [1] Haufe, S., et al. (2014). On the interpretation of weight vectors of linear
       models in multivariate neuroimaging. NeuroImage, 87, 96-110.
    .. [2] Wager, T. D., et al. (2013). An fMRI-based neurologic signature of physical
       pain. New England Journal of Medicine, 368(15), 1388-1397.
    .. [3] Varoquaux, G., et al. (2017). Assessing and tuning brain decoders:
       cross-validation, caveats, and guidelines. NeuroImage, 145, 166-179.
    .. [4] Ojala, M., & Garriga, G. C. (2010). Permutation tests for studying classifier
       performance. JMLR, 11, 1833-1863.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.prediction import evaluate_pattern
    >>> rng = np.random.default_rng(0)
    >>> pattern = rng.normal(size=(6, 6, 6))
    >>> y = np.repeat(["CLBP", "HC"], 20)
    >>> imgs = [nib.Nifti1Image(rng.normal(size=(6, 6, 6)) + 0.6 * (lab == "CLBP")
    ...                         * pattern, np.eye(4)) for lab in y]
    >>> res = evaluate_pattern(imgs, y, positive="CLBP", n_repeats=2, n_permutations=19,
    ...                        n_bootstrap_weights=50, random_state=0, progress=False)
    >>> bool(res.evaluation.auc > 0.8), res.permutation_p
    (True, 0.05)
    >>> res.weights_img.shape
    (6, 6, 6)
    """
    task = "classification" if positive is not None else "regression"
    settings = _inputs.check_settings(
        n_permutations=n_permutations, n_splits=n_splits, n_repeats=n_repeats, n_bins=n_bins,
        n_bootstrap=n_bootstrap, confidence=confidence, prevalence=prevalence, n_jobs=n_jobs,
        nan_policy=nan_policy)
    n_boot_w = check_positive_int(n_bootstrap_weights, "n_bootstrap_weights", minimum=0)
    check_choice(scaling, SCALINGS, "scaling")
    if model is None:
        model = "l2_logistic" if task == "classification" else "ridge"

    # BLAS on one thread: the many small factorisations and products of the fits run
    # several times slower with OpenBLAS's threads competing for a shared machine
    with single_blas_thread():
        return _run(imgs, target, positive=positive, subjects=subjects, kind=kind,
                    sessions=sessions, mask_img=mask_img, model=model,
                    model_params=model_params, scaling=scaling,
                    feature_selection=feature_selection, pca=pca, cv=cv,
                    confounds=confounds, n_boot_w=n_boot_w, settings=settings, task=task,
                    random_state=random_state, progress=progress)


def _run(imgs, target, *, positive, subjects, kind, sessions, mask_img, model, model_params,
         scaling, feature_selection, pca, cv, confounds, n_boot_w, settings, task,
         random_state, progress) -> PatternEvaluation:
    """The stages of :func:`evaluate_pattern` once the parameters are checked."""
    # -- stage 1: rows, then the images read once ------------------------------------------
    rows = _pattern_inputs.resolve(imgs, target, positive=positive, kind=kind,
                                   sessions=sessions, subjects=subjects, confounds=confounds,
                                   nan_policy=settings.nan_policy, task=task)
    data = read_images(rows.sources, mask_img, labels=rows.names, progress=progress)
    if data.n_partial:
        warn(f"{data.n_partial} voxel(s) have data in some images but not all and were left "
             f"out of the implicit mask ({data.X.shape[1]} voxels kept; {data.worst} lacks "
             "the most); give mask_img to choose the voxels.", PainmarkersWarning)
    X = data.X
    design = rows.design(X, [f"{X.shape[1]} voxels"])
    several = bool(pd.Series(rows.subjects).duplicated().any())
    pipe, model_name, route = build_pipeline(
        model, task, data.mask_img, scaling=scaling, feature_selection=feature_selection,
        pca=pca, model_params=model_params, n_confounds=design.n_confounds,
        n_features=X.shape[1], several_rows=several)
    metadata = ({} if rows.confound_matrix is None else
                {"confounds": rows.confound_matrix})
    # the model refitted on every image first: a model without linear weights is refused
    # before the cross-validation runs
    final = _pattern_maps.lasso_from_search(
        _pattern_maps.fit_final(pipe, X, design.y, task, metadata))
    lmap = _pattern_maps.linear_map(final)
    rng, seed = _stages.draw_seed(random_state)

    # -- stage 2: splits -----------------------------------------------------------------------
    splitter, splits = _stages.cv_splits(cv, X, design, settings, seed)

    # -- stage 3: out-of-fold fits (kernels kept for the permutations and bootstraps) ---------
    cache: dict = {}
    oof = _engine.cross_validate(pipe, X, [_engine.Job(design.y, splits)], task=task,
                                 groups=design.subjects, route_groups=route,
                                 metadata=metadata, n_jobs=settings.n_jobs, progress=progress,
                                 desc="cross-validation", cache=cache)[0]

    # -- stages 4-5: metrics and the permutation test ------------------------------------------
    parameters = _parameters(target, positive, design, rows, splitter, pipe, model_name,
                             settings, locals_=dict(
                                 task=task, kind=kind, sessions=sessions, mask_img=mask_img,
                                 scaling=scaling, feature_selection=feature_selection,
                                 pca=pca, model_params=model_params,
                                 random_state=random_state, n_bootstrap_weights=n_boot_w,
                                 n_partial=data.n_partial))
    evaluation = _stages.evaluate_oof(task, pipe, X, design, settings, oof, splits, splitter,
                                      route, metadata, rng, parameters, progress, cache=cache)

    # -- stage 6: weights, Haufe pattern, bootstrap maps ---------------------------------------
    scores = X @ lmap.weights + lmap.intercept
    if lmap.confound_coef.size:
        scores = scores + rows.confound_matrix @ lmap.confound_coef
    masker = final.steps[0][1]
    haufe = _pattern_maps.haufe_pattern(X, scores)
    boot, z_img = None, None
    if n_boot_w:
        samples = _pattern_maps.draw_samples(design.y, design.subjects, n_boot_w, rng,
                                             stratify=task == "classification")
        boot = _pattern_maps.bootstrap_weights(pipe, X, design.y, task, samples, metadata,
                                               cache=cache, n_jobs=settings.n_jobs,
                                               progress=progress)
        z_img = masker.inverse_transform(boot.z)
    bootstrap = pd.DataFrame([{
        "n_bootstrap": n_boot_w, "n_valid": 0 if boot is None else boot.n_valid,
        "n_voxels_q05": 0 if boot is None else int((boot.q < 0.05).sum()),
        "n_voxels_p001": 0 if boot is None else int((boot.p < 0.001).sum()),
        "scheme": ("subjects resampled within each class" if task == "classification"
                   else "subjects resampled")}])
    parameters["confound_coef"] = lmap.confound_coef.tolist()
    return PatternEvaluation(
        evaluation=evaluation, weights_img=masker.inverse_transform(lmap.weights),
        intercept=lmap.intercept, pattern_img=masker.inverse_transform(haufe),
        z_img=z_img, p_img=None if boot is None else masker.inverse_transform(boot.p),
        q_img=None if boot is None else masker.inverse_transform(boot.q),
        mask_img=data.mask_img, final_model_=final, bootstrap=bootstrap,
        n_voxels=int(X.shape[1]), parameters=parameters, versions=versions(),
        training=_final.describe(imgs if _pattern_inputs._is_cohort(imgs) else
                                 rows.confound_table, design,
                                 task, target=parameters["target"], positive=positive,
                                 images=True))


def _parameters(target, positive, design, rows, splitter, pipe, model_name, settings,
                locals_) -> dict:
    target_name = target if isinstance(target, str) else getattr(target, "name", None)
    mask = locals_["mask_img"]
    return {
        "task": locals_["task"], "target": str(target_name or "target"), "positive": positive,
        "features": design.features, "subject": design.subject,
        "kind": locals_["kind"], "sessions": locals_["sessions"],
        "mask": ("implicit (voxels with data in every image)" if mask is None else
                 (str(mask) if isinstance(mask, str) or hasattr(mask, "__fspath__")
                  else "mask_img given")),
        "n_partial_voxels": int(locals_["n_partial"]),
        "model_name": model_name, "model": repr(pipe.steps[-1][1]),
        "pipeline": [name for name, _ in pipe.steps],
        "scaling": locals_["scaling"], "feature_selection": locals_["feature_selection"],
        "pca": locals_["pca"], "model_params": locals_["model_params"],
        "cv": splitter.description, "confounds": rows.confounds, "site": None,
        "harmonize": False, "n_permutations": settings.n_permutations,
        "random_state": _inputs.describe_parameters(locals_["random_state"]),
        "n_splits": settings.n_splits, "n_repeats": settings.n_repeats,
        "prevalence": settings.prevalence, "confidence": settings.confidence,
        "n_bootstrap": settings.n_bootstrap,
        "n_bootstrap_weights": locals_["n_bootstrap_weights"],
        "nan_policy": settings.nan_policy,
        "class_names": design.class_names,
        "permutation_scheme": _stages.permutation_scheme(design, "target"),
    }
