"""Statistic maps carry their kind and df (intent code, descrip, sidecar) and GRF reads them.

Reference values are computed here independently: cluster counts with
scipy.ndimage.label on thresholds from scipy.stats, t -> z with scipy.stats, and DPABI's
minimum cluster size with the loop y_GRF_Threshold runs (Friston et al. 1994 terms written
out in the test).
"""

import json
import warnings

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage, special, stats

from painmarkers.exceptions import DataError, InferenceWarning
from painmarkers.inference import grf_cluster_correct, smoothness_from_fwhm, voxelwise_ttest
from painmarkers.inference._statmaps import read_stat_info, sidecar_path, tag_stat_img

from .conftest import smooth_field

AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
# The null maps below are 2 voxels smooth by construction, so their estimated FWHM lands
# either side of the 2-voxel limit of the GRF validity warning; these tests are about map
# headers (tests/inference/test_grf_validity.py tests that warning).
pytestmark = pytest.mark.filterwarnings(
    "ignore:The estimated smoothness is FWHM:painmarkers.exceptions.InferenceWarning")
S26 = ndimage.generate_binary_structure(3, 3)


def _one_sample_24(shape=(40, 40, 40), seed=1):
    """24 null subject maps (FWHM 2 voxels): a one-sample t map with 23 df."""
    rng = np.random.default_rng(seed)
    imgs = [nib.Nifti1Image(smooth_field(rng, shape, 2.0).astype(np.float32), AFFINE)
            for _ in range(24)]
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), AFFINE)
    return voxelwise_ttest(imgs, mask_img=mask)


def _count(t, thr):
    return sum(ndimage.label(sign * t > thr, S26)[1] for sign in (1, -1))


def test_library_t_map_at_df23_is_read_as_t_not_z(tmp_path):
    res = _one_sample_24()
    assert res.df == 23
    out = res.save(tmp_path)
    t = nib.load(out["tmap"]).get_fdata()
    # what thresholding the t map as z gave (the bug) and what the t threshold gives
    as_z = _count(t, stats.norm.isf(0.0005))
    as_t = _count(t, stats.t.isf(0.0005, 23))
    assert (as_z, as_t) == (107, 43)
    res_file = grf_cluster_correct(out["tmap"], 0.001, 0.05, mask_img=out["mask"], atlas=False)
    assert res_file.stat == "t" and res_file.df == 23
    assert len(res_file.clusters) == as_t
    assert "NIfTI intent code" in res_file.parameters["stat_from"]
    # the residual smoothness comes back from the sidecar at full precision: same k*
    in_memory = grf_cluster_correct(res, 0.001, 0.05, atlas=False)
    assert res_file.smoothness.dlh == pytest.approx(res.smoothness.dlh, rel=1e-12)
    assert res_file.min_cluster_size == in_memory.min_cluster_size
    pd_equal = res_file.clusters.drop(columns=["p_cluster"]).equals(
        in_memory.clusters.drop(columns=["p_cluster"]))
    assert pd_equal
    # a stat or df contradicting the header is refused
    with pytest.raises(DataError, match=r"stat='z' contradicts .*tmap.nii.gz.*t map with df "
                                        r"= 23"):
        grf_cluster_correct(out["tmap"], 0.001, 0.05, stat="z", mask_img=out["mask"])
    with pytest.raises(DataError, match="df=20 contradicts"):
        grf_cluster_correct(out["tmap"], 0.001, 0.05, stat="t", df=20, mask_img=out["mask"])
    # agreeing arguments are accepted
    same = grf_cluster_correct(out["tmap"], 0.001, 0.05, stat="t", df=23,
                               mask_img=out["mask"], atlas=False)
    assert len(same.clusters) == as_t


def test_map_of_unknown_kind_is_refused_unless_stat_given(tmp_path):
    res = _one_sample_24(shape=(20, 20, 20), seed=3)
    t = res.t_img.get_fdata()
    bare = tmp_path / "bare.nii.gz"
    nib.save(nib.Nifti1Image(t, AFFINE), bare)  # no intent, no descrip, no sidecar
    assert read_stat_info(nib.load(bare), bare).stat is None
    s = smoothness_from_fwhm(6.0, 3.0, t.size)
    with pytest.raises(DataError, match=r"Cannot tell what statistic stat_img \(.*bare.nii.gz\) "
                                        r"holds.*pass stat='t' with df="):
        grf_cluster_correct(bare, 0.001, 0.05, smoothness=s)
    ok = grf_cluster_correct(bare, 0.001, 0.05, stat="t", df=23, smoothness=s, atlas=False)
    assert ok.stat == "t" and ok.parameters["stat_from"] == "the arguments"


