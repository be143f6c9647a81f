"""Index of the files of a BIDS dataset and its derivatives, and JSON sidecar inheritance.

A deliberately small replacement for pybids' ``BIDSLayout``: one ``os.scandir``
walk over ``sub-*/[ses-*/]<datatype>/`` folders, file names parsed by
:func:`painmarkers.io.parse_bids_name`, no database. See ``read_bids`` for why.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

from painmarkers.exceptions import BIDSError
from painmarkers.io._entities import BIDSName, parse_bids_name
from painmarkers.io.tables import read_json

#: Folders of a subject or session that hold data files (BIDS datatypes).
DATATYPES = frozenset({
    "anat", "func", "fmap", "dwi", "perf", "beh", "pet", "meg", "eeg", "ieeg", "micr", "nirs",
    "motion", "mrs",
})

RAW = "raw"
DERIVATIVE = "derivative"


@dataclass(frozen=True)
class BIDSFile:
    """One indexed file."""

    path: Path
    name: BIDSName
    datatype: str | None
    source: str  # RAW or DERIVATIVE
    root: Path

    @property
    def entities(self) -> Mapping[str, str]:
        return self.name.entities

    @property
    def suffix(self) -> str:
        return self.name.suffix

    @property
    def extension(self) -> str:
        return self.name.extension


@dataclass
class DatasetIndex:
    """Files of one dataset root, and the JSON sidecars of every folder (for inheritance)."""

    root: Path
    source: str
    files: list[BIDSFile]
    sidecars: dict[Path, list[tuple[BIDSName, Path]]]
    subjects: list[str]


def _parse(path: Path, require_subject: bool = True) -> BIDSName:
    try:
        return parse_bids_name(path.name, require_subject=require_subject)
    except BIDSError as exc:
        raise BIDSError(f"{str(exc).rstrip('.')}. File: {str(path)!r}; rename it, or list it "
                        "in the dataset's .bidsignore to skip it.") from None


class BIDSIgnore:
    """Patterns of a dataset's ``.bidsignore`` (gitignore-like globs).

    A pattern without ``/`` matches a file or folder name anywhere; a pattern with
    ``/`` matches the path relative to the dataset root (a leading ``/`` anchors it,
    ``*`` may cross folders); a trailing ``/`` restricts it to folders.
    """

    def __init__(self, root: Path):
        path = root / ".bidsignore"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        self.patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]

    def __call__(self, path: Path, root: Path, is_dir: bool = False) -> bool:
        if not self.patterns:
            return False
        rel = path.relative_to(root).as_posix()
        for pat in self.patterns:
            dir_only = pat.endswith("/")
            pat = pat.rstrip("/")
            if dir_only and not is_dir:
                continue
            if "/" in pat:
                if fnmatch.fnmatchcase(rel, pat.lstrip("/")):
                    return True
            elif fnmatch.fnmatchcase(path.name, pat):
                return True
        return False


def _label(dirname: str, prefix: str, parent: Path) -> str:
    label = dirname[len(prefix):]
    if not label.isalnum():
        raise BIDSError(f"Folder {str(parent / dirname)!r} is not a valid BIDS {prefix[:-1]} "
                        f"folder: the label {label!r} must be letters and digits.")
    return label


def _check_consistent(name: BIDSName, path: Path, sub: str, ses: str | None) -> None:
    if name.get("sub") != sub:
        raise BIDSError(f"File {str(path)!r} has sub-{name.get('sub')} in its name but lies in "
                        f"the folder of sub-{sub}.")
    if ses is not None and name.get("ses") != ses:
        raise BIDSError(f"File {str(path)!r} has ses-{name.get('ses')} in its name but lies in "
                        f"the folder of ses-{ses}." if name.get("ses") is not None else
                        f"File {str(path)!r} lies in the folder of ses-{ses} but has no "
                        f"ses-{ses} entity in its name.")


def _scan_files(folder: Path, sub: str, ses: str | None, datatype: str | None, source: str,
                root: Path, out: list[BIDSFile],
                sidecars: dict[Path, list[tuple[BIDSName, Path]]],
                ignore: BIDSIgnore) -> list[os.DirEntry]:
    """Parse the files of ``folder``; return its sub-folders."""
    dirs = []
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)  # deterministic order of files and messages
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        is_dir = entry.is_dir()
        if ignore(path, root, is_dir):
            continue
        if is_dir:
            dirs.append(entry)
            continue
        name = _parse(path)
        _check_consistent(name, path, sub, ses)
        if name.extension == ".json":
            sidecars.setdefault(folder, []).append((name, path))
        out.append(BIDSFile(path, name, datatype, source, root))
    return dirs


def scan_dataset(root: Path, source: str, subjects: Iterable[str] | None = None
                 ) -> DatasetIndex:
    """Index the files under ``root/sub-*/[ses-*/]<datatype>/``.

    ``subjects`` limits the walk to those labels (without ``sub-``).
    """
    wanted = None if subjects is None else set(subjects)
    ignore = BIDSIgnore(root)
    files: list[BIDSFile] = []
    sidecars: dict[Path, list[tuple[BIDSName, Path]]] = {}
    found: list[str] = []
    with os.scandir(root) as it:
        top = sorted(it, key=lambda e: e.name)
    for entry in top:
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            if entry.name.endswith(".json") and entry.name not in (
                    "dataset_description.json", "participants.json"):
                try:  # top-level sidecars such as task-rest_bold.json
                    name = parse_bids_name(entry.name, require_subject=False)
                except BIDSError:
                    continue  # other top-level JSON files (e.g. genetic_info.json)
                sidecars.setdefault(root, []).append((name, Path(entry.path)))
            continue
        sub_dir = Path(entry.path)
        if not entry.name.startswith("sub-") or ignore(sub_dir, root, True):
            continue
        sub = _label(entry.name, "sub-", root)
        found.append(sub)
        if wanted is not None and sub not in wanted:
            continue
        for d in _scan_files(sub_dir, sub, None, None, source, root, files, sidecars, ignore):
            if d.name.startswith("ses-"):
                ses = _label(d.name, "ses-", sub_dir)
                ses_dir = Path(d.path)
                for dd in _scan_files(ses_dir, sub, ses, None, source, root, files, sidecars,
                                      ignore):
                    if dd.name in DATATYPES:
                        _scan_files(Path(dd.path), sub, ses, dd.name, source, root, files,
                                    sidecars, ignore)
            elif d.name in DATATYPES:
                _scan_files(Path(d.path), sub, None, d.name, source, root, files, sidecars,
                            ignore)
            # other folders (fMRIPrep's figures/ and log/) hold no data files
    return DatasetIndex(root, source, files, sidecars, found)


def derivative_roots(root: Path, derivatives: str | PathLike | Sequence | None
                     ) -> list[Path]:
    """Resolve the ``derivatives`` argument of ``read_bids`` into dataset roots."""
    if derivatives is None:
        base = root / "derivatives"
        if not base.is_dir():
            return []
        if any(p.name.startswith("sub-") and p.is_dir() for p in base.iterdir()):
            return [base]
        return sorted(p for p in base.iterdir()
                      if p.is_dir() and not p.name.startswith((".", "sub-"))
                      and (any(q.name.startswith("sub-") and q.is_dir() for q in p.iterdir())
                           or (p / "dataset_description.json").is_file()))
    if isinstance(derivatives, str | PathLike):
        derivatives = [derivatives]
    if not isinstance(derivatives, Sequence):
        raise TypeError("The 'derivatives' parameter must be a path, a list of paths or None. "
                        f"Got {derivatives!r}.")
    out = []
    for d in derivatives:
        if not isinstance(d, str | PathLike):
            raise TypeError(f"The 'derivatives' parameter must hold paths. Got {d!r}.")
        p = Path(d)
        if not p.is_dir():
            raise BIDSError(f"The derivatives folder {str(p)!r} does not exist.")
        out.append(p.absolute())
    return out


def inherited_metadata(file: BIDSFile, index: DatasetIndex
                       ) -> tuple[dict[str, Any], dict[str, Path]]:
    """Merge the JSON sidecars that apply to ``file`` under the BIDS inheritance principle.

    A sidecar applies when it has the same suffix and its entities are a subset of
    the file's; sidecars are merged from the dataset root down to the file's folder,
    nearer ones overriding farther ones (within a folder, more specific ones last).
    Returns the merged dict and, for each key, the sidecar that gave its value.
    """
    ents = file.entities
    folders = []
    folder = file.path.parent
    while True:
        folders.append(folder)
        if folder == index.root or folder.parent == folder:
            break
        folder = folder.parent
    merged: dict[str, Any] = {}
    provenance: dict[str, Path] = {}
    for folder in reversed(folders):
        applicable = [
            (len(name.entities), path) for name, path in index.sidecars.get(folder, [])
            if name.suffix == file.suffix
            and all(ents.get(k) == v for k, v in name.entities.items())
        ]
        for _, path in sorted(applicable):
            data = read_json(path, name="JSON sidecar")
            merged.update(data)
            provenance.update(dict.fromkeys(data, path))
    return merged, provenance


def raw_counterpart(file: BIDSFile, raw: DatasetIndex) -> BIDSFile:
    """Where the raw file of a derivative would be: same sub/ses/datatype folder and
    entities, without the derivative-only ``space``, ``res``, ``den`` and ``desc``.

    Used to find sidecars inherited in the raw dataset (``task-rest_bold.json`` at its
    root) when the raw image itself is absent.
    """
    ents = {k: v for k, v in file.entities.items() if k not in ("space", "res", "den", "desc")}
    folder = raw.root / f"sub-{ents['sub']}"
    if "ses" in ents:
        folder = folder / f"ses-{ents['ses']}"
    if file.datatype:
        folder = folder / file.datatype
    name = BIDSName(MappingProxyType(ents), file.suffix, file.extension)
    return BIDSFile(folder / file.path.name, name, file.datatype, RAW, raw.root)
