"""What a model card holds: the pipeline and the description of a model, gathered from an
evaluation result or a fitted pipeline (the writer of :func:`~painmarkers.prediction.
save_model_card`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._atomic import atomic_write, jsonable, write_bytes
from painmarkers.exceptions import DataError
from painmarkers.prediction import _apply, _final, _steps

__all__: list[str] = []


# -- what is saved --------------------------------------------------------------------------
def performance_of(result) -> dict[str, Any]:
    params = getattr(result, "parameters", {}) or {}
    metrics = getattr(result, "metrics", None)
    out: dict[str, Any] = {
        "metrics": [] if metrics is None else jsonable(metrics.to_dict(orient="records")),
        "validation": (f"cross-validation: {params['cv']}" if params.get("cv") else None),
        "n_permutations": params.get("n_permutations"),
        "permutation_p": getattr(result, "permutation_p", None),
        "confidence": params.get("confidence"),
    }
    return out


def source(model, *, task, target, positive, features, threshold, training, performance,
            image_kind) -> dict[str, Any]:
    """The pipeline and what the card says about it, from an evaluation or a pipeline."""
    from sklearn.base import is_regressor

    src: dict[str, Any] = {"image_kind": image_kind}
    if hasattr(model, "final_model_") and hasattr(model, "parameters"):
        pipe = model.final_model_
        if pipe is None:
            raise DataError(f"This {type(model).__name__} holds no final model (final_model_ "
                            "is None); re-run the evaluation with this painmarkers to get one.")
        params = model.parameters
        src.update(
            pipe=pipe, task=task or ("regression" if is_regressor(pipe) else "classification"),
            target=target or params.get("target"),
            positive=params.get("positive") if positive is None else positive,
            positive_code=1, from_evaluation=True,
            features=features or params.get("features"),
            threshold=params.get("threshold") if threshold is None else threshold,
            score=params.get("score"),
            training={**(getattr(model, "training", None) or {}), **(training or {})},
            performance=performance or performance_of(model),
            confounds=list(params.get("confounds") or []),
            site=params.get("site") if params.get("harmonize") else None,
            image_kind=image_kind or params.get("kind"),
            model_repr=params.get("model"))
        return src
    if not hasattr(model, "predict"):
        raise TypeError("The 'model' parameter must be a fitted scikit-learn pipeline or an "
                        "evaluation result with a final_model_ (evaluate_biomarker, "
                        f"evaluate_prognosis). Got {type(model).__name__}.")
    task = task or ("regression" if is_regressor(model) else "classification")
    src.update(pipe=model, task=task, target=target, positive=positive, positive_code=positive,
               from_evaluation=False, features=features, threshold=threshold, score=None,
               training=dict(training or {}), performance=performance or {"metrics": []},
               confounds=[], site=None, model_repr=repr(model))
    return src


def check_task(src: dict, steps: list, where: str) -> None:
    model = steps[-1][1]
    name = type(model).__name__
    if name not in _steps.MODELS:
        raise DataError(f"{where}: the last step is a {name}; a model card holds one linear "
                        f"model at the end ({', '.join(_steps.MODELS)}).")
    classifier = hasattr(model, "classes_")
    if classifier != (src["task"] == "classification"):
        raise DataError(f"{where}: task {src['task']!r} but the model is a {name}.")
    if classifier:
        classes = np.asarray(model.classes_).tolist()
        if len(classes) != 2:
            raise DataError(f"{where}: a model card holds binary classifiers; this one has "
                            f"{len(classes)} classes {classes}.")
        if src["positive_code"] is None:
            raise ValueError(f"The 'positive' parameter must name the positive class, one of "
                             f"{classes}, for a classifier.")
        if (src["from_evaluation"] and src["positive_code"] not in classes
                and src["positive"] in classes):
            src["positive_code"] = src["positive"]  # fitted on the labels themselves
        if src["positive_code"] not in classes and classes == [0, 1] \
                and not src["from_evaluation"]:
            src["positive_code"] = 1  # a 0/1 model: positive names what 1 stands for
        if src["positive_code"] not in classes:
            raise ValueError(f"positive={src['positive_code']!r} is not a class of the model "
                             f"({classes}).")
        src["classes"] = classes
        score = src["score"] or ("predict_proba" if hasattr(model, "predict_proba")
                                 else "decision_function")
        src["score"] = score
        if src["threshold"] is None:
            src["threshold"] = 0.5 if score == "predict_proba" else 0.0


def _confound_coding(src: dict, steps: list) -> list:
    """How the card's confounds are coded (empty without them), after the checks that a
    card can replay its side steps on new data."""
    side = [k for k, s in steps if type(s).__name__ in _steps.SIDE_STEPS]
    if side and not src["from_evaluation"]:
        raise DataError(f"pipeline steps {side} need each row's site or confounds; a card "
                        "can hold them only from an evaluation result (evaluate_biomarker, "
                        "evaluate_prognosis and evaluate_pattern record how site and "
                        "confounds are coded). Save the evaluation, or a pipeline without "
                        "them.")
    coding = src["training"].get("confounds", [])
    if src["confounds"] and coding is None:
        raise DataError(f"The confounds {src['confounds']} have a column type whose coding "
                        "cannot be replayed on new data; use numeric or text confounds.")
    return coding if src["confounds"] else []


def input_entry(src: dict, steps: list, arrays: dict, files: dict, out: Path) -> dict[str, Any]:
    """The ``input`` entry (and the mask file of a voxel model)."""
    import nibabel as nib

    first_key, first = steps[0]
    coding = _confound_coding(src, steps)
    if _steps.is_masker(first):
        for key, est in steps[1:]:
            if _steps.is_masker(est):
                raise DataError(f"pipeline step {key!r}: a masker may only be the first step.")
        combat = [k for k, st in steps if type(st).__name__ == "ComBat"]
        if combat:
            raise DataError(f"pipeline step(s) {combat}: a voxel model card cannot hold "
                            "ComBat (apply_model does not take the site of each image).")
        mask, affine, shape = _steps.masker_grid(first, first_key)
        dtype = _steps.probe_masker(first, mask, affine, first_key)
        files["mask.nii.gz"] = atomic_write(
            out / "mask.nii.gz",
            lambda tmp: nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), tmp),
            suffix=".nii.gz")
        return {"kind": "images", "masker_class": type(first).__name__,
                "grid_affine": affine.tolist(), "grid_shape": list(shape),
                "mask_file": "mask.nii.gz", "mask_sha256": _steps.mask_hash(mask, affine),
                "n_voxels": int(mask.sum()), "dtype": dtype, "image_kind": src["image_kind"],
                "confounds": coding}
    n_in = getattr(first, "n_features_in_", None)
    features = src["features"]
    if features is None and hasattr(first, "feature_names_in_"):
        features = [str(f) for f in first.feature_names_in_]
    if features is None:
        raise ValueError("The 'features' parameter must name the model's input columns (a "
                         "table model needs its feature names to be applied to new data).")
    features = [features] if isinstance(features, str) else [str(f) for f in features]
    if n_in is not None and len(features) != n_in:
        raise DataError(f"{len(features)} feature names for a model fitted on {n_in} "
                        f"features: {features}.")
    return {"kind": "table", "features": features, "confounds": coding,
            "site": ({"column": src["site"], "names": src["training"].get("site_names", [])}
                     if src["site"] else None)}


def training_stats(src: dict, inp: dict, masker, training_data) -> None:
    """Add feature (or image) ranges computed from ``training_data`` when given."""
    if training_data is None:
        return
    t = src["training"]
    if inp["kind"] == "images":
        imgs = _apply.image_list(training_data, "training_data")
        X = masker.transform(imgs)
        t["image_stats"] = {"image_mean": _final._stats(np.nanmean(X, axis=1)),
                            "image_sd": _final._stats(np.nanstd(X, axis=1, ddof=1))}
        t.setdefault("n_rows", len(imgs))
        return
    frame = training_data if isinstance(training_data, pd.DataFrame) else pd.DataFrame(
        np.asarray(training_data, dtype=float), columns=inp["features"])
    missing = [f for f in inp["features"] if f not in frame.columns]
    if missing:
        raise DataError(f"training_data lacks the feature column(s) {missing}.")
    t["features"] = {f: _final._stats(pd.to_numeric(frame[f], errors="coerce")) for f in
                     inp["features"]}
    t.setdefault("n_rows", len(frame))


def weights(steps, inp, files, out) -> dict[str, Any] | None:
    import nibabel as nib

    eff = _steps.effective_weights(steps)
    if eff is None:
        return None
    w, b = eff
    if inp["kind"] == "images":
        mask = np.asarray(nib.load(out / inp["mask_file"]).dataobj) > 0
        vol = np.zeros(mask.shape, dtype=np.float64)
        vol[mask] = w
        img = nib.Nifti1Image(vol, np.asarray(inp["grid_affine"]))
        files["weights.nii.gz"] = atomic_write(out / "weights.nii.gz",
                                               lambda tmp: nib.save(img, tmp), suffix=".nii.gz")
        return {"file": "weights.nii.gz", "intercept": b,
                "meaning": "decision value = sum of weights x voxel values + intercept"}
    buf = io.BytesIO()
    np.savez(buf, features=np.asarray(inp["features"], dtype=str), weights=w,
             intercept=np.asarray(b))
    files["weights.npz"] = write_bytes(out / "weights.npz", buf.getvalue())
    return {"file": "weights.npz", "intercept": b,
            "by_feature": dict(zip(inp["features"], w.tolist())),
            "meaning": "decision value = sum of weights x feature values + intercept"}
