"""Input validation shared by every painmarkers module.

Each check takes the parameter's name so that its message reads like
``"The 't_r' parameter must be > 0. Got 0."``. Nothing here uses ``assert``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers.exceptions import DataError, ImageError

__all__ = [
    "ALTERNATIVES",
    "check_alternative",
    "check_array_finite",
    "check_choice",
    "check_columns",
    "check_confidence",
    "check_img",
    "check_interval",
    "check_n_jobs",
    "check_positive_int",
    "check_random_state",
    "check_same_grid",
    "check_tr",
    "image_read_error",
]


def check_choice(value: Any, choices: Iterable[Any], name: str) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ValueError."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(
            f"The {name!r} parameter must be one of {', '.join(map(repr, choices))}. "
            f"Got {value!r}."
        )
    return value


#: The alternative hypotheses of a test.
ALTERNATIVES = ("two-sided", "greater", "less")


def check_alternative(alternative: Any) -> str:
    """Return ``alternative`` if it is ``"two-sided"``, ``"greater"`` or ``"less"``."""
    return check_choice(alternative, ALTERNATIVES, "alternative")


def check_confidence(confidence: Any, name: str = "confidence") -> float:
    """Return a confidence level as a float in the open interval (0, 1)."""
    return check_interval(confidence, name, 0, 1, closed="neither")


def check_interval(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: str = "both",
) -> float:
    """Return ``value`` as float if it is a real number inside the interval.

    Parameters
    ----------
    value : float
        The value to check.
    name : str
        Name of the parameter, used in the message.
    low, high : float or None, default=None
        Bounds; None means unbounded.
    closed : {"both", "left", "right", "neither"}, default="both"
        Which bounds are included.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The {name!r} parameter must be a real number. Got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"The {name!r} parameter must be finite. Got {value!r}.")
    left_ok = low is None or (value >= low if closed in ("both", "left") else value > low)
    right_ok = high is None or (value <= high if closed in ("both", "right") else value < high)
    if not (left_ok and right_ok):
        lb = "[" if closed in ("both", "left") else "("
        rb = "]" if closed in ("both", "right") else ")"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"The {name!r} parameter must be in {lb}{lo}, {hi}{rb}. Got {value!r}.")
    return value


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The {name!r} parameter must be an integer. Got {value!r}.")
    if value < minimum:
        raise ValueError(f"The {name!r} parameter must be >= {minimum}. Got {value!r}.")
    return int(value)


def check_random_state(seed: Any) -> np.random.Generator:
    """Turn ``seed`` (None, int, Generator or RandomState) into a Generator."""
    if seed is None or isinstance(seed, numbers.Integral | np.integer):
        return np.random.default_rng(None if seed is None else int(seed))
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**31 - 1))
    raise TypeError(
        f"The 'random_state' parameter must be None, an int or a numpy Generator. Got {seed!r}."
    )


