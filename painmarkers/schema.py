"""Column names of every tidy table and result frame, in one place.

Result frames always carry every column of their schema (NaN where a column
does not apply), so that downstream code never depends on arguments.
Subpackages add their own schemas here rather than spelling column names inline.
"""

from __future__ import annotations

__all__ = [
    "CORRELATION_COLUMNS",
    "OUTCOME_COLUMNS",
    "PARTICIPANT_COLUMNS",
    "TIDY_COLUMNS",
    "TTEST_COLUMNS",
    "measure_column",
]

# --- identifiers --------------------------------------------------------------------------
SUBJECT = "subject_id"
GROUP = "group"
SESSION = "session"
KIND = "kind"
NAME = "name"
ROI = "roi"
VALUE = "value"

#: Long tidy table of a Cohort (``Cohort.to_frame()``): one row per number.
#: ``kind`` is ``"score"`` (clinical score; ``name`` = instrument), ``"measure"``
#: (imaging ROI measure; ``name`` = feature, ``roi`` = ROI name), ``"covariate"``
#: (subject-level; ``session`` is NA) or ``"metadata"`` (session-level numeric QC).
TIDY_COLUMNS = (SUBJECT, GROUP, SESSION, KIND, NAME, ROI, VALUE)

#: Extra column of ROI measures: the extractor (with parameters) that produced the value.
EXTRACTOR = "extractor"

#: ``Cohort.participants()``: one row per subject; covariates follow these columns.
PARTICIPANT_COLUMNS = (SUBJECT, GROUP)

# --- clinical outcomes (stats.outcomes) -----------------------------------------------------
OUTCOME_COLUMNS = (
    SUBJECT, GROUP, "instrument", "pre_session", "post_session", "pre", "post",
    "change", "percent_change", "responder_moderate", "responder_substantial",
    "excluded_reason",
)

# --- tests (stats.compare) ----------------------------------------------------------------
#: One row per test. ``dv`` is the variable tested, ``contrast`` what was compared
#: (e.g. ``"post - pre"``, ``"CLBP - HC"``, ``"mean - 0"``).
TTEST_COLUMNS = (
    "dv", "contrast", "method", "alternative", "n", "n_x", "n_y", "n_excluded",
    "excluded", "mean_x", "mean_y", "sd_x", "sd_y", "mean_diff", "statistic", "df", "p",
    "ci_low", "ci_high", "confidence", "cohen_d", "hedges_g",
)

# --- correlations (stats.correlate) ---------------------------------------------------------
CORRELATION_COLUMNS = (
    "x", "y", "method", "covariates", "alternative", "n", "n_excluded", "excluded", "r",
    "ci_low", "ci_high", "confidence", "statistic", "df", "p",
)

# --- multiple comparisons (stats.multiple) -----------------------------------------------
P_ADJUSTED = "p_adjusted"
REJECT = "reject"

# --- wide tables ------------------------------------------------------------------------


def measure_column(feature: str, roi: str) -> str:
    """Column name of an ROI measure in wide tables: ``"<feature>__<roi>"``.

    Examples
    --------
    >>> from painmarkers.schema import measure_column
    >>> measure_column("alff", "SMA_L")
    'alff__SMA_L'
    """
    return f"{feature}__{roi}"
