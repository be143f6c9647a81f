"""Base class of every imaging extractor, and the per-image protocol they share.

Extractors are scikit-learn transformers modelled on nilearn's maskers:
``__init__`` only stores parameters (so :func:`sklearn.base.clone` and
``set_params`` work), :meth:`BaseExtractor.fit` is a template method that
validates the parameters, sets ``mask_img_`` (given or computed from the
images) and calls the subclass hook ``_fit``; :meth:`BaseExtractor.transform`
returns an array of shape ``(n_images, n_voxels_in_mask)`` (or ``(n_images,
n_rois)`` for an extractor with ``output = "rois"``).

Per image, everything goes through one public method,
:meth:`BaseExtractor.transform_image`, which takes an
:class:`~painmarkers.extractors.ImageContext` and never writes to ``self``:
``check_context`` (TR, confounds) -> ``load_data`` (the masked ``(T, V)`` array,
streamed) -> ``prepare`` (per-image values derived from the whole image, returned
in a new context) -> ``compute`` (the feature). A plug-in implements ``compute``
(and ``prepare`` when it needs it).
"""

from __future__ import annotations

import hashlib
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from painmarkers._docs import fill_doc
from painmarkers._validation import check_img, check_same_grid
from painmarkers._warnings import warn
from painmarkers.exceptions import ExtractorError, ImageError
from painmarkers.extractors._context import ImageContext, image_label
from painmarkers.extractors._timing import resolve_t_r
from painmarkers.io.images import iter_volume_blocks, read_data, read_masked
from painmarkers.rois import check_rois
from painmarkers.schema import measure_column

__all__ = ["INPUT_KINDS", "OUTPUTS", "BaseExtractor", "ImageContext", "image_label",
           "resolve_t_r"]

#: The kinds of input an extractor can take: 4-D time series or 3-D maps.
INPUT_KINDS = ("bold", "map")

#: What an extractor gives per image: one value per mask voxel (a map) or per ROI.
OUTPUTS = ("voxels", "rois")

_LEGACY_HOOKS = {
    "_compute": ("compute(self, data, context)", "the repetition time is context.t_r"),
    "_prepare_image": ("prepare(self, data, context)",
                       "return per-image values with context.with_derived(...) instead of "
                       "storing them on self, which is unsafe when images are processed "
                       "concurrently"),
}


def _digest(array: np.ndarray, affine: np.ndarray | None = None) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(array.shape).encode())
    h.update(np.ascontiguousarray(array).tobytes())
    if affine is not None:
        h.update(np.asarray(affine, dtype=np.float64).tobytes())
    return h.hexdigest()


def _source_key(img: Any) -> Any:
    """Identity of an image for the per-session data cache: its file, else the object."""
    if isinstance(img, str | PathLike):
        return str(Path(img).resolve())
    filename = getattr(img, "get_filename", lambda: None)()
    proxy = getattr(img, "dataobj", None)
    if filename and proxy is not None and hasattr(proxy, "file_like"):
        return str(Path(filename).resolve())
    return ("object", id(img))


def as_image_list(imgs: Any) -> list:
    """``imgs`` as a list: a list or tuple of images, one image, or None (no image)."""
    if imgs is None:
        return []
    if isinstance(imgs, list | tuple):
        return list(imgs)
    return [imgs]


