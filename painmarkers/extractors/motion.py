"""Head-motion quality control: framewise displacement and maximum translation/rotation.

Motion parameters come from fMRIPrep confounds (``trans_x ... rot_z``,
rotations in radians), SPM ``rp_*.txt`` (x, y, z translations in mm then
pitch, roll, yaw in radians) or FSL ``*.par`` (three rotations in radians
then three translations in mm). The exclusion rule of the seed study
(maximum absolute translation > 3 mm or rotation > 3°) is applied per session
and always reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import atomic_write
from painmarkers._docs import fill_doc
from painmarkers._results import save_parameters
from painmarkers._validation import check_interval
from painmarkers._versions import versions
from painmarkers.exceptions import DataError

__all__ = [
    "MOTION_COLUMNS",
    "MotionQC",
    "MotionReport",
    "framewise_displacement",
    "read_motion_parameters",
]

#: Motion parameter columns: translations in mm, rotations in radians (fMRIPrep names).
MOTION_COLUMNS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
_JENKINSON = ("rmsd", "framewise_displacement_jenkinson")
_TOL = 1e-9


def read_motion_parameters(source: Any, name: str = "motion") -> pd.DataFrame:
    """Read the six rigid-body motion parameters of a run.

    Parameters
    ----------
    source : str, path-like, DataFrame or ndarray of shape (T, 6)
        An fMRIPrep ``*_desc-confounds_timeseries.tsv`` (or its table), an SPM
        ``rp_*.txt``, an FSL ``*.par`` file, or an array in SPM order.
    name : str, default="motion"
        Name used in messages.

    Returns
    -------
    DataFrame
        Columns ``trans_x, trans_y, trans_z`` (mm) and ``rot_x, rot_y, rot_z``
        (radians), one row per volume, plus ``rmsd`` (Jenkinson's relative RMS
        displacement, mm) when the fMRIPrep table provides it.

    Raises
    ------
    DataError
        Missing file, missing columns, wrong number of columns or non-finite
        values (the file is named).

    Examples
    --------
    >>> import numpy as np
    >>> read_motion_parameters(np.zeros((3, 6))).shape
    (3, 6)
    """
    label = name
    if isinstance(source, str | PathLike):
        path = Path(source)
        label = f"{name} ({path})"
        if not path.exists():
            raise DataError(f"The motion file {str(path)!r} given as {name!r} does not exist.")
        try:
            if path.name.endswith((".tsv", ".tsv.gz")):
                frame = pd.read_csv(path, sep="\t", na_values=["n/a"])
            else:
                array = np.loadtxt(path, ndmin=2)
                if array.shape[1] != 6:
                    raise DataError(f"{label} has {array.shape[1]} columns; expected 6.")
                if path.suffix == ".par":  # FSL: rotations first
                    array = array[:, [3, 4, 5, 0, 1, 2]]
                frame = pd.DataFrame(array, columns=list(MOTION_COLUMNS))
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"Could not read {label}: {exc}") from exc
    elif isinstance(source, pd.DataFrame):
        frame = source
    else:
        array = np.asarray(source, dtype=float)
        if array.ndim != 2 or array.shape[1] != 6:
            raise DataError(f"{label} must have shape (n_volumes, 6). Got {array.shape}.")
        frame = pd.DataFrame(array, columns=list(MOTION_COLUMNS))
    missing = [c for c in MOTION_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{label} lacks the motion column(s) {missing}.")
    keep = list(MOTION_COLUMNS) + [c for c in _JENKINSON if c in frame.columns][:1]
    out = frame[keep].astype(float).reset_index(drop=True)
    if len(keep) == 7:
        out = out.rename(columns={keep[-1]: "rmsd"})
    values = out[list(MOTION_COLUMNS)].to_numpy()
    if not np.all(np.isfinite(values)):
        raise DataError(f"{label} has non-finite motion parameters.")
    if len(out) < 2:
        raise DataError(f"{label} has {len(out)} volume(s); motion QC needs at least 2.")
    return out


def framewise_displacement(params: Any, radius_mm: float = 50.0) -> np.ndarray:
    """Power's framewise displacement of each volume.

    Parameters
    ----------
    params : DataFrame, ndarray or path
        Motion parameters (see :func:`read_motion_parameters`).
    radius_mm : float, default=50.0
        Radius of the sphere on which rotations are turned into millimetres.

    Returns
    -------
    ndarray of shape (n_volumes,)
        FD in mm; the first volume has FD 0.

    Raises
    ------
    DataError
        Unreadable or incomplete motion parameters (see :func:`read_motion_parameters`).
    ValueError
        ``radius_mm`` <= 0.

    Notes
    -----
    .. math:: FD_t = \\sum_{i \\in \\{x,y,z\\}} |\\Delta d_{i,t}|
              + r \\sum_{i \\in \\{x,y,z\\}} |\\Delta \\theta_{i,t}|

    with :math:`\\Delta` the backward difference, translations d in mm,
    rotations θ in radians and r = ``radius_mm``.

    References
    ----------
    Power J.D. et al. (2012). Spurious but systematic correlations in
    functional connectivity MRI networks arise from subject motion.
    NeuroImage 59:2142-2154.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.zeros((3, 6)); p[1, 0] = 0.2; p[2, 3] = 0.001
    >>> framewise_displacement(p).round(3).tolist()
    [0.0, 0.2, 0.25]
    """
    radius_mm = check_interval(radius_mm, "radius_mm", 0, None, closed="neither")
    frame = read_motion_parameters(params)
    values = frame[list(MOTION_COLUMNS)].to_numpy()
    diff = np.abs(np.diff(values, axis=0))
    fd = diff[:, :3].sum(axis=1) + radius_mm * diff[:, 3:].sum(axis=1)
    return np.r_[0.0, fd]


@dataclass(frozen=True)
class MotionReport:
    """Motion QC of one run, with the rule that produced the decision.

    Built by :meth:`MotionQC.assess`; its fields are listed below.

    Parameters
    ----------
    source : str
        The motion file or table assessed.
    n_volumes : int
        Number of volumes of the run.
    mean_fd, max_fd : float
        Power FD (mm), mean over all volumes (first = 0) and maximum.
    mean_fd_jenkinson : float
        Mean of Jenkinson's relative RMS displacement (fMRIPrep ``rmsd``; first
        volume 0); NaN when the confounds do not provide it.
    max_translation_mm, max_rotation_deg : float
        Largest absolute translation (mm) and rotation (degrees) over time and axes.
    excluded : bool
        Whether the run breaks the rule.
    reason : str
        Why it was excluded ("" when kept).
    max_translation_limit_mm, max_rotation_limit_deg, fd_radius_mm : float
        The rule used.
    parameters : dict
        The rule as :class:`MotionQC` parameters (``max_translation_mm``,
        ``max_rotation_deg``, ``fd_radius_mm``, ``max_mean_fd``).
    versions : dict
        Software versions (:func:`painmarkers._versions.versions`).

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.extractors import MotionQC
    >>> params = np.zeros((20, 6))
    >>> params[10:, 0] = 0.5  # a 0.5 mm step in x at volume 10
    >>> report = MotionQC().assess(params)
    >>> report.excluded, report.n_volumes, round(report.max_fd, 3)
    (False, 20, 0.5)
    >>> report.to_frame()[["n_volumes", "max_translation_mm", "excluded"]]
       n_volumes  max_translation_mm  excluded
    0         20                 0.5     False
    """

    source: str
    n_volumes: int
    mean_fd: float
    max_fd: float
    mean_fd_jenkinson: float
    max_translation_mm: float
    max_rotation_deg: float
    excluded: bool
    reason: str
    max_translation_limit_mm: float
    max_rotation_limit_deg: float
    fd_radius_mm: float
    parameters: dict = field(default_factory=dict, repr=False, compare=False)
    versions: dict = field(default_factory=versions, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with every figure of the report as a column.

        Returns
        -------
        pandas.DataFrame
            Columns ``source``, ``n_volumes``, ``mean_fd``, ``max_fd``,
            ``mean_fd_jenkinson``, ``max_translation_mm``, ``max_rotation_deg``,
            ``excluded``, ``reason``, ``max_translation_limit_mm``,
            ``max_rotation_limit_deg`` and ``fd_radius_mm`` (the fields, without
            ``parameters`` and ``versions``).
        """
        row = asdict(self)
        row.pop("parameters")
        row.pop("versions")
        return pd.DataFrame([row])

    def summary(self) -> str:
        """One line: kept/excluded, the maxima and the rule.

        Returns
        -------
        str
            E.g. ``"motion: kept; max translation 0.50 mm, ..."``.
        """
        state = f"EXCLUDED ({self.reason})" if self.excluded else "kept"
        return (f"{self.source}: {state}; max translation {self.max_translation_mm:.2f} mm, "
                f"max rotation {self.max_rotation_deg:.2f} deg, mean FD {self.mean_fd:.3f} mm "
                f"(rule: > {self.max_translation_limit_mm:g} mm or "
                f"> {self.max_rotation_limit_deg:g} deg)")

    @fill_doc
    def save(self, directory: str | PathLike) -> dict[str, Path]:
        """Write ``motion_qc.tsv`` and ``parameters.json`` atomically into ``directory``.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            ``{"table": ..., "parameters": ...}``.

        Raises
        ------
        %(save_raises)s
        """
        frame = self.to_frame()
        table = atomic_write(Path(directory) / "motion_qc.tsv",
                             lambda tmp: frame.to_csv(tmp, sep="\t", index=False,
                                                      na_rep="n/a"))
        return {"table": table, "parameters": save_parameters(directory, self)}


