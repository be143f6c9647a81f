"""evaluate_pattern: inputs, the same evaluation as evaluate_biomarker / evaluate_prognosis,
the final model, weights, Haufe pattern, bootstrap maps, files and errors."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy import stats
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectKBest, SelectPercentile, VarianceThreshold, f_classif
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils import estimator_checks as sk_checks
from statsmodels.stats.multitest import multipletests

from painmarkers import ClinicalScore, Cohort, Session, Subject
from painmarkers._results import Result
from painmarkers.exceptions import DataError, DesignError, ImageError, PainmarkersWarning
from painmarkers.prediction import (
    BiomarkerEvaluation,
    ConfoundRegressor,
    PatternEvaluation,
    PrognosisEvaluation,
    VoxelMasker,
    evaluate_biomarker,
    evaluate_pattern,
    evaluate_prognosis,
)
from painmarkers.prediction import _pattern_maps as maps

SHAPE = (5, 5, 4)   # 100 voxels


def _images(values, affine=None):
    affine = np.eye(4) if affine is None else affine
    return [nib.Nifti1Image(v.reshape(SHAPE), affine) for v in values]


def _class_data(n=40, signal=1.0, seed=0):
    rng = np.random.default_rng(seed)
    pattern = rng.normal(size=int(np.prod(SHAPE)))
    labels = np.repeat(["CLBP", "HC"], n // 2)
    X = rng.normal(size=(n, pattern.size)) + signal * np.outer(labels == "CLBP", pattern)
    return X, labels, pattern, rng


def _mask_img():
    return nib.Nifti1Image(np.ones(SHAPE, np.uint8), np.eye(4))


FAST = dict(n_repeats=2, n_permutations=19, n_bootstrap=200, n_bootstrap_weights=30,
            random_state=0, progress=False)


# -- the same evaluation as the table-based siblings ------------------------------------------
@pytest.mark.parametrize("n_voxels", [30, 100])
def test_classification_equals_evaluate_biomarker(n_voxels):
    """Voxels as table columns: evaluate_biomarker's default model (StandardScaler + L2
    logistic, C = 1) and evaluate_pattern(scaling="voxels") give the same metrics, folds,
    predictions and null distribution (primal route with 30 voxels, dual with 100)."""
    X, labels, _, _ = _class_data(n=40, signal=0.3, seed=n_voxels)
    X = X[:, :n_voxels]
    subjects = [f"s{i:02d}" for i in range(40)]
    table = pd.DataFrame(X, columns=[f"v{j}" for j in range(n_voxels)]).assign(
        subject_id=subjects, group=labels)
    ref = evaluate_biomarker(table, [f"v{j}" for j in range(n_voxels)], "group",
                             positive="CLBP", n_repeats=2, n_permutations=19,
                             n_bootstrap=200, random_state=3, progress=False)
    mask = np.zeros(SHAPE, np.uint8)
    mask.flat[:n_voxels] = 1
    imgs = []
    for row in X:
        vol = np.zeros(SHAPE)
        vol[mask > 0] = row
        imgs.append(nib.Nifti1Image(vol, np.eye(4)))
    res = evaluate_pattern(imgs, labels, positive="CLBP", subjects=subjects,
                           mask_img=nib.Nifti1Image(mask, np.eye(4)), scaling="voxels",
                           n_repeats=2, n_permutations=19, n_bootstrap=200,
                           n_bootstrap_weights=0, random_state=3, progress=False)
    assert isinstance(res.evaluation, BiomarkerEvaluation)
    m_ref, m = ref.metrics.set_index("metric"), res.metrics.set_index("metric")
    assert list(m.index) == list(m_ref.index)
    assert list(res.metrics.columns) == list(ref.metrics.columns)
    np.testing.assert_allclose(m["estimate"], m_ref["estimate"], rtol=1e-7)
    np.testing.assert_allclose(res.null_distribution, ref.null_distribution, rtol=1e-7)
    assert list(res.folds.columns) == list(ref.folds.columns)
    assert list(res.predictions.columns) == list(ref.predictions.columns)
    np.testing.assert_allclose(res.predictions["score"], ref.predictions["score"], rtol=1e-7)
    assert res.permutation_p == ref.permutation_p


def test_regression_equals_evaluate_prognosis():
    """StandardScaler + Ridge(1): the same R², metrics, folds and null distribution as
    evaluate_prognosis on the voxel table."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(36, 100))
    y = X[:, :5].sum(axis=1) + rng.normal(size=36)
    table = pd.DataFrame(X, columns=[f"v{j}" for j in range(100)]).assign(
        subject_id=[f"s{i:02d}" for i in range(36)], outcome=y)
    ref = evaluate_prognosis(table, [f"v{j}" for j in range(100)], "outcome", n_repeats=2,
                             n_permutations=19, n_bootstrap=200, random_state=5,
                             progress=False)
    res = evaluate_pattern(_images(X), y, subjects=table["subject_id"], mask_img=_mask_img(),
                           scaling="voxels", n_repeats=2, n_permutations=19, n_bootstrap=200,
                           n_bootstrap_weights=0, random_state=5, progress=False)
    assert isinstance(res.evaluation, PrognosisEvaluation)
    assert list(res.metrics.columns) == list(ref.metrics.columns)
    assert list(res.metrics["metric"]) == list(ref.metrics["metric"])
    np.testing.assert_allclose(res.metrics["estimate"], ref.metrics["estimate"], rtol=1e-7)
    np.testing.assert_allclose(res.null_distribution, ref.null_distribution, rtol=1e-7)
    assert list(res.folds.columns) == list(ref.folds.columns)
    np.testing.assert_allclose(res.evaluation.r2, ref.r2, rtol=1e-9)


