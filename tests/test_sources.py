"""Labelled images as lazy streams: folders, .npz files and the shipped datasets, with a declared preprocessing.

Every image here is real: Fashion-MNIST test images written as 32x32 PNG files into class
folders, and Cats vs Dogs JPEGs copied from the shipped data.
"""

import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from infer_bench.data import DataSource, ImageSplit, Preprocess, files, open_data
from infer_bench.errors import DataError, InferBenchError
from infer_bench.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

CLASSES = ("bag", "sneaker", "trouser")  # Fashion-MNIST labels 8, 7, 1: alphabetical, as Keras labels folders
FASHION_LABELS = (8, 7, 1)
PER_CLASS = 10


@pytest.fixture(scope="module")
def fashion(data_root):
    """The first ``PER_CLASS`` test images of each of three Fashion-MNIST classes, uint8 28x28."""
    x = read_idx(data_root / "fashion-mnist" / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)
    y = read_idx(data_root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)
    return {name: x[y == label][:PER_CLASS] for name, label in zip(CLASSES, FASHION_LABELS)}


def _write_pngs(folder, fashion, size=32):
    """Each class's images as grayscale PNGs of size x size (resized with Pillow) under folder/<class>/."""
    for name, images in fashion.items():
        (folder / name).mkdir(parents=True)
        for i, img in enumerate(images):
            Image.fromarray(img).resize((size, size), Image.BILINEAR).save(folder / name / f"{i:03d}.png")
    return folder


@pytest.fixture
def png_folder(tmp_path, fashion):
    return _write_pngs(tmp_path / "pngs", fashion)


@pytest.fixture
def split_folder(tmp_path, fashion):
    root = tmp_path / "split"
    _write_pngs(root / "train", fashion)
    _write_pngs(root / "test", {k: v[:3] for k, v in fashion.items()})
    return root


def _catsdogs_folder(root, data_root, per_class=3):
    for split in ("train", "validation"):
        for cls in ("cats", "dogs"):
            (root / split / cls).mkdir(parents=True)
            for f in sorted((data_root / "cats-vs-dogs" / split / cls).iterdir())[:per_class]:
                shutil.copy(f, root / split / cls / f.name)
    return root


