"""Memory and time of SeedFC and of the cohort driver on a 2 mm run: whole 4-D array (old)
vs the masked data streamed from the file (new).

One generated BOLD run on the 2 mm MNI grid (nilearn's MNI152 2 mm brain mask, 99 x 117 x 95,
signal inside the brain, zeros outside), ``--volumes`` volumes at TR 2 s, stored as
``.nii.gz`` in float32 or as int16 with ``scl_slope`` (``--dtype``). Two measurements, each
in a fresh process, for the code of ``--baseline`` (the old path) and for this checkout:

* ``SeedFC(INS_L sphere, mask_img=brain mask).fit().compute_map(run)``;
* ``extract`` of one session with ALFF and SeedFC (the BOLD shared by both) and ROI means
  in the nine Table-3 spheres.

Peak memory is given two ways: tracemalloc's peak during the call (numpy buffers
included), and the peak resident set size of the whole process (interpreter and imports
included; the size after the imports is printed for reference). The z and ALFF maps of
both paths are compared voxel by voxel.

Usage: python benchmarks/bench_stream.py [--volumes 150] [--dtype float32|int16]
       [--baseline f8cccc0]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from _baseline import REPO, checkout, machine, run

IMPORTS = """
from pathlib import Path
from painmarkers import Cohort, Session, Subject
from painmarkers.extractors import ALFF, SeedFC, extract
from painmarkers.rois import get_roi_set
"""
SEEDFC = """
seed = get_roi_set("rtms_alff_clbp")[0]
img = SeedFC(seed, mask_img=args["mask"], t_r=2.0).fit().compute_map(args["bold"])
nib.save(img, args["out"])
result = {}
"""
EXTRACT = """
rois = get_roi_set("rtms_alff_clbp")
session = Session("pre", images={"bold": Path(args["bold"]), "mask": Path(args["mask"])},
                  metadata={"t_r": 2.0})
cohort = Cohort([Subject("01", "HC", sessions=(session,))])
out = extract(cohort, [ALFF(), SeedFC(rois[0])], rois=rois, out_dir=args["out"],
              progress=False, motion=False)
ses = out["01"].session("pre")
result = dict(alff=str(ses.images["alff"]), fc=str(ses.images["seed_fc_INS_L"]),
              measures=sorted((m.feature, m.roi, m.value) for m in ses.measures))
"""


def _inputs(folder: Path, n_volumes: int, dtype: str):
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask(resolution=2)
    (folder / "in").mkdir()
    mask_path = folder / "in" / "mask.nii.gz"  # inputs apart from the outputs
    nib.save(mask, mask_path)
    inside = np.asarray(mask.dataobj) > 0
    rng = np.random.default_rng(0)
    shared = rng.standard_normal(n_volumes)
    data = np.zeros((*mask.shape, n_volumes), dtype=np.float32)
    n_in = int(inside.sum())
    data[inside] = (500 + 10 * rng.uniform(0, 1, (n_in, 1)) * shared
                    + 10 * rng.standard_normal((n_in, n_volumes))).astype(np.float32)
    if dtype == "int16":
        img = nib.Nifti1Image(np.round((data - 500) * 100).astype(np.int16), mask.affine)
        img.header.set_slope_inter(0.01, 500.0)
    else:
        img = nib.Nifti1Image(data, mask.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((2.0, 2.0, 2.0, 2.0))
    bold = folder / "in" / "sub-01_task-rest_bold.nii.gz"
    nib.save(img, bold)
    return mask, mask_path, bold, n_in


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=150)
    parser.add_argument("--dtype", choices=["float32", "int16"], default="float32")
    parser.add_argument("--baseline", default="f8cccc0")
    args = parser.parse_args()

    old_src = checkout(args.baseline)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mask, mask_path, bold, n_in = _inputs(tmp, args.volumes, args.dtype)
        common = dict(bold=str(bold), mask=str(mask_path))
        rows, maps = [], {}
        for name, src in (("old", old_src), ("new", REPO)):
            fc = run(src, IMPORTS, SEEDFC, dict(common, out=str(tmp / f"fc_{name}.nii.gz")))
            ex = run(src, IMPORTS, EXTRACT, dict(common, out=str(tmp / f"out_{name}")))
            rows.append((name, fc, ex))
            maps[name] = {
                "fc": nib.load(tmp / f"fc_{name}.nii.gz").get_fdata(),
                "driver_fc": nib.load(ex["fc"]).get_fdata(),
                "driver_alff": nib.load(ex["alff"]).get_fdata(),
                "measures": np.array([m[2] for m in ex["measures"]]),
            }
        size_mb = bold.stat().st_size / 2**20

    full64 = np.prod(mask.shape) * args.volumes * 8 / 2**20
    masked32 = n_in * args.volumes * 4 / 2**20
    print(f"machine: {machine()}")
    print(f"input: {mask.shape} x {args.volumes} volumes, {args.dtype} .nii.gz "
          f"({size_mb:.0f} MiB on disk), {n_in} brain voxels; whole 4-D array in float64: "
          f"{full64:.0f} MiB; masked data in float32: {masked32:.0f} MiB")
    print(f"process RSS after the imports: {rows[0][1]['rss_before_mb']:.0f} MiB (old), "
          f"{rows[1][1]['rss_before_mb']:.0f} MiB (new)")
    print("| route | SeedFC.compute_map (s) | traced peak (MiB) | peak RSS (MiB) | "
          "extract ALFF+SeedFC (s) | traced peak (MiB) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, fc, ex in rows:
        label = f"old ({args.baseline})" if name == "old" else "new (streamed, float32)"
        print(f"| {label} | {fc['seconds']:.1f} | {fc['traced_peak_mb']:.0f} | "
              f"{fc['rss_peak_mb']:.0f} | {ex['seconds']:.1f} | {ex['traced_peak_mb']:.0f} | "
              f"{ex['rss_peak_mb']:.0f} |")
    (_, fc_old, ex_old), (_, fc_new, ex_new) = rows
    print(f"ratios old/new: SeedFC time {fc_old['seconds'] / fc_new['seconds']:.2f}x, "
          f"traced peak {fc_old['traced_peak_mb'] / fc_new['traced_peak_mb']:.1f}x; "
          f"extract time {ex_old['seconds'] / ex_new['seconds']:.2f}x, traced peak "
          f"{ex_old['traced_peak_mb'] / ex_new['traced_peak_mb']:.1f}x")
    for key in ("fc", "driver_fc", "driver_alff", "measures"):
        a, b = maps["old"][key], maps["new"][key]
        scale = np.abs(a).max()
        print(f"max |old - new| {key}: {np.abs(a - b).max():.2e} (max |value| {scale:.3g})")


if __name__ == "__main__":
    main()