def image_contexts(imgs: Any, confounds: Any = None, *,
                   mask_img: Any = None) -> list[ImageContext]:
    """The contexts of ``transform(imgs, confounds)``: one per image, named ``imgs[i]``.

    Parameters
    ----------
    imgs : image, path or list of them
        The images.
    confounds : confounds, list of them or None, default=None
        One entry per image (a single entry for a single image).
    mask_img : nibabel image or None, default=None
        The fitted mask, put in every context.

    Returns
    -------
    list of ImageContext

    Raises
    ------
    ExtractorError
        No image, or not one confounds entry per image.
    """
    img_list = as_image_list(imgs)
    if not img_list:
        raise ExtractorError("transform needs at least one image; got none.")
    if confounds is None:
        conf_list = [None] * len(img_list)
    else:
        conf_list = list(confounds) if isinstance(confounds, list | tuple) else [confounds]
        if len(conf_list) != len(img_list):
            raise ExtractorError(
                f"'confounds' has {len(conf_list)} entries for {len(img_list)} image(s)."
            )
    return [ImageContext(img, name=f"imgs[{i}]", confounds=conf, mask_img=mask_img)
            for i, (img, conf) in enumerate(zip(img_list, conf_list, strict=True))]


class ImageEstimatorTags:
    """scikit-learn tags of an estimator fitted on images, not on 2-D arrays (a mixin)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        return tags


def roi_columns(mask: np.ndarray, mask_img: Any, rois: Any) -> list[np.ndarray]:
    """Column indices of each ROI in the masked ``(T, V)`` data of a mask.

    Parameters
    ----------
    mask : ndarray of bool
        The brain mask (its True voxels, in C order, are the V columns).
    mask_img : nibabel image
        The mask as an image (its grid places the ROIs).
    rois : tuple of ROI
        The ROIs, intersected with the mask.

    Returns
    -------
    list of ndarray of int
        One array of column indices per ROI.

    Raises
    ------
    DataError
        An ROI is empty on the grid or outside the mask (named).
    """
    order = np.full(mask.shape, -1, dtype=np.int64)
    order[mask] = np.arange(int(mask.sum()))
    return [order[roi.to_mask(mask_img, mask_img)] for roi in rois]


def roi_feature_names_out(self, input_features=None):
    """Output column names of an ROI-value extractor, ``"<feature>__<roi>"``.

    As in ``Cohort.wide()``: ``get_feature_name()`` and the ROI's name.

    Parameters
    ----------
    input_features : None
        Ignored; present for scikit-learn compatibility.

    Returns
    -------
    ndarray of str, shape (n_rois,)
        One name per ROI, in the order of ``rois_``.

    Raises
    ------
    ExtractorError
        For a voxelwise extractor (``output="voxels"``), whose columns are the mask
        voxels (use :meth:`inverse_transform` to put them back into an image).
    """
    check_is_fitted(self)
    if self.output != "rois":
        raise ExtractorError(f"{type(self).__name__} gives one value per mask voxel; "
                             "use inverse_transform to turn its output into images.")
    return np.asarray([measure_column(self.get_feature_name(), r.name) for r in self.rois_],
                      dtype=object)


@fill_doc
class BaseExtractor(ImageEstimatorTags, TransformerMixin, BaseEstimator):
    """Base class of imaging extractors (ALFF, seed FC, map features, ROI-value plug-ins).

    Subclasses set the class variables ``feature`` and ``input_kind`` and
    implement :meth:`compute`. A subclass that defines its own ``__init__`` must
    accept and store ``mask_img`` (and ``t_r`` for time-series input, ``rois`` for
    ``output = "rois"``) unchanged, as scikit-learn requires.

    Parameters
    ----------
    %(mask_img_extractor)s
    %(t_r_extractor)s
        Only for time-series input.

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The binary mask used (uint8).
    n_voxels_ : int
        Number of voxels in the mask, the number of output columns of a
        voxelwise extractor.
    rois_ : tuple of ROI
        Only for ``output = "rois"``: the ROIs, in output order.
    roi_columns_ : list of ndarray of int
        Only for ``output = "rois"``: the columns of each ROI in the masked
        ``(T, V)`` data that :meth:`compute` receives.

    Notes
    -----
    Class variables: ``feature`` (identifier naming the output), ``input_kind``
    (``"bold"`` or ``"map"``), ``output`` (``"voxels"``: one value per mask voxel,
    written as a map by the cohort driver; ``"rois"``: one value per ROI of the
    ``rois`` parameter), ``accepts_confounds`` (default False), ``image_kind`` (the
    ``Session.images`` key the cohort driver reads; map extractors must set it, e.g.
    ``"qsm"``) and ``requires_mask`` (True: the driver gives the session's brain mask
    when ``mask_img`` is None).

    **The per-image protocol.** :meth:`transform_image` processes one image,
    described by an :class:`~painmarkers.extractors.ImageContext` (image, name,
    subject, session, TR, confounds, mask), in four public steps, and never stores
    anything on ``self``:

    1. :meth:`check_context`: resolves the TR, refuses confounds the extractor does
       not use;
    2. :meth:`load_data`: the masked data, a read-only float ``(T, V)`` array
       (``(1, V)`` for maps), streamed from the file;
    3. :meth:`prepare`: per-image values derived from the whole image (default:
       none), returned in a new context (``context.with_derived(...)``);
    4. :meth:`compute`: the feature, ``(V,)`` values (or ``(n_rois,)``).

    :class:`~painmarkers.extractors.ROIExtractor` uses the same steps to apply an
    extractor to ROI mean series, and the cohort driver calls
    :meth:`transform_image`. Fit-time hooks stay private, as in nilearn:
    ``_check_params(self)`` (validate parameters; raise ``ValueError``) and
    ``_fit(self, imgs, y)`` (extra fitting after the mask is set).

    The hooks of painmarkers 0.1, ``_compute(data, t_r)`` and ``_prepare_image(img,
    t_r, label, confounds)``, still work in 0.2 with a :class:`FutureWarning` when the
    class is defined; they stop working in 0.3.

    Masked data are float32, or float64 when the file stores float64 (see
    :func:`painmarkers.io.read_masked`); accumulate in float64 where it matters.
    Images containing NaN or infinite values inside the mask are refused.

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
    ...     def compute(self, data, context):
    ...         return data.mean(axis=0)
    >>> bold = nib.Nifti1Image(np.ones((2, 2, 2, 5), dtype="float32"), np.eye(4))
    >>> Mean(t_r=2.0).fit(bold).transform(bold).shape
    (1, 8)
    >>> Mean(t_r=2.0).fit(bold).transform_image(ImageContext(bold)).shape
    (8,)
    """

    feature: ClassVar[str] = ""
    input_kind: ClassVar[str] = "bold"
    #: ``"voxels"`` (a map) or ``"rois"`` (one value per ROI of the ``rois`` parameter).
    output: ClassVar[str] = "voxels"
    #: Whether ``transform``/``compute_map`` accept per-image nuisance confounds.
    accepts_confounds: ClassVar[bool] = False
    #: Session image kind the cohort driver feeds in (``Session.images[kind]``);
    #: None means ``"bold"`` for time-series extractors. Map extractors must set it.
    image_kind: ClassVar[str | None] = None
    #: Whether the cohort driver gives the session's brain mask when ``mask_img`` is None.
    requires_mask: ClassVar[bool] = True

    def __init__(self, mask_img=None, t_r=None):
        self.mask_img = mask_img
        self.t_r = t_r

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for hook, (new, how) in _LEGACY_HOOKS.items():
            public = new.split("(")[0]
            if hook in cls.__dict__ and getattr(cls, public) is getattr(BaseExtractor, public):
                warn(f"{cls.__qualname__} implements {hook}(), a private hook deprecated in "
                     f"painmarkers 0.2 that stops working in 0.3: implement the public "
                     f"{new} instead ({how}).", FutureWarning)

    # -- scikit-learn plumbing ---------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "mask_img_")

    # -- fit-time hooks -----------------------------------------------------------------------
    def _check_params(self) -> None:
        """Validate parameters (subclasses extend); raise ValueError on bad values."""

    def _fit(self, imgs: list, y: Any = None) -> None:
        """Extra fitting after the mask is set (default: nothing)."""

    # -- deprecated per-image hooks of painmarkers 0.1 (see __init_subclass__) ---------------
    def _prepare_image(self, img: Any, t_r: float | None, label: str,
                       confounds: Any = None) -> None:
        """Deprecated: implement :meth:`prepare` instead."""

    def _compute(self, data: np.ndarray, t_r: float | None) -> np.ndarray:
        """Deprecated: implement :meth:`compute` instead."""

    def _uses_legacy(self, hook: str) -> bool:
        return getattr(type(self), hook) is not getattr(BaseExtractor, hook)

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
        if self.output not in OUTPUTS:
            raise ExtractorError(
                f"{type(self).__name__}.output must be one of {OUTPUTS}. Got {self.output!r}."
            )

    def _load(self, img: Any, name: str):
        return check_img(img, ndim=self._ndim, name=name)

    def _compute_mask(self, imgs: list) -> tuple[np.ndarray, np.ndarray]:
        """Voxels finite in every volume and non-zero in one, over all images (streamed)."""
        mask = None
        for i, raw in enumerate(imgs):
            img = self._load(raw, f"imgs[{i}]")
            finite = np.ones(img.shape[:3], dtype=bool)
            nonzero = np.zeros(img.shape[:3], dtype=bool)
            for block in iter_volume_blocks(img, name=f"imgs[{i}]"):
                finite &= np.isfinite(block).all(axis=0)
                nonzero |= (block != 0).any(axis=0)
            if mask is None:
                reference = img
                mask = finite & nonzero
            else:
                check_same_grid(img, reference, image_label(raw, f"imgs[{i}]"), "imgs[0]")
                mask &= finite & nonzero
        return mask, reference.affine

    def _n_outputs(self) -> int:
        return len(self.rois_) if self.output == "rois" else self.n_voxels_

    def _check_values(self, values: Any, n: int, context: ImageContext, hook: str) -> np.ndarray:
        values = np.asarray(values)
        if values.shape != (n,):
            raise ExtractorError(
                f"{type(self).__name__}.{hook} returned shape {values.shape} for "
                f"{context.label}; expected ({n},)."
            )
        return values

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

    get_feature_names_out = roi_feature_names_out

    def fit(self, imgs=None, y=None):
        """Validate the parameters and set the mask (and place the ROIs).

        Parameters
        ----------
        imgs : image, path or list of them, or None, default=None
            Images used to compute the mask when ``mask_img`` is None.
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        BaseExtractor
            The fitted extractor (``self``).

        Raises
        ------
        ExtractorError
            If neither ``mask_img`` nor ``imgs`` is given, the mask is empty, or an
            ROI-value extractor has no ``rois``.
        ImageError
            If an image has the wrong dimensionality, the images do not share a
            grid, or a file is truncated or corrupt (named).
        DataError
            An ROI is empty on the mask grid or outside the mask (named).
        """
        import nibabel as nib

        self._validate_class()
        self._check_params()
        img_list = as_image_list(imgs)
        if self.mask_img is not None:
            mask_img = check_img(self.mask_img, ndim=3, name="mask_img")
            mask = read_data(mask_img, name="mask_img")
            mask = np.isfinite(mask) & (mask > 0)
            affine = mask_img.affine
            source = image_label(self.mask_img, "mask_img")
        elif img_list:
            mask, affine = self._compute_mask(img_list)
            source = "the mask computed from imgs"
        else:
            raise ExtractorError(
                f"{type(self).__name__}.fit needs 'mask_img' or images to compute a mask from; "
                "got neither."
            )
        if not mask.any():
            raise ExtractorError(f"{source} is empty: it holds no voxel > 0.")
        self._mask = mask
        self._mask_key = _digest(mask, affine)
        self.mask_img_ = nib.Nifti1Image(mask.astype(np.uint8), affine)
        self.n_voxels_ = int(mask.sum())
        if self.output == "rois":
            rois = getattr(self, "rois", None)
            if rois is None:
                raise ExtractorError(f"{type(self).__name__} gives one value per ROI; set its "
                                     "'rois' parameter.")
            self.rois_ = check_rois(rois)
            self.roi_columns_ = roi_columns(mask, self.mask_img_, self.rois_)
        self._fit(img_list, y)
        return self

    # -- the per-image protocol -------------------------------------------------------------
    def check_context(self, context: ImageContext | Any) -> ImageContext:
        """Validate the context of one image and resolve its repetition time.

        Parameters
        ----------
        context : ImageContext or image
            The image and what is known about it (a bare image or path is wrapped
            in an ``ImageContext``).

        Returns
        -------
        ImageContext
            The context with ``t_r`` set for time-series input (the context's
            ``t_r``, else the extractor's ``t_r``, else the sidecar/header) and None
            for maps.

        Raises
        ------
        ExtractorError
            Confounds given to an extractor that does not use them.
        DataError
            Missing or invalid repetition time.
        """
        if not isinstance(context, ImageContext):
            context = ImageContext(context)
        if context.confounds is not None and not self.accepts_confounds:
            raise ExtractorError(
                f"{type(self).__name__} does not use nuisance confounds; got some for "
                f"{context.label}."
            )
        if self.input_kind == "bold":
            t_r = context.t_r if context.t_r is not None else self.t_r
            t_r = resolve_t_r(context.img, t_r, name=context.name)
        else:
            t_r = None
        return context if t_r == context.t_r else context.replace(t_r=t_r)

    def load_data(self, context: ImageContext) -> np.ndarray:
        """The masked data of one image, ``(T, V)``, read-only.

        Parameters
        ----------
        context : ImageContext
            The image (its ``cache``, when given, keeps the data for the other
            extractors of the session).

        Returns
        -------
        ndarray of shape (n_volumes, n_voxels_in_mask)
            Float32 (float64 for float64 files), columns in the mask's C order;
            ``(1, V)`` for a map. Read-only: it may be shared with other
            extractors.

        Raises
        ------
        ImageError
            Wrong dimensionality, grid different from the mask, NaN or inf inside
            the mask, or a truncated or corrupt file (named).
        """
        check_is_fitted(self)
        img = self._load(context.img, context.name)
        check_same_grid(img, self.mask_img_, context.label, "mask_img")
        key = None
        if context.cache is not None:
            key = ("masked", _source_key(context.img), self._mask_key)
            hit = context.cache.get(key)
            if hit is not None:
                return hit
        data = read_masked(img, self._mask, name=context.name)
        finite = np.isfinite(data).all(axis=0)
        if not finite.all():
            raise ImageError(
                f"{context.label} has NaN or infinite values in {int((~finite).sum())} voxel(s) "
                "inside the mask; fix the image or exclude those voxels from mask_img."
            )
        data.setflags(write=False)
        if key is not None:
            context.cache[key] = data
        return data

    def prepare(self, data: np.ndarray, context: ImageContext) -> ImageContext:
        """Per-image values needed by :meth:`compute`, derived from the whole image.

        The default derives nothing. An extractor that needs, say, a seed's mean
        series computes it here from ``data`` (all mask voxels) and returns
        ``context.with_derived(seed_series=...)``; :meth:`compute` reads
        ``context.derived``. Nothing is stored on ``self``.

        Parameters
        ----------
        data : ndarray of shape (T, V)
            The masked data of the image (read-only).
        context : ImageContext
            The checked context.

        Returns
        -------
        ImageContext
            ``context``, or a copy with derived values.
        """
        if self._uses_legacy("_prepare_image"):  # painmarkers 0.1 plug-ins (deprecated)
            loaded = self._load(context.img, context.name)
            self._prepare_image(loaded, context.t_r, context.label, context.confounds)
        return context

    def compute(self, data: np.ndarray, context: ImageContext) -> np.ndarray:
        """The feature of ``n`` time series (or map values): subclasses implement it.

        Parameters
        ----------
        data : ndarray of shape (T, n)
            Read-only float series, time along the first axis: the mask voxels
            (``n = n_voxels_``), or ROI mean series when an
            :class:`~painmarkers.extractors.ROIExtractor` asks for
            ``summary="mean_timeseries"``. For maps, ``T = 1``.
        context : ImageContext
            The image's context (``t_r``, ``confounds``, ``derived``, ...).

        Returns
        -------
        ndarray of shape (n,)
            One value per column (per ROI for ``output = "rois"``).

        Raises
        ------
        ExtractorError
            The subclass does not implement it.
        """
        if self._uses_legacy("_compute"):  # painmarkers 0.1 plug-ins (deprecated)
            return self._compute(np.array(data), context.t_r)
        raise ExtractorError(f"{type(self).__name__} does not implement compute(data, "
                             "context); every extractor subclass must.")

    def transform_image(self, context: ImageContext | Any) -> np.ndarray:
        """Compute the feature of one image: the public per-image entry point.

        Runs :meth:`check_context`, :meth:`load_data`, :meth:`prepare` and
        :meth:`compute`. Safe to call concurrently on one fitted extractor: nothing
        is written to ``self``.

        Parameters
        ----------
        context : ImageContext or image
            The image and what is known about it.

        Returns
        -------
        ndarray of shape (n_voxels_in_mask,) or (n_rois,)
            The values of the image.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ImageError, DataError, ExtractorError
            Bad image, TR or confounds (the image is named).
        """
        check_is_fitted(self)
        context = self.check_context(context)
        data = self.load_data(context)
        context = self.prepare(data, context)
        hook = "_compute" if self._uses_legacy("_compute") else "compute"
        return self._check_values(self.compute(data, context), self._n_outputs(), context,
                                  hook)

    def transform(self, imgs, confounds=None):
        """Compute the feature of each image (in every mask voxel, or every ROI).

        Parameters
        ----------
        imgs : image, path or list of them
            4-D time series (``input_kind="bold"``) or 3-D maps (``"map"``).
        confounds : confounds or list of them, or None, default=None
            Per-image nuisance confounds (a TSV path, DataFrame or array with one
            row per volume), only for extractors with ``accepts_confounds``.

        Returns
        -------
        ndarray of shape (n_images, n_voxels_in_mask) or (n_images, n_rois)
            One row per image, columns in the mask's C order (or the ROI order).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ImageError
            Wrong dimensionality, grid different from the mask, NaN in the mask,
            truncated or corrupt file.
        DataError
            Missing or invalid repetition time.
        """
        check_is_fitted(self)
        contexts = image_contexts(imgs, confounds, mask_img=getattr(self, "mask_img_", None))
        return np.vstack([self.transform_image(c) for c in contexts])

    def compute_map(self, img, t_r=None, confounds=None):
        """Compute the feature map of one image.

        Parameters
        ----------
        img : image, path or ImageContext
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

        Raises
        ------
        ExtractorError
            For an extractor with ``output = "rois"``.
        """
        check_is_fitted(self)
        if self.output != "voxels":
            raise ExtractorError(f"{type(self).__name__} gives ROI values, not maps; use "
                                 "transform or transform_image.")
        if isinstance(img, ImageContext):
            context = img
        else:
            context = ImageContext(img, t_r=t_r, confounds=confounds, mask_img=self.mask_img_)
        return self.inverse_transform(self.transform_image(context))

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

        Raises
        ------
        ExtractorError
            Wrong shape, or an extractor with ``output = "rois"``.
        """
        import nibabel as nib

        check_is_fitted(self)
        if self.output != "voxels":
            raise ExtractorError(f"{type(self).__name__} gives ROI values, not voxel maps.")
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
