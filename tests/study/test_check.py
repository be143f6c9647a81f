"""``painmarkers check`` / check_study: the specification against the dataset, without
extracting; every problem names its analysis, ROI or extractor. ``run`` makes the same
checks before it writes anything.

The tiny dataset (conftest) has groups CLBP (sessions pre, post; 3 subjects) and HC
(baseline; 2 subjects), VAS and RMDQ scores, BOLD, masks and confounds, no QSM.
"""

import re
import warnings

import pandas as pd
import pytest

from painmarkers.cli import main
from painmarkers.exceptions import PainmarkersWarning, SpecError
from painmarkers.study import check_study, parse_spec, run_study

#: 10 mm spheres: the Table 3 set's 3 mm spheres miss the brain mask at 8 mm (the
#: check says so: test_roi_outside_the_brain_mask_is_named)
ROIS = {"spheres": [{"name": "ACC", "center": [0, 20, 30], "radius_mm": 10},
                    {"name": "SMA_L", "center": [-8, -4, 60], "radius_mm": 10},
                    {"name": "INS_L", "center": [-38, 4, 4], "radius_mm": 10}]}
ALFF = {"extractors": [{"name": "alff", "band": [0.01, 0.08]}], "rois": ROIS}


def _check(root, analyses=(), **extra):
    spec = parse_spec({"study": {"name": "t", "dataset": "bids", "task": "rest"},
                       "analyses": list(analyses), **extra}, base_dir=root)
    return check_study(spec, raise_on_problems=False)


@pytest.fixture(scope="module")
def root(tiny_bids):
    return tiny_bids.parent


def _one(report):
    assert len(report.problems) == 1, report.problems
    return report.problems[0]


def test_a_fitting_spec_has_no_problem_and_a_summary(root):
    report = _check(root, [{"type": "outcomes", "instrument": "VAS", "levels": "CLBP"},
                           {"type": "paired_ttest", "dv": "alff", "levels": "CLBP"},
                           {"type": "voxelwise", "feature": "alff", "design": "two_sample",
                            "sessions": {"CLBP": "pre", "HC": "baseline"}}], **ALFF)
    assert report.ok and report.problems == ()
    assert report.n_subjects == 5 and report.n_sessions == 8
    assert report.groups == {"CLBP": 3, "HC": 2}
    assert report.sessions == {"baseline": 2, "post": 3, "pre": 3}
    assert report.features == ("alff",)
    text = report.summary()
    assert "5 subjects (CLBP 3, HC 2), 8 sessions (baseline 2, post 3, pre 3)" in text
    assert "No problem found" in text


@pytest.mark.parametrize(("analysis", "message"), [
    ({"type": "outcomes", "instrument": "VAS", "post": "week4"},
     r"analysis 'outcomes_1' \(outcomes\): post 'week4' is not a session label of the "
     r"dataset \(sessions: \['baseline', 'post', 'pre'\]\)"),
    ({"type": "outcomes", "instrument": "VAS", "levels": "HC"},
     r"pre 'pre' is not a session of group 'HC' \(its sessions: \['baseline'\]\)"),
    ({"type": "correlation", "x": "VAS", "y": "RMDQ", "sessions": "Pre"},
     r"sessions 'Pre' is not a session label .*did you mean 'pre'\? \(labels are "
     r"case-sensitive\)"),
    ({"type": "voxelwise", "feature": "alff", "design": "paired", "levels": "CLBP",
      "sessions": ["pre", "pots"]},
     r"sessions\[1\] 'pots' is not a session label .*did you mean 'post'\?"),
    ({"type": "roi_table", "feature": "alff",
      "columns": [{"label": "HC", "levels": "HC", "sessions": "pre"}]},
     r"analysis 'roi_table_1' \(roi_table\) column 'HC': sessions 'pre' is not a session "
     r"of group 'HC'"),
])
def test_session_labels(root, analysis, message):
    with _no_warning():
        problems = _check(root, [analysis], **ALFF).problems
    assert problems and re.search(message, problems[0]), problems


class _no_warning:
    """Turn any warning (e.g. 'Mean of empty slice') into an error."""

    def __enter__(self):
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)


@pytest.mark.parametrize(("analysis", "message"), [
    ({"type": "outcomes", "instrument": "VAS", "levels": "clbp"},
     "levels 'clbp' is not a group of the dataset (groups: ['CLBP', 'HC']); did you mean "
     "'CLBP'? (labels are case-sensitive)."),
    ({"type": "paired_ttest", "dv": "VAS", "levels": "CLPB"},
     "levels 'CLPB' is not a group of the dataset (groups: ['CLBP', 'HC']); did you mean "
     "'CLBP'?."),
    ({"type": "two_sample_ttest", "dv": "VAS", "levels": ["CLBP", "Controls"]},
     "levels 'Controls' is not a group of the dataset (groups: ['CLBP', 'HC'])."),
    ({"type": "two_sample_ttest", "dv": "VAS", "levels": ["CLBP", "HC"],
      "sessions": {"CLBP": "pre", "HC": "pre"}},
     "sessions['HC'] 'pre' is not a session of group 'HC' (its sessions: ['baseline'])."),
])
def test_group_labels(root, analysis, message):
    assert _one(_check(root, [analysis])).endswith(message)


