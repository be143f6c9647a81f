"""Tests of painmarkers.stats.power against pingouin, statsmodels and closed forms."""

import math

import numpy as np
import pingouin as pg
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

from painmarkers.exceptions import DataError
from painmarkers.schema import POWER_COLUMNS
from painmarkers.stats.power import power_corr, power_from_result, power_ttest

# pingouin itself triggers a pandas deprecation warning (inplace=); only that one is ignored.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")



@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
@pytest.mark.parametrize("d", [0.3, 0.8, 1.5])
def test_two_sample_vs_pingouin(d, alternative):
    res = power_ttest(effect_size=d, power=0.8, alternative=alternative)
    ref = pg.power_ttest(d=d, power=0.8, alternative=alternative)
    assert list(res.columns) == list(POWER_COLUMNS)
    np.testing.assert_allclose(res.loc[0, "n_exact"], ref, rtol=1e-4)
    assert res.loc[0, "n"] == math.ceil(ref)
    assert res.loc[0, "n_total"] == 2 * math.ceil(ref)
    achieved = power_ttest(effect_size=d, n=20, alternative=alternative)
    np.testing.assert_allclose(achieved.loc[0, "power"],
                               pg.power_ttest(d=d, n=20, alternative=alternative), rtol=1e-6)


def test_paired_vs_pingouin_and_statsmodels():
    res = power_ttest(effect_size=0.6, power=0.9, design="paired")
    np.testing.assert_allclose(res.loc[0, "n_exact"],
                               pg.power_ttest(d=0.6, power=0.9, contrast="paired"), rtol=1e-4)
    pw = power_ttest(effect_size=0.6, n=15, design="paired").loc[0, "power"]
    np.testing.assert_allclose(pw, TTestPower().power(0.6, 15, 0.05), rtol=1e-10)
    # closed form: noncentral t with nc = d sqrt(n) on n-1 df
    tc = stats.t.isf(0.025, 14)
    nc = 0.6 * np.sqrt(15)
    expected = stats.nct.sf(tc, 14, nc) + stats.nct.cdf(-tc, 14, nc)
    np.testing.assert_allclose(pw, expected, rtol=1e-8)


def test_unequal_groups_vs_pingouin():
    res = power_ttest(effect_size=0.9, n=15, ratio=10 / 15)
    np.testing.assert_allclose(res.loc[0, "power"], pg.power_ttest2n(nx=15, ny=10, d=0.9),
                               rtol=1e-6)
    np.testing.assert_allclose(res.loc[0, "n_total"], 25, rtol=1e-12)


def test_solve_effect_size():
    res = power_ttest(n=25, power=0.8)
    np.testing.assert_allclose(res.loc[0, "effect_size"],
                               TTestIndPower().solve_power(nobs1=25, power=0.8, alpha=0.05),
                               rtol=1e-6)
    r = power_corr(n=30, power=0.8)
    np.testing.assert_allclose(r.loc[0, "effect_size"], pg.power_corr(n=30, power=0.8),
                               rtol=1e-4)
    rl = power_corr(n=30, power=0.8, alternative="less")
    assert rl.loc[0, "effect_size"] < 0


def test_mpfc_vas_replication_fisher_closed_form():
    """Seed study: r = -0.54 between mPFC ALFF and VAS. n for 80 % power (two-sided)."""
    za, zb = stats.norm.isf(0.025), stats.norm.isf(0.2)
    closed = ((za + zb) / math.atanh(0.54)) ** 2 + 3
    res = power_corr(r=-0.54, power=0.8, method="fisher")
    # the closed form ignores the far tail, worth < 1e-4 in n here
    np.testing.assert_allclose(res.loc[0, "n_exact"], closed, rtol=1e-4)
    assert res.loc[0, "n"] == 25
    pwr = power_corr(r=-0.54, power=0.8)
    np.testing.assert_allclose(pwr.loc[0, "n_exact"], pg.power_corr(r=-0.54, power=0.8),
                               rtol=1e-4)
    assert pwr.loc[0, "n"] == 24


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_corr_power_vs_pingouin(alternative):
    r = -0.4 if alternative == "less" else 0.4
    ours = power_corr(r=r, n=40, alternative=alternative).loc[0, "power"]
    np.testing.assert_allclose(ours, pg.power_corr(r=r, n=40, alternative=alternative),
                               rtol=1e-10)


def test_corr_power_simulation():
    """Fisher power for r = 0.5, n = 20 matches the rejection rate of pearsonr."""
    rng = np.random.default_rng(0)
    n, r, n_sim = 20, 0.5, 4000
    x = rng.normal(size=(n_sim, n))
    y = r * x + np.sqrt(1 - r**2) * rng.normal(size=(n_sim, n))
    p = stats.pearsonr(x, y, axis=1).pvalue
    rate = np.mean(p < 0.05)
    expected = power_corr(r=r, n=n).loc[0, "power"]
    assert abs(rate - expected) < 0.03


def test_power_from_result():
    out = power_from_result({"r": -0.54, "n": 15})
    np.testing.assert_allclose(out.loc[0, "power"], pg.power_corr(r=-0.54, n=15), rtol=1e-10)
    np.testing.assert_allclose(out.loc[1, "n_exact"], pg.power_corr(r=-0.54, power=0.8),
                               rtol=1e-4)
    import pandas as pd

    frame = pd.DataFrame({"cohen_d": [1.2, 0.5], "n_x": [15, 15], "n_y": [10, 10],
                          "n": [25, 25], "method": ["Welch two-sample t-test", "paired t-test"]})
    out = power_from_result(frame, power=0.9)
    assert out["test"].tolist() == ["two-sample t-test"] * 2 + ["paired t-test"] * 2
    np.testing.assert_allclose(out.loc[0, "power"], pg.power_ttest2n(15, 10, d=1.2), rtol=1e-6)
    np.testing.assert_allclose(out.loc[3, "n_exact"],
                               pg.power_ttest(d=0.5, power=0.9, contrast="paired"), rtol=1e-4)
    assert out["source_row"].tolist() == [0, 0, 1, 1]
    with pytest.raises(DataError, match="neither an 'r' nor a 'cohen_d'"):
        power_from_result({"t": 2.0})
    with pytest.raises(DataError, match="needs 'n_x' and 'n_y'"):
        power_from_result({"cohen_d": 0.5, "n": 20, "method": "two-sample"})


def test_bad_input():
    with pytest.raises(ValueError, match="exactly two"):
        power_ttest(effect_size=0.5)
    with pytest.raises(ValueError, match="exactly two"):
        power_corr(r=0.3, n=20, power=0.8)
    with pytest.raises(ValueError, match="'power' parameter must be in"):
        power_ttest(effect_size=0.5, power=1.2)
    with pytest.raises(ValueError, match="'r' parameter must be in"):
        power_corr(r=1.0, power=0.8)
    with pytest.raises(ValueError, match="'n' parameter must be in"):
        power_corr(r=0.3, n=3)
    with pytest.raises(ValueError, match="'design' parameter"):
        power_ttest(effect_size=0.5, power=0.8, design="anova")
    with pytest.raises(ValueError, match="non-zero"):
        power_corr(r=0.0, power=0.8)
    with pytest.raises(ValueError, match="alternative='less' the effect size must be negative"):
        power_ttest(effect_size=0.5, power=0.8, alternative="less")
    with pytest.raises(ValueError, match=r"correlation must be positive; got r=-0\.3"):
        power_corr(r=-0.3, power=0.8, alternative="greater")
