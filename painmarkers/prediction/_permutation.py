"""Stage 5 of an evaluation: the permutation test of the cross-validated statistic.

Each permutation draws a new target (:class:`~painmarkers.prediction._cv.Permuter`:
across subjects, or within subjects when the target varies within them), rebuilds the
splits for it when they depend on the target, and reruns the whole pipeline
(:func:`~painmarkers.prediction._engine.cross_validate`: in batches through the fast
route when the pipeline allows it). The statistic (pooled AUC, out-of-fold R², ...)
of each refit is compared with the observed one: ``p = (C + 1) / (n_valid + 1)``
over the permutations whose CV could be built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from painmarkers.exceptions import DesignError
from painmarkers.prediction import _cv, _engine
from painmarkers.prediction._performance import pooled_auc
from painmarkers.prediction._progress import progress_bar

__all__: list[str] = []

#: Permutations cross-validated per call of the engine (bounds memory; one bar update).
BLOCK = 250


@dataclass(frozen=True, eq=False)
class PermutationTest:
    """Null statistics (NaN where a permutation's CV could not be built) and the p-value."""

    null: np.ndarray
    p_value: float
    n_valid: int

    def metric_row(self) -> dict:
        """The ``permutation_p`` row of the metrics table."""
        return {"metric": "permutation_p", "estimate": float(self.p_value),
                "n": int(self.n_valid), "ci_method": "(C + 1) / (n_permutations + 1)"}


def auc_statistic(oof: _cv.OutOfFold, y: np.ndarray, splits: list[_cv.Split]) -> float:
    """Pooled out-of-fold AUC (the statistic of a classification)."""
    return pooled_auc(oof.matrix, y)


def permutation_test(pipe, X, y, groups, splitter, route, *, observed: float,
                     n_permutations: int, rng: np.random.Generator, n_jobs: int | None,
                     metadata: Mapping[str, np.ndarray] | None = None,
                     statistic: Callable = auc_statistic, task: str = "classification",
                     progress: bool = False, fast: bool = True,
                     cache: dict | None = None) -> PermutationTest:
    """Refit the whole CV on ``n_permutations`` target permutations; p against ``observed``.

    The permutation seeds are drawn from ``rng`` up front (one per permutation, each
    seeding its own generator), so serial, parallel, generic and fast runs give the
    same null distribution. ``statistic(oof, y_permuted, splits)`` is the number
    compared; larger is better. ``cache`` keeps the kernels of the dual route between
    blocks of permutations (and from the observed fit, when the caller shares it).
    """
    cache = {} if cache is None else cache
    seeds = rng.integers(0, 2**31 - 1, n_permutations)
    permuter = _cv.Permuter(y, groups)
    fixed = splitter.split(y) if getattr(splitter, "label_free", False) else None
    null = np.full(n_permutations, np.nan)
    bar = progress_bar(n_permutations, "permutations", progress, unit="perm")
    try:
        for start in range(0, n_permutations, BLOCK):
            jobs, where = [], []
            for i in range(start, min(start + BLOCK, n_permutations)):
                yp = permuter.draw(y, np.random.default_rng(seeds[i]))
                try:
                    splits = fixed if fixed is not None else splitter.split(yp)
                except DesignError:
                    continue
                jobs.append(_engine.Job(yp, splits))
                where.append(i)
            if jobs:
                oofs = _engine.cross_validate(pipe, X, jobs, task=task, groups=groups,
                                              route_groups=route, metadata=metadata,
                                              n_jobs=n_jobs, fast=fast, cache=cache)
                for i, job, oof in zip(where, jobs, oofs):
                    null[i] = statistic(oof, job.y, job.splits)
            bar.update(min(start + BLOCK, n_permutations) - start)
    finally:
        bar.close()
    valid = null[np.isfinite(null)]
    p_value = (np.sum(valid >= observed - 1e-12) + 1) / (valid.size + 1)
    return PermutationTest(null=null, p_value=float(p_value), n_valid=int(valid.size))
