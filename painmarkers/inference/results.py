"""Result objects of voxelwise inference: maps, smoothness and cluster tables.

All three are frozen dataclasses carrying the parameters that produced them,
with ``to_frame()``, ``summary()`` and ``save(directory)``. ``save`` writes each
file atomically (a temporary file in the target directory, then
:func:`os.replace`), so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import atomic_write, write_json
from painmarkers.schema import CLUSTER_COLUMNS, SMOOTHNESS_COLUMNS

__all__ = ["ClusterResult", "Smoothness", "VoxelwiseResult"]


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


def _versions() -> dict[str, str]:
    import nibabel
    import scipy

    try:
        from importlib.metadata import version

        pm_version = version("painmarkers")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        pm_version = "unknown"
    return {
        "painmarkers": pm_version,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "nibabel": nibabel.__version__,
        "pandas": pd.__version__,
    }


# --- smoothness -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Smoothness:
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
        Number of voxels of the search volume (mask).
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
    source : {"residuals", "stat_map", "given"}
        What the estimate came from.
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

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict."""
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
        }

    def to_frame(self) -> pd.DataFrame:
        """One-row frame with the columns of ``schema.SMOOTHNESS_COLUMNS``."""
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
        """Human-readable summary."""
        fx, fy, fz = self.fwhm_mm
        return (
            f"Smoothness ({self.source}): FWHM = {fx:.2f} x {fy:.2f} x {fz:.2f} mm "
            f"({self.fwhm_voxels[0]:.2f} x {self.fwhm_voxels[1]:.2f} x "
            f"{self.fwhm_voxels[2]:.2f} voxels); DLH = {self.dlh:.6g} voxel^-3; "
            f"{self.n_voxels} voxels; resel size {self.resel_size:.4g} voxels; "
            f"{self.n_resels:.4g} resels"
            + ("" if self.dof is None else f"; dof = {self.dof:g}")
        )

    def save(self, directory) -> dict[str, Path]:
        """Write ``smoothness.json`` into ``directory`` (atomically); return the path."""
        path = _save_json(
            {**self.to_dict(), "versions": _versions()}, Path(directory) / "smoothness.json"
        )
        return {"smoothness": path}


