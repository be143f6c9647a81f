"""The HTML report is self-contained, readable at 1280 px and states what it shows.

Two levels: an HTMLReport built by hand (escaping, number formatting, folded text,
figures embedded) and a small simulated study run end to end, whose report is opened
in headless Chromium (no console error, every image decodes, nothing wider than a
1280-pixel window, also after the file is moved), whose figures exist as PNG, SVG and
PDF with slices inside the brain mask, whose tables are exported and formatted, and
whose captions agree with the covariates of the analyses.
"""

import html
import re
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers.reporting.plots import plot_correlation
from painmarkers.reporting.report import HTMLReport, write_atomic


def _text(page: str) -> str:
    page = re.sub(r'src="data:image/[^"]+"', "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


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
    rep.table(pd.DataFrame({"x": [1.23456, np.nan], "df": [14.0, 13.0], "p": [1e-6, 0.5],
                            "MNI x": [-47.0, 3.0]}), caption="c")
    fig = plot_correlation([1, 2, 3, 4], [2, 1, 4, 3], r=0.6, p=0.4, xlabel="VAS", ylabel="ALFF")
    rep.figure(fig, caption="scatter")
    page = rep.to_html()
    assert "T &lt;1&gt;" in page and "a &lt; b" in page and "S &amp; T" in page
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page)
    assert cells == ["1.23", "14", "&lt; .001", "-47", "—", "13", ".500", "3"]
    assert "http" not in page.replace("http-equiv", "")  # no external resource
    assert "<script" not in page and "<link" not in page
    assert page.count("data:image/png;base64,") == 1
    assert "Figure 1. scatter" in page
    with pytest.raises(ValueError, match="expects PNG or SVG"):
        rep.figure(b"GIF89a")


def test_folded_text_warnings_paragraphs_and_svg():
    rep = HTMLReport("t")
    rep.text("a <1>\n  b", preformatted=True, summary="GLM summary")
    rep.text("first\n\nsecond", note=True)
    rep.text("check this", warning=True)
    rep.figure(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', caption="s",
               number=False)
    page = rep.to_html()
    assert "<details><summary>GLM summary</summary><pre>a &lt;1&gt;\n  b</pre></details>" in page
    assert '<p class="note">first</p><p class="note">second</p>' in page
    assert '<p class="warning">check this</p>' in page
    assert "data:image/svg+xml;base64," in page and "Figure" not in _text(page)


def test_highlighted_rows_and_breakable_labels():
    rep = HTMLReport("t")
    frame = pd.DataFrame({"label": ["Right_Lateral_Occipital_Cortex", "b"], "n": [3, 4]})
    rep.table(frame, highlight=[True, False])
    page = rep.to_html()
    assert page.count('<tr class="flag">') == 1
    assert "Right_<wbr>Lateral_<wbr>Occipital_<wbr>Cortex" in page
    with pytest.raises(ValueError, match="2 rows"):
        rep.table(frame, highlight=[True])


@pytest.mark.browser
def test_hand_built_report_fits_1280_pixels(tmp_path, page_checker):
    rep = HTMLReport("browser check")
    rep.text("hello " + "x" * 400)  # one long word
    rep.text("line " * 30 + "y" * 300, preformatted=True)
    wide = pd.DataFrame({f"column_{i}_with_a_long_name": [1.23456789 * i, np.nan]
                         for i in range(24)})
    rep.table(wide, caption="a_caption_with_a_very_long_file_name_" * 5)
    rep.table(pd.DataFrame({"label": ["Right_Lateral_Occipital_Cortex_superior_division" * 3]}))
    rep.figure(plot_correlation([1, 2, 3], [3, 1, 2]), caption="fig")
    path = rep.save(tmp_path / "report.html")
    page = page_checker(path, width=1280, overflow=True)
    assert page.title == "browser check"
    assert page.console_errors == []
    assert page.n_images == 1 and page.broken_images == []
    assert page.script_result["wide"] == [], page.script_result
    assert page.script_result["scroll"] <= page.script_result["vw"]


