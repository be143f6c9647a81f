"""Benchmark of the ALFF family against the floor and the usual Python routes.

Run from the repository root (takes a few minutes; needs ~1.5 GB of free disk in the temp dir)::

    .venv/bin/python benchmarks/bench_alff.py            # everything
    .venv/bin/python benchmarks/bench_alff.py --quick    # skip the slow nilearn default route

Input: a generated MNI 3 mm 61x73x61x190 float32 series (TR 2 s) inside nilearn's bundled
MNI152 brain mask resampled to that grid, written as .nii and .nii.gz in a temporary
directory. Every timing is the best of ``--repeats`` runs after one warm-up (page cache warm).
The script prints a Markdown table; copy it into benchmarks/README.md by hand.

Compared, side by side on the same inputs:

* floor: nibabel load + mask + one vectorised rFFT + band sums (no detrend, no checks);
* painmarkers: ``ALFF(...).compute_maps`` (ALFF and fALFF maps, DPABI convention) end to end;
* the spectral step alone (``alff_falff`` on the loaded masked array);
* a per-voxel ``scipy.signal.periodogram`` loop (the textbook/XCP-D way) on a subset of
  voxels, extrapolated linearly to the whole mask;
* nilearn ``signal.clean`` band-pass (Butterworth) + SD, default and ``butterworth__copy=True``.

Also: peak traced memory (tracemalloc) relative to the masked float32 data, gzip inflate
with zlib vs ISA-L (``isal.igzip``), and a 40-session joblib run with n_jobs=1 vs 2.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.fft
import scipy.signal

SHAPE = (61, 73, 61)
N_T = 190
T_R = 2.0
BAND = (0.01, 0.08)
AFFINE = np.array([[-3.0, 0, 0, 90], [0, 3, 0, -126], [0, 0, 3, -72], [0, 0, 0, 1]])


def make_inputs(workdir: Path, seed: int = 0):
    """Write bold.nii, bold.nii.gz and mask.nii.gz; return (paths, mask bool array)."""
    from nilearn.datasets import load_mni152_brain_mask
    from nilearn.image import resample_img

    mni = load_mni152_brain_mask(resolution=3)
    mask_img = resample_img(mni, target_affine=AFFINE, target_shape=SHAPE,
                            interpolation="nearest", copy_header=True, force_resample=True)
    mask = np.asarray(mask_img.dataobj) > 0
    n_v = int(mask.sum())
    rng = np.random.default_rng(seed)
    # baseline + slow random walk + drift + white noise, float32 (realistic entropy for gzip)
    base = rng.normal(800, 60, n_v).astype(np.float32)
    walk = np.cumsum(rng.standard_normal((N_T, n_v), dtype=np.float32), axis=0) * 0.5
    series = base + walk + rng.standard_normal((N_T, n_v), dtype=np.float32) * 3.0
    series += (0.02 * np.arange(N_T, dtype=np.float32))[:, None]
    data = np.zeros((*SHAPE, N_T), dtype=np.float32)
    data[mask] = series.T
    del series, walk
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = T_R
    paths = {"nii": workdir / "bold.nii", "nii.gz": workdir / "bold.nii.gz"}
    for path in paths.values():
        nib.save(img, path)
    del data, img
    mask_path = workdir / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), AFFINE), mask_path)
    return paths, mask_path, mask


CPU = {}  # best process CPU time of each timed route, by route key


def best_of(func, repeats: int, key: str | None = None) -> float:
    """Best wall time of ``repeats`` runs after a warm-up; best CPU time stored in CPU[key]."""
    func()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    if key is not None:
        CPU[key] = min(cpus)
    return min(walls)


def peak_memory(func) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


# -- the routes --------------------------------------------------------------------------------
def floor(path, mask):
    data = nib.load(path).get_fdata(dtype=np.float32)
    x = data[mask]  # (V, T)
    del data
    amp = np.abs(scipy.fft.rfft(x, n=256, axis=-1))
    band = amp[:, 6:41].sum(axis=-1)
    return band / 35, band / amp[:, 1:129].sum(axis=-1)


def ours(path, mask_path):
    from painmarkers.extractors.alff import ALFF

    est = ALFF(mask_img=mask_path, t_r=T_R).fit()
    return est.compute_maps(path)


def load_masked(path, mask):
    return nib.load(path).get_fdata(dtype=np.float32)[mask].T  # (T, V)


def periodogram_loop(x_tv, n_sub):
    """Textbook per-voxel loop (what XCP-D's compute_alff does), on the first n_sub voxels."""
    out = np.empty((2, n_sub))
    fs = 1 / T_R
    for j in range(n_sub):
        f, p = scipy.signal.periodogram(x_tv[:, j], fs, detrend="linear", scaling="spectrum")
        root = np.sqrt(p)
        sel = (f >= BAND[0]) & (f <= BAND[1])
        out[0, j] = root[sel].mean()
        out[1, j] = root[sel].sum() / root[1:].sum()
    return out


def nilearn_route(x_tv, **kwargs):
    from nilearn.signal import clean

    filtered = clean(x_tv, detrend=True, standardize=None, filter="butterworth",
                     high_pass=BAND[0], low_pass=BAND[1], t_r=T_R, **kwargs)
    return filtered.std(axis=0, ddof=1)


_RSS_SCRIPT = """
import sys


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024


from painmarkers.extractors.alff import ALFF
est = ALFF(mask_img=sys.argv[2], t_r=2.0).fit()
est.compute_maps(sys.argv[3])  # warm imports and caches
with open("/proc/self/clear_refs", "w") as f:  # reset the high-water mark (Linux)
    f.write("5")
before = status("VmRSS")
est.compute_maps(sys.argv[1])
print(status("VmHWM") - before)
"""


def rss_growth(path, mask_path, small_path):
    """Peak RSS (bytes) above the resident size before a warm run, in a fresh interpreter."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(path), str(mask_path),
                          str(small_path)], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def cohort_timings(workdir: Path, bold: Path, mask_path: Path, n_sessions: int) -> dict:
    """Wall time of the cohort driver over n_sessions hard links of one .nii.gz file."""
    from painmarkers.extractors import ALFF, FractionalALFF
    from painmarkers.extractors._driver import extract
    from painmarkers.model import Cohort, Session, Subject

    data_dir = workdir / "cohort"
    data_dir.mkdir()
    subjects = []
    for i in range(n_sessions):
        link = data_dir / f"sub-{i:02d}_task-rest_bold.nii.gz"
        os.link(bold, link)
        session = Session("pre", images={"bold": str(link)}, metadata={"t_r": T_R})
        subjects.append(Subject(f"{i:02d}", "CLBP", sessions=(session,)))
    cohort = Cohort(subjects)
    timings = {}
    for n_jobs in (1, 2):
        extractors = [ALFF(mask_img=mask_path), FractionalALFF(mask_img=mask_path)]
        t0 = time.perf_counter()
        extract(cohort, extractors, n_jobs=n_jobs, out_dir=workdir / f"out{n_jobs}",
                progress=False, motion=False)
        timings[n_jobs] = time.perf_counter() - t0
    return timings


def inflate(path, opener):
    with opener(path, "rb") as f:
        while f.read(1 << 24):
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", type=int, default=3000,
                        help="voxels timed in the per-voxel loop (extrapolated)")
    parser.add_argument("--quick", action="store_true", help="skip nilearn's default route")
    parser.add_argument("--sessions", type=int, default=40, help="cohort size for n_jobs test")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)

    from painmarkers.extractors.alff import alff_falff

    tmp = tempfile.TemporaryDirectory(dir=args.workdir)
    workdir = Path(tmp.name)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, numpy {np.__version__}, "
          f"load average {os.getloadavg()}")
    paths, mask_path, mask = make_inputs(workdir)
    n_v = int(mask.sum())
    masked_bytes = n_v * N_T * 4
    sizes = {k: p.stat().st_size / 2**20 for k, p in paths.items()}
    print(f"input: {(*SHAPE, N_T)} float32, {n_v} mask voxels; masked float32 data "
          f"{masked_bytes / 2**20:.1f} MiB; files: .nii {sizes['nii']:.0f} MiB, "
          f".nii.gz {sizes['nii.gz']:.0f} MiB")

    rows = []
    t = {}
    for kind in ("nii.gz", "nii"):
        t[f"floor {kind}"] = best_of(lambda k=kind: floor(paths[k], mask), args.repeats,
                                     f"floor {kind}")
        t[f"ours {kind}"] = best_of(lambda k=kind: ours(paths[k], mask_path), args.repeats,
                                    f"ours {kind}")
        rows.append((f"floor (nibabel load + mask + rFFT + band sums), .{kind}",
                     t[f"floor {kind}"], None, f"floor {kind}"))
        rows.append((f"painmarkers ALFF+fALFF maps (compute_maps), .{kind}",
                     t[f"ours {kind}"], t[f"ours {kind}"] / t[f"floor {kind}"], f"ours {kind}"))

    # zlib instead of ISA-L for .nii.gz
    saved = sys.modules.get("isal")
    sys.modules["isal"] = None
    try:
        t["ours gz zlib"] = best_of(lambda: ours(paths["nii.gz"], mask_path), args.repeats,
                                    "ours gz zlib")
    finally:
        if saved is None:
            sys.modules.pop("isal", None)
        else:
            sys.modules["isal"] = saved
    rows.append(("painmarkers ALFF+fALFF maps, .nii.gz, zlib inflate (no isal)",
                 t["ours gz zlib"], t["ours gz zlib"] / t["floor nii.gz"], "ours gz zlib"))
    t["inflate zlib"] = best_of(lambda: inflate(paths["nii.gz"], gzip.open), 1)
    try:
        from isal import igzip

        t["inflate isal"] = best_of(lambda: inflate(paths["nii.gz"], igzip.open), 1)
    except ImportError:
        t["inflate isal"] = float("nan")

    x_tv = load_masked(paths["nii"], mask)
    t["spectral"] = best_of(lambda x=x_tv: alff_falff(x, T_R), args.repeats, "spectral")
    t0, c0 = time.perf_counter(), time.process_time()
    periodogram_loop(x_tv, args.subset)
    t["loop"] = (time.perf_counter() - t0) * n_v / args.subset
    CPU["loop"] = (time.process_time() - c0) * n_v / args.subset
    rows.append(("spectral step alone (alff_falff on loaded (T, V) array)", t["spectral"],
                 None, "spectral"))
    rows.append((f"per-voxel scipy periodogram loop (timed on {args.subset} voxels, "
                 "extrapolated), after load", t["loop"], t["loop"] / t["ours nii.gz"], "loop"))
    t0, c0 = time.perf_counter(), time.process_time()
    nilearn_route(x_tv, butterworth__copy=True)
    t["nilearn copy"] = time.perf_counter() - t0
    CPU["nilearn copy"] = time.process_time() - c0
    rows.append(("nilearn signal.clean band-pass + SD, butterworth__copy=True (after load)",
                 t["nilearn copy"], t["nilearn copy"] / t["ours nii.gz"], "nilearn copy"))
    if not args.quick:
        t0, c0 = time.perf_counter(), time.process_time()
        nilearn_route(x_tv)
        t["nilearn"] = time.perf_counter() - t0
        CPU["nilearn"] = time.process_time() - c0
        rows.append(("nilearn signal.clean band-pass + SD, default (after load)",
                     t["nilearn"], t["nilearn"] / t["ours nii.gz"], "nilearn"))
    del x_tv

    mem_ours = peak_memory(lambda: ours(paths["nii.gz"], mask_path))
    mem_floor = peak_memory(lambda: floor(paths["nii.gz"], mask))
    # a 20-volume file on the same grid warms the worker up without raising its peak RSS much
    small = workdir / "small_bold.nii.gz"
    full = nib.load(paths["nii"])
    nib.save(nib.Nifti1Image(np.asarray(full.dataobj[..., :20]), AFFINE, full.header), small)
    del full
    rss_ours = rss_growth(paths["nii.gz"], mask_path, small)

    print()
    print("| route | wall s | CPU s | wall ratio |")
    print("|---|---:|---:|---:|")
    for name, sec, ratio, key in rows:
        print(f"| {name} | {sec:.2f} | {CPU[key]:.2f} | "
              f"{'' if ratio is None else f'{ratio:.2f}'} |")
    print()
    print(f"- ours / floor, wall: .nii.gz {t['ours nii.gz'] / t['floor nii.gz']:.2f}, "
          f".nii {t['ours nii'] / t['floor nii']:.2f}; CPU: .nii.gz "
          f"{CPU['ours nii.gz'] / CPU['floor nii.gz']:.2f}, .nii "
          f"{CPU['ours nii'] / CPU['floor nii']:.2f} (target <= 1.5)")
    print(f"- per-voxel loop / spectral step: {t['loop'] / t['spectral']:.0f}x (target >= 50)")
    print(f"- per-voxel loop / ours end to end (.nii.gz): {t['loop'] / t['ours nii.gz']:.1f}x")
    print(f"- gzip inflate alone: zlib {t['inflate zlib']:.2f} s, ISA-L {t['inflate isal']:.2f} s")
    print(f"- peak traced memory: ours {mem_ours / 2**20:.0f} MiB = "
          f"{mem_ours / masked_bytes:.2f}x masked data (target <= 3); floor "
          f"{mem_floor / 2**20:.0f} MiB = {mem_floor / masked_bytes:.2f}x")
    print(f"- peak RSS above the resident size before a warm compute_maps (.nii.gz, "
          "fresh process): "
          f"{rss_ours / 2**20:.0f} MiB = {rss_ours / masked_bytes:.2f}x masked data")

    if args.sessions:
        print(f"- cohort of {args.sessions} sessions (.nii.gz), painmarkers.extractors "
              "extract() with ALFF + fALFF, maps written to out_dir:")
        for n_jobs, sec in cohort_timings(workdir, paths["nii.gz"], mask_path,
                                          args.sessions).items():
            t[f"cohort {n_jobs}"] = sec
            print(f"  n_jobs={n_jobs}: {sec:.1f} s")
        print(f"  speed-up n_jobs=2 vs 1: {t['cohort 1'] / t['cohort 2']:.2f}x "
              "(target >= 1.8)")
    print(f"load average at the end: {os.getloadavg()}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
