"""Brain figures: stat-map montages, glass brains and group mean maps (nilearn).

The conventions follow nilearn's, fMRIPrep's and MRIQC's reports and the seed
papers' figures:

* slices are chosen inside the brain: at the peaks of the clusters when a cluster
  table is given, otherwise a fixed set covering the brain mask
  (:func:`choose_cuts`); a cut never lies outside the mask;
* a signed map (t, z, a contrast) uses a diverging colour map centred at 0
  (``RdBu_r``, symmetric limits); a one-signed map (a mean ALFF, a QSM mean, a
  one-tailed cluster map) a sequential one (red-yellow for positive values,
  blue-cyan for negative ones);
* every colour bar is labelled with the statistic and its units (``t (df = 14)``,
  ``mean mALFF (ratio to the brain mean)``, ``QSM (ppm)``);
* orientation labels (L/R) and slice positions (MNI mm) are drawn on every panel.

nilearn and matplotlib are imported only when a function is called.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._validation import check_choice, check_positive_int
from painmarkers.io.images import image_label
from painmarkers.reporting.figures import _pyplot

__all__ = ["choose_cuts", "colorbar_label", "plot_glass_brain", "plot_group_mean_maps",
           "plot_stat_map"]

_AXES = {"x": 0, "y": 1, "z": 2}
_PEAK_COLUMNS = {"x": "peak_mni_x", "y": "peak_mni_y", "z": "peak_mni_z"}
#: Figure width (inches) of a montage: a journal's full text width.
_WIDTH = 7.2


def _panel_height(display_mode: str, n_panels: int, width: float = 0.9 * _WIDTH) -> float:
    """Height (inches) of a row of ``n_panels`` slices spanning ``width`` inches.

    MNI152 slices are 91 x 109 (axial), 109 x 91 (sagittal, coronal: 91 x 91) voxels
    of 2 mm; the panel keeps that aspect ratio.
    """
    aspect = {"z": 109 / 91, "x": 91 / 109, "y": 91 / 91}[display_mode]
    return width / max(n_panels, 3) * aspect


def _load(img: Any, name: str):
    from painmarkers._validation import check_img

    return check_img(img, name=name)


def _mask_array(mask_img: Any, ref=None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean mask and its affine; the bundled MNI152 brain mask when ``mask_img`` is None."""
    if mask_img is None:
        from nilearn import datasets

        mask_img = datasets.load_mni152_brain_mask(resolution=2)
    img = _load(mask_img, "mask_img")
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    return np.isfinite(data) & (data > 0), np.asarray(img.affine, dtype=float)


def mask_extent(mask_img: Any, axis: str = "z") -> tuple[float, float]:
    """Smallest and largest world coordinate (mm) of the mask's voxels along an axis."""
    coords = _slice_coords(mask_img, axis)
    return float(coords.min()), float(coords.max())


def _slice_coords(mask_img: Any, axis: str) -> np.ndarray:
    """World coordinate (mm) along ``axis`` of every mask voxel (one per voxel)."""
    mask, affine = _mask_array(mask_img)
    if not mask.any():
        from painmarkers.exceptions import ImageError

        raise ImageError("The brain mask 'mask_img' is empty: no slice can be chosen inside it.")
    ijk = np.argwhere(mask)
    xyz = (affine[:3, :3] @ ijk.T + affine[:3, 3:4]).T
    return xyz[:, _AXES[axis]]