# -- weights, Haufe pattern, bootstrap --------------------------------------------------------
@pytest.mark.parametrize("steps", [
    [("scale", StandardScaler()), ("model", LogisticRegression())],
    [("var", VarianceThreshold(0.5)), ("select", SelectKBest(f_classif, k=7)),
     ("model", LinearSVC())],
    [("scale", StandardScaler()), ("select", SelectPercentile(f_classif, percentile=30)),
     ("pca", PCA(5, whiten=True)), ("model", Ridge(2.0))],
    [("confounds", ConfoundRegressor()), ("pca", PCA(6)), ("model", Lasso(alpha=0.05))],
    [("confounds", ConfoundRegressor()), ("scale", StandardScaler(with_mean=False)),
     ("model", LinearRegression())],
], ids=["scale-logistic", "select-svm", "select-pca-ridge", "conf-pca-lasso", "conf-scale-ols"])
def test_linear_map_reproduces_the_pipeline(steps):
    """X w + b + confounds g equals the fitted pipeline's decision values on new rows."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 20)) * rng.uniform(0.5, 3, 20) + 1
    y = (X[:, 0] + rng.normal(size=50) > 1).astype(int)
    conf = rng.normal(size=(70, 2))
    X = np.vstack([X, rng.normal(size=(20, 20))])
    mask = nib.Nifti1Image(np.ones((20, 1, 1), np.uint8), np.eye(4))
    pipe = Pipeline([("masker", VoxelMasker(mask)), *[(n, clone(s)) for n, s in steps]])
    meta = {"confounds": conf[:50]} if "confounds" in dict(steps) else {}
    with sklearn.config_context(enable_metadata_routing=True):
        pipe.fit(X[:50], y[:50], **meta)
        new = {"confounds": conf[50:]} if meta else {}
        out = (pipe.decision_function(X[50:], **new) if hasattr(pipe, "decision_function")
               else pipe.predict(X[50:], **new))
    lm = maps.linear_map(pipe)
    mine = X[50:] @ lm.weights + lm.intercept
    if meta:
        mine = mine + conf[50:] @ lm.confound_coef
    np.testing.assert_allclose(mine, out, rtol=1e-9, atol=1e-10)


def test_haufe_pattern_equals_the_covariance_formula():
    """A = Σ_X w / var(s) with the explicit p x p covariance (Haufe et al. 2014, eq. 6)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 15)) @ rng.normal(size=(15, 15))
    w = rng.normal(size=15)
    s = X @ w + 2.0
    expected = np.cov(X, rowvar=False) @ w / np.var(s, ddof=1)
    np.testing.assert_allclose(maps.haufe_pattern(X, s), expected, rtol=1e-10)


@pytest.mark.parametrize(("task", "model"), [("classification", "l2_logistic"),
                                             ("classification", "ridge"),
                                             ("regression", "ridge")])
