"""The decoded-data cache (bilin/data/decoded_cache.py): keyed by the data file's bytes, verified
on every load, atomic, and never a reason for a run to fail."""

import logging
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from bilin.data import decoded_cache, load_dataset
from bilin.data.decoded_cache import CACHE_ENV, read_idx_cached
from bilin.data.idx import read_idx, write_idx


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    monkeypatch.setattr(decoded_cache, "_said", set())
    return folder


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """The files decoded from their IDX bytes (a load served by the cache adds none)."""
    seen: list[Path] = []

    def counting(data, path):
        seen.append(path)
        return real(data, path)

    real = decoded_cache.decode_idx
    monkeypatch.setattr(decoded_cache, "decode_idx", counting)
    return seen


def images(seed: int, n: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npy"))


@pytest.mark.parametrize("name", ["x-idx3-ubyte.gz", "x-idx3-ubyte"])
def test_cached_load_equals_decoding_bit_for_bit(cache, decodes, tmp_path, name):
    path = tmp_path / name
    write_idx(path, images(0))
    cold, warm = read_idx_cached(path), read_idx_cached(path)
    assert decodes == [path] and len(entries(cache)) == 1  # the second load came from the cache
    for array in (cold, warm):
        assert array.dtype == np.uint8 and array.shape == (50, 28, 28)
        assert array.tobytes() == read_idx(path).tobytes()
        assert array.flags.writeable
    [entry] = entries(cache)
    entry.write_bytes(bytes(entry.stat().st_size))  # overwritten in place: the arrays read are not views of it
    assert warm.tobytes() == read_idx(path).tobytes()


def test_dataset_from_the_cache_has_the_same_fingerprint(cache, tiny_root, monkeypatch):
    cold = load_dataset("mnist", tiny_root, download=False)
    warm = load_dataset("fmnist", tiny_root, download=False), load_dataset("mnist", tiny_root, download=False)
    monkeypatch.setenv(CACHE_ENV, "off")
    uncached = load_dataset("mnist", tiny_root, download=False)
    assert len(entries(cache)) == 8  # four files per dataset
    assert cold.fingerprint == warm[1].fingerprint == uncached.fingerprint
    for split in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(warm[1], split), getattr(uncached, split))
        assert getattr(warm[1], split).dtype == getattr(uncached, split).dtype


@pytest.mark.parametrize("gz", [False, True])
def test_a_changed_file_is_never_served_from_the_cache(cache, decodes, tmp_path, gz):
    path = tmp_path / ("x-idx3-ubyte.gz" if gz else "x-idx3-ubyte")
    write_idx(path, images(1))
    before = path.stat()
    np.testing.assert_array_equal(read_idx_cached(path), images(1))
    write_idx(path, images(2))  # new content, in place: same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    if not gz:  # gzip's size depends on the content; the plain file's does not
        assert after.st_size == before.st_size
    np.testing.assert_array_equal(read_idx_cached(path), images(2))
    np.testing.assert_array_equal(read_idx_cached(path), images(2))
    assert len(decodes) == 2 and len(entries(cache)) == 2  # each content decoded once, then cached


def truncate(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes()[:-100])


def flip_payload_byte(entry: Path) -> None:
    data = bytearray(entry.read_bytes())
    data[-7] ^= 0x01
    entry.write_bytes(bytes(data))


def change_shape(entry: Path) -> None:  # same bytes, another shape: the digest covers the shape too
    entry.write_bytes(entry.read_bytes().replace(b"(50, 28, 28)", b"(50, 784)   "))


def huge_shape(entry: Path) -> None:  # refused before memory is allocated for it
    entry.write_bytes(entry.read_bytes().replace(b"(50, 28, 28)", b"(9999,99999)"))


def unparsable_header(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes().replace(b"(50, 28, 28)", b"(50, 28, 28("))


def garbage(entry: Path) -> None:
    entry.write_bytes(b"not an array")


@pytest.mark.parametrize("damage", [truncate, flip_payload_byte, change_shape, huge_shape, unparsable_header, garbage])
def test_a_damaged_entry_is_rebuilt_never_used(cache, decodes, tmp_path, damage):
    path = tmp_path / "x-idx3-ubyte.gz"
    write_idx(path, images(3))
    read_idx_cached(path)
    [entry] = entries(cache)
    damage(entry)
    np.testing.assert_array_equal(read_idx_cached(path), images(3))
    assert len(decodes) == 2 and entries(cache) == [entry]  # rebuilt under the same name
    np.testing.assert_array_equal(read_idx_cached(path), images(3))
    assert len(decodes) == 2  # and the rebuilt entry serves the next load


def test_an_unwritable_cache_only_costs_a_line_in_the_log(cache, tmp_path, monkeypatch, caplog, capsys):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(in_the_way / "cache"))  # cannot be created: a file is in the way
    path = tmp_path / "x-idx3-ubyte.gz"
    write_idx(path, images(4))
    with caplog.at_level(logging.INFO, logger="bilin.data.cache"):
        for _ in range(3):
            np.testing.assert_array_equal(read_idx_cached(path), images(4))
    [record] = caplog.records  # said once, not on every load
    assert "data cache" in record.getMessage() and "not used" in record.getMessage()
    assert capsys.readouterr().err == ""


def test_a_full_disk_leaves_no_temporary_file(cache, tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(decoded_cache.np, "save", no_space)
    path = tmp_path / "x-idx3-ubyte"
    write_idx(path, images(5))
    np.testing.assert_array_equal(read_idx_cached(path), images(5))
    assert [p.suffix for p in cache.iterdir()] == [".lock"]


def test_off_reads_without_a_cache(cache, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    path = tmp_path / "x-idx3-ubyte"
    write_idx(path, images(6))
    np.testing.assert_array_equal(read_idx_cached(path), images(6))
    assert not cache.exists()


def test_concurrent_loads_decode_once_and_agree(cache, decodes, tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    write_idx(path, images(7, n=2000))
    start = threading.Barrier(4)
    results: list[np.ndarray] = []

    def load() -> None:
        start.wait()
        results.append(read_idx_cached(path))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(np.array_equal(r, images(7, n=2000)) for r in results)
    assert len(decodes) == 1  # the others waited on the lock, then read the entry
    assert len(entries(cache)) == 1 and not list(cache.glob("*.tmp"))


def test_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert decoded_cache.cache_folder() == tmp_path / "bilin" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert decoded_cache.cache_folder() == Path.home() / ".cache" / "bilin" / "data"
