"""Stages 2 and 3 of an evaluation: the cross-validation splits and out-of-fold fits.

:func:`build_splitter` turns ``cv``/``site``/``n_splits``/``n_repeats`` into a
:class:`Splitter` (rerun on permuted labels by the permutation test when its folds
depend on the labels); :func:`run_cv` fits the pipeline on every training fold, with
the side information (site, covariates, confounds) routed to its steps by
scikit-learn's metadata routing, and returns the out-of-fold scores (classification)
or predictions (regression); :func:`permute_labels` draws the target of one
permutation. The default splits are repeated StratifiedGroupKFold for a class target
(replayed fast by :mod:`._sgkf`) and repeated grouped K-fold over shuffled subjects
for a continuous one (independent of the target, so computed once).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedGroupKFold
from sklearn.pipeline import Pipeline

from painmarkers.exceptions import DesignError
from painmarkers.prediction._sgkf import (
    StratifiedGroupKFoldCache,
    group_kfold_folds,
    matches_sklearn,
)


@dataclass(frozen=True)
class Split:
    """One train/test split; ``repeat`` numbers the full partitions of the data."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def _subjects_per_class(y: np.ndarray, groups: np.ndarray) -> dict[int, int]:
    return {c: int(pd.unique(groups[y == c]).size) for c in (0, 1)}


def default_splits(y, groups, n_splits, n_repeats, seed, class_names,
                   cache: StratifiedGroupKFoldCache | None = None) -> list[Split]:
    """Repeated StratifiedGroupKFold, one reshuffle per repeat (seed ``seed + r``).

    The splits equal scikit-learn's ``StratifiedGroupKFold(n_splits, shuffle=True,
    random_state=seed + r)``; ``cache`` replays its decisions (see :mod:`._sgkf`).
    """
    per_class = _subjects_per_class(y, groups)
    small = {class_names[c]: k for c, k in per_class.items() if k < n_splits}
    if small:
        name, k = next(iter(small.items()))
        raise DesignError(
            f"Class {name!r} has {k} subject(s) but {n_splits}-fold cross-validation needs at "
            f"least {n_splits} per class (subjects per class: "
            f"{ {class_names[c]: v for c, v in per_class.items()} }). Use n_splits={max(2, k)}"
            " or cv=LeaveOneGroupOut()." if k >= 2 else
            f"Class {name!r} has {k} subject(s); cross-validation needs at least 2 per class."
        )
    if not matches_sklearn():  # an older scikit-learn: its own (slower) splits
        out = []
        for r in range(n_repeats):
            sgkf = StratifiedGroupKFold(n_splits, shuffle=True, random_state=int(seed) + r)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # small classes (checked above)
                for f, (tr, te) in enumerate(sgkf.split(np.zeros(len(y)), y, groups)):
                    out.append(Split(r, f, tr, te))
        return out
    cache = StratifiedGroupKFoldCache(n_splits) if cache is None else cache
    out = []
    for r in range(n_repeats):
        folds = cache.folds(y, groups, int(seed) + r)
        for f in range(n_splits):
            out.append(Split(r, f, np.flatnonzero(folds != f), np.flatnonzero(folds == f)))
    return out


def regression_splits(groups, n_splits, n_repeats, seed) -> list[Split]:
    """Repeated grouped K-fold: subjects shuffled (seed ``seed + r``) and dealt into folds.

    The folds do not depend on the target.
    """
    n_subjects = int(pd.unique(groups).size)
    if n_subjects < n_splits:
        raise DesignError(f"{n_splits}-fold cross-validation needs at least {n_splits} "
                          f"subjects; there are {n_subjects}. Use n_splits={max(2, n_subjects)}.")
    out = []
    for r in range(n_repeats):
        folds = group_kfold_folds(groups, n_splits, int(seed) + r)
        for f in range(n_splits):
            out.append(Split(r, f, np.flatnonzero(folds != f), np.flatnonzero(folds == f)))
    return out


