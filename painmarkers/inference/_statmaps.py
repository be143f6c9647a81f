"""What kind of statistic a map holds, and with which degrees of freedom (private).

A t map thresholded as a z map gives wrong clusters without any error, so every statistic
map painmarkers writes says what it is, in the three places other tools look:

* the NIfTI intent code (``NIFTI_INTENT_TTEST`` with ``p1 = df``, ``NIFTI_INTENT_ZSCORE``,
  ``NIFTI_INTENT_FTEST`` with ``p1, p2 = df1, df2``), as the NIfTI-1 standard defines them;
* the header's ``descrip`` field in SPM's and DPABI's convention, ``{T_[23.0]}`` (also
  ``{F_[1.0,23.0]}``, ``{Z_[0.0]}``, ``{R_[23.0]}``), followed by DPABI's smoothness
  ``{dLh_...}{FWHMx_...FWHMy_...FWHMz_...mm}`` when it is known, so DPABI's
  ``y_GRF_Threshold`` reads our maps as its own;
* a JSON sidecar next to the file (``tmap.nii.gz`` -> ``tmap.json``) with ``stat``, ``df``
  and, at full precision, the residual smoothness.

A t or F map whose (denominator) df vary over voxels (Satterthwaite or Kenward-Roger df of
:func:`~painmarkers.inference.voxelwise_lmm`) says so in all three places: intent code
without df (``p1 = 0``), descrip ``{T_[voxelwise]}`` / ``{F_[2.0,voxelwise]}`` and sidecar
``"df_voxelwise": true`` (with the df map's file name); :class:`StatInfo` then has
``df_voxelwise=True`` and GRF refuses the map (it needs one df for the field).

:func:`read_stat_info` reads all three and refuses a header whose sources disagree. The
descrip convention was learnt from DPABI's documentation and outputs; the parsing here is
written from that description (no DPABI code is reproduced).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from painmarkers.exceptions import DataError

__all__ = ["StatInfo", "check_df", "read_stat_info", "sidecar_path", "stat_sidecar",
           "tag_stat_img"]

#: Statistic kinds a map can carry.
STAT_KINDS = ("t", "z", "F")
#: The df of a map whose df vary over voxels (descrip and :func:`tag_stat_img`).
VOXELWISE = "voxelwise"
_INTENT_OF = {"t": "t test", "z": "z score", "F": "f test"}
_KIND_OF_INTENT = {v: k for k, v in _INTENT_OF.items()}
_DESCRIP_LETTER = {"t": "T", "z": "Z", "F": "F"}
_DESCRIP_MAX = 80  # bytes of the NIfTI-1 descrip field
_STAT_RE = re.compile(r"\{([TFZR])_\[([^\]]*)\]\}")
_SMOOTH_RE = re.compile(r"\{dLh_([^}]*)\}\{FWHMx_(.*?)FWHMy_(.*?)FWHMz_(.*?)mm\}")


@dataclass(frozen=True)
class StatInfo:
    """What the header and sidecar of a map say about it (any field may be unknown)."""

    stat: str | None = None
    df: Any = None
    source: str | None = None
    dlh: float | None = None
    fwhm_mm: tuple[float, float, float] | None = None
    smoothness: dict | None = None
    n_zero_variance: int | None = None
    df_voxelwise: bool = False


def check_df(stat: str, df: Any, name: str = "df"):
    """Validate the degrees of freedom of a ``stat`` map: a float for t, a pair for F."""
    if stat == "z":
        return None if df is None else _positive(df, name)
    if stat == "t":
        if df is None:
            raise ValueError(f"The {name!r} parameter is required when stat='t'.")
        return _positive(df, name)
    if df is None or np.ndim(df) != 1 or len(df) != 2:
        raise ValueError(
            f"The {name!r} parameter of an F map must be a pair (df1, df2). Got {df!r}.")
    return (_positive(df[0], f"{name}[0]"), _positive(df[1], f"{name}[1]"))


def _positive(value: Any, name: str) -> float:
    from painmarkers._validation import check_interval

    return float(check_interval(value, name, 0, None, closed="neither"))


def _df_text(value: Any) -> str:
    return VOXELWISE if isinstance(value, str) and value == VOXELWISE else f"{float(value):.1f}"


def _descrip(stat: str, df: Any, smoothness: Any) -> str:
    if stat == "F":
        dfs = f"{_df_text(df[0])},{_df_text(df[1])}"
    else:
        dfs = _df_text(0.0 if df is None else df)
    text = f"painmarkers{{{_DESCRIP_LETTER[stat]}_[{dfs}]}}"
    if smoothness is not None:
        fx, fy, fz = smoothness.fwhm_mm
        longer = (f"{text}{{dLh_{smoothness.dlh:.6g}}}"
                  f"{{FWHMx_{fx:.3f}FWHMy_{fy:.3f}FWHMz_{fz:.3f}mm}}")
        if len(longer) <= _DESCRIP_MAX:
            text = longer
    return text


def tag_stat_img(img: Any, stat: str, df: Any = None, smoothness: Any = None) -> Any:
    """Set the NIfTI intent code and the SPM/DPABI descrip of a statistic map, in place.

    ``stat`` is ``"t"`` (``df`` a number), ``"z"`` (``df`` ignored) or ``"F"`` (``df`` a
    pair). ``df="voxelwise"`` (t) or ``(df1, "voxelwise")`` (F) marks df that vary over
    voxels: the intent code then carries no df and the descrip says ``voxelwise``.
    ``smoothness`` (a :class:`Smoothness`) adds DPABI's ``{dLh_}{FWHM..mm}``.
    Returns ``img``.
    """
    header = img.header
    voxelwise = VOXELWISE in ([df] if stat == "t" else list(df) if stat == "F" else [])
    if stat in ("t", "F") and voxelwise:
        header.set_intent(_INTENT_OF[stat], (), name=stat)
    elif stat == "t":
        header.set_intent(_INTENT_OF["t"], (float(df),), name="t")
    elif stat == "F":
        header.set_intent(_INTENT_OF["F"], (float(df[0]), float(df[1])), name="F")
    else:
        header.set_intent(_INTENT_OF["z"], (), name="z")
    header["descrip"] = _descrip(stat, df, smoothness)
    return img


def stat_sidecar(stat: str, df: Any = None, smoothness: Any = None, **extra: Any) -> dict:
    """The JSON sidecar of a statistic map: ``stat``, ``df``, smoothness and ``extra``."""
    out: dict[str, Any] = {"stat": stat, "df": None if df is None else (
        [float(d) for d in df] if stat == "F" else float(df))}
    if smoothness is not None:
        out["smoothness"] = smoothness.to_dict()
    out.update(extra)
    return out


def sidecar_path(path: str | os.PathLike) -> Path:
    """``x.nii.gz`` / ``x.nii`` / ``x.img`` -> ``x.json`` (the BIDS sidecar of an image)."""
    p = Path(path)
    name = p.name
    for ext in (".nii.gz", ".nii", ".img.gz", ".img", ".hdr", ".gz"):
        if name.endswith(ext):
            return p.with_name(name[: -len(ext)] + ".json")
    return p.with_name(name + ".json")


def _numbers(text: str) -> list[float]:
    parts = [p for p in re.split(r"[ _\-,:;]+", text.strip()) if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        return []


def _from_intent(header: Any) -> tuple[str | None, Any]:
    if not hasattr(header, "get_intent"):
        return None, None
    try:
        code, params, _ = header.get_intent()
    except Exception:  # unknown intent codes make nibabel raise
        return None, None
    kind = _KIND_OF_INTENT.get(code)
    if kind == "t":
        return "t", float(params[0]) if params and params[0] > 0 else None
    if kind == "F":
        ok = len(params) >= 2 and params[0] > 0 and params[1] > 0
        return "F", (float(params[0]), float(params[1])) if ok else None
    return kind, None


def _from_descrip(header: Any, label: str):
    try:
        raw = header["descrip"]
    except (KeyError, ValueError):
        return None, None, None, None
    text = raw.tobytes().decode("latin-1") if hasattr(raw, "tobytes") else str(raw)
    text = text.split("\x00")[0]
    stat = df = dlh = fwhm = None
    hits = _STAT_RE.findall(text)
    if len(hits) == 1:
        letter, nums = hits[0]
        if VOXELWISE in nums and letter in "TF":
            df = VOXELWISE
        values = _numbers(nums)
        if letter == "R":
            raise DataError(
                f"{label} is a correlation (r) map ({{R_[...]}} in its descrip, as DPABI "
                "writes): convert it to t = r·sqrt(df / (1 − r²)) first.")
        stat = {"T": "t", "Z": "z", "F": "F"}[letter]
        if df == VOXELWISE:
            pass
        elif stat == "t" and values and values[0] > 0:
            df = values[0]
        elif stat == "F" and len(values) >= 2 and values[0] > 0 and values[1] > 0:
            df = (values[0], values[1])
    smooth = _SMOOTH_RE.findall(text)
    if len(smooth) == 1:
        values = [_numbers(v) for v in smooth[0]]
        if values[0] and math.isfinite(values[0][0]) and values[0][0] > 0:
            dlh = values[0][0]
            f = [v[0] if v else 0.0 for v in values[1:]]
            fwhm = tuple(f) if all(math.isfinite(x) and x > 0 for x in f) else None
    return stat, df, dlh, fwhm


def _from_sidecar(path: Path | None) -> dict:
    if path is None:
        return {}
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        payload = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"Could not read the sidecar {str(side)!r} of {str(path)!r}: {exc}") \
            from exc
    if not isinstance(payload, dict) or payload.get("stat") not in STAT_KINDS:
        return {}  # a sidecar of something else (e.g. BIDS metadata without 'stat')
    payload["_path"] = str(side)
    return payload


def _same_df(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return True
    # SPM and DPABI print df with one decimal; float32 intent parameters
    return bool(np.allclose(np.atleast_1d(a), np.atleast_1d(b), rtol=1e-6, atol=0.051))


def read_stat_info(img: Any, path: str | os.PathLike | None = None,
                   label: str = "stat_img") -> StatInfo:
    """Statistic kind, df and smoothness a map's intent code, descrip and sidecar declare.

    Raises
    ------
    DataError
        When two sources disagree (e.g. intent t with 23 df, sidecar z), or the descrip
        marks an r map.
    """
    header = img.header
    found: list[tuple[str, str, Any]] = []
    stat, df = _from_intent(header)
    if stat is not None:
        found.append(("NIfTI intent code", stat, df))
    side = _from_sidecar(None if path is None else Path(path))
    if side:
        sdf = side.get("df")
        sdf = tuple(sdf) if isinstance(sdf, list) else sdf
        found.append((f"sidecar {side['_path']}", side["stat"], sdf))
    d_stat, d_df, dlh, fwhm = _from_descrip(header, label)
    voxelwise = bool(side.get("df_voxelwise")) if side else False
    if d_df == VOXELWISE:
        voxelwise, d_df = True, None
    if d_stat is not None:
        found.append(("descrip (SPM/DPABI convention)", d_stat, d_df))
    if not found:
        return StatInfo(dlh=dlh, fwhm_mm=fwhm, df_voxelwise=voxelwise)
    source, stat, df = found[0]
    for other, o_stat, o_df in found[1:]:
        if o_stat != stat or not _same_df(df, o_df):
            raise DataError(
                f"The header of {label} contradicts itself: its {source} says "
                f"stat={stat!r}, df={df!r} but its {other} says stat={o_stat!r}, df={o_df!r}.")
        if df is None:
            df = o_df
    return StatInfo(stat=stat, df=df, source=", ".join(s for s, *_ in found), dlh=dlh,
                    fwhm_mm=fwhm, smoothness=side.get("smoothness") if side else None,
                    n_zero_variance=side.get("n_zero_variance") if side else None,
                    df_voxelwise=voxelwise)
