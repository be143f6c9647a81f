"""Smoothness estimation (FSL smoothest) against planted FWHM and a naive loop."""

import warnings

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from painmarkers.exceptions import DataError, ImageError, InferenceWarning
from painmarkers.inference import Smoothness, estimate_smoothness, smoothness_from_fwhm
from painmarkers.inference.smoothness import dof_correction

from .conftest import smooth_field


def _naive_smoothest(res, mask, dof):
    """Loop implementation of FSL smoothest's sums (TR00DF1), written independently."""
    r = res.copy()
    m = mask.copy()
    for idx in np.argwhere(m):
        ts = r[tuple(idx)]
        sd = ts.std(ddof=1)
        if sd > 0:
            r[tuple(idx)] = (ts - ts.mean()) / sd
        else:
            m[tuple(idx)] = False
    ss = np.zeros(3)
    s2 = np.zeros(3)
    n = 0
    nx, ny, nz = m.shape
    for x in range(1, nx):
        for y in range(1, ny):
            for z in range(1, nz):
                if m[x, y, z] and m[x - 1, y, z] and m[x, y - 1, z] and m[x, y, z - 1]:
                    n += 1
                    v = r[x, y, z]
                    for d, w in enumerate((r[x - 1, y, z], r[x, y - 1, z], r[x, y, z - 1])):
                        ss[d] += np.sum(v * w)
                        s2[d] += 0.5 * np.sum(v * v + w * w)
    sigsq = -1.0 / (4 * np.log(np.abs(ss / s2)))
    dlh = np.prod(sigsq) ** -0.5 * 8 ** -0.5 * dof_correction(dof)
    return np.sqrt(8 * np.log(2) * sigsq), dlh, int(m.sum()), n


def test_matches_naive_loop_with_irregular_mask():
    rng = np.random.default_rng(0)
    res = smooth_field(rng, (9, 10, 8), 2.5, extra=(7,)) + 3.0
    mask = np.zeros((9, 10, 8), bool)
    mask[1:8, 2:9, 1:7] = True
    mask[4, 4, 3] = False
    res[2, 3, 2, :] = 1.0  # a constant voxel: dropped from the mask, as FSL does
    fwhm, dlh, nvox, nused = _naive_smoothest(res, mask, dof=6)
    s = estimate_smoothness(res, mask, dof=6)
    np.testing.assert_allclose(s.fwhm_voxels, fwhm, rtol=1e-10)
    np.testing.assert_allclose(s.dlh, dlh, rtol=1e-10)
    assert (s.n_voxels, s.n_used_voxels) == (nvox, nused)
    np.testing.assert_allclose(s.resel_size, np.prod(fwhm), rtol=1e-10)
    np.testing.assert_allclose(s.n_resels, nvox / np.prod(fwhm), rtol=1e-10)


