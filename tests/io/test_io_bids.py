"""read_bids / Cohort.from_bids on small BIDS trees written in tmp_path."""

import io
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from painmarkers.exceptions import BIDSError, DataError, PainmarkersWarning, ScoreRangeError
from painmarkers.io import index_bids, read_bids
from painmarkers.model import Cohort

MNI = "MNI152NLin2009cAsym"


# -- round trip ------------------------------------------------------------------------------
def test_participants_round_trip(dataset, bids_tree):
    cohort = Cohort.from_bids(dataset)
    direct = read_bids(dataset)
    pd.testing.assert_frame_equal(cohort.to_frame(), direct.to_frame())
    pd.testing.assert_frame_equal(cohort.participants(), direct.participants())
    expected = pd.read_csv(io.StringIO(bids_tree.PARTICIPANTS), sep="\t", na_values=["n/a"])
    got = cohort.participants()
    assert got["subject_id"].tolist() == [p[4:] for p in expected["participant_id"]]
    assert got["group"].tolist() == expected["group"].tolist()
    assert got["sex"].tolist() == expected["sex"].tolist()
    np.testing.assert_allclose(got["age"].to_numpy(float), expected["age"].to_numpy(float),
                               rtol=0, atol=0)
    np.testing.assert_allclose(got["bmi"].to_numpy(float), expected["bmi"].to_numpy(float),
                               rtol=0, atol=0)  # n/a -> NaN on both sides
    assert got["n_sessions"].tolist() == [2, 2, 1]


def test_scores_round_trip(dataset, bids_tree):
    frame = read_bids(dataset).to_frame()
    scores = frame[frame["kind"] == "score"]
    got = {(r.subject_id, r.session, r.name): r.value for r in scores.itertuples()}
    pheno = pd.read_csv(dataset / "phenotype" / "pain.tsv", sep="\t",
                        dtype={"participant_id": str})
    expected = {}
    for r in pheno.itertuples():
        expected[(r.participant_id[4:], r.session_id[4:], "VAS")] = float(r.vas)
        expected[(r.participant_id[4:], r.session_id[4:], "RMDQ")] = float(r.rmdq)
    assert got == expected
    assert got[("01", "pre", "VAS")] == bids_tree.SCORES[("01", "pre")][0]
    assert set(scores["group"]) == {"CLBP", "HC"}


def test_session_metadata_from_sessions_tsv_and_sidecar(dataset):
    cohort = read_bids(dataset)
    for sub in ("01", "02"):
        table = pd.read_csv(dataset / f"sub-{sub}" / f"sub-{sub}_sessions.tsv", sep="\t")
        assert list(cohort[sub].session_labels) == [s[4:] for s in table["session_id"]]
        for r in table.itertuples():
            meta = cohort[sub].session(r.session_id).metadata
            assert meta["acq_time"] == r.acq_time
            np.testing.assert_allclose(meta["mean_fd"], r.mean_fd, rtol=0, atol=0)
            assert meta["t_r"] == 3.0
            assert meta["t_r_source"].endswith(f"sub-{sub}_{r.session_id}_task-rest_space-{MNI}"
                                               "_res-2_desc-preproc_bold.json")
            assert (meta["task"], meta["space"], meta["res"]) == ("rest", MNI, "2")
    frame = cohort.to_frame()
    tr_rows = frame[(frame["kind"] == "metadata") & (frame["name"] == "t_r")]
    assert len(tr_rows) == 5 and (tr_rows["value"] == 3.0).all()


def test_image_kinds(dataset):
    cohort = read_bids(dataset)
    ses = cohort["02"].session("post")
    d = dataset / "derivatives" / "fmriprep" / "sub-02" / "ses-post"
    r = dataset / "sub-02" / "ses-post"
    stem = "sub-02_ses-post"
    expected = {
        "bold": d / "func" / f"{stem}_task-rest_space-{MNI}_res-2_desc-preproc_bold.nii.gz",
        "mask": d / "func" / f"{stem}_task-rest_space-{MNI}_res-2_desc-brain_mask.nii.gz",
        "confounds": d / "func" / f"{stem}_task-rest_desc-confounds_timeseries.tsv",
        "bold_raw": r / "func" / f"{stem}_task-rest_bold.nii.gz",
        "t1": r / "anat" / f"{stem}_T1w.nii.gz",
        "qsm": d / "anat" / f"{stem}_Chimap.nii.gz",
    }
    assert dict(ses.images) == {k: v.absolute() for k, v in expected.items()}
    assert all(p.is_absolute() and p.is_file() for p in ses.images.values())


def test_relative_root_gives_absolute_paths(dataset, monkeypatch):
    monkeypatch.chdir(dataset.parent)
    cohort = read_bids("ds", derivatives="ds/derivatives/fmriprep")
    ses = cohort["01"].session("pre")
    assert ses.images["bold"].is_absolute() and ses.images["t1"].is_absolute()
    assert ses.metadata["t_r_source"] == str(
        dataset / "derivatives" / "fmriprep" / "sub-01" / "ses-pre" / "func"
        / f"sub-01_ses-pre_task-rest_space-{MNI}_res-2_desc-preproc_bold.json")


