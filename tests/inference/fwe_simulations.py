"""Null simulations behind the FWE tables of docs/user_guide/cluster_inference.rst.

Not collected by pytest: the quick checks live in test_grf.py and test_permutation.py, and
the strict ones (``@pytest.mark.fwe``: 1000 ideal fields for GRF, 400 null data sets per
permutation configuration) run with ``python -m pytest -m fwe`` (their own CI step). Run
this script from the repository root, e.g.::

    .venv/bin/python tests/inference/fwe_simulations.py fields --reps 2000
    .venv/bin/python tests/inference/fwe_simulations.py pipeline --acf gaussian --reps 400
    .venv/bin/python tests/inference/fwe_simulations.py pipeline --acf longtail --reps 400
    .venv/bin/python tests/inference/fwe_simulations.py permutation --reps 400

``fields``: ideal unit-variance Gaussian fields (48³ voxels, FWHM 4 voxels) thresholded
with the known smoothness; the FWE of GRF (fsl 26-conn., spm 18-conn.) at voxel p 0.001
and 0.01, one- and two-tailed. ``pipeline``: 20 null maps per study (40³ voxels, 2 mm) ->
one-sample ``voxelwise_ttest`` -> residual smoothness -> ``grf_cluster_correct``
(two-tailed); ``--acf longtail`` mixes a narrow (FWHM 3) and a wide (FWHM 10 voxels)
component, 75 % / 25 % of the variance. ``permutation``: the long-tailed studies through
``permutation_cluster_correct`` (500 sign flips). Prints running JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import smooth_field

from painmarkers.inference import (
    grf_cluster_correct,
    grf_min_cluster_size,
    label_clusters,
    permutation_cluster_correct,
    smoothness_from_fwhm,
    spm_resels_vol,
    voxelwise_ttest,
)

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _study(rng, acf, shape, n):
    maps = []
    for _ in range(n):
        if acf == "gaussian":
            f = smooth_field(rng, shape, 4.0)
        else:
            f = (np.sqrt(0.75) * smooth_field(rng, shape, 3.0)
                 + np.sqrt(0.25) * smooth_field(rng, shape, 10.0))
        maps.append(nib.Nifti1Image(f.astype(np.float32), AFFINE))
    return maps


def fields(reps, seed):
    shape, fwhm = (48, 48, 48), 4.0
    rng = np.random.default_rng(seed)
    mask = np.ones(shape, bool)
    sm = smoothness_from_fwhm(fwhm, 1.0, int(mask.sum()))
    resels = spm_resels_vol(mask, sm.fwhm_voxels)
    conf = []
    for p in (0.001, 0.01):
        for two in (False, True):
            for method, conn in (("fsl", 26), ("spm", 18)):
                k = grf_min_cluster_size(p, 0.05, sm, two_tailed=two, method=method,
                                         resels=resels)
                conf.append((p, two, method, conn, k))
    hits = np.zeros(len(conf))
    for r in range(reps):
        z = smooth_field(rng, shape, fwhm)
        for i, (p, two, _, conn, k) in enumerate(conf):
            lab, signs = label_clusters(z, stats.norm.isf(p / 2 if two else p),
                                        connectivity=conn, two_tailed=two)
            hits[i] += bool(len(signs)) and np.bincount(lab.ravel())[1:].max() >= k
        if (r + 1) % 250 == 0 or r + 1 == reps:
            print(json.dumps({"reps": r + 1, "results": [
                dict(voxel_p=c[0], two_tailed=c[1], method=c[2], connectivity=c[3], k=c[4],
                     fwe=hits[i] / (r + 1)) for i, c in enumerate(conf)]}), flush=True)


def pipeline(acf, reps, seed):
    shape, n = (40, 40, 40), 20
    rng = np.random.default_rng(seed)
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), AFFINE)
    hits, fwhm, t0 = {}, [], time.time()
    for r in range(reps):
        vr = voxelwise_ttest(_study(rng, acf, shape, n), mask_img=mask)
        fwhm.append(np.mean(vr.smoothness.fwhm_voxels))
        for p in (0.001, 0.01):
            for method in ("fsl", "spm"):
                res = grf_cluster_correct(vr, p, 0.05, two_tailed=True, method=method,
                                          atlas=False)
                key = f"{method}_p{p}"
                hits[key] = hits.get(key, 0) + (res.n_significant > 0)
        if (r + 1) % 50 == 0 or r + 1 == reps:
            print(json.dumps(dict(acf=acf, reps=r + 1,
                                  fwe={k: v / (r + 1) for k, v in hits.items()},
                                  mean_fwhm_vox=float(np.mean(fwhm)),
                                  seconds=time.time() - t0)), flush=True)


def permutation(reps, seed, n_permutations=500):
    shape, n = (40, 40, 40), 20
    rng = np.random.default_rng(seed)
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), AFFINE)
    hits, t0 = {0.01: 0, 0.001: 0}, time.time()
    for r in range(reps):
        maps = _study(rng, "longtail", shape, n)
        for p in hits:
            res = permutation_cluster_correct(maps, mask_img=mask, voxel_p=p,
                                              n_permutations=n_permutations, atlas=False,
                                              random_state=int(rng.integers(2 ** 31)))
            hits[p] += bool(len(res.clusters) and res.clusters["significant"].any())
        if (r + 1) % 25 == 0 or r + 1 == reps:
            print(json.dumps(dict(reps=r + 1, n_permutations=n_permutations,
                                  fwe={str(k): v / (r + 1) for k, v in hits.items()},
                                  seconds=time.time() - t0)), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("fields", "pipeline", "permutation"))
    ap.add_argument("--acf", choices=("gaussian", "longtail"), default="gaussian")
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # the Eklund warning at p = 0.01 is expected here
    if args.kind == "fields":
        fields(args.reps, args.seed)
    elif args.kind == "pipeline":
        pipeline(args.acf, args.reps, args.seed)
    else:
        permutation(args.reps, args.seed)


if __name__ == "__main__":
    main()
