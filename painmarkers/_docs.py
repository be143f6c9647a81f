"""Shared parameter documentation (nilearn's ``docdict`` / ``fill_doc`` pattern).

A parameter of the vocabulary (``subject``, ``within``, ``between``, ``sessions``,
``levels``, ``confidence``, ...) is described once here and means the same thing in
every function that takes it. A docstring names an entry on a line of its own::

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        ...
    %(subject)s
    %(confidence)s

and :func:`fill_doc` replaces the line with the entry, indented like the line.
Lines indented further right under a placeholder continue the entry's description,
for what is particular to one function::

    %(subject)s
        The ICC's "targets".

Entries also serve the Returns and Raises sections of the result protocol
(``%(save_directory)s``, ``%(save_returns)s``, ``%(save_raises)s``).

Examples
--------
>>> @fill_doc
... def f(data, *, subject="subject_id"):
...     '''Do something.
...
...     Parameters
...     ----------
...     %(subject)s
...     '''
>>> print(f.__doc__.splitlines()[4])
    subject : str, default="subject_id"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DOCDICT", "fill_doc"]

F = TypeVar("F", bound=Callable)

#: Parameter text by name. Entries start with the ``name : type`` line (a Returns or
#: Raises entry with its type line); the following lines are indented by four spaces
#: relative to it. A key names the parameter, or the parameter and the context when one
#: word has several documented forms (``t_r`` required, ``t_r_extractor`` optional).
DOCDICT: dict[str, str] = {}

DOCDICT["data"] = """\
data : Cohort or pandas.DataFrame
    A :class:`~painmarkers.Cohort`, its tidy table
    (:meth:`~painmarkers.Cohort.to_frame`) or a table with one row per subject and
    session; the three give identical results."""

DOCDICT["subject"] = """\
subject : str, default="subject_id"
    Column of the subject ids (the index when the column is absent)."""

DOCDICT["within"] = """\
within : str, default="session"
    Column of the session labels (the within-subject factor)."""

DOCDICT["between"] = """\
between : str, default="group"
    Column of the group labels (the between-subject factor)."""

DOCDICT["pre_post"] = """\
pre, post : str, default="pre", "post"
    Labels of the baseline and the follow-up session in the ``within`` column (a BIDS
    ``ses-`` prefix is optional); a label no row has is an error."""

DOCDICT["sessions"] = """\
sessions : str, list of str, mapping or None, default=None
    Session(s) to use: a label (``ses-`` prefix optional), a list of labels, or
    ``{group label: session label}`` such as ``{"CLBP": "pre", "HC": "baseline"}``
    (then only subjects of those groups are used); each subject must then have one
    row. Subjects without the selected session are counted in ``n_excluded`` and
    named in ``excluded``. None uses every row."""

DOCDICT["levels_two"] = """\
levels : pair of str or None, default=None
    The two group labels compared, difference ``levels[0] - levels[1]``. When None
    the group column must hold exactly two labels, taken in sorted order."""

DOCDICT["alternative"] = """\
alternative : {"two-sided", "greater", "less"}, default="two-sided"
    Alternative hypothesis."""

DOCDICT["confidence"] = """\
confidence : float, default=0.95
    Level of the confidence intervals, in (0, 1)."""

DOCDICT["random_state"] = """\
random_state : int, numpy.random.Generator or None, default=None
    Seed or generator of every random draw; None draws fresh entropy (results then
    differ between runs)."""

DOCDICT["n_jobs"] = """\
n_jobs : int or None, default=None
    Parallel jobs through joblib (None: 1, unless inside a
    :func:`joblib.parallel_config` context; -1: all cores)."""

DOCDICT["progress"] = """\
progress : bool, default=True
    Show a progress bar (tqdm) on long steps."""

DOCDICT["mask_img"] = """\
mask_img : Niimg-like, path or None, default=None
    Brain mask (voxels > 0 are analysed); it must share the images' grid."""

DOCDICT["two_tailed"] = """\
two_tailed : bool, default=True
    Test both signs of the map: the voxel threshold is set at ``voxel_p / 2`` in each
    tail and clusters of either sign are reported (as DPABI and SPM two-tailed
    thresholds)."""

