"""The dual route of the CV engine: linear models on many more features than rows.

:func:`cross_validate` is called by :func:`painmarkers.prediction._engine.cross_validate`
for every recognised plan (:func:`painmarkers.prediction._linear.recognise`); it takes
the jobs when the features outnumber the rows and every step before the model keeps the
features (maskers, confound regression, scaling), and returns None otherwise (the primal
fast route or scikit-learn then fit them).

Problems are grouped by training set: ridge predictions of all the targets sharing one
are a single product with the dual solve; every other problem (a fold of a permutation
whose stratified folds changed with the labels) is solved in padded batches (ridge:
batched solves; L2 logistic: :func:`painmarkers.prediction._kernel.logistic_dual_batch`).
Kernels come from a :class:`~painmarkers.prediction._kernel.KernelSource` kept in the
caller's ``cache``, so a permutation test computes them once for all its blocks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import expit

from painmarkers._threads import single_blas_thread
from painmarkers.prediction import _kernel, _linear
from painmarkers.prediction._cv import OutOfFold, collect_jobs
from painmarkers.prediction._progress import progress_bar

__all__: list[str] = []

#: Steps before the model that keep one output column per input column.
_PRESERVING = ("VoxelMasker", "ConfoundRegressor", "StandardScaler", "MaxAbsScaler",
               "RobustScaler", "MinMaxScaler")


def _kernel_prefix(plan: _linear.Plan) -> list | None:
    """The prefix without identity maskers, or None when a step may change the width."""
    from painmarkers.prediction._masker import VoxelMasker

    out = []
    for step in plan.prefix:
        name = type(step).__name__
        if name not in _PRESERVING:
            return None
        if type(step) is VoxelMasker:
            if step.mask_img is None:
                return None
            continue   # an array of the mask's voxels passes through unchanged
        if name == "ConfoundRegressor" and step.confound_columns is not None:
            return None
        out.append(step)
    return out


def source_for(plan: _linear.Plan, X: np.ndarray, metadata: Mapping | None,
               cache: dict | None) -> _kernel.KernelSource | None:
    """The kernel source of ``(plan, X)`` (from ``cache`` when there), or None."""
    prefix = _kernel_prefix(plan)
    if prefix is None:
        return None
    key = ("kernel", id(X), tuple(repr(s) for s in prefix), plan.scale)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None and hit.X is X:
            return hit
    src = _kernel.KernelSource(X, prefix, plan.scale, metadata)
    if cache is not None:
        cache[key] = src
    return src


def wants(plan: _linear.Plan, X: np.ndarray, jobs: Sequence) -> bool:
    """The dual route is worth it: more features than rows, one shared feature matrix."""
    if any(job.X is not None for job in jobs):
        return False
    if X.ndim != 2 or X.shape[1] <= X.shape[0]:
        return False
    return _kernel_prefix(plan) is not None


def cross_validate(plan: _linear.Plan, X: np.ndarray, jobs: Sequence, *,
                   metadata: Mapping[str, np.ndarray] | None = None,
                   cache: dict | None = None, progress: bool = False,
                   desc: str = "refits", n_jobs: int | None = None
                   ) -> list[OutOfFold] | None:
    """Out-of-fold scores of every job by the dual route, or None when it does not apply.

    Parameters
    ----------
    plan : Plan
    X : numpy.ndarray of shape (n, p)
    jobs : sequence of Job
    metadata : mapping, optional
    cache : dict, optional
        Holds the kernel source between calls.
    progress : bool, default=False
    desc : str, default="refits"
    n_jobs : int or None, default=None
        Threads solving batches of problems at once (each on one BLAS thread).

    Returns
    -------
    list of OutOfFold or None
    """
    if not wants(plan, X, jobs):
        return None
    src = source_for(plan, X, metadata, cache)
    by_key: dict[tuple, list[tuple[int, int]]] = {}
    for j, job in enumerate(jobs):
        for s, sp in enumerate(job.splits):
            by_key.setdefault((sp.train.tobytes(), sp.test.tobytes()), []).append((j, s))
    scores: list[list] = [[None] * len(job.splits) for job in jobs]
    total = sum(len(v) for v in by_key.values())
    bar = progress_bar(total, desc, progress, unit="fit")
    try:
        if plan.linear_in_y:
            singles = []
            for members in by_key.values():
                if len(members) < 2:
                    singles.extend(members)
                    continue
                j0, s0 = members[0]
                sp = jobs[j0].splits[s0]
                Ktr, Kte = src.blocks(sp.train, sp.test)
                Y = np.column_stack([plan.target(jobs[j].y[sp.train]) for j, _ in members])
                pred = _kernel.ridge_dual(Ktr, Kte, Y, plan.alpha)
                for col, (j, s) in enumerate(members):
                    scores[j][s] = pred[:, col]
                bar.update(len(members))
            _batched(plan, src, jobs, singles, scores, bar, n_jobs)
        else:
            problems = [m for members in by_key.values() for m in members]
            _batched(plan, src, jobs, problems, scores, bar, n_jobs)
    finally:
        bar.close()
    return collect_jobs(jobs, scores, plan.is_proba)


def _batched(plan, src, jobs, problems, scores, bar, n_jobs=None) -> None:
    """Solve ``problems`` (job, split) with their own training sets, in padded batches.

    The kernels of a batch are gathered in this thread; the solves run on one BLAS
    thread each (OpenBLAS's threads on many small matrices are many times slower), in
    ``n_jobs`` threads.
    """
    from concurrent.futures import ThreadPoolExecutor


    def solve(Ktr, Kte, w, y):
        with single_blas_thread():
            if plan.kind == "logistic":
                a, c, _ = _kernel.logistic_dual_batch(Ktr, w, y, 1.0 / plan.alpha)
                return expit(c[:, None] + (Kte @ a[..., None])[..., 0])
            return _kernel.ridge_dual_batch(Ktr, Kte, w, y, plan.alpha)[0]

    def chunks():
        for start in range(0, len(problems), _kernel.LOGISTIC_BATCH):
            chunk = problems[start:start + _kernel.LOGISTIC_BATCH]
            splits = [jobs[j].splits[s] for j, s in chunk]
            arrays = padded(src, splits, [plan.target(jobs[j].y[sp.train])
                                          for (j, _), sp in zip(chunk, splits)])
            yield chunk, splits, arrays

    def store(chunk, splits, pred):
        for i, ((j, s), sp) in enumerate(zip(chunk, splits)):
            scores[j][s] = pred[i, : sp.test.size]
        bar.update(len(chunk))

    workers = 1 if n_jobs in (None, 1) else (os.cpu_count() or 1 if n_jobs < 0 else n_jobs)
    if workers == 1:
        for chunk, splits, arrays in chunks():
            store(chunk, splits, solve(*arrays))
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = []
        for chunk, splits, arrays in chunks():
            pending.append((chunk, splits, pool.submit(solve, *arrays)))
            while len(pending) > 2 * workers:
                c, sp, fut = pending.pop(0)
                store(c, sp, fut.result())
        for c, sp, fut in pending:
            store(c, sp, fut.result())


def padded(src: _kernel.KernelSource, splits, targets) -> tuple[np.ndarray, ...]:
    """Stacked centred kernels of the splits, zero-padded to the largest training set."""
    b = len(splits)
    n = max(sp.train.size for sp in splits)
    m = max(sp.test.size for sp in splits)
    Ktr = np.zeros((b, n, n))
    Kte = np.zeros((b, m, n))
    w = np.zeros((b, n))
    y = np.zeros((b, n))
    for i, (sp, t) in enumerate(zip(splits, targets)):
        ktr, kte = src.blocks(sp.train, sp.test)
        k = sp.train.size
        Ktr[i, :k, :k] = ktr
        Kte[i, : sp.test.size, :k] = kte
        w[i, :k] = 1.0
        y[i, :k] = t
    return Ktr, Kte, w, y
