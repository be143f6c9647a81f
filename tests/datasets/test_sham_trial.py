"""The rtms_sham_trial design: randomisation, dropout, scores and planted ALFF effects.

The private draw functions are called with thousands of patients (no images) and their
output compared with the model's closed forms within a few Monte-Carlo standard errors
computed here; the planted maps are compared with Gaussian profiles computed here; a
small simulated dataset checks the files against the ground truth.
"""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from painmarkers import Cohort
from painmarkers.datasets import _sham_trial as T
from painmarkers.datasets import list_designs, simulate_cohort
from painmarkers.datasets._designs import alff_rois
from painmarkers.datasets._grid import load_grid

N = 3000


@pytest.fixture(scope="module")
def big_trial():
    rng = np.random.default_rng(2025)
    participants = T.draw_participants(T.check_sizes(N), rng)
    sessions, dropped = T.sessions_table(participants, rng, 0.2)
    scores = T.draw_scores(participants, sessions, rng, effect_scale=1.0)
    return participants, sessions, dropped, scores


def test_design_is_listed():
    assert "rtms_sham_trial" in list_designs()


def test_permuted_blocks_balance_the_arms():
    rng = np.random.default_rng(1)
    part = T.draw_participants({"active": 10, "sham": 10}, rng)
    assert (part["group"] == "active").sum() == 10
    arms = part["group"].to_numpy()
    for start in range(0, 20, T.BLOCK):  # every block of four holds two of each arm
        assert (arms[start:start + T.BLOCK] == "active").sum() == 2
    # exact sex counts per arm (seed Table 1: 54 % women)
    for arm in T.ARMS:
        assert (part.loc[part.group == arm, "sex"] == "F").sum() == round(10 * 0.54)
    assert part["participant_id"].is_unique


def test_unequal_arms_keep_their_sizes():
    part = T.draw_participants({"active": 7, "sham": 5}, np.random.default_rng(3))
    assert part["group"].value_counts().to_dict() == {"active": 7, "sham": 5}


def test_dropout_is_monotone_and_at_the_planted_rate(big_trial):
    _, sessions, dropped, _ = big_trial
    visits = sessions.groupby("participant_id")["session_id"].apply(list)
    full = [f"ses-{v}" for v in T.VISITS]
    for attended in visits:  # always a prefix of pre, post, followup
        assert attended == full[:len(attended)]
    assert len(visits) == 2 * N  # every patient is seen at baseline
    h = 0.2
    # P(missing post) = h; P(missing followup) = 1 - (1 - h)^2
    n = 2 * N
    missing_post = 1 - (sessions.session_id == "ses-post").sum() / n
    missing_fu = 1 - (sessions.session_id == "ses-followup").sum() / n
    for observed, p in ((missing_post, h), (missing_fu, 1 - (1 - h) ** 2)):
        assert abs(observed - p) < 4 * np.sqrt(p * (1 - p) / n)
    expected = (h + 1 - (1 - h) ** 2) / 3
    assert_allclose(expected, 0.18666666666, rtol=1e-9)
    assert abs(1 - len(sessions) / (3 * n) - expected) < 0.01
    # the dropout records agree with the table
    assert len(dropped) == int((visits.map(len) < 3).sum())
    for rec in dropped[:50]:
        assert rec["last_visit"] == visits[rec["participant_id"]][-1]


def test_dropout_is_completely_at_random(big_trial):
    participants, sessions, _, scores = big_trial
    n_visits = sessions.groupby("participant_id").size()
    arm = participants.set_index("participant_id")["group"]
    rate = (n_visits < 3).groupby(arm).mean()
    p = 1 - 0.8**2
    se = np.sqrt(2 * p * (1 - p) / N)
    assert abs(rate["active"] - rate["sham"]) < 4 * se
    vas_pre = scores[scores.session_id == "ses-pre"].set_index("participant_id")["vas"]
    r = np.corrcoef(vas_pre.loc[n_visits.index], (n_visits < 3).astype(float))[0, 1]
    assert abs(r) < 4 / np.sqrt(2 * N)


