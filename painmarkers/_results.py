"""The protocol every painmarkers result object follows.

Results are frozen dataclasses (``VoxelwiseResult``, ``ClusterResult``,
``BiomarkerEvaluation``, ``ICCMapResult``, ``Smoothness``, ``StudyResult``, ...). Each has

* ``to_frame()`` -> a pandas DataFrame of its numbers,
* ``summary()`` -> a plain-text summary,
* ``save(directory)`` -> ``dict[str, Path]``: every file written, by kind (always a
  dict, whatever the result),
* ``parameters`` -> the parameters that produced it, and ``versions`` -> the software
  versions (:func:`painmarkers._versions.versions`) at the time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["Result", "save_parameters"]


@runtime_checkable
class Result(Protocol):
    """Structural type of a painmarkers result (see the module docstring)."""

    parameters: Mapping[str, Any]
    versions: Mapping[str, str]

    def to_frame(self) -> Any:
        """Return the result's numbers as a DataFrame."""

    def summary(self) -> str:
        """Return a plain-text summary."""

    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the result's files into ``directory``; return them by kind."""


def save_parameters(directory: str | os.PathLike, result: Any,
                    extra: Mapping[str, Any] | None = None,
                    name: str = "parameters.json") -> Path:
    """Write ``{"type", "parameters", "versions", **extra}`` of ``result`` as JSON.

    Parameters
    ----------
    directory : path-like
        Output folder (created if needed).
    result : Result
        The result whose ``parameters`` and ``versions`` are written.
    extra : mapping, optional
        More entries (e.g. numbers of a summary).
    name : str, default="parameters.json"
        File name.

    Returns
    -------
    Path
        The file written.
    """
    from painmarkers._atomic import write_json

    payload = {"type": type(result).__name__, "parameters": dict(result.parameters),
               "versions": dict(result.versions), **dict(extra or {})}
    return write_json(Path(directory) / name, payload)
