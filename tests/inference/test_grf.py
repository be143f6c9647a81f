"""GRF cluster inference: formulas worked in the tests, SPM's spm_P_RF, integration.

Provenance of reference values: every expected number here is computed in the test
from the published formulas with scipy (Friston et al. 1994 for the extent
distribution as FSL implements it; Worsley et al. 1996, Table 2, for EC densities
and the lattice resel counts), independently of painmarkers' code paths; the
literal value in ``test_spm_p_rf_literal_hand_value`` was worked by hand from the
Z-field EC density of dimension 3.
"""

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import special, stats

from painmarkers.exceptions import DataError, ImageError, InferenceWarning
from painmarkers.inference import (
    ClusterResult,
    grf_cluster_correct,
    grf_cluster_pvalue,
    grf_min_cluster_size,
    smoothness_from_fwhm,
    spm_p_rf,
    spm_resels_vol,
)
from painmarkers.inference._spm_rf import ec_density

from .conftest import max_cluster_sizes, smooth_field, smooth_fields

A = 4 * np.log(2)


def _fsl_reference(k, p, fwhm_vox, v, two_tailed=False):
    z = stats.norm.isf(p / 2 if two_tailed else p)
    dlh = A ** 1.5 / fwhm_vox ** 3
    em = v * (2 * np.pi) ** -2 * dlh * (z * z - 1) * np.exp(-z * z / 2)
    en = v * stats.norm.sf(z)
    beta = (special.gamma(2.5) * em / en) ** (2 / 3)
    pk = 1 - np.exp(-em * np.exp(-beta * np.asarray(k, float) ** (2 / 3)))
    return (np.minimum(1, 2 * pk) if two_tailed else pk), em, en, beta


@pytest.mark.parametrize("two_tailed", [False, True])
def test_fsl_pvalue_and_kstar_from_formula(two_tailed):
    s = smoothness_from_fwhm(8.0, 2.0, 60000)  # FWHM 4 voxels
    k = np.array([1, 5, 20, 50, 100, 300])
    expected, *_ = _fsl_reference(k, 0.001, 4.0, 60000, two_tailed)
    got = grf_cluster_pvalue(k, 0.001, s, two_tailed=two_tailed)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # k* by a linear scan of the formula, halving alpha per tail when two-tailed
    alpha = 0.05
    sizes = np.arange(1, 5000)
    per_tail, *_ = _fsl_reference(sizes, 0.001, 4.0, 60000, two_tailed)
    if two_tailed:
        per_tail = per_tail / 2
    kstar = sizes[np.argmax(per_tail < (alpha / 2 if two_tailed else alpha))]
    assert grf_min_cluster_size(0.001, alpha, s, two_tailed=two_tailed) == kstar
    assert grf_cluster_pvalue(kstar, 0.001, s, two_tailed=two_tailed) < alpha
    assert grf_cluster_pvalue(kstar - 1, 0.001, s, two_tailed=two_tailed) >= alpha


def test_fsl_terms_reported_in_provenance():
    s = smoothness_from_fwhm(6.0, 2.0, 27000)
    z = np.zeros((30, 30, 30))
    img = nib.Nifti1Image(z, np.diag([2.0, 2, 2, 1]))
    mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), img.affine)
    res = grf_cluster_correct(img, 0.001, 0.05, two_tailed=False, stat="z", smoothness=s,
                              mask_img=mask, atlas=False)
    _, em, en, beta = _fsl_reference([1], 0.001, 3.0, 27000)
    np.testing.assert_allclose(res.parameters["expected_clusters"], em, rtol=1e-10)
    np.testing.assert_allclose(res.parameters["expected_voxels"], en, rtol=1e-10)
    np.testing.assert_allclose(res.parameters["beta"], beta, rtol=1e-10)
    assert len(res.clusters) == 0 and res.n_significant == 0
    assert res.connectivity == 26 and res.n_mask_voxels == 27000


