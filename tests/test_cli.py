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
    assert "does not look like a painmarkers demo folder" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "user data"


def test_bad_design_is_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--design", "nope"])
    assert exc.value.code == 2


@pytest.mark.parametrize("design", ["rtms_alff_clbp", "qsm_fc_clbp", "rtms_sham_trial"])
def test_demo_passes_design_and_prints_report_spec_and_rerun_command(tmp_path, capsys,
                                                                     monkeypatch, design):
    from types import SimpleNamespace

    import painmarkers.study

    calls = []

    def fake_run_demo(**kwargs):
        calls.append(kwargs)
        out = kwargs["out_dir"]
        return SimpleNamespace(report_path=out / "results" / "report.html",
                               spec=SimpleNamespace(source=out / "study.toml"))

    monkeypatch.setattr(painmarkers.study, "run_demo", fake_run_demo)
    out = tmp_path / "my demo"
    assert main(["demo", "--design", design, "--out", str(out), "--quiet"]) == 0
    assert calls[0]["design"] == design and calls[0]["progress"] is False
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"Report: {out / 'results' / 'report.html'}",
                     f"Study specification: {out / 'study.toml'}",
                     "Rerun the analysis (e.g. after editing the specification):",
                     f"  painmarkers run '{out / 'study.toml'}' --overwrite"]


def test_demo_and_simulate_help_name_every_design():
    """Every simulator design is a choice of 'demo' and 'simulate' and is described in the
    demo's help text."""
    from painmarkers.cli import _parser
    from painmarkers.datasets import list_designs

    sub = next(a for a in _parser()._actions if a.dest == "command").choices
    for command in ("demo", "simulate"):
        design = next(a for a in sub[command]._actions if a.dest == "design")
        assert tuple(design.choices) == tuple(list_designs()), command
    for name in list_designs():
        assert name in sub["demo"].description, name


def test_rerun_command_quotes_the_path():
    import shlex

    from painmarkers.study import rerun_command

    command = rerun_command("/data/my study/it's.toml")
    assert shlex.split(command) == ["painmarkers", "run", "/data/my study/it's.toml",
                                    "--overwrite"]


def test_demo_smoothness_makes_grf_valid():
    """max(6 mm, 3 voxels): the seed's kernel on a 2 mm grid, 3 voxels on coarser ones."""
    from painmarkers.study import demo_fwhm_mm

    assert [demo_fwhm_mm(r) for r in (2, 3, 4, 5, 6)] == [6.0, 9.0, 12.0, 15.0, 18.0]


def test_simulate_passes_fwhm_and_progress(tmp_path, monkeypatch, capsys):
    import painmarkers.datasets

    calls = []

    def fake_simulate(**kwargs):
        calls.append(kwargs)
        return kwargs["out_dir"]

    monkeypatch.setattr(painmarkers.datasets, "simulate_cohort", fake_simulate)
    assert main(["simulate", "--out", str(tmp_path / "b"), "--fwhm", "12"]) == 0
    assert calls[-1]["fwhm_mm"] == 12.0 and calls[-1]["progress"] is True
    assert main(["simulate", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    # default: None, the simulator's own default per design (6 mm seeds, 12 mm trial)
    assert calls[-1]["fwhm_mm"] is None and calls[-1]["progress"] is False


def test_demo_progress_covers_every_long_step(tmp_path, capsys, monkeypatch):
    """A (small) demo prints a line per step (simulation, specification, extraction, each
    analysis, each correction, the classifier) and bars over sessions; --quiet prints
    only the final lines, and the printed rerun command works."""
    import shlex

    import painmarkers.datasets
    import painmarkers.study.demo as demo

    real_simulate = painmarkers.datasets.simulate_cohort
    real_text = demo.demo_spec_text

    def small_simulation(**kwargs):
        return real_simulate(**{**kwargs, "n_clbp": 5, "n_hc": 5, "n_volumes": 64})

    def small_spec(design, **kwargs):
        return real_text(design, random_state=kwargs.get("random_state", 0),
                         n_permutations=20).replace("n_repeats = 5", "n_repeats = 1")

    monkeypatch.setattr(painmarkers.datasets, "simulate_cohort", small_simulation)
    monkeypatch.setattr(demo, "demo_spec_text", small_spec)
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    for expected in ("[painmarkers] simulating the rtms_alff_clbp study",
                     "smoothness 12 mm FWHM", "simulating sessions:",
                     "wrote the study specification", "extracting", "extract:",
                     "analysis ppr_vas (outcomes)", "alff_paired_pre_vs_post: GRF",
                     "alff_paired_pre_vs_post: permutation test, 20 permutations",
                     "sma_alff_clbp_vs_hc: classifier", "done in"):
        assert expected in text, expected
    assert main(["demo", "--out", str(out), "--overwrite", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "simulating" not in captured.out + captured.err
    lines = captured.out.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        "Report", "Study specification", "Rerun the analysis (e.g. after editing the "
        "specification)"]
    command = shlex.split(lines[3])
    assert command[:2] == ["painmarkers", "run"]
    assert main([*command[1:], "--quiet"]) == 0  # the printed command reruns the study
    assert (out / "results" / "report.html").is_file()


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


SUBCOMMANDS = ["demo", "check", "run", "simulate", "instruments", "extractors"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys, monkeypatch):
    """`painmarkers COMMAND --help` describes the command and every option, wrapped to the
    terminal's width (the usage line aside: argparse keeps a choice list whole)."""
    from painmarkers.cli import _parser

    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    sub = next(a for a in _parser()._actions if a.dest == "command").choices[command]
    assert sub.description and len(sub.description) > 40
    assert " ".join(sub.description.split()[:4]) in " ".join(text.split())
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
    assert "PAINMARKERS_TRACEBACK" in text  # the exit statuses
    after_usage = text.split("\n\n", 1)[1]
    assert max(len(line) for line in after_usage.splitlines()) <= 80


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert command in text
