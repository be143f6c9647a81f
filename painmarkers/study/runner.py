"""Run a study specification end to end: check, read, QC, extract, analyse, report."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

import painmarkers
from painmarkers._atomic import jsonable, write_text
from painmarkers._docs import fill_doc
from painmarkers._outdir import RunFolder
from painmarkers._results import save_parameters
from painmarkers._versions import versions
from painmarkers.exceptions import InferenceWarning, OutputError, PainmarkersError
from painmarkers.model import Cohort
from painmarkers.reporting.report import HTMLReport
from painmarkers.study._analyses import HANDLERS
from painmarkers.study._check import check_study
from painmarkers.study._context import RunContext, sha256
from painmarkers.study._trial_analyses import TRIAL_HANDLERS
from painmarkers.study._trial_voxelwise import VOXEL_TRIAL_HANDLERS
from painmarkers.study.spec import StudySpec, load_spec

__all__ = ["StudyResult", "run_study"]

# the trial-design types (ancova, mixed_anova, lmm, responders, voxelwise_glm, voxelwise_lmm)
HANDLERS.update({**TRIAL_HANDLERS, **VOXEL_TRIAL_HANDLERS})


@dataclass(frozen=True)
class StudyResult:  # numpydoc ignore=PR01,EX01
    """What a study run wrote, and the cohort it analysed.

    Follows the result protocol of painmarkers (``parameters``, ``versions``,
    ``to_frame()``, ``summary()``, ``save()``).

    Attributes
    ----------
    spec : StudySpec
        The validated specification.
    out_dir : Path
        The output folder.
    report_path, provenance_path : Path
        ``report.html`` and ``provenance.json``.
    tables, figures, maps : dict of str to Path
        TSV tables, PNG figures and map folders, by name.
    cohort : Cohort
        The cohort after motion exclusion and extraction (with ROI measures).
    excluded_sessions : DataFrame
        Sessions excluded by the motion rule, with the reason.
    seconds : float
        Wall time of the run.
    parameters : dict
        The specification (as plain values), the output folder, ``n_jobs`` and
        ``random_state`` of the run.
    versions : dict
        Versions of Python, painmarkers and its dependencies
        (:func:`painmarkers._versions.versions`).

    See Also
    --------
    run_study : Compute it; its examples use this result.
    run_demo : A simulated seed study run end to end.
    """

    spec: StudySpec
    out_dir: Path
    report_path: Path
    provenance_path: Path
    tables: Mapping[str, Path] = field(default_factory=dict)
    figures: Mapping[str, Path] = field(default_factory=dict)
    maps: Mapping[str, Path] = field(default_factory=dict)
    cohort: Cohort | None = None
    excluded_sessions: pd.DataFrame | None = None
    seconds: float = float("nan")
    parameters: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Every output of the run, one row each.

        Returns
        -------
        DataFrame
            Columns ``kind`` ("report", "provenance", "table", "figure", "maps"),
            ``name`` and ``path``.
        """
        rows = [{"kind": "report", "name": "report", "path": self.report_path},
                {"kind": "provenance", "name": "provenance", "path": self.provenance_path}]
        for kind, items in (("table", self.tables), ("figure", self.figures),
                            ("maps", self.maps)):
            rows += [{"kind": kind, "name": name, "path": path} for name, path in items.items()]
        return pd.DataFrame(rows, columns=["kind", "name", "path"])

    def summary(self) -> str:
        """A few lines: what was written where.

        Returns
        -------
        str
            The study's name, the numbers of tables, figures and map sets, the output
            folder, the wall time and the report's path.
        """
        return (f"Study {self.spec.name!r}: {len(self.tables)} tables, {len(self.figures)} "
                f"figures, {len(self.maps)} map sets in {self.out_dir} ({self.seconds:.0f} s); "
                f"report: {self.report_path}")

    @fill_doc
    def save(self, directory: str | PathLike) -> dict[str, Path]:
        """Write the list of outputs and the parameters of the run into ``directory``.

        The run's own files are already in :attr:`out_dir`; this writes
        ``study_outputs.tsv`` (:meth:`to_frame`) and ``parameters.json``
        (parameters and versions), e.g. to index several runs.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            ``{"outputs": ..., "parameters": ...}``.

        Raises
        ------
        %(save_raises)s
        """
        out = Path(directory)
        frame = self.to_frame().assign(path=lambda f: f["path"].map(str))
        outputs = write_text(out / "study_outputs.tsv",
                             frame.to_csv(sep="\t", index=False))
        params = save_parameters(out, self, extra={"summary": self.summary()})
        return {"outputs": outputs, "parameters": params}