def _worsley_z(u):
    b = np.exp(-u * u / 2)
    return np.array([stats.norm.sf(u), A ** 0.5 / (2 * np.pi) * b,
                     A / (2 * np.pi) ** 1.5 * u * b,
                     A ** 1.5 / (2 * np.pi) ** 2 * (u * u - 1) * b])


def _worsley_t(u, v):
    c = (1 + u * u / v) ** (-(v - 1) / 2)
    g = special.gamma((v + 1) / 2) / (np.sqrt(v / 2) * special.gamma(v / 2))
    return np.array([stats.t.sf(u, v), A ** 0.5 / (2 * np.pi) * c,
                     A / (2 * np.pi) ** 1.5 * g * u * c,
                     A ** 1.5 / (2 * np.pi) ** 2 * ((v - 1) / v * u * u - 1) * c])


def test_ec_densities_match_worsley_table():
    for u in (2.5, 3.1, 4.5):
        np.testing.assert_allclose(ec_density("Z", u), _worsley_z(u), rtol=1e-12)
        for v in (8, 20, 60):
            np.testing.assert_allclose(ec_density("T", u, [1, v]), _worsley_t(u, v), rtol=1e-10)
        # T densities tend to Z densities as df grows
        np.testing.assert_allclose(ec_density("T", u, [1, 1e9]), _worsley_z(u), rtol=1e-6)


@pytest.mark.parametrize("stat, df", [("Z", None), ("T", [1, 20])])
def test_spm_p_rf_from_formulas(stat, df):
    r = np.array([3.0, 40.0, 300.0, 900.0])
    u = 3.5 if stat == "Z" else 4.0
    rho = _worsley_z(u) if stat == "Z" else _worsley_t(u, 20)
    ec = float(r @ rho)
    en = rho[0] * r[3]  # SPM's EN: expected supra-threshold volume (resels)
    ek = en / (r[3] * rho[3])  # SPM's En: expected resels per cluster
    beta = (special.gamma(2.5) / ek) ** (2 / 3)
    for k in (0.0, 0.5, 2.0):
        p = np.exp(-beta * k ** (2 / 3)) if k else 1.0
        for c in (1, 2):
            big = 1 - stats.poisson.cdf(c - 1, ec * p)
            got = spm_p_rf(c, k, u, df, stat, r)
            # SPM12: [P, p, Em, En, EN] = spm_P_RF(c, k, Z, df, STAT, R, n)
            assert len(got) == 5
            np.testing.assert_allclose(got, (big, p, ec, ek, en), rtol=1e-9)


def test_spm_p_rf_conjunction_and_lower_dimensions():
    u, r = 3.0, np.array([1.0, 10.0, 60.0, 150.0])
    a = _worsley_z(u) * np.sqrt(np.pi) / special.gamma(np.arange(1, 5) / 2)
    # n = 2: first row of the squared upper-triangular Toeplitz = self-convolution of a
    conv = np.array([sum(a[i] * a[d - i] for i in range(d + 1)) for d in range(4)])
    g = np.sqrt(np.pi) / special.gamma(np.arange(1, 5) / 2)
    ec = float(np.sum(r / g * conv))
    P, _, Ec, _, _ = spm_p_rf(1, 0, u, None, "Z", r, n=2)
    np.testing.assert_allclose(Ec, ec, rtol=1e-10)
    np.testing.assert_allclose(P, 1 - np.exp(-ec), rtol=1e-10)
    # 2-D search volume: resels beyond R2 are zero, the extent uses D = 2
    r2 = np.array([1.0, 10.0, 60.0, 0.0])
    rho = _worsley_z(u)
    ek = rho[0] * 60.0 / (60.0 * rho[2])
    beta = (special.gamma(2.0) / ek) ** 1.0
    got = spm_p_rf(1, 1.5, u, None, "Z", r2)
    np.testing.assert_allclose(got[1], np.exp(-beta * 1.5), rtol=1e-10)


