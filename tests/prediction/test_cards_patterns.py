"""A real voxel-pattern evaluation (evaluate_pattern, with its VoxelMasker) saved as a
model card, reloaded and applied to new images: the card predicts exactly what the
evaluation's final model predicts, and its weight map is the evaluation's."""

import nibabel as nib
import numpy as np
import pytest
from numpy.testing import assert_allclose

from painmarkers.prediction import (
    apply_model,
    evaluate_pattern,
    load_model_card,
    pattern_expression,
    save_model_card,
)

SHAPE = (5, 5, 4)
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])


def _data(n, seed, signal=1.0):
    rng = np.random.default_rng(seed)
    pattern = np.random.default_rng(99).normal(size=int(np.prod(SHAPE)))
    labels = np.repeat(["CLBP", "HC"], n // 2)
    X = rng.normal(size=(n, pattern.size)) + signal * np.outer(labels == "CLBP", pattern)
    return [nib.Nifti1Image(v.reshape(SHAPE), AFFINE) for v in X], labels, X


FAST = dict(n_repeats=1, n_permutations=0, n_bootstrap=100, n_bootstrap_weights=0,
            random_state=0, progress=False)


@pytest.mark.parametrize("model", ["l2_logistic", "ridge"])
def test_pattern_evaluation_card_round_trip(model, tmp_path):
    imgs, labels, _ = _data(40, 0)
    if model == "l2_logistic":
        res = evaluate_pattern(imgs, labels, positive="CLBP", model=model, **FAST)
    else:
        y = np.where(labels == "CLBP", 1.0, 0.0) + np.random.default_rng(1).normal(
            scale=0.3, size=40)
        res = evaluate_pattern(imgs, y, model=model, **FAST)
    card = save_model_card(res, tmp_path / "card", image_kind="alff")
    assert card.is_voxel and card.card["input"]["grid_shape"] == list(SHAPE)
    assert_allclose(np.asarray(card.card["input"]["grid_affine"]), AFFINE)
    loaded = load_model_card(tmp_path / "card")
    new, new_labels, _ = _data(30, 5)
    pipe = res.final_model_
    if model == "l2_logistic":
        ext = apply_model(loaded, new, target=new_labels)
        # the final model is fitted on the positive class coded 1
        ref = pipe.predict_proba(new)[:, list(pipe.classes_).index(1)]
        assert_allclose(ext.predictions["score"], ref, rtol=1e-10, atol=1e-12)
        assert ext.metrics.set_index("metric").loc["auc", "estimate"] > 0.8
        linear = pipe.decision_function(new)
    else:
        ext = apply_model(loaded, new)
        ref = pipe.predict(new)
        assert_allclose(ext.predictions["predicted"], ref, rtol=1e-10, atol=1e-12)
        linear = ref
    # the card's weight map applied as a signature reproduces the linear predictor, and
    # it is the evaluation's own weight map
    dots = pattern_expression(new, loaded.weights, metric="dot").responses
    assert_allclose(dots + loaded.intercept, linear, rtol=1e-8, atol=1e-10)
    assert_allclose(loaded.weights.get_fdata(), res.weights_img.get_fdata(), rtol=1e-8,
                    atol=1e-12)


def test_pattern_card_describes_its_training_images(tmp_path):
    """The card of a pattern evaluation records the training images without
    ``training_data``: sizes, class counts and the range of each image's mean and SD over
    the mask (computed here from the voxel matrix); new images shifted by 3 SD are
    flagged by apply_model, images like the training ones are not."""
    imgs, labels, X = _data(40, 0)
    res = evaluate_pattern(imgs, labels, positive="CLBP", **FAST)
    t = res.training
    assert (t["n_rows"], t["n_subjects"], t["n_excluded"]) == (40, 40, 0)
    assert t["target"]["class_counts"] == {"CLBP": 20, "HC": 20}
    assert (t["target"]["n_positive"], t["target"]["n_negative"]) == (20, 20)
    means, sds = X.mean(axis=1), X.std(axis=1, ddof=1)
    stats = t["image_stats"]
    assert_allclose([stats["image_mean"][k] for k in ("mean", "min", "max")],
                    [means.mean(), means.min(), means.max()], rtol=1e-10)
    assert_allclose(stats["image_sd"]["sd"], sds.std(ddof=1), rtol=1e-10)
    assert stats["image_mean"]["n"] == 40 and "features" not in t
    card = save_model_card(res, tmp_path / "card")
    assert card.card["training"]["image_stats"] == stats
    new, new_labels, _ = _data(20, 7)
    same = apply_model(card, new, target=new_labels).shift.set_index("feature")
    assert not same["flagged"].any()
    shifted = [nib.Nifti1Image(img.get_fdata() + 3.0, AFFINE) for img in new]
    with pytest.warns(UserWarning, match="image_mean"):
        moved = apply_model(card, shifted, target=new_labels).shift.set_index("feature")
    assert moved.loc["image_mean", "flagged"] and moved.loc["image_mean", "shift_sd"] > 10


def test_pattern_card_with_confounds_round_trip(tmp_path):
    """A voxel model with age and site regressed out inside the folds is saved with their
    coding; applied to images with their confounds it predicts exactly what the final
    model predicts given the same (dummy-coded) confounds. Missing confounds, a missing
    value and an unseen level are refused (or, with nan_policy="omit", excluded)."""
    import pandas as pd
    import sklearn

    from painmarkers.exceptions import DataError

    imgs, labels, _ = _data(40, 0)
    rng = np.random.default_rng(3)
    conf = pd.DataFrame({"age": rng.normal(50, 10, 40),
                         "site": np.where(np.arange(40) % 3 == 0, "A", "B")})
    res = evaluate_pattern(imgs, labels, positive="CLBP", confounds=conf, **FAST)
    card = save_model_card(res, tmp_path / "card")
    assert card.card["input"]["confounds"] == [
        {"name": "age", "kind": "numeric"},
        {"name": "site", "kind": "categorical", "levels": ["A", "B"]}]
    assert card.card["weights"] is None  # the map depends on each image's confounds
    new, _, _ = _data(12, 5)
    new_conf = pd.DataFrame({"age": rng.normal(50, 10, 12), "site": ["B", "A"] * 6})
    ext = apply_model(load_model_card(tmp_path / "card"), new, confounds=new_conf)
    coded = np.column_stack([new_conf["age"], new_conf["site"] == "B"]).astype(float)
    with sklearn.config_context(enable_metadata_routing=True):
        ref = res.final_model_.predict_proba(new, confounds=coded)[:, 1]
    assert_allclose(ext.predictions["score"], ref, rtol=0, atol=0)
    with pytest.raises(DataError, match=r"regresses the confounds \['age', 'site'\]"):
        apply_model(card, new)
    gap = new_conf.assign(age=new_conf["age"].where(np.arange(12) != 4))
    with pytest.raises(DataError, match=r"image 4 has no value of the confound\(s\) \['age'\]"):
        apply_model(card, new, confounds=gap)
    kept = apply_model(card, new, confounds=gap, nan_policy="omit")
    assert kept.excluded["row"].tolist() == [4] and len(kept.predictions) == 11
    rest = [img for i, img in enumerate(new) if i != 4]
    with sklearn.config_context(enable_metadata_routing=True):
        ref_rest = res.final_model_.predict_proba(rest, confounds=np.delete(coded, 4, 0))
    assert_allclose(kept.predictions["score"], ref_rest[:, 1], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"confound 'site' has level\(s\) \['C'\]"):
        apply_model(card, new, confounds=new_conf.assign(site="C"))
    with pytest.raises(DataError, match="12 row"):
        apply_model(card, new[:6], confounds=new_conf)


def test_pattern_card_with_confounds_from_a_cohort(tmp_path):
    """Trained on a Cohort's maps with its age column as confound, the card takes each
    map's age from the new Cohort's table: the same scores as the images given as a list
    with their ages, and a session without age is excluded (nan_policy="omit")."""
    import pandas as pd

    from painmarkers import Cohort, Session, Subject

    def cohort(n, seed, folder):
        imgs, labels, _ = _data(n, seed)
        ages = np.random.default_rng(seed + 100).normal(50, 10, n).round(1)
        folder.mkdir()
        subjects = []
        for i, (img, label, age) in enumerate(zip(imgs, labels, ages)):
            path = folder / f"sub-{i:02d}_alff.nii.gz"
            nib.save(img, path)
            covariates = {"age": float(age)} if not (seed == 5 and i == 3) else {}
            subjects.append(Subject(f"{i:02d}", str(label), covariates,
                                    [Session("pre", images={"alff": path})]))
        return Cohort(subjects), imgs, labels, ages

    train, *_ = cohort(40, 0, tmp_path / "train")
    res = evaluate_pattern(train, "group", positive="CLBP", kind="alff", confounds=["age"],
                           **FAST)
    assert res.training["groups"] == {"CLBP": 20, "HC": 20}
    card = save_model_card(res, tmp_path / "card")
    assert card.card["input"]["confounds"] == [{"name": "age", "kind": "numeric"}]
    new, imgs, _, ages = cohort(12, 5, tmp_path / "new")
    ext = apply_model(card, new, nan_policy="omit")
    assert ext.excluded["subject_id"].tolist() == ["03"]
    keep = [i for i in range(12) if i != 3]
    ref = apply_model(card, [imgs[i] for i in keep],
                      confounds=pd.DataFrame({"age": ages[keep]}))
    assert_allclose(ext.predictions["score"], ref.predictions["score"], rtol=0, atol=0)
    assert ext.predictions["subject_id"].tolist() == [f"{i:02d}" for i in keep]