# --- voxelwise maps ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VoxelwiseResult:
    """Voxelwise group statistic maps of one contrast.

    Attributes
    ----------
    t_img, z_img : nibabel.Nifti1Image
        t map and tail-matched z map (0 outside the mask).
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
        In-mask voxels whose residual variance is zero (t set to 0 there).
    parameters : Mapping
        Arguments that produced the result (file names, covariates, ...).
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

    def to_frame(self) -> pd.DataFrame:
        """One row per in-mask voxel: i, j, k, x, y, z (mm), t, z_score, effect, cohen_d, r."""
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
        """Human-readable summary of the design and the maps."""
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
        if self.smoothness is not None:
            lines.append("  " + self.smoothness.summary())
        return "\n".join(lines)

    def provenance(self) -> dict[str, Any]:
        """Everything needed to reproduce the maps, as a JSON-ready dict."""
        return {
            "analysis": "voxelwise_ttest",
            "design": self.design,
            "contrast": self.contrast,
            "n": self.n,
            "df": self.df,
            "n_voxels": self.n_voxels,
            "n_zero_variance": self.n_zero_variance,
            "design_columns": list(map(str, self.design_matrix.columns)),
            "smoothness": None if self.smoothness is None else self.smoothness.to_dict(),
            "parameters": dict(self.parameters),
            "versions": _versions(),
        }

    def save(self, directory) -> dict[str, Path]:
        """Write the maps (NIfTI), the design matrix (TSV) and provenance (JSON).

        Files: ``tmap.nii.gz``, ``zmap.nii.gz``, ``effect.nii.gz``,
        ``cohen_d.nii.gz``, ``rmap.nii.gz`` (correlation only), ``mask.nii.gz``,
        ``design_matrix.tsv``, ``provenance.json``. Each is written atomically.
        Returns a dict of the paths written.
        """
        d = Path(directory)
        out = {
            "tmap": _save_img(self.t_img, d / "tmap.nii.gz"),
            "zmap": _save_img(self.z_img, d / "zmap.nii.gz"),
            "effect": _save_img(self.effect_img, d / "effect.nii.gz"),
            "cohen_d": _save_img(self.cohen_d_img, d / "cohen_d.nii.gz"),
            "mask": _save_img(self.mask_img, d / "mask.nii.gz"),
        }
        if self.r_img is not None:
            out["rmap"] = _save_img(self.r_img, d / "rmap.nii.gz")
        out["design_matrix"] = _save_tsv(self.design_matrix, d / "design_matrix.tsv")
        out["provenance"] = _save_json(self.provenance(), d / "provenance.json")
        return out


# --- cluster inference -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ClusterResult:
    """Cluster-level inference on a statistic map (GRF or permutation).

    Attributes
    ----------
    stat_img : nibabel.Nifti1Image
        The statistic map that was thresholded (z, t, or TFCE-enhanced).
    thresholded_img : nibabel.Nifti1Image
        ``stat_img`` inside significant clusters, 0 elsewhere.
    label_img : nibabel.Nifti1Image
        Cluster ids (int32) of every supra-threshold cluster, matching the
        ``cluster_id`` column of :attr:`clusters`; 0 elsewhere.
    clusters : pandas.DataFrame
        Cluster table, columns ``schema.CLUSTER_COLUMNS`` (see
        :func:`painmarkers.inference.cluster_table`).
    method : str
        ``"fsl"``, ``"spm"`` (GRF) or ``"permutation"``.
    stat : str
        Kind of ``stat_img``: ``"z"`` or ``"t"`` (or ``"tfce"``).
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
        Smallest significant cluster size k* in voxels (GRF), None if not defined.
    connectivity : int
        6, 18 or 26.
    df : float or None
        Degrees of freedom of a t map.
    smoothness : Smoothness or None
        Smoothness used by GRF.
    n_mask_voxels : int
        Voxels in the search volume.
    p_img : nibabel.Nifti1Image or None
        Corrected p map: each voxel's cluster p (GRF, cluster permutation) or
        voxel FWE p (TFCE); 1 outside clusters. None if not computed.
    parameters : Mapping
        Method-specific provenance (expected cluster numbers, β, resel counts,
        number of permutations, random state, ...).
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
    df: float | None
    smoothness: Smoothness | None
    n_mask_voxels: int
    p_img: Any = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_significant(self) -> int:
        """Number of significant clusters."""
        return int(self.clusters["significant"].sum()) if len(self.clusters) else 0

    def to_frame(self) -> pd.DataFrame:
        """The cluster table (a copy), one row per supra-threshold cluster."""
        return self.clusters.copy()

    def provenance(self) -> dict[str, Any]:
        """The whole analysis as a JSON-ready dict."""
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
            "n_clusters": len(self.clusters),
            "n_significant": self.n_significant,
            "smoothness": None if self.smoothness is None else self.smoothness.to_dict(),
            "parameters": dict(self.parameters),
            "versions": _versions(),
        }

    def summary(self) -> str:
        """Human-readable summary with the significant clusters."""
        tails = "two-tailed" if self.two_tailed else "one-tailed"
        head = f"Cluster inference ({self.method}, {tails}): "
        if self.voxel_p is not None:
            head += f"voxel p < {self.voxel_p:g}"
            if self.height_threshold is not None:
                head += f" ({self.stat} > {self.height_threshold:.3f})"
            head += ", "
        head += f"cluster p < {self.cluster_p:g}, connectivity {self.connectivity}"
        lines = [head]
        if self.min_cluster_size is not None:
            lines.append(f"  minimum cluster size k* = {self.min_cluster_size} voxels")
        if self.smoothness is not None:
            lines.append("  " + self.smoothness.summary())
        lines.append(
            f"  {self.n_mask_voxels} voxels searched; {len(self.clusters)} supra-threshold "
            f"clusters, {self.n_significant} significant"
        )
        sig = self.clusters[self.clusters["significant"]] if len(self.clusters) else None
        if sig is not None and len(sig):
            cols = ["cluster_id", "sign", "size_voxels", "p_cluster", "peak_stat",
                    "peak_mni_x", "peak_mni_y", "peak_mni_z", "aal", "harvard_oxford"]
            lines.append(sig[cols].to_string(index=False))
        return "\n".join(lines)

    def save(self, directory) -> dict[str, Path]:
        """Write the maps, cluster table and provenance into ``directory``.

        Files (each written atomically): ``thresholded_map.nii.gz``,
        ``cluster_labels.nii.gz``, ``p_map.nii.gz`` (when :attr:`p_img` is set),
        ``clusters.tsv`` and ``provenance.json``. Returns the paths written.
        """
        d = Path(directory)
        out = {
            "thresholded_map": _save_img(self.thresholded_img, d / "thresholded_map.nii.gz"),
            "cluster_labels": _save_img(self.label_img, d / "cluster_labels.nii.gz"),
        }
        if self.p_img is not None:
            out["p_map"] = _save_img(self.p_img, d / "p_map.nii.gz")
        out["clusters"] = _save_tsv(self.clusters, d / "clusters.tsv")
        out["provenance"] = _save_json(self.provenance(), d / "provenance.json")
        return out


def empty_cluster_table() -> pd.DataFrame:
    """A cluster table with no rows and every column of ``CLUSTER_COLUMNS``."""
    return pd.DataFrame({c: pd.Series(dtype=_CLUSTER_DTYPES.get(c, float))
                         for c in CLUSTER_COLUMNS})


_CLUSTER_DTYPES = {
    "cluster_id": "int64", "sign": "int64", "size_voxels": "int64", "significant": "bool",
    "peak_i": "int64", "peak_j": "int64", "peak_k": "int64",
    "aal": "object", "harvard_oxford": "object",
}
