"""
Writing and registering a plug-in extractor
===========================================

painmarkers computes ALFF, fALFF and seed FC out of the box, but a lab often
needs its own feature, voxelwise or per ROI. Any subclass of
:class:`~painmarkers.extractors.BaseExtractor` that passes
:func:`~painmarkers.testing.check_extractor` can be registered with
:func:`~painmarkers.extractors.register_extractor` and then used by name
everywhere a built-in is: in :class:`~painmarkers.extractors.ROIExtractor`, in
:func:`painmarkers.extract` over a whole cohort (maps written as BIDS
derivatives, ROI values attached to the cohort), and in study specifications.

This example writes a *temporal standard deviation* extractor — the SD of each
voxel's detrended time series, a simple measure of BOLD fluctuation amplitude —
checks it, registers it, and runs it over a tiny generated cohort, then writes a
second plug-in that gives one value per ROI instead of a map. It ends with how a
separate package ships such extractors through the ``painmarkers.extractors``
entry-point group.
"""

# %%
# The extractor
# -------------
# A time-series extractor sets two class variables, ``feature`` (the name of its
# output in tables and file names) and ``input_kind = "bold"``, and implements
# one public method, ``compute(data, context)``: ``data`` is the masked, read-only
# ``(T, V)`` array of one image (time by voxel), ``context`` an
# :class:`~painmarkers.extractors.ImageContext` describing that image (its file,
# subject, session, repetition time ``context.t_r``, confounds), and the method
# returns ``(V,)`` values. The base class does the rest the way nilearn maskers do:
# it computes or takes the mask in ``fit``, streams the masked data of each image
# from its file, resolves the repetition time (``t_r``, the JSON sidecar or the
# header), and offers ``transform``, ``transform_image``, ``compute_map`` and
# ``inverse_transform``. Nothing about the current image is stored on the
# extractor, so one fitted extractor can process several images at once.
#
# Parameters follow scikit-learn's rules: ``__init__`` stores its arguments as
# they are, including ``mask_img`` and ``t_r``, and validation happens in the
# ``_check_params`` hook called by ``fit``, raising ``ValueError``.
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
import scipy.signal

import painmarkers as pm
from painmarkers.exceptions import ExtractorError
from painmarkers.extractors import (
    ALFF,
    BaseExtractor,
    ROIExtractor,
    get_extractor,
    list_extractors,
    register_extractor,
)
from painmarkers.rois import Sphere
from painmarkers.testing import check_extractor, synthetic_images


class TemporalSD(BaseExtractor):
    """Temporal standard deviation of each voxel's detrended time series.

    Parameters
    ----------
    mask_img : str, path-like, nibabel image or None, default=None
        Brain mask; computed from the images at ``fit`` when None.
    t_r : float or None, default=None
        Repetition time in seconds. The SD does not use it, but time-series
        input must have one (given here, else read from the sidecar or header).
    discard : int, default=0
        Initial volumes dropped.
    detrend : {"linear", "constant"}, default="linear"
        Remove the least-squares line, or only the mean, before taking the SD.
    """

    feature = "temporal_sd"
    input_kind = "bold"

    def __init__(self, mask_img=None, t_r=None, discard=0, detrend="linear"):
        self.mask_img = mask_img
        self.t_r = t_r
        self.discard = discard
        self.detrend = detrend

    def _check_params(self):
        if not isinstance(self.discard, int) or self.discard < 0:
            raise ValueError(f"The 'discard' parameter must be an integer >= 0. "
                             f"Got {self.discard!r}.")
        if self.detrend not in ("linear", "constant"):
            raise ValueError(f"The 'detrend' parameter must be 'linear' or 'constant'. "
                             f"Got {self.detrend!r}.")

    def compute(self, data, context):
        x = scipy.signal.detrend(np.asarray(data[self.discard:], dtype=np.float64), axis=0,
                                 type=self.detrend)
        return x.std(axis=0, ddof=1)


# %%
# Check it against the contract
# -----------------------------
# :func:`~painmarkers.testing.check_extractor` is the test suite every extractor
# must pass (``register_extractor`` runs it too): default construction,
# ``get_params``/``set_params``/``clone`` round trips, ``NotFittedError`` before
# ``fit``, output of shape ``(n_images, n_voxels_in_mask)``, finite and
# deterministic, nothing stored on ``self`` by ``transform`` and the same results
# when two threads run it at once, ``compute_map`` agreeing with ``transform``,
# and pickling for parallel workers. It runs on two small random images from
# :func:`~painmarkers.testing.synthetic_images`; call it in your own test suite.
imgs, mask = synthetic_images("bold")
print(f"synthetic images: {imgs[0].shape}, mask of {int(mask.get_fdata().sum())} voxels")
checked = check_extractor(TemporalSD)
print("passed:", checked)

# %%
# A common mistake fails loudly: an ``__init__`` that does not accept (or does
# not store) ``mask_img`` and ``t_r`` breaks ``clone`` and the cohort driver, and
# the check says so.