@pytest.mark.parametrize("col", ["vas", "rmdq", "odi"])
def test_scores_follow_the_planted_model(big_trial, col):
    participants, _, _, scores = big_trial
    m = T.CLINICAL[col]
    data = scores.merge(participants[["participant_id", "group"]], on="participant_id")
    means = data.groupby(["group", "session_id"])[col].mean()
    sd_total = np.hypot(m["subject_sd"], m["residual_sd"])
    for arm in T.ARMS:
        for visit in T.VISITS:
            expected = (m["pre_mean"] + m["time"].get(visit, 0.0)
                        + (arm == "active") * m["did"].get(visit, 0.0))
            n = ((data.group == arm) & (data.session_id == f"ses-{visit}")).sum()
            # rounding to the step adds at most step/2 of bias; clipping is negligible here
            tol = 4 * sd_total / np.sqrt(n) + m["step"] / 2
            assert abs(means[(arm, f"ses-{visit}")] - expected) < tol, (arm, visit)
    # the difference in differences among completers (paired changes remove u)
    wide = data.pivot(index="participant_id", columns="session_id", values=col).dropna()
    arm = participants.set_index("participant_id").loc[wide.index, "group"]
    change = wide["ses-post"] - wide["ses-pre"]
    did = change[arm == "active"].mean() - change[arm == "sham"].mean()
    se = m["residual_sd"] * np.sqrt(2) * np.sqrt(1 / (arm == "active").sum()
                                                 + 1 / (arm == "sham").sum())
    assert abs(did - m["did"]["post"]) < 4 * se + m["step"]
    # within-subject correlation of pre and post = subject variance / total variance
    pre_post = data[data.group == "sham"].pivot(index="participant_id", columns="session_id",
                                                values=col).dropna()
    r = np.corrcoef(pre_post["ses-pre"], pre_post["ses-post"])[0, 1]
    icc = m["subject_sd"] ** 2 / sd_total**2
    assert abs(r - icc) < 0.1
    assert data[col].between(m["low"], m["high"]).all()


def test_effect_scale_zero_removes_every_planted_change():
    rng = np.random.default_rng(5)
    part = T.draw_participants(T.check_sizes(N), rng)
    sessions, _ = T.sessions_table(part, rng, 0.0)
    scores = T.draw_scores(part, sessions, rng, effect_scale=0.0)
    data = scores.merge(part[["participant_id", "group"]], on="participant_id")
    for col, m in T.CLINICAL.items():
        sd = np.hypot(m["subject_sd"], m["residual_sd"]) / np.sqrt(N)
        means = data.groupby(["group", "session_id"])[col].mean()
        assert (abs(means - m["pre_mean"]) < 4 * sd + m["step"]).all(), col


def test_planted_maps_are_gaussian_blobs_and_zero_at_null_rois():
    grid = load_grid(4)
    maps = T.planted_maps(grid, effect_scale=1.0)
    centres = alff_rois()
    sigma = T.EFFECT_FWHM_MM / np.sqrt(8 * np.log(2))
    for name, table in (("interaction", T.ALFF_DID), ("time", T.ALFF_TIME)):
        expected = np.zeros(grid.n_voxels)
        weight = np.zeros(grid.n_voxels)
        for roi, value in table.items():
            d2 = ((grid.coords - np.asarray(centres[roi])) ** 2).sum(axis=1)
            prof = np.exp(-d2 / (2 * sigma**2))
            prof[prof < 1e-3] = 0.0
            expected += value * prof
            weight += prof
        assert_allclose(maps[name], expected / np.maximum(weight, 1.0), rtol=1e-12, atol=0)
    for roi in T.NULL_ROIS:  # nothing planted within 19 mm of a null ROI
        near = ((grid.coords - np.asarray(centres[roi])) ** 2).sum(axis=1) < 19.0**2
        assert not maps["interaction"][near].any() and not maps["time"][near].any(), roi
    assert set(T.ALFF_DID).isdisjoint(T.NULL_ROIS) and set(T.ALFF_TIME).isdisjoint(T.NULL_ROIS)
    assert_allclose(T.planted_maps(grid, 0.5)["interaction"], 0.5 * maps["interaction"],
                    rtol=1e-12)


def test_arguments_of_other_designs_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"'n_clbp'.*'n_per_arm'"):
        simulate_cohort("rtms_sham_trial", tmp_path / "a", n_clbp=4)
    with pytest.raises(ValueError, match="'dropout' parameter applies only"):
        simulate_cohort("rtms_alff_clbp", tmp_path / "b", dropout=0.1)
    with pytest.raises(ValueError, match="'n_per_arm'"):
        simulate_cohort("qsm_fc_clbp", tmp_path / "c", n_per_arm=4)
    with pytest.raises(ValueError, match="dropout"):
        simulate_cohort("rtms_sham_trial", tmp_path / "d", dropout=1.0)
    with pytest.raises(ValueError, match="n_per_arm"):
        simulate_cohort("rtms_sham_trial", tmp_path / "e", n_per_arm=1)
    assert not any(tmp_path.iterdir())  # nothing written


