"""Figure helpers: content checks that do not depend on pixels.

Partial correlations are drawn on residuals: the Pearson correlation of the plotted
points must equal the partial r that pingouin computes directly (and statsmodels'
OLS residuals), and the caption must name every covariate.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from painmarkers.reporting import correlation_caption, plot_correlation, residualise


def _points(fig):
    return np.asarray(fig.axes[0].collections[0].get_offsets())


def test_correlation_statistics_inside_axes_not_clipped_title():
    x = np.arange(10.0)
    fig = plot_correlation(x, 2 * x + np.tile([0.5, -0.5], 5), r=0.61, ci=(0.1, 0.9),
                           p=0.012, xlabel="VAS", ylabel="ALFF")
    ax = fig.axes[0]
    assert ax.get_title() == ""
    text = ax.texts[0].get_text()
    assert text == "r = 0.61, 95% CI [0.10, 0.90], p = .012, n = 10"
    fig2 = plot_correlation(x, x[::-1], title="mPFC", p=0.0002)
    assert fig2.axes[0].get_title() == "mPFC"
    assert fig2.axes[0].texts[0].get_text() == "p < .001, n = 10"
    plt.close("all")


def test_correlation_statistics_do_not_cover_points():
    x, y = np.arange(10.0), np.r_[np.zeros(9), 10.0]  # highest point in the top-right corner
    fig = plot_correlation(x, y, r=0.5, ci=(0.1, 0.8), p=0.1, xlabel="VAS", ylabel="ALFF")
    ax = fig.axes[0]
    fig.canvas.draw()
    text_box = ax.texts[0].get_window_extent()
    points = ax.transData.transform(np.c_[x, y])
    assert not any(text_box.contains(px, py) for px, py in points)
    assert text_box.y0 > points[:, 1].max()
    plt.close(fig)


def _cohort(seed=0, n=30):
    rng = np.random.default_rng(seed)
    age = rng.normal(45, 10, n)
    sex = rng.integers(0, 2, n).astype(float)
    vas = 0.08 * age + rng.normal(0, 1, n)
    alff = 0.02 * age - 0.1 * sex + 0.05 * vas + rng.normal(0, 0.1, n)
    return pd.DataFrame({"VAS": vas, "ALFF": alff, "age": age, "sex": sex})


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_partial_correlation_is_drawn_on_residuals(method):
    import pingouin as pg

    data = _cohort()
    ref = pg.partial_corr(data=data, x="VAS", y="ALFF", covar=["age", "sex"], method=method)
    r = float(ref["r"].iloc[0])
    fig = plot_correlation(data["VAS"], data["ALFF"], r=r, xlabel="VAS (cm)", ylabel="ALFF",
                           method=method, covariates=data[["age", "sex"]])
    pts = _points(fig)
    assert len(pts) == len(data)
    np.testing.assert_allclose(np.corrcoef(pts.T)[0, 1], r, rtol=1e-10, atol=1e-12)
    raw = np.corrcoef(data["VAS"], data["ALFF"])[0, 1]
    assert abs(raw - r) > 0.05  # the raw scatter would have shown a different association
    ax = fig.axes[0]
    what = "rank residual" if method == "spearman" else "residual"
    assert ax.get_xlabel() == f"VAS (cm) ({what}, adjusted for age and sex)"
    assert ax.get_ylabel() == f"ALFF ({what}, adjusted for age and sex)"
    symbol = "r" if method == "pearson" else "ρ"
    assert ax.texts[0].get_text().startswith(f"partial {symbol} = {r:.2f}")
    # zero lines of the residual axes, plus the least-squares line for Pearson only
    assert len(ax.lines) == (3 if method == "pearson" else 2)
    plt.close(fig)


def test_residuals_equal_statsmodels_ols_residuals():
    import statsmodels.api as sm

    data = _cohort(1)
    expected = sm.OLS(data["ALFF"], sm.add_constant(data[["age", "sex"]])).fit().resid
    np.testing.assert_allclose(residualise(data["ALFF"], data[["age", "sex"]]), expected,
                               rtol=1e-10, atol=1e-12)


def test_missing_covariate_drops_the_point():
    data = _cohort(2)
    data.loc[3, "age"] = np.nan
    fig = plot_correlation(data["VAS"], data["ALFF"], covariates=data[["age"]])
    assert len(_points(fig)) == len(data) - 1
    assert fig.axes[0].texts[0].get_text() == f"n = {len(data) - 1}"
    plt.close(fig)
    with pytest.raises(ValueError, match="'covariates' has 2 rows for 30 values"):
        plot_correlation(data["VAS"], data["ALFF"], covariates=np.ones((2, 1)))


def test_without_covariates_raw_values_are_drawn():
    data = _cohort(3)
    fig = plot_correlation(data["VAS"], data["ALFF"], xlabel="VAS", ylabel="ALFF")
    np.testing.assert_allclose(_points(fig), data[["VAS", "ALFF"]].to_numpy())
    assert fig.axes[0].get_xlabel() == "VAS"
    plt.close(fig)


@pytest.mark.parametrize("covariates", [[], ["age"], ["age", "sex"]])
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_caption_states_covariates_and_what_is_plotted(covariates, method):
    cap = correlation_caption("VAS (cm)", "ALFF (mPFC)", method=method, covariates=covariates,
                              n=15, where="CLBP, pre")
    assert "(CLBP, pre, n = 15)" in cap and method.capitalize() in cap
    if covariates:
        assert cap.startswith("Partial") and "residuals" in cap and "raw values" not in cap
        for c in covariates:
            assert c in cap
        assert ("ranks" in cap) == (method == "spearman")
    else:
        assert "raw values" in cap and "residual" not in cap and "Partial" not in cap
    assert ("least-squares fit" in cap) == (method == "pearson")


def test_stat_map_importable_from_plots():
    from painmarkers.reporting.brain import plot_stat_map as brain_version
    from painmarkers.reporting.plots import plot_stat_map

    assert plot_stat_map is brain_version
