"""voxelwise_glm: numbers against statsmodels' OLS and nilearn's SecondLevelModel, designs with
subject effects (split-plot df), contrasts and their estimability, bad input, the result."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import ndimage, stats

from painmarkers._results import Result
from painmarkers.exceptions import DataError, DesignError
from painmarkers.inference import (
    GLMContrastMaps,
    GLMResult,
    t_to_z,
    voxelwise_glm,
    voxelwise_ttest,
)

SHAPE = (7, 6, 5)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
VOXELS = [(0, 0, 0), (3, 2, 1), (6, 5, 4), (2, 4, 3), (5, 1, 2)]


def _mask():
    return nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)


def _imgs(data):
    return [nib.Nifti1Image(d, AFFINE) for d in data]


def _trial(n_subjects=10, visits=("pre", "post", "fu"), seed=1, drop=()):
    """Two-arm repeated-measures table and maps with a large subject effect (offset 100)."""
    rng = np.random.default_rng(seed)
    t = len(visits)
    table = pd.DataFrame({
        "subject_id": np.repeat([f"s{i:02d}" for i in range(n_subjects)], t),
        "arm": pd.Categorical(np.repeat(["sham", "active"], n_subjects * t // 2),
                              ["sham", "active"]),
        "session": pd.Categorical(list(visits) * n_subjects, list(visits)),
        "age": np.repeat(rng.normal(40, 10, n_subjects), t),
    })
    subj = np.repeat(rng.normal(size=(n_subjects, *SHAPE)) * 3, t, axis=0)
    data = 100 + subj + rng.normal(size=(n_subjects * t, *SHAPE))
    keep = np.setdiff1d(np.arange(len(table)), drop)
    return table.iloc[keep].reset_index(drop=True), data[keep]


def _check_t(cm, fit, weights, voxel, df, two_tailed=True):
    tt = fit.t_test(weights)
    got = {k: float(getattr(cm, f"{k}_img").get_fdata()[voxel])
           for k in ("effect", "se", "stat", "p", "z")}
    se = float(np.ravel(tt.sd)[0])
    # an effect near 0 (at a random voxel of data offset by 100) carries the round-off of
    # both fits, ~1e-13 of the data: compare it to 1e-10 of its SE as well
    np.testing.assert_allclose(got["effect"], float(np.ravel(tt.effect)[0]), rtol=1e-10,
                               atol=1e-10 * se)
    np.testing.assert_allclose(got["se"], se, rtol=1e-10)
    np.testing.assert_allclose(got["stat"], float(np.ravel(tt.tvalue)[0]), rtol=1e-10,
                               atol=1e-10)
    assert tt.df_denom == df == cm.df
    p_ref = float(np.ravel(tt.pvalue)[0]) if two_tailed else stats.t.sf(got["stat"], df)
    np.testing.assert_allclose(got["p"], p_ref, rtol=1e-10)
    np.testing.assert_allclose(got["z"], t_to_z(got["stat"], df), rtol=1e-10)
    np.testing.assert_allclose(stats.norm.sf(got["z"]), stats.t.sf(got["stat"], df), rtol=1e-9)


# --- numbers against statsmodels -----------------------------------------------------------
def test_formula_design_matches_statsmodels_ols():
    rng = np.random.default_rng(3)
    n = 26
    table = pd.DataFrame({"group": rng.choice(["CLBP", "HC", "FM"], n),
                          "vas": rng.uniform(0, 10, n), "age": rng.normal(45, 12, n)})
    data = 5 + rng.normal(size=(n, *SHAPE)) + 0.3 * table["vas"].to_numpy()[:, None, None, None]
    res = voxelwise_glm(_imgs(data), "~ group * vas + age", {
        "slope": "vas", "diff": "group[T.HC] - group[T.FM]",
        "inter": "group:vas", "two": ["group[T.FM]", "group[T.HC]"],
    }, data=table, mask_img=_mask(), estimate_smoothness=False)
    x = res.design_matrix
    # patsy's names and R's order; the first sorted level (CLBP) is the reference
    assert list(x.columns) == ["Intercept", "group[T.FM]", "group[T.HC]", "vas", "age",
                               "group[T.FM]:vas", "group[T.HC]:vas"]
    assert res.df == n - 7 and res.rank == 7
    for v in VOXELS:
        fit = sm.OLS(data[(slice(None), *v)], x).fit()
        for name in ("slope", "diff"):
            cm = res[name]
            _check_t(cm, fit, cm.contrast.to_numpy(), v, n - 7)
        for name in ("inter", "two"):
            cm = res[name]
            ft = fit.f_test(cm.contrast.to_numpy())
            assert cm.stat == "F" and cm.df == (2.0, n - 7.0) == (ft.df_num, ft.df_denom)
            np.testing.assert_allclose(cm.stat_img.get_fdata()[v], float(ft.fvalue),
                                       rtol=1e-10)
            np.testing.assert_allclose(cm.p_img.get_fdata()[v], float(ft.pvalue), rtol=1e-10)
            np.testing.assert_allclose(stats.norm.sf(cm.z_img.get_fdata()[v]),
                                       float(ft.pvalue), rtol=1e-9)
        # residual variance = statsmodels' scale
        np.testing.assert_allclose(res.residual_variance_img.get_fdata()[v], fit.scale,
                                   rtol=1e-10)
    assert res["two"].effect_img.shape == (*SHAPE, 2)


@pytest.mark.parametrize("drop", [(), (4, 11, 29)])
def test_subject_effects_match_statsmodels_and_split_plot_df(drop):
    # 10 subjects x 3 visits, two arms; with dropouts the subjects keep their other visits
    table, data = _trial(drop=drop)
    res = voxelwise_glm(_imgs(data), "~ arm * session + age", {
        "inter_post": "arm[T.active]:session[T.post]",
        "fu_vs_post": "session[T.fu] - session[T.post]",
        "interaction": "arm:session",
    }, data=table, subject="subject_id", mask_img=_mask(), estimate_smoothness=False)
    des = res.design
    # intercept, arm and age are between-subject columns: absorbed by the subject effects
    assert des.aliased_columns == ["Intercept", "arm[T.active]", "age"]
    n = len(table)
    df = n - 10 - 2 * 2  # subjects + session + interaction columns
    if not drop:
        assert df == (10 - 2) * (3 - 1)  # the classical split-plot error df
    assert res.df == df and res.rank == n - df
    # reference: statsmodels on the full-rank reparametrisation (aliased columns dropped)
    xr = res.design_matrix.drop(columns=des.aliased_columns)
    for v in VOXELS:
        fit = sm.OLS(data[(slice(None), *v)], xr).fit()
        for name in ("inter_post", "fu_vs_post"):
            cm = res[name]
            w = cm.contrast.drop(columns=des.aliased_columns).to_numpy()
            _check_t(cm, fit, w, v, df)
        cm = res["interaction"]
        ft = fit.f_test(cm.contrast.drop(columns=des.aliased_columns).to_numpy())
        np.testing.assert_allclose(cm.stat_img.get_fdata()[v], float(ft.fvalue), rtol=1e-10)
        np.testing.assert_allclose(cm.p_img.get_fdata()[v], float(ft.pvalue), rtol=1e-10)
        assert cm.df == (2.0, float(df))


def test_paired_and_two_sample_equal_voxelwise_ttest():
    rng = np.random.default_rng(5)
    data = ndimage.gaussian_filter(rng.normal(size=(16, *SHAPE)), (0, 1, 1, 1)) + 3
    imgs = _imgs(data)
    cond = np.tile(["post", "pre"], 8)
    subj = np.repeat([f"s{i}" for i in range(8)], 2)
    ref = voxelwise_ttest(imgs, "paired", labels=cond, subjects=subj, levels=("post", "pre"))
    x = pd.DataFrame({"post-pre": np.where(cond == "post", 0.5, -0.5)})
    res = voxelwise_glm(imgs, x, "post-pre", subjects=subj)
    cm = res["post-pre"]
    assert res.df == ref.df == 7
    np.testing.assert_allclose(cm.stat_img.get_fdata(), ref.t_img.get_fdata(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(cm.effect_img.get_fdata(), ref.effect_img.get_fdata(),
                               rtol=1e-10, atol=1e-12)
    assert res.smoothness.dlh == pytest.approx(ref.smoothness.dlh, rel=1e-10)
    assert res.smoothness.fwhm_mm == pytest.approx(ref.smoothness.fwhm_mm, rel=1e-10)
    group = np.repeat(["a", "b"], 8)
    ref2 = voxelwise_ttest(imgs, "two_sample", labels=group)
    x2 = pd.DataFrame({"a": (group == "a") * 1.0, "b": (group == "b") * 1.0})
    res2 = voxelwise_glm(imgs, x2, [1, -1])
    np.testing.assert_allclose(res2["a - b"].stat_img.get_fdata(), ref2.t_img.get_fdata(),
                               rtol=1e-10, atol=1e-12)
    assert res2.smoothness.dlh == pytest.approx(ref2.smoothness.dlh, rel=1e-10)


def test_one_tailed_p_and_tail_matched_z():
    table, data = _trial(seed=7)
    res = voxelwise_glm(_imgs(data), "~ arm * session", "arm[T.active]:session[T.fu]",
                        data=table, subject="subject_id", two_tailed=False,
                        estimate_smoothness=False)
    cm = res["arm[T.active]:session[T.fu]"]
    t = cm.stat_img.get_fdata()
    np.testing.assert_allclose(cm.p_img.get_fdata(), stats.t.sf(t, res.df), rtol=1e-12)
    np.testing.assert_allclose(cm.z_img.get_fdata(), stats.norm.isf(stats.t.sf(t, res.df)),
                               rtol=1e-8)
    assert not cm.two_tailed


# --- against nilearn ------------------------------------------------------------------------
def test_matches_nilearn_second_level_model():
    from nilearn.glm.second_level import SecondLevelModel

    table, data = _trial(seed=11)
    imgs = _imgs(data)
    res = voxelwise_glm(imgs, "~ arm * session + age", {
        "t": "arm[T.active]:session[T.post] - arm[T.active]:session[T.fu]",
        "F": "arm:session"}, data=table, subject="subject_id", mask_img=_mask(),
        estimate_smoothness=False)
    # nilearn counts df as n - columns, so give it the full-rank reparametrisation
    xr = res.design_matrix.drop(columns=res.design.aliased_columns)
    model = SecondLevelModel(mask_img=_mask()).fit(imgs, design_matrix=xr)
    cm = res["t"]
    out = model.compute_contrast(cm.contrast[xr.columns].to_numpy()[0],
                                 second_level_stat_type="t", output_type="all")
    np.testing.assert_allclose(out["stat"].get_fdata(), cm.stat_img.get_fdata(), rtol=1e-9)
    np.testing.assert_allclose(out["z_score"].get_fdata(), cm.z_img.get_fdata(), rtol=1e-9)
    np.testing.assert_allclose(out["effect_size"].get_fdata(), cm.effect_img.get_fdata(),
                               rtol=1e-9)
    np.testing.assert_allclose(out["effect_variance"].get_fdata(),
                               cm.se_img.get_fdata() ** 2, rtol=1e-9)
    # nilearn's p is one-tailed; ours is two-tailed by default
    t = cm.stat_img.get_fdata()
    np.testing.assert_allclose(out["p_value"].get_fdata(), stats.t.sf(t, res.df), rtol=1e-9)
    np.testing.assert_allclose(cm.p_img.get_fdata(), 2 * stats.t.sf(np.abs(t), res.df),
                               rtol=1e-12)
    cf = res["F"]
    out = model.compute_contrast(cf.contrast[xr.columns].to_numpy(),
                                 second_level_stat_type="F", output_type="all")
    np.testing.assert_allclose(out["stat"].get_fdata(), cf.stat_img.get_fdata(), rtol=1e-9)
    np.testing.assert_allclose(out["p_value"].get_fdata(), cf.p_img.get_fdata(), rtol=1e-9)
    np.testing.assert_allclose(out["z_score"].get_fdata(), cf.z_img.get_fdata(), rtol=1e-9,
                               atol=1e-9)


# --- designs and contrasts ------------------------------------------------------------------
def test_categorical_reference_is_first_level():
    table, data = _trial(seed=2)
    imgs = _imgs(data)
    res = voxelwise_glm(imgs, "~ arm + session", "arm[T.active]", data=table,
                        estimate_smoothness=False)
    assert res.design.model_columns == ["Intercept", "arm[T.active]", "session[T.post]",
                                        "session[T.fu]"]
    assert res.design.factor_levels == {"arm": ["sham", "active"],
                                        "session": ["pre", "post", "fu"]}
    # text columns: sorted levels (R's default); booleans False < True
    text = table.assign(arm=table["arm"].astype(str), flag=table["session"] == "post")
    res = voxelwise_glm(imgs, "~ arm + flag", "arm[T.sham]", data=text,
                        estimate_smoothness=False)
    assert res.design.factor_levels["arm"] == ["active", "sham"]
    assert res.design.factor_levels["flag"] == [False, True]


def test_contrast_forms_give_the_same_maps():
    table, data = _trial(seed=4)
    imgs = _imgs(data)
    kw = {"data": table, "subject": "subject_id", "estimate_smoothness": False}
    res = voxelwise_glm(imgs, "~ arm * session", {
        "by_name": "session[T.fu] - 0.5*session[T.post]",
        "by_model_vector": [0, 0, -0.5, 1, 0, 0],
        "term": "session",
        "list": ["session[T.post]", "session[T.fu]"],
        "matrix": np.array([[0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]]),
    }, **kw)
    full = np.zeros(res.design_matrix.shape[1])
    full[[2, 3]] = [-0.5, 1]
    res_full = voxelwise_glm(imgs, "~ arm * session", full, **kw)
    a = res["by_name"].stat_img.get_fdata()
    np.testing.assert_array_equal(a, res["by_model_vector"].stat_img.get_fdata())
    np.testing.assert_array_equal(a, res_full.contrasts[res_full.contrast_names[0]]
                                  .stat_img.get_fdata())
    assert res_full.contrast_names == ["-0.5*session[T.post] + session[T.fu]"]
    for name in ("list", "matrix"):
        np.testing.assert_allclose(res[name].stat_img.get_fdata(),
                                   res["term"].stat_img.get_fdata(), rtol=1e-12)
    assert res["term"].stat == "F" and res["term"].df == (2.0, res.df)
    assert list(res["term"].contrast.index) == ["session[T.post]", "session[T.fu]"]


def test_non_estimable_contrast_is_named():
    table, data = _trial()
    imgs = _imgs(data)
    with pytest.raises(DesignError, match=r"Contrast 'arm\[T.active\]' .*not estimable.*row "
                                          r"space.*between-subject"):
        voxelwise_glm(imgs, "~ arm * session", "arm[T.active]", data=table,
                      subject="subject_id")
    with pytest.raises(DesignError, match=r"Contrast 'main' .*not estimable"):
        voxelwise_glm(imgs, "~ arm * session", {"ok": "session", "main": "arm"}, data=table,
                      subject="subject_id")
    # without subject effects the same contrast is estimable
    res = voxelwise_glm(imgs, "~ arm * session", "arm[T.active]", data=table,
                        estimate_smoothness=False)
    assert res.df == len(table) - 6


@pytest.mark.parametrize("contrasts, message", [
    ("session[T.later]", r"'session\[T.later\]' does not start with a column.*Columns:"),
    ("session[T.post] session[T.fu]", r"expected '\+' or '-'"),
    ([1, 0, 0], r"has 3 weights; expected 4 \(the model's columns"),
    ([0, 0, 0, 0], "row of zero weights"),
    ({"F": ["session[T.post]", "2*session[T.post]"]}, "linearly dependent"),
    (["session[T.post]", " session[T.post]"], "unique"),
    ([np.nan, 0, 1, 0], "non-finite weights"),
    ({}, "empty dict"),
])
def test_bad_contrasts(contrasts, message):
    table, data = _trial()
    with pytest.raises(DesignError, match=message):
        voxelwise_glm(_imgs(data), "~ arm + session", contrasts, data=table)


def test_rank_deficient_design_names_columns():
    table, data = _trial()
    imgs = _imgs(data)
    x = pd.DataFrame({"intercept": 1.0, "age": table["age"],
                      "age_months": table["age"] * 12})
    with pytest.raises(DesignError, match=r"column 'age_months' is a linear combination of "
                                          r"\['age'\]"):
        voxelwise_glm(imgs, x, "age")
    with pytest.raises(DesignError, match=r"column 'site' \(it is constant\) is a linear "
                                          r"combination of \['Intercept'\]"):
        voxelwise_glm(imgs, "~ arm + site", "arm[T.active]", data=table.assign(site=2.0))
    # a between-subject covariate with subject effects is not an error: it is absorbed
    res = voxelwise_glm(imgs, "~ session + age", "session[T.post]", data=table,
                        subject="subject_id", estimate_smoothness=False)
    assert res.design.aliased_columns == ["Intercept", "age"]


def test_bad_input_is_named():
    table, data = _trial()
    imgs = _imgs(data)
    with pytest.raises(ValueError, match="has a response"):
        voxelwise_glm(imgs, "alff ~ arm", "arm[T.active]", data=table)
    with pytest.raises(ValueError, match="random-effect term"):
        voxelwise_glm(imgs, "~ arm + (1 | subject_id)", "arm[T.active]", data=table)
    with pytest.raises(DataError, match=r"uses 'dose' \(in term\(s\) \['dose'\]\).*not a "
                                        r"column of 'data'"):
        voxelwise_glm(imgs, "~ arm + dose", "arm[T.active]", data=table)
    bad = table.copy()
    bad.loc[[3, 7], "age"] = np.nan
    with pytest.raises(DataError, match=r"missing values in column\(s\) \['age'\] at "
                                        r"image\(s\) \[3, 7\]"):
        voxelwise_glm(imgs, "~ arm + age", "age", data=bad)
    bad = table.copy()
    bad.loc[[2, 5], "age"] = [np.inf, -np.inf]
    with pytest.raises(DataError, match=r"Column 'age' of 'data' has non-finite value\(s\) "
                                        r"at image\(s\) \[2, 5\]"):
        voxelwise_glm(imgs, "~ arm + age", "age", data=bad)
    with pytest.raises(DataError, match="'data' has 29 rows but there are 30 images"):
        voxelwise_glm(imgs, "~ arm", "arm[T.active]", data=table.iloc[:29])
    with pytest.raises(TypeError, match="needs 'data'"):
        voxelwise_glm(imgs, "~ arm", "arm[T.active]")
    with pytest.raises(DesignError, match="not both"):
        voxelwise_glm(imgs, "~ session", "session", data=table, subject="subject_id",
                      subjects=table["subject_id"])
    with pytest.raises(DataError, match="subject column 'id' is not a column"):
        voxelwise_glm(imgs, "~ session", "session", data=table, subject="id")
    with pytest.raises(DesignError, match="Every subject has one image"):
        voxelwise_glm(imgs, "~ session", "session", data=table,
                      subjects=np.arange(len(table)))
    x = pd.DataFrame({"a": np.ones(30), "b": ["x"] * 30})
    with pytest.raises(DataError, match=r"Column 'b' of the 'design' matrix is not numeric"):
        voxelwise_glm(imgs, x, "a")
    x = pd.DataFrame({"a": np.ones(30), "b": np.r_[np.nan, np.arange(28.0), np.inf]})
    with pytest.raises(DataError, match=r"Column 'b' of the 'design' matrix has missing or "
                                        r"non-finite value\(s\) at image\(s\) \[0, 29\]"):
        voxelwise_glm(imgs, x, "a")
    with pytest.raises(DesignError, match="leaves 0 residual degrees of freedom"):
        voxelwise_glm(imgs[:2], pd.DataFrame({"a": [1.0, 1.0], "b": [0.0, 1.0]}), "b")
    with pytest.raises(ValueError, match="'dof_correction' parameter"):
        voxelwise_glm(imgs, "~ arm", "arm[T.active]", data=table, dof_correction="spm")


def test_single_visit_subjects_are_kept_and_reported():
    table, data = _trial(drop=(1, 2, 4, 5))  # s00 and s01 keep their baseline only
    res = voxelwise_glm(_imgs(data), "~ arm * session", "session[T.fu]", data=table,
                        subject="subject_id", estimate_smoothness=False)
    assert res.parameters["n_single_image_subjects"] == 2
    assert "2 of 10 subject(s) have one image only" in res.summary()
    # they add a row and a column each: the df are those of the other 8 subjects
    res8 = voxelwise_glm(_imgs(data[2:]), "~ arm * session", "session[T.fu]",
                         data=table.iloc[2:], subject="subject_id",
                         estimate_smoothness=False)
    assert res.df == res8.df
    np.testing.assert_allclose(res["session[T.fu]"].stat_img.get_fdata(),
                               res8["session[T.fu]"].stat_img.get_fdata(), rtol=1e-9)


def test_zero_variance_voxels_are_counted():
    table, data = _trial()
    data = data.copy()
    data[:, 0, 0, 0] = 7.0
    res = voxelwise_glm(_imgs(data), "~ arm * session", "arm:session", data=table,
                        subject="subject_id", mask_img=_mask())
    cm = res["arm:session"]
    assert res.n_zero_variance == cm.n_zero_variance == 1
    assert cm.stat_img.get_fdata()[0, 0, 0] == 0 and cm.p_img.get_fdata()[0, 0, 0] == 1
    assert cm.z_img.get_fdata()[0, 0, 0] == 0
    assert np.all(np.isfinite(cm.z_img.get_fdata()))


# --- the result -----------------------------------------------------------------------------
def test_result_protocol_headers_and_save(tmp_path):
    table, data = _trial()
    res = voxelwise_glm(_imgs(data), "~ arm * session", {
        "int": "arm[T.active]:session[T.post]", "inter": "arm:session"},
        data=table, subject="subject_id", mask_img=_mask())
    assert isinstance(res, Result) and isinstance(res["int"], Result)
    assert isinstance(res["int"], GLMContrastMaps) and isinstance(res, GLMResult)
    t, f = res["int"], res["inter"]
    assert t.stat_img.header.get_intent()[:2] == ("t test", (16.0,))
    assert f.stat_img.header.get_intent()[:2] == ("f test", (2.0, 16.0))
    assert f.z_img.header.get_intent()[0] == "z score"
    descrip = f.stat_img.header["descrip"].tobytes().decode()
    assert descrip.startswith("painmarkers{F_[2.0,16.0]}{dLh_")
    frame = res.to_frame()
    assert list(frame["contrast"]) == ["int", "inter"]
    assert frame["df_den"].tolist() == [16.0, 16.0] and np.isnan(frame.loc[0, "df_num"])
    vox = t.to_frame()
    assert list(vox.columns) == ["i", "j", "k", "x", "y", "z", "stat", "z_score", "p",
                                 "effect", "se"]
    assert len(vox) == int(np.prod(SHAPE)) and f.to_frame()["effect"].isna().all()
    with pytest.raises(KeyError, match="No contrast 'x'; the contrasts are"):
        res["x"]
    files = res.save(tmp_path)
    assert all(p.exists() for p in files.values())
    side = json.loads(files["contrast-02/fmap_sidecar"].read_text())
    assert side["stat"] == "F" and side["df"] == [2.0, 16.0]
    assert side["smoothness"]["dof"] == 16.0
    assert files["contrast-01/tmap"].name == "contrast-01_int_tmap.nii.gz"
    assert "Contrast 'inter': F map, df = (2, 16)" in res.summary()
    saved = pd.read_csv(files["design_matrix"], sep="\t")
    assert list(saved.columns) == res.design.columns
    assert res.parameters["contrasts"]["inter"]["rows"] == [
        "arm[T.active]:session[T.post]", "arm[T.active]:session[T.fu]"]