def test_spm_p_rf_literal_hand_value():
    # R = [0, 0, 0, 100], u = 3: rho3 = (4 ln 2)^1.5 (2 pi)^-2 (u^2 - 1) e^{-u^2/2}
    # = 4.6166631 / 39.4784176 * 8 * 0.0111089965 = 0.010392817; Ec = 1.0392817;
    # P(peak) = 1 - exp(-1.0392817) = 0.6462913 (Ec + eps: SPM's guard, negligible).
    P, p, Ec, _, EN = spm_p_rf(1, 0, 3.0, None, "Z", [0, 0, 0, 100])
    np.testing.assert_allclose(Ec, 1.0392817, rtol=1e-7)
    np.testing.assert_allclose(P, 0.6462913, rtol=1e-7)
    assert p == 1.0
    # EN = P(Z > 3) R3 = 0.0013498980 * 100
    np.testing.assert_allclose(EN, 0.13498980, rtol=1e-7)


def test_resels_of_a_box_are_its_intrinsic_volumes():
    a, b, c = 7, 5, 9
    f = (2.0, 3.0, 1.5)
    r = spm_resels_vol(np.ones((a, b, c), bool), f)
    expected = [1.0, (a - 1) / f[0] + (b - 1) / f[1] + (c - 1) / f[2],
                (a - 1) * (b - 1) / (f[0] * f[1]) + (a - 1) * (c - 1) / (f[0] * f[2])
                + (b - 1) * (c - 1) / (f[1] * f[2]), (a - 1) * (b - 1) * (c - 1) / np.prod(f)]
    np.testing.assert_allclose(r, expected, rtol=1e-12)
    # a hollow box (one interior voxel removed) has Euler characteristic 2
    hollow = np.ones((5, 5, 5), bool)
    hollow[2, 2, 2] = False
    assert spm_resels_vol(hollow, (1, 1, 1))[0] == 2.0
    with pytest.raises(DataError, match="3-D"):
        spm_resels_vol(np.ones((3, 3)), (1, 1, 1))


def test_spm_pvalue_uses_resels_and_t_field():
    mask = np.ones((30, 30, 30), bool)
    s = smoothness_from_fwhm(6.0, 2.0, int(mask.sum()))
    r = spm_resels_vol(mask, s.fwhm_voxels)
    u = stats.t.isf(0.001, 25)
    expected = spm_p_rf(1, 40 / s.resel_size, u, [1, 25], "T", r)[0]
    got = grf_cluster_pvalue(40, 0.001, s, two_tailed=False, method="spm", stat="t", df=25,
                             resels=r)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="resels"):
        grf_cluster_pvalue(40, 0.001, s, two_tailed=False, method="spm")


def _blob_map(rng, shape=(40, 40, 40), fwhm=4.0):
    z = smooth_field(rng, shape, fwhm)
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    blob = np.exp(-((zz - 12) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 3.0 ** 2))
    return z + 6 * blob - 6 * np.exp(-((zz - 30) ** 2 + (yy - 12) ** 2 + (xx - 25) ** 2)
                                     / (2 * 3.0 ** 2))


@pytest.mark.parametrize("method", ["fsl", "spm"])
def test_planted_blobs_detected(method, tmp_path):
    rng = np.random.default_rng(7)
    z = _blob_map(rng)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    img = nib.Nifti1Image(z.astype(np.float32), affine)
    mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), affine)
    s = smoothness_from_fwhm(8.0, 2.0, z.size)
    res = grf_cluster_correct(img, 0.001, 0.05, two_tailed=True, stat="z", smoothness=s,
                              mask_img=mask,
                              method=method, atlas=False)
    assert isinstance(res, ClusterResult)
    assert res.connectivity == (26 if method == "fsl" else 18)
    sig = res.clusters[res.clusters.significant]
    assert set(sig.sign) == {1, -1}
    pos = sig[sig.sign == 1].iloc[0]
    assert abs(pos.peak_i - 12) <= 2 and abs(pos.peak_j - 20) <= 2
    # significance <=> size >= k*, and the maps agree with the table
    np.testing.assert_array_equal(res.clusters.significant,
                                  res.clusters.size_voxels >= res.min_cluster_size)
    thr = res.thresholded_img.get_fdata()
    labels = res.label_img.get_fdata().astype(int)
    assert (thr != 0).sum() == sig.size_voxels.sum()
    pmap = res.p_img.get_fdata()
    for row in res.clusters.itertuples():
        np.testing.assert_allclose(pmap[labels == row.cluster_id], row.p_cluster, rtol=1e-6)
    assert res.z_threshold == pytest.approx(stats.norm.isf(0.0005))
    # save: files written atomically, provenance complete
    paths = res.save(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["thresholded_map.nii.gz", "thresholded_map.json", "cluster_labels.nii.gz",
         "p_map.nii.gz", "clusters.tsv", "provenance.json"])
    assert json.loads(paths["thresholded_map_sidecar"].read_text())["stat"] == "z"
    assert nib.load(paths["thresholded_map"]).header.get_intent()[0] == "z score"
    prov = json.loads(paths["provenance"].read_text())
    assert prov["method"] == method and prov["min_cluster_size"] == res.min_cluster_size
    assert prov["smoothness"]["fwhm_mm"] == [8.0, 8.0, 8.0]
    assert "Cluster inference" in res.summary()
    assert res.to_frame().equals(res.clusters)


