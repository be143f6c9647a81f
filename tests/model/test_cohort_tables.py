"""A Cohort and its tidy table (Cohort.to_frame()) are interchangeable stats inputs."""

import inspect

import numpy as np
import pandas as pd
import pytest

import painmarkers.stats as stats
from painmarkers import ClinicalScore, Cohort, ROIMeasure, Session, Subject
from painmarkers.exceptions import DataError, InferenceWarning
from painmarkers.stats._data import as_table


@pytest.fixture(scope="module")
def cohort():
    """12 subjects (CLBP / HC) x pre, post: VAS, one ROI measure, covariates, QC metadata."""
    rng = np.random.default_rng(3)
    subjects = []
    for i in range(12):
        group = "CLBP" if i < 6 else "HC"
        sessions = []
        for label, shift in (("pre", 0.0), ("post", -2.0)):
            vas = float(np.clip(rng.normal(6 if group == "CLBP" else 1, 1.2) + shift, 0, 10))
            alff = float(rng.normal(1.0 + 0.05 * vas, 0.1))
            sessions.append(Session(
                label, [ClinicalScore("VAS", round(vas, 1))],
                [ROIMeasure("SMA_L", "alff", alff, "ALFF()")],
                metadata={"t_r": 2.0, "mean_fd": float(rng.uniform(0.05, 0.3)),
                          "acq_time": "10:00"}))
        covs = {"age": int(rng.integers(25, 65)), "sex": "F" if i % 3 else "M",
                "bmi": np.nan if i == 4 else float(rng.normal(26, 3)), "site": f"00{i % 2}"}
        subjects.append(Subject(f"{i:02d}", group, covs, sessions))
    return Cohort(subjects)


def _run(func, data):
    """Every stats function that takes data, with arguments that exercise every kind of
    column: scores, measures, covariates (partial correlation) and session metadata."""
    pre = data.select(sessions="pre") if isinstance(data, Cohort) else \
        data[data["session"].isna() | (data["session"] == "pre")]
    calls = {
        "outcomes": lambda: func(data, "VAS"),
        "paired_ttest": lambda: func(data, ["VAS", "alff__SMA_L", "mean_fd"]),
        "two_sample_ttest": lambda: func(pre, ["VAS", "age", "alff__SMA_L"]),
        "one_sample_ttest": lambda: func(pre, ["alff__SMA_L", "mean_fd"], mu=1.0),
        "correlate": lambda: func(pre, ["alff__SMA_L", "mean_fd"], "VAS",
                                  covariates=["age", "bmi"]),
        "icc": lambda: func(data, "alff__SMA_L"),
        "ancova": lambda: func(data, "VAS", "group", covariates="age", baseline="pre",
                               post="post").to_frame(),
        "mixed_anova": lambda: func(data, "alff__SMA_L", "group",
                                    covariates="age").to_frame(),
        "responders": lambda: func(data, "VAS"),
        "lmm": lambda: _quiet(func, data, "VAS ~ group * session + age").fixed_effects,
    }
    return calls[func.__name__]()


def _quiet(func, *args):
    """The fixture's sessions are independent, so the LMM fit is singular (warned)."""
    with pytest.warns(InferenceWarning, match="singular"):
        return func(*args)


#: Public stats functions whose ``data`` is not a table (voxelwise images).
_IMAGE_INPUT = {"icc_map"}


def _table_functions():
    out = []
    for name in stats.__all__:
        obj = getattr(stats, name)
        if inspect.isfunction(obj) and next(iter(inspect.signature(obj).parameters)) == "data" \
                and name not in _IMAGE_INPUT:
            out.append(name)
    return out


def test_every_table_function_is_covered():
    # a new stats function taking a Cohort or a table must be added to _run
    covered = {"outcomes", "paired_ttest", "two_sample_ttest", "one_sample_ttest",
               "correlate", "icc", "ancova", "mixed_anova", "responders", "lmm"}
    assert set(_table_functions()) == covered


@pytest.mark.parametrize("name", _table_functions())
def test_stats_give_identical_results_on_a_cohort_and_its_tidy_table(cohort, name):
    func = getattr(stats, name)
    from_cohort = _run(func, cohort)
    from_tidy = _run(func, cohort.to_frame())
    assert len(from_cohort) > 0
    pd.testing.assert_frame_equal(from_cohort, from_tidy, check_exact=True)


def test_as_table_of_cohort_and_tidy_table_are_equal(cohort):
    a = as_table(cohort)
    b = as_table(cohort.to_frame())
    assert set(a.columns) == set(b.columns)
    pd.testing.assert_frame_equal(a, b[a.columns], check_exact=True)
    # the wide table carries covariates (numbers as float, text as text) and numeric QC
    assert {"age", "sex", "bmi", "site", "t_r", "mean_fd", "VAS", "alff__SMA_L"} <= set(a.columns)
    assert "acq_time" not in a.columns  # text metadata stay out of both
    row = a.set_index(["subject_id", "session"]).loc[("01", "post")]
    sub = cohort["01"]
    assert row["age"] == sub.covariates["age"] and row["sex"] == sub.covariates["sex"]
    assert row["site"] == "001"
    assert row["mean_fd"] == sub.session("post").metadata["mean_fd"]
    assert row["alff__SMA_L"] == sub.session("post").measure("alff", "SMA_L")


def test_tidy_table_with_a_duplicated_value_is_refused(cohort):
    tidy = cohort.to_frame()
    dup = pd.concat([tidy, tidy[tidy["kind"] == "covariate"].iloc[[0]]])
    with pytest.raises(DataError, match="more than one value of 'age' for subject '00'"):
        as_table(dup)
