"""
Does SMA ALFF tell CLBP patients from healthy controls?
=======================================================

The first seed study found higher ALFF in the supplementary motor area (SMA) of
15 patients with chronic low back pain (CLBP) than in 10 healthy controls (HC).
A group difference is not yet a biomarker: the question a clinician asks is how
well one person's SMA ALFF classifies them, with how much uncertainty, and whether
that survives an honest evaluation. This example answers it on generated data
with the seed's group sizes, using
:func:`~painmarkers.prediction.evaluate_biomarker`:

* grouped, stratified 5-fold cross-validation repeated 5 times, with age and sex
  regressed out *inside* each training fold;
* the ROC AUC with DeLong and bootstrap intervals, sensitivity, specificity and
  predictive values with Wilson intervals (also at a clinic's base rate);
* a permutation p-value that refits the whole pipeline on shuffled labels.

It ends with the sample size a confirmatory study would need.
"""

# %%
# A cohort with one ROI measure per subject
# -----------------------------------------
# Generated like the seed: CLBP patients are older on average and their SMA ALFF
# is higher by about one standard deviation. Nothing is downloaded.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import painmarkers as pm
from painmarkers.prediction import evaluate_biomarker
from painmarkers.stats import power_ttest

rng = np.random.default_rng(42)
groups = ["CLBP"] * 15 + ["HC"] * 10
ids = [f"sub-{i:02d}" for i in range(1, 26)]
age = np.r_[rng.normal(44.9, 10.9, 15), rng.normal(40.9, 8.7, 10)].round()
participants = pd.DataFrame({
    "participant_id": ids, "group": groups, "age": age,
    "sex": rng.choice(["F", "M"], 25),
})
sma = 1.0 + 0.004 * (age - 43) + rng.normal(0, 0.12, 25) + 0.13 * (np.array(groups) == "CLBP")
measures = pd.DataFrame({
    "participant_id": ids, "session": "baseline", "roi": "SMA_L", "feature": "alff",
    "value": sma,
})
cohort = pm.Cohort.from_frames(participants, measures=measures)
print(cohort)

# %%
# Cross-validated evaluation
# --------------------------
# ``("alff", "SMA_L")`` names the ROI measure and ``sessions="baseline"`` the session
# evaluated (one per subject; a subject without it would be listed in
# ``res.excluded``). Rows are grouped by the ``subject_id`` column (``subject=``). The
# model is the default (standardisation + L2 logistic regression); scaling and the
# confound regression are refitted in every training fold, and no subject is ever in
# both the training and the test set. The permutation test reruns all of it 50 times
# (use 1000 or more in a paper).
res = evaluate_biomarker(
    cohort, [("alff", "SMA_L")], "group", positive="CLBP", sessions="baseline",
    confounds=["age", "sex"], n_splits=5, n_repeats=5, n_permutations=50,
    prevalence=0.2, random_state=0,
)
print(res.summary())
print(f"excluded: {len(res.excluded)}")

# %%
# The metrics as a table
# ----------------------
# One row per metric with its interval and the counts behind it. With 25 people
# the intervals are wide: that, not the point estimate, is the finding to report.
res.to_frame().round(3)

# %%
# ROC curve and calibration
# -------------------------
# The ROC curve pools each subject's out-of-fold score (averaged over the 5 CV
# repeats). The calibration curve compares predicted probabilities with the observed
# fraction of patients in each probability bin.
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
res.plot_roc(ax=axes[0])
res.plot_calibration(ax=axes[1])
fig.tight_layout()

# %%
# Per-fold results
# ----------------
# Test folds of 5 people give very unstable AUCs; this is why the headline number
# pools the out-of-fold scores instead of averaging fold AUCs.
res.folds[["repeat", "fold", "n_test", "n_test_positive", "auc"]].head(10)

# %%
# How many subjects would a confirmatory study need?
# ---------------------------------------------------
# Effects found in small samples are inflated; plan on half of the observed
# standardised difference. Here: subjects per group for 80 % power, two-sided
# alpha = 0.05, for the observed and the halved effect.
wide = cohort.wide()
x = wide.loc[wide.group == "CLBP", "alff__SMA_L"]
y = wide.loc[wide.group == "HC", "alff__SMA_L"]
pooled_sd = np.sqrt(((len(x) - 1) * x.var() + (len(y) - 1) * y.var()) / (len(x) + len(y) - 2))
d = (x.mean() - y.mean()) / pooled_sd
pd.concat([power_ttest(effect_size=d, power=0.8), power_ttest(effect_size=d / 2, power=0.8)])[
    ["effect_size", "power", "n", "n_total"]
].round(2)
