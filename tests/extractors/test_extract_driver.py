"""The cohort driver end to end on generated NIfTI files: maps, ROI measures, motion
exclusions, output-folder safety, parallel and dask backends."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers import Cohort, Subject
from painmarkers.exceptions import DataError, ExtractorError, PainmarkersWarning
from painmarkers.extractors import (
    ALFF,
    BaseExtractor,
    MapMean,
    ROIExtractor,
    SeedFC,
    extract,
    map_filename,
    roi_summary,
)
from painmarkers.rois import Sphere

T, TR = 64, 2.0  # the sessions of the make_session fixture (conftest.py)
ROIS = [Sphere("A", (0, 0, 0), 3.0), Sphere("B", (3, 3, 3), 3.0)]
SEED = Sphere("S", (-6, -6, -6), 3.0)


@pytest.fixture
def cohort(tmp_path, make_session):
    root = tmp_path / "bids"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "x",
                                                               "BIDSVersion": "1.9.0"}))

    def make(sub, ses, **kw):
        return make_session(root, sub, ses, **kw)

    subjects = [
        Subject("01", "CLBP", sessions=(make("01", "pre"), make("01", "post"))),
        Subject("02", "CLBP", sessions=(make("02", "pre"), make("02", "post", max_shift=3.5))),
        Subject("03", "HC", sessions=(make("03", "baseline"),)),
    ]
    return Cohort(subjects)


def _extractors():
    return [ALFF(), SeedFC(SEED), ROIExtractor(ALFF(), ROIS, summary="mean_timeseries"),
            MapMean(ROIS, kind="qsm")]


def _measures(c):
    frame = c.to_frame()
    return frame[frame["kind"] == "measure"].sort_values(
        ["subject_id", "session", "name", "roi"]).reset_index(drop=True)


def test_extract_end_to_end(cohort, tmp_path):
    out_dir = tmp_path / "out"
    with pytest.warns(PainmarkersWarning, match=r"1 session\(s\) excluded.*sub-02/ses-post"):
        result = extract(cohort, _extractors(), rois=ROIS, out_dir=out_dir, progress=False)
    assert isinstance(result, Cohort) and result is not cohort
    assert cohort["01"].session("pre").measures == ()  # input untouched
    ses = result["01"].session("pre")
    src = cohort["01"].session("pre")
    # the ALFF map is on disk under its BIDS-derivative name, equal to a direct computation
    alff_path = out_dir / map_filename("01", "pre", "alff")
    assert ses.images["alff"] == alff_path and alff_path.exists()
    direct = ALFF(mask_img=src.images["mask"]).fit().compute_map(src.images["bold"])
    np.testing.assert_allclose(nib.load(alff_path).get_fdata(), direct.get_fdata(), rtol=1e-6)
    # ROI measures of the map = roi_summary of that map inside the mask
    expected = roi_summary(direct, ROIS, mask_img=src.images["mask"])
    np.testing.assert_allclose([ses.measure("alff", "A"), ses.measure("alff", "B")], expected,
                               rtol=1e-6)
    sidecar = json.loads(alff_path.with_name(alff_path.name.replace(".nii.gz", ".json"))
                         .read_text())
    assert sidecar["Sources"] == [str(src.images["bold"])] and sidecar["Feature"] == "alff"
    # parameters as JSON values; the TR actually used (here from the BIDS sidecar)
    assert sidecar["Parameters"]["band"] == [0.01, 0.08]
    assert sidecar["Parameters"]["t_r"] is None and sidecar["RepetitionTime"] == TR
    assert sidecar["Parameters"]["mask_img"] == str(src.images["mask"])
    fc_path = out_dir / map_filename("01", "pre", "seed_fc_S")
    assert ses.images["seed_fc_S"] == fc_path and fc_path.exists()
    ts = ROIExtractor(ALFF(mask_img=src.images["mask"]), ROIS, summary="mean_timeseries")
    np.testing.assert_allclose([ses.measure("alff_meants", r.name) for r in ROIS],
                               ts.fit().transform(src.images["bold"])[0], rtol=1e-6)
    np.testing.assert_allclose([ses.measure("qsm", r.name) for r in ROIS],
                               roi_summary(src.images["qsm"], ROIS), rtol=1e-12)
    assert "ALFF()" in {m.extractor for m in ses.measures}
    # motion QC in metadata; the excluded session is kept, flagged, not extracted
    assert ses.metadata["motion_excluded"] == 0.0 and ses.metadata["max_translation_mm"] < 0.6
    bad = result["02"].session("post")
    assert bad.metadata["motion_excluded"] == 1.0 and bad.measures == ()
    assert bad.metadata["max_translation_mm"] == pytest.approx(3.5)
    report = pd.read_csv(out_dir / "extraction_report.tsv", sep="\t")
    assert len(report) == 5
    row = report[(report.subject_id == 2) & (report.session == "post")].iloc[0]
    assert row.status == "excluded_motion" and "3.50 mm > 3 mm" in row.reason
    assert (report.status == "extracted").sum() == 4
    assert (report.n_measures[report.status == "extracted"] == 4 * 2).all()
    assert json.loads((out_dir / "dataset_description.json").read_text())["DatasetType"] == \
        "derivative"
    leftovers = [p for p in out_dir.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_motion_flag_only_extracts_everything(cohort, tmp_path):
    result = extract(cohort, [MapMean(ROIS, kind="qsm")], out_dir=tmp_path / "o",
                     progress=False, exclude_motion=False)
    bad = result["02"].session("post")
    assert bad.metadata["motion_excluded"] == 1.0 and len(bad.measures) == 2
    no_qc = extract(cohort, [MapMean(ROIS, kind="qsm")], out_dir=tmp_path / "o2",
                    progress=False, motion=False)
    assert "mean_fd" not in no_qc["02"].session("post").metadata
    with pytest.raises(TypeError, match="'motion' parameter must be a MotionQC"):
        extract(cohort, [MapMean(ROIS)], out_dir=tmp_path / "o3", motion="strict")


def test_parallel_and_dask_backends_give_identical_results(cohort, tmp_path):
    from dask.distributed import Client, LocalCluster

    kw = dict(rois=ROIS, progress=False, exclude_motion=False)
    extractors = [ALFF(), SeedFC(SEED)]
    serial = extract(cohort, extractors, n_jobs=1, out_dir=tmp_path / "s", **kw)
    parallel = extract(cohort, extractors, n_jobs=2, out_dir=tmp_path / "p", **kw)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_config(backend="dask"):
            on_dask = extract(cohort, extractors, n_jobs=2, out_dir=tmp_path / "d", **kw)
    expected = _measures(serial)
    assert len(expected) == 5 * 2 * 2
    for other in (parallel, on_dask):
        got = _measures(other)
        pd.testing.assert_frame_equal(got, expected)
    maps = sorted(p.relative_to(tmp_path / "d") for p in (tmp_path / "d").rglob("*.nii.gz"))
    assert len(maps) == 10


def test_out_dir_inside_the_input_is_refused(cohort, tmp_path):
    bids = tmp_path / "bids"
    with pytest.raises(ValueError, match="inside the input folder"):
        extract(cohort, [ALFF()], out_dir=bids / "sub-01" / "ses-pre" / "func",
                progress=False)
    with pytest.raises(ValueError, match="inside the input dataset"):
        extract(cohort, [ALFF()], out_dir=bids / "painmarkers", progress=False)
    with pytest.raises(ValueError, match=r"contains the input dataset .*bids"):
        extract(cohort, [ALFF()], out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="'out_dir' parameter is required"):
        extract(cohort, [ALFF()], progress=False)
    # a new pipeline folder under derivatives/ is fine
    ok = extract(cohort.select(levels="HC"), [MapMean(ROIS)],
                 out_dir=bids / "derivatives" / "painmarkers", progress=False)
    assert len(ok["03"].session("baseline").measures) == 2


def test_missing_image_names_subject_session_and_kind(cohort, tmp_path):
    with pytest.raises(DataError, match=r"Subject '01' session 'pre'.*no 't1' image"):
        extract(cohort, [MapMean(ROIS, kind="t1")], out_dir=tmp_path / "o", progress=False)


def test_on_error_skip_reports_and_warns(cohort, tmp_path):
    with pytest.warns(PainmarkersWarning, match=r"5 session\(s\) failed.*no 't1' image"):
        result = extract(cohort, [MapMean(ROIS, kind="t1")], out_dir=tmp_path / "o",
                         progress=False, exclude_motion=False, on_error="skip")
    report = pd.read_csv(tmp_path / "o" / "extraction_report.tsv", sep="\t")
    assert (report.status == "failed").all()
    assert all(s.measures == () for _, s in result.iter_sessions())


def test_confounds_row_mismatch_through_the_driver(tmp_path, make_session):
    root = tmp_path / "in"
    ses = make_session(root, "09", "pre", n_conf=T - 4)
    cohort = Cohort([Subject("09", "HC", sessions=(ses,))])
    # without motion QC, SeedFC itself refuses the table (the QC test is in
    # test_extract_robustness.py)
    with pytest.raises(DataError, match=rf"Subject '09' session 'pre'.*has {T - 4} rows but"):
        extract(cohort, [SeedFC(SEED, confounds_strategy=("motion",))],
                out_dir=tmp_path / "o", progress=False, motion=False)


def test_session_confounds_only_with_a_strategy(cohort, tmp_path):
    """The session's fMRIPrep table is regressed only through a chosen strategy."""
    src = cohort["01"].session("pre")
    plain = SeedFC(SEED, mask_img=src.images["mask"]).fit()
    motion = SeedFC(SEED, mask_img=src.images["mask"], confounds_strategy=("motion",)).fit()
    expected_plain = plain.compute_map(src.images["bold"]).get_fdata()
    expected_motion = motion.compute_map(src.images["bold"],
                                         confounds=src.images["confounds"]).get_fdata()
    assert not np.allclose(expected_plain, expected_motion)
    small = Cohort([Subject("01", "CLBP", sessions=(src,))])
    for strategy, expected in ((None, expected_plain), (("motion",), expected_motion)):
        out = tmp_path / f"o{strategy is None}"
        res = extract(small, [SeedFC(SEED, confounds_strategy=strategy)], out_dir=out,
                      progress=False)
        got = nib.load(res["01"].session("pre").images["seed_fc_S"]).get_fdata()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_bad_arguments(cohort, tmp_path):
    with pytest.raises(TypeError, match="'cohort' parameter must be a Cohort"):
        extract([], [ALFF()], out_dir=tmp_path)
    with pytest.raises(TypeError, match="must hold extractors"):
        extract(cohort, [3], out_dir=tmp_path / "o")
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        extract(cohort, [ALFF()], n_jobs=0, out_dir=tmp_path / "o")
    with pytest.raises(ValueError, match="'on_error' parameter must be one of"):
        extract(cohort, [ALFF()], on_error="ignore", out_dir=tmp_path / "o")


