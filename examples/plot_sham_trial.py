"""
A sham-controlled rTMS trial with dropout: ANCOVA, LMM, responders, ROI and voxelwise ALFF
==========================================================================================

A trial randomises chronic low back pain patients to active or sham rTMS and sees them
before treatment (``pre``), after it (``post``) and four weeks later (``followup``); some
patients miss the later visits. Reviewers ask: did the arms change differently (the arm x
visit interaction), by how much (the difference in differences, the baseline-adjusted
difference), how many patients responded, and where in the brain did ALFF change
differently? This example simulates such a trial
(:func:`~painmarkers.datasets.simulate_cohort` with ``design="rtms_sham_trial"``),
extracts ALFF in ROIs and answers each question with :mod:`painmarkers.stats`
(:doc:`/user_guide/trial_designs` explains the models), then maps the interaction at
every voxel with :func:`~painmarkers.inference.voxelwise_glm` and
:func:`~painmarkers.inference.voxelwise_lmm`. The simulation's ground truth tells us
what should be found.
"""

# %%
# Simulate the trial
# ------------------
# The trial is kept small so that the example runs in well under a minute: 16 patients
# per arm on a 6 mm grid with 120 volumes (the ``painmarkers demo --design
# rtms_sham_trial`` default is 20 per arm at 4 mm and 190 volumes). So small a trial
# would find only one of the three planted voxelwise effects, so every planted effect
# is 1.5 times the demo's (``effect_scale=1.5``; the ground truth holds the scaled
# values). After each visit a patient leaves with probability 0.2 (monotone dropout,
# completely at random).
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd

import painmarkers as pm
from painmarkers.datasets import simulate_cohort
from painmarkers.extractors import ALFF
from painmarkers.inference import (
    grf_cluster_correct,
    permutation_cluster_correct,
    voxelwise_glm,
    voxelwise_lmm,
)
from painmarkers.reporting import plot_stat_map
from painmarkers.rois import Sphere
from painmarkers.stats import adjust_pvalues, ancova, lmm, mixed_anova, responders

root = Path(tempfile.mkdtemp()) / "trial"
data = simulate_cohort("rtms_sham_trial", root, resolution_mm=6, n_volumes=120,
                       n_per_arm=16, effect_scale=1.5, random_state=1, n_jobs=2)
print(data.summary())
truth = data.ground_truth
dropout = truth["clinical"]["dropout"]
print(f"{dropout['n_dropped']} patients left early; "
      f"{dropout['missing_fraction']:.0%} of the visits are missing")
print(data.sessions.groupby(["group", "session_id"]).size().unstack())

# %%
# ALFF in ROIs
# ------------
# Spheres (radius 6 mm, a voxel or more at 6 mm) on the regions where the simulation
# planted an arm x visit interaction (INS_L, INS_R, mPFC), a change common to both arms
# (THA_L), and nothing (SMA_L, CAL_L, CER_L). :func:`~painmarkers.extract` computes each
# session's ALFF map (DPABI convention, divided by its brain mean: mALFF) and averages
# it in each ROI; the maps are written as a BIDS derivative.
centres = {r: info["center_mni"] for r, info in truth["alff"]["rois"].items()}
names = ["INS_L", "INS_R", "mPFC", "THA_L", "SMA_L", "CAL_L", "CER_L"]
rois = [Sphere(r, tuple(centres[r]), radius_mm=6) for r in names]
cohort = pm.extract(data.to_cohort(), [ALFF(standardize="mean")], rois=rois,
                    out_dir=root / "derivatives" / "painmarkers", progress=False, n_jobs=2)
table = cohort.wide()
table["session"] = pd.Categorical(table["session"], ["pre", "post", "followup"])
table["group"] = pd.Categorical(table["group"], ["active", "sham"])
table[["subject_id", "group", "session", "VAS", "RMDQ", "alff__INS_L"]].head(6)

