"""BIDS file-name parser: entities, suffix, extension; unparsable names raise naming the file."""

import pytest

from painmarkers.exceptions import BIDSError
from painmarkers.io import parse_bids_name


@pytest.mark.parametrize(
    ("name", "entities", "suffix", "extension"),
    [
        ("sub-01_T1w.nii.gz", {"sub": "01"}, "T1w", ".nii.gz"),
        ("sub-01_ses-pre_task-rest_space-MNI152NLin2009cAsym_res-4_desc-preproc_bold.nii.gz",
         {"sub": "01", "ses": "pre", "task": "rest", "space": "MNI152NLin2009cAsym",
          "res": "4", "desc": "preproc"}, "bold", ".nii.gz"),
        ("sub-CLBP07_ses-post_task-rest_desc-confounds_timeseries.tsv",
         {"sub": "CLBP07", "ses": "post", "task": "rest", "desc": "confounds"},
         "timeseries", ".tsv"),
        ("sub-01_task-rest_run-02_bold.json", {"sub": "01", "task": "rest", "run": "02"},
         "bold", ".json"),
        ("sub-01_ses-1_Chimap.nii", {"sub": "01", "ses": "1"}, "Chimap", ".nii"),
        # derivative-only entities (fMRIPrep transforms) are accepted
        ("sub-01_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.h5",
         {"sub": "01", "from": "T1w", "to": "MNI152NLin2009cAsym", "mode": "image"}, "xfm",
         ".h5"),
    ],
)
def test_parse_valid_names(name, entities, suffix, extension):
    parsed = parse_bids_name(name)
    assert dict(parsed.entities) == entities
    assert list(parsed.entities) == list(entities)  # file order kept
    assert parsed.suffix == suffix
    assert parsed.extension == extension
    assert parsed.get("absent", "x") == "x"


def test_parse_takes_last_path_component(tmp_path):
    parsed = parse_bids_name(tmp_path / "sub-01" / "anat" / "sub-01_T1w.nii.gz")
    assert parsed.get("sub") == "01"


def test_top_level_sidecar_names_without_subject():
    parsed = parse_bids_name("task-rest_bold.json", require_subject=False)
    assert dict(parsed.entities) == {"task": "rest"}
    assert parsed.suffix == "bold"
    with pytest.raises(BIDSError, match=r"task-rest_bold\.json.*sub-<label>"):
        parse_bids_name("task-rest_bold.json")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("sub-01_ses_pre_bold.nii.gz", r"'sub-01_ses_pre_bold\.nii\.gz'.*entity 'ses'.*key-value"),
        ("sub-01_T1w", r"'sub-01_T1w'.*extension"),
        ("sub-_T1w.nii.gz", r"'sub-_T1w\.nii\.gz'.*entity 'sub' has label ''"),
        ("sub-01_task-re st_bold.nii.gz", r"entity 'task' has label 're st'"),
        ("sub-01_task-rest_task-pain_bold.nii.gz", r"entity 'task' appears twice"),
        ("sub-01_task-rest.nii.gz", r"last piece 'task-rest' must be a suffix"),
        ("sub-01_Task-rest_bold.nii.gz", r"entity key 'Task'"),
        ("ses-pre_sub-01_bold.nii.gz", r"must start with a 'sub-<label>'"),
        ("sub-01_run-1_bold_.nii.gz", r"last piece ''"),
    ],
)
def test_parse_invalid_names_raise_naming_file_and_entity(name, match):
    with pytest.raises(BIDSError, match=match) as info:
        parse_bids_name(name)
    assert name in str(info.value)
