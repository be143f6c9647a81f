"""scikit-learn's StratifiedGroupKFold, the same splits, fast enough to rerun per permutation.

A permutation test of a stratified, grouped cross-validation rebuilds the folds for
every permuted label vector (the folds are stratified on the labels), i.e.
``n_permutations x n_repeats`` calls of ``StratifiedGroupKFold.split``: about 50 ms
each for 100 subjects, 10 minutes for the default 1000 x 10. Its greedy algorithm
visits the groups in a fixed order (a seeded shuffle, then a stable sort by the spread
of the group's class counts) and puts each group in the fold that keeps the class
proportions most even. The decision depends only on the current per-fold class counts
and the group's class counts, so :class:`StratifiedGroupKFoldCache` remembers every
decision it has computed (with scikit-learn's own arithmetic, so ties break the same
way) and replays it: a permutation that revisits a state costs a dictionary look-up.

The splits equal ``StratifiedGroupKFold(n_splits, shuffle=True,
random_state=seed).split(X, y, groups)`` exactly (tested against scikit-learn on
random designs: one or several rows per subject, labels constant or varying within
subjects, unbalanced and multi-class labels).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

__all__: list[str] = []


@functools.cache
def matches_sklearn() -> bool:
    """True when the installed scikit-learn's StratifiedGroupKFold gives the folds this
    replica gives (scikit-learn 1.6 used an older assignment order; painmarkers then
    calls scikit-learn itself, slower but the same folds as the user's splitter).

    Checked once per process on a few small random designs (one or several rows per
    subject, unbalanced and three-class labels).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(20261206)
    for n_subjects, k, n_classes in ((23, 3, 2), (31, 5, 3), (18, 4, 2)):
        groups = np.repeat(np.arange(n_subjects), rng.integers(1, 4, n_subjects))
        y = rng.integers(0, n_classes, groups.size)
        for seed in (0, 7):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # small classes
                ref = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed)
                           .split(np.zeros(groups.size), y, groups))
            folds = StratifiedGroupKFoldCache(k).folds(y, groups, seed)
            if any(not np.array_equal(np.flatnonzero(folds == f), te)
                   for f, (_, te) in enumerate(ref)):
                return False
    return True


