"""``painmarkers demo``: simulate a seed study as BIDS and run its whole analysis."""

from __future__ import annotations

import re
from importlib.resources import files
from os import PathLike
from pathlib import Path

from painmarkers.exceptions import SpecError
from painmarkers.reporting.report import write_atomic
from painmarkers.study.runner import StudyResult, run_study
from painmarkers.study.spec import load_spec

__all__ = ["DEMO_SPECS", "demo_spec_text", "run_demo"]

#: Packaged TOML specifications of the demo studies, by design name
#: (``painmarkers/study/specs/<design>.toml``).
DEMO_SPECS = {"rtms_alff_clbp": "rtms_alff_clbp.toml", "qsm_fc_clbp": "qsm_fc_clbp.toml"}


def demo_spec_text(design: str, *, random_state: int = 0, n_permutations: int = 1000) -> str:
    """Return the TOML text of a demo specification with its seed and permutation counts.

    Parameters
    ----------
    design : {"rtms_alff_clbp", "qsm_fc_clbp"}
        The seed study.
    random_state : int, default=0
        Written as the top-level ``random_state``.
    n_permutations : int, default=1000
        Permutations of the voxelwise permutation tests; classifiers get a fifth
        of them (at least 20).

    Returns
    -------
    str
    """
    if design not in DEMO_SPECS:
        raise SpecError(f"The 'design' parameter must be one of {sorted(DEMO_SPECS)}. "
                        f"Got {design!r}.")
    text = files("painmarkers.study").joinpath("specs", DEMO_SPECS[design]).read_text("utf-8")
    text = re.sub(r"(?m)^random_state = \d+", f"random_state = {int(random_state)}", text)
    text = re.sub(r"(?m)^n_permutations = 1000", f"n_permutations = {int(n_permutations)}",
                  text)
    return re.sub(r"(?m)^n_permutations = 200",
                  f"n_permutations = {max(int(n_permutations) // 5, 20)}", text)


def run_demo(design: str = "rtms_alff_clbp", out_dir: str | PathLike = "painmarkers_demo", *,
             resolution_mm: int = 4, random_state: int = 0, n_jobs: int | None = None,
             n_permutations: int = 1000, overwrite: bool = False,
             progress: bool = True) -> StudyResult:
    """Simulate a seed study as a BIDS dataset and run its specification.

    Writes ``<out_dir>/bids`` (the simulated dataset with fMRIPrep-style
    derivatives and the planted ground truth), ``<out_dir>/study.toml`` (the
    specification, a starting point for a real study) and ``<out_dir>/results``
    (tables, maps, figures, ``report.html``, ``provenance.json``).

    Parameters
    ----------
    design : {"rtms_alff_clbp", "qsm_fc_clbp"}, default="rtms_alff_clbp"
        Which seed study to simulate.
    out_dir : path-like, default="painmarkers_demo"
        Output folder.
    resolution_mm : int, default=4
        Voxel size of the simulated images.
    random_state : int, default=0
        Seed of the simulation and of every stochastic analysis step.
    n_jobs : int or None, default=None
        Parallel jobs.
    n_permutations : int, default=1000
        Permutations of the voxelwise permutation test (the classifier uses
        a fifth of them).
    overwrite : bool, default=False
        Replace an existing demo folder.
    progress : bool, default=True
        Print progress.

    Returns
    -------
    StudyResult
    """
    from painmarkers.datasets import simulate_cohort

    if design not in DEMO_SPECS:
        raise SpecError(f"The 'design' parameter must be one of {sorted(DEMO_SPECS)}. "
                        f"Got {design!r}.")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SpecError(f"The demo folder {str(out)!r} is not empty; pass overwrite=True "
                            "(--overwrite) or choose another --out.")
        if not (out / "study.toml").exists():
            raise SpecError(f"Refusing to overwrite {str(out)!r}: it is not a painmarkers demo "
                            "folder (no study.toml).")
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"[painmarkers] simulating the {design} study in {out / 'bids'}", flush=True)
    simulate_cohort(design=design, out_dir=out / "bids", resolution_mm=resolution_mm,
                    random_state=random_state)
    text = demo_spec_text(design, random_state=random_state, n_permutations=n_permutations)
    spec_path = write_atomic(out / "study.toml", text)
    return run_study(load_spec(spec_path), n_jobs=n_jobs, progress=progress)
