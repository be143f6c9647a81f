"""Run a study specification end to end: read, QC, extract, analyse, report."""

from __future__ import annotations

import dataclasses
import platform
import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

import painmarkers
from painmarkers._atomic import jsonable, write_text
from painmarkers.exceptions import (
    DataError,
    InferenceWarning,
    PainmarkersError,
    RegistryError,
    SpecError,
)
from painmarkers.model import Cohort
from painmarkers.reporting.report import HTMLReport
from painmarkers.study._analyses import HANDLERS
from painmarkers.study._context import RunContext, sha256
from painmarkers.study.spec import StudySpec, load_spec

__all__ = ["StudyResult", "run_study"]

_MARKER = "provenance.json"
#: Written first into every output folder, so that the folder of a run that failed
#: half-way is still recognised (and can be replaced with --overwrite).
_RUN_MARKER = ".painmarkers-run"
_VERSIONED = ("numpy", "scipy", "pandas", "nibabel", "nilearn", "statsmodels", "pingouin",
              "scikit-learn", "joblib", "matplotlib")


@dataclass(frozen=True)
class StudyResult:
    """What a study run wrote, and the cohort it analysed.

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

    def summary(self) -> str:
        """A few lines: what was written where."""
        return (f"Study {self.spec.name!r}: {len(self.tables)} tables, {len(self.figures)} "
                f"figures, {len(self.maps)} map sets in {self.out_dir} ({self.seconds:.0f} s); "
                f"report: {self.report_path}")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "painmarkers": painmarkers.__version__}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[name] = "not installed"
    return out


def _prepare_out(out_dir: Path, dataset: Path, overwrite: bool) -> Path:
    out_dir = Path(out_dir).resolve()
    dataset = Path(dataset).resolve()
    if out_dir == dataset or dataset in out_dir.parents:
        raise SpecError(f"The output folder {str(out_dir)!r} is inside the input dataset "
                        f"{str(dataset)!r}; painmarkers never writes into input folders. "
                        "Choose an output folder outside the dataset.")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise SpecError(f"The output folder {str(out_dir)!r} is not empty; pass "
                            "overwrite=True (--overwrite) or choose another folder.")
        if not ((out_dir / _MARKER).exists() or (out_dir / _RUN_MARKER).exists()):
            raise SpecError(f"Refusing to overwrite {str(out_dir)!r}: it does not look like a "
                            f"painmarkers output folder (no {_MARKER}).")
        if out_dir in dataset.parents:
            raise SpecError(f"Refusing to overwrite {str(out_dir)!r}: it contains the input "
                            f"dataset {str(dataset)!r}. Choose an output folder beside it.")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / _RUN_MARKER, "written by painmarkers run_study; the folder may be "
                                      "replaced with overwrite=True (--overwrite)\n")
    return out_dir


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
        if kept:
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
    ctx.save_table("motion_qc", table)
    ctx.report.table(table, caption="Motion per session (Power FD, realignment maxima)",
                     collapsed=True)
    return Cohort(subjects), table[table["excluded"]] if len(table) else table


def _as_roi(value: Any, where: str):
    """A seed/ROI written in a spec: ``"atlas:label"``, ``[x, y, z]`` or a sphere table."""
    from painmarkers.rois import AtlasRegion, Sphere

    if isinstance(value, str) and ":" in value:
        atlas, label = value.split(":", 1)
        return AtlasRegion(atlas, label)
    if isinstance(value, list | tuple) and len(value) == 3:
        return Sphere("seed", tuple(value), 3.0)
    if isinstance(value, Mapping) and "center" in value:
        return Sphere(value.get("name", "seed"), tuple(value["center"]),
                      value.get("radius_mm", 3.0))
    raise SpecError(f"{where}: a seed must be 'atlas:label', [x, y, z] (MNI mm) or "
                    f"{{name, center, radius_mm}}. Got {value!r}.")


def _build_extractors(spec: StudySpec, rois: tuple) -> list:
    from painmarkers.extractors import MapMean, get_extractor, list_extractors

    out = []
    for i, ext in enumerate(spec.extractors):
        where = f"[[extractors]] #{i + 1} ({ext['name']!r})"
        params = {k: (tuple(v) if isinstance(v, list) and k == "band" else v)
                  for k, v in ext.items() if k != "name"}
        if "seed" in params:
            params["seed"] = _as_roi(params["seed"], where)
        cls = None
        try:
            if ext["name"] == "map_mean":
                if not rois:
                    raise SpecError(f"{where}: ROI means need ROIs; add a [rois] table.")
                cls = MapMean
                out.append(MapMean(rois=rois, **params))
                continue
            cls = get_extractor(ext["name"])
            out.append(cls(**params))
        except TypeError as exc:
            allowed = ""
            if cls is not None:
                try:
                    keys = sorted(set(cls().get_params(deep=False)) - {"rois"})
                    allowed = f" Allowed keys: {keys}."
                except Exception:  # a plug-in without defaults: no list
                    allowed = ""
            raise SpecError(f"{where}: {exc}.{allowed}") from None
        except RegistryError as exc:
            if ext["name"] in list_extractors():  # a plug-in that failed to load: say why
                raise SpecError(f"{where}: {exc}") from None
            raise SpecError(f"{where}: 'name' must be one of "
                            f"{sorted([*list_extractors(), 'map_mean'])}. "
                            f"Got {ext['name']!r}.") from None
    return out


def _build_rois(spec: StudySpec) -> tuple:
    from painmarkers.rois import AtlasRegion, Sphere, get_roi_set

    rois: list = []
    if "set" in spec.rois:
        try:
            rois.extend(get_roi_set(spec.rois["set"]))
        except RegistryError as exc:
            raise SpecError(f"[rois] 'set': {exc}") from None
    for i, sph in enumerate(spec.rois.get("spheres", [])):
        try:
            rois.append(Sphere(sph["name"], tuple(sph["center"]), sph.get("radius_mm", 3.0)))
        except (KeyError, TypeError) as exc:
            raise SpecError(f"[rois] spheres #{i + 1} needs 'name', 'center' = [x, y, z] and "
                            f"optionally 'radius_mm'. Problem: {exc}") from None
    for i, reg in enumerate(spec.rois.get("atlas_regions", [])):
        try:
            rois.append(AtlasRegion(reg["atlas"], reg["label"]))
        except (KeyError, TypeError) as exc:
            raise SpecError(f"[rois] atlas_regions #{i + 1} needs 'atlas' and 'label'. "
                            f"Problem: {exc}") from None
    return tuple(rois)


def _input_hashes(spec: StudySpec, cohort: Cohort) -> dict[str, str]:
    files: set[Path] = set()
    for pattern in ("participants.tsv", "participants.json", "phenotype/*.tsv",
                    "sub-*/sub-*_sessions.tsv", "dataset_description.json"):
        files.update(p for p in spec.dataset.glob(pattern) if p.is_file())
    for _, ses in cohort.iter_sessions():
        files.update(p for k, p in ses.images.items() if Path(p).is_file())
    return {str(p): sha256(p) for p in sorted(files)}


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
                            "first subject with two sessions (cf. seed Figure 2, which shows "
                            "the left insula, INS_L, the same way). Band mean = ALFF of the "
                            "mean series (no detrending or padding here, so it differs "
                            "slightly from the extractor's value).")


def run_study(spec: StudySpec | str | PathLike, out_dir: str | PathLike | None = None, *,
              n_jobs: int | None = None, overwrite: bool = False,
              progress: bool = True) -> StudyResult:
    """Run every step of a study specification and write its report.

    Steps: read the BIDS dataset into a :class:`~painmarkers.Cohort`; apply the
    head-motion exclusion rule per session (reported, never silent); run the
    extractors over every session (maps written as BIDS derivatives in
    ``<out>/derivatives``, ROI values attached to the cohort); run each analysis
    in order; write ``tables/*.tsv``, ``maps/``, ``figures/*.png``, a
    self-contained ``report.html`` and ``provenance.json`` (package versions,
    the specification, seeds, SHA-256 of every input file, exclusions).

    Parameters
    ----------
    spec : StudySpec or path-like
        A validated specification or the path of its TOML file.
    out_dir : path-like or None, default=None
        Output folder; the spec's ``output`` when None. Must not lie inside the
        dataset.
    n_jobs : int or None, default=None
        Parallel jobs (joblib) for extraction and permutations.
    overwrite : bool, default=False
        Replace an existing painmarkers output folder.
    progress : bool, default=True
        Print progress lines and bars.

    Returns
    -------
    StudyResult

    Raises
    ------
    SpecError
        Invalid specification or output folder.
    DataError, DesignError
        Invalid data for an analysis (the message names subject, file or column).
    """
    t0 = time.perf_counter()
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    if not spec.dataset.is_dir():
        raise DataError(f"[study] 'dataset': the dataset folder {str(spec.dataset)!r} of the "
                        "study does not exist.")
    # Names of extractors and ROIs are checked before any file is written.
    rois = _build_rois(spec)
    extractors = _build_extractors(spec, rois)
    out = _prepare_out(Path(out_dir) if out_dir is not None else spec.output, spec.dataset,
                       overwrite)
    ctx = RunContext(out_dir=out, report=HTMLReport(spec.name), n_jobs=n_jobs,
                     progress=progress, random_state=spec.random_state, rois=tuple(rois))
    ctx.log(f"reading {spec.dataset}")
    cohort = Cohort.from_bids(spec.dataset, derivatives=list(spec.derivatives) or None,
                              task=spec.task, space=spec.space)
    n_before = cohort.n_sessions

    excluded = pd.DataFrame(columns=["subject_id", "session", "reason"])
    if spec.exclusion:
        ctx.log("motion quality control")
        cohort, excluded = _motion_exclusion(ctx, cohort, spec.exclusion)
        ctx.excluded_sessions = [(str(r.subject_id), str(r.session), str(r.reason))
                                 for r in excluded.itertuples()]
    if extractors:
        from painmarkers.extractors import extract

        ctx.log(f"extracting {[type(e).__name__ for e in extractors]} over "
                f"{cohort.n_sessions} sessions")
        cohort = extract(cohort, extractors, rois=rois or None, n_jobs=n_jobs,
                         out_dir=out / "derivatives", progress=progress)
        ctx.save_table("roi_measures", cohort.to_frame().query("kind == 'measure'"))
        ctx.report.section("Imaging features")
        ctx.report.text(f"Extractors: {', '.join(repr(e) for e in extractors)}; ROIs: "
                        f"{', '.join(r.name for r in rois) or 'none'}. Maps are in "
                        f"derivatives/ (BIDS derivative names).")
        alff_params = next((e for e in spec.extractors if e["name"] in ("alff", "falff")), None)
        if alff_params is not None and rois:
            _figure2(ctx, cohort, rois, alff_params)

    records = []
    for analysis in spec.analyses:
        ctx.log(f"analysis {analysis.name} ({analysis.type})")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InferenceWarning)
            try:
                record = HANDLERS[analysis.type](ctx, cohort, analysis)
            except PainmarkersError as exc:
                if f"{analysis.name!r}" in str(exc):
                    raise
                # name the analysis of the spec that failed
                raise type(exc)(f"analysis {analysis.name!r} ({analysis.type}): {exc}") from exc
        for w in caught:  # anything else is passed on, never swallowed
            if not issubclass(w.category, InferenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        notes = sorted({str(w.message) for w in caught
                        if issubclass(w.category, InferenceWarning)})
        for note in notes:
            ctx.report.text(f"Warning: {note}", note=True)
        for w in caught:
            if not issubclass(w.category, InferenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        record["warnings"] = notes
        records.append(record)

    groups = {g: len(cohort.select(group=g)) for g in cohort.groups}
    provenance: dict[str, Any] = {
        "painmarkers_version": painmarkers.__version__,
        "versions": _versions(),
        "spec": dataclasses.asdict(spec),
        "random_state": spec.random_state,
        "n_jobs": n_jobs,
        "cohort": {"n_subjects": len(cohort), "groups": groups,
                   "n_sessions": cohort.n_sessions, "n_sessions_read": n_before},
        "exclusion": dict(spec.exclusion),
        "excluded_sessions": excluded.to_dict(orient="records"),
        "extractors": [{"name": e["name"], "params": {k: v for k, v in e.items() if k != "name"}}
                       for e in spec.extractors],
        "analyses": records,
        "outputs": {"tables": ctx.tables, "figures": ctx.figures, "maps": ctx.maps},
    }
    ctx.log("hashing inputs")
    provenance["inputs_sha256"] = _input_hashes(spec, cohort)
    provenance["seconds"] = round(time.perf_counter() - t0, 2)

    from painmarkers.reporting.methods import methods_text

    text, refs = methods_text(jsonable(provenance))
    ctx.report.section("Summary and methods", first=True)
    ctx.report.text(f"{len(cohort)} subjects ({', '.join(f'{g}: {n}' for g, n in groups.items())}"
                    f"), {cohort.n_sessions} sessions analysed of {n_before} read; "
                    f"{len(excluded)} excluded by the motion rule.")
    ctx.report.text(text)
    for ref in refs:
        ctx.report.text(ref, note=True)
    ctx.report.section("Provenance")
    ctx.report.text("Package versions: " + ", ".join(f"{k} {v}" for k, v in
                                                     provenance["versions"].items()))
    ctx.report.text(f"Inputs: {len(provenance['inputs_sha256'])} files, SHA-256 in "
                    "provenance.json. Random state: "
                    f"{spec.random_state}.", note=True)
    prov_path = ctx.save_json("provenance.json", provenance)
    report_path = ctx.report.save(out / "report.html")
    seconds = time.perf_counter() - t0
    ctx.log(f"done in {seconds:.0f} s; report: {report_path}")
    return StudyResult(spec=spec, out_dir=out, report_path=report_path,
                       provenance_path=prov_path, tables=dict(ctx.tables),
                       figures=dict(ctx.figures), maps=dict(ctx.maps), cohort=cohort,
                       excluded_sessions=excluded, seconds=seconds)
