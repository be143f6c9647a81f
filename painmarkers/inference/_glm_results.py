"""Result objects of the voxelwise GLM (:func:`~painmarkers.inference.voxelwise_glm`).

Both follow the result protocol of :mod:`painmarkers._results` (frozen dataclass,
``to_frame()``, ``summary()``, ``save(directory) -> dict[str, Path]``, ``parameters``,
``versions``). Statistic maps carry their kind and df (NIfTI intent, SPM/DPABI descrip) and
``save`` writes a JSON sidecar next to each (``stat``, ``df``, smoothness).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._docs import fill_doc
from painmarkers._versions import versions as _collect_versions
from painmarkers.inference.results import (
    Smoothness,
    _save_img,
    _save_json,
    _save_stat_map,
    _save_tsv,
)

__all__ = ["GLMContrastMaps", "GLMResult"]


def _slug(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_")
    return text[:60] or "contrast"


def _voxels(img, mask) -> np.ndarray:
    data = np.asarray(img.dataobj)
    return data[mask] if data.ndim == 3 else data[mask].T


@dataclass(frozen=True, eq=False)
class GLMContrastMaps:  # numpydoc ignore=PR01
    """The maps of one contrast of a voxelwise GLM.

    Attributes
    ----------
    name : str
        The contrast's name.
    stat : {"t", "F"}
        Statistic of ``stat_img``.
    df : float or tuple of 2 floats
        Residual df of a t contrast; ``(k, df)`` of an F contrast.
    contrast : pandas.DataFrame
        The contrast matrix: one row per tested combination, one column per column of X.
    effect_img : nibabel.Nifti1Image
        Cβ̂: 3-D for a t contrast, 4-D (one volume per row) for an F contrast.
    se_img : nibabel.Nifti1Image
        Standard error of each row of Cβ̂ (square it for the variance).
    stat_img : nibabel.Nifti1Image
        t or F map (NIfTI intent ``t test`` / ``f test`` with the df, SPM/DPABI descrip
        with the residual smoothness).
    z_img : nibabel.Nifti1Image
        Tail-matched z map (intent ``z score``).
    p_img : nibabel.Nifti1Image
        Uncorrected p (two-tailed for t when ``two_tailed``; 1 outside the mask).
    mask_img : nibabel.Nifti1Image
        Voxels analysed (uint8).
    n : int
        Images in the model.
    smoothness : Smoothness or None
        Residual smoothness (shared by every contrast of the model).
    two_tailed : bool
        Whether ``p_img`` is two-tailed.
    n_zero_variance : int
        In-mask voxels with zero residual variance (statistic 0, p 1).
    parameters, versions : Mapping
        The contrast and the design; software versions.

    Examples
    --------
    >>> import numpy as np, nibabel as nib, pandas as pd
    >>> from painmarkers.inference import voxelwise_glm
    >>> rng = np.random.default_rng(0)
    >>> imgs = [nib.Nifti1Image(rng.normal(size=(5, 5, 5)), np.eye(4)) for _ in range(10)]
    >>> design = pd.DataFrame({"mean": np.ones(10), "vas": np.arange(10.0)})
    >>> cm = voxelwise_glm(imgs, design, "vas", estimate_smoothness=False)["vas"]
    >>> cm.stat, cm.df, cm.k, list(cm.to_frame().columns[6:])
    ('t', 8.0, 1, ['stat', 'z_score', 'p', 'effect', 'se'])
    """

    name: str
    stat: str
    df: Any
    contrast: pd.DataFrame
    effect_img: Any
    se_img: Any
    stat_img: Any
    z_img: Any
    p_img: Any
    mask_img: Any
    n: int
    smoothness: Smoothness | None = None
    two_tailed: bool = True
    n_zero_variance: int = 0
    parameters: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=_collect_versions)

    @property
    def k(self) -> int:
        """Rows of the contrast (1 for t)."""
        return int(self.contrast.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per in-mask voxel: i, j, k, x, y, z (mm), stat, z_score, p, effect, se.

        Returns
        -------
        pandas.DataFrame
            Columns ``i``, ``j``, ``k`` (voxel indices), ``x``, ``y``, ``z`` (mm),
            ``stat`` (t or F), ``z_score``, ``p``, ``effect`` and ``se``; ``effect`` and
            ``se`` are NaN for an F contrast of several rows (see ``effect_img``).
            Voxels in the mask's C order.
        """
        mask = np.asarray(self.mask_img.dataobj).astype(bool)
        ijk = np.argwhere(mask)
        xyz = (self.stat_img.affine @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T
        one = self.k == 1
        nan = np.full(len(ijk), np.nan)
        return pd.DataFrame({
            "i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2],
            "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
            "stat": _voxels(self.stat_img, mask), "z_score": _voxels(self.z_img, mask),
            "p": _voxels(self.p_img, mask),
            "effect": np.ravel(_voxels(self.effect_img, mask)) if one else nan,
            "se": np.ravel(_voxels(self.se_img, mask)) if one else nan,
        })

    def summary(self) -> str:
        """The contrast, its df and the range of its statistic.

        Returns
        -------
        str
            The contrast's name, statistic, df and n, its rows, the range of the
            statistic and the voxels with uncorrected p < 0.001.
        """
        mask = np.asarray(self.mask_img.dataobj).astype(bool)
        values = _voxels(self.stat_img, mask)
        p = _voxels(self.p_img, mask)
        df = (f"df = {self.df:g}" if self.stat == "t"
              else f"df = ({self.df[0]:g}, {self.df[1]:g})")
        lines = [f"Contrast {self.name!r}: {self.stat} map, {df}, n = {self.n}",
                 "  rows: " + "; ".join(map(str, self.contrast.index))]
        if values.size:
            lines.append(f"  {self.stat} range [{values.min():.3f}, {values.max():.3f}]; "
                         f"{int((p < 0.001).sum())} of {values.size} voxels with "
                         f"uncorrected p < 0.001")
        if self.n_zero_variance:
            lines.append(f"  {self.n_zero_variance} voxel(s) with zero residual variance")
        return "\n".join(lines)

    @fill_doc
    def save(self, directory, prefix: str = "") -> dict[str, Path]:
        """Write the maps (with sidecars) and the contrast matrix into ``directory``.

        Files: ``tmap.nii.gz`` or ``fmap.nii.gz`` (+ ``.json``: ``stat``, ``df``,
        smoothness), ``zmap.nii.gz`` (+ ``.json``), ``pmap.nii.gz``, ``effect.nii.gz``,
        ``se.nii.gz``, ``contrast.tsv``; each name preceded by ``prefix``.

        Parameters
        ----------
        %(save_directory)s
        prefix : str, default=""
            Text put before every file name (e.g. ``"contrast-01_age_"``).

        Returns
        -------
        %(save_returns)s
            Keys ``"tmap"`` (or ``"fmap"``) and its ``"_sidecar"``, ``"zmap"``,
            ``"zmap_sidecar"``, ``"pmap"``, ``"effect"``, ``"se"`` and ``"contrast"``.

        Raises
        ------
        %(save_raises)s
        """
        d = Path(directory)
        out: dict[str, Path] = {}
        about = {"analysis": "voxelwise_glm", "contrast": self.name, "n": self.n,
                 "n_zero_variance": self.n_zero_variance}
        key = "tmap" if self.stat == "t" else "fmap"
        _save_stat_map(out, key, self.stat_img, d / f"{prefix}{key}.nii.gz", self.stat,
                       self.df, self.smoothness, **about)
        _save_stat_map(out, "zmap", self.z_img, d / f"{prefix}zmap.nii.gz", "z", None,
                       self.smoothness, converted_from={"stat": self.stat, "df": self.df},
                       **about)
        out["pmap"] = _save_img(self.p_img, d / f"{prefix}pmap.nii.gz")
        out["effect"] = _save_img(self.effect_img, d / f"{prefix}effect.nii.gz")
        out["se"] = _save_img(self.se_img, d / f"{prefix}se.nii.gz")
        out["contrast"] = _save_tsv(self.contrast.reset_index(names="row"),
                                    d / f"{prefix}contrast.tsv")
        return out


@dataclass(frozen=True, eq=False)
class GLMResult:  # numpydoc ignore=PR01
    """Voxelwise GLM: the design, the residual variance and the maps of every contrast.

    ``result[name]`` (or ``result.contrasts[name]``) is a :class:`GLMContrastMaps`, which
    :func:`~painmarkers.inference.grf_cluster_correct` accepts directly.

    Attributes
    ----------
    contrasts : dict of str to GLMContrastMaps
        The maps of each contrast, in the order given.
    design : GLMDesign
        The design (matrix, terms, subjects, rank); pass it with a contrast to
        :func:`~painmarkers.inference.permutation_cluster_correct`.
    design_matrix : pandas.DataFrame
        X, one row per image (subject columns last).
    mask_img : nibabel.Nifti1Image
        Voxels analysed.
    residual_variance_img : nibabel.Nifti1Image
        σ̂² = RSS / df (SPM's ResMS).
    df : float
        Residual df ``n − rank(X)``.
    n, rank, n_voxels, n_zero_variance : int
        Images, rank of X, voxels in the mask, voxels with zero residual variance.
    smoothness : Smoothness or None
        Smoothness of the standardised residuals.
    parameters, versions : Mapping
        Design, contrasts, subjects, what the mask left out; software versions.

    Examples
    --------
    >>> import numpy as np, nibabel as nib, pandas as pd
    >>> from painmarkers.inference import voxelwise_glm
    >>> rng = np.random.default_rng(0)
    >>> imgs = [nib.Nifti1Image(rng.normal(size=(5, 5, 5)), np.eye(4)) for _ in range(12)]
    >>> table = pd.DataFrame({"group": ["a", "b", "c"] * 4, "age": rng.normal(40, 9, 12)})
    >>> res = voxelwise_glm(imgs, "~ group + age", ["age", "group"], data=table,
    ...                     estimate_smoothness=False)
    >>> res.to_frame()[["contrast", "stat", "df_num", "df_den"]]
      contrast stat  df_num  df_den
    0      age    t     NaN     8.0
    1    group    F     2.0     8.0
    """

    contrasts: Mapping[str, GLMContrastMaps]
    design: Any
    design_matrix: pd.DataFrame
    mask_img: Any
    residual_variance_img: Any
    df: float
    n: int
    rank: int
    smoothness: Smoothness | None
    n_voxels: int
    n_zero_variance: int = 0
    parameters: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=_collect_versions)

    def __getitem__(self, name: str) -> GLMContrastMaps:
        try:
            return self.contrasts[name]
        except KeyError:
            raise KeyError(f"No contrast {name!r}; the contrasts are "
                           f"{list(self.contrasts)}.") from None

    @property
    def contrast_names(self) -> list[str]:
        """Names of the contrasts, in order."""
        return list(self.contrasts)

    def to_frame(self) -> pd.DataFrame:
        """One row per contrast.

        Returns
        -------
        pandas.DataFrame
            Columns ``contrast``, ``stat``, ``df_num`` (k; NaN for t), ``df_den``,
            ``n``, ``n_voxels``, ``stat_max``, ``stat_min``, ``p_min``,
            ``n_p_below_001`` (voxels with uncorrected p < 0.001).
        """
        mask = np.asarray(self.mask_img.dataobj).astype(bool)
        rows = []
        for name, cm in self.contrasts.items():
            values = _voxels(cm.stat_img, mask)
            p = _voxels(cm.p_img, mask)
            rows.append({
                "contrast": name, "stat": cm.stat,
                "df_num": float(cm.df[0]) if cm.stat == "F" else np.nan,
                "df_den": float(cm.df[1]) if cm.stat == "F" else float(cm.df),
                "n": self.n, "n_voxels": self.n_voxels,
                "stat_max": float(values.max()) if values.size else np.nan,
                "stat_min": float(values.min()) if values.size else np.nan,
                "p_min": float(p.min()) if p.size else np.nan,
                "n_p_below_001": int((p < 0.001).sum()),
            })
        return pd.DataFrame(rows, columns=["contrast", "stat", "df_num", "df_den", "n",
                                           "n_voxels", "stat_max", "stat_min", "p_min",
                                           "n_p_below_001"])

    def summary(self) -> str:
        """The design, the df and each contrast.

        Returns
        -------
        str
            The design, n, rank, df and voxels, the subject effects and notes, the
            smoothness, then :meth:`GLMContrastMaps.summary` of each contrast.
        """
        p = self.parameters
        lines = [f"Voxelwise GLM: {p.get('design')}",
                 f"  n = {self.n} images, rank {self.rank}, df = {self.df:g}, "
                 f"{self.n_voxels} voxels in mask"
                 + (f" ({self.n_zero_variance} with zero variance)"
                    if self.n_zero_variance else "")]
        if p.get("subject_effects"):
            lines.append(f"  subject effects: {p.get('n_subjects')} subjects"
                         + (f"; not estimable alone: {', '.join(p.get('aliased_columns'))}"
                            if p.get("aliased_columns") else ""))
        for note in p.get("notes") or []:
            lines.append(f"  note: {note}")
        if self.smoothness is not None:
            lines.append("  " + self.smoothness.summary())
        lines.extend(cm.summary() for cm in self.contrasts.values())
        return "\n".join(lines)

    def provenance(self) -> dict[str, Any]:
        """Everything needed to reproduce the maps, as a JSON-ready dict.

        Returns
        -------
        dict
            ``analysis``, ``n``, ``rank``, ``df``, ``n_voxels``, ``n_zero_variance``,
            ``smoothness`` (:meth:`Smoothness.to_dict` or None), ``parameters`` and
            ``versions``.
        """
        return {
            "analysis": "voxelwise_glm", "n": self.n, "rank": self.rank, "df": self.df,
            "n_voxels": self.n_voxels, "n_zero_variance": self.n_zero_variance,
            "smoothness": None if self.smoothness is None else self.smoothness.to_dict(),
            "parameters": dict(self.parameters), "versions": dict(self.versions),
        }

    @fill_doc
    def save(self, directory) -> dict[str, Path]:
        """Write the design, residual variance, mask, provenance and every contrast's maps.

        Files: ``design_matrix.tsv``, ``contrasts.tsv`` (:meth:`to_frame`),
        ``residual_variance.nii.gz``, ``mask.nii.gz``, ``provenance.json`` and, per
        contrast (numbered from 01 in order), ``contrast-<nn>_<name>_tmap.nii.gz`` (or
        ``_fmap``), ``_zmap``, ``_pmap``, ``_effect``, ``_se`` and ``_contrast.tsv`` with
        sidecars (see :meth:`GLMContrastMaps.save`).

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            Keys ``"design_matrix"``, ``"contrasts"``, ``"residual_variance"``,
            ``"mask"``, ``"provenance"``, and the keys of
            :meth:`GLMContrastMaps.save` prefixed with ``contrast-<nn>/``
            (``"contrast-01/tmap"``).

        Raises
        ------
        %(save_raises)s
        """
        d = Path(directory)
        out: dict[str, Path] = {}
        out["design_matrix"] = _save_tsv(self.design_matrix, d / "design_matrix.tsv")
        out["contrasts"] = _save_tsv(self.to_frame(), d / "contrasts.tsv")
        out["residual_variance"] = _save_img(self.residual_variance_img,
                                             d / "residual_variance.nii.gz")
        out["mask"] = _save_img(self.mask_img, d / "mask.nii.gz")
        out["provenance"] = _save_json(self.provenance(), d / "provenance.json")
        for i, (name, cm) in enumerate(self.contrasts.items(), start=1):
            files = cm.save(d, prefix=f"contrast-{i:02d}_{_slug(name)}_")
            out.update({f"contrast-{i:02d}/{k}": v for k, v in files.items()})
        return out
