"""``painmarkers run`` on a small simulated study: exclusions reported, provenance complete,
nothing written into the dataset; the packaged qsm_fc_clbp specification runs.

The rtms dataset (4 CLBP pre/post + 3 HC, 64 volumes, 4 mm) has one session given a
4 mm head displacement (sub-02 ses-pre with random_state=1), beyond the 3 mm rule.
"""

import hashlib
import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import painmarkers
from painmarkers._outdir import is_complete
from painmarkers.cli import main
from painmarkers.datasets import simulate_cohort
from painmarkers.study import demo_spec_text, load_spec, run_study

SPEC = """
random_state = 3

[study]
name = "small"
dataset = "bids"
derivatives = ["bids/derivatives/fmriprep"]
output = "results"
task = "rest"

[exclusion]
max_translation_mm = 3.0
max_rotation_deg = 3.0

[[extractors]]
name = "alff"
band = [0.01, 0.08]
standardize = "mean"

[rois]
set = "rtms_alff_clbp"

[[analyses]]
type = "demographics"
name = "table1"

[[analyses]]
type = "clinical_table"
name = "table2"
instruments = ["VAS", "RMDQ"]
levels = "CLBP"

[[analyses]]
type = "roi_table"
name = "table3"
feature = "alff"
mu = 1.0
columns = [
  { label = "HC", levels = "HC", sessions = "baseline" },
  { label = "pre", levels = "CLBP", sessions = "pre" },
]
cite = "Masoumbeigi et al., Table 3"

[[analyses]]
type = "paired_ttest"
name = "roi_paired"
dv = "alff"
levels = "CLBP"

[[analyses]]
type = "voxelwise"
name = "vox_two_sample_cov"
feature = "alff"
design = "two_sample"
levels = ["CLBP", "HC"]
sessions = { CLBP = "post", HC = "baseline" }
covariates = ["age", "sex"]
voxel_p = 0.001
correction = ["grf"]

[[analyses]]
type = "voxelwise"
name = "vox_paired"
feature = "alff"
design = "paired"
levels = "CLBP"
sessions = ["pre", "post"]
correction = ["grf"]
cite = "Masoumbeigi et al., Figure 4"
"""


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    sim = simulate_cohort("rtms_alff_clbp", root / "bids", n_clbp=4, n_hc=3, n_volumes=64,
                          n_high_motion=1, random_state=1)
    (root / "study.toml").write_text(SPEC)
    before = _files(root / "bids")
    return root, sim, before


@pytest.fixture(scope="module")
def cli_run(small_run):
    import contextlib
    import io

    root, sim, before = small_run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(root / "study.toml"), "--quiet"])
    return root, sim, before, code, out.getvalue()


