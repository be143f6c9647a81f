"""The handle on a simulated BIDS dataset that :func:`simulate_cohort` returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from painmarkers._docs import fill_doc
from painmarkers._versions import versions
from painmarkers.datasets._io import write_json, write_tsv

__all__ = ["MARKER", "SimulatedDataset"]

#: Where the ground truth of a simulated dataset lives, relative to its root.
MARKER = Path("derivatives", "painmarkers-simulation", "ground_truth.json")


@dataclass(frozen=True, eq=False)
class SimulatedDataset:  # numpydoc ignore=PR01,EX01
    """Handle on a simulated BIDS dataset written by :func:`simulate_cohort`.

    Attributes
    ----------
    root : Path
        Root of the BIDS dataset (pass it to ``Cohort.from_bids``).
    derivatives : Path
        The fMRIPrep-style derivatives folder (``root/derivatives/fmriprep``).
    design : str
        Design name.
    ground_truth : dict
        Content of ``derivatives/painmarkers-simulation/ground_truth.json``.
    sessions : DataFrame
        One row per session: ``participant_id, group, session_id, delay_days``,
        QC figures (``mean_fd, max_fd, max_translation_mm, max_rotation_deg``) and
        the relative paths of its files (``bold, mask, confounds`` and ``qsm``).
    parameters : dict
        The arguments that produced the dataset (and the seed entropy used).
    versions : dict
        Python, painmarkers and dependency versions of the process that wrote it.

    See Also
    --------
    simulate_cohort : Write one; its examples use this handle.
    """

    root: Path
    derivatives: Path
    design: str
    ground_truth: dict = field(repr=False)
    sessions: pd.DataFrame = field(repr=False)
    parameters: dict = field(repr=False)
    versions: dict = field(default_factory=versions, repr=False)

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    @property
    def ground_truth_path(self) -> Path:
        """Path of ``ground_truth.json``."""
        return self.root / MARKER

    def to_frame(self) -> pd.DataFrame:
        """Return the per-session table (a copy of :attr:`sessions`).

        Returns
        -------
        pandas.DataFrame
            One row per session, the columns of :attr:`sessions`.
        """
        return self.sessions.copy()

    def to_cohort(self):
        """Read the dataset back as a :class:`painmarkers.Cohort` (``Cohort.from_bids``).

        Returns
        -------
        Cohort
            Subjects, sessions, VAS/RMDQ scores and the derivative images (``bold``,
            ``mask``, ``confounds`` and, for ``qsm_fc_clbp``, ``qsm``).
        """
        from painmarkers.model import Cohort

        return Cohort.from_bids(self.root)

    def summary(self) -> str:
        """Return a short human-readable description of the dataset.

        Returns
        -------
        str
            Design and root, subjects by group, sessions, BOLD acquisition, mean FD
            and the ground-truth file, one per line.
        """
        groups = self.sessions.drop_duplicates("participant_id")["group"].value_counts()
        lines = [
            f"Simulated dataset {self.design!r} at {self.root}",
            "  subjects: " + ", ".join(f"{g} {n}" for g, n in sorted(groups.items())),
            f"  sessions: {len(self.sessions)} "
            f"({', '.join(sorted(self.sessions['session_id'].unique()))})",
            f"  BOLD: {self.parameters['n_volumes']} volumes, TR {self.parameters['t_r']} s, "
            f"{self.parameters['resolution_mm']} mm, FWHM {self.parameters['fwhm_mm']} mm",
            f"  mean FD: {self.sessions['mean_fd'].mean():.3f} mm",
            f"  ground truth: {self.ground_truth_path}",
        ]
        return "\n".join(lines)

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the per-session table, the ground truth and the parameters.

        The dataset itself is already on disk; this writes its description next to
        an analysis (e.g. into a results folder), atomically.

        Parameters
        ----------
        %(save_directory)s
            It may not lie inside the dataset.

        Returns
        -------
        %(save_returns)s
            ``sessions`` (``simulated_sessions.tsv``), ``ground_truth``
            (``ground_truth.json``) and ``parameters`` (``parameters.json``: the
            simulation's parameters and versions).

        Raises
        ------
        OutputError
            ``directory`` is inside the dataset, or cannot be written.
        """
        from painmarkers._atomic import make_folder
        from painmarkers._results import save_parameters
        from painmarkers.exceptions import OutputError

        out = Path(directory).resolve()
        root = Path(self.root).resolve()
        if out == root or root in out.parents:
            raise OutputError(f"The 'directory' {str(directory)!r} is inside the simulated "
                              f"dataset {str(root)!r}; save its description elsewhere.")
        make_folder(out)
        paths = {"sessions": out / "simulated_sessions.tsv",
                 "ground_truth": out / "ground_truth.json"}
        write_tsv(paths["sessions"], self.sessions)
        write_json(paths["ground_truth"], self.ground_truth)
        paths["parameters"] = save_parameters(out, self)
        return paths
