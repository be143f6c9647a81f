"""Input: BIDS datasets (participants, sessions, phenotype, raw and derivative images) and tables.

:func:`read_bids` (behind :meth:`painmarkers.Cohort.from_bids`) reads a BIDS
dataset with fMRIPrep-style derivatives into a :class:`~painmarkers.Cohort`;
:func:`read_table` and :func:`read_participants` read CSV/TSV tables with
errors that name the file; :func:`load_img`, :func:`read_masked`,
:func:`read_data` and :func:`iter_volume_blocks` are the one NIfTI/gzip reader
(streaming, ISA-L gzip when installed, errors naming truncated or corrupt files).
"""

from painmarkers.io._entities import BIDSName, parse_bids_name
from painmarkers.io.bids import IMAGE_KINDS, index_bids, read_bids
from painmarkers.io.images import (
    header_t_r,
    iter_volume_blocks,
    load_img,
    read_data,
    read_masked,
)
from painmarkers.io.tables import read_json, read_participants, read_table

__all__ = [
    "IMAGE_KINDS",
    "BIDSName",
    "header_t_r",
    "index_bids",
    "iter_volume_blocks",
    "load_img",
    "parse_bids_name",
    "read_bids",
    "read_data",
    "read_json",
    "read_masked",
    "read_participants",
    "read_table",
]
