"""Study specifications, the study runner and the demo.

A study is one TOML file (:func:`load_spec`), checked against its dataset without
extracting anything by :func:`check_study` (``painmarkers check``) and run by
:func:`run_study`, which reads the BIDS dataset, applies the motion rule, runs the
extractors and every analysis, and writes tables, maps, figures, ``report.html`` and
``provenance.json``.
:func:`run_demo` does the same on a simulated seed study (``painmarkers demo``).
"""

from painmarkers.study._check import StudyCheck, check_study
from painmarkers.study.demo import (
    DEMO_SPECS,
    demo_fwhm_mm,
    demo_spec_text,
    rerun_command,
    run_demo,
)
from painmarkers.study.runner import StudyResult, run_study
from painmarkers.study.spec import ANALYSIS_TYPES, AnalysisSpec, StudySpec, load_spec, parse_spec

__all__ = [
    "ANALYSIS_TYPES",
    "DEMO_SPECS",
    "AnalysisSpec",
    "StudyCheck",
    "StudyResult",
    "StudySpec",
    "check_study",
    "demo_fwhm_mm",
    "demo_spec_text",
    "load_spec",
    "parse_spec",
    "rerun_command",
    "run_demo",
    "run_study",
]
