"""Arguments, determinism and the out_dir policy of simulate_cohort (cheap 8 mm datasets)."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from painmarkers.datasets import list_designs, simulate_cohort

TINY = {"resolution_mm": 8, "n_volumes": 64, "n_clbp": 2, "n_hc": 2}


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def test_list_designs():
    assert list_designs() == ["rtms_alff_clbp", "qsm_fc_clbp", "rtms_sham_trial"]


@pytest.mark.parametrize("design", ["rtms_alff_clbp", "qsm_fc_clbp"])
def test_same_seed_same_bytes_even_in_parallel(tmp_path, design):
    first = simulate_cohort(design, tmp_path / "a", random_state=5, **TINY)
    second = simulate_cohort(design, tmp_path / "b", random_state=5, n_jobs=2, **TINY)
    digest_a, digest_b = _digest(first.root), _digest(second.root)
    assert len(digest_a) > 10
    assert digest_a == digest_b
    third = simulate_cohort(design, tmp_path / "c", random_state=6, **TINY)
    digest_c = _digest(third.root)
    bold = first.sessions.iloc[0]["bold"]
    assert digest_c[bold] != digest_a[bold]


_DIGEST_SCRIPT = """
import hashlib, json, sys
from pathlib import Path
from painmarkers.datasets import simulate_cohort
data = simulate_cohort(sys.argv[1], sys.argv[2], random_state=5, resolution_mm=8,
                       n_volumes=64, n_clbp=2, n_hc=2)
