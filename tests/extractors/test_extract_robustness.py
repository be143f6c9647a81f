"""The cohort driver on bad input (damaged files, missing mask or confounds, runs and tables
of different lengths), keyword-only arguments, and sessions run on a multi-process dask
cluster."""

from __future__ import annotations

import dataclasses
import sys

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers import Cohort, Subject
from painmarkers.exceptions import DataError, ImageError, PainmarkersWarning
from painmarkers.extractors import ALFF, MapMean, SeedFC, extract, map_filename
from painmarkers.rois import Sphere

ROIS = [Sphere("A", (0, 0, 0), 3.0), Sphere("B", (3, 3, 3), 3.0)]
SEED = Sphere("S", (-6, -6, -6), 3.0)
T = 64


def _without_image(subject, kind):
    """The subject with its 'pre' session lacking the image ``kind`` (mask, confounds)."""
    ses = subject.session("pre")
    images = {k: v for k, v in ses.images.items() if k != kind}
    return dataclasses.replace(subject, sessions=(dataclasses.replace(ses, images=images),))


def _measures(c):
    frame = c.to_frame()
    return frame[frame["kind"] == "measure"].sort_values(
        ["subject_id", "session", "name", "roi"]).reset_index(drop=True)


@pytest.fixture
def three(tmp_path, make_session):
    root = tmp_path / "in"
    return Cohort([Subject(f"0{i}", "HC", sessions=(make_session(root, f"0{i}", "pre"),))
                   for i in (1, 2, 3)])


# --- damaged .nii.gz ------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate", "bad_crc", "zeroed_stream"])
@pytest.mark.parametrize("kind", ["bold", "mask"])
def test_damaged_gzip_is_an_image_error_naming_the_file(tmp_path, three, gzip_damage, damage,
                                                        kind):
    one = three.select(subjects=["01"])
    path = one["01"].session("pre").images[kind]
    getattr(gzip_damage, damage)(path)
    # (a small mask truncated inside its header is refused by nibabel, also named)
    with pytest.raises(ImageError, match=rf"Subject '01' session 'pre': Could not read .*"
                                         rf"{path.name}'"):
        extract(one, [ALFF(), SeedFC(SEED)], out_dir=tmp_path / "o", progress=False,
                motion=False)


def test_skip_really_skips_damaged_sessions_and_records_why(tmp_path, three, gzip_damage):
    bold2 = three["02"].session("pre").images["bold"]
    mask3 = three["03"].session("pre").images["mask"]
    qsm1 = three["01"].session("pre").images["qsm"]
    gzip_damage.bad_crc(bold2)
    gzip_damage.truncate(mask3)
    gzip_damage.truncate(qsm1)  # sub-01 fails after its ALFF map was written: the map is removed
    out_dir = tmp_path / "o"
    with pytest.warns(PainmarkersWarning, match=r"3 session\(s\) failed and were skipped: "
                                                rf"sub-01/ses-pre \(ImageError: .*{qsm1.name}.*; "
                                                rf"sub-02/ses-pre \(.*{bold2.name}.*CRC check "
                                                rf"failed.*; sub-03/ses-pre \(.*{mask3.name}"):
        result = extract(three, [ALFF(), MapMean(ROIS, kind="qsm")], rois=ROIS,
                         out_dir=out_dir, progress=False, motion=False, on_error="skip")
    for sub, bad in (("01", qsm1), ("02", bold2), ("03", mask3)):
        ses = result[sub].session("pre")
        assert ses.measures == () and "alff" not in ses.images
        assert ses.metadata["extraction_status"] == "failed"
        assert bad.name in ses.metadata["extraction_reason"]
    assert not list(out_dir.rglob("*.nii.gz"))  # nothing half-done left behind
    report = pd.read_csv(out_dir / "extraction_report.tsv", sep="\t", dtype={"subject_id": str})
    assert (report.status == "failed").all()
    assert report.reason.str.startswith("ImageError: Could not read").all()


