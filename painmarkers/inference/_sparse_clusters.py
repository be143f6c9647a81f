"""Batched cluster labelling of many thresholded maps at once (private).

Permutation inference must label the supra-threshold voxels of every
permuted map. Calling :func:`scipy.ndimage.label` once per map scans the
whole grid each time, although at p < 0.001 only a few voxels are above the
threshold. Here every supra-threshold voxel of every map in a block is a
node of one sparse graph; edges join neighbouring supra-threshold voxels of
the same map (looked up in a precomputed neighbour table of the mask), and a
single call to :func:`scipy.sparse.csgraph.connected_components` labels all
maps of the block. Work is proportional to the number of supra-threshold
voxels, not to the grid size.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["MaskNeighbours", "active_cluster_maxima", "block_cluster_maxima", "label_block"]

_CONNECTIVITY_ORDER = {6: 1, 18: 2, 26: 3}


def _forward_offsets(connectivity: int) -> list[tuple[int, int, int]]:
    """Half of the neighbourhood (lexicographically positive offsets)."""
    order = _CONNECTIVITY_ORDER[connectivity]
    offsets = []
    for off in itertools.product((-1, 0, 1), repeat=3):
        n_nonzero = sum(o != 0 for o in off)
        if n_nonzero == 0 or n_nonzero > order:
            continue
        if off > (0, 0, 0):
            offsets.append(off)
    return offsets


class MaskNeighbours:
    """Forward-neighbour table of the voxels of a 3-D boolean mask.

    Parameters
    ----------
    mask : ndarray of bool, shape (X, Y, Z)
        Voxels inside the analysis; their order is numpy's C order
        (``np.nonzero(mask)``), the order of the data columns.
    connectivity : {6, 18, 26}
        Face, edge or corner neighbours.

    Attributes
    ----------
    table : ndarray of int64, shape (n_voxels, n_offsets)
        Column index of the forward neighbour of each voxel, -1 when the
        neighbour is outside the mask. Each undirected pair appears once.
    """

    def __init__(self, mask: np.ndarray, connectivity: int) -> None:
        mask = np.asarray(mask, dtype=bool)
        self.shape = mask.shape
        self.connectivity = connectivity
        self.n_voxels = int(mask.sum())
        index = np.full(np.add(mask.shape, 2), -1, dtype=np.int64)
        ijk = np.argwhere(mask)
        index[tuple((ijk + 1).T)] = np.arange(self.n_voxels)
        offsets = _forward_offsets(connectivity)
        table = np.empty((self.n_voxels, len(offsets)), dtype=np.int64)
        for k, off in enumerate(offsets):
            table[:, k] = index[tuple((ijk + 1 + np.asarray(off)).T)]
        self.table = table
        self._full = None

    @property
    def full_table(self) -> np.ndarray:
        """Both halves of the neighbourhood: (2·n_offsets, n_voxels), -1 outside the mask."""
        if self._full is None:
            back = np.full_like(self.table, -1)
            voxels = np.arange(self.n_voxels)
            for k in range(self.table.shape[1]):
                ok = self.table[:, k] >= 0
                back[self.table[ok, k], k] = voxels[ok]
            # (2·n_offsets, n_voxels): each offset's neighbours are contiguous
            self._full = np.ascontiguousarray(np.hstack([self.table, back]).T)
        return self._full


def label_block(rows: np.ndarray, cols: np.ndarray, neighbours: MaskNeighbours):
    """Label the clusters of many maps given their active voxels.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (n_active,)
        Map and voxel index of each active (supra-threshold) voxel, sorted
        row-major as :func:`numpy.nonzero` returns them.
    neighbours : MaskNeighbours
        Neighbour table of the mask the voxel indices come from.

    Returns
    -------
    labels : ndarray of int64, shape (n_active,)
        Cluster label of each active voxel, unique across maps.
    n_labels : int
        Number of clusters over all maps.
    """
    n_active = rows.size
    if n_active == 0:
        return np.zeros(0, dtype=np.int64), 0
    n_vox = neighbours.n_voxels
    flat = rows * n_vox + cols  # sorted: np.nonzero is row-major
    heads, tails = [], []
    base = rows * n_vox
    for k in range(neighbours.table.shape[1]):
        nb = neighbours.table[cols, k]
        src = np.nonzero(nb >= 0)[0]
        if src.size == 0:
            continue
        key = base[src] + nb[src]
        dst = np.searchsorted(flat, key)
        dst[dst == n_active] = 0
        keep = flat[dst] == key
        heads.append(src[keep])
        tails.append(dst[keep])
    if heads:
        heads = np.concatenate(heads)
        tails = np.concatenate(tails)
    else:
        heads = tails = np.zeros(0, dtype=np.int64)
    graph = sparse.csr_matrix(
        (np.ones(heads.size, dtype=np.int8), (heads, tails)), shape=(n_active, n_active)
    )
    n_labels, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64), int(n_labels)


def block_cluster_maxima(stat: np.ndarray, threshold: float, neighbours: MaskNeighbours,
                         two_tailed: bool):
    """Largest cluster size and mass of every map of a block.

    Parameters
    ----------
    stat : ndarray of float, shape (n_maps, n_voxels)
        Statistic maps (masked).
    threshold : float
        Cluster-forming threshold (> 0); voxels with ``stat > threshold``
        (and, two-tailed, ``stat < -threshold``) form clusters.
    neighbours : MaskNeighbours
        Neighbour table of the mask.
    two_tailed : bool
        Form positive and negative clusters separately and keep the largest
        of either sign.

    Returns
    -------
    max_size : ndarray of int64, shape (n_maps,)
        Voxel count of the largest cluster (0 when none).
    max_mass : ndarray of float, shape (n_maps,)
        Largest cluster mass, the sum over the cluster of
        ``|stat| - threshold`` (0 when none).
    """
    if two_tailed:
        rows, cols = np.nonzero((stat > threshold) | (stat < -threshold))
    else:
        rows, cols = np.nonzero(stat > threshold)
    return active_cluster_maxima(rows, cols, stat[rows, cols], stat.shape[0], threshold,
                                 neighbours, two_tailed)


def active_cluster_maxima(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_maps: int,
                          threshold: float, neighbours: MaskNeighbours, two_tailed: bool):
    """As :func:`block_cluster_maxima`, given only the supra-threshold voxels.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (n_active,)
        Map and voxel of each voxel with ``|stat| > threshold`` (``stat >
        threshold`` when one-tailed), sorted row-major.
    values : ndarray, shape (n_active,)
        The statistic at those voxels.
    n_maps : int
        Number of maps in the block.
    threshold, neighbours, two_tailed
        As for :func:`block_cluster_maxima`.

    Returns
    -------
    max_size, max_mass : ndarray, shape (n_maps,)
    """
    max_size = np.zeros(n_maps, dtype=np.int64)
    max_mass = np.zeros(n_maps, dtype=float)
    for sign in ((1.0, -1.0) if two_tailed else (1.0,)):
        pick = values > 0 if sign > 0 else values < 0
        sub_rows, sub_cols = rows[pick], cols[pick]
        labels, n_labels = label_block(sub_rows, sub_cols, neighbours)
        if n_labels == 0:
            continue
        sizes = np.bincount(labels, minlength=n_labels)
        masses = np.bincount(labels, weights=sign * values[pick] - threshold,
                             minlength=n_labels)
        owner = np.zeros(n_labels, dtype=np.int64)
        owner[labels] = sub_rows
        np.maximum.at(max_size, owner, sizes)
        np.maximum.at(max_mass, owner, masses)
    return max_size, max_mass
