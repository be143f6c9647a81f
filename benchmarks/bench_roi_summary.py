"""ROI means of many maps in many atlas regions: ROI masks built per map (old) vs once per grid.

Maps on the 2 mm MNI grid (nilearn's MNI152 2 mm brain mask, 99 x 117 x 95), float32
``.nii.gz``, summarised in every region of the AAL atlas (the case of issue 10: 116 AAL
regions x 62 subjects) with ``roi_summary(map, rois, mask_img=brain_mask)``, the function
``MapMean`` and the cohort driver call. The old paths are the code of earlier commits
(``--baseline``, default: ``f8cccc0``, before the per-grid cache: every ROI rebuilt for
every map; and ``7c4b314``, the per-grid cache with each atlas region resampled alone),
each run in a fresh process on the first ``--old-maps`` maps; the new path (the label image
resampled once per grid) runs on all ``--maps`` maps. All give the same values (checked).

Usage: python benchmarks/bench_roi_summary.py [--maps 10] [--old-maps 2]
       [--baseline f8cccc0 7c4b314]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from _baseline import REPO, checkout, machine, run

IMPORTS = """
import time
from painmarkers.extractors import roi_summary
from painmarkers.rois import AtlasRegion
"""
BODY = """
rois = [AtlasRegion("aal", n) for n in args["labels"]]
values, per_map = [], []
for p in args["maps"]:
    t = time.perf_counter()
    values.append(roi_summary(p, rois, mask_img=args["mask"]).tolist())
    per_map.append(time.perf_counter() - t)
result = dict(values=values, per_map=per_map)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=10)
    parser.add_argument("--old-maps", type=int, default=2)
    parser.add_argument("--subjects", type=int, default=62, help="cohort size projected")
    parser.add_argument("--baseline", nargs="+", default=["f8cccc0", "7c4b314"])
    args = parser.parse_args()

    from nilearn.datasets import load_mni152_brain_mask

    from painmarkers.rois import atlas_labels

    labels = [n for n in atlas_labels("aal")["name"]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mask = load_mni152_brain_mask(resolution=2)
        mask_path = tmp / "mask.nii.gz"
        nib.save(mask, mask_path)
        inside = np.asarray(mask.dataobj) > 0
        rng = np.random.default_rng(0)
        maps = []
        for i in range(args.maps):
            data = np.zeros(mask.shape, dtype=np.float32)
            data[inside] = rng.standard_normal(int(inside.sum())).astype(np.float32)
            path = tmp / f"map{i}.nii.gz"
            nib.save(nib.Nifti1Image(data, mask.affine), path)
            maps.append(str(path))
        common = dict(labels=labels, mask=str(mask_path))
        olds = {commit: run(checkout(commit), IMPORTS, BODY,
                            dict(common, maps=maps[: args.old_maps]))
                for commit in args.baseline}
        new = run(REPO, IMPORTS, BODY, dict(common, maps=maps))

    n = args.subjects
    print(f"machine: {machine()}")
    print(f"inputs: {args.maps} maps on the MNI 2 mm grid {mask.shape} "
          f"({int(inside.sum())} brain voxels), {len(labels)} AAL regions, brain mask given")
    print("| route | first map (s) | each further map (s) | per map x ROI (ms) | "
          f"{n} maps (s) |")
    print("|---|---:|---:|---:|---:|")
    rows = [(f"old: {commit}", old, args.old_maps) for commit, old in olds.items()]
    rows.append(("new: label image resampled once per grid", new, args.maps))
    totals = {}
    for label, result, n_run in rows:
        first = result["per_map"][0]
        further = float(np.median(result["per_map"][1:] if n_run > 1 else result["per_map"]))
        totals[label] = first + (n - 1) * further
        print(f"| {label} | {first:.2f} | {further:.3f} | {1000 * further / len(labels):.2f} "
              f"| {totals[label]:.1f} |")
    new_total = totals[rows[-1][0]]
    for commit, old in olds.items():
        diff = np.abs(np.array(old["values"]) - np.array(new["values"][: args.old_maps])).max()
        print(f"vs {commit}: {n} maps {totals[f'old: {commit}'] / new_total:.1f}x faster, "
              f"first map {old['per_map'][0] / new['per_map'][0]:.1f}x; "
              f"max |old - new| = {diff:.1e}")


if __name__ == "__main__":
    main()
