"""The ``rtms_sham_trial`` design: a sham-controlled rTMS trial with three visits and dropout.

Patients with chronic low back pain are randomised (permuted blocks of four) to active
or sham rTMS and seen before treatment (``pre``), after the two-week course (``post``)
and four weeks later (``followup``). After each visit a patient leaves the trial with
probability ``dropout`` (monotone, completely at random), so a visit once missed is
never attended again. Every number that shapes the data is set here and copied into the
ground truth:

* clinical scores (VAS 0-10, RMDQ 0-24, ODI 0-100 %): random intercept per patient plus
  residual noise; both arms improve a little (placebo response, :data:`CLINICAL`
  ``time``) and, in VAS and RMDQ, the active arm improves more (the planted arm x visit
  interaction, ``did``: the difference in change from ``pre``, active - sham); ODI has
  no interaction (a clinical null for the interaction test);
* ALFF: a natural-log gain of the 0.01-0.08 Hz amplitude made of a smooth subject field
  everywhere (stable across visits: between-subject variance at every voxel) plus
  Gaussian blobs (FWHM :data:`EFFECT_FWHM_MM`) at named ROIs: an arm x visit interaction
  in :data:`ALFF_DID` (the active arm changes, the sham arm does not), a change common to
  both arms in :data:`ALFF_TIME` (no interaction: a null ROI for the interaction test
  with a true visit effect), and nothing at all anywhere else (in particular the
  :data:`NULL_ROIS`).

Like :mod:`painmarkers.datasets._effects`, everything here runs once in the calling
process before the sessions are simulated, and no step calls BLAS, so the files do not
depend on ``n_jobs``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from painmarkers.datasets import _designs as D
from painmarkers.datasets._bold import TRUNCATE, _kernel_norm
from painmarkers.datasets._effects import _gaussian_profiles
from painmarkers.datasets._grid import Grid, fwhm_to_sigma
from painmarkers.datasets.reference import load_seed_study

__all__ = ["DESIGN", "alff_plan", "draw_participants", "draw_scores", "sessions_table"]

DESIGN = "rtms_sham_trial"
ARMS = ("active", "sham")
VISITS = ("pre", "post", "followup")
N_PER_ARM = 20
#: Probability of leaving the trial after each visit (monotone dropout at random): the
#: expected fraction of missing visits is ``(h + 1 - (1 - h)**2) / 3`` (0.187 at 0.2).
DROPOUT = 0.2
#: Default BOLD smoothness. ALFF, an amplitude, is rougher than the BOLD it is computed
#: from (FWHM about 0.75 of it here): 12 mm BOLD gives ALFF maps of about 9 mm (2.25 voxels
#: at 4 mm), the smoothness of ALFF maps smoothed after their computation as in DPABI.
FWHM_MM = 12.0
#: Days since ``pre``: a two-week course of ten sessions, ``post`` 2-4 days after its end,
#: ``followup`` four weeks after ``post``.
VISIT_DAYS = {"pre": (0, 0), "post": (16, 18), "followup": (44, 46)}
BLOCK = 4  # permuted-block randomisation

#: Clinical model per instrument column: ``score = pre_mean + u + time[v] + did[v]*active + e``
#: with ``u ~ N(0, subject_sd)`` per patient and ``e ~ N(0, residual_sd)`` per visit, then
#: rounded to the instrument's step and clipped to its range. ``pre_mean`` follows the
#: seed's Table 2; ``time`` is the placebo response of both arms; ``did`` the planted
#: (active - sham) difference of the changes from ``pre``.
CLINICAL = {
    "vas": {"instrument": "VAS", "pre_mean": 7.25, "subject_sd": 0.8, "residual_sd": 0.6,
            "time": {"post": -0.8, "followup": -0.5}, "did": {"post": -1.8, "followup": -1.2},
            "low": 0.0, "high": 10.0, "step": 0.1},
    "rmdq": {"instrument": "RMDQ", "pre_mean": 15.58, "subject_sd": 3.0, "residual_sd": 1.6,
             "time": {"post": -1.0, "followup": -0.5}, "did": {"post": -3.0, "followup": -2.0},
             "low": 0.0, "high": 24.0, "step": 1.0},
    "odi": {"instrument": "ODI", "pre_mean": 38.0, "subject_sd": 10.0, "residual_sd": 5.0,
            "time": {"post": -4.0, "followup": -2.0}, "did": {"post": 0.0, "followup": 0.0},
            "low": 0.0, "high": 100.0, "step": 2.0},
}
#: The ODI column of phenotype/pain.json.
ODI_JSON = {"LongName": "Oswestry Disability Index",
            "Description": "Percent of the maximum score (0-100, steps of 2).", "Units": "%",
            "MinValue": 0, "MaxValue": 100}

#: Planted arm x visit interaction on the log ALFF gain: the change from ``pre`` of the
#: active arm (the sham arm does not change there), at ``post``; ``followup`` keeps
#: :data:`FOLLOWUP_FRACTION` of it.
ALFF_DID = {"INS_L": -0.35, "INS_R": -0.35, "mPFC": 0.35}
#: Change from ``pre`` common to both arms (no interaction), at ``post`` and ``followup``.
ALFF_TIME = {"THA_L": -0.25, "THA_R": -0.25}
FOLLOWUP_FRACTION = 0.5
#: ROIs where nothing is planted (besides the subject field present everywhere).
NULL_ROIS = ("SMA_L", "SMA_R", "PC_L", "PC_R", "CAL_L", "STG_R", "CER_L")
EFFECT_FWHM_MM = 12.0
SUBJECT_SD = 0.10        # SD of the subject field (log gain), stable across visits
SUBJECT_FWHM_MM = 12.0   # its spatial smoothness


def visit_weight(visit: str) -> float:
    """Fraction of the ``post`` interaction present at a visit (0 at ``pre``)."""
    return {"pre": 0.0, "post": 1.0, "followup": FOLLOWUP_FRACTION}[visit]


def check_sizes(n_per_arm: int) -> dict[str, int]:
    return dict.fromkeys(ARMS, int(n_per_arm))


def draw_participants(sizes: dict[str, int], rng: np.random.Generator) -> pd.DataFrame:
    """participants.tsv: ids, arm (``group``), age, sex, bmi, pain_duration_years.

    Arms are assigned by permuted blocks of four (the last block truncated when the arm
    sizes differ); every patient's demographics follow the seed's CLBP row of Table 1
    (as :func:`painmarkers.datasets._designs.draw_participants`), sex counts exact per arm.
    """
    stats = load_seed_study("rtms_alff_clbp")["table1_demographics"]["CLBP"]
    left = dict(sizes)
    arms: list[str] = []
    while any(left.values()):
        block = [a for a in ARMS for _ in range(min(BLOCK // len(ARMS), left[a]))]
        block = [block[i] for i in rng.permutation(len(block))]
        for a in block:
            left[a] -= 1
        arms += block
    arms_arr = np.array(arms)
    n = len(arms)
    age = np.clip(rng.normal(stats["age_mean"], stats["age_sd"], n), 18, 75).round()
    bmi = np.clip(rng.normal(stats["bmi_mean"], stats["bmi_sd"], n), 16, 45).round(1)
    sex = np.empty(n, dtype=object)
    for a in ARMS:
        idx = np.flatnonzero(arms_arr == a)
        n_female = round(idx.size * stats["female_pct"] / 100.0)
        sex[idx] = np.array(["F"] * n_female + ["M"] * (idx.size - n_female))[
            rng.permutation(idx.size)]
    mean, sd = stats["pain_duration_years_mean"], stats["pain_duration_years_sd"]
    duration = np.maximum(rng.gamma((mean / sd) ** 2, sd**2 / mean, n), 0.25).round(2)
    width = max(2, len(str(n)))
    return pd.DataFrame({
        "participant_id": [f"sub-{i + 1:0{width}d}" for i in range(n)],
        "group": arms_arr, "age": age.astype(int), "sex": sex.astype(str),
        "bmi": bmi.astype(float), "pain_duration_years": duration.astype(float)})


def sessions_table(participants: pd.DataFrame, rng: np.random.Generator, dropout: float
                   ) -> tuple[pd.DataFrame, list[dict]]:
    """Attended visits (``participant_id, group, session_id, delay_days``) and the dropouts.

    After each attended visit but the last a patient leaves with probability ``dropout``.
    Returns the table of attended visits and one record per patient who left
    (``participant_id``, ``group``, ``last_visit``, ``missing``).
    """
    rows, dropped = [], []
    for pid, arm in zip(participants["participant_id"], participants["group"]):
        leave = rng.random(len(VISITS) - 1) < dropout
        n_attended = len(VISITS)
        for k, gone in enumerate(leave):
            if gone:
                n_attended = k + 1
                break
        days = [int(rng.integers(lo, hi + 1)) for lo, hi in VISIT_DAYS.values()]
        for k in range(n_attended):
            rows.append({"participant_id": pid, "group": arm,
                         "session_id": f"ses-{VISITS[k]}", "delay_days": days[k]})
        if n_attended < len(VISITS):
            dropped.append({"participant_id": pid, "group": arm,
                            "last_visit": f"ses-{VISITS[n_attended - 1]}",
                            "missing": [f"ses-{v}" for v in VISITS[n_attended:]]})
    return pd.DataFrame(rows), dropped


def draw_scores(participants: pd.DataFrame, sessions: pd.DataFrame, rng: np.random.Generator,
                effect_scale: float) -> pd.DataFrame:
    """phenotype/pain.tsv: VAS, RMDQ and ODI at every attended visit (see :data:`CLINICAL`).

    Scores are drawn for all three visits of every patient (so the stream of random
    numbers does not depend on the dropout) and the attended ones kept.
    """
    n = len(participants)
    active = (participants["group"] == "active").to_numpy()
    values = {}
    for col, m in CLINICAL.items():
        u = rng.normal(0.0, m["subject_sd"], n)
        e = rng.normal(0.0, m["residual_sd"], (n, len(VISITS)))
        score = np.empty((n, len(VISITS)))
        for k, visit in enumerate(VISITS):
            shift = m["time"].get(visit, 0.0) + m["did"].get(visit, 0.0) * active
            score[:, k] = m["pre_mean"] + u + effect_scale * shift + e[:, k]
        score = np.clip(np.round(score / m["step"]) * m["step"], m["low"], m["high"])
        values[col] = score
    index = {pid: i for i, pid in enumerate(participants["participant_id"])}
    rows = []
    for row in sessions.itertuples():
        i, k = index[row.participant_id], VISITS.index(row.session_id[4:])
        rows.append({"participant_id": row.participant_id, "session_id": row.session_id,
                     "vas": round(float(values["vas"][i, k]), 1),
                     "rmdq": int(values["rmdq"][i, k]), "odi": int(values["odi"][i, k])})
    return pd.DataFrame(rows, columns=["participant_id", "session_id", "vas", "rmdq", "odi"])


def _subject_field(grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """A unit-variance Gaussian field of smoothness SUBJECT_FWHM_MM at the mask voxels."""
    sigma = fwhm_to_sigma(SUBJECT_FWHM_MM) / grid.resolution_mm
    noise = rng.standard_normal(grid.shape)
    ndimage.gaussian_filter(noise, sigma, output=noise, mode="constant", truncate=TRUNCATE)
    return noise[grid.mask] / _kernel_norm(sigma)


def planted_maps(grid: Grid, effect_scale: float) -> dict[str, np.ndarray]:
    """Planted fixed log gains at the mask voxels: ``interaction`` (active arm at ``post``)
    and ``time`` (both arms, ``post`` and ``followup``); zero beyond the blobs."""
    out = {}
    for name, table in (("interaction", ALFF_DID), ("time", ALFF_TIME)):
        centres = {r: D.alff_rois()[r] for r in table}
        profiles = _gaussian_profiles(grid, centres, EFFECT_FWHM_MM)
        weight = np.maximum(profiles.sum(axis=0), 1.0)
        total = np.zeros(grid.n_voxels)
        for roi, profile in zip(table, profiles):  # element-wise, no BLAS
            total += effect_scale * table[roi] * profile
        out[name] = total / weight
    return out


def alff_plan(grid: Grid, participants: pd.DataFrame, sessions: pd.DataFrame,
              rng: np.random.Generator, effect_scale: float, jobs: list[dict]
              ) -> tuple[dict, pd.DataFrame, dict[str, np.ndarray]]:
    """Set ``job["log_gain"]`` of every session; return the ground truth, the planted table
    (one row per session, ``alff_log_gain__<roi>`` at the voxel nearest each ROI centre)
    and the planted maps (for the ground-truth images)."""
    centres = D.alff_rois()
    maps = planted_maps(grid, effect_scale)
    nearest = {roi: grid.nearest_voxel(c) for roi, c in centres.items()}
    fields = {pid: SUBJECT_SD * _subject_field(grid, rng)
              for pid in participants["participant_id"]}
    rows = []
    for job, row in zip(jobs, sessions.itertuples()):
        visit = row.session_id[4:]
        gain = fields[row.participant_id].copy()
        if row.group == "active":
            gain += visit_weight(visit) * maps["interaction"]
        if visit != "pre":
            gain += maps["time"]
        job["log_gain"] = gain.astype(np.float32)
        rows.append({"participant_id": row.participant_id, "session_id": row.session_id,
                     "group": row.group,
                     **{f"alff_log_gain__{r}": float(gain[v]) for r, v in nearest.items()}})
    roi_info = {}
    for roi, centre in centres.items():
        v = nearest[roi]
        roi_info[roi] = {"center_mni": list(centre),
                         "nearest_voxel_mni": grid.coords[v].tolist(),
                         "planted_interaction_post": float(maps["interaction"][v]),
                         "planted_time": float(maps["time"][v])}
    effects = []
    for roi in centres:
        did = effect_scale * ALFF_DID.get(roi, 0.0)
        time = effect_scale * ALFF_TIME.get(roi, 0.0)
        for visit in VISITS[1:]:
            w = visit_weight(visit)
            effects.append({"roi": roi, "contrast": f"(active - sham): {visit} - pre",
                            "kind": "difference of changes", "log_ratio": did * w,
                            "ratio": float(np.exp(did * w)),
                            "direction": _direction(did * w)})
            effects.append({"roi": roi, "contrast": f"{visit} - pre (both arms)",
                            "kind": "common change", "log_ratio": time,
                            "ratio": float(np.exp(time)), "direction": _direction(time)})
    truth = {
        "feature": "alff", "band_hz": list(D.ALFF_BAND_HZ),
        "model": "ALFF multiplied by exp(log_gain) in the band; log_gain = subject field + "
                 "interaction map * weight(visit) * active + time map * (visit != pre)",
        "visit_weights": {v: visit_weight(v) for v in VISITS},
        "profile": {"shape": "gaussian", "fwhm_mm": EFFECT_FWHM_MM,
                    "cut": "values below 1e-3 of the peak set to 0",
                    "overlap": "profiles of overlapping ROIs are averaged"},
        "subject_field": {"sd_log_gain": SUBJECT_SD, "fwhm_mm": SUBJECT_FWHM_MM,
                          "note": "one smooth Gaussian field per patient, the same at "
                                  "every visit, everywhere in the brain"},
        "rois": roi_info, "effects": effects,
        "interaction_rois": list(ALFF_DID), "time_rois": list(ALFF_TIME),
        "null_rois": list(NULL_ROIS),
        "null_by_contrast": {
            "arm x visit": [r for r in centres if r not in ALFF_DID],
            "visit": [r for r in centres if r not in ALFF_DID and r not in ALFF_TIME],
        },
        "maps": {"interaction_post": "derivatives/painmarkers-simulation/"
                                     "planted_alff_interaction_post.nii.gz",
                 "time": "derivatives/painmarkers-simulation/planted_alff_time.nii.gz",
                 "units": "natural log of the ALFF ratio"},
    }
    return truth, pd.DataFrame(rows), maps


def _direction(value: float) -> str:
    return "none" if value == 0 else ("increase" if value > 0 else "decrease")


def clinical_truth(effect_scale: float, dropped: list[dict], n_sessions: int,
                   n_participants: int, dropout: float) -> dict:
    """The clinical model and the dropout, for ``ground_truth.json``."""
    return {
        "model": "score = pre_mean + u + time[visit] + did[visit] * active + e, rounded to "
                 "the instrument's step and clipped to its range (planted values are before "
                 "rounding and clipping)",
        "instruments": {col: {**{k: v for k, v in m.items() if k not in ("time", "did")},
                              "time": {v: effect_scale * x for v, x in m["time"].items()},
                              "did": {v: effect_scale * x for v, x in m["did"].items()}}
                        for col, m in CLINICAL.items()},
        "effects": [{"instrument": m["instrument"], "contrast": f"(active - sham): {v} - pre",
                     "kind": "difference of changes", "value": effect_scale * x}
                    for m in CLINICAL.values() for v, x in m["did"].items()],
        "null_instruments": [m["instrument"] for m in CLINICAL.values()
                             if not any(m["did"].values())],
        "dropout": {"model": "monotone, completely at random: after each visit but the last "
                             "a patient leaves with probability 'hazard'",
                    "hazard": dropout,
                    "expected_missing_fraction": (dropout + 1 - (1 - dropout) ** 2) / 3,
                    "missing_fraction": 1 - n_sessions / (len(VISITS) * n_participants),
                    "n_dropped": len(dropped), "participants": dropped},
    }


ASSUMPTIONS = [
    "Acquisition sidecar (TE, flip angle, scanner) and TR follow the first seed study.",
    "Raw images are not written; only fMRIPrep-style derivatives.",
    "A hypothetical sham-controlled trial: arms, visits, dropout and every effect size are "
    "assumptions (chosen for recovery at 20 patients per arm), not published figures; the "
    "pre-treatment VAS/RMDQ means and the demographics follow the first seed study.",
]

PARTICIPANTS_GROUP = {"Description": "Randomised arm.",
                      "Levels": {"active": "active 20 Hz M1 rTMS", "sham": "sham rTMS"}}
SESSIONS_DESCRIPTION = ("Visit: pre (before rTMS), post (2-4 days after the two-week course), "
                        "followup (four weeks after post); a patient who left the trial has "
                        "no later visit.")
