"""painmarkers.stats.lmm against lme4 / lmerTest / pbkrtest / emmeans on committed fixtures.

The fixtures and the R script that produced them are in tests/fixtures/r/lmm (see its
README for the Rscript call and versions).  Tolerances are issue 11's: relative error
<= 1e-6 for estimates, SE, t and F; <= 1e-4 for Satterthwaite / Kenward-Roger df and the
p-values computed with them.
"""

from __future__ import annotations

import re
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from painmarkers._mixedmodels.anova import type3_hypotheses
from painmarkers.exceptions import InferenceWarning, PainmarkersWarning
from painmarkers.stats import lmm

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "lmm"
EST = {"rtol": 1e-6, "atol": 1e-10}     # estimates, SE, t, F (atol for exact zeros)
DF = {"rtol": 1e-4, "atol": 0}          # df and their p
FIT = pd.read_csv(FIX / "fit.csv").set_index("case")
CASES = list(FIT.index)
DATA = {"ml": "dropout", "one_term": "dropout", "num_by_factor": "three_arms"}
R_DDF = {"Satterthwaite": "satterthwaite", "Kenward-Roger": "kenward-roger",
         "satterthwaite": "satterthwaite", "kenward-roger": "kenward-roger",
         "asymptotic": "wald"}


def r_name(name: str) -> str:
    """patsy/formulaic name -> R's (``arm[T.sham]:session[T.post]`` -> ``armsham:sessionpost``)."""
    if name == "Intercept":
        return "(Intercept)"
    return re.sub(r"(\w+)\[T\.([^\]]+)\]", r"\1\2", name)


def data_of(case: str) -> pd.DataFrame:
    data = pd.read_csv(FIX / f"data_{DATA.get(case, case)}.csv")
    if "session" in data and set(data["session"]) == {"pre", "post", "fu"}:
        data["session"] = pd.Categorical(data["session"], ["pre", "post", "fu"])
    return data


@cache
def fitted(case: str, ddf: str):
    """The fit of a fixture case and the warnings it raised."""
    row = FIT.loc[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = lmm(data_of(case), row.formula, random=str(row.random), reml=bool(row.reml),
                  ddf=ddf)
    return res, [(w.category, str(w.message)) for w in caught]


def methods(case: str) -> list[str]:
    return ["satterthwaite", "kenward-roger"] if FIT.loc[case, "reml"] else ["satterthwaite"]


CASE_METHOD = [(c, m) for c in CASES for m in methods(c)]


@pytest.mark.parametrize("case", CASES)
def test_fit_matches_lme4(case):
    row = FIT.loc[case]
    res, _ = fitted(case, "satterthwaite")
    assert_allclose(res.loglik, row.loglik, **EST)
    assert_allclose(res.deviance, row.deviance, **EST)
    assert_allclose(res.sigma, row.sigma, **EST)
    theta = np.array([float(t) for t in str(row.theta).split(";")])
    assert_allclose(res.theta, theta, rtol=1e-6, atol=1e-8)
    assert res.n_obs == row.n_obs and res.n_subjects == row.n_subjects
    assert res.singular == bool(row.singular)
    assert res.converged
    assert row.max_abs_grad < 1e-5  # R's optimum is precise enough to be a reference


@pytest.mark.parametrize("case", CASES)
def test_variance_components_match_lme4(case):
    res, _ = fitted(case, "satterthwaite")
    ref = pd.read_csv(FIX / "varcorr.csv", keep_default_na=False)
    ref = ref[ref.case == case]
    ours = res.variance_components
    assert len(ours) == len(ref)
    for (_, r), (_, o) in zip(ref.iterrows(), ours.iterrows()):
        assert r_name(o.var1) == r.var1 or (o.var1 == "" and r.var1 == "")
        assert_allclose(o.vcov, float(r.vcov), **EST)
        assert_allclose(o.sdcor, float(r.sdcor), **EST)


@pytest.mark.parametrize(("case", "method"), CASE_METHOD)
def test_fixed_effects_match_lmertest(case, method):
    res, _ = fitted(case, method)
    ref = pd.read_csv(FIX / "fixef.csv")
    ref = ref[(ref.case == case) & (ref.method.map(R_DDF) == method)].set_index("term")
    ours = res.fixed_effects.assign(term=res.fixed_effects.term.map(r_name)).set_index("term")
    assert list(ours.index) == list(ref.index)
    for col in ("estimate", "se", "t"):
        assert_allclose(ours[col], ref[col], **EST, err_msg=col)
    assert_allclose(ours["df"], ref["df"], **DF)
    assert_allclose(ours["p"], ref["p"], **DF)


@pytest.mark.parametrize("case", CASES)
def test_wald_fixed_effects_use_lme4_vcov(case):
    res, _ = fitted(case, "wald")
    V = pd.read_csv(FIX / "vcov.csv")
    V = V[(V.case == case) & (V.kind == "vcov")]
    se = {r.row: np.sqrt(r.value) for r in V.itertuples() if r.row == r.column}
    ours = res.fixed_effects
    assert_allclose(ours.se, [se[r_name(t)] for t in ours.term], **EST)
    assert np.all(np.isinf(ours.df))
    from scipy import stats

    assert_allclose(ours.p, 2 * stats.norm.sf(np.abs(ours.t)), rtol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if FIT.loc[c, "reml"]])
