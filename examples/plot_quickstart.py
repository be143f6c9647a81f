"""
Quickstart: from a clinical table to PPR and a paired t-test
============================================================

The first seed study measured pain (VAS, 0-10) and disability (Roland-Morris, 0-24)
in 15 patients with chronic low back pain before and two days after 20 Hz rTMS of the
motor cortex. This example builds a :class:`~painmarkers.Cohort` from two tidy tables,
computes the percentage of pain reduction (PPR, the seed's equation 1) with IMMPACT
responder flags, and tests the change with a paired t-test — the numbers of the
seed's Table 2.
"""

# %%
# Two tables, as a study keeps them
# ---------------------------------
# ``participants`` has one row per subject; ``scores`` one row per session, with
# one column per instrument (a *wide* table; a long table with ``instrument`` and
# ``value`` columns works too). Scores are checked against each instrument's range
# when the cohort is built.
import numpy as np
import pandas as pd

import painmarkers as pm
from painmarkers.stats import outcomes, paired_ttest

rng = np.random.default_rng(0)
n = 15
ids = [f"sub-{i:02d}" for i in range(1, n + 1)]
participants = pd.DataFrame({
    "participant_id": ids,
    "group": "CLBP",
    "age": rng.normal(44.9, 10.9, n).round(),
    "sex": rng.choice(["F", "M"], n),
})
vas_pre = np.clip(rng.normal(7.25, 0.99, n), 4, 10).round(1)
vas_post = np.clip(vas_pre * (1 - rng.normal(0.36, 0.13, n)), 0, 10).round(1)
rm_pre = np.clip(rng.normal(15.6, 3.4, n), 0, 24).round()
rm_post = np.clip(rm_pre - rng.normal(2.3, 1.0, n), 0, 24).round()
scores = pd.DataFrame({
    "participant_id": ids * 2,
    "session_id": ["ses-pre"] * n + ["ses-post"] * n,
    "vas": np.r_[vas_pre, vas_post],
    "rmdq": np.r_[rm_pre, rm_post],
})
cohort = pm.Cohort.from_frames(participants, scores)
print(cohort)

# %%
# Percentage of pain reduction
# ----------------------------
# PPR = 100 (VAS_pre - VAS_post) / VAS_pre per subject; responders by the IMMPACT
# thresholds (30 % moderate, 50 % substantial). A zero baseline would be an error
# naming the subject.
ppr = outcomes(cohort, "VAS", pre="pre", post="post")
print(ppr[["subject_id", "pre", "post", "percent_change", "responder_moderate"]].head())
print(f"PPR = {ppr.percent_change.mean():.2f} % ± {ppr.percent_change.std():.2f}")

# %%
# Paired t-tests of VAS and Roland-Morris
# ---------------------------------------
# One row per variable, with n, the mean difference (pre - post) and its CI, t, df,
# p, Cohen's d_z and Hedges' g. A subject missing a session would be excluded and
# listed in ``excluded``.
res = paired_ttest(cohort, dv=["VAS", "RMDQ"], pre="pre", post="post")
print(res[["dv", "n", "mean_diff", "ci_low", "ci_high", "statistic", "df", "p", "cohen_d"]])

# %%
# Each patient before and after, as in a paper's figure: one line per subject, the
# means in black. :func:`~painmarkers.reporting.plot_group_values` takes the
# values per session aligned by subject (``ppr`` has one row per subject).
from painmarkers.reporting import plot_group_values

plot_group_values({"pre": ppr["pre"], "post": ppr["post"]}, ylabel="VAS (0-10 cm)",
                  title="Pain before and after rTMS", paired=True)

# %%
# The long tidy table
# -------------------
# Everything in the cohort is one tidy table away, ready for pandas, seaborn or R.
print(cohort.to_frame().head())
