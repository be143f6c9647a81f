"""Cohort driver: ``extract`` over 40 sessions with n_jobs=1 vs n_jobs=2.

Generates BOLD runs on the MNI 3 mm grid (61 x 73 x 61, the nilearn MNI152 brain mask,
~68 k voxels), writes them to a temporary folder, builds a 40-session Cohort that cycles
through a few distinct files (each session writes its own maps), and times
``painmarkers.extract`` with ALFF + SeedFC (Table-3 insula seed) + ROI means in the nine
Table-3 spheres, serially and with two worker processes (joblib/loky). Wall-clock and
CPU time are printed with the load average, since the machine may be shared.

Usage: python benchmarks/bench_extract.py [--sessions 40] [--volumes 120] [--gz] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np


def _make_inputs(folder: Path, n_files: int, n_volumes: int, gz: bool, seed: int = 0):
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask(resolution=3)
    mask_path = folder / "mask.nii.gz"
    nib.save(mask, mask_path)
    rng = np.random.default_rng(seed)
    inside = np.asarray(mask.dataobj) > 0
    paths = []
    for i in range(n_files):
        data = np.zeros((*mask.shape, n_volumes), dtype=np.float32)
        data[inside] = (100 + rng.standard_normal((int(inside.sum()), n_volumes))).astype(
            np.float32)
        img = nib.Nifti1Image(data, mask.affine)
        img.header.set_xyzt_units("mm", "sec")
        img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
        path = folder / f"run{i}_bold.nii{'.gz' if gz else ''}"
        nib.save(img, path)
        paths.append(path)
    return mask_path, paths


def _cohort(paths, mask_path, n_sessions):
    from painmarkers import Cohort, Session, Subject

    subjects = []
    for i in range(n_sessions):
        ses = Session("pre", images={"bold": paths[i % len(paths)], "mask": mask_path},
                      metadata={"t_r": 2.0})
        subjects.append(Subject(f"{i:02d}", "CLBP", sessions=(ses,)))
    return Cohort(subjects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--volumes", type=int, default=120)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--gz", action="store_true", help="store the runs as .nii.gz")
    parser.add_argument("--repeats", type=int, default=1, help="ABBA blocks (2 runs each)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit BLAS threads of the main process (the serial run); loky "
                             "workers get cores // n_jobs each")
    args = parser.parse_args()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)

    from painmarkers.extractors import ALFF, SeedFC, extract
    from painmarkers.rois import get_roi_set

    rois = get_roi_set("rtms_alff_clbp")
    seed = rois[0]  # INS_L
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        mask_path, paths = _make_inputs(tmp / "in", args.files, args.volumes, args.gz)
        cohort = _cohort(paths, mask_path, args.sessions)
        extractors = [ALFF(), SeedFC(seed)]
        # warm-up: imports, page cache and the loky worker pool (reused by joblib)
        warm = cohort.select(subjects=["00", "01"])
        for n_jobs in (1, 2):
            extract(warm, extractors, rois=rois, n_jobs=n_jobs, out_dir=tmp / f"warm{n_jobs}",
                    progress=False, motion=False)
        # ABBA order (1, 2, 2, 1, ...) so that a drifting machine load biases neither side
        order = [1, 2, 2, 1] * args.repeats
        walls: dict[int, list[float]] = {1: [], 2: []}
        loads: dict[int, list[float]] = {1: [], 2: []}
        results = {}
        for k, n_jobs in enumerate(order):
            loads[n_jobs].append(os.getloadavg()[0])
            t0 = time.perf_counter()
            results[n_jobs] = extract(cohort, extractors, rois=rois, n_jobs=n_jobs,
                                      out_dir=tmp / f"out{k}", progress=False, motion=False)
            walls[n_jobs].append(time.perf_counter() - t0)
        rows = [(n, float(np.median(walls[n])), min(loads[n]), max(loads[n])) for n in (1, 2)]
        same = (results[1].to_frame().equals(results[2].to_frame()))

    print(f"machine: {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, numpy {np.__version__}")
    print(f"inputs: {args.sessions} sessions x 61x73x61x{args.volumes} float32 "
          f"({'.nii.gz' if args.gz else '.nii'}), {args.files} distinct files; "
          "ALFF + SeedFC maps + 9 ROI means each; BLAS threads of the serial run: "
          f"{args.blas_threads or 'default'}")
    print("| n_jobs | median wall (s) | s / session | load avg at the starts (min-max) |")
    print("|---:|---:|---:|---:|")
    for n_jobs, wall, load0, load1 in rows:
        print(f"| {n_jobs} | {wall:.1f} | {wall / args.sessions:.2f} | {load0:.1f}-{load1:.1f} |")
    print(f"speed-up n_jobs=2 vs 1: {rows[0][1] / rows[1][1]:.2f}x; identical results: {same}")


if __name__ == "__main__":
    main()
