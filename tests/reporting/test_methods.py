"""The methods text is plain English rendered from provenance: no Python reprs, every
ROI with its centre and size, the covariates of every analysis, thresholds, versions."""

import re

import pytest

from painmarkers.reporting import methods_text
from painmarkers.reporting.methods import plain

PROVENANCE = {
    "painmarkers_version": "0.1.0",
    "versions": {"python": "3.11.7", "painmarkers": "0.1.0", "numpy": "2.4.6",
                 "scipy": "1.17.1", "nilearn": "0.14.1", "pingouin": "0.7.0"},
    "cohort": {"n_subjects": 62, "groups": {"CLBP": 32, "HC": 30}, "n_sessions": 62},
    "exclusion": {"max_translation_mm": 3.0, "max_rotation_deg": 3.0},
    "excluded_sessions": [{"subject_id": "07", "session": "baseline", "reason": "motion"}],
    "extractors": [
        {"name": "seed_fc", "params": {"seed": "aal:Postcentral_L",
                                       "confounds_strategy": ["motion"]}},
        {"name": "map_mean", "params": {"kind": "qsm"}},
        {"name": "alff", "params": {"band": [0.01, 0.08], "standardize": "mean"}},
        {"name": "my_plugin", "params": {"window": [1, 2], "opts": {"a": 1}, "flag": True}},
    ],
    "rois": [
        {"roi": "INS_L", "kind": "sphere", "definition": "sphere of radius 3 mm",
         "centre_x": -47.0, "centre_y": 11.0, "centre_z": -5.0, "n_voxels": 1,
         "volume_mm3": 64.0, "small": True, "min_voxels": 4},
        {"roi": "Postcentral_L", "kind": "atlas region", "definition": "AAL region "
         "Postcentral_L", "centre_x": -41.6, "centre_y": -23.4, "centre_z": 49.1,
         "n_voxels": 310, "volume_mm3": 19840.0, "small": False, "min_voxels": 4},
    ],
    "analyses": [
        {"type": "demographics", "name": "t1", "params": {}},
        {"type": "two_sample_ttest", "name": "qsm", "params": {
            "dv": "qsm", "levels": ["CLBP", "HC"], "equal_var": False, "sessions": None}},
        {"type": "correlation", "name": "c1", "params": {
            "x": "VAS", "y": "qsm", "method": "pearson", "levels": "CLBP", "sessions": None,
            "covariates": ["age", "sex"], "correction": "fdr_bh"}},
        {"type": "correlation", "name": "c2", "params": {
            "x": "qsm__Postcentral_L", "y": ["seed_fc_aal:Postcentral_L__Frontal_Sup_2_L"],
            "method": "spearman", "levels": None, "sessions": None, "covariates": [],
            "correction": None}},
        {"type": "voxelwise", "name": "v1", "contrast": "CLBP − HC", "n": 62,
         "fwhm_mm": [6.1, 6.2, 6.0], "fwhm_voxels": [2.03, 2.07, 2.0], "params": {
             "feature": "seed_fc_aal:Postcentral_L", "design": "two_sample",
             "covariates": ["age"], "voxel_p": 0.001, "cluster_p": 0.05, "two_tailed": True,
             "correction": ["grf", "permutation"], "grf_method": "fsl",
             "n_permutations": 1000}},
        {"type": "voxelwise", "name": "v2", "contrast": "pre − post", "n": 30, "params": {
            "feature": "alff", "design": "paired", "covariates": [], "voxel_p": 0.01,
            "cluster_p": 0.05, "two_tailed": True, "correction": ["grf"]}},
        {"type": "classifier", "name": "clf", "params": {
            "features": [["alff", "SMA_L"], ["alff", "SMA_R"]], "target": "group",
            "positive": "CLBP", "confounds": ["age"], "n_permutations": 200, "n_splits": 5,
            "n_repeats": 10}},
    ],
}


def _no_reprs(text):
    assert not re.search(r"[{}\"]", text), text  # no dict braces or double quotes
    assert not re.search(r"'[\w.:/-]+'", text), text  # no quoted strings ('motion')
    assert not re.search(r"\[(?!\d+\])", text), text  # brackets only as citations [n]
    for word in ("None", "True", "False", "AtlasRegion(", "Sphere(", "array("):
        assert word not in text, word


