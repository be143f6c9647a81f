"""The demo's analysis recovers the simulator's planted effects; its report renders.

One demo run (4 mm, 100 permutations) is shared by every test of this module.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from painmarkers.study import run_demo

ALPHA = 0.05


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = run_demo("rtms_alff_clbp", out, n_permutations=100, progress=False)
    truth_path = out / "bids" / "derivatives" / "painmarkers-simulation" / "ground_truth.json"
    truth = json.loads(truth_path.read_text())
    return result, truth


def _table(result, name):
    return pd.read_csv(result.tables[name], sep="\t")


def _effects(truth, contrast):
    return [e for e in truth["alff"]["effects"] if e["contrast"] == contrast]


@pytest.mark.parametrize(("table", "contrast", "sign_of_diff"), [
    # paired_ttest reports mean(pre - post): a planted post-pre decrease is positive
    ("roi_alff_pre_vs_post", "post - pre", -1),
    # two_sample_ttest reports mean(CLBP) - mean(HC)
    ("roi_alff_clbp_vs_hc", "CLBP - HC", +1),
])
def test_roi_effects_recovered_with_right_sign(demo, table, contrast, sign_of_diff):
    result, truth = demo
    frame = _table(result, table).set_index("dv")
    checked = 0
    for eff in _effects(truth, contrast):
        row = frame.loc[f"alff__{eff['roi']}"] if f"alff__{eff['roi']}" in frame.index else None
        if row is None:
            continue
        if eff["direction"] == "none":
            continue
        expected = np.sign(eff["log_ratio"]) * sign_of_diff
        assert np.sign(row["mean_diff"]) == expected, (eff, row["mean_diff"])
        assert row["p_adjusted"] < ALPHA, (eff, row["p_adjusted"])
        checked += 1
    assert checked >= 6


def test_null_control_rois_not_significant(demo):
    result, truth = demo
    nulls = [f"alff__{r}" for r in truth["alff"]["null_rois"]]
    for table in ("roi_alff_pre_vs_post", "roi_alff_clbp_vs_hc"):
        frame = _table(result, table).set_index("dv")
        assert set(nulls) <= set(frame.index)
        assert (frame.loc[nulls, "p_adjusted"] > ALPHA).all(), frame.loc[nulls, "p_adjusted"]
    for table in ("alff_vas_pre", "alff_vas_post"):
        frame = _table(result, table).set_index("y")
        assert (frame.loc[nulls, "p_adjusted"] > ALPHA).all()


def test_planted_correlations_have_right_sign(demo):
    result, truth = demo
    pre = _table(result, "alff_vas_pre").set_index("y")
    for corr in truth["alff"]["correlations"]:
        r = pre.loc[f"alff__{corr['roi']}", "r"]
        assert np.sign(r) == np.sign(corr["r"]), (corr, r)
        assert abs(r) > 0.3


def _near(table, centre, mm):
    xyz = table[["peak_mni_x", "peak_mni_y", "peak_mni_z"]].to_numpy(float)
    return np.linalg.norm(xyz - np.asarray(centre), axis=1) <= mm


@pytest.mark.parametrize("method", ["grf", "permutation"])
def test_voxelwise_paired_clusters_at_planted_rois(demo, method):
    result, truth = demo
    table = _table(result, f"alff_paired_pre_vs_post_{method}_clusters")
    sig = table[table["significant"].astype(bool)]
    rois = truth["alff"]["rois"]
    found = 0
    for eff in _effects(truth, "post - pre"):
        if eff["direction"] == "none":
            continue
        near = sig[_near(sig, rois[eff["roi"]]["center_mni"], 16)]
        # positive clusters of pre - post where ALFF decreased after rTMS
        expected = -np.sign(eff["log_ratio"])
        if len(near) and (near["sign"] == expected).any():
            found += 1
    assert found >= 4, table
    for roi in truth["alff"]["null_rois"]:
        assert not _near(sig, rois[roi]["center_mni"], 10).any()


def test_classifier_above_chance(demo):
    result, _ = demo
    frame = _table(result, "sma_alff_clbp_vs_hc").set_index("metric")
    assert frame.loc["auc", "ci_low"] > 0.5
    assert frame.loc["permutation_p", "estimate"] < ALPHA


def test_provenance_hashes_and_versions(demo):
    result, _ = demo
    prov = json.loads(result.provenance_path.read_text())
    for key in ("versions", "spec", "random_state", "inputs_sha256", "analyses", "cohort",
                "excluded_sessions"):
        assert key in prov
    assert prov["cohort"]["n_subjects"] == 25
    path, digest = next(iter(prov["inputs_sha256"].items()))
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    assert any(p.endswith("desc-preproc_bold.nii.gz") for p in prov["inputs_sha256"])
    assert {a["name"] for a in prov["analyses"]} >= {"ppr_vas", "alff_paired_pre_vs_post"}


def test_outputs_stay_out_of_the_dataset(demo):
    result, _ = demo
    bids = result.spec.dataset
    assert not any(p.name.startswith("report") for p in bids.rglob("*"))
    assert bids not in result.out_dir.parents


@pytest.mark.browser
def test_report_opens_in_chromium(demo, report_checker):
    """No console error, every image decodes, and nothing is wider than a 1280-pixel
    window with every folded section open (issue 13)."""
    result, _ = demo
    report_checker(result)


# -- inference where its assumptions hold; effects in grey matter; the seed's figures ----------
def test_demo_is_simulated_smooth_enough_for_random_field_theory(demo):
    """The demo simulates at max(6 mm, 3 voxels); the residuals of every voxelwise analysis
    it runs with GRF then measure at least 2 voxels FWHM along each axis (below that,
    random field theory's cluster p values are unreliable)."""
    result, truth = demo
    assert truth["parameters"]["fwhm_mm"] == 12.0
    checked = 0
    for analysis in result.spec.analyses:
        if analysis.type != "voxelwise" or "grf" not in analysis.params["correction"]:
            continue
        meta = json.loads((result.out_dir / "maps" / analysis.name / "glm" / "tmap.json")
                          .read_text())
        fwhm = meta["smoothness"]["fwhm_voxels"]
        assert meta["smoothness"]["source"] == "residuals"
        assert min(fwhm) >= 2.0, (analysis.name, fwhm)
        checked += 1
    assert checked == 2


def _grey_matter_at(xyz):
    """MNI152 grey-matter probability (nilearn's template, 4 mm) at MNI coordinates."""
    import nibabel as nib
    from nilearn.datasets import load_mni152_gm_template

    img = load_mni152_gm_template(resolution=4)
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(img.affine), xyz)).astype(int)
    return img.get_fdata()[tuple(ijk.T)]


