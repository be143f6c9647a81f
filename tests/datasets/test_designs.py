"""Tables and planted subject-level effects, checked at large n against the seed's figures.

The private draw functions are called directly with thousands of subjects (no images),
so means and correlations can be compared with the published values within a few
standard errors computed here.
"""

import numpy as np
import pandas as pd
import pytest

from painmarkers.datasets import _designs as D
from painmarkers.datasets import load_seed_study

N = 4000


@pytest.fixture(scope="module")
def big_rtms():
    rng = np.random.default_rng(2024)
    participants = D.draw_participants("rtms_alff_clbp", {"CLBP": N, "HC": N}, rng)
    sessions = D.sessions_table("rtms_alff_clbp", participants, rng)
    pain = D.draw_pain("rtms_alff_clbp", participants, rng)
    return participants, sessions, pain


def test_demographics_follow_table1(big_rtms):
    participants, _, _ = big_rtms
    table = load_seed_study("rtms_alff_clbp")["table1_demographics"]
    for group in ("CLBP", "HC"):
        sub = participants[participants.group == group]
        ref = table[group]
        # clipping (18-75 years, 16-45 kg/m2) moves the mean by far less than 0.3
        np.testing.assert_allclose(sub.age.mean(), ref["age_mean"], rtol=0, atol=0.5)
        np.testing.assert_allclose(sub.age.std(), ref["age_sd"], rtol=0.05)
        np.testing.assert_allclose(sub.bmi.mean(), ref["bmi_mean"], rtol=0, atol=0.3)
        np.testing.assert_allclose((sub.sex == "F").mean() * 100, ref["female_pct"], atol=0.05)
    clbp = participants[participants.group == "CLBP"]
    ref = table["CLBP"]
    # gamma with the table's mean and SD; flooring at 0.25 year raises the mean slightly
    np.testing.assert_allclose(clbp.pain_duration_years.mean(),
                               ref["pain_duration_years_mean"], rtol=0.05)
    np.testing.assert_allclose(clbp.pain_duration_years.std(),
                               ref["pain_duration_years_sd"], rtol=0.08)
    assert clbp.pain_duration_years.min() >= 0.25
    assert participants.age.between(18, 75).all()


def test_female_counts_are_exact_for_seed_sizes():
    rng = np.random.default_rng(0)
    participants = D.draw_participants("rtms_alff_clbp", {"CLBP": 15, "HC": 10}, rng)
    counts = participants.groupby("group")["sex"].apply(lambda s: (s == "F").sum())
    assert counts["CLBP"] == round(15 * 0.54) and counts["HC"] == 6
    assert participants.participant_id.is_unique


def test_clinical_scores_follow_table2(big_rtms):
    _, _, pain = big_rtms
    table = load_seed_study("rtms_alff_clbp")["table2_clinical"]
    pre = pain[pain.session_id == "ses-pre"].set_index("participant_id")
    post = pain[pain.session_id == "ses-post"].set_index("participant_id").loc[pre.index]
    vas, rm = table["VAS_0_10"], table["RMDQ_0_24"]
    se = vas["pre_sd"] / np.sqrt(N)
    np.testing.assert_allclose(pre.vas.mean(), vas["pre_mean"], rtol=0, atol=4 * se + 0.01)
    np.testing.assert_allclose(pre.vas.std(), vas["pre_sd"], rtol=0.06)
    np.testing.assert_allclose(post.vas.mean(), vas["post_mean"], rtol=0, atol=0.15)
    np.testing.assert_allclose(post.vas.std(), vas["post_sd"], rtol=0.06)
    np.testing.assert_allclose(pre.rmdq.std(), rm["pre_sd"], rtol=0.06)
    np.testing.assert_allclose(post.rmdq.std(), rm["post_sd"], rtol=0.06)
    np.testing.assert_allclose(pre.rmdq.mean(), rm["pre_mean"], rtol=0, atol=0.2)
    np.testing.assert_allclose(post.rmdq.mean(), rm["post_mean"], rtol=0, atol=0.35)
    ppr = 100 * (pre.vas - post.vas) / pre.vas
    np.testing.assert_allclose(ppr.mean(), vas["PPR_pct_mean"], rtol=0, atol=1.0)
    np.testing.assert_allclose(ppr.std(), vas["PPR_pct_sd"], rtol=0.1)
    pdc = 100 * (pre.rmdq - post.rmdq) / pre.rmdq
    np.testing.assert_allclose(pdc.mean(), rm["PDC_pct_mean"], rtol=0, atol=1.5)
    assert pain.vas.between(0, 10).all() and pain.rmdq.between(0, 24).all()
    assert (pain.rmdq == pain.rmdq.round()).all()
    assert (post.vas <= pre.vas).all()


def test_sessions_and_delays(big_rtms):
    _, sessions, _ = big_rtms
    post = sessions[sessions.session_id == "ses-post"]
    assert post.delay_days.between(2, 4).all()
    assert set(sessions[sessions.group == "HC"].session_id) == {"ses-baseline"}
    assert len(sessions) == 2 * N + N


