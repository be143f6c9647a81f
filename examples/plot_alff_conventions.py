"""
ALFF conventions compared on one time series
============================================

"ALFF" names a family of numbers, not one: DPABI, REST, XCP-D and C-PAC/AFNI
all take the amplitude spectrum of a voxel's time series inside 0.01-0.08 Hz,
but they pad the FFT differently, scale the amplitudes differently and disagree
on which frequency bins lie "in the band". This example computes ALFF and
fALFF of one BOLD-like series under the four definitions implemented by
:func:`~painmarkers.extractors.alff_falff` (``convention=`` ``"dpabi"``, the
default, ``"rest"``, ``"xcpd"`` and ``"bandpass_std"``), takes the ratios apart
into a constant factor and a binning term, and checks the closed form for a
pure sinusoid. The formulas are tabulated in :doc:`/user_guide/alff_conventions`.
"""

# %%
# A BOLD-like series with the seed study's timing
# -----------------------------------------------
# The first seed study acquired 200 volumes at TR = 3 s and discarded the first
# 10 (DPABI), leaving N = 190. The series below has a baseline of 1000, a slow
# scanner drift, pink (1/f) noise, AR(1) noise and a 0.03 Hz oscillation of
# amplitude 1 — inside the ALFF band. Nothing is downloaded.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from painmarkers.extractors import (
    ALFF_CONVENTIONS,
    alff_falff,
    alff_frequency_bins,
    alff_min_volumes,
)

t_r, n_total, discard = 3.0, 200, 10
band = (0.01, 0.08)
rng = np.random.default_rng(7)
time = np.arange(n_total) * t_r

freqs_full = np.fft.rfftfreq(n_total, d=t_r)
shape = np.zeros_like(freqs_full)
shape[1:] = freqs_full[1:] ** -0.5  # amplitude ~ f^-1/2, power ~ 1/f
pink = np.fft.irfft(shape * (rng.standard_normal(shape.size)
                             + 1j * rng.standard_normal(shape.size)), n=n_total)
pink /= pink.std()
ar1 = np.zeros(n_total)
innovations = rng.standard_normal(n_total)
for i in range(1, n_total):
    ar1[i] = 0.5 * ar1[i - 1] + innovations[i]
ar1 /= ar1.std()
bold = 1000 + 0.02 * time + pink + 0.5 * ar1 + np.sin(2 * np.pi * 0.03 * time)
n = n_total - discard
print(f"{n_total} volumes, {discard} discarded: N = {n}, TR = {t_r:g} s, "
      f"Nyquist = {0.5 / t_r:.4f} Hz")

# %%
# ALFF and fALFF under the four conventions
# -----------------------------------------
# Each call detrends the series (least-squares line removed, as DPABI always
# does) after dropping the first 10 volumes. :func:`~painmarkers.extractors.alff_frequency_bins`
# tells which FFT bins each convention averages: DPABI pads to the next power of
# two (256) and rounds the band edges inwards, REST pads to AFNI's next "nice"
# size (192 = 3·2^6) and rounds to the nearest bin, XCP-D and the band-pass SD
# do not pad at all, and XCP-D excludes the bin nearest 0.08 Hz.
rows = []
for convention in ALFF_CONVENTIONS:
    alff, falff = alff_falff(bold, t_r=t_r, band=band, convention=convention, discard=discard)
    bins = alff_frequency_bins(n, t_r, band=band, convention=convention)
    in_band = bins[bins["in_band"]]
    rows.append({
        "convention": convention,
        "n_fft": int(bins["n_fft"].iloc[0]),
        "bins": f"{in_band['bin'].min()}..{in_band['bin'].max()}",
        "n_band": len(in_band),
        "f_first_hz": in_band["frequency_hz"].min(),
        "f_last_hz": in_band["frequency_hz"].max(),
        "alff": alff[0],
        "falff": falff[0],
    })
table = pd.DataFrame(rows).set_index("convention")
table["alff_vs_dpabi"] = table["alff"] / table.loc["dpabi", "alff"]
print(table.to_string(float_format="{:.4f}".format))

