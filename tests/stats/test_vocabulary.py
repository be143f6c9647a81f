"""The vocabulary of data parameters in painmarkers.stats and painmarkers.reporting.tables.

Every renamed parameter and every parameter that became keyword-only keeps its old
spelling working for one release: the old call gives the same result as the new one
and warns with a FutureWarning naming the new spelling.
"""

import inspect

import numpy as np
import pandas as pd
import pytest

from painmarkers.reporting import clinical_table, demographics_table
from painmarkers.stats import (
    correlate,
    icc,
    one_sample_ttest,
    outcomes,
    paired_ttest,
    two_sample_ttest,
)


@pytest.fixture
def wide():
    """CLBP pre/post, HC pre/post; group column 'arm', session column 'visit'."""
    rng = np.random.default_rng(3)
    n = 8
    return pd.DataFrame({
        "subject_id": [f"s{i}" for i in range(n)] * 2,
        "arm": (["CLBP"] * 4 + ["HC"] * 4) * 2,
        "visit": ["pre"] * n + ["post"] * n,
        "VAS": rng.uniform(2, 9, 2 * n),
        "alff__SMA_L": rng.normal(size=2 * n),
        "age": np.repeat(rng.uniform(30, 60, n), 2),
    })


def _same(old, new):
    pd.testing.assert_frame_equal(old, new)


def _old(match, func, *args, **kwargs):
    with pytest.warns(FutureWarning, match=match):
        return func(*args, **kwargs)


def test_one_sample_session_and_group_renamed(wide):
    new = one_sample_ttest(wide, "alff__SMA_L", sessions={"CLBP": "pre"}, within="visit",
                           between="arm")
    _same(_old("'sessions'", one_sample_ttest, wide, "alff__SMA_L", session={"CLBP": "pre"},
               within="visit", between="arm"), new)
    _same(_old("'between'", one_sample_ttest, wide, "alff__SMA_L", sessions={"CLBP": "pre"},
               within="visit", group="arm"), new)
    assert new["n"].iloc[0] == 4


def test_two_sample_groups_session_and_positions(wide):
    new = two_sample_ttest(wide, "alff__SMA_L", between="arm", levels=("HC", "CLBP"),
                           sessions="pre", within="visit")
    assert new["contrast"].iloc[0] == "HC - CLBP"
    _same(_old("'levels'", two_sample_ttest, wide, "alff__SMA_L", between="arm",
               groups=("HC", "CLBP"), sessions="pre", within="visit"), new)
    _same(_old("'sessions'", two_sample_ttest, wide, "alff__SMA_L", between="arm",
               levels=("HC", "CLBP"), session="pre", within="visit"), new)
    _same(_old("between=..., levels=...", two_sample_ttest, wide, "alff__SMA_L", "arm",
               ("HC", "CLBP"), sessions="pre", within="visit"), new)
    with pytest.raises(TypeError, match=r"got both 'groups'.*and 'levels'"):
        two_sample_ttest(wide, "alff__SMA_L", groups=("HC", "CLBP"), levels=("HC", "CLBP"))


def test_correlate_session_group_and_positions(wide):
    pre = wide[wide.visit == "pre"]
    new = correlate(wide, "VAS", "alff__SMA_L", method="spearman", covariates="age",
                    sessions="pre", within="visit", between="arm")
    _same(_old("'sessions'", correlate, wide, "VAS", "alff__SMA_L", method="spearman",
               covariates="age", session="pre", within="visit", between="arm"), new)
    _same(_old("'between'", correlate, wide, "VAS", "alff__SMA_L", method="spearman",
               covariates="age", sessions="pre", within="visit", group="arm"), new)
    _same(_old("method=..., covariates=...", correlate, wide, "VAS", "alff__SMA_L",
               "spearman", "age", sessions="pre", within="visit"), new)
    assert new["n"].iloc[0] == len(pre)


def test_paired_positions(wide):
    new = paired_ttest(wide, "VAS", pre="post", post="pre", within="visit")
    assert new["contrast"].iloc[0] == "post - pre"
    _same(_old("within=..., pre=..., post=...", paired_ttest, wide, "VAS", "visit", "post",
               "pre"), new)


def test_outcomes_group_and_positions(wide):
    new = outcomes(wide, "VAS", pre="pre", post="post", within="visit", between="arm")
    assert list(new["group"][:4]) == ["CLBP"] * 4
    _same(_old("'between'", outcomes, wide, "VAS", within="visit", group="arm"), new)
    _same(_old("pre=..., post=...", outcomes, wide, "VAS", "pre", "post", within="visit",
               between="arm"), new)


def test_icc_session_column_is_within(wide):
    data = wide.rename(columns={"subject_id": "sid"})
    new = icc(data, "alff__SMA_L", subject="sid", within="visit")
    _same(_old("'within'", icc, data, "alff__SMA_L", subject="sid", session="visit"), new)
    _same(_old("subject=..., within=...", icc, data, "alff__SMA_L", "sid", "visit"), new)


def test_demographics_group_groups_and_positions(wide):
    people = wide[wide.visit == "pre"].assign(sex=list("FMFMFMFF"))
    new = demographics_table(people, between="arm", levels=["HC", "CLBP"], variables=["age"])
    assert list(new["group"]) == ["HC", "CLBP"]
    _same(_old("'between'", demographics_table, people, group="arm", levels=["HC", "CLBP"],
               variables=["age"]), new)
    _same(_old("'levels'", demographics_table, people, between="arm", groups=["HC", "CLBP"],
               variables=["age"]), new)
    old = _old("between=..., variables=...", demographics_table, people, "arm", ["age"],
               levels=["HC", "CLBP"])
    _same(old, new)


def test_clinical_table_positions(wide):
    new = clinical_table(wide, ["VAS"], pre="pre", post="post", within="visit")
    _same(_old("pre=..., post=...", clinical_table, wide, ["VAS"], "pre", "post",
               within="visit"), new)


@pytest.mark.parametrize("func", [one_sample_ttest, two_sample_ttest, paired_ttest, correlate,
                                  outcomes, icc, demographics_table, clinical_table])
def test_signatures_use_the_vocabulary(func):
    params = inspect.signature(func).parameters
    banned = {"session", "group", "groups", "subject_col", "group_column", "session_col"}
    assert not banned & set(params), func.__name__
    kinds = {name: p.kind for name, p in params.items()}
    for name in ("within", "between", "levels", "sessions", "subject", "pre", "post",
                 "alternative", "confidence"):
        if name in kinds:
            assert kinds[name] is inspect.Parameter.KEYWORD_ONLY, (func.__name__, name)


def test_siblings_take_the_same_arguments_in_the_same_order():
    def order(func, names):
        params = list(inspect.signature(func).parameters)
        return [n for n in params if n in names]

    common = ("pre", "post", "within", "subject")
    assert order(paired_ttest, common) == order(outcomes, common) == order(clinical_table,
                                                                           common) == list(common)
    grouped = ("between", "levels", "sessions", "within", "subject")
    assert order(two_sample_ttest, grouped) == order(demographics_table, grouped) == list(grouped)
    assert order(one_sample_ttest, grouped) == order(correlate, grouped) == [
        "between", "sessions", "within", "subject"]
