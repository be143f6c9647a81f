"""The ``painmarkers`` command.

Subcommands
-----------
``painmarkers demo``
    Simulate the first seed study (rTMS, ALFF, CLBP) as a BIDS dataset and run its
    full analysis, writing tables, maps, figures and an HTML report.
``painmarkers run STUDY.toml``
    Run the analyses of a study specification on a real dataset.
``painmarkers simulate``
    Only write a simulated BIDS dataset.
``painmarkers instruments`` / ``painmarkers extractors``
    List the registered clinical instruments / imaging extractors.
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

DESIGNS = ("rtms_alff_clbp", "qsm_fc_clbp")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="painmarkers",
        description="Statistical modeling of pain-imaging biomarkers.",
    )
    parser.add_argument("--version", action="version",
                        version=f"painmarkers {painmarkers.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="simulate a seed study and run its whole analysis")
    demo.add_argument("--design", choices=DESIGNS, default="rtms_alff_clbp",
                      help="which seed study to simulate (default: %(default)s)")
    demo.add_argument("--out", type=Path, default=Path("painmarkers_demo"),
                      help="output folder (default: %(default)s)")
    demo.add_argument("--resolution", type=int, default=4, choices=(2, 3, 4, 5, 6),
                      help="voxel size of the simulated data in mm (default: %(default)s)")
    demo.add_argument("--n-jobs", type=int, default=None, help="parallel jobs (joblib)")
    demo.add_argument("--random-state", type=int, default=0, help="simulation seed")
    demo.add_argument("--overwrite", action="store_true",
                      help="replace the output folder if it exists")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    run = sub.add_parser("run", help="run a study specification (TOML)")
    run.add_argument("spec", type=Path, help="study specification file (TOML)")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: the spec's 'output' key)")
    run.add_argument("--n-jobs", type=int, default=None, help="parallel jobs (joblib)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the output folder if it exists")
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    sim = sub.add_parser("simulate", help="write a simulated BIDS dataset")
    sim.add_argument("--design", choices=DESIGNS, default="rtms_alff_clbp")
    sim.add_argument("--out", type=Path, required=True, help="output folder")
    sim.add_argument("--resolution", type=int, default=4, choices=(2, 3, 4, 5, 6))
    sim.add_argument("--n-clbp", type=int, default=None,
                     help="number of patients (default: the seed study's)")
    sim.add_argument("--n-hc", type=int, default=None,
                     help="number of healthy controls (default: the seed study's)")
    sim.add_argument("--n-volumes", type=int, default=190,
                     help="BOLD volumes per run (default: %(default)s, the seed's)")
    sim.add_argument("--n-high-motion", type=int, default=0,
                     help="sessions given a head displacement beyond the 3 mm rule")
    sim.add_argument("--effect-scale", type=float, default=1.0,
                     help="multiplies every planted effect (0: a null dataset)")
    sim.add_argument("--random-state", type=int, default=0)
    sim.add_argument("--overwrite", action="store_true")

    sub.add_parser("instruments", help="list registered clinical instruments")
    sub.add_parser("extractors", help="list registered imaging extractors")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from painmarkers.study import run_demo

        result = run_demo(design=args.design, out_dir=args.out, resolution_mm=args.resolution,
                          random_state=args.random_state, n_jobs=args.n_jobs,
                          overwrite=args.overwrite, progress=not args.quiet)
        print(f"Report: {result.report_path}")
        return 0
    if args.command == "run":
        from painmarkers.study import run_study

        result = run_study(args.spec, out_dir=args.out, n_jobs=args.n_jobs,
                           overwrite=args.overwrite, progress=not args.quiet)
        print(f"Report: {result.report_path}")
        return 0
    if args.command == "simulate":
        from painmarkers.datasets import simulate_cohort

        sim = simulate_cohort(design=args.design, out_dir=args.out,
                              resolution_mm=args.resolution, n_volumes=args.n_volumes,
                              n_clbp=args.n_clbp, n_hc=args.n_hc,
                              n_high_motion=args.n_high_motion,
                              effect_scale=args.effect_scale, random_state=args.random_state,
                              overwrite=args.overwrite)
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
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _dispatch(args)
    except PainmarkersError as exc:
        print(f"painmarkers: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileExistsError) as exc:
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
