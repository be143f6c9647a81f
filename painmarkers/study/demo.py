"""``painmarkers demo``: simulate a seed study as BIDS and run its whole analysis."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from painmarkers.exceptions import SpecError
from painmarkers.reporting.report import write_atomic
from painmarkers.study.runner import StudyResult, run_study
from painmarkers.study.spec import load_spec

__all__ = ["DEMO_SPECS", "run_demo"]

_RTMS = """\
# Seed study 1 (Masoumbeigi et al.): 20 Hz M1 rTMS in non-specific chronic low back pain.
# 15 CLBP patients scanned before and 2 days after rTMS, 10 healthy controls scanned once.
random_state = {seed}

[study]
name = "ALFF before and after rTMS in chronic low back pain (simulated)"
dataset = "bids"
derivatives = ["bids/derivatives/fmriprep"]
output = "results"
task = "rest"

[exclusion]            # the seed's rule: > 3 mm translation or > 3 degrees rotation
max_translation_mm = 3.0
max_rotation_deg = 3.0

[[extractors]]         # DPABI-exact ALFF, 0.01-0.08 Hz, divided by the brain-mask mean (mALFF)
name = "alff"
band = [0.01, 0.08]
convention = "dpabi"
standardize = "mean"

[rois]                 # 6 mm-diameter spheres on the nine Table 3 peaks, plus three control
set = "rtms_alff_clbp"  # regions where the simulation planted nothing
spheres = [
  {{ name = "CAL_L", center = [-8, -84, 6], radius_mm = 3 }},
  {{ name = "STG_R", center = [58, -22, 4], radius_mm = 3 }},
  {{ name = "CER_L", center = [-30, -66, -30], radius_mm = 3 }},
]

[[analyses]]
type = "demographics"
name = "table1_demographics"

[[analyses]]
type = "outcomes"
name = "ppr_vas"
instrument = "VAS"
group = "CLBP"

[[analyses]]
type = "outcomes"
name = "pdc_rmdq"
instrument = "RMDQ"
group = "CLBP"

[[analyses]]
type = "clinical_table"
name = "table2_clinical"
instruments = ["VAS", "RMDQ"]
group = "CLBP"

[[analyses]]
type = "paired_ttest"
name = "table2_clinical_paired"
dv = ["VAS", "RMDQ"]
group = "CLBP"

[[analyses]]
type = "paired_ttest"
name = "roi_alff_pre_vs_post"
dv = "alff"
group = "CLBP"

[[analyses]]
type = "two_sample_ttest"
name = "roi_alff_clbp_vs_hc"
dv = "alff"
groups = ["CLBP", "HC"]
sessions = {{ CLBP = "pre", HC = "baseline" }}

[[analyses]]
type = "correlation"
name = "alff_vas_pre"
x = "VAS"
y = "alff"
group = "CLBP"
session = "pre"

[[analyses]]
type = "correlation"
name = "alff_vas_post"
x = "VAS"
y = "alff"
group = "CLBP"
session = "post"

[[analyses]]
type = "voxelwise"
name = "alff_paired_pre_vs_post"
feature = "alff"
design = "paired"
group = "CLBP"
sessions = ["pre", "post"]
voxel_p = 0.01          # the seed's GRF thresholds (DPABI): voxel p < 0.01, cluster p < 0.05
cluster_p = 0.05
two_tailed = true
correction = ["grf", "permutation"]
n_permutations = {n_perm}

[[analyses]]
type = "voxelwise"
name = "alff_clbp_vs_hc"
feature = "alff"
design = "two_sample"
groups = ["CLBP", "HC"]
sessions = {{ CLBP = "pre", HC = "baseline" }}
voxel_p = 0.01
cluster_p = 0.05
correction = ["grf"]

[[analyses]]
type = "classifier"
name = "sma_alff_clbp_vs_hc"
features = [["alff", "SMA_L"], ["alff", "SMA_R"]]
target = "group"
positive = "CLBP"
sessions = {{ CLBP = "pre", HC = "baseline" }}
n_permutations = {n_perm_clf}
n_repeats = 5
"""

_QSM = """\
# Seed study 2 (Ding et al. 2025): brain iron (QSM) in sensorimotor cortex and resting-state
# functional connectivity in chronic low back pain; 32 CLBP vs 30 healthy controls.
random_state = {seed}

[study]
name = "QSM and seed functional connectivity in chronic low back pain (simulated)"
dataset = "bids"
derivatives = ["bids/derivatives/fmriprep", "bids/derivatives/qsm"]
output = "results"
task = "rest"

