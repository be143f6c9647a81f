"""Benchmark of voxelwise two-sample t maps against nilearn's SecondLevelModel, and GRF.

Run from the repository root (several minutes at N = 500, mostly nilearn given paths)::

    .venv/bin/python benchmarks/bench_voxelwise.py --n 25 500
    .venv/bin/python benchmarks/bench_voxelwise.py --n 25 --memory 5000

Input: N generated float32 maps on nilearn's bundled MNI152 3 mm grid (67 x 79 x 64,
brain mask of 69 765 voxels), written as ``.nii.gz`` to a temporary directory; two
groups of N/2. Compared on the same inputs and mask:

* painmarkers ``voxelwise_ttest(paths | images, "two_sample", ...)`` with and without the
  residual smoothness (which GRF needs);
* nilearn ``SecondLevelModel(mask_img=mask).fit(paths | images, design_matrix)`` then
  ``compute_contrast(..., output_type="all")``;
* the floor: load each file once with nibabel, mask it, one vectorised pooled t (and the
  same floor with ``painmarkers.io.load_img``, which inflates ``.nii.gz`` with python-isal
  as ``voxelwise_ttest`` does when isal is installed).

Also: GRF correction of the t map (``grf_cluster_correct`` FSL and SPM, atlas labels on)
and, with ``--memory N``, the peak resident memory of ``voxelwise_ttest`` over N paths
(100 distinct files cycled) in a fresh subprocess. Timings are the best of ``--repeats``
runs after a warm-up (nilearn given paths at N >= 500: one run). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd


def _best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _once(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _write_maps(directory, n, mask_img, seed=0):
    rng = np.random.default_rng(seed)
    mask = mask_img.get_fdata() > 0
    paths = []
    for i in range(n):
        vol = np.zeros(mask.shape, np.float32)
        vol[mask] = rng.normal(1.0, 0.3, int(mask.sum()))
        path = Path(directory) / f"sub-{i:04d}_alff.nii.gz"
        nib.save(nib.Nifti1Image(vol, mask_img.affine), path)
        paths.append(str(path))
    return paths


def _floor(paths, mask, groups, loader=nib.load):
    a = groups == "A"
    rows = np.empty((len(paths), int(mask.sum())))
    for i, p in enumerate(paths):
        rows[i] = np.asarray(loader(p).dataobj)[mask]
    m1, m2 = rows[a].mean(0), rows[~a].mean(0)
    ss = ((rows[a] - m1) ** 2).sum(0) + ((rows[~a] - m2) ** 2).sum(0)
    df = len(paths) - 2
    return (m1 - m2) / np.sqrt(ss / df * (1 / a.sum() + 1 / (~a).sum()))


def _nilearn(inputs, mask_img, groups):
    from nilearn.glm.second_level import SecondLevelModel

    dm = pd.DataFrame({"A": (groups == "A").astype(float), "B": (groups == "B").astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SecondLevelModel(mask_img=mask_img).fit(list(inputs), design_matrix=dm)
        return model.compute_contrast([1, -1], output_type="all")


def _memory_child(n, directory):
    # VmHWM (peak resident set of this process image) is reset by exec, unlike
    # ru_maxrss, which a child inherits from the forked benchmark process.
    code = f"""
import json, glob, numpy as np, nibabel as nib

