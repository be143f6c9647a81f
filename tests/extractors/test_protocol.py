"""The public per-image protocol: ImageContext, transform_image, no state on self (threads),
ROI-value extractors, the deprecated 0.1 hooks, and what check_extractor now checks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import signal as sp_signal

from painmarkers.exceptions import ExtractorError
from painmarkers.extractors import (
    ALFF,
    BaseExtractor,
    FractionalALFF,
    ImageContext,
    MapMean,
    ROIExtractor,
    SeedFC,
)
from painmarkers.rois import MaskROI, Sphere
from painmarkers.testing import check_extractor

SHAPE, T, TR = (6, 6, 5), 90, 2.0


def _runs(tmp_path, bold_image, rng, n=6):
    """n different runs written to disk, each with its own confounds table."""
    paths, confounds = [], []
    for i in range(n):
        shared = rng.standard_normal(T)
        loadings = rng.uniform(-1, 1, SHAPE)
        data = 100 + loadings[..., None] * shared + rng.standard_normal((*SHAPE, T)) * (1 + i)
        path = tmp_path / f"run{i}_bold.nii.gz"
        nib.save(bold_image(data), path)
        tsv = tmp_path / f"run{i}_confounds.tsv"
        pd.DataFrame(rng.standard_normal((T, 3)), columns=["a", "b", "c"]).to_csv(
            tsv, sep="\t", index=False)
        paths.append(path)
        confounds.append(tsv)
    return paths, confounds


def _seed(affine):
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[1:3, 1:3, 1:3] = 1
    return MaskROI("seed", nib.Nifti1Image(mask, affine))


def _state(est):
    """Identity of every attribute of an estimator (and of a wrapped extractor)."""
    state = {k: id(v) for k, v in vars(est).items()}
    inner = getattr(est, "extractor_", None)
    if inner is not None:
        state.update({f"extractor_.{k}": id(v) for k, v in vars(inner).items()})
    return state


# --- ImageContext ---------------------------------------------------------------------------
def test_image_context_is_frozen_and_derives_copies():
    ctx = ImageContext("x_bold.nii.gz", name="bold", subject="01", session="pre", t_r=2.0)
    assert ctx.label == "bold (x_bold.nii.gz)"
    with pytest.raises(AttributeError):
        ctx.t_r = 3.0
    new = ctx.with_derived(seed=np.arange(3))
    assert "seed" not in ctx.derived and list(new.derived["seed"]) == [0, 1, 2]
    with pytest.raises(TypeError):
        new.derived["other"] = 1  # read-only mapping
    assert ctx.replace(t_r=3.0).t_r == 3.0 and ctx.t_r == 2.0
    with pytest.raises(TypeError, match="'name' of an ImageContext"):
        ImageContext("x.nii.gz", name="")
    import pickle

    back = pickle.loads(pickle.dumps(new.replace(cache={"k": 1})))
    assert back.label == ctx.label and back.t_r == 2.0 and back.cache is None
    np.testing.assert_array_equal(back.derived["seed"], [0, 1, 2])


# --- transform never writes self; concurrent transforms are correct -----------------------
@pytest.fixture
def fitted(tmp_path, bold_image, rng, affine_3mm):
    paths, confounds = _runs(tmp_path, bold_image, rng)
    mask = nib.Nifti1Image(np.ones(SHAPE, dtype=np.uint8), affine_3mm)
    rois = [Sphere("a", (0, 0, 0), 3.0), Sphere("b", (-6, -6, -3), 3.0)]
    seed = _seed(affine_3mm)
    estimators = {
        "alff": (ALFF(mask_img=mask, t_r=TR).fit(), None),
        "falff_z": (FractionalALFF(mask_img=mask, t_r=TR, standardize="z").fit(), None),
        "seed_fc": (SeedFC(seed, mask_img=mask, t_r=TR).fit(), confounds),
        "roi_fc_meants": (ROIExtractor(SeedFC(seed, mask_img=mask, t_r=TR), rois,
                                       summary="mean_timeseries").fit(), confounds),
        "roi_alff": (ROIExtractor(ALFF(mask_img=mask, t_r=TR), rois).fit(), None),
    }
    return estimators, paths


@pytest.mark.parametrize("name", ["alff", "falff_z", "seed_fc", "roi_fc_meants", "roi_alff"])
def test_transform_writes_nothing_on_self(fitted, name):
    estimators, paths = fitted
    est, confounds = estimators[name]
    before = _state(est)
    est.transform(paths[:2], confounds=None if confounds is None else confounds[:2])
    assert _state(est) == before


def test_map_mean_transform_writes_nothing_on_self(rng, affine_3mm):
    maps = [nib.Nifti1Image(rng.standard_normal(SHAPE).astype(np.float32), affine_3mm)
            for _ in range(2)]
    mm = MapMean([Sphere("a", (0, 0, 0), 3.0)]).fit()
    before = _state(mm)
    mm.transform(maps)
    assert _state(mm) == before


@pytest.mark.parametrize("name", ["seed_fc", "roi_fc_meants", "alff", "falff_z"])
def test_concurrent_transform_on_different_images_equals_serial(fitted, name):
    # Before painmarkers 0.2 SeedFC kept the seed series and confounds of "the current
    # image" on self between two hooks: two threads mixed them up. Until 0.2.0 a
    # multi-threaded OpenBLAS (0.3.23) made 3 of 180 values differ by 5.6e-17 in one run
    # in three: threadpoolctl's limit is process-wide, so the first thread to leave it
    # restored several BLAS threads under the others (painmarkers._threads counts them).
    estimators, paths = fitted
    est, confounds = estimators[name]
    conf = confounds or [None] * len(paths)
    serial = [est.transform(p, confounds=c)[0] for p, c in zip(paths, conf)]
    jobs = list(zip(paths, conf)) * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(
            lambda job: est.transform_image(ImageContext(job[0], confounds=job[1])), jobs))
    for i, got in enumerate(results):
        np.testing.assert_array_equal(got, serial[i % len(paths)])


# --- ROI-value extractors through the same base class -------------------------------------
class ROITemporalSD(BaseExtractor):
    """SD over time of each ROI's mean series (a plug-in producing ROI values)."""

    feature = "roi_tsd"
    input_kind = "bold"
    output = "rois"

    def __init__(self, mask_img=None, t_r=None, rois=None):
        self.mask_img = mask_img
        self.t_r = t_r
        self.rois = rois

    def compute(self, data, context):
        return np.array([data[:, c].mean(axis=1, dtype=np.float64).std(ddof=1)
                         for c in self.roi_columns_])