DOCDICT["voxel_p"] = """\
voxel_p : float, default=0.001
    Voxel-level (cluster-forming) p threshold, in (0, 1)."""

DOCDICT["cluster_p"] = """\
cluster_p : float, default=0.05
    Cluster-level family-wise significance level, in (0, 1)."""

DOCDICT["confidence_result"] = """\
confidence : float or None, default=None
    Level of the confidence intervals, in (0, 1); None uses the fit's ``confidence``."""

DOCDICT["alpha_power"] = """\
alpha : float, default=0.05
    Significance level (type I error rate) of the test, in (0, 1)."""

# --- voxelwise inference ------------------------------------------------------------------
DOCDICT["imgs_maps"] = """\
imgs : list of paths or 3-D images, or a 4-D image or path
    One map per observation (e.g. each subject's ALFF map), all on one grid."""

DOCDICT["mask_img_maps"] = """\
mask_img : str, path-like, nibabel image or None, default=None
    Voxels to analyse: those > 0, on the images' grid. None keeps the voxels that are
    finite and non-zero in every image (the voxels left out because some images lack
    data there are counted in ``parameters["n_partial_coverage"]``)."""

DOCDICT["labels"] = """\
labels : array-like or None, default=None
    One label per image: the group (two-sample) or the condition (paired); exactly two
    levels. Was ``groups`` (deprecated)."""

DOCDICT["levels_labels"] = """\
levels : pair of labels or None, default=None
    Order of the two levels of ``labels``: the contrast is ``levels[0] - levels[1]``.
    None takes them in order of first appearance. Was ``group_order`` (deprecated)."""

DOCDICT["center_covariates"] = """\
center_covariates : bool, default=True
    Mean-centre the covariates, so that the one-sample effect is the mean at the average
    covariates (the t of the other designs does not change)."""

DOCDICT["estimate_smoothness"] = """\
estimate_smoothness : bool, default=True
    Estimate the smoothness of the standardised residuals (FSL's ``smoothest``) for GRF
    inference."""

DOCDICT["dof_correction"] = """\
dof_correction : {"fsl", "dpabi"}, default="fsl"
    Rule of the degrees-of-freedom correction of the smoothness (dLh): FSL's
    ``smoothest`` or DPABI's ``y_Smoothest`` (they differ above 20 df; see
    :func:`~painmarkers.inference.estimate_smoothness`)."""

DOCDICT["connectivity"] = """\
connectivity : {6, 18, 26}, default=26
    Voxels sharing a face (6), a face or an edge (18), or a face, an edge or a corner
    (26) are neighbours in a cluster."""

# GRF on a field described by its smoothness (grf_cluster_pvalue, grf_min_cluster_size)
DOCDICT["grf_voxel_p"] = """\
voxel_p : float
    Cluster-forming (voxelwise, uncorrected) p threshold, in (0, 1)."""

DOCDICT["grf_cluster_p"] = """\
cluster_p : float
    Cluster-level family-wise significance level, in (0, 1)."""

DOCDICT["grf_smoothness"] = """\
smoothness : Smoothness
    Smoothness of the field (:func:`~painmarkers.inference.estimate_smoothness` or
    :func:`~painmarkers.inference.smoothness_from_fwhm`); its ``n_voxels`` is the search
    volume."""

DOCDICT["grf_two_tailed"] = """\
two_tailed : bool, default=True
    Two-tailed: the height threshold uses ``voxel_p / 2`` and the cluster p value is
    doubled (each tail tested at half the level, as DPABI does). The default was False
    before painmarkers 0.2; calls that omit it warn (FutureWarning) for one release."""

DOCDICT["grf_method"] = """\
method : {"fsl", "spm"}, default="fsl"
    ``"fsl"``: FSL's and DPABI's cluster p (Friston et al. 1994) from ``dLh``, on Z
    fields. ``"spm"``: SPM12's ``spm_P_RF`` from the resel counts and the EC densities
    of Z, T or F fields (see :mod:`painmarkers.inference.grf`)."""

DOCDICT["grf_stat"] = """\
stat : {"z", "t", "F"}, default="z"
    Field type. ``"t"`` and ``"F"`` matter only for ``method="spm"``, which uses T- or
    F-field EC densities with ``df``; FSL works on Z fields (an F map, one-tailed,
    needs ``two_tailed=False``)."""