def test_t_map_is_converted_and_matches_z_map(tmp_path):
    rng = np.random.default_rng(3)
    z = _blob_map(rng, (30, 30, 30))
    df = 18
    t = stats.t.isf(stats.norm.sf(z), df)  # exact inverse of the t -> z conversion
    affine = np.eye(4)
    mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), affine)
    s = smoothness_from_fwhm(4.0, 1.0, z.size)
    rz = grf_cluster_correct(nib.Nifti1Image(z, affine), 0.001, 0.05, stat="z", smoothness=s,
                             mask_img=mask, atlas=False)
    rt = grf_cluster_correct(nib.Nifti1Image(t, affine), 0.001, 0.05, stat="t", df=df,
                             smoothness=s, mask_img=mask, atlas=False)
    np.testing.assert_array_equal(rz.clusters.size_voxels, rt.clusters.size_voxels)
    np.testing.assert_allclose(rt.clusters.peak_z, rz.clusters.peak_stat, rtol=1e-8)
    assert rt.height_threshold == pytest.approx(stats.t.isf(0.0005, df))
    # provenance of a t-map analysis written by save(): stat, df, tails, thresholds, k*
    prov = json.loads(rt.save(tmp_path)["provenance"].read_text())
    assert (prov["stat"], prov["df"], prov["two_tailed"]) == ("t", df, True)
    assert prov["height_threshold"] == pytest.approx(stats.t.isf(0.0005, df))
    assert prov["z_threshold"] == pytest.approx(stats.norm.isf(0.0005))
    assert prov["min_cluster_size"] == rt.min_cluster_size == rz.min_cluster_size
    assert prov["n_mask_voxels"] == z.size and prov["connectivity"] == 26
    np.testing.assert_allclose(prov["smoothness"]["fwhm_mm"], [4.0, 4.0, 4.0])
    np.testing.assert_allclose(prov["parameters"]["dlh"], A ** 1.5 / 4.0 ** 3, rtol=1e-10)


def test_smoothness_estimated_from_map_warns():
    rng = np.random.default_rng(4)
    z = smooth_field(rng, (24, 24, 24), 3.0)
    img = nib.Nifti1Image(z, np.eye(4))
    mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), np.eye(4))
    with pytest.warns(InferenceWarning, match="single statistic map"):
        res = grf_cluster_correct(img, 0.001, 0.05, stat="z", mask_img=mask, atlas=False)
    assert res.smoothness.source == "stat_map"


def test_lenient_threshold_warns_eklund():
    z = np.zeros((10, 10, 10))
    img = nib.Nifti1Image(z, np.eye(4))
    mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), np.eye(4))
    s = smoothness_from_fwhm(3.0, 1.0, 1000)
    with pytest.warns(InferenceWarning, match="Eklund"):
        grf_cluster_correct(img, 0.01, 0.05, stat="z", smoothness=s, mask_img=mask,
                            atlas=False)


