"""Cross-validation machinery of evaluate_biomarker: splits, fitting, permutations."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold
from sklearn.pipeline import Pipeline

from painmarkers.exceptions import DesignError


@dataclass(frozen=True)
class Split:
    """One train/test split; ``repeat`` numbers the full partitions of the data."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def _subjects_per_class(y: np.ndarray, groups: np.ndarray) -> dict[int, int]:
    return {c: int(pd.unique(groups[y == c]).size) for c in (0, 1)}


def default_splits(y, groups, n_splits, n_repeats, seed, class_names) -> list[Split]:
    """Repeated StratifiedGroupKFold, one reshuffle per repeat."""
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
    out = []
    for r in range(n_repeats):
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True,
                                  random_state=int(seed) + r)
        for f, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y, groups)):
            out.append(Split(r, f, tr, te))
    return out


def site_splits(y, groups, sites, site_names, class_names) -> list[Split]:
    """Leave-one-site-out; refuses sites holding one class only."""
    if pd.unique(sites).size < 2:
        raise DesignError(
            f"Leave-one-site-out needs at least 2 sites; the site column holds only "
            f"{site_names[int(sites[0])]!r}. Pass cv= (e.g. StratifiedGroupKFold) instead."
        )
    for s in pd.unique(sites):
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
        _check_two_classes(y, tr, f)
        out.append(Split(0, f, tr, te))
    return out


def _check_two_classes(y, train, fold):
    if np.unique(y[train]).size < 2:
        raise DesignError(f"The training set of fold {fold} holds one class only.")


def user_splits(cv, X, y, groups) -> list[Split]:
    """Splits of a user-given splitter; repeats start when a test row comes back."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        cv = StratifiedGroupKFold(n_splits=int(cv))
    if hasattr(cv, "split"):
        with warnings.catch_warnings():
            # ungrouped splitters warn that they ignore groups; check_grouped verifies later
            warnings.filterwarnings("ignore", message="The groups parameter is ignored")
            raw = list(cv.split(X, y, groups))
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
        _check_two_classes(y, tr, len(out))
        out.append(Split(repeat, fold, tr, te))
        fold += 1
    return out


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


def score_of(est, X) -> tuple[np.ndarray, bool]:
    """Positive-class probability when available, else the decision function."""
    if hasattr(est, "predict_proba"):
        try:
            proba = est.predict_proba(X)
        except AttributeError:
            proba = None
        if proba is not None:
            classes = list(getattr(est, "classes_", [0, 1]))
            return proba[:, classes.index(1)], True
    if hasattr(est, "decision_function"):
        return np.asarray(est.decision_function(X), dtype=float).ravel(), False
    raise TypeError(
        f"The model {est!r} has neither predict_proba nor decision_function; a ROC curve "
        "needs continuous scores."
    )


def fit_split(pipe: Pipeline, X, y, groups, split: Split, route_groups: bool):
    """Fit a clone on the training rows; return (test scores, is_probability, best_params)."""
    est = clone(pipe)
    params = {"model__groups": groups[split.train]} if route_groups else {}
    est.fit(X[split.train], y[split.train], **params)
    scores, is_proba = score_of(est, X[split.test])
    best = getattr(est.named_steps["model"], "best_params_", None)
    return scores, is_proba, best


def run_cv(pipe, X, y, groups, splits, route_groups, n_jobs=None):
    """Out-of-fold scores of every split: returns (matrix (n_repeats, n), is_proba, raw list)."""
    if n_jobs is None or n_jobs == 1:
        results = [fit_split(pipe, X, y, groups, sp, route_groups) for sp in splits]
    else:
        results = Parallel(n_jobs=n_jobs)(
            delayed(fit_split)(pipe, X, y, groups, sp, route_groups) for sp in splits
        )
    n_rep = max(sp.repeat for sp in splits) + 1
    mat = np.full((n_rep, len(y)), np.nan)
    for sp, (s, _, _) in zip(splits, results):
        mat[sp.repeat, sp.test] = s
    return mat, results[0][1], results


def permute_labels(y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Permute labels at the level where they vary.

    Labels constant within each subject are permuted across subjects (a subject keeps
    one label). Labels varying within subjects (paired designs) are shuffled within
    each subject.
    """
    codes, uniq = pd.factorize(groups)
    frame = pd.DataFrame({"g": codes, "y": y})
    per = frame.groupby("g")["y"].nunique()
    if (per == 1).all():
        subject_label = frame.groupby("g")["y"].first().to_numpy()
        return rng.permutation(subject_label)[codes]
    out = y.copy()
    for k in range(len(uniq)):
        rows = np.flatnonzero(codes == k)
        out[rows] = y[rng.permutation(rows)]
    return out
