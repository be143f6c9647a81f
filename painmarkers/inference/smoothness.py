"""Smoothness of residual or statistic fields, following FSL's ``smoothest``.

The estimator (Flitney & Jenkinson 2000, FMRIB TR00DF1; as ported in DPABI's
``y_Smoothest``) models the field as white noise convolved with a Gaussian
kernel: for standardised residuals the lag-1 correlation along axis d is
``ρ_d = exp(−1 / (4 σ²_d))``, so ``σ²_d = −1 / (4 ln ρ_d)`` (voxels²).
"""

from __future__ import annotations

import os

import numpy as np

from painmarkers._validation import check_img, check_interval
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, ImageError, InferenceWarning
from painmarkers.inference.results import Smoothness

__all__ = ["estimate_smoothness", "smoothness_from_fwhm"]

_FOUR_LN2 = 4.0 * np.log(2.0)

# FSL smoothest's table of dLh correction factors (squared) for residual degrees of
# freedom ν (numbers from FSL's smoothest.cc, as in DPABI's port). How they are used
# follows smoothest.cc's ``interpolate`` exactly (see :func:`dof_correction`).
_DOF_TABLE = np.array([
    (5, 1.5423138), (6, 1.3757105), (7, 1.2842680), (8, 1.2272151), (9, 1.1885232),
    (10, 1.1606988), (11, 1.1398000), (12, 1.1235677), (13, 1.1106196), (14, 1.1000651),
    (15, 1.0913060), (16, 1.0839261), (17, 1.0776276), (18, 1.0721920), (19, 1.0674553),
    (20, 1.0632924), (25, 1.0483053), (30, 1.0390117), (40, 1.0281339), (50, 1.0219834),
    (60, 1.0180339), (70, 1.0152850), (80, 1.0132621), (90, 1.0117115), (100, 1.0104851),
    (150, 1.0068808), (200, 1.0051200), (300, 1.0033865), (500, 1.0020191),
])


#: Rules for the degrees-of-freedom correction of dLh (see :func:`dof_correction`).
DOF_CORRECTIONS = ("fsl", "dpabi")


def dof_correction(dof: float, rule: str = "fsl") -> float:
    """Multiplicative correction of dLh for residuals with ``dof`` degrees of freedom.

    Both rules use FSL smoothest.cc's table ``L`` (squared factors at ν = 5..20, 25, 30,
    40, ..., 500) and give 1.1 for ν < 6 and ``sqrt(1 + 1.0321 / ν)`` past the table.

    ``rule="fsl"`` mirrors FSL smoothest.cc's ``interpolate(ν)``: with ``j`` the first
    table key ≥ ⌊ν⌋ and ``i`` the key before it,
    ``sqrt((L_j − L_i) / (j − i) · (ν − i) + L_j)`` (FSL adds ``L_j``, not ``L_i``);
    past the last key means ⌊ν⌋ > 500.

    ``rule="dpabi"`` mirrors DPABI's ``y_Smoothest``: the table is first interpolated
    linearly at every integer (``L(k)``), then with ``f = ⌊ν⌋``,
    ``sqrt((L(f) − L(f − 1)) · (ν − f + 1) + L(f))``; past the table means ν > 500.

    For integer ν in 6..20 (consecutive keys) both give ``sqrt(2 L_ν − L_{ν−1})``; above
    20 they differ (ν = 23: FSL ``sqrt(L_25 + 3 (L_25 − L_20) / 5)`` = 1.019467, DPABI
    ``sqrt(2 L(23) − L(22))`` = 1.025331), so dLh, and k*, differ slightly.

    Parameters
    ----------
    dof : float
        Residual degrees of freedom.
    rule : {"fsl", "dpabi"}, default="fsl"
        Which program's rule.

    Returns
    -------
    float
        The factor dLh is multiplied by.

    Examples
    --------
    >>> from painmarkers.inference.smoothness import dof_correction
    >>> round(dof_correction(23, "fsl"), 6), round(dof_correction(23, "dpabi"), 6)
    (1.019467, 1.025331)
    """
    if rule not in DOF_CORRECTIONS:
        raise ValueError(f"The 'dof_correction' parameter must be one of {DOF_CORRECTIONS}. "
                         f"Got {rule!r}.")
    if dof < 6:
        return 1.1
    keys, values = _DOF_TABLE[:, 0], _DOF_TABLE[:, 1]
    if rule == "dpabi":
        if dof > keys[-1]:
            return float(np.sqrt(1.0321 / dof + 1.0))
        f = np.floor(dof)
        at_f, at_before = np.interp([f, f - 1], keys, values)
        return float(np.sqrt((at_f - at_before) * (dof - f + 1) + at_f))
    j = int(np.searchsorted(keys, int(dof), side="left"))
    if j == len(keys):
        return float(np.sqrt(1.0321 / dof + 1.0))
    i = j - 1
    slope = (values[j] - values[i]) / (keys[j] - keys[i])
    return float(np.sqrt(slope * (dof - keys[i]) + values[j]))


