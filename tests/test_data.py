import shutil

import numpy as np
import pytest

from infer_bench import data
from infer_bench.data import shipped
from infer_bench.errors import DataError


def test_fashion_mnist_preprocessing_and_split(data_root):
    ds = data.load_fashion_mnist(data_root)
    assert ds.x_train.shape == (48000, 28, 28, 1) and ds.x_val.shape == (12000, 28, 28, 1)
    assert ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    # The split is seeded: the same rows land in validation every time.
    again = data.load_fashion_mnist(data_root)
    assert np.array_equal(ds.y_val, again.y_val)


def test_search_order_is_env_then_shared_without_data_dir(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("INFER_BENCH_DATA", str(tmp_path / "env"))
    labels = [label for label, _ in data.candidate_roots()]
    assert labels[0] == "$INFER_BENCH_DATA" and "shared" in labels


def test_explicit_data_dir_is_the_only_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("INFER_BENCH_DATA", str(tmp_path / "env"))
    assert data.candidate_roots(tmp_path / "given") == [("--data-dir", tmp_path / "given")]


def test_env_folder_is_used_when_no_data_dir_is_given(data_root, tmp_path, monkeypatch):
    (tmp_path / "fashion-mnist").symlink_to(data_root / "fashion-mnist")
    monkeypatch.setenv("INFER_BENCH_DATA", str(tmp_path))
    assert data.find_fashion_mnist(download=False) == (tmp_path / "fashion-mnist", True)


@pytest.mark.parametrize("find, missing", [
    (data.find_fashion_mnist, "t10k-labels-idx1-ubyte.gz"),
    (data.find_cats_vs_dogs, "validation/dogs/"),
])
def test_explicit_data_dir_without_the_data_is_an_error_not_a_fallback(find, missing, data_root, tmp_path):
    # The shipped data exists (data_root), yet an explicit folder that lacks the files must not be replaced by it.
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (tmp_path / "cats-vs-dogs" / "train" / "cats").mkdir(parents=True)
    with pytest.raises(DataError) as err:
        find(tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path) in message and missing in message and "--data-dir" in message
    assert str(data_root) not in message


def test_missing_data_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "_repo_shared_candidates", lambda: [tmp_path / "shared"])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("INFER_BENCH_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as err:
        data.find_fashion_mnist(download=False)
    message = str(err.value)
    assert all(str(tmp_path / p) in message for p in ("env", "shared", "keras")) and "--data-dir" in message


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


def test_open_data_fashion_mnist_keeps_the_report_split(data_root):
    # The streamed source holds out the same validation images as the array loader, in file order.
    source = data.open_data("fashion_mnist", data_root)
    ds = data.load_fashion_mnist(data_root)
    assert (len(source.train), len(source.validation), len(source.test)) == (48000, 12000, 10000)
    assert source.validation.raw_shape() == (28, 28, 1)
    x, y = next(source.validation.batches(data.Preprocess(28, 28, 1), 12000))
    order = np.lexsort(ds.x_val.reshape(12000, -1).T)
    mine = np.lexsort(x.reshape(12000, -1).T)
    assert np.array_equal(x[mine], ds.x_val[order]) and np.array_equal(y[mine], ds.y_val[order])
    x_test, y_test = next(source.test.batches(data.Preprocess(28, 28, 1), 100))
    assert np.array_equal(x_test, ds.x_test[:100]) and np.array_equal(y_test, ds.y_test[:100])
