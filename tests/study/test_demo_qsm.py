"""The second seed study's demo (QSM and seed FC) recovers the simulator's planted effects,
and nothing at the control regions; its inference is run where GRF is valid; its report
cites that paper and says what the simulated data cannot support.

One demo run (62 subjects, 4 FC seeds, 100 permutations: a few minutes of CPU) is shared
by every test of this module, so it is marked slow.
"""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers.study import run_demo

pytestmark = pytest.mark.slow

ALPHA = 0.05
SEEDS = ("postcentral_L", "postcentral_R", "precentral_post_L", "precentral_post_R")
TARGET = {"postcentral_L": "superior_frontal_L", "precentral_post_L": "superior_frontal_L",
          "precentral_post_R": "superior_frontal_L", "postcentral_R": "precuneus_R"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_qsm")
    result = run_demo("qsm_fc_clbp", out, n_permutations=100, progress=False, n_jobs=2)
    truth_path = out / "bids" / "derivatives" / "painmarkers-simulation" / "ground_truth.json"
    return result, json.loads(truth_path.read_text())


def _table(result, name):
    return pd.read_csv(result.tables[name], sep="\t")


def test_qsm_group_differences_recovered_and_nulls_not(demo):
    result, truth = demo
    table = _table(result, "qsm_clbp_vs_hc").set_index("dv")
    significant = 0
    for effect in truth["qsm"]["effects"]:
        row = table.loc[f"qsm__{effect['roi']}"]
        if effect["direction"] == "none":
            assert row["p_adjusted"] > ALPHA, effect["roi"]
            continue
        assert np.sign(row["mean_diff"]) == np.sign(effect["cohen_d"]), effect["roi"]
        significant += bool(row["p"] < ALPHA)
    assert significant >= 5  # seven planted differences, d from 0.55 to 1.13 at n = 32/30


def test_fc_roi_differences_recovered_and_control_pairs_not(demo):
    result, _ = demo
    table = _table(result, "fc_roi_clbp_vs_hc").set_index("dv")
    for seed, target in TARGET.items():
        row = table.loc[f"seed_fc_{seed}__{target}"]
        assert row["mean_diff"] > 0 and row["p_adjusted"] < ALPHA, (seed, row)
    for pair in ("seed_fc_postcentral_L__calcarine_L",
                 "seed_fc_postcentral_R__superior_temporal_L"):
        assert table.loc[pair, "p_adjusted"] > ALPHA, pair


def _clusters_in(result, analysis, method, roi_name):
    """Significant clusters of an analysis with voxels in an ROI: {cluster_id: sign}."""
    table = _table(result, f"{analysis}_{method}_clusters")
    labels = nib.load(result.out_dir / "maps" / analysis / method / "cluster_labels.nii.gz")
    roi = next(r for r in _rois(result) if r.name == roi_name)
    data = np.asarray(labels.dataobj)
    ids = set(np.unique(data[roi.to_mask(labels) & (data > 0)]).tolist())
    sig = table[table["significant"].astype(bool) & table["cluster_id"].isin(ids)]
    return dict(zip(sig["cluster_id"], sig["sign"]))


def _rois(result):
    from painmarkers.study._check import build_rois

    return build_rois(result.spec)


@pytest.mark.parametrize("seed", SEEDS)
def test_voxelwise_fc_finds_the_planted_target_and_not_the_control(demo, seed):
    result, _ = demo
    analysis = f"fc_{seed}_clbp_vs_hc"
    found = _clusters_in(result, analysis, "grf", TARGET[seed])
    assert found and set(found.values()) == {1}, found
    assert not _clusters_in(result, analysis, "grf", "calcarine_L")
    if seed == "postcentral_L":  # permutation agrees
        assert _clusters_in(result, analysis, "permutation", TARGET[seed])


def test_voxelwise_qsm_finds_the_left_postcentral_iron(demo):
    result, _ = demo
    found = _clusters_in(result, "qsm_clbp_vs_hc_voxelwise", "grf", "postcentral_L")
    assert found and set(found.values()) == {1}
    assert not _clusters_in(result, "qsm_clbp_vs_hc_voxelwise", "grf", "caudate_L")


def test_qsm_pain_and_fc_iron_correlations(demo):
    result, truth = demo
    vas = _table(result, "qsm_vas").set_index("y")
    assert vas.loc["qsm__postcentral_L", "r"] > 0 and vas.loc["qsm__postcentral_L", "p"] < ALPHA
    assert (vas.loc[["qsm__calcarine_L", "qsm__caudate_L"], "p_adjusted"] > ALPHA).all()
    corr = _table(result, "qsm_fc_motor_sfg").iloc[0]
    planted = truth["fc"]["qsm_fc_correlation"]["r"]
    assert planted == 0.444
    assert corr["n"] == 32 and corr["r"] > 0
    assert corr["ci_low"] <= planted <= corr["ci_high"]  # the planted r is plausible


def test_grf_maps_are_smooth_enough_and_clusters_peak_in_grey_matter(demo):
    from nilearn.datasets import load_mni152_gm_template

    result, truth = demo
    assert truth["parameters"]["fwhm_mm"] == 12.0
    grey = load_mni152_gm_template(resolution=4)
    inverse = np.linalg.inv(grey.affine)
    checked = 0
    for analysis in result.spec.analyses:
        if analysis.type != "voxelwise":
            continue
        meta = json.loads((result.out_dir / "maps" / analysis.name / "glm" / "tmap.json")
                          .read_text())
        assert min(meta["smoothness"]["fwhm_voxels"]) >= 2.0, analysis.name
        table = _table(result, f"{analysis.name}_grf_clusters")
        sig = table[table["significant"].astype(bool)]
        xyz = sig[["peak_mni_x", "peak_mni_y", "peak_mni_z"]].to_numpy(float)
        ijk = np.rint(nib.affines.apply_affine(inverse, xyz)).astype(int)
        assert (grey.get_fdata()[tuple(ijk.T)] >= 0.3).all(), (analysis.name, sig)
        assert not sig["harvard_oxford"].astype(str).str.contains("Ventric|White").any()
        checked += 1
    assert checked == 5


def test_report_cites_the_second_paper_and_says_what_is_not_reproduced(demo):
    result, _ = demo
    html = result.report_path.read_text()
    assert "cf. Ding et al. 2025" in html
    assert "Masoumbeigi" not in html and "cf. seed" not in html
    assert {"qsm_by_group", "qsm_group_means", "qsm_fc_motor_sfg", "fc_by_group"} <= set(
        result.figures)
    comparison = pd.read_csv(result.tables["published_vs_this_run"], sep="\t",
                             keep_default_na=False)
    located = comparison[comparison["where"] != ""]
    assert len(located) == 18
    assert (located["this run"] != "not found in this run").all(), located
    missing = comparison[comparison["where"] == ""]
    assert len(missing) == 3 and (missing["note"] != "").all()


@pytest.mark.browser
def test_report_opens_in_chromium_and_fits_1280_pixels(demo, report_checker):
    """No console error, every image decodes, and nothing is wider than a 1280-pixel
    window with every folded section open (issue 13)."""
    result, _ = demo
    report_checker(result)
