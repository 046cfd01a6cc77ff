"""Labelled images in an ``.npz`` file, read lazily: ``x`` is memory-mapped from inside the zip.

``np.load`` on an ``.npz`` decompresses a whole member into memory, so a 20 GB ``x``
would need 20 GB of RAM. An uncompressed member (``np.savez``) is a plain ``.npy``
file stored byte for byte inside the zip: we find where its data starts (the zip's
local file header, then the ``.npy`` header) and ``np.memmap`` it, so only the rows
a batch reads are paged in. A compressed member (``np.savez_compressed``) cannot be
mapped and is refused. Every check here reads headers and labels only, never pixels.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError

LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # the zip local file header (30 bytes)
LOCAL_MAGIC = b"PK\x03\x04"
ADAPTABLE_CHANNELS = (1, 3)
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _member(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return zf.getinfo(f"{name}.npy")
    except KeyError:
        return None


def memmap_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """Memory-map one uncompressed ``.npy`` member of a zip; a compressed one is refused."""
    name = info.filename.removesuffix(".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise DataError(f"{path}: array {name!r} is compressed (np.savez_compressed), so it cannot be "
                        "memory-mapped and would have to be read whole into memory.",
                        "save it with np.savez (uncompressed) so it can be memory-mapped.")
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        fields = LOCAL_HEADER.unpack(f.read(LOCAL_HEADER.size))
        if fields[0] != LOCAL_MAGIC:
            raise DataError(f"{path} is a damaged zip: no local header for {info.filename}.",
                            "write the file again with np.savez.")
        name_len, extra_len = fields[-2], fields[-1]
        f.seek(info.header_offset + LOCAL_HEADER.size + name_len + extra_len)
        try:
            read_header = HEADER_READERS.get(np.lib.format.read_magic(f))
            if read_header is None:
                raise ValueError("an .npy format version other than 1.0 or 2.0")
            shape, fortran, dtype = read_header(f)
        except ValueError as exc:
            raise DataError(f"{path}: member {info.filename} is not a readable .npy array ({exc}).",
                            "write the file again with np.savez(path, x=images, y=labels).") from exc
        offset = f.tell()
    if dtype.hasobject:
        raise DataError(f"{path}: array {name!r} holds Python objects ({dtype}), not numbers.",
                        "save plain arrays: uint8 or float pixels, integer labels, class names as "
                        "np.array(names, dtype=str).")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def _check_pixels(path: Path, x: np.ndarray) -> None:
    shape = tuple(x.shape)
    if x.ndim not in (3, 4) or (x.ndim == 4 and shape[-1] not in ADAPTABLE_CHANNELS):
        extra = (f" ({shape[-1]} channels cannot be adapted to a model's 1 or 3)" if x.ndim == 4 else "")
        raise DataError(f"{path}: x has shape {shape}{extra}; expected (N, H, W), (N, H, W, 1) or (N, H, W, 3).",
                        "save grayscale or RGB images: drop an alpha channel (x[..., :3]) or convert them first.")
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{path}: x has dtype {x.dtype}; pixels must be uint8 or float on the 0-255 scale.",
                        "save x as uint8 (x.astype(np.uint8)) or float32.")
    if len(x) == 0:
        raise DataError(f"{path}: x holds no images.", "save at least one image per class.")


def _check_labels(path: Path, y: np.ndarray, n_images: int, class_names: tuple[str, ...] | None) -> int:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y has shape {y.shape} and dtype {y.dtype}; labels must be one integer "
                        "class index per image, shape (N,).",
                        "save y as integers, e.g. y.astype(np.int64) (for one-hot labels: y.argmax(axis=1)).")
    if len(y) != n_images:
        raise DataError(f"{path}: x holds {n_images} images but y holds {len(y)} labels.",
                        "save exactly one label per image.")
    n_classes = len(class_names) if class_names is not None else int(y.max()) + 1
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} label(s) fall outside 0..{n_classes - 1} "
                        f"(e.g. {int(y[bad][0])}) for {n_classes} classes.",
                        "number the classes 0..K-1, and give class_names with K entries if the file has them.")
    return n_classes


def open_npz(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(memory-mapped x, int64 y, class names) of an ``.npz`` file, checked without reading pixels."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}).",
                        "save the images with np.savez(path, x=images, y=labels).") from exc
    with zf:
        members = {name: _member(zf, name) for name in ("x", "y", "class_names")}
        missing = [name for name in ("x", "y") if members[name] is None]
        if missing:
            found = ", ".join(n.removesuffix(".npy") for n in zf.namelist()) or "nothing"
            raise DataError(f"{path} has no array named {' or '.join(missing)} (it holds: {found}).",
                            "save the images as x (N, H, W, C) and the integer labels as y (N,): "
                            "np.savez(path, x=images, y=labels).")
        x = memmap_member(path, zf, members["x"])
        y = np.array(memmap_member(path, zf, members["y"]))
        names = None
        if members["class_names"] is not None:
            names = tuple(str(n) for n in np.array(memmap_member(path, zf, members["class_names"])).ravel())
    _check_pixels(path, x)
    n_classes = _check_labels(path, y, len(x), names)
    return x, y.astype(np.int64), names or tuple(str(k) for k in range(n_classes))