def test_kenward_roger_adjusted_vcov_matches_pbkrtest(case):
    res, _ = fitted(case, "kenward-roger")
    V = pd.read_csv(FIX / "vcov.csv")
    V = V[(V.case == case) & (V.kind == "vcov_kr")]
    ref = V.pivot(index="row", columns="column", values="value")
    names = [r_name(t) for t in res.vcov.index]
    assert_allclose(res.vcov.to_numpy(), ref.loc[names, names].to_numpy(), rtol=1e-6,
                    atol=1e-12)


@pytest.mark.parametrize(("case", "method"), CASE_METHOD)
def test_type3_anova_matches_lmertest(case, method):
    res, _ = fitted(case, method)
    ref = pd.read_csv(FIX / "anova.csv")
    ref = ref[(ref.case == case) & (ref.method.map(R_DDF) == method)].set_index("term")
    ours = res.anova().set_index("term")
    assert list(ours.index) == list(ref.index)
    assert_allclose(ours["F"], ref["F"], **EST)
    assert (ours["num_df"] == ref["num_df"]).all()
    assert_allclose(ours["den_df"], ref["den_df"], **DF)
    assert_allclose(ours["p"], ref["p"], **DF)


@pytest.mark.parametrize("case", CASES)
def test_type3_hypotheses_are_lmertests(case):
    """The hypothesis matrices themselves (their basis drives the multi-df Satterthwaite df)."""
    res, _ = fitted(case, "satterthwaite")
    design = res._engine.design
    hyp = pd.read_csv(FIX / "hypotheses.csv")
    hyp = hyp[hyp.case == case]
    names = [r_name(c) for c in design.column_names]
    for term, L in type3_hypotheses(design).items():
        ref = hyp[hyp.term == term].pivot(index="row", columns="column", values="value")
        # R rounds the entries to 7 significant digits (zapsmall); ours are exact
        assert_allclose(L, ref[names].to_numpy(), atol=1e-7, err_msg=term)


def _labels(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return frame[columns].astype(str).agg("|".join, axis=1)


@pytest.mark.parametrize(("case", "method"),
                         [(c, m) for c in CASES for m in [*methods(c), "wald"]])
def test_emmeans_match_emmeans(case, method):
    res, _ = fitted(case, method)
    ref = pd.read_csv(FIX / "emmeans.csv", keep_default_na=False)
    ref = ref[(ref.case == case) & (ref.method.map(R_DDF) == method)]
    assert len(ref)
    for (spec, by), block in ref.groupby(["spec", "by"], sort=False):
        ours = res.emmeans(spec, by=by or None)
        keys = [by, spec] if by else [spec]
        ours = ours.set_index(_labels(ours, keys))
        block = block.set_index(_labels(block, keys))
        ours = ours.loc[block.index]
        for col in ("emmean", "se", "ci_low", "ci_high"):
            assert_allclose(ours[col], block[col].astype(float), **EST, err_msg=col)
        df = block["df"].replace("Inf", np.inf).astype(float)
        assert_allclose(ours["df"], df, **DF)


@pytest.mark.parametrize(("case", "method"),
                         [(c, m) for c in ["balanced", "dropout", "three_arms", "boundary", "ml"]
                          for m in [*methods(c), "wald"]])
def test_change_and_difference_of_changes_match_emmeans(case, method):
    res, _ = fitted(case, method)
    ref = pd.read_csv(FIX / "contrasts.csv")
    ref = ref[(ref.case == case) & (ref.method.map(R_DDF) == method)]
    ours = res.contrast("session", "arm")
    kind = ref.contrast.str.split("|").str[0].map({"change": "change",
                                                   "did": "difference of changes"})
    levels = ref.contrast.str.split("|").str[1]
    sessions = ref.contrast.str.split("|").str[2]
    assert list(ours.kind) == list(kind)
    assert list(ours.levels) == list(levels)
    assert list(ours.sessions) == list(sessions)
    for col in ("estimate", "se", "t"):
        assert_allclose(ours[col], ref[col].to_numpy(float), **EST, err_msg=col)
    for col in ("ci_low", "ci_high"):
        assert_allclose(ours[col] - ours["estimate"], (ref[col] - ref["estimate"]).to_numpy(),
                        **EST, err_msg=col)
    assert_allclose(ours["df"], ref["df"].replace("Inf", np.inf).to_numpy(float), **DF)
    assert_allclose(ours["p"], ref["p"].to_numpy(float), **DF)


def test_fixture_fits_warn_as_documented():
    """Exclusions warn with counts; the boundary fit warns that it is singular."""
    _, w = fitted("dropout", "satterthwaite")
    assert [c for c, _ in w] == [PainmarkersWarning]
    assert "17 row(s) of 14 subject(s) excluded" in w[0][1]
    assert "1 subject(s) left without any row" in w[0][1]
    _, w = fitted("boundary", "satterthwaite")
    assert [c for c, _ in w] == [InferenceWarning]
    assert "singular" in w[0][1]
    _, w = fitted("balanced", "satterthwaite")
    assert w == []