def test_significant_clusters_peak_in_grey_matter(demo):
    """No significant cluster of the demo peaks in a ventricle or in white matter: the
    planted effects sit in grey matter."""
    result, _ = demo
    checked = 0
    for name, path in result.tables.items():
        if not name.endswith("_clusters"):
            continue
        table = pd.read_csv(path, sep="\t")
        sig = table[table["significant"].astype(bool)]
        if not len(sig):
            continue
        grey = _grey_matter_at(sig[["peak_mni_x", "peak_mni_y", "peak_mni_z"]].to_numpy(float))
        assert (grey >= 0.3).all(), (name, sig.assign(grey=grey))
        labels = sig["harvard_oxford"].astype(str)
        assert not labels.str.contains("Ventric|White", case=False).any(), (name, labels)
        checked += len(sig)
    assert checked >= 4


def test_report_has_the_seed_figures_tables_and_the_comparison(demo):
    result, _ = demo
    assert "figure3_alff_group_means" in result.figures  # the seed's Figure 3
    html = result.report_path.read_text()
    for cite in ("Masoumbeigi et al., Table 1", "Masoumbeigi et al., Table 2",
                 "Masoumbeigi et al., Table 3", "Masoumbeigi et al., Figure 3",
                 "Masoumbeigi et al., Figure 4A", "Masoumbeigi et al., Figure 5A, C"):
        assert f"cf. {cite}" in html, cite
    assert "cf. seed" not in html
    comparison = pd.read_csv(result.tables["published_vs_this_run"], sep="\t",
                             keep_default_na=False)
    located = comparison[comparison["where"] != ""]
    assert len(located) >= 14 and (located["this run"] != "not found in this run").all()
    not_supported = comparison[comparison["this run"] == "not reproduced"]
    assert (not_supported["note"] != "").all() and len(not_supported) >= 1
