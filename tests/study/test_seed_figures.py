"""The seed-figure analyses (group_maps, group_plot, composite_correlation,
seed_comparison) on the tiny simulated study, each checked against numbers computed
here with numpy/scipy from the files the run wrote; and the spec keys they rely on
(masks, named atlas regions, seeds by ROI name, cite)."""

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from painmarkers.exceptions import SpecError
from painmarkers.study import check_study, load_spec, parse_spec, run_study

SPEC = """
random_state = 2

[study]
name = "seed figures"
dataset = "bids"
derivatives = ["bids/derivatives/fmriprep"]
output = "results"
task = "rest"

[[extractors]]
name = "alff"
band = [0.01, 0.08]
standardize = "mean"

[rois]
spheres = [
  { name = "INS_L", center = [-47, 11, -5], radius_mm = 8 },
  { name = "mPFC", center = [1, 55, -3], radius_mm = 8 },
]
atlas_regions = [{ atlas = "aal", label = "Precuneus_L", name = "precuneus_L" }]
masks = [{ name = "box", path = "box.nii.gz" }]

[[analyses]]
type = "group_maps"
name = "alff_means"
feature = "alff"
columns = [
  { label = "HC", levels = "HC", sessions = "baseline" },
  { label = "CLBP pre", levels = "CLBP", sessions = "pre" },
]
rois = ["INS_L", "precuneus_L"]
units = "mALFF"
cite = "Masoumbeigi et al., Figure 3"

[[analyses]]
type = "group_plot"
name = "alff_by_group"
dv = ["alff__INS_L", "alff__mPFC"]
levels = ["CLBP", "HC"]
sessions = { CLBP = "pre", HC = "baseline" }
units = "mALFF"

[[analyses]]
type = "composite_correlation"
name = "composite"
x = ["alff__INS_L", "alff__mPFC"]
y = ["alff__precuneus_L", "alff__box"]
x_label = "mean ALFF of INS_L and mPFC"
y_label = "mean ALFF of precuneus_L and box"
levels = "CLBP"
sessions = "pre"
cite = "a made-up Figure 9"

[[analyses]]
type = "two_sample_ttest"
name = "roi_ttest"
dv = "alff"
levels = ["CLBP", "HC"]
sessions = { CLBP = "pre", HC = "baseline" }

[[analyses]]
type = "voxelwise"
name = "vox"
feature = "alff"
design = "one_sample"
levels = "CLBP"
sessions = "pre"
voxel_p = 0.001
correction = ["grf"]

[[analyses]]
type = "seed_comparison"
name = "compare"
source = "a paper"

[[analyses.rows]]
finding = "INS_L higher"
published = "t = 3"
table = "roi_ttest"
where = { dv = "alff__INS_L" }
show = ["statistic", "p"]

[[analyses.rows]]
finding = "absent ROI"
published = "t = 9"
table = "roi_ttest"
where = { dv = "alff__nowhere" }
show = ["statistic"]

[[analyses.rows]]
finding = "a scale not simulated"
published = "r = 0.5"
note = "no such scale here"

[[analyses.rows]]
finding = "a cluster in the box"
published = "P < 0.001"
table = "vox_grf_clusters"
overlaps = "box"
show = ["size_voxels"]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_bids):
    root = tmp_path_factory.mktemp("seedfig")
    shutil.copytree(tiny_bids, root / "bids")
    mask_path = next((root / "bids").rglob("*desc-brain_mask.nii.gz"))
    brain = nib.load(mask_path)
    box = np.zeros(brain.shape, np.uint8)
    i, j, k = (s // 2 for s in brain.shape)
    box[i - 2:i + 2, j - 2:j + 2, k - 2:k + 2] = 1  # 64 central voxels of the 8 mm grid
    nib.save(nib.Nifti1Image(box, brain.affine), root / "box.nii.gz")
    (root / "study.toml").write_text(SPEC)
    result = run_study(load_spec(root / "study.toml"), progress=False)
    return root, result


def _wide(result):
    return result.cohort.wide()


def test_group_maps_are_the_voxelwise_means_of_the_sessions_maps(run):
    root, result = run
    cohort = result.cohort
    for label, group, session in (("HC", "HC", "baseline"), ("CLBP_pre", "CLBP", "pre")):
        paths = [ses.images["alff"] for sub, ses in cohort.iter_sessions()
                 if sub.group == group and ses.label == session]
        expected = np.mean([nib.load(p).get_fdata() for p in paths], axis=0)
        written = nib.load(root / "results" / "maps" / "alff_means" / f"{label}_mean.nii.gz")
        brain = nib.load(next((root / "bids").rglob("*desc-brain_mask.nii.gz"))).get_fdata() > 0
        np.testing.assert_allclose(written.get_fdata()[brain], expected[brain], rtol=1e-6,
                                   atol=1e-6)
    table = pd.read_csv(result.tables["alff_means"], sep="\t")
    assert list(table.columns) == ["map", "INS_L", "precuneus_L"]
    assert "alff_means" in result.figures
    html = result.report_path.read_text()
    assert "cf. Masoumbeigi et al., Figure 3" in html and "axial slices at MNI z =" in html


def test_group_plot_annotates_scipys_student_t(run):
    _, result = run
    wide = _wide(result)
    table = pd.read_csv(result.tables["alff_by_group"], sep="\t").set_index("dv")
    for dv in ("alff__INS_L", "alff__mPFC"):
        clbp = wide[(wide.group == "CLBP") & (wide.session == "pre")][dv]
        hc = wide[(wide.group == "HC") & (wide.session == "baseline")][dv]
        expected = stats.ttest_ind(clbp, hc)
        np.testing.assert_allclose(table.loc[dv, "statistic"], expected.statistic, rtol=1e-10)
        np.testing.assert_allclose(table.loc[dv, "p"], expected.pvalue, rtol=1e-8)
    assert "alff_by_group" in result.figures
    assert "one point per subject, black = mean with its 95 % CI" in (
        result.report_path.read_text())


def test_composite_correlation_is_pearson_of_the_per_subject_means(run, repr_checker):
    _, result = run
    wide = _wide(result)
    rows = wide[(wide.group == "CLBP") & (wide.session == "pre")]
    x = rows[["alff__INS_L", "alff__mPFC"]].mean(axis=1)
    y = rows[["alff__precuneus_L", "alff__box"]].mean(axis=1)
    r, p = stats.pearsonr(x, y)
    table = pd.read_csv(result.tables["composite"], sep="\t")
    assert len(table) == 1
    np.testing.assert_allclose(table.loc[0, "r"], r, rtol=1e-10)
    np.testing.assert_allclose(table.loc[0, "p"], p, rtol=1e-8)
    assert table.loc[0, "n"] == len(rows) and table.loc[0, "n_excluded"] == 0
    assert table.loc[0, "x"] == "mean ALFF of INS_L and mPFC"
    html = result.report_path.read_text()
    assert "cf. a made-up Figure 9" in html
    # the columns averaged (and every other caption) are named in words, not as reprs
    repr_checker(html)
    assert "x = mean of ALFF (INS_L) and ALFF (mPFC); y = mean of" in html


def test_seed_comparison_reads_the_earlier_table_and_says_what_is_missing(run):
    root, result = run
    table = pd.read_csv(result.tables["compare"], sep="\t", keep_default_na=False)
    ttest = pd.read_csv(result.tables["roi_ttest"], sep="\t").set_index("dv")
    first = table.iloc[0]
    t = ttest.loc["alff__INS_L", "statistic"]
    assert first["this run"].startswith(f"t = {t:.2f}, p ")
    assert first["where"] == "tables/roi_ttest.tsv"
    assert table.iloc[1]["this run"] == "not found in this run"
    assert table.iloc[2]["this run"] == "not reproduced"
    assert table.iloc[2]["note"] == "no such scale here"
    # the first cluster (in table order) with voxels in the box, counted here
    clusters = pd.read_csv(result.tables["vox_grf_clusters"], sep="\t")
    labels = nib.load(root / "results" / "maps" / "vox" / "grf" / "cluster_labels.nii.gz")
    box = nib.load(root / "box.nii.gz").get_fdata() > 0
    inside = np.asarray(labels.dataobj)[box]
    ids = [c for c in clusters["cluster_id"] if (inside == c).any()]
    if ids:
        size = int(clusters.set_index("cluster_id").loc[ids[0], "size_voxels"])
        assert table.iloc[3]["this run"] == (f"voxels = {size}, "
                                             f"{int((inside == ids[0]).sum())} voxels in box")
    else:
        assert table.iloc[3]["this run"] == "not found in this run"
    html = result.report_path.read_text()
    assert "Published findings and this run: a paper" in html
    assert "1 that the data cannot support" in html


def test_mask_and_named_atlas_rois_and_seed_by_roi_name(run, tmp_path):
    root, result = run
    names = [m.roi for m in result.cohort.subjects[0].sessions[0].measures]
    assert {"box", "precuneus_L", "INS_L"} <= set(names)
    # a seed written as the name of one of the spec's ROIs
    spec_text = (SPEC.replace('name = "alff"\nband = [0.01, 0.08]\nstandardize = "mean"',
                              'name = "seed_fc"\nseed = "precuneus_L"\nconfounds_strategy = '
                              '["motion"]'))
    spec = parse_spec(_toml(spec_text), base_dir=root)
    check = check_study(spec, raise_on_problems=False)
    assert check.extractors[0].seed.name == "precuneus_L"
    assert "seed_fc_precuneus_L" in check.features


def _toml(text):
    import tomllib

    return tomllib.loads(text)


def test_spec_errors_name_the_key(tmp_path):
    base = {"study": {"dataset": "bids"}}
    with pytest.raises(SpecError, match=r"\[rois\] masks #1 must be a table \{ name = \.\.\., "
                                        r"path = \.\.\. \}"):
        parse_spec({**base, "rois": {"masks": [{"name": "a"}]}})
    with pytest.raises(SpecError, match=r"atlas_regions #1 must be a table .* optional 'name'"):
        parse_spec({**base, "rois": {"atlas_regions": [{"atlas": "aal", "label": "x",
                                                        "colour": "red"}]}})
    with pytest.raises(SpecError, match=r"'cite' must be a non-empty string. Got 3"):
        parse_spec({**base, "analyses": [{"type": "outcomes", "instrument": "VAS",
                                          "cite": 3}]})
    with pytest.raises(SpecError, match=r"a finding without 'table' .* needs a 'note'"):
        parse_spec({**base, "analyses": [{"type": "seed_comparison",
                                          "rows": [{"finding": "f", "published": "p"}]}]})
    with pytest.raises(SpecError, match=r"'scale' must be a non-zero number"):
        parse_spec({**base, "analyses": [{"type": "group_plot", "dv": "a", "levels": ["A"],
                                          "scale": 0}]})
    spec = parse_spec({**base, "rois": {"masks": [{"name": "m", "path": "nope.nii.gz"}]}},
                      base_dir=tmp_path)
    assert spec.rois["masks"][0]["path"] == str(tmp_path / "nope.nii.gz")
    (tmp_path / "bids").mkdir()
    with pytest.raises(SpecError, match=r"\[rois\] masks #1 \('m'\): the mask image .* does "
                                        r"not exist"):
        check_study(spec)


def test_check_lists_problems_of_the_new_analyses(run):
    root, _ = run
    text = (SPEC.replace('rois = ["INS_L", "precuneus_L"]', 'rois = ["INS_l"]')
            .replace('table = "roi_ttest"\nwhere = { dv = "alff__INS_L" }',
                     'table = "roi_test"\nwhere = { dv = "alff__INS_L" }')
            .replace('x = ["alff__INS_L", "alff__mPFC"]', 'x = ["alff__INS_L", "alf"]'))
    spec = parse_spec(_toml(text), base_dir=root)
    problems = "\n".join(check_study(spec, raise_on_problems=False).problems)
    assert "analysis 'alff_means' (group_maps): ROI 'INS_l' is not an ROI" in problems
    assert "did you mean 'INS_L'?" in problems
    assert "analysis 'compare' (seed_comparison): rows #1: table 'roi_test'" in problems
    assert "analysis 'composite' (composite_correlation): x 'alf'" in problems
