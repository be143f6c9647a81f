"""Benchmark of the voxelwise GLM against a per-voxel statsmodels loop and nilearn.

Run from the repository root::

    .venv/bin/python benchmarks/bench_glm.py
    .venv/bin/python benchmarks/bench_glm.py --subjects 40 --voxels 20000 --loop-voxels 200

Input: a sham-controlled trial, ``--subjects`` subjects (half active, half sham) x 3 visits
(pre, post, follow-up), a subject effect shared by the visits, ``--voxels`` voxels
(a full box mask), float64 maps in memory (one 4-D image). Model: ``~ arm * session + age``
with one effect per subject (``subject="subject_id"``); contrasts: the t contrast
``arm[T.active]:session[T.post]`` and the F contrast of the ``arm:session`` term (2 df).

Compared, on the same data:

* painmarkers ``voxelwise_glm`` (with and without the residual smoothness GRF needs);
* statsmodels: ``OLS(y, X).fit()`` then ``t_test`` and ``f_test`` at each voxel (timed on
  ``--loop-voxels`` voxels and extrapolated linearly), on the full-rank
  reparametrisation of X (the columns the subject effects absorb dropped);
* nilearn ``SecondLevelModel(mask_img=mask).fit(img, design_matrix)`` and
  ``compute_contrast`` for the t and the F contrast (``output_type="all"``), on the same
  full-rank reparametrisation (nilearn counts df as n − columns, so a rank-deficient X
  would give it wrong df).

Timings are the best of ``--repeats`` runs after a warm-up. Prints a Markdown table and the
largest relative differences of t and F between the routes.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import nibabel as nib
import numpy as np
import pandas as pd


def _best(fn, repeats):
    out = fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def _trial(n_sub, n_vox, seed=0):
    rng = np.random.default_rng(seed)
    visits = ["pre", "post", "fu"]
    table = pd.DataFrame({
        "subject_id": np.repeat([f"s{i:03d}" for i in range(n_sub)], 3),
        "arm": pd.Categorical(np.repeat(["sham", "active"], n_sub * 3 // 2),
                              ["sham", "active"]),
        "session": pd.Categorical(visits * n_sub, visits),
        "age": np.repeat(rng.normal(45, 12, n_sub), 3)})
    side = int(np.ceil(n_vox ** (1 / 3)))
    shape = (side, side, int(np.ceil(n_vox / side ** 2)))
    values = (1.0 + np.repeat(rng.normal(0, 0.3, (n_sub, *shape)), 3, axis=0)
              + rng.normal(0, 0.2, (3 * n_sub, *shape)))
    img = nib.Nifti1Image(np.moveaxis(values, 0, -1), np.eye(4))
    mask = np.zeros(shape, np.uint8)
    mask.reshape(-1)[:n_vox] = 1
    return table, img, nib.Nifti1Image(mask, np.eye(4)), values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--voxels", type=int, default=20000)
    parser.add_argument("--loop-voxels", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import nilearn
    import statsmodels
    import statsmodels.api as sm
    from nilearn.glm.second_level import SecondLevelModel

    from painmarkers.inference import voxelwise_glm

    table, img, mask, values = _trial(args.subjects, args.voxels)
    contrasts = {"t": "arm[T.active]:session[T.post]", "F": "arm:session"}
    kw = {"data": table, "subject": "subject_id", "mask_img": mask}
    t_pm, res = _best(lambda: voxelwise_glm(img, "~ arm * session + age", contrasts,
                                            estimate_smoothness=False, **kw), args.repeats)
    t_pm_s, _ = _best(lambda: voxelwise_glm(img, "~ arm * session + age", contrasts, **kw),
                      args.repeats)
    x = res.design_matrix.drop(columns=res.design.aliased_columns)
    c_t = res["t"].contrast[x.columns].to_numpy()
    c_f = res["F"].contrast[x.columns].to_numpy()
    inside = mask.get_fdata() > 0
    y = values[:, inside]
    xa = x.to_numpy()  # arrays, not DataFrames: the fastest statsmodels loop

    def loop():
        rng = np.random.default_rng(1)
        cols = rng.choice(y.shape[1], args.loop_voxels, replace=False)
        out = []
        for v in cols:
            fit = sm.OLS(y[:, v], xa).fit()
            out.append((v, float(np.ravel(fit.t_test(c_t).tvalue)[0]),
                        float(fit.f_test(c_f).fvalue)))
        return out

    t_loop, looped = _best(loop, 1)
    t_sm = t_loop * y.shape[1] / args.loop_voxels

    def nl():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = SecondLevelModel(mask_img=mask).fit(img, design_matrix=x)
            a = model.compute_contrast(c_t[0], second_level_stat_type="t", output_type="all")
            b = model.compute_contrast(c_f, second_level_stat_type="F", output_type="all")
        return a, b

    t_nl, (nl_t, nl_f) = _best(nl, args.repeats)
    pm_t = res["t"].stat_img.get_fdata()[inside]
    pm_f = res["F"].stat_img.get_fdata()[inside]
    d_sm_t = max(abs(pm_t[v] - t) / abs(t) for v, t, _ in looped)
    d_sm_f = max(abs(pm_f[v] - f) / abs(f) for v, _, f in looped)
    d_nl_t = np.max(np.abs(nl_t["stat"].get_fdata()[inside] - pm_t) / np.abs(pm_t))
    d_nl_f = np.max(np.abs(nl_f["stat"].get_fdata()[inside] - pm_f) / np.abs(pm_f))

    print(f"{args.subjects} subjects x 3 visits = {len(table)} maps, {args.voxels} voxels, "
          f"X {res.design_matrix.shape[0]} x {res.design_matrix.shape[1]} (rank {res.rank}, "
          f"df {res.df:g}); Python {platform.python_version()}, numpy {np.__version__}, "
          f"statsmodels {statsmodels.__version__}, nilearn {nilearn.__version__}\n")
    print("| route | time (s) | ratio to painmarkers |\n|---|---:|---:|")
    print(f"| painmarkers `voxelwise_glm` (t + F) | {t_pm:.3f} | 1 |")
    print(f"| painmarkers `voxelwise_glm` + residual smoothness | {t_pm_s:.3f} | "
          f"{t_pm_s / t_pm:.2f} |")
    print(f"| statsmodels OLS + t_test + f_test per voxel (timed on {args.loop_voxels}, "
          f"x{y.shape[1] / args.loop_voxels:g}) | {t_sm:.1f} | {t_sm / t_pm:.0f}x |")
    print(f"| nilearn `SecondLevelModel` + 2 `compute_contrast` | {t_nl:.3f} | "
          f"{t_nl / t_pm:.1f}x |")
    print(f"\nlargest relative difference of t / F: statsmodels {d_sm_t:.1e} / {d_sm_f:.1e}, "
          f"nilearn {d_nl_t:.1e} / {d_nl_f:.1e}")


if __name__ == "__main__":
    main()
