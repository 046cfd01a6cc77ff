"""A small reader for the IDX files Fashion-MNIST ships in (gzip-compressed).

IDX layout: a 4-byte magic (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data. We check the
magic, the dimensions and that the file holds exactly that many bytes, so a
truncated or foreign file is refused with a message instead of becoming a
silently wrong array.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read a (gzip-compressed or plain) IDX file of unsigned bytes into an array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist.", "point --data-dir at the folder that holds the dataset.")
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"IDX file {path} is not a readable gzip file ({exc}); it is probably truncated or damaged.",
            "restore the original file (check it with `sha256sum -c SHA256SUMS`).",
        ) from exc
    if len(raw) < 4:
        raise DataError(f"IDX file {path} is only {len(raw)} bytes long; an IDX header needs at least 4.",
                        "restore the original file.")
    magic = struct.unpack(">I", raw[:4])[0]
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"IDX file {path} has magic number {magic}, not an unsigned-byte IDX file "
                        f"(expected {expected_magic or '2049 or 2051'}).", "check that this is the right file.")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"IDX file {path} has magic number {magic}; expected {expected_magic}.",
                        "check that images and labels files are not swapped or replaced.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} ends inside its header.", "restore the original file.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataError(
            f"IDX file {path} holds {len(raw) - header} data bytes but its header promises "
            f"{'x'.join(map(str, dims))} = {expected}; the file is truncated or damaged.",
            "restore the original file (check it with `sha256sum -c SHA256SUMS`).",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