@pytest.mark.parametrize("fwhm", [3.0, 5.0])
def test_recovers_planted_fwhm_within_5_percent(fwhm):
    rng = np.random.default_rng(int(fwhm))
    res = smooth_field(rng, (40, 40, 40), fwhm, extra=(20,))
    res -= res.mean(axis=-1, keepdims=True)
    img = nib.Nifti1Image(res.astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    s = estimate_smoothness(img, dof=19)
    np.testing.assert_allclose(s.fwhm_voxels, fwhm, rtol=0.05)
    np.testing.assert_allclose(s.fwhm_mm, 2 * fwhm, rtol=0.05)
    assert s.source == "residuals" and s.dof == 19


def _fsl_interpolate(v):
    """FSL smoothest.cc's ``SMOOTHEST::interpolate`` written out here, step by step.

    The table (FSL's ``lut``, keyed by integer dof) is FSL's; the rule is FSL's code, not
    textbook interpolation: ``j`` = first key >= int(v) (``map::lower_bound``), ``i`` = the
    key before it, ``retval = (lut[j] - lut[i]) / (j - i) * (v - i) + lut[j]`` (note the
    ``+ lut[j]``), then ``sqrt``; ``v < 6`` returns 1.1 (not square-rooted); past the last
    key ``sqrt(1.0321 / v + 1)``.
    """
    lut = {5: 1.5423138, 6: 1.3757105, 7: 1.2842680, 8: 1.2272151, 9: 1.1885232,
           10: 1.1606988, 11: 1.1398000, 12: 1.1235677, 13: 1.1106196, 14: 1.1000651,
           15: 1.0913060, 16: 1.0839261, 17: 1.0776276, 18: 1.0721920, 19: 1.0674553,
           20: 1.0632924, 25: 1.0483053, 30: 1.0390117, 40: 1.0281339, 50: 1.0219834,
           60: 1.0180339, 70: 1.0152850, 80: 1.0132621, 90: 1.0117115, 100: 1.0104851,
           150: 1.0068808, 200: 1.0051200, 300: 1.0033865, 500: 1.0020191}
    if v < 6:
        return 1.1
    keys = sorted(lut)
    later = [k for k in keys if k >= int(v)]
    if not later:
        return np.sqrt(1.0321 / v + 1)
    j = later[0]
    i = keys[keys.index(j) - 1]
    return np.sqrt((lut[j] - lut[i]) / (j - i) * (v - i) + lut[j])


def _dpabi_interpolate(dof):
    """DPABI's port (y_Smoothest): MATLAB lut shifted by one index, interp1 on 1..501,
    ``retval = (L(f+1) - L(f)) * 1 + L(f+1)`` with ``f = floor(dof)``."""
    keys = np.array([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 25, 30, 40,
                     50, 60, 70, 80, 90, 100, 150, 200, 300, 500])
    vals = np.array([1.5423138, 1.3757105, 1.2842680, 1.2272151, 1.1885232, 1.1606988,
                     1.1398000, 1.1235677, 1.1106196, 1.1000651, 1.0913060, 1.0839261,
                     1.0776276, 1.0721920, 1.0674553, 1.0632924, 1.0483053, 1.0390117,
                     1.0281339, 1.0219834, 1.0180339, 1.0152850, 1.0132621, 1.0117115,
                     1.0104851, 1.0068808, 1.0051200, 1.0033865, 1.0020191])
    f = int(np.floor(dof))
    at = np.interp([f - 1, f], keys, vals)  # MATLAB L(f), L(f+1) = FSL keys f-1, f
    return np.sqrt(at[1] - at[0] + at[1])


def test_dof_correction_mirrors_fsl_smoothest():
    # hand values of FSL's rule: dof 10 -> sqrt(2 lut[10] - lut[9]); dof 27 -> between keys
    # 25 and 30: sqrt(lut[30] + 0.4 (lut[30] - lut[25]))
    np.testing.assert_allclose(dof_correction(10), np.sqrt(2 * 1.1606988 - 1.1885232),
                               rtol=1e-12)
    np.testing.assert_allclose(dof_correction(27),
                               np.sqrt(1.0390117 + 0.4 * (1.0390117 - 1.0483053)), rtol=1e-12)
    np.testing.assert_allclose(dof_correction(1000), np.sqrt(1 + 1.0321 / 1000), rtol=1e-12)
    assert dof_correction(4) == 1.1 and dof_correction(5.9) == 1.1
    for v in [6, 6.5, 7, 10, 13.3, 19, 20, 21, 24.9, 25, 26, 27, 33, 99.5, 100, 101, 333,
              499, 500, 500.5, 501, 777]:
        np.testing.assert_allclose(dof_correction(v), _fsl_interpolate(v), rtol=1e-12,
                                   err_msg=f"dof={v}")
    # DPABI's port gives the same factor for integer dof 6..20 (consecutive table keys)
    for v in range(6, 21):
        np.testing.assert_allclose(dof_correction(v), _dpabi_interpolate(v), rtol=1e-12,
                                   err_msg=f"dof={v}")


def test_dlh_formula_and_from_fwhm():
    s = smoothness_from_fwhm((6.0, 8.0, 10.0), 2.0, 5000)
    # dLh = (sx sy sz)^-1/2 8^-1/2 with s = FWHM^2 / (8 ln 2), FWHM in voxels
    sig = np.array([3.0, 4.0, 5.0]) ** 2 / (8 * np.log(2))
    np.testing.assert_allclose(s.dlh, np.prod(sig) ** -0.5 / np.sqrt(8), rtol=1e-12)
    np.testing.assert_allclose(s.resel_size, 60.0)
    np.testing.assert_allclose(s.n_resels, 5000 / 60.0)
    with pytest.raises(ValueError, match="must be > 0"):
        smoothness_from_fwhm(0.0, 2.0, 10)


def test_single_map_warns_and_is_close():
    rng = np.random.default_rng(5)
    z = smooth_field(rng, (48, 48, 48), 4.0)
    with pytest.warns(InferenceWarning, match="single statistic map"):
        s = estimate_smoothness(z)
    assert s.source == "stat_map" and s.dof is None
    np.testing.assert_allclose(s.fwhm_voxels, 4.0, rtol=0.1)


def test_smoothness_frame_and_save(tmp_path):
    s = smoothness_from_fwhm(8.0, 2.0, 1000)
    frame = s.to_frame()
    assert frame.shape == (1, 12) and frame.loc[0, "fwhm_x_mm"] == 8.0
    assert "FWHM = 8.00 x 8.00 x 8.00 mm" in s.summary()
    path = s.save(tmp_path)["smoothness"]
    import json

    payload = json.loads(path.read_text())
    assert payload["n_voxels"] == 1000 and payload["source"] == "given"
    assert [p.name for p in tmp_path.iterdir()] == ["smoothness.json"]
    assert isinstance(s, Smoothness)


def test_bad_input():
    rng = np.random.default_rng(1)
    res = rng.standard_normal((6, 6, 6, 5))
    with pytest.raises(ValueError, match="'dof'"):
        estimate_smoothness(res)
    with pytest.raises(ValueError, match="'dof' parameter must be in"):
        estimate_smoothness(res, dof=0)
    with pytest.raises(ImageError, match="mask_img has shape"):
        estimate_smoothness(res, np.ones((5, 5, 5)), dof=4)
    with pytest.raises(DataError, match="empty"):
        estimate_smoothness(res, np.zeros((6, 6, 6)), dof=4)
    bad = res.copy()
    bad[2, 2, 2, 1] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        estimate_smoothness(bad, np.ones((6, 6, 6)), dof=4)
    thin = np.zeros((6, 6, 6))
    thin[2, 2, :] = 1
    with pytest.raises(DataError, match="neighbours"):
        estimate_smoothness(res, thin, dof=4)
    with pytest.raises(ImageError, match="3-D or 4-D"):
        estimate_smoothness(np.zeros((4, 4)), dof=3)


def test_white_noise_is_rough_but_finite():
    rng = np.random.default_rng(2)
    res = ndimage.uniform_filter(rng.standard_normal((16, 16, 16, 10)), (1, 1, 1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = estimate_smoothness(res, dof=9)
    assert np.all(np.array(s.fwhm_voxels) < 1.0)


def test_dpabi_dof_correction_against_hand_values():
    # DPABI (y_Smoothest): the FSL table is interpolated at every integer, L(k); then
    # with f = floor(v): sqrt((L(f) - L(f-1)) (v - f + 1) + L(f)). Hand values:
    l20, l25, l30 = 1.0632924, 1.0483053, 1.0390117
    s = (l25 - l20) / 5  # per-unit slope between keys 20 and 25
    hand = {
        23: np.sqrt(2 * (l20 + 3 * s) - (l20 + 2 * s)),        # = sqrt(L20 + 4 s)
        21: np.sqrt(2 * (l20 + s) - l20),                        # = sqrt(L20 + 2 s)
        23.5: np.sqrt(1.5 * s + l20 + 3 * s),                    # slope s, f = 23
        25: np.sqrt(2 * l25 - (l20 + 4 * s)),                    # = sqrt(L25 + s)
        27: np.sqrt(2 * (l25 + 2 * (l30 - l25) / 5) - (l25 + (l30 - l25) / 5)),
        12: np.sqrt(2 * 1.1235677 - 1.1398000),
        5.5: 1.1,
        500.5: np.sqrt(1 + 1.0321 / 500.5),
    }
    for dof, value in hand.items():
        np.testing.assert_allclose(dof_correction(dof, "dpabi"), value, rtol=1e-12,
                                   err_msg=f"dof={dof}")
        # and the independent port of DPABI's code above agrees at integer dof
        if float(dof).is_integer() and dof >= 6:
            np.testing.assert_allclose(dof_correction(dof, "dpabi"), _dpabi_interpolate(dof),
                                       rtol=1e-12)
    # FSL's rule at the same dof (j = next key, i = key before, + L_j)
    np.testing.assert_allclose(dof_correction(23, "fsl"), np.sqrt(l25 - 3 * (l20 - l25) / 5),
                               rtol=1e-12)
    # identical for integer dof 6..20, different above
    for v in range(6, 21):
        assert dof_correction(v, "fsl") == pytest.approx(dof_correction(v, "dpabi"), rel=1e-12)
    for v in (21, 23, 27, 33, 60, 150):
        assert dof_correction(v, "fsl") < dof_correction(v, "dpabi")
    with pytest.raises(ValueError, match="'dof_correction' parameter must be one of"):
        dof_correction(23, "spm")


def test_dof_rules_give_fsl_55_and_dpabi_54_at_df_23():
    # the case: one-sample test of 24 subjects (df 23), voxel p 0.001 two-tailed,
    # cluster p 0.05; here a field of FWHM 3.95 voxels (3 mm voxels) over 60000 voxels
    from scipy import special, stats

    from painmarkers.inference import grf_min_cluster_size
    from painmarkers.inference.smoothness import smoothness_from_sums

    f = 3.95
    rho = np.exp(-1 / (4 * f ** 2 / (8 * np.log(2))))  # lag-1 correlation of that field
    z = stats.norm.isf(0.0005)
    k = {}
    for rule in ("fsl", "dpabi"):
        s = smoothness_from_sums([rho] * 3, [1.0] * 3, 1000, 60000, (3.0, 3.0, 3.0), 23,
                                 dof_correction=rule)
        assert s.dof_correction == rule
        dlh = (4 * np.log(2)) ** 1.5 / f ** 3 * dof_correction(23, rule)
        np.testing.assert_allclose(s.dlh, dlh, rtol=1e-10)
        # Friston et al. (1994) as FSL/DPABI: smallest k with p(k) < 0.05 / 2
        em = 60000 * (2 * np.pi) ** -2 * dlh * (z * z - 1) * np.exp(-z * z / 2)
        beta = (special.gamma(2.5) * em / (60000 * stats.norm.sf(z))) ** (2 / 3)
        sizes = np.arange(1, 500)
        ref = sizes[np.argmax(1 - np.exp(-em * np.exp(-beta * sizes ** (2 / 3))) < 0.025)]
        k[rule] = grf_min_cluster_size(0.001, 0.05, s, two_tailed=True)
        assert k[rule] == ref
    assert k == {"fsl": 55, "dpabi": 54}


def test_dof_correction_parameter_of_the_estimators():
    rng = np.random.default_rng(8)
    res = smooth_field(rng, (16, 16, 16), 3.0, extra=(24,))
    fsl = estimate_smoothness(res, dof=23)
    dpabi = estimate_smoothness(res, dof=23, dof_correction="dpabi")
    np.testing.assert_allclose(dpabi.dlh / fsl.dlh,
                               dof_correction(23, "dpabi") / dof_correction(23, "fsl"),
                               rtol=1e-12)
    assert fsl.fwhm_mm == dpabi.fwhm_mm  # FWHM is not corrected, by either rule
    with pytest.raises(ValueError, match="'dof_correction' parameter must be one of"):
        estimate_smoothness(res, dof=23, dof_correction="afni")


@pytest.mark.parametrize("fwhm, n_voxels, match", [
    (np.nan, 1000, "finite"),
    ((8.0, np.inf, 8.0), 1000, "finite"),
    (8.0, 0, "search volume"),
    (8.0, np.nan, "search volume"),
    (8.0, 10.5, "search volume"),
])
def test_nan_fwhm_or_empty_search_volume_is_refused(fwhm, n_voxels, match):
    with pytest.raises(ValueError, match=match):
        smoothness_from_fwhm(fwhm, 2.0, n_voxels)


def test_smoothness_object_cannot_hold_nan_or_an_empty_volume():
    from dataclasses import replace

    s = smoothness_from_fwhm(8.0, 2.0, 1000)
    with pytest.raises(ValueError, match="dlh must be finite and > 0"):
        replace(s, dlh=np.nan)
    with pytest.raises(ValueError, match=r"fwhm_voxels must be finite and > 0"):
        replace(s, fwhm_voxels=(np.nan, 4.0, 4.0))
    with pytest.raises(ValueError, match="empty search volume"):
        replace(s, n_voxels=0)
    assert Smoothness.from_dict(s.to_dict()) == s