_dof_factor = dof_correction  # the parameters named dof_correction shadow the function


def neighbour_indices(mask: np.ndarray):
    """In-mask indices of voxels whose −x, −y, −z neighbours are in the mask.

    Returns ``(used, nx, ny, nz)``: positions (into the C-order list of mask
    voxels, i.e. ``data[mask]``) of the used voxels and of their neighbours.
    """
    mask = np.asarray(mask, bool)
    index = np.full(mask.shape, -1, dtype=np.int64)
    index[mask] = np.arange(int(mask.sum()))
    core = np.zeros_like(mask)
    core[1:, 1:, 1:] = (mask[1:, 1:, 1:] & mask[:-1, 1:, 1:] & mask[1:, :-1, 1:]
                        & mask[1:, 1:, :-1])
    ijk = np.nonzero(core)
    i, j, k = ijk
    return index[ijk], index[i - 1, j, k], index[i, j - 1, k], index[i, j, k - 1]


def _voxel_size(affine) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.sqrt(np.sum(np.asarray(affine)[:3, :3] ** 2, axis=0)))


def smoothness_from_sums(ssminus, s2, n_used, n_voxels, voxel_size, dof=None,
                         source="residuals", dof_correction="fsl"):
    """Turn lag-1 product sums and mean-square sums into a :class:`Smoothness`."""
    ssminus = np.array(ssminus, dtype=float)
    s2 = np.asarray(s2, dtype=float)
    if n_used < 1:
        raise DataError(
            "Cannot estimate smoothness: no mask voxel has its -x, -y and -z neighbours "
            "in the mask (the mask is empty or too thin)."
        )
    for d, axis in enumerate("xyz"):
        if ssminus[d] >= 0.99999999 * s2[d]:
            ssminus[d] = 0.99999 * s2[d]
            warn(f"Extreme smoothness along {axis}: the estimate is clipped and biased.",
                 InferenceWarning)
        if ssminus[d] == 0 or not np.isfinite(ssminus[d]):
            raise DataError(
                f"Cannot estimate smoothness along {axis}: the lag-1 correlation is "
                f"{ssminus[d] / s2[d]:.3g}."
            )
    sigma_sq = -1.0 / (4.0 * np.log(np.abs(ssminus / s2)))
    dlh = float(np.prod(sigma_sq) ** -0.5 * 8.0 ** -0.5)
    if dof is not None:
        dlh *= _dof_factor(float(dof), dof_correction)
    fwhm_vox = np.sqrt(8.0 * np.log(2.0) * sigma_sq)
    resel = float(np.prod(fwhm_vox))
    return Smoothness(
        fwhm_mm=tuple(float(f * v) for f, v in zip(fwhm_vox, voxel_size)),
        fwhm_voxels=tuple(float(f) for f in fwhm_vox),
        dlh=dlh,
        n_voxels=int(n_voxels),
        resel_size=resel,
        n_resels=float(n_voxels) / resel,
        voxel_size=tuple(float(v) for v in voxel_size),
        sigma_sq=tuple(float(s) for s in sigma_sq),
        n_used_voxels=int(n_used),
        dof=None if dof is None else float(dof),
        source=source,
        dof_correction=None if dof is None else dof_correction,
        parameters={"source": source, "dof": None if dof is None else float(dof),
                    "dof_correction": None if dof is None else dof_correction},
    )