def test_methods_text_has_no_python_reprs():
    text, refs = methods_text(PROVENANCE)
    _no_reprs(text)
    assert refs and all(re.match(r"\[\d+\] ", r) for r in refs)
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", text)})
    assert cited == list(range(1, len(refs) + 1))  # every reference cited, in order


def test_every_analysis_names_its_covariates():
    text, _ = methods_text(PROVENANCE)
    assert "Partial Pearson correlations adjusted for age and sex related VAS to QSM at each " \
           "ROI in the CLBP group" in text
    assert "Spearman correlations (no covariates) related QSM (Postcentral_L) to FC " \
           "aal:Postcentral_L - Frontal_Sup_2_L" in text
    assert "with age as mean-centred covariates" in text
    assert "ALFF maps (contrast pre − post, n = 30 maps) were fitted as ordinary " \
           "least-squares GLMs, without covariates" in text
    assert "(confounds age regressed out within folds)" in text
    assert "Welch two-sample t-tests compared QSM at each ROI between CLBP and HC" in text


def test_thresholds_smoothness_and_rois_with_sizes():
    text, _ = methods_text(PROVENANCE)
    assert "voxel p < .001, cluster p < .05, two-tailed" in text
    assert "1000 permutations, maximum cluster size" in text
    assert "FWHM 6.1, 6.2 and 6 mm (2.03, 2.07 and 2 voxels)" in text
    assert "INS_L (sphere of radius 3 mm at MNI (-47, 11, -5); 1 voxel, 64 mm³)" in text
    assert "Postcentral_L (AAL region Postcentral_L at MNI (-42, -23, 49); 310 voxels, " \
           "19840 mm³)" in text
    assert "INS_L has fewer than 4 voxels on this grid" in text
    assert "largest translation 3 mm and largest rotation 3°" in text
    assert "(1 session)" in text


def test_extractors_in_words_and_software_versions():
    text, _ = methods_text(PROVENANCE)
    assert "Seed-based functional connectivity of the AAL region Postcentral_L" in text
    assert "fMRIPrep confounds motion" in text
    assert "quantitative susceptibility maps (QSM, ppm)" in text
    assert "0.01-0.08 Hz band" in text and "mALFF" in text
    assert "The my_plugin extractor was applied (window 1 and 2; opts a: 1; flag yes)." in text
    assert text.rstrip().endswith("Analyses were run with painmarkers 0.1.0 (Python 3.11.7, "
                                  "NumPy 2.4.6, SciPy 1.17.1, nilearn 0.14.1 and pingouin "
                                  "0.7.0).")


def test_paragraphs_and_nothing_said_twice():
    text, _ = methods_text(PROVENANCE)
    paragraphs = text.split("\n\n")
    assert paragraphs[0].startswith("Data of 62 participants (32 CLBP, 30 HC), 62 sessions,")
    assert paragraphs[-1].startswith("Analyses were run with painmarkers")
    sentences = re.split(r"(?<=\.) ", text.replace("\n\n", " "))
    assert len(sentences) == len(set(sentences))


def test_empty_provenance_gives_empty_text():
    assert methods_text({}) == ("", [])


@pytest.mark.parametrize("value, expected", [
    (None, "none"), (True, "yes"), (3, "3"), (0.0100, "0.01"), ([], "none"), (["a"], "a"),
    (["a", "b", "c"], "a, b and c"), ({"CLBP": "pre"}, "CLBP: pre"), ((1.5, 2), "1.5 and 2"),
])
def test_plain(value, expected):
    assert plain(value) == expected


def test_plain_objects_by_name():
    from painmarkers.rois import AtlasRegion

    assert plain(AtlasRegion("aal", "Precentral_L")) == "aal:Precentral_L"  # its name


def _trial_records():
    from importlib.resources import files

    from painmarkers.study.spec import load_spec

    path = files("painmarkers.study") / "specs" / "rtms_sham_trial.toml"
    spec = load_spec(path)
    return [{"type": a.type, "name": a.name, "params": dict(a.params)} for a in spec.analyses]


