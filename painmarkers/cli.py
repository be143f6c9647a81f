"""The ``painmarkers`` command.

Subcommands
-----------
``painmarkers demo``
    Simulate the first seed study (rTMS, ALFF, CLBP) as a BIDS dataset and run its
    full analysis, writing tables, maps, figures and an HTML report.
``painmarkers check STUDY.toml``
    Check a study specification against its dataset without extracting anything.
``painmarkers run STUDY.toml``
    Run the analyses of a study specification on a real dataset.
``painmarkers simulate``
    Only write a simulated BIDS dataset.
``painmarkers instruments`` / ``painmarkers extractors``
    List the registered clinical instruments / imaging extractors.

``painmarkers COMMAND --help`` describes each command and its options.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import painmarkers
from painmarkers.exceptions import PainmarkersError

__all__ = ["main"]

DESIGNS = ("rtms_alff_clbp", "qsm_fc_clbp", "rtms_sham_trial")

_EPILOG = ("Exit status: 0 on success, 1 on an error (one line on stderr; set "
           "PAINMARKERS_TRACEBACK=1 to see where it was raised), 2 on a usage error.")


def _command(sub, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=description, epilog=_EPILOG)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="painmarkers",
        description="Statistical modeling of pain-imaging biomarkers: run a study "
                    "specification (TOML) on a BIDS dataset, check one without running "
                    "it, simulate seed studies, list instruments and extractors.",
        epilog="Run 'painmarkers COMMAND --help' for the options of a command. " + _EPILOG,
    )
    parser.add_argument("--version", action="version",
                        version=f"painmarkers {painmarkers.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = _command(sub, "demo", "simulate a seed study and run its whole analysis",
                    "Simulate a seed study (or a sham-controlled trial) as a BIDS dataset "
                    "(OUT/bids), write its study "
                    "specification (OUT/study.toml, a starting point for a real study) and "
                    "run it (OUT/results: tables, maps, figures, report.html, "
                    "provenance.json). The images are simulated at max(6 mm, 3 voxels) "
                    "FWHM, where the random-field-theory cluster p values of the report "
                    "are valid. At the end it prints where the report and the "
                    "specification are, and the command that reruns the analysis "
                    "(e.g. after editing study.toml). Designs: rtms_alff_clbp (ALFF before "
                    "and after rTMS, 15 patients and 10 controls, about 1 minute of CPU), "
                    "qsm_fc_clbp (brain iron and seed connectivity, 32 patients and 30 "
                    "controls, about 2 minutes) and rtms_sham_trial (a sham-controlled "
                    "trial: active vs sham rTMS, 20 patients per arm seen before, after "
                    "and four weeks after treatment, with dropout; ANCOVA, mixed ANOVA, "
                    "linear mixed models, responders and voxelwise GLM and LMM maps of "
                    "the arm x visit interaction, about 2 minutes).")
    demo.add_argument("--design", choices=DESIGNS, default="rtms_alff_clbp",
                      help="which seed study (or rtms_sham_trial: a sham-controlled "
                           "three-visit trial) to simulate (default: %(default)s)")
    demo.add_argument("--out", type=Path, default=Path("painmarkers_demo"),
                      help="output folder (default: %(default)s)")
    demo.add_argument("--resolution", type=int, default=4, choices=(2, 3, 4, 5, 6),
                      help="voxel size of the simulated data in mm (default: %(default)s)")
    demo.add_argument("--n-jobs", type=int, default=None,
                      help="parallel jobs (joblib; default: one)")
    demo.add_argument("--random-state", type=int, default=0,
                      help="seed of the simulation and the analyses (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true",
                      help="replace the output folder if an earlier demo wrote it")
    demo.add_argument("--quiet", action="store_true",
                      help="no progress lines or bars (the final lines are printed)")

    check = _command(sub, "check", "check a study specification against its dataset",
                     "Read a study specification and check it against its dataset without "
                     "extracting anything: extractor and ROI names, extractor parameters "
                     "and input images, ROIs inside the brain mask, group and session labels "
                     "used by every analysis, instruments, covariates and features, and "
                     "value ranges. Every problem is listed, naming its analysis (or ROI, "
                     "or extractor). 'painmarkers run' makes the same checks before it "
                     "starts.")
    check.add_argument("spec", type=Path, help="study specification file (TOML)")

    run = _command(sub, "run", "run a study specification (TOML)",
                   "Check a study specification against its dataset, then read the dataset, "
                   "apply the motion rule, run the extractors and every analysis, and write "
                   "tables, maps, figures, report.html and provenance.json into the output "
                   "folder. The folder is locked while the run writes it; a folder is "
                   "marked complete only after its last file is written.")
    run.add_argument("spec", type=Path, help="study specification file (TOML)")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: the spec's 'output' key)")
    run.add_argument("--n-jobs", type=int, default=None,
                     help="parallel jobs (joblib; default: one)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="extract the sessions on a running dask cluster, e.g. "
                          "tcp://host:8786 (needs the 'dask' extra; the output folder must "
                          "be on a file system the workers share)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the output folder if an earlier painmarkers run wrote it")
    run.add_argument("--quiet", action="store_true",
                     help="no progress lines or bars (the final line is printed)")

    sim = _command(sub, "simulate", "write a simulated BIDS dataset",
                   "Write a simulated seed study as a BIDS dataset with fMRIPrep-style "
                   "derivatives and its planted ground truth "
                   "(derivatives/painmarkers-simulation/ground_truth.json). The same seed "
                   "and options give byte-identical files, whatever --n-jobs.")
    sim.add_argument("--design", choices=DESIGNS, default="rtms_alff_clbp",
                     help="which seed study to simulate (default: %(default)s)")
    sim.add_argument("--out", type=Path, required=True, help="output folder (the BIDS root)")
    sim.add_argument("--resolution", type=int, default=4, choices=(2, 3, 4, 5, 6),
                     help="voxel size in mm (default: %(default)s)")
    sim.add_argument("--n-clbp", type=int, default=None,
                     help="number of patients (default: the seed study's)")
    sim.add_argument("--n-hc", type=int, default=None,
                     help="number of healthy controls (default: the seed study's)")
    sim.add_argument("--n-per-arm", type=int, default=None,
                     help="patients per arm of design rtms_sham_trial (default: 20)")
    sim.add_argument("--dropout", type=float, default=None,
                     help="rtms_sham_trial: probability of leaving after each visit "
                          "(default: 0.2)")
    sim.add_argument("--n-volumes", type=int, default=190,
                     help="BOLD volumes per run (default: %(default)s, the seed's)")
    sim.add_argument("--fwhm", type=float, default=None,
                     help="smoothness of the BOLD and QSM noise in mm FWHM (default: the "
                          "seed's 6 mm kernel, 12 mm for rtms_sham_trial; GRF inference "
                          "needs about 2 voxels on the maps: the demo uses max(6, 3 x "
                          "resolution))")
    sim.add_argument("--n-high-motion", type=int, default=0,
                     help="sessions given a head displacement beyond the 3 mm rule "
                          "(default: %(default)s)")
    sim.add_argument("--effect-scale", type=float, default=1.0,
                     help="multiplies every planted effect (0: a null dataset; "
                          "default: %(default)s)")
    sim.add_argument("--n-jobs", type=int, default=None,
                     help="sessions simulated in parallel (default: one; the files do not "
                          "depend on it)")
    sim.add_argument("--random-state", type=int, default=0,
                     help="seed (default: %(default)s)")
    sim.add_argument("--overwrite", action="store_true",
                     help="replace the output folder if an earlier simulation wrote it")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")

    _command(sub, "instruments", "list registered clinical instruments",
             "List the registered clinical instruments: name, valid range, unit and "
             "description (painmarkers.register_instrument adds more).")
    _command(sub, "extractors", "list registered imaging extractors",
             "List the registered imaging extractors by the name a study specification "
             "uses in [[extractors]] (plug-ins register through the "
             "'painmarkers.extractors' entry-point group), and map_mean.")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from painmarkers.study import rerun_command, run_demo

        result = run_demo(design=args.design, out_dir=args.out, resolution_mm=args.resolution,
                          random_state=args.random_state, n_jobs=args.n_jobs,
                          overwrite=args.overwrite, progress=not args.quiet)
        print(f"Report: {result.report_path}")
        print(f"Study specification: {result.spec.source}")
        print(f"Rerun the analysis (e.g. after editing the specification):\n"
              f"  {rerun_command(result.spec.source)}")
        return 0
    if args.command == "check":
        from painmarkers.study import check_study

        report = check_study(args.spec, raise_on_problems=False)
        print(report.summary())
        return 0 if report.ok else 1
    if args.command == "run":
        from painmarkers.study import run_study

        result = run_study(args.spec, out_dir=args.out, n_jobs=args.n_jobs,
                           overwrite=args.overwrite, progress=not args.quiet,
                           scheduler=args.scheduler)
        print(f"Report: {result.report_path}")
        return 0
    if args.command == "simulate":
        from painmarkers.datasets import simulate_cohort

        sim = simulate_cohort(design=args.design, out_dir=args.out,
                              resolution_mm=args.resolution, n_volumes=args.n_volumes,
                              n_clbp=args.n_clbp, n_hc=args.n_hc,
                              n_per_arm=args.n_per_arm, dropout=args.dropout,
                              n_high_motion=args.n_high_motion,
                              effect_scale=args.effect_scale, random_state=args.random_state,
                              overwrite=args.overwrite, n_jobs=args.n_jobs,
                              fwhm_mm=args.fwhm, progress=not args.quiet)
        print(f"Simulated BIDS dataset: {getattr(sim, 'root', sim)}")
        return 0
    if args.command == "instruments":
        for name in painmarkers.list_instruments():
            inst = painmarkers.get_instrument(name)
            print(f"{inst.name:8s} [{inst.low:g}, {inst.high:g}] {inst.unit:7s} "
                  f"{inst.description}")
        return 0
    if args.command == "extractors":
        from painmarkers.extractors import list_extractors

        for name in list_extractors():
            print(name)
        print("map_mean   (study specs: ROI means of a 3-D map such as QSM; "
              "painmarkers.extractors.MapMean)")
        return 0
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``painmarkers`` command line.

    Parameters
    ----------
    argv : sequence of str or None, default=None
        Arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    int
        Exit status: 0 on success, 1 on a painmarkers error (message printed to
        stderr, no traceback), 2 on a usage error.

    Raises
    ------
    SystemExit
        From argparse, for ``--help``, ``--version`` and arguments it cannot parse
        (status 2).

    See Also
    --------
    painmarkers.study.run_study : What ``painmarkers run`` calls.
    painmarkers.study.check_study : What ``painmarkers check`` calls.
    painmarkers.study.run_demo : What ``painmarkers demo`` calls.

    Examples
    --------
    >>> import contextlib, io
    >>> from painmarkers.cli import main
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     status = main(["instruments"])
    >>> status, "VAS" in out.getvalue()
    (0, True)
    >>> main(["check", "no/such/study.toml"])  # the one-line error goes to stderr
    1
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _dispatch(args)
    except PainmarkersError as exc:
        if os.environ.get("PAINMARKERS_TRACEBACK"):
            raise
        print(f"painmarkers: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # a file that cannot be read or written (disk full, permission, a folder in the
        # way...): one line naming it
        if os.environ.get("PAINMARKERS_TRACEBACK"):
            raise
        where = f" {exc.filename!r}:" if getattr(exc, "filename", None) else ""
        print(f"painmarkers: error: {type(exc).__name__}:{where} {exc.strerror or exc}\n"
              "(set PAINMARKERS_TRACEBACK=1 to see where it was raised)", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        # bad values that reached a library check (parameters of an extractor, a ROI...);
        # PAINMARKERS_TRACEBACK=1 shows where
        if os.environ.get("PAINMARKERS_TRACEBACK"):
            raise
        print(f"painmarkers: error: {type(exc).__name__}: {exc}\n(set PAINMARKERS_TRACEBACK=1 "
              "to see where it was raised)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("painmarkers: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