def _motion_exclusion(ctx: RunContext, cohort: Cohort, rule: Mapping[str, float]
                      ) -> tuple[Cohort, pd.DataFrame]:
    from painmarkers.extractors.motion import MotionQC

    qc = MotionQC(max_translation_mm=rule.get("max_translation_mm", 3.0),
                  max_rotation_deg=rule.get("max_rotation_deg", 3.0),
                  max_mean_fd=rule.get("max_mean_fd_mm"))
    rows, subjects = [], []
    for sub in cohort:
        kept = []
        for ses in sub.sessions:
            if "confounds" not in ses.images:
                rows.append({"subject_id": sub.id, "session": ses.label, "excluded": False,
                             "reason": "no confounds file: motion not assessed"})
                kept.append(ses)
                continue
            rep = qc.assess(ses.images["confounds"],
                            name=f"sub-{sub.id} ses-{ses.label} confounds")
            rows.append({"subject_id": sub.id, "session": ses.label, "excluded": rep.excluded,
                         "reason": rep.reason, "max_translation_mm": rep.max_translation_mm,
                         "max_rotation_deg": rep.max_rotation_deg, "mean_fd": rep.mean_fd})
            if rep.excluded:
                continue
            meta = {**ses.metadata, "mean_fd": rep.mean_fd,
                    "max_translation_mm": rep.max_translation_mm,
                    "max_rotation_deg": rep.max_rotation_deg}
            kept.append(dataclasses.replace(ses, metadata=meta))
        # a subject stays even when the rule removed all its sessions, so that every
        # analysis counts and names it among the excluded
        subjects.append(dataclasses.replace(sub, sessions=tuple(kept)))
    table = pd.DataFrame(rows)
    ctx.report.section("Head-motion quality control")
    n_ex = int(table["excluded"].sum()) if len(table) else 0
    ctx.report.text(f"Rule: exclude a session whose largest absolute translation exceeds "
                    f"{qc.max_translation_mm:g} mm or rotation exceeds {qc.max_rotation_deg:g}°"
                    + (f" or mean FD exceeds {qc.max_mean_fd:g} mm" if qc.max_mean_fd else "")
                    + f". Sessions assessed: {len(table)}; excluded: {n_ex}"
                    + ("." if not n_ex else ": " + "; ".join(
                        f"sub-{r.subject_id} ses-{r.session} ({r.reason})"
                        for r in table[table["excluded"]].itertuples())
                       + ". Analyses that need an excluded session list the subject as "
                         "excluded."))
    unassessed = [f"sub-{r.subject_id} ses-{r.session}" for r in table.itertuples()
                  if str(r.reason).startswith("no confounds file")] if len(table) else []
    if unassessed:
        ctx.report.text(f"Not assessed (no confounds file), kept: {len(unassessed)} "
                        f"session(s): {', '.join(unassessed)}.", note=True)
    ctx.save_table("motion_qc", table)
    ctx.report.table(table, caption="Motion per session (Power FD, realignment maxima)",
                     collapsed=True)
    return Cohort(subjects), table[table["excluded"]] if len(table) else table


def _input_hashes(spec: StudySpec, cohort: Cohort) -> dict[str, str]:
    files: set[Path] = set()
    for pattern in ("participants.tsv", "participants.json", "phenotype/*.tsv",
                    "sub-*/sub-*_sessions.tsv", "dataset_description.json"):
        files.update(p for p in spec.dataset.glob(pattern) if p.is_file())
    for _, ses in cohort.iter_sessions():
        files.update(p for k, p in ses.images.items() if Path(p).is_file())
    return {str(p): sha256(p) for p in sorted(files)}