def test_intents_descrip_and_sidecars_of_every_map(tmp_path):
    res = _one_sample_24(shape=(16, 16, 16), seed=4)
    assert res.t_img.header.get_intent()[:2] == ("t test", (23.0,))
    assert res.z_img.header.get_intent()[0] == "z score"
    descrip = res.t_img.header["descrip"].tobytes().decode()
    assert descrip.startswith("painmarkers{T_[23.0]}{dLh_")
    out = res.save(tmp_path / "glm")
    side = json.loads(out["tmap_sidecar"].read_text())
    assert (side["stat"], side["df"]) == ("t", 23.0)
    assert side["smoothness"]["dlh"] == pytest.approx(res.smoothness.dlh, rel=1e-12)
    assert json.loads(out["zmap_sidecar"].read_text())["stat"] == "z"
    assert sidecar_path(out["tmap"]) == out["tmap_sidecar"]
    back = nib.load(out["tmap"])
    assert back.header.get_intent()[:2] == ("t test", (23.0,))
    # GRF output maps say what they hold too
    cres = grf_cluster_correct(res, 0.001, 0.05, atlas=False)
    assert cres.stat_img.header.get_intent()[:2] == ("t test", (23.0,))
    assert cres.thresholded_img.header.get_intent()[:2] == ("t test", (23.0,))
    assert cres.p_img.header.get_intent()[0] == "p value"
    cout = cres.save(tmp_path / "grf")
    assert json.loads(cout["thresholded_map_sidecar"].read_text())["df"] == 23.0


def _dpabi_min_cluster_size(voxel_p, cluster_p, dlh, n_voxels):
    """DPABI's y_GRF_Threshold loop, two-tailed, written out from its documentation."""
    z = stats.norm.isf(voxel_p / 2)
    em = n_voxels * (2 * np.pi) ** -2 * dlh * (z * z - 1) * np.exp(-z * z / 2)
    en = n_voxels * stats.norm.sf(z)
    beta = (special.gamma(2.5) * em / en) ** (2 / 3)
    k, p = 0, 1.0
    while p >= cluster_p / 2:
        k += 1
        p = 1 - np.exp(-em * np.exp(-beta * k ** (2 / 3)))
    return k


def test_dpabi_t_map_is_corrected_as_dpabi_does(tmp_path):
    res = _one_sample_24(shape=(30, 30, 30), seed=5)
    t = np.asarray(res.t_img.dataobj)
    img = nib.Nifti1Image(t, AFFINE)  # fresh header: no intent
    img.header["descrip"] = b"DPABI{T_[23.0]}{dLh_0.123456}{FWHMx_7.1FWHMy_7.2FWHMz_7.3mm}"
    path = tmp_path / "T_Map.nii"
    nib.save(img, path)
    mask = nib.Nifti1Image(np.ones(t.shape, np.uint8), AFFINE)
    cres = grf_cluster_correct(path, 0.001, 0.05, mask_img=mask, atlas=False)
    assert cres.stat == "t" and cres.df == 23
    assert cres.smoothness.dlh == 0.123456 and cres.smoothness.source == "header"
    np.testing.assert_allclose(cres.smoothness.fwhm_mm, (7.1, 7.2, 7.3))
    assert "DPABI" in cres.parameters["smoothness_from"]
    k = _dpabi_min_cluster_size(0.001, 0.05, 0.123456, t.size)
    assert cres.min_cluster_size == k
    # DPABI converts T to Z and keeps clusters of z >= z* with at least k voxels
    z = np.sign(t) * stats.norm.isf(stats.t.sf(np.abs(t), 23))
    thr = stats.norm.isf(0.0005)
    sizes = []
    for sign in (1, -1):
        lab, n = ndimage.label(sign * z > thr, S26)
        sizes += [int((lab == i).sum()) for i in range(1, n + 1)]
    assert sorted(cres.clusters["size_voxels"]) == sorted(sizes)
    assert sorted(cres.clusters.loc[cres.clusters.significant, "size_voxels"]) == sorted(
        s for s in sizes if s >= k)
    # dLh_0 (DPABI's "unknown") falls back to the map itself, with a warning
    img.header["descrip"] = b"DPABI{T_[23.0]}{dLh_0.000000}{FWHMx_0.0FWHMy_0.0FWHMz_0.0mm}"
    nib.save(img, path)
    with pytest.warns(InferenceWarning, match="single statistic map"):
        est = grf_cluster_correct(path, 0.001, 0.05, mask_img=mask, atlas=False)
    assert est.smoothness.source == "stat_map" and est.df == 23


