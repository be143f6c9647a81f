"""Simulated cohorts (BIDS + fMRIPrep-style derivatives) and the seed studies' published figures.

:func:`simulate_cohort` writes a synthetic dataset that mirrors one of the two seed
studies, with every planted effect recorded as ground truth; the ``reference``
functions expose the published tables those simulations are drawn from.
"""

from painmarkers.datasets.reference import (
    list_seed_studies,
    load_seed_study,
    seed_alff_peaks,
    seed_clinical_table,
    seed_demographics,
)
from painmarkers.datasets.simulate import SimulatedDataset, list_designs, simulate_cohort

__all__ = [
    "SimulatedDataset",
    "list_designs",
    "list_seed_studies",
    "load_seed_study",
    "seed_alff_peaks",
    "seed_clinical_table",
    "seed_demographics",
    "simulate_cohort",
]
