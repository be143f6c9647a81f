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

#: Extra column of the tidy table: the value of a non-numeric covariate (``value`` is NaN).
TEXT = "text"

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
#: (e.g. ``"pre - post"``, ``"CLBP - HC"``, ``"mean - 0"``).
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

    Parameters
    ----------
    feature : str
        Feature name (e.g. ``"alff"``).
    roi : str
        ROI name (e.g. ``"SMA_L"``).

    Returns
    -------
    str
        ``feature + "__" + roi``.

    Examples
    --------
    >>> from painmarkers.schema import measure_column
    >>> measure_column("alff", "SMA_L")
    'alff__SMA_L'
    """
    return f"{feature}__{roi}"

# --- reliability (stats.reliability) ------------------------------------------------------
#: One row per ICC form (``type`` e.g. ``"ICC(A,1)"``, ``form`` e.g. ``"ICC2"``).
ICC_COLUMNS = (
    "dv", "type", "form", "description", "n", "k", "n_excluded", "excluded", "icc",
    "statistic", "df1", "df2", "p", "ci_low", "ci_high", "confidence",
)

# --- power (stats.power) ------------------------------------------------------------------
#: One row per power calculation; ``n`` is per group for two-sample tests, pairs for
#: paired tests, observations for correlations; ``n_total`` counts everyone.
POWER_COLUMNS = (
    "test", "alternative", "effect_size", "effect_size_type", "alpha", "power", "n",
    "n_exact", "n_total", "ratio", "solved_for", "method",
)

# --- biomarker evaluation (prediction) ----------------------------------------------------
#: One row per metric of a classifier (``metric`` e.g. ``"auc"``, ``"sensitivity"``).
METRIC_COLUMNS = (
    "metric", "estimate", "ci_low", "ci_high", "confidence", "ci_method", "n",
    "numerator", "denominator",
)

#: One row per comparison of two models (``prediction.delong_test``,
#: ``prediction.corrected_ttest``, ``IncrementalValue.comparisons``): ``comparison`` names
#: the test (``"delong"``, ``"nadeau_bengio"``, ...), ``metric`` what was compared (``"auc"``,
#: ``"r2"``); ``difference`` is ``estimate_a - estimate_b`` with its interval; ``df`` is NaN
#: for z tests.
COMPARISON_COLUMNS = (
    "comparison", "metric", "model_a", "model_b", "estimate_a", "estimate_b", "difference",
    "ci_low", "ci_high", "confidence", "statistic", "df", "p", "alternative", "n", "method",
)

# --- voxelwise inference (inference.clusters, inference.smoothness) -----------------------
#: One row per supra-threshold cluster of a ClusterResult. ``sign`` is +1/-1; ``p_cluster``
#: is the corrected cluster p; ``peak_stat`` is in the units of the map tested and
#: ``peak_z`` its z equivalent; ``com_mni_*`` is the in-cluster voxel nearest the centre
#: of mass; ``aal`` / ``harvard_oxford`` are atlas labels at the peak.
CLUSTER_COLUMNS = (
    "cluster_id", "sign", "size_voxels", "size_mm3", "p_cluster", "significant",
    "peak_stat", "peak_z", "peak_mni_x", "peak_mni_y", "peak_mni_z",
    "com_mni_x", "com_mni_y", "com_mni_z", "peak_i", "peak_j", "peak_k",
    "aal", "harvard_oxford",
)

#: One row per smoothness estimate (``Smoothness.to_frame()``).
SMOOTHNESS_COLUMNS = (
    "fwhm_x_mm", "fwhm_y_mm", "fwhm_z_mm", "fwhm_x_vox", "fwhm_y_vox", "fwhm_z_vox",
    "dlh", "n_voxels", "resel_size", "n_resels", "dof", "source",
)
