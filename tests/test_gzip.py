"""The one gzip opener (painmarkers._gzip), used by io.images and rois: byte ranges read in
blocks equal the file's bytes, with ISA-L and with zlib; a damaged member (truncated, failed
CRC) is an ImageError naming the file even when the range stops before the end."""

import gzip

import pytest

from painmarkers import _gzip
from painmarkers.exceptions import ImageError

PAYLOAD = bytes(range(256)) * 400  # 102 400 bytes


@pytest.fixture(params=["data.bin.gz", "data.bin"])
def data_file(request, tmp_path):
    path = tmp_path / request.param
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(PAYLOAD)
    else:
        path.write_bytes(PAYLOAD)
    return path


def test_read_blocks_equal_the_bytes_of_the_range(gzip_opener, data_file):
    blocks = [bytes(b) for b in _gzip.read_blocks(data_file, offset=1000, total_bytes=50_000,
                                                 block_bytes=12_000)]
    assert [len(b) for b in blocks] == [12_000] * 4 + [2_000]
    assert b"".join(blocks) == PAYLOAD[1000:51_000]


def test_open_binary_inflates_gzip_only(gzip_opener, data_file):
    with _gzip.open_binary(data_file) as stream:
        assert stream.read() == PAYLOAD


@pytest.mark.parametrize("damage", ["truncate", "bad_crc"])
def test_damaged_member_is_an_image_error_naming_the_file(tmp_path, gzip_opener, gzip_damage,
                                                          damage):
    path = tmp_path / "sub-01_bold.nii.gz"
    with gzip.open(path, "wb") as f:
        f.write(PAYLOAD)
    getattr(gzip_damage, damage)(path)
    # the range ends long before the damage: the member is still read to its end
    with pytest.raises(ImageError, match=r"sub-01_bold\.nii\.gz'.*truncated or corrupt"):
        for _ in _gzip.read_blocks(path, offset=0, total_bytes=100, block_bytes=100):
            pass


def test_file_shorter_than_the_range_names_it(tmp_path, gzip_opener, data_file):
    with pytest.raises(ImageError, match=r"data\.bin(\.gz)?' ended after .*truncated or corrupt"):
        list(_gzip.read_blocks(data_file, offset=0, total_bytes=len(PAYLOAD) + 1,
                               block_bytes=len(PAYLOAD) + 1))
    with pytest.raises(ImageError, match=r"missing\.nii\.gz'"):
        list(_gzip.read_blocks(tmp_path / "missing.nii.gz", offset=0, total_bytes=1,
                               block_bytes=1))
