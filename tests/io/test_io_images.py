"""The one NIfTI/gzip reader: load_img (isal fast path) and the streaming read_masked /
read_data / iter_volume_blocks equal nibabel, with ISA-L and with zlib; damaged gzip files
give ImageError naming the file; header_t_r reads pixdim[4] with its unit."""

import nibabel as nib
import numpy as np
import pytest

from painmarkers import _gzip
from painmarkers.exceptions import ImageError
from painmarkers.io import header_t_r, iter_volume_blocks, load_img, read_data, read_masked
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
    assert _gzip.isal_available()  # isal is a test dependency
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


# --- the streaming reader ------------------------------------------------------------------

def _mask(shape, seed=1):
    return np.random.default_rng(seed).random(shape[:3]) > 0.4


@pytest.mark.parametrize("fname", ["x.nii.gz", "x.nii"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, ">f4"])
def test_read_masked_equals_nibabel_masking(tmp_path, monkeypatch, gzip_opener, fname, dtype):
    img = _img(shape=(5, 6, 7, 9), dtype=np.float32)
    data = np.asarray(img.dataobj)
    if np.dtype(dtype).kind == "i":
        data = np.round(data * 1000)
    out_img = nib.Nifti1Image(data.astype(dtype), img.affine)
    if np.dtype(dtype).kind == "i":
        out_img.header.set_slope_inter(0.001, 2.5)
    path = tmp_path / fname
    nib.save(out_img, path)
    mask = _mask(img.shape)
    reference = nib.load(path).get_fdata()[mask].T  # nibabel: float64 scaling
    got = read_masked(nib.load(path), mask, name="bold")
    assert got.shape == (9, int(mask.sum()))
    assert got.dtype == (np.float64 if np.dtype(dtype) == np.float64 else np.float32)
    # float32 rounding (2**-24 = 6e-8 relative) of the stored values, and for scaled int16
    # of value * slope + intercept (absolute error ~ 6e-8 x (|intercept| + |value|) <= 4e-7)
    atol = 4e-7 if np.dtype(dtype).kind == "i" else 0
    np.testing.assert_allclose(got, reference, rtol=2e-7, atol=atol)
    # small blocks give the same array (one volume per block)
    monkeypatch.setattr(images_module, "_READ_BLOCK_BYTES", 1)
    np.testing.assert_array_equal(read_masked(path, mask), got)


def test_read_masked_of_3d_and_in_memory_images(tmp_path):
    img3 = _img(shape=(4, 5, 6))
    path = tmp_path / "map.nii.gz"
    nib.save(img3, path)
    mask = _mask(img3.shape)
    np.testing.assert_array_equal(read_masked(path, mask)[0],
                                  np.asarray(img3.dataobj)[mask])
    in_memory = _img(shape=(4, 5, 6, 3), dtype=np.float64)
    np.testing.assert_array_equal(read_masked(in_memory, mask),
                                  np.asarray(in_memory.dataobj)[mask].T)
    with pytest.raises(ImageError, match=r"grid \(4, 5, 6\) but the mask has \(2, 2, 2\)"):
        read_masked(in_memory, np.ones((2, 2, 2), bool))


def test_read_data_and_volume_blocks_equal_nibabel(tmp_path, gzip_opener):
    img = _img(shape=(4, 5, 6, 7))
    path = tmp_path / "b.nii.gz"
    nib.save(img, path)
    np.testing.assert_array_equal(read_data(path), nib.load(path).get_fdata())
    blocks = list(iter_volume_blocks(path, block_bytes=4 * 5 * 6 * 4 * 3))  # 3 volumes each
    assert [b.shape[0] for b in blocks] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(blocks), np.moveaxis(
        nib.load(path).get_fdata(), -1, 0))


@pytest.mark.parametrize("damage", ["truncate", "bad_crc"])
def test_damaged_gzip_is_an_image_error_naming_the_file(tmp_path, gzip_opener, gzip_damage,
                                                        damage):
    img = _img(shape=(8, 8, 8, 30))
    path = tmp_path / "sub-01_bold.nii.gz"
    nib.save(img, path)
    getattr(gzip_damage, damage)(path)
    mask = np.ones(img.shape[:3], bool)
    header_only = nib.load(path)  # the header is intact: the damage shows when reading data
    expected = r"sub-01_bold\.nii\.gz'.*truncated or corrupt"
    with pytest.raises(ImageError, match=expected):
        read_masked(header_only, mask)
    with pytest.raises(ImageError, match=expected):
        read_data(path)
    with pytest.raises(ImageError, match=expected):
        list(iter_volume_blocks(path))
    if damage == "truncate" and gzip_opener == "isal":  # load_img inflates with isal (else lazy)
        with pytest.raises(ImageError, match=r"sub-01_bold\.nii\.gz'"):
            load_img(path)


@pytest.mark.parametrize("read", [
    read_data, load_img, header_t_r, lambda path: list(iter_volume_blocks(path)),
    lambda path: read_masked(path, np.ones((4, 5, 6), bool))],
    ids=["read_data", "load_img", "header_t_r", "iter_volume_blocks", "read_masked"])
def test_file_truncated_inside_its_header_is_named_by_every_reader(tmp_path, gzip_opener, read):
    path = tmp_path / "sub-01_bold.nii.gz"
    nib.save(_img(), path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ImageError, match=r"sub-01_bold\.nii\.gz'.*the file is truncated or "
                                         r"damaged"):
        read(path)
