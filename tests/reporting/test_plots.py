"""Figure helpers: content checks that do not depend on pixels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from painmarkers.reporting.plots import plot_correlation


def test_correlation_statistics_inside_axes_not_clipped_title():
    x = np.arange(10.0)
    fig = plot_correlation(x, 2 * x + np.tile([0.5, -0.5], 5), r=0.61, ci=(0.1, 0.9),
                           p=0.012, xlabel="VAS", ylabel="ALFF")
    ax = fig.axes[0]
    assert ax.get_title() == ""
    text = ax.texts[0].get_text()
    assert text == "r = 0.61, 95% CI [0.10, 0.90], p = 0.012, n = 10"
    fig2 = plot_correlation(x, x[::-1], title="mPFC")
    assert fig2.axes[0].get_title() == "mPFC"
    assert fig2.axes[0].texts[0].get_text() == "n = 10"
    plt.close("all")
