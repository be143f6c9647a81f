"""Output folders of study runs: locked, recognised by a signed marker, marked complete
last, disk errors in one line, the user's umask, warnings passed on once, the result
protocol."""

import errno
import json
import os
import pathlib
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import painmarkers
from painmarkers._outdir import LOCK_NAME, MARKER_NAME, is_complete, read_marker
from painmarkers._results import Result
from painmarkers._versions import versions
from painmarkers.cli import main
from painmarkers.exceptions import DesignError, OutputError, SpecError
from painmarkers.study import run_study
from painmarkers.study import runner as runner_module
from painmarkers.study._analyses import HANDLERS


def _env():
    """The environment of a child process importing this painmarkers."""
    root = str(Path(painmarkers.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH",
                                                                              "")])}


# a run that holds its folder until told to go on (the lock is taken before _run)
_HOLDER = """
import pathlib, sys, time
from painmarkers.cli import main
from painmarkers.study import runner
ready, release = pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
original = runner._run
def held(*args, **kwargs):
    ready.write_text("locked")
    deadline = time.time() + 120
    while not release.exists() and time.time() < deadline:
        time.sleep(0.05)
    return original(*args, **kwargs)
runner._run = held
sys.exit(main(["run", sys.argv[1], "--out", sys.argv[2], "--overwrite", "--quiet"]))
"""


