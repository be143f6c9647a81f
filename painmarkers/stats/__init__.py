"""Tabular statistics: clinical outcomes, t-tests, correlations, multiple comparisons.

Every function takes a :class:`~painmarkers.model.Cohort` or a DataFrame plus
column names and returns a tidy DataFrame with one row per test and the fixed
columns of :mod:`painmarkers.schema`.
"""

from painmarkers.stats.compare import one_sample_ttest, paired_ttest, two_sample_ttest
from painmarkers.stats.correlate import correlate
from painmarkers.stats.multiple import adjust_pvalues
from painmarkers.stats.outcomes import outcomes, percent_change
from painmarkers.stats.power import power_corr, power_from_result, power_ttest
from painmarkers.stats.reliability import ICCMapResult, icc, icc_map

__all__ = [
    "ICCMapResult",
    "adjust_pvalues",
    "correlate",
    "icc",
    "icc_map",
    "one_sample_ttest",
    "outcomes",
    "paired_ttest",
    "percent_change",
    "power_corr",
    "power_from_result",
    "power_ttest",
    "two_sample_ttest",
]
