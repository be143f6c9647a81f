"""Benchmark: a whole-brain voxel-pattern model with 1000 permutations.

Issue 12's target: the whole-brain case, 200 subjects x ~70 000 voxels, ridge (continuous
target) or L2 logistic regression (class target), 5-fold CV repeated 10 times and 1000
permutations that refit the whole pipeline, "in minutes, not hours". ``evaluate_pattern``
(defaults: no voxel scaling, ``Ridge(alpha=1)`` / ``LogisticRegression(C=1)``, also 1000
subject-bootstrap refits for the weight maps and 2000 bootstrap resamples of the metric
intervals) against the plain scikit-learn route: ``permutation_test_score`` of the same
model on the masked voxel matrix with ``RepeatedKFold(5, 10)`` /
``RepeatedStratifiedKFold(5, 10)`` (the same 1001 x 50 fits), scikit-learn's default
solvers and tolerances; **timed on ``--sklearn-permutations`` permutations and
extrapolated linearly** to ``--n-permutations`` (each permutation is 50 independent fits).

Data: nilearn's bundled MNI152 3 mm brain mask (69 765 voxels), generated float32 maps
held in memory (white noise plus a random pattern scaled by the target), one map per
subject.

Usage::

    python benchmarks/bench_patterns.py
    python benchmarks/bench_patterns.py --tasks regression --sklearn-permutations 2
    python benchmarks/bench_patterns.py --n-jobs 2
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def make_images(n, task, seed=0, effect=0.05):
    import nibabel as nib
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask(resolution=3)
    m = np.asarray(mask.dataobj) > 0
    rng = np.random.default_rng(seed)
    pattern = rng.normal(size=int(m.sum()))
    y = np.repeat([1, 0], n // 2) if task == "classification" else rng.normal(size=n)
    imgs, rows = [], []
    for i in range(n):
        vol = np.zeros(m.shape, np.float32)
        vol[m] = rng.normal(size=pattern.size) + effect * y[i] * pattern
        imgs.append(nib.Nifti1Image(vol, mask.affine))
        rows.append(vol[m])
    return imgs, np.asarray(rows, dtype=float), y, mask


def timed(fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0, out


def sklearn_route(X, y, task, n_permutations, n_jobs):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import (
        RepeatedKFold,
        RepeatedStratifiedKFold,
        permutation_test_score,
    )

    if task == "classification":
        model, scoring = LogisticRegression(C=1.0), "roc_auc"
        cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=0)
    else:
        model, scoring = Ridge(alpha=1.0), "r2"
        cv = RepeatedKFold(n_splits=5, n_repeats=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # lbfgs convergence warnings at its default tol
        return permutation_test_score(model, X, y, cv=cv, scoring=scoring,
                                      n_permutations=n_permutations, n_jobs=n_jobs,
                                      random_state=0)


def bench(task, args):
    from painmarkers.prediction import evaluate_pattern

    imgs, X, y, mask = make_images(args.n, task)
    kw = dict(positive=1) if task == "classification" else {}
    common = dict(mask_img=mask, random_state=0, progress=False, n_jobs=args.n_jobs, **kw)
    # the parts: reading + CV + final model, then the permutations, then the weight maps
    base, _, _ = timed(evaluate_pattern, imgs, y, n_permutations=0, n_bootstrap_weights=0,
                       **common)
    wall, cpu, res = timed(evaluate_pattern, imgs, y, n_permutations=args.n_permutations,
                           n_bootstrap_weights=args.bootstrap_weights, **common)
    head = res.evaluation.auc if task == "classification" else res.evaluation.r2
    rows = [(f"painmarkers `evaluate_pattern` ({args.n_permutations} perms, "
             f"{args.bootstrap_weights} bootstrap maps)", wall, cpu, wall)]
    print(f"[{task}] painmarkers: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(without permutations and weight bootstrap: {base:.1f} s); "
          f"{'AUC' if task == 'classification' else 'R2'} = {head:.3f}, "
          f"p = {res.permutation_p:.4f}", flush=True)
    k = args.sklearn_permutations
    if k < 0:
        return rows
    s_wall, s_cpu, out = timed(sklearn_route, X, y, task, k, 1)
    scale = (args.n_permutations + 1) / (k + 1)
    rows.append((f"sklearn `permutation_test_score`, n_jobs=1 ({k} perms, x{scale:.0f})",
                 s_wall, s_cpu, s_wall * scale))
    print(f"[{task}] sklearn: {s_wall:.1f} s for {k} permutations ((k+1) x 50 fits), "
          f"score {out[0]:.3f}; extrapolated to {args.n_permutations}: "
          f"{s_wall * scale / 60:.0f} min", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--n-permutations", type=int, default=1000)
    parser.add_argument("--bootstrap-weights", type=int, default=1000)
    parser.add_argument("--sklearn-permutations", type=int, default=1,
                        help="permutations timed for scikit-learn (-1: skip it)")
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--tasks", nargs="+", default=["regression", "classification"])
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    table = []
    for task in args.tasks:
        for name, wall, cpu, full in bench(task, args):
            table.append((task, name, wall, cpu, full))
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("\n| task | route | wall (s) | CPU (s) | wall, 1000 perms (s) | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for task in args.tasks:
        rows = [r for r in table if r[0] == task]
        ref = rows[0][4]
        for _, name, wall, cpu, full in rows:
            print(f"| {task} | {name} | {wall:.1f} | {cpu:.1f} | {full:.0f} | "
                  f"{full / ref:.0f}x |")


if __name__ == "__main__":
    main()