@pytest.mark.parametrize("confounds", [False, True])
def test_bootstrap_maps_equal_brute_force_refits(task, model, confounds):
    """The dual-route bootstrap gives the weights of scikit-learn refits on the same
    samples: mean, SD (ddof 1), z = mean / SD, p = 2 sf(|z|), q = Benjamini-Hochberg."""
    from painmarkers.prediction.patterns import build_pipeline

    X, labels, _, rng = _class_data(n=30, signal=0.5, seed=4)
    y = (labels == "CLBP").astype(int) if task == "classification" else X[:, 0] + \
        rng.normal(size=30)
    conf = rng.normal(size=(30, 1))
    meta = {"confounds": conf} if confounds else {}
    pipe, _, _ = build_pipeline(model, task, _mask_img(), scaling=None, feature_selection=None,
                                pca=None, model_params=None, n_confounds=int(confounds),
                                n_features=100)
    subjects = np.array([f"s{i}" for i in range(30)])
    samples = maps.draw_samples(y, subjects, 25, np.random.default_rng(0),
                                stratify=task == "classification")
    fast = maps.bootstrap_weights(pipe, X, y, task, samples, meta)
    ref_pipe = clone(pipe)
    if model == "l2_logistic":
        ref_pipe.set_params(model=LogisticRegression(solver="newton-cholesky", tol=1e-14,
                                                     max_iter=1000))
    ws = []
    for rows in samples:
        with sklearn.config_context(enable_metadata_routing=True):
            fitted = clone(ref_pipe).fit(X[rows], y[rows],
                                         **{k: v[rows] for k, v in meta.items()})
        ws.append(maps.linear_map(fitted).weights)
    ws = np.array(ws)
    np.testing.assert_allclose(fast.mean, ws.mean(axis=0), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(fast.sd, ws.std(axis=0, ddof=1), rtol=1e-6, atol=1e-10)
    z = ws.mean(axis=0) / ws.std(axis=0, ddof=1)
    np.testing.assert_allclose(fast.z, z, rtol=1e-6)
    np.testing.assert_allclose(fast.p, 2 * stats.norm.sf(np.abs(z)), rtol=1e-5)
    np.testing.assert_allclose(fast.q, multipletests(fast.p, method="fdr_bh")[1], rtol=1e-12)
    assert fast.n_valid == 25


def test_bootstrap_is_stratified_and_keeps_subjects_together():
    """Each sample draws whole subjects, as many of each class as the data hold."""
    y = np.array([1, 1, 0, 0, 0, 1, 1, 0])
    subjects = np.array(["a", "a", "b", "b", "c", "d", "d", "e"])
    size = pd.Series(subjects).value_counts()
    for rows in maps.draw_samples(y, subjects, 50, np.random.default_rng(1), stratify=True):
        picked = pd.Series(subjects[rows]).value_counts()
        draws = {sid: count // size[sid] for sid, count in picked.items()}
        assert all(picked[sid] == draws[sid] * size[sid] for sid in picked.index)
        assert sum(draws.get(s, 0) for s in "ad") == 2       # positive subjects
        assert sum(draws.get(s, 0) for s in "bce") == 3      # negative subjects


# -- the result, the final model and the files -------------------------------------------------
def test_result_final_model_and_maps(tmp_path):
    X, labels, pattern, _ = _class_data(n=40, signal=0.8, seed=6)
    imgs = _images(X)
    res = evaluate_pattern(imgs, labels, positive="CLBP", **FAST)
    assert isinstance(res, PatternEvaluation) and isinstance(res, Result)
    assert res.evaluation.auc > 0.9 and res.task == "classification"
    # the model card interface: masker, then the linear model, refitted on every image
    final = res.final_model_
    assert [type(s) for _, s in final.steps] == [VoxelMasker, LogisticRegression]
    masker = final.steps[0][1]
    assert masker.grid_shape_ == SHAPE and masker.mask_img_.shape == SHAPE
    np.testing.assert_array_equal(masker.grid_affine_, np.eye(4))
    # weights_img and intercept reproduce the final model on new images
    rng = np.random.default_rng(7)
    new = rng.normal(size=(5, X.shape[1]))
    decision = final.decision_function(_images(new))
    np.testing.assert_allclose(new @ res.weights + res.intercept, decision, rtol=1e-10)
    shifted = np.eye(4)
    shifted[:3, 3] = 1.0
    with pytest.raises(ImageError, match=r"imgs\[0\] and mask_img have different affines"):
        final.predict(_images(new, affine=shifted))
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-14).fit(X, labels == "CLBP")
    np.testing.assert_allclose(res.weights, ref.coef_[0], rtol=1e-8, atol=1e-12)
    # the weights and the Haufe pattern point at the planted pattern
    assert np.corrcoef(res.weights, pattern)[0, 1] > 0.5
    haufe = np.asarray(res.pattern_img.dataobj).ravel(order="C")
    assert np.corrcoef(haufe, pattern)[0, 1] > 0.8
    assert res.bootstrap.iloc[0]["n_valid"] == 30
    # files
    files = res.save(tmp_path)
    for stem in ("weights", "pattern", "weights_z", "weights_p", "weights_q", "mask"):
        img = nib.load(files[stem])
        assert img.shape == SHAPE
        side = json.loads(files[f"{stem}_sidecar"].read_text())
        assert side["n_voxels"] == 100 and "Description" in side
    np.testing.assert_allclose(np.asarray(nib.load(files["weights"]).dataobj),
                               np.asarray(res.weights_img.dataobj))
    for name in ("metrics", "folds", "predictions", "excluded", "null_distribution",
                 "parameters", "summary", "bootstrap"):
        assert files[name].exists()
    params = json.loads(files["parameters"].read_text())
    assert params["type"] == "PatternEvaluation"
    assert "Voxel-pattern model" in res.summary()
    pd.testing.assert_frame_equal(res.to_frame(), res.metrics)


def test_lasso_pcr_final_model_is_pca_then_lasso():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 100))
    y = X[:, :10].sum(axis=1) + rng.normal(size=40)
    res = evaluate_pattern(_images(X), y, model="lasso_pcr", **FAST)
    final = res.final_model_
    assert [type(s) for _, s in final.steps] == [VoxelMasker, PCA, Lasso]
    new = rng.normal(size=(4, 100))
    np.testing.assert_allclose(final.predict(_images(new)), new @ res.weights + res.intercept,
                               rtol=1e-9)
    fixed = evaluate_pattern(_images(X), y, model="lasso_pcr", model_params={"alpha": 0.5},
                             **FAST)
    assert fixed.final_model_[-1].alpha == 0.5