def smoothness_from_fwhm(fwhm_mm, voxel_size, n_voxels) -> Smoothness:
    """A :class:`Smoothness` for a known FWHM (e.g. a simulation or a published value).

    Parameters
    ----------
    fwhm_mm : float or sequence of 3 floats
        FWHM in mm (isotropic if a single number), finite and > 0.
    voxel_size : float or sequence of 3 floats
        Voxel size in mm, finite and > 0.
    n_voxels : int
        Voxels in the search volume, >= 1.

    Returns
    -------
    Smoothness
        With ``dlh = (4 ln 2)^{3/2} / (FWHMx·FWHMy·FWHMz)`` (FWHM in voxels)
        and ``source="given"``.

    Raises
    ------
    ValueError
        A FWHM or voxel size that is NaN, infinite or <= 0, or an empty search volume
        (``n_voxels < 1``): GRF p values of such a field would be NaN.

    Examples
    --------
    >>> from painmarkers.inference import smoothness_from_fwhm
    >>> s = smoothness_from_fwhm(6.0, 3.0, 1000)
    >>> round(s.resel_size, 6)
    8.0
    """
    fwhm = np.broadcast_to(np.asarray(fwhm_mm, dtype=float), (3,))
    vox = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
    if not (np.all(np.isfinite(fwhm)) and np.all(np.isfinite(vox))):
        raise ValueError(
            f"FWHM and voxel size must be finite numbers > 0. Got fwhm_mm={fwhm_mm!r}, "
            f"voxel_size={voxel_size!r}.")
    if np.any(fwhm <= 0) or np.any(vox <= 0):
        raise ValueError(
            f"FWHM and voxel size must be > 0. Got fwhm_mm={fwhm_mm!r}, voxel_size={voxel_size!r}."
        )
    n_voxels = _search_volume(n_voxels)
    fv = fwhm / vox
    sigma_sq = fv ** 2 / (8.0 * np.log(2.0))
    resel = float(np.prod(fv))
    return Smoothness(
        fwhm_mm=tuple(map(float, fwhm)), fwhm_voxels=tuple(map(float, fv)),
        dlh=float(_FOUR_LN2 ** 1.5 / resel), n_voxels=n_voxels, resel_size=resel,
        n_resels=float(n_voxels) / resel, voxel_size=tuple(map(float, vox)),
        sigma_sq=tuple(map(float, sigma_sq)), n_used_voxels=0, dof=None, source="given",
        parameters={"source": "given", "fwhm_mm": [float(f) for f in fwhm],
                    "voxel_size": [float(v) for v in vox]},
    )


def _search_volume(n_voxels) -> int:
    value = float(n_voxels) if np.ndim(n_voxels) == 0 else np.nan
    if not np.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(
            f"The 'n_voxels' parameter (the search volume) must be an integer >= 1. "
            f"Got {n_voxels!r}: an empty search volume has no GRF p values.")
    return int(value)


def _load_for_smoothness(img, mask_img, voxel_size):
    """Data, mask (one rule: voxels > 0, same grid), voxel size and name of the input."""
    from painmarkers.inference._loading import load_mask, mask_from_array

    if isinstance(img, np.ndarray):
        data = np.asarray(img, dtype=np.float64)
        vsize = (1.0, 1.0, 1.0) if voxel_size is None else tuple(map(float, voxel_size))
        label, affine = "img", None
    else:
        nimg = check_img(img, name="img")
        data = np.asarray(nimg.get_fdata(dtype=np.float64))
        vsize = _voxel_size(nimg.affine) if voxel_size is None else tuple(map(float, voxel_size))
        label = f"img ({img})" if isinstance(img, str | os.PathLike) else "img"
        affine = nimg.affine
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in (3, 4):
        raise ImageError(f"{label} must be 3-D or 4-D; got shape {data.shape}.")
    if mask_img is None:
        mask = np.all(np.isfinite(data), axis=-1) if data.ndim == 4 else np.isfinite(data)
        if not mask.any():
            raise DataError("The mask used for smoothness estimation is empty.")
    elif isinstance(mask_img, np.ndarray) or affine is None:
        try:
            mask = mask_from_array(np.asarray(mask_img.dataobj) if hasattr(mask_img, "dataobj")
                                   else mask_img, data.shape[:3], label)
        except ImageError as exc:
            if "empty" in str(exc):
                raise DataError(f"The mask used for smoothness estimation is empty: {exc}") \
                    from None
            raise
    else:
        mask = load_mask(mask_img, data.shape[:3], affine, label)
    return data, mask, vsize, label


