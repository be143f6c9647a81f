"""Threshold-free cluster enhancement for many maps at once (private).

TFCE (Smith & Nichols, 2009) replaces each voxel's statistic ``x_v`` by::

    TFCE(v) = Σ_{j = 1}^{⌊x_v / dh⌋} e_j(v)^E · (j·dh)^H · dh

where ``e_j(v)`` is the size of the cluster containing ``v`` in the map
thresholded at ``h_j = j·dh`` (voxels with ``x ≥ h_j``). Clusters at a higher
threshold are nested in those at a lower one, so the thresholds are visited
from the top down and clusters only ever merge: at each level the voxels
entering the map and the edges between newly connected voxels are added, and
the current clusters plus the new voxels are merged by one call to
:func:`scipy.sparse.csgraph.connected_components` on that small graph. All
maps of a block are processed together (their voxels never share an edge),
so the work is proportional to the number of (voxel, level) pairs, without a
full-volume labelling per threshold.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from painmarkers.inference._sparse_clusters import MaskNeighbours

__all__ = ["tfce_block"]


def tfce_block(values: np.ndarray, neighbours: MaskNeighbours, dh: float, extent: float = 0.5,
               height: float = 2.0):
    """TFCE of the positive part of every row of ``values``.

    Parameters
    ----------
    values : ndarray, shape (n_maps, n_voxels)
        Statistic maps; only values ``>= dh`` contribute.
    neighbours : MaskNeighbours
        Neighbour table of the mask.
    dh : float
        Step between thresholds.
    extent, height : float, default=0.5, 2.0
        The exponents E and H.

    Returns
    -------
    ndarray, shape (n_maps, n_voxels)
        TFCE values (0 where ``values < dh``).
    """
    n_maps, n_vox = values.shape
    out = np.zeros((n_maps, n_vox))
    with np.errstate(invalid="ignore"):
        # 1e-9 of a step absorbs round-off when a value is meant to sit on a threshold
        levels = np.floor(values / dh + 1e-9)
    levels = np.where(np.isfinite(levels) & (levels > 0), levels, 0).astype(np.int64)
    rows, cols = np.nonzero(levels)
    n_nodes = rows.size
    if n_nodes == 0:
        return out
    lev = levels[rows, cols]
    # renumber nodes by decreasing level: the active set is then a prefix
    small = np.int16 if lev.max() < 2**15 else np.int64  # radix sort for small ints
    order = np.argsort(-lev.astype(small), kind="stable")
    rows, cols, lev = rows[order], cols[order], lev[order]
    # earlier[i] lists the neighbours of node i that come before it (higher or
    # equal level): each edge is listed once, at its later node, whose level is
    # the level from which the edge exists. A node's edges are then a slice.
    sentinel = n_maps * n_vox
    node_of = np.full(sentinel + 1, -1, dtype=np.int32)
    node_of[rows * n_vox + cols] = np.arange(n_nodes, dtype=np.int32)
    full = neighbours.full_table
    base = rows * n_vox
    earlier = np.empty((full.shape[0], n_nodes), dtype=np.int32)
    own = np.arange(n_nodes, dtype=np.int32)
    for k in range(full.shape[0]):
        nb = full[k][cols]
        col = node_of[np.where(nb >= 0, base + nb, sentinel)]
        col[col >= own] = -1
        earlier[k] = col
    top = int(lev[0])
    # prefix ends of nodes with level >= j, for j = top..1
    js = np.arange(top, 0, -1)
    node_end = np.searchsorted(-lev, -js, side="right")

    comp = np.empty(n_nodes, dtype=np.int32)
    acc = np.zeros(n_nodes)
    sizes = np.zeros(0)
    n_comp = 0
    prev_node = 0
    for j, n_end in zip(js, node_end):
        n_new = n_end - prev_node
        comp[prev_node:n_end] = n_comp + np.arange(n_new, dtype=np.int32)
        total = n_comp + n_new
        weights = np.concatenate([sizes, np.ones(n_new)])
        block = earlier[:, prev_node:n_end]
        c, r = np.nonzero(block >= 0)
        if r.size:
            a = comp[r + prev_node]
            b = comp[block[c, r]]
            graph = sparse.csr_matrix(
                (np.ones(a.size, dtype=np.int8), (a, b)), shape=(total, total)
            )
            n_comp, relabel = connected_components(graph, directed=False)
            comp[:n_end] = relabel[comp[:n_end]]
            sizes = np.bincount(relabel, weights=weights, minlength=n_comp)
        else:
            n_comp, sizes = total, weights
        contrib = sizes**extent * (j * dh) ** height * dh
        acc[:n_end] += contrib[comp[:n_end]]
        prev_node = n_end
    out[rows, cols] = acc
    return out
