"""GRF cluster inference on voxelwise_glm maps: F fields (SPM's EC densities, FSL's F -> z),
the GLM's contrasts read with their kind, df and residual smoothness.

Reference values are computed in the tests from published formulas, independently of
painmarkers' code paths: the χ² field EC densities of Worsley (1994) / Adler (1981) (the
ν -> ∞ limit of the F field), the identity F(1, ν) = T(ν)², and the Poisson clumping form of
``spm_P_RF`` (Friston et al. 1994; Worsley et al. 1996).
"""

import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, special, stats

from painmarkers.exceptions import DataError
from painmarkers.inference import (
    grf_cluster_correct,
    grf_cluster_pvalue,
    grf_min_cluster_size,
    smoothness_from_fwhm,
    spm_p_rf,
    spm_resels_vol,
    voxelwise_glm,
)
from painmarkers.inference._conversions import f_to_z
from painmarkers.inference._spm_rf import ec_density

from .conftest import smooth_field

A = 4 * np.log(2)


def _chi2_density(u, k):
    """EC densities of a χ²_k field in resel units (Worsley 1994, Adler 1981)."""
    norm = (2 * np.pi) ** 0.5 * special.gamma(k / 2) * 2 ** ((k - 2) / 2)
    e = np.exp(-u / 2)
    return np.array([
        stats.chi2.sf(u, k),
        A ** 0.5 * u ** ((k - 1) / 2) * e / norm,
        A * u ** ((k - 2) / 2) * e / norm / (2 * np.pi) ** 0.5 * (u - (k - 1)),
        A ** 1.5 * u ** ((k - 3) / 2) * e / norm / (2 * np.pi)
        * (u ** 2 - (2 * k - 1) * u + (k - 1) * (k - 2)),
    ])