def test_roi_value_extractor_equals_an_independent_computation(tmp_path, bold_image, rng,
                                                               affine_3mm):
    paths, _ = _runs(tmp_path, bold_image, rng, n=2)
    cube = np.zeros(SHAPE, dtype=np.uint8)
    cube[2:4, 1:4, 0:2] = 1
    rois = [MaskROI("cube", nib.Nifti1Image(cube, affine_3mm)), Sphere("s", (0, 0, 0), 3.0)]
    est = ROITemporalSD(t_r=TR, rois=rois).fit(paths)
    out = est.transform(paths)
    assert out.shape == (2, 2)
    assert list(est.get_feature_names_out()) == ["roi_tsd__cube", "roi_tsd__s"]
    ijk = np.indices(SHAPE).reshape(3, -1)
    xyz = affine_3mm[:3, :3] @ ijk + affine_3mm[:3, 3:4]
    sphere = (np.sqrt((xyz ** 2).sum(axis=0)) <= 3.0).reshape(SHAPE)
    for path, row in zip(paths, out):
        data = nib.load(path).get_fdata()
        expected = [data[cube > 0].mean(axis=0).std(ddof=1), data[sphere].mean(axis=0).std(ddof=1)]
        np.testing.assert_allclose(row, expected, rtol=1e-6)
    with pytest.raises(ExtractorError, match="gives ROI values, not maps"):
        est.compute_map(paths[0])
    with pytest.raises(ExtractorError, match="set its 'rois' parameter"):
        ROITemporalSD(t_r=TR).fit(paths)
    assert type(check_extractor(ROITemporalSD)).__name__ == "ROITemporalSD"


class GlobalSignalFC(BaseExtractor):
    """Correlation with the global mean series: per-image state through prepare()."""

    feature = "gfc"
    input_kind = "bold"

    def prepare(self, data, context):
        return context.with_derived(global_series=data.mean(axis=1, dtype=np.float64))

    def compute(self, data, context):
        g = context.derived["global_series"] - context.derived["global_series"].mean()
        x = data - data.mean(axis=0)
        return (g @ x) / np.sqrt((g @ g) * (x * x).sum(axis=0))


def test_plugin_prepare_state_reaches_compute_also_on_roi_mean_series(tmp_path, bold_image,
                                                                       rng, affine_3mm):
    paths, _ = _runs(tmp_path, bold_image, rng, n=1)
    assert type(check_extractor(GlobalSignalFC)).__name__ == "GlobalSignalFC"
    rois = [Sphere("a", (0, 0, 0), 3.0)]
    data = nib.load(paths[0]).get_fdata().astype(np.float32).astype(float)
    ext = ROIExtractor(GlobalSignalFC(t_r=TR), rois, summary="mean_timeseries").fit(paths[0])
    got = ext.transform(paths[0])[0]
    mask = ext.extractor_.mask_img_.get_fdata() > 0
    global_series = data[mask].mean(axis=0)
    roi_series = data[rois[0].to_mask(ext.extractor_.mask_img_)].mean(axis=0)
    np.testing.assert_allclose(got, [np.corrcoef(global_series, roi_series)[0, 1]], rtol=1e-6)