def test_map_filename_entities():
    assert map_filename("01", "pre", "seed_fc_INS_L").as_posix() == (
        "sub-01/ses-pre/func/sub-01_ses-pre_space-MNI152NLin2009cAsym_desc-seedfcINSL_"
        "boldmap.nii.gz")
    assert map_filename("01", "pre", "qsm_z", input_kind="map", space="T1w").as_posix() == (
        "sub-01/ses-pre/anat/sub-01_ses-pre_space-T1w_desc-qsmz_map.nii.gz")


def test_out_dir_containing_plain_input_folders_is_refused(tmp_path, make_session):
    ses = make_session(tmp_path / "raw", "05", "pre")
    cohort = Cohort([Subject("05", "HC", sessions=(ses,))])
    with pytest.raises(ValueError, match=r"contains the input folder .*sub-05"):
        extract(cohort, [MapMean(ROIS)], out_dir=tmp_path / "raw", progress=False)


class _QSMSquare(BaseExtractor):
    feature = "qsm_sq"
    input_kind = "map"
    image_kind = "qsm"

    def compute(self, data, context):
        return data[0] ** 2


class _NoKind(_QSMSquare):
    image_kind = None


def test_voxelwise_map_extractor_reads_its_session_image(cohort, tmp_path):
    result = extract(cohort.select(levels="HC"), [_QSMSquare()], rois=ROIS,
                     out_dir=tmp_path / "o", progress=False)
    ses = result["03"].session("baseline")
    path = ses.images["qsm_sq"]
    assert path == tmp_path / "o" / map_filename("03", "baseline", "qsm_sq", "map")
    assert "/anat/" in path.as_posix() and path.name.endswith("_desc-qsmsq_map.nii.gz")
    qsm = nib.load(cohort["03"].session("baseline").images["qsm"]).get_fdata()
    mask = nib.load(cohort["03"].session("baseline").images["mask"]).get_fdata() > 0
    np.testing.assert_allclose(nib.load(path).get_fdata()[mask], qsm[mask] ** 2, rtol=1e-6)
    with pytest.raises(ExtractorError, match="does not say which session image"):
        extract(cohort, [_NoKind()], out_dir=tmp_path / "o2", progress=False)


