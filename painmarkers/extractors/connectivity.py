"""Seed-based functional connectivity: Pearson r (or Fisher z) map of a seed's mean series."""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from painmarkers._validation import check_choice, check_interval
from painmarkers.exceptions import DataError, ExtractorError, PainmarkersWarning
from painmarkers.extractors.base import BaseExtractor
from painmarkers.rois import ROI

__all__ = ["CONFOUND_STRATEGIES", "SeedFC", "select_confounds"]

#: Noise components understood by :func:`select_confounds` (names as in nilearn).
CONFOUND_STRATEGIES = ("motion", "wm_csf", "global_signal", "high_pass")
_LEVELS = ("basic", "power2", "derivatives", "full")
_BASE_COLUMNS = {
    "motion": ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"),
    "wm_csf": ("white_matter", "csf"),
    "global_signal": ("global_signal",),
}
#: Largest |r| before the Fisher transform, so that z stays finite.
_R_MAX = 1.0 - 1e-7
#: Voxels cleaned and correlated per block (keeps temporaries to a few MB).
_BLOCK = 4096


def _expand(columns: tuple[str, ...], level: str) -> list[str]:
    out = list(columns)
    if level in ("derivatives", "full"):
        out += [f"{c}_derivative1" for c in columns]
    if level in ("power2", "full"):
        out += [f"{c}_power2" for c in columns]
    if level == "full":
        out += [f"{c}_derivative1_power2" for c in columns]
    return out


def select_confounds(confounds: Any, strategy=("motion", "wm_csf"), motion: str = "basic",
                     wm_csf: str = "basic", global_signal: str = "basic",
                     name: str = "confounds") -> pd.DataFrame:
    """Select fMRIPrep confound columns by noise component, like nilearn's ``load_confounds``.

    Parameters
    ----------
    confounds : str, path-like or DataFrame
        An fMRIPrep ``*_desc-confounds_timeseries.tsv`` (or its table).
    strategy : tuple of str, default=("motion", "wm_csf")
        Components among ``"motion"``, ``"wm_csf"``, ``"global_signal"`` and
        ``"high_pass"`` (the ``cosine*`` regressors).
    motion, wm_csf, global_signal : {"basic", "power2", "derivatives", "full"}, default="basic"
        Expansion of each component: the raw series, plus squares, plus first
        derivatives, or all (24 motion parameters with ``"full"``).
    name : str, default="confounds"
        Name used in messages.

    Returns
    -------
    DataFrame
        The selected columns; NaN values (the first row of derivatives) are
        replaced by the column mean, i.e. 0 after the demeaning done when
        regressing.

    Raises
    ------
    DataError
        The file is missing or lacks a required column (named).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({c: [0.0, 1.0] for c in
    ...     ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf"]})
    >>> list(select_confounds(table, strategy=("motion",)).columns)
    ['trans_x', 'trans_y', 'trans_z', 'rot_x', 'rot_y', 'rot_z']
    """
    frame = _read_table(confounds, name)
    strategy = (strategy,) if isinstance(strategy, str) else tuple(strategy)
    for s in strategy:
        check_choice(s, CONFOUND_STRATEGIES, "strategy")
    levels = {"motion": motion, "wm_csf": wm_csf, "global_signal": global_signal}
    wanted: list[str] = []
    for s in strategy:
        if s == "high_pass":
            wanted += [c for c in frame.columns if str(c).startswith("cosine")]
            continue
        check_choice(levels[s], _LEVELS, s)
        wanted += _expand(_BASE_COLUMNS[s], levels[s])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"{name} lacks the confound column(s) {missing} needed by the strategy "
                        f"{strategy}.")
    out = frame[wanted].astype(float)
    return out.fillna(out.mean())


def _read_table(confounds: Any, name: str) -> pd.DataFrame:
    if isinstance(confounds, pd.DataFrame):
        return confounds
    if isinstance(confounds, str | PathLike):
        path = Path(confounds)
        if not path.exists():
            raise DataError(f"The confounds file {str(path)!r} given as {name!r} does not exist.")
        sep = "\t" if path.suffix in (".tsv", ".gz") else None
        try:
            if sep is None:
                return pd.read_csv(path, sep=r"\s+", header=None)
            return pd.read_csv(path, sep=sep, na_values=["n/a", "NaN"])
        except Exception as exc:
            raise DataError(f"Could not read the confounds file {str(path)!r}: {exc}") from exc
    raise TypeError(f"The {name!r} parameter must be a path or a DataFrame. Got {confounds!r}.")