@pytest.mark.parametrize(("analysis", "message"), [
    ({"type": "paired_ttest", "dv": "VSA", "levels": "CLBP"},
     "dv 'VSA' is neither an instrument with scores (['RMDQ', 'VAS']), a feature "
     "(['alff']) nor a column of the cohort table; did you mean 'VAS'?."),
    ({"type": "outcomes", "instrument": "ODI"},
     "instrument 'ODI' is an instrument with no score in the dataset (scores: "
     "['RMDQ', 'VAS'])."),
    ({"type": "paired_ttest", "dv": "falff", "levels": "CLBP"}, "dv 'falff' is neither"),
    ({"type": "correlation", "x": "VAS", "y": "alff", "covariates": ["agee"]},
     "covariate 'agee' is not a column of the cohort"),
    ({"type": "voxelwise", "feature": "qsm", "design": "one_sample"},
     "feature 'qsm' is not a map any extractor produces (maps: ['alff'])."),
    ({"type": "classifier", "features": [["alff", "SMA_X"]], "target": "group",
      "positive": "CLBP", "n_splits": 2},
     "feature ['alff', 'SMA_X']: ROI 'SMA_X' is not an ROI of the specification"),
    ({"type": "classifier", "features": [["alff", "SMA_L"]], "target": "group",
      "positive": "clbp", "n_splits": 2},
     "positive 'clbp' is not a value of 'group' (values: ['CLBP', 'HC']); did you mean "
     "'CLBP'? (labels are case-sensitive)."),
    ({"type": "classifier", "features": [["alff", "SMA_L"]], "target": "group",
      "positive": "CLBP"},
     "n_splits = 5 is more than the 2 subjects of the smaller class ('HC'); use "
     "n_splits <= 2."),
])
def test_variables(root, analysis, message):
    problem = _one(_check(root, [analysis], **ALFF))
    assert problem.startswith("analysis '") and message in problem, problem


def test_a_feature_without_rois_is_named(root):
    problem = _one(_check(root, [{"type": "paired_ttest", "dv": "alff", "levels": "CLBP"}],
                          extractors=[{"name": "alff"}]))
    assert "dv 'alff' is a feature, but the specification defines no ROIs" in problem


def test_extractor_inputs_and_parameters(root):
    report = _check(root, extractors=[{"name": "alff", "band": [0.08, 0.01]},
                                      {"name": "map_mean", "kind": "qsm"}], rois=ROIS)
    assert report.problems == (
        "[[extractors]] #1 ('alff'): The 'band' parameter must satisfy 0 <= low < high (Hz). "
        "Got (0.08, 0.01).",
        "[[extractors]] #2 ('map_mean'): 8 of 8 sessions have no 'qsm' image: sub-01 ses-pre, "
        "sub-01 ses-post, sub-02 ses-pre, sub-02 ses-post, sub-03 ses-pre and 3 more.")


def test_roi_outside_the_brain_mask_is_named(root):
    """The seed's 3 mm spheres hold no voxel of an 8 mm brain mask (SMA_L, PC_L, PC_R);
    a sphere outside the field of view is named too."""
    problems = _check(root, rois={"set": "rtms_alff_clbp", "spheres": [
        {"name": "far", "center": [0, 0, 150], "radius_mm": 3}]}).problems
    assert [p.split(":")[0] for p in problems] == [
        "[rois] ROI 'SMA_L'", "[rois] ROI 'PC_L'", "[rois] ROI 'PC_R'",
        "[rois] ROI 'far' is empty on the (26, 30, 25) grid of the target image"]
    assert problems[0].endswith("(voxel size 8 mm, radius 3 mm); use a larger radius or "
                                "finer data.")


def test_every_problem_is_listed_in_one_error(root):
    spec = parse_spec({"study": {"name": "t", "dataset": "bids"}, "analyses": [
        {"type": "outcomes", "instrument": "VAS", "levels": "clbp", "name": "a"},
        {"type": "paired_ttest", "dv": "VSA", "name": "b"},
        {"type": "correlation", "x": "VAS", "y": "RMDQ", "sessions": "week4", "name": "c"}]},
        base_dir=root)
    with pytest.raises(SpecError) as info:
        check_study(spec)
    text = str(info.value)
    assert "does not fit its dataset (3 problem(s)):" in text
    for name in ("'a' (outcomes): levels 'clbp'", "'b' (paired_ttest): dv 'VSA'",
                 "'c' (correlation): sessions 'week4'"):
        assert f"\n  - analysis {name}" in text