def choose_cuts(mask_img: Any = None, *, clusters: pd.DataFrame | None = None,
                n_cuts: int = 8, display_mode: str = "z") -> list[float]:
    """Slice positions inside the brain: at the cluster peaks, else covering the mask.

    Parameters
    ----------
    mask_img : Niimg-like or None, default=None
        Brain mask of the analysis (voxels > 0). None uses nilearn's bundled
        MNI152 brain mask (2 mm).
    clusters : DataFrame or None, default=None
        A cluster table (:meth:`painmarkers.inference.ClusterResult.to_frame`)
        with ``peak_mni_x/y/z`` and ``size_voxels`` (and ``significant``, when
        present only significant clusters count). The largest clusters' peaks
        give the cuts.
    n_cuts : int, default=8
        Largest number of cuts.
    display_mode : {"x", "y", "z"}, default="z"
        Axis of the cuts (sagittal, coronal, axial).

    Returns
    -------
    list of float
        Cut positions in MNI mm along the axis, ascending, without repeats. With
        clusters: one per peak of the ``n_cuts`` largest clusters (peaks on the
        same slice give one cut). Without: ``n_cuts`` positions at the quantiles
        ``(i + 0.5) / n_cuts`` of the mask voxels' coordinates, snapped to voxel
        centres, so that the cuts cover the brain where it has most tissue.
        Every cut lies on a slice containing mask voxels.

    Raises
    ------
    ValueError
        ``n_cuts < 1`` or an unknown ``display_mode``.
    ImageError
        An empty mask.

    Notes
    -----
    nilearn's automatic cut selection looks at the map alone; on a thresholded
    map with few voxels it can place slices above the brain. Here every cut is
    snapped to the nearest coordinate of a mask voxel, so no cut is ever
    outside the mask.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.reporting import choose_cuts
    >>> mask = np.zeros((10, 10, 10), np.uint8); mask[2:8, 2:8, 3:7] = 1
    >>> img = nib.Nifti1Image(mask, np.diag([4.0, 4.0, 4.0, 1.0]))
    >>> choose_cuts(img, n_cuts=4)
    [12.0, 16.0, 20.0, 24.0]
    """
    check_positive_int(n_cuts, "n_cuts")
    check_choice(display_mode, tuple(_AXES), "display_mode")
    coords = _slice_coords(mask_img, display_mode)
    levels = np.unique(coords)
    wanted: list[float] = []
    if clusters is not None and len(clusters):
        table = clusters
        if "significant" in table.columns:
            table = table[table["significant"].astype(bool)]
        order = table.sort_values("size_voxels", ascending=False, kind="stable")
        wanted = [float(v) for v in order[_PEAK_COLUMNS[display_mode]]]
    if not wanted:
        wanted = [float(np.quantile(coords, (i + 0.5) / n_cuts)) for i in range(n_cuts)]
    out: list[float] = []
    for w in wanted:
        snapped = float(levels[np.argmin(np.abs(levels - w))])
        if snapped not in out:
            out.append(snapped)
        if len(out) == n_cuts:
            break
    return sorted(out)


def colorbar_label(stat: str | None = None, *, df: Any = None, label: str | None = None,
                   units: str | None = None) -> str:
    """The label of a colour bar: the statistic and its units.

    Parameters
    ----------
    stat : {"t", "z", "F"} or None, default=None
        Kind of statistic map.
    df : float, pair of float or None, default=None
        Degrees of freedom, written after the statistic.
    label : str or None, default=None
        What the values are when they are not a statistic (``"mean mALFF"``).
    units : str or None, default=None
        Units, in parentheses (``"ppm"``).

    Returns
    -------
    str
        ``label`` (or the statistic's name, ``"value"`` when neither is given), the
        degrees of freedom and the units in parentheses.

    Examples
    --------
    >>> from painmarkers.reporting import colorbar_label
    >>> colorbar_label("t", df=14.0)
    't value (df = 14)'
    >>> colorbar_label(label="QSM", units="ppm")
    'QSM (ppm)'
    """
    from painmarkers.reporting.formatting import format_number

    if label is None:
        label = {"t": "t value", "z": "z score", "F": "F value"}.get(stat or "", "value")
    if df is not None:
        dfs = np.atleast_1d(np.asarray(df, dtype=float))
        label += f" (df = {', '.join(format_number(d, kind='df') for d in dfs)})"
    if units:
        label += f" ({units})"
    return label


