"""The painmarkers command line."""

import json
import subprocess
import sys

import pytest

import painmarkers
from painmarkers.cli import main


def test_version_via_console_script():
    out = subprocess.run([sys.executable, "-m", "painmarkers.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"painmarkers {painmarkers.__version__}"


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_instruments(capsys):
    assert main(["instruments"]) == 0
    out = capsys.readouterr().out
    assert "RMDQ     [0, 24]" in out and "VAS" in out


def test_extractors(capsys):
    assert main(["extractors"]) == 0
    names = capsys.readouterr().out.split()
    assert {"alff", "falff", "seed_fc"} <= set(names)


def test_run_missing_spec_is_a_clean_error(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("painmarkers: error:") and "does not exist" in err


def test_run_bad_spec_names_key(tmp_path, capsys):
    spec = tmp_path / "study.toml"
    spec.write_text('[study]\ndataset = "bids"\n[[analyses]]\ntype = "anova"\n')
    assert main(["run", str(spec)]) == 1
    assert "'type' must be one of" in capsys.readouterr().err


def test_demo_refuses_non_empty_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("user data")
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--quiet", "--overwrite"]) == 1
    assert "not a painmarkers demo folder" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "user data"


def test_bad_design_is_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--design", "nope"])
    assert exc.value.code == 2


@pytest.mark.parametrize("design", ["rtms_alff_clbp", "qsm_fc_clbp"])
def test_demo_passes_design_and_prints_report_path(tmp_path, capsys, monkeypatch, design):
    from types import SimpleNamespace

    import painmarkers.study

    calls = []

    def fake_run_demo(**kwargs):
        calls.append(kwargs)
        return SimpleNamespace(report_path=kwargs["out_dir"] / "results" / "report.html")

    monkeypatch.setattr(painmarkers.study, "run_demo", fake_run_demo)
    assert main(["demo", "--design", design, "--out", str(tmp_path / "d"), "--quiet"]) == 0
    assert calls[0]["design"] == design and calls[0]["progress"] is False
    report = tmp_path / "d" / "results" / "report.html"
    assert capsys.readouterr().out.strip() == f"Report: {report}"


def test_value_errors_are_clean_messages_not_tracebacks(tmp_path, capsys, monkeypatch):
    """A bad value caught by a library check (ValueError/TypeError) ends with a one-line
    error and exit 1; PAINMARKERS_TRACEBACK=1 re-raises it for debugging."""
    (tmp_path / "file.txt").write_text("x")
    assert main(["simulate", "--out", str(tmp_path / "file.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("painmarkers: error: FileExistsError:") and "Traceback" not in err
    assert "PAINMARKERS_TRACEBACK=1" in err
    monkeypatch.setenv("PAINMARKERS_TRACEBACK", "1")
    with pytest.raises(FileExistsError):
        main(["simulate", "--out", str(tmp_path / "file.txt")])


def test_resolution_choices_are_the_supported_ones():
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--resolution", "1", "--out", "x"])
    assert exc.value.code == 2


def test_simulate_small_dataset_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "bids"
    assert main(["simulate", "--out", str(out), "--resolution", "6", "--n-clbp", "2",
                 "--n-hc", "2", "--n-volumes", "64", "--n-high-motion", "1"]) == 0
    assert f"Simulated BIDS dataset: {out}" in capsys.readouterr().out
    import pandas as pd

    participants = pd.read_csv(out / "participants.tsv", sep="\t")
    assert participants["group"].value_counts().to_dict() == {"CLBP": 2, "HC": 2}
    truth = json.loads((out / "derivatives" / "painmarkers-simulation"
                        / "ground_truth.json").read_text())
    assert truth["parameters"]["n_volumes"] == 64
    assert truth["parameters"]["n_high_motion"] == 1
    assert len(truth["high_motion_sessions"]) == 1