@pytest.mark.parametrize("nu", [4, 12, 40, 300])
@pytest.mark.parametrize("u", [2.0, 9.0, 25.0])
def test_f_density_with_one_numerator_df_is_twice_the_t_density(nu, u):
    # {F(1, ν) > u} = {T > √u} ∪ {T < −√u}: EC densities add
    np.testing.assert_allclose(ec_density("F", u, (1, nu)),
                               2 * ec_density("T", np.sqrt(u), [1, nu]), rtol=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("chi", [8.0, 15.0, 30.0])
def test_f_density_tends_to_the_chi2_density(k, chi):
    # k·F(k, ν) -> χ²_k as ν -> ∞ and the difference decays as 1/ν (a wrong formula would
    # converge to something else, or not at the rate 1/ν)
    ref = _chi2_density(chi, k)
    err = [np.max(np.abs(ec_density("F", chi / k, (k, nu)) / ref - 1)) for nu in (1e5, 1e6)]
    assert err[1] < 3e-4
    assert err[0] / err[1] == pytest.approx(10.0, rel=0.01)


def test_f_density_bad_df():
    with pytest.raises(ValueError, match=r"F field needs degrees of freedom \(k, ν\)"):
        ec_density("F", 3.0, 12)
    with pytest.raises(ValueError, match="height of an F field must be > 0"):
        ec_density("F", 0.0, (2, 12))


@pytest.mark.parametrize("df", [(2, 20), (3, 47.5), (1, 12)])
def test_spm_p_rf_f_field_from_the_poisson_clumping_formula(df):
    resels = np.array([3.0, 40.0, 350.0, 900.0])
    u = stats.f.isf(0.001, *df)
    rho = ec_density("F", u, df)
    ec = float(np.sum(resels * rho))        # E[maxima] = Σ R_d ρ_d (n = 1)
    en = rho[0] * resels[3]                  # expected supra-threshold resels
    ek = en / (resels[3] * rho[3])           # expected resels per cluster
    beta = (special.gamma(2.5) / ek) ** (2 / 3)
    for k in (0.0, 0.2, 1.5):
        p_k = np.exp(-beta * k ** (2 / 3)) if k else 1.0
        P, p, Ec, Ek, EN = spm_p_rf(1, k, u, list(df), "F", resels)
        np.testing.assert_allclose([P, p, Ec, Ek, EN],
                                   [1 - np.exp(-ec * p_k), p_k, ec, ek, en], rtol=1e-12)
    if df[0] == 1:  # F(1, ν) is the two-tailed T(ν) field
        ec_t = float(np.sum(resels * ec_density("T", np.sqrt(u), [1, df[1]])))
        np.testing.assert_allclose(spm_p_rf(1, 0, u, list(df), "F", resels)[0],
                                   1 - np.exp(-2 * ec_t), rtol=1e-12)


def _f_of_z(z, df):
    """F map with the upper tail of z: F(2, ν) has P(F > f) = (1 + 2f/ν)^(−ν/2)."""
    return df[1] / 2 * np.expm1(-2 / df[1] * stats.norm.logsf(z))


def test_grf_spm_f_map_cluster_p_from_spm_p_rf():
    rng = np.random.default_rng(8)
    shape = (26, 26, 26)
    z = smooth_field(rng, shape, 3.0)
    z[6:11, 6:11, 6:11] += 6.0
    z[16:19, 15:19, 15:18] += 5.0
    df = (2.0, 40.0)
    img = nib.Nifti1Image(_f_of_z(z, df), np.eye(4))
    mask = np.ones(shape, bool)
    s = smoothness_from_fwhm(3.0, 1.0, int(mask.sum()))
    res = grf_cluster_correct(img, 0.001, 0.05, two_tailed=False, stat="F", df=df,
                              smoothness=s, mask_img=nib.Nifti1Image(mask.astype(np.uint8),
                                                                     np.eye(4)),
                              method="spm", atlas=False)
    u = stats.f.isf(0.001, *df)
    labels, _ = ndimage.label(img.get_fdata() > u, ndimage.generate_binary_structure(3, 2))
    sizes = np.sort(np.bincount(labels.ravel())[1:])[::-1]
    assert res.stat == "F" and res.height_threshold == pytest.approx(u)
    np.testing.assert_array_equal(res.clusters["size_voxels"], sizes)
    resels = spm_resels_vol(mask, s.fwhm_voxels)
    expected = [spm_p_rf(1, k / s.resel_size, u, list(df), "F", resels)[0] for k in sizes]
    np.testing.assert_allclose(res.clusters["p_cluster"], expected, rtol=1e-12)
    np.testing.assert_allclose(grf_cluster_pvalue(sizes, 0.001, s, two_tailed=False,
                                                  method="spm", stat="F", df=df,
                                                  resels=resels), expected, rtol=1e-12)
    kstar = grf_min_cluster_size(0.001, 0.05, s, two_tailed=False, method="spm", stat="F",
                                 df=df, resels=resels)
    assert res.min_cluster_size == kstar
    assert spm_p_rf(1, kstar / s.resel_size, u, list(df), "F", resels)[0] < 0.05
    assert spm_p_rf(1, (kstar - 1) / s.resel_size, u, list(df), "F", resels)[0] >= 0.05
    assert res.parameters["expected_clusters"] == pytest.approx(
        spm_p_rf(1, 0, u, list(df), "F", resels)[2])


# --- voxelwise_glm results feed GRF -----------------------------------------------------------
def _study(seed=0, n_subjects=12, shape=(14, 14, 12)):
    rng = np.random.default_rng(seed)
    visits = ["pre", "post", "fu"]
    table = pd.DataFrame({
        "subject_id": np.repeat([f"s{i:02d}" for i in range(n_subjects)], 3),
        "arm": np.repeat(["sham", "active"], n_subjects * 3 // 2),
        "session": pd.Categorical(visits * n_subjects, visits)})
    data = np.stack([smooth_field(rng, shape, 2.5) for _ in range(len(table))])
    data += np.repeat(np.stack([smooth_field(rng, shape, 2.5) for _ in range(n_subjects)]),
                      3, axis=0) * 2 + 50
    effect = ((table["arm"] == "active") & (table["session"] != "pre")).to_numpy()
    data[effect, 3:8, 3:8, 3:7] += 2.5
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    return table, [nib.Nifti1Image(d.astype(np.float32), affine) for d in data]


def test_glm_contrasts_feed_grf_with_their_kind_df_and_smoothness(tmp_path):
    table, imgs = _study()
    res = voxelwise_glm(imgs, "~ arm * session", {
        "post": "arm[T.sham]:session[T.post]", "inter": "arm:session"},
        data=table, subject="subject_id")
    f = res["inter"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fsl = grf_cluster_correct(f, 0.001, 0.05, two_tailed=False, atlas=False)
        spm = grf_cluster_correct(f, 0.001, 0.05, two_tailed=False, method="spm",
                                  atlas=False)
        t = grf_cluster_correct(res["post"], 0.001, 0.05, atlas=False)
    assert fsl.stat == spm.stat == "F" and fsl.df == (2.0, 20.0) == res["inter"].df
    assert fsl.parameters["stat_from"] == "the GLM contrast 'inter'"
    assert fsl.parameters["smoothness_from"] == "the GLM (residuals)"
    assert fsl.smoothness.dlh == res.smoothness.dlh
    assert fsl.n_significant >= 1 and spm.n_significant >= 1 and t.n_significant >= 1
    # the planted block (arm x time in 5 x 5 x 4 voxels) is found by each
    for r in (fsl, spm, t):
        peak = r.clusters.loc[r.clusters["significant"], ["peak_i", "peak_j", "peak_k"]]
        assert ((peak >= 2) & (peak <= 8)).all(axis=None)
    # FSL corrects the F map as the z map of the same p (DPABI)
    z = np.zeros(f.stat_img.shape)
    inside = res.mask_img.get_fdata() > 0
    z[inside] = f_to_z(f.stat_img.get_fdata()[inside], f.df)
    zres = grf_cluster_correct(nib.Nifti1Image(z, f.stat_img.affine), 0.001, 0.05,
                               two_tailed=False, stat="z", smoothness=res.smoothness,
                               mask_img=res.mask_img, atlas=False)
    np.testing.assert_array_equal(fsl.clusters["size_voxels"], zres.clusters["size_voxels"])
    np.testing.assert_allclose(fsl.clusters["p_cluster"], zres.clusters["p_cluster"],
                               rtol=1e-12)
    # the saved F map (intent, descrip, sidecar with the smoothness) gives the same result
    files = res.save(tmp_path)
    again = grf_cluster_correct(files["contrast-02/fmap"], 0.001, 0.05, two_tailed=False,
                                mask_img=files["mask"], atlas=False)
    assert again.df == (2.0, 20.0)
    np.testing.assert_array_equal(again.clusters["size_voxels"], fsl.clusters["size_voxels"])
    np.testing.assert_allclose(again.clusters["p_cluster"], fsl.clusters["p_cluster"],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="F map is one-tailed"):
        grf_cluster_correct(f, 0.001, 0.05, atlas=False)
    with pytest.raises(ValueError, match="GLMResult with 2 contrasts"):
        grf_cluster_correct(res, 0.001, 0.05, atlas=False)
    with pytest.raises(DataError, match="contradicts"):
        grf_cluster_correct(f, 0.001, 0.05, two_tailed=False, stat="t", atlas=False)
