"""The second seed study's simulation (region masks, QSM smoothness, the FC-iron
correlation of r = 0.444) and the grey-matter placement of every planted effect."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers.datasets import _designs as D
from painmarkers.datasets import simulate_cohort
from painmarkers.datasets._effects import alff_plan, qsm_plan
from painmarkers.datasets._grid import load_grid
from painmarkers.datasets._qsm import synthesize_qsm
from painmarkers.rois import AtlasRegion


def _lag1_fwhm(maps, mask, voxel_mm):
    """FWHM (mm) per axis from the pooled lag-1 correlation of demeaned 3-D fields."""
    data = np.stack(maps)                       # (n, x, y, z)
    data = data - data.mean(axis=0)
    out = []
    for axis in (1, 2, 3):
        n = data.shape[axis]
        a, b = np.take(data, range(n - 1), axis=axis), np.take(data, range(1, n), axis=axis)
        both = np.take(mask, range(n - 1), axis=axis - 1) & np.take(mask, range(1, n),
                                                                     axis=axis - 1)
        a, b = a[:, both], b[:, both]
        rho = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
        out.append(voxel_mm * np.sqrt(-2 * np.log(2) / np.log(rho)))
    return np.array(out)


def test_fc_iron_calibration_gives_the_seed_r():
    """r(composite QSM, m) * q * reliability = 0.444, with q a valid correlation."""
    q = D.qsm_fc_loading_r()
    assert 0 < q < 1
    lam = D.QSM_MOTOR_LOADING
    # the composite of two regions lam * m + sqrt(1 - lam^2) e_k, computed by hand
    r_x = lam / np.sqrt(lam**2 + (1 - lam**2) / 2)
    np.testing.assert_allclose(D.qsm_motor_composite_r(), r_x, rtol=1e-12)
    np.testing.assert_allclose(r_x * q * D.FC_COMPOSITE_RELIABILITY, 0.444, rtol=1e-12)
    assert D.network_qsm_r("sensorimotor_L_sfg") == q
    assert D.network_qsm_r("postcentral_R_precuneus") == 0.0


def test_planted_composites_correlate_as_designed():
    """In many simulated patients the planted motor QSM composite correlates with the SFG
    loading at r(X, m) * q (no measurement noise on the FC side)."""
    rng = np.random.default_rng(3)
    n = 20000
    participants = D.draw_participants("qsm_fc_clbp", {"CLBP": n, "HC": 2}, rng)
    pain = D.draw_pain("qsm_fc_clbp", participants, rng)
    effects = D.qsm_subject_effects(participants, pain, rng, effect_scale=1.0)
    clbp = effects[effects.group == "CLBP"]
    x = clbp[[f"qsm__{r}" for r in D.QSM_FC_QSM_ROIS]].mean(axis=1)
    r = np.corrcoef(x, clbp["fc_loading__sensorimotor_L_sfg"])[0, 1]
    expected = D.qsm_motor_composite_r() * D.qsm_fc_loading_r()
    np.testing.assert_allclose(r, expected, rtol=0, atol=4 / np.sqrt(n))


def test_qsm_noise_has_the_requested_smoothness_and_sd():
    grid = load_grid(4)
    rng = np.random.default_rng(0)
    base = np.zeros(grid.n_voxels)
    for fwhm in (6.0, 12.0):
        maps = []
        for _ in range(12):
            values = synthesize_qsm(grid, base, rng, fwhm)
            np.testing.assert_allclose(values.std(), D.QSM_NOISE_SD_PPM, rtol=1e-4)
            maps.append(grid.to_volume(values.astype(float)))
        measured = _lag1_fwhm(maps, grid.mask, 4.0)
        np.testing.assert_allclose(measured, fwhm, rtol=0.12)


def test_grey_weight_is_the_documented_function_of_the_tissue_maps():
    """clip((p_grey - 0.2) / 0.4, 0, 1) with nilearn's template, 0 where the most probable
    Harvard-Oxford region at the nearest atlas voxel is a lateral ventricle (the label a
    cluster table gives a peak there)."""
    from nilearn.datasets import load_mni152_gm_template

    from painmarkers.inference._atlas import atlas_labels_at
    from painmarkers.rois import load_atlas

    grid = load_grid(4)
    grey_img = load_mni152_gm_template(resolution=4)
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(grey_img.affine), grid.coords))
    grey = grey_img.get_fdata()[tuple(ijk.astype(int).T)]
    atlas = load_atlas("harvard_oxford")
    labels, _ = atlas.label_map()
    hijk = np.rint(nib.affines.apply_affine(np.linalg.inv(atlas.affine), grid.coords))
    names = np.array([atlas.names.get(int(v), "") for v in labels[tuple(hijk.astype(int).T)]])
    ventricle = np.isin(names, ["Left_Lateral_Ventrical", "Right_Lateral_Ventricle"])
    expected = np.clip((grey - 0.2) / 0.4, 0, 1)
    expected[ventricle] = 0
    assert 100 < ventricle.sum() < 1500
    np.testing.assert_array_equal(grid.ventricle, ventricle)
    np.testing.assert_allclose(grid.grey_weight(), expected, rtol=0, atol=1e-6)
    # as the cluster tables label them: the voxel of the seed's THA_R peak is thalamus
    # (57 %), kept; a voxel above it is ventricle, excluded
    for xyz, is_ventricle in (((10, -6, 16), False), ((10, -6, 20), True)):
        k = grid.nearest_voxel(xyz)
        label = atlas_labels_at(grid.coords[k][None, :], "harvard_oxford")[0]
        assert ("Ventric" in label) == is_ventricle == bool(grid.ventricle[k]), label


def test_alff_effects_sit_in_grey_matter():
    """The planted log gain vanishes in CSF, white matter and the ventricles; near THA_L
    (at the top of the thalamus, next to the lateral ventricle) it is largest in grey
    matter."""
    grid = load_grid(4)
    rng = np.random.default_rng(1)
    participants = D.draw_participants("rtms_alff_clbp", {"CLBP": 3, "HC": 2}, rng)
    sessions = D.sessions_table("rtms_alff_clbp", participants, rng)
    pain = D.draw_pain("rtms_alff_clbp", participants, rng)
    jobs = [{} for _ in range(len(sessions))]
    alff_plan(grid, sessions, pain, rng, 1.0, jobs)
    gains = np.abs(np.stack([job["log_gain"] for job in jobs]))
    outside = (grid.grey_matter < 0.2) | grid.ventricle
    assert outside.sum() > 1000
    assert gains[:, outside].max() < 1e-6 * gains.max()
    centre = np.array(D.alff_rois()["THA_L"])
    near = np.linalg.norm(grid.coords - centre, axis=1) <= 12.0
    for gain in gains:
        peak = np.flatnonzero(near)[np.argmax(gain[near])]
        assert grid.grey_matter[peak] >= 0.6 and not grid.ventricle[peak]


def test_fc_loadings_sit_in_grey_matter():
    grid = load_grid(4)
    rng = np.random.default_rng(2)
    participants = D.draw_participants("qsm_fc_clbp", {"CLBP": 2, "HC": 2}, rng)
    pain = D.draw_pain("qsm_fc_clbp", participants, rng)
    jobs = [{"participant_id": pid} for pid in participants["participant_id"]]
    qsm_plan(grid, participants, pain, rng, 1.0, 12.0, jobs)
    assert all(job["qsm_fwhm_mm"] == 12.0 for job in jobs)
    outside = (grid.grey_matter < 0.2) | grid.ventricle
    for job in jobs:
        for loading in job["networks"]:
            assert loading[outside].max() < 1e-6 * loading.max()


def test_qsm_offsets_sit_in_grey_matter_with_exact_regional_means():
    from painmarkers.datasets._qsm import qsm_base_map, qsm_mean_map, region_masks

    grid = load_grid(4)
    masks, _ = region_masks(grid)
    base = qsm_base_map(grid)
    offsets = {"postcentral_L": 0.011, "olfactory_R": -0.007}
    weight = grid.grey_weight()
    mapped = qsm_mean_map(base, masks, offsets, weight) - base
    for roi, offset in offsets.items():
        inside = masks[roi]
        np.testing.assert_allclose(mapped[inside].mean(), offset, rtol=1e-12)
        np.testing.assert_array_equal(mapped[inside & (weight == 0)], 0.0)
        # the offset is proportional to the grey-matter weight inside the region
        np.testing.assert_allclose(mapped[inside], offset * weight[inside]
                                   / weight[inside].mean(), rtol=0, atol=1e-15)
    assert (weight[masks["postcentral_L"]] == 0).any()  # the AAL region has white matter
    untouched = ~(masks["postcentral_L"] | masks["olfactory_R"])
    np.testing.assert_array_equal(mapped[untouched], 0.0)


def test_region_masks_are_written_and_match_the_atlas(qsm_small):
    truth = qsm_small.ground_truth
    masks = truth["region_masks"]
    expected = set(D.QSM_ROIS) | {n["target"] for n in D.FC_NETWORKS.values()}
    assert set(masks) == expected
    brain = nib.load(qsm_small.root / qsm_small.sessions.iloc[0]["mask"])
    inside = np.asarray(brain.dataobj) > 0
    labels = {**D.QSM_ROIS, **{n["target"]: n["target_label"] for n in D.FC_NETWORKS.values()}}
    for roi, rel in masks.items():
        img = nib.load(qsm_small.root / rel)
        np.testing.assert_allclose(img.affine, brain.affine)
        mask = np.asarray(img.dataobj) > 0
        assert mask.any() and not (mask & ~inside).any()
        atlas = AtlasRegion("aal", labels[roi]).to_mask(brain) & inside
        if roi.startswith("precentral_post"):
            # the posterior half, by MNI y, of the AAL precentral gyrus on the grid
            ijk = np.argwhere(atlas)
            y = nib.affines.apply_affine(brain.affine, ijk)[:, 1]
            half = np.zeros_like(atlas)
            half[tuple(ijk[y < np.median(y)].T)] = True
            np.testing.assert_array_equal(mask, half)
        else:
            np.testing.assert_array_equal(mask, atlas)


def test_ground_truth_records_the_fc_iron_correlation(qsm_small):
    corr = qsm_small.ground_truth["fc"]["qsm_fc_correlation"]
    assert corr["r"] == 0.444 and corr["group"] == "CLBP"
    assert corr["x"]["rois"] == ["precentral_post_L", "precentral_post_R"]
    assert corr["y"]["seeds"] == ["precentral_post_L", "precentral_post_R"]
    np.testing.assert_allclose(corr["loading_r_with_motor_iron"], D.qsm_fc_loading_r())
    planted = pd.read_csv(qsm_small.root / "derivatives/painmarkers-simulation/"
                          "planted_effects.tsv", sep="\t")
    clbp = planted[planted.group == "CLBP"]
    x = clbp[["qsm__precentral_post_L", "qsm__precentral_post_R"]].mean(axis=1)
    np.testing.assert_allclose(corr["r_planted_sample"],
                               np.corrcoef(x, clbp["fc_loading__sensorimotor_L_sfg"])[0, 1],
                               rtol=1e-6)  # the TSV keeps 8 significant digits
    assert qsm_small.ground_truth["qsm"]["noise_fwhm_mm"] == 6.0
    text = json.dumps(qsm_small.ground_truth["assumptions"])
    assert "grey-matter" in text and "0.444" in text


@pytest.mark.slow
def test_measured_fc_iron_correlation_is_the_seeds(tmp_path):
    """Calibration, end to end: 80 simulated patients at the demo's settings (4 mm, FWHM
    12 mm), SeedFC of both posterior precentral seeds as the demo's specification runs it,
    ROI means in the left SFG: the FC composite tracks the planted loading with about the
    reliability the design assumes, and the measured FC-iron correlation is 0.444 within
    2.5 standard errors ((1 - r^2) / sqrt(n - 1), about 0.09)."""
    from painmarkers.extractors import MapMean, SeedFC, extract
    from painmarkers.model import Cohort
    from painmarkers.rois import MaskROI

    n = 80
    sim = simulate_cohort("qsm_fc_clbp", tmp_path / "bids", n_clbp=n, n_hc=2, fwhm_mm=12.0,
                          random_state=5, n_jobs=2)
    rois_dir = sim.root / "derivatives" / "painmarkers-simulation" / "rois"
    seeds = [MaskROI(r, rois_dir / f"{r}.nii.gz") for r in D.QSM_FC_SEEDS]
    target = [MaskROI("superior_frontal_L", rois_dir / "superior_frontal_L.nii.gz")]
    cohort = Cohort.from_bids(sim.root).select(levels="CLBP")
    extractors = [SeedFC(s, confounds_strategy=("motion", "wm_csf", "high_pass"))
                  for s in seeds] + [MapMean(seeds, kind="qsm")]
    cohort = extract(cohort, extractors, rois=target, n_jobs=2, out_dir=tmp_path / "fc",
                     progress=False)
    wide = cohort.wide().set_index("subject_id")
    y = wide[[f"seed_fc_{s}__superior_frontal_L" for s in D.QSM_FC_SEEDS]].mean(axis=1)
    x = wide[[f"qsm__{r}" for r in D.QSM_FC_QSM_ROIS]].mean(axis=1)
    planted = pd.read_csv(rois_dir.parent / "planted_effects.tsv", sep="\t")
    planted = planted.set_index(planted["participant_id"].str.removeprefix("sub-"))
    loading = planted.loc[y.index, "fc_loading__sensorimotor_L_sfg"]
    reliability = np.corrcoef(y, loading)[0, 1]
    assert abs(reliability - D.FC_COMPOSITE_RELIABILITY) < 0.12, reliability
    r = np.corrcoef(x, y)[0, 1]
    se = (1 - 0.444**2) / np.sqrt(n - 1)
    assert abs(r - 0.444) < 2.5 * se, r
