"""The cohort driver: run extractors over every session, write maps, attach ROI measures."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import make_folder, write_json, write_text
from painmarkers._deprecation import deprecate_positional
from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_n_jobs
from painmarkers._warnings import warn
from painmarkers.exceptions import ExtractorError, PainmarkersWarning
from painmarkers.extractors._registry import get_extractor
from painmarkers.extractors._session import (
    MASK_FROM_DATA,
    Plan,
    map_filename,
    process_session,
)
from painmarkers.extractors.base import OUTPUTS
from painmarkers.extractors.motion import MotionQC
from painmarkers.model import Cohort
from painmarkers.rois import check_rois

__all__ = ["REPORT_COLUMNS", "extract", "map_filename"]

#: Columns of ``extraction_report.tsv`` (one row per session).
REPORT_COLUMNS = (
    "subject_id", "session", "status", "reason", "n_measures", "maps", "mask", "motion_qc",
    "mean_fd", "max_fd", "max_translation_mm", "max_rotation_deg",
)


def _dataset_roots(path: Path) -> list[Path]:
    return [p for p in path.parents if (p / "dataset_description.json").exists()]


def _check_out_dir(out_dir: Any, cohort: Cohort) -> Path:
    if out_dir is None:
        raise ValueError("The 'out_dir' parameter is required: a folder for the feature maps "
                         "outside the input dataset (e.g. '<bids>/derivatives/painmarkers').")
    out = Path(out_dir).resolve()
    roots: set[Path] = set()
    parents: set[Path] = set()
    for _, ses in cohort.iter_sessions():
        for image in ses.images.values():
            image = Path(image).resolve()
            parents.add(image.parent)
            roots.update(_dataset_roots(image))
    for folder in parents:
        if out == folder or folder in out.parents:
            raise ValueError(
                f"out_dir {str(out)!r} is inside the input folder {str(folder)!r}; "
                "choose a folder outside the input data."
            )
        if out in folder.parents and not roots:
            raise ValueError(
                f"out_dir {str(out)!r} contains the input folder {str(folder)!r}; the maps' "
                "sub-*/ses-* folders would mix with the inputs. Choose a separate folder."
            )
    for root in roots:
        if out in root.parents and any(root in f.parents or root == f for f in parents):
            raise ValueError(
                f"out_dir {str(out)!r} contains the input dataset {str(root)!r}; choose a "
                "separate folder."
            )
        if out == root or root in out.parents:
            inside_derivatives = (root / "derivatives") in out.parents
            other = [r for r in roots if r != root and (out == r or r in out.parents)]
            if not inside_derivatives or other:
                raise ValueError(
                    f"out_dir {str(out)!r} is inside the input dataset {str(root)!r}; use a "
                    f"folder outside it or a new pipeline folder under "
                    f"{str(root / 'derivatives')!r}."
                )
    return out


def _check_extractors(extractors: Any) -> tuple:
    items = list(extractors) if isinstance(extractors, list | tuple) else [extractors]
    if not items:
        raise ValueError("The 'extractors' parameter is empty.")
    out = []
    for item in items:
        if isinstance(item, str):
            item = get_extractor(item)()
        if (not callable(getattr(item, "transform_image", None))
                or getattr(item, "output", None) not in OUTPUTS
                or not callable(getattr(item, "fit", None))):
            raise TypeError(
                "The 'extractors' parameter must hold extractors (e.g. ALFF(), SeedFC(seed), "
                "ROIExtractor(...), MapMean(...), plug-ins following the extractor protocol: "
                f"fit, transform_image, output) or registered names. Got {item!r}."
            )
        if getattr(item, "input_kind", "bold") == "map" and not getattr(item, "image_kind",
                                                                          None):
            raise ExtractorError(
                f"{type(item).__name__} takes 3-D maps but does not say which session image "
                "(set the class variable image_kind, e.g. 'qsm')."
            )
        out.append(item)
    return tuple(out)


def _check_motion(motion: Any) -> MotionQC | None:
    if motion is False:
        return None
    if motion is None:
        return MotionQC()
    if not isinstance(motion, MotionQC):
        raise TypeError(
            f"The 'motion' parameter must be a MotionQC, None or False. Got {motion!r}."
        )
    return motion


def _run_joblib(tasks: list, plan: Plan, n_jobs: int | None, progress: bool) -> list[dict]:
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    jobs = (delayed(process_session)(sub_id, ses, plan) for sub_id, ses in tasks)
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    return list(tqdm(runner(jobs), total=len(tasks), disable=not progress, desc="extract",
                     unit="session"))


def _run_dask(tasks: list, plan: Plan, scheduler: Any, progress: bool) -> list[dict]:
    """Run the sessions on a dask.distributed cluster (a Client or a scheduler address)."""
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "extract(scheduler=...) runs sessions on a dask cluster and needs "
            "dask.distributed: pip install 'painmarkers[dask]' (or 'dask[distributed]')."
        ) from None
    from tqdm.auto import tqdm

    if isinstance(scheduler, str):
        try:
            client = distributed.Client(scheduler, set_as_default=False, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"Could not connect to the dask scheduler {scheduler!r}: "
                                  f"{exc}") from exc
        owned = True
    elif isinstance(scheduler, distributed.Client):
        client, owned = scheduler, False
    else:
        raise TypeError("The 'scheduler' parameter must be a dask.distributed Client or a "
                        f"scheduler address such as 'tcp://host:8786'. Got {scheduler!r}.")
    try:
        [shared_plan] = client.scatter([plan], broadcast=True, hash=False)
        futures = client.map(process_session, [t[0] for t in tasks], [t[1] for t in tasks],
                             plan=shared_plan, pure=False)
        for _ in tqdm(distributed.as_completed(futures, loop=client.loop), total=len(futures),
                      disable=not progress, desc="extract", unit="session"):
            pass
        return client.gather(futures)
    finally:
        if owned:
            client.close()


@fill_doc
@deprecate_positional(rois=2, n_jobs=3, out_dir=4, progress=5, motion=6, exclude_motion=7,
                      space=8, on_error=9)
def extract(cohort: Cohort, extractors: Any, *, rois: Any = None, n_jobs: int | None = None,
            out_dir: str | PathLike | None = None, progress: bool = True,
            motion: MotionQC | bool | None = None, exclude_motion: bool = True,
            space: str = "MNI152NLin2009cAsym", on_error: str = "raise",
            scheduler: Any = None) -> Cohort:
    """Run extractors over every session of a cohort.

    Each session is one task: run serially, in joblib workers (``n_jobs``), or on a
    dask.distributed cluster (``scheduler``). Voxelwise maps are written as
    BIDS-derivative NIfTI files in ``out_dir`` (see :func:`map_filename`) and
    registered in ``Session.images`` under the feature name; ROI values are attached
    as :class:`~painmarkers.ROIMeasure`; motion QC figures and what the session used
    (mask, motion QC, extraction status) go to ``Session.metadata``.

    Parameters
    ----------
    cohort : Cohort
        Sessions with ``images`` such as ``"bold"``, ``"mask"``, ``"confounds"``
        (fMRIPrep TSV) or ``"motion"`` (SPM ``rp_*.txt``), ``"qsm"``; the TR is
        read from ``metadata["t_r"]`` when present, else from the sidecar/header.
    extractors : extractor, name or list of them
        Voxelwise extractors (``ALFF()``, ``SeedFC(seed)``, plug-ins, or a
        registered name), :class:`ROIExtractor`, :class:`MapMean`, or any object
        following the extractor protocol (``fit``, ``transform_image``, ``output``).
        A session mask (``images["mask"]``) is used when an extractor has no
        ``mask_img``.
    rois : ROI, sequence of ROI, str or None, default=None
        ROIs (or a set name) in which the mean of every voxelwise map is taken;
        also the ROIs of ROI-value plug-ins whose ``rois`` is None.
    %(n_jobs)s
        Sessions run in parallel. Not with ``scheduler``.
    out_dir : str or path-like
        Output folder; refused when inside the input data (a folder holding
        input images or a BIDS dataset root), except a new pipeline folder
        under a dataset's ``derivatives/``. With ``scheduler`` it must be on a
        file system the workers share.
    %(progress)s
        The bar counts sessions.
    motion : MotionQC, None or False, default=None
        Motion rule; None uses ``MotionQC()`` (3 mm / 3°); False skips motion
        QC. Sessions without ``confounds``/``motion`` images cannot be assessed:
        they are extracted, flagged ``motion_qc = "not assessed: ..."`` and counted
        in a warning.
    exclude_motion : bool, default=True
        Skip the extraction of sessions that break the motion rule (they are
        kept in the cohort, flagged ``motion_excluded = 1`` in metadata and
        listed in the report and a warning). False only flags them.
    space : str, default="MNI152NLin2009cAsym"
        ``space-`` entity of the map file names.
    on_error : {"raise", "skip"}, default="raise"
        ``"skip"`` records a failing session (missing, truncated or corrupt image,
        bad TR, confounds that do not match the run, ...) with the error as its
        reason, removes the maps it had written, and continues; the session keeps
        no new measures, is flagged ``extraction_status = "failed"`` in its
        metadata and is listed in the report and a warning.
    scheduler : dask.distributed.Client, str or None, default=None
        Run the sessions on an existing dask cluster: a ``Client`` or a scheduler
        address (``"tcp://host:8786"``; a client is opened and closed around the
        run). Results are identical to a serial run. Needs ``dask[distributed]``
        (``pip install 'painmarkers[dask]'``).

    Returns
    -------
    Cohort
        A new cohort with the ROI measures, map paths and metadata added:
        ``extraction_status`` (``extracted``, ``excluded_motion`` or ``failed``),
        ``extraction_reason``, ``mask_source`` (``session``, ``extractor's
        mask_img`` or ``computed from the data``), ``motion_qc`` (``assessed``,
        ``off`` or ``not assessed: ...``) and the motion figures.
        ``out_dir/extraction_report.tsv`` lists every session with the columns
        ``subject_id, session, status, reason, n_measures, maps, mask, motion_qc,
        mean_fd, max_fd, max_translation_mm, max_rotation_deg``.

    Raises
    ------
    ValueError
        ``out_dir`` missing or inside the input dataset; ``n_jobs`` with
        ``scheduler``.
    DataError, ImageError, ExtractorError
        Bad input in a session (message prefixed with the subject and session; a
        truncated or corrupt file is named), unless ``on_error="skip"``.
    ImportError
        ``scheduler`` given without dask.distributed installed.

    Warns
    -----
    PainmarkersWarning
        Sessions excluded for motion or skipped after an error (listed), sessions
        whose brain mask had to be computed from the data because the session has
        no ``mask`` image and the extractor no ``mask_img`` (counted and listed),
        sessions whose motion could not be assessed (counted and listed).

    Notes
    -----
    A missing brain mask is a warning, not an error: raw or DPABI-style datasets
    often have none, and the data-derived mask (voxels finite in every volume and
    non-zero in one, as :class:`BaseExtractor` documents) is the usual fallback; but
    it differs from session to session, so the warning gives the count and the
    sessions, and ``mask_source`` / the report's ``mask`` column record it for the
    study report. Give ``images["mask"]`` or an extractor ``mask_img`` to avoid it.

    Motion QC reads one row per volume: a confounds/motion table whose row count
    differs from the BOLD run's number of volumes is an error naming both files and
    both lengths (the QC would otherwise assess the wrong volumes).

    An image read by several extractors of a session (e.g. the BOLD run for
    ALFF and SeedFC) is read once per session: its masked data are streamed from
    the file (float32, the 4-D array is never held) and shared.

    Written files: ``dataset_description.json`` (BIDS derivative, once),
    one NIfTI map per (session, voxelwise extractor) with a JSON sidecar
    (``Sources``, ``Extractor``, ``Feature``, ``Parameters``, ``RepetitionTime``),
    and the report; each is written to a temporary file in the same folder then
    renamed, so an interrupted run never leaves a half-written file.

    Parameters after ``extractors`` are keyword-only since painmarkers 0.2; passing
    them by position still works in 0.2 with a FutureWarning.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np, nibabel as nib
    >>> from painmarkers import Cohort, Session, Subject
    >>> from painmarkers.extractors import SeedFC
    >>> from painmarkers.rois import Sphere
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> bold = tmp / "in" / "bold.nii.gz"; bold.parent.mkdir()
    >>> rng = np.random.default_rng(0)
    >>> nib.save(nib.Nifti1Image(rng.standard_normal((5, 5, 5, 40)), np.diag([3., 3, 3, 1])), bold)
    >>> mask = tmp / "in" / "mask.nii.gz"
    >>> nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.uint8), np.diag([3., 3, 3, 1])), mask)
    >>> cohort = Cohort([Subject("01", "HC", sessions=[Session(
    ...     "pre", images={"bold": bold, "mask": mask}, metadata={"t_r": 2.0})])])
    >>> out = extract(cohort, SeedFC(Sphere("s", (3, 3, 3), 3.0)), motion=False,
    ...               rois=[Sphere("a", (9, 9, 9), 3.0)], out_dir=tmp / "out", progress=False)
    >>> sorted(out["01"].session("pre").images)
    ['bold', 'mask', 'seed_fc_s']
    """
    if not isinstance(cohort, Cohort):
        raise TypeError(f"The 'cohort' parameter must be a Cohort. Got {type(cohort).__name__}.")
    items = _check_extractors(extractors)
    roi_list = None if rois is None else check_rois(rois)
    n_jobs = check_n_jobs(n_jobs)
    check_choice(on_error, ("raise", "skip"), "on_error")
    if scheduler is not None and n_jobs is not None:
        raise ValueError("Give 'n_jobs' (local workers) or 'scheduler' (a dask cluster), not "
                         "both: the cluster's workers set the parallelism.")
    motion = _check_motion(motion)
    out = make_folder(_check_out_dir(out_dir, cohort))
    description = out / "dataset_description.json"
    if not description.exists():
        import painmarkers

        write_json(description, {
            "Name": "painmarkers feature maps", "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": [{"Name": "painmarkers", "Version": painmarkers.__version__}],
        })
    plan = Plan(extractors=items, rois=roi_list, out_dir=out, motion=motion,
                exclude_motion=exclude_motion, space=space, on_error=on_error)
    tasks = [(sub.id, ses) for sub, ses in cohort.iter_sessions()]
    if scheduler is not None:
        results = _run_dask(tasks, plan, scheduler, progress)
    else:
        results = _run_joblib(tasks, plan, n_jobs, progress)
    return _assemble(cohort, results, out)


def _mask_source(sources: list[str]) -> str:
    if MASK_FROM_DATA in sources:
        return MASK_FROM_DATA
    return "; ".join(sorted(set(sources)))


def _listing(frame: pd.DataFrame, column: str | None = None, sep: str = ", ") -> str:
    if column is None:
        return sep.join(f"sub-{a}/ses-{b}" for a, b in
                        frame[["subject_id", "session"]].itertuples(index=False))
    return sep.join(f"sub-{a}/ses-{b} ({c})" for a, b, c in
                    frame[["subject_id", "session", column]].itertuples(index=False))


def _assemble(cohort: Cohort, results: Sequence[dict], out: Path) -> Cohort:
    for r in results:
        for category, message in r.get("warnings", []):
            warn(f"sub-{r['subject_id']}/ses-{r['session']}: {message}", category)
    by_key = {(r["subject_id"], r["session"]): r for r in results}
    rows, subjects = [], []
    for sub in cohort:
        sessions = []
        for ses in sub.sessions:
            r = by_key[(sub.id, ses.label)]
            mask = _mask_source(r["notes"]["masks"])
            notes = {"extraction_status": r["status"], "extraction_reason": r["reason"],
                     "mask_source": mask, "motion_qc": r["notes"]["motion_qc"]}
            sessions.append(dataclasses.replace(
                ses, measures=(*ses.measures, *r["measures"]),
                images={**ses.images, **r["images"]},
                metadata={**ses.metadata, **r["metadata"], **notes}))
            md = r["metadata"]
            rows.append({
                "subject_id": sub.id, "session": ses.label, "status": r["status"],
                "reason": r["reason"], "n_measures": len(r["measures"]),
                "maps": ";".join(str(p) for p in r["images"].values()), "mask": mask,
                "motion_qc": r["notes"]["motion_qc"],
                **{k: md.get(k, np.nan) for k in ("mean_fd", "max_fd", "max_translation_mm",
                                                   "max_rotation_deg")},
            })
        subjects.append(dataclasses.replace(sub, sessions=tuple(sessions)))
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    write_text(out / "extraction_report.tsv",
               report.to_csv(sep="\t", index=False, na_rep="n/a"))
    n = len(report)
    excluded = report[report["status"] == "excluded_motion"]
    if len(excluded):
        warn(f"{len(excluded)} session(s) excluded for head motion and not extracted: "
             f"{_listing(excluded, 'reason')}.", PainmarkersWarning)
    failed = report[report["status"] == "failed"]
    if len(failed):
        warn(f"{len(failed)} session(s) failed and were skipped: "
             f"{_listing(failed, 'reason', '; ')}.", PainmarkersWarning)
    done = report[report["status"] != "failed"]
    no_mask = done[done["mask"] == MASK_FROM_DATA]
    if len(no_mask):
        warn(f"{len(no_mask)} of {n} session(s) have no brain mask (no images['mask'] and no "
             "mask_img): their mask was computed from the data (voxels finite in every volume "
             "and non-zero in one), so it differs between sessions: "
             f"{_listing(no_mask)}. Recorded as mask_source in the session metadata and the "
             "report's 'mask' column.", PainmarkersWarning)
    no_qc = report[report["motion_qc"].str.startswith("not assessed")]
    if len(no_qc):
        warn(f"{len(no_qc)} of {n} session(s) have no confounds or motion file: their head "
             f"motion was not assessed: {_listing(no_qc)}. Recorded as motion_qc in the "
             "session metadata and the report.", PainmarkersWarning)
    return Cohort(subjects)
