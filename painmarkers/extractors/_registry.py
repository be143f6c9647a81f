"""Registry of extractor classes, with lazily loaded third-party plug-ins.

Third-party packages declare their extractors in the ``painmarkers.extractors``
entry-point group, e.g. in their ``pyproject.toml``::

    [project.entry-points."painmarkers.extractors"]
    reho = "mypkg.extractors:ReHo"

Entry points are read only when :func:`get_extractor` or :func:`list_extractors`
is called (never at import), and every plug-in class must pass
:func:`painmarkers.testing.check_extractor` before it is accepted.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from typing import Any

from painmarkers.exceptions import ExtractorError, RegistryError
from painmarkers.extractors._checks import run_extractor_checks

__all__ = ["ENTRY_POINT_GROUP", "get_extractor", "list_extractors", "register_extractor"]

#: Entry-point group scanned for third-party extractors.
ENTRY_POINT_GROUP = "painmarkers.extractors"

#: name -> "module:attribute" of the built-in extractors (imported on first use).
_BUILTINS = {
    "alff": "painmarkers.extractors.alff:ALFF",
    "falff": "painmarkers.extractors.alff:FractionalALFF",
    "seed_fc": "painmarkers.extractors.connectivity:SeedFC",
}

_REGISTRY: dict[str, type] = {}
_ENTRY_POINT_FAILURES: dict[str, str] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            "The 'name' parameter must be a lower-case identifier such as 'alff' or 'my_reho'. "
            f"Got {name!r}."
        )
    return name


def register_extractor(name: str, cls: type, *, overwrite: bool = False) -> type:
    """Register an extractor class under a name, after checking it.

    Parameters
    ----------
    name : str
        Lower-case identifier (``"reho"``).
    cls : type
        A subclass of :class:`~painmarkers.extractors.BaseExtractor`,
        constructible with default parameters.
    overwrite : bool, default=False
        Replace a class already registered under ``name``.

    Returns
    -------
    type
        ``cls``, so that the function can be used as a decorator helper.

    Raises
    ------
    RegistryError
        If ``name`` is taken by another class and ``overwrite`` is False.
    ExtractorError
        If ``cls`` fails :func:`painmarkers.testing.check_extractor` (the
        message says which check).

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.extractors import BaseExtractor
    >>> class TemporalMean(BaseExtractor):
    ...     feature = "tmean"
    ...     input_kind = "bold"
    ...     def compute(self, data, context):
    ...         return data.mean(axis=0)
    >>> _ = register_extractor("tmean", TemporalMean, overwrite=True)
    >>> get_extractor("tmean") is TemporalMean
    True
    """
    _check_name(name)
    current = _REGISTRY.get(name)
    if current is not None and current is not cls and not overwrite:
        raise RegistryError(
            f"An extractor is already registered as {name!r} ({current.__module__}."
            f"{current.__qualname__}); pass overwrite=True to replace it."
        )
    run_extractor_checks(cls)
    _REGISTRY[name] = cls
    return cls


def _load_builtin(name: str) -> type | None:
    target = _BUILTINS.get(name)
    if target is None:
        return None
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    cls = getattr(module, attr, None)
    if cls is not None:
        _REGISTRY.setdefault(name, cls)
    return cls


def _entry_points():
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _load_entry_point(ep) -> type | None:
    importlib.invalidate_caches()
    dist = getattr(getattr(ep, "dist", None), "name", "?")
    try:
        cls = ep.load()
    except Exception as exc:
        _ENTRY_POINT_FAILURES[ep.name] = f"could not be imported ({exc!r})"
        return None
    try:
        register_extractor(ep.name, cls)
    except (ExtractorError, RegistryError, ValueError) as exc:
        _ENTRY_POINT_FAILURES[ep.name] = f"was refused: {exc} (distribution {dist!r})"
        return None
    _ENTRY_POINT_FAILURES.pop(ep.name, None)
    return cls


def get_extractor(name: str) -> type:
    """Return the extractor class registered under ``name``.

    Looks in the registry, then the built-ins (``"alff"``, ``"falff"``,
    ``"seed_fc"``), then the ``painmarkers.extractors`` entry points.

    Parameters
    ----------
    name : str
        Registered name.

    Returns
    -------
    type
        The extractor class (instantiate it with its parameters).

    Raises
    ------
    RegistryError
        Unknown name (the message lists the known names), or a plug-in whose
        entry point failed to import or failed the checks (the message says why).

    Examples
    --------
    >>> get_extractor("seed_fc").__name__
    'SeedFC'
    """
    _check_name(name)
    if name in _REGISTRY:
        return _REGISTRY[name]
    cls = _load_builtin(name)
    if cls is not None:
        return cls
    for ep in _entry_points():
        if ep.name == name:
            cls = _load_entry_point(ep)
            if cls is not None:
                return cls
    if name in _ENTRY_POINT_FAILURES:
        raise RegistryError(f"The plug-in extractor {name!r} {_ENTRY_POINT_FAILURES[name]}.")
    raise RegistryError(f"Unknown extractor {name!r}; known extractors: {list_extractors()}.")


def list_extractors() -> list[str]:
    """Names of the available extractors: registered, built-in and plug-ins.

    Plug-in entry points are listed by name without being imported.

    Returns
    -------
    list of str
        Sorted names.

    Examples
    --------
    >>> "seed_fc" in list_extractors()
    True
    """
    names = set(_REGISTRY)
    names |= {n for n in _BUILTINS if _load_builtin(n) is not None}
    names |= {ep.name for ep in _entry_points()}
    return sorted(names)