@pytest.mark.parametrize(("kw", "steps"), [
    (dict(scaling="voxels", feature_selection=("anova", 20)),
     [VoxelMasker, StandardScaler, SelectKBest, LogisticRegression]),
    (dict(feature_selection=("anova", "10%"), pca=5, model="linear_svm"),
     [VoxelMasker, SelectPercentile, PCA, LinearSVC]),
])
def test_pipeline_options(kw, steps):
    X, labels, _, _ = _class_data(n=40, signal=0.8, seed=9)
    res = evaluate_pattern(_images(X), labels, positive="CLBP", **{**FAST, **kw})
    assert [type(s) for _, s in res.final_model_.steps] == steps
    assert res.evaluation.auc > 0.8
    assert res.parameters["pipeline"] == [n for n, _ in res.final_model_.steps]


def test_confounds_are_regressed_in_the_fold():
    X, labels, _, rng = _class_data(n=40, signal=0.8, seed=10)
    age = rng.normal(50, 10, 40)
    res = evaluate_pattern(_images(X), labels, positive="CLBP",
                           confounds=pd.DataFrame({"age": age}), **FAST)
    assert [type(s) for _, s in res.final_model_.steps] == [VoxelMasker, ConfoundRegressor,
                                                           LogisticRegression]
    assert res.parameters["confounds"] == ["age"]
    assert len(res.parameters["confound_coef"]) == 1


# -- inputs ------------------------------------------------------------------------------------
def _cohort(tmp_path, X, labels, missing=()):
    subjects = []
    for i, (row, lab) in enumerate(zip(X, labels)):
        sid = f"{i:02d}"
        path = tmp_path / f"sub-{sid}_alff.nii.gz"
        nib.save(nib.Nifti1Image(row.reshape(SHAPE).astype(np.float32), np.eye(4)), path)
        images = {} if sid in missing else {"alff": path}
        subjects.append(Subject(sid, group=lab, covariates={"age": 40.0 + i % 7},
                                sessions=[Session("pre", scores=[ClinicalScore("VAS", 5.0)],
                                                  images=images),
                                          Session("post", scores=[ClinicalScore("VAS", 3.0)])]))
    return Cohort(subjects)


