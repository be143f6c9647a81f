"""The cohort driver: run extractors over every session, write maps, attach ROI measures."""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from painmarkers._atomic import atomic_write, write_json, write_text
from painmarkers._validation import check_choice, check_img, check_n_jobs
from painmarkers.exceptions import DataError, ExtractorError, PainmarkersWarning
from painmarkers.extractors._registry import get_extractor
from painmarkers.extractors.base import BaseExtractor, resolve_t_r
from painmarkers.extractors.maps import MapMean, roi_summary
from painmarkers.extractors.motion import MotionQC
from painmarkers.extractors.roi import ROIExtractor
from painmarkers.model import Cohort, ROIMeasure
from painmarkers.rois import check_rois

__all__ = ["REPORT_COLUMNS", "extract", "map_filename"]

#: Columns of ``extraction_report.tsv`` (one row per session).
REPORT_COLUMNS = (
    "subject_id", "session", "status", "reason", "n_measures", "maps", "mean_fd", "max_fd",
    "max_translation_mm", "max_rotation_deg",
)
_PROVENANCE_SKIP = {"mask_img", "t_r"}


def _entity(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", value)


def map_filename(subject: str, session: str, feature: str, input_kind: str = "bold",
                 space: str = "MNI152NLin2009cAsym") -> Path:
    """Relative BIDS-derivative path of a feature map.

    Parameters
    ----------
    subject, session : str
        Labels without ``sub-``/``ses-``.
    feature : str
        Feature name; non-alphanumeric characters are removed for the
        ``desc-`` entity (``"seed_fc_INS_L"`` -> ``desc-seedfcINSL``).
    input_kind : {"bold", "map"}, default="bold"
        Time-series maps go to ``func/`` with suffix ``boldmap``; maps derived
        from other maps (e.g. QSM) go to ``anat/`` with suffix ``map``.
    space : str, default="MNI152NLin2009cAsym"
        The ``space-`` entity.

    Returns
    -------
    pathlib.Path
        ``sub-<s>/ses-<t>/func/sub-<s>_ses-<t>_space-<space>_desc-<feature>_boldmap.nii.gz``.

    Examples
    --------
    >>> map_filename("01", "pre", "alff").as_posix()
    'sub-01/ses-pre/func/sub-01_ses-pre_space-MNI152NLin2009cAsym_desc-alff_boldmap.nii.gz'
    """
    sub, ses = _entity(subject), _entity(session)
    datatype, suffix = ("func", "boldmap") if input_kind == "bold" else ("anat", "map")
    name = f"sub-{sub}_ses-{ses}_space-{_entity(space)}_desc-{_entity(feature)}_{suffix}.nii.gz"
    return Path(f"sub-{sub}") / f"ses-{ses}" / datatype / name


def _provenance(est: Any) -> str:
    params = est.get_params(deep=False)
    defaults = type(est)().get_params(deep=False) if _default_constructible(est) else {}
    shown = []
    for key, value in params.items():
        if key in _PROVENANCE_SKIP or (key in defaults and _same(defaults[key], value)):
            continue
        text = getattr(value, "name", None) if not isinstance(value, str | int | float | tuple) \
            else None
        shown.append(f"{key}={text if text is not None else value!r}")
    return f"{type(est).__name__}({', '.join(shown)})"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _default_constructible(est: Any) -> bool:
    try:
        type(est)()
    except Exception:
        return False
    return True


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


def _check_extractors(extractors: Any) -> list:
    items = list(extractors) if isinstance(extractors, list | tuple) else [extractors]
    if not items:
        raise ValueError("The 'extractors' parameter is empty.")
    out = []
    for item in items:
        if isinstance(item, str):
            item = get_extractor(item)()
        if not isinstance(item, BaseExtractor | ROIExtractor | MapMean):
            raise TypeError(
                "The 'extractors' parameter must hold extractors (e.g. ALFF(), SeedFC(seed), "
                f"ROIExtractor(...), MapMean(...)) or registered names. Got {item!r}."
            )
        if isinstance(item, BaseExtractor) and item.input_kind == "map" and not item.image_kind:
            raise ExtractorError(
                f"{type(item).__name__} takes 3-D maps but does not say which session image "
                "(set the class variable image_kind, e.g. 'qsm')."
            )
        out.append(item)
    return out


def _session_image(ses, kind: str, where: str, cache: dict | None = None) -> Any:
    if kind not in ses.images:
        raise DataError(
            f"{where} has no {kind!r} image (it has {sorted(ses.images)}); add it to "
            "Session.images or drop the extractor."
        )
    if cache is not None and kind in cache:
        return cache[kind]
    return Path(ses.images[kind])


def _input_kind_of(est) -> str:
    if isinstance(est, MapMean):
        return est.kind
    if isinstance(est, ROIExtractor):
        inner = est.feature if not isinstance(est.feature, str) else get_extractor(est.feature)()
        return inner.image_kind or "bold"
    return est.image_kind or "bold"


def _shared_images(ses, extractors: list) -> dict:
    """Images read by several extractors of a session, loaded once (file name kept)."""
    import nibabel as nib

    kinds = [_input_kind_of(e) for e in extractors]
    cache = {}
    for kind in {k for k in kinds if kinds.count(k) > 1 and k in ses.images}:
        img = check_img(ses.images[kind], name=f"images[{kind!r}]")
        loaded = nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header)
        loaded.set_filename(str(ses.images[kind]))  # sidecar lookup and messages
        cache[kind] = loaded
    return cache