def test_skip_continues_with_the_good_sessions(tmp_path, three, gzip_damage):
    gzip_damage.bad_crc(three["02"].session("pre").images["bold"])
    with pytest.warns(PainmarkersWarning, match=r"1 session\(s\) failed"):
        result = extract(three, [ALFF()], rois=ROIS, out_dir=tmp_path / "o", progress=False,
                         motion=False, on_error="skip")
    reference = extract(three.select(subjects=["01", "03"]), [ALFF()], rois=ROIS,
                        out_dir=tmp_path / "r", progress=False, motion=False)
    pd.testing.assert_frame_equal(_measures(result), _measures(reference))
    assert result["01"].session("pre").metadata["extraction_status"] == "extracted"


# --- missing mask / confounds: explicit warnings with counts, recorded ------------------------
def test_missing_brain_mask_is_warned_counted_and_recorded(tmp_path, three):
    cohort = Cohort([three["01"], _without_image(three["02"], "mask"), three["03"]])
    with pytest.warns(PainmarkersWarning, match=r"1 of 3 session\(s\) have no brain mask.*"
                                                r"computed from the data.*: sub-02/ses-pre\."):
        result = extract(cohort, [ALFF(), MapMean(ROIS)], out_dir=tmp_path / "o",
                         progress=False, motion=False)
    assert result["02"].session("pre").metadata["mask_source"] == "computed from the data"
    assert result["01"].session("pre").metadata["mask_source"] == "session"
    report = pd.read_csv(tmp_path / "o" / "extraction_report.tsv", sep="\t",
                         dtype={"subject_id": str})
    assert report.set_index("subject_id")["mask"].to_dict() == {
        "01": "session", "02": "computed from the data", "03": "session"}
    # an extractor's own mask_img needs no session mask and is recorded as such
    own = extract(cohort.select(subjects=["02"]),
                  [ALFF(mask_img=three["01"].session("pre").images["mask"])],
                  out_dir=tmp_path / "o2", progress=False, motion=False)
    assert own["02"].session("pre").metadata["mask_source"] == "extractor's mask_img"


def test_missing_confounds_is_warned_counted_and_recorded(tmp_path, three):
    cohort = Cohort([three["01"], _without_image(three["03"], "confounds")])
    with pytest.warns(PainmarkersWarning, match=r"1 of 2 session\(s\) have no confounds or "
                                                r"motion file: their head motion was not "
                                                r"assessed: sub-03/ses-pre\."):
        result = extract(cohort, [MapMean(ROIS)], out_dir=tmp_path / "o", progress=False)
    meta = result["03"].session("pre").metadata
    assert meta["motion_qc"].startswith("not assessed") and "mean_fd" not in meta
    assert result["01"].session("pre").metadata["motion_qc"] == "assessed"
    report = pd.read_csv(tmp_path / "o" / "extraction_report.tsv", sep="\t",
                         dtype={"subject_id": str})
    assert report.set_index("subject_id")["motion_qc"]["03"].startswith("not assessed")
    # motion=False is an explicit choice: recorded as "off", no warning
    off = extract(cohort, [MapMean(ROIS)], out_dir=tmp_path / "o2", progress=False,
                  motion=False)
    assert off["03"].session("pre").metadata["motion_qc"] == "off"


# --- BOLD and confounds of different lengths ----------------------------------------------
@pytest.mark.parametrize(("n_conf", "n_vol"), [(T - 4, T), (T, T - 4)],
                         ids=["table_shorter", "run_shorter"])
def test_run_and_confounds_of_different_lengths_name_both_files(tmp_path, make_session,
                                                                 n_conf, n_vol):
    ses = make_session(tmp_path / "in", "09", "pre", n_conf=n_conf, n_vol=n_vol)
    cohort = Cohort([Subject("09", "HC", sessions=(ses,))])
    conf, bold = ses.images["confounds"].name, ses.images["bold"].name
    with pytest.raises(DataError, match=rf"Subject '09' session 'pre': the motion parameters "
                                        rf".*{conf}' have {n_conf} rows but the BOLD run "
                                        rf".*{bold}' has {n_vol} volumes"):
        extract(cohort, [ALFF()], out_dir=tmp_path / "o", progress=False)
    with pytest.warns(PainmarkersWarning, match=rf"1 session\(s\) failed.*{n_conf} rows"):
        skipped = extract(cohort, [ALFF()], out_dir=tmp_path / "o2", progress=False,
                          on_error="skip")
    assert skipped["09"].session("pre").metadata["extraction_status"] == "failed"


