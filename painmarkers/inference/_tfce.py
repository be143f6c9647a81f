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
    node_of = np.full(n_maps * n_vox, -1, dtype=np.int64)
    node_of[rows * n_vox + cols] = np.arange(n_nodes)
    heads, tails = [], []
    base = rows * n_vox
    for k in range(neighbours.table.shape[1]):
        nb = neighbours.table[cols, k]
        src = np.nonzero(nb >= 0)[0]
        dst = node_of[base[src] + nb[src]]
        keep = dst >= 0
        heads.append(src[keep])
        tails.append(dst[keep])
    heads = np.concatenate(heads)
    tails = np.concatenate(tails)
    # an edge exists from the level of its lower endpoint downwards; since
    # nodes are sorted by decreasing level, that endpoint has the larger index
    edge_level = lev[np.maximum(heads, tails)]
    eorder = np.argsort(-edge_level.astype(small), kind="stable")
    heads, tails, edge_level = heads[eorder], tails[eorder], edge_level[eorder]
    top = int(lev[0])
    # prefix ends of nodes / edges with level >= j, for j = top..1
    js = np.arange(top, 0, -1)
    node_end = np.searchsorted(-lev, -js, side="right")
    edge_end = np.searchsorted(-edge_level, -js, side="right")

    comp = np.empty(n_nodes, dtype=np.int64)
    acc = np.zeros(n_nodes)
    sizes = np.zeros(0)
    n_comp = 0
    prev_node, prev_edge = 0, 0
    for j, n_end, e_end in zip(js, node_end, edge_end):
        n_new = n_end - prev_node
        comp[prev_node:n_end] = n_comp + np.arange(n_new)
        total = n_comp + n_new
        weights = np.concatenate([sizes, np.ones(n_new)])
        if e_end > prev_edge:
            a = comp[heads[prev_edge:e_end]]
            b = comp[tails[prev_edge:e_end]]
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
        prev_node, prev_edge = n_end, e_end
    out[rows, cols] = acc
    return out
