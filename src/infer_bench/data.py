"""Real datasets: where to find them, checksum checks, and preprocessing as the report did.

Search order for a dataset folder (first that holds the files wins):
``--data-dir``, ``$INFER_BENCH_DATA``, ``../shared/data`` next to the checkout
(or the current folder), the Keras cache (``~/.keras/datasets``), and only then
the public download URLs. Without network the error says where it looked.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, unknown_name
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

SPLIT_SEED = 42
VALIDATION_SHARE = 0.2
FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CATSDOGS_CLASSES = ("cats", "dogs")  # alphabetical, as image_dataset_from_directory labels them
CATSDOGS_SIZE = (224, 224)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CATSDOGS_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
DATASET_FOLDERS = {"fashion_mnist": "fashion-mnist", "cats_vs_dogs": "cats-vs-dogs"}


@dataclass(frozen=True)
class Dataset:
    """Preprocessed arrays: float32 NHWC pixels in [0, 1] and integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str  # the folder the files were read from

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _repo_shared_candidates() -> list[Path]:
    here = Path(__file__).resolve()
    # src/infer_bench/data.py -> checkout root is parents[2]; shared/ sits beside it.
    roots = [here.parents[2], Path.cwd()]
    return [r.parent / "shared" / "data" for r in roots]


def candidate_roots(data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The places searched for dataset folders, in order, with a label for each."""
    out: list[tuple[str, Path]] = []
    if data_dir:
        out.append(("--data-dir", Path(data_dir)))
    if os.environ.get("INFER_BENCH_DATA"):
        out.append(("$INFER_BENCH_DATA", Path(os.environ["INFER_BENCH_DATA"])))
    for p in _repo_shared_candidates():
        if ("shared", p.resolve()) not in [(k, v.resolve()) for k, v in out]:
            out.append(("shared", p))
    return out


def _keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _looked_in(paths: list[Path]) -> str:
    return "; ".join(str(p) for p in paths)


def read_sha256sums(folder: Path) -> dict[str, str]:
    """Parse a ``SHA256SUMS`` file into {relative path: hex digest}; empty if absent."""
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*").removeprefix("./")] = digest
    return out


def verify_checksums(folder: Path, relative_paths: list[str]) -> None:
    """Check files against the folder's SHA256SUMS; raise DataError on a mismatch."""
    sums = read_sha256sums(folder)
    if not sums:
        return
    for rel in relative_paths:
        want = sums.get(rel)
        if want is None:
            continue  # not one of the shipped files (a user's extra image): nothing to compare
        got = hashlib.sha256((folder / rel).read_bytes()).hexdigest()
        if got != want:
            raise DataError(
                f"{folder / rel} does not match its checksum in {folder / 'SHA256SUMS'} "
                f"(sha256 {got[:12]}..., expected {want[:12]}...): the file is damaged or was changed.",
                "restore the original file, or point --data-dir at an intact copy.",
            )


def find_fashion_mnist(data_dir=None, download: bool = True) -> tuple[Path, bool]:
    """Return (folder with the four IDX files, whether it is a checksummed shipped folder)."""
    looked = []
    for label, root in candidate_roots(data_dir):
        for folder in (root / "fashion-mnist", root):
            looked.append(folder)
            if all((folder / f).exists() for f in FASHION_FILES.values()):
                return folder, True
    cache = _keras_cache() / "fashion-mnist"
    looked.append(cache)
    if all((cache / f).exists() for f in FASHION_FILES.values()):
        return cache, False
    if download:
        try:
            import keras

            keras.datasets.fashion_mnist.load_data()  # downloads into the Keras cache
            return cache, False
        except Exception as exc:  # no network: say where we looked
            looked.append(Path(FASHION_URL))
            err = exc
    else:
        err = None
    raise DataError(
        f"Fashion-MNIST not found. Looked in: {_looked_in(looked)}"
        + (f" (download failed: {err})" if err else "") + ".",
        "pass --data-dir DIR (or set INFER_BENCH_DATA) to a folder holding fashion-mnist/ with "
        "the four *-ubyte.gz files.",
    )


def _split(x: np.ndarray, y: np.ndarray, share: float = VALIDATION_SHARE, seed: int = SPLIT_SEED):
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * share))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def load_fashion_mnist(data_dir=None, limit: int | None = None) -> Dataset:
    """Fashion-MNIST: pixels / 255 as float32 with a channel axis, 80/20 train/val split (seed 42).

    ``limit`` keeps the first ``limit`` rows of each split (for ``--quick`` runs and tests).
    """
    folder, shipped = find_fashion_mnist(data_dir)
    if shipped:
        verify_checksums(folder, list(FASHION_FILES.values()))
    arrays = {k: read_idx(folder / f, IMAGES_MAGIC if k.startswith("x") else LABELS_MAGIC)
              for k, f in FASHION_FILES.items()}
    for part in ("train", "test"):
        if len(arrays[f"x_{part}"]) != len(arrays[f"y_{part}"]):
            raise DataError(f"Fashion-MNIST {part} images ({len(arrays[f'x_{part}'])}) and labels "
                            f"({len(arrays[f'y_{part}'])}) differ in count.", "restore the original files.")
    x_train, y_train, x_val, y_val = _split(arrays["x_train"], arrays["y_train"])
    x_test, y_test = arrays["x_test"], arrays["y_test"]

    def prep(x):
        return (x[:limit].astype(np.float32) / 255.0)[..., np.newaxis]

    def lab(y):
        return y[:limit].astype(np.int64)

    return Dataset("fashion_mnist", prep(x_train), lab(y_train), prep(x_val), lab(y_val),
                   prep(x_test), lab(y_test), FASHION_CLASSES, str(folder))


