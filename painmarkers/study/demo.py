"""``painmarkers demo``: simulate a seed study as BIDS and run its whole analysis."""

from __future__ import annotations

import re
from importlib.resources import files
from os import PathLike

from painmarkers._outdir import RunFolder
from painmarkers.exceptions import SpecError
from painmarkers.reporting.report import write_atomic
from painmarkers.study.runner import StudyResult, run_study
from painmarkers.study.spec import load_spec

__all__ = ["DEMO_SPECS", "demo_fwhm_mm", "demo_spec_text", "rerun_command", "run_demo"]

#: Packaged TOML specifications of the demo studies, by design name
#: (``painmarkers/study/specs/<design>.toml``).
DEMO_SPECS = {"rtms_alff_clbp": "rtms_alff_clbp.toml", "qsm_fc_clbp": "qsm_fc_clbp.toml",
              "rtms_sham_trial": "rtms_sham_trial.toml"}

#: Smoothness of the demo's simulated images, in voxels of its grid (see demo_fwhm_mm).
DEMO_FWHM_VOXELS = 3.0
#: The seed's smoothing kernel (mm): the demo never simulates images rougher than it.
SEED_KERNEL_MM = 6.0


def demo_fwhm_mm(resolution_mm: float) -> float:
    """Smoothness (FWHM, mm) at which the demo simulates its images on a grid.

    Random field theory needs statistic maps smooth relative to the voxels (about
    2 voxels FWHM or more, estimated on the residuals); below that its cluster p
    values are wrong (Hayasaka & Nichols 2003; Eklund et al. 2016). ALFF maps are
    rougher than the BOLD they come from (the amplitude of a smooth Gaussian field
    has about 1/sqrt(2) of its FWHM), so the demo simulates BOLD (and QSM) at
    ``max(6 mm, 3 voxels)``: 12 mm on the default 4 mm grid, the seed's own 6 mm
    kernel on a 2 mm grid. The residuals of the demo's ALFF maps then measure
    about 2.1 voxels, the FC and QSM maps about 3.

    Parameters
    ----------
    resolution_mm : float
        Voxel size of the simulated grid.

    Returns
    -------
    float
        ``max(6, 3 * resolution_mm)``: the FWHM in mm.

    Examples
    --------
    >>> from painmarkers.study import demo_fwhm_mm
    >>> demo_fwhm_mm(4), demo_fwhm_mm(2)
    (12.0, 6.0)
    """
    return float(max(SEED_KERNEL_MM, DEMO_FWHM_VOXELS * float(resolution_mm)))


def rerun_command(spec_path: str | PathLike) -> str:
    """The shell command that reruns a study specification into its own output folder.

    Parameters
    ----------
    spec_path : path-like
        The ``study.toml`` file.

    Returns
    -------
    str
        ``painmarkers run <spec> --overwrite``, the path quoted for a POSIX shell.

    Examples
    --------
    >>> from painmarkers.study import rerun_command
    >>> rerun_command("/tmp/my demo/study.toml")
    "painmarkers run '/tmp/my demo/study.toml' --overwrite"
    """
    import shlex

    return f"painmarkers run {shlex.quote(str(spec_path))} --overwrite"


def demo_spec_text(design: str, *, random_state: int = 0, n_permutations: int = 1000) -> str:
    """Return the TOML text of a demo specification with its seed and permutation counts.

    Parameters
    ----------
    design : {"rtms_alff_clbp", "qsm_fc_clbp", "rtms_sham_trial"}
        The seed study, or the simulated sham-controlled trial.
    random_state : int, default=0
        Written as the top-level ``random_state``.
    n_permutations : int, default=1000
        Permutations of the voxelwise permutation tests; classifiers get a fifth
        of them (at least 20).

    Returns
    -------
    str
        The packaged specification (``painmarkers/study/specs/<design>.toml``) with
        these values written in; :func:`load_spec` reads it once saved.

    Raises
    ------
    SpecError
        Unknown ``design``.

    Examples
    --------
    >>> from painmarkers.study import demo_spec_text
    >>> text = demo_spec_text("rtms_alff_clbp", random_state=7, n_permutations=100)
    >>> "random_state = 7" in text, "n_permutations = 100" in text
    (True, True)
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
             progress: bool = True) -> StudyResult:  # numpydoc ignore=EX01
    # No Examples section: a demo takes minutes (it simulates and analyses a whole
    # study), too long for a doctest; run_study's example runs a small study.
    """Simulate a seed study as a BIDS dataset and run its specification.

    Writes ``<out_dir>/bids`` (the simulated dataset with fMRIPrep-style
    derivatives and the planted ground truth), ``<out_dir>/study.toml`` (the
    specification, a starting point for a real study) and ``<out_dir>/results``
    (tables, maps, figures, ``report.html``, ``provenance.json``). The images are
    simulated at the smoothness :func:`demo_fwhm_mm` gives for ``resolution_mm``,
    where the random-field-theory cluster p values the report shows are valid.

    Parameters
    ----------
    design : {"rtms_alff_clbp", "qsm_fc_clbp", "rtms_sham_trial"}, default="rtms_alff_clbp"
        Which seed study to simulate, or ``"rtms_sham_trial"``: a sham-controlled
        three-visit rTMS trial with dropout (ANCOVA, LMM, mixed ANOVA, responders and
        ROI-level LMMs of ALFF; see :doc:`/user_guide/trial_designs`).
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
        Replace an existing demo folder (one a demo wrote: it carries a signed
        ``.painmarkers-run`` marker); any other non-empty folder is refused. The
        folder is locked while the demo writes it.
    progress : bool, default=True
        Print progress: a line per step, bars over sessions (simulation,
        extraction).

    Returns
    -------
    StudyResult
        Its ``spec.source`` is ``<out_dir>/study.toml``; :func:`rerun_command` gives the
        command that reruns it.

    Raises
    ------
    SpecError
        Unknown ``design``.
    OutputError
        ``out_dir`` is in use by another run, holds something else than an earlier
        demo, or cannot be written (the message names it).

    See Also
    --------
    run_study : Run a specification (this function's last step).
    demo_spec_text : The specification the demo writes.
    painmarkers.datasets.simulate_cohort : The simulation (its first step).
    """
    from painmarkers.datasets import simulate_cohort

    if design not in DEMO_SPECS:
        raise SpecError(f"The 'design' parameter must be one of {sorted(DEMO_SPECS)}. "
                        f"Got {design!r}.")
    with RunFolder.open(out_dir, kind="demo", overwrite=overwrite,
                        what="painmarkers demo folder") as folder:
        out = folder.path
        fwhm = demo_fwhm_mm(resolution_mm)
        if progress:
            print(f"[painmarkers] simulating the {design} study in {out / 'bids'} "
                  f"({resolution_mm} mm grid, smoothness {fwhm:g} mm FWHM)", flush=True)
        simulate_cohort(design=design, out_dir=out / "bids", resolution_mm=resolution_mm,
                        fwhm_mm=fwhm, random_state=random_state, n_jobs=n_jobs,
                        progress=progress)
        text = demo_spec_text(design, random_state=random_state,
                              n_permutations=n_permutations)
        spec_path = write_atomic(out / "study.toml", text)
        if progress:
            print(f"[painmarkers] wrote the study specification {spec_path}", flush=True)
        result = run_study(load_spec(spec_path), n_jobs=n_jobs, progress=progress)
        folder.complete()
    return result
