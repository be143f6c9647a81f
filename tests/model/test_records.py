"""Tests of the domain records and the instrument registry."""

import math

import pytest

from painmarkers import (
    ClinicalScore,
    DataError,
    Instrument,
    ROIMeasure,
    ScoreRangeError,
    Session,
    Subject,
    get_instrument,
    list_instruments,
    register_instrument,
)
from painmarkers.exceptions import RegistryError


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("VAS", 0, 10), ("NRS", 0, 10), ("RMDQ", 0, 24), ("ODI", 0, 100)],
)
def test_builtin_instrument_ranges(name, low, high):
    inst = get_instrument(name)
    assert (inst.low, inst.high) == (low, high)
    assert inst.direction == "higher_is_worse"
    assert name in list_instruments()


@pytest.mark.parametrize("alias", ["roland-morris", "Roland_Morris", "rm", "RMDQ", " rmdq "])
def test_instrument_aliases(alias):
    assert get_instrument(alias).name == "RMDQ"


def test_unknown_instrument_lists_known():
    with pytest.raises(RegistryError, match=r"Unknown instrument 'PHQ9'.*VAS"):
        ClinicalScore("PHQ9", 3)


def test_register_instrument_and_clash():
    inst = Instrument("PCS_TEST", 0, 52, aliases=("pcs-test",))
    register_instrument(inst)
    assert ClinicalScore("pcs-test", 30).instrument == "PCS_TEST"
    with pytest.raises(RegistryError, match="already registered"):
        register_instrument(Instrument("pcs_test", 0, 10))
    register_instrument(Instrument("PCS_TEST", 0, 60), overwrite=True)
    assert get_instrument("PCS_TEST").high == 60


def test_instrument_bad_definition():
    with pytest.raises(ValueError, match="'low' must be < 'high'"):
        Instrument("X", 10, 0)
    with pytest.raises(ValueError, match="direction"):
        Instrument("X", 0, 1, direction="up")


@pytest.mark.parametrize(("inst", "value"), [("VAS", 10.5), ("VAS", -0.1), ("RMDQ", 25)])
def test_score_out_of_range(inst, value):
    with pytest.raises(ScoreRangeError, match=rf"{inst} score {value:g} is outside .*\[0, "):
        ClinicalScore(inst, value)


def test_score_bounds_inclusive_and_nan_kept():
    assert ClinicalScore("VAS", 0).value == 0.0
    assert ClinicalScore("VAS", 10).value == 10.0
    assert math.isnan(ClinicalScore("VAS", float("nan")).value)
    assert ClinicalScore("VAS", "7.5").value == 7.5  # numeric strings from TSV files


@pytest.mark.parametrize("bad", ["seven", None, True, [7]])
def test_score_non_numeric(bad):
    with pytest.raises(DataError, match="VAS score must be a number"):
        ClinicalScore("VAS", bad)


def test_roi_measure():
    m = ROIMeasure("SMA_L", "alff", 1, extractor="ALFF()")
    assert m.value == 1.0 and isinstance(m.value, float)
    with pytest.raises(DataError, match="'roi' must be a non-empty string"):
        ROIMeasure("", "alff", 1.0)
    with pytest.raises(DataError, match="must be a number"):
        ROIMeasure("SMA_L", "alff", "high")


def test_session_label_and_duplicates():
    s = Session("ses-pre", scores=[ClinicalScore("VAS", 7)], images={"bold": "a.nii.gz"})
    assert s.label == "pre"
    assert s.score("vas") == 7.0
    assert str(s.images["bold"]) == "a.nii.gz"
    with pytest.raises(KeyError, match="no RMDQ score"):
        s.score("RMDQ")
    with pytest.raises(DataError, match="two VAS scores"):
        Session("pre", scores=[ClinicalScore("VAS", 7), ClinicalScore("vas", 6)])
    with pytest.raises(DataError, match="two measures of feature 'alff' in ROI 'INS_L'"):
        Session("pre", measures=[ROIMeasure("INS_L", "alff", 1), ROIMeasure("INS_L", "alff", 2)])
    with pytest.raises(DataError, match="session label"):
        Session("pre post")


def test_session_is_read_only():
    s = Session("pre", metadata={"t_r": 3.0})
    with pytest.raises(TypeError):
        s.metadata["t_r"] = 2.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        s.label = "post"  # type: ignore[misc]


def test_subject_duplicate_session():
    with pytest.raises(DataError, match="Subject '07' has session label 'pre' twice"):
        Subject("sub-07", "CLBP", sessions=[Session("pre"), Session("ses-pre")])


def test_subject_session_lookup():
    sub = Subject(7, "CLBP", {"age": 40}, [Session("pre"), Session("post")])
    assert sub.id == "7"
    assert sub.session("ses-post").label == "post"
    with pytest.raises(KeyError, match="Subject '7' has no session 'baseline'"):
        sub.session("baseline")


@pytest.mark.parametrize(("name", "unit"), [("VAS", "cm"), ("NRS", "points"),
                                            ("RMDQ", "points"), ("ODI", "%")])
def test_builtin_instrument_units(name, unit):
    # issue 2: each registered instrument has a unit and a direction (higher = more pain or
    # disability for all four)
    inst = get_instrument(name)
    assert inst.unit == unit and inst.direction == "higher_is_worse"
