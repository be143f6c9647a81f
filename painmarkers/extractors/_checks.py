"""The contract checks every extractor must pass (used by ``register_extractor``).

Lives here, below :mod:`painmarkers.testing`, so that the registry can run it
without importing a higher layer; :func:`painmarkers.testing.check_extractor`
is the public entry point.
"""

from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from painmarkers._threads import single_blas_thread
from painmarkers.exceptions import ExtractorError
from painmarkers.extractors._context import ImageContext
from painmarkers.extractors.base import INPUT_KINDS, OUTPUTS, BaseExtractor

__all__ = ["run_extractor_checks", "synthetic_inputs", "synthetic_rois"]


def synthetic_inputs(input_kind: str, random_state: int = 0, shape=(6, 5, 4), n_volumes=64):
    """Two small random images (4-D BOLD-like or 3-D maps) and their mask, TR 2 s.

    The time series are smooth random signals plus white noise with a shared
    component so that correlation-based extractors see structure; every voxel
    of the mask has non-zero variance.
    """
    import nibabel as nib

    rng = np.random.default_rng(random_state)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = -3.0 * (np.asarray(shape) - 1) / 2  # centred on the MNI origin
    mask = np.ones(shape, dtype=np.uint8)
    mask[0, 0, 0] = 0
    mask_img = nib.Nifti1Image(mask, affine)
    imgs = []
    for _ in range(2):
        if input_kind == "bold":
            shared = rng.standard_normal(n_volumes)
            data = (0.5 * shared + rng.standard_normal((*shape, n_volumes)) + 100.0)
            img = nib.Nifti1Image(data.astype(np.float32), affine)
            img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
            img.header.set_xyzt_units("mm", "sec")
        else:
            img = nib.Nifti1Image(rng.standard_normal(shape).astype(np.float32) + 1.0, affine)
        imgs.append(img)
    return imgs, mask_img


def synthetic_rois():
    """Two spheres inside the grid of :func:`synthetic_inputs` (for ROI-value extractors)."""
    from painmarkers.rois import Sphere

    return (Sphere("synthetic_a", (-1.5, 0.0, -1.5), 3.0),
            Sphere("synthetic_b", (4.5, 3.0, 1.5), 3.0))


def _attribute_ids(est: Any) -> dict[str, int]:
    return {k: id(v) for k, v in vars(est).items()}


def _fail(name: str, what: str) -> None:
    raise ExtractorError(f"Extractor {name} fails the painmarkers extractor checks: {what}")


def run_extractor_checks(extractor: Any) -> BaseExtractor:
    """Run the contract checks on an extractor class or instance; return the instance checked.

    BLAS runs single-threaded during the checks: they compare results bit for bit (serial
    against concurrent, fit against refit), and a multi-threaded OpenBLAS may split a
    product differently by thread count (differences of ~1e-17, measured with OpenBLAS
    0.3.23), which is not what the checks look for.
    """
    with single_blas_thread():
        return _run_checks(extractor)


