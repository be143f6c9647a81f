"""Extractor registry: built-ins, registration with checks, errors."""

from __future__ import annotations

import pytest

from painmarkers.exceptions import ExtractorError, RegistryError
from painmarkers.extractors import (
    ALFF,
    BaseExtractor,
    FractionalALFF,
    SeedFC,
    get_extractor,
    list_extractors,
    register_extractor,
)


class TemporalRange(BaseExtractor):
    feature = "trange"
    input_kind = "bold"

    def compute(self, data, context):
        return data.max(axis=0) - data.min(axis=0)


class WrongWidth(TemporalRange):
    def compute(self, data, context):
        return data[:, 1:].mean(axis=0)


def test_builtins_are_available():
    assert get_extractor("alff") is ALFF
    assert get_extractor("falff") is FractionalALFF
    assert get_extractor("seed_fc") is SeedFC
    assert {"alff", "falff", "seed_fc"} <= set(list_extractors())


def test_register_checks_then_accepts():
    assert register_extractor("trange_test", TemporalRange, overwrite=True) is TemporalRange
    assert get_extractor("trange_test") is TemporalRange
    assert "trange_test" in list_extractors()
    register_extractor("trange_test", TemporalRange)  # same class again: fine


def test_register_refuses_a_taken_name_and_failing_classes():
    register_extractor("trange_taken", TemporalRange, overwrite=True)
    with pytest.raises(RegistryError, match="already registered as 'trange_taken'"):
        register_extractor("trange_taken", WrongWidth)
    with pytest.raises(ExtractorError, match="WrongWidth fails the painmarkers extractor checks"):
        register_extractor("wrong_width", WrongWidth)
    with pytest.raises(RegistryError, match="Unknown extractor 'wrong_width'"):
        get_extractor("wrong_width")


@pytest.mark.parametrize("bad", ["ALFF", "1x", "my-ext", "", 3])
def test_bad_names(bad):
    with pytest.raises(ValueError, match="'name' parameter must be a lower-case identifier"):
        register_extractor(bad, TemporalRange)


def test_unknown_name_lists_known_ones():
    with pytest.raises(RegistryError, match=r"Unknown extractor 'reho'; known extractors: .*alff"):
        get_extractor("reho")
