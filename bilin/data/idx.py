"""Reader for IDX files (the MNIST format), gzipped or not, with strict validation.

Header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then one
big-endian uint32 per dimension; the payload must hold exactly prod(dims) items.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from bilin.errors import UserError

_UINT8 = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file into a uint8 array of the header's shape."""
    return decode_idx(read_source(path), path)


def read_source(path: Path) -> bytes:
    """A data file's bytes as stored (still gzipped when it is)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc


def decode_idx(data: bytes, path: Path) -> np.ndarray:
    """The uint8 array that IDX file bytes hold (a read-only view of them); `path` names the file
    in messages, and its suffix says whether `data` is gzipped."""
    raw = data
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # not gzip, truncated, or a damaged stream
            raise UserError(f"cannot read {path}: {exc}") from exc
    if len(raw) < 4:
        raise UserError(f"{path} is not an IDX file: only {len(raw)} bytes")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != _UINT8 or not 1 <= ndim <= 4:
        raise UserError(f"{path} is not a uint8 IDX file: bad magic number 0x{raw[:4].hex()}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise UserError(f"{path} is truncated: header needs {header_size} bytes, file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape))
    actual = len(raw) - header_size
    if actual != expected:
        raise UserError(
            f"{path} has the wrong size: header says {'x'.join(map(str, shape))} = {expected} bytes of data, "
            f"file holds {actual} (truncated or corrupt; replace it)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzipped if the name ends in .gz); used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UINT8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
