"""``run_study(scheduler=)`` / ``painmarkers run --scheduler``: the extraction of a study runs
on a multi-process dask cluster and gives the same ROI values and tables as a serial run."""

import shutil

import pandas as pd
import pytest

from painmarkers.cli import main
from painmarkers.study import run_study

pytest.importorskip("distributed")  # the 'dask' extra (installed by .ci/run)

SPEC = """
random_state = 1

[study]
name = "tiny dask"
dataset = "bids"
output = "results"
task = "rest"

[[extractors]]
name = "alff"
band = [0.01, 0.08]
standardize = "mean"

[rois]
spheres = [
  { name = "THA_R", center = [9, -6, 15], radius_mm = 12 },
  { name = "mPFC", center = [1, 55, -3], radius_mm = 12 },
]

[[analyses]]
type = "paired_ttest"
name = "roi_paired"
dv = "alff"
levels = "CLBP"
"""


def _tables(folder):
    return {name: pd.read_csv(folder / "tables" / f"{name}.tsv", sep="\t")
            for name in ("roi_measures", "roi_paired")}


def test_study_extraction_on_a_multiprocess_cluster(tiny_bids, tmp_path, capsys):
    from dask.distributed import Client, LocalCluster

    shutil.copytree(tiny_bids, tmp_path / "bids")
    spec = tmp_path / "study.toml"
    spec.write_text(SPEC)
    serial = run_study(spec, out_dir=tmp_path / "serial", progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        with Client(cluster) as client:
            on_client = run_study(spec, out_dir=tmp_path / "client", progress=False,
                                  scheduler=client)
            assert len(client.run(lambda: 0)) == 2
        # the command line takes the scheduler's address
        assert main(["run", str(spec), "--out", str(tmp_path / "cli"), "--quiet",
                     "--scheduler", cluster.scheduler_address]) == 0
    expected = _tables(serial.out_dir)
    assert len(expected["roi_measures"]) > 0 and len(expected["roi_paired"]) == 2
    for folder in (on_client.out_dir, tmp_path / "cli"):
        got = _tables(folder)
        for name, table in expected.items():
            pd.testing.assert_frame_equal(got[name], table, check_exact=True)
    assert "Report:" in capsys.readouterr().out


def test_a_bad_scheduler_is_named(tiny_bids, tmp_path):
    shutil.copytree(tiny_bids, tmp_path / "bids")
    spec = tmp_path / "study.toml"
    spec.write_text(SPEC)
    with pytest.raises(TypeError, match="'scheduler' parameter"):
        run_study(spec, out_dir=tmp_path / "x", progress=False, scheduler=42)
