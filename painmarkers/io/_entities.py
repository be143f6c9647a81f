"""Parser of BIDS file names: ``sub-01_ses-pre_task-rest_desc-preproc_bold.nii.gz``.

A BIDS file name is a chain of ``key-value`` entities joined by ``_``, then a
suffix, then an extension that starts at the first ``.``. Keys are lower-case
letters and digits; values are letters and digits. This module turns a name into
a :class:`BIDSName` and refuses names that do not follow the rule, naming the file
and the offending piece, instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

from painmarkers.exceptions import BIDSError

__all__ = ["ENTITY_ORDER", "BIDSName", "parse_bids_name"]

#: Entities of the BIDS specification (1.10) in their canonical order. Derivative
#: pipelines add a few more (``from``, ``to``, ``mode``, ...), which are accepted too.
ENTITY_ORDER = (
    "sub", "ses", "sample", "task", "tracksys", "acq", "nuc", "voi", "ce", "trc", "stain",
    "rec", "dir", "run", "mod", "echo", "flip", "inv", "mt", "part", "proc", "hemi", "space",
    "split", "recording", "chunk", "seg", "res", "den", "label", "desc",
)

_KEY = re.compile(r"^[a-z][a-zA-Z0-9]*$")
_VALUE = re.compile(r"^[a-zA-Z0-9]+$")
_SUFFIX = re.compile(r"^[a-zA-Z0-9]+$")
_EXTENSION = re.compile(r"^(\.[a-zA-Z0-9]+)+$")


@dataclass(frozen=True)
class BIDSName:
    """The parts of a BIDS file name.

    Parameters
    ----------
    entities : mapping of str to str
        ``key -> value`` in file order, e.g. ``{"sub": "01", "task": "rest"}``.
    suffix : str, default=""
        The part after the last entity, e.g. ``"bold"``, ``"T1w"``, ``"mask"``.
    extension : str, default=""
        Everything from the first dot, e.g. ``".nii.gz"``, ``".json"``, ``".tsv"``.

    Examples
    --------
    >>> from painmarkers.io import parse_bids_name
    >>> name = parse_bids_name("sub-01_ses-pre_task-rest_desc-preproc_bold.nii.gz")
    >>> name.get("ses"), name.suffix, name.extension
    ('pre', 'bold', '.nii.gz')
    """

    entities: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    suffix: str = ""
    extension: str = ""

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of entity ``key`` (``default`` when absent).

        Parameters
        ----------
        key : str
            Entity key, e.g. ``"sub"``, ``"ses"``, ``"task"``.
        default : object, default=None
            Returned when the name has no such entity.

        Returns
        -------
        str or object
            The entity's value (a label, without its key) or ``default``.

        Examples
        --------
        >>> from painmarkers.io import parse_bids_name
        >>> name = parse_bids_name("sub-01_task-rest_bold.nii.gz")
        >>> name.get("task"), name.get("ses", "none")
        ('rest', 'none')
        """
        return self.entities.get(key, default)

    def __hash__(self):
        return hash((tuple(self.entities.items()), self.suffix, self.extension))


def parse_bids_name(name: str | PathLike, *, require_subject: bool = True) -> BIDSName:
    """Split a BIDS file name into entities, suffix and extension.

    Parameters
    ----------
    name : str or path-like
        A file name or path; only the last component is parsed.
    require_subject : bool, default=True
        Require the name to start with a ``sub-<label>`` entity. Set False for
        sidecars inherited from the top of a dataset (``task-rest_bold.json``).

    Returns
    -------
    BIDSName
        Entities (in file order), suffix and extension.

    Raises
    ------
    BIDSError
        If the name does not follow ``key-value_..._suffix.extension``: the
        message names the file and the piece that does not parse (a piece
        without ``-``, an empty or non-alphanumeric label, a repeated entity,
        a missing suffix or extension, or a missing ``sub-`` entity).

    Notes
    -----
    The grammar is ``(<key>-<value>_)*<suffix><extension>`` where keys are
    lower-case alphanumerics, values and suffixes alphanumerics, and the
    extension is one or more ``.``-separated alphanumeric parts (``.nii.gz``).
    Entity keys outside :data:`ENTITY_ORDER` are accepted (derivative
    pipelines use ``from``, ``to``, ``mode``, ...); their order is not checked.

    References
    ----------
    .. [1] BIDS specification, "Common principles: file name structure",
       https://bids-specification.readthedocs.io/en/stable/common-principles.html

    Examples
    --------
    >>> from painmarkers.io import parse_bids_name
    >>> dict(parse_bids_name("sub-01_task-rest_run-2_bold.json").entities)
    {'sub': '01', 'task': 'rest', 'run': '2'}
    >>> parse_bids_name("sub-01_ses_pre_bold.nii.gz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    painmarkers.exceptions.BIDSError: BIDS file name 'sub-01_ses_pre_bold.nii.gz' does not ...
    """
    fname = Path(name).name

    def fail(why: str) -> BIDSError:
        return BIDSError(f"BIDS file name {fname!r} does not parse: {why}.")

    stem, dot, ext = fname.partition(".")
    extension = dot + ext
    if not extension or not _EXTENSION.match(extension):
        raise fail(f"it needs an extension such as '.nii.gz' or '.json' (got {extension!r})")
    pieces = stem.split("_")
    suffix = pieces[-1]
    if not suffix or "-" in suffix or not _SUFFIX.match(suffix):
        raise fail(f"the last piece {suffix!r} must be a suffix such as 'bold' or 'T1w' "
                   "(letters and digits, no '-')")
    entities: dict[str, str] = {}
    for piece in pieces[:-1]:
        key, sep, value = piece.partition("-")
        if not sep:
            raise fail(f"entity {piece!r} is not of the form 'key-value' "
                       "(BIDS joins key and label with '-' and entities with '_')")
        if not _KEY.match(key):
            raise fail(f"entity key {key!r} in {piece!r} must be lower-case letters and digits")
        if not value or not _VALUE.match(value):
            raise fail(f"entity {key!r} has label {value!r}; labels are non-empty letters "
                       "and digits")
        if key in entities:
            raise fail(f"entity {key!r} appears twice")
        entities[key] = value
    if require_subject and next(iter(entities), None) != "sub":
        raise fail("it must start with a 'sub-<label>' entity")
    return BIDSName(MappingProxyType(entities), suffix, extension)