def hwm_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
from nilearn.datasets import load_mni152_brain_mask
from painmarkers.inference import voxelwise_ttest
files = sorted(glob.glob({str(directory)!r} + '/*.nii.gz'))[:100]
paths = [files[i % len(files)] for i in range({n})]
groups = np.array(['A', 'B'] * ({n} // 2))
mask = load_mni152_brain_mask(resolution=3)
base = hwm_mb()
res = voxelwise_ttest(paths, 'two_sample', labels=groups, mask_img=mask)
peak = hwm_mb()
print(json.dumps(dict(base_mb=base, peak_mb=peak, n_voxels=res.n_voxels)))
"""
    t, out = _once(lambda: subprocess.run([sys.executable, "-c", code], capture_output=True,
                                          text=True, check=True))
    return t, json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    from nilearn.datasets import load_mni152_brain_mask

    from painmarkers.inference import grf_cluster_correct, voxelwise_ttest
    from painmarkers.io import load_img

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[25, 500])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory", type=int, default=0, help="N for the peak-memory run")
    ap.add_argument("--skip-nilearn-paths-above", type=int, default=10_000)
    args = ap.parse_args(argv)

    mask_img = load_mni152_brain_mask(resolution=3)
    mask = mask_img.get_fdata() > 0
    print(f"Python {platform.python_version()}, numpy {np.__version__}, "
          f"nibabel {nib.__version__}; MNI 3 mm grid {mask.shape}, {int(mask.sum())} voxels")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths_all = _write_maps(tmp, max(max(args.n), 100 if args.memory else 0), mask_img)
        for n in args.n:
            paths = paths_all[:n]
            groups = np.array(["A", "B"] * (n // 2) + ["A"] * (n % 2))
            reps = args.repeats if n < 500 else 1
            floor = _best(lambda p=paths, g=groups: _floor(p, mask, g), reps)
            floor_isal = _best(lambda p=paths, g=groups: _floor(p, mask, g, load_img), reps)
            ours_p = _best(lambda p=paths, g=groups: voxelwise_ttest(
                p, "two_sample", labels=g, mask_img=mask_img), reps)
            ours_p_nos = _best(lambda p=paths, g=groups: voxelwise_ttest(
                p, "two_sample", labels=g, mask_img=mask_img, estimate_smoothness=False), reps)
            imgs = [nib.load(p) for p in paths]
            imgs = [nib.Nifti1Image(np.asarray(im.dataobj), im.affine) for im in imgs]
            ours_i = _best(lambda i=imgs, g=groups: voxelwise_ttest(
                i, "two_sample", labels=g, mask_img=mask_img), reps)
            nl_i = _best(lambda i=imgs, g=groups: _nilearn(i, mask_img, g), reps)
            if n <= args.skip_nilearn_paths_above:
                nl_p, out = _once(lambda p=paths, g=groups: _nilearn(p, mask_img, g))
            else:
                nl_p, out = float("nan"), _nilearn(imgs, mask_img, groups)
            res = voxelwise_ttest(imgs, "two_sample", labels=groups, mask_img=mask_img)
            diff_t = float(np.max(np.abs(res.t_img.get_fdata()[mask]
                                         - out["stat"].get_fdata()[mask])))
            diff_z = float(np.max(np.abs(res.z_img.get_fdata()[mask]
                                         - out["z_score"].get_fdata()[mask])))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grf_fsl = _best(lambda r=res: grf_cluster_correct(r, 0.001, 0.05), reps)
                grf_spm = _best(lambda r=res: grf_cluster_correct(r, 0.001, 0.05, method="spm"),
                                reps)
            rows.append(dict(n=n, floor=floor, floor_isal=floor_isal, ours_paths=ours_p,
                             ours_paths_nosmooth=ours_p_nos,
                             ours_imgs=ours_i, nilearn_paths=nl_p, nilearn_imgs=nl_i,
                             max_abs_diff_t=diff_t, max_abs_diff_z=diff_z, grf_fsl=grf_fsl,
                             grf_spm=grf_spm))
            print(json.dumps(rows[-1]), flush=True)
        mem = None
        if args.memory:
            mem_t, mem = _memory_child(args.memory, tmp)
            mem["seconds"] = mem_t
            mem["n"] = args.memory
            mem["dense_float64_mb"] = args.memory * int(mask.sum()) * 8 / 2 ** 20
            print(json.dumps(mem), flush=True)

    print("\n| N | route | time (s) | vs floor | nilearn / painmarkers |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        n = r["n"]
        print(f"| {n} | floor (nibabel load + mask + one t) | {r['floor']:.2f} | 1.00 | |")
        print(f"| {n} | floor with isal gzip (painmarkers.io.load_img) | {r['floor_isal']:.2f} | "
              f"{r['floor_isal'] / r['floor']:.2f} | |")
        ratio = r["nilearn_paths"] / r["ours_paths"]
        print(f"| {n} | painmarkers, paths | {r['ours_paths']:.2f} | "
              f"{r['ours_paths'] / r['floor']:.2f} | {ratio:.1f}x |")
        print(f"| {n} | painmarkers, paths, no smoothness | {r['ours_paths_nosmooth']:.2f} | "
              f"{r['ours_paths_nosmooth'] / r['floor']:.2f} | |")
        print(f"| {n} | painmarkers, images | {r['ours_imgs']:.2f} | "
              f"{r['ours_imgs'] / r['floor']:.2f} | {r['nilearn_imgs'] / r['ours_imgs']:.1f}x |")
        print(f"| {n} | nilearn SecondLevelModel, paths | {r['nilearn_paths']:.2f} | "
              f"{r['nilearn_paths'] / r['floor']:.2f} | |")
        print(f"| {n} | nilearn SecondLevelModel, images | {r['nilearn_imgs']:.2f} | "
              f"{r['nilearn_imgs'] / r['floor']:.2f} | |")
    print("\n| N | max abs diff t | max abs diff z | GRF fsl (s) | GRF spm (s) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['max_abs_diff_t']:.1e} | {r['max_abs_diff_z']:.1e} | "
              f"{r['grf_fsl']:.3f} | {r['grf_spm']:.3f} |")
    if mem:
        print(f"\nN = {mem['n']} paths: {mem['seconds']:.1f} s (subprocess), peak RSS "
              f"{mem['peak_mb']:.0f} MB (interpreter + imports {mem['base_mb']:.0f} MB); a dense "
              f"float64 data matrix alone would take {mem['dense_float64_mb']:.0f} MB.")


if __name__ == "__main__":
    main()