class StratifiedGroupKFoldCache:
    """Test-fold assignment of scikit-learn's StratifiedGroupKFold with memoised decisions.

    Parameters
    ----------
    n_splits : int
        Number of folds.
    """

    def __init__(self, n_splits: int):
        self.n_splits = int(n_splits)
        self._decisions: dict[tuple, int] = {}

    def _best_fold(self, y_counts_per_fold: np.ndarray, y_cnt: np.ndarray,
                   group_y_counts: np.ndarray) -> int:
        # scikit-learn's StratifiedGroupKFold._find_best_fold, operation for operation
        best_fold = None
        min_eval = np.inf
        min_samples_in_fold = np.inf
        for i in range(self.n_splits):
            y_counts_per_fold[i] += group_y_counts
            std_per_class = np.std(y_counts_per_fold / y_cnt.reshape(1, -1), axis=0)
            y_counts_per_fold[i] -= group_y_counts
            fold_eval = np.mean(std_per_class)
            samples_in_fold = np.sum(y_counts_per_fold[i])
            better = fold_eval < min_eval or (
                np.isclose(fold_eval, min_eval) and samples_in_fold < min_samples_in_fold)
            if better:
                min_eval = fold_eval
                min_samples_in_fold = samples_in_fold
                best_fold = i
        return int(best_fold)

    def folds(self, y: np.ndarray, groups: np.ndarray, random_state: int | None,
              shuffle: bool = True) -> np.ndarray:
        """Fold number of every row (what ``split`` would put in each test fold).

        Parameters
        ----------
        y : numpy.ndarray of shape (n,)
            Class labels.
        groups : numpy.ndarray of shape (n,)
            Group (subject) of each row.
        random_state : int or None
            The ``random_state`` of the StratifiedGroupKFold (an int when ``shuffle``).
        shuffle : bool, default=True
            Its ``shuffle``: without it the groups are visited in sorted order (before
            the stable sort by class-count spread).

        Returns
        -------
        numpy.ndarray of shape (n,)
            Test fold of each row.
        """
        _, y_inv, y_cnt = np.unique(y, return_inverse=True, return_counts=True)
        groups_inv, n_groups = self._group_codes(groups)
        n_classes = len(y_cnt)
        counts = np.bincount(groups_inv * n_classes + y_inv.ravel(),
                             minlength=n_groups * n_classes).reshape(n_groups, n_classes)
        if shuffle:
            perm, inv_perm = self._shuffle(n_groups, random_state)
        else:
            perm = inv_perm = np.arange(n_groups)
        counts = counts[perm]
        order = np.argsort(-np.std(counts.astype(float), axis=1), kind="stable")
        rows = [tuple(r) for r in counts.tolist()]
        state = [0] * (self.n_splits * n_classes)
        totals = tuple(y_cnt.tolist())
        fold_of_group = np.empty(n_groups, dtype=int)
        decisions = self._decisions
        for g in order.tolist():
            row = rows[g]
            key = (totals, row, tuple(state))
            best = decisions.get(key)
            if best is None:
                best = best_fold(state, totals, row, self.n_splits)
                decisions[key] = best
            base = best * n_classes
            for c in range(n_classes):
                state[base + c] += row[c]
            fold_of_group[g] = best
        return fold_of_group[inv_perm[groups_inv]]

    def _group_codes(self, groups: np.ndarray) -> tuple[np.ndarray, int]:
        cached = getattr(self, "_groups", None)
        if cached is not None and cached[0] is groups:
            return cached[1], cached[2]
        _, inv = np.unique(groups, return_inverse=True)
        inv = inv.ravel()
        n = int(inv.max()) + 1 if inv.size else 0
        self._groups = (groups, inv, n)
        return inv, n

    def _shuffle(self, n_groups: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        cache = self.__dict__.setdefault("_perms", {})
        key = (n_groups, random_state)
        if key not in cache:
            perm = np.arange(n_groups)
            np.random.RandomState(random_state).shuffle(perm)
            inv_perm = np.empty_like(perm)
            inv_perm[perm] = np.arange(perm.size)
            cache[key] = (perm, inv_perm)
        return cache[key]


def best_fold(state: list[int], totals: tuple, row: tuple, n_splits: int) -> int:
    """``StratifiedGroupKFold._find_best_fold`` in Python floats, rounding as numpy does.

    ``state`` holds the class counts per fold (fold-major), ``totals`` the class totals
    and ``row`` the group's class counts. numpy reduces a small (folds, classes) array
    over axis 0 by adding the rows in order and ``np.std`` is
    ``sqrt(sum((x - sum(x)/n)**2)/n)``; the same operations in the same order on IEEE
    doubles give the same bits (checked against the numpy version in the tests).
    """
    k = len(totals)
    best, min_eval, min_samples = -1, np.inf, np.inf
    for i in range(n_splits):
        total_std = 0.0
        for c in range(k):
            fracs = [(state[f * k + c] + (row[c] if f == i else 0)) / totals[c]
                     for f in range(n_splits)]
            acc = fracs[0]
            for v in fracs[1:]:
                acc += v
            mean = acc / n_splits
            dev = (fracs[0] - mean) * (fracs[0] - mean)
            for v in fracs[1:]:
                dev += (v - mean) * (v - mean)
            std = math.sqrt(dev / n_splits)
            total_std = std if c == 0 else total_std + std
        fold_eval = total_std / k
        samples = 0.0
        for c in range(k):
            samples += state[i * k + c]
        if fold_eval < min_eval or (abs(fold_eval - min_eval) <= 1e-8 + 1e-5 * abs(min_eval)
                                    and samples < min_samples):
            best, min_eval, min_samples = i, fold_eval, samples
    return best


def group_kfold_folds(groups: np.ndarray, n_splits: int, random_state: int) -> np.ndarray:
    """Fold number of every row: subjects shuffled and dealt into ``n_splits`` folds.

    The unique subjects (sorted) are split by ``KFold(n_splits, shuffle=True,
    random_state=random_state)``; a subject's rows share its fold. The folds do not
    depend on the target, so a permutation test reuses them.
    """
    from sklearn.model_selection import KFold

    uniq, inv = np.unique(groups, return_inverse=True)
    fold_of_group = np.empty(uniq.size, dtype=int)
    kf = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    for f, (_, te) in enumerate(kf.split(uniq)):
        fold_of_group[te] = f
    return fold_of_group[inv.ravel()]
