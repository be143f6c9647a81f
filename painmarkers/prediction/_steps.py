"""Pipeline steps to and from plain arrays and JSON: the no-pickle core of a model card.

A fitted pipeline is flattened into a list of steps (nested pipelines unrolled, a
hyperparameter search replaced by its ``best_estimator_``). Each step of a class on the
allow-list :data:`SUPPORTED` is written as its class name, its parameters
(``get_params(deep=False)``, JSON values) and its fitted attributes: arrays go to an
``.npz`` archive (numbers and unicode strings only, read back with
``allow_pickle=False``), scalars and short lists to JSON. Reading a step back builds
the class from the allow-list (never from a name found in the file), passes the
parameters to its constructor and sets the fitted attributes, so the library's own
``transform``/``predict`` code runs on exactly the saved numbers: predictions are
bit-identical.

A *masker* step (the first step of a voxel-pattern pipeline, recognised by its
``mask_img_``, ``grid_affine_`` and ``grid_shape_``) is written as its mask (NIfTI) and
grid; it is read back as :class:`CardMasker`, which extracts the mask's voxels in the
same (C) order.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, ImageError, InferenceWarning

__all__: list[str] = []

#: Classes a card may hold, by the name written in the card: (module, class name).
SUPPORTED: dict[str, tuple[str, str]] = {
    "StandardScaler": ("sklearn.preprocessing", "StandardScaler"),
    "VarianceThreshold": ("sklearn.feature_selection", "VarianceThreshold"),
    "SelectKBest": ("sklearn.feature_selection", "SelectKBest"),
    "SelectPercentile": ("sklearn.feature_selection", "SelectPercentile"),
    "PCA": ("sklearn.decomposition", "PCA"),
    "LogisticRegression": ("sklearn.linear_model", "LogisticRegression"),
    "LinearSVC": ("sklearn.svm", "LinearSVC"),
    "Ridge": ("sklearn.linear_model", "Ridge"),
    "RidgeClassifier": ("sklearn.linear_model", "RidgeClassifier"),
    "Lasso": ("sklearn.linear_model", "Lasso"),
    "LinearRegression": ("sklearn.linear_model", "LinearRegression"),
    "LabelBinarizer": ("sklearn.preprocessing", "LabelBinarizer"),  # inside RidgeClassifier
    "ConfoundRegressor": ("painmarkers.prediction.pipelines", "ConfoundRegressor"),
    "ComBat": ("painmarkers.prediction.pipelines", "ComBat"),
}

#: The final (model) steps, and the preprocessing steps that may precede them.
MODELS = ("LogisticRegression", "LinearSVC", "Ridge", "RidgeClassifier", "Lasso",
          "LinearRegression")
#: Score functions of univariate selection that a card can name (transform never calls
#: them; they are restored so that the step is complete).
SCORE_FUNCS = ("f_classif", "f_regression", "r_regression", "chi2", "mutual_info_classif",
               "mutual_info_regression")
#: Private fitted attributes known to be needed by ``transform``/``predict``.
PRIVATE_OK = {"_fit_svd_solver", "_label_binarizer", "_out_idx"}
#: Steps whose output depends on side information (site, confounds) of each row.
SIDE_STEPS = ("ConfoundRegressor", "ComBat")


def _class_of(name: str, where: str) -> type:
    if name not in SUPPORTED:
        raise DataError(f"{where}: a step of class {name!r} is not one a model card can hold "
                        f"({sorted(k for k in SUPPORTED if k != 'LabelBinarizer')}).")
    module, attr = SUPPORTED[name]
    return getattr(importlib.import_module(module), attr)


def is_masker(est: Any) -> bool:
    """Duck-typed voxel masker: a fitted step with ``mask_img_``, ``grid_affine_``,
    ``grid_shape_``."""
    return all(hasattr(est, a) for a in ("mask_img_", "grid_affine_", "grid_shape_"))


def _is_search(est: Any) -> bool:
    return hasattr(est, "best_estimator_")


def flatten(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, estimator)`` of every step of a fitted pipeline, in order.

    Nested pipelines are unrolled (``model/scale``), a fitted hyperparameter search is
    replaced by its ``best_estimator_`` (``model/best``).
    """
    if hasattr(model, "steps") and isinstance(model.steps, list):
        out = []
        for name, step in model.steps:
            if step is None or step == "passthrough":
                continue
            out += flatten(step, f"{prefix}{name}/")
        return out
    if _is_search(model):
        return flatten(model.best_estimator_, f"{prefix}best/")
    return [(prefix.rstrip("/") or type(model).__name__, model)]


