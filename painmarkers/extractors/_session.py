"""One session of the cohort driver: motion QC, then every extractor through its public protocol.

Everything here runs in a worker (a joblib process or a dask worker): the functions are
module-level and the :class:`Plan` is a picklable value. Warnings are recorded and sent
back with the result, so that the calling process can re-emit them.
"""

from __future__ import annotations

import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from painmarkers._atomic import atomic_write, write_json
from painmarkers._validation import check_img
from painmarkers.exceptions import DataError, ExtractorError, PainmarkersError
from painmarkers.extractors._context import ImageContext
from painmarkers.extractors.base import resolve_t_r
from painmarkers.extractors.maps import roi_summary
from painmarkers.extractors.motion import MotionQC
from painmarkers.model import ROIMeasure

__all__ = ["MASK_FROM_DATA", "Plan", "map_filename", "process_session"]

_PROVENANCE_SKIP = {"mask_img", "t_r", "rois"}  # the ROI is in each ROIMeasure
#: ``mask_source`` of a session whose brain mask had to be computed from the data.
MASK_FROM_DATA = "computed from the data"
#: Errors that ``on_error="skip"`` records instead of raising (bad input of one session).
_SKIPPABLE = (PainmarkersError, OSError, EOFError, ValueError, zlib.error)


@dataclass(frozen=True)
class Plan:
    """What every session does (sent once to each worker)."""

    extractors: tuple
    rois: tuple | None
    out_dir: Path
    motion: MotionQC | None
    exclude_motion: bool
    space: str
    on_error: str


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


def provenance(est: Any) -> str:
    """``"ALFF(band=(0.01, 0.1))"``: the class and its non-default parameters."""
    params = est.get_params(deep=False)
    try:
        defaults = type(est)().get_params(deep=False)
    except Exception:  # not default-constructible: show every parameter
        defaults = {}
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


def image_kind(est: Any) -> str:
    """The session image an extractor reads (``image_kind``, default ``"bold"``)."""
    return getattr(est, "image_kind", None) or "bold"


def _session_image(ses, kind: str, where: str) -> Path:
    if kind not in ses.images:
        raise DataError(
            f"{where} has no {kind!r} image (it has {sorted(ses.images)}); add it to "
            "Session.images or drop the extractor."
        )
    return Path(ses.images[kind])


def _has_own_mask(est: Any) -> bool:
    """Whether the extractor, or an extractor it wraps (ROIExtractor), has a mask_img."""
    return any(value is not None for key, value in est.get_params(deep=True).items()
               if key == "mask_img" or key.endswith("__mask_img"))


def _with_session_defaults(est: Any, ses, rois, notes: dict) -> Any:
    """A clone with the session's brain mask (and the driver's ROIs for ROI plug-ins)."""
    est = clone(est)
    params = est.get_params(deep=False)
    if getattr(est, "requires_mask", False) and "mask_img" in params:
        if _has_own_mask(est):
            source = "extractor's mask_img"
        elif "mask" in ses.images:
            est.set_params(mask_img=ses.images["mask"])
            source = "session"
        else:
            source = MASK_FROM_DATA
        notes["masks"].append(source)
    if (getattr(est, "output", "voxels") == "rois" and "rois" in params
            and params["rois"] is None and rois is not None):
        est.set_params(rois=rois)
    return est


def _session_confounds(est, ses) -> Any:
    """The session's confounds file for an extractor that uses confounds, or None.

    A whole fMRIPrep confounds table (hundreds of columns: cosines, CompCor, outlier
    spikes) is not a nuisance model: an extractor with a ``confounds_strategy``
    parameter gets the file only when a strategy selects columns from it.
    """
    inner = getattr(est, "extractor_", est)
    if not getattr(inner, "accepts_confounds", False):
        return None
    params = inner.get_params(deep=False)
    if "confounds_strategy" in params and params["confounds_strategy"] is None:
        return None
    return ses.images.get("confounds")


def _explicit_t_r(est, ses) -> float | None:
    """The extractor's own TR, else the session's ``t_r`` metadata, else None."""
    own = getattr(getattr(est, "extractor_", est), "t_r", None)
    if own is not None:
        return own
    return ses.metadata.get("t_r", ses.metadata.get("RepetitionTime"))


def _n_volumes(path: Path) -> int | None:
    img = check_img(path, name="bold")
    return int(img.shape[3]) if len(img.shape) == 4 else None