def site_splits(y, groups, sites, site_names, class_names) -> list[Split]:
    """Leave-one-site-out; for a class target, refuses sites holding one class only
    (``class_names`` None: a continuous target, no class checks)."""
    if pd.unique(sites).size < 2:
        raise DesignError(
            f"Leave-one-site-out needs at least 2 sites; the site column holds only "
            f"{site_names[int(sites[0])]!r}. Pass cv= (e.g. StratifiedGroupKFold) instead."
        )
    for s in pd.unique(sites) if class_names is not None else []:
        classes = np.unique(y[sites == s])
        if classes.size < 2:
            raise DesignError(
                f"Site {site_names[s]!r} holds only class {class_names[int(classes[0])]!r} "
                f"({int((sites == s).sum())} rows); leave-one-site-out would test it with one "
                "class and train without its scanner/class combination. Drop or merge the site, "
                "or pass cv= (e.g. StratifiedGroupKFold) and use site only for harmonisation."
            )
    out = []
    for f, (tr, te) in enumerate(LeaveOneGroupOut().split(np.zeros(len(y)), y, sites)):
        if class_names is not None:
            _check_two_classes(y, tr, f)
        out.append(Split(0, f, tr, te))
    return out


def _check_two_classes(y, train, fold):
    if np.unique(y[train]).size < 2:
        raise DesignError(f"The training set of fold {fold} holds one class only.")


def _replayed_sgkf(cv, y, groups, caches: dict | None):
    """The folds of a StratifiedGroupKFold given as ``cv`` through the replay cache, or
    None when scikit-learn must run (other splitters, a random_state that is not an int,
    classes or subjects fewer than folds: scikit-learn's own errors and warnings then)."""
    if caches is None or type(cv) is not StratifiedGroupKFold or not matches_sklearn():
        return None
    k = int(cv.n_splits)
    if cv.shuffle and not isinstance(cv.random_state, numbers.Integral):
        return None
    if np.unique(y, return_counts=True)[1].min() < k or pd.unique(groups).size < k:
        return None
    cache = caches.setdefault(k, StratifiedGroupKFoldCache(k))
    folds = cache.folds(y, groups, cv.random_state, shuffle=bool(cv.shuffle))
    return [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(k)]


def user_splits(cv, X, y, groups, classification: bool = True,
                caches: dict | None = None) -> list[Split]:
    """Splits of a user-given splitter; repeats start when a test row comes back.

    An int is ``StratifiedGroupKFold(int)`` for a class target, ``GroupKFold(int)``
    for a continuous one. A StratifiedGroupKFold is replayed through ``caches``
    (``{n_splits: StratifiedGroupKFoldCache}``) when given: the same folds, fast.
    """
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        cv = (StratifiedGroupKFold(n_splits=int(cv)) if classification
              else GroupKFold(n_splits=int(cv)))
    replayed = _replayed_sgkf(cv, y, groups, caches) if classification else None
    if replayed is not None:
        raw = replayed
    elif hasattr(cv, "split"):
        with warnings.catch_warnings():
            # ungrouped splitters warn that they ignore groups; check_grouped verifies later
            warnings.filterwarnings("ignore", message="The groups parameter is ignored")
            raw = list(cv.split(np.zeros(len(y)) if X is None else X, y, groups))
    else:
        try:
            raw = [(np.asarray(tr), np.asarray(te)) for tr, te in cv]
        except TypeError:
            raise TypeError(
                f"The 'cv' parameter must be None, an int, a scikit-learn splitter or an "
                f"iterable of (train, test) index arrays. Got {cv!r}."
            ) from None
    out, seen, repeat, fold = [], np.zeros(len(y), bool), 0, 0
    for tr, te in raw:
        tr, te = np.asarray(tr), np.asarray(te)
        if seen[te].any():
            repeat, fold, seen = repeat + 1, 0, np.zeros(len(y), bool)
        seen[te] = True
        if classification:
            _check_two_classes(y, tr, len(out))
        out.append(Split(repeat, fold, tr, te))
        fold += 1
    return out


