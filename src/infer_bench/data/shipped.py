"""The shipped datasets (Fashion-MNIST, Cats vs Dogs): where to find them, checksums, the report's array loaders.

An explicit ``--data-dir`` is the only place looked: if it lacks the files, that is an
error naming it and what is missing, never a silent fall-back to other data. Without
one, the search order (first that holds the files wins) is ``$INFER_BENCH_DATA``,
``../shared/data`` next to the checkout (or the current folder), the Keras cache
(``~/.keras/datasets``), and only then the public download URLs. Without network the
error says where it looked.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, unknown_name
from ..idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from .files import list_class_images, read_image_files
from .preprocess import Preprocess

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
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CATSDOGS_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
CATSDOGS_FIX = "point --data-dir at a folder with train/ and validation/ class folders (cats/, dogs/) of JPEGs."
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
    # src/infer_bench/data/shipped.py -> checkout root is parents[3]; shared/ sits beside it.
    roots = [here.parents[3], Path.cwd()]
    return [r.parent / "shared" / "data" for r in roots]


def candidate_roots(data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The places searched for dataset folders, in order, with a label for each.

    An explicit ``data_dir`` is the only place: the user named it, so nothing else may stand in for it.
    """
    if data_dir:
        return [("--data-dir", Path(data_dir))]
    out: list[tuple[str, Path]] = []
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


def _search(data_dir, names: tuple[str, ...], missing_of, title: str, layout: str) -> tuple[Path | None, list[Path]]:
    """The first candidate folder (each root's ``names`` subfolders, then the root) that lacks nothing.

    Returns (folder or None, the folders looked in). With an explicit ``data_dir`` that
    lacks the data, raises a DataError naming it and what is missing.
    """
    looked = []
    for _, root in candidate_roots(data_dir):
        for folder in [root / n for n in names] + [root]:
            looked.append(folder)
            if not missing_of(folder):
                return folder, looked
    if data_dir:
        first = Path(data_dir) / names[0]
        raise DataError(
            f"The data folder given with --data-dir ({data_dir}) holds no {title}: {first} lacks "
            f"{', '.join(missing_of(first))}, and so does {data_dir} itself.",
            f"put {layout} in {data_dir}, or leave --data-dir out to use $INFER_BENCH_DATA or the shipped data.")
    return None, looked


def _fashion_missing(folder: Path) -> list[str]:
    return [f for f in FASHION_FILES.values() if not (folder / f).exists()]


def _catsdogs_missing(folder: Path) -> list[str]:
    return [f"{s}/{c}/" for s in ("train", "validation") for c in CATSDOGS_CLASSES if not (folder / s / c).is_dir()]


def find_fashion_mnist(data_dir=None, download: bool = True) -> tuple[Path, bool]:
    """Return (folder with the four IDX files, whether it is a checksummed shipped folder)."""
    found, looked = _search(data_dir, ("fashion-mnist",), _fashion_missing, "Fashion-MNIST",
                            "fashion-mnist/ with the four *-ubyte.gz files")
    if found:
        return found, True
    cache = _keras_cache() / "fashion-mnist"
    looked.append(cache)
    if not _fashion_missing(cache):
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


def read_fashion_mnist(data_dir=None) -> tuple[Path, dict[str, np.ndarray]]:
    """The raw uint8 Fashion-MNIST arrays ({x_train, y_train, x_test, y_test}) and their folder, checksummed."""
    folder, shipped = find_fashion_mnist(data_dir)
    if shipped:
        verify_checksums(folder, list(FASHION_FILES.values()))
    arrays = {k: read_idx(folder / f, IMAGES_MAGIC if k.startswith("x") else LABELS_MAGIC)
              for k, f in FASHION_FILES.items()}
    for part in ("train", "test"):
        if len(arrays[f"x_{part}"]) != len(arrays[f"y_{part}"]):
            raise DataError(f"Fashion-MNIST {part} images ({len(arrays[f'x_{part}'])}) and labels "
                            f"({len(arrays[f'y_{part}'])}) differ in count.", "restore the original files.")
    return folder, arrays


def load_fashion_mnist(data_dir=None, limit: int | None = None) -> Dataset:
    """Fashion-MNIST: pixels / 255 as float32 with a channel axis, 80/20 train/val split (seed 42).

    ``limit`` keeps the first ``limit`` rows of each split (for ``--quick`` runs and tests).
    """
    folder, arrays = read_fashion_mnist(data_dir)
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
    found, looked = _search(data_dir, ("cats-vs-dogs", "cats_and_dogs_filtered"), _catsdogs_missing,
                            "Cats vs Dogs", "cats-vs-dogs/{train,validation}/{cats,dogs}/*.jpg")
    if found:
        return found, True
    cache = _keras_cache()
    for folder in (cache / "cats_and_dogs_filtered", cache / "cats_and_dogs_filtered_extracted" / "cats_and_dogs_filtered"):
        looked.append(folder)
        if not _catsdogs_missing(folder):
            return folder, False
    err = None
    if download:
        try:
            import keras

            path = Path(keras.utils.get_file("cats_and_dogs_filtered.zip", CATSDOGS_URL, extract=True))
            for folder in (path / "cats_and_dogs_filtered", path.parent / "cats_and_dogs_filtered", path):
                if not _catsdogs_missing(folder):
                    return folder, False
        except Exception as exc:
            err = exc
        looked.append(Path(CATSDOGS_URL))
    raise DataError(
        f"Cats vs Dogs not found. Looked in: {_looked_in(looked)}" + (f" (download failed: {err})" if err else "") + ".",
        "pass --data-dir DIR (or set INFER_BENCH_DATA) to a folder holding "
        "cats-vs-dogs/{train,validation}/{cats,dogs}/*.jpg.",
    )


def shipped_preprocess(name: str) -> Preprocess:
    """How the report's models see a shipped dataset: its own size and channels, pixels / 255."""
    shapes = {"fashion_mnist": (28, 28, 1), "cats_vs_dogs": (*CATSDOGS_SIZE, 3)}
    if name not in shapes:
        raise unknown_name("dataset", name, shapes)
    return Preprocess(*shapes[name], "1/255")


def decode_images(paths: list[Path], size=CATSDOGS_SIZE) -> tuple[np.ndarray, list[int]]:
    """Decode and resize images to ``size`` RGB in [0, 1], as image_dataset_from_directory does.

    One file at a time (TensorFlow's decoder, bilinear ``tf.image.resize``), so an
    unreadable file is skipped with a warning that names it. Returns the stacked
    images and the indices of ``paths`` that were kept.
    """
    return read_image_files(paths, Preprocess(size[0], size[1], 3, "1/255"))


def catsdogs_files(folder: Path, root: Path, shipped: bool,
                   limit_per_class: int | None = None) -> tuple[list[Path], np.ndarray]:
    """The image paths and labels of one Cats vs Dogs split folder (checksummed when shipped); nothing decoded."""
    paths, labels = list_class_images(folder, CATSDOGS_CLASSES, CATSDOGS_FIX, limit_per_class)
    if shipped:
        verify_checksums(root, [str(p.relative_to(root)) for p in paths])
    return paths, labels


def _load_split(folder: Path, limit_per_class: int | None, root: Path, shipped: bool):
    paths, labels = catsdogs_files(folder, root, shipped, limit_per_class)
    x, kept = decode_images(paths)
    return x, labels[kept]


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