class _Quiet:
    """Silence nilearn's plotting remarks that these functions handle themselves.

    An empty thresholded map (drawn with a title saying so), explicit colour limits
    that nilearn would otherwise choose, and non-finite voxels (transparent).
    """

    _MESSAGES = ("empty mask", ".*vmin.*", ".*symmetric_cbar.*", "Non-finite values",
                 ".*NaN.*", ".*cut_coords.*", ".*threshold.*")

    def __enter__(self):
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        for message in self._MESSAGES:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _cmaps():
    """Sequential (positive, negative) and diverging colour maps."""
    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap

    hot = matplotlib.colormaps["hot"](np.linspace(0.3, 0.95, 256))
    positive = LinearSegmentedColormap.from_list("pm_hot", hot)
    # mirrored: the most negative values are the brightest, as the largest positive ones
    negative = LinearSegmentedColormap.from_list("pm_cold", hot[::-1][:, [2, 1, 0, 3]])
    return positive, negative, matplotlib.colormaps["RdBu_r"]


def _limits(data: np.ndarray, threshold: float, vmax: float | None, signed: bool | None):
    """Sign of the map and the colour limits (symmetric about 0 for signed maps)."""
    finite = data[np.isfinite(data) & (np.abs(data) > threshold)]
    has_pos = bool((finite > 0).any())
    has_neg = bool((finite < 0).any())
    if signed is None:
        signed = has_pos and has_neg
    top = float(np.abs(finite).max()) if finite.size else 1.0
    if vmax is None:
        vmax = top
    if signed:
        return "signed", -vmax, vmax
    if has_neg and not has_pos:
        return "negative", -vmax, -max(threshold, 0.0)
    return "positive", max(threshold, 0.0), vmax


def _colorbar(fig, cax, cmap, vmin, vmax, label, threshold, kind):
    import matplotlib as mpl

    norm = mpl.colors.Normalize(vmin=vmin, vmax=vmax)
    cb = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if kind == "signed" and threshold > 0:  # the transparent band of the map
        cb.ax.axhspan(-threshold, threshold, color="0.85", zorder=3)
    return cb


