"""Voxelwise group inference: GLM maps, smoothness, GRF and permutation cluster correction.

Group maps come from :func:`voxelwise_ttest` (a :class:`VoxelwiseResult`) and, for any
design with t and F contrasts and subject effects, :func:`voxelwise_glm` (a
:class:`GLMResult` of :class:`GLMContrastMaps`);
:func:`estimate_smoothness` measures the residual smoothness (a
:class:`Smoothness`); :func:`grf_cluster_correct` applies Gaussian random field
cluster inference as DPABI/FSL (``method="fsl"``) or SPM12 (``method="spm"``)
do, returning a :class:`ClusterResult` with a cluster table
(:func:`cluster_table`: peaks, MNI coordinates, atlas labels). :func:`voxelwise_lmm` fits
the random-intercept mixed model of :func:`painmarkers.stats.lmm` at every voxel (a
:class:`VoxelwiseLMMResult`).
"""

from painmarkers.inference._conversions import t_to_z
from painmarkers.inference._glm_results import GLMContrastMaps, GLMResult
from painmarkers.inference._spm_rf import spm_p_rf, spm_resels_vol
from painmarkers.inference.clusters import cluster_table, connectivity_structure, label_clusters
from painmarkers.inference.glm import voxelwise_glm
from painmarkers.inference.grf import grf_cluster_correct, grf_cluster_pvalue, grf_min_cluster_size
from painmarkers.inference.lmm import voxelwise_lmm
from painmarkers.inference.lmm_results import VoxelwiseLMMResult
from painmarkers.inference.permutation import PermutationClusterResult, permutation_cluster_correct
from painmarkers.inference.results import ClusterResult, Smoothness, VoxelwiseResult
from painmarkers.inference.smoothness import estimate_smoothness, smoothness_from_fwhm
from painmarkers.inference.voxelwise import voxelwise_ttest

__all__ = [
    "ClusterResult",
    "GLMContrastMaps",
    "GLMResult",
    "PermutationClusterResult",
    "Smoothness",
    "VoxelwiseLMMResult",
    "VoxelwiseResult",
    "cluster_table",
    "connectivity_structure",
    "estimate_smoothness",
    "grf_cluster_correct",
    "grf_cluster_pvalue",
    "grf_min_cluster_size",
    "label_clusters",
    "permutation_cluster_correct",
    "smoothness_from_fwhm",
    "spm_p_rf",
    "spm_resels_vol",
    "t_to_z",
    "voxelwise_glm",
    "voxelwise_lmm",
    "voxelwise_ttest",
]
