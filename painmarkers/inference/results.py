"""Result objects of voxelwise inference: maps, smoothness and cluster tables.

Each follows the result protocol of :mod:`painmarkers._results`: a frozen dataclass with the
``parameters`` that produced it and the software ``versions`` of the time, ``to_frame()``,
``summary()`` and ``save(directory) -> dict[str, Path]``. ``save`` writes each file
atomically (a temporary file in the target directory, then :func:`os.replace`), so an
interrupted run never leaves a half-written file. Statistic maps carry their kind and df in
their NIfTI intent code and descrip, and ``save`` writes a JSON sidecar next to each of them
(``tmap.nii.gz`` -> ``tmap.json``) with ``stat``, ``df`` and the smoothness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import atomic_write, write_json
from painmarkers._docs import fill_doc
from painmarkers._versions import versions as _collect_versions
from painmarkers.schema import CLUSTER_COLUMNS, SMOOTHNESS_COLUMNS

__all__ = ["ClusterResult", "PermutationClusterResult", "Smoothness", "VoxelwiseResult"]

_NULL_COLUMNS = ("permutation", "max_t", "max_size", "max_mass", "max_tfce")


# --- atomic writers ---------------------------------------------------------------------------
def _save_img(img, path: Path) -> Path:
    import nibabel as nib

    return atomic_write(path, lambda tmp: nib.save(img, tmp), suffix=".nii.gz")


def _save_tsv(frame: pd.DataFrame, path: Path) -> Path:
    return atomic_write(
        path, lambda tmp: frame.to_csv(tmp, sep="\t", index=False, na_rep="n/a"), suffix=".tsv"
    )


def _save_json(payload: Mapping[str, Any], path: Path) -> Path:
    return write_json(path, payload)


def _save_stat_map(out: dict, key: str, img, path: Path, stat: str, df: Any,
                   smoothness: Smoothness | None = None, **extra: Any) -> None:
    """Write a statistic map and its JSON sidecar (``stat``, ``df``, smoothness, ``extra``)."""
    from painmarkers.inference._statmaps import sidecar_path, stat_sidecar

    out[key] = _save_img(img, path)
    out[f"{key}_sidecar"] = _save_json(stat_sidecar(stat, df, smoothness, **extra),
                                       sidecar_path(path))


# --- smoothness -------------------------------------------------------------------------------
def _finite_positive(values, name: str) -> None:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"Smoothness {name} must be finite and > 0; got {values!r}. GRF p values of such a "
            "field would be NaN: re-estimate the smoothness (estimate_smoothness) or give a "
            "known FWHM (smoothness_from_fwhm).")


@dataclass(frozen=True)
class Smoothness:  # numpydoc ignore=PR01
    """Smoothness of a Gaussian random field, as FSL's ``smoothest`` reports it.

    Attributes
    ----------
    fwhm_mm : tuple of float
        FWHM along x, y, z in mm.
    fwhm_voxels : tuple of float
        FWHM along x, y, z in voxels.
    dlh : float
        ``sqrt(det Λ)`` in voxels⁻³ (FSL's DLH), after the degrees-of-freedom
        correction when estimated from residuals.
    n_voxels : int
        Number of voxels of the search volume (mask), >= 1.
    resel_size : float
        Voxels per resel, ``FWHMx·FWHMy·FWHMz`` in voxels (FSL's RESELS).
    n_resels : float
        ``n_voxels / resel_size``.
    voxel_size : tuple of float
        Voxel dimensions in mm.
    sigma_sq : tuple of float
        Per-axis σ² of the equivalent Gaussian kernel, in voxels².
    n_used_voxels : int
        Voxels whose −x, −y, −z neighbours are in the mask (those that entered the sums).
    dof : float or None
        Residual degrees of freedom used for the correction (None for a stat map).
    source : {"residuals", "stat_map", "given", "header"}
        What the estimate came from (``"header"``: a DPABI/painmarkers map's descrip).
    dof_correction : {"fsl", "dpabi"} or None
        Rule of the degrees-of-freedom correction of dLh (None when not corrected).
    parameters : Mapping
        How the estimate was obtained (source, dof, rule, given FWHM, ...).
    versions : Mapping
        Software versions at construction (:func:`painmarkers._versions.versions`).

    Raises
    ------
    ValueError
        On construction, if a FWHM, dLh, resel size or voxel size is NaN, infinite or
        <= 0, or the search volume is empty (``n_voxels < 1``).

    See Also
    --------
    estimate_smoothness : Estimate it from residuals or a statistic map.
    smoothness_from_fwhm : Build it from a known FWHM.

    Examples
    --------
    >>> from painmarkers.inference import Smoothness, smoothness_from_fwhm
    >>> s = smoothness_from_fwhm(8.0, 2.0, 1000)  # FWHM 8 mm on 2 mm voxels
    >>> s.fwhm_voxels, s.resel_size, s.n_resels
    ((4.0, 4.0, 4.0), 64.0, 15.625)
    >>> Smoothness.from_dict(s.to_dict()) == s
    True
    """

    fwhm_mm: tuple[float, float, float]
    fwhm_voxels: tuple[float, float, float]
    dlh: float
    n_voxels: int
    resel_size: float
    n_resels: float
    voxel_size: tuple[float, float, float]
    sigma_sq: tuple[float, float, float] = (np.nan, np.nan, np.nan)
    n_used_voxels: int = 0
    dof: float | None = None
    source: str = "residuals"
    dof_correction: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    versions: Mapping[str, str] = field(default_factory=_collect_versions, compare=False,
                                        hash=False)

    def __post_init__(self):
        for name in ("fwhm_mm", "fwhm_voxels", "dlh", "resel_size", "n_resels", "voxel_size"):
            _finite_positive(getattr(self, name), name)
        if not isinstance(self.n_voxels, int | np.integer) or self.n_voxels < 1:
            raise ValueError(
                f"Smoothness n_voxels (the search volume) must be an integer >= 1; got "
                f"{self.n_voxels!r}: an empty search volume has no GRF p values.")

    def to_dict(self) -> dict[str, Any]:
        """All numeric fields as a plain dict (what sidecars and provenance record).

        Returns
        -------
        dict
            ``fwhm_mm``, ``fwhm_voxels``, ``dlh``, ``n_voxels``, ``resel_size``,
            ``n_resels``, ``voxel_size``, ``sigma_sq``, ``n_used_voxels``, ``dof``,
            ``source`` and ``dof_correction`` (tuples as lists; JSON-ready).
        """
        return {
            "fwhm_mm": list(self.fwhm_mm),
            "fwhm_voxels": list(self.fwhm_voxels),
            "dlh": self.dlh,
            "n_voxels": self.n_voxels,
            "resel_size": self.resel_size,
            "n_resels": self.n_resels,
            "voxel_size": list(self.voxel_size),
            "sigma_sq": list(self.sigma_sq),
            "n_used_voxels": self.n_used_voxels,
            "dof": self.dof,
            "source": self.source,
            "dof_correction": self.dof_correction,
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any], **changes: Any) -> Smoothness:
        """Rebuild a :class:`Smoothness` from :meth:`to_dict` (e.g. a map's sidecar).

        Parameters
        ----------
        payload : mapping
            The fields, as :meth:`to_dict` writes them (missing optional ones take
            their defaults; ``None`` in a per-axis list becomes NaN).
        **changes
            Fields to set differently (e.g. ``source="header"``).

        Returns
        -------
        Smoothness
            The rebuilt estimate.

        Raises
        ------
        TypeError
            A required field (``fwhm_mm``, ``fwhm_voxels``, ``dlh``, ``n_voxels``,
            ``resel_size``, ``n_resels``, ``voxel_size``) is in neither ``payload`` nor
            ``changes``.
        ValueError
            A value is invalid (see the class's Raises).
        """
        keys = ("fwhm_mm", "fwhm_voxels", "dlh", "n_voxels", "resel_size", "n_resels",
                "voxel_size", "sigma_sq", "n_used_voxels", "dof", "source", "dof_correction")
        kw = {k: payload[k] for k in keys if k in payload}
        for k in ("fwhm_mm", "fwhm_voxels", "voxel_size", "sigma_sq"):
            if k in kw:
                kw[k] = tuple(np.nan if v is None else float(v) for v in kw[k])
        kw.update(changes)
        return cls(**kw)

    def to_frame(self) -> pd.DataFrame:
        """One-row frame with the columns of ``schema.SMOOTHNESS_COLUMNS``.

        Returns
        -------
        pandas.DataFrame
            Columns ``fwhm_x_mm``, ``fwhm_y_mm``, ``fwhm_z_mm``, ``fwhm_x_vox``,
            ``fwhm_y_vox``, ``fwhm_z_vox``, ``dlh``, ``n_voxels``, ``resel_size``,
            ``n_resels``, ``dof`` (NaN for a statistic map) and ``source``.
        """
        row = {
            "fwhm_x_mm": self.fwhm_mm[0], "fwhm_y_mm": self.fwhm_mm[1],
            "fwhm_z_mm": self.fwhm_mm[2],
            "fwhm_x_vox": self.fwhm_voxels[0], "fwhm_y_vox": self.fwhm_voxels[1],
            "fwhm_z_vox": self.fwhm_voxels[2],
            "dlh": self.dlh, "n_voxels": self.n_voxels, "resel_size": self.resel_size,
            "n_resels": self.n_resels, "dof": np.nan if self.dof is None else self.dof,
            "source": self.source,
        }
        return pd.DataFrame([row], columns=list(SMOOTHNESS_COLUMNS))

    def summary(self) -> str:
        """Human-readable summary.

        Returns
        -------
        str
            One line: FWHM in mm and voxels, DLH, voxels, resel size, resels and the
            degrees of freedom of the correction.
        """
        fx, fy, fz = self.fwhm_mm
        return (
            f"Smoothness ({self.source}): FWHM = {fx:.2f} x {fy:.2f} x {fz:.2f} mm "
            f"({self.fwhm_voxels[0]:.2f} x {self.fwhm_voxels[1]:.2f} x "
            f"{self.fwhm_voxels[2]:.2f} voxels); DLH = {self.dlh:.6g} voxel^-3; "
            f"{self.n_voxels} voxels; resel size {self.resel_size:.4g} voxels; "
            f"{self.n_resels:.4g} resels"
            + ("" if self.dof is None else
               f"; dof = {self.dof:g} ({self.dof_correction or 'fsl'} correction)")
        )

    @fill_doc
    def save(self, directory) -> dict[str, Path]:
        """Write ``smoothness.json`` into ``directory`` atomically.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            ``{"smoothness": path}``: :meth:`to_dict`, ``parameters`` and ``versions``.

        Raises
        ------
        %(save_raises)s
        """
        path = _save_json(
            {**self.to_dict(), "parameters": dict(self.parameters),
             "versions": dict(self.versions)},
            Path(directory) / "smoothness.json")
        return {"smoothness": path}


# --- voxelwise maps ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VoxelwiseResult:  # numpydoc ignore=PR01,EX01
    """Voxelwise group statistic maps of one contrast.

    Attributes
    ----------
    t_img, z_img : nibabel.Nifti1Image
        t map (NIfTI intent ``t test`` with ``p1 = df``, descrip ``{T_[df]}`` and the
        residual smoothness, as DPABI writes) and tail-matched z map (intent ``z score``);
        0 outside the mask.
    effect_img : nibabel.Nifti1Image
        Contrast estimate (e.g. mean, group difference, paired difference,
        regression slope).
    cohen_d_img : nibabel.Nifti1Image
        Standardised effect size (see :func:`voxelwise_ttest` Notes).
    r_img : nibabel.Nifti1Image or None
        (Partial) correlation map for ``design="correlation"``; None otherwise.
    mask_img : nibabel.Nifti1Image
        Voxels analysed (uint8).
    df : float
        Residual degrees of freedom.
    n : int
        Number of images entering the model.
    design : str
        ``"one_sample"``, ``"two_sample"``, ``"paired"`` or ``"correlation"``.
    contrast : str
        Human-readable description of the contrast (e.g. ``"CLBP - HC"``).
    design_matrix : pandas.DataFrame
        The design matrix used (one row per image).
    smoothness : Smoothness or None
        Smoothness of the standardised residuals (None when not estimated).
    n_voxels : int
        Voxels in the mask.
    n_zero_variance : int
        In-mask voxels whose residual variance is zero (t, z and d set to 0 there).
    parameters : Mapping
        Arguments that produced the result (file names, labels, covariates, what the
        implicit mask left out, ...).
    versions : Mapping
        Software versions at construction.

    See Also
    --------
    voxelwise_ttest : Compute it; its examples use this result.
    grf_cluster_correct : Cluster inference on its ``z_img`` or ``t_img``.
    """

    t_img: Any
    z_img: Any
    effect_img: Any
    cohen_d_img: Any
    r_img: Any
    mask_img: Any
    df: float
    n: int
    design: str
    contrast: str
    design_matrix: pd.DataFrame
    smoothness: Smoothness | None
    n_voxels: int
    n_zero_variance: int = 0
    parameters: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=_collect_versions)

    def to_frame(self) -> pd.DataFrame:
        """One row per in-mask voxel: i, j, k, x, y, z (mm), t, z_score, effect, cohen_d, r.

        Returns
        -------
        pandas.DataFrame
            Columns ``i``, ``j``, ``k`` (voxel indices), ``x``, ``y``, ``z`` (mm, from
            the affine), ``t``, ``z_score``, ``effect``, ``cohen_d`` and ``r`` (NaN
            unless ``design="correlation"``); voxels in the mask's C order.
        """
        mask = np.asarray(self.mask_img.dataobj).astype(bool)
        ijk = np.argwhere(mask)
        xyz = (self.t_img.affine @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T
        frame = pd.DataFrame(
            {
                "i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2],
                "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                "t": np.asarray(self.t_img.dataobj)[mask],
                "z_score": np.asarray(self.z_img.dataobj)[mask],
                "effect": np.asarray(self.effect_img.dataobj)[mask],
                "cohen_d": np.asarray(self.cohen_d_img.dataobj)[mask],
                "r": (np.asarray(self.r_img.dataobj)[mask] if self.r_img is not None
                      else np.full(len(ijk), np.nan)),
            }
        )
        return frame

    def summary(self) -> str:
        """Human-readable summary of the design and the maps.

        Returns
        -------
        str
            The design and contrast, n, df, voxels (and zero-variance voxels), the
            design columns, the t range and the smoothness.
        """
        mask = np.asarray(self.mask_img.dataobj).astype(bool)
        t = np.asarray(self.t_img.dataobj)[mask]
        lines = [
            f"Voxelwise {self.design.replace('_', '-')} t test: {self.contrast}",
            f"  n = {self.n} images, df = {self.df:g}, {self.n_voxels} voxels in mask"
            + (f" ({self.n_zero_variance} with zero variance, t set to 0)"
               if self.n_zero_variance else ""),
            f"  design columns: {', '.join(map(str, self.design_matrix.columns))}",
            f"  t range: [{t.min():.3f}, {t.max():.3f}]" if t.size else "  (empty mask)",
        ]
        partial = self.parameters.get("n_partial_coverage") or 0
        if partial:
            lines.append(f"  {partial} voxel(s) left out of the implicit mask: data in some "
                         "but not all images")
        if self.smoothness is not None:
            lines.append("  " + self.smoothness.summary())
        return "\n".join(lines)

    def provenance(self) -> dict[str, Any]:
        """Everything needed to reproduce the maps, as a JSON-ready dict.

        Returns
        -------
        dict
            ``analysis``, ``design``, ``contrast``, ``stat``, ``n``, ``df``,
            ``n_voxels``, ``n_zero_variance``, ``design_columns``, ``smoothness``
            (:meth:`Smoothness.to_dict` or None), ``parameters`` and ``versions``.
        """
        return {
            "analysis": "voxelwise_ttest",
            "design": self.design,
            "contrast": self.contrast,
            "stat": "t",
            "n": self.n,
            "df": self.df,
            "n_voxels": self.n_voxels,
            "n_zero_variance": self.n_zero_variance,
            "design_columns": list(map(str, self.design_matrix.columns)),
            "smoothness": None if self.smoothness is None else self.smoothness.to_dict(),
            "parameters": dict(self.parameters),
            "versions": dict(self.versions),
        }

    @fill_doc
    def save(self, directory) -> dict[str, Path]:
        """Write the maps (NIfTI), their sidecars, the design matrix (TSV) and provenance.

        Files: ``tmap.nii.gz`` + ``tmap.json`` (``stat``, ``df``, smoothness,
        ``n_zero_variance``), ``zmap.nii.gz`` + ``zmap.json``, ``effect.nii.gz``,
        ``cohen_d.nii.gz``, ``rmap.nii.gz`` (correlation only), ``mask.nii.gz``,
        ``design_matrix.tsv``, ``provenance.json``.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            Keys ``"tmap"``, ``"tmap_sidecar"``, ``"zmap"``, ``"zmap_sidecar"``,
            ``"effect"``, ``"cohen_d"``, ``"mask"``, ``"rmap"`` (correlation only),
            ``"design_matrix"`` and ``"provenance"``.

        Raises
        ------
        %(save_raises)s
        """
        d = Path(directory)
        out: dict[str, Path] = {}
        about = {"analysis": "voxelwise_ttest", "design": self.design,
                 "contrast": self.contrast, "n": self.n,
                 "n_zero_variance": self.n_zero_variance}
        _save_stat_map(out, "tmap", self.t_img, d / "tmap.nii.gz", "t", self.df,
                       self.smoothness, **about)
        _save_stat_map(out, "zmap", self.z_img, d / "zmap.nii.gz", "z", None, self.smoothness,
                       converted_from={"stat": "t", "df": self.df}, **about)
        out["effect"] = _save_img(self.effect_img, d / "effect.nii.gz")
        out["cohen_d"] = _save_img(self.cohen_d_img, d / "cohen_d.nii.gz")
        out["mask"] = _save_img(self.mask_img, d / "mask.nii.gz")
        if self.r_img is not None:
            out["rmap"] = _save_img(self.r_img, d / "rmap.nii.gz")
        out["design_matrix"] = _save_tsv(self.design_matrix, d / "design_matrix.tsv")
        out["provenance"] = _save_json(self.provenance(), d / "provenance.json")
        return out


# --- cluster inference -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ClusterResult:  # numpydoc ignore=PR01,EX01
    """Cluster-level inference on a statistic map (GRF or permutation).

    Attributes
    ----------
    stat_img : nibabel.Nifti1Image
        The statistic map that was thresholded (z, t or F with its NIfTI intent, or the
        TFCE-enhanced map).
    thresholded_img : nibabel.Nifti1Image
        ``stat_img`` inside significant clusters, 0 elsewhere (with the same intent).
    label_img : nibabel.Nifti1Image
        Cluster ids (int32) of every supra-threshold cluster, matching the
        ``cluster_id`` column of :attr:`clusters`; 0 elsewhere.
    clusters : pandas.DataFrame
        Cluster table, columns ``schema.CLUSTER_COLUMNS`` (see
        :func:`painmarkers.inference.cluster_table`).
    method : str
        ``"fsl"``, ``"spm"`` (GRF) or ``"permutation"``.
    stat : str
        Kind of ``stat_img``: ``"z"``, ``"t"``, ``"F"`` (or ``"tfce"``).
    voxel_p : float or None
        Cluster-forming (voxelwise, uncorrected) p threshold; None for TFCE.
    cluster_p : float
        Cluster-level family-wise α.
    two_tailed : bool
        Whether positive and negative clusters were both tested.
    height_threshold : float or None
        Cluster-forming threshold in the units of ``stat_img``.
    z_threshold : float or None
        Cluster-forming threshold as a z score.
    min_cluster_size : int or None
        Smallest significant cluster size k* in voxels, None if not defined.
    connectivity : int
        6, 18 or 26.
    df : float, tuple of 2 floats, or None
        Degrees of freedom of a t map (a pair for an F map).
    smoothness : Smoothness or None
        Smoothness used by GRF.
    n_mask_voxels : int
        Voxels in the search volume.
    p_img : nibabel.Nifti1Image or None
        Corrected p map: each voxel's cluster p (GRF, cluster permutation) or
        voxel FWE p (TFCE); 1 outside clusters. None if not computed.
    parameters : Mapping
        Method-specific provenance (where stat, df and smoothness were read from, expected
        cluster numbers, β, resel counts, number of permutations, random state, ...).
    n_zero_variance : int or None
        Voxels of the search volume whose t was set to 0 because their residual variance is
        zero (None when unknown, e.g. GRF on a map without its sidecar).
    versions : Mapping
        Software versions at construction.

    See Also
    --------
    grf_cluster_correct : GRF cluster inference; its examples use this result.
    permutation_cluster_correct : Permutation inference (a :class:`PermutationClusterResult`).
    cluster_table : The cluster table of a labelled map.
    """

    stat_img: Any
    thresholded_img: Any
    label_img: Any
    clusters: pd.DataFrame
    method: str
    stat: str
    voxel_p: float | None
    cluster_p: float
    two_tailed: bool
    height_threshold: float | None
    z_threshold: float | None
    min_cluster_size: int | None
    connectivity: int
    df: Any
    smoothness: Smoothness | None
    n_mask_voxels: int
    p_img: Any = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    n_zero_variance: int | None = None
    versions: Mapping[str, str] = field(default_factory=_collect_versions)

    @property
    def n_significant(self) -> int:
        """Number of significant clusters."""
        return int(self.clusters["significant"].sum()) if len(self.clusters) else 0

    def to_frame(self) -> pd.DataFrame:
        """The cluster table (a copy), one row per supra-threshold cluster.

        Returns
        -------
        pandas.DataFrame
            Columns ``schema.CLUSTER_COLUMNS`` (see :func:`cluster_table`), with the
            cluster p values and ``significant``.
        """
        return self.clusters.copy()

    def provenance(self) -> dict[str, Any]:
        """The whole analysis as a JSON-ready dict.

        Returns
        -------
        dict
            ``analysis``, ``method``, ``stat``, ``voxel_p``, ``cluster_p``,
            ``two_tailed``, the thresholds, ``min_cluster_size``, ``connectivity``,
            ``df``, ``n_mask_voxels``, ``n_zero_variance``, ``n_clusters``,
            ``n_significant``, ``smoothness``, ``parameters`` and ``versions``.
        """
        return {
            "analysis": "cluster_inference",
            "method": self.method,
            "stat": self.stat,
            "voxel_p": self.voxel_p,
            "cluster_p": self.cluster_p,
            "two_tailed": self.two_tailed,
            "height_threshold": self.height_threshold,
            "z_threshold": self.z_threshold,
            "min_cluster_size": self.min_cluster_size,
            "connectivity": self.connectivity,
            "df": self.df,
            "n_mask_voxels": self.n_mask_voxels,
            "n_zero_variance": self.n_zero_variance,
            "n_clusters": len(self.clusters),
            "n_significant": self.n_significant,
            "smoothness": None if self.smoothness is None else self.smoothness.to_dict(),
            "parameters": dict(self.parameters),
            "versions": dict(self.versions),
        }

    def summary(self) -> str:
        """Human-readable summary with the significant clusters.

        Returns
        -------
        str
            The method, thresholds and connectivity, where stat and df were read from,
            k*, the smoothness, the counts of clusters and a table of the significant
            ones.
        """
        tails = "two-tailed" if self.two_tailed else "one-tailed"
        head = f"Cluster inference ({self.method}, {tails}): "
        if self.voxel_p is not None:
            head += f"voxel p < {self.voxel_p:g}"
            if self.height_threshold is not None:
                head += f" ({self.stat} > {self.height_threshold:.3f})"
            head += ", "
        head += f"cluster p < {self.cluster_p:g}, connectivity {self.connectivity}"
        lines = [head]
        read = self.parameters.get("stat_from")
        if read:
            lines.append(f"  stat = {self.stat}, df = {self.df} (from {read})")
        if self.min_cluster_size is not None:
            lines.append(f"  minimum cluster size k* = {self.min_cluster_size} voxels")
        if self.smoothness is not None:
            src = self.parameters.get("smoothness_from")
            lines.append("  " + self.smoothness.summary() + (f" [from {src}]" if src else ""))
        lines.append(
            f"  {self.n_mask_voxels} voxels searched; {len(self.clusters)} supra-threshold "
            f"clusters, {self.n_significant} significant"
        )
        if self.n_zero_variance:
            lines.append(f"  {self.n_zero_variance} voxel(s) with zero variance (t = 0 there: "
                         "searched, never in a cluster)")
        sig = self.clusters[self.clusters["significant"]] if len(self.clusters) else None
        if sig is not None and len(sig):
            cols = ["cluster_id", "sign", "size_voxels", "p_cluster", "peak_stat",
                    "peak_mni_x", "peak_mni_y", "peak_mni_z", "aal", "harvard_oxford"]
            lines.append(sig[cols].to_string(index=False))
        return "\n".join(lines)

    @fill_doc
    def save(self, directory) -> dict[str, Path]:
        """Write the maps, cluster table and provenance into ``directory``.

        Files: ``thresholded_map.nii.gz`` with its sidecar ``thresholded_map.json``
        (``stat``, ``df``) unless the map is a TFCE map, ``cluster_labels.nii.gz``,
        ``p_map.nii.gz`` (when :attr:`p_img` is set), ``clusters.tsv`` and
        ``provenance.json``.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            Keys ``"thresholded_map"`` (and ``"thresholded_map_sidecar"``),
            ``"cluster_labels"``, ``"p_map"`` (when set), ``"clusters"`` and
            ``"provenance"``.

        Raises
        ------
        %(save_raises)s
        """
        d = Path(directory)
        out: dict[str, Path] = {}
        if self.stat in ("t", "z", "F"):
            _save_stat_map(out, "thresholded_map", self.thresholded_img,
                           d / "thresholded_map.nii.gz", self.stat, self.df,
                           thresholded={"method": self.method, "voxel_p": self.voxel_p,
                                        "cluster_p": self.cluster_p,
                                        "two_tailed": self.two_tailed})
        else:
            out["thresholded_map"] = _save_img(self.thresholded_img,
                                               d / "thresholded_map.nii.gz")
        out["cluster_labels"] = _save_img(self.label_img, d / "cluster_labels.nii.gz")
        if self.p_img is not None:
            out["p_map"] = _save_img(self.p_img, d / "p_map.nii.gz")
        out["clusters"] = _save_tsv(self.clusters, d / "clusters.tsv")
        out["provenance"] = _save_json(self.provenance(), d / "provenance.json")
        return out


@dataclass(frozen=True, eq=False)
class PermutationClusterResult(ClusterResult):  # numpydoc ignore=PR01
    """:class:`ClusterResult` of permutation inference, with its null distributions.

    Every attribute of :class:`ClusterResult` is present (``method`` is
    ``"permutation"``; ``stat_img`` is the t map, or the signed TFCE map when
    ``cluster_stat="tfce"``; ``p_img`` holds each voxel's cluster-level FWE p, or
    its TFCE FWE p; ``n_zero_variance`` counts the voxels whose t is 0 because their
    residual variance is zero). In addition:

    Attributes
    ----------
    t_img : nibabel.Nifti1Image
        The observed t map (0 outside the mask; NIfTI intent t test with ``p1 = df``);
        for an F contrast of a GLM design, the F map (intent f test, ``p1, p2 = k, df``;
        ``stat`` is then ``"F"`` and ``df`` the pair).
    voxel_fwe_p_img : nibabel.Nifti1Image
        Voxel-level FWE-corrected p of the max :math:`|t|` (max-t when one-tailed)
        permutation distribution; 1 outside the mask.
    null_distribution : pandas.DataFrame
        One row per permutation, the identity first (``permutation == 0``):
        ``permutation``, ``max_t``, ``max_size``, ``max_mass``, ``max_tfce``
        (NaN for the statistics not computed).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.inference import permutation_cluster_correct
    >>> rng = np.random.default_rng(1)
    >>> imgs = [nib.Nifti1Image(rng.standard_normal((8, 8, 8)), np.eye(4)) for _ in range(10)]
    >>> res = permutation_cluster_correct(imgs, n_permutations=99, random_state=0, atlas=False)
    >>> len(res.null_distribution), int(res.null_distribution["permutation"].iloc[0])
    (100, 0)
    >>> bool(np.isclose(res.null_distribution["max_t"].iloc[0],
    ...                 np.abs(res.t_img.dataobj).max(), rtol=1e-6))  # identity = observed
    True
    """

    t_img: Any = None
    voxel_fwe_p_img: Any = None
    null_distribution: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(_NULL_COLUMNS))
    )

    def summary(self) -> str:
        """Human-readable summary: design, permutations and significant clusters.

        Returns
        -------
        str
            The design, contrast, exchangeability, n, df, permutations and cluster
            statistic, then :meth:`ClusterResult.summary`.
        """
        p = self.parameters
        head = (
            f"Permutation inference ({p.get('design')}, {p.get('contrast')}, "
            f"{p.get('exchangeability')}): n = {p.get('n')}, df = {_df_text(self.df)}, "
            f"{p.get('n_permutations')} permutations + identity, cluster statistic = "
            f"{p.get('cluster_stat')}"
        )
        return head + "\n" + super().summary()

    @fill_doc
    def save(self, directory) -> dict[str, Path]:
        """Write everything :meth:`ClusterResult.save` writes, plus the permutation outputs.

        Extra files: ``tmap.nii.gz`` (``fmap.nii.gz`` for an F contrast) with its sidecar
        ``tmap.json`` (``stat``, ``df``, ``n_zero_variance``), ``tfce_map.nii.gz`` (TFCE
        only), ``voxel_fwe_p_map.nii.gz`` and ``null_distribution.tsv``.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            The keys of :meth:`ClusterResult.save`, plus ``"tmap"`` and
            ``"tmap_sidecar"`` (``"fmap"``, ``"fmap_sidecar"``), ``"tfce_map"`` (TFCE
            only), ``"voxel_fwe_p_map"`` and ``"null_distribution"``.

        Raises
        ------
        %(save_raises)s
        """
        out = super().save(directory)
        d = Path(directory)
        p = self.parameters
        kind = "F" if isinstance(self.df, tuple) else "t"
        key = "tmap" if kind == "t" else "fmap"
        _save_stat_map(out, key, self.t_img, d / f"{key}.nii.gz", kind, self.df,
                       analysis="permutation_cluster_correct", design=p.get("design"),
                       contrast=p.get("contrast"), n=p.get("n"),
                       n_zero_variance=self.n_zero_variance)
        if self.stat == "tfce":
            out["tfce_map"] = _save_img(self.stat_img, d / "tfce_map.nii.gz")
        out["voxel_fwe_p_map"] = _save_img(self.voxel_fwe_p_img, d / "voxel_fwe_p_map.nii.gz")
        out["null_distribution"] = _save_tsv(self.null_distribution,
                                             d / "null_distribution.tsv")
        return out


def _df_text(df) -> str:
    return f"({df[0]:g}, {df[1]:g})" if isinstance(df, tuple) else f"{df:g}"


def empty_cluster_table() -> pd.DataFrame:
    """A cluster table with no rows and every column of ``CLUSTER_COLUMNS``."""
    return pd.DataFrame({c: pd.Series(dtype=_CLUSTER_DTYPES.get(c, float))
                         for c in CLUSTER_COLUMNS})


_CLUSTER_DTYPES = {
    "cluster_id": "int64", "sign": "int64", "size_voxels": "int64", "significant": "bool",
    "peak_i": "int64", "peak_j": "int64", "peak_k": "int64",
    "aal": "object", "harvard_oxford": "object",
}
