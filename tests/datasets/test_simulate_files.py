"""What simulate_cohort writes: BIDS/fMRIPrep names, headers, tables and confounds."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.datasets import load_mni152_brain_mask

SPACE = "space-MNI152NLin2009cAsym_res-4"


def _read_tsv(path):
    return pd.read_csv(path, sep="\t")


def test_top_level_files(rtms_small):
    root = rtms_small.root
    for name in ("dataset_description.json", "README", "participants.tsv", "participants.json",
                 "sessions.json", "task-rest_bold.json", "phenotype/pain.tsv",
                 "phenotype/pain.json", "derivatives/fmriprep/dataset_description.json",
                 "derivatives/painmarkers-simulation/ground_truth.json",
                 "derivatives/painmarkers-simulation/planted_effects.tsv"):
        assert (root / name).is_file(), name
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw" and description["BIDSVersion"].startswith("1.")
    deriv = json.loads((root / "derivatives/fmriprep/dataset_description.json").read_text())
    assert deriv["DatasetType"] == "derivative"
    assert deriv["GeneratedBy"][0]["Name"] == "painmarkers.datasets.simulate_cohort"
    assert rtms_small.derivatives == root / "derivatives" / "fmriprep"
    assert not (root / "derivatives" / "qsm").exists()


def test_session_files_follow_fmriprep_names(rtms_small):
    root = rtms_small.root
    func = root / "derivatives/fmriprep/sub-01/ses-pre/func"
    expected = {
        f"sub-01_ses-pre_task-rest_{SPACE}_desc-preproc_bold.nii.gz",
        f"sub-01_ses-pre_task-rest_{SPACE}_desc-preproc_bold.json",
        f"sub-01_ses-pre_task-rest_{SPACE}_desc-brain_mask.nii.gz",
        f"sub-01_ses-pre_task-rest_{SPACE}_desc-brain_mask.json",
        "sub-01_ses-pre_task-rest_desc-confounds_timeseries.tsv",
        "sub-01_ses-pre_task-rest_desc-confounds_timeseries.json",
    }
    assert {p.name for p in func.iterdir()} == expected
    sessions = rtms_small.sessions
    assert len(sessions) == 3 * 2 + 3
    for row in sessions.itertuples():
        for kind in ("bold", "mask", "confounds"):
            assert (root / getattr(row, kind)).is_file()
        assert row.qsm is None
    # no temporary files left behind
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]


def test_bold_header_and_sidecar(rtms_small):
    row = rtms_small.sessions.iloc[0]
    img = nib.load(rtms_small.root / row["bold"])
    assert img.shape[3] == 190
    assert img.get_data_dtype() == np.float32
    np.testing.assert_allclose(img.header.get_zooms(), (4.0, 4.0, 4.0, 3.0), rtol=0, atol=1e-6)
    assert img.header.get_xyzt_units() == ("mm", "sec")
    sidecar = json.loads((rtms_small.root / row["bold"].replace(".nii.gz", ".json")).read_text())
    assert sidecar["RepetitionTime"] == 3.0
    assert sidecar["TaskName"] == "rest"
    reference = load_mni152_brain_mask(resolution=4)
    np.testing.assert_allclose(img.affine, reference.affine, rtol=0, atol=1e-6)
    mask = nib.load(rtms_small.root / row["mask"])
    np.testing.assert_array_equal(np.asarray(mask.dataobj) > 0, np.asarray(reference.dataobj) > 0)
    data = np.asarray(img.dataobj)
    inside = np.asarray(reference.dataobj) > 0
    assert np.all(data[~inside] == 0)
    assert np.all(data[inside].std(axis=1) > 0)
    # about 1 % signal fluctuation (tSNR between 30 and 200)
    tsnr = data[inside].mean(axis=1) / data[inside].std(axis=1)
    assert 30 < np.median(tsnr) < 200


def test_participants_sessions_phenotype(rtms_small):
    root = rtms_small.root
    participants = _read_tsv(root / "participants.tsv")
    assert list(participants.columns) == ["participant_id", "group", "age", "sex", "bmi",
                                          "pain_duration_years"]
    assert participants["participant_id"].tolist() == [f"sub-{i:02d}" for i in range(1, 7)]
    assert participants["group"].tolist() == ["CLBP"] * 3 + ["HC"] * 3
    assert participants["sex"].isin(["F", "M"]).all()
    assert participants.loc[participants.group == "HC", "pain_duration_years"].isna().all()
    assert (participants.loc[participants.group == "CLBP", "pain_duration_years"] >= 0.25).all()
    sidecar = json.loads((root / "participants.json").read_text())
    assert set(sidecar) == set(participants.columns)
    for pid, group in zip(participants.participant_id, participants.group):
        sessions = _read_tsv(root / pid / f"{pid}_sessions.tsv")
        expected = ["ses-pre", "ses-post"] if group == "CLBP" else ["ses-baseline"]
        assert sessions["session_id"].tolist() == expected
    pain = _read_tsv(root / "phenotype" / "pain.tsv")
    assert list(pain.columns) == ["participant_id", "session_id", "vas", "rmdq"]
    assert set(pain.participant_id) == {f"sub-{i:02d}" for i in range(1, 4)}
    assert pain["vas"].between(0, 10).all() and pain["rmdq"].between(0, 24).all()
    assert pain["rmdq"].dtype.kind == "i"
    np.testing.assert_allclose(pain["vas"], pain["vas"].round(1), rtol=0, atol=1e-12)


def test_confounds_are_fmriprep_like(rtms_small):
    root = rtms_small.root
    row = rtms_small.sessions.iloc[1]
    conf = _read_tsv(root / row["confounds"])
    assert len(conf) == 190
    for col in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z",
                "framewise_displacement", "csf", "white_matter", "global_signal",
                "trans_x_derivative1", "rot_z_power2", "std_dvars", "cosine00"):
        assert col in conf.columns, col
    # first row of derivative-type columns is n/a, as in fMRIPrep
    assert np.isnan(conf.loc[0, "framewise_displacement"])
    assert np.isnan(conf.loc[0, "trans_x_derivative1"])
    # Power's FD recomputed here from the motion columns (rotations in radians, 50 mm)
    motion = conf[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]].to_numpy()
    step = np.abs(np.diff(motion, axis=0))
    fd = step[:, :3].sum(axis=1) + 50.0 * step[:, 3:].sum(axis=1)
    np.testing.assert_allclose(conf["framewise_displacement"].to_numpy()[1:], fd,
                               rtol=1e-6, atol=1e-7)
    assert 0.02 < np.nanmean(conf["framewise_displacement"]) < 0.6
    assert np.abs(motion[:, :3]).max() < 3.0 and np.degrees(np.abs(motion[:, 3:]).max()) < 3.0
    # global signal = mean BOLD over the brain mask, recomputed from the image
    data = nib.load(root / row["bold"]).get_fdata(dtype=np.float32)
    mask = np.asarray(nib.load(root / row["mask"]).dataobj) > 0
    np.testing.assert_allclose(conf["global_signal"], data[mask].mean(axis=0, dtype=np.float64),
                               rtol=1e-6)
    # cosine regressors: DCT-II basis with 128 s cut-off (7 columns for 190 x 3 s)
    n = 190
    cosines = conf.filter(like="cosine").to_numpy()
    assert cosines.shape[1] == int(np.floor(2 * n * 3.0 / 128)) - 1
    k = np.arange(1, cosines.shape[1] + 1)
    expected = np.sqrt(2 / n) * np.cos(np.pi * (np.arange(n)[:, None] + 0.5) * k / n)
    np.testing.assert_allclose(cosines, expected, rtol=0, atol=1e-7)


# nilearn < 0.13 warns whenever fd_threshold is 0.2 (its old default), even when passed.
@pytest.mark.filterwarnings("ignore:The default parameter for fd_threshold:DeprecationWarning")
def test_nilearn_load_confounds_reads_them(rtms_small):
    from nilearn.interfaces.fmriprep import load_confounds

    bold = str(rtms_small.root / rtms_small.sessions.iloc[0]["bold"])
    confounds, sample_mask = load_confounds(
        bold, strategy=("motion", "high_pass", "wm_csf", "global_signal"), motion="full",
        wm_csf="basic", global_signal="basic")
    assert confounds.shape == (190, 24 + 7 + 2 + 1)
    assert sample_mask is None
    _, sample_mask = load_confounds(bold, strategy=("motion", "scrub"), motion="basic",
                                    scrub=0, fd_threshold=0.2, std_dvars_threshold=100)
    fd = _read_tsv(rtms_small.root / rtms_small.sessions.iloc[0]["confounds"])[
        "framewise_displacement"]
    assert len(sample_mask) == 190 - int((fd > 0.2).sum())


def test_cohort_from_bids_reads_the_dataset(rtms_small):
    cohort = rtms_small.to_cohort()
    participants = cohort.participants()
    assert len(participants) == 6
    frame = cohort.to_frame()
    scores = frame[frame.kind == "score"]
    assert len(scores) == 3 * 2 * 2  # VAS and RMDQ, pre and post, 3 patients
    first = cohort.subjects[0].sessions[0]
    assert {"bold", "mask", "confounds"} <= set(first.images)
    assert first.metadata["t_r"] == 3.0


def test_ground_truth_directions_match_the_seed(rtms_small):
    from painmarkers.datasets import load_seed_study

    truth = json.loads(rtms_small.ground_truth_path.read_text())
    assert truth == rtms_small.ground_truth
    assert truth["parameters"]["seed_entropy"] == "7" and truth["seeding"]
    assert any("Raw images" in a for a in truth["assumptions"])
    seed = load_seed_study("rtms_alff_clbp")
    effects = pd.DataFrame(truth["alff"]["effects"])
    group = effects[effects.contrast == "CLBP - HC"].set_index("roi")["direction"]
    for stem in seed["patients_vs_controls"]["higher_in_CLBP"]:
        assert (group[group.index.str.startswith(stem)] == "higher_in_CLBP").all()
    for stem in seed["patients_vs_controls"]["lower_in_CLBP"]:
        assert (group[group.index.str.startswith(stem)] == "lower_in_CLBP").all()
    post = effects[effects.contrast == "post - pre"].set_index("roi")["direction"]
    for stem in seed["direction_of_change_after_rtms"]["decrease"]:
        assert (post[post.index.str.startswith(stem)] == "decrease").all()
    assert post["mPFC"] == "increase"
    correlations = {c["roi"]: c["r"] for c in truth["alff"]["correlations"]}
    assert correlations["mPFC"] < 0 < correlations["INS_L"]
    nulls = truth["alff"]["null_rois"]
    assert nulls == ["CAL_L", "STG_R", "CER_L"]
    assert (effects[effects.roi.isin(nulls)]["log_ratio"] == 0).all()
    assert set(truth["alff"]["null_by_contrast"]["CLBP - HC"]) == {"THA_L", "THA_R", *nulls}
    assert set(truth["alff"]["null_by_contrast"]["post - pre"]) == {"PC_L", "PC_R", *nulls}
    planted = _read_tsv(rtms_small.root / "derivatives/painmarkers-simulation/"
                        "planted_effects.tsv")
    assert (planted[[f"alff_log_gain__{r}" for r in nulls]] == 0).all().all()
    assert len(planted) == len(rtms_small.sessions)


def test_summary_and_frame(rtms_small):
    text = rtms_small.summary()
    assert "rtms_alff_clbp" in text and "CLBP 3" in text and "HC 3" in text
    frame = rtms_small.to_frame()
    assert frame is not rtms_small.sessions
    assert {"participant_id", "session_id", "mean_fd", "max_translation_mm"} <= set(frame)
    assert str(rtms_small.root) == __import__("os").fspath(rtms_small)


@pytest.mark.parametrize("name", ["participants.tsv", "phenotype/pain.tsv"])
def test_tsv_use_bids_missing_marker(rtms_small, name):
    text = (rtms_small.root / name).read_text()
    assert "nan" not in text.lower().replace("n/a", "")


def test_simulated_dataset_follows_the_result_protocol(rtms_small, tmp_path):
    import json

    from painmarkers._results import Result
    from painmarkers.exceptions import OutputError

    assert isinstance(rtms_small, Result)
    assert rtms_small.versions["painmarkers"] and rtms_small.versions["numpy"]
    paths = rtms_small.save(tmp_path / "desc")
    assert set(paths) == {"sessions", "ground_truth", "parameters"}
    saved = pd.read_csv(paths["sessions"], sep="\t", na_values="n/a")
    assert list(saved["participant_id"]) == list(rtms_small.sessions["participant_id"])
    assert json.loads(paths["ground_truth"].read_text()) == rtms_small.ground_truth
    params = json.loads(paths["parameters"].read_text())
    assert params["type"] == "SimulatedDataset"
    assert params["parameters"]["n_clbp"] == 3 and "numpy" in params["versions"]
    with pytest.raises(OutputError, match="inside the simulated dataset"):
        rtms_small.save(rtms_small.root / "derivatives" / "desc")
