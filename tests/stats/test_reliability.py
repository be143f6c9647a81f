"""Tests of painmarkers.stats.reliability against pingouin and closed forms."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from painmarkers.exceptions import DataError, DesignError
from painmarkers.schema import ICC_COLUMNS
from painmarkers.stats.reliability import icc, icc_map

# pingouin itself triggers a pandas deprecation warning (inplace=); only that one is ignored.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")



def _long(y):
    n, k = y.shape
    return pd.DataFrame({
        "subject_id": np.repeat([f"sub-{i:02d}" for i in range(n)], k),
        "session": np.tile([f"ses-{j}" for j in range(k)], n),
        "alff": y.ravel(),
    })


def _sim(n=15, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1)) + 0.8 * rng.normal(size=(n, k)) + np.linspace(0, 0.6, k)


@pytest.fixture
def pingouin_unrounded():
    old = pg.options.get("round")
    pg.options["round"] = None
    yield
    pg.options["round"] = old


@pytest.mark.parametrize(("n", "k", "seed"), [(15, 3, 0), (8, 2, 1), (30, 4, 2)])
def test_icc_equals_pingouin(n, k, seed, pingouin_unrounded):
    df = _long(_sim(n, k, seed))
    ours = icc(df, "alff")
    ref = pg.intraclass_corr(df, targets="subject_id", raters="session", ratings="alff")
    assert list(ours.columns) == list(ICC_COLUMNS)
    assert ours["type"].tolist() == ref["Type"].tolist()
    np.testing.assert_allclose(ours["icc"], ref["ICC"], rtol=1e-10)
    np.testing.assert_allclose(ours["statistic"], ref["F"], rtol=1e-10)
    np.testing.assert_allclose(ours["df1"], ref["df1"], rtol=0)
    np.testing.assert_allclose(ours["df2"], ref["df2"], rtol=0)
    np.testing.assert_allclose(ours["p"], ref["pval"], rtol=1e-8)
    ci = np.vstack(ref["CI95"].to_numpy())
    # pingouin rounds its CI to 2 decimals.
    np.testing.assert_allclose(ours["ci_low"], ci[:, 0], atol=0.005 + 1e-12)
    np.testing.assert_allclose(ours["ci_high"], ci[:, 1], atol=0.005 + 1e-12)
    assert (ours["n"] == n).all() and (ours["k"] == k).all()


def test_icc_ci_closed_form():
    """One-way and consistency CIs from the F quantiles (Shrout & Fleiss 1979)."""
    y = _sim(20, 2, 3)
    n, k = y.shape
    res = icc(_long(y), "alff", confidence=0.9).set_index("type")
    grand = y.mean()
    msr = k * ((y.mean(1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((y.mean(0) - grand) ** 2).sum() / (k - 1)
    mse = (((y - grand) ** 2).sum() - msr * (n - 1) - msc * (k - 1)) / ((n - 1) * (k - 1))
    f3 = msr / mse
    fl = f3 / stats.f.ppf(0.95, n - 1, (n - 1) * (k - 1))
    fu = f3 * stats.f.ppf(0.95, (n - 1) * (k - 1), n - 1)
    np.testing.assert_allclose(res.loc["ICC(C,1)", "icc"], (msr - mse) / (msr + (k - 1) * mse),
                               rtol=1e-12)
    np.testing.assert_allclose(res.loc["ICC(C,1)", "ci_low"], (fl - 1) / (fl + k - 1), rtol=1e-10)
    np.testing.assert_allclose(res.loc["ICC(C,1)", "ci_high"], (fu - 1) / (fu + k - 1),
                               rtol=1e-10)
    np.testing.assert_allclose(res.loc["ICC(C,k)", "ci_low"], 1 - 1 / fl, rtol=1e-10)
    # ICC(A,1) Satterthwaite limits in the pingouin / psych algebraic form.
    icc2 = res.loc["ICC(A,1)", "icc"]
    fj = msc / mse
    vn = (n - 1) * (k - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = stats.f.ppf(0.95, n - 1, v)
    low = n * (msr - f2u * mse) / (f2u * (k * msc + (k * n - k - n) * mse) + n * msr)
    np.testing.assert_allclose(res.loc["ICC(A,1)", "ci_low"], low, rtol=1e-10)


def test_icc_known_values_perfect_agreement():
    y = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [3.0, 3.0]])
    y = y + np.array([[0, 1e-9], [0, -1e-9], [0, 0], [0, 0]])
    res = icc(_long(y), "alff")
    np.testing.assert_allclose(res["icc"], 1.0, atol=1e-8)


def test_icc_ci_coverage_simulation():
    """ICC(C,1) 95 % CI covers the true ICC in ~95 % of simulated studies."""
    rng = np.random.default_rng(7)
    n, k, n_sim = 20, 2, 400
    true = 0.6  # var(subject) = 0.6, var(error) = 0.4
    y = rng.normal(0, np.sqrt(0.6), (n, 1, n_sim)) + rng.normal(0, np.sqrt(0.4), (n, k, n_sim))
    res = icc_map(y, "ICC(C,1)")
    cover = np.mean((res.ci_low <= true) & (true <= res.ci_high))
    assert 0.92 <= cover <= 0.98


def test_icc_nan_policy():
    y = _sim(10, 2, 4)
    df = _long(y)
    df.loc[3, "alff"] = np.nan  # sub-01 ses-1
    with pytest.raises(DataError, match=r"sub-01.*nan_policy='omit'"):
        icc(df, "alff")
    res = icc(df, "alff", nan_policy="omit")
    assert (res["n"] == 9).all() and (res["n_excluded"] == 1).all()
    assert (res["excluded"] == "sub-01 (alff missing at 'ses-1')").all()
    full = icc(df.dropna().query("subject_id != 'sub-01'"), "alff")
    np.testing.assert_allclose(res["icc"], full["icc"], rtol=1e-12)


def test_icc_bad_input():
    df = _long(_sim(5, 2, 0))
    with pytest.raises(DataError, match="lacks the column"):
        icc(df, "falff")
    dup = pd.concat([df, df.iloc[[0]]])
    with pytest.raises(DataError, match=r"sub-00.*more than one row"):
        icc(dup, "alff")
    with pytest.raises(DesignError, match="at least 2 sessions"):
        icc(df[df.session == "ses-0"], "alff")
    with pytest.raises(DesignError, match="at least 2 subjects"):
        icc(df[df.subject_id == "sub-00"], "alff")
    bad = df.assign(alff=df["alff"].astype(object))
    bad.loc[2, "alff"] = "high"
    with pytest.raises(DataError, match=r"numeric.*sub-01.*'high'"):
        icc(bad, "alff")
    with pytest.raises(ValueError, match="'confidence' parameter must be in"):
        icc(df, "alff", confidence=95)


def test_icc_map_equals_pingouin_per_voxel(pingouin_unrounded):
    rng = np.random.default_rng(3)
    n, k, v = 10, 3, 6
    y = rng.normal(size=(n, 1, v)) + rng.normal(size=(n, k, v))
    for form in ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)"):
        res = icc_map(y, form)
        for j in range(v):
            ref = pg.intraclass_corr(_long(y[:, :, j]), "subject_id", "session", "alff")
            row = ref.set_index("Type").loc[form]
            np.testing.assert_allclose(res.icc[j], row["ICC"], rtol=1e-10)
            np.testing.assert_allclose(res.statistic[j], row["F"], rtol=1e-10)
            np.testing.assert_allclose(res.p[j], row["pval"], rtol=1e-8)
            np.testing.assert_allclose(res.ci_low[j], row["CI95"][0], atol=0.005 + 1e-12)


def test_icc_map_aliases_and_table_agree():
    y = _sim(12, 2, 5)[:, :, None]
    a = icc_map(y, "ICC(3,1)")
    b = icc_map(y, "ICC3")
    tab = icc(_long(y[:, :, 0]), "alff").set_index("form")
    np.testing.assert_allclose(a.icc, b.icc, rtol=0)
    np.testing.assert_allclose(a.icc[0], tab.loc["ICC3", "icc"], rtol=1e-12)
    assert a.form == "ICC(C,1)"
    with pytest.raises(ValueError, match="'form' parameter"):
        icc_map(y, "ICC4")


def test_icc_map_images(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(0)
    shape = (4, 4, 3)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    mask = np.zeros(shape)
    mask[1:3, 1:3, :] = 1
    mask_img = nib.Nifti1Image(mask, affine)
    truth = rng.normal(size=(8, 1, *shape))
    vols = truth + 0.5 * rng.normal(size=(8, 2, *shape))
    paths = []
    for i in range(8):
        row = []
        for j in range(2):
            p = tmp_path / f"sub-{i}_ses-{j}_alff.nii.gz"
            nib.Nifti1Image(vols[i, j], affine).to_filename(p)
            row.append(p)
        paths.append(row)
    res = icc_map(paths, "ICC(C,1)", mask_img=mask_img)
    arr = icc_map(vols[:, :, mask > 0], "ICC(C,1)")
    np.testing.assert_allclose(res.icc, arr.icc, rtol=1e-6)
    img = res.to_img("icc")
    np.testing.assert_allclose(img.get_fdata()[mask > 0], res.icc, rtol=1e-6)
    assert img.get_fdata()[0, 0, 0] == 0
    out = res.save(tmp_path / "out")
    assert out["table"] == tmp_path / "out" / "icc_map.csv" and out["table"].exists()
    assert out["icc"] == tmp_path / "out" / "icc_icc.nii.gz" and out["icc"].exists()
    assert "ICC(C,1)" in res.summary()
    frame = res.to_frame()
    assert len(frame) == int(mask.sum())

    with pytest.raises(DataError, match="needs 'mask_img'"):
        icc_map(paths)
    bad_grid = nib.Nifti1Image(np.zeros((5, 4, 3)), affine)
    with pytest.raises(DataError, match="shape"):
        icc_map([[bad_grid, bad_grid], [bad_grid, bad_grid]], mask_img=mask_img)
    with pytest.raises(DataError, match="Subject 1 has 1 session"):
        icc_map([paths[0], paths[1][:1]], mask_img=mask_img)


def test_icc_map_bad_array():
    y = np.ones((5, 2, 3))
    y[2, 1, 0] = np.nan
    with pytest.raises(DataError, match="subject 2, session 1, voxel 0"):
        icc_map(y)
    with pytest.raises(DataError, match=r"shape \(n_subjects, n_sessions, n_voxels\)"):
        icc_map(np.ones((5, 2)))
    with pytest.raises(ValueError, match="array"):
        icc_map(np.ones((5, 2, 1)) + np.arange(5)[:, None, None]).to_img()


def test_icc_from_cohort():
    from painmarkers.model import Cohort

    y = _sim(10, 2, 8)
    ids = [f"sub-{i:02d}" for i in range(10)]
    participants = pd.DataFrame({"participant_id": ids, "group": "CLBP"})
    measures = pd.DataFrame({"participant_id": np.repeat(ids, 2),
                             "session": ["pre", "post"] * 10, "roi": "SMA_L",
                             "feature": "alff", "value": y.ravel()})
    cohort = Cohort.from_frames(participants, measures=measures)
    res = icc(cohort, ("alff", "SMA_L"))
    ref = icc(_long(y), "alff")
    np.testing.assert_allclose(res["icc"], ref["icc"], rtol=1e-12)
    assert (res["dv"] == "alff__SMA_L").all()
