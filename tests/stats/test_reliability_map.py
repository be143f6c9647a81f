"""icc_map's upper confidence limits against pingouin, voxel by voxel, for every form
(test_reliability.py compares ICC, F, p and the lower limit)."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from painmarkers.stats.reliability import icc_map

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

FORMS = ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)")


def test_icc_map_ci_high_equals_pingouin_per_voxel():
    rng = np.random.default_rng(12)
    n, k, v = 12, 3, 5
    y = rng.normal(size=(n, 1, v)) + 0.7 * rng.normal(size=(n, k, v)) + np.linspace(0, 0.5, k)[
        None, :, None]
    old = pg.options.get("round")
    pg.options["round"] = None
    try:
        refs = [pg.intraclass_corr(pd.DataFrame({
            "subject_id": np.repeat(np.arange(n), k), "session": np.tile(np.arange(k), n),
            "alff": y[:, :, j].ravel()}), "subject_id", "session", "alff").set_index("Type")
            for j in range(v)]
    finally:
        pg.options["round"] = old
    for form in FORMS:
        res = icc_map(y, form)
        ref_low = np.array([r.loc[form, "CI95"][0] for r in refs])
        ref_high = np.array([r.loc[form, "CI95"][1] for r in refs])
        # pingouin rounds its CI to 2 decimals whatever options["round"] says
        np.testing.assert_allclose(res.ci_high, ref_high, atol=0.005 + 1e-12, err_msg=form)
        np.testing.assert_allclose(res.ci_low, ref_low, atol=0.005 + 1e-12, err_msg=form)
        assert (res.ci_low <= res.icc).all() and (res.icc <= res.ci_high).all()


def test_icc_map_result_follows_the_result_protocol(tmp_path):
    import json

    import nibabel as nib

    from painmarkers._results import Result
    from painmarkers._versions import versions

    rng = np.random.default_rng(5)
    y = rng.normal(size=(6, 1, 4)) + 0.5 * rng.normal(size=(6, 2, 4))
    res = icc_map(y, "ICC3", confidence=0.9)
    assert isinstance(res, Result)
    assert res.form == "ICC(C,1)"
    assert dict(res.parameters) == {"form": "ICC3", "confidence": 0.9, "mask_img": None,
                                    "n_subjects": 6, "n_sessions": 2, "n_voxels": 4}
    assert dict(res.versions) == versions()
    frame = res.to_frame()
    assert list(frame.columns) == ["voxel", "icc", "statistic", "p", "ci_low", "ci_high"]
    np.testing.assert_array_equal(frame["icc"], res.icc)
    assert "ICC(C,1) over 4 voxels (6 subjects x 2 sessions)" in res.summary()
    files = res.save(tmp_path / "array")
    assert set(files) == {"table", "parameters"}
    assert all(isinstance(p, type(tmp_path)) and p.exists() for p in files.values())
    saved = json.loads(files["parameters"].read_text())
    assert saved["type"] == "ICCMapResult" and saved["parameters"]["form"] == "ICC3"
    assert saved["versions"] == versions() and saved["df2"] == res.df2
    np.testing.assert_allclose(pd.read_csv(files["table"])["icc"], res.icc, rtol=1e-12)

    # from images: one map per field, the mask recorded by its path
    mask = np.zeros((3, 3, 2))
    mask[:2, :2, 0] = 1
    mask_path = tmp_path / "mask.nii.gz"
    nib.Nifti1Image(mask, np.eye(4)).to_filename(mask_path)
    imgs = []
    for i in range(6):
        row = []
        for j in range(2):
            vol = np.zeros(mask.shape)
            vol[mask > 0] = y[i, j]
            row.append(nib.Nifti1Image(vol, np.eye(4)))
        imgs.append(row)
    from_imgs = icc_map(imgs, "ICC3", mask_img=str(mask_path), confidence=0.9)
    assert from_imgs.parameters["mask_img"] == str(mask_path)
    files = from_imgs.save(tmp_path / "imgs")
    assert set(files) == {"table", "parameters", "icc", "statistic", "p", "ci_low", "ci_high"}
    back = nib.load(files["icc"]).get_fdata()[mask > 0]
    np.testing.assert_allclose(back, res.icc, rtol=1e-6)
