"""Domain model: subjects, sessions, clinical scores, ROI measures and the cohort."""

from painmarkers.model.cohort import Cohort
from painmarkers.model.instruments import (
    Instrument,
    get_instrument,
    list_instruments,
    register_instrument,
)
from painmarkers.model.records import ClinicalScore, ROIMeasure, Session, Subject

__all__ = [
    "ClinicalScore",
    "Cohort",
    "Instrument",
    "ROIMeasure",
    "Session",
    "Subject",
    "get_instrument",
    "list_instruments",
    "register_instrument",
]