def _with_session_defaults(est: Any, ses) -> Any:
    est = clone(est)
    params = est.get_params(deep=False)
    if "mask_img" in params and params["mask_img"] is None and "mask" in ses.images:
        est.set_params(mask_img=ses.images["mask"])
    return est


def _session_confounds(est, ses) -> Any:
    """The session's confounds file for an extractor that uses confounds, or None.

    A whole fMRIPrep confounds table (hundreds of columns: cosines, CompCor, outlier
    spikes) is not a nuisance model: an extractor with a ``confounds_strategy``
    parameter gets the file only when a strategy selects columns from it.
    """
    if not est.accepts_confounds:
        return None
    params = est.get_params(deep=False)
    if "confounds_strategy" in params and params["confounds_strategy"] is None:
        return None
    return ses.images.get("confounds")


def _session_t_r(est, ses) -> float | None:
    t_r = ses.metadata.get("t_r", ses.metadata.get("RepetitionTime"))
    return None if getattr(est, "t_r", None) is not None else t_r


def _process_session(sub_id: str, ses, *args) -> dict:
    # Warnings raised in worker processes would be lost: record them and re-emit them in
    # the caller's process (see _assemble), prefixed with the session.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _process_session_inner(sub_id, ses, *args)
    result["warnings"] = [(w.category, str(w.message)) for w in caught]
    return result


def _process_session_inner(sub_id: str, ses, extractors: list, rois, out_dir: Path, motion,
                           exclude_motion: bool, space: str) -> dict:
    where = f"Subject {sub_id!r} session {ses.label!r}"
    result = {"subject_id": sub_id, "session": ses.label, "measures": [], "images": {},
              "metadata": {}, "status": "extracted", "reason": ""}
    motion_source = ses.images.get("confounds", ses.images.get("motion"))
    if motion is not None and motion_source is not None:
        report = motion.assess(motion_source, name=f"motion of {where}")
        result["metadata"].update({
            "mean_fd": report.mean_fd, "max_fd": report.max_fd,
            "max_translation_mm": report.max_translation_mm,
            "max_rotation_deg": report.max_rotation_deg,
            "motion_excluded": float(report.excluded),
        })
        if np.isfinite(report.mean_fd_jenkinson):
            result["metadata"]["mean_fd_jenkinson"] = report.mean_fd_jenkinson
        if report.excluded:
            result["reason"] = f"motion: {report.reason}"
            if exclude_motion:
                result["status"] = "excluded_motion"
                return result
    try:
        cache = _shared_images(ses, extractors)
        for est in extractors:
            _run_one(est, sub_id, ses, where, rois, out_dir, space, result, cache)
    except (DataError, ExtractorError) as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    return result


def _run_one(est, sub_id, ses, where, rois, out_dir, space, result, cache) -> None:
    if isinstance(est, MapMean):
        fitted = est.fit()
        values = fitted.transform(_session_image(ses, est.kind, where, cache))[0]
        for roi, value in zip(fitted.rois_, values):
            result["measures"].append(ROIMeasure(roi.name, fitted.feature_, float(value),
                                                 _provenance(est)))
        return
    est = _with_session_defaults(est, ses)
    if isinstance(est, ROIExtractor):
        inner = est.feature if not isinstance(est.feature, str) else get_extractor(est.feature)()
        image = _session_image(ses, inner.image_kind or "bold", where, cache)
        if inner.t_r is None and _session_t_r(inner, ses) is not None:
            est.set_params(feature=clone(inner).set_params(t_r=_session_t_r(inner, ses)))
        confounds = _session_confounds(inner, ses)
        est.fit(image)
        values = est.transform(image, confounds=confounds)[0]
        feature = est.get_feature_name()
        for roi, value in zip(est.rois_, values):
            result["measures"].append(ROIMeasure(roi.name, feature, float(value),
                                                 _provenance(est.extractor_)))
        return
    image = _session_image(ses, est.image_kind or "bold", where, cache)
    confounds = _session_confounds(est, ses)
    est.fit(image)
    t_r = None
    if est.input_kind == "bold":
        # resolved once (parameter, session metadata, BIDS sidecar or header; every BOLD
        # extractor needs it), passed to the extractor and recorded in the sidecar
        session_t_r = _session_t_r(est, ses)
        explicit = session_t_r if session_t_r is not None else getattr(est, "t_r", None)
        t_r = resolve_t_r(image, explicit, name="the BOLD image")
    feature_map = est.compute_map(image, t_r=t_r, confounds=confounds)
    feature = est.get_feature_name()
    path = out_dir / map_filename(sub_id, ses.label, feature, est.input_kind, space)
    atomic_write(path, feature_map.to_filename, suffix=".nii.gz")
    sidecar = {"Sources": [str(ses.images[est.image_kind or "bold"])],
               "Extractor": _provenance(est), "Feature": feature,
               "Parameters": est.get_params(deep=False)}
    if t_r is not None:
        sidecar["RepetitionTime"] = t_r
    write_json(path.with_name(path.name[: -len(".nii.gz")] + ".json"), sidecar)
    result["images"][feature] = path
    if rois is not None:
        values = roi_summary(feature_map, rois, "mean", mask_img=est.mask_img_,
                             name=f"{feature} map")
        for roi, value in zip(rois, values):
            result["measures"].append(ROIMeasure(roi.name, feature, float(value),
                                                 _provenance(est)))


