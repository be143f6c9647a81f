"""Trial-design analysis types in a study spec: keys, defaults, value checks when the spec is
read (every message names the analysis) and ``painmarkers check`` against a dataset."""

import pandas as pd
import pytest

from painmarkers.cli import main
from painmarkers.datasets import simulate_cohort
from painmarkers.exceptions import SpecError
from painmarkers.study import ANALYSIS_TYPES, check_study, parse_spec

TRIAL_TYPES = ("ancova", "mixed_anova", "lmm", "responders", "voxelwise_glm",
               "voxelwise_lmm")


def _parse(analysis):
    return parse_spec({"study": {"dataset": "bids"}, "analyses": [analysis]})


def test_every_trial_type_is_known_with_its_defaults():
    assert set(TRIAL_TYPES) <= set(ANALYSIS_TYPES)
    lmm = _parse({"type": "lmm", "dv": "VAS"}).analyses[0]
    assert lmm.name == "lmm_1"
    assert lmm.params == {"dv": "VAS", "between": "group", "within": "session",
                          "levels": None, "covariates": [], "confidence": 0.95,
                          "sessions": None, "formula": None, "random": "1",
                          "ddf": "satterthwaite", "reml": True, "pre": None, "post": None,
                          "correction": "fdr_bh"}
    anc = _parse({"type": "ancova", "dv": ["VAS", "RMDQ"], "post": "post"}).analyses[0]
    assert anc.params["post"] == ["post"] and anc.params["pre"] == "pre"
    assert _parse({"type": "ancova", "dv": "VAS", "correction": "none"}
                  ).analyses[0].params["correction"] is None
    glm = _parse({"type": "voxelwise_glm", "feature": "alff",
                  "contrasts": ["group:session"], "correction": "grf"}).analyses[0]
    assert glm.params["contrasts"] == {"group:session": "group:session"}
    assert glm.params["correction"] == ["grf"]
    vl = _parse({"type": "voxelwise_lmm", "feature": "alff", "terms": "group:session"})
    assert vl.analyses[0].params["terms"] == ["group:session"]


