import gzip
import shutil

import numpy as np
import pytest

from infer_bench.errors import DataError
from infer_bench.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx


def test_reads_the_real_files(data_root):
    folder = data_root / "fashion-mnist"
    x = read_idx(folder / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)
    y = read_idx(folder / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,)
    assert np.bincount(y).tolist() == [1000] * 10  # the README: 1000 test images per class


def test_rejects_a_truncated_copy(data_root, tmp_path):
    raw = gzip.decompress((data_root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    bad = tmp_path / "labels.gz"
    bad.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DataError, match="truncated"):
        read_idx(bad, LABELS_MAGIC)


def test_rejects_a_truncated_gzip_stream(data_root, tmp_path):
    src = (data_root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    bad = tmp_path / "labels.gz"
    bad.write_bytes(src[: len(src) // 2])
    with pytest.raises(DataError, match="gzip"):
        read_idx(bad)


def test_rejects_swapped_files(data_root, tmp_path):
    shutil.copy(data_root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", tmp_path / "x.gz")
    with pytest.raises(DataError, match="magic number 2049; expected 2051"):
        read_idx(tmp_path / "x.gz", IMAGES_MAGIC)


def test_rejects_a_foreign_file(tmp_path):
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not an idx file at all")
    with pytest.raises(DataError, match="magic number"):
        read_idx(tmp_path / "junk")
