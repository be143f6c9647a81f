"""What :func:`~painmarkers.inference.permutation_cluster_correct` permutes, and how (private).

Turns the design arguments (a t-test design name, or a GLM design with a contrast) and the
exchangeability arguments into the inputs of the permutation engine
(:class:`~painmarkers.inference._design.PermutationInputs`) and the group of allowed
rearrangements (:class:`~painmarkers.inference._blocks.Rearrangements`).

Choice of rearrangement (``sign_flip=None``), for a GLM contrast: sign flipping when the
contrast involves the overall mean (the constant is in the column space of X but not in the
nuisance space, e.g. a one-sample test), otherwise permutation. With subject effects and no
``exchangeability_blocks``, the subjects are the blocks (within-block permutation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._validation import check_choice
from painmarkers.exceptions import DesignError
from painmarkers.inference._blocks import BLOCK_PERMUTATIONS, Rearrangements, block_codes
from painmarkers.inference._contrasts import parse_contrasts
from painmarkers.inference._design import (
    GLMDesign,
    PermutationInputs,
    build_design,
    build_glm_design,
    glm_permutation_inputs,
    permutation_inputs,
)
from painmarkers.inference._glm_results import GLMResult

__all__ = ["PermutationSetup", "is_glm_design", "setup_permutation"]

_T_DESIGNS = ("one_sample", "paired", "two_sample")


@dataclass
class PermutationSetup:
    """Engine inputs, allowed rearrangements and what the result records."""

    inputs: PermutationInputs
    rearrangements: Rearrangements | None
    info: dict = field(default_factory=dict)


def is_glm_design(design: Any) -> bool:
    """A formula, a matrix, a GLMDesign or a GLMResult (not a t-test design name)."""
    return not (isinstance(design, str) and "~" not in design)


def _sign_flip_for(design: GLMDesign, inputs: PermutationInputs) -> bool:
    """Whether the contrast involves the overall mean (constant in X, not in the nuisance)."""
    ones = np.ones(design.n)
    u = design.svd()[0]
    in_x = np.linalg.norm(ones - u @ (u.T @ ones)) <= 1e-8 * np.sqrt(design.n)
    z = inputs.nuisance
    in_z = z.shape[1] > 0 and np.linalg.norm(ones - z @ (z.T @ ones)) <= 1e-8 * np.sqrt(
        design.n)
    return bool(in_x and not in_z)


def _rearrangements(scheme, n, blocks, kind, tested, what) -> Rearrangements:
    rearr = Rearrangements(scheme=scheme, n=n, blocks=blocks,
                           kind="free" if blocks is None else kind)
    if rearr.invariant(tested):
        if rearr.kind == "within":
            hint = ("it is constant within every block (a between-block effect, e.g. the "
                    "group of a subject): use block_permutation='whole'")
        elif rearr.kind == "whole":
            hint = ("it is the same in every block (a within-block effect, e.g. the "
                    "session): use block_permutation='within'")
        else:
            hint = "it is constant: use sign flipping (sign_flip=True)"
        raise DesignError(
            f"No allowed rearrangement ({rearr.describe()}) changes the tested regressor of "
            f"{what}: {hint}.")
    return rearr


def setup_permutation(data: np.ndarray, design: Any, *, contrast=None, table=None,
                      subject=None, labels=None, levels=None, subjects=None,
                      covariates=None, center_covariates=True, exchangeability_blocks=None,
                      block_permutation="within", sign_flip=None) -> PermutationSetup:
    """Inputs and rearrangements of a permutation test (see the module docstring).

    Raises
    ------
    DesignError
        Arguments of the other kind of design, a contrast that is not one estimable
        contrast, blocks of the wrong length, whole-block permutation of unequal blocks, a
        paired image pair split across blocks, a scheme that cannot change the tested
        regressor, ``sign_flip`` contradicting a t-test design.
    """
    check_choice(block_permutation, BLOCK_PERMUTATIONS, "block_permutation")
    if sign_flip is not None and not isinstance(sign_flip, bool | np.bool_):
        raise TypeError(f"The 'sign_flip' parameter must be True, False or None. Got "
                        f"{sign_flip!r}.")
    n = data.shape[0]
    codes = (None if exchangeability_blocks is None
             else block_codes(exchangeability_blocks, n))
    if is_glm_design(design):
        return _glm_setup(data, design, contrast, table, subject, subjects, codes,
                          block_permutation, sign_flip, labels=labels, levels=levels,
                          covariates=covariates, center_covariates=center_covariates)
    check_choice(design, _T_DESIGNS, "design")
    for arg, value in (("contrast", contrast), ("data", table), ("subject", subject)):
        if value is not None:
            raise DesignError(f"{arg!r} is used with a GLM design (a formula or a design "
                              f"matrix), not with design={design!r}.")
    des = build_design(design, n, labels=labels, levels=levels, subjects=subjects,
                       covariates=covariates, center_covariates=bool(center_covariates))
    inputs = permutation_inputs(des, data)
    if sign_flip is not None and bool(sign_flip) != (inputs.scheme == "sign_flip"):
        raise DesignError(f"design={design!r} is tested by "
                          f"{'sign flipping' if inputs.scheme == 'sign_flip' else 'permutation'}"
                          f"; leave sign_flip=None.")
    rearr = None
    if codes is not None:
        rows = codes
        if design == "paired":
            ia, ib = des.pairs
            split = np.flatnonzero(codes[ia] != codes[ib])
            if split.size:
                raise DesignError(
                    f"Paired design: the two images of a subject must be in the same "
                    f"exchangeability block; images {int(ia[split[0]])} and "
                    f"{int(ib[split[0]])} are not.")
            rows = pd.factorize(codes[ia])[0]
        rearr = _rearrangements(inputs.scheme, inputs.n, rows, block_permutation,
                                inputs.tested, f"design={design!r}")
    info = {"design": design, "contrast": des.label, "n_images": des.n,
            "design_columns": [str(c) for c in des.matrix.columns],
            "covariates": des.covariate_names,
            "levels": None if des.levels is None else [str(v) for v in des.levels],
            "nuisance": bool(des.covariate_names),
            "exhaustive_labels": codes is None and not des.covariate_names}
    return PermutationSetup(inputs=inputs, rearrangements=rearr, info=info)


def _glm_setup(data, design, contrast, table, subject, subjects, codes, kind, sign_flip, *,
               labels, levels, covariates, center_covariates) -> PermutationSetup:
    for arg, value in (("labels", labels), ("levels", levels), ("covariates", covariates)):
        if value is not None:
            raise DesignError(f"{arg!r} is used with the t-test designs; with a GLM design put "
                              "every regressor in the design (formula or matrix).")
    if center_covariates is not True:
        raise DesignError("'center_covariates' is used with the t-test designs only.")
    if isinstance(design, GLMResult):
        design = design.design
    des = build_glm_design(design, data.shape[0], data=table, subjects=subjects,
                           subject=subject)
    if contrast is None:
        raise DesignError("A GLM design needs 'contrast' (one t or F contrast, e.g. "
                          "'arm[T.active]:session[T.post]').")
    cons = parse_contrasts(contrast, des)
    if len(cons) != 1:
        raise DesignError(
            f"permutation_cluster_correct tests one contrast (t or F); got {len(cons)}: "
            f"{[c.name for c in cons]}. Call it once per contrast.")
    con = cons[0]
    inputs = glm_permutation_inputs(des, con.matrix, data, con.name)
    flip = _sign_flip_for(des, inputs) if sign_flip is None else bool(sign_flip)
    inputs.scheme = "sign_flip" if flip else "permute"
    blocks_from = "argument"
    if codes is None and des.has_subject_effects:
        codes, blocks_from = block_codes(des.subjects, des.n, "subjects"), "subjects"
    rearr = _rearrangements(inputs.scheme, des.n, codes, kind, inputs.tested,
                            f"contrast {con.name!r}")
    info = {"design": des.formula if des.formula is not None else "matrix",
            "contrast": con.name, "n_images": des.n, "design_columns": des.columns,
            "covariates": [], "levels": None, "nuisance": inputs.nuisance.shape[1] > 0,
            "glm_design": des, "blocks_from": None if codes is None else blocks_from}
    return PermutationSetup(inputs=inputs, rearrangements=rearr, info=info)
