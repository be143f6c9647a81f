"""BaseExtractor: template fit, masking, transform/compute_map/inverse_transform, TR
resolution, bad input, the scikit-learn checks that apply to image input, check_extractor."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as sk_checks

from painmarkers.exceptions import DataError, ExtractorError, ImageError
from painmarkers.extractors import (
    ALFF,
    BaseExtractor,
    FractionalALFF,
    MapMean,
    ROIExtractor,
    SeedFC,
    resolve_t_r,
)
from painmarkers.rois import Sphere
from painmarkers.testing import check_extractor, synthetic_images


class TemporalMean(BaseExtractor):
    feature = "tmean"
    input_kind = "bold"

    def compute(self, data, context):
        return data.mean(axis=0)


class MapSquare(BaseExtractor):
    feature = "square"
    input_kind = "map"
    image_kind = "qsm"

    def compute(self, data, context):
        return data[0] ** 2


def _data(rng, shape=(4, 5, 6, 20)):
    return rng.standard_normal(shape) + 10.0


def test_transform_equals_the_masked_numpy_computation(rng, bold_image, affine_3mm):
    data = _data(rng)
    mask = np.zeros(data.shape[:3], dtype=np.uint8)
    mask[1:3, 1:4, 2:5] = 1
    img = bold_image(data)
    est = TemporalMean(mask_img=nib.Nifti1Image(mask, affine_3mm), t_r=2.0).fit()
    out = est.transform([img, img])
    expected = data.astype(np.float32)[mask > 0].mean(axis=1)
    assert out.shape == (2, int(mask.sum()))
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)
    assert est.n_voxels_ == mask.sum()
    map_img = est.compute_map(img)
    assert map_img.shape == mask.shape
    np.testing.assert_allclose(np.asarray(map_img.dataobj)[mask > 0], expected, rtol=1e-6)
    assert np.all(np.asarray(map_img.dataobj)[mask == 0] == 0)


def test_mask_computed_from_images_excludes_zero_and_nan_voxels(rng, bold_image):
    data = _data(rng)
    data[0] = 0.0
    est = TemporalMean(t_r=2.0).fit(bold_image(data))
    mask = np.asarray(est.mask_img_.dataobj) > 0
    assert not mask[0].any() and mask[1:].all()
    data[1, 1, 1, 3] = np.nan
    est = TemporalMean(t_r=2.0).fit(bold_image(data))
    assert not np.asarray(est.mask_img_.dataobj)[1, 1, 1]


def test_inverse_transform_round_trip(rng, bold_image):
    img = bold_image(_data(rng))
    est = TemporalMean(t_r=2.0).fit(img)
    X = rng.standard_normal((3, est.n_voxels_))
    back = est.inverse_transform(X)
    assert back.shape == (*img.shape[:3], 3)
    mask = np.asarray(est.mask_img_.dataobj) > 0
    np.testing.assert_allclose(np.asarray(back.dataobj)[mask].T, X, rtol=1e-6)
    with pytest.raises(ExtractorError, match=r"inverse_transform expects shape"):
        est.inverse_transform(np.ones(est.n_voxels_ + 1))


def test_map_extractor_uses_3d_images(rng, affine_3mm):
    maps = [nib.Nifti1Image(rng.standard_normal((4, 4, 4)).astype(np.float32), affine_3mm)
            for _ in range(2)]
    est = MapSquare().fit(maps)
    np.testing.assert_allclose(est.transform(maps)[1], np.ravel(maps[1].get_fdata()) ** 2,
                               rtol=1e-6)


def test_not_fitted_raises(bold_image):
    with pytest.raises(NotFittedError):
        TemporalMean(t_r=2.0).transform(bold_image(np.ones((2, 2, 2, 4))))


def test_fit_without_mask_or_images_is_an_error():
    with pytest.raises(ExtractorError, match="needs 'mask_img' or images"):
        TemporalMean().fit()


def test_empty_mask_is_an_error(affine_3mm):
    empty = nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.uint8), affine_3mm)
    with pytest.raises(ExtractorError, match="mask_img is empty"):
        TemporalMean(mask_img=empty).fit()


def test_3d_image_where_4d_is_needed_names_the_file(tmp_path, affine_3mm):
    path = tmp_path / "map.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((3, 3, 3), dtype=np.float32), affine_3mm), path)
    with pytest.raises(ImageError, match=r"map\.nii\.gz.*must be a 4-D image"):
        TemporalMean(t_r=2.0).fit(path)


def test_mask_and_image_with_different_shapes_or_affines(rng, bold_image, affine_3mm):
    img = bold_image(_data(rng))
    other_shape = nib.Nifti1Image(np.ones((4, 5, 7), dtype=np.uint8), affine_3mm)
    with pytest.raises(ImageError, match=r"has shape \(4, 5, 6\) but mask_img has shape"):
        TemporalMean(mask_img=other_shape, t_r=2.0).fit().transform(img)
    shifted = affine_3mm.copy()
    shifted[0, 3] += 3.0
    other_affine = nib.Nifti1Image(np.ones((4, 5, 6), dtype=np.uint8), shifted)
    with pytest.raises(ImageError, match="different affines"):
        TemporalMean(mask_img=other_affine, t_r=2.0).fit().transform(img)


def test_nan_voxels_inside_the_mask_are_refused(write_bold, rng, affine_3mm):
    data = _data(rng)
    data[1, 1, 1, 5] = np.nan
    data[2, 2, 2, :] = np.inf
    path = write_bold(data)
    mask = nib.Nifti1Image(np.ones(data.shape[:3], dtype=np.uint8), affine_3mm)
    with pytest.raises(ImageError, match=r"sub-01_task-rest_bold\.nii\.gz.*in 2 voxel\(s\)"):
        TemporalMean(mask_img=mask, t_r=2.0).fit().transform(path)


def test_wrong_output_shape_of_compute_is_an_error(rng, bold_image):
    class Bad(TemporalMean):
        def compute(self, data, context):
            return data.mean()

    img = bold_image(_data(rng))
    with pytest.raises(ExtractorError, match=r"Bad\.compute returned shape \(\)"):
        Bad(t_r=2.0).fit(img).transform(img)


def test_confounds_refused_by_extractors_that_do_not_use_them(rng, bold_image):
    img = bold_image(_data(rng))
    with pytest.raises(ExtractorError, match="does not use nuisance confounds"):
        TemporalMean(t_r=2.0).fit(img).compute_map(img, confounds=np.ones((20, 1)))


# --- repetition time ---------------------------------------------------------------------
def test_resolve_t_r_sources(write_bold, tmp_path, rng, bold_image):
    data = _data(rng, (2, 2, 2, 6))
    assert resolve_t_r(write_bold(data, t_r=2.5)) == 2.5  # header, seconds
    path = write_bold(data, name="b_bold.nii.gz", t_r=2.5, sidecar_t_r=2.5)
    assert resolve_t_r(path) == 2.5  # both agree
    assert resolve_t_r(path, t_r=3.0) == 3.0  # explicit wins
    img = bold_image(data)
    img.header.set_xyzt_units("mm", "msec")
    img.header.set_zooms((3.0, 3.0, 3.0, 3000.0))
    assert resolve_t_r(img) == pytest.approx(3.0)  # milliseconds converted


def test_resolve_t_r_disagreement_names_both_values(write_bold, rng):
    path = write_bold(_data(rng, (2, 2, 2, 6)), t_r=2.0, sidecar_t_r=3.0)
    with pytest.raises(DataError, match=r"header \(2 s\) and in the JSON sidecar \(3 s\)"):
        resolve_t_r(path)


def test_resolve_t_r_missing_or_zero(rng, bold_image):
    img = bold_image(_data(rng, (2, 2, 2, 6)))
    img.header.set_zooms((3.0, 3.0, 3.0, 0.0))
    with pytest.raises(DataError, match=r"repetition time 't_r'.*is missing"):
        resolve_t_r(img)
    with pytest.raises(DataError, match=r"must be > 0 seconds\. Got 0"):
        resolve_t_r(img, t_r=0)
    with pytest.raises(DataError, match="looks like milliseconds"):
        resolve_t_r(img, t_r=2000)


def test_resolve_t_r_unreadable_sidecar(write_bold, tmp_path, rng):
    path = write_bold(_data(rng, (2, 2, 2, 6)), name="c_bold.nii.gz")
    (tmp_path / "c_bold.json").write_text("{not json")
    with pytest.raises(DataError, match=r"Could not read the JSON sidecar .*c_bold\.json"):
        resolve_t_r(path)
    (tmp_path / "c_bold.json").write_text(json.dumps({"RepetitionTime": 0}))
    with pytest.raises(DataError, match=r"RepetitionTime.*c_bold\.json.*> 0"):
        resolve_t_r(path)


# --- scikit-learn contract -------------------------------------------------------------------
# parametrize_with_checks feeds 2-D numeric arrays (n_samples, n_features) to fit/transform;
# extractors take images (paths or nibabel objects) and their output width is the number of
# mask voxels, not of input features, so the data checks do not apply. These checks only need
# the constructor and parameters, and they do apply:
PARAM_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_mixin_order",
]


@pytest.mark.parametrize("check", PARAM_CHECKS)
@pytest.mark.parametrize("est", [TemporalMean(), ALFF(), FractionalALFF(),
                                 SeedFC(Sphere("s", (0, 0, 0), 4.0)),
                                 ROIExtractor(ALFF(), "rtms_alff_clbp"),
                                 MapMean("rtms_alff_clbp")],
                         ids=lambda e: type(e).__name__)
def test_sklearn_parameter_checks(check, est):
    func = getattr(sk_checks, check, None)
    assert func is not None, f"scikit-learn no longer has {check}"
    func(type(est).__name__, clone(est))


@pytest.mark.parametrize("est", [TemporalMean, MapSquare, ALFF, FractionalALFF,
                                 SeedFC(Sphere("s", (0, 0, 0), 4.0))],
                         ids=lambda e: getattr(e, "__name__", type(e).__name__))
def test_builtin_extractors_pass_check_extractor(est):
    checked = check_extractor(est)
    assert isinstance(checked, BaseExtractor)


def test_check_extractor_rejects_broken_classes():
    class NotStoring(TemporalMean):
        def __init__(self, mask_img=None, t_r=None, k=1):
            self.mask_img = mask_img
            self.t_r = t_r
            self.k_stored = k

    class WrongShape(TemporalMean):
        def compute(self, data, context):
            return data[:, :-1].mean(axis=0)

    class Random(TemporalMean):
        def compute(self, data, context):
            return np.random.default_rng().standard_normal(data.shape[1])

    class NoFeature(TemporalMean):
        feature = ""

    class SetsFitted(TemporalMean):
        def __init__(self, mask_img=None, t_r=None):
            self.mask_img = mask_img
            self.t_r = t_r
            self.cache_ = {}

    with pytest.raises(ExtractorError, match="must subclass"):
        check_extractor(dict)
    with pytest.raises(ExtractorError, match="'feature' must be"):
        check_extractor(NoFeature)
    with pytest.raises(ExtractorError, match=r"clone|get_params|k_stored|parameters"):
        check_extractor(NotStoring)
    with pytest.raises(ExtractorError, match="sets fitted-looking attributes"):
        check_extractor(SetsFitted)
    with pytest.raises(ExtractorError, match=r"compute returned shape|transform must return"):
        check_extractor(WrongShape)
    with pytest.raises(ExtractorError, match="not deterministic"):
        check_extractor(Random)


def test_synthetic_images_shapes():
    imgs, mask = synthetic_images("map")
    assert len(imgs) == 2 and imgs[0].shape == mask.shape == (6, 5, 4)