def test_second_concurrent_run_fails_fast_naming_folder_and_holder(tiny_study, tmp_path):
    """Two processes run into one folder with --overwrite: the second fails at once with
    a message naming the folder and the first run's process; the first completes."""
    out = tmp_path / "results"
    ready, release = tmp_path / "ready", tmp_path / "release"
    first = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tiny_study), str(out),
                              str(ready), str(release)], env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline, "the first run never took its folder"
            time.sleep(0.05)
        t0 = time.perf_counter()
        second = subprocess.run([sys.executable, "-m", "painmarkers.cli", "run", str(tiny_study),
                                 "--out", str(out), "--overwrite", "--quiet"], env=_env(),
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stderr
        err = second.stderr.strip()
        assert err.startswith("painmarkers: error: The output folder") and "\n" not in err
        assert f"{str(out)!r} is in use by another painmarkers run: process {first.pid}" in err
        assert "Traceback" not in second.stderr
        assert time.perf_counter() - t0 < 60  # failed fast, did not wait for the lock
    finally:
        release.write_text("go")
        _, stderr = first.communicate(timeout=180)
    assert first.returncode == 0, stderr
    assert is_complete(out) and (out / "report.html").is_file()
    assert not (out / LOCK_NAME).exists()  # the lock file goes with the run
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["cohort"]["n_subjects"] == 5


def test_overwrite_refuses_folders_painmarkers_did_not_write(tiny_study, tmp_path):
    """A provenance.json, or a forged marker, does not make a folder deletable."""
    out = tmp_path / "results"
    out.mkdir()
    (out / "provenance.json").write_text("{}")
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(SpecError, match="does not look like a painmarkers output folder"):
        run_study(tiny_study, out_dir=out, overwrite=True, progress=False)
    (out / MARKER_NAME).write_text(json.dumps({"format": "painmarkers-run-folder",
                                               "kind": "study", "folder_id": "x",
                                               "created": "now", "signature": "0" * 64}))
    assert read_marker(out) is None
    assert main(["run", str(tiny_study), "--out", str(out), "--overwrite", "--quiet"]) == 1
    assert (out / "thesis.docx").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == [MARKER_NAME, "provenance.json",
                                                    "thesis.docx"]


def test_completion_marker_is_written_last(tiny_study, tmp_path):
    result = run_study(tiny_study, out_dir=tmp_path / "results", progress=False)
    out = result.out_dir
    marker = read_marker(out)
    assert marker["status"] == "complete" and marker["kind"] == "study"
    written = {p.name: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert written[MARKER_NAME] == max(written.values())
    assert written["provenance.json"] >= written["report.html"]
    assert not (out / LOCK_NAME).exists()


def test_full_disk_is_one_line_naming_the_file_and_the_run_is_not_complete(
        tiny_study, tmp_path, monkeypatch, capsys):
    """ENOSPC while the report is written: one line naming report.html, no traceback;
    the folder is marked failed, has no provenance.json and no temporary file."""
    real = pathlib.Path.write_bytes

    def full_disk(self, data):
        if self.name.startswith(".report.html."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    out = tmp_path / "results"
    assert main(["run", str(tiny_study), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == (f"painmarkers: error: Could not write {str(out / 'report.html')!r}: no "
                   "space left on device [ENOSPC]; free some space or choose another output "
                   "folder.\n")
    marker = read_marker(out)
    assert marker["status"] == "failed" and "ENOSPC" in marker["error"]
    assert not (out / "provenance.json").exists() and not (out / "report.html").exists()
    assert not [p for p in out.rglob(".*") if p.name != MARKER_NAME]
    with pytest.raises(OutputError) as info:
        run_study(tiny_study, out_dir=out, overwrite=True, progress=False)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert info.value.filename == str(out / "report.html")


def test_folder_of_a_failed_run_can_be_overwritten(tiny_study, tmp_path, monkeypatch):
    """An analysis failing half-way leaves a folder marked 'failed' that --overwrite may
    replace (nothing of the failed run is left)."""
    def broken(ctx, cohort, spec):
        raise DesignError("broken on purpose")

    monkeypatch.setitem(HANDLERS, "outcomes", broken)
    out = tmp_path / "results"
    with pytest.raises(DesignError, match="analysis 'ppr_vas' \\(outcomes\\): broken"):
        run_study(tiny_study, out_dir=out, progress=False)
    assert read_marker(out)["status"] == "failed"
    assert not (out / "provenance.json").exists()
    (out / "partial.tsv").write_text("half")
    monkeypatch.undo()
    with pytest.raises(SpecError, match="is not empty"):
        run_study(tiny_study, out_dir=out, progress=False)
    run_study(tiny_study, out_dir=out, overwrite=True, progress=False)
    assert not (out / "partial.tsv").exists() and is_complete(out)


def test_symlinked_output_folder_with_overwrite(tiny_study, tmp_path, capsys):
    """--out <symlink> --overwrite writes into (and empties) the folder the link points
    to; the link stays a link."""
    real = tmp_path / "scratch" / "real"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert main(["run", str(tiny_study), "--out", str(link), "--quiet"]) == 0
    (real / "tables" / "stale.tsv").write_text("old")
    assert main(["run", str(tiny_study), "--out", str(link), "--overwrite", "--quiet"]) == 0
    assert link.is_symlink() and is_complete(real)
    assert not (real / "tables" / "stale.tsv").exists()
    assert capsys.readouterr().out.strip().endswith(f"Report: {real / 'report.html'}")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    assert main(["run", str(tiny_study), "--out", str(dangling), "--quiet"]) == 1
    assert "is a symbolic link to" in capsys.readouterr().err


def test_demo_with_symlinked_folder_and_overwrite(tmp_path, monkeypatch, capsys):
    """The demo folder follows the same rules (simulation and run replaced by fakes)."""
    from types import SimpleNamespace

    import painmarkers.datasets
    import painmarkers.study.demo as demo

    def fake_simulate(design, out_dir, **kwargs):
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / "participants.tsv").write_text("participant_id\n")

    monkeypatch.setattr(painmarkers.datasets, "simulate_cohort", fake_simulate)
    monkeypatch.setattr(demo, "run_study", lambda spec, **kw: SimpleNamespace(
        report_path=spec.output / "report.html", spec=spec))
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "demo"
    link.symlink_to(real)
    assert main(["demo", "--out", str(link), "--quiet"]) == 0
    assert main(["demo", "--out", str(link), "--quiet", "--overwrite"]) == 0
    assert link.is_symlink() and is_complete(real) and read_marker(real)["kind"] == "demo"
    assert (real / "study.toml").is_file() and (real / "bids" / "participants.tsv").is_file()
    (real / "study.toml").unlink()
    (real / MARKER_NAME).unlink()  # no longer recognisable: refused even with --overwrite
    assert main(["demo", "--out", str(link), "--quiet", "--overwrite"]) == 1
    assert "does not look like a painmarkers demo folder" in capsys.readouterr().err


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_outputs_respect_the_umask(tiny_study, tmp_path, umask):
    old = os.umask(umask)
    try:
        result = run_study(tiny_study, out_dir=tmp_path / "results", progress=False)
    finally:
        os.umask(old)
    paths = [result.out_dir, *result.out_dir.rglob("*")]
    modes = {p.stat().st_mode & 0o777 for p in paths if p.is_file()}
    folders = {p.stat().st_mode & 0o777 for p in paths if p.is_dir()}
    assert modes == {0o666 & ~umask}
    assert folders == {0o777 & ~umask}


def test_other_warnings_of_an_analysis_are_passed_on_once(tiny_study, tmp_path, monkeypatch):
    original = HANDLERS["outcomes"]

    def noisy(ctx, cohort, spec):
        warnings.warn("a plain note from the analysis", UserWarning, stacklevel=1)
        return original(ctx, cohort, spec)

    monkeypatch.setitem(HANDLERS, "outcomes", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_study(tiny_study, out_dir=tmp_path / "results", progress=False)
    notes = [w for w in caught if str(w.message) == "a plain note from the analysis"]
    assert len(notes) == 1 and notes[0].category is UserWarning


def test_study_result_follows_the_result_protocol(tiny_study, tmp_path):
    result = run_study(tiny_study, out_dir=tmp_path / "results", progress=False)
    assert isinstance(result, Result)
    assert result.versions == versions()
    assert result.parameters["spec"]["name"] == "tiny"
    assert result.parameters["random_state"] == 1
    assert not hasattr(runner_module, "_versions")  # one versions collector
    frame = result.to_frame()
    assert list(frame.columns) == ["kind", "name", "path"]
    assert set(frame["kind"]) == {"report", "provenance", "table", "figure"}
    assert frame.loc[frame["kind"] == "report", "path"].iloc[0] == result.report_path
    assert len(frame) == 2 + len(result.tables) + len(result.figures) + len(result.maps)
    saved = result.save(tmp_path / "index")
    assert set(saved) == {"outputs", "parameters"}
    assert all(isinstance(p, Path) and p.is_file() for p in saved.values())
    params = json.loads(saved["parameters"].read_text())
    assert params["type"] == "StudyResult" and params["versions"] == versions()
    assert "report" in result.summary()
