"""The study runner never writes into the dataset and never clobbers foreign folders."""

import pytest

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
    """An output folder that *contains* the dataset is refused even with a stray marker."""
    spec = _spec(tmp_path)
    (tmp_path / "provenance.json").write_text("{}")  # looks like an old output folder
    (tmp_path / "bids" / "participants.tsv").write_text("participant_id\nsub-01\n")
    with pytest.raises(SpecError, match="it contains the input dataset"):
        run_study(spec, out_dir=tmp_path, overwrite=True, progress=False)
    assert (tmp_path / "bids" / "participants.tsv").read_text().startswith("participant_id")


def test_folder_of_a_failed_run_can_be_overwritten(tmp_path):
    """A run that fails half-way leaves a marked folder that --overwrite may replace."""
    (tmp_path / "bids").mkdir()  # an empty dataset: reading it fails after the folder exists
    spec = parse_spec({"study": {"name": "t", "dataset": "bids"},
                       "extractors": [{"name": "alff", "band": [0.01, 0.08]}]},
                      base_dir=tmp_path)
    out = tmp_path / "results"
    with pytest.warns(PainmarkersWarning), pytest.raises(BIDSError, match="no participants"):
        run_study(spec, out_dir=out, progress=False)
    assert (out / ".painmarkers-run").is_file() and not (out / "provenance.json").exists()
    (out / "partial.tsv").write_text("half")
    with pytest.warns(PainmarkersWarning), pytest.raises(BIDSError, match="no participants"):
        run_study(spec, out_dir=out, overwrite=True, progress=False)
    assert not (out / "partial.tsv").exists()  # replaced, not refused


def test_unknown_extractor_parameter_lists_the_allowed_keys(tmp_path):
    (tmp_path / "bids").mkdir()
    spec = parse_spec({"study": {"name": "t", "dataset": "bids"},
                       "extractors": [{"name": "alff", "bnad": [0.01, 0.08]}]},
                      base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"#1 \('alff'\).*'bnad'.*Allowed keys: \[.*'band'"):
        run_study(spec, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
