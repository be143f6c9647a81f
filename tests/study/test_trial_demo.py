"""``painmarkers demo --design rtms_sham_trial``: the analyses find the planted arm x visit
interaction where it was planted (VAS and RMDQ; INS_L, INS_R and mPFC) and not elsewhere
(ODI; the ROIs without a planted interaction, including THA with its planted change common to
both arms), at clinical, ROI and (with painmarkers.inference.voxelwise_glm /
voxelwise_lmm) voxel level; the ALFF maps are smooth enough for GRF inference.

One demo run (4 mm, seed 0, 100 permutations) is shared by every test of this module. The
thresholds are those of a single fixed dataset: planted effects at p_adjusted < 0.001, null
ones at p_adjusted > 0.01 (FDR across the 12 ROIs), estimates within 3 standard errors of
the planted values.
"""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import painmarkers.inference as inference
from painmarkers.datasets._designs import alff_rois
from painmarkers.study import run_demo

PLANTED = ("INS_L", "INS_R", "mPFC")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("trialdemo")
    result = run_demo("rtms_sham_trial", out, n_permutations=100, n_jobs=2, progress=False)
    truth = json.loads((out / "bids" / "derivatives" / "painmarkers-simulation"
                        / "ground_truth.json").read_text())
    return result, truth


def _tsv(result, name):
    return pd.read_csv(result.tables[name], sep="\t")


def test_clinical_interaction_found_in_vas_and_rmdq_not_in_odi(demo):
    result, truth = demo
    anova = _tsv(result, "clinical_lmm").set_index(["dv", "term"])
    did = _tsv(result, "clinical_lmm_did").set_index(["dv", "contrast"])
    planted = {(e["instrument"], e["contrast"]): e["value"]
               for e in truth["clinical"]["effects"]}
    assert truth["clinical"]["null_instruments"] == ["ODI"]
    for dv in ("VAS", "RMDQ"):
        assert anova.loc[(dv, "group:session"), "p_adjusted"] < 0.001
        for visit in ("post", "followup"):
            row = did.loc[(dv, f"(active - sham): {visit} - pre")]
            value = planted[(dv, f"(active - sham): {visit} - pre")]
            assert abs(row["estimate"] - value) < 3 * row["se"], (dv, visit, row["estimate"])
        assert did.loc[(dv, "(active - sham): post - pre"), "ci_high"] < 0
    assert anova.loc[("ODI", "group:session"), "p_adjusted"] > 0.01
    odi = did.loc[("ODI", "(active - sham): post - pre")]
    assert odi["ci_low"] < 0 < odi["ci_high"]


def test_ancova_mixed_anova_and_responders_agree(demo):
    result, _ = demo
    anc = _tsv(result, "clinical_ancova").set_index(["dv", "post", "term"])
    for dv in ("VAS", "RMDQ"):
        assert anc.loc[(dv, "post", "group"), "p_adjusted"] < 0.001
    assert anc.loc[("ODI", "post", "group"), "p_adjusted"] > 0.01
    cons = _tsv(result, "clinical_ancova_contrasts").set_index(["dv", "post"])
    assert cons.loc[("VAS", "post"), "estimate"] < 0 and cons.loc[("RMDQ", "post"),
                                                                 "estimate"] < 0
    rm = _tsv(result, "clinical_mixed_anova").set_index(["dv", "term"])
    for dv in ("VAS", "RMDQ"):
        assert rm.loc[(dv, "group:session"), "p_corrected"] < 0.01
    # complete cases only: fewer subjects than the LMM uses
    assert (rm["n_excluded"] > 0).all()
    resp = _tsv(result, "vas_responders").set_index(["post", "responder"])
    row = resp.loc[("post", "moderate")]
    assert row["risk_difference"] > 0 and row["ci_low"] > 0 and row["p"] < 0.01
    assert row["nnt_kind"] == "benefit" and 1 <= row["nnt"] < 5


