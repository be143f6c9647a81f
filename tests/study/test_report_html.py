"""The HTML report is self-contained and renders in a browser."""

import numpy as np
import pandas as pd
import pytest

from painmarkers.reporting.plots import plot_correlation
from painmarkers.reporting.report import HTMLReport, write_atomic


def test_write_atomic_leaves_no_temp_files(tmp_path):
    path = write_atomic(tmp_path / "sub" / "a.txt", "hello")
    assert path.read_text() == "hello"
    write_atomic(path, b"bytes")
    assert path.read_bytes() == b"bytes"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_report_is_self_contained(tmp_path):
    rep = HTMLReport("T <1>")
    rep.section("S & T")
    rep.text("a < b")
    rep.table(pd.DataFrame({"x": [1.23456, np.nan], "p": [1e-6, 0.5]}), caption="c")
    fig = plot_correlation([1, 2, 3, 4], [2, 1, 4, 3], r=0.6, p=0.4, xlabel="VAS", ylabel="ALFF")
    rep.figure(fig, caption="scatter")
    html = rep.to_html()
    assert "T &lt;1&gt;" in html and "a &lt; b" in html and "S &amp; T" in html
    assert "1.23e-06" not in html and "1.00e-06" in html and "1.235" in html
    assert "http" not in html.replace("http-equiv", "")  # no external resource
    assert html.count("data:image/png;base64,") == 1
    with pytest.raises(ValueError, match="expects PNG"):
        rep.figure(b"GIF89a")


@pytest.mark.browser
def test_report_renders_in_chromium(tmp_path, page_checker):
    rep = HTMLReport("browser check")
    rep.text("hello")
    rep.figure(plot_correlation([1, 2, 3], [3, 1, 2]), caption="fig")
    path = rep.save(tmp_path / "report.html")
    page = page_checker(path)
    assert page.title == "browser check"
    assert page.console_errors == []
    assert page.n_images == 1 and page.broken_images == []


def test_report_labels_measures_readably():
    from painmarkers.study._analyses import _label

    assert _label("alff__mPFC") == "ALFF (mPFC)"
    assert _label("falff__INS_L") == "fALFF (INS_L)"
    assert _label("seed_fc_postcentral_L__SFG_L") == "FC postcentral_L - SFG_L"
    assert _label("VAS") == "VAS" and _label(3.0) == 3.0
