"""Numbers as a journal prints them; tables exported as TSV, CSV, Markdown and LaTeX."""

import numpy as np
import pandas as pd
import pytest

from painmarkers.reporting import (
    column_kind,
    export_table,
    format_frame,
    format_number,
    format_p,
    to_latex,
    to_markdown,
)
from painmarkers.reporting.formatting import MISSING


@pytest.mark.parametrize("p, expected", [
    (0.0123, ".012"), (0.05, ".050"), (0.5, ".500"), (0.001, ".001"), (0.000999, "< .001"),
    (1e-12, "< .001"), (0.0, "< .001"), (0.9994, ".999"), (0.9996, "> .999"), (1.0, "> .999"),
    (np.nan, MISSING), (None, MISSING),
])
def test_p_in_apa_style(p, expected):
    assert format_p(p) == expected


def test_p_decimals_and_range():
    assert format_p(0.0123, 2) == ".01" and format_p(0.004, 2) == "< .01"
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        format_p(1.5)
    with pytest.raises(ValueError, match="decimals"):
        format_p(0.1, 0)


@pytest.mark.parametrize("x, kind, expected", [
    (14.0, "df", "14"), (27.4321, "df", "27.4"), (15.0, "int", "15"), (np.int64(3), "int", "3"),
    (-47.0, "coord", "-47"), (-0.4, "coord", "0"), (10.6, "coord", "11"),
    (3.14159, "float", "3.14"), (-6.8, "float", "-6.80"), (0.0123, "float", "0.012"),
    (-0.00041, "float", "-0.00041"), (-0.001, "float", "-0.0010"), (0.5, "float", "0.50"),
    (-0.0001, "float", "-0.00010"), (1234.5678, "float", "1234.57"), (np.inf, "float", MISSING),
    (True, "bool", "yes"), ("text", "float", "text"),
])
def test_numbers(x, kind, expected):
    assert format_number(x, kind=kind) == expected


def test_no_negative_zero():
    assert format_number(-0.0) == "0.00" and format_number(-1e-300) != "-0.00"


@pytest.mark.parametrize("name, kind", [
    ("p", "p"), ("p_adjusted", "p"), ("p_cluster", "p"), ("p (HC)", "p"), ("p (adjusted)", "p"),
    ("p (cluster, FWE)", "p"), ("permutation_p", "p"), ("pre_mean", "float"),
    ("post", "float"), ("percent_mean", "float"), ("peak_stat", "float"),
    ("peak_mni_x", "coord"), ("com_mni_z", "coord"), ("MNI y", "coord"), ("centre_x", "coord"),
    ("n", "int"), ("n_excluded", "int"), ("age_n", "int"), ("size_voxels", "int"),
    ("size_mm3", "int"), ("volume (mm³)", "int"), ("cluster_id", "int"), ("df", "df"),
    ("t", "float"), ("statistic", "float"), ("r", "float"), ("cohen_d", "float"),
    ("peak_z", "float"), ("peak z", "float"), ("peak t", "float"), ("z", "float"),
])
def test_column_kinds(name, kind):
    assert column_kind(name) == kind


def test_paired_ttest_frame_as_printed():
    """A real result frame (scipy-checked paired t-test): df and n as integers, APA p."""
    from scipy import stats

    from painmarkers.stats import paired_ttest

    pre = np.array([7.0, 8.0, 6.5, 7.5, 8.5, 7.0, 6.0, 9.0, 7.5, 8.0, 7.0, 6.5, 8.0, 7.5, 7.0])
    post = pre - np.array([3.0, 2.5, 2.0, 3.5, 2.0, 2.5, 3.0, 2.0, 3.0, 2.5, 2.0, 3.0, 2.5, 3.0,
                           2.0])
    df = pd.DataFrame({"subject_id": [f"{i:02d}" for i in range(15)] * 2,
                       "session": ["pre"] * 15 + ["post"] * 15, "VAS": np.r_[pre, post]})
    res = paired_ttest(df, "VAS", pre="pre", post="post")
    ref = stats.ttest_rel(pre, post)
    assert res["statistic"].iloc[0] == pytest.approx(ref.statistic, rel=1e-12)
    shown = format_frame(res[["n", "statistic", "df", "p"]]).iloc[0]
    assert shown.tolist() == ["15", f"{ref.statistic:.2f}", "14", "< .001"]
    assert "14.000" not in to_markdown(res[["n", "df"]])


