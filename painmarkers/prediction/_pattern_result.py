"""The result of evaluate_pattern: the cross-validated evaluation and the voxel maps."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import atomic_write, make_folder, write_json
from painmarkers._docs import fill_doc
from painmarkers.prediction._save import save_result

__all__ = ["PatternEvaluation"]

#: The maps of a PatternEvaluation: attribute, file stem and what the sidecar says.
MAPS = (
    ("weights_img", "weights",
     "Linear weights of the model refitted on all images, in voxel space: decision value "
     "= sum(weights * image) + intercept (+ confound terms).", "decision value per unit of "
     "image value"),
    ("pattern_img", "pattern",
     "Haufe et al. (2014) activation pattern: cov(image, decision value) / var(decision "
     "value) over the images the final model was fitted on.", "image units per unit of "
     "decision value"),
    ("z_img", "weights_z",
     "Bootstrap z of the weights: mean / SD of the weights over subject bootstrap refits "
     "(CANlab).", "z"),
    ("p_img", "weights_p", "Two-sided p of the bootstrap z (normal).", "p"),
    ("q_img", "weights_q", "Benjamini-Hochberg FDR q of weights_p over the mask voxels.", "q"),
    ("mask_img", "mask", "The voxels of the model (1 inside).", "mask"),
)


@dataclass(frozen=True, eq=False)
class PatternEvaluation:  # numpydoc ignore=PR01,EX01
    """Result of :func:`~painmarkers.prediction.evaluate_pattern`.

    Follows the painmarkers result protocol: ``to_frame()``, ``summary()``,
    ``save(directory) -> dict[str, Path]``, ``parameters`` and ``versions``.

    Attributes
    ----------
    evaluation : BiomarkerEvaluation or PrognosisEvaluation
        The cross-validated evaluation, with the metrics, tables and plots of
        :func:`evaluate_biomarker` (class target) or :func:`evaluate_prognosis`
        (continuous target): the same columns.
    weights_img : nibabel.Nifti1Image
        Voxel weights of the model refitted on every image (back-projected through
        scaling, selection and PCA): ``decision = Σ weights · image + intercept``.
    intercept : float
        Intercept of that affine map (at zero confounds).
    pattern_img : nibabel.Nifti1Image
        Haufe et al. (2014) activation pattern of the refitted model.
    z_img, p_img, q_img : nibabel.Nifti1Image or None
        Bootstrap z (mean / SD of the weights over subject bootstrap refits), two-sided
        p and FDR q of the weights; None when ``n_bootstrap_weights=0``.
    mask_img : nibabel.Nifti1Image
        The voxels used.
    final_model_ : sklearn.pipeline.Pipeline
        The pipeline refitted on every image: a :class:`VoxelMasker` (``mask_img_``,
        ``grid_affine_``, ``grid_shape_``), then (as configured) ``ConfoundRegressor``,
        ``StandardScaler``, ``SelectKBest``/``SelectPercentile``, ``PCA``, then one
        linear model; ``final_model_.predict(imgs)`` applies it to new maps.
    bootstrap : pandas.DataFrame
        One row: ``n_bootstrap``, ``n_valid``, ``n_voxels_q05`` (voxels with q < 0.05),
        ``n_voxels_p001`` (p < 0.001), ``scheme``.
    n_voxels : int
        Voxels in the mask.
    training : dict
        The images the final model was trained on, as a model card records them:
        ``n_rows``, ``n_subjects``, ``n_excluded``, the target (class counts, or its
        range), ``image_stats`` (range of each image's mean and SD over the mask, which
        :func:`apply_model` compares new images with), and, from a Cohort, the sessions,
        groups, age and sex of its subjects.
    parameters : dict
        Everything that produced the result.
    versions : dict
        Software versions.

    See Also
    --------
    evaluate_pattern : Compute it; its examples use this result.
    save_model_card : Write ``final_model_`` as a model card (a voxel model).
    """

    evaluation: Any = field(repr=False)
    weights_img: Any = field(repr=False)
    intercept: float
    pattern_img: Any = field(repr=False)
    z_img: Any = field(repr=False)
    p_img: Any = field(repr=False)
    q_img: Any = field(repr=False)
    mask_img: Any = field(repr=False)
    final_model_: Any = field(repr=False)
    bootstrap: pd.DataFrame = field(repr=False)
    n_voxels: int = 0
    training: dict = field(default_factory=dict, repr=False)
    parameters: dict = field(default_factory=dict, repr=False)
    versions: dict = field(default_factory=dict, repr=False)

    # -- convenience views of the evaluation --------------------------------------------------
    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return self.parameters.get("task", "classification")

    @property
    def metrics(self) -> pd.DataFrame:
        """The metrics table of :attr:`evaluation`."""
        return self.evaluation.metrics

    @property
    def predictions(self) -> pd.DataFrame:
        """Out-of-fold predictions of :attr:`evaluation`."""
        return self.evaluation.predictions

    @property
    def folds(self) -> pd.DataFrame:
        """Per-split table of :attr:`evaluation`."""
        return self.evaluation.folds

    @property
    def excluded(self) -> pd.DataFrame:
        """Images left out, with the reason."""
        return self.evaluation.excluded

    @property
    def permutation_p(self) -> float:
        """Permutation p of the cross-validated AUC or R²."""
        return self.evaluation.permutation_p

    @property
    def null_distribution(self) -> np.ndarray:
        """AUCs or R² of the permutations."""
        return self.evaluation.null_distribution

    @property
    def n(self) -> int:
        """Images analysed."""
        return self.evaluation.n

    @property
    def weights(self) -> np.ndarray:
        """Voxel weights (mask voxels, C order)."""
        return np.asarray(self.weights_img.dataobj)[np.asarray(self.mask_img.dataobj) > 0]

    def to_frame(self) -> pd.DataFrame:
        """The metrics table (one row per metric).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`painmarkers.schema.METRIC_COLUMNS`.
        """
        return self.evaluation.to_frame()

    def summary(self) -> str:
        """Human-readable summary: the evaluation, then the maps.

        Returns
        -------
        str
            Several lines: the model and its voxels, the summary of
            :attr:`evaluation`, the bootstrap weight maps' voxel counts.
        """
        p = self.parameters
        lines = [f"Voxel-pattern model: {p['model_name']} on {self.n_voxels} voxels "
                 f"({p['mask']}); scaling {p['scaling'] or 'none'}, feature selection "
                 f"{p['feature_selection'] or 'none'}, PCA {p['pca'] or 'none'}.",
                 self.evaluation.summary()]
        if self.z_img is not None:
            b = self.bootstrap.iloc[0]
            lines.append(f"Bootstrap weight maps: {int(b['n_valid'])} subject resamples "
                         f"({b['scheme']}); {int(b['n_voxels_q05'])} voxel(s) with FDR "
                         f"q < 0.05, {int(b['n_voxels_p001'])} with p < 0.001.")
        lines.append("Weights are for prediction, not localisation; see the Haufe pattern "
                     "(pattern_img) for the voxels that covary with the prediction.")
        return "\n".join(lines)

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the evaluation's tables, the maps, parameters and summary.

        The maps are NIfTI files, each with a JSON sidecar.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            The evaluation's files (``metrics``, ``folds``, ``predictions``, ``excluded``,
            ``null_distribution``, ...), each map ``weights``, ``pattern``, ``weights_z``,
            ``weights_p``, ``weights_q``, ``mask`` (``.nii.gz``) with its sidecar
            (``<map>_sidecar``, ``.json``), ``bootstrap`` (CSV), ``parameters``
            (``parameters.json``) and ``summary`` (``summary.txt``).

        Raises
        ------
        %(save_raises)s
        """
        import nibabel as nib

        out = make_folder(directory)
        files = dict(self.evaluation.save(out))
        common = {"model": self.parameters.get("model_name"),
                  "n_images": int(self.n), "n_voxels": int(self.n_voxels),
                  "intercept": float(self.intercept),
                  "task": self.task}
        for attr, stem, description, units in MAPS:
            img = getattr(self, attr)
            if img is None:
                continue
            files[stem] = atomic_write(out / f"{stem}.nii.gz",
                                       lambda tmp, img=img: nib.save(img, tmp),
                                       suffix=".nii.gz")
            sidecar = {"Description": description, "Units": units, **common}
            if stem.startswith("weights_"):
                sidecar["n_bootstrap"] = int(self.bootstrap.iloc[0]["n_valid"])
            files[f"{stem}_sidecar"] = write_json(out / f"{stem}.json", sidecar)
        return save_result(self, out, {"bootstrap": self.bootstrap}, files=files)