# --- the 0.1 hooks keep working for one release -------------------------------------------
def test_legacy_compute_hook_warns_once_at_class_definition_and_works(rng, bold_image):
    with pytest.warns(FutureWarning, match=r"OldMean implements _compute\(\), a private hook "
                                           r"deprecated in painmarkers 0\.2.*compute\(self, "
                                           r"data, context\)"):
        class OldMean(BaseExtractor):
            feature = "old_mean"
            input_kind = "bold"

            def _compute(self, data, t_r):
                data -= 1.0  # 0.1 hooks received a private, writable copy
                return data.mean(axis=0) + t_r

    img = bold_image(rng.standard_normal((3, 3, 3, 10)) + 5)
    out = OldMean(t_r=2.0).fit(img).transform(img)[0]
    expected = img.get_fdata()[np.ones((3, 3, 3), bool)].mean(axis=1) - 1 + 2.0
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert type(check_extractor(OldMean)).__name__ == "OldMean"


def test_legacy_prepare_image_hook_still_works(rng, bold_image):
    with pytest.warns(FutureWarning, match=r"implements _prepare_image\(\).*prepare\(self, data"
                                           r", context\)"):
        class OldCentred(BaseExtractor):
            feature = "old_centred"
            input_kind = "bold"

            def _prepare_image(self, img, t_r, label, confounds=None):
                self._offset = float(np.asanyarray(img.dataobj).mean())  # state on self

            def compute(self, data, context):
                return data.mean(axis=0) - self._offset

    img = bold_image(rng.standard_normal((3, 3, 3, 10)) + 5)
    out = OldCentred(t_r=2.0).fit(img).transform(img)[0]
    data = img.get_fdata()
    # float32 means of values near 5: absolute error ~1e-6
    np.testing.assert_allclose(out, data.reshape(-1, 10).mean(axis=1) - data.mean(), rtol=0,
                               atol=1e-5)
    check_extractor(OldCentred)  # the no-state checks are skipped for this deprecated hook


# --- check_extractor: the new checks fail loudly ------------------------------------------
def test_check_extractor_refuses_state_on_self_and_in_place_writes():
    class Stateful(BaseExtractor):
        feature = "stateful"
        input_kind = "bold"

        def compute(self, data, context):
            self.last_image = context.label
            return data.mean(axis=0)

    class InPlace(BaseExtractor):
        feature = "in_place"
        input_kind = "bold"

        def compute(self, data, context):
            data -= data.mean(axis=0)
            return data.std(axis=0)

    class NoCompute(BaseExtractor):
        feature = "nothing"
        input_kind = "bold"

    class BadOutput(BaseExtractor):
        feature = "bad_output"
        output = "table"

        def compute(self, data, context):
            return data.mean(axis=0)

    with pytest.raises(ExtractorError,
                       match=r"stored per-image state on self \(\['last_image'\]\)"):
        check_extractor(Stateful)
    with pytest.raises(ExtractorError, match="must not modify its data in place"):
        check_extractor(InPlace)
    with pytest.raises(ExtractorError, match=r"must implement compute\(self, data, context\)"):
        check_extractor(NoCompute)
    with pytest.raises(ExtractorError, match="'output' must be one of"):
        check_extractor(BadOutput)


def test_check_extractor_catches_a_thread_race():
    import time

    class Racy(BaseExtractor):
        """Keeps 'the current image' in a shared dict: transform leaves self untouched,
        but two threads see each other's values."""

        feature = "racy"
        input_kind = "bold"
        _shared: ClassVar[dict] = {}

        def compute(self, data, context):
            Racy._shared["scale"] = float(data.std())
            time.sleep(0.01)
            return data.mean(axis=0) / Racy._shared["scale"]

    with pytest.raises(ExtractorError, match="concurrently in two threads"):
        check_extractor(Racy)


def test_seed_fc_compute_without_prepare_is_an_error(rng, bold_image, affine_3mm):
    img = bold_image(100 + rng.standard_normal((*SHAPE, 20)))
    fc = SeedFC(_seed(affine_3mm), t_r=TR).fit(img)
    with pytest.raises(ExtractorError, match=r"needs the context returned by SeedFC\.prepare"):
        fc.compute(np.ones((20, 3)), ImageContext(img, t_r=TR))
    # the four public steps, done by hand, give transform_image's result
    ctx = fc.check_context(ImageContext(img))
    data = fc.load_data(ctx)
    assert not data.flags.writeable and data.dtype == np.float32
    by_hand = fc.compute(data, fc.prepare(data, ctx))
    np.testing.assert_array_equal(by_hand, fc.transform_image(img))
    x = sp_signal.detrend(np.asarray(img.dataobj, dtype=np.float32).astype(float).reshape(
        -1, 20), axis=1)
    assert by_hand.shape == (x.shape[0],)