def test_spm_descrip_and_contradicting_headers(tmp_path):
    t = np.zeros((8, 8, 8))
    t[2:5, 2:5, 2:5] = 6.0
    img = nib.Nifti1Image(t, np.eye(4))
    img.header["descrip"] = b"SPM{T_[18.0]} - contrast 1: patients > controls"
    info = read_stat_info(img)
    assert (info.stat, info.df) == ("t", 18.0) and "descrip" in info.source
    img.header.set_intent("t test", (23.0,))
    with pytest.raises(DataError, match=r"contradicts itself: its NIfTI intent code says "
                                        r"stat='t', df=23.0 but its descrip"):
        read_stat_info(img, label="spmT_0001.nii")
    r = nib.Nifti1Image(t, np.eye(4))
    r.header["descrip"] = b"DPABI{R_[23.0]}"
    with pytest.raises(DataError, match="correlation"):
        read_stat_info(r)


def test_f_map_is_converted_to_z_and_one_tailed(tmp_path):
    rng = np.random.default_rng(6)
    shape = (24, 24, 24)
    z = smooth_field(rng, shape, 2.0)
    z[8:12, 8:12, 8:12] += 6.0
    df = (2.0, 30.0)
    # F map with the upper tail of z, from the closed form P(F > f) = (1 + 2f/d2)^(-d2/2)
    # of F(2, d2) (scipy's f.isf loses 1e-6 in the far tail)
    f = df[1] / 2 * np.expm1(-2 / df[1] * stats.norm.logsf(z))
    img = tag_stat_img(nib.Nifti1Image(f, np.eye(4)), "F", df)
    assert img.header.get_intent()[:2] == ("f test", df)
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), np.eye(4))
    s = smoothness_from_fwhm(2.0, 1.0, int(np.prod(shape)))
    res = grf_cluster_correct(img, 0.001, 0.05, two_tailed=False, smoothness=s,
                              mask_img=mask, atlas=False)
    ref = grf_cluster_correct(nib.Nifti1Image(z, np.eye(4)), 0.001, 0.05, two_tailed=False,
                              stat="z", smoothness=s, mask_img=mask, atlas=False)
    assert res.stat == "F" and res.df == df
    np.testing.assert_array_equal(res.clusters.size_voxels, ref.clusters.size_voxels)
    np.testing.assert_allclose(res.clusters.peak_z, ref.clusters.peak_stat, rtol=1e-8)
    assert res.height_threshold == pytest.approx(stats.f.isf(0.001, *df))
    with pytest.raises(ValueError, match="F map is one-tailed"):
        grf_cluster_correct(img, 0.001, 0.05, smoothness=s, mask_img=mask)
    # SPM corrects the F map itself with F-field EC densities (tests/inference/test_glm_grf.py)
    spm = grf_cluster_correct(img, 0.001, 0.05, two_tailed=False, smoothness=s, mask_img=mask,
                              method="spm")
    assert spm.stat == "F" and spm.height_threshold == pytest.approx(stats.f.isf(0.001, *df))


def test_implicit_search_volume_leaves_out_nan_voxels_and_counts_them(tmp_path):
    # SPM writes NaN outside the brain: those voxels are outside the search volume
    z = np.full((12, 12, 12), np.nan)
    z[2:10, 2:10, 2:10] = 0.5
    z[4:7, 4:7, 4:7] = 6.0
    img = tag_stat_img(nib.Nifti1Image(z, np.eye(4)), "z")
    s = smoothness_from_fwhm(2.0, 1.0, 512)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = grf_cluster_correct(img, 0.001, 0.05, smoothness=s, atlas=False)
    assert res.n_mask_voxels == 512
    assert res.parameters["n_nonfinite_excluded"] == 12 ** 3 - 512
    assert res.clusters.loc[0, "size_voxels"] == 27