def test_sessionless_dataset_uses_baseline(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", sessions=())
    cohort = read_bids(root)
    assert [s.session_labels for s in cohort] == [("baseline",)] * 3
    ses = cohort["01"].session("baseline")
    # columns spelled "VAS" and "Roland-Morris" match the registry case-insensitively
    assert (ses.score("vas"), ses.score("rmdq")) == bids_tree.SCORES[("01", "pre")]
    assert ses.images["bold"].name == (f"sub-01_task-rest_space-{MNI}_res-2_desc-preproc"
                                       "_bold.nii.gz")
    assert ses.metadata["t_r"] == 3.0


def test_from_bids_matches_from_frames(dataset):
    """The scores and covariates equal those of Cohort.from_frames on the same tables."""
    participants = pd.read_csv(dataset / "participants.tsv", sep="\t", na_values=["n/a"])
    pheno = pd.read_csv(dataset / "phenotype" / "pain.tsv", sep="\t")
    by_frames = Cohort.from_frames(participants, pheno)
    by_bids = read_bids(dataset)
    cols = ["subject_id", "group", "session", "name", "value"]
    a = by_bids.to_frame().query("kind == 'score'")[cols].sort_values(cols[:4])
    b = by_frames.to_frame().query("kind == 'score'")[cols].sort_values(cols[:4])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    pd.testing.assert_frame_equal(by_bids.participants().drop(columns="n_sessions"),
                                  by_frames.participants().drop(columns="n_sessions"))


def test_reading_never_writes_into_dataset(dataset, bids_tree):
    before = bids_tree.snapshot(dataset)
    read_bids(dataset)
    index_bids(dataset)
    assert bids_tree.snapshot(dataset) == before


# -- phenotype ------------------------------------------------------------------------------
def test_phenotype_non_instrument_columns(dataset, bids_tree):
    bids_tree.write_scores(dataset, "extra.tsv", "NRS\tmedication\tpcs_total",
                           "sub-01\tses-pre\t6\tibuprofen\t30", "sub-01\tses-post\t3\tnone\t22")
    bids_tree.write_text(dataset / "phenotype" / "history.tsv",
               "participant_id\tpain_duration_years\tsex\n"
               "sub-01\t1.5\tF\nsub-02\t2.25\tM\n")
    cohort = read_bids(dataset)
    pre = cohort["01"].session("pre")
    assert pre.score("NRS") == 6.0
    assert pre.metadata["medication"] == "ibuprofen" and pre.metadata["pcs_total"] == 30
    assert cohort["01"].session("post").metadata["pcs_total"] == 22
    # no session_id: subject covariates (an agreeing value of a participants column is fine)
    assert cohort["01"].covariates["pain_duration_years"] == 1.5
    assert cohort["02"].covariates["pain_duration_years"] == 2.25
    assert math.isnan(cohort["03"].covariates.get("pain_duration_years", math.nan))
    frame = cohort.to_frame()
    assert ("01", "pre", "pcs_total") in {(r.subject_id, r.session, r.name)
                                          for r in frame.itertuples() if r.kind == "metadata"}


def test_phenotype_creates_sessions_without_images(dataset, bids_tree):
    bids_tree.write_scores(dataset, "followup.tsv", "vas", "sub-01\tses-fu3m\t2.5")
    cohort = read_bids(dataset)
    assert cohort["01"].session_labels == ("pre", "post", "fu3m")
    fu = cohort["01"].session("fu3m")
    assert fu.score("VAS") == 2.5 and dict(fu.images) == {}


def test_phenotype_conflicting_covariate(dataset, bids_tree):
    bids_tree.write_text(dataset / "phenotype" / "h.tsv", "participant_id\tage\nsub-01\t45\n")
    with pytest.raises(BIDSError, match=r"Subject '01': covariate 'age' is 44 in .*participants"
                                        r"\.tsv' but 45 in .*h\.tsv'"):
        read_bids(dataset)


def test_phenotype_duplicate_score_across_files(dataset, bids_tree):
    bids_tree.write_scores(dataset, "more.tsv", "vas", "sub-02\tses-pre\t8")
    with pytest.raises(BIDSError, match=r"Subject '02' session 'pre' has a VAS score in both "
                                        r".*more\.tsv' and .*pain\.tsv'"):
        read_bids(dataset)


def test_phenotype_duplicate_row(dataset, bids_tree):
    bids_tree.write_scores(dataset, "pain.tsv", "vas", "sub-01\tses-pre\t7", "sub-01\tpre\t6")
    with pytest.raises(BIDSError, match=r"Subject '01' session 'pre' has two rows.*pain\.tsv"):
        read_bids(dataset)


def test_phenotype_two_columns_of_one_instrument(dataset, bids_tree):
    bids_tree.write_scores(dataset, "pain.tsv", "RMDQ\troland_morris", "sub-01\tses-pre\t7\t7")
    with pytest.raises(BIDSError, match=r"two columns for instrument RMDQ: 'RMDQ' and "
                                        r"'roland_morris'"):
        read_bids(dataset)


def test_score_out_of_range_names_subject_and_session(dataset, bids_tree):
    bids_tree.write_scores(dataset, "pain.tsv", "vas\trmdq",
                           "sub-01\tses-pre\t7\t15", "sub-02\tses-post\t5\t31")
    with pytest.raises(ScoreRangeError, match=r"Subject '02', session 'post' \(phenotype table "
                                              r".*pain\.tsv'\): RMDQ score 31 is outside.*"
                                              r"\[0, 24\]"):
        read_bids(dataset)


def test_non_numeric_score(dataset, bids_tree):
    bids_tree.write_scores(dataset, "pain.tsv", "vas",
                           "sub-01\tses-pre\t7", "sub-01\tses-post\tseven")
    with pytest.raises(DataError, match=r"Subject '01', session 'post'.*VAS score must be a "
                                        r"number. Got 'seven'"):
        read_bids(dataset)


def test_validate_scores_false_sets_nan_and_warns(dataset, bids_tree):
    bids_tree.write_scores(dataset, "pain.tsv", "vas\trmdq",
                           "sub-01\tses-pre\t7\t15", "sub-01\tses-post\t11\tx",
                           "sub-02\tses-pre\tn/a\t3")
    with pytest.warns(PainmarkersWarning, match=r"2 phenotype score\(s\) are invalid") as rec:
        cohort = read_bids(dataset, validate_scores=False)
    message = str(rec[0].message)
    assert "Subject '01', session 'post'" in message and "VAS=11" in message
    assert "RMDQ='x'" in message
    post = cohort["01"].session("post")
    assert math.isnan(post.score("VAS")) and math.isnan(post.score("RMDQ"))
    assert cohort["01"].session("pre").score("VAS") == 7.0
    assert math.isnan(cohort["02"].session("pre").score("VAS"))  # n/a = not collected
    assert rec[0].filename == __file__  # stacklevel points at the caller


def test_unknown_subject_in_phenotype(dataset, bids_tree):
    bids_tree.write_scores(dataset, "pain.tsv", "vas", "sub-01\tses-pre\t7", "sub-99\tses-pre\t6")
    with pytest.raises(BIDSError, match=r"Subject 'sub-99' in the phenotype table .*pain\.tsv' "
                                        r"\(line 3\) is not in participants\.tsv"):
        read_bids(dataset)


def test_phenotype_without_participant_id(dataset, bids_tree):
    bids_tree.write_text(dataset / "phenotype" / "pain.tsv", "subject\tvas\nsub-01\t7\n")
    with pytest.raises(BIDSError, match=r"phenotype table .*pain\.tsv'.*lacks.*participant_id"):
        read_bids(dataset)


# -- participants and subjects --------------------------------------------------------------
def test_participants_without_participant_id(dataset, bids_tree):
    bids_tree.write_text(dataset / "participants.tsv", "subject_id\tgroup\n01\tCLBP\n")
    with pytest.raises(BIDSError, match=r"participants\.tsv' has no 'participant_id' column"):
        read_bids(dataset)


def test_duplicate_subject_ids(dataset, bids_tree):
    bids_tree.write_text(dataset / "participants.tsv",
               bids_tree.PARTICIPANTS + "sub-02\tHC\t30\tF\t20.0\n")
    with pytest.raises(BIDSError, match=r"Duplicate participant_id\(s\) \['02'\]"):
        read_bids(dataset)


def test_subject_folder_missing_from_participants(dataset, bids_tree):
    bids_tree.write_nifti(dataset / "sub-04" / "ses-pre" / "anat" / "sub-04_ses-pre_T1w.nii.gz",
                shape=(2, 2, 2), t_r=None)
    with pytest.raises(BIDSError, match=r"\['sub-04'\] have no row in participants\.tsv"):
        read_bids(dataset)
    # reading the others explicitly is allowed
    assert read_bids(dataset, subjects=["01", "sub-03"]).subject_ids == ("01", "03")


def test_missing_participants_tsv_is_an_error_when_groups_are_asked_for(dataset):
    (dataset / "participants.tsv").unlink()
    (dataset / "phenotype" / "pain.tsv").unlink()
    with pytest.raises(BIDSError, match=r"has no participants\.tsv, so the group column 'group' "
                                        r"cannot be read.*pass between=None to read the 3 sub-\* "
                                        r"folders as one group"):
        read_bids(dataset, between="group")
    # the default group column: read without groups, with one warning saying so
    with pytest.warns(PainmarkersWarning) as caught:
        cohort = read_bids(dataset)
    (only,) = [w for w in caught if issubclass(w.category, PainmarkersWarning)]
    assert only.filename == __file__  # the warning points at the caller's line
    assert re.search(r"has no participants\.tsv: the subjects are read without group labels, "
                     r"and analyses that compare groups will refuse them", str(only.message))
    assert cohort.subject_ids == ("01", "02", "03") and cohort.groups == ()


def test_missing_participants_tsv_with_between_none_warns_and_uses_folders(dataset):
    (dataset / "participants.tsv").unlink()
    (dataset / "phenotype" / "pain.tsv").unlink()
    with pytest.warns(PainmarkersWarning, match=r"no participants\.tsv; taking subjects from the "
                                                r"sub-\* folders \(3\)") as rec:
        cohort = read_bids(dataset, between=None)
    assert rec[0].filename == __file__
    assert cohort.subject_ids == ("01", "02", "03")
    assert all(s.group is None for s in cohort)


def test_group_column(dataset, bids_tree):
    bids_tree.write_text(dataset / "participants.tsv",
               "participant_id\tdiagnosis\nsub-01\tCLBP\nsub-02\tCLBP\nsub-03\tHC\n")
    cohort = read_bids(dataset, between="diagnosis")
    assert [s.group for s in cohort] == ["CLBP", "CLBP", "HC"]
    # a group column named by the caller must exist: a clear error, not a silent "no groups"
    with pytest.raises(BIDSError, match=r"participants\.tsv' has no group column 'group'; its "
                                        r"columns are \['participant_id', 'diagnosis'\]\. Name "
                                        r"the group column with between=, or pass between=None"):
        read_bids(dataset, between="group")
    # the default 'group' column is absent: read without groups, never silently
    with pytest.warns(PainmarkersWarning, match=r"without a 'group' column \(columns: "
                                                r"\['participant_id', 'diagnosis'\]\): the "
                                                r"subjects are read without group labels") as rec:
        ungrouped = read_bids(dataset)
    assert rec[0].filename == __file__
    assert ungrouped.groups == () and ungrouped["01"].covariates == {"diagnosis": "CLBP"}
    single = read_bids(dataset, between=None)  # single-group data
    assert single.groups == () and single["01"].covariates == {"diagnosis": "CLBP"}
    with pytest.raises(BIDSError, match=r"no group column 'arm'"):
        read_bids(dataset, between="arm")


def test_group_column_old_keyword_warns(dataset, bids_tree):
    bids_tree.write_text(dataset / "participants.tsv",
               "participant_id\tdiagnosis\nsub-01\tCLBP\nsub-02\tCLBP\nsub-03\tHC\n")
    with pytest.warns(FutureWarning, match=r"'group_column' parameter of read_bids\(\) was "
                                           r"renamed 'between'"):
        old = read_bids(dataset, group_column="diagnosis")
    assert old == read_bids(dataset, between="diagnosis")
    with pytest.warns(FutureWarning, match="between='diagnosis'"):
        assert Cohort.from_bids(dataset, group_column="diagnosis") == old


def test_group_labels_in_another_case_are_an_error(dataset, bids_tree):
    bids_tree.write_text(dataset / "participants.tsv",
               bids_tree.PARTICIPANTS.replace("sub-02\tCLBP", "sub-02\tclbp"))
    with pytest.raises(BIDSError, match=r"Group labels in column 'group' of the participants "
                                        r"table '.*participants\.tsv' differ only in case or "
                                        r"spacing: 'CLBP' \(subject\(s\) '01'\) vs 'clbp' "
                                        r"\(subject\(s\) '02'\)"):
        read_bids(dataset)


def test_near_miss_group_label_warns(dataset, bids_tree):
    rows = "".join(f"sub-{i:02d}\tCLBP\t40\tF\t20\n" for i in range(4, 7))
    bids_tree.write_text(dataset / "participants.tsv",
               bids_tree.PARTICIPANTS.replace("sub-02\tCLBP", "sub-02\tCLPB") + rows)
    with pytest.warns(PainmarkersWarning, match=r"'CLPB'.*subject\(s\) '02'.*one letter away "
                                                r"from 'CLBP' \(4 subjects\)"), \
            pytest.warns(PainmarkersWarning, match=r"\['04', '05', '06'\].*have no data") as rec:
        cohort = read_bids(dataset)
    assert cohort["02"].group == "CLPB"
    assert [w.filename for w in rec] == [__file__, __file__]


def test_participant_without_data_is_kept_and_named(dataset, bids_tree):
    bids_tree.write_text(dataset / "participants.tsv",
               bids_tree.PARTICIPANTS + "sub-04\tHC\t33\tM\t24.0\n")
    with pytest.warns(PainmarkersWarning, match=r"Participant\(s\) \['04'\] of '.*' have no data "
                                                r".*kept in the cohort without sessions") as rec:
        cohort = read_bids(dataset)
    assert rec[0].filename == __file__
    assert cohort.subject_ids == ("01", "02", "03", "04")
    assert cohort["04"].sessions == () and cohort["04"].covariates["age"] == 33
    assert cohort.participants().set_index("subject_id").loc["04", "n_sessions"] == 0


def test_subjects_and_sessions_filters(dataset):
    cohort = read_bids(dataset, subjects="sub-02", sessions=["ses-post"])
    assert cohort.subject_ids == ("02",)
    assert cohort["02"].session_labels == ("post",)
    cohort = read_bids(dataset, sessions="pre")
    assert [s.session_labels for s in cohort] == [("pre",)] * 3
    cohort = read_bids(dataset, sessions="post")  # HC sub-03 has no post: kept, no sessions
    assert [s.session_labels for s in cohort] == [("post",), ("post",), ()]
    with pytest.raises(BIDSError, match=r"Subject\(s\) \['07'\] given in subjects= are not"):
        read_bids(dataset, subjects=["01", "07"])
    with pytest.raises(BIDSError, match=r"Session\(s\) \['mid'\] given in sessions= are not.*"
                                        r"\['post', 'pre'\]"):
        read_bids(dataset, sessions=["mid"])
    with pytest.raises(TypeError, match="'subjects' parameter"):
        read_bids(dataset, subjects=1)


# -- dataset-level problems ------------------------------------------------------------------
def test_missing_root(tmp_path):
    with pytest.raises(BIDSError, match=r"BIDS root .*nowhere' does not exist"):
        read_bids(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(BIDSError, match=r"file\.txt' is not a folder"):
        read_bids(tmp_path / "file.txt")


def test_missing_dataset_description_warns(dataset):
    (dataset / "dataset_description.json").unlink()
    with pytest.warns(PainmarkersWarning, match=r"no dataset_description\.json") as rec:
        cohort = read_bids(dataset)
    assert len(cohort) == 3
    assert rec[0].filename == __file__
    with pytest.warns(PainmarkersWarning) as rec:
        Cohort.from_bids(dataset)
    assert rec[0].filename == __file__  # also through the Cohort facade


def test_invalid_dataset_description(dataset):
    (dataset / "dataset_description.json").write_text("{")
    with pytest.raises(BIDSError, match=r"dataset description .*dataset_description\.json' is "
                                        r"not valid JSON"):
        read_bids(dataset)


def test_unparsable_file_name_in_tree(dataset, bids_tree):
    bad = dataset / "sub-01" / "ses-pre" / "func" / "sub-01_ses_pre_bold.nii.gz"
    bids_tree.write_nifti(bad)
    with pytest.raises(BIDSError, match=r"'sub-01_ses_pre_bold\.nii\.gz' does not parse: entity "
                                        r"'ses' is not of the form 'key-value'.*File: '.*sub-01/"
                                        r"ses-pre/func/sub-01_ses_pre_bold\.nii\.gz'"):
        read_bids(dataset)


def test_file_in_wrong_folder(dataset, bids_tree):
    bids_tree.write_nifti(dataset / "sub-01" / "ses-pre" / "anat" / "sub-02_ses-pre_T1w.nii.gz",
                shape=(2, 2, 2), t_r=None)
    with pytest.raises(BIDSError, match=r"sub-02_ses-pre_T1w\.nii\.gz' has sub-02 in its name "
                                        r"but lies in the folder of sub-01"):
        read_bids(dataset)


def test_file_without_session_in_session_folder(dataset, bids_tree):
    bids_tree.write_nifti(dataset / "sub-01" / "ses-pre" / "anat" / "sub-01_T2w.nii.gz",
                shape=(2, 2, 2), t_r=None)
    with pytest.raises(BIDSError, match=r"sub-01_T2w\.nii\.gz' lies in the folder of ses-pre "
                                        r"but has no ses-pre entity"):
        read_bids(dataset)


def test_bad_subject_folder_label(dataset):
    (dataset / "sub-0_1").mkdir()
    with pytest.raises(BIDSError, match=r"sub-0_1' is not a valid BIDS sub folder"):
        read_bids(dataset)


def test_sessions_tsv_problems(dataset):
    path = dataset / "sub-01" / "sub-01_sessions.tsv"
    path.write_text("session\tacq_time\npre\tx\n")
    with pytest.raises(BIDSError, match=r"sub-01_sessions\.tsv'.*lacks.*'session_id'"):
        read_bids(dataset)
    path.write_text("session_id\nses-pre\nses-pre\n")
    with pytest.raises(BIDSError, match=r"Session 'ses-pre' appears twice in the sessions table"):
        read_bids(dataset)


def test_hidden_files_and_fmriprep_side_folders_ignored(dataset, bids_tree):
    bids_tree.write_text(dataset / "sub-01" / "ses-pre" / "func" / ".DS_Store", "x")
    figures = dataset / "derivatives" / "fmriprep" / "sub-01" / "figures"
    bids_tree.write_text(figures / "not_bids.svg", "x")
    assert len(read_bids(dataset)) == 3


# -- derivatives -----------------------------------------------------------------------------
def test_explicit_derivatives_and_none(dataset, tmp_path):
    moved = tmp_path / "elsewhere" / "fmriprep"
    moved.parent.mkdir()
    (dataset / "derivatives" / "fmriprep").rename(moved)
    without = read_bids(dataset)
    assert "bold" not in without["01"].session("pre").images
    assert without["01"].session("pre").images["bold_raw"].name.endswith("_bold.nii.gz")
    # the raw sidecar gives the TR when there is no preprocessed BOLD
    assert without["01"].session("pre").metadata["t_r"] == 3.0
    cohort = read_bids(dataset, derivatives=moved)
    bold = cohort["01"].session("pre").images["bold"]
    assert bold.parent == moved / "sub-01" / "ses-pre" / "func"
    listed = read_bids(dataset, derivatives=[str(moved)])
    assert listed["01"].session("pre").images == cohort["01"].session("pre").images
    with pytest.raises(BIDSError, match=r"derivatives folder .*missing' does not exist"):
        read_bids(dataset, derivatives=tmp_path / "missing")
    with pytest.raises(TypeError, match="'derivatives' parameter"):
        read_bids(dataset, derivatives=3)


def test_derivatives_folder_directly_holding_subjects(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds")
    deriv = root / "derivatives"
    for p in (deriv / "fmriprep").iterdir():
        p.rename(deriv / p.name)
    (deriv / "fmriprep").rmdir()
    ses = read_bids(root)["01"].session("pre")
    assert ses.images["bold"].parent == deriv / "sub-01" / "ses-pre" / "func"


def test_qsm_derivative_preferred_over_raw(dataset, bids_tree):
    anat = dataset / "sub-01" / "ses-pre" / "anat"
    raw = bids_tree.write_nifti(anat / "sub-01_ses-pre_Chimap.nii.gz", shape=(2, 2, 2), t_r=None)
    cohort = read_bids(dataset)
    assert "derivatives" in cohort["01"].session("pre").images["qsm"].parts
    (dataset / "derivatives" / "fmriprep" / "sub-01" / "ses-pre" / "anat"
     / "sub-01_ses-pre_Chimap.nii.gz").unlink()
    assert read_bids(dataset)["01"].session("pre").images["qsm"] == raw.absolute()


def test_index_bids_lists_entities(dataset):
    frame = index_bids(dataset)
    assert {"path", "source", "dataset", "datatype", "sub", "ses", "task", "space", "res",
            "desc", "suffix", "extension"} <= set(frame.columns)
    preproc = frame[(frame["desc"] == "preproc") & (frame["extension"] == ".nii.gz")]
    assert len(preproc) == 5 and set(preproc["source"]) == {"derivative"}
    raw_bold = frame[(frame["source"] == "raw") & (frame["suffix"] == "bold")
                     & (frame["extension"] == ".nii.gz")]
    assert sorted(zip(raw_bold["sub"], raw_bold["ses"])) == [
        ("01", "post"), ("01", "pre"), ("02", "post"), ("02", "pre"), ("03", "pre")]
    assert frame.loc[raw_bold.index, "space"].isna().all()
    # the fMRIPrep figures/log folders and sub-01.html are not indexed
    assert not frame["path"].map(lambda p: p.suffix in (".svg", ".toml", ".html")).any()


# -- ambiguity and filters -------------------------------------------------------------------
def test_two_spaces_is_ambiguous_and_space_resolves(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", spaces=(MNI, "T1w"))
    with pytest.raises(BIDSError) as info:
        read_bids(root)
    msg = str(info.value)
    assert "Subject '01' session 'post': 2 files match images['bold']" in msg
    assert f"sub-01_ses-post_task-rest_space-{MNI}_res-2_desc-preproc_bold.nii.gz" in msg
    assert "sub-01_ses-post_task-rest_space-T1w_res-2_desc-preproc_bold.nii.gz" in msg
    assert f"space ({MNI}, T1w): pass space=" in msg
    for space in (MNI, "T1w"):
        ses = read_bids(root, space=space)["01"].session("post")
        assert f"space-{space}_" in ses.images["bold"].name
        assert f"space-{space}_" in ses.images["mask"].name  # mask follows the chosen BOLD
        assert ses.metadata["space"] == space
    with pytest.raises(BIDSError, match=r"space='MNI' matches no file of the dataset; the 'space' "
                                        r"values present are \['MNI152NLin2009cAsym', 'T1w'\]"):
        read_bids(root, space="MNI")


def test_two_tasks_is_ambiguous_and_task_resolves(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", tasks=("rest", "pain"))
    with pytest.raises(BIDSError, match=r"differ in task \(pain, rest\): pass task="):
        read_bids(root)
    ses = read_bids(root, task="pain")["02"].session("pre")
    assert {ses.images[k].name.split("_")[2] for k in ("bold", "mask", "confounds", "bold_raw")
            } == {"task-pain"}
    assert ses.metadata["task"] == "pain"


def test_runs_pick_matching_confounds(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", sessions=())
    func = root / "derivatives" / "fmriprep" / "sub-01" / "func"
    for f in list(func.iterdir()):
        f.rename(func / f.name.replace("task-rest_", "task-rest_run-1_"))
        if f.name.endswith(".nii.gz"):
            bids_tree.write_nifti(func / f.name.replace("task-rest_", "task-rest_run-2_"))
    bids_tree.write_text(func / "sub-01_task-rest_run-2_desc-confounds_timeseries.tsv", "a\n1\n")
    with pytest.raises(BIDSError, match=r"differ in run \(1, 2\): pass run="):
        read_bids(root)
    ses = read_bids(root, run=2)["01"].session("baseline")
    assert "run-2" in ses.images["bold"].name and "run-2" in ses.images["confounds"].name
    with pytest.raises(BIDSError, match=r"run='02' matches no file, but runs \['1', '2'\] exist"):
        read_bids(root, run="02")


def test_entities_filter(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", sessions=())
    anat = root / "sub-01" / "anat"
    (anat / "sub-01_T1w.nii.gz").rename(anat / "sub-01_acq-mprage_T1w.nii.gz")
    bids_tree.write_nifti(anat / "sub-01_acq-fast_T1w.nii.gz", shape=(2, 2, 2), t_r=None)
    with pytest.raises(BIDSError, match=r"(?s)images\['t1'\].*entities=\{'acq': \.\.\.\}"):
        read_bids(root)
    cohort = read_bids(root, entities={"acq": "fast"})
    assert cohort["01"].session("baseline").images["t1"].name == "sub-01_acq-fast_T1w.nii.gz"
    with pytest.raises(ValueError, match="subjects= and sessions="):
        read_bids(root, entities={"sub": "01"})


# -- repetition time -------------------------------------------------------------------------
def test_tr_inherited_from_top_level_sidecar(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", t_r=2.0, derivative_tr=False)
    for p in root.glob("sub-*/ses-*/func/*_bold.json"):
        p.unlink()
    bids_tree.write_json(root / "task-rest_bold.json", {"RepetitionTime": 2.0})
    cohort = read_bids(root)
    meta = cohort["01"].session("pre").metadata
    assert meta["t_r"] == 2.0 and meta["t_r_source"] == str(root / "task-rest_bold.json")
    # a nearer sidecar overrides the top-level one (the header agrees with neither: patch it)
    func = root / "sub-02" / "ses-pre" / "func"
    bids_tree.write_json(func / "sub-02_ses-pre_task-rest_bold.json", {"RepetitionTime": 2.01})
    meta = read_bids(root)["02"].session("pre").metadata
    assert meta["t_r"] == 2.01
    assert meta["t_r_source"].endswith("sub-02_ses-pre_task-rest_bold.json")


def test_tr_from_header_when_no_sidecar(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", t_r=2.5, derivative_tr=False)
    for p in root.glob("sub-*/ses-*/func/*_bold.json"):
        p.unlink()
    meta = read_bids(root)["01"].session("pre").metadata
    np.testing.assert_allclose(meta["t_r"], 2.5, rtol=1e-6)
    assert meta["t_r_source"].startswith("header of ")


def test_header_and_sidecar_tr_disagree(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", t_r=3.0, header_t_r=2.0)
    with pytest.raises(BIDSError, match=r"sub-01_ses-post_task-rest_space-.*_desc-preproc_bold"
                                        r"\.nii\.gz' disagrees: its NIfTI header says 2 s.*says "
                                        r"RepetitionTime = 3 s"):
        read_bids(root)


def test_header_and_sidecar_within_one_percent(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", t_r=3.0, header_t_r=3.02)  # 0.67 % apart
    assert read_bids(root)["01"].session("pre").metadata["t_r"] == 3.0


def test_sidecar_tr_in_milliseconds(tmp_path, bids_tree):
    root = bids_tree.build_dataset(tmp_path / "ds", t_r=3000.0, header_t_r=3.0)
    with pytest.raises(DataError, match=r"RepetitionTime.*desc-preproc_bold\.json.*3000.*"
                                        r"milliseconds"):
        read_bids(root)


def test_no_warnings_on_clean_dataset(dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_bids(dataset)


# -- fMRIPrep anatomical outputs, phenotype group column, subjects= and phenotype ----------
def test_anat_outputs_follow_bold_space(tmp_path, bids_tree):
    """fMRIPrep writes anat outputs natively (no space-) and in each output space."""
    root = bids_tree.build_dataset(tmp_path / "ds", sessions=(), spaces=(MNI, "T1w"))
    anat = root / "derivatives" / "fmriprep" / "sub-01" / "anat"
    for stem in ("sub-01", f"sub-01_space-{MNI}"):
        for suffix in ("desc-preproc_T1w", "desc-brain_mask"):
            bids_tree.write_nifti(anat / f"{stem}_{suffix}.nii.gz", shape=(2, 2, 2), t_r=None)
    ses = read_bids(root, space=MNI)["01"].session("baseline")
    assert ses.images["t1_preproc"].name == f"sub-01_space-{MNI}_desc-preproc_T1w.nii.gz"
    assert ses.images["anat_mask"].name == f"sub-01_space-{MNI}_desc-brain_mask.nii.gz"
    assert ses.images["mask"].name == (f"sub-01_task-rest_space-{MNI}_res-2_desc-brain_mask"
                                       ".nii.gz")
    # space="T1w" excludes the MNI outputs; the native ones (no space-) remain
    ses = read_bids(root, space="T1w")["01"].session("baseline")
    assert ses.images["t1_preproc"].name == "sub-01_desc-preproc_T1w.nii.gz"
    assert "space-T1w" in ses.images["bold"].name
    # without a BOLD to follow, native and MNI outputs are ambiguous
    for f in (root / "derivatives" / "fmriprep" / "sub-01" / "func").iterdir():
        f.unlink()
    with pytest.raises(BIDSError, match=r"(?s)images\['t1_preproc'\].*differ in space "
                                        r"\(<none>, MNI152NLin2009cAsym\): pass space="):
        read_bids(root)


def test_phenotype_group_column_must_agree(dataset, bids_tree):
    bids_tree.write_text(dataset / "phenotype" / "arms.tsv",
                         "participant_id\tgroup\tsite\nsub-01\tCLBP\tA\nsub-03\tHC\tB\n")
    cohort = read_bids(dataset)
    assert cohort["01"].group == "CLBP" and "group" not in cohort["01"].covariates
    assert cohort["03"].covariates["site"] == "B"
    bids_tree.write_text(dataset / "phenotype" / "arms.tsv",
                         "participant_id\tgroup\nsub-02\tHC\n")
    with pytest.raises(BIDSError, match=r"Subject '02': group is 'CLBP' in participants\.tsv "
                                        r"but 'HC' in .*arms\.tsv'"):
        read_bids(dataset)


def test_subjects_filter_skips_other_phenotype_rows(dataset, bids_tree):
    bids_tree.write_scores(dataset, "pain.tsv", "vas", "sub-01\tses-pre\t7", "sub-02\tses-pre\t70")
    with pytest.raises(ScoreRangeError, match=r"Subject '02'"):
        read_bids(dataset)
    cohort = read_bids(dataset, subjects=["01"])
    assert cohort["01"].session("pre").score("VAS") == 7.0


def test_tr_from_raw_top_level_sidecar_without_raw_bold(tmp_path, bids_tree):
    """The simulator's layout: raw BOLD absent, TR only in the raw root's task-rest_bold.json."""
    root = bids_tree.build_dataset(tmp_path / "ds", t_r=2.0, derivative_tr=False)
    for p in root.glob("sub-*/ses-*/func/*"):
        p.unlink()
    bids_tree.write_json(root / "task-rest_bold.json", {"RepetitionTime": 2.0, "EchoTime": 0.03})
    meta = read_bids(root)["02"].session("post").metadata
    assert meta["t_r"] == 2.0
    assert meta["t_r_source"] == str(root / "task-rest_bold.json")


def test_tr_source_is_the_sidecar_that_holds_it(tmp_path, bids_tree):
    """A nearer sidecar without RepetitionTime does not take the credit."""
    root = bids_tree.build_dataset(tmp_path / "ds", t_r=2.0, derivative_tr=False)
    bids_tree.write_json(root / "task-rest_bold.json", {"RepetitionTime": 2.0})
    for p in root.glob("sub-*/ses-*/func/*_bold.json"):
        bids_tree.write_json(p, {"TaskName": "rest"})
    meta = read_bids(root)["01"].session("pre").metadata
    assert meta["t_r"] == 2.0 and meta["t_r_source"] == str(root / "task-rest_bold.json")


def test_bidsignore_skips_listed_files(dataset, bids_tree):
    func = dataset / "sub-01" / "ses-pre" / "func"
    bids_tree.write_text(func / "notes on run.txt", "scanner hiccup")
    bids_tree.write_text(dataset / "sub-02" / "ses-pre" / "extra" / "x.txt", "x")  # not a datatype
    bids_tree.write_nifti(dataset / "sub-99_pilot" / "anat" / "whatever.nii.gz", t_r=None,
                          shape=(2, 2, 2))
    with pytest.raises(BIDSError, match=r"'notes on run\.txt' does not parse.*\.bidsignore"):
        read_bids(dataset)
    (dataset / ".bidsignore").write_text("# comments and blanks are skipped\n\n*.txt\n"
                                         "sub-99_pilot/\n")
    cohort = read_bids(dataset)
    assert len(cohort) == 3
    assert "notes on run.txt" not in index_bids(dataset)["path"].map(lambda p: p.name).tolist()
    # anchored path patterns
    (dataset / ".bidsignore").write_text("/sub-01/ses-pre/func/notes*\nsub-99_pilot/\n")
    assert len(read_bids(dataset)) == 3


def test_same_file_in_two_pipelines(dataset, bids_tree):
    other = dataset / "derivatives" / "otherprep" / "sub-01" / "ses-pre" / "func"
    name = f"sub-01_ses-pre_task-rest_space-{MNI}_res-2_desc-preproc_bold.nii.gz"
    bids_tree.write_nifti(other / name)
    with pytest.raises(BIDSError, match=r"(?s)2 files match images\['bold'\].*otherprep.*"
                                        r"differ only in their folder: pass .*derivatives="):
        read_bids(dataset)
    cohort = read_bids(dataset, derivatives=dataset / "derivatives" / "otherprep")
    assert cohort["01"].session("pre").images["bold"] == other / name
    assert "bold" not in cohort["02"].session("pre").images


def test_parameter_validation(dataset, bids_tree):
    with pytest.raises(TypeError, match=r"'validate_scores' parameter must be True or False. "
                                        r"Got 'yes'"):
        read_bids(dataset, validate_scores="yes")
    with pytest.raises(TypeError, match=r"'space' parameter must be a string or None. Got 2.5"):
        read_bids(dataset, space=2.5)
    with pytest.raises(TypeError, match=r"'entities' parameter must be a mapping"):
        read_bids(dataset, entities=["acq"])
    with pytest.raises(TypeError, match=r"'root' parameter must be a path. Got 3"):
        read_bids(3)
    # the prefix is optional in filters, and run may be an int
    ses = read_bids(dataset, task="task-rest", space=f"space-{MNI}", res=2)["01"].session("pre")
    assert ses.metadata["task"] == "rest"


def test_participants_without_rows(dataset, bids_tree):
    bids_tree.write_text(dataset / "participants.tsv", "participant_id\tgroup\n")
    with pytest.raises(BIDSError, match=r"has no participants"):
        read_bids(dataset)
