"""An ``ImageSplit`` as a ``tf.data`` pipeline of batches: what training reads, a batch at a time.

Only row numbers live in the pipeline; each batch's pixels are read when the batch is
made (``ImageSplit``'s own reader: image files decoded one at a time, array rows paged
in from a memory map), so training holds the batches in flight, never the split. The
same reader serves checks and calibration, so training sees exactly the pixels they do.

Decoding every epoch again costs little: a 500x375 Cats vs Dogs JPEG decodes and resizes
to 224x224 in about 1 ms on this project's 2-core machine, against the ~30 ms per image
an AlexNet training step takes there.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import numpy as np

from .preprocess import Preprocess
from .splits import ImageSplit

PREFETCH_BATCHES = 2  # batches prepared ahead of the consumer (the training step)


def split_batches(split: ImageSplit, preprocess: Preprocess, batch_size: int, *, shuffle_seed: int | None = None,
                  augment: Callable | None = None, prefetch: int = PREFETCH_BATCHES):
    """A ``tf.data.Dataset`` of (x float32 (n, H, W, C), y int64 (n,)) batches of ``split``.

    ``shuffle_seed``: every row once per pass, in a seeded order drawn again each pass
    (as ``model.fit`` wants); None keeps the split's order. ``augment(x, y) -> (x, y)``
    is mapped over the batches. Unreadable files are skipped with a warning naming them
    (``ImageSplit``'s reader), so a batch may be short; an empty one is dropped.

    tf.data's autotuning is off. Its background thread sleeps in periods that double up
    to 60 s, and destroying the iterator at the end of ``model.fit`` waited for the
    current sleep to end: fit returned 33-50 s after the last epoch in 5 of 6 full
    alexnet_fashion runs (a native stack taken in that wait shows
    ``~RootDataset::Iterator`` joining ``Model::OptimizeLoop``). Nothing here needs tuning.
    """
    import tensorflow as tf

    rows = tf.data.Dataset.from_tensor_slices(np.asarray(split.rows, dtype=np.int64))
    if shuffle_seed is not None:
        rows = rows.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)

    def read(batch_rows: np.ndarray):
        x, kept = split.images.read(batch_rows, preprocess)
        return x, split.images.labels[batch_rows][kept].astype(np.int64)

    def read_batch(batch_rows):
        x, y = tf.numpy_function(read, [batch_rows], (tf.float32, tf.int64), stateful=False)
        x.set_shape((None, *preprocess.shape))
        y.set_shape((None,))
        return x, y

    def not_empty(x, y):
        return tf.shape(y)[0] > 0

    ds = rows.batch(batch_size).map(read_batch).filter(not_empty)
    if augment is not None:
        ds = ds.map(augment)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(prefetch).with_options(options)


@contextlib.contextmanager
def first_pass_length_quiet():
    """Silence Keras' "Your input ran out of data" at the end of a streamed split's first pass.

    ``split_batches`` has no length Keras can read in advance (a batch of unreadable files is
    dropped), so Keras counts the first pass and warns when it ends, as if the data had run
    short. It had not: every row was read once, as asked. Wrap ``fit``/``evaluate`` in this.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        yield