class ForgetfulSD(BaseExtractor):
    feature = "forgetful_sd"
    input_kind = "bold"

    def __init__(self, discard=0):
        self.discard = discard

    def compute(self, data, context):
        return data[self.discard:].std(axis=0)


try:
    check_extractor(ForgetfulSD)
except ExtractorError as err:
    print(f"ExtractorError: {err}")

# %%
# Is it right? An independent reference
# -------------------------------------
# Test a new extractor against something computed independently. Here there is
# an exact one: by Parseval's theorem, the SD (``N - 1``) of a detrended series is
# the band-pass-SD convention of ALFF over the whole spectrum, from 0 Hz to
# Nyquist (:class:`~painmarkers.extractors.ALFF` with
# ``convention="bandpass_std"``, see :doc:`/user_guide/alff_conventions`).
t_r = 2.0
reference = ALFF(mask_img=mask, t_r=t_r, convention="bandpass_std", band=(0.0, 0.5 / t_r))
ours = TemporalSD(mask_img=mask, t_r=t_r).fit(imgs).transform(imgs)
theirs = reference.fit(imgs).transform(imgs)
np.testing.assert_allclose(ours, theirs, rtol=1e-5)
print(f"max relative difference: {np.max(np.abs(ours / theirs - 1)):.1e} "
      f"over {ours.size} voxel values")

# %%
# Register it
# -----------
# Registration makes the class available by name; ``overwrite=True`` would be
# needed to replace a different class registered under the same name.
register_extractor("temporal_sd", TemporalSD)
print(list_extractors())
print(get_extractor("temporal_sd") is TemporalSD)

# %%
# A tiny cohort of images
# -----------------------
# Four subjects, one resting-state run each: 12 x 12 x 12 voxels of 3 mm around
# the MNI origin, 100 volumes at TR = 2 s, written as NIfTI files with a JSON
# sidecar and a brain mask, as a BIDS dataset would hold them. In the two CLBP
# patients the fluctuations are 1.5 times larger inside a 9 mm sphere on the
# left. Everything lives in a temporary folder.
workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name)
rng = np.random.default_rng(3)
shape, n_volumes = (12, 12, 12), 100
affine = np.diag([3.0, 3.0, 3.0, 1.0])
affine[:3, 3] = -16.5
ijk = np.indices(shape).reshape(3, -1).T
xyz = (ijk * 3.0 - 16.5).reshape(*shape, 3)
left = np.linalg.norm(xyz - (-9.0, 0.0, 0.0), axis=-1) <= 9.0
brain = np.linalg.norm(xyz, axis=-1) <= 16.0