@dataclass(frozen=True)
class Splitter:
    """The splits of one evaluation, as a function of the labels (rerun on permutations).

    ``kind`` is ``"default"`` (repeated StratifiedGroupKFold for a class target,
    repeated grouped K-fold for a continuous one), ``"site"`` (leave-one-site-out) or
    ``"user"`` (the ``cv`` given). ``class_names`` is None for a continuous target.
    """

    kind: str
    description: str
    groups: np.ndarray = field(repr=False)
    class_names: dict | None = field(repr=False)
    n_splits: int = 5
    n_repeats: int = 1
    seed: int = 0
    sites: np.ndarray | None = field(default=None, repr=False)
    site_names: Any = field(default=None, repr=False)
    cv: Any = None
    X: np.ndarray | None = field(default=None, repr=False)
    cache: Any = field(default=None, repr=False, compare=False)

    @property
    def classification(self) -> bool:
        """The target is a class (stratified default, class checks)."""
        return self.class_names is not None

    @property
    def label_free(self) -> bool:
        """The splits do not depend on the target (computed once for all permutations)."""
        return (self.kind == "site" and not self.classification) or (
            self.kind == "default" and not self.classification)

    def split(self, y: np.ndarray) -> list[Split]:
        """The splits for labels ``y``."""
        if self.kind == "site":
            return site_splits(y, self.groups, self.sites, self.site_names, self.class_names)
        if self.kind == "default":
            if not self.classification:
                return regression_splits(self.groups, self.n_splits, self.n_repeats, self.seed)
            return default_splits(y, self.groups, self.n_splits, self.n_repeats, self.seed,
                                  self.class_names, self.cache)
        return user_splits(self.cv, self.X, y, self.groups, self.classification, self.cache)


def build_splitter(cv, *, X, groups, subject, sites, site_names, class_names, n_splits,
                   n_repeats, seed) -> Splitter:
    """The :class:`Splitter` of ``cv`` (None: leave-one-site-out with sites, else the
    repeated StratifiedGroupKFold, or grouped K-fold when ``class_names`` is None)."""
    common = {"groups": groups, "class_names": class_names}
    if cv is None and sites is not None:
        return Splitter("site", f"leave-one-site-out over {len(site_names)} sites",
                        sites=sites, site_names=site_names, **common)
    if cv is None:
        name = "StratifiedGroupKFold" if class_names is not None else "GroupKFold (shuffled)"
        return Splitter("default", f"{name}({n_splits}) x {n_repeats} repeats, "
                        f"grouped by {subject or 'row'}", n_splits=n_splits,
                        n_repeats=n_repeats, seed=seed,
                        cache=StratifiedGroupKFoldCache(n_splits), **common)
    return Splitter("user", repr(cv), cv=cv, X=X, cache={}, **common)


def check_grouped(splits: list[Split], groups: np.ndarray) -> None:
    """Raise if any subject has rows in both train and test of one split."""
    for sp in splits:
        both = np.intersect1d(groups[sp.train], groups[sp.test])
        if both.size:
            raise DesignError(
                f"Fold {sp.fold} (repeat {sp.repeat}) puts subject {both[0]!r} in both training "
                f"and test sets ({both.size} subject(s) in total); use a grouped splitter "
                "(StratifiedGroupKFold, GroupKFold, LeaveOneGroupOut)."
            )


def score_of(est, X, metadata: Mapping[str, Any] | None = None,
             regression: bool = False) -> tuple[np.ndarray, bool]:
    """Positive-class probability when available, else the decision function; the
    prediction for a regressor (``regression=True``)."""
    metadata = dict(metadata or {})
    if regression:
        return np.asarray(est.predict(X, **metadata), dtype=float).ravel(), False
    if hasattr(est, "predict_proba"):
        try:
            proba = est.predict_proba(X, **metadata)
        except AttributeError:
            proba = None
        if proba is not None:
            classes = list(getattr(est, "classes_", [0, 1]))
            return proba[:, classes.index(1)], True
    if hasattr(est, "decision_function"):
        return np.asarray(est.decision_function(X, **metadata), dtype=float).ravel(), False
    raise TypeError(
        f"The model {est!r} has neither predict_proba nor decision_function; a ROC curve "
        "needs continuous scores."
    )


