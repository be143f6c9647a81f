"""Validation of study specifications."""

import pytest

from painmarkers.exceptions import SpecError
from painmarkers.study import load_spec, parse_spec

BASE = {"study": {"name": "x", "dataset": "bids"}}


def spec_with(**kw):
    return {**BASE, **kw}


def test_minimal_spec_resolves_paths(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('[study]\nname = "t"\ndataset = "bids"\nderivatives = "bids/derivatives/f"\n'
                    '[[analyses]]\ntype = "outcomes"\ninstrument = "VAS"\n')
    spec = load_spec(path)
    assert spec.dataset == tmp_path.resolve() / "bids"
    assert spec.derivatives == (tmp_path.resolve() / "bids/derivatives/f",)
    assert spec.analyses[0].params == {"instrument": "VAS", "pre": "pre", "post": "post",
                                       "levels": None}
    assert spec.source == path.resolve()


def test_unknown_top_level_key():
    with pytest.raises(SpecError, match=r"Unknown key\(s\) \['analysis'\] in the specification"):
        parse_spec(spec_with(analysis=[]))


def test_unknown_analysis_type_lists_allowed():
    with pytest.raises(SpecError, match=r"'type' must be one of \[.*'voxelwise'.*\]. Got 'anova'"):
        parse_spec(spec_with(analyses=[{"type": "anova"}]))


def test_missing_required_key():
    with pytest.raises(SpecError, match="lacks the required key 'instrument'"):
        parse_spec(spec_with(analyses=[{"type": "outcomes"}]))


def test_wrong_value_type_and_range():
    with pytest.raises(SpecError, match="'levels' must be list"):
        parse_spec(spec_with(analyses=[{"type": "two_sample_ttest", "dv": "VAS",
                                        "levels": "CLBP"}]))
    with pytest.raises(SpecError, match=r"'voxel_p' must be in \(0, 1\). Got 1.5"):
        parse_spec(spec_with(analyses=[{"type": "voxelwise", "feature": "alff",
                                        "design": "paired", "voxel_p": 1.5}]))
    with pytest.raises(SpecError, match=r"'design' must be one of \['one_sample'"):
        parse_spec(spec_with(analyses=[{"type": "voxelwise", "feature": "alff",
                                        "design": "anova"}]))
    with pytest.raises(SpecError, match=r"'correction' must be a list of \['grf'"):
        parse_spec(spec_with(analyses=[{"type": "voxelwise", "feature": "alff",
                                        "design": "paired", "correction": "bonferroni"}]))


def test_unknown_analysis_key_names_allowed():
    with pytest.raises(SpecError, match=r"Unknown key\(s\) \['alpha'\].*allowed keys"):
        parse_spec(spec_with(analyses=[{"type": "outcomes", "instrument": "VAS", "alpha": 1}]))


def test_duplicate_analysis_names():
    a = {"type": "outcomes", "instrument": "VAS", "name": "ppr"}
    with pytest.raises(SpecError, match="analysis name 'ppr' is used twice"):
        parse_spec(spec_with(analyses=[a, a]))


def test_exclusion_values():
    with pytest.raises(SpecError, match="'max_translation_mm' must be a positive number"):
        parse_spec(spec_with(exclusion={"max_translation_mm": -3}))
    with pytest.raises(SpecError, match=r"Unknown key\(s\) \['max_fd'\] in \[exclusion\]"):
        parse_spec(spec_with(exclusion={"max_fd": 0.5}))


def test_missing_dataset_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match="needs 'dataset'"):
        parse_spec({"study": {"name": "x"}})
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\n")
    with pytest.raises(SpecError, match="is not valid TOML"):
        load_spec(bad)


@pytest.mark.parametrize("design", ["rtms_alff_clbp", "qsm_fc_clbp"])
def test_packaged_demo_specs_are_valid(design):
    import tomllib

    from painmarkers.study import demo_spec_text

    text = demo_spec_text(design, random_state=7, n_permutations=300)
    spec = parse_spec(tomllib.loads(text))
    assert spec.random_state == 7
    perms = [a.params["n_permutations"] for a in spec.analyses if "permutation" in
             a.params.get("correction", [])]
    assert perms and set(perms) == {300}
    with pytest.raises(SpecError, match="'design' parameter must be one of"):
        demo_spec_text("nope")