def check_n_jobs(n_jobs: Any) -> int | None:
    """Validate a joblib ``n_jobs`` value (None, or a non-zero int)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"The 'n_jobs' parameter must be None or a non-zero int. Got {n_jobs!r}.")
    return int(n_jobs)


def check_tr(t_r: Any, name: str = "t_r", source: str | None = None) -> float:
    """Return a repetition time in seconds, refusing missing, zero or negative values."""
    where = f" (from {source})" if source else ""
    if t_r is None:
        raise DataError(
            f"The repetition time {name!r}{where} is missing: give it explicitly, "
            "or provide it in the image header or the BIDS JSON sidecar (RepetitionTime)."
        )
    try:
        value = float(t_r)
    except (TypeError, ValueError):
        raise DataError(f"The {name!r} parameter{where} must be a number. Got {t_r!r}.") from None
    if not np.isfinite(value) or value <= 0:
        raise DataError(f"The {name!r} parameter{where} must be > 0 seconds. Got {t_r!r}.")
    if value > 100:
        raise DataError(
            f"The {name!r} parameter{where} is {value!r} seconds; a repetition time above "
            "100 s looks like milliseconds. Give it in seconds."
        )
    return value


#: Bytes of a NIfTI-1 header (a NIfTI-2 header is 540).
_NIFTI_HEADER_BYTES = 348


def _damage(path: Path) -> str | None:
    """What is wrong with the bytes of a ``.nii`` / ``.nii.gz`` file, or None if nothing shows.

    Reads at most the header (inflated by the one gzip opener for ``.gz``); used only
    after nibabel has failed, to tell a truncated or damaged file from other failures.
    """
    from painmarkers._gzip import open_binary

    lower = path.name.lower()
    if not lower.endswith((".nii", ".nii.gz")):
        return None
    try:
        if path.stat().st_size == 0:
            return "the file is empty"
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except OSError:
        return None
    if lower.endswith(".gz") and magic != b"\x1f\x8b":
        return ("the file is named .gz but is not a gzip stream: it is damaged or not a "
                "compressed NIfTI image")
    try:
        with open_binary(path) as stream:
            head = stream.read(_NIFTI_HEADER_BYTES)
    except Exception as exc:  # gzip/zlib/isal raise EOFError, OSError, zlib.error, ...
        return f"the file is truncated or damaged (its gzip stream: {exc})"
    if len(head) < _NIFTI_HEADER_BYTES:
        return (f"the file is truncated inside its NIfTI header ({len(head)} of "
                f"{_NIFTI_HEADER_BYTES} header bytes)")
    if head[:4] not in (b"\x5c\x01\x00\x00", b"\x00\x00\x01\x5c",
                        b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c"):
        return ("its first bytes are not a NIfTI header: the file is damaged or not a NIfTI "
                "image")
    return None


def image_read_error(path: str | PathLike, name: str | None, exc: BaseException, *,
                     part: str = "the image") -> ImageError:
    """The error for an image file that could not be read: names it and says why.

    Parameters
    ----------
    path : str or path-like
        The file.
    name : str or None
        The parameter or role of the image, for the message.
    exc : Exception
        What the reader (nibabel, gzip) raised.
    part : str, default="the image"
        What could not be read (``"the header of"``).

    Returns
    -------
    ImageError
        Names the file and says that it is empty, truncated or damaged when its
        bytes show it (the reader's own message, e.g. nibabel's "Cannot work out
        file type", is kept after it).
    """
    path = Path(path)
    reason = _damage(path)
    what = f"{part} {str(path)!r}" + (f" given as {name!r}" if name else "")
    if reason is None:
        return ImageError(f"Could not read {what}: {exc}")
    said = "" if str(exc) in reason else f" (the reader said: {exc})"
    return ImageError(f"Could not read {what}: {reason}; re-create or re-download it{said}.")


def check_img(img: Any, ndim: int | None = None, name: str = "img"):
    """Load ``img`` (path or image) as a nibabel image of known dimensionality.

    Parameters
    ----------
    img : str, path-like or nibabel image
        The image.
    ndim : {3, 4} or None, default=None
        Required number of dimensions. A 4-D image with one volume is accepted
        as 3-D; a 3-D image is never accepted as 4-D.
    name : str, default="img"
        Name used in messages.

    Returns
    -------
    nibabel.spatialimages.SpatialImage

    Raises
    ------
    ImageError
        A missing file, a file that is empty, truncated or damaged (named, with
        what is wrong), or an image of the wrong dimensionality.
    TypeError
        ``img`` is neither a path nor an image.
    """
    import nibabel as nib

    label = name
    if isinstance(img, str | PathLike):
        path = Path(img)
        label = f"{name} ({path})"
        if not path.exists():
            raise ImageError(f"The image file {str(path)!r} given as {name!r} does not exist.")
        if not path.is_file():
            raise ImageError(f"The image {str(path)!r} given as {name!r} is not a file.")
        try:
            img = nib.load(path)
        except Exception as exc:  # nibabel raises several types
            raise image_read_error(path, name, exc) from None
    if not hasattr(img, "affine") or not hasattr(img, "shape"):
        raise TypeError(f"The {name!r} parameter must be a path or a nibabel image. Got {img!r}.")
    shape = img.shape
    if ndim is not None:
        if ndim == 3 and len(shape) == 4 and shape[3] == 1:
            img = img.slicer[..., 0]
        elif len(shape) != ndim:
            raise ImageError(
                f"{label} must be a {ndim}-D image; it is {len(shape)}-D with shape {shape}."
            )
    return img


def check_same_grid(img_a, img_b, name_a: str = "img", name_b: str = "mask_img",
                    atol: float = 1e-3) -> None:
    """Raise ImageError if two images do not share their 3-D shape and affine."""
    if tuple(img_a.shape[:3]) != tuple(img_b.shape[:3]):
        raise ImageError(
            f"{name_a} has shape {tuple(img_a.shape[:3])} but {name_b} has shape "
            f"{tuple(img_b.shape[:3])}; resample one onto the other's grid first."
        )
    if not np.allclose(img_a.affine, img_b.affine, atol=atol):
        raise ImageError(
            f"{name_a} and {name_b} have different affines:\n{np.round(img_a.affine, 4)}\n"
            f"vs\n{np.round(img_b.affine, 4)}; resample one onto the other's grid first."
        )


def check_array_finite(array: Any, name: str) -> np.ndarray:
    """Return ``array`` as float ndarray, raising DataError if it holds NaN or inf."""
    arr = np.asarray(array, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (first at index {first})."
        )
    return arr


def check_columns(frame: pd.DataFrame, columns: Sequence[str] | str, name: str = "data") -> None:
    """Raise DataError listing the columns of ``columns`` that ``frame`` lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"The {name!r} parameter must be a pandas DataFrame. Got {type(frame)}.")
    if isinstance(columns, str):
        columns = [columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name} lacks the column(s) {missing}; it has {list(frame.columns)}."
        )
