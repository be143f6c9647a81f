"""Small simulated datasets shared by the simulator tests (written once per session)."""

import pytest

from painmarkers.datasets import simulate_cohort


@pytest.fixture(scope="session")
def rtms_small(tmp_path_factory):
    """rtms_alff_clbp at 4 mm, 190 volumes, 3 patients (pre/post) and 3 controls."""
    out = tmp_path_factory.mktemp("rtms") / "bids"
    return simulate_cohort("rtms_alff_clbp", out, n_clbp=3, n_hc=3, random_state=7)


@pytest.fixture(scope="session")
def qsm_small(tmp_path_factory):
    """qsm_fc_clbp at 4 mm, 190 volumes, 4 patients and 4 controls."""
    out = tmp_path_factory.mktemp("qsm") / "bids"
    return simulate_cohort("qsm_fc_clbp", out, n_clbp=4, n_hc=4, random_state=11)