@pytest.mark.parametrize(("analysis", "message"), [
    ({"type": "lmm", "dv": "VAS", "ddf": "kr"},
     r"analysis 'lmm_1' .*'ddf' must be one of \['satterthwaite', 'kenward-roger', 'wald'\]\. "
     r"Got 'kr'"),
    ({"type": "lmm", "dv": "VAS", "ddf": "kenward-roger", "reml": False},
     r"analysis 'lmm_1' .*'kenward-roger' needs a REML fit"),
    ({"type": "lmm", "dv": "VAS", "formula": "VAS ~ group"},
     r"'formula' must be a right-hand side starting with '~'.*Got 'VAS ~ group'"),
    ({"type": "lmm", "dv": "VAS", "formula": "~ group + (1 | subject_id)"},
     r"'formula' holds a random-effect term"),
    ({"type": "lmm", "dv": "VAS", "reml": "yes"}, r"'reml' must be true or false"),
    ({"type": "lmm", "dv": "VAS", "sessions": ["pre", "post"], "pre": "followup"},
     r"'pre'/'post' \['followup'\] are not in 'sessions' \['pre', 'post'\]"),
    ({"type": "lmm", "dv": "VAS", "between": "session"},
     r"'between' and 'within' must be two different columns"),
    ({"type": "lmm", "dv": "VAS", "confidence": 95}, r"'confidence' must be in \(0, 1\)"),
    ({"type": "lmm", "dv": []}, r"'dv' must name at least 1"),
    ({"type": "ancova", "dv": "VAS", "post": ["post", "pre"]},
     r"analysis 'ancova_1' .*'post' must not include the baseline 'pre'"),
    ({"type": "ancova", "dv": "VAS", "ss_type": 1}, r"'ss_type' must be one of \[2, 3\]"),
    ({"type": "ancova", "dv": "VAS", "posthoc": "scheffe"}, r"'posthoc' must be one of"),
    ({"type": "ancova", "dv": "VAS", "correction": "fdr"}, r"'correction' must be one of"),
    ({"type": "ancova", "dv": "VAS", "levels": ["active"]}, r"'levels' must name at least 2"),
    ({"type": "mixed_anova", "dv": "VAS", "sphericity": "gg"},
     r"analysis 'mixed_anova_1' .*'sphericity' must be one of \['auto', 'GG', 'HF', 'none'\]"),
    ({"type": "mixed_anova", "dv": "VAS", "sessions": ["pre"]},
     r"'sessions' must name at least 2"),
    ({"type": "mixed_anova", "dv": "VAS", "observed": ["sex"]},
     r"'observed' names \['sex'\], not a variable of the model"),
    ({"type": "responders", "instrument": "VAS", "levels": ["a", "b", "c"]},
     r"analysis 'responders_1' .*'levels' must name exactly 2"),
    ({"type": "responders", "instrument": "VAS", "moderate": 0},
     r"'moderate' must be a number in \(0, 100\]"),
    ({"type": "voxelwise_glm", "feature": "alff", "contrasts": {"a": 1}},
     r"'contrasts' must be a table \{name = contrast\} of strings"),
    ({"type": "voxelwise_glm", "feature": "alff", "contrasts": []},
     r"'contrasts' must be a non-empty list"),
    ({"type": "voxelwise_glm", "feature": "alff", "correction": ["fdr"]},
     r"'correction' must be a list of \['grf', 'permutation'\]"),
    ({"type": "voxelwise_glm", "feature": "alff", "block_permutation": "between"},
     r"'block_permutation' must be one of \['within', 'whole'\]"),
    ({"type": "voxelwise_glm", "feature": "alff", "n_permutations": 0},
     r"'n_permutations' must be an integer >= 1"),
    ({"type": "voxelwise_glm", "feature": "alff", "voxel_p": 0.0},
     r"'voxel_p' must be in \(0, 1\)"),
    ({"type": "voxelwise_lmm", "feature": "alff", "ddf": "wald"},
     r"'ddf' must be one of \['satterthwaite', 'kenward-roger'\]\. Got 'wald'"),
    ({"type": "voxelwise_lmm", "feature": "alff", "correction": ["permutation"]},
     r"analysis 'voxelwise_lmm_1' .*'correction' must be a list of \['grf'\]"),
    ({"type": "ancova", "dv": "VAS", "sessions": ["pre", "post"]},
     r"Unknown key\(s\) \['sessions'\] in analysis 'ancova_1'"),
    ({"type": "lmm"}, r"analysis 'lmm_1' .* lacks the required key 'dv'"),
])
def test_bad_values_are_refused_when_the_spec_is_read(analysis, message):
    with pytest.raises(SpecError, match=message):
        _parse(analysis)


# -- against a dataset ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trial_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("trialspec")
    simulate_cohort("rtms_sham_trial", root / "bids", resolution_mm=8, n_volumes=64,
                    n_per_arm=3, random_state=2)
    return root


def _check(root, analyses, **extra):
    spec = parse_spec({"study": {"name": "t", "dataset": "bids", "task": "rest"},
                       "analyses": list(analyses), **extra}, base_dir=root)
    return check_study(spec, raise_on_problems=False)


def test_a_fitting_trial_spec_has_no_problem(trial_root):
    report = _check(trial_root, [
        {"type": "ancova", "dv": ["VAS", "RMDQ"], "levels": ["active", "sham"],
         "post": ["post", "followup"], "covariates": ["age"]},
        {"type": "lmm", "dv": "ODI", "sessions": ["pre", "post", "followup"],
         "formula": "~ group * session + age + sex"},
        {"type": "mixed_anova", "dv": "VAS", "observed": ["group"]},
        {"type": "responders", "instrument": "VAS", "post": ["post"]},
    ])
    assert report.ok, report.problems
    assert report.groups == {"active": 3, "sham": 3}