def plot_stat_map(stat_img, *, threshold: float | None = None, title: str = "",
                  stat: str | None = None, df: Any = None, label: str | None = None,
                  units: str | None = None, mask_img=None, clusters: pd.DataFrame | None = None,
                  display_mode: str = "z", cut_coords: int | Sequence[float] = 8,
                  vmax: float | None = None, signed: bool | None = None, bg_img=None):
    """A montage of a statistic map on the MNI152 template, slices inside the brain.

    Parameters
    ----------
    stat_img : Niimg-like
        The map (t, z or F map, a thresholded cluster map, a mean map).
    threshold : float or None, default=None
        Values with ``|value| <= threshold`` are transparent. None makes only
        exact zeros transparent (a thresholded cluster map shows its clusters
        over the template).
    title : str, default=""
        Title, drawn above the slices.
    stat : {"t", "z", "F"} or None, default=None
        Kind of statistic, for the colour-bar label.
    df : float, pair of float or None, default=None
        Degrees of freedom, for the colour-bar label.
    label, units : str or None, default=None
        Colour-bar label of a map that is not a statistic, and its units
        (see :func:`colorbar_label`).
    mask_img : Niimg-like or None, default=None
        Brain mask of the analysis: slices are chosen inside it. None uses the
        bundled MNI152 brain mask.
    clusters : DataFrame or None, default=None
        Cluster table whose peaks give the slices (see :func:`choose_cuts`).
    display_mode : {"z", "x", "y"}, default="z"
        Axial, sagittal or coronal slices.
    cut_coords : int or sequence of float, default=8
        Number of slices (chosen by :func:`choose_cuts`) or their MNI positions.
        More than 5 slices are laid out in two rows.
    vmax : float or None, default=None
        Upper colour limit (absolute); None takes the largest absolute value.
    signed : bool or None, default=None
        Draw the map as signed (diverging colour map centred at 0). None decides
        from the data: signed when it has values above the threshold of both signs.
    bg_img : Niimg-like or None, default=None
        Background; nilearn's bundled MNI152 template when None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its last axes is the colour bar.

    Notes
    -----
    One-signed maps use a sequential colour map from the threshold to the
    maximum; signed maps ``RdBu_r`` from ``-vmax`` to ``+vmax`` with the
    transparent band ``[-threshold, threshold]`` greyed on the colour bar. A map
    without any value above the threshold is drawn as the template alone and
    its title says so.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.reporting import plot_stat_map
    >>> data = np.zeros((20, 24, 20)); data[8:11, 10:13, 9:12] = 4.0
    >>> img = nib.Nifti1Image(data, np.array([[4., 0, 0, -40], [0, 4, 0, -56],
    ...                                       [0, 0, 4, -30], [0, 0, 0, 1]]))
    >>> fig = plot_stat_map(img, stat="t", df=14, threshold=3.0, cut_coords=3)
    >>> fig.axes[-1].get_ylabel()
    't value (df = 14)'
    """
    plt = _pyplot()
    from nilearn import datasets, plotting

    check_choice(display_mode, tuple(_AXES), "display_mode")
    img = _load(stat_img, "stat_img")
    data = np.asarray(img.get_fdata(), dtype=float)
    thr = 1e-12 if threshold is None else float(threshold)
    empty = not (np.abs(data[np.isfinite(data)]) > thr).any()
    if isinstance(cut_coords, int | np.integer):
        cuts = choose_cuts(mask_img, clusters=clusters, n_cuts=int(cut_coords),
                           display_mode=display_mode)
    else:
        cuts = [float(c) for c in cut_coords]
    if bg_img is None:
        bg_img = datasets.load_mni152_template(resolution=2)
    kind, vmin, vmax_ = _limits(data, thr, vmax, signed)
    positive, negative, diverging = _cmaps()
    cmap = {"signed": diverging, "positive": positive, "negative": negative}[kind]
    rows = [cuts] if len(cuts) <= 5 else [cuts[: (len(cuts) + 1) // 2],
                                          cuts[(len(cuts) + 1) // 2:]]
    per_row = max(len(r) for r in rows)
    row_in = _panel_height(display_mode, per_row)
    fig = plt.figure(figsize=(_WIDTH, row_in * len(rows) + (0.22 if title else 0.0)))
    top = 1.0 - (0.22 / fig.get_figheight() if title else 0.0)
    row_h = top / len(rows)
    plot_kwargs = {"bg_img": bg_img, "threshold": thr, "display_mode": display_mode,
                   "colorbar": False, "draw_cross": False, "annotate": True,
                   "black_bg": True, "cmap": cmap, "vmax": max(abs(vmin), abs(vmax_))}
    if kind != "signed":
        plot_kwargs["symmetric_cbar"] = False
        plot_kwargs["vmin"] = vmin
        plot_kwargs["vmax"] = vmax_
    with _Quiet():
        for r, row in enumerate(rows):
            ax = fig.add_axes((0.0, top - (r + 1) * row_h, 0.9 * len(row) / per_row, row_h))
            plotting.plot_stat_map(img, cut_coords=row, axes=ax, figure=fig, **plot_kwargs)
    cax = fig.add_axes((0.925, 0.12, 0.018, top - 0.2))
    _colorbar(fig, cax, cmap, vmin, vmax_, colorbar_label(stat, df=df, label=label, units=units),
              thr if threshold is not None else 0.0, kind)
    if empty:
        title = f"{title}: no voxel above threshold" if title else "no voxel above threshold"
    if title:
        fig.text(0.005, 0.995, title, ha="left", va="top", fontsize=9, weight="bold")
    fig.patch.set_facecolor("white")
    return fig


def plot_glass_brain(stat_img, *, threshold: float | None = None, title: str = "",
                     stat: str | None = None, df: Any = None, label: str | None = None,
                     units: str | None = None, vmax: float | None = None,
                     signed: bool | None = None):
    """A glass-brain overview (sagittal, coronal, axial projections, as in nilearn).

    Parameters
    ----------
    stat_img : Niimg-like
        The map.
    threshold : float or None, default=None
        Values with ``|value| <= threshold`` are not drawn; None hides only zeros.
    title : str, default=""
        Title.
    stat : {"t", "z", "F"} or None, default=None
        Kind of statistic, for the colour-bar label.
    df : float, pair of float or None, default=None
        Degrees of freedom, for the colour-bar label.
    label, units : str or None, default=None
        Colour-bar label of a map that is not a statistic, and its units
        (see :func:`colorbar_label`).
    vmax : float or None, default=None
        Colour limit; None takes the largest absolute value.
    signed : bool or None, default=None
        Diverging colour map centred at 0 (None: when the map has both signs).

    Returns
    -------
    matplotlib.figure.Figure
        The four projections in one row; its last axes is the colour bar.

    Notes
    -----
    Each projection shows the maximum-intensity projection of the map; a
    signed map keeps its sign (``plot_abs=False``), so negative clusters are
    blue and positive ones red.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.reporting import plot_glass_brain
    >>> data = np.zeros((20, 24, 20)); data[8:11, 10:13, 9:12] = 4.0
    >>> img = nib.Nifti1Image(data, np.array([[4., 0, 0, -40], [0, 4, 0, -56],
    ...                                       [0, 0, 4, -30], [0, 0, 0, 1]]))
    >>> fig = plot_glass_brain(img, stat="z", threshold=3.0)
    >>> fig.axes[-1].get_ylabel()
    'z score'
    """
    plt = _pyplot()
    from nilearn import plotting

    img = _load(stat_img, "stat_img")
    data = np.asarray(img.get_fdata(), dtype=float)
    thr = 1e-12 if threshold is None else float(threshold)
    kind, vmin, vmax_ = _limits(data, thr, vmax, signed)
    positive, negative, diverging = _cmaps()
    cmap = {"signed": diverging, "positive": positive, "negative": negative}[kind]
    fig = plt.figure(figsize=(_WIDTH, 2.2))
    ax = fig.add_axes((0.0, 0.0, 0.9, 0.88 if title else 1.0))
    kwargs: dict[str, Any] = {"threshold": thr, "display_mode": "lyrz", "colorbar": False,
                              "plot_abs": False, "cmap": cmap, "annotate": True}
    if kind == "signed":
        kwargs["vmax"] = vmax_
    else:
        kwargs.update(vmin=vmin, vmax=vmax_, symmetric_cbar=False)
    with _Quiet():
        plotting.plot_glass_brain(img, axes=ax, figure=fig, **kwargs)
    cax = fig.add_axes((0.925, 0.1, 0.018, 0.75))
    _colorbar(fig, cax, cmap, vmin, vmax_, colorbar_label(stat, df=df, label=label, units=units),
              thr if threshold is not None else 0.0, kind)
    if title:
        fig.text(0.005, 0.995, title, ha="left", va="top", fontsize=9, weight="bold")
    fig.patch.set_facecolor("white")
    return fig


def mean_map(imgs: Sequence[Any], mask_img: Any = None):
    """Voxelwise mean of images on one grid (0 outside the mask).

    Parameters
    ----------
    imgs : sequence of Niimg-like
        3-D maps on one grid.
    mask_img : Niimg-like or None, default=None
        Voxels kept (> 0); None keeps every voxel.

    Returns
    -------
    nibabel.Nifti1Image
        The mean map (float32).

    Raises
    ------
    ImageError
        No image, or images on different grids (the message names the first
        offending image by position and file).
    """
    import nibabel as nib

    from painmarkers.exceptions import ImageError

    imgs = list(imgs)
    if not imgs:
        raise ImageError("mean_map needs at least one image; got none.")
    first = _load(imgs[0], image_label(imgs[0], "imgs", 0))
    total = np.zeros(first.shape[:3], dtype=np.float64)
    for i, src in enumerate(imgs):
        img = first if i == 0 else _load(src, image_label(src, "imgs", i))
        if img.shape[:3] != first.shape[:3] or not np.allclose(img.affine, first.affine,
                                                               atol=1e-3):
            raise ImageError(f"{image_label(src, 'imgs', i)} is not on the grid of "
                             f"{image_label(imgs[0], 'imgs', 0)} (shape {img.shape[:3]} vs "
                             f"{first.shape[:3]}); average maps in one space.")
        total += np.nan_to_num(np.asarray(img.get_fdata(), dtype=np.float64).reshape(
            first.shape[:3]))
    mean = total / len(imgs)
    if mask_img is not None:
        mask, _ = _mask_array(mask_img)
        if mask.shape != mean.shape:
            raise ImageError(f"mask_img has shape {mask.shape}, the maps {mean.shape}.")
        mean[~mask] = 0.0
    return nib.Nifti1Image(mean.astype(np.float32), first.affine)


#: Scales of :func:`plot_group_mean_maps`.
_SCALES = ("threshold", "percentile")
#: Percentiles of the pooled means spanned by ``scale="percentile"``: one-signed, signed.
_PERCENTILES = {False: (2.0, 99.5), True: (1.0, 99.0)}


def _row_means(maps: Mapping[str, Any], mask_img: Any) -> dict[str, Any]:
    """Each row's mean map, labelled ``"<row> (n = k)"`` when averaged here."""
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError("The 'maps' parameter must map row labels to images; got "
                         f"{type(maps).__name__} {maps!r:.80}.")
    means = {}
    for key, value in maps.items():
        if isinstance(value, str | os.PathLike) or hasattr(value, "dataobj"):
            means[str(key)] = mean_map([value], mask_img)  # a mean already
            continue
        imgs = list(value)
        if not imgs:
            raise ValueError(f"The 'maps' parameter has rows without images: [{key!r}].")
        means[f"{key} (n = {len(imgs)})"] = mean_map(imgs, mask_img)
    return means


def _outlines(rois: Mapping[str, Any] | None, ref) -> list[tuple[str, Any]]:
    """``(name, mask image on the grid of ref)`` of each ROI to outline."""
    import nibabel as nib

    if rois is None:
        return []
    if not isinstance(rois, Mapping):
        raise TypeError("The 'rois' parameter must map ROI names to masks (images) or ROIs "
                        f"(Sphere, AtlasRegion, MaskROI); got {type(rois).__name__}.")
    out = []
    for name, roi in rois.items():
        if hasattr(roi, "to_mask"):
            data = np.asarray(roi.to_mask(ref), dtype=np.uint8)
        else:
            img = _load(roi, f"rois[{name!r}]")
            if img.shape[:3] != ref.shape[:3] or not np.allclose(img.affine, ref.affine,
                                                                  atol=1e-3):
                from painmarkers.exceptions import ImageError

                raise ImageError(f"rois[{name!r}] is not on the grid of the maps (shape "
                                 f"{img.shape[:3]} vs {ref.shape[:3]}).")
            data = (np.asarray(img.dataobj).reshape(ref.shape[:3]) > 0).astype(np.uint8)
        out.append((str(name), nib.Nifti1Image(data, ref.affine)))
    return out


def plot_group_mean_maps(maps: Mapping[str, Any], *, mask_img=None,
                         label: str = "mean value", units: str | None = None,
                         threshold: float | None = None, cut_coords: int | Sequence[float] = 6,
                         vmax: float | None = None, title: str = "", bg_img=None,
                         rois: Mapping[str, Any] | None = None, scale: str = "threshold",
                         signed: bool | None = None):
    """Mean map of each group or session, one row each on one colour scale (seed Figure 3).

    Parameters
    ----------
    maps : mapping of str to sequence of Niimg-like, or to Niimg-like
        Maps of each row, e.g. ``{"HC": hc_maps, "CLBP pre": pre_maps, "CLBP post":
        post_maps}``; the row label gets ``(n = ...)``. A single image (a path or a
        nibabel image, not in a list) is a row's mean already computed: it is drawn as
        it is, under its label unchanged.
    mask_img : Niimg-like or None, default=None
        Brain mask: the means are shown inside it and the slices are chosen in
        it (bundled MNI152 brain mask when None).
    label, units : str, default="mean value", None
        Colour-bar label and units (e.g. ``"mean mALFF"``, ``"ratio to the
        brain mean"``).
    threshold : float or None, default=None
        With ``scale="threshold"``: values at or below it are transparent; None takes
        the 50th percentile of the pooled means inside the mask, so the upper half of
        each map is shown (one threshold for every row). Not used by
        ``scale="percentile"`` (give None).
    cut_coords : int or sequence of float, default=6
        Number of axial slices (a brain-covering set, :func:`choose_cuts`) or
        their MNI z positions; the same for every row.
    vmax : float or None, default=None
        Upper colour limit; None takes the largest mean over rows
        (``scale="threshold"``) or the upper percentile (``scale="percentile"``).
    title : str, default=""
        Title.
    bg_img : Niimg-like or None, default=None
        Background of ``scale="threshold"``; nilearn's bundled MNI152 template when
        None. Not used by ``scale="percentile"`` (give None), whose unthresholded means
        cover the brain.
    rois : mapping of str to Niimg-like or ROI, optional
        ROIs outlined on every panel (one colour each, named in a legend): a mask image
        on the grid of the maps (voxels > 0) or a painmarkers ROI
        (:class:`~painmarkers.rois.Sphere`, :class:`~painmarkers.rois.AtlasRegion`,
        :class:`~painmarkers.rois.MaskROI`, placed on the maps' grid).
    scale : {"threshold", "percentile"}, default="threshold"
        ``"threshold"``: the values above ``threshold`` over the template, a sequential
        red-yellow scale from ``threshold`` to ``vmax``. ``"percentile"``: the whole
        unthresholded means on black, the scale spanning the 2nd to 99.5th percentile
        of the pooled non-zero means (``"inferno"``), or the 1st to 99th in grey levels
        for a signed map (``signed``; e.g. a susceptibility map, iron bright).
    signed : bool or None, default=None
        With ``scale="percentile"``: draw the map as signed (grey scale, 1st to 99th
        percentile); None: signed when a mean is negative. Only ``scale="percentile"``
        draws signed means.

    Returns
    -------
    matplotlib.figure.Figure
        One row of axial slices per entry of ``maps``, a shared colour bar (its last
        axes) and, with ``rois``, a legend of the outlines.

    Raises
    ------
    ValueError
        ``maps`` empty or a row without images; an unknown ``scale``; ``threshold`` or
        ``bg_img`` with ``scale="percentile"``; ``signed=True`` with
        ``scale="threshold"``.
    TypeError
        ``rois`` is not a mapping.
    ImageError
        Maps (or an ROI mask) on different grids.

    Notes
    -----
    The seed study's Figure 3 shows the ALFF of each group/session averaged over
    subjects on axial slices; a shared colour scale makes rows comparable. The
    mean of a row is the voxelwise arithmetic mean of its maps. With
    ``scale="percentile"`` the limits are :math:`P_{2}` and :math:`P_{99.5}` (signed:
    :math:`P_{1}`, :math:`P_{99}`) of the non-zero voxels of all rows together (numpy's
    linear interpolation); voxels outside the mask (0) are drawn black.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.reporting import plot_group_mean_maps
    >>> aff = np.array([[4., 0, 0, -40], [0, 4, 0, -56], [0, 0, 4, -30], [0, 0, 0, 1]])
    >>> rng = np.random.default_rng(0)
    >>> mk = lambda: nib.Nifti1Image(1 + rng.random((20, 24, 20)), aff)
    >>> fig = plot_group_mean_maps({"HC": [mk(), mk()], "CLBP": [mk(), mk()]},
    ...                            label="mean mALFF", cut_coords=3)
    >>> fig.axes[-1].get_ylabel()
    'mean mALFF'
    >>> box = np.zeros((20, 24, 20), np.uint8); box[8:12, 10:14, 8:12] = 1
    >>> fig = plot_group_mean_maps({"HC": [mk(), mk()]}, scale="percentile",
    ...                            rois={"box": nib.Nifti1Image(box, aff)}, cut_coords=[6.0])
    >>> [t.get_text() for t in fig.legends[0].get_texts()]
    ['box']
    """
    plt = _pyplot()
    from nilearn import datasets, plotting

    scale = check_choice(scale, _SCALES, "scale")
    if scale == "percentile" and (threshold is not None or bg_img is not None):
        raise ValueError("scale='percentile' draws the unthresholded means without a "
                         "template: give neither 'threshold' nor 'bg_img'.")
    if scale == "threshold" and signed:
        raise ValueError("signed=True needs scale='percentile' (a thresholded overlay shows "
                         "the positive means).")
    means = _row_means(maps, mask_img)
    first = next(iter(means.values()))
    values = np.concatenate([np.asarray(m.dataobj).ravel() for m in means.values()])
    inside = values[np.isfinite(values) & (values != 0)]
    if scale == "threshold":
        if threshold is None:
            threshold = float(np.percentile(inside, 50)) if inside.size else 0.0
        vmin = threshold
        if vmax is None:
            vmax = float(inside.max()) if inside.size else 1.0
        cmap, _, _ = _cmaps()
    else:
        signed = bool((inside < 0).any()) if signed is None else bool(signed)
        low, high = (np.percentile(inside, _PERCENTILES[signed]) if inside.size
                     else (0.0, 1.0))
        vmin = float(low)
        vmax = float(high) if vmax is None else float(vmax)
        cmap = "gray" if signed else "inferno"
    if isinstance(cut_coords, int | np.integer):
        if mask_img is None:
            mask_img = type(first)((np.asarray(first.dataobj) != 0).astype(np.uint8),
                                   first.affine)
        cuts = choose_cuts(mask_img, n_cuts=int(cut_coords))
    else:
        cuts = [float(c) for c in cut_coords]
    if bg_img is None and scale == "threshold":
        bg_img = datasets.load_mni152_template(resolution=2)
    outlines = _outlines(rois, first)
    colours = plt.get_cmap("tab10").colors
    n = len(means)
    row_in = _panel_height("z", len(cuts), width=0.79 * _WIDTH)
    head_in, foot_in = (0.22 if title else 0.0), (0.3 if outlines else 0.0)
    fig = plt.figure(figsize=(_WIDTH, row_in * n + head_in + foot_in))
    top = 1.0 - head_in / fig.get_figheight()
    bottom = foot_in / fig.get_figheight()
    row_h = (top - bottom) / n
    with _Quiet():
        for r, (name, img) in enumerate(means.items()):
            ax = fig.add_axes((0.11, top - (r + 1) * row_h, 0.79, row_h))
            common = dict(display_mode="z", cut_coords=cuts, axes=ax, figure=fig,
                          colorbar=False, draw_cross=False, annotate=True, black_bg=True,
                          cmap=cmap, vmin=vmin, vmax=vmax)
            if scale == "threshold":
                display = plotting.plot_stat_map(img, bg_img=bg_img, threshold=threshold,
                                                 symmetric_cbar=False, **common)
            else:
                data = np.asarray(img.dataobj, dtype=float).copy()
                # outside the brain: below the scale, drawn in its lowest colour (black)
                data[data == 0] = vmin - (vmax - vmin)
                display = plotting.plot_img(type(img)(data, img.affine), bg_img=None,
                                            **common)
            for j, (_, roi_img) in enumerate(outlines):
                display.add_contours(roi_img, levels=[0.5], colors=[colours[j % 10]],
                                     linewidths=1.0)
            fig.text(0.105, top - (r + 0.5) * row_h, name.replace(" (n", "\n(n"), ha="right",
                     va="center", fontsize=8)
    if outlines:
        handles = [plt.Line2D([], [], color=colours[j % 10], lw=1.5, label=name)
                   for j, (name, _) in enumerate(outlines)]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(outlines), 4),
                   fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.0))
    cax = fig.add_axes((0.925, bottom + 0.15, 0.018, top - bottom - 0.25))
    _colorbar(fig, cax, cmap, vmin, vmax, colorbar_label(label=label, units=units), 0.0,
              "positive")
    if title:
        fig.text(0.005, 0.995, title, ha="left", va="top", fontsize=9, weight="bold")
    fig.patch.set_facecolor("white")
    return fig
