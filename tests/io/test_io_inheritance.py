"""JSON sidecar inheritance checked against pybids 0.22 on the same tree.

The expected values below were produced by pybids (not a painmarkers dependency),
in a separate environment, on the tree written by ``_write_tree``::

    layout = bids.BIDSLayout(root, validate=False)
    for f in layout.get(suffix="bold", extension=".nii.gz", return_type="filename"):
        layout.get_metadata(f)  # RepetitionTime, EchoTime, TaskName kept
"""

import json

import pytest

from painmarkers.io import read_bids
from painmarkers.io._layout import RAW, inherited_metadata, scan_dataset

PYBIDS = {
    "sub-01_ses-a_task-pain_bold.nii.gz": {"RepetitionTime": 1.5, "TaskName": "pain"},
    "sub-01_ses-a_task-rest_bold.nii.gz": {"EchoTime": 0.04, "RepetitionTime": 2.5,
                                           "TaskName": "rest"},
    "sub-01_ses-b_task-pain_bold.nii.gz": {"RepetitionTime": 1.5, "TaskName": "pain"},
    "sub-01_ses-b_task-rest_bold.nii.gz": {"EchoTime": 0.03, "RepetitionTime": 2.5,
                                           "TaskName": "rest"},
    "sub-02_ses-a_task-pain_bold.nii.gz": {"RepetitionTime": 1.5, "TaskName": "pain"},
    "sub-02_ses-a_task-rest_bold.nii.gz": {"EchoTime": 0.03, "RepetitionTime": 2.0,
                                           "TaskName": "rest"},
    "sub-02_ses-b_task-pain_bold.nii.gz": {"RepetitionTime": 0.8, "TaskName": "pain"},
    "sub-02_ses-b_task-rest_bold.nii.gz": {"EchoTime": 0.03, "RepetitionTime": 2.0,
                                           "TaskName": "rest"},
}


def _write_tree(root, bids_tree):
    def w(rel, data):
        bids_tree.write_text(root / rel, json.dumps(data) if isinstance(data, dict) else data)

    w("dataset_description.json", {"Name": "x", "BIDSVersion": "1.9.0"})
    w("participants.tsv", "participant_id\nsub-01\nsub-02\n")
    w("task-rest_bold.json", {"RepetitionTime": 2.0, "EchoTime": 0.03, "TaskName": "rest"})
    w("task-pain_bold.json", {"RepetitionTime": 1.5, "TaskName": "pain"})
    w("sub-01/sub-01_task-rest_bold.json", {"RepetitionTime": 2.5})  # subject level
    w("sub-01/ses-a/sub-01_ses-a_task-rest_bold.json", {"EchoTime": 0.04})  # session level
    for sub in ("01", "02"):
        for ses in ("a", "b"):
            for task in ("rest", "pain"):
                bids_tree.write_nifti(root / f"sub-{sub}/ses-{ses}/func/"
                                      f"sub-{sub}_ses-{ses}_task-{task}_bold.nii.gz", t_r=None,
                                      shape=(2, 2, 2))
    w("sub-02/ses-b/func/sub-02_ses-b_task-pain_bold.json", {"RepetitionTime": 0.8})
    # has an entity (run) the image lacks: does not apply
    w("sub-02/ses-b/func/sub-02_ses-b_task-pain_run-1_bold.json", {"RepetitionTime": 9.9})
    return root


def test_inherited_metadata_equals_pybids(tmp_path, bids_tree):
    root = _write_tree(tmp_path / "ds", bids_tree)
    index = scan_dataset(root, RAW)
    got = {}
    for f in index.files:
        if f.suffix == "bold" and f.extension == ".nii.gz":
            meta, provenance = inherited_metadata(f, index)
            got[f.path.name] = {k: meta[k] for k in ("RepetitionTime", "EchoTime", "TaskName")
                                if k in meta}
            assert set(provenance) == set(meta)
    assert got == PYBIDS


@pytest.mark.parametrize("task", ["rest", "pain"])
def test_read_bids_t_r_equals_pybids(tmp_path, bids_tree, task):
    root = _write_tree(tmp_path / "ds", bids_tree)
    cohort = read_bids(root, task=task, between=None)
    for sub, ses in cohort.iter_sessions():
        expected = PYBIDS[f"sub-{sub.id}_ses-{ses.label}_task-{task}_bold.nii.gz"]
        assert ses.metadata["t_r"] == expected["RepetitionTime"]
    src = cohort["01"].session("a").metadata["t_r_source"]
    # sub-01's rest TR comes from the subject-level sidecar, not the nearer session one
    assert src == (str(root / "sub-01" / "sub-01_task-rest_bold.json") if task == "rest"
                   else str(root / "task-pain_bold.json"))
