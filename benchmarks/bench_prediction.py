"""Benchmark: a default ROI-model evaluation (5 x 10 repeated CV, 1000 permutations).

Issue 12's target: ``evaluate_biomarker`` / ``evaluate_prognosis`` with their defaults
(5-fold CV repeated 10 times, 1000 permutations that refit the whole pipeline, 2000
bootstrap resamples) on 100 subjects x 10 features in under 30 s on 2 cores. Compared
with

* the plain scikit-learn route: ``permutation_test_score`` of the same pipeline with a
  ``RepeatedStratifiedKFold(5, 10)`` / ``RepeatedKFold(5, 10)`` (the same number of
  fits, 1001 x 50), serial and with ``n_jobs=2``; timed on ``--sklearn-permutations``
  permutations and extrapolated linearly to ``--n-permutations``;
* painmarkers' own generic route (every fold refitted by scikit-learn, i.e. the fast
  route switched off), timed on ``--generic-permutations`` and extrapolated.

It also checks that the fast and generic routes give the same out-of-fold predictions
and null distribution (max relative difference printed).

Usage::

    python benchmarks/bench_prediction.py
    python benchmarks/bench_prediction.py --sklearn-permutations 50 --generic-permutations 20
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd


def make_table(n=100, p=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    score = X[:, 0] * 0.6 + X[:, 1] * 0.3 + rng.normal(size=n)
    df = pd.DataFrame(X, columns=[f"alff__roi{j}" for j in range(p)])
    df.insert(0, "subject_id", [f"sub-{i:03d}" for i in range(n)])
    df["group"] = np.where(score > np.median(score), "CLBP", "HC")
    df["ppr"] = 35 + 10 * score
    return df


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    c0 = time.process_time()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0, out


def sklearn_route(df, features, task, n_permutations, n_jobs):
    from sklearn.model_selection import (
        RepeatedKFold,
        RepeatedStratifiedKFold,
        permutation_test_score,
    )

    from painmarkers.prediction import _model

    X = df[features].to_numpy()
    if task == "classification":
        y = (df["group"] == "CLBP").to_numpy().astype(int)
        model = _model.default_classifier(len(features))
        cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=0)
        scoring = "roc_auc"
    else:
        y = df["ppr"].to_numpy()
        model = _model.default_regressor()
        cv = RepeatedKFold(n_splits=5, n_repeats=10, random_state=0)
        scoring = "r2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return permutation_test_score(model, X, y, cv=cv, scoring=scoring,
                                      n_permutations=n_permutations, n_jobs=n_jobs,
                                      random_state=0)


def bench_task(task, fn, target, kw, df, features, args):
    """Timings of one task (rows of the printed table)."""
    from painmarkers.prediction import _linear

    common = {"random_state": 0, "progress": False, **kw}
    fn(df, features, target, n_permutations=5, n_repeats=1, **common)   # warm-up (imports)
    rows = []
    wall, cpu, fast = timed(fn, df, features, target, n_permutations=args.n_permutations,
                            **common)
    rows.append((task, f"painmarkers (fast route), {args.n_permutations} perms", wall, cpu,
                 wall))
    g = args.generic_permutations
    original = _linear.recognise
    _linear.recognise = lambda pipe, task: None   # the generic route: fast route off
    try:
        wall_g, cpu_g, generic = timed(fn, df, features, target, n_permutations=g, **common)
    finally:
        _linear.recognise = original
    scale = (args.n_permutations + 1) / (g + 1)
    rows.append((task, f"painmarkers generic route, {g} perms (x{scale:.1f})", wall_g, cpu_g,
                 wall_g * scale))
    check = fn(df, features, target, n_permutations=g, **common)
    col = "score" if task == "classification" else "predicted"
    d_pred = np.max(np.abs(check.predictions[col] - generic.predictions[col])
                    / np.abs(generic.predictions[col]))
    d_null = np.max(np.abs(check.null_distribution - generic.null_distribution)
                    / np.maximum(np.abs(generic.null_distribution), 1e-300))
    print(f"{task}: fast vs generic route, max relative difference: predictions "
          f"{d_pred:.1e}, null distribution ({g} permutations) {d_null:.1e}; "
          f"p = {fast.permutation_p:.4f}")
    if not args.skip_sklearn:
        s = args.sklearn_permutations
        scale = (args.n_permutations + 1) / (s + 1)
        for n_jobs in (1, 2):
            wall_s, cpu_s, _ = timed(sklearn_route, df, features, task, s, n_jobs)
            rows.append((task, f"sklearn permutation_test_score n_jobs={n_jobs}, {s} perms "
                         f"(x{scale:.1f})", wall_s, cpu_s, wall_s * scale))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--n-permutations", type=int, default=1000)
    ap.add_argument("--sklearn-permutations", type=int, default=100)
    ap.add_argument("--generic-permutations", type=int, default=50)
    ap.add_argument("--skip-sklearn", action="store_true")
    args = ap.parse_args()

    from painmarkers.prediction import evaluate_biomarker, evaluate_prognosis

    df = make_table(args.n, args.p)
    features = [c for c in df.columns if c.startswith("alff__")]
    print(f"{args.n} subjects x {args.p} features; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for task, fn, target, kw in (
        ("classification", evaluate_biomarker, "group", {"positive": "CLBP"}),
        ("regression", evaluate_prognosis, "ppr", {}),
    ):
        rows += bench_task(task, fn, target, kw, df, features, args)
    full = f"wall for {args.n_permutations} perms (s)"
    table = pd.DataFrame(rows, columns=["task", "route", "wall (s)", "CPU (s)", full])
    for task in ("classification", "regression"):
        sub = table[table["task"] == task].copy()
        sub["ratio to painmarkers"] = sub[full] / sub[full].iloc[0]
        print(f"\n{task}")
        print(sub.drop(columns="task").to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
