"""Benchmark: 1000-permutation cluster inference at p < 0.001 on MNI 3 mm maps.

Compares ``painmarkers.inference.permutation_cluster_correct`` with nilearn's
``non_parametric_inference`` (two-sample t, two-sided, cluster-forming
p < 0.001, 1000 permutations, images given in memory) at N = 25 and N = 500,
and measures the floor of the classic approach: one ``scipy.ndimage.label``
per sign and permutation on the whole grid (what nilearn does) plus the t
statistics of all permutations by matrix products.

Usage::

    python benchmarks/bench_permutation.py            # N = 25 and 500
    python benchmarks/bench_permutation.py --n 25     # one size
    python benchmarks/bench_permutation.py --skip-nilearn

Data: Gaussian-filtered white noise (FWHM 2 voxels) inside the MNI152 3 mm
brain mask bundled with nilearn, float32, two equal groups.
"""

from __future__ import annotations

import argparse
import time
import warnings

import nibabel as nib
import numpy as np
from scipy import ndimage, stats

N_PERM = 1000
VOXEL_P = 0.001


def make_maps(n, seed=0):
    from nilearn.datasets import load_mni152_brain_mask

    mask_img = load_mni152_brain_mask(resolution=3)
    mask = np.asarray(mask_img.dataobj) > 0
    rng = np.random.default_rng(seed)
    sigma = 2.0 / np.sqrt(8 * np.log(2))
    imgs = []
    for _ in range(n):
        vol = ndimage.gaussian_filter(rng.standard_normal(mask.shape), sigma)
        vol = (vol / vol[mask].std()).astype(np.float32)
        vol[~mask] = 0
        imgs.append(nib.Nifti1Image(vol, mask_img.affine))
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), mask_img.affine)
    return imgs, mask_img, mask


def timed(fn, *args, repeat=1, **kwargs):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_painmarkers(imgs, mask_img, groups, n_jobs=None):
    from painmarkers.inference import permutation_cluster_correct

    return permutation_cluster_correct(imgs, "two_sample", labels=groups, mask_img=mask_img,
                                       voxel_p=VOXEL_P, n_permutations=N_PERM,
                                       connectivity=6, random_state=0, atlas=False,
                                       n_jobs=n_jobs)


def run_nilearn(imgs, mask_img, groups):
    import pandas as pd
    from nilearn.glm.second_level import non_parametric_inference

    g = np.asarray(groups)
    design = pd.DataFrame({"a": (g == "a").astype(float), "b": (g == "b").astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return non_parametric_inference(imgs, design_matrix=design,
                                        second_level_contrast=[1, -1], mask=mask_img,
                                        n_perm=N_PERM, two_sided_test=True,
                                        threshold=VOXEL_P, random_state=0, n_jobs=1,
                                        verbose=0)


def floor_parts(imgs, mask, groups):
    """Load, t maps of all permutations (matrix products), ndimage.label per map."""
    from painmarkers.inference._permutation_glm import build_model, t_block

    t0 = time.perf_counter()
    data = np.stack([np.asarray(i.dataobj)[mask] for i in imgs]).astype(np.float64)
    t_load = time.perf_counter() - t0
    n = data.shape[0]
    g = (np.asarray(groups) == "a").astype(float)
    model = build_model(data, g, np.ones((n, 1)), "permute")
    rng = np.random.default_rng(0)
    ops = rng.permuted(np.tile(np.arange(n), (N_PERM, 1)), axis=1)
    t0 = time.perf_counter()
    maps = []
    for i in range(0, N_PERM, 200):
        maps.append(t_block(model, ops[i:i + 200]))
    t_stat = time.perf_counter() - t0
    thr = stats.t.isf(VOXEL_P / 2, n - 2)
    struct = ndimage.generate_binary_structure(3, 1)
    vol = np.zeros(mask.shape)
    t0 = time.perf_counter()
    for block in maps:
        for t in block:
            vol[mask] = t
            ndimage.label(vol > thr, struct)
            ndimage.label(vol < -thr, struct)
    t_label = time.perf_counter() - t0
    return t_load, t_stat, t_label


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="*", default=[25, 500])
    parser.add_argument("--skip-nilearn", action="store_true")
    args = parser.parse_args()
    rows = []
    for n in args.n:
        imgs, mask_img, mask = make_maps(n)
        groups = ["a"] * (n // 2) + ["b"] * (n - n // 2)
        t_load, t_stat, t_label = floor_parts(imgs, mask, groups)
        floor = t_load + t_stat + t_label
        ours, res = timed(run_painmarkers, imgs, mask_img, groups)
        ours2, _ = timed(run_painmarkers, imgs, mask_img, groups, n_jobs=2)
        line = {
            "n": n, "voxels": int(mask.sum()), "load": t_load, "t_1000": t_stat,
            "label_1000": t_label, "floor": floor, "painmarkers": ours,
            "painmarkers_2jobs": ours2,
        }
        if not args.skip_nilearn:
            theirs, out = timed(run_nilearn, imgs, mask_img, groups)
            line["nilearn"] = theirs
            t_ours = np.asarray(res.t_img.dataobj)[mask]
            t_nl = np.asarray(out["t"].dataobj)[mask]
            line["max_abs_t_diff"] = float(np.abs(t_ours - t_nl).max())
        rows.append(line)
        print(line, flush=True)
    print()
    print("| N | voxels | load | t, 1000 perms | ndimage.label x2000 | floor | painmarkers "
          "| painmarkers n_jobs=2 | nilearn | floor / painmarkers | nilearn / painmarkers |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        nl = r.get("nilearn", np.nan)
        print(f"| {r['n']} | {r['voxels']} | {r['load']:.2f} | {r['t_1000']:.2f} | "
              f"{r['label_1000']:.2f} | {r['floor']:.2f} | {r['painmarkers']:.2f} | "
              f"{r['painmarkers_2jobs']:.2f} | {nl:.1f} | {r['floor'] / r['painmarkers']:.2f} | "
              f"{nl / r['painmarkers']:.1f} |")


if __name__ == "__main__":
    main()
