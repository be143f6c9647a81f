"""Repetition time of a 4-D image: explicit value, BIDS sidecar or NIfTI header."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from painmarkers._validation import check_img, check_tr
from painmarkers.exceptions import DataError
from painmarkers.extractors._context import image_label

__all__ = ["resolve_t_r"]

#: Header time units (``get_xyzt_units()[1]``) and their factor to seconds.
_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}


def _sidecar_path(path: Path) -> Path:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def _header_t_r(img: Any) -> float | None:
    header = getattr(img, "header", None)
    if header is None or len(img.shape) < 4:
        return None
    zooms = header.get_zooms()
    if len(zooms) < 4 or not np.isfinite(zooms[3]) or zooms[3] <= 0:
        return None
    try:
        unit = header.get_xyzt_units()[1]
    except AttributeError:  # non-NIfTI headers
        unit = "unknown"
    return float(zooms[3]) * _TIME_UNITS.get(unit, 1.0)


def resolve_t_r(img: Any, t_r: float | None = None, name: str = "img",
                rtol: float = 1e-3) -> float:
    """Return the repetition time of a 4-D image, in seconds.

    The repetition time is taken, in order, from ``t_r`` when given, else from
    the BIDS JSON sidecar next to the file (``RepetitionTime``) and the NIfTI
    header (``pixdim[4]`` with its time unit). When both the sidecar and the
    header give a value they must agree.

    Parameters
    ----------
    img : str, path-like or nibabel image
        The 4-D image (a path is needed to find the sidecar).
    t_r : float or None, default=None
        Explicit repetition time in seconds; wins over the header and sidecar.
    name : str, default="img"
        Name used in messages.
    rtol : float, default=1e-3
        Relative tolerance when comparing the header and sidecar values.

    Returns
    -------
    float
        The repetition time in seconds.

    Raises
    ------
    DataError
        If no repetition time can be found, it is zero or negative, or the
        header and sidecar disagree (the message names the file and both values).

    Notes
    -----
    A header TR with unknown units is read as seconds. nibabel writes
    ``pixdim[4] = 1`` by default, so a header without a sidecar may hold a
    placeholder: give ``t_r`` explicitly when in doubt.

    Examples
    --------
    >>> resolve_t_r("unused.nii.gz", t_r=2.0)
    2.0
    """
    label = image_label(img, name)
    if t_r is not None:
        return check_tr(t_r, "t_r")
    path = Path(img) if isinstance(img, str | PathLike) else None
    if path is None:
        filename = getattr(img, "get_filename", lambda: None)()
        path = Path(filename) if filename else None
    sidecar_tr = None
    if path is not None:
        sidecar = _sidecar_path(path)
        if sidecar.exists():
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(
                    f"Could not read the JSON sidecar {str(sidecar)!r}: {exc}"
                ) from exc
            if "RepetitionTime" in meta:
                sidecar_tr = check_tr(meta["RepetitionTime"], "RepetitionTime",
                                      source=str(sidecar))
    if isinstance(img, str | PathLike):
        img = check_img(img, name=name)
    header_tr = _header_t_r(img)
    if sidecar_tr is not None and header_tr is not None:
        if not np.isclose(sidecar_tr, header_tr, rtol=rtol, atol=0):
            raise DataError(
                f"{label}: the repetition time in the NIfTI header ({header_tr:g} s) and in the "
                f"JSON sidecar ({sidecar_tr:g} s) disagree; give 't_r' explicitly."
            )
        return sidecar_tr
    if sidecar_tr is not None:
        return sidecar_tr
    return check_tr(header_tr, "t_r", source=f"the header of {label}")
