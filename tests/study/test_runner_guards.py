"""The study runner never writes into the dataset and never clobbers foreign folders."""

import shutil

import pytest

from painmarkers._outdir import MARKER_NAME, RunFolder, read_marker
from painmarkers.exceptions import BIDSError, DataError, PainmarkersWarning, SpecError
from painmarkers.study import parse_spec, run_study


def _spec(tmp_path):
    (tmp_path / "bids").mkdir()
    return parse_spec({"study": {"name": "t", "dataset": "bids"}}, base_dir=tmp_path)


def test_output_inside_dataset_refused(tmp_path):
    spec = _spec(tmp_path)
    with pytest.raises(SpecError, match="is inside the input dataset"):
        run_study(spec, out_dir=tmp_path / "bids" / "derivatives" / "out", progress=False)
    assert list((tmp_path / "bids").iterdir()) == []


def test_foreign_non_empty_output_refused(tmp_path):
    spec = _spec(tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(SpecError, match="is not empty"):
        run_study(spec, out_dir=out, progress=False)
    with pytest.raises(SpecError, match="does not look like a painmarkers output folder"):
        run_study(spec, out_dir=out, overwrite=True, progress=False)
    assert (out / "thesis.docx").read_text() == "precious"


def test_missing_dataset(tmp_path):
    spec = parse_spec({"study": {"name": "t", "dataset": "nowhere"}}, base_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        run_study(spec, out_dir=tmp_path / "out", progress=False)


def test_unknown_roi_set_named_before_output_is_created(tmp_path):
    (tmp_path / "bids").mkdir()
    spec = parse_spec({"study": {"name": "t", "dataset": "bids"},
                       "rois": {"set": "rtms"}}, base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"\[rois\] 'set': Unknown ROI set 'rtms'; "
                                        r"registered: \['rtms_alff_clbp'\]"):
        run_study(spec, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_missing_dataset_names_the_key(tmp_path):
    spec = parse_spec({"study": {"name": "t", "dataset": "nowhere"}}, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"\[study\] 'dataset': the dataset folder .*nowhere"):
        run_study(spec, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_overwrite_never_deletes_a_folder_holding_the_dataset(tmp_path):
    """An output folder that *contains* the dataset is refused even with a valid marker."""
    spec = _spec(tmp_path)
    with RunFolder.open(tmp_path / "scratch", kind="study") as folder:  # a genuine marker
        shutil.copy(folder.path / MARKER_NAME, tmp_path / MARKER_NAME)
    shutil.rmtree(tmp_path / "scratch")
    assert read_marker(tmp_path) is not None
    (tmp_path / "bids" / "participants.tsv").write_text("participant_id\nsub-01\n")
    with pytest.raises(SpecError, match="it contains the input dataset"):
        run_study(spec, out_dir=tmp_path, overwrite=True, progress=False)
    assert (tmp_path / "bids" / "participants.tsv").read_text().startswith("participant_id")


def test_nothing_is_created_when_the_dataset_cannot_be_read(tmp_path):
    """Reading and checking the dataset come before the output folder is created."""
    (tmp_path / "bids").mkdir()  # an empty dataset
    spec = parse_spec({"study": {"name": "t", "dataset": "bids"},
                       "extractors": [{"name": "alff", "band": [0.01, 0.08]}]},
                      base_dir=tmp_path)
    with pytest.warns(PainmarkersWarning), pytest.raises(BIDSError, match="no participants"):
        run_study(spec, out_dir=tmp_path / "results", progress=False)
    assert not (tmp_path / "results").exists()


def test_unknown_extractor_parameter_lists_the_allowed_keys(tmp_path):
    (tmp_path / "bids").mkdir()
    spec = parse_spec({"study": {"name": "t", "dataset": "bids"},
                       "extractors": [{"name": "alff", "bnad": [0.01, 0.08]}]},
                      base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"#1 \('alff'\).*'bnad'.*Allowed keys: \[.*'band'"):
        run_study(spec, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_motion_rule_keeps_a_subject_whose_every_session_it_removes(tmp_path):
    """A control scanned once and excluded for motion stays in the cohort with no session,
    so that the tests that need it count and name it (it used to vanish: n_excluded = 0)."""
    import numpy as np
    import pandas as pd

    from painmarkers import ClinicalScore, Cohort, Session, Subject
    from painmarkers.reporting.report import HTMLReport
    from painmarkers.stats import two_sample_ttest
    from painmarkers.study._context import RunContext
    from painmarkers.study.runner import _motion_exclusion

    columns = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    subjects = []
    for i, (group, shift) in enumerate([("CLBP", 0.0), ("CLBP", 0.0), ("CLBP", 0.0),
                                        ("HC", 0.0), ("HC", 0.0), ("HC", 5.0)]):
        conf = tmp_path / f"sub-{i}_confounds.tsv"
        moves = np.zeros((20, 6))
        moves[10:, 0] = shift  # a 5 mm jump in x for the last control
        pd.DataFrame(moves, columns=columns).to_csv(conf, sep="\t", index=False)
        label = "pre" if group == "CLBP" else "baseline"
        subjects.append(Subject(f"{i:02d}", group, sessions=[Session(
            label, [ClinicalScore("VAS", float(i))], images={"confounds": conf})]))
    ctx = RunContext(out_dir=tmp_path / "out", report=HTMLReport("t"))
    kept, excluded = _motion_exclusion(ctx, Cohort(subjects), {})
    assert list(zip(excluded["subject_id"], excluded["session"], strict=True)) == \
        [("05", "baseline")]
    assert "05" in kept and kept["05"].sessions == ()
    res = two_sample_ttest(kept, "VAS", sessions={"CLBP": "pre", "HC": "baseline"})
    assert res.loc[0, "n"] == 5 and res.loc[0, "n_excluded"] == 1
    assert res.loc[0, "excluded"] == "05 (no 'baseline' session)"