class SeedFC(BaseExtractor):
    """Seed-based connectivity map: correlation of every voxel with a seed's mean series.

    Parameters
    ----------
    seed : Sphere, AtlasRegion or MaskROI
        The seed region; its voxels inside the brain mask are averaged.
    mask_img : image, path or None, default=None
        Brain mask; computed from the images when None (see
        :class:`~painmarkers.extractors.BaseExtractor`).
    t_r : float or None, default=None
        Repetition time in seconds (else from the sidecar or header).
    confounds_strategy : tuple of str or None, default=None
        The fMRIPrep noise components to regress out (see :func:`select_confounds`).
        With a confounds file given to ``transform``/``compute_map`` the
        columns are selected from it; without one, the file next to an
        fMRIPrep BOLD path is found by :func:`nilearn.interfaces.fmriprep.load_confounds`.
        None uses all columns of the given confounds (or none).
    motion : {"basic", "power2", "derivatives", "full"}, default="basic"
        Expansion of the motion parameters (``"full"`` = 24 parameters).
    low_pass, high_pass : float or None, default=None
        Butterworth band-pass cut-offs in Hz (e.g. 0.08 and 0.01).
    detrend : bool, default=True
        Remove linear trends (with the confounds, as in :func:`nilearn.signal.clean`).
    fisher_z : bool, default=True
        Return Fisher z = artanh(r) (else Pearson r).

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The brain mask used.
    seed_mask_ : ndarray of bool
        The seed voxels (inside the brain mask) on the mask grid.
    n_seed_voxels_ : int
        Number of seed voxels averaged.

    Raises
    ------
    DataError
        Seed outside the mask or the image (named), confounds whose row count
        differs from the number of volumes (file and both counts named).
    ExtractorError
        A seed series with zero variance after cleaning (seed and image named).

    Notes
    -----
    All voxel series and the seed's mean series are cleaned together:
    without band-pass, by projection onto the orthogonal complement of the
    intercept, the linear trend (``detrend``) and the confounds, which is what
    :func:`nilearn.signal.clean` computes; with band-pass, by
    :func:`nilearn.signal.clean` itself (Butterworth filter). Cleaning is
    linear, so cleaning the seed mean equals the mean of the cleaned seed
    voxels. Then

    .. math:: r_v = \\frac{\\sum_t (x_{vt}-\\bar x_v)(s_t-\\bar s)}
              {\\sqrt{\\sum_t (x_{vt}-\\bar x_v)^2 \\sum_t (s_t-\\bar s)^2}},
              \\qquad z_v = \\operatorname{artanh}(r_v)

    with :math:`|r|` clipped to :math:`1-10^{-7}` so that z is finite. Voxels with a
    constant series get r = 0, with a warning giving their count.

    References
    ----------
    Biswal B. et al. (1995). Functional connectivity in the motor cortex of
    resting human brain using echo-planar MRI. Magn Reson Med 34:537-541.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.rois import Sphere
    >>> rng = np.random.default_rng(0)
    >>> bold = nib.Nifti1Image(rng.standard_normal((4, 4, 4, 50)), np.diag([3.0, 3, 3, 1]))
    >>> fc = SeedFC(Sphere("s", (3, 3, 3), 3.0), t_r=2.0, fisher_z=False).fit(bold)
    >>> fc.compute_map(bold).shape
    (4, 4, 4)
    """

    feature: ClassVar[str] = "seed_fc"
    input_kind: ClassVar[str] = "bold"
    accepts_confounds: ClassVar[bool] = True

    def __init__(self, seed=None, mask_img=None, t_r=None, confounds_strategy=None,
                 motion="basic", low_pass=None, high_pass=None, detrend=True, fisher_z=True):
        self.seed = seed
        self.mask_img = mask_img
        self.t_r = t_r
        self.confounds_strategy = confounds_strategy
        self.motion = motion
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.detrend = detrend
        self.fisher_z = fisher_z

    def get_feature_name(self) -> str:
        """``"seed_fc_<seed name>"`` (plus ``"_r"`` when ``fisher_z=False``)."""
        seed = getattr(self.seed, "name", "seed")
        return f"seed_fc_{seed}" + ("" if self.fisher_z else "_r")

    def _check_params(self) -> None:
        if not isinstance(self.seed, ROI):
            raise ExtractorError(
                "The 'seed' parameter must be a Sphere, AtlasRegion or MaskROI. "
                f"Got {self.seed!r}."
            )
        if self.confounds_strategy is not None:
            strategy = ((self.confounds_strategy,) if isinstance(self.confounds_strategy, str)
                        else tuple(self.confounds_strategy))
            for s in strategy:
                check_choice(s, CONFOUND_STRATEGIES, "confounds_strategy")
        check_choice(self.motion, _LEVELS, "motion")
        for name in ("low_pass", "high_pass"):
            value = getattr(self, name)
            if value is not None:
                check_interval(value, name, 0, None, closed="neither")
        if (self.low_pass is not None and self.high_pass is not None
                and self.high_pass >= self.low_pass):
            raise ValueError(f"'high_pass' ({self.high_pass}) must be below 'low_pass' "
                             f"({self.low_pass}).")

    def _fit(self, imgs, y=None) -> None:
        seed_mask = self.seed.to_mask(self.mask_img_, self.mask_img_)
        self.seed_mask_ = seed_mask
        self.n_seed_voxels_ = int(seed_mask.sum())

    def _load(self, img, name):
        import nibabel as nib

        loaded = super()._load(img, name)
        # read the data once: the seed series and the masked voxels both need it
        in_memory = nib.Nifti1Image(np.asanyarray(loaded.dataobj), loaded.affine, loaded.header)
        filename = loaded.get_filename()
        if filename:  # keep the path: load_confounds finds the fMRIPrep files from it
            in_memory.set_filename(filename)
        return in_memory

    def _confound_matrix(self, confounds: Any, img_source: Any, n_volumes: int,
                         label: str) -> np.ndarray | None:
        strategy = self.confounds_strategy
        if isinstance(strategy, str):
            strategy = (strategy,)
        if confounds is None and strategy is not None:
            source = getattr(img_source, "get_filename", lambda: None)()
            if source is None:
                raise DataError(
                    f"{label}: 'confounds_strategy' needs the fMRIPrep confounds; pass "
                    "confounds= or give the BOLD image as an fMRIPrep file path."
                )
            from nilearn.interfaces.fmriprep import load_confounds

            try:
                frame, _ = load_confounds(str(source), strategy=tuple(strategy),
                                          motion=self.motion, demean=False)
            except Exception as exc:
                raise DataError(f"{label}: could not load fMRIPrep confounds: {exc}") from exc
            matrix = np.asarray(frame, dtype=float)
            where = f"the fMRIPrep confounds of {label}"
        elif confounds is None:
            return None
        elif isinstance(confounds, np.ndarray):
            matrix = np.asarray(confounds, dtype=float)
            matrix = matrix[:, None] if matrix.ndim == 1 else matrix
            where = "the confounds array"
        else:
            where = (f"the confounds file {str(confounds)!r}"
                     if isinstance(confounds, str | PathLike) else "the confounds table")
            if strategy is not None:
                frame = select_confounds(confounds, strategy, motion=self.motion, name=where)
            else:
                frame = _read_table(confounds, where)
                frame = frame.astype(float).fillna(frame.astype(float).mean())
            matrix = frame.to_numpy(dtype=float)
        if matrix.shape[0] != n_volumes:
            raise DataError(
                f"{where} has {matrix.shape[0]} rows but {label} has {n_volumes} volumes; "
                "they must match one to one."
            )
        if not np.all(np.isfinite(matrix)):
            raise DataError(f"{where} contains non-finite values after filling n/a.")
        return matrix

    def _prepare_image(self, img, t_r, label, confounds=None) -> None:
        data = np.asanyarray(img.dataobj)
        seed_series = data[self.seed_mask_].astype(np.float64).mean(axis=0)
        self._seed_series = seed_series
        self._confounds = self._confound_matrix(confounds, img, data.shape[-1], label)
        self._label = label

    def _basis(self, n: int) -> np.ndarray:
        """Orthonormal basis of span{1, t (if detrend), confounds}, shape (T, k)."""
        columns = [np.ones(n)]
        if self.detrend:
            columns.append(np.arange(n) - (n - 1) / 2)
        if self._confounds is not None:
            columns.append(self._confounds)
        design = np.column_stack(columns)
        u, s, _ = np.linalg.svd(design, full_matrices=False)
        return u[:, s > s[0] * max(design.shape) * np.finfo(float).eps]

    def _compute(self, data: np.ndarray, t_r: float | None) -> np.ndarray:
        n_vox = data.shape[1]
        if self.low_pass is not None or self.high_pass is not None:
            from nilearn import signal

            series = np.column_stack([np.asarray(data, dtype=np.float64), self._seed_series])
            cleaned = signal.clean(series, detrend=self.detrend, standardize=None,
                                   confounds=self._confounds, standardize_confounds=True,
                                   filter="butterworth", low_pass=self.low_pass,
                                   high_pass=self.high_pass, t_r=t_r)
            seed = cleaned[:, -1] - cleaned[:, -1].mean()
            self._check_seed(seed)
            voxels = cleaned[:, :-1]
            voxels -= voxels.mean(axis=0)
            return self._finish(self._correlate(seed, voxels, data))
        # Without filtering, nilearn's clean (detrend, then regress the detrended and
        # standardised confounds) is the projection onto the orthogonal complement of
        # span{1, t, confounds} (Frisch-Waugh-Lovell). It is applied here by blocks of
        # voxels (float64, two small matrix products each), which avoids whole-brain
        # temporary copies.
        basis = self._basis(data.shape[0])
        seed = self._seed_series - basis @ (basis.T @ self._seed_series)
        seed -= seed.mean()
        self._check_seed(seed)
        r = np.empty(n_vox)
        # These products are skinny ((k, T) x (T, 4096)); multi-threaded BLAS only adds
        # synchronisation cost to them (measured 5-10x slower on a busy 2-core machine).
        with threadpool_limits(1, user_api="blas"):
            for start in range(0, n_vox, _BLOCK):
                block = np.array(data[:, start:start + _BLOCK], dtype=np.float64)
                block -= basis @ (basis.T @ block)
                r[start:start + _BLOCK] = self._correlate(seed, block,
                                                          data[:, start:start + _BLOCK])
        return self._finish(r)

    def _check_seed(self, seed: np.ndarray) -> None:
        scale = max(1.0, float(np.abs(self._seed_series).max()))
        if not np.isfinite(seed @ seed) or np.sqrt(seed @ seed) <= 1e-12 * scale:
            raise ExtractorError(
                f"The mean series of seed {self.seed.name!r} has zero variance in {self._label}"
                " (after cleaning); the seed cannot be correlated."
            )

    def _correlate(self, seed: np.ndarray, voxels: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Pearson r of centred ``voxels`` (T, n) with the centred ``seed``; NaN if constant."""
        norms = np.sqrt(np.einsum("tv,tv->v", voxels, voxels))
        constant = norms <= 1e-12 * np.maximum(1.0, np.abs(raw).max(axis=0))
        r = np.zeros(voxels.shape[1])
        ok = ~constant
        r[ok] = (seed @ voxels[:, ok]) / (np.sqrt(seed @ seed) * norms[ok])
        r[constant] = np.nan
        return r

    def _finish(self, r: np.ndarray) -> np.ndarray:
        constant = np.isnan(r)
        if constant.any():
            warnings.warn(
                f"{int(constant.sum())} voxel(s) of {self._label} have a constant series; "
                "their correlation is set to 0.", PainmarkersWarning, stacklevel=5,
            )
            r[constant] = 0.0
        r = np.clip(r, -_R_MAX, _R_MAX)
        return np.arctanh(r) if self.fisher_z else r
