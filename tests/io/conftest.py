"""Write small BIDS trees (raw + fMRIPrep-style derivatives + phenotype) for the io tests.

Tests get the helpers through the ``bids_tree`` fixture (this module) and a ready
dataset through ``dataset`` (pytest runs with ``--import-mode=importlib``, so test
modules cannot import a helper module by name).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

MNI = "MNI152NLin2009cAsym"

PARTICIPANTS = (
    "participant_id\tgroup\tage\tsex\tbmi\n"
    "sub-01\tCLBP\t44\tF\t27.5\n"
    "sub-02\tCLBP\t51\tM\tn/a\n"
    "sub-03\tHC\t39\tF\t22.1\n"
)
#: (subject, session) -> (vas, rmdq); sub-03 (HC) has only a baseline.
SCORES = {
    ("01", "pre"): (7.5, 15), ("01", "post"): (4.0, 12),
    ("02", "pre"): (8.0, 17), ("02", "post"): (5.5, 14),
    ("03", "pre"): (0.0, 0),
}


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_scores(root: Path, table: str, columns: str, *rows: str) -> Path:
    """Write ``phenotype/<table>`` with the columns ``participant_id``, ``session_id`` and
    ``columns`` (tab-separated), then one line per row."""
    lines = [f"participant_id\tsession_id\t{columns}", *rows]
    return write_text(root / "phenotype" / table, "\n".join(lines) + "\n")


def write_nifti(path: Path, shape=(3, 3, 3, 6), t_r: float | None = 3.0,
                units: str = "sec") -> Path:
    """Tiny NIfTI; ``t_r`` goes into pixdim[4] (None leaves a 3-D image)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    img = nib.Nifti1Image(data, np.diag([4.0, 4.0, 4.0, 1.0]))
    if len(shape) == 4:
        img.header.set_zooms((4.0, 4.0, 4.0, t_r if t_r is not None else 0.0))
        img.header.set_xyzt_units("mm", units)
    nib.save(img, path)
    return path


def _build_dataset(root: Path, *, sessions=("pre", "post"), t_r: float = 3.0,
                  header_t_r: float | None = None, spaces=(MNI,), tasks=("rest",),
                  derivative_tr: bool = True, description: bool = True,
                  phenotype: bool = True, sessions_tsv: bool = True) -> Path:
    """Write a 3-subject dataset: CLBP 01, 02 with ``sessions``; HC 03 with the first one.

    Empty ``sessions`` writes a sessionless dataset (no ``ses-`` level).
    """
    header_t_r = t_r if header_t_r is None else header_t_r
    root.mkdir(parents=True, exist_ok=True)
    if description:
        write_json(root / "dataset_description.json", {"Name": "t", "BIDSVersion": "1.9.0"})
    write_text(root / "participants.tsv", PARTICIPANTS)
    write_json(root / "participants.json", {
        "age": {"Description": "age at baseline", "Units": "year"},
        "sex": {"Levels": {"F": "female", "M": "male"}},
    })
    deriv = root / "derivatives" / "fmriprep"
    write_json(deriv / "dataset_description.json",
               {"Name": "fMRIPrep", "BIDSVersion": "1.9.0", "DatasetType": "derivative"})
    plan = {"01": list(sessions), "02": list(sessions), "03": list(sessions[:1])}
    for sub, labels in plan.items():
        for ses in labels or [None]:
            rel = Path(f"sub-{sub}") / (f"ses-{ses}" if ses else "")
            stem = f"sub-{sub}" + (f"_ses-{ses}" if ses else "")
            write_nifti(root / rel / "anat" / f"{stem}_T1w.nii.gz", shape=(3, 3, 3), t_r=None)
            for task in tasks:
                write_nifti(root / rel / "func" / f"{stem}_task-{task}_bold.nii.gz",
                            t_r=header_t_r)
                write_json(root / rel / "func" / f"{stem}_task-{task}_bold.json",
                           {"RepetitionTime": t_r, "TaskName": task})
                fstem = f"{stem}_task-{task}"
                write_text(deriv / rel / "func" / f"{fstem}_desc-confounds_timeseries.tsv",
                           "framewise_displacement\ttrans_x\nn/a\t0.0\n0.1\t0.01\n")
                for space in spaces:
                    sstem = f"{fstem}_space-{space}_res-2"
                    write_nifti(deriv / rel / "func" / f"{sstem}_desc-preproc_bold.nii.gz",
                                t_r=header_t_r)
                    if derivative_tr:
                        write_json(deriv / rel / "func" / f"{sstem}_desc-preproc_bold.json",
                                   {"RepetitionTime": t_r, "SkullStripped": False})
                    write_nifti(deriv / rel / "func" / f"{sstem}_desc-brain_mask.nii.gz",
                                shape=(3, 3, 3), t_r=None)
            write_nifti(deriv / rel / "anat" / f"{stem}_Chimap.nii.gz", shape=(3, 3, 3),
                        t_r=None)
        # fMRIPrep side folders with names that are not BIDS: must be ignored
        write_text(deriv / f"sub-{sub}" / "figures" / "carpetplot.svg", "<svg/>")
        write_text(deriv / f"sub-{sub}" / "log" / "20240101" / "fmriprep.toml", "x = 1")
        if sessions and sessions_tsv:
            rows = "".join(f"ses-{s}\t2024-01-0{i + 1}T09:00:00\t{0.1 * (i + 1):.1f}\n"
                           for i, s in enumerate(labels))
            write_text(root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv",
                       "session_id\tacq_time\tmean_fd\n" + rows)
    write_text(deriv / "sub-01.html", "<html/>")
    if phenotype and sessions:
        lines = [f"sub-{sub}\tses-{sessions[0] if sub == '03' else ses}\t{vas}\t{rmdq}\n"
                 for (sub, ses), (vas, rmdq) in SCORES.items() if sub == "03" or ses in sessions]
        write_text(root / "phenotype" / "pain.tsv",
                   "participant_id\tsession_id\tvas\trmdq\n" + "".join(lines))
    elif phenotype:  # sessionless: baseline ("pre") scores, columns in other spellings
        lines = [f"sub-{sub}\t{vas}\t{rmdq}\n"
                 for (sub, ses), (vas, rmdq) in SCORES.items() if ses == "pre"]
        write_text(root / "phenotype" / "pain.tsv",
                   "participant_id\tVAS\tRoland-Morris\n" + "".join(lines))
    return root


_TEMPLATES: dict[tuple, Path] = {}
_CACHE = tempfile.TemporaryDirectory(prefix="painmarkers-io-tests-")


def build_dataset(root: Path, **kwargs) -> Path:
    """Write the dataset of ``_build_dataset(root, **kwargs)`` (copied from a cached template).

    Writing NIfTI files is the slow part of these tests; each distinct set of
    arguments is written once per test session and copied afterwards.
    """
    key = tuple(sorted(kwargs.items()))
    if key not in _TEMPLATES:
        _TEMPLATES[key] = _build_dataset(Path(_CACHE.name) / f"t{len(_TEMPLATES)}", **kwargs)
    shutil.copytree(_TEMPLATES[key], root, copy_function=shutil.copy2)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    """Every file and folder under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def bids_tree():
    """This module: ``build_dataset``, ``write_*``, ``snapshot`` and the constants."""
    return sys.modules[__name__]


@pytest.fixture
def dataset(tmp_path):
    """The default two-session, three-subject dataset."""
    return build_dataset(tmp_path / "ds")
