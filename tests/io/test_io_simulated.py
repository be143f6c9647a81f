"""read_bids on datasets written by painmarkers.datasets.simulate_cohort (small, 8 mm grid)."""

import json

import numpy as np
import pandas as pd
import pytest

from painmarkers.datasets import simulate_cohort
from painmarkers.io import read_participants
from painmarkers.model import Cohort


@pytest.fixture(scope="module", params=["rtms_alff_clbp", "qsm_fc_clbp"])
def simulated(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "ds"
    return simulate_cohort(request.param, out, n_clbp=2, n_hc=2, n_volumes=64,
                           resolution_mm=8, t_r=2.5, random_state=3)


def test_simulated_dataset_round_trip(simulated):
    cohort = Cohort.from_bids(simulated.root)
    truth = simulated.sessions
    # subjects, groups and covariates equal participants.tsv
    participants = pd.read_csv(simulated.root / "participants.tsv", sep="\t",
                               na_values=["n/a"], dtype={"participant_id": str})
    got = cohort.participants()
    assert got["subject_id"].tolist() == participants["participant_id"].str[4:].tolist()
    assert got["group"].tolist() == participants["group"].tolist()
    for col in participants.columns.drop(["participant_id", "group"]):
        if participants[col].dtype.kind in "if":
            np.testing.assert_allclose(got[col].to_numpy(float),
                                       participants[col].to_numpy(float), rtol=0, atol=0)
        else:
            assert got[col].tolist() == participants[col].tolist()
    # sessions equal the simulator's session table
    got_sessions = sorted((sub.id, ses.label) for sub, ses in cohort.iter_sessions())
    want_sessions = sorted(zip(truth["participant_id"].str[4:], truth["session_id"].str[4:]))
    assert got_sessions == want_sessions
    # images are the files the simulator says it wrote
    for row in truth.itertuples():
        ses = cohort[row.participant_id].session(row.session_id)
        for kind in ("bold", "mask", "confounds", "qsm"):
            rel = getattr(row, kind, None)
            if isinstance(rel, str) and rel:
                assert ses.images[kind] == (simulated.root / rel).absolute()
            else:
                assert kind not in ses.images
        assert ses.metadata["t_r"] == 2.5
        assert ses.metadata["delay_days"] == row.delay_days
    # scores equal phenotype/pain.tsv
    pheno = pd.read_csv(simulated.root / "phenotype" / "pain.tsv", sep="\t")
    frame = cohort.to_frame().query("kind == 'score'")
    got_scores = {(r.subject_id, r.session, r.name): r.value for r in frame.itertuples()}
    want = {}
    for r in pheno.itertuples():
        for col, inst in (("vas", "VAS"), ("rmdq", "RMDQ")):
            if col in pheno.columns and not pd.isna(getattr(r, col)):
                want[(r.participant_id[4:], r.session_id[4:], inst)] = float(getattr(r, col))
    assert {k: v for k, v in got_scores.items() if not np.isnan(v)} == want


def test_simulated_participants_sidecar_kept(simulated):
    frame = read_participants(simulated.root)
    assert frame.attrs["sidecar"] == json.loads(
        (simulated.root / "participants.json").read_text())
