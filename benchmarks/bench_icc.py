"""Benchmark of the voxelwise ICC map against looping pingouin over voxels.

Run from the repository root (about a minute)::

    .venv/bin/python benchmarks/bench_icc.py
    .venv/bin/python benchmarks/bench_icc.py --voxels 10000 --loop-voxels 200

Input: generated test-retest data, 25 subjects x 2 sessions x V voxels (subject effect
plus noise, ICC about 0.6). Compared on the same inputs:

* painmarkers ``icc_map`` (all six forms computed, one returned), vectorised over voxels;
* ``pingouin.intraclass_corr`` called once per voxel on a long table, timed on
  ``--loop-voxels`` voxels and extrapolated linearly to V (each call is independent).

Also checks that both give the same ICC on the looped voxels. Timings are the best of
``--repeats`` runs after one warm-up. Prints a Markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd
import pingouin as pg

from painmarkers.stats.reliability import icc_map


def _best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=25)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--voxels", type=int, default=10_000)
    ap.add_argument("--loop-voxels", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    n, k, v = args.subjects, args.sessions, args.voxels
    y = rng.normal(0, np.sqrt(0.6), (n, 1, v)) + rng.normal(0, np.sqrt(0.4), (n, k, v))
    subj = np.repeat(np.arange(n), k)
    ses = np.tile(np.arange(k), n)

    t_vec = _best(lambda: icc_map(y, "ICC(A,1)"), args.repeats)

    m = min(args.loop_voxels, v)
    frames = [pd.DataFrame({"s": subj, "t": ses, "v": y[:, :, j].ravel()}) for j in range(m)]

    def loop():
        out = np.empty(m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for j, f in enumerate(frames):
                out[j] = pg.intraclass_corr(f, "s", "t", "v").at[1, "ICC"]
        return out

    old = pg.options.get("round")
    pg.options["round"] = None
    try:
        t_loop = _best(loop, 1) * v / m
        ref = loop()
    finally:
        pg.options["round"] = old
    ours = icc_map(y[:, :, :m], "ICC(A,1)").icc
    max_diff = float(np.max(np.abs(ours - ref)))

    print(f"Python {platform.python_version()}, numpy {np.__version__}, pingouin {pg.__version__}"
          f", {n} subjects x {k} sessions x {v} voxels\n")
    print("| route | time (s) | ratio |")
    print("|---|---:|---:|")
    print(f"| painmarkers `icc_map` (vectorised) | {t_vec:.3f} | 1 |")
    print(f"| pingouin `intraclass_corr` per voxel (timed on {m}, x{v / m:g}) | {t_loop:.1f} | "
          f"{t_loop / t_vec:.0f}x |")
    print(f"\nmax |ICC difference| on {m} voxels: {max_diff:.2e}")
    return t_loop / t_vec


if __name__ == "__main__":
    main()