def _report_text(path: Path) -> str:
    page = path.read_text()
    page = re.sub(r'src="data:image/png;base64,[^"]+"', "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_run_exits_zero_and_prints_report_path(cli_run):
    root, _, _, code, stdout = cli_run
    assert code == 0
    assert stdout.strip().splitlines()[-1] == f"Report: {root / 'results' / 'report.html'}"
    assert (root / "results" / "report.html").is_file()


def test_motion_exclusion_applied_and_reported(cli_run):
    root, sim, _, _, _ = cli_run
    (hm,) = sim.ground_truth["high_motion_sessions"]
    sub, ses = hm["participant_id"][4:], hm["session_id"][4:]
    assert (sub, ses) == ("02", "pre")
    qc = pd.read_csv(root / "results" / "tables" / "motion_qc.tsv", sep="\t",
                     dtype={"subject_id": str})
    flagged = qc[qc["excluded"]]
    assert list(zip(flagged["subject_id"], flagged["session"], strict=True)) == [(sub, ses)]
    assert "translation" in flagged["reason"].iloc[0]
    prov = json.loads((root / "results" / "provenance.json").read_text())
    assert [(e["subject_id"], e["session"]) for e in prov["excluded_sessions"]] == [(sub, ses)]
    assert prov["cohort"]["n_sessions_read"] == 11 and prov["cohort"]["n_sessions"] == 10
    # the excluded pre session removes sub-02 from every paired table, by name
    paired = pd.read_csv(root / "results" / "tables" / "roi_paired.tsv", sep="\t")
    assert (paired["n"] == 3).all() and (paired["n_excluded"] == 1).all()
    assert paired["excluded"].str.startswith("02 ").all()
    table2 = pd.read_csv(root / "results" / "tables" / "table2.tsv", sep="\t")
    assert (table2["n_excluded"] == 1).all()
    text = _report_text(root / "results" / "report.html")
    assert "10 sessions analysed of 11 read; 1 excluded by the motion rule" in text
    assert f"sub-{sub} ses-{ses} (max translation" in text
    assert "02 (no 'pre' session)" in text  # the paired tables show who is missing
    assert "Excluded (one of the two sessions missing): sub-02." in text
    assert "were excluded (1 session)" in text  # methods paragraph


def test_provenance_versions_parameters_seeds_hashes(cli_run):
    root, _, _, _, _ = cli_run
    prov = json.loads((root / "results" / "provenance.json").read_text())
    assert prov["versions"]["painmarkers"] == painmarkers.__version__
    assert {"numpy", "scipy", "nibabel", "nilearn", "scikit-learn"} <= set(prov["versions"])
    assert prov["random_state"] == 3 and prov["spec"]["random_state"] == 3
    assert prov["extractors"] == [{"name": "alff", "params": {"band": [0.01, 0.08],
                                                              "standardize": "mean"}}]
    vox = next(a for a in prov["analyses"] if a["name"] == "vox_paired")
    # the default cluster-forming threshold is p = 0.001 (Eklund et al. 2016)
    assert vox["params"]["voxel_p"] == 0.001 and vox["params"]["correction"] == ["grf"]
    hashes = prov["inputs_sha256"]
    names = [Path(p).name for p in hashes]
    assert "participants.tsv" in names
    assert sum(n.endswith("desc-preproc_bold.nii.gz") for n in names) == 10
    assert sum(n.endswith("desc-confounds_timeseries.tsv") for n in names) == 10
    for path, digest in hashes.items():
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest, path


def test_nothing_written_into_dataset_and_no_temporaries(cli_run):
    root, _, before, _, _ = cli_run
    assert _files(root / "bids") == before
    leftovers = [p for p in (root / "results").rglob("*")
                 if (p.name.startswith(".") and p.name != ".painmarkers-run")
                 or p.suffix in (".tmp", ".part")]
    assert leftovers == []  # no temporary file, and the lock file went with the run
    assert is_complete(root / "results")  # the signed output-folder marker, status complete


def test_report_tables_and_captions(cli_run):
    root, _, _, _, _ = cli_run
    text = _report_text(root / "results" / "report.html")
    assert "Table 1. Demographics of the 7 participants" in text
    assert "age (years)" in text and "BMI (kg/m²)" in text
    assert "Table 2. VAS, RMDQ (VAS, 0-10 cm; RMDQ, 0-24 points)" in text
    # captions cite what the spec's 'cite' names (the ROI spectrum: the seed's Figure 2)
    assert "cf. Masoumbeigi et al., Figure 2" in text
    assert "cf. Masoumbeigi et al., Figure 4" in text
    assert "cf. Masoumbeigi et al., Table 3" in text
    assert "cf. seed" not in text
    clusters = pd.read_csv(root / "results" / "tables" / "vox_paired_grf_clusters.tsv",
                           sep="\t")
    n_sig = int(clusters["significant"].sum())
    assert f"{n_sig} of {len(clusters)} supra-threshold clusters" in text


def test_unknown_extractor_is_named_before_anything_is_written(small_run, capsys):
    root, _, before, = small_run
    bad = root / "bad.toml"
    bad.write_text(SPEC.replace('name = "alff"', 'name = "alf"')
                   .replace('output = "results"', 'output = "bad_results"'))
    assert main(["run", str(bad), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "[[extractors]] #1" in err and "'name' must be one of" in err
    assert "'alf'" in err and "'alff'" in err and "'map_mean'" in err
    assert not (root / "bad_results").exists()
    assert _files(root / "bids") == before


def test_packaged_qsm_spec_runs(tmp_path):
    """The qsm_fc_clbp demo specification runs end to end (small cohort, few permutations)."""
    simulate_cohort("qsm_fc_clbp", tmp_path / "bids", n_clbp=4, n_hc=4, n_volumes=64,
                    random_state=11)
    spec_path = tmp_path / "study.toml"
    spec_path.write_text(demo_spec_text("qsm_fc_clbp", n_permutations=20))
    result = run_study(load_spec(spec_path), progress=False)
    assert {"qsm_clbp_vs_hc", "qsm_vas", "fc_postcentral_L_clbp_vs_hc_grf_clusters",
            "fc_postcentral_L_clbp_vs_hc_permutation_clusters"} <= set(result.tables)
    qsm = pd.read_csv(result.tables["qsm_clbp_vs_hc"], sep="\t")
    assert len(qsm) == 13 and (qsm["n"] == 8).all()  # the 13 ROIs of the spec
    assert result.report_path.is_file() and len(result.figures) >= 3


def test_roi_table_is_one_sample_t_per_column_with_mni_centres(cli_run):
    """Table 3: scipy's one-sample t of each ROI's ALFF against mu, per group/session,
    on the sessions left after the motion exclusion; MNI centres from the ROI set."""
    from scipy import stats

    from painmarkers.rois import get_roi_set

    root = cli_run[0]
    table = pd.read_csv(root / "results" / "tables" / "table3.tsv", sep="\t")
    measures = pd.read_csv(root / "results" / "tables" / "roi_measures.tsv", sep="\t")
    checked = 0
    for (label, group, session) in (("HC", "HC", "baseline"), ("pre", "CLBP", "pre")):
        rows = measures[(measures["group"] == group) & (measures["session"] == session)
                        & (measures["name"] == "alff")]
        for roi, values in rows.groupby("roi")["value"]:
            expected = stats.ttest_1samp(values.to_numpy(), 1.0)
            got = table[(table["column"] == label) & (table["roi"] == roi)].iloc[0]
            assert got["n"] == len(values)
            assert got["statistic"] == pytest.approx(expected.statistic, rel=1e-10)
            assert got["p"] == pytest.approx(expected.pvalue, rel=1e-8)
            checked += 1
    assert checked == 2 * 9
    # the excluded session (sub-02 ses-pre) is not among the pre values
    assert set(table.loc[table["column"] == "pre", "n"]) == {3}
    page = _report_text(root / "results" / "report.html")
    assert "One-sample t-test of alff against 1 in each group" in page
    assert "removed by the motion rule before this table: sub-02 pre" in page
    sma = next(r for r in get_roi_set("rtms_alff_clbp") if r.name == "SMA_L")
    assert re.search(r"SMA_L\s+0(\.0+)?\s+23(\.0+)?\s+65", page), sma.center_mni


def test_roi_table_spec_errors_name_the_key(tmp_path):
    base = SPEC.split("[[analyses]]")[0]
    bad = base + """
[[analyses]]
type = "roi_table"
feature = "alff"
columns = [{ label = "HC", grp = "HC" }]
"""
    path = tmp_path / "s.toml"
    path.write_text(bad)
    with pytest.raises(painmarkers.exceptions.SpecError,
                       match=r"'columns' #1 must be a table with a string 'label'"):
        load_spec(path)
    path.write_text(bad.replace('grp = "HC"', 'levels = "HC"') + 'mu = "one"\n')
    with pytest.raises(painmarkers.exceptions.SpecError, match=r"'mu' must be a number"):
        load_spec(path)


def test_voxelwise_covariates_enter_the_model(cli_run):
    """The spec's covariates reach the GLM: the t map and design equal a direct
    voxelwise_ttest with age and sex coded 0/1, and differ from the model without them."""
    import nibabel as nib
    import numpy as np

    from painmarkers import read_bids
    from painmarkers.inference import voxelwise_ttest

    root = cli_run[0]
    glm = root / "results" / "maps" / "vox_two_sample_cov" / "glm"
    design = pd.read_csv(glm / "design_matrix.tsv", sep="\t")
    assert {"age", "sex[M]"} <= set(design.columns), design.columns
    maps = root / "results" / "derivatives"
    cohort = read_bids(root / "bids")
    imgs, labels, cov = [], [], []
    for group, session in (("CLBP", "post"), ("HC", "baseline")):
        for sub in cohort.select(levels=group, sessions=session):
            path = next(maps.glob(f"sub-{sub.id}/ses-{session}/func/*desc-alff_boldmap.nii.gz"))
            imgs.append(path)
            labels.append(group)
            cov.append({"age": sub.covariates["age"], "sex": float(sub.covariates["sex"] == "M")})
    mask = glm / "mask.nii.gz"
    direct = voxelwise_ttest(imgs, design="two_sample", labels=labels, mask_img=mask,
                             covariates=pd.DataFrame(cov))
    plain = voxelwise_ttest(imgs, design="two_sample", labels=labels, mask_img=mask)
    got = nib.load(glm / "tmap.nii.gz").get_fdata()
    np.testing.assert_allclose(got, direct.t_img.get_fdata(), rtol=1e-5, atol=1e-5)
    assert direct.df == plain.df - 2
    assert not np.allclose(got, plain.t_img.get_fdata(), atol=1e-3)
    prov = json.loads((root / "results" / "provenance.json").read_text())
    rec = next(a for a in prov["analyses"] if a["name"] == "vox_two_sample_cov")
    assert rec["params"]["covariates"] == ["age", "sex"] and rec["df"] == direct.df


def test_analysis_errors_name_the_analysis(small_run, tmp_path):
    root = small_run[0]
    spec = SPEC.split("[[analyses]]")[0] + """
[[analyses]]
type = "paired_ttest"
name = "vas_in_patients"
dv = "VAS"
levels = "Patients"
"""
    path = root / "bad_group.toml"
    path.write_text(spec.replace('output = "results"', f'output = "{tmp_path / "out"}"'))
    with pytest.raises(painmarkers.exceptions.PainmarkersError,
                       match=r"analysis 'vas_in_patients' \(paired_ttest\): .*Patients"):
        run_study(path, progress=False)
