"""Frozen records of the domain: clinical scores, ROI measures, sessions and subjects."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

from painmarkers.exceptions import DataError, ScoreRangeError
from painmarkers.model.instruments import get_instrument

__all__ = ["ClinicalScore", "ROIMeasure", "Session", "Subject"]


def strip_prefix(value: Any, prefix: str) -> str:
    """``str(value)`` without surrounding spaces and without a leading ``prefix`` (``sub-``)."""
    text = str(value).strip()
    return text[len(prefix):] if text.startswith(prefix) else text


def _strip_prefix(value: Any, prefix: str, what: str) -> str:
    if isinstance(value, bool) or value is None:
        raise DataError(f"A {what} must be a non-empty string. Got {value!r}.")
    if isinstance(value, numbers.Integral):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"A {what} must be a non-empty string. Got {value!r}.")
    value = strip_prefix(value, prefix)
    if not value or not value.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise DataError(
            f"A {what} must be letters and digits (BIDS labels allow no spaces or '_'). "
            f"Got {value!r}."
        )
    return value


def _canonical_nan(value: Any) -> Any:
    """Map every float NaN to the one ``math.nan`` object.

    Containers compare items by identity before equality, so records holding the
    same missing values compare equal only if their NaNs are one object.
    """
    if isinstance(value, float) and value != value:
        return math.nan
    return value


def _as_number(value: Any, what: str) -> float:
    if type(value) is float:  # fast path: tables give Python floats
        return _canonical_nan(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            if isinstance(value, str):
                value = float(value)
            else:
                raise TypeError
        except (TypeError, ValueError):
            raise DataError(f"{what} must be a number. Got {value!r}.") from None
    return _canonical_nan(float(value))


@dataclass(frozen=True)
class ClinicalScore:
    """One clinical score of one session, validated against its instrument's range.

    Parameters
    ----------
    instrument : str
        Registered instrument name or alias (``"VAS"``, ``"RMDQ"``, ...); stored
        as the canonical name.
    value : float
        The score. NaN means "not collected" and is kept as missing.

    Raises
    ------
    RegistryError
        Unknown instrument.
    ScoreRangeError
        Value outside the instrument's valid range.
    DataError
        Non-numeric value.

    Examples
    --------
    >>> from painmarkers import ClinicalScore
    >>> ClinicalScore("roland-morris", 15)
    ClinicalScore(instrument='RMDQ', value=15.0)
    """

    instrument: str
    value: float

    def __post_init__(self):
        inst = get_instrument(self.instrument)
        value = _as_number(self.value, f"The {inst.name} score")
        if not math.isnan(value) and not inst.contains(value):
            raise ScoreRangeError(
                f"{inst.name} score {value:g} is outside the instrument's valid range "
                f"[{inst.low:g}, {inst.high:g}]."
            )
        object.__setattr__(self, "instrument", inst.name)
        object.__setattr__(self, "value", value)


@dataclass(frozen=True)
class ROIMeasure:
    """One imaging number of one ROI in one session.

    Parameters
    ----------
    roi : str
        ROI name (e.g. ``"SMA_L"``).
    feature : str
        Feature name (e.g. ``"alff"``, ``"falff"``, ``"qsm"``, ``"fc_z"``).
    value : float
        The value (NaN allowed, meaning not computable; reported downstream).
    extractor : str or None, default=None
        Provenance: the extractor and parameters that produced the value.

    Raises
    ------
    DataError
        An empty ROI or feature name, or a value that is not a number (the message
        names the feature and ROI).

    Examples
    --------
    >>> from painmarkers import ROIMeasure
    >>> ROIMeasure("SMA_L", "alff", 0.83, extractor="ALFF(band=(0.01, 0.08))").value
    0.83
    """

    roi: str
    feature: str
    value: float
    extractor: str | None = None

    def __post_init__(self):
        for name in ("roi", "feature"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v.strip():
                raise DataError(f"ROIMeasure {name!r} must be a non-empty string. Got {v!r}.")
        object.__setattr__(
            self, "value", _as_number(self.value, f"ROIMeasure {self.feature}/{self.roi} value")
        )


def _freeze_mapping(mapping: Mapping | None, what: str) -> MappingProxyType:
    if mapping is None:
        return MappingProxyType({})
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{what} must be a mapping. Got {type(mapping).__name__}.")
    return MappingProxyType({k: _canonical_nan(v) for k, v in mapping.items()})


@dataclass(frozen=True)
class Session:
    """One visit of a subject: its scores, ROI measures, images and metadata.

    Parameters
    ----------
    label : str
        Session label; a leading ``"ses-"`` is removed (``"ses-pre"`` -> ``"pre"``).
    scores : iterable of ClinicalScore, default=()
        At most one score per instrument.
    measures : iterable of ROIMeasure, default=()
        At most one measure per (feature, ROI).
    images : mapping of str to path, default={}
        Image kinds (``"bold"``, ``"mask"``, ``"confounds"``, ``"qsm"``, ``"t1"``,
        feature maps such as ``"alff"``) to file paths.
    metadata : mapping, default={}
        Session metadata, e.g. ``{"t_r": 3.0, "mean_fd": 0.12}``.

    Raises
    ------
    DataError
        Bad label, or two scores of one instrument, or two measures of one
        (feature, ROI).

    Examples
    --------
    >>> from painmarkers import ClinicalScore, Session
    >>> s = Session("ses-pre", scores=[ClinicalScore("VAS", 7.5)], metadata={"t_r": 3.0})
    >>> s.label, s.score("vas")
    ('pre', 7.5)
    """

    label: str
    scores: tuple[ClinicalScore, ...] = ()
    measures: tuple[ROIMeasure, ...] = ()
    images: Mapping[str, Path] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "label", _strip_prefix(self.label, "ses-", "session label"))
        scores = tuple(self.scores)
        seen: set[str] = set()
        for sc in scores:
            if not isinstance(sc, ClinicalScore):
                raise TypeError(
                    f"Session {self.label!r}: scores must be ClinicalScore. Got {sc!r}."
                )
            if sc.instrument in seen:
                raise DataError(
                    f"Session {self.label!r} has two {sc.instrument} scores; "
                    "give one per instrument."
                )
            seen.add(sc.instrument)
        measures = tuple(self.measures)
        seen_m: set[tuple[str, str]] = set()
        for m in measures:
            if not isinstance(m, ROIMeasure):
                raise TypeError(f"Session {self.label!r}: measures must be ROIMeasure. Got {m!r}.")
            key = (m.feature, m.roi)
            if key in seen_m:
                raise DataError(
                    f"Session {self.label!r} has two measures of feature {m.feature!r} "
                    f"in ROI {m.roi!r}."
                )
            seen_m.add(key)
        images = _freeze_mapping(self.images, f"Session {self.label!r} images")
        for kind, path in images.items():
            if not isinstance(path, str | PathLike):
                raise TypeError(
                    f"Session {self.label!r}: image {kind!r} must be a path. Got {path!r}."
                )
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "measures", measures)
        object.__setattr__(
            self, "images", MappingProxyType({k: Path(v) for k, v in images.items()})
        )
        object.__setattr__(self, "metadata", _freeze_mapping(self.metadata, "metadata"))

    def score(self, instrument: str) -> float:
        """Return the value of the score of ``instrument``.

        Parameters
        ----------
        instrument : str
            Instrument name or alias (``"VAS"``, ``"vas"``, ``"roland-morris"``).

        Returns
        -------
        float
            The score (NaN when it was not collected).

        Raises
        ------
        KeyError
            The session has no score of this instrument (the message names the session).
        RegistryError
            ``instrument`` is not a registered instrument.

        Examples
        --------
        >>> from painmarkers import ClinicalScore, Session
        >>> Session("pre", scores=[ClinicalScore("RMDQ", 12)]).score("roland-morris")
        12.0
        """
        name = get_instrument(instrument).name
        for sc in self.scores:
            if sc.instrument == name:
                return sc.value
        raise KeyError(f"Session {self.label!r} has no {name} score.")

    def measure(self, feature: str, roi: str) -> float:
        """Return the value of the measure ``feature`` in ``roi``.

        Parameters
        ----------
        feature : str
            Feature name (e.g. ``"alff"``).
        roi : str
            ROI name (e.g. ``"SMA_L"``).

        Returns
        -------
        float
            The value (NaN when it was not computable).

        Raises
        ------
        KeyError
            The session has no such measure (the message names session, feature and ROI).

        Examples
        --------
        >>> from painmarkers import ROIMeasure, Session
        >>> Session("pre", measures=[ROIMeasure("SMA_L", "alff", 0.8)]).measure("alff", "SMA_L")
        0.8
        """
        for m in self.measures:
            if m.feature == feature and m.roi == roi:
                return m.value
        raise KeyError(f"Session {self.label!r} has no measure {feature!r} in ROI {roi!r}.")

    def __hash__(self):  # mappings are read-only proxies; hash by identity-free content
        return hash((self.label, self.scores, self.measures, tuple(self.images.items())))


@dataclass(frozen=True)
class Subject:
    """A participant: id, group, subject-level covariates and sessions.

    Parameters
    ----------
    id : str
        Subject id; a leading ``"sub-"`` is removed.
    group : str or None, default=None
        Group label, e.g. ``"CLBP"`` or ``"HC"``.
    covariates : mapping, default={}
        Subject-level covariates (age, sex, bmi, pain_duration_years, site, ...).
    sessions : iterable of Session, default=()
        Unique session labels.

    Raises
    ------
    DataError
        Bad id, or a session label used twice.

    Examples
    --------
    >>> from painmarkers import Subject, Session
    >>> sub = Subject("sub-01", "CLBP", {"age": 44}, [Session("pre"), Session("post")])
    >>> sub.id, sub.session_labels
    ('01', ('pre', 'post'))
    """

    id: str
    group: str | None = None
    covariates: Mapping[str, Any] = field(default_factory=dict)
    sessions: tuple[Session, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "id", _strip_prefix(self.id, "sub-", "subject id"))
        if self.group is not None and (not isinstance(self.group, str) or not self.group.strip()):
            raise DataError(f"Subject {self.id!r}: group must be a non-empty string or None. "
                            f"Got {self.group!r}.")
        sessions = tuple(self.sessions)
        labels = []
        for s in sessions:
            if not isinstance(s, Session):
                raise TypeError(f"Subject {self.id!r}: sessions must be Session. Got {s!r}.")
            if s.label in labels:
                raise DataError(f"Subject {self.id!r} has session label {s.label!r} twice.")
            labels.append(s.label)
        object.__setattr__(self, "sessions", sessions)
        object.__setattr__(
            self, "covariates", _freeze_mapping(self.covariates, f"Subject {self.id!r} covariates")
        )

    @property
    def session_labels(self) -> tuple[str, ...]:
        """Labels of the sessions, in order."""
        return tuple(s.label for s in self.sessions)

    def session(self, label: str) -> Session:
        """Return the session called ``label``.

        Parameters
        ----------
        label : str
            Session label (``ses-`` prefix optional).

        Returns
        -------
        Session
            The session.

        Raises
        ------
        KeyError
            The subject has no such session (the message names the subject and lists its
            sessions).

        Examples
        --------
        >>> from painmarkers import Session, Subject
        >>> Subject("01", sessions=[Session("pre")]).session("ses-pre").label
        'pre'
        """
        label = strip_prefix(label, "ses-")
        for s in self.sessions:
            if s.label == label:
                return s
        raise KeyError(f"Subject {self.id!r} has no session {label!r} "
                       f"(it has {list(self.session_labels)}).")

    def __hash__(self):
        return hash((self.id, self.group, self.sessions))
