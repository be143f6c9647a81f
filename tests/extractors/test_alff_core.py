"""ALFF/fALFF on arrays: each convention against an independent per-voxel implementation
written here from its published formula, closed forms, invariances and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import scipy.stats

from painmarkers.exceptions import DataError, PainmarkersWarning
from painmarkers.extractors.alff import (
    ALFF_CONVENTIONS,
    alff_falff,
    alff_frequency_bins,
    alff_min_volumes,
)

BAND = (0.01, 0.08)


# --------------------------------------------------------------------------------------------
# Independent references: plain loops over voxels, full complex FFT, 1-based MATLAB indices
# --------------------------------------------------------------------------------------------
def _matlab_round(x):
    return math.floor(x + 0.5)


def ref_dpabi(x, t_r, band=BAND, detrend=True):
    """DPABI y_alff_falff as described: detrend, pad to 2^nextpow2, 2|FFT|/N, 1-based bins."""
    n = len(x)
    n_pad = 2 ** math.ceil(math.log2(n))
    y = scipy.signal.detrend(x, type="linear" if detrend else "constant")
    amp = 2 * np.abs(np.fft.fft(np.concatenate([y, np.zeros(n_pad - n)]))) / n
    fs = 1 / t_r
    i_lo = n_pad // 2 + 1 if band[0] >= fs / 2 else math.ceil(band[0] * n_pad * t_r + 1)
    i_hi = n_pad // 2 + 1 if band[1] >= fs / 2 else math.trunc(band[1] * n_pad * t_r + 1)
    sel = amp[i_lo - 1:i_hi]  # MATLAB amp(i_lo:i_hi)
    return sel.mean(), sel.sum() / amp[1:n_pad // 2 + 1].sum()


def _rest_pad(n):
    if n < 16:
        return 2 ** math.ceil(math.log2(n))
    nice = sorted({f * 2**a for f in (1, 3, 5, 15) for a in range(0, 20)})
    return next(m for m in nice if m >= n)


def ref_rest(x, t_r, band=BAND):
    """REST rest_alff: ideal low/high-pass masks on the padded FFT, sqrt(2|X|^2/N), Nyquist/2."""
    n = len(x)
    n_pad = _rest_pad(n)
    y = scipy.signal.detrend(x)
    spec = np.fft.fft(np.concatenate([y, np.zeros(n_pad - n)]))
    keep = np.ones(n_pad, dtype=bool)
    i_hi = _matlab_round(band[1] * n_pad * t_r + 1)  # low-pass keeps 1..i_hi (1-based)
    keep[i_hi:n_pad + 2 - i_hi - 1] = False
    i_lo = _matlab_round(band[0] * n_pad * t_r + 1)  # high-pass drops 1..i_lo-1
    if _matlab_round(band[0] * n_pad * t_r) != 0:
        keep[: i_lo - 1] = False
    half = spec[1:n_pad // 2 + 1]
    power = 2 * np.abs(half) ** 2 / n
    power[-1] /= 2
    amp = np.sqrt(power)
    in_band = keep[1:n_pad // 2 + 1]
    return amp[in_band].sum() / (i_hi - i_lo + 1), amp[in_band].sum() / amp.sum()


def ref_xcpd(x, t_r, band=BAND):
    """XCP-D compute_alff: standardize, scipy periodogram, nearest-bin slice, 2*mean*SD."""
    sd = np.std(x)
    y = (x - x.mean()) / sd
    freqs, power = scipy.signal.periodogram(y, 1 / t_r, scaling="spectrum")
    root = np.sqrt(power)
    lo = np.argmin(np.abs(freqs - band[0]))
    hi = np.argmin(np.abs(freqs - band[1]))
    alff = 2 * np.mean(root[lo:hi]) * sd
    falff = root[lo:hi].sum() / root[1:].sum()
    return alff, falff


def ref_bandpass_std(x, t_r, band=BAND):
    """C-PAC/AFNI style: ideal FFT band-pass, inverse FFT, SD (N-1); ratio to the full SD."""
    n = len(x)
    y = scipy.signal.detrend(x)
    spec = np.fft.rfft(y)
    freqs = np.fft.rfftfreq(n, t_r)
    keep = (freqs >= band[0] - 1e-12) & (freqs <= band[1] + 1e-12)
    filtered = np.fft.irfft(np.where(keep, spec, 0), n=n)
    sd_band = np.std(filtered, ddof=1)
    return sd_band, sd_band / np.std(y, ddof=1)


REFERENCES = {"dpabi": ref_dpabi, "rest": ref_rest, "xcpd": ref_xcpd,
              "bandpass_std": ref_bandpass_std}


def _bold_like(n_t, n_v, seed):
    """Series with a baseline, a drift, low-frequency and white components, float64."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_t)[:, None]
    low = np.cumsum(rng.normal(size=(n_t, n_v)), axis=0) * 0.3
    return (1000 + rng.normal(0, 50, n_v) + 0.05 * t * rng.normal(size=n_v)
            + low + rng.normal(0, 2, (n_t, n_v)))