def test_unknown_study_key_names_allowed():
    with pytest.raises(SpecError, match=r"Unknown key\(s\) \['datset'\] in \[study\]; "
                                        r"allowed keys: \[.*'dataset'.*'derivatives'"):
        parse_spec({"study": {"datset": "bids"}})


def test_wrong_types_name_the_key():
    with pytest.raises(SpecError, match=r"needs 'dataset'.*\(a string\)"):
        parse_spec({"study": {"dataset": 3}})
    with pytest.raises(SpecError, match="'derivatives' must be a path or a list of paths"):
        parse_spec({"study": {"dataset": "bids", "derivatives": 1}})
    with pytest.raises(SpecError, match=r"'random_state' must be an integer\. Got 'x'"):
        parse_spec(spec_with(random_state="x"))
    with pytest.raises(SpecError, match=r"'method' must be one of \['pearson', 'spearman'\]"):
        parse_spec(spec_with(analyses=[{"type": "correlation", "x": "VAS", "y": "alff",
                                        "method": "kendall"}]))
    with pytest.raises(SpecError, match=r"'dv' must be str or list. Got 3"):
        parse_spec(spec_with(analyses=[{"type": "paired_ttest", "dv": 3}]))


@pytest.mark.parametrize(("analysis", "message"), [
    ('type = "voxelwise"\nfeature = "alff"\ndesign = "paired"\nsessions = ["pre"]',
     r"'sessions' of a paired design must be a list of two different session labels"),
    ('type = "voxelwise"\nfeature = "alff"\ndesign = "two_sample"\nlevels = ["A", "B"]\n'
     'sessions = ["pre", "baseline"]', r"'sessions' must be a table \{group = session\}"),
    ('type = "classifier"\nfeatures = [["alff", "SMA_L"]]\ntarget = "group"\n'
     'positive = "CLBP"\nsessions = ["pre", "baseline"]',
     r"'sessions' must be a table \{group = session\}"),
])
def test_sessions_shape_checked_when_the_spec_is_read(tmp_path, analysis, message):
    path = tmp_path / "s.toml"
    path.write_text(f'[study]\ndataset = "bids"\n[[analyses]]\n{analysis}\n')
    with pytest.raises(SpecError, match=message):
        load_spec(path)


@pytest.mark.parametrize(("analysis", "message"), [
    ({"type": "voxelwise", "feature": "alff", "design": "one_sample", "n_permutations": 0,
      "name": "vox"},
     r"^analysis 'vox' \(\[\[analyses\]\] #1, type 'voxelwise'\): 'n_permutations' must be "
     r"an integer >= 1. Got 0.$"),
    ({"type": "voxelwise", "feature": "alff", "design": "one_sample", "n_permutations": 99.5},
     r"'n_permutations' must be an integer >= 1. Got 99.5"),
    ({"type": "classifier", "features": ["x"], "target": "group", "positive": "CLBP",
      "n_permutations": -1}, r"'n_permutations' must be an integer >= 0. Got -1"),
    ({"type": "classifier", "features": ["x"], "target": "group", "positive": "CLBP",
      "n_splits": 1}, r"'n_splits' must be an integer >= 2. Got 1"),
    ({"type": "classifier", "features": ["x"], "target": "group", "positive": "CLBP",
      "n_repeats": 0}, r"'n_repeats' must be an integer >= 1. Got 0"),
    ({"type": "classifier", "features": [], "target": "group", "positive": "CLBP"},
     r"'features' must name at least one feature"),
    ({"type": "classifier", "features": [["alff"]], "target": "group", "positive": "CLBP"},
     r"'features' #1 must be a column name or a \[feature, roi\] pair"),
    ({"type": "two_sample_ttest", "dv": "VAS", "levels": ["CLBP"]},
     r"'levels' must name exactly 2 distinct labels. Got \['CLBP'\]"),
    ({"type": "two_sample_ttest", "dv": "VAS", "levels": ["CLBP", "CLBP"]},
     r"'levels' lists a name twice"),
    ({"type": "two_sample_ttest", "dv": "VAS", "levels": ["CLBP", "HC"],
      "sessions": {"CLBP": "pre", "PAT": "pre"}},
     r"'sessions' names group\(s\) \['PAT'\] that are not in 'levels'"),
    ({"type": "voxelwise", "feature": "alff", "design": "two_sample", "levels": ["A", "B", "C"]},
     r"'levels' must name exactly 2"),
    ({"type": "voxelwise", "feature": "alff", "design": "one_sample", "cluster_p": 0},
     r"'cluster_p' must be in \(0, 1\). Got 0"),
    ({"type": "voxelwise", "feature": "alff", "design": "one_sample", "voxel_p": "0.001"},
     r"'voxel_p' must be in \(0, 1\). Got '0.001'"),
    ({"type": "voxelwise", "feature": "alff", "design": "one_sample", "two_tailed": "yes"},
     r"'two_tailed' must be true or false"),
    ({"type": "voxelwise", "feature": "alff", "design": "paired", "sessions": ["pre", "pre"]},
     r"'sessions' of a paired design must be a list of two different session labels"),
    ({"type": "outcomes", "instrument": "VAS", "pre": "pre", "post": "pre"},
     r"'pre' and 'post' must be two different session labels. Got 'pre' twice"),
    ({"type": "outcomes", "instrument": "VAS", "levels": ""}, r"'levels' must be a non-empty"),
    ({"type": "clinical_table", "instruments": []}, r"'instruments' must name at least 1"),
    ({"type": "correlation", "x": "VAS", "y": "alff", "correction": "fdr"},
     r"'correction' must be one of \['fdr_bh', 'fdr_by', 'holm', 'bonferroni', 'none'\]"),
    ({"type": "correlation", "x": "VAS", "y": "alff", "covariates": "age"},
     r"'covariates' must be a list of non-empty strings"),
    ({"type": "roi_table", "feature": "alff",
      "columns": [{"label": "a", "levels": "HC"}, {"label": "a", "levels": "CLBP"}]},
     r"the labels of 'columns' must differ"),
])
def test_values_are_range_checked_when_the_spec_is_read(analysis, message):
    """Before any data is read, every value is checked; the message names the analysis."""
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(spec_with(analyses=[analysis]))
    assert str(info.value).startswith("analysis '")