def _motion(plan: Plan, sub_id: str, ses, where: str, result: dict) -> None:
    source = ses.images.get("confounds", ses.images.get("motion"))
    if plan.motion is None:
        result["notes"]["motion_qc"] = "off"
        return
    if source is None:
        result["notes"]["motion_qc"] = "not assessed: no confounds or motion file"
        return
    report = plan.motion.assess(source, name=f"motion of {where}")
    bold = ses.images.get("bold")
    n_vol = _n_volumes(Path(bold)) if bold is not None else None
    if n_vol is not None and report.n_volumes != n_vol:
        raise DataError(
            f"the motion parameters {str(source)!r} have {report.n_volumes} rows but the BOLD "
            f"run {str(bold)!r} has {n_vol} volumes: motion QC would assess the wrong "
            "volumes. Use the confounds file of this run (one row per volume)."
        )
    result["notes"]["motion_qc"] = "assessed"
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
        if plan.exclude_motion:
            result["status"] = "excluded_motion"


def _run_one(est, sub_id: str, ses, where: str, plan: Plan, result: dict, cache: dict) -> None:
    est = _with_session_defaults(est, ses, plan.rois, result["notes"])
    kind = image_kind(est)
    image = _session_image(ses, kind, where)
    est.fit(image)
    t_r = None
    if est.input_kind == "bold":
        # resolved once (parameter, session metadata, BIDS sidecar or header), passed to
        # the extractor and recorded in the map's sidecar
        t_r = resolve_t_r(image, _explicit_t_r(est, ses), name=kind)
    context = ImageContext(image, name=kind, subject=sub_id, session=ses.label, t_r=t_r,
                           confounds=_session_confounds(est, ses),
                           mask_img=getattr(getattr(est, "extractor_", est), "mask_img_", None),
                           cache=cache)
    values = est.transform_image(context)
    feature = est.get_feature_name()
    if est.output == "rois":
        made_by = provenance(getattr(est, "extractor_", est))
        for roi, value in zip(est.rois_, values):
            result["measures"].append(ROIMeasure(roi.name, feature, float(value), made_by))
        return
    feature_map = est.inverse_transform(values)
    path = plan.out_dir / map_filename(sub_id, ses.label, feature, est.input_kind, plan.space)
    atomic_write(path, feature_map.to_filename, suffix=".nii.gz")
    sidecar = {"Sources": [str(image)], "Extractor": provenance(est), "Feature": feature,
               "Parameters": est.get_params(deep=False)}
    if t_r is not None:
        sidecar["RepetitionTime"] = t_r
    write_json(_sidecar_path(path), sidecar)
    result["images"][feature] = path
    if plan.rois is not None:
        roi_values = roi_summary(feature_map, plan.rois, summary="mean", mask_img=est.mask_img_,
                                 name=f"{feature} map")
        made_by = provenance(est)
        for roi, value in zip(plan.rois, roi_values):
            result["measures"].append(ROIMeasure(roi.name, feature, float(value), made_by))


def _sidecar_path(path: Path) -> Path:
    """The JSON sidecar of a ``.nii.gz`` map."""
    return path.with_name(path.name[: -len(".nii.gz")] + ".json")


def _empty_result(sub_id: str, ses) -> dict:
    return {"subject_id": sub_id, "session": ses.label, "measures": [], "images": {},
            "metadata": {}, "status": "extracted", "reason": "",
            "notes": {"masks": [], "motion_qc": ""}}


def _discard_outputs(result: dict) -> None:
    """Remove the maps a failed session had already written (they are not registered)."""
    for path in result["images"].values():
        for p in (path, _sidecar_path(path)):
            p.unlink(missing_ok=True)
    result["images"] = {}
    result["measures"] = []


def process_session(sub_id: str, ses, plan: Plan) -> dict:
    """Run motion QC and every extractor on one session; return its result record.

    With ``plan.on_error == "skip"`` a bad input (unreadable or corrupt image, wrong
    TR, confounds that do not match the run, ...) is recorded as ``status = "failed"``
    with the error as ``reason``; otherwise it is raised, prefixed with the subject and
    session. Warnings raised here would be lost in worker processes: they are recorded
    and returned (``result["warnings"]``) for the caller to re-emit.
    """
    where = f"Subject {sub_id!r} session {ses.label!r}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _empty_result(sub_id, ses)
        try:
            _motion(plan, sub_id, ses, where, result)
            if result["status"] != "excluded_motion":
                cache: dict = {}  # masked data read once per session and image
                for est in plan.extractors:
                    _run_one(est, sub_id, ses, where, plan, result, cache)
        except _SKIPPABLE as exc:
            if plan.on_error == "raise":
                if isinstance(exc, DataError | ExtractorError | PainmarkersError):
                    raise type(exc)(f"{where}: {exc}") from exc
                raise
            _discard_outputs(result)
            result.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    result["warnings"] = [(w.category, str(w.message)) for w in caught]
    return result