def test_alff_log_gains_model(big_rtms):
    """Group and treatment contrasts and the VAS correlation of the planted log gains."""
    _, sessions, pain = big_rtms
    gains = D.alff_log_gains(sessions, pain, np.random.default_rng(9), effect_scale=1.0)
    pre = gains[gains.session_id == "ses-pre"].reset_index(drop=True)
    post = gains[gains.session_id == "ses-post"].reset_index(drop=True)
    hc = gains[gains.group == "HC"]
    se_group = np.hypot(D.ALFF_SUBJECT_SD, D.ALFF_SESSION_SD) * np.sqrt(2 / N)
    for roi in D.alff_rois():
        expected_group = D.ALFF_GROUP.get(roi, 0.0)
        # patients' VAS z-score has mean ~0 at pre (Table 2 mean), so it adds nothing
        np.testing.assert_allclose(pre[roi].mean() - hc[roi].mean(), expected_group,
                                   rtol=0, atol=5 * se_group + 0.01)
        expected_post = D.ALFF_POST.get(roi, 0.0)
        diff = post[roi] - pre[roi]
        np.testing.assert_allclose(diff.mean(), expected_post, rtol=0, atol=0.02)
    for roi in D.ALFF_NULL_ROIS:
        assert (gains[roi] == 0).all()
    vas = pain.set_index(["participant_id", "session_id"])["vas"]
    for frame in (pre, post):
        v = vas.loc[list(zip(frame.participant_id, frame.session_id))].to_numpy()
        for roi, target in D.ALFF_VAS_R.items():
            # planted gain vs VAS: r_planted; plus estimation noise (SD assumed by the
            # design) gives the advertised r. Both checked against formulas written here.
            b = target * np.sqrt(0.1**2 + 0.05**2 + 0.12**2) / np.sqrt(1 - target**2)
            r_planted = b / np.sqrt(b**2 + 0.1**2 + 0.05**2)
            r = np.corrcoef(frame[roi], v)[0, 1]
            # clipping/rounding of VAS make it slightly non-normal: 0.03 tolerance
            np.testing.assert_allclose(r, r_planted, rtol=0, atol=0.03)
            np.testing.assert_allclose(D.alff_planted_r(roi), r_planted, rtol=1e-12)
            noisy = frame[roi] + np.random.default_rng(1).normal(0, 0.12, len(frame))
            np.testing.assert_allclose(np.corrcoef(noisy, v)[0, 1], target, rtol=0, atol=0.04)
        assert abs(np.corrcoef(frame["THA_L"], v)[0, 1]) < 0.05


def test_effect_scale_scales_contrasts(big_rtms):
    _, sessions, pain = big_rtms
    small = sessions[sessions.participant_id.isin(sessions.participant_id.unique()[:50])]
    a = D.alff_log_gains(small, pain, np.random.default_rng(3), effect_scale=1.0)
    b = D.alff_log_gains(small, pain, np.random.default_rng(3), effect_scale=2.0)
    diff = b["SMA_L"] - a["SMA_L"]  # same random draws: only the scaled effects differ
    pre = (a.session_id == "ses-pre").to_numpy()
    post = (a.session_id == "ses-post").to_numpy()
    np.testing.assert_allclose(diff[pre], D.ALFF_GROUP["SMA_L"], rtol=1e-12)
    np.testing.assert_allclose(diff[post], D.ALFF_GROUP["SMA_L"] + D.ALFF_POST["SMA_L"],
                               rtol=1e-12)
    np.testing.assert_allclose(diff[(a.group == "HC").to_numpy()], 0.0, rtol=0, atol=1e-15)


def test_qsm_subject_effects_model():
    rng = np.random.default_rng(5)
    participants = D.draw_participants("qsm_fc_clbp", {"CLBP": N, "HC": N}, rng)
    pain = D.draw_pain("qsm_fc_clbp", participants, rng)
    effects = D.qsm_subject_effects(participants, pain, rng, effect_scale=1.0)
    clbp = effects[effects.group == "CLBP"]
    hc = effects[effects.group == "HC"]
    sd = D.QSM_SUBJECT_SD_PPM
    for roi in D.QSM_ROIS:
        d_expected = D.QSM_SEED_T.get(roi, 0.0) * np.sqrt(1 / 32 + 1 / 30)
        col = f"qsm__{roi}"
        d = (clbp[col].mean() - hc[col].mean()) / sd
        np.testing.assert_allclose(d, d_expected, rtol=0, atol=5 * np.sqrt(2 / N) + 0.01)
        np.testing.assert_allclose(hc[col].std(), sd, rtol=0.05)
    vas = pain.set_index("participant_id").loc[clbp.participant_id, "vas"].to_numpy()
    np.testing.assert_allclose(np.corrcoef(clbp["qsm__postcentral_L"], vas)[0, 1],
                               D.QSM_VAS_R, rtol=0, atol=0.04)
    assert abs(np.corrcoef(clbp["qsm__caudate_L"], vas)[0, 1]) < 0.05
    for name, net in D.FC_NETWORKS.items():
        col = f"fc_loading__{name}"
        np.testing.assert_allclose(clbp[col].mean() - hc[col].mean(),
                                   net["loading_clbp_shift"], rtol=0, atol=0.01)
        np.testing.assert_allclose(hc[col].std(), D.FC_LOADING_SD, rtol=0.05)
        np.testing.assert_allclose(np.corrcoef(hc[col], hc["motor_iron_z"])[0, 1],
                                   D.network_qsm_r(name), rtol=0, atol=0.04)


def test_qsm_design_has_one_session_and_matched_groups():
    rng = np.random.default_rng(1)
    participants = D.draw_participants("qsm_fc_clbp", {"CLBP": 32, "HC": 30}, rng)
    sessions = D.sessions_table("qsm_fc_clbp", participants, rng)
    assert set(sessions.session_id) == {"ses-baseline"}
    assert len(sessions) == 62
    assert isinstance(participants, pd.DataFrame)
    assert participants.participant_id.tolist()[-1] == "sub-62"
