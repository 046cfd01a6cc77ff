import shutil

import numpy as np
import pytest

from infer_bench import data
from infer_bench.errors import DataError


def test_fashion_mnist_preprocessing_and_split(data_root):
    ds = data.load_fashion_mnist(data_root)
    assert ds.x_train.shape == (48000, 28, 28, 1) and ds.x_val.shape == (12000, 28, 28, 1)
    assert ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    # The split is seeded: the same rows land in validation every time.
    again = data.load_fashion_mnist(data_root)
    assert np.array_equal(ds.y_val, again.y_val)


def test_search_order_prefers_data_dir_then_env(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("INFER_BENCH_DATA", str(tmp_path / "env"))
    labels = [label for label, _ in data.candidate_roots(tmp_path / "given")]
    assert labels[:2] == ["--data-dir", "$INFER_BENCH_DATA"]
    assert "shared" in labels


def test_missing_data_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_repo_shared_candidates", lambda: [])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("INFER_BENCH_DATA", raising=False)
    with pytest.raises(DataError) as err:
        data.find_fashion_mnist(tmp_path / "nowhere", download=False)
    assert str(tmp_path / "nowhere") in str(err.value) and "--data-dir" in str(err.value)


def test_checksum_mismatch_is_refused(data_root, tmp_path):
    folder = tmp_path / "fashion-mnist"
    shutil.copytree(data_root / "fashion-mnist", folder)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    target.chmod(0o644)
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="checksum"):
        data.load_fashion_mnist(tmp_path)


def test_cats_vs_dogs_subset_and_bad_images(data_root, tmp_path):
    root = tmp_path / "cats-vs-dogs"
    for split in ("train", "validation"):
        for cls in ("cats", "dogs"):
            (root / split / cls).mkdir(parents=True)
            for f in sorted((data_root / "cats-vs-dogs" / split / cls).iterdir())[:3]:
                shutil.copy(f, root / split / cls / f.name)
    (root / "validation" / "cats" / "notes.txt").write_text("not an image")
    (root / "validation" / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.warns(UserWarning) as warned:
        x, y = data.load_test_set("cats_vs_dogs", tmp_path)
    messages = " ".join(str(w.message) for w in warned)
    assert "notes.txt" in messages and "broken.jpg" in messages
    assert x.shape == (6, 224, 224, 3) and x.dtype == np.float32 and x.max() <= 1.0
    assert y.tolist() == [0, 0, 0, 1, 1, 1]


def test_empty_class_folder_is_refused(tmp_path):
    for split in ("train", "validation"):
        for cls in ("cats", "dogs"):
            (tmp_path / "cats-vs-dogs" / split / cls).mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        data.load_test_set("cats_vs_dogs", tmp_path)
