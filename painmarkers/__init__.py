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
    "get_instrument",
    "list_instruments",
    "register_instrument",
]
