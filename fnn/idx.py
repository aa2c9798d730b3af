"""IDX files: the format of the MNIST and Fashion-MNIST archives (read and write).

Format (LeCun's MNIST page): a 4-byte magic number ``0x00 0x00 <dtype code>
<ndim>``, then ``ndim`` big-endian uint32 sizes ``d_1 .. d_ndim``, then
``d_1 * ... * d_ndim`` values, big-endian, row-major. The data sets of the
notes' "Stochastic gradient descent" experiments (MNIST, Fashion-MNIST) come in
this format; :mod:`fnn.datasets` finds, downloads and checks the files.

This module is a format reader and writer only: it checks a file's structure
(magic number, dtype code, header and data lengths), not its content. A raw
file with a flipped data byte is a valid IDX file; :func:`fnn.datasets.load`
catches it by the SHA-256 of the known files.
"""

from __future__ import annotations

import gzip
import math
import os
import pathlib
import zlib

import numpy as np
from jax.typing import ArrayLike

from fnn._io import atomic_write

PathLike = str | os.PathLike

__all__ = ["read_idx", "read_bytes", "decode_idx", "write_idx"]

# IDX dtype codes (third byte of the magic number); data are big-endian.
_IDX_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_NAMES = {0x08: "ubyte", 0x09: "byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}
_GZIP_MAGIC = b"\x1f\x8b"


def _allowed_codes() -> str:
    return ", ".join(f"0x{c:02X} ({_IDX_NAMES[c]})" for c in _IDX_CODES)


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a NumPy array: ``decode_idx(read_bytes(path), path)``.

    Format (LeCun's MNIST page): a 4-byte magic number ``0x00 0x00 <dtype code>
    <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data, big-endian,
    row-major. dtype codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64. Gzip is detected from the content, not the name.

    Returns an array of the file's shape in native byte order.

    Raises ``ValueError`` naming the file for a truncated or corrupt gzip stream,
    a foreign file (wrong magic number or dtype code), a truncated header or
    data, or trailing bytes; ``FileNotFoundError`` if it does not exist. A
    format reader only: a well-formed file with a changed data byte is read as
    it is (:func:`fnn.datasets.load` checks the known files' SHA-256).
    """
    path = pathlib.Path(path)
    return decode_idx(read_bytes(path), path)


def read_bytes(path: PathLike) -> bytes:
    """The IDX content of ``path``: its bytes, decompressed if they are gzip (detected by content).

    Raises ``ValueError`` naming the file for a truncated or corrupt gzip
    stream; ``FileNotFoundError`` if it does not exist.
    """
    path = pathlib.Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise ValueError(f"{path}: truncated or corrupt gzip stream ({err})") from err
    return raw


def decode_idx(raw: bytes, path: PathLike = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes (see :func:`read_idx`); ``path`` names the source in errors."""
    if len(raw) < 4:
        raise ValueError(
            f"{path}: not an IDX file: expected a 4-byte magic number, the file holds {len(raw)} bytes"
        )
    magic = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: the magic number must start with bytes 0x00 0x00, "
            f"got 0x{magic:08X}"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_CODES:
        raise ValueError(
            f"{path}: unknown IDX dtype code 0x{code:02X} in magic number 0x{magic:08X}; "
            f"expected one of {_allowed_codes()}"
        )
    if ndim < 1:
        raise ValueError(f"{path}: IDX magic number 0x{magic:08X} gives 0 dimensions, expected >= 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
            f"the file holds {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_CODES[code]
    expected = math.prod(shape) * dtype.itemsize
    got = len(raw) - header
    if got < expected:
        raise ValueError(
            f"{path}: truncated IDX file: header gives shape {shape} of {_IDX_NAMES[code]} "
            f"= {expected} data bytes, the file holds {got}"
        )
    if got > expected:
        raise ValueError(
            f"{path}: malformed IDX file: header gives shape {shape} of {_IDX_NAMES[code]} "
            f"= {expected} data bytes, the file holds {got} ({got - expected} trailing bytes)"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: PathLike, array: ArrayLike) -> pathlib.Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    The inverse of :func:`read_idx`. ``array`` must have at least one dimension
    and one of the IDX dtypes (uint8, int8, int16, int32, float32, float64). The
    file is written to a temporary file in the same folder and renamed into
    place. Gzip output is deterministic (mtime 0), so its MD5 is reproducible.
    """
    a = np.asarray(array)
    codes = {np.dtype(v.newbyteorder("=")): k for k, v in _IDX_CODES.items()}
    if a.dtype not in codes:
        raise TypeError(
            f"array must have an IDX dtype (uint8, int8, int16, int32, float32, float64), got {a.dtype}"
        )
    if a.ndim < 1 or a.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got shape {a.shape}")
    if any(s >= 2**32 for s in a.shape):
        raise ValueError(f"array dimensions must be < 2**32, got shape {a.shape}")
    code = codes[a.dtype]
    payload = bytes([0, 0, code, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    payload += np.ascontiguousarray(a, dtype=_IDX_CODES[code]).tobytes()
    path = pathlib.Path(path)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    _atomic_write_bytes(path, payload)
    return path


def _atomic_write_bytes(path: pathlib.Path, payload: bytes) -> None:
    with atomic_write(path, suffix=".part") as f:
        f.write(payload)