subjects = []
for i, group in enumerate(["CLBP", "CLBP", "HC", "HC"], start=1):
    sub = f"{i:02d}"
    func = root / "bids" / f"sub-{sub}" / "ses-baseline" / "func"
    func.mkdir(parents=True)
    stem = f"sub-{sub}_ses-baseline_task-rest"
    scale = np.where(left & (group == "CLBP"), 1.5, 1.0)
    noise = scipy.signal.lfilter([1.0], [1.0, -0.4], rng.standard_normal((*shape, n_volumes)))
    bold = (500.0 + scale[..., None] * noise) * brain[..., None]
    img = nib.Nifti1Image(bold.astype(np.float32), affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((3.0, 3.0, 3.0, t_r))
    nib.save(img, func / f"{stem}_bold.nii.gz")
    (func / f"{stem}_bold.json").write_text(json.dumps({"RepetitionTime": t_r}))
    nib.save(nib.Nifti1Image(brain.astype(np.uint8), affine),
             func / f"{stem}_desc-brain_mask.nii.gz")
    session = pm.Session("baseline", images={
        "bold": func / f"{stem}_bold.nii.gz",
        "mask": func / f"{stem}_desc-brain_mask.nii.gz",
    })
    subjects.append(pm.Subject(sub, group=group, sessions=(session,)))
cohort = pm.Cohort(subjects)
print(cohort)

# %%
# Use it by name over the cohort
# ------------------------------
# :func:`painmarkers.extract` takes registered names as well as configured
# objects. ``"temporal_sd"`` gives a voxelwise map per session (the session's
# own mask is used, the TR comes from the sidecar); the ROI means of every map
# are attached to the cohort. The same name works inside
# :class:`~painmarkers.extractors.ROIExtractor`, here for the SD of the ROI's mean
# series. Motion QC is switched off because these sessions have no confounds.
rois = [Sphere("left", (-9, 0, 0), 9.0), Sphere("right", (9, 0, 0), 9.0)]
out_dir = root / "derivatives" / "painmarkers"
result = pm.extract(
    cohort,
    ["temporal_sd", ROIExtractor("temporal_sd", rois, summary="mean_timeseries")],
    rois=rois, out_dir=out_dir, progress=False, motion=False,
)
wide = result.wide()
print(wide.filter(regex="subject_id|group|temporal_sd").round(3).to_string())

# %%
# The left ROI's mean of the voxel SDs is about 1.5 times larger in the two
# patients, as planted; the right ROI does not differ. The SD of the ROI's mean
# series (``temporal_sd_meants``) is much smaller: the voxels' noise is
# independent and averages out.
ratio = (wide.loc[wide["group"] == "CLBP", "temporal_sd__left"].mean()
         / wide.loc[wide["group"] == "HC", "temporal_sd__left"].mean())
print(f"CLBP / HC, left ROI: {ratio:.2f}")
assert 1.4 < ratio < 1.6

# %%
# What was written
# ----------------
# One map per session, named as a BIDS derivative, with a JSON sidecar
# recording the sources, the extractor and its parameters, plus a report of
# every session.
for path in sorted(out_dir.rglob("*")):
    if path.is_file():
        print(path.relative_to(out_dir))
sidecar = json.loads(next(out_dir.rglob("sub-01*_boldmap.json")).read_text())
print({key: sidecar[key] for key in ("Extractor", "Feature", "Parameters")})
report = pd.read_csv(out_dir / "extraction_report.tsv", sep="\t", dtype={"subject_id": str})
print(report[["subject_id", "session", "status", "n_measures"]].to_string())

# %%
# The maps are ordinary NIfTI images: here the patients' mean map and the
# controls' side by side (axial slice through the ROIs).
maps = {s.id: nib.load(s.session("baseline").images["temporal_sd"]).get_fdata()
        for s in result}
fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
z = shape[2] // 2
for ax, group in zip(axes, ["CLBP", "HC"]):
    mean_map = np.mean([maps[s.id] for s in result if s.group == group], axis=0)
    im = ax.imshow(mean_map[:, :, z].T, origin="lower", cmap="magma", vmin=0, vmax=2.2)
    ax.set(title=f"{group}: mean temporal SD", xticks=[], yticks=[],
           xlabel="left  <-  x  ->  right")
fig.colorbar(im, ax=axes, shrink=0.8, label="SD (a.u.)")

# %%
# One value per ROI: an ROI-value plug-in
# ---------------------------------------
# An extractor with ``output = "rois"`` gives one value per ROI of its ``rois``
# parameter instead of a map. ``fit`` places the ROIs on the mask grid and
# ``roi_columns_`` tells ``compute`` which columns of ``data`` belong to each
# ROI. Here: the SD of each ROI's mean series, the quantity the
# ``temporal_sd_meants`` columns above hold, without going through
# :class:`~painmarkers.extractors.ROIExtractor`. In ``extract`` its values
# become ROI measures and, when its ``rois`` is None, it takes the driver's.


class ROISeriesSD(BaseExtractor):
    """SD of the detrended mean series of each ROI."""

    feature = "roi_series_sd"
    input_kind = "bold"
    output = "rois"

    def __init__(self, mask_img=None, t_r=None, rois=None):
        self.mask_img = mask_img
        self.t_r = t_r
        self.rois = rois

    def compute(self, data, context):
        series = np.column_stack([data[:, cols].mean(axis=1, dtype=np.float64)
                                  for cols in self.roi_columns_])
        return scipy.signal.detrend(series, axis=0).std(axis=0, ddof=1)


check_extractor(ROISeriesSD)
register_extractor("roi_series_sd", ROISeriesSD)
per_roi = pm.extract(cohort, ["roi_series_sd"], rois=rois, out_dir=root / "derivatives" / "roi",
                     progress=False, motion=False)
both = per_roi.wide().filter(regex="roi_series_sd").join(
    result.wide().filter(regex="temporal_sd_meants"))
print(both.round(4).to_string())
np.testing.assert_allclose(both["roi_series_sd__left"], both["temporal_sd_meants__left"],
                           rtol=1e-5)

# %%
# Shipping it in a package: the entry-point group
# -----------------------------------------------
# ``register_extractor`` lasts for one Python session. A package makes its
# extractors available to every user who installs it by declaring them in the
# ``painmarkers.extractors`` entry-point group of its ``pyproject.toml``:
#
# .. code-block:: toml
#
#    [project.entry-points."painmarkers.extractors"]
#    temporal_sd = "mylab_extractors.fluctuation:TemporalSD"
#
# After ``pip install mylab-extractors``, ``list_extractors()`` shows
# ``temporal_sd`` without importing the package; the first
# ``get_extractor("temporal_sd")`` (or a use by name in ``extract``, an
# ``ROIExtractor`` or a study specification) imports the class, runs
# :func:`~painmarkers.testing.check_extractor` on it and registers it. A plug-in
# that fails to import or fails the checks is refused with a
# :class:`~painmarkers.exceptions.RegistryError` giving the reason, only when
# it is asked for, so one broken plug-in never breaks the others.

workdir.cleanup()
