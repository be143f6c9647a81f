"""Base class of every imaging extractor.

Extractors are scikit-learn transformers modelled on nilearn's maskers:
``__init__`` only stores parameters (so :func:`sklearn.base.clone` and
``set_params`` work), :meth:`BaseExtractor.fit` is a template method that
validates the parameters, sets ``mask_img_`` (given or computed from the
images) and calls the subclass hook ``_fit``; :meth:`BaseExtractor.transform`
returns an array of shape ``(n_images, n_voxels_in_mask)``.

A time-series extractor (``input_kind = "bold"``) only implements
``_compute(data, t_r)`` on a masked ``(T, V)`` array and returns ``(V,)``
values; a map extractor (``input_kind = "map"``) receives a ``(1, V)`` array
and ``t_r=None``.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from painmarkers._validation import check_img, check_same_grid, check_tr
from painmarkers.exceptions import DataError, ExtractorError, ImageError

__all__ = ["INPUT_KINDS", "BaseExtractor", "image_label", "resolve_t_r"]

#: The kinds of input an extractor can take: 4-D time series or 3-D maps.
INPUT_KINDS = ("bold", "map")

#: Header time units (``get_xyzt_units()[1]``) and their factor to seconds.
_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}


def image_label(img: Any, name: str = "img") -> str:
    """Return a short label naming an image in messages: its file name or ``name``.

    Parameters
    ----------
    img : str, path-like or nibabel image
        The image.
    name : str, default="img"
        Label used when ``img`` has no file name.

    Returns
    -------
    str
        ``"<name> (<path>)"`` for a path or a file-backed image, else ``name``.

    Examples
    --------
    >>> image_label("/data/sub-01_bold.nii.gz", "imgs[0]")
    'imgs[0] (/data/sub-01_bold.nii.gz)'
    """
    if isinstance(img, str | PathLike):
        return f"{name} ({img})"
    filename = getattr(img, "get_filename", lambda: None)()
    return f"{name} ({filename})" if filename else name


def _sidecar_path(path: Path) -> Path:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def _header_t_r(img: Any) -> float | None:
    header = getattr(img, "header", None)
    if header is None or len(img.shape) < 4:
        return None
    zooms = header.get_zooms()
    if len(zooms) < 4 or not np.isfinite(zooms[3]) or zooms[3] <= 0:
        return None
    try:
        unit = header.get_xyzt_units()[1]
    except AttributeError:  # non-NIfTI headers
        unit = "unknown"
    return float(zooms[3]) * _TIME_UNITS.get(unit, 1.0)


def resolve_t_r(img: Any, t_r: float | None = None, name: str = "img",
                rtol: float = 1e-3) -> float:
    """Return the repetition time of a 4-D image, in seconds.

    The repetition time is taken, in order, from ``t_r`` when given, else from
    the BIDS JSON sidecar next to the file (``RepetitionTime``) and the NIfTI
    header (``pixdim[4]`` with its time unit). When both the sidecar and the
    header give a value they must agree.

    Parameters
    ----------
    img : str, path-like or nibabel image
        The 4-D image (a path is needed to find the sidecar).
    t_r : float or None, default=None
        Explicit repetition time in seconds; wins over the header and sidecar.
    name : str, default="img"
        Name used in messages.
    rtol : float, default=1e-3
        Relative tolerance when comparing the header and sidecar values.

    Returns
    -------
    float
        The repetition time in seconds.

    Raises
    ------
    DataError
        If no repetition time can be found, it is zero or negative, or the
        header and sidecar disagree (the message names the file and both values).

    Notes
    -----
    A header TR with unknown units is read as seconds. nibabel writes
    ``pixdim[4] = 1`` by default, so a header without a sidecar may hold a
    placeholder: give ``t_r`` explicitly when in doubt.

    Examples
    --------
    >>> resolve_t_r("unused.nii.gz", t_r=2.0)
    2.0
    """
    label = image_label(img, name)
    if t_r is not None:
        return check_tr(t_r, "t_r")
    path = Path(img) if isinstance(img, str | PathLike) else None
    if path is None:
        filename = getattr(img, "get_filename", lambda: None)()
        path = Path(filename) if filename else None
    sidecar_tr = None
    if path is not None:
        sidecar = _sidecar_path(path)
        if sidecar.exists():
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(
                    f"Could not read the JSON sidecar {str(sidecar)!r}: {exc}"
                ) from exc
            if "RepetitionTime" in meta:
                sidecar_tr = check_tr(meta["RepetitionTime"], "RepetitionTime",
                                      source=str(sidecar))
    if isinstance(img, str | PathLike):
        img = check_img(img, name=name)
    header_tr = _header_t_r(img)
    if sidecar_tr is not None and header_tr is not None:
        if not np.isclose(sidecar_tr, header_tr, rtol=rtol, atol=0):
            raise DataError(
                f"{label}: the repetition time in the NIfTI header ({header_tr:g} s) and in the "
                f"JSON sidecar ({sidecar_tr:g} s) disagree; give 't_r' explicitly."
            )
        return sidecar_tr
    if sidecar_tr is not None:
        return sidecar_tr
    return check_tr(header_tr, "t_r", source=f"the header of {label}")


class BaseExtractor(TransformerMixin, BaseEstimator):
    """Base class of voxelwise imaging extractors (ALFF, seed FC, map features...).

    Subclasses set the class variables ``feature`` and ``input_kind`` and
    implement ``_compute``. A subclass that defines its own ``__init__`` must
    accept and store ``mask_img`` (and ``t_r`` for time-series input) unchanged,
    as scikit-learn requires.

    Parameters
    ----------
    mask_img : str, path-like, nibabel image or None, default=None
        Brain mask (voxels > 0 are in). When None, ``fit`` computes it from the
        images: voxels finite in every volume and non-zero in at least one.
    t_r : float or None, default=None
        Repetition time in seconds for time-series input; when None it is read
        per image by :func:`resolve_t_r` (sidecar, then header).

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The binary mask used (uint8).
    n_voxels_ : int
        Number of voxels in the mask, the number of output columns.

    Notes
    -----
    Class variables: ``feature`` (identifier naming the output), ``input_kind``
    (``"bold"`` or ``"map"``), ``accepts_confounds`` (default False) and
    ``image_kind`` (the ``Session.images`` key the cohort driver reads; map
    extractors must set it, e.g. ``"qsm"``).

    Subclass hooks:

    * ``_check_params(self)``: validate parameters; raise ``ValueError``.
    * ``_fit(self, imgs, y)``: extra fitting (default: nothing).
    * ``_compute(self, data, t_r)``: ``data`` is a float ``(T, V)`` array of
      the masked voxels (``(1, V)`` for ``input_kind="map"``, with
      ``t_r=None``); it returns a ``(V,)`` array.
    * ``_prepare_image(self, img, t_r, label, confounds)``: per-image work
      needing the full image or its nuisance confounds, stored for
      ``_compute`` (only extractors with ``accepts_confounds = True`` get
      confounds; the others refuse them).

    Masked data keep the image dtype when it is float32 or float64 and are
    float64 otherwise. Images containing NaN or infinite values inside the
    mask are refused.

    scikit-learn's ``parametrize_with_checks`` feeds 2-D numeric arrays to
    ``fit``/``transform``; extractors take images, and their output width is
    the number of mask voxels, so those data checks do not apply. The
    parameter checks (no attributes set in ``__init__``, default-constructible,
    ``get_params``/``set_params``/``clone`` invariance, repr, mixin order) run
    in the test suite, and :func:`painmarkers.testing.check_extractor` covers
    the image behaviour.

    References
    ----------
    Abraham A. et al. (2014). Machine learning for neuroimaging with
    scikit-learn. Front Neuroinform 8:14 (the nilearn masker design).

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> class Mean(BaseExtractor):
    ...     feature = "mean"
    ...     input_kind = "bold"
    ...     def _compute(self, data, t_r):
    ...         return data.mean(axis=0)
    >>> bold = nib.Nifti1Image(np.ones((2, 2, 2, 5), dtype="float32"), np.eye(4))
    >>> Mean(t_r=2.0).fit(bold).transform(bold).shape
    (1, 8)
    """

    feature: ClassVar[str] = ""
    input_kind: ClassVar[str] = "bold"
    #: Whether ``transform``/``compute_map`` accept per-image nuisance confounds.
    accepts_confounds: ClassVar[bool] = False
    #: Session image kind the cohort driver feeds in (``Session.images[kind]``);
    #: None means ``"bold"`` for time-series extractors. Map extractors must set it.
    image_kind: ClassVar[str | None] = None

    def __init__(self, mask_img=None, t_r=None):
        self.mask_img = mask_img
        self.t_r = t_r

    # -- scikit-learn plumbing ---------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "mask_img_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        return tags

    # -- hooks ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Validate parameters (subclasses extend); raise ValueError on bad values."""

    def _fit(self, imgs: list, y: Any = None) -> None:
        """Extra fitting after the mask is set (default: nothing)."""

    def _prepare_image(self, img: Any, t_r: float | None, label: str,
                       confounds: Any = None) -> None:
        """Per-image preparation needing the whole image or its confounds (default: nothing)."""

    def _compute(self, data: np.ndarray, t_r: float | None) -> np.ndarray:
        """Map a masked ``(T, V)`` array to ``(V,)`` values; subclasses implement it."""
        raise ExtractorError(
            f"{type(self).__name__} does not implement _compute(data, t_r); every extractor "
            "subclass must."
        )

    # -- helpers ----------------------------------------------------------------------------
    @property
    def _ndim(self) -> int:
        return 4 if self.input_kind == "bold" else 3

    def _validate_class(self) -> None:
        if not isinstance(self.feature, str) or not self.feature:
            raise ExtractorError(
                f"{type(self).__name__}.feature must be a non-empty string. Got {self.feature!r}."
            )
        if self.input_kind not in INPUT_KINDS:
            raise ExtractorError(
                f"{type(self).__name__}.input_kind must be one of {INPUT_KINDS}. "
                f"Got {self.input_kind!r}."
            )

    @staticmethod
    def _as_list(imgs: Any) -> list:
        if imgs is None:
            return []
        if isinstance(imgs, list | tuple):
            return list(imgs)
        return [imgs]

    def _load(self, img: Any, name: str):
        return check_img(img, ndim=self._ndim, name=name)

    def _compute_mask(self, imgs: list) -> np.ndarray:
        mask = None
        for i, raw in enumerate(imgs):
            img = self._load(raw, f"imgs[{i}]")
            data = np.asanyarray(img.dataobj)
            if data.ndim == 3:
                data = data[..., None]
            this = np.all(np.isfinite(data), axis=-1) & np.any(data != 0, axis=-1)
            if mask is None:
                reference = img
                mask = this
            else:
                check_same_grid(img, reference, image_label(raw, f"imgs[{i}]"), "imgs[0]")
                mask &= this
        self._mask_affine = reference.affine
        return mask

    def _masked(self, img: Any, label: str) -> np.ndarray:
        """Return the masked float data of one image as ``(T, V)``."""
        check_same_grid(img, self.mask_img_, label, "mask_img")
        data = np.asanyarray(img.dataobj)
        if data.dtype not in (np.float32, np.float64):
            data = data.astype(np.float64)
        if data.ndim == 3:
            data = data[..., None]
        masked = data[self._mask].T
        bad = ~np.isfinite(masked)
        if bad.any():
            n_bad = int(bad.any(axis=0).sum())
            raise ImageError(
                f"{label} has NaN or infinite values in {n_bad} voxel(s) inside the mask; "
                "fix the image or exclude those voxels from mask_img."
            )
        return masked

    # -- public API -------------------------------------------------------------------------
    def get_feature_name(self) -> str:
        """Name of the feature in ROI tables and map file names.

        Returns
        -------
        str
            The class's ``feature`` by default; extractors whose output depends
            on a parameter (e.g. the seed of :class:`SeedFC`) add it.
        """
        return self.feature

    def fit(self, imgs=None, y=None):
        """Validate the parameters and set the mask.

        Parameters
        ----------
        imgs : image, path or list of them, or None, default=None
            Images used to compute the mask when ``mask_img`` is None.
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        self : BaseExtractor
            The fitted extractor.

        Raises
        ------
        ExtractorError
            If neither ``mask_img`` nor ``imgs`` is given, or the mask is empty.
        ImageError
            If an image has the wrong dimensionality or the images do not share a grid.
        """
        self._validate_class()
        self._check_params()
        img_list = self._as_list(imgs)
        if self.mask_img is not None:
            mask_img = check_img(self.mask_img, ndim=3, name="mask_img")
            mask = np.asanyarray(mask_img.dataobj)
            mask = np.isfinite(mask) & (mask > 0)
            affine = mask_img.affine
            source = image_label(self.mask_img, "mask_img")
        elif img_list:
            mask = self._compute_mask(img_list)
            affine = self._mask_affine
            source = "the mask computed from imgs"
        else:
            raise ExtractorError(
                f"{type(self).__name__}.fit needs 'mask_img' or images to compute a mask from; "
                "got neither."
            )
        if not mask.any():
            raise ExtractorError(f"{source} is empty: it holds no voxel > 0.")
        import nibabel as nib

        self._mask = mask
        self.mask_img_ = nib.Nifti1Image(mask.astype(np.uint8), affine)
        self.n_voxels_ = int(mask.sum())
        self._fit(img_list, y)
        return self

    def _transform_one(self, img: Any, t_r: float | None, name: str,
                       confounds: Any = None) -> np.ndarray:
        label = image_label(img, name)
        if confounds is not None and not self.accepts_confounds:
            raise ExtractorError(
                f"{type(self).__name__} does not use nuisance confounds; got some for {label}."
            )
        loaded = self._load(img, name)
        if self.input_kind == "bold":
            t_r = resolve_t_r(img, t_r if t_r is not None else self.t_r, name=name)
        else:
            t_r = None
        self._prepare_image(loaded, t_r, label, confounds)
        data = self._masked(loaded, label)
        values = np.asarray(self._compute(data, t_r))
        if values.shape != (self.n_voxels_,):
            raise ExtractorError(
                f"{type(self).__name__}._compute returned shape {values.shape} for {label}; "
                f"expected ({self.n_voxels_},)."
            )
        return values

    def transform(self, imgs, confounds=None):
        """Compute the feature in every mask voxel of each image.

        Parameters
        ----------
        imgs : image, path or list of them
            4-D time series (``input_kind="bold"``) or 3-D maps (``"map"``).
        confounds : confounds or list of them, or None, default=None
            Per-image nuisance confounds (a TSV path, DataFrame or array with one
            row per volume), only for extractors with ``accepts_confounds``.

        Returns
        -------
        ndarray of shape (n_images, n_voxels_in_mask)
            One row per image, columns in the mask's C order.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ImageError
            Wrong dimensionality, grid different from the mask, NaN in the mask.
        DataError
            Missing or invalid repetition time.
        """
        check_is_fitted(self)
        img_list = self._as_list(imgs)
        if not img_list:
            raise ExtractorError("transform needs at least one image; got none.")
        if confounds is None:
            conf_list = [None] * len(img_list)
        else:
            conf_list = confounds if isinstance(confounds, list | tuple) else [confounds]
            if len(conf_list) != len(img_list):
                raise ExtractorError(
                    f"'confounds' has {len(conf_list)} entries for {len(img_list)} image(s)."
                )
        rows = [self._transform_one(img, None, f"imgs[{i}]", conf)
                for i, (img, conf) in enumerate(zip(img_list, conf_list))]
        return np.vstack(rows)

    def compute_map(self, img, t_r=None, confounds=None):
        """Compute the feature map of one image.

        Parameters
        ----------
        img : image or path
            One 4-D time series (or 3-D map for ``input_kind="map"``).
        t_r : float or None, default=None
            Repetition time in seconds; when None, ``self.t_r`` then the
            sidecar/header are used.
        confounds : str, path, DataFrame, ndarray or None, default=None
            Nuisance confounds of this image (extractors with ``accepts_confounds``).

        Returns
        -------
        nibabel.Nifti1Image
            A 3-D float32 image on the mask grid, zero outside the mask.
        """
        check_is_fitted(self)
        values = self._transform_one(img, t_r, "img", confounds)
        return self.inverse_transform(values)

    def inverse_transform(self, X):
        """Put voxel values back into images.

        Parameters
        ----------
        X : array-like of shape (n_voxels_in_mask,) or (n_images, n_voxels_in_mask)
            Values in the mask's voxel order.

        Returns
        -------
        nibabel.Nifti1Image
            3-D for a 1-D ``X``, 4-D (one volume per row) for a 2-D ``X``;
            zero outside the mask, float32.
        """
        import nibabel as nib

        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim not in (1, 2) or X.shape[-1] != self.n_voxels_:
            raise ExtractorError(
                f"inverse_transform expects shape ({self.n_voxels_},) or (n, {self.n_voxels_}). "
                f"Got {X.shape}."
            )
        shape = self._mask.shape
        if X.ndim == 1:
            out = np.zeros(shape, dtype=np.float32)
            out[self._mask] = X
        else:
            out = np.zeros((*shape, X.shape[0]), dtype=np.float32)
            out[self._mask] = X.T
        img = nib.Nifti1Image(out, self.mask_img_.affine)
        img.header.set_data_dtype(np.float32)
        return img
