"""pattern_expression and evaluate_signature against hand computations and nilearn."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nilearn.image import resample_to_img
from numpy.testing import assert_allclose
from scipy import stats

from painmarkers.exceptions import DataError, InferenceWarning
from painmarkers.prediction import (
    PatternExpression,
    evaluate_signature,
    forced_choice_accuracy,
    pattern_expression,
    roc_auc_ci,
)

AFFINE = np.array([[3.0, 0, 0, -15], [0, 3.0, 0, -18], [0, 0, 3.0, -12], [0, 0, 0, 1]])
SHAPE = (10, 12, 9)


def planted_weights(seed=0):
    """A signature: random weights in a box, zeros elsewhere."""
    rng = np.random.default_rng(seed)
    w = np.zeros(SHAPE)
    w[2:8, 3:9, 2:7] = rng.normal(size=(6, 6, 5))
    return nib.Nifti1Image(w, AFFINE)


def images(n, seed=1, shape=SHAPE, affine=AFFINE):
    rng = np.random.default_rng(seed)
    return [nib.Nifti1Image(rng.normal(1.0, 2.0, size=shape), affine) for _ in range(n)]


def hand(w, x, metric):
    if metric == "dot":
        return float(np.sum(w * x))
    if metric == "cosine":
        return float(np.sum(w * x) / (np.linalg.norm(w) * np.linalg.norm(x)))
    return float(np.corrcoef(w, x)[0, 1])


@pytest.mark.parametrize("metric", ["dot", "cosine", "correlation"])
def test_metrics_equal_numpy_on_the_masked_vectors(metric):
    weights = planted_weights()
    imgs = images(4)
    res = pattern_expression(imgs, weights, metric=metric)
    w = weights.get_fdata()
    vox = w != 0
    expected = [hand(w[vox], img.get_fdata()[vox], metric) for img in imgs]
    assert_allclose(res.responses, expected, rtol=1e-12)
    assert isinstance(res, PatternExpression)
    assert (res.table["n_voxels"] == vox.sum()).all()
    assert_allclose(res.table["coverage"], 1.0)
    assert not res.table["resampled"].any()
    assert res.overlap["n_weight_voxels"] == vox.sum() == res.overlap["n_signature_voxels"]


def test_mask_restricts_the_signature_and_reports_its_coverage():
    weights = planted_weights()
    w = weights.get_fdata()
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[:5] = 1  # half of the box
    imgs = images(3)
    res = pattern_expression(imgs, weights, metric="cosine",
                             mask_img=nib.Nifti1Image(mask, AFFINE))
    vox = (w != 0) & (mask > 0)
    expected = [hand(w[vox], img.get_fdata()[vox], "cosine") for img in imgs]
    assert_allclose(res.responses, expected, rtol=1e-12)
    assert res.overlap["n_signature_voxels"] == vox.sum()
    assert_allclose(res.overlap["mask_coverage"], vox.sum() / (w != 0).sum(), rtol=1e-12)
    assert_allclose(res.overlap["mask_norm_coverage"],
                    np.linalg.norm(w[vox]) / np.linalg.norm(w[w != 0]), rtol=1e-12)


def test_images_on_another_grid_are_resampled_like_nilearn():
    weights = planted_weights()
    # a 2 mm grid with a larger field of view, shifted by half a voxel
    affine2 = np.array([[2.0, 0, 0, -21], [0, 2.0, 0, -25], [0, 0, 2.0, -17], [0, 0, 0, 1]])
    imgs = images(3, shape=(24, 28, 22), affine=affine2)
    res = pattern_expression(imgs, weights, metric="dot")
    w = weights.get_fdata()
    vox = w != 0
    expected = []
    for img in imgs:
        r = resample_to_img(img, weights, interpolation="continuous", force_resample=True,
                            copy_header=True).get_fdata()
        expected.append(float(np.sum(w[vox] * r[vox])))
    assert_allclose(res.responses, expected, rtol=1e-10)
    assert res.table["resampled"].all()
    assert res.overlap["n_resampled"] == 3
    lin = pattern_expression(imgs[:1], weights, interpolation="linear")
    r = resample_to_img(imgs[0], weights, interpolation="linear", force_resample=True,
                        copy_header=True).get_fdata()
    assert_allclose(lin.responses[0], np.sum(w[vox] * r[vox]), rtol=1e-10)


def test_partial_field_of_view_coverage_warning_and_nan_policies():
    weights = planted_weights()
    w = weights.get_fdata()
    vox = w != 0
    # an image covering x-voxels 0..4 of the weights' grid only (same voxel size)
    rng = np.random.default_rng(3)
    part = nib.Nifti1Image(rng.normal(size=(5, 12, 9)), AFFINE)
    covered = vox.copy()
    covered[5:] = False
    x = np.zeros(SHAPE)
    x[:5] = part.get_fdata()
    with pytest.warns(InferenceWarning, match="cover less than 90 %"):
        omit = pattern_expression([part], weights, metric="cosine")
    assert omit.table.loc[0, "n_voxels"] == covered.sum()
    assert_allclose(omit.table.loc[0, "coverage"], covered.sum() / vox.sum(), rtol=1e-12)
    assert_allclose(omit.table.loc[0, "norm_coverage"],
                    np.linalg.norm(w[covered]) / np.linalg.norm(w[vox]), rtol=1e-12)
    # nearest-neighbour grid: resampling a same-size grid is exact at the voxel centres
    assert_allclose(omit.responses[0], hand(w[covered], x[covered], "cosine"), rtol=1e-8)
    with pytest.warns(InferenceWarning):
        zero = pattern_expression([part], weights, metric="cosine", nan_policy="zero")
    assert_allclose(zero.responses[0], hand(w[vox], x[vox], "cosine"), rtol=1e-8)
    with pytest.warns(InferenceWarning):
        dots = [pattern_expression([part], weights, nan_policy=p).responses[0]
                for p in ("omit", "zero")]
    assert_allclose(dots[0], dots[1], rtol=1e-12)
    with pytest.raises(DataError, match=r"no data at .* of the .* signature voxels"):
        pattern_expression([part], weights, nan_policy="raise")
    # no warning when the threshold allows the coverage
    res = pattern_expression([part], weights, min_coverage=0.0)
    assert res.overlap["min_coverage"] < 1


def test_nan_voxels_are_omitted_and_counted():
    weights = planted_weights()
    w = weights.get_fdata()
    vox = w != 0
    data = images(1)[0].get_fdata()
    data[2:4, 3:9, 2:7] = np.nan
    img = nib.Nifti1Image(data, AFFINE)
    with pytest.warns(InferenceWarning):
        res = pattern_expression([img], weights, metric="correlation", names=["subj1"])
    ok = vox & np.isfinite(data)
    assert res.table.loc[0, "image"] == "subj1"
    assert res.table.loc[0, "n_voxels"] == ok.sum()
    assert_allclose(res.responses[0], hand(w[ok], data[ok], "correlation"), rtol=1e-12)
    # exact zeros: data unless zero_as_missing
    data2 = images(1)[0].get_fdata()
    data2[2:3] = 0.0
    img2 = nib.Nifti1Image(data2, AFFINE)
    full = pattern_expression([img2], weights, metric="cosine")
    assert full.table.loc[0, "n_voxels"] == vox.sum()
    part = pattern_expression([img2], weights, metric="cosine", zero_as_missing=True,
                              min_coverage=0.0)
    ok2 = vox & (data2 != 0)
    assert_allclose(part.responses[0], hand(w[ok2], data2[ok2], "cosine"), rtol=1e-12)


def test_four_d_image_gives_one_response_per_volume(tmp_path):
    weights = planted_weights()
    imgs = images(3)
    stack = nib.Nifti1Image(np.stack([i.get_fdata() for i in imgs], axis=-1), AFFINE)
    path = tmp_path / "stack.nii.gz"
    nib.save(stack, path)
    wpath = tmp_path / "weights.nii.gz"
    nib.save(weights, wpath)
    a = pattern_expression(str(path), str(wpath))
    b = pattern_expression(imgs, weights)
    assert_allclose(a.responses, b.responses, rtol=1e-12)
    assert a.parameters["weights"] == str(wpath)
    files = a.save(tmp_path / "out")
    assert set(files) == {"table", "parameters", "summary"}
    assert all(p.is_file() for p in files.values())
    assert "non-zero weights" in a.summary()


def test_no_overlap_and_bad_weights_raise():
    weights = planted_weights()
    far = nib.Nifti1Image(np.ones((4, 4, 4)) * 2.5,
                          np.array([[3.0, 0, 0, 300], [0, 3, 0, 300], [0, 0, 3, 300],
                                    [0, 0, 0, 1]]))
    with pytest.raises(DataError, match="no data at any of the"):
        pattern_expression([far], weights)
    disjoint = np.zeros(SHAPE, dtype=np.uint8)
    disjoint[0, 0, 0] = 1
    with pytest.raises(DataError, match="do not overlap"):
        pattern_expression(images(1), weights, mask_img=nib.Nifti1Image(disjoint, AFFINE))
    with pytest.raises(DataError, match="no finite non-zero weight"):
        pattern_expression(images(1), nib.Nifti1Image(np.zeros(SHAPE), AFFINE))
    with pytest.raises(ValueError, match="'metric' parameter"):
        pattern_expression(images(1), weights, metric="dice")
    with pytest.raises(DataError, match="names has 2 entries for 1 image"):
        pattern_expression(images(1), weights, names=["a", "b"])


def test_constant_image_correlation_is_nan_with_a_warning():
    weights = planted_weights()
    flat = nib.Nifti1Image(np.full(SHAPE, 3.0), AFFINE)
    with pytest.warns(InferenceWarning, match="undefined"):
        res = pattern_expression([flat], weights, metric="correlation")
    assert np.isnan(res.responses[0])


def test_planted_signature_separates_pain_from_warmth():
    """Images = noise + 0.3 x pattern (pain) or noise (warmth): the NPS-style design."""
    weights = planted_weights(5)
    w = weights.get_fdata()
    rng = np.random.default_rng(11)
    imgs, labels, subjects = [], [], []
    for s in range(20):
        for cond, amp in (("pain", 0.3), ("warm", 0.0)):
            imgs.append(nib.Nifti1Image(rng.normal(size=SHAPE) + amp * w, AFFINE))
            labels.append(cond)
            subjects.append(f"s{s}")
    res = pattern_expression(imgs, weights)
    out = evaluate_signature(res, labels, positive="pain", subjects=subjects).set_index(
        "metric")
    assert out.loc["auc", "estimate"] > 0.9
    assert out.loc["forced_choice_accuracy", "estimate"] >= 0.9
    assert out.loc["forced_choice_p", "estimate"] < 1e-3


def test_evaluate_signature_equals_the_metric_functions():
    rng = np.random.default_rng(2)
    s = rng.normal(size=30)
    labels = np.array(["pain", "warm"] * 15)
    s[labels == "pain"] += 0.8
    subjects = np.repeat([f"s{i}" for i in range(15)], 2)
    out = evaluate_signature(s, labels, positive="pain", subjects=subjects, threshold=0.2)
    m = out.set_index("metric")
    y = (labels == "pain").astype(int)
    ref = roc_auc_ci(y, s, clusters=subjects)
    assert_allclose(m.loc["auc", ["estimate", "ci_low", "ci_high"]].astype(float),
                    ref.loc[0, ["estimate", "ci_low", "ci_high"]].astype(float), rtol=1e-12)
    fc = forced_choice_accuracy(y, s, subjects)
    assert_allclose(m.loc["forced_choice_accuracy", "estimate"], fc.loc[0, "estimate"])
    diff = s[0::2] - s[1::2]
    k = int((diff > 0).sum())
    assert m.loc["forced_choice_accuracy", "numerator"] == k
    assert_allclose(m.loc["forced_choice_p", "estimate"],
                    stats.binomtest(k, 15, 0.5).pvalue, rtol=1e-12)
    sens = np.mean(s[y == 1] > 0.2)
    spec = np.mean(s[y == 0] <= 0.2)
    assert_allclose(m.loc["sensitivity", "estimate"], sens)
    assert_allclose(m.loc["specificity", "estimate"], spec)
    assert_allclose(m.loc["balanced_accuracy", "estimate"], (sens + spec) / 2)
    # unpaired: plain DeLong, no forced choice
    plain = evaluate_signature(s, labels, positive="pain")
    assert plain["metric"].tolist() == ["auc"]
    assert_allclose(plain.loc[0, "estimate"], roc_auc_ci(y, s).loc[0, "estimate"])


def test_evaluate_signature_bad_input():
    with pytest.raises(DataError, match="positive label 'pain'"):
        evaluate_signature([1.0, 2.0], ["a", "b"], positive="pain")
    with pytest.raises(DataError, match="labels has 3 value"):
        evaluate_signature([1.0, 2.0], ["a", "b", "a"], positive="a")
    with pytest.raises(DataError, match="non-finite"):
        evaluate_signature([1.0, np.nan], ["a", "b"], positive="a")
