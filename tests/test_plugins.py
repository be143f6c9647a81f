"""A third-party extractor package, installed with an entry point, found lazily by the
registry, checked, and run through the cohort driver: a voxelwise plug-in, an ROI-value
plug-in (``output = "rois"``) and a plug-in still written against the 0.1 hooks."""

from __future__ import annotations

import base64
import hashlib
import importlib
import subprocess
import sys
import textwrap
import zipfile

import nibabel as nib
import numpy as np
import pytest

from painmarkers import Cohort, Session, Subject
from painmarkers.exceptions import PainmarkersWarning, RegistryError
from painmarkers.extractors import extract, get_extractor, list_extractors
from painmarkers.rois import Sphere

DIST = "painmarkers-demo-plugin"
PKG = "painmarkers_demo_plugin"

ENTRY_POINTS = f"""[painmarkers.extractors]
demo_tsd = {PKG}:TemporalSD
demo_roi_sd = {PKG}:ROISeriesSD
demo_broken = {PKG}:Broken
demo_missing = {PKG}:DoesNotExist
demo_legacy = {PKG}.legacy:LegacySD
"""

MODULE = '''
"""A tiny painmarkers plug-in: temporal standard deviations of voxels and of ROI means."""
import numpy as np

from painmarkers.extractors import BaseExtractor


class TemporalSD(BaseExtractor):
    feature = "tsd"
    input_kind = "bold"

    def compute(self, data, context):
        return data.std(axis=0, ddof=1)


class ROISeriesSD(BaseExtractor):
    """SD of each ROI's mean series: one value per ROI, not a map."""

    feature = "roi_sd"
    input_kind = "bold"
    output = "rois"

    def __init__(self, mask_img=None, t_r=None, rois=None):
        self.mask_img = mask_img
        self.t_r = t_r
        self.rois = rois

    def compute(self, data, context):
        return np.array([data[:, cols].mean(axis=1, dtype=np.float64).std(ddof=1)
                         for cols in self.roi_columns_])


class Broken(BaseExtractor):
    feature = "broken"
    input_kind = "bold"

    def compute(self, data, context):
        return data.std(axis=0)[:-1]
'''

LEGACY = '''
"""A plug-in written for painmarkers 0.1: the private _compute(data, t_r) hook."""
from painmarkers.extractors import BaseExtractor


class LegacySD(BaseExtractor):
    feature = "legacy_sd"
    input_kind = "bold"

    def _compute(self, data, t_r):
        data -= data.mean(axis=0)  # 0.1 hooks got a private copy they could modify
        return data.std(axis=0, ddof=1)
'''


def _pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check",
                           "-q"], capture_output=True, text=True, check=False)


def _build_wheel(folder):
    """Write a PEP 427 wheel of the plug-in by hand.

    The venv's setuptools (65) cannot build wheels without the ``wheel`` package, which is
    not installed and cannot be fetched offline; a wheel is a zip with a ``.dist-info``, so
    the test writes it directly and lets pip install it like any third-party wheel.
    """
    dist_info = f"{PKG}-0.1.0.dist-info"
    files = {
        f"{PKG}/__init__.py": textwrap.dedent(MODULE),
        f"{PKG}/legacy.py": textwrap.dedent(LEGACY),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1.0\n",
        f"{dist_info}/WHEEL": ("Wheel-Version: 1.0\nGenerator: painmarkers-tests\n"
                               "Root-Is-Purelib: true\nTag: py3-none-any\n"),
        f"{dist_info}/entry_points.txt": ENTRY_POINTS,
        f"{dist_info}/top_level.txt": f"{PKG}\n",
    }
    record = []
    for name, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    path = folder / f"{PKG}-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    wheel = _build_wheel(tmp_path_factory.mktemp("plugin_wheel"))
    done = _pip("install", "--no-deps", "--no-index", str(wheel))
    assert done.returncode == 0, done.stderr
    importlib.invalidate_caches()
    try:
        yield
    finally:
        undone = _pip("uninstall", "-y", DIST)
        assert undone.returncode == 0, undone.stderr
        sys.modules.pop(PKG, None)


def test_entry_points_are_listed_lazily_and_loaded_on_demand(installed_plugin):
    assert PKG not in sys.modules
    names = list_extractors()
    assert {"demo_tsd", "demo_roi_sd", "demo_broken", "demo_missing", "demo_legacy", "alff",
            "seed_fc"} <= set(names)
    assert PKG not in sys.modules  # listing does not import the plug-in
    cls = get_extractor("demo_tsd")
    assert cls.__name__ == "TemporalSD" and cls.__module__ == PKG