def test_problems_name_the_analysis_and_the_bad_value(trial_root):
    report = _check(trial_root, [
        {"type": "lmm", "name": "a", "dv": ["VAS", "NRS"], "levels": ["active", "Sham"],
         "sessions": ["pre", "post", "fu"], "formula": "~ group * session + weight"},
        {"type": "ancova", "name": "b", "dv": "VAS", "between": "arm", "covariates": ["agee"]},
        {"type": "responders", "name": "c", "instrument": "VAS", "post": ["week4"]},
        {"type": "mixed_anova", "name": "d", "dv": "alff"},
    ])
    text = "\n".join(report.problems)
    assert ("analysis 'a' (lmm): levels 'Sham' is not a group of the dataset (groups: "
            "['active', 'sham']); did you mean 'sham'?") in text
    assert "analysis 'a' (lmm): session 'fu' is not a session label of the dataset" in text
    assert "analysis 'a' (lmm): dv 'NRS' is an instrument with no score in the dataset" in text
    assert ("analysis 'a' (lmm): 'formula' '~ group * session + weight' uses ['weight'], "
            "which are not columns of the cohort") in text
    assert "analysis 'b' (ancova): between 'arm' is not a column of the cohort" in text
    assert "analysis 'b' (ancova): covariate 'agee' is not a column" in text
    assert "did you mean 'age'?" in text
    assert "analysis 'c' (responders): session 'week4' is not a session label" in text
    assert "analysis 'd' (mixed_anova): dv 'alff' is neither an instrument" in text
    assert len(report.problems) == 8, report.problems


def test_voxelwise_types_need_a_map_and_their_function(trial_root):
    import painmarkers.inference as inference

    report = _check(trial_root, [{"type": "voxelwise_glm", "name": "g", "feature": "falff"},
                                 {"type": "voxelwise_lmm", "name": "l", "feature": "alff"}],
                    extractors=[{"name": "alff"}])
    text = "\n".join(report.problems)
    assert "analysis 'g' (voxelwise_glm): feature 'falff' is not a map any extractor " \
           "produces (maps: ['alff'])" in text
    for kind, name in (("voxelwise_glm", "g"), ("voxelwise_lmm", "l")):
        missing = f"analysis {name!r} ({kind}): painmarkers.inference.{kind} is not available"
        assert (missing in text) is (not hasattr(inference, kind))


def test_responders_need_two_groups(tmp_path):
    # a dataset with a third arm: responders must be told which two to compare
    root = tmp_path
    simulate_cohort("rtms_sham_trial", root / "bids", resolution_mm=8, n_volumes=64,
                    n_per_arm=2, dropout=0.0, random_state=1)
    path = root / "bids" / "participants.tsv"
    participants = pd.read_csv(path, sep="\t")
    participants.loc[0, "group"] = "waitlist"
    participants.to_csv(path, sep="\t", index=False)
    report = _check(root, [{"type": "responders", "name": "r", "instrument": "VAS"}])
    assert report.problems == ("analysis 'r' (responders): needs two groups; the dataset has "
                               "['active', 'sham', 'waitlist']: name them with 'levels'.",), \
        report.problems


def test_cli_check_lists_the_problems(trial_root, capsys):
    spec = trial_root / "study.toml"
    spec.write_text('[study]\ndataset = "bids"\n\n[[analyses]]\ntype = "lmm"\nname = "x"\n'
                    'dv = "VAS"\nlevels = ["active", "placebo"]\n')
    assert main(["check", str(spec)]) == 1
    out = capsys.readouterr().out
    assert "analysis 'x' (lmm): levels 'placebo' is not a group of the dataset" in out


def test_cli_simulates_the_trial_and_refuses_seed_sizes(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--design", "rtms_sham_trial", "--out", str(out),
                 "--resolution", "6", "--n-volumes", "64", "--n-per-arm", "2",
                 "--dropout", "0"]) == 0
    participants = pd.read_csv(out / "participants.tsv", sep="\t")
    assert participants["group"].value_counts().to_dict() == {"active": 2, "sham": 2}
    assert len(pd.read_csv(out / "phenotype" / "pain.tsv", sep="\t")) == 12  # no dropout
    assert main(["simulate", "--design", "rtms_sham_trial", "--out", str(tmp_path / "x"),
                 "--n-clbp", "5"]) == 1
    assert "'n_clbp' parameter does not apply to design 'rtms_sham_trial'" in \
        capsys.readouterr().err