def test_trial_analyses_in_words():
    records = _trial_records()
    kinds = {r["type"] for r in records}
    assert {"ancova", "lmm", "mixed_anova", "responders", "voxelwise_glm",
            "voxelwise_lmm"} <= kinds
    text, refs = methods_text({"analyses": records})
    _no_reprs(text)
    assert "was run (" not in text  # no generic fallback sentence
    assert "by ANCOVA adjusted for the" in text
    assert "split-plot (mixed) ANOVA" in text and "Greenhouse-Geisser" in text
    assert "linear mixed models" in text and "Satterthwaite" in text
    assert "Newcombe" in text and "number needed to treat" in text
    assert "Voxelwise general linear models" in text
    assert "Voxelwise linear mixed models" in text
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", text)})
    assert cited == list(range(1, len(refs) + 1))
    assert any("Vickers" in r for r in refs) and any("Kuznetsova" in r for r in refs)


@pytest.mark.parametrize("kind,params,expected", [
    ("prognosis", {"instrument": "VAS", "pre": "pre", "post": "post",
                   "features": [["alff", "SMA_L"]], "n_splits": 5, "n_repeats": 2,
                   "n_permutations": 100, "clinical": ["age"], "confounds": ["sex"]},
     ["predicted from", "5-fold cross-validation grouped by subject",
      "confounds sex regressed out within folds", "incremental value over age"]),
    ("signature", {"feature": "alff", "weights": "nps.nii.gz", "metric": "dot",
                   "target": "group", "positive": "CLBP"},
     ["signature nps.nii.gz", "dot product", "positive: CLBP"]),
    ("pattern", {"feature": "alff", "target": "group", "positive": "CLBP",
                 "sessions": {"CLBP": "pre", "HC": "baseline"}, "levels": ["CLBP", "HC"],
                 "model": None, "mask": "/data/masks/gm.nii.gz", "confounds": [],
                 "n_splits": 5, "n_repeats": 2, "n_permutations": 100,
                 "n_bootstrap_weights": 200, "save_card": True},
     ["whole-brain pattern of the ALFF maps at session pre (CLBP) and baseline (HC) in "
      "the CLBP and HC groups predicted group (positive: CLBP) with an L2-penalised "
      "logistic regression on every voxel of the mask gm.nii.gz",
      "200 resamples", "FDR q < .05", "activation pattern", "portable model card"]),
    ("pattern", {"feature": "alff", "instrument": "VAS", "outcome": None, "pre": "pre",
                 "post": "post", "model": "lasso_pcr", "levels": "CLBP",
                 "n_bootstrap_weights": 0, "save_card": False, "confounds": ["age"]},
     ["percent change of VAS from pre to post with a LASSO-PCR model",
      "at session pre in the CLBP group", "confounds age regressed out",
      "subject-bootstrap 95 % CIs"]),
    ("external_validation", {"card": "/runs/train/models/clbp_vs_hc", "feature": "alff",
                             "target": "group", "positive": "patient",
                             "sessions": "baseline", "levels": None, "instrument": None},
     ["frozen model of the model card clbp_vs_hc was applied without refitting to the "
      "ALFF maps of this cohort at session baseline", "group (positive: patient)",
      "calibration slope and intercept", "training distribution"]),
])
def test_prediction_analyses_in_words(kind, params, expected):
    text, _ = methods_text({"analyses": [{"type": kind, "name": "a", "params": params}]})
    _no_reprs(text)
    for phrase in expected:
        assert phrase in text, (phrase, text)
    assert "was run (" not in text


def test_methods_read_the_spec_keys_and_those_of_older_runs():
    """The sentences read ``levels``/``sessions`` (the keys since 0.2) and still read the
    ``group``/``groups``/``session`` of a provenance written before the rename."""
    def sentence(kind, **params):
        prov = {**PROVENANCE, "analyses": [{"type": kind, "name": "a", "params": params}]}
        return methods_text(prov)[0]

    new = sentence("correlation", x="VAS", y="qsm", levels="CLBP", sessions="pre")
    old = sentence("correlation", x="VAS", y="qsm", group="CLBP", session="pre")
    assert "related VAS to QSM at each ROI in the CLBP group at session pre" in new
    assert new == old
    both = sentence("outcomes", instrument="VAS", levels=["CLBP", "HC"])
    assert "Percent change of VAS in the CLBP and HC groups from pre to post" in both
    _no_reprs(both)
    two = sentence("two_sample_ttest", dv="qsm", levels=["CLBP", "HC"], equal_var=True)
    assert two == sentence("two_sample_ttest", dv="qsm", groups=["CLBP", "HC"],
                           equal_var=True)
    assert "Student two-sample t-tests compared QSM at each ROI between CLBP and HC" in two