[exclusion]
max_translation_mm = 3.0
max_rotation_deg = 3.0

[[extractors]]          # seed FC of the left postcentral gyrus (AAL), Fisher z maps
name = "seed_fc"
seed = "aal:Postcentral_L"

[[extractors]]          # mean susceptibility (ppm) of each ROI in the QSM maps
name = "map_mean"
kind = "qsm"

[rois]
atlas_regions = [
  {{ atlas = "aal", label = "Precentral_L" }}, {{ atlas = "aal", label = "Precentral_R" }},
  {{ atlas = "aal", label = "Postcentral_L" }}, {{ atlas = "aal", label = "Postcentral_R" }},
  {{ atlas = "aal", label = "Temporal_Inf_R" }}, {{ atlas = "aal", label = "Olfactory_R" }},
  {{ atlas = "aal", label = "Cingulate_Post_R" }}, {{ atlas = "aal", label = "Frontal_Sup_2_L" }},
]

[[analyses]]
type = "demographics"
name = "table1_demographics"

[[analyses]]
type = "two_sample_ttest"
name = "qsm_clbp_vs_hc"
dv = "qsm"
groups = ["CLBP", "HC"]

[[analyses]]
type = "correlation"
name = "qsm_vas"
x = "VAS"
y = "qsm"
group = "CLBP"

[[analyses]]
type = "voxelwise"
name = "fc_postcentral_L_clbp_vs_hc"
feature = "seed_fc_aal:Postcentral_L"   # the extractor names maps after their seed
design = "two_sample"
groups = ["CLBP", "HC"]
voxel_p = 0.001
cluster_p = 0.05
correction = ["grf", "permutation"]
n_permutations = {n_perm}
"""

#: TOML templates of the demo studies, by design name.
DEMO_SPECS = {"rtms_alff_clbp": _RTMS, "qsm_fc_clbp": _QSM}


def run_demo(design: str = "rtms_alff_clbp", out_dir: str | PathLike = "painmarkers_demo", *,
             resolution_mm: int = 4, random_state: int = 0, n_jobs: int | None = None,
             n_permutations: int = 1000, overwrite: bool = False,
             progress: bool = True) -> StudyResult:
    """Simulate a seed study as a BIDS dataset and run its specification.

    Writes ``<out_dir>/bids`` (the simulated dataset with fMRIPrep-style
    derivatives and the planted ground truth), ``<out_dir>/study.toml`` (the
    specification, a starting point for a real study) and ``<out_dir>/results``
    (tables, maps, figures, ``report.html``, ``provenance.json``).

    Parameters
    ----------
    design : {"rtms_alff_clbp", "qsm_fc_clbp"}, default="rtms_alff_clbp"
        Which seed study to simulate.
    out_dir : path-like, default="painmarkers_demo"
        Output folder.
    resolution_mm : int, default=4
        Voxel size of the simulated images.
    random_state : int, default=0
        Seed of the simulation and of every stochastic analysis step.
    n_jobs : int or None, default=None
        Parallel jobs.
    n_permutations : int, default=1000
        Permutations of the voxelwise permutation test (the classifier uses
        a fifth of them).
    overwrite : bool, default=False
        Replace an existing demo folder.
    progress : bool, default=True
        Print progress.

    Returns
    -------
    StudyResult
    """
    from painmarkers.datasets import simulate_cohort

    if design not in DEMO_SPECS:
        raise SpecError(f"The 'design' parameter must be one of {sorted(DEMO_SPECS)}. "
                        f"Got {design!r}.")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SpecError(f"The demo folder {str(out)!r} is not empty; pass overwrite=True "
                            "(--overwrite) or choose another --out.")
        if not (out / "study.toml").exists():
            raise SpecError(f"Refusing to overwrite {str(out)!r}: it is not a painmarkers demo "
                            "folder (no study.toml).")
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"[painmarkers] simulating the {design} study in {out / 'bids'}", flush=True)
    simulate_cohort(design=design, out_dir=out / "bids", resolution_mm=resolution_mm,
                    random_state=random_state)
    text = DEMO_SPECS[design].format(seed=random_state, n_perm=n_permutations,
                                     n_perm_clf=max(n_permutations // 5, 20))
    spec_path = write_atomic(out / "study.toml", text)
    return run_study(load_spec(spec_path), n_jobs=n_jobs, progress=progress)