class DecodeSpy:
    """Counts calls of the file decoder (the real one does the work)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        self.real = files.decode_image_file
        monkeypatch.setattr(files, "decode_image_file", self)

    def __call__(self, path, channels=0):
        self.calls += 1
        return self.real(path, channels)


# --- Preprocess -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, expected", [
    ("1/255", [0.0, 0.2, 1.0, 0.4]),
    ("none", [0.0, 51.0, 255.0, 102.0]),
    ("-1,1", [-1.0, -0.6, 1.0, -0.2]),
])
def test_three_scales_by_hand(scale, expected):
    pixels = np.array([[[0, 51], [255, 102]]], dtype=np.uint8)  # (1, 2, 2) grayscale
    out = Preprocess(2, 2, 1, scale)(pixels)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2, 1) and out.flags["C_CONTIGUOUS"]
    assert np.allclose(out.ravel(), expected, atol=1e-6)


def test_gray_to_rgb_repeats_and_rgb_to_gray_uses_tensorflows_weights():
    import tensorflow as tf

    gray = np.array([[[[10], [200]]]], dtype=np.uint8)  # (1, 1, 2, 1)
    rgb = Preprocess(1, 2, 3, "none")(gray)
    assert rgb.shape == (1, 1, 2, 3) and rgb[0, 0].tolist() == [[10, 10, 10], [200, 200, 200]]
    colour = np.array([[[[255, 0, 0], [10, 20, 30]]]], dtype=np.uint8)
    out = Preprocess(1, 2, 1, "none")(colour)
    # 0.2989 * 255 and 0.2989 * 10 + 0.5870 * 20 + 0.1140 * 30, as tf.image.rgb_to_grayscale weighs them
    assert np.allclose(out.ravel(), [76.2195, 18.149], atol=1e-4)
    assert np.allclose(out, tf.image.rgb_to_grayscale(colour.astype(np.float32)).numpy(), atol=1e-4)


def test_resize_is_tensorflows_bilinear_and_only_when_the_size_differs(fashion):
    import tensorflow as tf

    x = fashion["bag"][:4]
    same = Preprocess(28, 28, 1)(x)
    assert np.array_equal(same[..., 0], x / np.float32(255))
    up = Preprocess(40, 36, 1, "none")(x)
    assert np.array_equal(up, tf.image.resize(x[..., None].astype(np.float32), (40, 36), method="bilinear").numpy())


def test_preprocess_is_validated_and_round_trips():
    p = Preprocess(96, 96, 3)
    assert Preprocess.from_dict(p.to_dict()) == p
    assert p.describe() == "resized to 96x96 (bilinear), RGB, pixels / 255"
    for bad in (dict(height=0, width=5, channels=3), dict(height=5, width=5, channels=4),
                dict(height=5, width=5, channels=1, scale="0,1"), dict(height=True, width=5, channels=1)):
        with pytest.raises(DataError):
            Preprocess(**bad)
    with pytest.raises(DataError, match="missing fields"):
        Preprocess.from_dict({"height": 5, "width": 5})
    with pytest.raises(DataError, match="channels cannot|C of 1"):
        p(np.zeros((2, 8, 8, 4), np.uint8))
    with pytest.raises(DataError, match="dtype"):
        p(np.zeros((2, 8, 8, 3), np.int32))


# --- folders ----------------------------------------------------------------------------------------------------

def test_folder_without_splits_matches_keras_loader_and_splits_80_20(png_folder):
    import keras

    source = open_data(png_folder, validation_share=0)
    assert source.kind == "folder" and source.class_names == CLASSES and source.validation is None
    assert (len(source.train), len(source.test)) == (24, 6)  # 2 of each class's 10 held out
    assert sorted(np.bincount(source.test.labels()).tolist()) == [2, 2, 2]
    assert source.train.raw_shape() is None
    # Every image, in file order, as keras.utils.image_dataset_from_directory gives it (gray PNG -> RGB).
    everything = source.train.images.read(np.arange(30), Preprocess(28, 28, 3, "none"))[0]
    ks = keras.utils.image_dataset_from_directory(png_folder, image_size=(28, 28), color_mode="rgb",
                                                  shuffle=False, batch_size=30, verbose=False)
    kx, ky = next(iter(ks))
    assert np.allclose(everything, kx.numpy(), atol=1e-4)
    assert np.array_equal(source.train.images.labels, ky.numpy())


def test_folder_with_split_folders(split_folder):
    source = open_data(split_folder)
    assert (len(source.train), len(source.validation), len(source.test)) == (24, 6, 9)
    assert source.to_dict() == {"kind": "folder", "location": str(split_folder), "class_names": list(CLASSES),
                                "splits": {"train": 24, "validation": 6, "test": 9}}
    assert "3 classes (bag, sneaker, trouser); 24 train, 6 validation, 9 test images" in source.describe()
    x, y = next(source.test.batches(Preprocess(32, 32, 1), 9))
    assert x.shape == (9, 32, 32, 1) and y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # validation/ beside test/ is the validation split; alone (no test/) it is the test split.
    shutil.copytree(split_folder / "test", split_folder / "validation")
    both = open_data(split_folder)
    assert (len(both.train), len(both.validation), len(both.test)) == (30, 9, 9)
    shutil.rmtree(split_folder / "test")
    assert len(open_data(split_folder).test) == 9


def test_cats_vs_dogs_jpeg_folder_and_shipped_name(tmp_path, data_root):
    root = _catsdogs_folder(tmp_path / "cats-vs-dogs", data_root)
    source = open_data(root, validation_share=0)
    # train/ is train and validation/ (there is no test/) the test split
    assert source.class_names == ("cats", "dogs") and (len(source.train), len(source.test)) == (6, 6)
    x, y = source.test.sample(10, Preprocess(64, 48, 3))
    assert x.shape == (6, 64, 48, 3) and 0 <= x.min() and x.max() <= 1 and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    # RGB JPEGs to a grayscale model: as Keras' own grayscale loading (libjpeg's luma).
    import keras

    gray = next(source.test.batches(Preprocess(64, 48, 1, "none"), 6))[0]
    kx = next(iter(keras.utils.image_dataset_from_directory(root / "validation", image_size=(64, 48), shuffle=False,
                                                            color_mode="grayscale", verbose=False)))[0].numpy()
    assert gray.shape == kx.shape == (6, 64, 48, 1) and np.allclose(gray, kx, atol=1e-3)
    shipped = open_data("cats_vs_dogs", tmp_path)  # the same folder found by name, as --data-dir
    assert shipped.kind == "shipped" and (len(shipped.train), len(shipped.validation), len(shipped.test)) == (5, 1, 6)


def test_alpha_gif_and_bmp_images_adapt_to_either_channel_count(tmp_path, data_root):
    jpeg = sorted((data_root / "cats-vs-dogs" / "train" / "cats").iterdir())[0]
    rgb = np.asarray(Image.open(jpeg).convert("RGB").resize((20, 16)))
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(root / "a" / "1.png")  # RGBA
    Image.fromarray(rgb).save(root / "a" / "2.bmp")
    Image.fromarray(rgb).save(root / "b" / "1.gif")  # palette: compare shapes, not exact values
    Image.fromarray(rgb[..., 0]).convert("LA").save(root / "b" / "2.png")  # gray + alpha
    images = open_data(root).train.images
    for channels in (1, 3):
        x, kept = images.read(np.arange(4), Preprocess(16, 20, channels, "none"))
        assert kept == [0, 1, 2, 3] and x.shape == (4, 16, 20, channels)
        assert np.allclose(x[1], Preprocess(16, 20, channels, "none")(rgb[None])[0], atol=1e-3)  # BMP
        if channels == 3:
            assert np.array_equal(x[0], rgb.astype(np.float32))  # alpha dropped, colours kept
            assert np.array_equal(x[3], np.repeat(rgb[..., :1], 3, axis=-1).astype(np.float32))


def test_npz_is_memory_mapped(tmp_path, fashion):
    x = np.concatenate(list(fashion.values()))
    y = np.repeat(np.arange(3), PER_CLASS)
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=np.array(CLASSES))
    source = open_data(tmp_path / "d.npz", validation_share=0)
    assert isinstance(source.train.images.pixels, np.memmap)
    assert source.kind == "npz" and source.class_names == CLASSES and source.test.raw_shape() == (28, 28, 1)
    got_x, got_y = next(source.train.batches(Preprocess(28, 28, 1), 100))
    rows = source.train.rows
    assert np.array_equal(got_x[..., 0], x[rows] / np.float32(255)) and np.array_equal(got_y, y[rows])
    np.savez(tmp_path / "rgb.npz", x=np.repeat(x[..., None], 3, axis=-1).astype(np.float32), y=y)
    rgb = open_data(tmp_path / "rgb.npz")
    assert rgb.class_names == ("0", "1", "2") and rgb.train.raw_shape() == (28, 28, 3)


def test_shipped_fashion_mnist_has_the_report_split(data_root):
    source = open_data("fashion_mnist", data_root)
    assert source.class_names[0] == "T-shirt/top" and source.to_dict()["splits"] == {
        "train": 48000, "validation": 12000, "test": 10000}


# --- streaming --------------------------------------------------------------------------------------------------

def test_batches_decode_one_batch_at_a_time(png_folder, monkeypatch):
    source = open_data(png_folder, validation_share=0)
    spy = DecodeSpy(monkeypatch)
    stream = source.train.batches(Preprocess(32, 32, 1), 4, seed=3)
    assert spy.calls == 0
    x, y = next(stream)
    assert spy.calls == 4 and x.shape == (4, 32, 32, 1)
    next(stream)
    assert spy.calls == 8
    rest = list(stream)
    assert spy.calls == 24 and sum(len(b[1]) for b in rest) == 16
    assert [len(b[1]) for b in source.train.batches(Preprocess(32, 32, 1), 5, limit=7)] == [5, 2]


def test_seeded_sample_is_repeatable_and_decodes_only_its_images(png_folder, monkeypatch):
    source = open_data(png_folder, validation_share=0)
    spy = DecodeSpy(monkeypatch)
    a = source.train.sample(5, Preprocess(32, 32, 1), seed=0)
    assert spy.calls == 5
    b = source.train.sample(5, Preprocess(32, 32, 1), seed=0)
    c = source.train.sample(5, Preprocess(32, 32, 1), seed=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    shuffled = [y for _, y in source.train.batches(Preprocess(32, 32, 1), 24, seed=7)][0]
    assert sorted(shuffled.tolist()) == sorted(source.train.labels().tolist())
    assert shuffled.tolist() != source.train.labels().tolist()


def test_open_data_on_a_large_folder_decodes_nothing(tmp_path, png_folder, monkeypatch):
    big = tmp_path / "big"
    one = png_folder / "bag" / "000.png"
    for name in CLASSES:
        (big / name).mkdir(parents=True)
        for i in range(1000):
            os.link(one, big / name / f"{i:04d}.png")
    spy = DecodeSpy(monkeypatch)
    source = open_data(big)
    assert spy.calls == 0
    assert sum(len(s) for s in source.splits().values()) == 3000


# --- bad input: each names the problem and the fix ----------------------------------------------------------------

def _refused(spec, match, **kwargs):
    with pytest.raises(DataError, match=match) as err:
        open_data(spec, **kwargs)
    assert "Fix:" in str(err.value)
    return str(err.value)


def test_data_pointing_at_nothing(tmp_path):
    message = _refused(tmp_path / "nowhere", "points at nothing")
    assert str(tmp_path / "nowhere") in message
    (tmp_path / "notes.txt").write_text("x")
    _refused(tmp_path / "notes.txt", "not an .npz")


def test_folder_problems(tmp_path, png_folder):
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(png_folder / "bag" / "000.png", flat)
    _refused(flat, "no class subfolders")
    (png_folder / "coat").mkdir()
    (png_folder / "coat" / "readme.txt").write_text("no images here")
    with pytest.warns(UserWarning, match="readme.txt"):
        message = _refused(png_folder, "holds no images")
    assert str(png_folder / "coat") in message
    only_train = tmp_path / "only_train"
    _write_pngs(only_train / "train", {"a": np.zeros((1, 28, 28), np.uint8), "b": np.zeros((1, 28, 28), np.uint8)})
    _refused(only_train, "needs train/ and test/")


def test_unreadable_images_are_skipped_by_name_and_none_left_is_an_error(split_folder):
    for png in (split_folder / "test").rglob("*.png"):
        png.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    source = open_data(split_folder)  # listing only: nothing is decoded yet
    with pytest.warns(UserWarning) as warned:
        with pytest.raises(DataError, match="None of the 9 images"):
            list(source.test.batches(Preprocess(32, 32, 1), 4))
    messages = [str(w.message) for w in warned]
    assert len(messages) == 9 and all(m.startswith("skipping unreadable image") for m in messages)
    assert "Invalid PNG" in messages[0] and str(split_folder / "test" / "bag" / "000.png") in messages[0]
    good = next(iter((split_folder / "train" / "bag").iterdir()))
    shutil.copy(good, split_folder / "test" / "bag" / "000.png")
    with pytest.warns(UserWarning) as warned:
        x, y = next(open_data(split_folder).test.batches(Preprocess(32, 32, 1), 9))
    assert len(warned) == 8
    assert len(x) == 1 and y.tolist() == [0]


@pytest.mark.parametrize("arrays, match", [
    (dict(x=np.zeros((4, 8, 8), np.uint8)), "no array named y"),
    (dict(y=np.zeros(4, np.int64)), "no array named x"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.zeros(3, np.int64)), "4 images but y holds 3"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, -1, 1])), "outside 0..1"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 2, 1]), class_names=np.array(["a", "b"])),
     "outside 0..1"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([0.0, 1.0, 0.0, 1.0])), "integer"),
    (dict(x=np.zeros((4, 8), np.uint8), y=np.zeros(4, np.int64)), r"shape \(4, 8\)"),
    (dict(x=np.zeros((4, 8, 8, 4), np.uint8), y=np.zeros(4, np.int64)), "4 channels cannot be adapted"),
    (dict(x=np.zeros((4, 8, 8, 2), np.uint8), y=np.zeros(4, np.int64)), "2 channels cannot be adapted"),
])
def test_bad_npz_files(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    _refused(tmp_path / "bad.npz", match)


def test_compressed_npz_is_refused_with_the_fix(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 0, 1]))
    _refused(tmp_path / "c.npz", "compressed")
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:  # the file itself is a valid npz: only the memory map fails
        assert {"x.npy", "y.npy"} == set(zf.namelist())


def test_splits_and_sources_are_validated(png_folder):
    source = open_data(png_folder)
    with pytest.raises(InferBenchError, match="batch_size"):
        source.train.batches(Preprocess(32, 32, 1), 0)
    with pytest.raises(InferBenchError, match="split name"):
        ImageSplit("holdout", CLASSES, source.train.images, source.train.rows)
    with pytest.raises(DataError, match="holds no images"):
        ImageSplit("train", CLASSES, source.train.images, [])
    with pytest.raises(InferBenchError, match="named 'test'"):
        DataSource("folder", "x", CLASSES, source.test, source.test)
    with pytest.raises(InferBenchError, match="validation_share"):
        open_data(png_folder, validation_share=1.0)
