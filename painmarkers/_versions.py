"""The one collector of software versions recorded in every result and provenance file."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

__all__ = ["versions"]

#: Distributions whose versions are recorded (the core dependencies, in this order).
PACKAGES = ("numpy", "scipy", "pandas", "nibabel", "nilearn", "statsmodels", "formulaic",
            "pingouin", "scikit-learn", "matplotlib", "joblib")


@cache
def _versions() -> tuple[tuple[str, str], ...]:
    out = [("python", platform.python_version())]
    for name in ("painmarkers", *PACKAGES):
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def versions() -> dict[str, str]:
    """Versions of Python, painmarkers and its core dependencies.

    Returns
    -------
    dict
        ``{"python": "3.11.7", "painmarkers": "0.2.0", "numpy": ..., ...}``, in a
        fixed order; a dependency that is not installed reads ``"not installed"``.
    """
    return dict(_versions())
