"""The keys of a study specification use the words of the Python API.

``levels`` = group label(s), ``sessions`` = session label(s), ``between`` = the group
column. The keys before painmarkers 0.2 (``group``, ``groups``, ``session``) still work
with a FutureWarning naming the analysis, the old and the new key; giving an old key with
its new one is an error naming both.
"""

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from painmarkers.cli import main
from painmarkers.exceptions import SpecError
from painmarkers.study import DEMO_SPECS, check_study, load_spec, parse_spec, run_study
from painmarkers.study.spec import RENAMED_COLUMN_KEYS, RENAMED_KEYS

BASE = {"study": {"name": "x", "dataset": "bids"}}

#: (type, old key, new key, the other keys of a valid analysis, a valid value)
CASES = [
    ("demographics", "group", "between", {}, "arm"),
    ("clinical_table", "group", "levels", {"instruments": ["VAS"]}, "CLBP"),
    ("outcomes", "group", "levels", {"instrument": "VAS"}, "CLBP"),
    ("paired_ttest", "group", "levels", {"dv": "VAS"}, "CLBP"),
    ("two_sample_ttest", "groups", "levels",
     {"dv": "VAS", "sessions": {"CLBP": "pre", "HC": "baseline"}}, ["CLBP", "HC"]),
    ("correlation", "group", "levels", {"x": "VAS", "y": "alff"}, "CLBP"),
    ("correlation", "session", "sessions", {"x": "VAS", "y": "alff"}, "pre"),
    ("voxelwise", "groups", "levels", {"feature": "alff", "design": "two_sample"},
     ["CLBP", "HC"]),
    ("voxelwise", "group", "levels",
     {"feature": "alff", "design": "paired", "sessions": ["pre", "post"]}, "CLBP"),
    ("voxelwise", "session", "sessions", {"feature": "alff", "design": "one_sample"}, "pre"),
    ("prognosis", "group", "levels", {"instrument": "VAS", "features": [["alff", "SMA_L"]]},
     "CLBP"),
    ("signature", "group", "levels", {"weights": "/w.nii.gz", "feature": "alff"}, "CLBP"),
    ("group_plot", "groups", "levels", {"dv": "qsm"}, ["CLBP", "HC"]),
    ("composite_correlation", "group", "levels", {"x": "qsm", "y": "VAS"}, "CLBP"),
    ("composite_correlation", "session", "sessions", {"x": "qsm", "y": "VAS"}, "baseline"),
]


def _parse(analysis):
    return parse_spec({**BASE, "analyses": [analysis]}).analyses[0]


def test_every_renamed_key_is_tested():
    """A rename added to the table without a case here fails this test."""
    assert {(kind, old, new) for kind, old, new, _, _ in CASES} == {
        (kind, old, new) for kind, renames in RENAMED_KEYS.items()
        for old, new in renames.items()}
    assert RENAMED_COLUMN_KEYS == {"group": "levels", "session": "sessions"}


