"""Decoded IDX arrays kept as .npy files in a user cache folder, so a run reads one .npy file
instead of gunzipping and parsing the IDX file again (docs/data.md, "The decoded-data cache").

- Key: the SHA-256 of the data file's bytes, and the bytes hashed are the bytes decoded on a
  miss; a changed file (even one with the same size and mtime) is never served from the cache.
- Verified: an entry's name also carries the SHA-256 of its array's shape and bytes, re-hashed on every
  load; a truncated or damaged entry is never used, it is rebuilt.
- Written to a temporary file and moved into place (os.replace) while holding a per-key file
  lock: readers never see half an entry, and concurrent runs decode a file once.
- A cache that cannot be used (a read-only folder, a full disk) never fails a run: the file is
  decoded as without a cache, and the run's log says so once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npy
import torch
from filelock import FileLock, Timeout

from bilin.data.idx import decode_idx, read_source

CACHE_ENV = "BILIN_DATA_CACHE"  # a folder, or "off"
CACHE_OFF = "off"
FORMAT = "idx1"  # in every entry's name; a new layout gets a new prefix, old entries are then ignored
LOCK_TIMEOUT_S = 30.0  # decoding the largest file takes ~2 s; past this, decode without the cache

log = logging.getLogger("bilin.data.cache")
_said: set[str] = set()  # each cache folder's problem is logged once per process


def cache_folder() -> Path | None:
    """$BILIN_DATA_CACHE, else $XDG_CACHE_HOME/bilin/data, else ~/.cache/bilin/data; None when
    $BILIN_DATA_CACHE is "off". Not the data folder: that one may be read-only or shared."""
    chosen = os.environ.get(CACHE_ENV, "")
    if chosen == CACHE_OFF:
        return None
    if chosen:
        return Path(chosen).expanduser()
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # no $HOME and no passwd entry: run without a cache
        return None
    return Path(base) / "bilin" / "data"


def read_idx_cached(path: Path) -> np.ndarray:
    """The IDX file's uint8 array (writable, in memory of its own), from the cache when it holds
    the decoding of exactly these bytes."""
    data = read_source(path)
    folder = cache_folder()
    if folder is None:
        return _copied(decode_idx(data, path))
    key = f"{FORMAT}-{hashlib.sha256(data).hexdigest()}"
    # A .gz file and a plain one never share bytes (the gzip magic is not a valid IDX header),
    # so the key need not hold the suffix that says how the bytes are decoded.
    array = None
    try:
        hit = _load_verified(folder, key, remove_damaged=False)
        if hit is not None:
            return hit
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
        with FileLock(folder / f"{key}.lock", timeout=LOCK_TIMEOUT_S):
            hit = _load_verified(folder, key, remove_damaged=True)  # another run may have just written it
            if hit is not None:
                return hit
            array = _copied(decode_idx(data, path))
            _store(folder, key, array)
    except (OSError, Timeout) as exc:
        _say_once(folder, exc)
    return array if array is not None else _copied(decode_idx(data, path))


def _entry_name(key: str, array: np.ndarray) -> str:
    return f"{key}-{_digest(array)}.npy"


def _digest(array: np.ndarray) -> str:
    """SHA-256 of the array's shape and bytes (its dtype is always uint8)."""
    digest = hashlib.sha256(repr(array.shape).encode())
    digest.update(array.data)
    return digest.hexdigest()


def _load_verified(folder: Path, key: str, remove_damaged: bool) -> np.ndarray | None:
    """The cached array for `key` whose bytes match the digest in its name, or None. Damaged
    entries are removed only under the key's lock, where no other run is writing one."""
    for entry in sorted(folder.glob(f"{key}-*.npy")):
        array = _load(entry)
        if array is not None and entry.name == _entry_name(key, array):
            return array
        if remove_damaged:
            log.info("data cache: %s is damaged; rebuilding it", entry)
            entry.unlink(missing_ok=True)
    return None


def _load(entry: Path) -> np.ndarray | None:
    """The .npy file's uint8 array, read into memory of its own (no tie to the file), or None."""
    if not entry.is_file():  # a FIFO would block the read
        return None
    try:
        with entry.open("rb") as f:
            version = npy.read_magic(f)
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran_order, dtype = read_header(f)
            payload = os.fstat(f.fileno()).st_size - f.tell()
            if dtype != np.uint8 or fortran_order or not 1 <= len(shape) <= 4 or min(shape) < 0:
                return None
            if math.prod(shape) != payload:  # checked before allocating: a damaged shape may be huge
                return None
            array = _fresh(shape)
            complete = f.readinto(array.data.cast("B")) == array.nbytes and not f.read(1)
    except Exception:  # numpy's header parser raises ValueError, SyntaxError, TokenError... for a damaged one
        return None
    return array if complete else None


def _fresh(shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array in memory that torch allocates. numpy asks for transparent huge pages for
    large arrays, and on this project's VMs faulting those in costs ~0.6 s per 47 MB now and then
    (measured: docs/data.md); torch's allocator does not ask, ~20 ms every time."""
    return torch.empty(shape, dtype=torch.uint8).numpy()


def _copied(array: np.ndarray) -> np.ndarray:
    fresh = _fresh(array.shape)
    fresh[...] = array
    return fresh


def _store(folder: Path, key: str, array: np.ndarray) -> None:
    """Write the entry atomically. No fsync: an entry cut short by a crash fails its digest and is rebuilt."""
    for leftover in folder.glob(f"{key}-*.tmp"):  # from a run killed while writing; we hold the lock
        leftover.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{key}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, folder / _entry_name(key, array))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _say_once(folder: Path, exc: BaseException) -> None:
    """One line in the run's log (INFO: Python's fallback handler would print a warning on the terminal)."""
    if str(folder) in _said:
        return
    _said.add(str(folder))
    reason = f"its lock is held for over {LOCK_TIMEOUT_S:.0f} s" if isinstance(exc, Timeout) else str(exc)
    log.info("data cache %s not used (%s); the IDX files are decoded without it", folder, reason)
