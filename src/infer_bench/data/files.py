"""Image files: listing a class folder as Keras does, and decoding one file at a time.

Listing follows ``keras.utils.image_dataset_from_directory``: every file under the
class folder (subfolders included, walked in sorted order) whose suffix is
.bmp/.gif/.jpeg/.jpg/.png. Other files are skipped with one warning per folder that
names them. Decoding uses TensorFlow's decoder with the channel count the model takes,
as Keras does; a file it cannot read is skipped with a warning that names it, instead
of crashing an epoch later.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from .preprocess import Preprocess

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}
COLOUR_ONLY = (b"GIF8", b"BM")  # GIF and BMP: TensorFlow decodes them to 0 or 3 channels, never 1
NAMED_SKIPS = 5  # how many skipped file names one warning spells out


def list_images(folder: Path) -> list[Path]:
    """Image files under a class folder (recursively, in Keras' order); others are skipped with a warning."""
    files, skipped = [], []
    for root, _, names in sorted(os.walk(folder), key=lambda entry: entry[0]):
        for name in sorted(names):
            path = Path(root) / name
            (files if path.suffix.lower() in IMAGE_SUFFIXES else skipped).append(path)
    if skipped:
        shown = ", ".join(p.name for p in skipped[:NAMED_SKIPS])
        more = f" and {len(skipped) - NAMED_SKIPS} more" if len(skipped) > NAMED_SKIPS else ""
        warnings.warn(f"skipping {len(skipped)} file(s) in {folder} that are not images "
                      f"(not {'/'.join(sorted(IMAGE_SUFFIXES))}): {shown}{more}", stacklevel=2)
    return files


def list_class_images(split_folder: Path, class_names, fix: str,
                      limit_per_class: int | None = None) -> tuple[list[Path], np.ndarray]:
    """Every class folder's images in class order, with int64 labels (the class's index).

    A missing or empty class folder is a DataError naming it, with ``fix`` as the fix.
    """
    paths: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(class_names):
        folder = Path(split_folder) / cls
        if not folder.is_dir():
            raise DataError(f"{split_folder} has no folder for class {cls!r} ({folder} is missing).", fix)
        files = list_images(folder)[:limit_per_class]
        if not files:
            raise DataError(f"{folder} holds no images (class {cls!r}; looked for "
                            f"{'/'.join(sorted(IMAGE_SUFFIXES))} files).", fix)
        paths += files
        labels += [label] * len(files)
    return paths, np.asarray(labels, dtype=np.int64)


def decode_image_file(path: Path, channels: int = 0) -> np.ndarray | None:
    """Decode one image file to uint8 (h, w, 1 or 3); None (with a warning naming it) if unreadable.

    ``channels`` (1 or 3) is what Keras' ``color_mode`` asks TensorFlow's decoder for, so
    a JPEG or PNG comes out exactly as ``image_dataset_from_directory`` gives it (alpha
    dropped, libjpeg's own luma for grayscale). GIF and BMP, which the decoder cannot
    turn into grayscale, come as stored, with any alpha dropped: ``Preprocess`` converts
    them. The first frame of an animated GIF is kept.
    """
    import tensorflow as tf

    try:
        raw = Path(path).read_bytes()
        if raw.startswith(COLOUR_ONLY):
            channels = 0
        img = tf.io.decode_image(raw, channels=channels, expand_animations=False).numpy()
    except (OSError, tf.errors.InvalidArgumentError, ValueError) as exc:
        # TensorFlow prefixes its reason with the op's internal name ({{function_node ...}}): keep the reason.
        reason = re.sub(r"\{\{.*?\}\}\s*", "", str(exc)).splitlines()[0][:120]
        warnings.warn(f"skipping unreadable image {path}: {reason}", stacklevel=2)
        return None
    if img.shape[-1] in (2, 4):
        img = img[..., :-1]
    return img


def read_image_files(paths, preprocess: Preprocess) -> tuple[np.ndarray, list[int]]:
    """Decode and preprocess ``paths`` one file at a time into one float32 batch.

    Returns the batch of the readable files and the positions in ``paths`` that were
    kept; only one decoded image is held beside the output batch.
    """
    out = np.empty((len(paths), *preprocess.shape), dtype=np.float32)
    kept = []
    for i, path in enumerate(paths):
        img = decode_image_file(path, preprocess.channels)
        if img is None:
            continue
        out[len(kept)] = preprocess(img[np.newaxis])[0]
        kept.append(i)
    return out[: len(kept)], kept