# %%
# Baseline-adjusted ANCOVA: the primary analysis of a trial
# ---------------------------------------------------------
# The post score adjusted for the pre score (Vickers & Altman 2001), from the long
# table: ``baseline="pre"`` pairs each patient's visits; patients without both are
# excluded and counted.
res = ancova(table, "VAS", "group", baseline="pre", post="post", levels=["active", "sham"])
print(res.anova()[["term", "F", "num_df", "den_df", "p", "partial_eta_sq", "n",
                   "n_excluded"]].round(4))
res.posthoc[["contrast", "estimate", "ci_low", "ci_high", "p"]].round(3)

# %%
# Linear mixed model: every visit, the difference in differences
# --------------------------------------------------------------
# The LMM keeps every available visit (valid under missingness at random), with
# Kenward-Roger df. :meth:`~painmarkers.stats.LMMResult.contrast` gives each arm's change
# from ``pre`` and the difference of those changes (active - sham) with its CI; the
# planted values are in the ground truth.
fit = lmm(table, "VAS ~ group * session", between="group", ddf="kenward-roger")
print(fit.anova().round(4))
did = fit.contrast("session", "group", levels=["active", "sham"])
planted = {e["contrast"]: e["value"] for e in truth["clinical"]["effects"]
           if e["instrument"] == "VAS"}
did["planted"] = did["contrast"].map(planted)
did[["contrast", "planted", "estimate", "ci_low", "ci_high", "df", "p"]].round(3)

# %%
# The complete-case mixed ANOVA drops every patient with a missing visit; it warns and
# says how many (the warning is caught here to print it); the LMM used them all.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    rm = mixed_anova(table, "VAS", "group", sessions=["pre", "post", "followup"])
print(*(str(w.message)[:160] + " ..." for w in caught), sep="\n")
rm.anova()[["term", "F", "num_df", "den_df", "p_corrected", "n", "n_excluded"]].round(4)

# %%
# A means plot: the model's mean ± 95 % CI per arm and visit over every patient's
# observed trajectory.
emm = fit.emmeans("session", by="group")
fig, ax = plt.subplots(figsize=(5, 4))
x = {"pre": 0, "post": 1, "followup": 2}
for color, arm in zip(("tab:red", "tab:blue"), ("active", "sham")):
    for _, traj in table[table["group"] == arm].groupby("subject_id"):
        ax.plot(traj["session"].map(x).astype(float), traj["VAS"], color=color, alpha=0.2,
                lw=0.7)
    m = emm[emm["group"] == arm]
    ax.errorbar(m["session"].map(x).astype(float), m["emmean"],
                yerr=[m["emmean"] - m["ci_low"], m["ci_high"] - m["emmean"]], color=color,
                lw=2.5, marker="o", capsize=3, label=arm)
ax.set(xticks=[0, 1, 2], xticklabels=list(x), ylabel="VAS (0-10)",
       title="Pain by arm and visit")
ax.legend(frameon=False)

# %%
# Responders
# ----------
# IMMPACT: an improvement of at least 30 % (moderate) or 50 % (substantial) from
# ``pre``; the risk difference (Newcombe interval), the number needed to treat (Altman
# interval) and Fisher's exact test.
resp = responders(table, "VAS", levels=["active", "sham"], pre="pre", post="post")
resp[["responder", "responders_x", "n_x", "responders_y", "n_y", "risk_difference",
      "ci_low", "ci_high", "nnt", "p"]].round(3)

# %%
# ALFF in the ROIs: which regions changed differently?
# ----------------------------------------------------
# One LMM per ROI; the interaction p values are adjusted for the false discovery rate
# across the seven ROIs. The interaction is found where it was planted; the visit
# effect planted in both arms in THA_L is a visit effect, not an interaction. A ROI
# whose subject variance is estimated as 0 gives a boundary (singular) fit: it warns,
# the fixed-effect tests stay valid, and the table says so.
rows, dids = [], []
for roi in names:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res_roi = lmm(table, f"alff__{roi} ~ group * session", between="group")
    tab = res_roi.anova().set_index("term")
    d = res_roi.contrast("session", "group", levels=["active", "sham"]).set_index("contrast")
    dids.append(d.loc["(active - sham): post - pre"])
    kind = ("interaction" if roi in truth["alff"]["interaction_rois"]
            else "visit" if roi in truth["alff"]["time_rois"] else "none")
    rows.append({"roi": roi, "planted": kind, "did_post": dids[-1]["estimate"],
                 "p_session": tab.loc["session", "p"], "p": tab.loc["group:session", "p"],
                 "singular": res_roi.singular, "warnings": len(caught)})
