"""check_img: a file that cannot be read is named, and when its bytes show that it is empty,
truncated or damaged the message says so (not only nibabel's "Cannot work out file type")."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from painmarkers._validation import check_img
from painmarkers.exceptions import ImageError


@pytest.fixture
def nifti_bytes(tmp_path):
    """The bytes of a small NIfTI-1 image: (uncompressed, gzip-compressed)."""
    img = nib.Nifti1Image(np.random.default_rng(0).random((6, 6, 6), dtype=np.float32),
                          np.eye(4))
    path = tmp_path / "whole.nii.gz"
    nib.save(img, path)
    packed = path.read_bytes()
    return gzip.decompress(packed), packed


@pytest.mark.parametrize("n_bytes", [10, 30, 60])
def test_gzip_truncated_inside_its_header(tmp_path, gzip_opener, nifti_bytes, n_bytes):
    path = tmp_path / "sub-01_T1w.nii.gz"
    path.write_bytes(nifti_bytes[1][:n_bytes])
    with pytest.raises(ImageError, match=r"Could not read the image '.*sub-01_T1w\.nii\.gz' "
                                         r"given as 't1': the file is truncated or damaged "
                                         r"\(its gzip stream: .*\); re-create or re-download it"):
        check_img(path, name="t1")


def test_complete_gzip_member_holding_part_of_a_header(tmp_path, nifti_bytes):
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(gzip.compress(nifti_bytes[0][:200]))
    with pytest.raises(ImageError, match=r"cut\.nii\.gz' given as 'img': the file is truncated "
                                         r"inside its NIfTI header \(200 of 348 header bytes\)"):
        check_img(path)


def test_plain_nifti_truncated_inside_its_header(tmp_path, nifti_bytes):
    path = tmp_path / "cut.nii"
    path.write_bytes(nifti_bytes[0][:100])
    with pytest.raises(ImageError, match=r"cut\.nii' given as 'img': the file is truncated "
                                         r"inside its NIfTI header \(100 of 348"):
        check_img(path)


def test_non_gzip_garbage_named_nii_gz(tmp_path):
    path = tmp_path / "mask.nii.gz"
    path.write_bytes(b"this is not a gzip stream " * 20)
    with pytest.raises(ImageError, match=r"mask\.nii\.gz' given as 'mask_img': the file is "
                                         r"named \.gz but is not a gzip stream: it is damaged"):
        check_img(path, name="mask_img")


def test_garbage_named_nii_and_empty_file(tmp_path):
    path = tmp_path / "map.nii"
    path.write_bytes(b"\x07" * 400)
    with pytest.raises(ImageError, match=r"map\.nii' given as 'img': its first bytes are not a "
                                         r"NIfTI header: the file is damaged"):
        check_img(path)
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.nii\.gz' given as 'img': the file is empty"):
        check_img(empty)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match=r"gone\.nii\.gz' given as 'img' does not exist"):
        check_img(tmp_path / "gone.nii.gz")
    folder = tmp_path / "dir.nii"
    folder.mkdir()
    with pytest.raises(ImageError, match=r"dir\.nii' given as 'img' is not a file"):
        check_img(folder)


def test_intact_files_load(tmp_path, nifti_bytes):
    for name, raw in (("ok.nii", nifti_bytes[0]), ("ok.nii.gz", nifti_bytes[1])):
        (tmp_path / name).write_bytes(raw)
        assert check_img(tmp_path / name, ndim=3).shape == (6, 6, 6)