def test_worker_warnings_reach_the_caller(tmp_path, make_session, bold_image, affine_3mm):
    ses = make_session(tmp_path / "in", "07", "pre")
    data = nib.load(ses.images["bold"]).get_fdata()
    data[3, 3, 3] = 5.0  # one constant voxel inside the mask
    nib.save(bold_image(data, affine_3mm, TR), ses.images["bold"])
    cohort = Cohort([Subject("07", "HC", sessions=(ses,))])
    with pytest.warns(PainmarkersWarning, match=r"sub-07/ses-pre: 1 voxel\(s\).*constant"):
        extract(cohort, [SeedFC(SEED)], n_jobs=2, out_dir=tmp_path / "o", progress=False)


def test_tr_resolved_once_recorded_and_missing_tr_named(cohort, tmp_path, make_session):
    # with a TR (sidecar): the map's sidecar records the TR used
    res = extract(cohort.select(levels="HC"), [ALFF()], out_dir=tmp_path / "a", progress=False)
    path = res["03"].session("baseline").images["alff"]
    assert json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())[
        "RepetitionTime"] == TR
    # without any TR: an error naming the subject, session and file
    ses = make_session(tmp_path / "in", "07", "pre")
    (Path(ses.images["bold"]).parent / "sub-07_ses-pre_task-rest_bold.json").unlink()
    img = nib.load(ses.images["bold"])
    img.header["pixdim"][4] = 0.0
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header),
             ses.images["bold"])
    no_tr = Cohort([Subject("07", "HC", sessions=(ses,))])
    with pytest.raises(DataError, match=r"Subject '07' session 'pre': The repetition time.*"
                                        r"sub-07_ses-pre_task-rest_bold\.nii\.gz"):
        extract(no_tr, [ALFF()], out_dir=tmp_path / "c", progress=False)