def test_plugins_that_fail_checks_or_imports_are_refused_with_the_reason(installed_plugin):
    with pytest.raises(RegistryError, match=r"'demo_broken' was refused.*(transform|compute)"):
        get_extractor("demo_broken")
    with pytest.raises(RegistryError, match="'demo_missing' could not be imported"):
        get_extractor("demo_missing")


def _cohort(tmp_path, seed=7):
    rng = np.random.default_rng(seed)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = -6.0
    sessions = []
    data = {}
    for label in ("pre", "post"):
        path = tmp_path / "in" / f"sub-01_ses-{label}_bold.nii.gz"
        path.parent.mkdir(exist_ok=True)
        arr = (10 + rng.standard_normal((5, 5, 5, 30)) * (1 + np.arange(5))[:, None, None, None])
        img = nib.Nifti1Image(arr.astype(np.float32), affine)
        img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
        nib.save(img, path)
        data[label] = arr.astype(np.float32).astype(float)
        sessions.append(Session(label, images={"bold": path}))
    return Cohort([Subject("01", "CLBP", sessions=tuple(sessions))]), data


# centre voxel (2, 2, 2) of the 5 x 5 x 5 grid and its 6 neighbours: a 3 mm sphere at 0, 0, 0
CENTRE = [(2, 2, 2), (1, 2, 2), (3, 2, 2), (2, 1, 2), (2, 3, 2), (2, 2, 1), (2, 2, 3)]
NO_MASK = r"2 of 2 session\(s\) have no brain mask"


def test_plugin_runs_through_the_cohort_driver(installed_plugin, tmp_path):
    cohort, data = _cohort(tmp_path)
    roi = Sphere("centre", (0, 0, 0), 3.0)
    with pytest.warns(PainmarkersWarning, match=NO_MASK):  # masks computed from the data
        out = extract(cohort, "demo_tsd", rois=[roi], n_jobs=2, out_dir=tmp_path / "out",
                      progress=False, motion=False)
    for label in ("pre", "post"):
        ses = out["01"].session(label)
        sd_map = nib.load(ses.images["tsd"]).get_fdata()
        np.testing.assert_allclose(sd_map, data[label].std(axis=-1, ddof=1), rtol=1e-5)
        expected = np.mean([data[label][v].std(ddof=1) for v in CENTRE])
        np.testing.assert_allclose(ses.measure("tsd", "centre"), expected, rtol=1e-5)
        assert ses.images["tsd"].name == (
            f"sub-01_ses-{label}_space-MNI152NLin2009cAsym_desc-tsd_boldmap.nii.gz")


def test_roi_value_plugin_is_registered_and_runs_through_extract(installed_plugin, tmp_path):
    cls = get_extractor("demo_roi_sd")  # loaded from its entry point, checked, registered
    assert cls.output == "rois" and cls.__module__ == PKG
    cohort, data = _cohort(tmp_path, seed=11)
    rois = [Sphere("centre", (0, 0, 0), 3.0), Sphere("corner", (-6, -6, -6), 1.0)]
    with pytest.warns(PainmarkersWarning, match=NO_MASK):
        out = extract(cohort, ["demo_roi_sd"], rois=rois, n_jobs=2, out_dir=tmp_path / "out",
                      progress=False, motion=False)
    for label in ("pre", "post"):
        ses = out["01"].session(label)
        assert ses.images.keys() == {"bold"}  # ROI values only, no map
        centre = np.mean([data[label][v] for v in CENTRE], axis=0).std(ddof=1)
        corner = data[label][0, 0, 0].std(ddof=1)  # the one voxel at (-6, -6, -6)
        np.testing.assert_allclose([ses.measure("roi_sd", "centre"),
                                    ses.measure("roi_sd", "corner")], [centre, corner],
                                   rtol=1e-6)
        assert {m.extractor for m in ses.measures} == {"ROISeriesSD()"}
    # and as an estimator of its own
    est = cls(rois=rois, t_r=2.0).fit(cohort["01"].session("pre").images["bold"])
    assert list(est.get_feature_names_out()) == ["roi_sd__centre", "roi_sd__corner"]


def test_plugin_written_for_the_old_hooks_still_works_with_a_future_warning(installed_plugin,
                                                                          tmp_path):
    with pytest.warns(FutureWarning, match=r"LegacySD implements _compute\(\), a private hook "
                                           r"deprecated.*compute\(self, data, context\)"):
        cls = get_extractor("demo_legacy")
    cohort, data = _cohort(tmp_path)
    with pytest.warns(PainmarkersWarning, match=NO_MASK):
        out = extract(cohort, "demo_legacy", out_dir=tmp_path / "out", progress=False,
                      motion=False)
    sd_map = nib.load(out["01"].session("pre").images["legacy_sd"]).get_fdata()
    np.testing.assert_allclose(sd_map, data["pre"].std(axis=-1, ddof=1), rtol=1e-5)
    assert cls.feature == "legacy_sd"