def find_cats_vs_dogs(data_dir=None, download: bool = True) -> tuple[Path, bool]:
    """Return (folder holding train/ and validation/ class folders, whether it is shipped)."""
    looked = []

    def ok(folder: Path) -> bool:
        return all((folder / s / c).is_dir() for s in ("train", "validation") for c in CATSDOGS_CLASSES)

    for label, root in candidate_roots(data_dir):
        for folder in (root / "cats-vs-dogs", root / "cats_and_dogs_filtered", root):
            looked.append(folder)
            if ok(folder):
                return folder, True
    cache = _keras_cache()
    for folder in (cache / "cats_and_dogs_filtered", cache / "cats_and_dogs_filtered_extracted" / "cats_and_dogs_filtered"):
        looked.append(folder)
        if ok(folder):
            return folder, False
    err = None
    if download:
        try:
            import keras

            path = Path(keras.utils.get_file("cats_and_dogs_filtered.zip", CATSDOGS_URL, extract=True))
            for folder in (path / "cats_and_dogs_filtered", path.parent / "cats_and_dogs_filtered", path):
                if ok(folder):
                    return folder, False
        except Exception as exc:
            err = exc
        looked.append(Path(CATSDOGS_URL))
    raise DataError(
        f"Cats vs Dogs not found. Looked in: {_looked_in(looked)}" + (f" (download failed: {err})" if err else "") + ".",
        "pass --data-dir DIR (or set INFER_BENCH_DATA) to a folder holding "
        "cats-vs-dogs/{train,validation}/{cats,dogs}/*.jpg.",
    )


def list_images(folder: Path) -> list[Path]:
    """Image files in a class folder, sorted; other files are skipped with a warning."""
    files = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            files.append(p)
        elif p.is_file():
            warnings.warn(f"skipping {p}: not an image file (suffix {p.suffix or 'none'})", stacklevel=2)
    return files


def decode_images(paths: list[Path], size=CATSDOGS_SIZE) -> tuple[np.ndarray, list[int]]:
    """Decode and resize images to ``size`` RGB in [0, 1], as image_dataset_from_directory does.

    Uses TensorFlow's decoder and bilinear ``tf.image.resize`` (Keras' loader's
    defaults), one file at a time so an unreadable file is skipped with a
    warning that names it, instead of crashing a training epoch later.
    Returns the stacked images and the indices of ``paths`` that were kept.
    """
    import tensorflow as tf

    out = np.empty((len(paths), *size, 3), dtype=np.float32)
    kept = []
    for i, p in enumerate(paths):
        try:
            img = tf.io.decode_image(tf.io.read_file(str(p)), channels=3, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, ValueError) as exc:
            warnings.warn(f"skipping unreadable image {p}: {str(exc).splitlines()[0][:120]}", stacklevel=2)
            continue
        out[len(kept)] = tf.image.resize(img, size, method="bilinear").numpy() / 255.0
        kept.append(i)
    return out[: len(kept)], kept


def _load_split(folder: Path, limit_per_class: int | None, root: Path, shipped: bool):
    paths, labels = [], []
    for label, cls in enumerate(CATSDOGS_CLASSES):
        files = list_images(folder / cls)[:limit_per_class]
        if not files:
            raise DataError(f"{folder / cls} holds no images.",
                            "point --data-dir at a folder with train/ and validation/ class folders of JPEGs.")
        paths += files
        labels += [label] * len(files)
    if shipped:
        verify_checksums(root, [str(p.relative_to(root)) for p in paths])
    x, kept = decode_images(paths)
    return x, np.asarray(labels, dtype=np.int64)[kept]


def load_cats_vs_dogs(data_dir=None, limit: int | None = None) -> Dataset:
    """Cats vs Dogs at 224x224 RGB, pixels / 255; train/ split 80/20 (seed 42), validation/ is the test set.

    ``limit`` keeps at most ``limit // 2`` images per class in each folder.
    """
    root, shipped = find_cats_vs_dogs(data_dir)
    per_class = None if limit is None else max(1, limit // 2)
    x, y = _load_split(root / "train", per_class, root, shipped)
    x_test, y_test = _load_split(root / "validation", per_class, root, shipped)
    x_train, y_train, x_val, y_val = _split(x, y)
    return Dataset("cats_vs_dogs", x_train, y_train, x_val, y_val, x_test, y_test, CATSDOGS_CLASSES, str(root))


LOADERS = {"fashion_mnist": load_fashion_mnist, "cats_vs_dogs": load_cats_vs_dogs}


def load_dataset(name: str, data_dir=None, limit: int | None = None) -> Dataset:
    """Load a dataset by name (``fashion_mnist`` or ``cats_vs_dogs``)."""
    if name not in LOADERS:
        raise unknown_name("dataset", name, LOADERS)
    return LOADERS[name](data_dir, limit=limit)


def load_test_set(name: str, data_dir=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Only the held-out test images and labels of a dataset (what checks and benchmarks feed).

    Cheaper than ``load_dataset`` for Cats vs Dogs: the 2,000 training JPEGs are not decoded.
    """
    if name == "cats_vs_dogs":
        root, shipped = find_cats_vs_dogs(data_dir)
        per_class = None if limit is None else max(1, limit // 2)
        return _load_split(root / "validation", per_class, root, shipped)
    ds = load_dataset(name, data_dir, limit=None)
    return ds.x_test[:limit], ds.y_test[:limit]
