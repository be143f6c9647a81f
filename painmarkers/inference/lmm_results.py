"""The result of :func:`~painmarkers.inference.voxelwise_lmm`: maps per coefficient and term."""

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

__all__ = ["VoxelwiseLMMResult"]

#: Columns of :meth:`VoxelwiseLMMResult.to_frame`.
LMM_MAP_COLUMNS = ("i", "j", "k", "x", "y", "z", "name", "test", "estimate", "se",
                   "statistic", "num_df", "df", "p", "z_score", "status")
#: Maps of each fixed-effect coefficient and of each Type III term.
COEF_MAPS = ("estimate", "se", "t", "df", "p", "z")
TERM_MAPS = ("F", "den_df", "p", "z")
#: Meaning of the bits of the status map.
STATUS_BITS = {1: "boundary (singular) fit", 2: "not converged", 4: "zero variance",
               8: "failed (NaN)"}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "term"


def _slugs(names) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        base = slug = _slug(name)
        k = 2
        while slug in out.values():
            slug = f"{base}{k}"
            k += 1
        out[name] = slug
    return out


@dataclass(frozen=True, eq=False)
class VoxelwiseLMMResult:  # numpydoc ignore=PR01,EX01
    """Voxelwise random-intercept mixed model (from :func:`voxelwise_lmm`).

    Attributes
    ----------
    formula, subject : str
        Fixed part (right-hand side) and the subject column.
    ddf : str
        ``"satterthwaite"`` or ``"kenward-roger"``.
    reml : bool
        REML (True) or maximum likelihood.
    coefficients : tuple of str
        Fixed-effect columns (patsy / formulaic names, e.g. ``"arm[T.sham]:session[T.post]"``).
    terms : tuple of str
        Terms of the Type III table (e.g. ``"arm:session"``).
    fixed_effect_maps : Mapping
        ``coefficient -> {"estimate", "se", "t", "df", "p", "z"} -> image`` (``p``
        two-sided; ``t`` carries intent ``t test`` without df and descrip
        ``{T_[voxelwise]}``; ``z`` the tail-matched z, intent ``z score``).
    anova_maps : Mapping
        ``term -> {"F", "den_df", "p", "z"} -> image`` (Type III F, its voxelwise
        denominator df, p and upper-tail-matched z).
    num_df : Mapping
        Numerator df of each term.
    theta_img, sigma2_img, subject_variance_img, loglik_img : nibabel.Nifti1Image
        lme4's theta (subject SD / residual SD), residual variance, subject variance and
        REML (or ML) log-likelihood per voxel.
    status_img : nibabel.Nifti1Image
        uint8 bits per voxel: 1 boundary (singular) fit, 2 not converged, 4 zero variance,
        8 failed; 0 a regular fit.
    mask_img : nibabel.Nifti1Image
        Voxels analysed (uint8).
    n_obs, n_subjects, n_voxels : int
        Images (rows) used, subjects, voxels in the mask.
    n_singular, n_not_converged, n_zero_variance, n_failed : int
        Voxels of each status (a voxel can be singular and not converged).
    n_fallback : int
        Voxels refitted with the single-response optimiser.
    n_excluded_rows, n_excluded_subjects : int
        Rows left out (missing image or value) and subjects left without any row.
    excluded : pandas.DataFrame
        One row per subject with rows left out: ``subject``, ``n_rows_excluded``,
        ``n_rows_used``, ``subject_excluded``, ``reason``.
    design_matrix : pandas.DataFrame
        The fixed-effect design (one row per image used, indexed by the row's position
        in ``data``).
    subject_ids : tuple of str
        Subjects used.
    smoothness : Smoothness or None
        Smoothness of the whitened standardised residuals (in the z maps' sidecars).
    notes : tuple of str
        Remarks on the data (e.g. unused levels dropped).
    parameters : Mapping
        The arguments and what the mask rules left out.
    versions : Mapping
        Software versions.

    See Also
    --------
    voxelwise_lmm : Fit it; its examples use this result.
    grf_cluster_correct : Cluster inference on a :meth:`z_img`.
    """

    formula: str
    subject: str
    ddf: str
    reml: bool
    coefficients: tuple[str, ...]
    terms: tuple[str, ...]
    fixed_effect_maps: Mapping[str, Mapping[str, Any]]
    anova_maps: Mapping[str, Mapping[str, Any]]
    num_df: Mapping[str, int]
    theta_img: Any
    sigma2_img: Any
    subject_variance_img: Any
    loglik_img: Any
    status_img: Any
    mask_img: Any
    n_obs: int
    n_subjects: int
    n_voxels: int
    n_excluded_rows: int
    n_excluded_subjects: int
    excluded: pd.DataFrame
    design_matrix: pd.DataFrame
    subject_ids: tuple[str, ...]
    smoothness: Smoothness | None
    n_fallback: int
    notes: tuple[str, ...]
    parameters: Mapping[str, Any]
    n_singular: int = 0
    n_not_converged: int = 0
    n_zero_variance: int = 0
    n_failed: int = 0
    versions: Mapping[str, str] = field(default_factory=_collect_versions)

    # ------------------------------------------------------------------ access
    def _coef(self, name: str) -> Mapping[str, Any]:
        if name not in self.fixed_effect_maps:
            raise ValueError(f"{name!r} is not a coefficient of the model; coefficients: "
                             f"{list(self.coefficients)}.")
        return self.fixed_effect_maps[name]

    def _term(self, name: str) -> Mapping[str, Any]:
        if name not in self.anova_maps:
            raise ValueError(f"{name!r} is not a term of the Type III table; terms: "
                             f"{list(self.terms)}.")
        return self.anova_maps[name]

    def t_img(self, coefficient: str):
        """The t map of a coefficient (intent ``t test`` without df: the df vary over voxels).

        Parameters
        ----------
        coefficient : str
            One of :attr:`coefficients`.

        Returns
        -------
        nibabel.Nifti1Image
            The t of every voxel (its df in :meth:`df_img`).

        Raises
        ------
        ValueError
            Not a coefficient (the message lists them).
        """
        return self._coef(coefficient)["t"]

    def f_img(self, term: str):
        """Type III F map of a term (intent ``f test`` without df).

        Parameters
        ----------
        term : str
            One of :attr:`terms`.

        Returns
        -------
        nibabel.Nifti1Image
            The F of every voxel (numerator df :attr:`num_df`, denominator df in
            :meth:`df_img`).

        Raises
        ------
        ValueError
            Not a term (the message lists them).
        """
        return self._term(term)["F"]

    def z_img(self, name: str):
        """The z map of a coefficient's t or a term's F (each voxel through its own p).

        Parameters
        ----------
        name : str
            A coefficient or a term (a name that is both refers to the coefficient).

        Returns
        -------
        nibabel.Nifti1Image
            Intent ``z score``; the input of :func:`grf_cluster_correct`.
        """
        if name in self.fixed_effect_maps:
            return self.fixed_effect_maps[name]["z"]
        return self._term(name)["z"]

    def df_img(self, name: str):
        """Voxelwise df map of a coefficient, or denominator df map of a term.

        Parameters
        ----------
        name : str
            A coefficient or a term.

        Returns
        -------
        nibabel.Nifti1Image
            Satterthwaite or Kenward-Roger df (as ``ddf``) of every voxel.
        """
        if name in self.fixed_effect_maps:
            return self.fixed_effect_maps[name]["df"]
        return self._term(name)["den_df"]

    # ------------------------------------------------------------------ tables
    def to_frame(self) -> pd.DataFrame:
        """One row per voxel and test (each coefficient's t test, each term's F test).

        Returns
        -------
        pandas.DataFrame
            ``i``, ``j``, ``k``, ``x``, ``y``, ``z`` (mm), ``name``, ``test`` (``"t"`` or
            ``"F"``), ``estimate`` and ``se`` (NaN for F), ``statistic``, ``num_df`` (NaN
            for t), ``df`` (the t df or the F denominator df), ``p``, ``z_score``,
            ``status`` (the bits of :attr:`status_img`).
        """
        mask = np.asarray(self.mask_img.dataobj).astype(bool)
        ijk = np.argwhere(mask)
        xyz = (self.mask_img.affine @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T
        status = np.asarray(self.status_img.dataobj)[mask].astype(int)
        nan = np.full(len(ijk), np.nan)

        def val(img):
            return np.asarray(img.dataobj)[mask]

        parts = []
        for name, maps in self.fixed_effect_maps.items():
            parts.append({"name": name, "test": "t", "estimate": val(maps["estimate"]),
                          "se": val(maps["se"]), "statistic": val(maps["t"]), "num_df": nan,
                          "df": val(maps["df"]), "p": val(maps["p"]), "z_score": val(maps["z"])})
        for term, maps in self.anova_maps.items():
            parts.append({"name": term, "test": "F", "estimate": nan, "se": nan,
                          "statistic": val(maps["F"]),
                          "num_df": np.full(len(ijk), float(self.num_df[term])),
                          "df": val(maps["den_df"]), "p": val(maps["p"]),
                          "z_score": val(maps["z"])})
        frames = [pd.DataFrame({"i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2],
                                "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], **part,
                                "status": status}) for part in parts]
        if not frames:
            return pd.DataFrame(columns=list(LMM_MAP_COLUMNS))
        return pd.concat(frames, ignore_index=True)[list(LMM_MAP_COLUMNS)]

    def summary(self) -> str:
        """Plain-text summary: model, data, voxel counts by status, t and F ranges.

        Returns
        -------
        str
            The model and df method, the data used and excluded, the voxels of each
            status, notes, the range of each t map and the largest F of each term, the
            smoothness.
        """
        mask = np.asarray(self.mask_img.dataobj).astype(bool)
        crit = "REML" if self.reml else "maximum likelihood"
        lines = [f"Voxelwise linear mixed model ({crit}, {self.ddf} df per voxel)",
                 f"  Formula: {self.formula} + (1 | {self.subject})",
                 f"  Data: {self.n_obs} images of {self.n_subjects} subjects; "
                 f"{self.n_voxels} voxels"]
        if self.n_excluded_rows:
            lines.append(f"  Excluded: {self.n_excluded_rows} row(s) (missing image or value) "
                         f"of {len(self.excluded)} subject(s); {self.n_excluded_subjects} "
                         "subject(s) left without any row")
        partial = self.parameters.get("n_partial_coverage") or 0
        if partial:
            lines.append(f"  {partial} voxel(s) left out of the implicit mask: data in some "
                         "but not all images")
        lines.append(f"  Voxels: {self.n_singular} boundary (singular) fits, "
                     f"{self.n_not_converged} not converged, {self.n_zero_variance} with zero "
                     f"variance (t = F = 0, p = 1), {self.n_failed} failed (NaN)")
        for note in self.notes:
            lines.append(f"  Note: {note}")
        lines.append("  Fixed effects (t maps; df vary over voxels):")
        for name, maps in self.fixed_effect_maps.items():
            t = np.asarray(maps["t"].dataobj)[mask]
            p = np.asarray(maps["p"].dataobj)[mask]
            df = np.asarray(maps["df"].dataobj)[mask]
            lines.append(f"    {name}: t in [{np.nanmin(t):.3f}, {np.nanmax(t):.3f}], df in "
                         f"[{np.nanmin(df):.1f}, {np.nanmax(df):.1f}], "
                         f"{int(np.sum(p < 0.001))} voxel(s) p < 0.001 (uncorrected)")
        lines.append("  Type III tests (F maps):")
        for term, maps in self.anova_maps.items():
            F = np.asarray(maps["F"].dataobj)[mask]
            p = np.asarray(maps["p"].dataobj)[mask]
            lines.append(f"    {term} (num df {self.num_df[term]}): max F {np.nanmax(F):.3f}, "
                         f"{int(np.sum(p < 0.001))} voxel(s) p < 0.001 (uncorrected)")
        if self.smoothness is not None:
            lines.append("  Residual " + self.smoothness.summary())
        return "\n".join(lines)

    def provenance(self) -> dict[str, Any]:
        """The analysis as a JSON-ready dict (model, counts, files' names, parameters).

        Returns
        -------
        dict
            The model (``formula``, ``subject``, ``ddf``, ``reml``, ``coefficients``,
            ``terms``, ``num_df``), the counts of observations, subjects, voxels and of
            each voxel status (with ``status_bits``), the exclusions, ``file_names``,
            ``smoothness``, ``notes``, ``parameters`` and ``versions``.
        """
        return {
            "analysis": "voxelwise_lmm", "formula": self.formula, "subject": self.subject,
            "ddf": self.ddf, "reml": self.reml, "coefficients": list(self.coefficients),
            "terms": list(self.terms), "num_df": dict(self.num_df), "n_obs": self.n_obs,
            "n_subjects": self.n_subjects, "n_voxels": self.n_voxels,
            "n_singular": self.n_singular, "n_not_converged": self.n_not_converged,
            "n_zero_variance": self.n_zero_variance, "n_failed": self.n_failed,
            "n_fallback": self.n_fallback, "n_excluded_rows": self.n_excluded_rows,
            "n_excluded_subjects": self.n_excluded_subjects,
            "status_bits": {str(k): v for k, v in STATUS_BITS.items()},
            "file_names": {"coefficients": _slugs(self.coefficients),
                           "terms": _slugs(self.terms)},
            "smoothness": None if self.smoothness is None else self.smoothness.to_dict(),
            "notes": list(self.notes), "parameters": dict(self.parameters),
            "versions": dict(self.versions),
        }

    @fill_doc
    def save(self, directory) -> dict[str, Path]:
        """Write every map (NIfTI), the statistic maps' sidecars, tables and provenance.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            Keys ``coef-<name>_<map>`` (``estimate``, ``se``, ``t``, ``df``,
            ``p``, ``z``) per coefficient, ``anova-<name>_<map>`` (``F``, ``den_df``,
            ``p``, ``z``) per term, ``..._sidecar`` for the t, F and z maps, ``theta``,
            ``sigma2``, ``subject_variance``, ``loglik``, ``status``, ``mask``,
            ``excluded``, ``design_matrix`` and ``provenance``. ``<name>`` is the
            coefficient or term with non-alphanumerics replaced by ``_`` (the mapping is
            in ``provenance.json``).

        Raises
        ------
        %(save_raises)s

        Notes
        -----
        A t or F map's sidecar says ``"df_voxelwise": true`` and names its df map; the z
        sidecar carries the residual smoothness. GRF refuses the t and F maps (one df is
        needed for the field) and corrects the z maps.
        """
        d = Path(directory)  # created by atomic_write (OutputError naming it on failure)
        out: dict[str, Path] = {}
        about = {"analysis": "voxelwise_lmm", "formula": self.formula, "ddf": self.ddf,
                 "n": self.n_obs, "n_zero_variance": self.n_zero_variance}

        def stat_map(key, img, stat, **extra):
            # df is per voxel (no single df); only the z map carries the smoothness
            _save_stat_map(out, key, img, d / f"{key}.nii.gz", stat, None,
                           self.smoothness if stat == "z" else None, **extra)

        for name, slug in _slugs(self.coefficients).items():
            maps, base = self.fixed_effect_maps[name], f"coef-{slug}"
            df_file = f"{base}_df.nii.gz"
            for kind in ("estimate", "se", "df", "p"):
                out[f"{base}_{kind}"] = _save_img(maps[kind], d / f"{base}_{kind}.nii.gz")
            stat_map(f"{base}_t", maps["t"], "t", coefficient=name, df_voxelwise=True,
                     df_map=df_file, **about)
            stat_map(f"{base}_z", maps["z"], "z", coefficient=name, converted_from={
                "stat": "t", "df": "voxelwise", "df_map": df_file}, **about)
        for term, slug in _slugs(self.terms).items():
            maps, base = self.anova_maps[term], f"anova-{slug}"
            df_file = f"{base}_den_df.nii.gz"
            for kind in ("den_df", "p"):
                out[f"{base}_{kind}"] = _save_img(maps[kind], d / f"{base}_{kind}.nii.gz")
            q = int(self.num_df[term])
            stat_map(f"{base}_F", maps["F"], "F", term=term, num_df=q, df_voxelwise=True,
                     df_map=df_file, **about)
            stat_map(f"{base}_z", maps["z"], "z", term=term, converted_from={
                "stat": "F", "df": [q, "voxelwise"], "df_map": df_file}, **about)
        for key in ("theta", "sigma2", "subject_variance", "loglik", "status", "mask"):
            out[key] = _save_img(getattr(self, f"{key}_img"), d / f"{key}.nii.gz")
        out["excluded"] = _save_tsv(self.excluded, d / "excluded.tsv")
        out["design_matrix"] = _save_tsv(self.design_matrix.reset_index(names="row"),
                                         d / "design_matrix.tsv")
        out["provenance"] = _save_json(self.provenance(), d / "provenance.json")
        return out