# --- keyword-only parameters ---------------------------------------------------------------
def test_parameters_after_extractors_are_keyword_only_old_calls_warn(tmp_path, three):
    one = three.select(subjects=["01"])
    new = extract(one, [MapMean(ROIS)], out_dir=tmp_path / "n", progress=False)
    with pytest.warns(FutureWarning, match=r"Passing rois, n_jobs, out_dir, progress by "
                                           r"position to extract\(\) is deprecated"):
        old = extract(one, [MapMean(ROIS)], None, None, tmp_path / "o", False)
    pd.testing.assert_frame_equal(_measures(old), _measures(new))


# --- dask: a real multi-process cluster ----------------------------------------------------
def _maps(cohort, features):
    return {(s.id, ses.label, f): np.asarray(nib.load(ses.images[f]).dataobj)
            for s in cohort for ses in s.sessions for f in features if f in ses.images}


def test_sessions_run_on_a_multiprocess_dask_cluster_identically(tmp_path, three, gzip_damage):
    from dask.distributed import Client, LocalCluster

    gzip_damage.bad_crc(three["03"].session("pre").images["bold"])
    extractors = [ALFF(), SeedFC(SEED), MapMean(ROIS)]
    kw = dict(rois=ROIS, progress=False, on_error="skip")
    with pytest.warns(PainmarkersWarning, match=r"1 session\(s\) failed"):
        serial = extract(three, extractors, out_dir=tmp_path / "s", **kw)
    features = ["alff", "seed_fc_S"]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        with Client(cluster) as client:
            pids = set(client.run(lambda: __import__("os").getpid()).values())
            assert len(pids) == 2 and __import__("os").getpid() not in pids
            with pytest.warns(PainmarkersWarning, match=r"1 session\(s\) failed"):
                on_client = extract(three, extractors, out_dir=tmp_path / "c",
                                    scheduler=client, **kw)
            # on_error="raise": the worker's error reaches the caller, named
            with pytest.raises(ImageError, match=r"Subject '03' session 'pre'.*CRC check"):
                extract(three.select(subjects=["03"]), [ALFF()], out_dir=tmp_path / "e",
                        scheduler=client, progress=False)
        # a scheduler address: extract opens and closes its own client
        with pytest.warns(PainmarkersWarning, match=r"1 session\(s\) failed"):
            on_address = extract(three, extractors, out_dir=tmp_path / "a",
                                 scheduler=cluster.scheduler_address, **kw)
    expected = _measures(serial)
    assert len(expected) == 2 * (3 * 2)  # two good sessions x (alff, seed fc, qsm) x 2 ROIs
    reference = _maps(serial, features)
    for other in (on_client, on_address):
        pd.testing.assert_frame_equal(_measures(other), expected)
        got = _maps(other, features)
        assert got.keys() == reference.keys()
        for key, value in reference.items():
            np.testing.assert_array_equal(got[key], value)
        assert other["03"].session("pre").metadata["extraction_status"] == "failed"
    assert (tmp_path / "a" / map_filename("01", "pre", "alff")).exists()


def test_scheduler_argument_errors(tmp_path, three, monkeypatch):
    one = three.select(subjects=["01"])
    with pytest.raises(ValueError, match=r"Give 'n_jobs'.*or 'scheduler'"):
        extract(one, [ALFF()], out_dir=tmp_path / "o", n_jobs=2, scheduler="tcp://x:1")
    with pytest.raises(TypeError, match=r"'scheduler' parameter must be a dask\.distributed "
                                        r"Client or a scheduler address"):
        extract(one, [ALFF()], out_dir=tmp_path / "o", progress=False, scheduler=3)
    monkeypatch.setitem(sys.modules, "distributed", None)  # dask.distributed not installed
    with pytest.raises(ImportError, match=r"pip install 'painmarkers\[dask\]'"):
        extract(one, [ALFF()], out_dir=tmp_path / "o", progress=False,
                scheduler="tcp://127.0.0.1:1")