# -- JSON values ---------------------------------------------------------------------------
def _json_value(value: Any, where: str) -> Any:
    """A parameter or scalar attribute as a JSON value (refusing anything else)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v, where) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_json_value(k, where), _json_value(v, where)]
                             for k, v in value.items()]}
    if callable(value):
        module = getattr(value, "__module__", "") or ""
        name = getattr(value, "__name__", repr(value))
        return {"__callable__": f"{module}.{name}"}
    raise DataError(f"{where} is {value!r} ({type(value).__name__}), which a model card "
                    "cannot store without pickle.")


def _from_json(value: Any, where: str) -> Any:
    if isinstance(value, dict) and "__dict__" in value:
        return {_from_json(k, where): _from_json(v, where) for k, v in value["__dict__"]}
    if isinstance(value, dict) and "__callable__" in value:
        return _score_func(value["__callable__"], where)
    if isinstance(value, list):
        return [_from_json(v, where) for v in value]
    return value


def _score_func(qualified: str, where: str) -> Callable:
    module, _, name = qualified.rpartition(".")
    if module.startswith("sklearn.feature_selection") and name in SCORE_FUNCS:
        return getattr(importlib.import_module("sklearn.feature_selection"), name)

    def unavailable(*args, **kwargs):
        raise TypeError(f"{where}: the score function {qualified!r} of the saved model is "
                        "not restored by a model card; the loaded step can transform data "
                        "but not be refitted.")

    unavailable.__name__ = name or "score_func"
    return unavailable


def _array_ok(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "biufU"


# -- encode / decode one estimator ---------------------------------------------------------
def encode(est: Any, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The JSON description of a fitted step; its arrays are added to ``arrays``."""
    name = type(est).__name__
    where = f"pipeline step {key!r} ({name})"
    cls = _class_of(name, where)
    if not isinstance(est, cls):
        raise DataError(f"{where} is a {type(est).__module__}.{name}, not the supported "
                        f"{cls.__module__}.{cls.__name__}.")
    params = {k: _json_value(v, f"{where} parameter {k!r}")
              for k, v in est.get_params(deep=False).items()}
    values: dict[str, Any] = {}
    stored: list[str] = []
    nested: dict[str, Any] = {}
    for attr, value in vars(est).items():
        if attr in params or attr.startswith("__"):
            continue
        if attr.startswith("_") and attr not in PRIVATE_OK:
            continue
        if not (attr.endswith("_") or attr in PRIVATE_OK):
            continue
        here = f"{where} attribute {attr!r}"
        if type(value).__name__ in SUPPORTED and hasattr(value, "get_params"):
            nested[attr] = encode(value, f"{key}.{attr}", arrays)
        elif isinstance(value, np.ndarray):
            arr = value
            if arr.dtype == object:
                try:
                    arr = arr.astype(str) if all(isinstance(v, str) for v in arr.ravel()) \
                        else arr.astype(float)
                except (TypeError, ValueError):
                    raise DataError(f"{here} holds values of mixed types, which a model card "
                                    "cannot store without pickle.") from None
                values.setdefault("__object_arrays__", []).append(attr)
            if not _array_ok(arr):
                raise DataError(f"{here} has dtype {arr.dtype}, which a model card cannot "
                                "store.")
            arrays[f"{key}:{attr}"] = arr
            stored.append(attr)
        else:
            values[attr] = _json_value(value, here)
    return {"class": name, "module": cls.__module__, "params": params, "values": values,
            "arrays": stored, "nested": nested}