# %%
# Where the ratios come from
# --------------------------
# Write ``a_k = 2 |X_k| / N`` for DPABI's amplitude of bin ``k`` (``X`` the FFT of
# the detrended series, padded to the convention's ``n_fft``). Every convention
# is then a constant times a summary of the ``a_k`` over *its own* bins:
#
# * DPABI: the mean of ``a_k``;
# * REST: ``sqrt(N/2)`` times the mean (REST scales ``|X_k|`` by ``sqrt(2/N)``
#   instead of ``2/N``);
# * XCP-D: ``sqrt(2)`` times the mean (the square root of SciPy's one-sided
#   periodogram is ``a_k / sqrt(2)``, and XCP-D doubles the band mean);
# * band-pass SD: ``sqrt(N / (2 (N - 1)) · sum a_k^2)``, an RMS-type sum that
#   grows with the number of bins, not a mean.
#
# Recomputing each value from numpy's FFT with these formulas reproduces the
# library to float32 precision. The ALFF ratio to DPABI therefore splits into the
# constant (9.75, 1.41) and a *binning* term: the same spectrum sampled on a
# different grid and cut at different edges, which depends on the data.
x = bold[discard:] - np.polyval(np.polyfit(np.arange(n), bold[discard:], 1), np.arange(n))
factor = {"dpabi": 1.0, "rest": np.sqrt(n / 2), "xcpd": np.sqrt(2.0)}
parts = []
for convention in ALFF_CONVENTIONS:
    bins = alff_frequency_bins(n, t_r, band=band, convention=convention)
    amp = 2 * np.abs(np.fft.rfft(x, n=int(bins["n_fft"].iloc[0]))) / n
    a_band = amp[bins["in_band"].to_numpy()]
    if convention == "bandpass_std":
        by_hand = np.sqrt(n / (2 * (n - 1)) * np.sum(a_band**2))
        constant = np.nan
    else:
        constant = factor[convention]
        by_hand = constant * a_band.mean()
    np.testing.assert_allclose(by_hand, table.loc[convention, "alff"], rtol=1e-5)
    parts.append({"convention": convention, "constant": constant,
                  "mean_a_k_in_band": a_band.mean(), "alff_by_hand": by_hand,
                  "alff_painmarkers": table.loc[convention, "alff"]})
parts = pd.DataFrame(parts).set_index("convention")
parts["binning_vs_dpabi"] = parts["mean_a_k_in_band"] / parts.loc["dpabi", "mean_a_k_in_band"]
parts.loc["bandpass_std", "binning_vs_dpabi"] = np.nan  # not a mean: no such split
print(parts.to_string(float_format="{:.4f}".format))

# %%
# So REST's ALFF here is ``9.75 × 0.95 ≈ 9.26`` times DPABI's and XCP-D's
# ``1.41 × 0.96 ≈ 1.36`` times: the first factor is the scaling, the second the
# binning, which would change with another series.
#
# fALFF, a ratio, loses the constants but keeps the binning: the three
# amplitude-based conventions agree within 0.012 on this series. The band-pass
# SD's fALFF is a ratio of *root powers*, ``sqrt(band power / total power)``,
# not of amplitude sums; for a flat spectrum with a share ``s`` of the bins in
# the band it is about ``sqrt(s)`` where DPABI's is about ``s``. White noise
# shows it (2000 series of N = 190):
amplitude_falff = table.loc[["dpabi", "rest", "xcpd"], "falff"]
assert amplitude_falff.max() - amplitude_falff.min() < 0.012
noise = rng.standard_normal((n, 2000))
for convention in ("dpabi", "bandpass_std"):
    bins = alff_frequency_bins(n, t_r, band=band, convention=convention)
    share = bins["in_band"].sum() / bins["in_total"].sum()
    mean_falff = alff_falff(noise, t_r=t_r, band=band, convention=convention)[1].mean()
    print(f"{convention:>12}: share of bins s = {share:.3f}, sqrt(s) = {np.sqrt(share):.3f}, "
          f"mean fALFF of white noise = {mean_falff:.3f}")

# %%
# The minimum length for which a bin falls inside the band also depends on the
# convention (the error raised for a too-short series quotes it):
print({c: alff_min_volumes(t_r, band=band, convention=c) for c in ALFF_CONVENTIONS})

