"""Exchangeability blocks: the rearrangements a permutation test may use (private).

As FSL randomise (``-e design.grp``, ``--permuteBlocks``) and PALM (``-eb``, ``-within``,
``-whole``; Winkler et al. 2014, 2015), observations are grouped into exchangeability blocks
(typically the images of one subject) and

* **within-block** rearrangement permutes rows only inside each block (the blocks may
  differ in size); sign flips are then of single rows;
* **whole-block** rearrangement permutes the blocks as units, keeping the order of the
  rows inside each block (the blocks must have the same size, and their rows must be
  listed in the same within-block order, e.g. sessions pre, post, fu in every subject);
  sign flips are then of whole blocks.

A rearrangement of rows is stored as a row order ``σ`` (row ``i`` of the data is fitted
with design row ``σ[i]``, as in :mod:`painmarkers.inference._permutation_glm`); a sign flip
as a vector of ±1.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from painmarkers.exceptions import DesignError

__all__ = ["BLOCK_PERMUTATIONS", "Rearrangements", "block_codes"]

BLOCK_PERMUTATIONS = ("within", "whole")


def block_codes(blocks: Any, n: int, name: str = "exchangeability_blocks") -> np.ndarray:
    """Block ids (any labels, one per row) as codes 0..B−1 in order of first appearance."""
    arr = np.asarray(list(blocks) if not isinstance(blocks, np.ndarray) else blocks,
                     dtype=object).ravel()
    if arr.size != n:
        raise DesignError(f"{name!r} has {arr.size} entries for {n} images (one block id "
                          "per image).")
    missing = [i for i, v in enumerate(arr.tolist()) if pd.isna(v)]
    if missing:
        raise DesignError(f"{name!r} has a missing block id at image(s) {missing[:10]}.")
    codes, _ = pd.factorize(pd.Series(arr, dtype=object), sort=False)
    return codes.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Rearrangements:
    """The group of rearrangements allowed by an exchangeability structure.

    Parameters
    ----------
    scheme : {"permute", "sign_flip"}
        Row permutations (exchangeable errors) or sign flips (independent, symmetric
        errors).
    n : int
        Number of rows.
    blocks : numpy.ndarray or None
        Block code of each row (:func:`block_codes`); None: all rows exchangeable.
    kind : {"free", "within", "whole"}
        No blocks, within-block or whole-block rearrangement.
    """

    scheme: str
    n: int
    blocks: np.ndarray | None = None
    kind: str = "free"

    def __post_init__(self):
        if self.kind != "free" and self.blocks is None:
            raise ValueError("Block rearrangements need blocks.")
        if self.kind == "whole":
            sizes = np.bincount(self.blocks)
            if np.unique(sizes).size != 1:
                shown = {int(b): int(s) for b, s in enumerate(sizes)}
                raise DesignError(
                    "Whole-block permutation needs exchangeability blocks of equal size "
                    f"(swapped as units); the block sizes are {shown} (block: size, blocks "
                    "numbered in order of first appearance). Use block_permutation='within', "
                    "or remove the incomplete blocks.")
            if sizes.size < 2:
                raise DesignError("Whole-block permutation needs at least 2 blocks.")

    # --- structure ------------------------------------------------------------------------
    @property
    def members(self) -> list[np.ndarray]:
        """Rows of each block, in their original order."""
        return [np.flatnonzero(self.blocks == b) for b in range(int(self.blocks.max()) + 1)]

    @property
    def n_blocks(self) -> int:
        """Number of blocks (0 when free)."""
        return 0 if self.blocks is None else int(self.blocks.max()) + 1

    def size(self) -> int:
        """Number of distinct rearrangements, the identity included (a Python int)."""
        if self.scheme == "sign_flip":
            return 2 ** (self.n_blocks if self.kind == "whole" else self.n)
        if self.kind == "free":
            return math.factorial(self.n)
        if self.kind == "whole":
            return math.factorial(self.n_blocks)
        return math.prod(math.factorial(m.size) for m in self.members)

    def describe(self) -> str:
        """In words, e.g. ``"permutation within 12 blocks"``."""
        what = "sign flipping" if self.scheme == "sign_flip" else "permutation"
        if self.kind == "free":
            return what
        unit = "of whole blocks" if self.kind == "whole" else "within blocks"
        return f"{what} {unit} ({self.n_blocks} blocks)"

    def invariant(self, tested: np.ndarray) -> bool:
        """Whether every rearrangement leaves the tested regressor unchanged (a useless test).

        Several tested columns (an F test) are invariant when each of them is.
        """
        a = np.asarray(tested, dtype=float)
        if a.ndim == 2:
            return all(self.invariant(col) for col in a.T)
        tol = 1e-10 * max(1.0, float(np.abs(a).max()))
        if self.scheme == "sign_flip":
            return not np.any(np.abs(a) > tol)
        if self.kind == "free":
            return bool(np.ptp(a) <= tol)
        if self.kind == "within":
            return all(np.ptp(a[m]) <= tol for m in self.members if m.size)
        rows = np.stack([a[m] for m in self.members])
        return bool(np.all(np.ptp(rows, axis=0) <= tol))

    # --- the rearrangements -----------------------------------------------------------------
    def _expand_signs(self, signs: np.ndarray) -> np.ndarray:
        """Block signs (P, B) as row signs (P, n)."""
        return signs[:, self.blocks]

    def _expand_block_orders(self, orders: np.ndarray) -> np.ndarray:
        """Block orders π (P, B) as row orders: row j of block b -> row j of block π(b)."""
        members = np.stack(self.members)            # (B, m)
        out = np.empty((orders.shape[0], self.n), dtype=np.int32)
        out[:, members.ravel()] = members[orders].reshape(orders.shape[0], -1)
        return out

    def enumerate(self, limit: int) -> np.ndarray | None:
        """Every rearrangement but the identity, or None when there are more than ``limit``."""
        total = self.size()
        if total - 1 > limit:
            return None
        if self.scheme == "sign_flip":
            width = self.n_blocks if self.kind == "whole" else self.n
            codes = np.arange(1, 2 ** width)
            bits = (codes[:, None] >> np.arange(width)[None, :]) & 1
            signs = (1 - 2 * bits).astype(np.int8)
            return self._expand_signs(signs) if self.kind == "whole" else signs
        if self.kind == "whole":
            orders = np.array(list(itertools.permutations(range(self.n_blocks)))[1:],
                              dtype=np.int64).reshape(-1, self.n_blocks)
            return self._expand_block_orders(orders)
        groups = [np.arange(self.n)] if self.kind == "free" else self.members
        rows = []
        for combo in itertools.product(*(itertools.permutations(g.tolist()) for g in groups)):
            order = np.empty(self.n, dtype=np.int32)
            for g, perm in zip(groups, combo):
                order[g] = perm
            rows.append(order)
        return np.array(rows[1:], dtype=np.int32).reshape(-1, self.n)  # rows[0] = identity

    def draw(self, count: int, rng) -> np.ndarray:
        """``count`` random rearrangements (with replacement; Phipson & Smyth 2010)."""
        if self.scheme == "sign_flip":
            width = self.n_blocks if self.kind == "whole" else self.n
            signs = (rng.integers(0, 2, size=(count, width), dtype=np.int8) * 2 - 1)
            signs = signs.astype(np.int8)
            return self._expand_signs(signs) if self.kind == "whole" else signs
        if self.kind == "whole":
            base = np.tile(np.arange(self.n_blocks), (count, 1))
            return self._expand_block_orders(rng.permuted(base, axis=1))
        if self.kind == "free":
            base = np.tile(np.arange(self.n, dtype=np.int32), (count, 1))
            return rng.permuted(base, axis=1)
        # within: sort random keys inside each block (block code + key in [0, 1) sorts by
        # block, then by key), and hand the rows of each block back to its own positions
        grouped = np.argsort(self.blocks, kind="stable")     # rows, block by block
        keys = self.blocks[None, :] + rng.random((count, self.n))
        out = np.empty((count, self.n), dtype=np.int32)
        out[:, grouped] = np.argsort(keys, axis=1, kind="stable")
        return out

    def respects(self, ops: np.ndarray) -> bool:
        """Whether every rearrangement in ``ops`` belongs to this group."""
        ops = np.atleast_2d(ops)
        if self.scheme == "sign_flip":
            if not np.all(np.abs(ops) == 1):
                return False
            if self.kind != "whole":
                return True
            return all(np.all(ops[:, m] == ops[:, m[:1]]) for m in self.members)
        if not all(np.array_equal(np.sort(o), np.arange(self.n)) for o in ops):
            return False
        if self.kind == "free":
            return True
        if self.kind == "within":
            return bool(np.all(self.blocks[ops] == self.blocks[None, :]))
        members = np.stack(self.members)
        for o in ops:
            mapped = o[members]                               # (B, m)
            target = self.blocks[mapped[:, 0]]
            if not np.array_equal(mapped, members[target]):
                return False
        return True