def decode(spec: dict[str, Any], key: str, arrays: Any) -> Any:
    """Rebuild a fitted step from :func:`encode`'s description and the arrays."""
    name = spec.get("class")
    where = f"pipeline step {key!r} ({name})"
    cls = _class_of(name, where)
    accepted = set(inspect.signature(cls).parameters)
    params = {}
    for k, v in spec.get("params", {}).items():
        if k in accepted:
            params[k] = _from_json(v, f"{where} parameter {k!r}")
        else:
            warn(f"{where}: parameter {k!r} = {v!r} of the saved model does not exist in "
                 f"this scikit-learn; it is ignored (the fitted numbers are used as saved).",
                 InferenceWarning)
    est = cls(**params)
    objects = set(spec.get("values", {}).get("__object_arrays__", []))
    for attr, value in spec.get("values", {}).items():
        if attr == "__object_arrays__":
            continue
        setattr(est, attr, _from_json(value, f"{where} attribute {attr!r}"))
    for attr in spec.get("arrays", []):
        name_in = f"{key}:{attr}"
        if name_in not in arrays:
            raise DataError(f"{where}: the array {attr!r} is missing from the pipeline "
                            "archive.")
        arr = np.asarray(arrays[name_in])
        setattr(est, attr, arr.astype(object) if attr in objects else arr)
    for attr, sub in spec.get("nested", {}).items():
        setattr(est, attr, decode(sub, f"{key}.{attr}", arrays))
    return est


# -- the masker step ------------------------------------------------------------------------
def mask_hash(mask: np.ndarray, affine: np.ndarray) -> str:
    """SHA-256 of a boolean mask (C order) with its shape and affine (rounded to 1e-6 mm)."""
    h = hashlib.sha256()
    h.update(np.asarray(mask.shape, dtype="<i8").tobytes())
    h.update(np.round(np.asarray(affine, dtype="<f8"), 6).tobytes())
    h.update(np.ascontiguousarray(mask, dtype=np.uint8).tobytes())
    return h.hexdigest()


