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


def test_correlation_statistics_do_not_cover_points():
    x, y = np.arange(10.0), np.r_[np.zeros(9), 10.0]  # highest point in the top-right corner
    fig = plot_correlation(x, y, r=0.5, ci=(0.1, 0.8), p=0.1, xlabel="VAS", ylabel="ALFF")
    ax = fig.axes[0]
    fig.canvas.draw()
    text_box = ax.texts[0].get_window_extent()
    points = ax.transData.transform(np.c_[x, y])
    assert not any(text_box.contains(px, py) for px, py in points)
    assert text_box.y0 > points[:, 1].max()


def test_stat_map_without_suprathreshold_voxels_says_so():
    import warnings

    import nibabel as nib

    from painmarkers.reporting.plots import plot_stat_map

    img = nib.Nifti1Image(np.zeros((10, 12, 10), dtype=np.float32), np.diag([4, 4, 4, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_stat_map(img, title="alff pre - post", threshold=1e-6)
    titles = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no voxel above threshold" in t for t in titles), titles


def test_report_preformatted_text_keeps_lines():
    from painmarkers.reporting.report import HTMLReport

    rep = HTMLReport("t")
    rep.text("a <1>\n  b", preformatted=True)
    assert "<pre>a &lt;1&gt;\n  b</pre>" in rep.to_html()
