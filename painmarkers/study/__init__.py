"""Study specifications, the study runner and the demo."""

from painmarkers.study.spec import ANALYSIS_TYPES, AnalysisSpec, StudySpec, load_spec, parse_spec

__all__ = ["ANALYSIS_TYPES", "AnalysisSpec", "StudySpec", "load_spec", "parse_spec"]