def test_bad_input(tmp_path):
    z = np.zeros((10, 10, 10))
    img = nib.Nifti1Image(z, np.eye(4))
    mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), np.eye(4))
    s = smoothness_from_fwhm(3.0, 1.0, 1000)
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="'voxel_p' parameter must be in"):
            grf_cluster_correct(img, bad, 0.05, stat="z", smoothness=s, mask_img=mask)
        with pytest.raises(ValueError, match="'cluster_p' parameter must be in"):
            grf_cluster_correct(img, 0.001, bad, stat="z", smoothness=s, mask_img=mask)
    with pytest.raises(ValueError, match="'df' parameter must be in"):
        grf_cluster_correct(img, 0.001, 0.05, stat="t", df=0, smoothness=s, mask_img=mask)
    with pytest.raises(ValueError, match="'df' parameter is required"):
        grf_cluster_correct(img, 0.001, 0.05, stat="t", smoothness=s, mask_img=mask)
    nan = z.copy()
    nan[3, 4, 5] = np.nan
    path = tmp_path / "zstat.nii.gz"
    nib.save(nib.Nifti1Image(nan, np.eye(4)), path)
    with pytest.raises(DataError, match=r"zstat.nii.gz.*NaN/inf voxel\(s\) inside the mask"):
        grf_cluster_correct(str(path), 0.001, 0.05, stat="z", smoothness=s, mask_img=mask)
    with pytest.raises(DataError, match="give mask_img"):
        grf_cluster_correct(str(path), 0.001, 0.05, stat="z", smoothness=s)
    with pytest.raises(DataError, match="empty"):
        grf_cluster_correct(img, 0.001, 0.05, stat="z", smoothness=s,
                            mask_img=nib.Nifti1Image(np.zeros(z.shape, np.uint8), np.eye(4)))
    with pytest.raises(ImageError, match="shape"):
        grf_cluster_correct(img, 0.001, 0.05, stat="z", smoothness=s,
                            mask_img=nib.Nifti1Image(np.ones((9, 9, 9), np.uint8), np.eye(4)))
    with pytest.raises(ImageError, match="affines"):
        grf_cluster_correct(img, 0.001, 0.05, stat="z", smoothness=s,
                            mask_img=nib.Nifti1Image(np.ones(z.shape, np.uint8),
                                                     np.diag([2.0, 2, 2, 1])))
    with pytest.raises(TypeError, match="Smoothness"):
        grf_cluster_correct(img, 0.001, 0.05, stat="z", smoothness=8.0, mask_img=mask)
    with pytest.raises(ValueError, match="'method'"):
        grf_cluster_correct(img, 0.001, 0.05, stat="z", smoothness=s, mask_img=mask,
                            method="afni")
    with pytest.raises(ValueError, match="connectivity"):
        grf_cluster_correct(img, 0.001, 0.05, stat="z", smoothness=s, mask_img=mask,
                            connectivity=4)
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        grf_cluster_pvalue(-1, 0.001, s, two_tailed=False)


def _null_fwe(method, reps, shape, fwhm, voxel_p, seed):
    rng = np.random.default_rng(seed)
    affine = np.eye(4)
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), affine)
    s = smoothness_from_fwhm(fwhm, 1.0, int(np.prod(shape)))
    hits = 0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferenceWarning)  # Eklund warning at p = 0.01
        for _ in range(reps):
            z = smooth_field(rng, shape, fwhm)
            res = grf_cluster_correct(nib.Nifti1Image(z, affine), voxel_p, 0.05, stat="z",
                                      smoothness=s, mask_img=mask, method=method, atlas=False)
            hits += res.n_significant > 0
    return hits / reps


@pytest.mark.parametrize("method", ["fsl", "spm"])
def test_null_fwe_small(method):
    # 60 null fields: FWE must not exceed 0.05 by more than 3 binomial SEs
    rate = _null_fwe(method, 60, (32, 32, 32), 4.0, 0.001, seed=100)
    assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 60)


