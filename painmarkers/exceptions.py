"""Exceptions and warnings raised by painmarkers.

Every error a user can trigger with bad input derives from
:class:`PainmarkersError`; the data-related ones also derive from
:class:`ValueError` so that generic ``except ValueError`` handlers keep working.
Messages always name the offending subject, session, file or parameter and the
bad value.
"""

from __future__ import annotations

__all__ = [
    "BIDSError",
    "DataError",
    "DesignError",
    "ExtractorError",
    "ImageError",
    "InferenceWarning",
    "OutputError",
    "PainmarkersError",
    "PainmarkersWarning",
    "RegistryError",
    "ScoreRangeError",
    "SpecError",
]


class PainmarkersError(Exception):
    """Base class of every error raised by painmarkers."""


class DataError(PainmarkersError, ValueError):
    """Input data are invalid: wrong values, missing or duplicated records."""


class ScoreRangeError(DataError):
    """A clinical score lies outside the valid range of its instrument."""


class ImageError(DataError):
    """An image has the wrong dimensionality, shape, affine or content."""


class BIDSError(DataError):
    """A BIDS dataset is malformed (missing files or columns, unparsable names)."""


class DesignError(PainmarkersError, ValueError):
    """A statistical design cannot be estimated (groups absent, n too small, rank deficient)."""


class ExtractorError(PainmarkersError, ValueError):
    """An imaging extractor is misconfigured or failed on an input."""


class RegistryError(PainmarkersError, LookupError):
    """A name is unknown to a registry (instruments, extractors, ROI sets, atlases)."""


class SpecError(PainmarkersError, ValueError):
    """A study specification has an invalid key or value."""


class OutputError(PainmarkersError, OSError):
    """An output file or folder cannot be written.

    Raised for a full disk, a missing permission, a read-only file system, or an output
    folder locked by another run. An :class:`OSError` too (``errno`` and ``filename``
    are set), so ``except OSError`` handlers keep working; ``str()`` is the one-line
    message naming the file.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


class PainmarkersWarning(UserWarning):
    """Base class of every warning emitted by painmarkers."""


class InferenceWarning(PainmarkersWarning):
    """A statistical procedure is used where its validity is questionable."""