def _run_checks(extractor: Any) -> BaseExtractor:
    if inspect.isclass(extractor):
        cls = extractor
        if not issubclass(cls, BaseExtractor):
            _fail(cls.__name__, "it must subclass painmarkers.extractors.BaseExtractor.")
        try:
            est = cls()
        except Exception as exc:  # any constructor failure is a contract failure
            _fail(cls.__name__, f"it cannot be constructed with default parameters ({exc!r}).")
    else:
        est = extractor
        cls = type(est)
        if not isinstance(est, BaseExtractor):
            _fail(cls.__name__, "it must subclass painmarkers.extractors.BaseExtractor.")
    name = cls.__name__

    # class variables
    if not isinstance(cls.feature, str) or not cls.feature.isidentifier():
        _fail(name, f"'feature' must be a non-empty identifier-like string; got {cls.feature!r}.")
    if cls.input_kind not in INPUT_KINDS:
        _fail(name, f"'input_kind' must be one of {INPUT_KINDS}; got {cls.input_kind!r}.")
    if cls.output not in OUTPUTS:
        _fail(name, f"'output' must be one of {OUTPUTS}; got {cls.output!r}.")
    if cls.input_kind == "map" and not isinstance(getattr(cls, "image_kind", None), str):
        _fail(name, "a map extractor must name the session image it reads in 'image_kind'.")
    legacy_compute = est._uses_legacy("_compute")
    legacy_prepare = est._uses_legacy("_prepare_image")
    if cls.compute is BaseExtractor.compute and not legacy_compute:
        _fail(name, "it must implement compute(self, data, context).")

    # scikit-learn parameter contract
    try:
        params = est.get_params(deep=False)
    except AttributeError as exc:
        _fail(name, f"get_params failed ({exc}); __init__ must store every parameter "
                    "as an attribute of the same name.")
    required = ("mask_img",) + (("t_r",) if cls.input_kind == "bold" else ()) \
        + (("rois",) if cls.output == "rois" else ())
    for param in required:
        if param not in params:
            _fail(name, f"__init__ must accept and store the {param!r} parameter.")
    signature = inspect.signature(cls.__init__)
    no_default = [p.name for p in signature.parameters.values()
                  if p.name != "self" and p.default is inspect.Parameter.empty
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if no_default and inspect.isclass(extractor):
        _fail(name, f"__init__ parameters without defaults: {no_default}.")
    fitted_in_init = [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]
    if fitted_in_init:
        _fail(name, f"__init__ sets fitted-looking attributes {fitted_in_init}.")
    cloned = clone(est)
    if set(cloned.get_params(deep=False)) != set(params):
        _fail(name, "clone() does not reproduce the parameters (does __init__ store them as is?).")
    try:
        est.set_params(**params)
    except Exception as exc:
        _fail(name, f"set_params with its own parameters failed ({exc!r}).")

    # behaviour on synthetic data
    imgs, mask_img = synthetic_inputs(cls.input_kind)
    probe = clone(est)
    try:
        probe.transform(imgs)
    except NotFittedError:
        pass
    except Exception as exc:
        _fail(name, f"transform before fit must raise NotFittedError; raised {exc!r}.")
    else:
        _fail(name, "transform before fit must raise NotFittedError.")
    if probe.get_params().get("mask_img") is None:
        probe.set_params(mask_img=mask_img)
    if cls.input_kind == "bold" and probe.get_params().get("t_r") is None:
        probe.set_params(t_r=2.0)
    if cls.output == "rois" and probe.get_params().get("rois") is None:
        probe.set_params(rois=synthetic_rois())
    try:
        returned = probe.fit(imgs)
        before = _attribute_ids(probe)
        out = probe.transform(imgs)
        after = _attribute_ids(probe)
        again = clone(probe).fit(imgs).transform(imgs)
        one = probe.compute_map(imgs[0]) if cls.output == "voxels" else None
        single = probe.transform_image(ImageContext(imgs[1]))
    except Exception as exc:
        hint = (" compute must not modify its data in place: the array is read-only because "
                "it may be shared with the other extractors of a session."
                if "read-only" in str(exc) else "")
        _fail(name, f"fit/transform/transform_image on synthetic data raised {exc!r}.{hint}")
    if returned is not probe:
        _fail(name, "fit must return self.")
    n_out = (len(probe.rois_) if cls.output == "rois"
             else int(np.asarray(mask_img.dataobj).sum()))
    what = "n_rois" if cls.output == "rois" else "n_voxels_in_mask"
    out = np.asarray(out)
    if out.shape != (len(imgs), n_out):
        _fail(name, f"transform must return (n_images, {what}) = ({len(imgs)}, {n_out}); "
                    f"got {out.shape}.")
    if not np.all(np.isfinite(out)):
        _fail(name, "transform returned non-finite values on clean synthetic data.")
    if not np.array_equal(out, np.asarray(again)):
        _fail(name, "two fits on the same data gave different results (not deterministic).")
    if not np.array_equal(np.asarray(single), out[1]):
        _fail(name, "transform_image(ImageContext(img)) differs from transform(img).")
    if not legacy_prepare:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            _fail(name, f"transform stored per-image state on self ({changed}); return "
                        "per-image values from prepare() with context.with_derived(...) "
                        "instead, so that images can be processed concurrently.")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in range(3):
                both = list(pool.map(lambda img: probe.transform_image(ImageContext(img)),
                                     [imgs[0], imgs[1], imgs[0], imgs[1]]))
                if not all(np.array_equal(b, out[i % 2]) for i, b in enumerate(both)):
                    _fail(name, "transform_image run concurrently in two threads gives "
                                "results different from a serial run.")
    if one is not None:
        if one.shape != mask_img.shape or not np.allclose(one.affine, mask_img.affine):
            _fail(name, f"compute_map must return a 3-D image on the mask grid; got "
                        f"{one.shape}.")
        back = np.asarray(one.dataobj)[np.asarray(mask_img.dataobj) > 0]
        if not np.allclose(back, out[0], rtol=1e-5, atol=1e-6 * (1 + np.abs(out[0]).max())):
            _fail(name, "compute_map(img) differs from transform(img) inside the mask.")
    try:  # what loky and dask workers use (a joblib dependency)
        import cloudpickle
    except ImportError:  # pragma: no cover
        import pickle as cloudpickle

    try:
        restored = cloudpickle.loads(cloudpickle.dumps(probe))
        if not np.array_equal(restored.transform(imgs[:1]), out[:1]):
            _fail(name, "a pickled and restored extractor gives different results.")
    except ExtractorError:
        raise
    except Exception as exc:
        _fail(name, f"it cannot be pickled for parallel workers ({exc!r}).")
    return est
