"""Labelled images: the shipped datasets, user folders and ``.npz`` files, read lazily and preprocessed as declared.

``open_data`` gives a ``DataSource`` whose splits stream batches (``ImageSplit.batches``)
through a ``Preprocess``; the array loaders of the report's datasets (``load_dataset``,
``load_test_set``) are kept for the code that still uses them.
"""

from .files import IMAGE_SUFFIXES, decode_image_file, list_class_images, list_images, read_image_files
from .npz import open_npz
from .preprocess import SCALES, Preprocess
from .shipped import (CATSDOGS_CLASSES, CATSDOGS_SIZE, CATSDOGS_URL, DATASET_FOLDERS, FASHION_CLASSES, FASHION_FILES,
                      FASHION_URL, LOADERS, SPLIT_SEED, VALIDATION_SHARE, Dataset, candidate_roots, catsdogs_files,
                      decode_images, find_cats_vs_dogs, find_fashion_mnist, load_cats_vs_dogs, load_dataset,
                      load_fashion_mnist, load_test_set, read_fashion_mnist, read_sha256sums, shipped_preprocess,
                      verify_checksums)
from .sources import KINDS, SHIPPED, TEST_SHARE, DataSource, open_data
from .splits import SPLITS, ArrayImages, FileImages, ImageSplit

__all__ = [
    "ArrayImages", "CATSDOGS_CLASSES", "CATSDOGS_SIZE", "CATSDOGS_URL", "DATASET_FOLDERS", "DataSource", "Dataset",
    "FASHION_CLASSES", "FASHION_FILES", "FASHION_URL", "FileImages", "IMAGE_SUFFIXES", "ImageSplit", "KINDS",
    "LOADERS", "Preprocess", "SCALES", "SHIPPED", "SPLITS", "SPLIT_SEED", "TEST_SHARE", "VALIDATION_SHARE",
    "candidate_roots", "catsdogs_files", "decode_image_file", "decode_images", "find_cats_vs_dogs",
    "find_fashion_mnist", "list_class_images", "list_images", "load_cats_vs_dogs", "load_dataset",
    "load_fashion_mnist", "load_test_set", "open_data", "open_npz", "read_fashion_mnist", "read_image_files",
    "read_sha256sums", "shipped_preprocess", "verify_checksums",
]