def test_run_checks_before_writing_and_never_reaches_empty_slices(tiny_study, tmp_path):
    """An unknown session label is an error naming the analysis, before anything is
    written (it used to run into 'Mean of empty slice' warnings)."""
    tiny_study.write_text(tiny_study.read_text().replace('levels = "CLBP"',
                                                        'levels = "CLBP"\npost = "Post"'))
    before = sorted(p.name for p in tmp_path.iterdir())
    with _no_warning(), pytest.raises(SpecError, match=r"analysis 'ppr_vas' \(outcomes\): "
                                                       r"post 'Post' is not a session label"):
        run_study(tiny_study, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no results folder


def _ungrouped(bids, how):
    if how == "no participants.tsv":
        (bids / "participants.tsv").unlink()
        note = "participants.tsv' does not exist"
    else:
        table = pd.read_csv(bids / "participants.tsv", sep="\t")
        table.drop(columns="group").to_csv(bids / "participants.tsv", sep="\t", index=False)
        note = "participants.tsv' has no 'group' column or no group value"
    return bids, note


@pytest.mark.parametrize("how", ["no participants.tsv", "no group column"])
def test_ungrouped_dataset_error_at_check_time_and_report_without_groups(tiny_copy, tmp_path,
                                                                         how):
    """Without groups an analysis that needs them is refused when checked, naming why;
    the analyses that do not need them run, and the report says there are no groups."""
    _, note = _ungrouped(tiny_copy, how)
    expect = pytest.warns(PainmarkersWarning, match="no participants.tsv: the subjects are read "
                          "without group labels") if how == "no participants.tsv" else \
        pytest.warns(PainmarkersWarning, match="without a 'group' column")
    spec = {"study": {"name": "t", "dataset": "bids", "output": "out"},
            "analyses": [{"type": "demographics", "name": "t1"},
                         {"type": "two_sample_ttest", "dv": "VAS", "levels": ["CLBP", "HC"],
                          "name": "t2"}]}
    with expect:
        report = check_study(parse_spec(spec, base_dir=tmp_path), raise_on_problems=False)
    (problem,) = report.problems
    assert problem.startswith("analysis 't2' (two_sample_ttest): a two-sample t-test needs "
                              "group labels, but the dataset has none (")
    assert note in problem
    assert report.notes[0].startswith("analysis 't1' (demographics): the dataset has no "
                                      "group labels")
    spec["analyses"] = [spec["analyses"][0],
                        {"type": "outcomes", "instrument": "VAS", "name": "ppr"}]
    with expect:
        result = run_study(parse_spec(spec, base_dir=tmp_path), progress=False)
    page = result.report_path.read_text()
    assert "no group labels" in page
    table1 = pd.read_csv(result.tables["t1"], sep="\t")
    assert table1["n"].tolist() == [5]


def test_check_command(tiny_study, capsys):
    assert main(["check", str(tiny_study)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Study 'tiny': 5 subjects (CLBP 3, HC 2), 8 sessions")
    assert "No problem found" in out
    tiny_study.write_text(tiny_study.read_text().replace('levels = "CLBP"', 'levels = "clbp"'))
    assert main(["check", str(tiny_study)]) == 1
    out = capsys.readouterr().out
    assert "1 problem(s):\n  - analysis 'ppr_vas' (outcomes): levels 'clbp'" in out
    assert not (tiny_study.parent / "results").exists()


def test_sessions_without_confounds_are_noted_and_reported(tiny_copy, tmp_path):
    """The motion rule cannot assess a session without confounds: the check notes it
    and the report lists it (it used to be skipped silently)."""
    gone = next(tiny_copy.rglob("sub-02_ses-pre_task-rest_desc-confounds_timeseries.tsv"))
    gone.unlink()
    gone.with_suffix(".json").unlink()
    spec = parse_spec({"study": {"name": "t", "dataset": "bids", "output": "out"},
                       "exclusion": {"max_translation_mm": 3.0},
                       "analyses": [{"type": "outcomes", "instrument": "VAS",
                                     "levels": "CLBP"}]}, base_dir=tmp_path)
    report = check_study(spec)
    assert report.ok and report.notes == (
        "[exclusion]: 1 session(s) have no confounds file, so the motion rule cannot assess "
        "them (they are kept and listed in the report): sub-02 ses-pre.",)
    result = run_study(spec, progress=False)
    assert "Not assessed (no confounds file), kept: 1 session(s): sub-02 ses-pre." in \
        result.report_path.read_text()