# %%
# The series and its amplitude spectrum
# -------------------------------------
# As in the seed's Figure 2: the series (discarded volumes in grey) and DPABI's
# amplitude spectrum ``a_k`` on the 256-point padded grid; the dots are the
# unpadded 190-point spectrum that XCP-D and the band-pass SD use, and padding
# interpolates between them. The 0.03 Hz oscillation of amplitude 1 is the
# peak inside the band. The last two panels zoom on the band edges, where the
# conventions disagree about which bins to count.
x_padded = alff_frequency_bins(n, t_r, band=band, convention="dpabi")["frequency_hz"]
amp_padded = 2 * np.abs(np.fft.rfft(x, n=256)) / n
amp_plain = 2 * np.abs(np.fft.rfft(x)) / n
inside = (x_padded >= band[0]) & (x_padded <= band[1])
peak = int(np.argmax(np.where(inside, amp_padded, 0)))
print(f"largest in-band amplitude: {amp_padded[peak]:.3f} at {x_padded[peak]:.4f} Hz")

fig, axes = plt.subplot_mosaic("ABCD", figsize=(13, 3.6),
                               width_ratios=[1.2, 1.2, 0.55, 0.55])
axes["A"].plot(time[:discard + 1], bold[:discard + 1], color="0.6", lw=1, label="discarded")
axes["A"].plot(time[discard:], bold[discard:], color="#2a6f97", lw=1, label="analysed")
axes["A"].set(xlabel="time (s)", ylabel="BOLD (a.u.)", title="A. time series")
axes["A"].legend(fontsize=8)

axes["B"].axvspan(*band, color="0.88", zorder=0, label="0.01-0.08 Hz")
axes["B"].plot(x_padded, amp_padded, color="#2a6f97", lw=1, label="padded to 256")
axes["B"].plot(np.fft.rfftfreq(n, d=t_r), amp_plain, ".", color="#c1121f", ms=3,
               label="unpadded (190)")
axes["B"].set(xlabel="frequency (Hz)", ylabel="amplitude 2|X|/N",
              title="B. amplitude spectrum", xlim=(0, 0.5 / t_r))
axes["B"].legend(fontsize=8)

for key, edge, title in (("C", band[0], "C. low edge"), ("D", band[1], "D. high edge")):
    ax = axes[key]
    for row, convention in enumerate(ALFF_CONVENTIONS):
        bins = alff_frequency_bins(n, t_r, band=band, convention=convention)
        ax.plot(bins["frequency_hz"], np.full(len(bins), row), "|", ms=9, color="0.8")
        f = bins.loc[bins["in_band"], "frequency_hz"]
        ax.plot(f, np.full(len(f), row), "|", ms=11, mew=2, color="#2a6f97")
    ax.axvline(edge, color="#c1121f", ls="--", lw=0.8)
    ax.set(xlim=(edge - 0.006, edge + 0.006), ylim=(-0.6, len(ALFF_CONVENTIONS) - 0.4),
           xlabel="frequency (Hz)", title=title, yticks=range(len(ALFF_CONVENTIONS)),
           yticklabels=ALFF_CONVENTIONS if key == "C" else [])
    ax.tick_params(axis="x", labelsize=7)
fig.suptitle("blue ticks: bins averaged into ALFF; grey: bins outside the band", x=0.8,
             fontsize=9)
fig.tight_layout()