DOCDICT["grf_df"] = """\
df : float, pair of floats, or None, default=None
    Degrees of freedom of a t field (``(df1, df2)`` of an F field)."""

DOCDICT["grf_resels"] = """\
resels : array-like of 4 floats or None, default=None
    Resel counts R0..R3 of the search volume (required for ``method="spm"``; see
    :func:`~painmarkers.inference.spm_resels_vol`)."""

# --- extractors (the ALFF family and the other time-series extractors) ----------------------
DOCDICT["mask_img_extractor"] = """\
mask_img : str, path-like, nibabel image or None, default=None
    Brain mask (voxels > 0 are in). When None, ``fit`` computes it from the images:
    voxels finite in every volume and non-zero in at least one."""

DOCDICT["t_r_extractor"] = """\
t_r : float or None, default=None
    Repetition time in seconds. None reads it per image with
    :func:`~painmarkers.extractors.resolve_t_r` (the BIDS sidecar's ``RepetitionTime``
    and the NIfTI header, which must agree)."""

DOCDICT["t_r"] = """\
t_r : float
    Repetition time in seconds (> 0)."""

DOCDICT["band"] = """\
band : tuple of float, default=(0.01, 0.08)
    Low and high frequency (Hz) of the band, ``0 <= low < high``; ``low`` must be below
    and ``high`` at most the Nyquist frequency ``1 / (2 t_r)`` (a band reaching above it
    is an error, not clipped). The default is the seed study's band."""

DOCDICT["alff_convention"] = """\
convention : {"dpabi", "rest", "xcpd", "bandpass_std"}, default="dpabi"
    Published definition of ALFF and fALFF (``"dpabi"`` reproduces DPABI's
    ``y_alff_falff``); it fixes the FFT length and binning. See
    :func:`~painmarkers.extractors.alff_falff` for the formulas."""

DOCDICT["alff_detrend"] = """\
detrend : bool, default=True
    Remove the least-squares line of each series (DPABI always does); False removes
    only the mean."""

DOCDICT["discard"] = """\
discard : int, default=0
    Number of initial volumes dropped before anything else (the seed study discarded
    10)."""

DOCDICT["alff_standardize"] = """\
standardize : {None, "mean", "z"}, default=None
    None keeps raw values; ``"mean"`` divides by the mean over the voxels (mALFF,
    mfALFF); ``"z"`` subtracts that mean and divides by the SD with N - 1 (zALFF,
    zfALFF). The extractors' maps are 0 outside the mask."""

# --- the result protocol (painmarkers._results): save(directory) -> dict[str, Path] --------
DOCDICT["save_directory"] = """\
directory : str or path-like
    Output folder, created if needed; files of the same names in it are replaced (each
    is written atomically: a temporary file, then a rename)."""

DOCDICT["save_returns"] = """\
dict of str to pathlib.Path
    Every file written, by kind (always a dict)."""

DOCDICT["save_raises"] = """\
OutputError
    A file or the folder cannot be written (full disk, no permission, read-only file
    system); the one-line message names it."""

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.M)


def _fill(doc: str, owner: str) -> str:
    def replace(match: re.Match) -> str:
        name, indent = match.group("name"), match.group("indent")
        if name not in DOCDICT:
            raise KeyError(f"{owner}: no shared parameter text {name!r} in painmarkers._docs "
                           f"(known: {sorted(DOCDICT)}).")
        return "\n".join(indent + line if line else line
                         for line in DOCDICT[name].splitlines())

    return _PLACEHOLDER.sub(replace, doc)


def fill_doc(obj: F) -> F:
    """Replace ``%(name)s`` lines of ``obj.__doc__`` by the shared texts of :data:`DOCDICT`.

    Parameters
    ----------
    obj : function or class
        Object whose docstring holds placeholders, each on a line of its own.

    Returns
    -------
    function or class
        ``obj`` itself, its docstring filled.

    Raises
    ------
    KeyError
        A placeholder names no entry of :data:`DOCDICT`.
    """
    if obj.__doc__:
        obj.__doc__ = _fill(obj.__doc__, getattr(obj, "__qualname__", repr(obj)))
    return obj