def test_correction_none_switches_off_the_adjustment():
    spec = parse_spec(spec_with(analyses=[{"type": "correlation", "x": "VAS", "y": "alff",
                                           "correction": "none"}]))
    assert spec.analyses[0].params["correction"] is None


@pytest.mark.parametrize(("rois", "message"), [
    ({"spheres": [{"name": "INS_L", "center": [-38, 4, 4], "radius_mm": -3}]},
     r"\[rois\] spheres #1 \('INS_L'\): 'radius_mm' must be a positive number. Got -3"),
    ({"spheres": [{"name": "INS_L", "center": [-38, 4, 4], "radius_mm": 0}]},
     r"\('INS_L'\): 'radius_mm' must be a positive number. Got 0"),
    ({"spheres": [{"name": "INS_L", "center": [-38, 4, 4], "radius_mm": float("nan")}]},
     r"\('INS_L'\): 'radius_mm' must be a positive number. Got nan"),
    ({"spheres": [{"name": "INS_L", "center": [-38, 4]}]},
     r"\('INS_L'\): 'center' must be three numbers"),
    ({"spheres": [{"name": "INS_L", "center": [-38, 4, 4], "radius": 3}]},
     r"spheres #1 must be a table with 'name', 'center'"),
    ({"spheres": [{"name": "A", "center": [0, 0, 0]}, {"name": "A", "center": [1, 1, 1]}]},
     r"\[rois\] spheres #2: ROI 'A' is already defined by \[rois\] spheres #1"),
    ({"atlas_regions": [{"atlas": "aal"}]}, r"atlas_regions #1 must be a table"),
    ({"set": 3}, r"\[rois\]: 'set' must be a non-empty string"),
])
def test_roi_values_are_checked_when_the_spec_is_read(rois, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(spec_with(rois=rois))


def test_seed_radius_is_checked_when_the_spec_is_read():
    with pytest.raises(SpecError, match=r"\[\[extractors\]\] #1 \('seed_fc'\): 'radius_mm' "
                                        r"must be a positive number. Got -1"):
        parse_spec(spec_with(extractors=[{"name": "seed_fc",
                                          "seed": {"center": [0, 0, 0], "radius_mm": -1}}]))
    with pytest.raises(SpecError, match=r"'seed' must be 'atlas:label', \[x, y, z\]"):
        parse_spec(spec_with(extractors=[{"name": "seed_fc", "seed": [0, 0]}]))