def test_cohort_input_equals_list_input(tmp_path):
    X, labels, _, _ = _class_data(n=40, signal=0.8, seed=11)
    cohort = _cohort(tmp_path, X, labels, missing=("03",))
    res = evaluate_pattern(cohort, "group", positive="CLBP", kind="alff", sessions="pre",
                           confounds="age", **FAST)
    excl = res.excluded
    assert list(excl["subject_id"]) == ["03"] and excl["reason"].iloc[0] == "no 'alff' image"
    keep = [i for i in range(40) if i != 3]
    ref = evaluate_pattern([str(tmp_path / f"sub-{i:02d}_alff.nii.gz") for i in keep],
                           labels[keep], positive="CLBP",
                           subjects=[f"{i:02d}" for i in keep],
                           confounds=pd.DataFrame({"age": [40.0 + i % 7 for i in keep]}),
                           **FAST)
    np.testing.assert_allclose(res.metrics["estimate"], ref.metrics["estimate"], rtol=1e-10)
    assert res.n == 39 and res.parameters["kind"] == "alff"
    # a target given as a Series indexed by subject id (e.g. an outcome table)
    outcome = pd.Series(X[:, 0] * 2 + np.arange(40) * 0.01, index=[f"{i:02d}" for i in
                                                                   range(40)])
    reg = evaluate_pattern(cohort, outcome, kind="alff", sessions="pre", **FAST)
    assert isinstance(reg.evaluation, PrognosisEvaluation) and reg.n == 39


def test_a_4d_image_equals_its_volumes():
    X, labels, _, _ = _class_data(n=40, signal=0.8, seed=19)
    four_d = nib.Nifti1Image(np.stack([v.reshape(SHAPE) for v in X], axis=-1), np.eye(4))
    a = evaluate_pattern(four_d, labels, positive="CLBP", **FAST)
    b = evaluate_pattern(_images(X), labels, positive="CLBP", **FAST)
    np.testing.assert_array_equal(a.metrics["estimate"], b.metrics["estimate"])
    np.testing.assert_array_equal(a.weights, b.weights)


def test_missing_targets_are_excluded_and_counted():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(30, 100))
    y = X[:, 0] + rng.normal(size=30)
    y[[2, 5]] = np.nan
    res = evaluate_pattern(_images(X), y, **FAST)
    assert res.n == 28
    assert list(res.excluded["reason"]) == ["missing target"] * 2
    labels = np.array(["a", "b"] * 15, dtype=object)
    labels[4] = None
    with pytest.raises(DataError, match=r"imgs\[4\].*missing target.*nan_policy"):
        evaluate_pattern(_images(X), labels, positive="a", **FAST)
    res = evaluate_pattern(_images(X), labels, positive="a", nan_policy="omit", **FAST)
    assert res.n == 29 and res.excluded["reason"].iloc[0] == "missing target"


def test_implicit_mask_drops_partial_voxels_with_a_warning():
    X, labels, _, _ = _class_data(n=40, signal=0.8, seed=13)
    X[7, :3] = np.nan
    X[9, 3] = 0.0
    with pytest.warns(PainmarkersWarning, match=r"4 voxel\(s\) have data in some images.*"
                                                r"imgs\[7\]"):
        res = evaluate_pattern(_images(X), labels, positive="CLBP", **FAST)
    assert res.n_voxels == 96 and res.parameters["n_partial_voxels"] == 4


# -- bad input ---------------------------------------------------------------------------------
def test_images_on_another_grid_are_named():
    X, labels, _, _ = _class_data(n=40, seed=14)
    imgs = _images(X)
    shifted = np.eye(4)
    shifted[0, 3] = 2.0
    imgs[6] = nib.Nifti1Image(X[6].reshape(SHAPE), shifted)
    with pytest.raises(ImageError, match=r"imgs\[6\] and imgs\[0\] have different affines"):
        evaluate_pattern(imgs, labels, positive="CLBP", **FAST)
    imgs[6] = nib.Nifti1Image(np.zeros((5, 5, 5)), np.eye(4))
    with pytest.raises(ImageError, match=r"imgs\[6\] has shape \(5, 5, 5\)"):
        evaluate_pattern(imgs, labels, positive="CLBP", **FAST)
    bad_mask = nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.eye(4))
    with pytest.raises(ImageError, match="mask_img"):
        evaluate_pattern(_images(X), labels, positive="CLBP", mask_img=bad_mask, **FAST)


