"""p-value adjustment: hand-computed BH/BY/Holm/Bonferroni, statsmodels directly, frames."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from painmarkers.exceptions import DataError
from painmarkers.stats import adjust_pvalues

P = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.5])


def _bh_by_hand(p, by=False):
    """Step-up adjusted p-values written out with explicit loops."""
    m = len(p)
    c = sum(1 / k for k in range(1, m + 1)) if by else 1.0
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):  # from the largest p down
        i = order[rank - 1]
        running = min(running, p[i] * m * c / rank)
        adjusted[i] = min(1.0, running)
    return np.array(adjusted)


def _holm_by_hand(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[i]))
        adjusted[i] = running
    return np.array(adjusted)


def test_bh_against_hand_computation_and_known_values():
    rng = np.random.default_rng(0)
    p = rng.permutation(P)
    res = adjust_pvalues(p, "fdr_bh")
    np.testing.assert_allclose(res["p_adjusted"], _bh_by_hand(list(p)), rtol=1e-12)
    np.testing.assert_allclose(res["p"], p, rtol=0)
    # Benjamini & Hochberg's rule by hand: reject the k smallest, k = max{i: p_(i) <= i q / m}
    s = np.sort(p)
    k = max(i for i in range(1, 11) if s[i - 1] <= i * 0.05 / 10)
    assert k == 2
    assert list(res["reject"]) == list(p <= s[k - 1])
    # a small worked example: m = 4, p = (.01, .04, .03, .5) -> .04, .0533, .0533, .5
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.04, 0.03, 0.5])["p_adjusted"],
                               [0.04, 0.16 / 3, 0.16 / 3, 0.5], rtol=1e-12)


@pytest.mark.parametrize("method", ["fdr_bh", "fdr_by", "holm", "bonferroni"])
def test_each_method_equals_statsmodels_and_hand(method):
    res = adjust_pvalues(P, method, alpha=0.1)
    rej, p_adj, _, _ = multipletests(P, alpha=0.1, method=method)
    np.testing.assert_allclose(res["p_adjusted"], p_adj, rtol=1e-12)
    assert list(res["reject"]) == list(rej)
    hand = {"fdr_bh": _bh_by_hand(list(P)), "fdr_by": _bh_by_hand(list(P), by=True),
            "holm": _holm_by_hand(list(P)), "bonferroni": np.minimum(1, P * len(P))}[method]
    np.testing.assert_allclose(res["p_adjusted"], hand, rtol=1e-12)
    assert list(res["reject"]) == list(hand <= 0.1)


def test_result_frame_gains_columns_with_families_and_nan():
    frame = pd.DataFrame({"x": ["VAS"] * 3 + ["RMDQ"] * 3,
                          "y": ["a", "b", "c"] * 2,
                          "p": [0.01, 0.02, np.nan, 0.03, 0.2, 0.04]})
    out = adjust_pvalues(frame, "bonferroni", by="x")
    assert list(out.columns) == ["x", "y", "p", "p_adjusted", "reject"]
    assert "p_adjusted" not in frame.columns  # input untouched
    # the NaN p is left out of the family: VAS has m = 2
    np.testing.assert_allclose(out["p_adjusted"], [0.02, 0.04, np.nan, 0.09, 0.6, 0.12],
                               rtol=1e-12)
    assert out["reject"].tolist() == [True, True, pd.NA, False, False, False]
    whole = adjust_pvalues(frame, "bonferroni")
    np.testing.assert_allclose(whole["p_adjusted"], [0.05, 0.1, np.nan, 0.15, 1.0, 0.2],
                               rtol=1e-12)


def test_bad_input():
    with pytest.raises(DataError, match=r"p-values in \[0, 1\]; position 1 has 1.2"):
        adjust_pvalues([0.1, 1.2])
    with pytest.raises(DataError, match="position 0 has 'x'"):
        adjust_pvalues(np.array(["x", "0.1"], dtype=object))
    with pytest.raises(ValueError, match="'method' parameter must be one of"):
        adjust_pvalues([0.1], method="BH")
    with pytest.raises(ValueError, match=r"'alpha' parameter must be in \(0, 1\)"):
        adjust_pvalues([0.1], alpha=5)
    with pytest.raises(DataError, match="no p-value column 'p_val'"):
        adjust_pvalues(pd.DataFrame({"p": [0.1]}), p_col="p_val")
    with pytest.raises(ValueError, match="one-dimensional"):
        adjust_pvalues(np.ones((2, 2)) * 0.1)


@pytest.mark.slow
def test_bh_controls_fdr_in_simulation():
    rng = np.random.default_rng(3)
    n_rep, m, m1 = 2000, 50, 10
    fdp = []
    for _ in range(n_rep):
        z = rng.normal(size=m)
        z[:m1] += 3.0
        p = 2 * (1 - __import__("scipy").stats.norm.cdf(np.abs(z)))
        rej = adjust_pvalues(p, "fdr_bh", alpha=0.1)["reject"].to_numpy(bool)
        fdp.append(rej[m1:].sum() / max(rej.sum(), 1))
    # BH: FDR = (m0 / m) q = 0.08 under independence
    np.testing.assert_allclose(np.mean(fdp), 0.08, atol=0.01)
