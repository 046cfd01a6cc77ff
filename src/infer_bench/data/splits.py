"""One split of labelled images, read lazily: a batch at a time, never the whole split.

An ``ImageSplit`` is a list of rows into an image store, either image files
(``FileImages``: decoded when a batch asks for them) or an array (``ArrayImages``: a
memory-mapped ``.npz`` member or the small uint8 Fashion-MNIST array). Labels are
known without touching pixels, so ``len`` and ``labels()`` are cheap.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError, InferBenchError
from . import files
from .preprocess import Preprocess

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True, eq=False)
class FileImages:
    """Image files and their labels; pixels are decoded only when rows are read."""

    paths: tuple[Path, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, rows: np.ndarray, preprocess: Preprocess) -> tuple[np.ndarray, list[int]]:
        """Preprocessed images of ``rows`` and the positions kept (unreadable files are skipped)."""
        return files.read_image_files([self.paths[i] for i in rows], preprocess)

    def raw_shape(self) -> tuple | None:
        """None: files may differ in size, and finding out would mean decoding them."""
        return None


@dataclass(frozen=True, eq=False)
class ArrayImages:
    """An (N, H, W[, C]) pixel array (possibly memory-mapped) and its labels."""

    pixels: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.pixels)

    def read(self, rows: np.ndarray, preprocess: Preprocess) -> tuple[np.ndarray, list[int]]:
        """Preprocessed images of ``rows`` (only those rows are paged in from a memory map)."""
        batch = self.pixels[rows]  # a copy of just these rows
        mapping = getattr(self.pixels, "_mmap", None)
        if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            # Pages read stay in the process's resident set until evicted, so streaming a 20 GB
            # file would look like 20 GB of RSS: hand them back (they stay in the page cache).
            mapping.madvise(mmap.MADV_DONTNEED)
        return preprocess(batch), list(range(len(rows)))

    def raw_shape(self) -> tuple:
        """The per-image (H, W, C) every image shares (C is 1 for an (N, H, W) array)."""
        shape = tuple(int(d) for d in self.pixels.shape[1:])
        return shape + (1,) if len(shape) == 2 else shape


def _whole(value, what: str, minimum: int = 1, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InferBenchError(f"{what} must be a whole number >= {minimum}; got {value!r}.",
                              f"pass a whole number >= {minimum}.")


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """One split (train, validation or test) of labelled images, read a batch at a time."""

    name: str
    class_names: tuple[str, ...]
    images: FileImages | ArrayImages = field(repr=False)
    rows: np.ndarray = field(repr=False)
    location: str = ""  # where the images live, for messages

    def __post_init__(self):
        if self.name not in SPLITS:
            raise InferBenchError(f"Unknown split name {self.name!r}.", f"use one of: {', '.join(SPLITS)}.")
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if len(self.class_names) < 1 or not all(isinstance(c, str) and c for c in self.class_names):
            raise DataError(f"The {self.name} split of {self.location} has no usable class names "
                            f"({self.class_names!r}).", "give one non-empty name per class.")
        rows = np.asarray(self.rows, dtype=np.int64)
        if rows.ndim != 1 or len(rows) == 0:
            raise DataError(f"The {self.name} split of {self.location} holds no images.",
                            "add images to it (at least one per class).")
        if rows.min() < 0 or rows.max() >= len(self.images):
            raise DataError(f"The {self.name} split of {self.location} names rows outside 0..{len(self.images) - 1}.",
                            "build the split from the rows of its own images.")
        labels = self.images.labels[rows]
        if labels.min() < 0 or labels.max() >= len(self.class_names):
            raise DataError(f"The {self.name} split of {self.location} has labels outside "
                            f"0..{len(self.class_names) - 1} for {len(self.class_names)} classes.",
                            "number the classes 0..K-1.")
        rows.setflags(write=False)
        object.__setattr__(self, "rows", rows)

    def __len__(self) -> int:
        return len(self.rows)

    def labels(self) -> np.ndarray:
        """The int64 labels in file order (no pixels are read)."""
        return self.images.labels[self.rows].astype(np.int64)

    def raw_shape(self) -> tuple | None:
        """Per-image (H, W, C) when every image shares it (arrays); None for folders of files."""
        return self.images.raw_shape()

    def batches(self, preprocess: Preprocess, batch_size: int, *, limit: int | None = None,
                seed: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (x float32 preprocessed, y int64) batches; only ``batch_size`` images are decoded at a time.

        In file order, or in a seeded shuffle when ``seed`` is given; ``limit`` keeps the first
        ``limit`` images of that order. Unreadable files are skipped with a warning (a batch
        may then be shorter); none readable at all is a DataError.
        """
        _whole(batch_size, "batch_size")
        _whole(limit, "limit", optional=True)
        _whole(seed, "seed", minimum=0, optional=True)
        order = self.rows if seed is None else np.random.default_rng(seed).permutation(self.rows)
        return self._iterate(preprocess, batch_size, order[:limit])

    def _iterate(self, preprocess: Preprocess, batch_size: int, order: np.ndarray):
        delivered = 0
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            x, kept = self.images.read(chunk, preprocess)
            if kept:  # an empty batch would be an element with no images: never yield one
                delivered += len(kept)
                yield x, self.images.labels[chunk][kept].astype(np.int64)
        if delivered == 0:
            raise self._nothing_readable(len(order))

    def subset(self, n: int, seed: int = 0) -> "ImageSplit":
        """This split cut to a seeded random ``n`` of its rows (kept in row order); itself if it has ``n`` or fewer."""
        _whole(n, "subset size")
        _whole(seed, "seed", minimum=0)
        if n >= len(self.rows):
            return self
        return ImageSplit(self.name, self.class_names, self.images, self._pick(n, seed), self.location)

    def _pick(self, n: int, seed: int) -> np.ndarray:
        """``n`` rows drawn without replacement with ``seed`` (all if fewer), in row order."""
        return np.sort(np.random.default_rng(seed).choice(self.rows, size=min(n, len(self.rows)), replace=False))

    def sample(self, n: int, preprocess: Preprocess, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A seeded random sample of ``n`` images (all if the split is smaller) in row order, decoding only those."""
        _whole(n, "sample size")
        _whole(seed, "seed", minimum=0)
        pick = self._pick(n, seed)
        x, kept = self.images.read(pick, preprocess)
        if not kept:
            raise self._nothing_readable(len(pick))
        return x, self.images.labels[pick][kept].astype(np.int64)

    def _nothing_readable(self, tried: int) -> DataError:
        return DataError(f"None of the {tried} images read from the {self.name} split of {self.location} "
                         "could be decoded (each was skipped with a warning naming it).",
                         "replace the damaged files with readable JPEG/PNG/BMP/GIF images.")
