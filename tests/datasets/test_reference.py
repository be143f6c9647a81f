"""The seed studies' published figures, compared with the shared reference file."""

import json
from pathlib import Path

import numpy as np
import pytest

from painmarkers.datasets import (
    list_seed_studies,
    load_seed_study,
    seed_alff_peaks,
    seed_clinical_table,
    seed_demographics,
)

PACKAGED = Path(__file__).parents[2] / "painmarkers" / "datasets" / "data" / "seed_studies.json"


@pytest.fixture(scope="module")
def raw():
    return json.loads(PACKAGED.read_text(encoding="utf-8"))


def test_list_and_load(raw):
    assert list_seed_studies() == ["qsm_fc_clbp", "rtms_alff_clbp"]
    study = load_seed_study("qsm_fc_clbp")
    assert study == raw["qsm_fc_clbp"]
    study["design"]["groups"]["CLBP"] = -1  # a copy: the cache is not modified
    assert load_seed_study("qsm_fc_clbp")["design"]["groups"]["CLBP"] == 32


def test_unknown_study_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'name'.*'qsm_fc_clbp'.*'rtms_alff_clbp'.*'nope'"):
        load_seed_study("nope")


def test_alff_peaks_table(raw):
    peaks = seed_alff_peaks()
    table = raw["rtms_alff_clbp"]["table3_alff_peaks"]
    assert list(peaks.columns) == ["roi", "mni_x", "mni_y", "mni_z", "t_HC", "t_pre", "t_post"]
    assert len(peaks) == 9
    for row in peaks.itertuples(index=False):
        np.testing.assert_allclose(row[1:], table[row.roi], rtol=0, atol=0)
    assert peaks.set_index("roi").loc["THA_R", "t_pre"] == 6.37


def test_demographics_table(raw):
    frame = seed_demographics().set_index("group")
    clbp = raw["rtms_alff_clbp"]["table1_demographics"]["CLBP"]
    assert frame.loc["CLBP", "n"] == 15 and frame.loc["HC", "n"] == 10
    np.testing.assert_allclose(frame.loc["CLBP", ["age_mean", "age_sd", "bmi_mean", "bmi_sd"]]
                               .to_numpy(float),
                               [clbp["age_mean"], clbp["age_sd"], clbp["bmi_mean"],
                                clbp["bmi_sd"]], rtol=0, atol=0)
    assert np.isnan(frame.loc["HC", "pain_duration_years_mean"])
    with pytest.raises(ValueError, match=r"'name'.*Got 'qsm_fc_clbp'"):
        seed_demographics("qsm_fc_clbp")


def test_clinical_table(raw):
    frame = seed_clinical_table().set_index("instrument")
    vas = raw["rtms_alff_clbp"]["table2_clinical"]["VAS_0_10"]
    np.testing.assert_allclose(frame.loc["vas", ["pre_mean", "post_mean", "percent_change_mean"]]
                               .to_numpy(float),
                               [vas["pre_mean"], vas["post_mean"], vas["PPR_pct_mean"]],
                               rtol=0, atol=0)
    assert frame.loc["rmdq", "paired_t"] == 12.72
    # The stored means are consistent with the seed's PPR formula to within rounding
    # of the paper (mean of ratios differs from ratio of means: loose tolerance).
    ppr_of_means = 100 * (vas["pre_mean"] - vas["post_mean"]) / vas["pre_mean"]
    np.testing.assert_allclose(ppr_of_means, vas["PPR_pct_mean"], rtol=0, atol=2.0)
    with pytest.raises(ValueError, match="'name'"):
        seed_clinical_table("qsm_fc_clbp")