@pytest.mark.parametrize(("kind", "old", "new", "others", "value"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_old_key_warns_and_parses_as_the_new_one(kind, old, new, others, value):
    analysis = {"type": kind, "name": "a1", **others}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new key: no warning
        expected = _parse({**analysis, new: value})
    message = (rf"^analysis 'a1' \(\[\[analyses\]\] #1, type '{kind}'\): the key '{old}' "
               rf"was renamed '{new}' in painmarkers 0\.2 .* stop working in 0\.3\. "
               rf"Write {new} = ")
    with pytest.warns(FutureWarning, match=message) as caught:
        got = _parse({**analysis, old: value})
    assert len(caught) == 1
    assert got == expected and got.params[new] == value and old not in got.params
    assert got.renamed == ((old, new),) and expected.renamed == ()


@pytest.mark.parametrize(("kind", "old", "new", "others", "value"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_old_and_new_key_together_is_an_error_naming_both(kind, old, new, others, value):
    analysis = {"type": kind, "name": "a1", **others, old: value, new: value}
    with pytest.raises(SpecError, match=rf"^analysis 'a1' .*: both '{old}' \(the old name "
                                        rf"of '{new}'\) and '{new}' are given; keep only "
                                        rf"'{new}'\.$"):
        _parse(analysis)


def test_two_old_names_of_one_key_are_an_error_naming_both():
    """voxelwise had 'groups' (two-sample) and 'group' (a selection): both are 'levels'."""
    with pytest.raises(SpecError, match=r"both 'group' \(the old name of 'levels'\) and "
                                        r"'groups' \(also renamed 'levels'\) are given"), \
            pytest.warns(FutureWarning, match="'groups' was renamed 'levels'"):
        _parse({"type": "voxelwise", "feature": "alff", "design": "two_sample",
                "groups": ["CLBP", "HC"], "group": "CLBP"})


@pytest.mark.parametrize("kind", ["roi_table", "group_maps"])
def test_old_keys_of_columns_warn_and_parse_as_the_new_ones(kind):
    new = {"type": kind, "name": "t", "feature": "alff",
           "columns": [{"label": "HC", "levels": "HC", "sessions": "baseline"},
                       {"label": "pre", "levels": "CLBP", "sessions": "pre"}]}
    old = {**new, "columns": [{"label": "HC", "group": "HC", "session": "baseline"},
                              {"label": "pre", "levels": "CLBP", "sessions": "pre"}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = _parse(new)
    with pytest.warns(FutureWarning) as caught:
        got = _parse(old)
    texts = [str(w.message) for w in caught]
    assert len(texts) == 2
    assert texts[0].startswith(f"analysis 't' ([[analyses]] #1, type '{kind}'): 'columns' "
                               "#1: the key 'group' was renamed 'levels'")
    assert "the key 'session' was renamed 'sessions'" in texts[1]
    assert got == expected
    assert got.renamed == (("columns #1 group", "levels"), ("columns #1 session", "sessions"))
    both = {**new, "columns": [{"label": "HC", "group": "HC", "levels": "HC"}]}
    with pytest.raises(SpecError, match=r"'columns' #1: both 'group' \(the old name of "
                                        r"'levels'\) and 'levels' are given"):
        _parse(both)


def test_the_warning_shows_the_new_spelling_in_toml():
    with pytest.warns(FutureWarning, match=r'Write levels = \["CLBP", "HC"\]\.$'):
        _parse({"type": "two_sample_ttest", "dv": "VAS", "groups": ["CLBP", "HC"]})
    with pytest.warns(FutureWarning, match=r'Write sessions = "pre"\.$'):
        _parse({"type": "correlation", "x": "VAS", "y": "alff", "session": "pre"})


def test_the_warning_points_at_the_callers_line():
    with pytest.warns(FutureWarning) as caught:
        _parse({"type": "outcomes", "instrument": "VAS", "group": "CLBP"})
    assert Path(caught[0].filename).name == Path(__file__).name


@pytest.mark.parametrize("design", sorted(DEMO_SPECS))
def test_packaged_demo_specs_use_only_the_new_keys(design):
    path = Path(__file__).parents[2] / "painmarkers" / "study" / "specs" / DEMO_SPECS[design]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = load_spec(path)
    assert all(a.renamed == () for a in spec.analyses)
    text = path.read_text()
    assert not re.search(r"(?m)^(group|groups|session) = ", text)
    assert not re.search(r"[{,] *(group|session) = ", text)


# -- the shapes of levels and sessions ------------------------------------------------------
@pytest.mark.parametrize(("analysis", "message"), [
    ({"type": "two_sample_ttest", "dv": "VAS", "levels": "CLBP"}, r"'levels' must be list"),
    ({"type": "group_plot", "dv": "qsm", "levels": "CLBP"}, r"'levels' must be list"),
    ({"type": "voxelwise", "feature": "alff", "design": "two_sample", "levels": "CLBP"},
     r"'levels' must be a list of the group labels compared"),
    ({"type": "outcomes", "instrument": "VAS", "levels": ["CLBP", "CLBP"]},
     r"'levels' lists a name twice"),
    ({"type": "outcomes", "instrument": "VAS", "levels": []}, r"'levels' must name at least 1"),
    ({"type": "correlation", "x": "VAS", "y": "alff", "sessions": ["pre", "post"]},
     r"'sessions' of a correlation must be one session label"),
    ({"type": "voxelwise", "feature": "alff", "design": "one_sample",
      "sessions": {"CLBP": "pre"}},
     r"'sessions' of a one_sample design must be one session label"),
    ({"type": "roi_table", "feature": "alff",
      "columns": [{"label": "a", "levels": "HC", "sessions": ["pre", "post"]}]},
     r"'columns' #1 must be a table with a string 'label', optional 'levels'"),
    ({"type": "demographics", "between": ""}, r"'between' must be a non-empty string"),
])
def test_shapes_of_levels_and_sessions(analysis, message):
    with pytest.raises(SpecError, match=message):
        _parse(analysis)


def test_a_selection_takes_one_group_label_or_a_list():
    one = _parse({"type": "paired_ttest", "dv": "VAS", "levels": "CLBP"})
    both = _parse({"type": "paired_ttest", "dv": "VAS", "levels": ["CLBP", "HC"]})
    assert one.params["levels"] == "CLBP" and both.params["levels"] == ["CLBP", "HC"]


# -- painmarkers check and run ----------------------------------------------------------------
def test_check_reports_the_new_names(tiny_study, capsys):
    """An old key: the check warns, names the new key in its notes, and its problems
    use the new names."""
    text = tiny_study.read_text().replace('levels = "CLBP"', 'group = "clbp"')
    tiny_study.write_text(text)
    with pytest.warns(FutureWarning, match=r"analysis 'ppr_vas' .*'group' was renamed "
                                           r"'levels'"):
        status = main(["check", str(tiny_study)])
    out = capsys.readouterr().out
    assert status == 1
    assert "  - analysis 'ppr_vas' (outcomes): levels 'clbp' is not a group of the dataset" \
        in out
    assert "analysis 'ppr_vas' (outcomes) uses old key names, which work until painmarkers " \
           "0.3: rename 'group' to 'levels'." in out
    with pytest.warns(FutureWarning):
        report = check_study(tiny_study, raise_on_problems=False)
    assert any("rename 'group' to 'levels'" in n for n in report.notes)


def test_a_list_of_levels_selects_several_groups(tiny_study, tmp_path):
    """A list of levels is checked group by group (HC has no 'pre' session), and a list
    of one label selects what the label selects."""
    text = tiny_study.read_text().replace('levels = "CLBP"', 'levels = ["CLBP", "HC"]')
    tiny_study.write_text(text)
    with pytest.raises(SpecError, match=r"pre 'pre' is not a session of group 'HC'"):
        check_study(tiny_study)
    tiny_study.write_text(text.replace('levels = ["CLBP", "HC"]', 'levels = ["CLBP"]'))
    as_list = run_study(tiny_study, out_dir=tmp_path / "a", progress=False)
    tiny_study.write_text(text.replace('levels = ["CLBP", "HC"]', 'levels = "CLBP"'))
    as_label = run_study(tiny_study, out_dir=tmp_path / "b", progress=False)
    a = pd.read_csv(as_list.out_dir / "tables" / "ppr_vas.tsv", sep="\t")
    b = pd.read_csv(as_label.out_dir / "tables" / "ppr_vas.tsv", sep="\t")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 3
