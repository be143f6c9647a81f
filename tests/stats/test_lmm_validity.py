"""Validity of painmarkers.stats.lmm by simulation (slow; run with ``-m slow``).

Design: 2 arms x 20 subjects x 3 sessions (pre, post, fu), random intercept (SD 1),
residual SD 1, arm and session main effects, **no arm x session interaction**.  Dropout:
20 % of the subjects drop out after baseline (half before ``post``, half before ``fu``),
completely at random.  The interaction p of the Type III F test must be uniform (KS test)
and its rate at .05 within Monte-Carlo error (3 SE), for complete data and with dropout,
with Satterthwaite and Kenward-Roger df.  With a planted interaction, the LMM on every
available visit has more power than the complete-case split-plot (mixed) ANOVA.

``python tests/stats/test_lmm_validity.py`` prints the numbers quoted in the docs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from painmarkers.stats import lmm

N_TRIALS = 2000
N_POWER = 1000
SESSIONS = ["pre", "post", "fu"]


def simulate(rng, n_per_arm=20, dropout=0.0, did=0.0):
    """One trial; ``did`` is the planted (active - sham) difference of changes (post, fu)."""
    rows = []
    for k in range(2 * n_per_arm):
        arm = "active" if k < n_per_arm else "sham"
        b = rng.normal()
        last = 3
        if rng.random() < dropout:
            last = 1 if rng.random() < 0.5 else 2
        for s in range(last):
            effect = did * (arm == "active") * (s > 0)
            rows.append((f"s{k:03d}", arm, SESSIONS[s],
                         6 - 0.5 * s + 0.3 * (arm == "sham") + effect + b + rng.normal()))
    data = pd.DataFrame(rows, columns=["subject_id", "arm", "session", "VAS"])
    data["session"] = pd.Categorical(data["session"], SESSIONS)
    return data


def complete_case_interaction_p(data):
    """Split-plot ANOVA interaction p on the subjects with every visit (closed form)."""
    n_vis = data.groupby("subject_id").size()
    cc = data[data.subject_id.isin(n_vis[n_vis == 3].index)]
    y = cc.VAS.to_numpy()
    gt = cc.groupby(["arm", "session"], observed=True).VAS.transform("mean").to_numpy()
    g = cc.groupby("arm").VAS.transform("mean").to_numpy()
    t = cc.groupby("session", observed=True).VAS.transform("mean").to_numpy()
    s = cc.groupby("subject_id").VAS.transform("mean").to_numpy()
    n_sub = cc.subject_id.nunique()
    df_e = (n_sub - 2) * 2
    F = (np.sum((gt - g - t + y.mean()) ** 2) / 2) / (np.sum((y - gt - s + g) ** 2) / df_e)
    return float(stats.f.sf(F, 2, df_e))


def run(n_trials, dropout, did=0.0, seed=0, methods=("satterthwaite", "kenward-roger"),
        complete_case=False):
    rng = np.random.default_rng(seed)
    p = {m: np.empty(n_trials) for m in methods}
    p_cc = np.full(n_trials, np.nan)
    n_singular = 0
    for i in range(n_trials):
        data = simulate(rng, dropout=dropout, did=did)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = lmm(data, "VAS ~ arm * session")
        n_singular += res.singular
        assert res.converged, caught
        for m in methods:
            p[m][i] = res.anova(ddf=m).set_index("term").loc["arm:session", "p"]
        if complete_case:
            p_cc[i] = complete_case_interaction_p(data)
    out = {m: {"ks_p": float(stats.kstest(p[m], "uniform").pvalue),
               "rate_05": float(np.mean(p[m] < 0.05))} for m in methods}
    out["n_singular"] = n_singular
    if complete_case:
        lmm_rej, cc_rej = p[methods[0]] < 0.05, p_cc < 0.05
        out["complete_case"] = {"rate_05": float(np.mean(cc_rej)),
                                "only_lmm": int(np.sum(lmm_rej & ~cc_rej)),
                                "only_complete_case": int(np.sum(~lmm_rej & cc_rej))}
    return out


MC_3SE = 3 * np.sqrt(0.05 * 0.95 / N_TRIALS)
DID = -0.8


@pytest.mark.slow
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_interaction_p_is_uniform_under_the_null(dropout):
    res = run(N_TRIALS, dropout, seed=11 if dropout else 7)
    for method in ("satterthwaite", "kenward-roger"):
        assert res[method]["ks_p"] > 0.01, res
        assert abs(res[method]["rate_05"] - 0.05) < MC_3SE, res


@pytest.mark.slow
def test_lmm_keeps_power_that_complete_case_anova_loses():
    """Same simulated trials: McNemar-type comparison of the two rejections."""
    res = run(N_POWER, 0.2, did=DID, seed=5, methods=("satterthwaite",), complete_case=True)
    cc = res["complete_case"]
    assert res["satterthwaite"]["rate_05"] > cc["rate_05"], res
    n = cc["only_lmm"] + cc["only_complete_case"]
    assert stats.binomtest(cc["only_lmm"], n, 0.5, alternative="greater").pvalue < 0.01, res


if __name__ == "__main__":  # numbers for the docs
    for d in (0.0, 0.2):
        print("null, dropout", d, run(N_TRIALS, d, seed=11 if d else 7))
    print(f"power, dropout 0.2, DiD {DID}:",
          run(N_POWER, 0.2, did=DID, seed=5, methods=("satterthwaite",), complete_case=True))