rois_table = adjust_pvalues(pd.DataFrame(rows), "fdr_bh")
rois_table.round(4)

# %%
# The DiD of each ROI with its 95 % CI: red where the interval excludes 0.
fig, ax = plt.subplots(figsize=(5, 3.2))
for k, row in enumerate(dids):
    color = "tab:red" if row["ci_low"] > 0 or row["ci_high"] < 0 else "0.3"
    ax.errorbar(row["estimate"], -k, xerr=[[row["estimate"] - row["ci_low"]],
                                           [row["ci_high"] - row["estimate"]]],
                fmt="o", color=color, capsize=3)
ax.axvline(0, color="0.5", ls="--", lw=0.8)
ax.set(yticks=-np.arange(len(names)), yticklabels=names,
       xlabel="difference in differences of mALFF (active - sham, post - pre)")
fig.tight_layout()

# %%
# Voxelwise: where did ALFF change differently?
# ---------------------------------------------
# The same question at every voxel: :func:`~painmarkers.inference.voxelwise_glm` fits
# ``~ group * session`` to the 72 mALFF maps (one per patient and visit, in the rows of
# the table) with one effect per patient (the repeated-measures model of SPM's flexible
# factorial and DPABI's mixed-effect module: arm and visit are tested against the
# within-patient variance). Two contrasts: the F test of the arm x visit interaction
# (both interaction columns) and the t test of the difference in differences at
# ``post`` (active - sham; ``active`` is the reference level, so the column
# ``group[T.sham]:session[T.post]`` is sham - active and is negated). Patients seen
# once keep their map; their subject effect absorbs it (the summary says so).
alff_maps = {(sub.id, ses.label): ses.images["alff"] for sub, ses in cohort.iter_sessions()}
imgs = [alff_maps[key] for key in zip(table["subject_id"], table["session"].astype(str))]
brain = next(ses.images["mask"] for _, ses in cohort.iter_sessions())
contrasts = {"arm x visit": "group:session",
             "DiD post (active - sham)": "-group[T.sham]:session[T.post]"}
glm = voxelwise_glm(imgs, "~ group * session", contrasts, data=table,
                    subject="subject_id", mask_img=brain, n_jobs=2)
print(glm.summary())

# %%
# GRF cluster correction (cluster-forming voxel p < 0.001, cluster p < 0.05; the F map
# one-tailed, the t map two-tailed) reads the statistic, its df and the residual
# smoothness from the GLM's maps. On this coarse 6 mm grid the ALFF maps are only about
# 1.5 voxels smooth, below the 2 voxels random-field theory needs, and
# :func:`~painmarkers.inference.grf_cluster_correct` says so (the warning is caught here
# to print it): the GRF cluster p values are approximate.
columns = ["cluster_id", "sign", "size_voxels", "p_cluster", "peak_stat", "peak_mni_x",
           "peak_mni_y", "peak_mni_z", "aal"]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    grf = {name: grf_cluster_correct(glm[name], voxel_p=0.001, cluster_p=0.05,
                                     two_tailed=glm[name].stat == "t", mask_img=brain)
           for name in contrasts}
print(caught[0].message)
for name, cres in grf.items():
    print(f"{name}: {cres.n_significant} significant of {len(cres.clusters)} clusters")
grf["arm x visit"].to_frame().query("significant")[columns].round(4)

# %%
# Permutation inference is exact whatever the smoothness.
# :func:`~painmarkers.inference.permutation_cluster_correct` refits the same model
# 1000 times (Freedman-Lane) with the maps of each patient as an exchangeability block:
# arms are never swapped within a patient's visits, only the visits (as FSL randomise
# ``-e`` and PALM). It takes a few seconds on this grid.
perm = permutation_cluster_correct(
    imgs, design="~ group * session", contrast=contrasts["DiD post (active - sham)"],
    data=table, subject="subject_id", mask_img=brain, voxel_p=0.001, cluster_p=0.05,
    exchangeability_blocks=table["subject_id"].tolist(), n_permutations=1000,
    random_state=0, n_jobs=2)