def _describe_rois(ctx: RunContext, cohort: Cohort, rois: tuple) -> list[dict[str, Any]]:
    """The ROIs with their size on the analysis grid: a report table and provenance rows.

    ROIs smaller than a few voxels are marked, and the warning becomes a report note.
    """
    from painmarkers.exceptions import PainmarkersWarning
    from painmarkers.reporting.anatomy import describe_rois
    from painmarkers.study._analyses import _common_mask

    grid = _common_mask(cohort)
    if not rois or grid is None:
        return []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PainmarkersWarning)
        table = describe_rois(rois, grid, mask_img=grid, min_voxels=_MIN_ROI_VOXELS)
    shown = table.drop(columns=["kind"]).rename(columns={
        "roi": "ROI", "centre_x": "MNI x", "centre_y": "MNI y", "centre_z": "MNI z",
        "n_voxels": "voxels", "volume_mm3": "volume (mm³)", "small": "too small"})
    ctx.save_table("rois", table, shown=shown)
    ctx.report.table(shown, caption=f"Regions of interest: definition, MNI centre (mm) and size "
                                    f"on the analysis grid, inside the brain mask; ROIs of fewer "
                                    f"than {_MIN_ROI_VOXELS} voxels are highlighted",
                     highlight=list(table["small"]))
    for w in caught:
        if issubclass(w.category, PainmarkersWarning):
            ctx.report.text(f"Warning: {w.message}", warning=True)
            ctx.log(f"warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    rows = table.to_dict(orient="records")
    for row in rows:
        row["min_voxels"] = _MIN_ROI_VOXELS
    return rows


#: ROIs with fewer voxels on the analysis grid are marked in the report.
_MIN_ROI_VOXELS = 4


def _figure2(ctx: RunContext, cohort: Cohort, rois: tuple, ext_params: Mapping[str, Any]) -> None:
    """Seed Figure 2: mean time series and spectrum of one ROI, pre vs post, one subject."""
    import nibabel as nib
    import numpy as np

    from painmarkers.extractors.base import resolve_t_r
    from painmarkers.reporting.plots import plot_alff_spectrum

    roi = next((r for r in rois if r.name == "INS_L"), rois[0] if rois else None)
    if roi is None:
        return
    for sub in cohort:
        labels = [s.label for s in sub.sessions if "bold" in s.images]
        if len(labels) >= 2:
            break
    else:
        return
    series = []
    t_r = None
    for label in labels[:2]:
        ses = sub.session(label)
        img = nib.load(ses.images["bold"])
        mask = roi.to_mask(img)
        data = np.asarray(img.dataobj, dtype=np.float32)[mask]
        series.append(data.mean(axis=0))
        t_r = resolve_t_r(ses.images["bold"], ses.metadata.get("t_r"),
                          name=f"sub-{sub.id} ses-{label} BOLD")
    fig = plot_alff_spectrum(series, t_r, band=tuple(ext_params.get("band", (0.01, 0.08))),
                             labels=labels[:2], title=f"sub-{sub.id}, ROI {roi.name}")
    ctx.save_figure("figure2_roi_spectrum", fig,
                    caption=f"Mean time series of ROI {roi.name} and its amplitude spectrum "
                            f"(TR {t_r:g} s), {labels[0]} vs {labels[1]}, in sub-{sub.id}, the "
                            "first subject with two sessions (cf. Masoumbeigi et al., Figure 2, "
                            "which shows the left insula, INS_L, the same way). Band mean = "
                            "ALFF of the mean series (no detrending or padding here, so it "
                            "differs slightly from the extractor's value).")


def run_study(spec: StudySpec | str | PathLike, out_dir: str | PathLike | None = None, *,
              n_jobs: int | None = None, overwrite: bool = False,
              progress: bool = True, scheduler: Any = None) -> StudyResult:
    """Run every step of a study specification and write its report.

    Steps: check the specification against the dataset
    (:func:`~painmarkers.study.check_study`: every problem is reported before anything
    is extracted or written); read the BIDS dataset into a
    :class:`~painmarkers.Cohort`; apply the head-motion exclusion rule per session
    (reported, never silent); run the extractors over every session (maps written as
    BIDS derivatives in ``<out>/derivatives``, ROI values attached to the cohort); run
    each analysis in order; write ``tables/*.tsv``, ``maps/``, ``figures/*.png``, a
    self-contained ``report.html`` and ``provenance.json`` (package versions, the
    specification, seeds, SHA-256 of every input file, exclusions).

    The output folder is locked while the run writes it (a second run into it fails
    at once, naming the holder) and carries a signed ``.painmarkers-run`` marker whose
    status becomes ``"complete"`` only after the last file is written.

    Parameters
    ----------
    spec : StudySpec or path-like
        A validated specification or the path of its TOML file.
    out_dir : path-like or None, default=None
        Output folder; the spec's ``output`` when None. Must not lie inside the
        dataset or a derivatives folder; a symbolic link is followed.
    n_jobs : int or None, default=None
        Parallel jobs (joblib) for extraction and permutations.
    overwrite : bool, default=False
        Replace an existing output folder written by painmarkers (one with a valid
        ``.painmarkers-run`` marker); any other non-empty folder is refused.
    progress : bool, default=True
        Print progress lines and bars.
    scheduler : dask.distributed.Client, str or None, default=None
        Extract the sessions on an existing dask cluster (a ``Client`` or a scheduler
        address such as ``"tcp://host:8786"``), as
        :func:`~painmarkers.extractors.extract` does; the output folder must then be on
        a file system the workers share. Needs the ``dask`` extra. The analyses run
        in this process (with ``n_jobs``).

    Returns
    -------
    StudyResult
        The paths of the report, provenance, tables, figures and maps written, the
        cohort analysed and the sessions the motion rule excluded.

    Raises
    ------
    SpecError
        Invalid specification, a specification that does not fit the dataset (all
        problems listed, each naming its analysis), or an output folder that may
        not be used.
    OutputError
        The output folder is in use by another run, or a file cannot be written
        (disk full, no permission); the message names the folder or file.
    DataError, DesignError
        Invalid data for an analysis (the message names subject, file or column).

    See Also
    --------
    check_study : The checks run first, without extracting or writing anything.
    run_demo : Simulate a seed study and run its specification.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from painmarkers.datasets import simulate_cohort
    >>> from painmarkers.study import parse_spec, run_study
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = simulate_cohort("rtms_alff_clbp", root / "bids", resolution_mm=8, n_volumes=64,
    ...                     n_clbp=2, n_hc=2)
    >>> spec = parse_spec({"study": {"dataset": "bids", "output": "results"},
    ...                    "analyses": [{"type": "outcomes", "instrument": "VAS"}]},
    ...                   base_dir=root)
    >>> result = run_study(spec, progress=False)
    >>> sorted(result.tables), result.report_path.name
    (['outcomes_1'], 'report.html')
    """
    t0 = time.perf_counter()
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    # Everything that can be checked without extracting is checked before any file
    # is written: the output folder, names, labels, variables, images, value ranges.
    target = Path(out_dir) if out_dir is not None else spec.output
    inputs = {spec.dataset: "dataset", **{d: "derivatives folder" for d in spec.derivatives}}
    RunFolder.validate(target, overwrite=overwrite, inputs=inputs)
    check = check_study(spec)
    cohort, rois, extractors = check.cohort, check.rois, check.extractors
    with RunFolder.open(target, kind="study", overwrite=overwrite, inputs=inputs) as folder:
        return _run(spec, cohort, rois, extractors, folder, n_jobs=n_jobs, progress=progress,
                    t0=t0, scheduler=scheduler)


def _run(spec: StudySpec, cohort: Cohort, rois: tuple, extractors: list, folder: RunFolder, *,
         n_jobs: int | None, progress: bool, t0: float,
         scheduler: Any = None) -> StudyResult:
    out = folder.path
    ctx = RunContext(out_dir=out, report=HTMLReport(spec.name), n_jobs=n_jobs,
                     progress=progress, random_state=spec.random_state, rois=tuple(rois))
    ctx.log(f"read {spec.dataset}: {len(cohort)} subjects, {cohort.n_sessions} sessions")
    n_before = cohort.n_sessions

    excluded = pd.DataFrame(columns=["subject_id", "session", "reason"])
    roi_rows: list[dict[str, Any]] = []
    if spec.exclusion:
        ctx.log("motion quality control")
        cohort, excluded = _motion_exclusion(ctx, cohort, spec.exclusion)
        ctx.excluded_sessions = [(str(r.subject_id), str(r.session), str(r.reason))
                                 for r in excluded.itertuples()]
    if extractors:
        from painmarkers.extractors import extract

        ctx.log(f"extracting {[type(e).__name__ for e in extractors]} over "
                f"{cohort.n_sessions} sessions")
        cohort = extract(cohort, extractors, rois=rois or None,
                         n_jobs=None if scheduler is not None else n_jobs,
                         out_dir=out / "derivatives", progress=progress, scheduler=scheduler)
        ctx.save_table("roi_measures", cohort.to_frame().query("kind == 'measure'"))
        ctx.report.section("Imaging features")
        from painmarkers.reporting.methods import extractor_summary

        described = "; ".join(extractor_summary(e["name"], {k: v for k, v in e.items()
                                                             if k != "name"})
                              for e in spec.extractors)
        ctx.report.text(f"Extractors: {described}. Maps are in derivatives/ (BIDS derivative "
                        "names).")
        roi_rows = _describe_rois(ctx, cohort, rois)
        alff_params = next((e for e in spec.extractors if e["name"] in ("alff", "falff")), None)
        if alff_params is not None and rois:
            _figure2(ctx, cohort, rois, alff_params)

    records = [_run_analysis(ctx, cohort, analysis) for analysis in spec.analyses]

    groups = {g: len(cohort.select(levels=g)) for g in cohort.groups}
    parameters = {"spec": jsonable(dataclasses.asdict(spec)), "out_dir": str(out),
                  "n_jobs": n_jobs, "random_state": spec.random_state}
    provenance: dict[str, Any] = {
        "painmarkers_version": painmarkers.__version__,
        "versions": versions(),
        "spec": dataclasses.asdict(spec),
        "random_state": spec.random_state,
        "n_jobs": n_jobs,
        "cohort": {"n_subjects": len(cohort), "groups": groups,
                   "n_sessions": cohort.n_sessions, "n_sessions_read": n_before},
        "exclusion": dict(spec.exclusion),
        "excluded_sessions": excluded.to_dict(orient="records"),
        "extractors": [{"name": e["name"], "params": {k: v for k, v in e.items() if k != "name"}}
                       for e in spec.extractors],
        "rois": roi_rows,
        "analyses": records,
        "outputs": {"tables": ctx.tables, "figures": ctx.figures, "maps": ctx.maps,
                    "report": out / "report.html"},
    }
    ctx.log("hashing inputs")
    provenance["inputs_sha256"] = _input_hashes(spec, cohort)

    from painmarkers.reporting.methods import methods_text

    text, refs = methods_text(jsonable(provenance))
    ctx.report.section("Summary and methods", first=True)
    who = ", ".join(f"{g}: {n}" for g, n in groups.items()) or "no group labels"
    ctx.report.text(f"{len(cohort)} subjects ({who}), {cohort.n_sessions} sessions analysed "
                    f"of {n_before} read; {len(excluded)} excluded by the motion rule.")
    ctx.report.text(text)
    for ref in refs:
        ctx.report.text(ref, note=True)
    ctx.report.section("Provenance")
    ctx.report.text("Package versions: " + ", ".join(f"{k} {v}" for k, v in
                                                     provenance["versions"].items()))
    ctx.report.text(f"Inputs: {len(provenance['inputs_sha256'])} files, SHA-256 in "
                    "provenance.json. Random state: "
                    f"{spec.random_state}.", note=True)
    # the report, then the provenance, then the completion marker: a run that fails
    # before the end never looks finished
    report_path = ctx.report.save(out / "report.html")
    provenance["seconds"] = round(time.perf_counter() - t0, 2)
    prov_path = ctx.save_json("provenance.json", provenance)
    seconds = time.perf_counter() - t0
    folder.complete(report="report.html", provenance="provenance.json")
    ctx.log(f"done in {seconds:.0f} s; report: {report_path}")
    return StudyResult(spec=spec, out_dir=out, report_path=report_path,
                       provenance_path=prov_path, tables=dict(ctx.tables),
                       figures=dict(ctx.figures), maps=dict(ctx.maps), cohort=cohort,
                       excluded_sessions=excluded, seconds=seconds, parameters=parameters,
                       versions=versions())


def _run_analysis(ctx: RunContext, cohort: Cohort, analysis) -> dict[str, Any]:
    """Run one analysis; its inference warnings become report notes, others pass on once."""
    ctx.log(f"analysis {analysis.name} ({analysis.type})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InferenceWarning)
        try:
            record = HANDLERS[analysis.type](ctx, cohort, analysis)
        except PainmarkersError as exc:
            if isinstance(exc, OutputError) or f"{analysis.name!r}" in str(exc):
                raise
            # name the analysis of the spec that failed
            raise type(exc)(f"analysis {analysis.name!r} ({analysis.type}): {exc}") from exc
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, InferenceWarning)})
    for note in notes:
        ctx.report.text(f"Warning: {note}", warning=True)
    for w in caught:  # anything else is passed on (once), never swallowed
        if not issubclass(w.category, InferenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    record["warnings"] = notes
    return record
