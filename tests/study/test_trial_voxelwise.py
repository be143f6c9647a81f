"""The voxelwise trial analyses of a study run (``voxelwise_glm``, ``voxelwise_lmm``): the maps
in the run folder equal a direct call on the same images (in another order), and the report
has their cluster tables and figures.

Skipped, with the reason, where painmarkers.inference lacks the function (the branches
that add them are merged separately).
"""

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import painmarkers.inference as inference
from painmarkers.datasets import simulate_cohort
from painmarkers.study import parse_spec, run_study

ROIS = {"spheres": [{"name": "INS_L", "center": [-47, 11, -5], "radius_mm": 10}]}
BASE = {"study": {"name": "vox", "dataset": "bids", "output": "results", "task": "rest"},
        "extractors": [{"name": "alff", "band": [0.01, 0.08], "standardize": "mean"}],
        "rois": ROIS, "random_state": 3}

needs_glm = pytest.mark.skipif(
    not hasattr(inference, "voxelwise_glm"),
    reason="painmarkers.inference.voxelwise_glm is not available on this branch")
needs_lmm = pytest.mark.skipif(
    not hasattr(inference, "voxelwise_lmm"),
    reason="painmarkers.inference.voxelwise_lmm is not available on this branch")


@pytest.fixture(scope="module")
def bids(tmp_path_factory):
    root = tmp_path_factory.mktemp("voxtrial")
    simulate_cohort("rtms_sham_trial", root / "bids", resolution_mm=8, n_volumes=64,
                    n_per_arm=4, dropout=0.2, random_state=8)
    return root


def _direct_inputs(result):
    """Images and table of every session, sorted by visit then subject (not the run's
    order), with the mask the run used (all session masks are the same here)."""
    rows, imgs = [], []
    for sub, ses in result.cohort.iter_sessions():
        rows.append({"subject_id": sub.id, "group": sub.group, "session": ses.label})
        imgs.append(ses.images["alff"])
    table = pd.DataFrame(rows)
    order = np.lexsort((table["subject_id"], table["session"]))
    table = table.iloc[order].reset_index(drop=True)
    imgs = [imgs[i] for i in order]
    table["group"] = pd.Categorical(table["group"], ["active", "sham"])
    table["session"] = pd.Categorical(table["session"], ["pre", "post", "followup"])
    mask = next(ses.images["mask"] for _, ses in result.cohort.iter_sessions())
    return imgs, table, mask


@needs_glm
def test_voxelwise_glm_maps_equal_a_direct_call(bids):
    contrasts = {"interaction": "group:session",
                 "sham - active at post": "group[T.sham]:session[T.post]"}
    spec = parse_spec({**BASE, "study": {**BASE["study"], "output": "glm"}, "analyses": [{
        "type": "voxelwise_glm", "name": "glm", "feature": "alff",
        "levels": ["active", "sham"], "sessions": ["pre", "post", "followup"],
        "contrasts": contrasts, "voxel_p": 0.01, "correction": ["grf", "permutation"],
        "n_permutations": 19}]}, base_dir=bids)
    result = run_study(spec, progress=False)
    imgs, table, mask = _direct_inputs(result)
    direct = inference.voxelwise_glm(imgs, "~ group * session", contrasts, data=table,
                                     subject="subject_id", mask_img=mask)
    saved = result.maps["glm/glm"]
    for name, stem in (("interaction", "contrast-01_interaction_fmap"),
                       ("sham - active at post", "contrast-02_sham_-_active_at_post_tmap")):
        got = nib.load(saved / f"{stem}.nii.gz").get_fdata()
        want = direct[name].stat_img.get_fdata()
        assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert direct["interaction"].df == (2.0, float(direct.df))
    html = result.report_path.read_text(encoding="utf-8")
    assert "Voxelwise GLM of alff: ~ group * session" in html
    for key in ("glm/interaction/grf", "glm/sham - active at post/grf",
                "glm/sham - active at post/permutation"):
        assert key in result.maps
    assert "glm_interaction_grf_clusters" in result.tables
    assert "permutation tests one t contrast at a time" in html  # the F contrast: GRF only
    prov = json.loads(result.provenance_path.read_text())
    rec = prov["analyses"][0]
    assert rec["formula"] == "~ group * session" and rec["n"] == len(imgs)


@needs_lmm
def test_voxelwise_lmm_maps_equal_a_direct_call(bids):
    spec = parse_spec({**BASE, "study": {**BASE["study"], "output": "vlmm"}, "analyses": [{
        "type": "voxelwise_lmm", "name": "vlmm", "feature": "alff",
        "levels": ["active", "sham"], "sessions": ["pre", "post", "followup"],
        "voxel_p": 0.01}]}, base_dir=bids)
    result = run_study(spec, progress=False)
    imgs, table, mask = _direct_inputs(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary / convergence counts are compared below
        direct = inference.voxelwise_lmm(imgs, table, "~ group * session",
                                         subject="subject_id", between="group",
                                         mask_img=mask)
    saved = result.maps["vlmm/lmm"]
    for stem, want in (("anova-group_session_F", direct.f_img("group:session")),
                       ("anova-group_session_z", direct.z_img("group:session"))):
        got = nib.load(saved / f"{stem}.nii.gz").get_fdata()
        assert_allclose(got, want.get_fdata(), rtol=1e-6, atol=1e-7)
    assert "vlmm/group:session/grf" in result.maps
    assert "vlmm_group_session_grf_clusters" in result.tables
    html = result.report_path.read_text(encoding="utf-8")
    assert "Voxelwise LMM of alff: ~ group * session + (1 | subject)" in html
    assert f"boundary (singular) fits {direct.n_singular}" in html
    rec = json.loads(result.provenance_path.read_text())["analyses"][0]
    assert rec["terms"] == ["group:session"] and rec["n"] == direct.n_obs