def test_format_frame_keeps_text_and_overrides():
    frame = pd.DataFrame({"roi": ["INS_L", None], "t (HC)": [3.891, 5.0], "p (HC)": [0.02, 0.5],
                          "MNI x": [-47.0, 46.0], "significant": [True, False]})
    out = format_frame(frame)
    assert out.to_dict("list") == {"roi": ["INS_L", MISSING], "t (HC)": ["3.89", "5.00"],
                                   "p (HC)": [".020", ".500"], "MNI x": ["-47", "46"],
                                   "significant": ["yes", "no"]}
    assert format_frame(frame, kinds={"MNI x": "float"})["MNI x"].tolist() == ["-47.00", "46.00"]
    with pytest.raises(ValueError, match=r"kinds\['t \(HC\)'\]"):
        format_frame(frame, kinds={"t (HC)": "percent"})


def _parse_markdown(text):
    lines = text.splitlines()
    cells = [[c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
             for line in lines]
    return cells[0], lines[1], cells[2:]


def test_markdown_holds_the_formatted_cells():
    frame = pd.DataFrame({"roi": ["INS_L", "a|b"], "n": [15.0, 14.0], "t": [5.4412, -0.5],
                          "p": [0.0004, 0.61]})
    header, rule, rows = _parse_markdown(to_markdown(frame))
    assert header == ["roi", "n", "t", "p"]
    assert rows == format_frame(frame).to_numpy().tolist()
    assert rule.split("|")[1].startswith(":") and rule.split("|")[2].endswith(":")  # l, r
    widths = {len(line) for line in to_markdown(frame).splitlines()}
    assert len(widths) == 1  # aligned columns


def test_latex_is_escaped_and_booktabs():
    frame = pd.DataFrame({"ROI": ["INS_L"], "mean ± SD": ["7.25±0.99"], "p": [0.0004],
                          "volume (mm³)": [2432.0]})
    tex = to_latex(frame, caption="Table 2. 50 % & more", label="tab:2")
    assert r"\caption{Table 2. 50 \% \& more}" in tex and r"\label{tab:2}" in tex
    assert r"INS\_L & 7.25$\pm$0.99 & $<$ .001 & 2432 \\" in tex
    assert r"mean $\pm$ SD" in tex and r"volume (mm$^{3}$)" in tex
    assert r"\begin{tabular}{llrr}" in tex
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    assert all(ord(ch) < 128 for ch in tex)  # pdfLaTeX-safe


def test_export_table_round_trips_full_precision(tmp_path):
    frame = pd.DataFrame({"dv": ["alff__INS_L", "alff__mPFC"], "n": [15, 15],
                          "statistic": [6.801234567891, -2.1], "df": [14.0, 14.0],
                          "p": [1.234567e-7, np.nan]})
    out = export_table(frame, tmp_path / "t2", caption="Paired t-tests")
    assert sorted(out) == ["csv", "md", "tex", "tsv"]
    tsv = pd.read_csv(out["tsv"], sep="\t", na_values="n/a")
    csv = pd.read_csv(out["csv"])
    for back in (tsv, csv):
        pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert "n/a" in out["tsv"].read_text() and "n/a" not in out["csv"].read_text()
    md = out["md"].read_text()
    assert "< .001" in md and "6.80" in md and "14.0" not in md and MISSING in md
    assert r"\caption{Paired t-tests}" in out["tex"].read_text()
    shown = pd.DataFrame({"ROI": ["INS (L)"]})
    only_md = export_table(frame, tmp_path / "t3", formats="md", shown=shown)
    assert list(only_md) == ["md"] and "INS (L)" in only_md["md"].read_text()
    with pytest.raises(ValueError, match="'formats' parameter"):
        export_table(frame, tmp_path / "x", formats=["xlsx"])
