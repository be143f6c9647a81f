"""Reporting: publication tables, figures, the HTML report and the methods paragraph.

Tables are numeric DataFrames in the form of the seed study's Tables 1 and 2
(:func:`demographics_table`, :func:`clinical_table`); :func:`format_table` gives
their printed strings.
"""

from painmarkers.reporting.methods import REFERENCES, methods_text
from painmarkers.reporting.plots import (
    plot_alff_spectrum,
    plot_correlation,
    plot_group_values,
    plot_stat_map,
)
from painmarkers.reporting.report import HTMLReport, write_atomic
from painmarkers.reporting.tables import clinical_table, demographics_table, format_table

__all__ = [
    "REFERENCES",
    "HTMLReport",
    "clinical_table",
    "demographics_table",
    "format_table",
    "methods_text",
    "plot_alff_spectrum",
    "plot_correlation",
    "plot_group_values",
    "plot_stat_map",
    "write_atomic",
]