# %%
# A sinusoid on a bin centre: the closed form
# -------------------------------------------
# For a cosine of amplitude ``A`` exactly on bin ``k`` of an unpadded FFT
# (N = n_fft, here N = 256, a power of two, so no convention pads), only bin
# ``k`` carries amplitude, with ``a_k = A``. The formulas then give
#
# * DPABI: ``ALFF = A / n_band``; REST: ``A · sqrt(N/2) / n_band``;
#   XCP-D: ``sqrt(2) · A / n_band``, each with its own ``n_band``;
# * band-pass SD: ``A · sqrt(N / (2 (N - 1)))`` ≈ ``A / sqrt(2)``, the SD of a
#   sinusoid, whatever the band width;
# * fALFF = 1 in every convention (all the amplitude is in the band).
#
# ``detrend=False`` removes only the mean: a cosine is not orthogonal to a
# straight line, so the default linear detrending alters it slightly and the
# closed form no longer holds exactly (last column: within 2 %).
amplitude, n_sin, k = 2.5, 256, 20
cosine = amplitude * np.cos(2 * np.pi * k * np.arange(n_sin) / n_sin)
print(f"bin {k} of {n_sin}: {k / (n_sin * t_r):.4f} Hz")
closed = []
for convention in ALFF_CONVENTIONS:
    alff, falff = alff_falff(cosine, t_r=t_r, band=band, convention=convention, detrend=False)
    bins = alff_frequency_bins(n_sin, t_r, band=band, convention=convention)
    n_band = int(bins["in_band"].sum())
    expected = {
        "dpabi": amplitude / n_band,
        "rest": amplitude * np.sqrt(n_sin / 2) / n_band,
        "xcpd": np.sqrt(2) * amplitude / n_band,
        "bandpass_std": amplitude * np.sqrt(n_sin / (2 * (n_sin - 1))),
    }[convention]
    np.testing.assert_allclose(alff[0], expected, rtol=1e-5)
    np.testing.assert_allclose(falff[0], 1.0, rtol=1e-5)
    detrended, _ = alff_falff(cosine, t_r=t_r, band=band, convention=convention)
    np.testing.assert_allclose(detrended[0], expected, rtol=0.02)
    closed.append({"convention": convention, "n_band": n_band, "alff": alff[0],
                   "closed_form": expected, "falff": falff[0],
                   "alff_linear_detrend": detrended[0]})
print(pd.DataFrame(closed).set_index("convention").to_string(float_format="{:.5f}".format))

# %%
# mALFF cancels the constants, not the binning
# --------------------------------------------
# Studies usually report mALFF (``standardize="mean"``: each voxel's ALFF
# divided by the mean over the brain mask) or zALFF. The constant factors cancel
# in both; the binning term does not, because it depends on each voxel's
# spectrum. Take 2000 "voxels" (columns of a ``(T, V)`` array) mixing white
# noise, a random walk and an oscillation between 0.01 and 0.15 Hz in random
# proportions:
n_vox = 2000
weights = rng.uniform(0.2, 2.0, size=(3, n_vox))
white = rng.standard_normal((n_total, n_vox))
slow = np.cumsum(rng.standard_normal((n_total, n_vox)), axis=0) / 10
osc_f = rng.uniform(0.01, 0.15, n_vox)
osc = np.sin(2 * np.pi * osc_f * time[:, None]
             + rng.uniform(0, 2 * np.pi, n_vox))
voxels = 1000 + weights[0] * white + weights[1] * slow + weights[2] * osc
malff = {c: alff_falff(voxels, t_r=t_r, band=band, convention=c, discard=discard,
                       standardize="mean")[0] for c in ALFF_CONVENTIONS}
summary = pd.DataFrame({
    "corr_with_dpabi": {c: np.corrcoef(malff[c], malff["dpabi"])[0, 1] for c in malff},
    "max_rel_diff": {c: np.max(np.abs(malff[c] / malff["dpabi"] - 1)) for c in malff},
})
print(summary.round(3).to_string())

# %%
# REST's and XCP-D's mALFF correlate at 0.99 with DPABI's across voxels, yet
# single voxels differ by up to about 30 %: the binning term varies from voxel
# to voxel with the shape of its spectrum. The band-pass SD, an RMS rather than
# a mean, ranks voxels differently again (r = 0.90).
assert summary.loc[["rest", "xcpd"], "corr_with_dpabi"].min() > 0.99
assert 0.25 < summary.loc[["rest", "xcpd"], "max_rel_diff"].max() < 0.35

# %%
# The practical rule: never pool ALFF values computed by different software, and
# do not convert between toolboxes by a factor — recompute with the convention
# you compare against (``ALFF(convention="xcpd")`` for XCP-D derivatives, for
# instance, with :class:`~painmarkers.extractors.ALFF` or
# :class:`~painmarkers.extractors.FractionalALFF` on images).
