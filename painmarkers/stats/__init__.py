"""Tabular statistics: outcomes, t-tests, correlations, trial designs, multiple comparisons.

Every function takes a :class:`~painmarkers.model.Cohort` or a DataFrame plus
column names and returns a tidy DataFrame with one row per test and the fixed
columns of :mod:`painmarkers.schema`.
"""

from painmarkers.stats.anova import AncovaResult, MixedAnovaResult, ancova, mixed_anova
from painmarkers.stats.compare import one_sample_ttest, paired_ttest, two_sample_ttest
from painmarkers.stats.correlate import correlate
from painmarkers.stats.lmm import LMMResult, lmm
from painmarkers.stats.multiple import adjust_pvalues
from painmarkers.stats.outcomes import outcomes, percent_change
from painmarkers.stats.power import power_corr, power_from_result, power_ttest
from painmarkers.stats.reliability import ICCMapResult, icc, icc_map
from painmarkers.stats.responders import responders

__all__ = [
    "AncovaResult",
    "ICCMapResult",
    "LMMResult",
    "MixedAnovaResult",
    "adjust_pvalues",
    "ancova",
    "correlate",
    "icc",
    "icc_map",
    "lmm",
    "mixed_anova",
    "one_sample_ttest",
    "outcomes",
    "paired_ttest",
    "percent_change",
    "power_corr",
    "power_from_result",
    "power_ttest",
    "responders",
    "two_sample_ttest",
]
