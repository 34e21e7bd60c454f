import numpy as np
import pytest

from bilin.data.idx import read_idx, write_idx
from bilin.errors import UserError


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_plain_and_gzipped(tmp_path, name):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, array)
    np.testing.assert_array_equal(read_idx(tmp_path / name), array)


def test_bad_magic_is_named(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(UserError, match="bad magic"):
        read_idx(path)


def test_wrong_size_is_named(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    write_idx(path, np.zeros(10, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(UserError, match="wrong size.*10 bytes of data, file holds 7"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    write_idx(path, np.zeros(1000, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:15])
    with pytest.raises(UserError, match="cannot read"):
        read_idx(path)


def test_not_gzip_at_all(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(b"plain text, not gzip")
    with pytest.raises(UserError):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(UserError, match="truncated"):
        read_idx(path)