def extract(cohort: Cohort, extractors: Any, rois: Any = None, n_jobs: int | None = None,
            out_dir: str | PathLike | None = None, progress: bool = True,
            motion: MotionQC | bool | None = None, exclude_motion: bool = True,
            space: str = "MNI152NLin2009cAsym", on_error: str = "raise") -> Cohort:
    """Run extractors over every session of a cohort.

    Each session is one joblib task (so any joblib backend works, including
    ``joblib.parallel_config(backend="dask")`` with a ``dask.distributed``
    cluster). Voxelwise maps are written as BIDS-derivative NIfTI files in
    ``out_dir`` (see :func:`map_filename`) and registered in
    ``Session.images`` under the feature name; ROI values are attached as
    :class:`~painmarkers.ROIMeasure`; motion QC figures go to ``Session.metadata``.

    Parameters
    ----------
    cohort : Cohort
        Sessions with ``images`` such as ``"bold"``, ``"mask"``, ``"confounds"``
        (fMRIPrep TSV) or ``"motion"`` (SPM ``rp_*.txt``), ``"qsm"``; the TR is
        read from ``metadata["t_r"]`` when present, else from the sidecar/header.
    extractors : extractor, name or list of them
        Voxelwise extractors (``ALFF()``, ``SeedFC(seed)``, plug-ins, or a
        registered name), :class:`ROIExtractor` or :class:`MapMean` objects.
        A session mask (``images["mask"]``) is used when an extractor has no
        ``mask_img``.
    rois : ROI, sequence of ROI, str or None, default=None
        ROIs (or a set name) in which the mean of every voxelwise map is taken.
    n_jobs : int or None, default=None
        Parallel sessions (joblib semantics; None = 1 unless a joblib context says otherwise).
    out_dir : str or path-like
        Output folder; refused when inside the input data (a folder holding
        input images or a BIDS dataset root), except a new pipeline folder
        under a dataset's ``derivatives/``.
    progress : bool, default=True
        Show a tqdm progress bar over sessions.
    motion : MotionQC, None or False, default=None
        Motion rule; None uses ``MotionQC()`` (3 mm / 3°); False skips motion
        QC. Sessions without ``confounds``/``motion`` images are not assessed
        (reported as NaN).
    exclude_motion : bool, default=True
        Skip the extraction of sessions that break the motion rule (they are
        kept in the cohort, flagged ``motion_excluded = 1`` in metadata and
        listed in the report and a warning). False only flags them.
    space : str, default="MNI152NLin2009cAsym"
        ``space-`` entity of the map file names.
    on_error : {"raise", "skip"}, default="raise"
        ``"skip"`` records a failing session (missing image, bad input) in the
        report with the error and continues; the session then has no new
        measures, and a warning lists it.

    Returns
    -------
    Cohort
        A new cohort with the ROI measures, map paths and QC metadata added.
        ``out_dir/extraction_report.tsv`` lists every session with the columns
        ``subject_id, session, status, reason, n_measures, maps, mean_fd,
        max_fd, max_translation_mm, max_rotation_deg`` (``status`` is
        ``extracted``, ``excluded_motion`` or ``failed``).

    Raises
    ------
    ValueError
        ``out_dir`` missing or inside the input dataset.
    DataError, ImageError, ExtractorError
        Bad input in a session (message prefixed with the subject and session).

    Warns
    -----
    PainmarkersWarning
        Sessions excluded for motion or skipped after an error (listed).

    Notes
    -----
    An image read by several extractors of a session (e.g. the BOLD run for
    ALFF and SeedFC) is loaded once per session, so a ``.nii.gz`` is inflated
    once.

    Written files: ``dataset_description.json`` (BIDS derivative, once),
    one NIfTI map per (session, voxelwise extractor) with a JSON sidecar
    (``Sources``, ``Extractor``, ``Feature``, ``Parameters``), and the report; each is
    written to a temporary file in the same folder then renamed, so an
    interrupted run never leaves a half-written file.

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
    >>> cohort = Cohort([Subject("01", "HC", sessions=[Session("pre", images={"bold": bold},
    ...                                                            metadata={"t_r": 2.0})])])
    >>> out = extract(cohort, SeedFC(Sphere("s", (3, 3, 3), 3.0)),
    ...               rois=[Sphere("a", (9, 9, 9), 3.0)], out_dir=tmp / "out", progress=False)
    >>> sorted(out["01"].session("pre").images)
    ['bold', 'seed_fc_s']
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if not isinstance(cohort, Cohort):
        raise TypeError(f"The 'cohort' parameter must be a Cohort. Got {type(cohort).__name__}.")
    items = _check_extractors(extractors)
    roi_list = None if rois is None else check_rois(rois)
    n_jobs = check_n_jobs(n_jobs)
    check_choice(on_error, ("raise", "skip"), "on_error")
    if motion is False:
        motion = None
    elif motion is None:
        motion = MotionQC()
    elif not isinstance(motion, MotionQC):
        raise TypeError(
            f"The 'motion' parameter must be a MotionQC, None or False. Got {motion!r}."
        )
    out = _check_out_dir(out_dir, cohort)
    out.mkdir(parents=True, exist_ok=True)
    description = out / "dataset_description.json"
    if not description.exists():
        import painmarkers

        write_json(description, {
            "Name": "painmarkers feature maps", "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": [{"Name": "painmarkers", "Version": painmarkers.__version__}],
        })

    sessions = list(cohort.iter_sessions())
    if on_error == "skip":
        task = _process_session_safe
    else:
        task = _process_session
    jobs = (delayed(task)(sub.id, ses, items, roi_list, out, motion, exclude_motion, space)
            for sub, ses in sessions)
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    results = list(tqdm(runner(jobs), total=len(sessions), disable=not progress,
                        desc="extract", unit="session"))
    return _assemble(cohort, results, out)


def _process_session_safe(sub_id, ses, *args) -> dict:
    try:
        return _process_session(sub_id, ses, *args)
    except (DataError, ExtractorError, OSError) as exc:
        return {"subject_id": sub_id, "session": ses.label, "measures": [], "images": {},
                "metadata": {}, "status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                "warnings": []}


def _assemble(cohort: Cohort, results: Sequence[dict], out: Path) -> Cohort:
    for r in results:
        for category, message in r.get("warnings", []):
            warnings.warn(f"sub-{r['subject_id']}/ses-{r['session']}: {message}", category,
                          stacklevel=3)
    by_key = {(r["subject_id"], r["session"]): r for r in results}
    subjects = []
    for sub in cohort:
        sessions = []
        for ses in sub.sessions:
            r = by_key[(sub.id, ses.label)]
            ses = dataclasses.replace(
                ses, measures=(*ses.measures, *r["measures"]),
                images={**ses.images, **r["images"]},
                metadata={**ses.metadata, **r["metadata"]},
            )
            sessions.append(ses)
        subjects.append(dataclasses.replace(sub, sessions=tuple(sessions)))
    rows = []
    for r in results:
        md = r["metadata"]
        rows.append({
            "subject_id": r["subject_id"], "session": r["session"], "status": r["status"],
            "reason": r["reason"], "n_measures": len(r["measures"]),
            "maps": ";".join(str(p) for p in r["images"].values()),
            **{k: md.get(k, np.nan) for k in ("mean_fd", "max_fd", "max_translation_mm",
                                               "max_rotation_deg")},
        })
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    write_text(out / "extraction_report.tsv",
               report.to_csv(sep="\t", index=False, na_rep="n/a"))
    excluded = report[report["status"] == "excluded_motion"]
    if len(excluded):
        listed = ", ".join(f"sub-{a}/ses-{b} ({c})" for a, b, c in
                           excluded[["subject_id", "session", "reason"]].itertuples(index=False))
        warnings.warn(f"{len(excluded)} session(s) excluded for head motion and not extracted: "
                      f"{listed}.", PainmarkersWarning, stacklevel=3)
    failed = report[report["status"] == "failed"]
    if len(failed):
        listed = "; ".join(f"sub-{a}/ses-{b}: {c}" for a, b, c in
                           failed[["subject_id", "session", "reason"]].itertuples(index=False))
        warnings.warn(f"{len(failed)} session(s) failed and were skipped: {listed}.",
                      PainmarkersWarning, stacklevel=3)
    return Cohort(subjects)
