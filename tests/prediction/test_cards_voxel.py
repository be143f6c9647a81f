"""Model cards of voxel-pattern pipelines, with a minimal stand-in masker.

The voxel-pattern models of painmarkers put a masker step first, with a public
``mask_img_``, ``grid_affine_`` and ``grid_shape_``; the card writer is duck-typed on
those attributes. ``MiniMasker`` below is the smallest such step.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectPercentile, f_classif, f_regression
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from painmarkers.exceptions import DataError, ImageError, InferenceWarning
from painmarkers.prediction import (
    apply_model,
    load_model_card,
    pattern_expression,
    save_model_card,
)

ROOT = Path(__file__).resolve().parents[2]
AFFINE = np.array([[4.0, 0, 0, -20], [0, 4.0, 0, -24], [0, 0, 4.0, -16], [0, 0, 0, 1]])
SHAPE = (10, 12, 8)


class MiniMasker(TransformerMixin, BaseEstimator):
    """Images -> (n_images, n_voxels in mask), voxels in C order."""

    def __init__(self, mask_img=None, standardize=False):
        self.mask_img = mask_img
        self.standardize = standardize

    def fit(self, imgs=None, y=None):
        self.mask_img_ = self.mask_img
        self.grid_affine_ = self.mask_img.affine
        self.grid_shape_ = self.mask_img.shape[:3]
        return self

    def transform(self, imgs):
        mask = np.asarray(self.mask_img_.dataobj) > 0
        rows = [np.asarray(img.get_fdata(), dtype=np.float64)[mask] for img in imgs]
        out = np.vstack(rows)
        if self.standardize:
            out = (out - out.mean(axis=1, keepdims=True)) / out.std(axis=1, keepdims=True)
        return out


def mask_img():
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[1:9, 1:11, 1:7] = 1
    return nib.Nifti1Image(mask, AFFINE)


def planted(n, seed, affine=AFFINE, shape=SHAPE, offset=0.0):
    """Images with a planted pattern whose amplitude is the (continuous) target."""
    rng = np.random.default_rng(seed)
    pattern = np.zeros(SHAPE)
    pattern[3:6, 4:8, 2:5] = 1.0
    pattern[6:8, 2:4, 3:5] = -1.0
    amp = rng.normal(size=n)
    imgs = []
    for a in amp:
        data = rng.normal(size=SHAPE) + a * pattern + offset
        img = nib.Nifti1Image(data, AFFINE)
        if shape != SHAPE:
            from nilearn.image import resample_img

            img = resample_img(img, target_affine=affine, target_shape=shape,
                               interpolation="continuous", force_resample=True,
                               copy_header=True)
        imgs.append(img)
    return imgs, amp


@pytest.fixture(scope="module")
def classifier_pipe():
    imgs, amp = planted(60, 0)
    y = (amp > 0).astype(int)
    pipe = Pipeline([("masker", MiniMasker(mask_img())), ("scale", StandardScaler()),
                     ("select", SelectPercentile(f_classif, percentile=50)),
                     ("pca", PCA(n_components=10)),
                     ("model", LogisticRegression(C=0.5, max_iter=1000))])
    return pipe.fit(imgs, y), imgs


def test_voxel_classifier_round_trip_weights_and_signature(classifier_pipe, tmp_path):
    pipe, train = classifier_pipe
    card = save_model_card(pipe, tmp_path / "card", positive=1, target="high",
                           training_data=train, image_kind="alff")
    c = card.card
    assert c["input"]["kind"] == "images" and c["input"]["n_voxels"] == 8 * 10 * 6
    assert c["input"]["grid_shape"] == list(SHAPE)
    assert_allclose(np.asarray(c["input"]["grid_affine"]), AFFINE)
    assert set(c["files"]) == {"mask.nii.gz", "pipeline.npz", "weights.nii.gz"}
    assert c["training"]["image_stats"]["image_mean"]["n"] == 60
    new, amp = planted(30, 5)
    ext = apply_model(card, new, target=(amp > 0).astype(int))
    ref = pipe.predict_proba(new)[:, 1]
    assert ext.predictions["score"].to_numpy().tobytes() == ref.tobytes()
    assert ext.metrics.set_index("metric").loc["auc", "estimate"] > 0.8
    # the effective weight map, applied as a signature, gives the log-odds
    w = card.weights
    assert w.shape == SHAPE
    dots = pattern_expression(new, w, metric="dot").responses
    assert_allclose(dots + card.intercept, pipe.decision_function(new), rtol=1e-9,
                    atol=1e-9)
    assert np.all(w.get_fdata()[np.asarray(mask_img().dataobj) == 0] == 0)


@pytest.mark.parametrize("model", [Ridge(alpha=10.0), Lasso(alpha=0.05)],
                         ids=["ridge", "lasso_pcr"])
def test_voxel_regression_round_trip(model, tmp_path):
    imgs, amp = planted(50, 1)
    steps = [("masker", MiniMasker(mask_img())), ("scale", StandardScaler())]
    if isinstance(model, Lasso):  # CANlab's LASSO-PCR
        steps.append(("pca", PCA(n_components=20)))
    else:
        steps.append(("select", SelectPercentile(f_regression, percentile=30)))
    pipe = Pipeline([*steps, ("model", model)]).fit(imgs, amp)
    card = save_model_card(pipe, tmp_path, target="amplitude")
    new, amp2 = planted(20, 8)
    ext = apply_model(card, new, target=amp2, random_state=0)
    assert ext.predictions["predicted"].to_numpy().tobytes() == pipe.predict(new).tobytes()
    assert ext.metrics.set_index("metric").loc["pearson_r", "estimate"] > 0.5


def test_linear_svc_decision_values(tmp_path):
    imgs, amp = planted(40, 2)
    pipe = Pipeline([("masker", MiniMasker(mask_img())),
                     ("model", LinearSVC(C=0.01))]).fit(imgs, (amp > 0).astype(int))
    card = save_model_card(pipe, tmp_path, positive=0)  # score of class 0: -decision
    new, _ = planted(10, 3)
    out = apply_model(card, new).predictions
    assert out["score"].to_numpy().tobytes() == (-pipe.decision_function(new)).tobytes()
    assert card.card["threshold"] == 0.0


FRESH = """
import sys, numpy as np, nibabel as nib
from painmarkers.prediction import load_model_card, apply_model
card = load_model_card(sys.argv[1])
imgs = [nib.load(p) for p in sys.argv[3:]]
np.save(sys.argv[2], apply_model(card, imgs).predictions["score"].to_numpy())
"""


def test_fresh_process_gives_identical_bytes(classifier_pipe, tmp_path):
    pipe, _ = classifier_pipe
    save_model_card(pipe, tmp_path / "card", positive=1)
    new, _ = planted(8, 9)
    paths = []
    for i, img in enumerate(new):
        paths.append(tmp_path / f"img{i}.nii.gz")
        nib.save(img, paths[-1])
    here = apply_model(load_model_card(tmp_path / "card"), [str(p) for p in paths])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-W", "error", "-c", FRESH, str(tmp_path / "card"),
                    str(tmp_path / "out.npy"), *map(str, paths)], check=True, env=env,
                   capture_output=True, timeout=300)
    there = np.load(tmp_path / "out.npy", allow_pickle=False)
    assert there.tobytes() == here.predictions["score"].to_numpy().tobytes()


def test_images_on_another_grid_warn_and_resample_or_are_refused(classifier_pipe, tmp_path):
    pipe, _ = classifier_pipe
    card = save_model_card(pipe, tmp_path, positive=1)
    fine = np.array([[2.0, 0, 0, -21], [0, 2.0, 0, -25], [0, 0, 2.0, -17], [0, 0, 0, 1]])
    new, _ = planted(4, 4, affine=fine, shape=(21, 25, 17))
    with pytest.warns(InferenceWarning, match="4 of 4 image.* resampled to it with continuous"):
        ext = apply_model(card, new)
    from nilearn.image import resample_to_img

    back = [resample_to_img(i, mask_img(), interpolation="continuous", force_resample=True,
                            copy_header=True) for i in new]
    assert_allclose(ext.predictions["score"], pipe.predict_proba(back)[:, 1], rtol=1e-10)
    with pytest.raises(ImageError, match=r"on a grid .* different from the model's"):
        apply_model(card, new, grid_mismatch="raise")


def test_missing_voxels_shifted_intensity_and_cohort_targets(classifier_pipe, tmp_path):
    pipe, train = classifier_pipe
    card = save_model_card(pipe, tmp_path, positive=1, training_data=train)
    new, _ = planted(5, 6)
    data = new[2].get_fdata()
    data[4, 5, 3] = np.nan
    new[2] = nib.Nifti1Image(data, AFFINE)
    with pytest.raises(DataError, match="image 2 has 1 of 480 mask voxels without a finite"):
        apply_model(card, new)
    ext = apply_model(card, new, nan_policy="omit")
    assert ext.predictions["row"].tolist() == [0, 1, 3, 4]
    assert "image 2: 1 mask voxels without data" in ext.excluded["reason"].iloc[0]
    bright, _ = planted(5, 7, offset=5.0)
    with pytest.warns(InferenceWarning, match=r"image_mean \(mean"):
        ext = apply_model(card, bright)
    assert ext.shift.set_index("feature").loc["image_mean", "flagged"]
    far = nib.Nifti1Image(np.random.default_rng(0).normal(size=(3, 3, 3)),
                          np.array([[4.0, 0, 0, 500], [0, 4, 0, 500], [0, 0, 4, 500],
                                    [0, 0, 0, 1]]))
    with pytest.raises(DataError, match="has no finite value in the model's mask"):
        apply_model(card, [far])


def test_a_masker_that_changes_values_is_refused(tmp_path):
    imgs, amp = planted(30, 0)
    pipe = Pipeline([("masker", MiniMasker(mask_img(), standardize=True)),
                     ("model", LogisticRegression())]).fit(imgs, (amp > 0).astype(int))
    with pytest.raises(DataError, match="does not return the voxels of its mask_img_ in C "
                                        "order unchanged"):
        save_model_card(pipe, tmp_path, positive=1)
    assert not (tmp_path / "model_card.json").exists()
    assert not any(tmp_path.iterdir())


def test_apply_to_a_cohorts_maps_with_the_target_from_its_table(classifier_pipe, tmp_path):
    from painmarkers import Cohort, Session, Subject

    pipe, _ = classifier_pipe
    # fitted on 0/1 labels: positive names the label that 1 stands for
    card = save_model_card(pipe, tmp_path / "card", positive="CLBP", target="group",
                           image_kind="alff")
    assert card.card["positive_code"] == 1 and card.card["positive"] == "CLBP"
    new, amp = planted(12, 12)
    subjects = []
    for i, (img, a) in enumerate(zip(new, amp)):
        path = tmp_path / f"sub-{i:02d}_alff.nii.gz"
        nib.save(img, path)
        images = {"alff": path} if i != 5 else {}  # sub-05 has no map
        subjects.append(Subject(f"{i:02d}", "CLBP" if a > 0 else "HC", {},
                                [Session("pre", images=images)]))
    ext = apply_model(card, Cohort(subjects), sessions="pre")
    keep = [i for i in range(12) if i != 5]
    assert len(ext.predictions) == 11
    assert ext.excluded["reason"].iloc[0] == "no 'alff' map in session 'pre'"
    ref = pipe.predict_proba([new[i] for i in keep])[:, 1]
    assert ext.predictions["score"].to_numpy().tobytes() == ref.tobytes()
    assert ext.predictions["subject_id"].tolist() == [f"{i:02d}" for i in keep]
    y = (amp[keep] > 0).astype(float)
    assert_allclose(ext.predictions["observed"], y)
    assert ext.n == 11 and "auc" in set(ext.metrics["metric"])
    with pytest.raises(ValueError, match="positive='pain' is not a class of the model"):
        save_model_card(LogisticRegression().fit(np.eye(4), ["a", "b", "a", "b"]),
                        tmp_path / "x", positive="pain", features=list("wxyz"))


def test_a_pattern_evaluation_result_is_saved_from_its_final_model(tmp_path):
    """Any result with ``final_model_`` and ``parameters`` (the voxel-pattern evaluations)."""
    from types import SimpleNamespace

    import pandas as pd

    imgs, amp = planted(40, 3)
    labels = np.where(amp > 0, "CLBP", "HC")
    pipe = Pipeline([("masker", MiniMasker(mask_img())), ("scale", StandardScaler()),
                     ("model", LogisticRegression(C=0.1))]).fit(imgs, labels)
    metrics = pd.DataFrame([{"metric": "auc", "estimate": 0.8, "ci_low": 0.7,
                             "ci_high": 0.9, "confidence": 0.95, "ci_method": "DeLong",
                             "n": 40, "numerator": np.nan, "denominator": np.nan}])
    result = SimpleNamespace(final_model_=pipe, metrics=metrics, permutation_p=0.01,
                             parameters={"target": "group", "positive": "CLBP",
                                         "kind": "alff", "cv": "5-fold x 10",
                                         "n_permutations": 99, "confidence": 0.95})
    card = save_model_card(result, tmp_path)
    c = card.card
    assert (c["task"], c["positive"], c["positive_code"]) == ("classification", "CLBP",
                                                              "CLBP")
    assert c["input"]["image_kind"] == "alff"
    assert c["performance"]["metrics"][0]["estimate"] == 0.8
    assert c["performance"]["validation"] == "cross-validation: 5-fold x 10"
    new, amp2 = planted(10, 4)
    ext = apply_model(card, new, target=np.where(amp2 > 0, "CLBP", "HC"))
    classes = list(pipe.classes_)
    ref = pipe.predict_proba(new)[:, classes.index("CLBP")]
    assert ext.predictions["score"].to_numpy().tobytes() == ref.tobytes()
    assert_allclose(ext.predictions["observed"], (amp2 > 0).astype(float))