@pytest.mark.fwe
def test_null_fwe_holds_at_p001():
    """Strict FWE check: 1000 ideal Gaussian fields (32³, FWHM 4 voxels, known smoothness).

    GRF calls a cluster significant exactly when its size reaches k* (checked on the first
    fields against grf_cluster_correct itself), so the FWE of each method is the fraction
    of fields whose largest cluster reaches its k*: the fields are generated and labelled
    in batches (one ``ndimage.label`` per batch), both methods on the same fields.
    """
    reps, shape, fwhm = 1000, (32, 32, 32), 4.0
    rng = np.random.default_rng(200)
    mask = np.ones(shape, bool)
    s = smoothness_from_fwhm(fwhm, 1.0, int(mask.sum()))
    resels = spm_resels_vol(mask, s.fwhm_voxels)
    methods = {"fsl": 26, "spm": 18}
    k = {m: grf_min_cluster_size(0.001, 0.05, s, two_tailed=True, method=m,
                                 resels=resels if m == "spm" else None) for m in methods}
    z_star = stats.norm.isf(0.0005)
    hits = dict.fromkeys(methods, 0)
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), np.eye(4))
    for start in range(0, reps, 50):
        fields = smooth_fields(rng, 50, shape, fwhm)
        for m, conn in methods.items():
            big = max_cluster_sizes(fields, z_star, conn) >= k[m]
            hits[m] += int(big.sum())
            if start == 0:  # the shortcut is the function's decision
                for z, b in zip(fields[:10], big[:10]):
                    res = grf_cluster_correct(nib.Nifti1Image(z, np.eye(4)), 0.001, 0.05,
                                              stat="z", smoothness=s, mask_img=mask_img,
                                              method=m, atlas=False)
                    assert (res.n_significant > 0) == b and res.min_cluster_size == k[m]
    se = np.sqrt(0.05 * 0.95 / reps)
    for m in methods:
        assert hits[m] / reps <= 0.05 + 2.5 * se, (m, hits[m] / reps)


def test_voxelwise_result_feeds_grf_and_detects_planted_effect():
    from painmarkers.inference import voxelwise_ttest

    rng = np.random.default_rng(11)
    shape = (24, 24, 24)
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    blob = np.exp(-((zz - 12) ** 2 + (yy - 12) ** 2 + (xx - 8) ** 2) / (2 * 2.5 ** 2))
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    maps = [nib.Nifti1Image((smooth_field(rng, shape, 3.0) + 1.5 * blob).astype(np.float32),
                            affine) for _ in range(16)]
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), affine)
    vr = voxelwise_ttest(maps, mask_img=mask)
    for method in ("fsl", "spm"):
        res = grf_cluster_correct(vr, 0.001, 0.05, method=method, atlas=False)
        assert res.stat == "t" and res.df == 15
        assert res.smoothness is vr.smoothness
        top = res.clusters.iloc[0]
        assert top.significant and top.sign == 1
        assert abs(top.peak_i - 12) <= 2 and abs(top.peak_k - 8) <= 2


@pytest.mark.parametrize("call, match", [
    (lambda s: grf_min_cluster_size(0.0, 0.05, s, two_tailed=False),
     r"'voxel_p' parameter must be in \(0, 1\)"),
    (lambda s: grf_min_cluster_size(0.001, 1.0, s, two_tailed=False),
     r"'cluster_p' parameter must be in \(0, 1\)"),
    (lambda s: grf_cluster_pvalue(10, 1.2, s, two_tailed=False),
     r"'voxel_p' parameter must be in \(0, 1\)"),
    (lambda s: grf_cluster_pvalue(10, np.nan, s, two_tailed=False),
     "'voxel_p' parameter must be finite"),
    (lambda s: grf_cluster_pvalue(10, 0.001, s, two_tailed=False, stat="t", df=0),
     "'df' parameter must be in"),
    (lambda s: grf_min_cluster_size(0.001, 0.05, s, two_tailed=False, stat="t", df=-1),
     "'df' parameter must be in"),
])
def test_public_grf_functions_refuse_bad_p_and_df(call, match):
    with pytest.raises(ValueError, match=match):
        call(smoothness_from_fwhm(8.0, 2.0, 60000))
