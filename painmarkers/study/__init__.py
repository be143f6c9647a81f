"""Study specifications, the study runner and the demo.

A study is one TOML file (:func:`load_spec`) run by :func:`run_study`, which reads
the BIDS dataset, applies the motion rule, runs the extractors and every analysis, and
writes tables, maps, figures, ``report.html`` and ``provenance.json``.
:func:`run_demo` does the same on a simulated seed study (``painmarkers demo``).
"""

from painmarkers.study.demo import DEMO_SPECS, demo_spec_text, run_demo
from painmarkers.study.runner import StudyResult, run_study
from painmarkers.study.spec import ANALYSIS_TYPES, AnalysisSpec, StudySpec, load_spec, parse_spec

__all__ = [
    "ANALYSIS_TYPES",
    "DEMO_SPECS",
    "AnalysisSpec",
    "StudyResult",
    "StudySpec",
    "demo_spec_text",
    "load_spec",
    "parse_spec",
    "run_demo",
    "run_study",
]