def masker_grid(est: Any, key: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(boolean mask, affine, shape) of a duck-typed masker; checks they agree."""
    import nibabel as nib

    mask_img = est.mask_img_
    if not hasattr(mask_img, "affine"):
        mask_img = nib.load(mask_img)
    mask = np.asarray(mask_img.dataobj) > 0
    affine = np.asarray(est.grid_affine_, dtype=float)
    shape = tuple(int(s) for s in est.grid_shape_)[:3]
    if mask.shape[:3] != shape or not np.allclose(mask_img.affine, affine, atol=1e-4):
        raise DataError(f"pipeline step {key!r}: its mask_img_ (shape {mask.shape}) is not on "
                        f"its grid (grid_shape_ {shape}); a model card needs them to agree.")
    if not mask.any():
        raise DataError(f"pipeline step {key!r}: its mask_img_ has no voxel.")
    return mask, affine, shape


def probe_masker(est: Any, mask: np.ndarray, affine: np.ndarray, key: str) -> str:
    """Check that the masker returns the mask's voxels in C order, unchanged; its dtype.

    An image whose value at each voxel is its C-order index is transformed: the output
    must be the indices of the mask's voxels (a masker that smooths, standardises or
    reorders cannot be rebuilt from its mask alone and is refused).
    """
    import nibabel as nib

    index = np.arange(mask.size, dtype=np.float64).reshape(mask.shape)
    out = np.asarray(est.transform([nib.Nifti1Image(index, affine)]))
    expected = np.flatnonzero(mask.ravel())
    if out.shape != (1, expected.size) or not np.array_equal(out[0].astype(np.float64),
                                                             expected.astype(np.float64)):
        raise DataError(
            f"pipeline step {key!r} ({type(est).__name__}) does not return the voxels of its "
            f"mask_img_ in C order unchanged (a probe image of voxel indices came back "
            f"changed); a model card can only hold a plain masking step: put smoothing or "
            "standardisation in steps of their own.")
    return str(out.dtype)


class CardMasker:
    """The masking step of a loaded voxel model: images -> (n_images, n_voxels).

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (x, y, z)
        The training mask; voxels are returned in its C order.
    affine : numpy.ndarray of shape (4, 4)
        The training grid.
    dtype : str
        Output dtype (the training masker's).
    grid_mismatch : {"resample", "raise"}
        Images on another grid: resampled to the training grid (continuous
        interpolation, with a warning) or refused.
    """

    def __init__(self, mask: np.ndarray, affine: np.ndarray, dtype: str = "float64",
                 grid_mismatch: str = "resample"):
        self.mask = np.asarray(mask, dtype=bool)
        self.affine = np.asarray(affine, dtype=float)
        self.dtype = dtype
        self.grid_mismatch = grid_mismatch

    def load(self, img: Any, name: str) -> tuple[np.ndarray, bool]:
        """Voxel values of one 3-D image on the training grid, and whether it was resampled."""
        from painmarkers._validation import check_img

        img = check_img(img, ndim=3, name=name)
        same = (tuple(img.shape[:3]) == self.mask.shape
                and np.allclose(img.affine, self.affine, atol=1e-4))
        if same:
            data = np.asarray(img.get_fdata(), dtype=np.float64)
            return data[self.mask].astype(self.dtype), False
        if self.grid_mismatch == "raise":
            raise ImageError(
                f"{name} is on a grid (shape {tuple(img.shape[:3])}) different from the "
                f"model's (shape {self.mask.shape}, affine diagonal "
                f"{np.round(np.diag(self.affine)[:3], 3).tolist()}); resample it first or "
                "pass grid_mismatch='resample'.")
        data = resample_values(img, self.affine, self.mask.shape, "continuous")
        return data[self.mask].astype(self.dtype), True

    def transform(self, imgs: list, names: list[str] | None = None) -> np.ndarray:
        """``(n_images, n_voxels)`` values (images on another grid resampled)."""
        names = names or [f"image {i}" for i in range(len(imgs))]
        rows = [self.load(img, n)[0] for img, n in zip(imgs, names)]
        return np.vstack(rows) if rows else np.empty((0, int(self.mask.sum())))


def resample_values(img: Any, affine: np.ndarray, shape: tuple[int, ...],
                    interpolation: str) -> np.ndarray:
    """``img`` resampled to a grid (nilearn ``resample_to_img``); NaN where it has no data.

    Non-finite voxels are set to 0 before interpolating (nilearn would warn and
    extrapolate them) and NaN again afterwards wherever the nearest source voxel was
    non-finite; target voxels outside the image's field of view are NaN too.
    """
    import nibabel as nib
    from nilearn.image import resample_to_img

    target = nib.Nifti1Image(np.zeros(tuple(shape), dtype=np.uint8), affine)
    data = np.asarray(img.get_fdata(), dtype=np.float64)
    finite = np.isfinite(data)
    src = nib.Nifti1Image(np.where(finite, data, 0.0), img.affine)
    kw = {"force_resample": True, "copy_header": True}
    out = np.asarray(resample_to_img(src, target, interpolation=interpolation,
                                     **kw).get_fdata(), dtype=np.float64)
    # valid: inside the field of view and a finite nearest source voxel (1 inside, 0 out)
    valid = nib.Nifti1Image(finite.astype(np.float32), img.affine)
    inside = np.asarray(resample_to_img(valid, target, interpolation="nearest", fill_value=0,
                                        **kw).get_fdata()) > 0.5
    out[~inside] = np.nan
    return out


# -- effective weights ---------------------------------------------------------------------
def effective_weights(steps: list[tuple[str, Any]]) -> tuple[np.ndarray, float] | None:
    """Weights ``w`` and offset ``b`` with ``decision(x) = x @ w + b`` on the first step's
    input (voxels for a masked pipeline), or None when a step is not a fixed linear map
    (ComBat, confound regression).

    Backward through the steps: scaling divides by ``scale_``, selection scatters into
    zeros, PCA maps back with ``components_`` (after ``1 / sqrt(explained_variance_)``
    when whitened). ``b`` is the decision value of an all-zero input.
    """
    body = [(k, s) for k, s in steps if not is_masker(s)]
    if any(type(s).__name__ in SIDE_STEPS for _, s in body):
        return None
    model = body[-1][1]
    w = np.asarray(model.coef_, dtype=float).reshape(-1)
    if np.asarray(model.coef_).ndim == 2 and np.asarray(model.coef_).shape[0] != 1:
        return None
    for _, step in reversed(body[:-1]):
        kind = type(step).__name__
        if kind == "StandardScaler":
            if step.scale_ is not None:
                w = w / step.scale_
        elif kind in ("VarianceThreshold", "SelectKBest", "SelectPercentile"):
            full = np.zeros(step.n_features_in_)
            full[step.get_support()] = w
            w = full
        elif kind == "PCA":
            if step.whiten:
                w = w / np.sqrt(step.explained_variance_)
            w = step.components_.T @ w
        else:
            return None
    zero = np.zeros((1, w.size))
    for _, step in body[:-1]:
        zero = step.transform(zero)
    return w, float(decision(model, zero)[0])


def decision(model: Any, X: np.ndarray) -> np.ndarray:
    """The linear model's decision value (regression: its prediction)."""
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=float).ravel()
    return np.asarray(model.predict(X), dtype=float).ravel()
