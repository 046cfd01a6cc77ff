"""Where labelled images come from: a folder, an ``.npz`` file or a shipped dataset, opened lazily.

``open_data`` lists and checks; it decodes no image. Every problem a user can fix
(nothing at the path, no class folders, an empty class, a bad ``.npz``) is raised here,
before any heavy work.

Splits: a folder's ``train/`` and ``test/`` (or ``validation/`` as the test split when
there is no ``test/``; with both, ``validation/`` is the validation split); without
split folders, a seeded 80/20 train/test split per class. When there is no
``validation/`` folder, ``validation_share`` of the training images (a seeded
permutation, as the report's loaders did) becomes the validation split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DataError, InferBenchError
from .files import list_class_images
from .npz import open_npz
from .shipped import (CATSDOGS_CLASSES, FASHION_CLASSES, SPLIT_SEED, VALIDATION_SHARE, catsdogs_files,
                      find_cats_vs_dogs, read_fashion_mnist)
from .splits import ArrayImages, FileImages, ImageSplit

KINDS = ("folder", "npz", "shipped")
SHIPPED = ("fashion_mnist", "cats_vs_dogs")
TEST_SHARE = 0.2  # held out per class as the test split when the data has no split folders
SPLIT_FOLDERS = ("train", "test", "validation")
SHOWN_CLASSES = 6  # how many class names describe() spells out
DATA_FIX = ("give a folder of class subfolders of images (DIR/<class>/*.jpg|png), an .npz file holding x "
            f"(N, H, W, C) and y (N,), or a shipped dataset name ({', '.join(SHIPPED)}).")
FOLDER_FIX = ("arrange the images as DIR/<class>/*.jpg|png, one subfolder per class (as "
              "keras.utils.image_dataset_from_directory reads them), optionally under DIR/train/ and DIR/test/.")


@dataclass(frozen=True, eq=False)
class DataSource:
    """Labelled images split into train, test and (optionally) validation, all read lazily."""

    kind: str
    location: str
    class_names: tuple[str, ...]
    train: ImageSplit
    test: ImageSplit
    validation: ImageSplit | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InferBenchError(f"Unknown data source kind {self.kind!r}.", f"use one of: {', '.join(KINDS)}.")
        object.__setattr__(self, "class_names", tuple(self.class_names))
        for expected, split in (("train", self.train), ("test", self.test), ("validation", self.validation)):
            if split is None and expected != "validation":
                raise InferBenchError(f"A data source needs a {expected} split.", f"give its {expected} split.")
            if split is not None and (split.name != expected or split.class_names != self.class_names):
                raise InferBenchError(f"The {expected} split of {self.location} is named {split.name!r} with "
                                      f"classes {split.class_names}, not {expected!r} with {self.class_names}.",
                                      "build every split with the source's class names.")

    def splits(self) -> dict[str, ImageSplit]:
        """The splits present, by name (train, validation when there is one, test)."""
        out = {"train": self.train, "validation": self.validation, "test": self.test}
        return {name: split for name, split in out.items() if split is not None}

    def subset(self, rows: dict[str, int], seed: int = SPLIT_SEED) -> "DataSource":
        """This source with each split named in ``rows`` cut to a seeded random that many images (``--quick``)."""
        unknown = sorted(set(rows) - {"train", "validation", "test"})
        if unknown:
            raise InferBenchError(f"Unknown split name(s) {', '.join(unknown)} to cut.",
                                  "name train, validation or test.")
        cut = {name: split.subset(rows[name], seed) if name in rows else split
               for name, split in self.splits().items()}
        return replace(self, train=cut["train"], test=cut["test"], validation=cut.get("validation"))

    def to_dict(self) -> dict:
        """What the manifest records about the data: kind, location, class names and split sizes."""
        return {"kind": self.kind, "location": self.location, "class_names": list(self.class_names),
                "splits": {name: len(split) for name, split in self.splits().items()}}

    def describe(self) -> str:
        """In words, e.g. 'folder /data/flowers: 5 classes (daisy, ...); 2,300 train, 580 validation, 720 test images'."""
        names = ", ".join(self.class_names[:SHOWN_CLASSES])
        if len(self.class_names) > SHOWN_CLASSES:
            names += ", ..."
        sizes = ", ".join(f"{len(split):,} {name}" for name, split in self.splits().items())
        return f"{self.kind} {self.location}: {len(self.class_names)} classes ({names}); {sizes} images"


def _validation_rows(rows: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): a seeded permutation's first ``share`` is validation, as the report's loaders."""
    order = np.random.default_rng(seed).permutation(rows)
    n_val = min(int(round(len(rows) * share)), len(rows) - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _test_rows(labels: np.ndarray, share: float, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows): ``share`` of each class held out (at least one of a class with two or more)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_test = max(1, int(round(len(rows) * share))) if len(rows) >= 2 else 0
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    test_rows = np.sort(np.concatenate(test))
    if len(test_rows) == 0:
        raise DataError(f"{where} has too few images ({len(labels)}) to hold out a test split.",
                        "add images (two or more per class), or give train/ and test/ folders.")
    return np.sort(np.concatenate(train)), test_rows


def _source(kind: str, location, class_names, train_images, train_rows, test_images, test_rows,
            seed: int, share: float, validation: tuple | None = None) -> DataSource:
    """Build the splits; without a validation (images, rows) given, carve ``share`` of train out for it."""
    where = str(location)
    if validation is None and share > 0 and len(train_rows) > 1:
        train_rows, val_rows = _validation_rows(train_rows, share, seed)
        validation = (train_images, val_rows) if len(val_rows) else None
    val_split = None if validation is None else ImageSplit("validation", class_names, *validation, where)
    return DataSource(kind, where, class_names,
                      ImageSplit("train", class_names, train_images, train_rows, where),
                      ImageSplit("test", class_names, test_images, test_rows, where), val_split)


def _class_folders(folder: Path) -> tuple[str, ...]:
    """Sorted subfolder names (Keras labels classes alphabetically); fewer than two is an error."""
    names = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    if not names:
        loose = sum(1 for p in folder.iterdir() if p.is_file())
        raise DataError(f"{folder} has no class subfolders (it holds {loose} file(s) directly).", FOLDER_FIX)
    if len(names) < 2:
        raise DataError(f"{folder} has only one class subfolder ({names[0]}); a classifier needs two or more.",
                        FOLDER_FIX)
    return names


def _file_split(folder: Path, class_names) -> tuple[FileImages, np.ndarray]:
    paths, labels = list_class_images(folder, class_names, FOLDER_FIX)
    return FileImages(tuple(paths), labels), np.arange(len(paths))


def _open_split_folders(root: Path, present: set[str], seed: int, share: float) -> DataSource:
    """A folder with train/ and test/ and/or validation/ split folders."""
    if "train" not in present or present == {"train"}:
        raise DataError(f"{root} has split folder(s) {', '.join(sorted(present))} but needs train/ and test/ "
                        "(or validation/).",
                        "add the missing split folder, or point --data at a folder of class subfolders to split "
                        "it 80/20.")
    class_names = _class_folders(root / "train")
    test_dir = root / ("test" if "test" in present else "validation")
    for other in {test_dir, root / "validation"} & {root / name for name in present}:
        extra = sorted(set(_class_folders(other)) - set(class_names))
        if extra:
            raise DataError(f"{other} has class folder(s) {', '.join(extra)} that {root / 'train'} lacks.",
                            "give every split the same class subfolders.")
    train_images, train_rows = _file_split(root / "train", class_names)
    test_images, test_rows = _file_split(test_dir, class_names)
    validation = None
    if test_dir.name == "test" and "validation" in present:
        validation = _file_split(root / "validation", class_names)
    return _source("folder", root, class_names, train_images, train_rows, test_images, test_rows,
                   seed, share, validation)


def _open_folder(root: Path, seed: int, share: float) -> DataSource:
    """A folder of class subfolders, with or without split folders."""
    present = {p.name for p in root.iterdir() if p.is_dir()} & set(SPLIT_FOLDERS)
    if present:
        return _open_split_folders(root, present, seed, share)
    class_names = _class_folders(root)
    images, _ = _file_split(root, class_names)
    train_rows, test_rows = _test_rows(images.labels, TEST_SHARE, seed, str(root))
    return _source("folder", root, class_names, images, train_rows, images, test_rows, seed, share)


def _open_npz(path: Path, seed: int, share: float) -> DataSource:
    x, y, class_names = open_npz(path)
    images = ArrayImages(x, y)
    train_rows, test_rows = _test_rows(y, TEST_SHARE, seed, str(path))
    return _source("npz", path, class_names, images, train_rows, images, test_rows, seed, share)


def _open_shipped(name: str, data_dir, seed: int, share: float) -> DataSource:
    """Fashion-MNIST (IDX train/test) or Cats vs Dogs (train/ is train, validation/ is the test set)."""
    if name == "fashion_mnist":
        folder, arrays = read_fashion_mnist(data_dir)
        train, test = ArrayImages(arrays["x_train"], arrays["y_train"]), ArrayImages(arrays["x_test"], arrays["y_test"])
        return _source("shipped", folder, FASHION_CLASSES, train, np.arange(len(train)), test,
                       np.arange(len(test)), seed, share)
    root, shipped = find_cats_vs_dogs(data_dir)
    train, test = (FileImages(tuple(p), y) for p, y in
                   (catsdogs_files(root / split, root, shipped) for split in ("train", "validation")))
    return _source("shipped", root, CATSDOGS_CLASSES, train, np.arange(len(train)), test, np.arange(len(test)),
                   seed, share)


def open_data(spec, data_dir=None, seed: int = SPLIT_SEED, validation_share: float = VALIDATION_SHARE) -> DataSource:
    """Open labelled images lazily: a shipped dataset's name, a folder of class subfolders, or an ``.npz``.

    ``data_dir`` locates the shipped datasets only. ``seed`` fixes every split drawn here;
    ``validation_share`` of the training images becomes the validation split when the data has
    no ``validation/`` folder (0 for none). Lists and checks only: no image is decoded.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InferBenchError(f"The split seed must be a whole number >= 0; got {seed!r}.", "pass e.g. 42.")
    if isinstance(validation_share, bool) or not isinstance(validation_share, (int, float)) \
            or not 0 <= validation_share < 1:
        raise InferBenchError(f"validation_share must be a number in [0, 1); got {validation_share!r}.",
                              "pass e.g. 0.2 (or 0 for no validation split).")
    if isinstance(spec, str) and spec in SHIPPED:
        return _open_shipped(spec, data_dir, int(seed), float(validation_share))
    if not isinstance(spec, (str, os.PathLike)) or not str(spec):
        raise DataError(f"--data {spec!r} is neither a dataset name nor a path.", DATA_FIX)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _open_folder(path, int(seed), float(validation_share))
    if path.is_file() and path.suffix.lower() == ".npz":
        return _open_npz(path, int(seed), float(validation_share))
    if path.exists():
        raise DataError(f"--data {path} is a file but not an .npz file.", DATA_FIX)
    raise DataError(f"--data {spec} points at nothing: there is no such file or folder.", DATA_FIX)

