"""Readable measure names and units for headers, axes and captions."""

import pytest

from painmarkers.reporting.labels import feature_label, measure_label, measure_unit, with_unit


@pytest.mark.parametrize("column, label, unit", [
    ("alff__mPFC", "ALFF (mPFC)", None),
    ("qsm__Postcentral_L", "QSM (Postcentral_L)", "ppm"),
    ("seed_fc_aal:Postcentral_L__Frontal_Sup_2_L", "FC aal:Postcentral_L - Frontal_Sup_2_L",
     "Fisher z"),
    ("VAS", "VAS", "cm"), ("RMDQ", "RMDQ", "points"), ("age", "age", None),
])
def test_measure_labels_and_units(column, label, unit):
    assert measure_label(column) == label
    assert measure_unit(column) == unit


def test_units_in_headers_and_axis_labels():
    assert with_unit("mean CLBP", "ppm") == "mean CLBP (ppm)"
    assert with_unit("QSM (Postcentral_L)", "ppm") == "QSM (Postcentral_L), ppm"
    assert with_unit("ALFF (mPFC)", None) == "ALFF (mPFC)"
    assert feature_label("qsm") == "QSM" and feature_label("my_map") == "my map"