# --------------------------------------------------------------------------------------------
# Agreement with the references
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_t", [190, 200, 128, 97])
@pytest.mark.parametrize("t_r", [2.0, 0.8, 2.5])
def test_dpabi_matches_reference_to_float_precision(n_t, t_r):
    x = _bold_like(n_t, 40, seed=n_t)
    alff, falff = alff_falff(x, t_r)
    expected = np.array([ref_dpabi(x[:, j], t_r) for j in range(x.shape[1])])
    np.testing.assert_allclose(alff, expected[:, 0], rtol=1e-5, atol=0)
    np.testing.assert_allclose(falff, expected[:, 1], rtol=1e-5, atol=0)


def test_dpabi_float32_input_matches_float64_reference():
    x = _bold_like(190, 60, seed=3)
    alff, falff = alff_falff(x.astype(np.float32), 2.0)
    expected = np.array([ref_dpabi(x[:, j].astype(np.float32).astype(float), 2.0)
                         for j in range(x.shape[1])])
    np.testing.assert_allclose(alff, expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(falff, expected[:, 1], rtol=1e-5)


def test_dpabi_band_reaching_nyquist_and_zero_low_edge():
    x = _bold_like(150, 10, seed=4)
    for band in [(0.0, 0.08), (0.01, 0.5)]:
        alff, falff = alff_falff(x, 1.0, band=band)
        expected = np.array([ref_dpabi(x[:, j], 1.0, band) for j in range(x.shape[1])])
        np.testing.assert_allclose(alff, expected[:, 0], rtol=1e-5)
        np.testing.assert_allclose(falff, expected[:, 1], rtol=1e-5)


def test_band_above_nyquist_is_an_error_not_clipped():
    # DPABI clips a high cut-off above Nyquist to Nyquist; painmarkers refuses it, naming
    # the band, the TR and the Nyquist frequency (issue 10)
    x = _bold_like(150, 3, seed=4)
    with pytest.raises(DataError, match=r"\(0\.05, 3\.0\) ends at 3 Hz, above the Nyquist "
                                        r"frequency 0\.5 Hz of TR = 1 s"):
        alff_falff(x, 1.0, band=(0.05, 3.0))
    with pytest.raises(DataError, match=r"above the Nyquist frequency 0\.25 Hz of TR = 2 s"):
        alff_min_volumes(2.0, band=(0.01, 0.3))
    # exactly Nyquist is accepted (the last bin is included)
    alff_falff(x, 2.0, band=(0.01, 0.25))


@pytest.mark.parametrize("convention", ["rest", "xcpd", "bandpass_std"])
@pytest.mark.parametrize("n_t,t_r", [(190, 2.0), (233, 0.72), (120, 3.0)])
def test_other_conventions_match_references(convention, n_t, t_r):
    x = _bold_like(n_t, 30, seed=n_t + 1)
    ref = REFERENCES[convention]
    if convention == "xcpd":  # XCP-D does not detrend: compare on the raw series
        alff, falff = alff_falff(x, t_r, convention=convention, detrend=False)
    else:
        alff, falff = alff_falff(x, t_r, convention=convention)
    expected = np.array([ref(x[:, j], t_r) for j in range(x.shape[1])])
    np.testing.assert_allclose(alff, expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(falff, expected[:, 1], rtol=1e-5)


def test_xcpd_with_detrend_equals_reference_on_detrended_series():
    x = _bold_like(190, 20, seed=8)
    alff, _ = alff_falff(x, 2.0, convention="xcpd", detrend=True)
    detrended = scipy.signal.detrend(x, axis=0)
    expected = [ref_xcpd(detrended[:, j], 2.0)[0] for j in range(x.shape[1])]
    np.testing.assert_allclose(alff, expected, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------
def _two_sines(a_in, a_out, k_in=20, k_out=100, n=256, phase=0.7):
    t = np.arange(n)
    return (a_in * np.cos(2 * np.pi * k_in * t / n + phase)
            + a_out * np.cos(2 * np.pi * k_out * t / n - 0.3))


@pytest.mark.parametrize("a_in,a_out", [(3.0, 1.0), (0.5, 2.0)])
def test_sinusoids_on_bin_centres_give_predicted_values(a_in, a_out):
    # N = 256 = Npad, TR = 2 s: bin k is k / 512 Hz; 0.01 Hz = bin 5.12, 0.08 Hz = bin 40.96.
    # Bin 20 (0.039 Hz) is inside the band, bin 100 (0.195 Hz) outside. Only the mean is
    # removed (whole periods: mean 0), so each sine sits on a single bin.
    x = _two_sines(a_in, a_out)
    n = 256
    # DPABI: a_k = 2|X_k|/N = A at the sine's bin; band bins 6..40 (35 bins).
    alff, falff = alff_falff(x, 2.0, detrend=False)
    np.testing.assert_allclose(alff, a_in / 35, rtol=1e-6)
    np.testing.assert_allclose(falff, a_in / (a_in + a_out), rtol=1e-6)
    # REST: sqrt(2|X|^2/N) = A sqrt(N/2); band bins round(5.12)=5 .. round(40.96)=41 (37).
    alff, falff = alff_falff(x, 2.0, convention="rest", detrend=False)
    np.testing.assert_allclose(alff, a_in * math.sqrt(n / 2) / 37, rtol=1e-6)
    np.testing.assert_allclose(falff, a_in / (a_in + a_out), rtol=1e-6)
    # XCP-D: sqrt(P) = A/sqrt(2); bins nearest 5.12 (5) up to excluding nearest 40.96 (41): 36.
    alff, falff = alff_falff(x, 2.0, convention="xcpd", detrend=False)
    np.testing.assert_allclose(alff, 2 * (a_in / math.sqrt(2)) / 36, rtol=1e-6)
    np.testing.assert_allclose(falff, a_in / (a_in + a_out), rtol=1e-6)
    # Band-passed SD: A sqrt(N / (2 (N - 1))); fALFF = A_in / sqrt(A_in^2 + A_out^2).
    alff, falff = alff_falff(x, 2.0, convention="bandpass_std", detrend=False)
    np.testing.assert_allclose(alff, a_in * math.sqrt(n / (2 * (n - 1))), rtol=1e-6)
    np.testing.assert_allclose(falff, a_in / math.hypot(a_in, a_out), rtol=1e-6)


@pytest.mark.parametrize("convention", ALFF_CONVENTIONS)
def test_white_noise_falff_is_band_fraction(convention):
    # Every bin of white noise has the same expected power: fALFF ~ share of the bins in the
    # band (amplitude conventions; Nyquist weighted as the convention weighs it) or, for the
    # band-passed SD, E[fALFF^2] ~ share of the power (interior bins count twice).
    rng = np.random.default_rng(11)
    n, t_r = 190, 2.0
    x = rng.standard_normal((n, 20000))
    _, falff = alff_falff(x, t_r, convention=convention)
    if convention == "dpabi":  # Npad 256: bins 6..40 of 1..128
        predicted, observed = 35 / 128, falff.mean()
    elif convention == "rest":  # Npad 192: bins 4..31 of 1..96, Nyquist amplitude / sqrt 2
        predicted, observed = 28 / (95 + math.sqrt(0.5)), falff.mean()
    elif convention == "xcpd":  # N 190: bins 4..29 of 1..95, Nyquist amplitude / sqrt 2
        predicted, observed = 26 / (94 + math.sqrt(0.5)), falff.mean()
    else:  # bins 4..30 (weight 2) of 1..95 (Nyquist weight 1)
        predicted, observed = 27 * 2 / (94 * 2 + 1), (falff**2).mean()
    np.testing.assert_allclose(observed, predicted, rtol=0.01)


def test_white_noise_alff_has_predicted_expectation():
    # White noise of SD sigma: every padded bin X_k (0 < k < Npad/2) is complex Gaussian with
    # E|X_k|^2 = N sigma^2, so E|X_k| = sqrt(pi N) sigma / 2 and E[DPABI ALFF] =
    # E[2|X_k|/N] = sigma sqrt(pi / N). For the band-passed SD, E[ALFF^2] = 2 n_band sigma^2
    # / (N - 1) with n_band = 27 unpadded bins (N = 190, TR = 2 s).
    rng = np.random.default_rng(5)
    sigma, n = 2.5, 190
    x = sigma * rng.standard_normal((n, 20000))
    alff, _ = alff_falff(x, 2.0)
    np.testing.assert_allclose(alff.mean(), sigma * math.sqrt(math.pi / n), rtol=0.01)
    alff, _ = alff_falff(x, 2.0, convention="bandpass_std")
    np.testing.assert_allclose((alff**2).mean(), 2 * 27 * sigma**2 / (n - 1), rtol=0.01)


# --------------------------------------------------------------------------------------------
# Invariances
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("convention", ALFF_CONVENTIONS)
def test_falff_scale_invariant_and_alff_linear(convention):
    x = _bold_like(190, 25, seed=21)
    t = np.arange(190)[:, None]
    alff, falff = alff_falff(x, 2.0, convention=convention)
    for c in (0.01, 7.5, -3.0):
        # rescaling, a new baseline and a new linear drift (removed by the detrending)
        y = c * x + 250.0 - 0.4 * t
        alff_y, falff_y = alff_falff(y, 2.0, convention=convention)
        np.testing.assert_allclose(falff_y, falff, rtol=1e-5)
        np.testing.assert_allclose(alff_y, abs(c) * alff, rtol=1e-5)


def test_standardize_mean_and_z():
    x = _bold_like(190, 50, seed=5)
    alff, falff = alff_falff(x, 2.0)
    m_alff, m_falff = alff_falff(x, 2.0, standardize="mean")
    np.testing.assert_allclose(m_alff, alff / alff.mean(), rtol=1e-12)
    np.testing.assert_allclose(m_falff, falff / falff.mean(), rtol=1e-12)
    z_alff, z_falff = alff_falff(x, 2.0, standardize="z")
    np.testing.assert_allclose(z_alff, scipy.stats.zscore(alff, ddof=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(z_falff, scipy.stats.zscore(falff, ddof=1), rtol=1e-10,
                               atol=1e-12)
    assert z_alff.std(ddof=1) == pytest.approx(1.0)


def test_discard_drops_initial_volumes():
    x = _bold_like(200, 10, seed=6)
    x[:10] += 500.0  # non-steady-state volumes
    np.testing.assert_allclose(alff_falff(x, 2.0, discard=10), alff_falff(x[10:], 2.0),
                               rtol=1e-12)


def test_one_dimensional_input_gives_one_column():
    x = _bold_like(190, 1, seed=7)
    alff, falff = alff_falff(x[:, 0], 2.0)
    assert alff.shape == falff.shape == (1,)
    np.testing.assert_allclose(alff[0], ref_dpabi(x[:, 0], 2.0)[0], rtol=1e-5)


def test_constant_voxels_become_zero_with_counted_warning():
    x = _bold_like(190, 6, seed=9)
    x[:, 1] = 1234.5
    x[:, 4] = 0.0
    with pytest.warns(PainmarkersWarning, match=r"2 of 6 voxel\(s\) have a constant"):
        alff, falff = alff_falff(x, 2.0)
    assert alff[1] == falff[1] == alff[4] == falff[4] == 0.0
    expected = np.array([ref_dpabi(x[:, j], 2.0) for j in (0, 2, 3, 5)])
    np.testing.assert_allclose(alff[[0, 2, 3, 5]], expected[:, 0], rtol=1e-5)


def test_exactly_linear_voxel_is_degenerate_when_detrending():
    x = _bold_like(190, 3, seed=10)
    x[:, 2] = 100.0 + 0.25 * np.arange(190)
    with pytest.warns(PainmarkersWarning, match=r"1 of 3 voxel\(s\) have a constant or exactly"):
        alff, falff = alff_falff(x, 2.0)
    assert alff[2] == falff[2] == 0.0


# --------------------------------------------------------------------------------------------
# Minimum length and bins
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("convention", ALFF_CONVENTIONS)
@pytest.mark.parametrize("t_r,band", [(2.0, BAND), (0.72, BAND), (3.0, (0.027, 0.073))])
def test_min_volumes_is_tight_and_every_longer_series_works(convention, t_r, band):
    n_min = alff_min_volumes(t_r, band, convention)
    for n in range(n_min, n_min + 300):
        bins = alff_frequency_bins(n, t_r, band, convention)
        assert (bins["in_band"] & (bins["bin"] > 0)).any(), n
    if n_min > 3:
        bins = alff_frequency_bins(n_min - 1, t_r, band, convention)
        assert not (bins["in_band"] & (bins["bin"] > 0)).any()
        x = _bold_like(n_min - 1, 2, seed=1)
        with pytest.raises(DataError, match=rf"At least {n_min} volumes are needed"):
            alff_falff(x, t_r, band=band, convention=convention)
    x = _bold_like(n_min, 2, seed=2)
    alff, _ = alff_falff(x, t_r, band=band, convention=convention)
    assert np.all(alff > 0)


def test_min_volumes_message_counts_discarded_volumes():
    x = _bold_like(14, 2, seed=1)
    n_min = alff_min_volumes(2.0, BAND, "bandpass_std")
    with pytest.raises(DataError, match=rf"{14 - 10} volume\(s\) after discarding 10.*"
                       rf"\({n_min + 10} before discarding 10\)"):
        alff_falff(x, 2.0, convention="bandpass_std", discard=10)


def test_frequency_bins_table_follows_dpabi_formula():
    bins = alff_frequency_bins(190, 2.0)
    assert list(bins.columns) == ["bin", "frequency_hz", "n_fft", "in_band", "in_total"]
    assert bins["n_fft"].unique().tolist() == [256]
    # ceil(0.01 * 256 * 2) = 6 ... floor(0.08 * 256 * 2) = 40
    assert bins.loc[bins["in_band"], "bin"].tolist() == list(range(6, 41))
    assert bins.loc[bins["in_total"], "bin"].tolist() == list(range(1, 129))
    np.testing.assert_allclose(bins["frequency_hz"], bins["bin"] / 512, rtol=1e-12)
    band = bins.loc[bins["in_band"], "frequency_hz"]
    assert band.min() >= 0.01 and band.max() <= 0.08


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
def test_bad_arguments_are_named():
    x = _bold_like(190, 3, seed=1)
    with pytest.raises(DataError, match=r"'t_r'.*missing"):
        alff_falff(x, None)
    with pytest.raises(DataError, match=r"'t_r' parameter must be > 0 seconds. Got 0"):
        alff_falff(x, 0)
    with pytest.raises(ValueError, match="'convention' parameter must be one of"):
        alff_falff(x, 2.0, convention="spm")
    with pytest.raises(ValueError, match="'standardize' parameter must be one of"):
        alff_falff(x, 2.0, standardize="zscore")
    with pytest.raises(ValueError, match=r"'band'.*0 <= low < high"):
        alff_falff(x, 2.0, band=(0.08, 0.01))
    with pytest.raises(ValueError, match=r"'band'.*pair"):
        alff_falff(x, 2.0, band=0.08)
    with pytest.raises(ValueError, match=r"Nyquist frequency 0\.25 Hz"):
        alff_falff(x, 2.0, band=(0.3, 0.4))
    with pytest.raises(ValueError, match="'discard' parameter must be an integer >= 0"):
        alff_falff(x, 2.0, discard=-1)
    with pytest.raises(TypeError, match="'detrend' parameter must be True or False"):
        alff_falff(x, 2.0, detrend="linear")
    with pytest.raises(ValueError, match=r"'timeseries'.*Got shape \(2, 2, 2\)"):
        alff_falff(np.zeros((2, 2, 2)), 2.0)
    with pytest.raises(DataError, match=r"'discard'=190 removes every volume.*190 volume"):
        alff_falff(x, 2.0, discard=190)


def test_nan_series_are_refused_with_column():
    x = _bold_like(190, 5, seed=1)
    x[30, 3] = np.nan
    with pytest.raises(DataError, match=r"1 column\(s\) \(first: column 3\)"):
        alff_falff(x, 2.0)


def test_standardize_degenerate_cases():
    x = np.zeros((190, 3))
    with pytest.warns(PainmarkersWarning), pytest.raises(DataError, match="standardize='mean'"):
        alff_falff(x, 2.0, standardize="mean")
    with pytest.raises(DataError, match="standardize='z' needs at least 2 voxels"):
        alff_falff(_bold_like(190, 1, seed=1), 2.0, standardize="z")


@pytest.mark.parametrize("convention", ALFF_CONVENTIONS)
def test_blocks_and_memory_layouts_agree(convention):
    # More voxels than one block, given time-major (C-ordered (T, V)) and voxel-major
    # (transpose of a C-ordered (V, T)); columns at block edges checked against the reference.
    from painmarkers.extractors._spectral import _BLOCK

    n_v = 2 * _BLOCK + 77
    x = _bold_like(150, n_v, seed=31).astype(np.float32)
    time_major = np.ascontiguousarray(x)
    voxel_major = np.ascontiguousarray(x.T).T
    a1, f1 = alff_falff(time_major, 2.0, convention=convention, detrend=convention != "xcpd")
    a2, f2 = alff_falff(voxel_major, 2.0, convention=convention, detrend=convention != "xcpd")
    np.testing.assert_allclose(a1, a2, rtol=1e-12)
    np.testing.assert_allclose(f1, f2, rtol=1e-12)
    ref = REFERENCES[convention]
    cols = [0, _BLOCK - 1, _BLOCK, 2 * _BLOCK, n_v - 1]
    expected = np.array([ref(x[:, j].astype(float), 2.0) for j in cols])
    np.testing.assert_allclose(a1[cols], expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(f1[cols], expected[:, 1], rtol=1e-5)