# -- a small study, run end to end ----------------------------------------------------------
SPEC = """
random_state = 2

[study]
name = "report check"
dataset = "bids"
derivatives = ["bids/derivatives/fmriprep"]
output = "results"
task = "rest"

[[extractors]]
name = "alff"
band = [0.01, 0.08]
standardize = "mean"

[rois]                  # one ROI too small for the 8 mm grid, two large ones
spheres = [
  { name = "INS_L", center = [-47, 11, -5], radius_mm = 3 },
  { name = "THA_R", center = [9, -6, 15], radius_mm = 12 },
  { name = "mPFC", center = [1, 55, -3], radius_mm = 12 },
]

[[analyses]]
type = "demographics"
name = "table1"

[[analyses]]
type = "roi_table"
name = "table3"
feature = "alff"
mu = 1.0
columns = [
  { label = "HC", levels = "HC", sessions = "baseline" },
  { label = "pre", levels = "CLBP", sessions = "pre" },
]

[[analyses]]
type = "group_maps"
name = "figure3"
feature = "alff"
rois = ["THA_R", "mPFC"]
columns = [
  { label = "HC", levels = "HC", sessions = "baseline" },
  { label = "pre", levels = "CLBP", sessions = "pre" },
]

[[analyses]]
type = "paired_ttest"
name = "roi_paired"
dv = "alff"
levels = "CLBP"

[[analyses]]
type = "correlation"
name = "vas_partial"
x = "VAS"
y = "alff"
levels = "CLBP"
sessions = "pre"
covariates = ["age"]

[[analyses]]
type = "correlation"
name = "vas_plain"
x = "VAS"
y = "alff"
levels = "CLBP"
sessions = "post"

[[analyses]]
type = "voxelwise"
name = "vox_paired"
feature = "alff"
design = "paired"
levels = "CLBP"
sessions = ["pre", "post"]
voxel_p = 0.01
correction = ["grf"]
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from painmarkers.datasets import simulate_cohort
    from painmarkers.study import load_spec, run_study

    root = tmp_path_factory.mktemp("report")
    simulate_cohort("rtms_alff_clbp", root / "bids", resolution_mm=8, n_volumes=64, n_clbp=7,
                    n_hc=3, random_state=5)
    (root / "study.toml").write_text(SPEC)
    result = run_study(load_spec(root / "study.toml"), progress=False)
    return result


def test_study_figures_exist_as_png_svg_pdf(study):
    assert len(study.figures) >= 6
    for name, png in study.figures.items():
        for ext, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
            assert png.with_suffix(f".{ext}").read_bytes()[:len(magic)] == magic, (name, ext)


def test_study_tables_exported_and_formatted(study):
    tables = study.out_dir / "tables"
    for name in ("roi_paired", "vas_partial", "vox_paired_grf_clusters", "rois"):
        for ext in ("tsv", "csv", "md", "tex"):
            assert (tables / f"{name}.{ext}").is_file(), (name, ext)
    numeric = pd.read_csv(tables / "roi_paired.tsv", sep="\t")
    lines = (tables / "roi_paired.md").read_text().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    md = pd.DataFrame(rows, columns=header)
    assert md["measure"].tolist() == ["ALFF (INS_L)", "ALFF (THA_R)", "ALFF (mPFC)"]
    assert md["df"].tolist() == [str(int(v)) for v in numeric["df"]]  # "6", not "6.000"
    assert md["n"].tolist() == [str(int(v)) for v in numeric["n"]]
    assert all(re.fullmatch(r"< \.001|> \.999|\.\d{3}", v) for v in md["p"]), md["p"]
    assert md["t"].tolist() == [f"{v:.2f}" for v in numeric["statistic"]]
    assert r"\begin{tabular}" in (tables / "roi_paired.tex").read_text()
    page = study.report_path.read_text()
    text = _text(page)
    assert re.search(r"\b\d+\.000\b", text) is None  # no integer printed with decimals
    clusters = pd.read_csv(tables / "vox_paired_grf_clusters.tsv", sep="\t")
    sig = clusters[clusters["significant"]]
    assert len(sig) >= 1  # random_state = 2 gives one significant cluster
    # the report's cluster table: coordinates as integers, in mm
    lines = (tables / "vox_paired_grf_clusters.md").read_text().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    first = [c.strip() for c in lines[2].strip("|").split("|")]
    row = dict(zip(header, first, strict=True))
    assert row["MNI x"] == f"{sig['peak_mni_x'].iloc[0]:.0f}"
    assert row["voxels"] == str(int(sig["size_voxels"].iloc[0]))
    assert row["peak z"] == f"{sig['peak_z'].iloc[0]:.2f}"  # a z score, not a coordinate
    assert re.search(r"volume \(mm³\)", text) and "tissue at peak" in text
    # ROI sizes: the table of ROIs, highlighted rows and the warning
    rois = pd.read_csv(tables / "rois.tsv", sep="\t")
    assert (rois["volume_mm3"] == rois["n_voxels"] * 512).all()  # 8 mm voxels
    assert rois["small"].any() and page.count('<tr class="flag">') >= int(rois["small"].sum())
    assert "smaller than 4 voxels on the analysis grid (8x8x8 mm voxels)" in text


def test_study_captions_agree_with_covariates(study):
    page = study.report_path.read_text()
    text = _text(page)
    captions = [html.unescape(c) for c in re.findall(r"<figcaption>(.*?)</figcaption>", page)]
    partial = [c for c in captions if "VAS" in c and "(CLBP, pre" in c]
    plain = [c for c in captions if "VAS" in c and "(CLBP, post" in c]
    assert len(partial) == 2 and len(plain) == 2  # the two strongest ROIs of each
    for cap in partial:
        assert re.match(r"Figure \d+\. Partial Pearson correlation", cap), cap
        assert "adjusted for age" in cap and "residuals" in cap and "raw values" not in cap
    for cap in plain:
        assert re.match(r"Figure \d+\. Pearson correlation", cap), cap
        assert "raw values" in cap and "adjusted" not in cap and "residual" not in cap
    assert "Partial Pearson correlations adjusted for age" in text  # the table caption
    assert "Correlations of VAS with ALFF (pre) adjusted for age" in text  # section title
    prov = __import__("json").loads(study.provenance_path.read_text())
    rec = next(a for a in prov["analyses"] if a["name"] == "vas_partial")
    assert rec["params"]["covariates"] == ["age"]
    table = pd.read_csv(study.tables["vas_partial"], sep="\t")
    assert (table["covariates"] == "age").all()


def test_study_partial_scatter_is_on_residuals(study):
    """The residual scatter the report draws has the partial r of the table (pingouin)."""
    import pingouin as pg

    from painmarkers.reporting import residualise

    table = pd.read_csv(study.tables["vas_partial"], sep="\t")
    wide = study.cohort.select(levels="CLBP").wide()
    wide = wide[wide["session"] == "pre"]
    row = table.iloc[0]
    sub = wide[[row["x"], row["y"], "age"]].dropna().astype(float)
    ref = pg.partial_corr(data=sub, x=row["x"], y=row["y"], covar=["age"])
    rx = residualise(sub[row["x"]], sub[["age"]])
    ry = residualise(sub[row["y"]], sub[["age"]])
    np.testing.assert_allclose(np.corrcoef(rx, ry)[0, 1], row["r"], rtol=1e-8)
    np.testing.assert_allclose(float(ref["r"].iloc[0]), row["r"], rtol=1e-10)


def test_study_brain_slices_lie_inside_the_mask(study):
    mask_img = nib.load(study.out_dir / "maps" / "vox_paired" / "glm" / "mask.nii.gz")
    ijk = np.argwhere(np.asarray(mask_img.dataobj) > 0)
    z = (mask_img.affine[:3, :3] @ ijk.T + mask_img.affine[:3, 3:4])[2]
    checked = 0
    for name, png in study.figures.items():
        if (name.startswith("vox_paired_grf") and not name.endswith("glass")) or \
                name == "figure3":
            svg = png.with_suffix(".svg").read_text()
            cuts = [float(v) for v in re.findall(r">z=(-?\d+(?:\.\d+)?)<", svg)]
            assert cuts, name
            assert all(z.min() <= c <= z.max() for c in cuts), (name, cuts, z.min(), z.max())
            checked += 1
    assert checked == 2


def test_study_methods_and_report_have_no_reprs(study, repr_checker):
    repr_checker(study.report_path.read_text())


def test_study_grf_smoothness_warning_points_to_permutation(study):
    prov = __import__("json").loads(study.provenance_path.read_text())
    rec = next(a for a in prov["analyses"] if a["name"] == "vox_paired")
    assert np.prod(rec["fwhm_voxels"]) ** (1 / 3) < 2  # 8 mm voxels: a rough field
    assert any("below 2 voxels" in w and "permutation_cluster_correct" in w
               for w in rec["warnings"])
    page = study.report_path.read_text()
    assert re.search(r'<p class="warning">Warning: The estimated smoothness is FWHM', page)


@pytest.mark.browser
def test_study_report_in_chromium_also_after_moving(study, tmp_path, page_checker):
    page = page_checker(study.report_path, width=1280, overflow=True)
    assert page.console_errors == []
    assert page.n_images == len(study.figures) and page.broken_images == []
    assert page.script_result["wide"] == [], page.script_result
    # text running out of its box (an unwrapped <pre>) widens the page, not the box
    assert page.script_result["scroll"] <= page.script_result["vw"], page.script_result
    moved = tmp_path / "elsewhere" / "report.html"
    moved.parent.mkdir()
    shutil.copy(study.report_path, moved)  # the report alone, without its folder
    again = page_checker(moved, width=1280)
    assert again.console_errors == [] and again.broken_images == []
    assert again.n_images == page.n_images


def test_report_labels_measures_readably():
    from painmarkers.study._analyses import _label

    assert _label("alff__mPFC") == "ALFF (mPFC)"
    assert _label("falff__INS_L") == "fALFF (INS_L)"
    assert _label("seed_fc_postcentral_L__SFG_L") == "FC postcentral_L - SFG_L"
    assert _label("VAS") == "VAS" and _label(3.0) == 3.0