print(json.dumps({p.relative_to(data.root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in sorted(Path(data.root).rglob("*")) if p.is_file()}))
"""


def _blas_kernel_without_fma() -> dict[str, str]:
    """Environment selecting a generic OpenBLAS kernel (no FMA) for a child process."""
    import platform

    kernel = {"x86_64": "Prescott", "amd64": "Prescott", "aarch64": "ARMV8",
              "arm64": "ARMV8"}.get(platform.machine().lower())
    return {"OPENBLAS_CORETYPE": kernel} if kernel else {}


@pytest.mark.parametrize("design", ["rtms_alff_clbp", "qsm_fc_clbp"])
def test_same_bytes_whatever_the_blas_kernel_and_threads(tmp_path, design):
    """Why serial and n_jobs=2 runs once differed: the drift of each BOLD run was a
    float32 matrix product (basis.T @ amplitude, K = 2) computed by OpenBLAS, whose
    result depends on the kernel and work split it picks for the calling process (the
    main process runs BLAS with every core, a joblib worker with cores // n_jobs), and
    FMA and non-FMA kernels round differently. A child process with another kernel
    (generic, no FMA) and thread count must now write the same bytes; with the matrix
    product it changed the BOLD and confounds files of every session."""
    import json
    import subprocess
    import sys

    import painmarkers

    here = _digest(simulate_cohort(design, tmp_path / "here", random_state=5, **TINY).root)
    root = str(Path(painmarkers.__file__).resolve().parents[1])
    for env in ({**_blas_kernel_without_fma(), "OPENBLAS_NUM_THREADS": "1"},
                {"OPENBLAS_NUM_THREADS": "3"}):
        child = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT, design, str(tmp_path / f"child{len(env)}")],
            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(
                [root, os.environ.get("PYTHONPATH", "")])},
            capture_output=True, text=True, check=True, timeout=600)
        there = json.loads(child.stdout.strip().splitlines()[-1])
        assert there == here, (env, sorted(k for k in here if here[k] != there.get(k)))


def test_generator_and_none_random_state_are_recorded(tmp_path):
    gen = simulate_cohort("rtms_alff_clbp", tmp_path / "g",
                          random_state=np.random.default_rng(1), **TINY)
    entropy = int(gen.parameters["seed_entropy"])
    again = simulate_cohort("rtms_alff_clbp", tmp_path / "h", random_state=entropy, **TINY)
    bold = gen.sessions.iloc[0]["bold"]
    assert (gen.root / bold).read_bytes() == (again.root / bold).read_bytes()
    fresh = simulate_cohort("rtms_alff_clbp", tmp_path / "n", random_state=None, **TINY)
    assert int(fresh.ground_truth["parameters"]["seed_entropy"]) >= 0


def test_writes_only_inside_out_dir(tmp_path):
    out = tmp_path / "deep" / "out"
    simulate_cohort("rtms_alff_clbp", out, **TINY)
    assert [p.name for p in tmp_path.iterdir()] == ["deep"]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["out"]


def test_refuses_non_empty_out_dir(tmp_path):
    out = tmp_path / "user"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"'out_dir'.*user.*not empty"):
        simulate_cohort("rtms_alff_clbp", out, **TINY)
    with pytest.raises(FileExistsError, match="does not hold a dataset written by"):
        simulate_cohort("rtms_alff_clbp", out, overwrite=True, **TINY)
    assert (out / "precious.txt").read_text() == "keep me"
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


def test_overwrite_replaces_a_previous_simulation(tmp_path):
    out = tmp_path / "sim"
    simulate_cohort("qsm_fc_clbp", out, **TINY)
    assert (out / "derivatives" / "qsm").is_dir()
    data = simulate_cohort("rtms_alff_clbp", out, overwrite=True, **TINY)
    assert data.design == "rtms_alff_clbp"
    assert not (out / "derivatives" / "qsm").exists()  # nothing stale left
    assert data.ground_truth["design"] == "rtms_alff_clbp"


def test_out_dir_is_a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        simulate_cohort("rtms_alff_clbp", path, **TINY)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"design": "fmri_magic"}, ValueError,
     r"'design'.*'rtms_alff_clbp', 'qsm_fc_clbp'.*Got 'fmri_magic'"),
    ({"resolution_mm": 0}, ValueError, r"'resolution_mm'.*>= 2. Got 0"),
    ({"resolution_mm": 1}, ValueError, r"'resolution_mm'.*>= 2. Got 1"),
    ({"resolution_mm": -4}, ValueError, r"'resolution_mm'.*Got -4"),
    ({"resolution_mm": 2.5}, TypeError, r"'resolution_mm'.*integer. Got 2.5"),
    ({"n_volumes": 20}, ValueError, r"'n_volumes'.*>= 64. Got 20"),
    ({"t_r": 0}, ValueError, r"'t_r'.*\(0, 100\]. Got 0"),
    ({"t_r": "3"}, TypeError, r"'t_r'.*real number"),
    ({"fwhm_mm": -1.0}, ValueError, r"'fwhm_mm'.*Got -1.0"),
    ({"n_clbp": 1}, ValueError, r"'n_clbp'.*>= 2. Got 1"),
    ({"n_hc": 0}, ValueError, r"'n_hc'.*>= 2. Got 0"),
    ({"effect_scale": -0.5}, ValueError, r"'effect_scale'.*Got -0.5"),
    ({"n_jobs": 0}, ValueError, r"'n_jobs'.*Got 0"),
    ({"random_state": "seed"}, TypeError, r"'random_state'.*Got 'seed'"),
    ({"random_state": -3}, ValueError, r"'random_state'.*>= 0. Got -3"),
    ({"overwrite": "yes"}, TypeError, r"'overwrite'.*Got 'yes'"),
    ({"t_r": 60.0}, ValueError, r"t_r=60.0 s and n_volumes=64 only 0 frequencies"),
    ({"t_r": 0.5}, ValueError, r"t_r=0.5 s and n_volumes=64 only 2 frequencies"),
    ({"n_high_motion": -1}, ValueError, r"'n_high_motion'.*>= 0. Got -1"),
    ({"n_high_motion": 7}, ValueError, r"'n_high_motion'.*number of sessions. Got 7"),
])
def test_bad_arguments(tmp_path, kwargs, error, match):
    args = {"design": "rtms_alff_clbp", "out_dir": tmp_path / "out", **TINY, **kwargs}
    with pytest.raises(error, match=match):
        simulate_cohort(**args)
    assert not (tmp_path / "out").exists()  # validated before anything is written


def test_out_dir_required_and_typed(tmp_path):
    with pytest.raises(TypeError, match="'out_dir' parameter is required"):
        simulate_cohort("rtms_alff_clbp")
    with pytest.raises(TypeError, match=r"'out_dir'.*path. Got 3"):
        simulate_cohort("rtms_alff_clbp", 3)


def test_effect_scale_zero_plants_no_group_or_treatment_effect(tmp_path):
    data = simulate_cohort("rtms_alff_clbp", tmp_path / "null", effect_scale=0.0, **TINY)
    effects = data.ground_truth["alff"]["effects"]
    assert all(e["log_ratio"] == 0 and e["direction"] == "none" for e in effects)
    qsm = simulate_cohort("qsm_fc_clbp", tmp_path / "nullq", effect_scale=0.0, **TINY)
    assert all(e["cohen_d"] == 0 for e in qsm.ground_truth["qsm"]["effects"])


def test_high_motion_sessions_exceed_3_mm_and_leave_others_unchanged(tmp_path):
    import pandas as pd

    base = simulate_cohort("rtms_alff_clbp", tmp_path / "base", **TINY)
    moved = simulate_cohort("rtms_alff_clbp", tmp_path / "moved", n_high_motion=2, **TINY)
    listed = moved.ground_truth["high_motion_sessions"]
    assert len(listed) == 2 and base.ground_truth["high_motion_sessions"] == []
    flagged = {(e["participant_id"], e["session_id"]) for e in listed}
    for row in moved.sessions.itertuples():
        conf = pd.read_csv(moved.root / row.confounds, sep="\t")
        translation = conf[["trans_x", "trans_y", "trans_z"]].abs().to_numpy().max()
        key = (row.participant_id, row.session_id)
        assert (translation > 3.0) == (key in flagged)
        same = ((moved.root / row.bold).read_bytes() == (base.root / row.bold).read_bytes())
        assert same == (key not in flagged)
    for entry in listed:
        assert 3.5 <= abs(entry["displacement_mm"]) <= 4.5
        assert entry["max_translation_mm"] > 3.0


def test_default_seed_tables_are_near_the_seed_tables(tmp_path):
    """Seed-sized cohort (tables do not depend on the grid): means within 3 SE of Tables 1-2."""
    import pandas as pd

    from painmarkers.datasets import load_seed_study

    data = simulate_cohort("rtms_alff_clbp", tmp_path / "d", resolution_mm=8, n_volumes=64)
    participants = pd.read_csv(data.root / "participants.tsv", sep="\t")
    table1 = load_seed_study("rtms_alff_clbp")["table1_demographics"]
    assert participants.group.value_counts().to_dict() == {"CLBP": 15, "HC": 10}
    for group, sub in participants.groupby("group"):
        ref = table1[group]
        for col in ("age", "bmi"):
            se = ref[f"{col}_sd"] / np.sqrt(len(sub))
            assert abs(sub[col].mean() - ref[f"{col}_mean"]) < 3 * se, (group, col)
    pain = pd.read_csv(data.root / "phenotype" / "pain.tsv", sep="\t")
    table2 = load_seed_study("rtms_alff_clbp")["table2_clinical"]
    for col, key in (("vas", "VAS_0_10"), ("rmdq", "RMDQ_0_24")):
        for session, stem in (("ses-pre", "pre"), ("ses-post", "post")):
            values = pain.loc[pain.session_id == session, col]
            assert len(values) == 15
            se = table2[key][f"{stem}_sd"] / np.sqrt(15)
            assert abs(values.mean() - table2[key][f"{stem}_mean"]) < 3 * se, (col, session)
    wide = pain.pivot(index="participant_id", columns="session_id", values="vas")
    ppr = 100 * (wide["ses-pre"] - wide["ses-post"]) / wide["ses-pre"]
    ref = table2["VAS_0_10"]
    assert abs(ppr.mean() - ref["PPR_pct_mean"]) < 3 * ref["PPR_pct_sd"] / np.sqrt(15)


def test_interrupted_run_can_be_overwritten(tmp_path, monkeypatch):
    from painmarkers.datasets import simulate as sim

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sim, "_run_jobs", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_cohort("rtms_alff_clbp", tmp_path / "x", **TINY)
    marker = tmp_path / "x" / "derivatives" / "painmarkers-simulation" / "ground_truth.json"
    assert '"incomplete"' in marker.read_text()
    monkeypatch.undo()
    data = simulate_cohort("rtms_alff_clbp", tmp_path / "x", overwrite=True, **TINY)
    assert data.ground_truth["status"] == "complete"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_respect_the_umask(tmp_path, umask):
    """Simulated files get 0666 & ~umask (they were 0600, mkstemp's mode) and folders
    0777 & ~umask, serial or parallel."""
    import os

    old = os.umask(umask)
    try:
        data = simulate_cohort("rtms_alff_clbp", tmp_path / "sim", n_jobs=2, **TINY)
    finally:
        os.umask(old)
    paths = [data.root, *data.root.rglob("*")]
    assert {p.stat().st_mode & 0o777 for p in paths if p.is_file()} == {0o666 & ~umask}
    assert {p.stat().st_mode & 0o777 for p in paths if p.is_dir()} == {0o777 & ~umask}


def test_a_second_simulation_into_a_locked_folder_fails_fast(tmp_path):
    """While a simulation writes a folder, another one into it is refused at once."""
    from painmarkers._outdir import LOCK_NAME, RunFolder
    from painmarkers.exceptions import OutputError

    out = tmp_path / "sim"
    simulate_cohort("rtms_alff_clbp", out, **TINY)
    assert not (out / LOCK_NAME).exists()
    with RunFolder.open(out, kind="simulation", overwrite=True, marked=False,
                        recognise=lambda p: True):
        with pytest.raises(OutputError, match=r"'.*sim' is in use by another painmarkers "
                                              rf"run: process {os.getpid()} on "):
            simulate_cohort("rtms_alff_clbp", out, overwrite=True, **TINY)
    data = simulate_cohort("rtms_alff_clbp", out, **TINY)  # emptied by the holder
    assert data.ground_truth["status"] == "complete"