class MotionQC:
    """Head-motion exclusion rule applied per run (session).

    Parameters
    ----------
    max_translation_mm : float, default=3.0
        Exclude when any absolute translation exceeds this (mm).
    max_rotation_deg : float, default=3.0
        Exclude when any absolute rotation exceeds this (degrees).
    fd_radius_mm : float, default=50.0
        Head radius for Power's FD.
    max_mean_fd : float or None, default=None
        Also exclude when the mean Power FD exceeds this (mm); None disables it.

    Notes
    -----
    The defaults are the seed study's rule ("exclude > 3 mm translation or
    > 3° rotation"), applied to the maximum absolute realignment parameter,
    as DPABI's head-motion summary does. A value equal to a limit (within
    1e-9, the rounding of the radian-to-degree conversion) is kept.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.zeros((10, 6)); p[5, 1] = 3.5
    >>> report = MotionQC().assess(p)
    >>> report.excluded, report.reason
    (True, 'max translation 3.50 mm > 3 mm')
    """

    def __init__(self, max_translation_mm=3.0, max_rotation_deg=3.0, fd_radius_mm=50.0,
                 max_mean_fd=None):
        self.max_translation_mm = max_translation_mm
        self.max_rotation_deg = max_rotation_deg
        self.fd_radius_mm = fd_radius_mm
        self.max_mean_fd = max_mean_fd

    def __repr__(self) -> str:
        return (f"MotionQC(max_translation_mm={self.max_translation_mm!r}, "
                f"max_rotation_deg={self.max_rotation_deg!r}, fd_radius_mm="
                f"{self.fd_radius_mm!r}, max_mean_fd={self.max_mean_fd!r})")

    def assess(self, source: Any, name: str = "motion") -> MotionReport:
        """Assess one run.

        Parameters
        ----------
        source : path, DataFrame or ndarray
            Motion parameters (see :func:`read_motion_parameters`).
        name : str, default="motion"
            Name used in messages and in ``MotionReport.source`` for tables.

        Returns
        -------
        MotionReport
            The figures of the run, the decision and the rule.

        Raises
        ------
        DataError
            Unreadable or incomplete motion parameters (the file is named).
        """
        max_t = check_interval(self.max_translation_mm, "max_translation_mm", 0, None,
                               closed="neither")
        max_r = check_interval(self.max_rotation_deg, "max_rotation_deg", 0, None,
                               closed="neither")
        radius = check_interval(self.fd_radius_mm, "fd_radius_mm", 0, None, closed="neither")
        max_fd_mean = (None if self.max_mean_fd is None else
                       check_interval(self.max_mean_fd, "max_mean_fd", 0, None, closed="neither"))
        frame = read_motion_parameters(source, name)
        fd = framewise_displacement(frame, radius)
        values = frame[list(MOTION_COLUMNS)].to_numpy()
        trans = float(np.abs(values[:, :3]).max())
        rot = float(np.degrees(np.abs(values[:, 3:]).max()))
        jenkinson = float(frame["rmsd"].fillna(0.0).mean()) if "rmsd" in frame else float("nan")
        reasons = []
        # limits are inclusive, up to rounding of the unit conversion (radians -> degrees)
        if trans > max_t + _TOL:
            reasons.append(f"max translation {trans:.2f} mm > {max_t:g} mm")
        if rot > max_r + _TOL:
            reasons.append(f"max rotation {rot:.2f} deg > {max_r:g} deg")
        if max_fd_mean is not None and fd.mean() > max_fd_mean:
            reasons.append(f"mean FD {fd.mean():.3f} mm > {max_fd_mean:g} mm")
        src = str(source) if isinstance(source, str | PathLike) else name
        return MotionReport(
            source=src, n_volumes=len(frame), mean_fd=float(fd.mean()), max_fd=float(fd.max()),
            mean_fd_jenkinson=jenkinson, max_translation_mm=trans, max_rotation_deg=rot,
            excluded=bool(reasons), reason="; ".join(reasons), max_translation_limit_mm=max_t,
            max_rotation_limit_deg=max_r, fd_radius_mm=radius,
            parameters={"max_translation_mm": max_t, "max_rotation_deg": max_r,
                        "fd_radius_mm": radius, "max_mean_fd": max_fd_mean},
        )
