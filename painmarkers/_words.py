"""Values in words for captions, summaries and methods text (no brackets, quotes or reprs)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["plain"]


def plain(value: Any) -> str:
    """A parameter value in words: lists joined with "and", no brackets, quotes or reprs.

    Parameters
    ----------
    value : any
        A provenance value (str, number, bool, None, list, dict, or an object
        with a ``name``).

    Returns
    -------
    str

    Examples
    --------
    >>> from painmarkers._words import plain
    >>> plain(["motion", "csf"]), plain({"CLBP": "pre", "HC": "baseline"}), plain(0.010)
    ('motion and csf', 'CLBP: pre, HC: baseline', '0.01')
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "none" if math.isnan(value) else f"{value:g}"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{plain(k)}: {plain(v)}" for k, v in value.items())
    if isinstance(value, Sequence):
        items = [plain(v) for v in value]
        if not items:
            return "none"
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    name = getattr(value, "name", None)
    return str(name) if isinstance(name, str) else type(value).__name__
