"""A tiny simulated study shared by the runner, check and run-folder tests.

``tiny_bids`` (8 mm, 64 volumes, 3 CLBP with pre/post and 2 HC with baseline) is
written once per session and must not be modified: tests that change it copy it
first (``tiny_copy``).
"""

import shutil
from pathlib import Path

import pytest

from painmarkers.datasets import simulate_cohort

#: A study without extraction: reading, tables and the report only (about a second).
TABLES_SPEC = """
random_state = 1

[study]
name = "tiny"
dataset = "bids"
output = "results"
task = "rest"

[[analyses]]
type = "demographics"
name = "table1"

[[analyses]]
type = "outcomes"
name = "ppr_vas"
instrument = "VAS"
levels = "CLBP"
"""


@pytest.fixture(scope="session")
def tiny_bids(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "bids"
    simulate_cohort("rtms_alff_clbp", root, resolution_mm=8, n_volumes=64, n_clbp=3, n_hc=2,
                    random_state=4)
    return root


@pytest.fixture
def tiny_copy(tiny_bids, tmp_path) -> Path:
    """A private copy of the tiny dataset, ``tmp_path/bids``."""
    return Path(shutil.copytree(tiny_bids, tmp_path / "bids"))


@pytest.fixture
def tiny_study(tiny_copy, tmp_path) -> Path:
    """``tmp_path/study.toml`` (TABLES_SPEC) next to a copy of the tiny dataset."""
    path = tmp_path / "study.toml"
    path.write_text(TABLES_SPEC)
    return path