def test_roi_interaction_found_in_the_planted_rois_only(demo):
    result, truth = demo
    anova = _tsv(result, "alff_roi_lmm").set_index(["dv", "term"])
    did = _tsv(result, "alff_roi_lmm_did").set_index(["dv", "contrast"])
    emm = _tsv(result, "alff_roi_lmm_emmeans").set_index(["dv", "group", "session"])
    alff = truth["alff"]
    assert alff["interaction_rois"] == list(PLANTED)
    for roi in alff["rois"]:
        p_int = anova.loc[(f"alff__{roi}", "group:session"), "p_adjusted"]
        if roi in PLANTED:
            assert p_int < 0.001, roi
            # mALFF scales with exp(log gain): the active arm's change at post is
            # pre * (exp(g) - 1), the sham arm's 0
            g = alff["rois"][roi]["planted_interaction_post"]
            row = did.loc[(f"alff__{roi}", "(active - sham): post - pre")]
            pre = emm.loc[(f"alff__{roi}", "active", "pre"), "emmean"]
            expected = pre * np.expm1(g)
            assert np.sign(row["estimate"]) == np.sign(g)
            assert abs(row["estimate"] - expected) < 3 * row["se"] + 0.1 * abs(expected), roi
        else:
            assert p_int > 0.01, (roi, p_int)
    for roi in alff["time_rois"]:  # a change common to both arms: the visit effect is found
        assert anova.loc[(f"alff__{roi}", "session"), "p_adjusted"] < 0.001, roi


def test_alff_maps_are_smooth_enough_for_grf(demo):
    """Residual FWHM of the ALFF maps (subject and arm x visit effects removed) >= 2 voxels."""
    result, _ = demo
    cohort = result.cohort
    rows, imgs = [], []
    for sub, ses in cohort.iter_sessions():
        rows.append((sub.id, sub.group, ses.label))
        imgs.append(ses.images["alff"])
    mask = nib.load(next(ses.images["mask"] for _, ses in cohort.iter_sessions())).get_fdata()
    mask = mask > 0
    data = np.array([np.asarray(nib.load(p).dataobj)[mask] for p in imgs])
    table = pd.DataFrame(rows, columns=["subject", "group", "session"])
    X = np.column_stack([pd.get_dummies(table["subject"]).to_numpy(float),
                         pd.get_dummies(table["group"] + table["session"]).to_numpy(float)])
    beta, *_ = np.linalg.lstsq(X, data, rcond=None)
    resid = data - X @ beta
    dof = len(table) - np.linalg.matrix_rank(X)
    vol = np.zeros((*mask.shape, len(table)))
    vol[mask] = resid.T
    affine = nib.load(imgs[0]).affine
    smooth = inference.estimate_smoothness(nib.Nifti1Image(vol, affine),
                                           nib.Nifti1Image(mask.astype(np.uint8), affine),
                                           dof=dof)
    assert np.min(smooth.fwhm_voxels) >= 2.0, smooth.fwhm_voxels


@pytest.mark.skipif(not hasattr(inference, "voxelwise_glm"),
                    reason="painmarkers.inference.voxelwise_glm is not available on this "
                           "branch (enable the VOXEL-GLM block of the rtms_sham_trial spec "
                           "after merging it)")
def test_voxelwise_glm_finds_the_planted_blobs_only(demo):
    result, _ = demo
    _check_clusters(result, "alff_voxelwise_glm_group_x_session_grf_clusters")
    _check_clusters(result, "alff_voxelwise_glm_sham_-_active_at_post_grf_clusters")
    _check_clusters(result, "alff_voxelwise_glm_sham_-_active_at_post_permutation_clusters")
    prov = json.loads(result.provenance_path.read_text())
    glm = next(a for a in prov["analyses"] if a["name"] == "alff_voxelwise_glm")
    assert glm["n_significant_clusters"]["group x session/grf"] >= len(PLANTED)


@pytest.mark.skipif(not hasattr(inference, "voxelwise_lmm"),
                    reason="painmarkers.inference.voxelwise_lmm is not available on this "
                           "branch (enable the VOXEL-LMM block of the rtms_sham_trial spec "
                           "after merging it)")
def test_voxelwise_lmm_finds_the_planted_blobs_only(demo):
    result, _ = demo
    _check_clusters(result, "alff_voxelwise_lmm_group_session_grf_clusters")


def _check_clusters(result, name):
    """Each planted ROI has a significant cluster peak within 12 mm; every significant
    peak lies within 20 mm of a planted ROI (the blobs have FWHM 12 mm)."""
    table = _tsv(result, name)
    sig = table[table["significant"].astype(bool)]
    peaks = sig[["peak_mni_x", "peak_mni_y", "peak_mni_z"]].to_numpy(float)
    centres = np.array([alff_rois()[r] for r in PLANTED])
    dist = np.linalg.norm(peaks[:, None, :] - centres[None, :, :], axis=2)
    assert (dist.min(axis=0) <= 12.0).all(), (name, sig)
    assert (dist.min(axis=1) <= 20.0).all(), (name, sig)


@pytest.mark.browser
def test_report_opens_in_chromium_and_fits_1280_pixels(demo, report_checker):
    """No console error, every image decodes, and nothing is wider than a 1280-pixel
    window with every folded section open (issue 13)."""
    result, _ = demo
    report_checker(result)