# -- a small dataset ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("trial") / "bids"
    return simulate_cohort("rtms_sham_trial", out, resolution_mm=8, n_volumes=64,
                           n_per_arm=4, dropout=0.3, random_state=3)


def test_files_and_sessions_agree_with_the_ground_truth(small):
    truth = small.ground_truth
    drop = truth["clinical"]["dropout"]
    assert drop["hazard"] == 0.3 and truth["parameters"]["n_per_arm"] == 4
    assert truth["parameters"]["fwhm_mm"] == T.FWHM_MM  # the design's default smoothness
    attended = small.sessions.groupby("participant_id")["session_id"].apply(list)
    for rec in drop["participants"]:
        assert attended[rec["participant_id"]][-1] == rec["last_visit"]
        assert not set(rec["missing"]) & set(attended[rec["participant_id"]])
    assert drop["missing_fraction"] == pytest.approx(1 - len(small.sessions) / 24)
    for path in small.sessions["bold"]:
        assert (small.root / path).is_file()
    pain = pd.read_csv(small.root / "phenotype" / "pain.tsv", sep="\t")
    assert list(pain.columns) == ["participant_id", "session_id", "vas", "rmdq", "odi"]
    assert len(pain) == len(small.sessions)
    participants = pd.read_csv(small.root / "participants.tsv", sep="\t")
    assert set(participants["group"]) == {"active", "sham"}
    meta = json.loads((small.root / "participants.json").read_text())
    assert set(meta["group"]["Levels"]) == {"active", "sham"}
    assert truth["clinical"]["null_instruments"] == ["ODI"]


def test_cohort_reads_arms_visits_and_scores(small):
    cohort = Cohort.from_bids(small.root)
    wide = cohort.wide()
    assert set(cohort.groups) == {"active", "sham"}
    assert {"VAS", "RMDQ", "ODI"} <= set(wide.columns)
    assert len(wide) == len(small.sessions)
    first = wide.groupby("subject_id")["session"].apply(list)
    assert all(v[0] == "pre" for v in first)


def test_planted_table_and_maps_match_the_model(small):
    planted = pd.read_csv(small.root / "derivatives" / "painmarkers-simulation"
                          / "planted_effects.tsv", sep="\t")
    grid = load_grid(8)
    maps = T.planted_maps(grid, 1.0)
    rois = small.ground_truth["alff"]["rois"]
    for roi, info in rois.items():
        v = grid.nearest_voxel(info["center_mni"])
        assert info["planted_interaction_post"] == pytest.approx(maps["interaction"][v],
                                                                 rel=1e-12, abs=0)
        col = f"alff_log_gain__{roi}"
        for (pid, arm), rows in planted.groupby(["participant_id", "group"]):
            gain = rows.set_index("session_id")[col]
            base = gain["ses-pre"]
            for ses, value in gain.items():
                visit = ses[4:]
                expected = (base + (arm == "active") * T.visit_weight(visit)
                            * maps["interaction"][v] + (visit != "pre") * maps["time"][v])
                # the TSV keeps 8 significant digits (%.8g)
                assert value == pytest.approx(expected, rel=1e-7, abs=1e-8), (roi, pid, ses)
    for name, key in (("interaction", "interaction_post"), ("time", "time")):
        img = nib.load(small.root / "derivatives" / "painmarkers-simulation"
                       / f"planted_alff_{key}.nii.gz")
        assert_allclose(np.asarray(img.dataobj)[grid.mask], maps[name], rtol=1e-6, atol=1e-7)
        assert_array_equal(img.affine, grid.affine)


def test_same_seed_same_tables(small, tmp_path):
    again = simulate_cohort("rtms_sham_trial", tmp_path / "bids", resolution_mm=8,
                            n_volumes=64, n_per_arm=4, dropout=0.3, random_state=3)
    for rel in ("participants.tsv", "phenotype/pain.tsv",
                "derivatives/painmarkers-simulation/planted_effects.tsv"):
        assert (again.root / rel).read_bytes() == (small.root / rel).read_bytes()


def test_same_bytes_whatever_n_jobs(small, tmp_path):
    import hashlib

    def digest(root):
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    parallel = simulate_cohort("rtms_sham_trial", tmp_path / "bids", resolution_mm=8,
                               n_volumes=64, n_per_arm=4, dropout=0.3, random_state=3,
                               n_jobs=2)
    first, second = digest(small.root), digest(parallel.root)
    assert len(first) > 20 and first == second
