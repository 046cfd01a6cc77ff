"""Train one model with a variant of its training recipe and print test accuracy per epoch.

Usage: python scripts/recipe_trial.py alexnet_fashion [--optimizer sgd|adam] [--learning-rate LR] \
           [--epochs N] [--batch-size B] [--warmup-epochs W] [--weight-decay D] \
           [--label-smoothing S] [--dropout P] [--flips] [--cutout PIXELS] [--init NAME] \
           [--ema MOMENTUM] [--rows N]

This is how the rows of docs/training.md's "How alexnet_fashion reaches 91%" table are
reproduced. Everything not named on the command line is the model's default recipe
(``models.MODELS``); data, split and seed are those of ``infer-bench train-export``. Nothing
is written to disk: the point is the per-epoch test accuracy, which train-export only
measures once, at the end. Softmax models only (label smoothing needs one-hot targets).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time

from infer_bench.models import MODELS
from infer_bench.train import (OPTIMIZERS, SEED, accuracy, fit_epochs, input_preprocess, make_optimizer,
                               smoothed_crossentropy, train_pipeline, validation_pipeline)
from infer_bench.train_export import training_data


def _flipped_half(x, y):
    """Mirror a random half of the batch left-right (Fashion-MNIST's classes survive a mirror)."""
    import tensorflow as tf

    flip = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], seed=SEED) < 0.5
    return tf.where(flip, tf.reverse(x, axis=[2]), x), y


def _cutout(size: int):
    """Zero one size x size square at a random place in a random half of the batch's images (Cutout)."""
    import tensorflow as tf

    def apply(x, y):
        n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        cy = tf.random.uniform([n, 1, 1, 1], 0, h, dtype=tf.int32, seed=SEED)
        cx = tf.random.uniform([n, 1, 1, 1], 0, w, dtype=tf.int32, seed=SEED + 1)
        rows = tf.reshape(tf.range(h), [1, -1, 1, 1])
        cols = tf.reshape(tf.range(w), [1, 1, -1, 1])
        top, left = cy - size // 2, cx - size // 2
        square = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
        chosen = tf.random.uniform([n, 1, 1, 1], seed=SEED + 2) < 0.5
        return tf.where(square & chosen, tf.zeros_like(x), x), y

    return apply


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=[n for n, s in MODELS.items() if not s.binary])
    parser.add_argument("--optimizer", choices=OPTIMIZERS)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--warmup-epochs", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--dropout", type=float, default=0.5, help="AlexNet dense-block dropout (default 0.5)")
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--flips", action="store_true", help="mirror a random half of each batch")
    parser.add_argument("--cutout", type=int, metavar="PIXELS",
                        help="zero a random PIXELS-wide square in a random half of each batch's images")
    parser.add_argument("--init", choices=("glorot_uniform", "he_normal", "he_uniform"),
                        help="re-draw every kernel from this initializer (default: the layers' own, glorot_uniform)")
    parser.add_argument("--ema", type=float, metavar="MOMENTUM",
                        help="keep an exponential moving average of the weights and end on it (e.g. 0.995)")
    parser.add_argument("--rows", type=int, help="train on a seeded N of the training rows only (a smoke run)")
    args = parser.parse_args()

    import keras

    recipe_fields = ("optimizer", "learning_rate", "epochs", "batch_size", "warmup_epochs", "weight_decay",
                     "label_smoothing")
    overrides = {k: getattr(args, k) for k in recipe_fields if getattr(args, k) is not None}
    spec = dataclasses.replace(MODELS[args.model], **overrides)
    data = training_data(spec.dataset)  # read a batch at a time, as train-export reads it
    if args.rows:
        data = data.subset({"train": args.rows})
    preprocess = input_preprocess(spec)

    keras.utils.set_random_seed(SEED)
    alexnet = args.model.startswith("alexnet")
    model = spec.build(dropout=args.dropout) if alexnet else spec.build()
    n_classes = model.output_shape[-1]
    if args.init:
        initializer = keras.initializers.get(args.init)
        for layer in model.layers:
            if getattr(layer, "kernel", None) is not None:
                layer.kernel.assign(initializer(layer.kernel.shape))

    steps = math.ceil(len(data.train) / spec.batch_size)
    optimizer = make_optimizer(spec, steps, spec.epochs)
    if args.ema:
        # Read by the optimizer when it builds its slots on the first step; fit's end then
        # overwrites the weights with their average (finalize_variable_values).
        optimizer.use_ema, optimizer.ema_momentum = True, args.ema
    # Always the one-hot loss (label smoothing 0 included), as the rows of docs/training.md's table were run.
    model.compile(optimizer=optimizer, loss=smoothed_crossentropy(n_classes, spec.label_smoothing),
                  metrics=["accuracy"])
    ds = train_pipeline(data.train, preprocess, spec.batch_size, augment=False)
    if args.flips:
        ds = ds.map(_flipped_half)
    if args.cutout:
        ds = ds.map(_cutout(args.cutout))
    variant = {k: getattr(spec, k) for k in recipe_fields}
    variant.update(flips=args.flips, cutout=args.cutout, init=args.init, ema=args.ema)
    if alexnet:
        variant["dropout"] = args.dropout
    print(f"{spec.name}: {variant} on {len(data.train)} rows", flush=True)

    start = time.perf_counter()

    class TestEachEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            dt = time.perf_counter() - self.t0
            test = accuracy(model, data.test, preprocess)
            print(f"epoch {epoch + 1}/{spec.epochs}: train acc {logs['accuracy']:.4f} "
                  f"val acc {logs['val_accuracy']:.4f} test acc {test:.4f} "
                  f"({dt:.0f} s; {time.perf_counter() - start:.0f} s in training)", flush=True)

    fit_epochs(model, spec, ds, validation_pipeline(data.validation, preprocess, spec), spec.epochs,
               [TestEachEpoch()])
    test = accuracy(model, data.test, preprocess)
    averaged = " (averaged weights)" if args.ema else ""
    print(f"final test accuracy {test:.2%}{averaged} after {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