def test_nan_inside_the_mask_is_named(tmp_path):
    X, labels, _, _ = _class_data(n=40, seed=15)
    X[11, 17] = np.nan
    paths = []
    for i, row in enumerate(X):
        paths.append(tmp_path / f"map{i}.nii.gz")
        nib.save(nib.Nifti1Image(row.reshape(SHAPE), np.eye(4)), paths[-1])
    with pytest.raises(DataError, match=r"imgs\[11\] \(.*map11\.nii\.gz\) has 1 NaN/inf voxel"):
        evaluate_pattern(paths, labels, positive="CLBP", mask_img=_mask_img(), **FAST)


def test_design_errors():
    X, labels, _, _ = _class_data(n=40, seed=16)
    few = labels.copy()
    few[:17] = "HC"   # 3 CLBP subjects for 5 folds
    with pytest.raises(DesignError, match=r"Class 'CLBP' has 3 subject\(s\) but 5-fold"):
        evaluate_pattern(_images(X), few, positive="CLBP", **FAST)
    with pytest.raises(DesignError, match="single class"):
        evaluate_pattern(_images(X), np.array(["HC"] * 40), positive="HC", **FAST)
    with pytest.raises(DataError, match="one value per image"):
        evaluate_pattern(_images(X), labels[:-1], positive="CLBP", **FAST)
    with pytest.raises(DesignError, match="at least 3"):
        evaluate_pattern(_images(X), np.tile([1.0, 2.0], 20), **FAST)
    with pytest.raises(ValueError, match="model='lasso_pcr' is for a regression"):
        evaluate_pattern(_images(X), labels, positive="CLBP", model="lasso_pcr", **FAST)
    with pytest.raises(ValueError, match="'f_regression'"):
        evaluate_pattern(_images(X), X[:, 0], feature_selection=("anova", 10), **FAST)
    with pytest.raises(ValueError, match="percentile"):
        evaluate_pattern(_images(X), labels, positive="CLBP",
                         feature_selection=("anova", "150%"), **FAST)
    with pytest.raises(ValueError, match="scaling"):
        evaluate_pattern(_images(X), labels, positive="CLBP", scaling="images", **FAST)
    with pytest.raises(TypeError, match="column name needs a Cohort"):
        evaluate_pattern(_images(X), "group", positive="CLBP", **FAST)
    with pytest.raises(TypeError, match="scikit-learn classifier"):
        evaluate_pattern(_images(X), labels, positive="CLBP", model=Ridge(), **FAST)


def test_nonlinear_model_is_refused():
    from sklearn.neighbors import KNeighborsClassifier

    X, labels, _, _ = _class_data(n=40, seed=17)
    with pytest.raises(TypeError, match="must be linear"):
        evaluate_pattern(_images(X), labels, positive="CLBP", model=KNeighborsClassifier(),
                         **FAST)


# -- the masker ----------------------------------------------------------------------------------
@pytest.mark.parametrize("check", ["check_no_attributes_set_in_init",
                                   "check_parameters_default_constructible",
                                   "check_get_params_invariance", "check_set_params",
                                   "check_estimator_cloneable", "check_estimator_repr",
                                   "check_mixin_order"])
def test_masker_parameter_checks(check):
    getattr(sk_checks, check)("VoxelMasker", VoxelMasker())


def test_masker_round_trip_and_arrays(tmp_path):
    rng = np.random.default_rng(18)
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:4, 1:4, 1:3] = 1
    vols = rng.normal(size=(3, *SHAPE))
    imgs = [nib.Nifti1Image(v, np.eye(4)) for v in vols]
    masker = VoxelMasker(nib.Nifti1Image(mask, np.eye(4))).fit()
    out = masker.transform(imgs)
    np.testing.assert_array_equal(out, vols[:, mask > 0])
    back = masker.inverse_transform(out)
    assert back.shape == (*SHAPE, 3)
    np.testing.assert_array_equal(np.asarray(back.dataobj)[mask > 0], out.T)
    np.testing.assert_array_equal(masker.transform(out), out)
    with pytest.raises(ValueError, match="one column per mask voxel"):
        masker.transform(out[:, :-1])
    four_d = nib.Nifti1Image(np.stack(vols, axis=-1), np.eye(4))
    np.testing.assert_array_equal(masker.transform(four_d), out)
    implicit = VoxelMasker().fit(imgs)
    assert implicit.n_voxels_ == int(np.prod(SHAPE))
    with pytest.raises(ImageError, match="needs images"):
        VoxelMasker().fit(out)
