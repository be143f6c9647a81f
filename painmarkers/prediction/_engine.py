"""Cross-validate one pipeline on many targets (observed and permuted) at once.

Every evaluation (classification or regression, table columns or, later, voxel
patterns) reduces to: for each *job*, a target vector, its splits and optionally its
own feature matrix (e.g. imaging columns permuted), fit the pipeline on each training
set and predict the test rows. :func:`cross_validate` runs a list of jobs

* by the **fast route** when :func:`painmarkers.prediction._linear.recognise` accepts the
  pipeline: label-free steps are fitted once per distinct (features, training set),
  then ridge predictions of all targets sharing a training set are one matrix product,
  and L2-logistic fits are solved in batches by Newton's method; when the features
  outnumber the rows (voxel patterns) the same models are solved in the dual from
  kernels computed once and reused by every permutation (:mod:`._kernel`);
* by the **generic route** otherwise: the pipeline is cloned and fitted with
  scikit-learn on every split of every job (jobs spread over ``n_jobs`` joblib
  workers).

Both return one :class:`~painmarkers.prediction._cv.OutOfFold` per job, with the same
numbers (tested to ``rtol=1e-8``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import sklearn
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from painmarkers.prediction import _linear
from painmarkers.prediction._cv import OutOfFold, Split, collect, collect_jobs, fit_split, run_cv
from painmarkers.prediction._progress import progress_bar

__all__: list[str] = []

#: Problems solved per batch by the fast route (memory ~ batch x rows x features x 8 B).
BATCH = 2048


@dataclass(frozen=True, eq=False)
class Job:
    """One cross-validation: a target, its splits and (optionally) its own features."""

    y: np.ndarray
    splits: list[Split]
    X: np.ndarray | None = field(default=None, repr=False)


def cross_validate(pipe, X: np.ndarray, jobs: Sequence[Job], *, task: str,
                   groups: np.ndarray, route_groups: bool = False,
                   metadata: Mapping[str, np.ndarray] | None = None,
                   n_jobs: int | None = None, progress: bool = False, desc: str = "refits",
                   fast: bool = True, cache: dict | None = None) -> list[OutOfFold]:
    """Out-of-fold scores (classification) or predictions (regression) of every job.

    Parameters
    ----------
    pipe : Pipeline
        The (unfitted) pipeline.
    X : numpy.ndarray of shape (n, p)
        Features shared by the jobs that do not bring their own.
    jobs : sequence of Job
    task : {"classification", "regression"}
    groups : numpy.ndarray of shape (n,)
        Subject ids (routed to a search's inner CV when ``route_groups``).
    route_groups : bool, default=False
    metadata : mapping, optional
        Per-row side information routed to the steps (site, covariates, confounds).
    n_jobs : int or None
        joblib workers of the generic route (over jobs, or over splits for one job).
    progress : bool, default=False
        A progress bar over the refits.
    desc : str
        Label of the bar.
    fast : bool, default=True
        Use the fast route when the pipeline allows it.
    cache : dict, optional
        Kept between calls on the same ``X`` (e.g. the blocks of a permutation test):
        the kernels of the dual route are computed once.

    Returns
    -------
    list of OutOfFold
    """
    regression = task == "regression"
    plan = _linear.recognise(pipe, task) if fast and not route_groups else None
    if plan is not None:
        from painmarkers.prediction import _kernel_cv

        out = _kernel_cv.cross_validate(plan, X, jobs, metadata=metadata, cache=cache,
                                        progress=progress, desc=desc, n_jobs=n_jobs)
        if out is not None:
            return out
    if plan is not None and plan.kind == "logistic":
        # batched Newton stores (features + 1)^2 per problem: small designs only
        job = jobs[0]
        ztr, _ = _transformed(plan, X if job.X is None else job.X, job.splits[0], metadata)
        if ztr.shape[1] > _linear.LOGISTIC_MAX_FEATURES:
            plan = None
    if plan is None:
        return _generic(pipe, X, jobs, groups, route_groups, metadata, n_jobs, progress,
                        desc, regression)
    return _fast(plan, X, jobs, metadata, progress, desc)


def _generic(pipe, X, jobs, groups, route_groups, metadata, n_jobs, progress, desc,
             regression) -> list[OutOfFold]:
    if len(jobs) == 1:
        job = jobs[0]
        Xj = X if job.X is None else job.X
        if not progress or n_jobs not in (None, 1):
            return [run_cv(pipe, Xj, job.y, groups, job.splits, route_groups, n_jobs,
                           metadata, regression)]
        bar = progress_bar(len(job.splits), desc, progress, unit="fit")
        try:
            results = []
            for sp in job.splits:
                results.append(fit_split(pipe, Xj, job.y, groups, sp, route_groups, metadata,
                                         regression))
                bar.update()
        finally:
            bar.close()
        return [collect(job.splits, results, len(job.y))]

    def one(job):
        return run_cv(pipe, X if job.X is None else job.X, job.y, groups, job.splits,
                      route_groups, None, metadata, regression)

    bar = progress_bar(len(jobs), desc, progress, unit="cv")
    try:
        if n_jobs is None or n_jobs == 1:
            out = []
            for job in jobs:
                out.append(one(job))
                bar.update()
            return out
        out = []
        for res in Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(one)(job) for job in jobs):
            out.append(res)
            bar.update()
        return out
    finally:
        bar.close()


# -- fast route -----------------------------------------------------------------------------
def _transformed(plan: _linear.Plan, Xj: np.ndarray, sp: Split,
                 metadata: Mapping[str, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """(training, test) features after the label-free prefix fitted on the training rows."""
    if not plan.prefix:
        return Xj[sp.train], Xj[sp.test]
    pre = make_pipeline(*[clone(s) for s in plan.prefix])
    meta = dict(metadata or {})
    with sklearn.config_context(enable_metadata_routing=True):
        ztr = pre.fit_transform(Xj[sp.train], **{k: v[sp.train] for k, v in meta.items()})
        zte = pre.transform(Xj[sp.test], **{k: v[sp.test] for k, v in meta.items()})
    return np.asarray(ztr, dtype=float), np.asarray(zte, dtype=float)


def _fast(plan: _linear.Plan, X, jobs, metadata, progress, desc) -> list[OutOfFold]:
    # problems grouped by (features, training set, test set)
    by_key: dict[tuple, list[tuple[int, int]]] = {}
    for j, job in enumerate(jobs):
        variant = -1 if job.X is None else j
        for s, sp in enumerate(job.splits):
            key = (variant, sp.train.tobytes(), sp.test.tobytes())
            by_key.setdefault(key, []).append((j, s))
    scores: list[list] = [[None] * len(job.splits) for job in jobs]
    total = sum(len(v) for v in by_key.values())
    bar = progress_bar(total, desc, progress, unit="fit")
    try:
        if plan.linear_in_y:
            shared = [(k, v) for k, v in by_key.items() if len(v) >= 4]
            single = [(k, v) for k, v in by_key.items() if len(v) < 4]
            for _, members in shared:
                j0, s0 = members[0]
                job0 = jobs[j0]
                sp = job0.splits[s0]
                ztr, zte = _transformed(plan, X if job0.X is None else job0.X, sp, metadata)
                Y = plan.target(np.column_stack([jobs[j].y[sp.train] for j, _ in members]))
                pred = _linear.ridge_predict_many(ztr, zte, Y, plan.alpha, plan.scale)
                for col, (j, s) in enumerate(members):
                    scores[j][s] = pred[:, col]
                bar.update(len(members))
            problems = [(j, s) for _, members in single for j, s in members]
            _batched(plan, X, jobs, problems, metadata, scores, bar)
        else:
            problems = [(j, s) for members in by_key.values() for j, s in members]
            _batched(plan, X, jobs, problems, metadata, scores, bar)
    finally:
        bar.close()
    return collect_jobs(jobs, scores, plan.is_proba)


def _batched(plan, X, jobs, problems, metadata, scores, bar) -> None:
    """Solve ``problems`` (job, split) in batches of padded arrays."""
    cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for start in range(0, len(problems), BATCH):
        chunk = problems[start:start + BATCH]
        feats = []
        for j, s in chunk:
            job = jobs[j]
            sp = job.splits[s]
            key = (-1 if job.X is None else j, sp.train.tobytes(), sp.test.tobytes())
            if key not in cache:
                cache[key] = _transformed(plan, X if job.X is None else job.X, sp, metadata)
            feats.append(cache[key])
        n_tr = max(f[0].shape[0] for f in feats)
        n_te = max(f[1].shape[0] for f in feats)
        q = feats[0][0].shape[1]
        b = len(chunk)
        Ztr = np.zeros((b, n_tr, q))
        Zte = np.zeros((b, n_te, q))
        w = np.zeros((b, n_tr))
        ytr = np.zeros((b, n_tr))
        for i, ((j, s), (ztr, zte)) in enumerate(zip(chunk, feats)):
            sp = jobs[j].splits[s]
            Ztr[i, : len(ztr)] = ztr
            Zte[i, : len(zte)] = zte
            w[i, : len(ztr)] = 1.0
            ytr[i, : len(ztr)] = plan.target(jobs[j].y[sp.train])
        if plan.linear_in_y:
            pred = _linear.ridge_predict_batch(Ztr, w, Zte, ytr, plan.alpha, plan.scale)
        else:
            if plan.scale:
                m, sd = _linear.scale_stats(Ztr, w)
                Ztr = (Ztr - m[:, None]) / sd[:, None]
                Zte = (Zte - m[:, None]) / sd[:, None]
            beta = _linear.logistic_fit_batch(Ztr, w, ytr, 1.0 / plan.alpha)
            pred = _linear.logistic_proba(Zte, beta)
        for i, ((j, s), (_, zte)) in enumerate(zip(chunk, feats)):
            scores[j][s] = pred[i, : len(zte)]
        bar.update(len(chunk))
        if len(cache) > 4 * BATCH:
            cache.clear()
