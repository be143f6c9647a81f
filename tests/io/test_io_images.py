"""load_img (isal fast path) equals nibabel.load; header_t_r reads pixdim[4] with its unit."""

import nibabel as nib
import numpy as np
import pytest

from painmarkers.exceptions import ImageError
from painmarkers.io import header_t_r, load_img
from painmarkers.io import images as images_module


def _img(shape=(4, 5, 6, 7), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    affine = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    return nib.Nifti1Image(rng.normal(size=shape).astype(dtype), affine)


@pytest.mark.parametrize("fname", ["x.nii.gz", "x.nii"])
def test_load_img_equals_nibabel(tmp_path, fname):
    img = _img()
    img.header.set_zooms((2.0, 2.0, 2.0, 2.5))
    path = tmp_path / fname
    nib.save(img, path)
    out = load_img(path)
    ref = nib.load(path)
    np.testing.assert_array_equal(out.get_fdata(), ref.get_fdata())
    np.testing.assert_allclose(out.affine, ref.affine, rtol=0, atol=0)
    assert out.header.get_zooms() == ref.header.get_zooms()
    assert out.get_data_dtype() == np.float32


def test_load_img_uses_isal_for_gzip(tmp_path):
    assert images_module._igzip is not None  # isal is a test dependency
    path = tmp_path / "x.nii.gz"
    nib.save(_img(dtype=np.int16), path)
    out = load_img(path)
    # the isal path returns an image whose data are in memory, not a file-backed proxy
    assert out.get_filename() is None
    np.testing.assert_array_equal(np.asanyarray(out.dataobj), nib.load(path).get_fdata())


def test_load_img_nifti2(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = tmp_path / "n2.nii.gz"
    nib.save(nib.Nifti2Image(data, np.eye(4)), path)
    out = load_img(path)
    assert isinstance(out, nib.Nifti2Image)
    np.testing.assert_array_equal(out.get_fdata(), data)


def test_load_img_errors(tmp_path):
    with pytest.raises(ImageError, match=r"missing\.nii\.gz' given as 'bold' does not exist"):
        load_img(tmp_path / "missing.nii.gz", name="bold")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a gzip stream at all")
    with pytest.raises(ImageError, match=r"Could not read the image .*bad\.nii\.gz'"):
        load_img(bad)


@pytest.mark.parametrize(("zoom", "unit", "expected"),
                         [(3.0, "sec", 3.0), (2000.0, "msec", 2.0), (1.5e6, "usec", 1.5),
                          (0.8, "unknown", 0.8)])
def test_header_t_r_units(tmp_path, zoom, unit, expected):
    img = _img()
    img.header.set_zooms((2.0, 2.0, 2.0, zoom))
    img.header.set_xyzt_units("mm", unit)
    path = tmp_path / "b.nii.gz"
    nib.save(img, path)
    # pixdim is stored as float32: relative error up to ~6e-8
    np.testing.assert_allclose(header_t_r(path), expected, rtol=1e-6)


def test_header_t_r_none_for_3d_or_zero(tmp_path):
    nib.save(_img(shape=(3, 3, 3)), tmp_path / "a.nii.gz")
    assert header_t_r(tmp_path / "a.nii.gz") is None
    img = _img()
    img.header.set_zooms((2.0, 2.0, 2.0, 0.0))
    nib.save(img, tmp_path / "z.nii.gz")
    assert header_t_r(tmp_path / "z.nii.gz") is None


def test_header_t_r_errors(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.nii' does not exist"):
        header_t_r(tmp_path / "nope.nii")
    (tmp_path / "junk.nii").write_bytes(b"\x00" * 10)
    with pytest.raises(ImageError, match=r"header of .*junk\.nii'"):
        header_t_r(tmp_path / "junk.nii")
