"""Simulated pain-imaging cohorts written as BIDS datasets with fMRIPrep-style derivatives.

:func:`simulate_cohort` writes, under ``out_dir`` (``<sub>`` = ``sub-01``...,
``<ses>`` = ``ses-pre``/``ses-post``/``ses-baseline``, ``<r>`` = ``resolution_mm``)::

    dataset_description.json  README  participants.tsv  participants.json
    sessions.json  task-rest_bold.json
    phenotype/pain.tsv  phenotype/pain.json
    <sub>/<sub>_sessions.tsv
    derivatives/fmriprep/dataset_description.json
    derivatives/fmriprep/<sub>/<ses>/func/
        <sub>_<ses>_task-rest_space-MNI152NLin2009cAsym_res-<r>_desc-preproc_bold.nii.gz (+ .json)
        <sub>_<ses>_task-rest_space-MNI152NLin2009cAsym_res-<r>_desc-brain_mask.nii.gz (+ .json)
        <sub>_<ses>_task-rest_desc-confounds_timeseries.tsv (+ .json)
    derivatives/qsm/dataset_description.json                       (design "qsm_fc_clbp")
    derivatives/qsm/<sub>/<ses>/anat/
        <sub>_<ses>_space-MNI152NLin2009cAsym_res-<r>_Chimap.nii.gz (+ .json)
    derivatives/painmarkers-simulation/dataset_description.json
    derivatives/painmarkers-simulation/ground_truth.json
    derivatives/painmarkers-simulation/planted_effects.tsv

Raw BOLD images are not written (the top-level ``task-rest_bold.json`` keeps the
seed's acquisition parameters); everything an analysis reads is in the derivatives.
``res-<r>`` is the voxel size in mm (``res-4`` = 4 mm isotropic), not a TemplateFlow
resolution index.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import current_umask
from painmarkers._outdir import LOCK_NAME, RunFolder
from painmarkers._threads import single_blas_thread
from painmarkers._validation import (
    check_choice,
    check_interval,
    check_n_jobs,
    check_positive_int,
    check_random_state,
)
from painmarkers.datasets import _designs as D
from painmarkers.datasets import _sham_trial as T
from painmarkers.datasets._bold import (
    BoldContext,
    confounds_frame,
    framewise_displacement,
    simulate_motion,
    synthesize_bold,
)
from painmarkers.datasets._dataset import MARKER, SimulatedDataset
from painmarkers.datasets._effects import alff_plan, qsm_plan
from painmarkers.datasets._grid import Grid, load_grid
from painmarkers.datasets._io import write_json, write_nifti, write_text, write_tsv
from painmarkers.datasets._qsm import synthesize_qsm
from painmarkers.datasets.reference import load_seed_study

__all__ = ["SimulatedDataset", "list_designs", "simulate_cohort"]

SPACE = "MNI152NLin2009cAsym"
TASK = "rest"
BIDS_VERSION = "1.9.0"
_GENERATOR = "painmarkers.datasets.simulate_cohort"
_MOTION_LEVEL_SD = 0.3   # log-normal spread of the subject's motion level


def _version() -> str:
    try:
        return version("painmarkers")
    except PackageNotFoundError:  # pragma: no cover - source tree without install
        return "unknown"


def list_designs() -> list[str]:
    """Return the names of the designs :func:`simulate_cohort` can write.

    Returns
    -------
    list of str
        The design names, the values of ``simulate_cohort(design=...)``.

    Examples
    --------
    >>> from painmarkers.datasets import list_designs
    >>> list_designs()
    ['rtms_alff_clbp', 'qsm_fc_clbp', 'rtms_sham_trial']
    """
    return list(D.DESIGNS)


# --- argument handling ---
def _is_simulated(root: Path) -> bool:
    """True if ``root`` holds the ground truth written by :func:`simulate_cohort`."""
    try:
        truth = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(truth, dict) and truth.get("generator") == _GENERATOR \
        and truth.get("status") in ("incomplete", "complete")


def _prepare_out_dir(out_dir: Any, overwrite: bool) -> RunFolder:
    """Lock ``out_dir`` for the simulation (emptied first with ``overwrite``)."""
    if not isinstance(out_dir, str | os.PathLike):
        raise TypeError(f"The 'out_dir' parameter must be a path. Got {out_dir!r}.")
    root = Path(out_dir).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"The 'out_dir' {str(root)!r} exists and is not a directory.")
    if root.is_dir() and any(p.name != LOCK_NAME for p in root.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"The 'out_dir' {str(root)!r} is not empty; choose an empty or new folder, "
                "or pass overwrite=True (--overwrite on the command line) to replace a "
                "dataset simulated there before."
            )
        if not _is_simulated(root):
            raise FileExistsError(
                f"The 'out_dir' {str(root)!r} is not empty and does not hold a dataset "
                f"written by simulate_cohort (no {MARKER.as_posix()} written by it); "
                "refusing to delete it even with overwrite=True."
            )
    return RunFolder.open(root, kind="simulation", overwrite=overwrite, marked=False,
                          recognise=_is_simulated, what="dataset written by simulate_cohort")


def _entropy(random_state: Any) -> int:
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(
                f"The 'random_state' parameter must be >= 0. Got {random_state!r}.")
        return int(random_state)
    check_random_state(random_state)  # raises a clear TypeError for anything else
    raise TypeError(  # e.g. a bool, which check_random_state takes as an int
        f"The 'random_state' parameter must be None, an int or a Generator. Got {random_state!r}.")


# --- file names ---
def _func_dir(pid: str, ses: str) -> Path:
    return Path("derivatives", "fmriprep", pid, ses, "func")


def _paths(pid: str, ses: str, res: int) -> dict[str, Path]:
    func = _func_dir(pid, ses)
    stem = f"{pid}_{ses}_task-{TASK}"
    return {
        "bold": func / f"{stem}_space-{SPACE}_res-{res}_desc-preproc_bold.nii.gz",
        "mask": func / f"{stem}_space-{SPACE}_res-{res}_desc-brain_mask.nii.gz",
        "confounds": func / f"{stem}_desc-confounds_timeseries.tsv",
        "qsm": Path("derivatives", "qsm", pid, ses, "anat",
                    f"{pid}_{ses}_space-{SPACE}_res-{res}_Chimap.nii.gz"),
    }


def _sidecar(path: Path) -> Path:
    name = path.name
    for ext in (".nii.gz", ".tsv"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    raise ValueError(path)  # pragma: no cover


# --- one session (runs in a joblib worker) ---
def _session_job(root: Path, job: dict, ctx: BoldContext, grid: Grid, umask: int) -> dict:
    """Simulate and write one session, in this process or a joblib worker.

    The worker takes the caller's umask (a reused worker keeps the one it started
    with) and BLAS runs single-threaded wherever the job runs, so that nothing about
    the process changes the files.
    """
    old = os.umask(umask)
    try:
        with single_blas_thread():
            return _write_session(root, job, ctx, grid)
    finally:
        os.umask(old)


def _write_session(root: Path, job: dict, ctx: BoldContext, grid: Grid) -> dict:
    rng = np.random.default_rng(job["seed"])
    paths = {k: root / v for k, v in job["paths"].items()}
    motion = simulate_motion(ctx.n_volumes, rng, job["motion_level"])
    if job.get("high_motion") is not None:
        motion = motion + _head_jerk(ctx.n_volumes, job["high_motion"])
    fd = framewise_displacement(motion)
    series = synthesize_bold(ctx, rng, fd, log_gain=job.get("log_gain"),
                             networks=job.get("networks"))
    confounds = confounds_frame(series, ctx, motion)
    write_nifti(paths["bold"], series, grid.index, grid.shape, grid.affine, t_r=ctx.t_r)
    del series
    write_json(_sidecar(paths["bold"]), {
        "RepetitionTime": ctx.t_r, "TaskName": TASK, "SkullStripped": True,
        "NumberOfVolumesDiscardedByUser": 10, "SliceTimingCorrected": True,
        "SmoothingFWHM": ctx.fwhm_mm,
        "Description": "Simulated preprocessed BOLD (painmarkers.datasets.simulate_cohort).",
    })
    write_nifti(paths["mask"], np.ones(grid.n_voxels, np.uint8), grid.index, grid.shape,
                grid.affine, dtype=np.uint8)
    write_json(_sidecar(paths["mask"]), {"Type": "Brain", "RawSources": [],
                                         "Description": "MNI152 brain mask (nilearn)."})
    write_tsv(paths["confounds"], confounds, float_format="%.8g")
    write_json(_sidecar(paths["confounds"]), {
        "framewise_displacement": {"Description": "Power et al. (2012) framewise "
                                   "displacement, 50 mm head radius.", "Units": "mm"},
        "trans_x": {"Units": "mm"}, "trans_y": {"Units": "mm"}, "trans_z": {"Units": "mm"},
        "rot_x": {"Units": "rad"}, "rot_y": {"Units": "rad"}, "rot_z": {"Units": "rad"},
    })
    if "qsm_mean" in job:
        qsm = synthesize_qsm(grid, job["qsm_mean"], rng, job["qsm_fwhm_mm"])
        write_nifti(paths["qsm"], qsm, grid.index, grid.shape, grid.affine)
        write_json(_sidecar(paths["qsm"]), {
            "Units": "ppm", "Description": "Simulated quantitative susceptibility map "
            "(painmarkers.datasets.simulate_cohort)."})
    translation = np.abs(motion[:, :3]).max()
    rotation = np.degrees(np.abs(motion[:, 3:]).max())
    return {"participant_id": job["participant_id"], "session_id": job["session_id"],
            "mean_fd": float(np.nanmean(fd)), "max_fd": float(np.nanmax(fd)),
            "max_translation_mm": float(translation), "max_rotation_deg": float(rotation)}


def _head_jerk(n_volumes: int, draw: dict) -> np.ndarray:
    """A lasting head displacement of ``draw['mm']`` mm along one axis from one volume on."""
    shift = np.zeros((n_volumes, 6))
    shift[draw["volume"]:, draw["axis"]] = draw["mm"]
    return shift


def _pick_high_motion(sessions: pd.DataFrame, n_high_motion: int, seq, n_volumes: int
                      ) -> dict[int, dict]:
    if n_high_motion == 0:
        return {}
    rng = np.random.default_rng(seq)
    chosen = np.sort(rng.choice(len(sessions), n_high_motion, replace=False))
    return {int(k): {"volume": int(rng.integers(n_volumes // 4, 3 * n_volumes // 4)),
                     "axis": int(rng.integers(0, 3)),
                     "mm": float(rng.choice([-1.0, 1.0]) * rng.uniform(3.5, 4.5))}
            for k in chosen}


# --- tables and sidecars ---
def _write_tables(root: Path, design: str, participants: pd.DataFrame,
                  sessions: pd.DataFrame, pain: pd.DataFrame, t_r: float) -> None:
    seed = load_seed_study("rtms_alff_clbp" if design == T.DESIGN else design)
    write_json(root / "dataset_description.json", {
        "Name": f"painmarkers simulated cohort ({design})", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw", "License": "CC0",
        "GeneratedBy": [{"Name": "painmarkers.datasets.simulate_cohort",
                         "Version": _version()}],
        "ReferencesAndLinks": [seed["source"]],
    })
    write_text(root / "README", (
        f"Simulated cohort written by painmarkers.datasets.simulate_cohort (design {design}).\n"
        "Synthetic data: no real participant. Raw images are not included; the analysable\n"
        "images are in derivatives/ (fMRIPrep-style). The planted effects are listed in\n"
        "derivatives/painmarkers-simulation/ground_truth.json.\n"))
    write_tsv(root / "participants.tsv", participants)
    write_json(root / "participants.json", {
        "participant_id": {"Description": "Participant identifier."},
        "group": T.PARTICIPANTS_GROUP if design == T.DESIGN else {
            "Description": "Diagnostic group.",
            "Levels": {"CLBP": "chronic low back pain", "HC": "healthy control"}},
        "age": {"Description": "Age at the first session.", "Units": "year"},
        "sex": {"Description": "Sex.", "Levels": {"F": "female", "M": "male"}},
        "bmi": {"Description": "Body mass index.", "Units": "kg/m^2"},
        "pain_duration_years": {"Description": "Duration of low back pain (n/a for "
                                "controls).", "Units": "year"},
    })
    write_json(root / "sessions.json", {
        "session_id": {"Description": T.SESSIONS_DESCRIPTION if design == T.DESIGN else
                       "Session: pre/post rTMS for patients, baseline for "
                       "controls and single-session designs."},
        "delay_days": {"Description": "Days since the subject's first session.",
                       "Units": "day"},
    })
    acquisition = load_seed_study("rtms_alff_clbp")["acquisition"]["bold"]
    write_json(root / f"task-{TASK}_bold.json", {
        "TaskName": TASK, "RepetitionTime": t_r, "EchoTime": acquisition["te_ms"] / 1000.0,
        "FlipAngle": acquisition["flip_deg"], "MagneticFieldStrength": 3,
        "Manufacturer": "Siemens", "ManufacturersModelName": "Prisma",
        "NumberOfVolumesDiscardedByUser": acquisition["discarded_volumes"],
    })
    for pid, frame in sessions.groupby("participant_id", sort=True):
        write_tsv(root / pid / f"{pid}_sessions.tsv", frame[["session_id", "delay_days"]])
    write_tsv(root / "phenotype" / "pain.tsv", pain)
    write_json(root / "phenotype" / "pain.json", {
        "MeasurementToolMetadata": {"Description": "Pain intensity (VAS) and Roland-Morris "
                                    "Disability Questionnaire, patients only."},
        "participant_id": {"Description": "Participant identifier."},
        "session_id": {"Description": "Session of the assessment."},
        "vas": {"LongName": "Visual analogue scale of pain intensity",
                "Description": "0 = no pain, 10 = worst imaginable pain.", "Units": "cm",
                "MinValue": 0, "MaxValue": 10},
        "rmdq": {"LongName": "Roland-Morris Disability Questionnaire",
                 "Description": "Number of items endorsed (0-24).", "MinValue": 0,
                 "MaxValue": 24},
        **({"odi": T.ODI_JSON} if design == T.DESIGN else {}),
    })
    generated = [{"Name": "painmarkers.datasets.simulate_cohort", "Version": _version()}]
    write_json(root / "derivatives" / "fmriprep" / "dataset_description.json", {
        "Name": "Simulated fMRIPrep-style derivatives", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative", "GeneratedBy": generated,
        "SourceDatasets": [{"URL": "../../"}],
    })
    if design == "qsm_fc_clbp":
        write_json(root / "derivatives" / "qsm" / "dataset_description.json", {
            "Name": "Simulated QSM maps", "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative", "GeneratedBy": generated})
    write_json(root / "derivatives" / "painmarkers-simulation" / "dataset_description.json", {
        "Name": "Ground truth of the simulated cohort", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative", "GeneratedBy": generated})


# --- public entry point ---
def simulate_cohort(design: str = "rtms_alff_clbp", out_dir: str | os.PathLike | None = None,
                    *, resolution_mm: int = 4, n_volumes: int = 190, t_r: float = 3.0,
                    fwhm_mm: float | None = None, n_clbp: int | None = None,
                    n_hc: int | None = None, effect_scale: float = 1.0,
                    n_high_motion: int = 0, random_state: Any = 0,
                    overwrite: bool = False, n_jobs: int | None = None,
                    progress: bool = False, n_per_arm: int | None = None,
                    dropout: float | None = None) -> SimulatedDataset:
    """Write a simulated BIDS cohort with fMRIPrep-style derivatives and its ground truth.

    Parameters
    ----------
    design : {"rtms_alff_clbp", "qsm_fc_clbp", "rtms_sham_trial"}, default="rtms_alff_clbp"
        ``"rtms_alff_clbp"``: CLBP patients before/after rTMS (sessions ``ses-pre`` and
        ``ses-post``) and controls (``ses-baseline``), with ALFF effects at the seed's
        Table 3 peaks. ``"qsm_fc_clbp"``: patients and controls, one session
        (``ses-baseline``), with QSM maps and seed-FC effects. ``"rtms_sham_trial"``:
        patients randomised to active or sham rTMS (``group`` = ``active``/``sham``), seen
        at ``ses-pre``, ``ses-post`` and ``ses-followup`` with monotone dropout, with a
        planted arm x visit interaction in VAS, RMDQ and ALFF (see Notes).
    out_dir : path-like
        Root of the dataset to write; created if missing. Must be empty (or absent).
    resolution_mm : int, default=4
        Isotropic voxel size (mm) of the MNI grid (nilearn's bundled MNI152 mask), at
        least 2: one session takes about 0.6 s of CPU and 25 MB on disk at 4 mm, eight
        times that at 2 mm (1 mm would need several GB of memory per session).
    n_volumes : int, default=190
        Volumes per run (the seed's 200 minus 10 discarded). At least 64.
    t_r : float, default=3.0
        Repetition time in seconds.
    fwhm_mm : float or None, default=None
        Spatial smoothness (FWHM, mm) of the BOLD noise (and of the QSM maps' noise);
        0 gives white noise. None: the seed's 6 mm kernel for the seed designs, 12 mm
        for ``"rtms_sham_trial"`` (its ALFF maps then have a residual FWHM of about
        9 mm, over 2 voxels at 4 mm). GRF cluster inference on ALFF maps needs about
        3 voxels of BOLD smoothness (``painmarkers demo`` uses ``max(6, 3 *
        resolution_mm)``, see :func:`painmarkers.study.demo_fwhm_mm`).
    n_clbp, n_hc : int or None, default=None
        Group sizes; None uses the seed's (15 and 10, or 32 and 30). At least 2. Not
        used by ``"rtms_sham_trial"`` (see ``n_per_arm``).
    effect_scale : float, default=1.0
        Multiplies every planted group, treatment and QSM effect (0 gives a null
        dataset for those contrasts; correlations with VAS are kept).
    n_high_motion : int, default=0
        Number of sessions (drawn at random) given a lasting head displacement of
        3.5-4.5 mm along one axis, beyond the seed's 3 mm exclusion rule; they are
        listed in the ground truth under ``high_motion_sessions``. 0 leaves every
        other output unchanged.
    random_state : int, Generator or None, default=0
        Seed. The same seed and arguments give byte-identical files.
    overwrite : bool, default=False
        Replace the content of a non-empty ``out_dir`` only if it holds a dataset
        written by this function before.
    n_jobs : int or None, default=None
        Sessions simulated in parallel by joblib (results do not depend on it).
    progress : bool, default=False
        Show a progress bar over sessions.
    n_per_arm : int or None, default=None
        ``"rtms_sham_trial"`` only: patients per arm (None: 20). At least 2.
    dropout : float or None, default=None
        ``"rtms_sham_trial"`` only: probability, in [0, 1), that a patient leaves the
        trial after each visit (None: 0.2, which leaves about 19 % of the visits
        missing). Dropout is monotone and completely at random.

    Returns
    -------
    SimulatedDataset
        ``root``, ``derivatives`` (fMRIPrep folder), ``design``, ``ground_truth``,
        ``sessions`` (one row per session: ``participant_id, group, session_id,
        delay_days, mean_fd, max_fd, max_translation_mm, max_rotation_deg, bold,
        mask, confounds, qsm``) and ``parameters``.

    Raises
    ------
    ValueError
        Unknown ``design`` (the message lists the designs), an out-of-range number, or
        a size or dropout argument the design does not use.
    TypeError
        A parameter of the wrong type.
    FileExistsError
        ``out_dir`` is not empty (and ``overwrite`` is False or it holds something
        else than a simulated dataset).
    OutputError
        Another run is writing into ``out_dir`` (the folder is locked while a dataset
        is written; the message names the holder), or a file cannot be written (disk
        full, no permission; the message names the file).

    Notes
    -----
    Files written (``<sub>`` = ``sub-01``..., ``<ses>`` = ``ses-pre``, ``ses-post`` or
    ``ses-baseline``, ``<r>`` = ``resolution_mm``; ``res-<r>`` is the voxel size in mm,
    not a TemplateFlow index)::

        dataset_description.json README participants.tsv participants.json
        sessions.json task-rest_bold.json phenotype/pain.tsv phenotype/pain.json
        <sub>/<sub>_sessions.tsv
        derivatives/fmriprep/<sub>/<ses>/func/
          <sub>_<ses>_task-rest_space-MNI152NLin2009cAsym_res-<r>_desc-preproc_bold.nii.gz
          <sub>_<ses>_task-rest_space-MNI152NLin2009cAsym_res-<r>_desc-brain_mask.nii.gz
          <sub>_<ses>_task-rest_desc-confounds_timeseries.tsv   (each with a .json)
        derivatives/qsm/<sub>/<ses>/anat/
          <sub>_<ses>_space-MNI152NLin2009cAsym_res-<r>_Chimap.nii.gz (+ .json; QSM design)
        derivatives/painmarkers-simulation/ground_truth.json, planted_effects.tsv

    Raw images are not written. Seeding: ``SeedSequence(entropy).spawn(3)`` gives the
    streams of the tables, of the subject-level effects and of the sessions (one
    child per session, in table order), so ``n_jobs`` does not change the output.

    Participants follow the seed's Table 1 (age and BMI normal with its mean and SD,
    sex counts from its percentages, pain duration gamma-distributed). Patients'
    VAS and RMDQ follow Table 2: ``VAS_pre ~ N(7.25, 0.99)``, ``PPR ~ N(36.2, 13.3)``
    %, ``VAS_post = VAS_pre (1 - PPR/100)`` (likewise RMDQ with PDC), rounded to 0.1
    and to integers and kept in 0-10 and 0-24.

    BOLD is synthesised in the frequency domain for all voxels at once (see
    :mod:`painmarkers.datasets._bold`): spatially smoothed complex Gaussian
    coefficients, a spectrum that is half 1/f and half AR(1) (0.3), slow drifts, a
    global signal and motion-related dips, scaled to about 1 % signal change around
    a T2*-like mean image. Motion parameters are a random walk with spikes; FD is
    Power's (50 mm radius).

    ALFF effects multiply the amplitude of the 0.01-0.08 Hz band by
    ``exp(log_gain)`` within Gaussian blobs (FWHM 16 mm) centred on the Table 3 peaks and
    weighted by grey matter (none below a grey-matter probability of 0.2 or in the
    lateral ventricles, all from 0.6):
    CLBP > HC in SMA and INS, CLBP < HC in PC and mPFC; post < pre in INS, THA and
    SMA, post > pre in mPFC; log gain correlated with VAS at r = -0.5 (mPFC) and
    +0.6 (INS_L) in each patient session. Null ROIs: CAL_L, STG_R, CER_L (no effect);
    THA has no group effect and PC no treatment effect.

    The QSM design plants regional susceptibility offsets with Cohen's d from the
    seed's t values (CLBP > HC in posterior precentral L/R, postcentral L, middle
    frontal orbital L, inferior temporal R; CLBP < HC in olfactory R and posterior
    cingulate R; r = 0.45 between postcentral L and VAS in patients) and FC effects
    (postcentral L and posterior precentral L/R with superior frontal L; postcentral
    R with precuneus R; both increased in CLBP), with the seed's r = 0.444 between
    motor-cortex QSM and motor-cortex to superior-frontal FC in patients (planted for
    the measured values). The QSM noise has the BOLD's smoothness ``fwhm_mm``; the
    regions are written as masks in ``derivatives/painmarkers-simulation/rois/``.
    Every planted value is written to ``ground_truth.json`` and
    ``planted_effects.tsv``.

    The trial design (``"rtms_sham_trial"``, :mod:`painmarkers.datasets._sham_trial`)
    randomises patients (permuted blocks of four; demographics as the seed's patients)
    to ``active`` or ``sham`` rTMS. Scores: ``VAS = 7.25 + u + time + did * active + e``
    (``u`` SD 0.8, ``e`` SD 0.6; ``time`` -0.8 at post and -0.5 at follow-up in both
    arms, ``did`` -1.8 and -1.2: the planted arm x visit interaction), RMDQ likewise
    (15.58, SD 3.0 and 1.6, time -1.0/-0.5, did -3.0/-2.0) and ODI without interaction
    (38 %, SD 10 and 5, time -4/-2, did 0). ALFF: a smooth subject field
    (log-gain SD 0.10, FWHM 12 mm, the same at every visit) everywhere, plus Gaussian
    blobs (FWHM 12 mm): the active arm's log ALFF changes by -0.35 in INS_L and INS_R
    and +0.35 in mPFC at post (half of it at follow-up), both arms change by -0.25 in
    THA_L and THA_R, and nothing else is planted (SMA, PC, CAL_L, STG_R, CER_L). The
    planted interaction and common-change maps are written to
    ``derivatives/painmarkers-simulation/planted_alff_*.nii.gz``.

    References
    ----------
    .. [1] Power JD et al. (2012). Spurious but systematic correlations in functional
       connectivity MRI networks arise from subject motion. NeuroImage 59:2142-2154.
    .. [2] Zang YF et al. (2007). Altered baseline brain activity in children with
       ADHD revealed by resting-state functional MRI. Brain Dev 29:83-91.

    Examples
    --------
    >>> import tempfile
    >>> from painmarkers.datasets import simulate_cohort
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     data = simulate_cohort("rtms_alff_clbp", tmp, resolution_mm=8, n_volumes=64,
    ...                            n_clbp=2, n_hc=2)
    ...     print(len(data.sessions), data.sessions["session_id"].tolist())
    6 ['ses-pre', 'ses-post', 'ses-pre', 'ses-post', 'ses-baseline', 'ses-baseline']
    """
    check_choice(design, D.DESIGNS, "design")
    trial = design == T.DESIGN
    if out_dir is None:
        raise TypeError("The 'out_dir' parameter is required: the folder to write into.")
    resolution_mm = check_positive_int(resolution_mm, "resolution_mm", minimum=2)
    n_volumes = check_positive_int(n_volumes, "n_volumes", minimum=64)
    t_r = check_interval(t_r, "t_r", 0.0, 100.0, closed="right")
    if fwhm_mm is None:
        fwhm_mm = T.FWHM_MM if trial else 6.0
    fwhm_mm = check_interval(fwhm_mm, "fwhm_mm", 0.0, 50.0)
    effect_scale = check_interval(effect_scale, "effect_scale", 0.0, 10.0)
    sizes, dropout = _trial_sizes(design, n_clbp, n_hc, n_per_arm, dropout)
    freqs = np.fft.rfftfreq(n_volumes, t_r)
    n_band = int(((freqs >= D.ALFF_BAND_HZ[0]) & (freqs <= D.ALFF_BAND_HZ[1])).sum())
    if n_band < 3:
        raise ValueError(
            f"With t_r={t_r} s and n_volumes={n_volumes} only {n_band} frequencies fall in "
            f"the {D.ALFF_BAND_HZ[0]}-{D.ALFF_BAND_HZ[1]} Hz ALFF band; at least 3 are needed "
            "(TR 3 s with 190 volumes gives 40)."
        )
    n_jobs = check_n_jobs(n_jobs)
    n_high_motion = check_positive_int(n_high_motion, "n_high_motion", minimum=0)
    if n_high_motion > sum(len(D.SESSIONS[design][g]) * n for g, n in sizes.items()):
        raise ValueError(f"The 'n_high_motion' parameter must be <= the number of sessions. "
                         f"Got {n_high_motion}.")
    if not isinstance(overwrite, bool):
        raise TypeError(f"The 'overwrite' parameter must be True or False. Got {overwrite!r}.")
    entropy = _entropy(random_state)
    with _prepare_out_dir(out_dir, overwrite) as folder:
        return _simulate(folder.path, design, sizes, resolution_mm, n_volumes, t_r, fwhm_mm,
                         effect_scale, n_high_motion, random_state, entropy, n_jobs, progress,
                         dropout)


def _trial_sizes(design: str, n_clbp, n_hc, n_per_arm, dropout) -> tuple[dict, float | None]:
    """Group sizes (and the trial's dropout), refusing arguments the design does not use."""
    if design == T.DESIGN:
        for name, value in (("n_clbp", n_clbp), ("n_hc", n_hc)):
            if value is not None:
                raise ValueError(f"The {name!r} parameter does not apply to design "
                                 f"{design!r} (patients in two arms): use 'n_per_arm'. "
                                 f"Got {name}={value!r}.")
        n = T.N_PER_ARM if n_per_arm is None else check_positive_int(n_per_arm, "n_per_arm",
                                                                     minimum=2)
        dropout = T.DROPOUT if dropout is None else check_interval(dropout, "dropout", 0.0,
                                                                   1.0, closed="left")
        return T.check_sizes(n), float(dropout)
    for name, value in (("n_per_arm", n_per_arm), ("dropout", dropout)):
        if value is not None:
            raise ValueError(f"The {name!r} parameter applies only to design {T.DESIGN!r}. "
                             f"Got {name}={value!r} with design {design!r}.")
    sizes = D.default_group_sizes(design)
    if n_clbp is not None:
        sizes["CLBP"] = check_positive_int(n_clbp, "n_clbp", minimum=2)
    if n_hc is not None:
        sizes["HC"] = check_positive_int(n_hc, "n_hc", minimum=2)
    return sizes, None


def _simulate(root: Path, design: str, sizes: dict, resolution_mm: int, n_volumes: int,
              t_r: float, fwhm_mm: float, effect_scale: float, n_high_motion: int,
              random_state: Any, entropy: int, n_jobs: int | None,
              progress: bool, dropout: float | None = None) -> SimulatedDataset:
    # placeholder: an interrupted run can still be replaced with overwrite=True
    write_json(root / MARKER, {"status": "incomplete",
                               "generator": _GENERATOR})

    seq = np.random.SeedSequence(entropy)
    table_seq, effect_seq, session_seq = seq.spawn(3)
    table_rng = np.random.default_rng(table_seq)
    if design == T.DESIGN:
        participants = T.draw_participants(sizes, table_rng)
        sessions, dropped = T.sessions_table(participants, table_rng, dropout)
        if n_high_motion > len(sessions):
            raise ValueError(f"The 'n_high_motion' parameter must be <= the number of "
                             f"sessions attended ({len(sessions)}). Got {n_high_motion}.")
        pain = T.draw_scores(participants, sessions, table_rng, effect_scale)
    else:
        participants = D.draw_participants(design, sizes, table_rng)
        sessions = D.sessions_table(design, participants, table_rng)
        pain = D.draw_pain(design, participants, table_rng)
    levels = dict(zip(participants["participant_id"],
                      np.exp(table_rng.normal(0.0, _MOTION_LEVEL_SD, len(participants)))))

    grid = load_grid(resolution_mm)
    ctx = BoldContext(grid, fwhm_mm, n_volumes, t_r, D.ALFF_BAND_HZ)
    jobs = []
    (motion_seq,) = seq.spawn(1)  # a fourth stream: the first three are unaffected
    jerks = _pick_high_motion(sessions, n_high_motion, motion_seq, n_volumes)
    for k, (row, child) in enumerate(zip(sessions.itertuples(),
                                         session_seq.spawn(len(sessions)))):
        jobs.append({"participant_id": row.participant_id, "session_id": row.session_id,
                     "seed": child, "motion_level": float(levels[row.participant_id]),
                     "high_motion": jerks.get(k),
                     "paths": _paths(row.participant_id, row.session_id, resolution_mm)})
    effect_rng = np.random.default_rng(effect_seq)
    if design == "rtms_alff_clbp":
        truth_effects, planted = alff_plan(grid, sessions, pain, effect_rng, effect_scale, jobs)
        truth_effects = {"alff": truth_effects}
        planted_key = ["participant_id", "session_id"]
    elif design == T.DESIGN:
        alff_truth, planted, maps = T.alff_plan(grid, participants, sessions, effect_rng,
                                                effect_scale, jobs)
        truth_effects = {"alff": alff_truth, "clinical": T.clinical_truth(
            effect_scale, dropped, len(sessions), len(participants), dropout)}
        planted_key = ["participant_id", "session_id"]
        sim_dir = root / "derivatives" / "painmarkers-simulation"
        for name, key in (("interaction", "interaction_post"), ("time", "time")):
            write_nifti(sim_dir / f"planted_alff_{key}.nii.gz", maps[name], grid.index,
                        grid.shape, grid.affine)
    else:
        truth_effects, planted = qsm_plan(grid, participants, pain, effect_rng, effect_scale,
                                           fwhm_mm, jobs)
        planted_key = ["participant_id"]
        truth_effects["region_masks"] = _write_region_masks(root, grid)

    _write_tables(root, design, participants, sessions, pain, t_r)
    results = _run_jobs(root, jobs, ctx, grid, n_jobs, progress)

    qc = pd.DataFrame(results)
    table = sessions.merge(qc, on=["participant_id", "session_id"], how="left")
    for kind in ("bold", "mask", "confounds", "qsm"):
        table[kind] = [job["paths"][kind].as_posix()
                       if kind != "qsm" or "qsm_mean" in job else None for job in jobs]
    planted = sessions.merge(planted.drop(columns="group"), on=planted_key, how="left")
    planted = planted.merge(qc, on=["participant_id", "session_id"], how="left")
    sim_dir = root / "derivatives" / "painmarkers-simulation"
    write_tsv(sim_dir / "planted_effects.tsv", planted, float_format="%.8g")

    group_sizes = ({"n_per_arm": sizes[T.ARMS[0]], "dropout": dropout} if design == T.DESIGN
                   else {"n_clbp": sizes["CLBP"], "n_hc": sizes["HC"]})
    parameters = {"design": design, "resolution_mm": resolution_mm, "n_volumes": n_volumes,
                  "t_r": t_r, "fwhm_mm": fwhm_mm, **group_sizes,
                  "effect_scale": effect_scale, "n_high_motion": n_high_motion,
                  "random_state": (int(random_state) if isinstance(random_state, int | np.integer)
                                   and not isinstance(random_state, bool) else None),
                  "seed_entropy": str(entropy)}
    truth = {
        "status": "complete", "design": design,
        "generator": _GENERATOR,
        "painmarkers_version": _version(),
        "seed_study": load_seed_study("rtms_alff_clbp" if design == T.DESIGN
                                      else design)["source"],
        "parameters": parameters,
        "seeding": "numpy SeedSequence(seed_entropy).spawn(3) -> tables, subject-level "
                   "effects, sessions (one child per session in planted_effects.tsv order); "
                   "a fourth child picks the high-motion sessions",
        "groups": sizes, "sessions": {g: [f"ses-{s}" for s in v]
                                      for g, v in D.SESSIONS[design].items()},
        "files": {k: v.as_posix().replace("sub-XX", "<sub>").replace("ses-YY", "<ses>")
                  for k, v in _paths("sub-XX", "ses-YY", resolution_mm).items()
                  if k != "qsm" or design == "qsm_fc_clbp"},
        "bold": {"t_r": t_r, "n_volumes": n_volumes, "space": SPACE,
                 "resolution_mm": resolution_mm, "fwhm_mm": fwhm_mm,
                 "spectrum": "0.5 * 1/f + 0.5 * AR(1) with coefficient 0.3; linear and "
                             "quadratic drift; global signal; motion dips",
                 "percent_signal_per_noise_sd": 1.0},
        "assumptions": T.ASSUMPTIONS if design == T.DESIGN else _assumptions(design),
        "high_motion_sessions": [
            {"participant_id": jobs[k]["participant_id"], "session_id": jobs[k]["session_id"],
             "displacement_mm": draw["mm"], "axis": ["trans_x", "trans_y", "trans_z"][
                 draw["axis"]], "from_volume": draw["volume"],
             "max_translation_mm": float(qc.loc[k, "max_translation_mm"])}
            for k, draw in jerks.items()],
        **truth_effects,
    }
    write_json(root / MARKER, truth)
    return SimulatedDataset(root=root, derivatives=root / "derivatives" / "fmriprep",
                            design=design, ground_truth=json.loads(json.dumps(truth)),
                            sessions=table, parameters=parameters)


def _write_region_masks(root: Path, grid: Grid) -> dict[str, str]:
    """Write the planted regions of the QSM/FC design as masks on the simulation grid.

    ``derivatives/painmarkers-simulation/rois/<region>.nii.gz`` (uint8, 1 inside), for
    every QSM region and FC target: the regions where the effects were planted, and the
    only definition of the two that are not atlas labels (the posterior precentral
    gyri). Returns region -> path relative to ``root``.
    """
    from painmarkers.datasets._qsm import region_masks

    masks, _ = region_masks(grid)
    out = {}
    for roi, inside in masks.items():
        rel = Path("derivatives", "painmarkers-simulation", "rois", f"{roi}.nii.gz")
        write_nifti(root / rel, inside.astype(np.uint8), grid.index, grid.shape, grid.affine,
                    dtype=np.uint8, descrip=f"painmarkers simulation region {roi}")
        out[roi] = rel.as_posix()
    return out


def _assumptions(design: str) -> list[str]:
    """What the simulation assumes beyond the seed paper's published figures."""
    common = ["Acquisition sidecar (TE, flip angle, scanner) and TR follow the first seed "
              "study for both designs.",
              "Raw images are not written; only fMRIPrep-style derivatives."]
    common.append("Planted effects sit in grey matter: they are weighted by the MNI152 "
                  "grey-matter probability (full weight from 0.5 up).")
    if design == "rtms_alff_clbp":
        return [*common, "ALFF effect sizes are chosen for recovery at the seed's n, not "
                "estimated from the paper (it reports one-sample t maps)."]
    return [*common,
            "Demographics are not in the stored abstract: both groups age 45 +/- 11, 55 % "
            "female, BMI 24-24.5 +/- 3.5; patients' pain duration as in the first study.",
            "Pain scores are not in the stored abstract: patients' VAS and RMDQ follow the "
            "first study's pre-treatment distributions.",
            "QSM between-subject SD (0.010 ppm), QSM voxel noise (0.006 ppm, smoothed like "
            "the BOLD) and FC loadings are assumptions; QSM effect sizes are the seed's t "
            "converted to Cohen's d.",
            "The posterior precentral gyrus is not an atlas region: the simulation uses the "
            "posterior half (MNI y below the median) of AAL Precentral on the grid; its "
            "masks are in derivatives/painmarkers-simulation/rois/.",
            "The FC-iron correlation (seed r = 0.444) is planted for the measured values, "
            "with an FC reliability measured on simulated data; only VAS is tied to iron "
            "(RMDQ is independent of it)."]


def _run_jobs(root: Path, jobs: list[dict], ctx: BoldContext, grid: Grid,
              n_jobs: int | None, progress: bool) -> list[dict]:
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    umask = current_umask()
    tasks = (delayed(_session_job)(root, job, ctx, grid, umask) for job in jobs)
    if n_jobs in (None, 1):
        iterator = (_session_job(root, job, ctx, grid, umask) for job in jobs)
    else:
        iterator = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    bar = tqdm(iterator, total=len(jobs), desc="simulating sessions", unit="session",
               disable=not progress)
    return list(bar)
