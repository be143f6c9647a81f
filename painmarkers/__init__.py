"""painmarkers: statistical modeling of pain-imaging biomarkers.

The domain classes are available at the top level; subpackages hold the
operations (``painmarkers.extractors``, ``painmarkers.stats``,
``painmarkers.inference``, ``painmarkers.prediction``, ``painmarkers.reporting``).
Importing painmarkers has no side effects and does not import nilearn.
"""

from painmarkers.exceptions import (
    DataError,
    DesignError,
    PainmarkersError,
    PainmarkersWarning,
    ScoreRangeError,
)
from painmarkers.model import (
    ClinicalScore,
    Cohort,
    Instrument,
    ROIMeasure,
    Session,
    Subject,
    get_instrument,
    list_instruments,
    register_instrument,
)

__version__ = "0.1.0"

# Operations that import nilearn/scikit-learn are loaded on first use, so that
# ``import painmarkers`` stays light and free of side effects.
_LAZY = {
    "extract": "painmarkers.extractors",
    "read_bids": "painmarkers.io",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'painmarkers' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])

__all__ = [
    "ClinicalScore",
    "Cohort",
    "DataError",
    "DesignError",
    "Instrument",
    "PainmarkersError",
    "PainmarkersWarning",
    "ROIMeasure",
    "ScoreRangeError",
    "Session",
    "Subject",
    "__version__",
    "extract",
    "get_instrument",
    "list_instruments",
    "read_bids",
    "register_instrument",
]