def fit_split(pipe: Pipeline, X, y, groups, split: Split, route_groups: bool,
              metadata: Mapping[str, np.ndarray] | None = None, regression: bool = False):
    """Fit a clone on the training rows; return (test scores, is_probability, best_params).

    ``metadata`` holds per-row arrays (``site``, ``covariates``, ``confounds``) that are
    sliced to the training and test rows and routed to the pipeline's steps, in ``fit``
    and in the scoring call alike; ``route_groups`` routes the subject ids of the
    training rows to a hyperparameter search's inner CV. Routing is switched on for this
    call only (scikit-learn's config is thread-local and restored on exit). With
    ``regression`` the scores are the predictions.
    """
    est = clone(pipe)
    metadata = dict(metadata or {})
    train_meta = {k: v[split.train] for k, v in metadata.items()}
    test_meta = {k: v[split.test] for k, v in metadata.items()}
    if route_groups:
        train_meta["groups"] = groups[split.train]
    with sklearn.config_context(enable_metadata_routing=True):
        est.fit(X[split.train], y[split.train], **train_meta)
        scores, is_proba = score_of(est, X[split.test], test_meta, regression)
    best = getattr(est.named_steps["model"], "best_params_", None)
    return scores, is_proba, best


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold scores of one cross-validation.

    Attributes
    ----------
    matrix : numpy.ndarray of shape (n_repeats, n)
        Score of each row in each repeat (NaN where the row was not tested).
    is_proba : bool
        Scores are probabilities (else decision values).
    raw : list
        ``(scores, is_proba, best_params)`` of each split.
    """

    matrix: np.ndarray
    is_proba: bool
    raw: list = field(repr=False)

    @property
    def threshold(self) -> float:
        """0.5 for probabilities, 0 for decision values."""
        return 0.5 if self.is_proba else 0.0

    @property
    def tested(self) -> np.ndarray:
        """Rows with at least one out-of-fold score."""
        return np.isfinite(self.matrix).any(axis=0)


def run_cv(pipe, X, y, groups, splits, route_groups, n_jobs=None, metadata=None,
           regression: bool = False) -> OutOfFold:
    """Out-of-fold scores (predictions with ``regression``) of every split (see
    :func:`fit_split`)."""
    if n_jobs is None or n_jobs == 1:
        results = [fit_split(pipe, X, y, groups, sp, route_groups, metadata, regression)
                   for sp in splits]
    else:
        results = Parallel(n_jobs=n_jobs)(
            delayed(fit_split)(pipe, X, y, groups, sp, route_groups, metadata, regression)
            for sp in splits
        )
    return collect(splits, results, len(y))


def collect(splits: list[Split], results: list, n: int) -> OutOfFold:
    """The :class:`OutOfFold` of per-split ``(scores, is_proba, best)`` results."""
    n_rep = max(sp.repeat for sp in splits) + 1
    mat = np.full((n_rep, n), np.nan)
    for sp, (s, _, _) in zip(splits, results):
        mat[sp.repeat, sp.test] = s
    return OutOfFold(mat, results[0][1], results)


def collect_jobs(jobs: list, scores: list[list], is_proba: bool) -> list[OutOfFold]:
    """The :class:`OutOfFold` of each job from its per-split test scores ``scores[j][s]``."""
    return [collect(job.splits, [(scores[j][s], is_proba, None)
                                 for s in range(len(job.splits))], len(job.y))
            for j, job in enumerate(jobs)]


def permute_labels(y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Permute labels at the level where they vary.

    Labels constant within each subject are permuted across subjects (a subject keeps
    one label). Labels varying within subjects (paired designs) are shuffled within
    each subject.
    """
    return Permuter(y, groups).draw(y, rng)


class Permuter:
    """:func:`permute_labels` with the subject structure computed once.

    ``draw(y, rng)`` gives the same values as ``permute_labels(y, groups, rng)`` for the
    same generator state.
    """

    def __init__(self, y: np.ndarray, groups: np.ndarray):
        codes, _ = pd.factorize(groups)
        self.codes = codes
        frame = pd.DataFrame({"g": codes, "y": y})
        self.across = bool(frame.groupby("g")["y"].nunique().eq(1).all())
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        self.members = np.split(order, bounds) if len(order) else []
        # first row of each subject, in subject-code order
        self.first = np.array([m[0] for m in self.members], dtype=int)

    def draw(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One permutation of ``y``."""
        if self.across:
            return rng.permutation(y[self.first])[self.codes]
        out = y.copy()
        for rows in self.members:
            out[rows] = y[rng.permutation(rows)]
        return out
