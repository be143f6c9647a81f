"""Benchmark of voxelwise_lmm against per-voxel loops of statsmodels MixedLM and stats.lmm.

Run from the repository root (a few minutes)::

    python benchmarks/bench_voxelwise_lmm.py
    python benchmarks/bench_voxelwise_lmm.py --voxels 20000 --loop-voxels 100

Input: a generated two-arm trial, 40 subjects (20 per arm) x 3 visits (pre, post,
follow-up), one map per visit held in memory (float32 NIfTI images, 50 x 20 x 20 = 20 000
voxels, all in the implicit mask); per voxel a subject-to-residual variance ratio drawn
from {0 (boundary), 0.1, 0.5, 1, 3, 10, 100}. Model ``~ arm * session`` with a random
intercept per subject (REML). Compared on the same data:

* painmarkers ``voxelwise_lmm`` end to end (images in, every map out: 6 coefficients x
  estimate / se / t / df / p / z, 3 Type III F maps, variance maps, the residual
  smoothness), with Satterthwaite and with Kenward-Roger df;
* ``statsmodels.MixedLM(y, X, groups).fit(reml=True)`` once per voxel (array interface,
  no formula parsing; Wald z only: no df, no F tests), timed on ``--loop-voxels`` voxels
  and extrapolated linearly to all voxels;
* painmarkers' own ROI ``stats.lmm`` once per voxel (formula, Satterthwaite df,
  ``anova()``), timed on ``--loop-voxels`` voxels and extrapolated.

Also prints the largest relative differences between ``voxelwise_lmm`` and ``stats.lmm``
on the looped voxels (estimates, se, df, t, p, F), and between the estimates and se of
``voxelwise_lmm`` and MixedLM on the looped voxels that are not boundary fits (MixedLM's
optimiser stops at its own tolerance). Best of ``--repeats`` runs after a warm-up for the
vectorised routes, one run for the loops. Prints a Markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import nibabel as nib
import numpy as np
import pandas as pd

from painmarkers.inference import voxelwise_lmm
from painmarkers.stats import lmm


def _best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _data(n_sub, n_vox, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(f"s{i:02d}", "active" if i < n_sub // 2 else "sham", ses)
            for i in range(n_sub) for ses in ("pre", "post", "fu")]
    data = pd.DataFrame(rows, columns=["subject_id", "arm", "session"])
    data["session"] = pd.Categorical(data["session"], ["pre", "post", "fu"])
    codes = pd.Categorical(data["subject_id"]).codes
    ratio = rng.choice([0.0, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0], size=n_vox)
    y = (10.0 + np.sqrt(ratio) * rng.standard_normal((n_sub, n_vox))[codes]
         + rng.standard_normal((len(data), n_vox)))
    active_post = ((data["arm"] == "active") & (data["session"] != "pre")).to_numpy()
    y[active_post, : n_vox // 20] -= 0.8                   # an effect in 5 % of the voxels
    return data, y.astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--voxels", type=int, default=20_000)
    ap.add_argument("--loop-voxels", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import statsmodels
    import statsmodels.api as sm

    n_vox = args.voxels
    if n_vox % 400:
        raise SystemExit("--voxels must be a multiple of 400 (maps of (voxels/400) x 20 x 20)")
    shape = (n_vox // 400, 20, 20)
    data, y = _data(args.subjects, n_vox)
    imgs = [nib.Nifti1Image(row.reshape(shape), np.eye(4)) for row in y]
    formula = "~ arm * session"

    def vectorised(ddf):
        return voxelwise_lmm(imgs, data, formula, ddf=ddf)

    t_sat = _best(lambda: vectorised("satterthwaite"), args.repeats)
    t_kr = _best(lambda: vectorised("kenward-roger"), args.repeats)
    res = vectorised("satterthwaite")

    m = min(args.loop_voxels, n_vox)
    pick = np.linspace(0, n_vox - 1, m).astype(int)
    yy = y.astype(np.float64)
    X = res.design_matrix.to_numpy()
    groups = pd.Categorical(data["subject_id"]).codes

    def mixedlm_loop():
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for v in pick:
                fit = sm.MixedLM(yy[:, v], X, groups=groups).fit(reml=True)
                out.append((fit.fe_params, fit.bse_fe))
        return out

    def lmm_loop():
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for v in pick:
                fit = lmm(data.assign(y=yy[:, v]), "y " + formula)
                out.append((fit.fixed_effects, fit.anova()))
        return out

    t0 = time.perf_counter()
    ref_sm = mixedlm_loop()
    t_sm = (time.perf_counter() - t0) * n_vox / m
    t0 = time.perf_counter()
    ref_lmm = lmm_loop()
    t_lmm = (time.perf_counter() - t0) * n_vox / m

    mask = res.mask_img.get_fdata().astype(bool)
    flat = {name: {k: img.get_fdata()[mask] for k, img in maps.items()}
            for name, maps in res.fixed_effect_maps.items()}
    anova = {term: {k: img.get_fdata()[mask] for k, img in maps.items()}
             for term, maps in res.anova_maps.items()}
    theta = res.theta_img.get_fdata()[mask]
    worst = dict.fromkeys(("estimate", "se", "df", "t", "p", "F"), 0.0)
    worst_sm = {"estimate": 0.0, "se": 0.0}
    for i, v in enumerate(pick):
        fe, an = ref_lmm[i]
        for j, name in enumerate(res.coefficients):
            for key in ("estimate", "se", "df", "t", "p"):
                ref = fe[key].iloc[j]
                worst[key] = max(worst[key], abs(flat[name][key][v] - ref) / abs(ref))
        for _, row in an.iterrows():
            worst["F"] = max(worst["F"], abs(anova[row.term]["F"][v] - row.F) / row.F)
        if theta[v] > 0.05:
            params, bse = ref_sm[i]
            est = np.array([flat[c]["estimate"][v] for c in res.coefficients])
            se = np.array([flat[c]["se"][v] for c in res.coefficients])
            worst_sm["estimate"] = max(worst_sm["estimate"],
                                       float(np.max(np.abs(est - params) / np.abs(params))))
            worst_sm["se"] = max(worst_sm["se"], float(np.max(np.abs(se - bse) / bse)))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Python {platform.python_version()}, numpy {np.__version__}, statsmodels "
          f"{statsmodels.__version__}; {args.subjects} subjects x 3 visits, {n_vox} voxels; "
          f"load average {load:.1f}\n")
    print("| route | time (s) | voxelwise_lmm is faster by |")
    print("|---|---:|---:|")
    print(f"| painmarkers `voxelwise_lmm`, Satterthwaite (end to end) | {t_sat:.2f} | |")
    print(f"| painmarkers `voxelwise_lmm`, Kenward-Roger (end to end) | {t_kr:.2f} | |")
    print(f"| statsmodels `MixedLM` per voxel (timed on {m}, x{n_vox / m:g}) | {t_sm:.0f} | "
          f"{t_sm / t_sat:.0f}x (Satterthwaite), {t_sm / t_kr:.0f}x (KR) |")
    print(f"| painmarkers `stats.lmm` per voxel (timed on {m}, x{n_vox / m:g}) | {t_lmm:.0f} | "
          f"{t_lmm / t_sat:.0f}x |")
    print(f"\nvoxelwise_lmm vs stats.lmm on {m} voxels, max relative difference: "
          + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    print(f"voxelwise_lmm vs MixedLM on the non-boundary looped voxels: estimates "
          f"{worst_sm['estimate']:.1e}, se {worst_sm['se']:.1e}")
    print(f"status: {res.n_singular} boundary fits, {res.n_not_converged} not converged, "
          f"{res.n_fallback} single-voxel refits")
    return t_sm / t_sat


if __name__ == "__main__":
    main()