def estimate_smoothness(img, mask_img=None, *, dof=None, voxel_size=None,
                        dof_correction="fsl"):
    """Estimate the smoothness of 4-D residuals (or, biased, of one statistic map).

    Parameters
    ----------
    img : path, nibabel image or numpy.ndarray
        4-D residuals (x, y, z, image) — the recommended input — or a 3-D
        z/t map (a warning is emitted: see Notes).
    mask_img : path, nibabel image, numpy.ndarray or None, default=None
        Search volume: its voxels > 0, on the grid of ``img``. None uses voxels that are
        finite everywhere and, for residuals, not constant over the 4th dimension.
    dof : float or None, default=None
        Residual degrees of freedom (n − rank of the design), used for the
        correction of dLh. Required for 4-D residuals; ignored for a 3-D map.
    voxel_size : sequence of 3 floats or None, default=None
        Voxel size in mm, needed only for array input (default 1 mm).
    dof_correction : {"fsl", "dpabi"}, default="fsl"
        The degrees-of-freedom correction rule of FSL's ``smoothest`` or of DPABI's
        ``y_Smoothest`` (:func:`~painmarkers.inference.smoothness.dof_correction`; they
        differ above 20 df).

    Returns
    -------
    Smoothness
        FWHM (mm and voxels), dLh, resel size and count, number of voxels, dof, and the
        rule used (``dof_correction``).

    Raises
    ------
    ImageError
        If ``img`` and ``mask_img`` differ in shape or affine, or ``img`` is not 3-D/4-D.
    DataError
        If the mask is empty, holds non-finite values of ``img``, or has no voxel
        with all three backward neighbours inside.
    ValueError
        If ``dof`` is missing or <= 0 for residuals, or ``dof_correction`` is unknown.

    Notes
    -----
    As FSL's ``smoothest``: each voxel's residual series is standardised
    (mean 0, SD 1 with n − 1); only voxels whose −x, −y and −z neighbours are in
    the mask contribute. Per axis d the lag-1 product sum
    ``SS_d = Σ_v Σ_t r(v) r(v − e_d)`` and the mean-square sum
    ``S2_d = Σ_v Σ_t ½ (r(v)² + r(v − e_d)²)`` give ``σ²_d = −1 / (4 ln(SS_d / S2_d))``;
    then ``dLh = (σ²_x σ²_y σ²_z)^(−1/2) · 8^(−1/2)``
    (as FSL, the absolute value of the ratio is used, so a slightly negative
    lag-1 correlation of white noise gives a small positive FWHM),
    ``FWHM_d = sqrt(8 ln 2 · σ²_d)`` voxels, resel size ``Π FWHM_d``. For
    residuals dLh is multiplied by the interpolated dof correction (FSL's table; FSL's or
    DPABI's interpolation rule; FWHM is left uncorrected, as both do). A single
    statistic map gives one lag product per voxel and contains the effects
    themselves, so its estimate is noisy and biased towards smoothness
    (DPABI falls back to it when residuals are absent).

    References
    ----------
    Flitney D, Jenkinson M (2000). Cluster analysis revisited. FMRIB technical
    report TR00DF1. Kiebel SJ et al. (1999). Robust smoothness estimation in
    statistical parametric maps using standardized residuals from the general
    linear model. NeuroImage 10:756–766.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> from painmarkers.inference import estimate_smoothness
    >>> rng = np.random.default_rng(0)
    >>> sigma = 3.0 / np.sqrt(8 * np.log(2))
    >>> res = gaussian_filter(rng.standard_normal((24, 24, 24, 20)), (sigma,) * 3 + (0,),
    ...                       mode="wrap")
    >>> s = estimate_smoothness(res, dof=19)
    >>> bool(abs(s.fwhm_voxels[0] - 3.0) < 0.3)
    True
    """
    if dof_correction not in DOF_CORRECTIONS:
        raise ValueError(f"The 'dof_correction' parameter must be one of {DOF_CORRECTIONS}. "
                         f"Got {dof_correction!r}.")
    data, mask, vsize, label = _load_for_smoothness(img, mask_img, voxel_size)
    values = data[mask]
    if not np.all(np.isfinite(values)):
        raise DataError(
            f"{label} has {int((~np.isfinite(values)).sum())} non-finite value(s) inside the mask."
        )
    if data.ndim == 4:
        if dof is None:
            raise ValueError(
                "The 'dof' parameter (residual degrees of freedom) is required for 4-D residuals."
            )
        dof = check_interval(dof, "dof", 0, None, closed="neither")
        values = values - values.mean(axis=1, keepdims=True)
        sd = values.std(axis=1, ddof=1)
        keep = sd > 0
        if not keep.all():
            mask = mask.copy()
            mask[tuple(np.argwhere(mask)[~keep].T)] = False
            values = values[keep]
            sd = sd[keep]
        if not mask.any():
            raise DataError("Every in-mask voxel of the residuals is constant over images.")
        values = values / sd[:, None]
        source = "residuals"
    else:
        warn(
            "Estimating smoothness from a single statistic map: the estimate is noisy and "
            "biased by the effects in the map; prefer the 4-D residuals.",
            InferenceWarning,
        )
        values = values[:, None]
        dof = None
        source = "stat_map"
    used, *neighbours = neighbour_indices(mask)
    ssminus = []
    s2 = []
    own = np.einsum("ij,ij->i", values[used], values[used])
    for nb in neighbours:
        ssminus.append(float(np.einsum("ij,ij->", values[used], values[nb])))
        other = np.einsum("ij,ij->i", values[nb], values[nb])
        s2.append(float(0.5 * np.sum(own + other)))
    return smoothness_from_sums(ssminus, s2, len(used), int(mask.sum()), vsize, dof, source,
                                dof_correction=dof_correction)