print(perm.summary().splitlines()[0])
perm_table = perm.to_frame()
perm_table.query("significant")[columns].round(4)

# %%
# The significant clusters of the difference in differences at ``post`` (permutation,
# t values) above the map the simulation planted (the log ALFF ratio of the active arm
# at ``post``), on the same slices.
# sphinx_gallery_multi_image_block = "single"
planted_img = root / truth["alff"]["maps"]["interaction_post"]
plot_stat_map(perm.thresholded_img, stat="t", df=glm["DiD post (active - sham)"].df,
              mask_img=brain, cut_coords=[-12, -6, 0],
              title="DiD of mALFF at post (active - sham): significant clusters")
plot_stat_map(planted_img, label="planted log ALFF ratio", mask_img=brain,
              cut_coords=[-12, -6, 0], title="Ground truth: planted arm x visit effect at post")
plt.show()

# %%
# The comparison with the ground truth: the distance of every significant peak from
# the nearest ROI where an interaction was planted, and the fraction of significant
# voxels inside the planted blobs with the planted sign.
planted = np.asarray(nib.load(planted_img).dataobj)
found = np.asarray(perm.thresholded_img.dataobj)
inside = found != 0
agree = np.sign(found[inside]) == np.sign(planted[inside])
planted_centres = {r: np.asarray(centres[r]) for r in truth["alff"]["interaction_rois"]}
sig = perm_table.query("significant").copy()
peaks = sig[["peak_mni_x", "peak_mni_y", "peak_mni_z"]].to_numpy(float)
dist = pd.DataFrame({r: np.linalg.norm(peaks - c, axis=1) for r, c in planted_centres.items()},
                    index=sig.index)
sig["nearest_planted"] = dist.idxmin(axis=1)
sig["distance_mm"] = dist.min(axis=1)
print(f"{int(inside.sum())} significant voxels, {agree.mean():.0%} of them inside a "
      "planted blob with the planted sign")
sig[["cluster_id", "sign", "size_voxels", "p_cluster", "nearest_planted",
     "distance_mm"]].round(3)

# %%
# Every significant cluster is one of the three planted effects (INS_L and INS_R
# lower, mPFC higher in the active arm after treatment), its peak within one 6 mm
# voxel of the planted centre, and nothing is found where nothing was planted: not in
# the thalamus, whose change is common to both arms, nor anywhere else. GRF agrees:
# the same three clusters in the t map, the two insular ones in the F map (which also
# tests the ``followup`` change, where only half of the effect was planted). With 16
# patients per arm the clusters are small (a few 6 mm voxels): a weaker effect or a
# smaller trial would be missed.
#
# The voxelwise LMM
# -----------------
# :func:`~painmarkers.inference.voxelwise_lmm` fits the random-intercept LMM of the ROI
# analysis at every voxel (REML, Satterthwaite df per voxel), so the patients seen once
# inform the arm means instead of being absorbed by a subject effect. Its Type III F of
# the interaction, converted to z through each voxel's own p (the df vary over voxels),
# is corrected with GRF using the smoothness of the model's residuals (approximate here,
# as above).
lmm_maps = voxelwise_lmm(imgs, table, "~ group * session", subject="subject_id",
                         between=["group"], mask_img=brain, n_jobs=2)
print(lmm_maps.summary())
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the smoothness warning, printed above
    lmm_grf = grf_cluster_correct(lmm_maps.z_img("group:session"), voxel_p=0.001,
                                  cluster_p=0.05, two_tailed=False, stat="z",
                                  mask_img=brain, smoothness=lmm_maps.smoothness)
lmm_grf.to_frame().query("significant")[columns].round(4)

# %%
# The LMM finds the same three clusters, each at its planted place. It also uses the
# eight patients seen only once, whom the GLM's subject effects set aside, which
# matters more the more patients miss visits.
