"""Voxelwise group inference: GLM maps, smoothness, GRF and permutation cluster correction.

Public names
------------
voxelwise_ttest, estimate_smoothness, grf_cluster_pvalue, grf_min_cluster_size,
spm_p_rf, spm_resels, grf_cluster_correct, label_clusters, cluster_table,
connectivity_structure, t_to_z, VoxelwiseResult, Smoothness, ClusterResult.
"""

from painmarkers.inference._conversions import t_to_z
from painmarkers.inference.clusters import cluster_table, connectivity_structure, label_clusters
from painmarkers.inference.results import ClusterResult, Smoothness, VoxelwiseResult

__all__ = [
    "ClusterResult",
    "Smoothness",
    "VoxelwiseResult",
    "cluster_table",
    "connectivity_structure",
    "label_clusters",
    "t_to_z",
]
