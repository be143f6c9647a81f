"""The trial analyses of a study run (ancova, lmm, mixed_anova, responders): the tables in
the run folder equal independent computations on the same data (statsmodels OLS and
MixedLM, a closed-form split-plot ANOVA, counts and Fisher's test by hand), and the report
has their tables, figures and notes.

One small simulated trial (8 mm, 64 volumes, 8 patients per arm, dropout 0.25; no image
is analysed) is run once by every test of this module.
"""

import json
import shutil
import warnings
from html import unescape

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose
from scipy import stats

from painmarkers.datasets import simulate_cohort
from painmarkers.stats import lmm as pm_lmm
from painmarkers.study import parse_spec, run_study

ANALYSES = [
    {"type": "ancova", "name": "anc", "dv": ["VAS", "RMDQ"], "levels": ["active", "sham"],
     "post": ["post", "followup"], "covariates": ["age"]},
    {"type": "lmm", "name": "mixed", "dv": ["VAS", "ODI"], "levels": ["active", "sham"],
     "sessions": ["pre", "post", "followup"]},
    {"type": "mixed_anova", "name": "rm", "dv": ["VAS", "RMDQ"], "levels": ["active", "sham"],
     "sessions": ["pre", "post", "followup"]},
    {"type": "responders", "name": "resp", "instrument": "VAS", "levels": ["active", "sham"],
     "post": ["post", "followup"]},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("trialrun")
    simulate_cohort("rtms_sham_trial", root / "bids", resolution_mm=8, n_volumes=64,
                    n_per_arm=8, dropout=0.25, random_state=12)
    spec = parse_spec({"study": {"name": "trial", "dataset": "bids", "output": "results"},
                       "analyses": ANALYSES, "random_state": 0}, base_dir=root)
    result = run_study(spec, progress=False)
    pain = pd.read_csv(root / "bids" / "phenotype" / "pain.tsv", sep="\t")
    part = pd.read_csv(root / "bids" / "participants.tsv", sep="\t")
    long = pain.merge(part, on="participant_id")
    long["session"] = long["session_id"].str[4:]
    return result, long, root


def _tsv(result, name):
    return pd.read_csv(result.tables[name], sep="\t")


def test_ancova_equals_statsmodels_ols(run):
    result, long, _ = run
    anova = _tsv(result, "anc").set_index(["dv", "post", "term"])
    cons = _tsv(result, "anc_contrasts").set_index(["dv", "post"])
    for col, dv in (("vas", "VAS"), ("rmdq", "RMDQ")):
        for post in ("post", "followup"):
            wide = long.pivot_table(index=["participant_id", "group", "age"],
                                    columns="session", values=col).reset_index()
            wide = wide.dropna(subset=["pre", post]).rename(columns={post: "y"})
            fit = smf.ols("y ~ pre + age + C(group, Treatment('active'))", wide).fit()
            name = "C(group, Treatment('active'))[T.sham]"
            t = fit.tvalues[name]
            row = anova.loc[(dv, post, "group")]
            # one two-level factor: the Type III F is the square of the t of its coefficient
            assert_allclose(row["F"], t**2, rtol=1e-9)
            assert_allclose(row["p"], fit.pvalues[name], rtol=1e-7)
            assert row["n"] == len(wide) and row["den_df"] == fit.df_resid
            assert row["n_excluded"] == 16 - len(wide)
            con = cons.loc[(dv, post)]
            assert con["contrast"] == "active - sham"
            assert_allclose(con["estimate"], -fit.params[name], rtol=1e-9)
            lo, hi = fit.conf_int().loc[name]
            assert_allclose([con["ci_low"], con["ci_high"]], [-hi, -lo], rtol=1e-9)
    # FDR across the two measures of each term and visit
    sub = anova.xs(("post", "group"), level=("post", "term"))
    assert_allclose(sub["p_adjusted"].max(), sub["p"].max(), rtol=1e-12)


def test_lmm_difference_in_differences_equals_the_library_and_statsmodels(run):
    result, long, _ = run
    did = _tsv(result, "mixed_did").set_index(["dv", "contrast"])
    anova = _tsv(result, "mixed").set_index(["dv", "term"])
    for col, dv in (("vas", "VAS"), ("odi", "ODI")):
        data = long.rename(columns={col: dv, "participant_id": "subject_id"})
        data["session"] = pd.Categorical(data["session"], ["pre", "post", "followup"])
        data["group"] = pd.Categorical(data["group"], ["active", "sham"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a boundary fit warns; the numbers are compared
            direct = pm_lmm(data, f"{dv} ~ group * session", between="group")
        ref = direct.contrast("session", "group", levels=["active", "sham"]).set_index(
            "contrast")
        for contrast in ref.index:
            for key in ("estimate", "se", "df", "p", "ci_low", "ci_high"):
                assert_allclose(did.loc[(dv, contrast), key], ref.loc[contrast, key],
                                rtol=1e-10)
        assert_allclose(anova.loc[(dv, "group:session"), "F"],
                        direct.anova().set_index("term").loc["group:session", "F"], rtol=1e-10)
        # independent: statsmodels' REML MixedLM (its optimiser stops at ~1e-6 in the
        # variance ratio, hence rtol 1e-4 on the estimate)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm = smf.mixedlm(f"{dv} ~ C(group, Treatment('active')) * "
                             "C(session, Treatment('pre'))", data.astype({"session": str}),
                             groups=data["subject_id"]).fit(reml=True)
        inter = ("C(group, Treatment('active'))[T.sham]:"
                 "C(session, Treatment('pre'))[T.post]")
        assert_allclose(did.loc[(dv, "(active - sham): post - pre"), "estimate"],
                        -sm.params[inter], rtol=1e-4, atol=1e-6)


def test_mixed_anova_interaction_equals_the_closed_form_on_completers(run):
    result, long, _ = run
    table = _tsv(result, "rm").set_index(["dv", "term"])
    for col, dv in (("vas", "VAS"), ("rmdq", "RMDQ")):
        n_vis = long.groupby("participant_id").size()
        cc = long[long.participant_id.isin(n_vis[n_vis == 3].index)]
        y = cc[col].to_numpy(float)
        gt = cc.groupby(["group", "session"])[col].transform("mean").to_numpy()
        g = cc.groupby("group")[col].transform("mean").to_numpy()
        t = cc.groupby("session")[col].transform("mean").to_numpy()
        s = cc.groupby("participant_id")[col].transform("mean").to_numpy()
        n_sub = cc.participant_id.nunique()
        df_e = (n_sub - 2) * 2
        # balanced within each arm: the split-plot sums of squares in closed form
        n_arm = cc.drop_duplicates("participant_id").groupby("group").size()
        assert n_arm.min() >= 2
        ss_int = np.sum((gt - g - t + y.mean()) ** 2)
        ss_err = np.sum((y - gt - s + g) ** 2)
        row = table.loc[(dv, "group:session")]
        if n_arm.nunique() == 1:  # equal arms: the unweighted Type III = the classical F
            assert_allclose(row["F"], (ss_int / 2) / (ss_err / df_e), rtol=1e-9)
        assert row["den_df"] == df_e and row["n"] == n_sub
        assert row["n_excluded"] == 16 - n_sub


def test_responders_equal_counts_and_fisher_by_hand(run):
    result, long, _ = run
    table = _tsv(result, "resp").set_index(["post", "responder"])
    for post in ("post", "followup"):
        wide = long.pivot_table(index=["participant_id", "group"], columns="session",
                                values="vas").reset_index().dropna(subset=["pre", post])
        ppr = 100 * (wide["pre"] - wide[post]) / wide["pre"]
        for name, thr in (("moderate", 30), ("substantial", 50)):
            resp = ppr >= thr
            a = int(resp[wide.group == "active"].sum())
            b = int(resp[wide.group == "sham"].sum())
            na, nb = int((wide.group == "active").sum()), int((wide.group == "sham").sum())
            row = table.loc[(post, name)]
            assert (row["responders_x"], row["n_x"], row["responders_y"], row["n_y"]) == \
                (a, na, b, nb)
            assert_allclose(row["risk_difference"], a / na - b / nb, rtol=1e-12, atol=1e-15)
            assert_allclose(row["p"], stats.fisher_exact([[a, na - a], [b, nb - b]]).pvalue,
                            rtol=1e-12)


def test_report_has_the_trial_sections_figures_and_notes(run):
    result, _, _ = run
    html = unescape(result.report_path.read_text(encoding="utf-8"))
    for title in ("ANCOVA: post, followup adjusted for pre", "Linear mixed model: group x session",
                  "Mixed ANOVA: group x session", "Responders: VAS (post, followup vs pre)"):
        assert title in html
    assert "difference in differences" in html.lower()
    assert "mixed_anova excluded" in html  # the complete-case warning became a note
    for fig in ("anc_forest", "mixed_means", "mixed_did_forest", "rm_means"):
        assert result.figures[fig].stat().st_size > 5000
    for name in ("anc", "anc_adjusted_means", "anc_contrasts", "mixed", "mixed_did",
                 "mixed_fixed_effects", "mixed_variance_components", "mixed_emmeans", "rm",
                 "rm_cell_means", "rm_sphericity", "resp"):
        assert name in result.tables
    prov = json.loads(result.provenance_path.read_text())
    rec = {a["name"]: a for a in prov["analyses"]}
    assert rec["mixed"]["levels"] == ["active", "sham"]
    assert rec["mixed"]["formula"] == "response ~ group * session"
    assert set(rec["mixed"]["n"]) == {"VAS", "ODI"}


def test_subjects_outside_the_levels_are_named_not_dropped_silently(run, tmp_path):
    _, _, root = run
    shutil.copytree(root / "bids", tmp_path / "bids")
    path = tmp_path / "bids" / "participants.tsv"
    part = pd.read_csv(path, sep="\t")
    part.loc[part.index[:2], "group"] = "waitlist"
    part.to_csv(path, sep="\t", index=False)
    spec = parse_spec({"study": {"dataset": "bids", "output": "out"}, "analyses": [
        {"type": "lmm", "name": "m", "dv": "VAS", "levels": ["active", "sham"],
         "formula": "~ group * session + age"}]},
        base_dir=tmp_path)
    result = run_study(spec, progress=False)
    html = unescape(result.report_path.read_text(encoding="utf-8"))
    ids = ", ".join(f"sub-{p[4:]}" for p in part["participant_id"][:2])
    assert (f"2 subject(s) outside the levels active and sham of 'group' are not "
            f"analysed: {ids}.") in html
    fixed = _tsv(result, "m_fixed_effects")
    assert not fixed["term"].str.contains("waitlist").any()
    assert "age" in set(fixed["term"])  # a formula variable not listed in 'covariates'
    assert fixed["term"].iloc[-1] == "group[T.sham]:session[T.followup]"
