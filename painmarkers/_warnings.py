"""The one helper that points painmarkers warnings at the user's line of code."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["user_stacklevel", "warn"]

_INTERNAL_PACKAGES = ("painmarkers", "sklearn", "joblib", "pandas", "numpy", "scipy",
                      "nilearn", "nibabel")


def _internal_dirs() -> tuple[str, ...]:
    dirs = []
    for name in _INTERNAL_PACKAGES:
        mod = sys.modules.get(name)
        path = getattr(mod, "__file__", None) if mod is not None else None
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return tuple(dirs)


def user_stacklevel() -> int:
    """Stack level, for :func:`warnings.warn` called by the caller, of the first user frame.

    The first frame outside painmarkers and the libraries it drives (scikit-learn,
    joblib, pandas, numpy, scipy, nilearn, nibabel) is the user's: a warning raised
    with this level is reported at the line of the user's script that led to it,
    however deep inside the library it was raised.

    Returns
    -------
    int
        The level to pass as ``stacklevel`` by the function that calls this one.
    """
    internal = _internal_dirs()
    frame = sys._getframe(1)  # the caller of user_stacklevel, i.e. the function that warns
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(internal):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] | None = None) -> None:
    """Emit ``message`` as ``category`` (default PainmarkersWarning) at the user's line.

    Parameters
    ----------
    message : str
        The warning text.
    category : type of Warning, optional
        Defaults to :class:`painmarkers.PainmarkersWarning`.
    """
    if category is None:
        from painmarkers.exceptions import PainmarkersWarning

        category = PainmarkersWarning
    # user_stacklevel() counts from this frame, the one that calls warnings.warn.
    warnings.warn(message, category, stacklevel=user_stacklevel())
