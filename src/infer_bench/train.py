"""Seeded training of one model on its real dataset, with history, stability figure and curves."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .data import DataSource, ImageSplit, Preprocess
from .data.stream import first_pass_length_quiet, split_batches
from .datacheck import check_training_data, explained_fit_errors
from .errors import InferBenchError, unknown_name
from .fsutil import atomic_path
from .models import ModelSpec

SEED = 42
STABILITY_EPOCHS = 3  # the stability figure looks at the spread of val accuracy over this many last epochs
QUICK_ROWS = 512  # train and test rows in --quick mode (a seeded random cut of each split)
QUICK_VALIDATION_ROWS = 128  # validation rows in --quick mode: one epoch, so one validation pass
QUICK_EPOCHS = 1
VALIDATION_BATCH = 256  # forward-only batches for the per-epoch validation pass


@dataclass
class TrainResult:
    """A trained model and what its training recorded."""

    model: object
    history: dict  # JSON-ready: per-epoch curves, test accuracy, stability, settings


OPTIMIZERS = ("adam", "sgd")

# Keras dtype policies training can run under ("auto": ``training_precision`` picks one).
TRAINING_PRECISIONS = ("auto", "float32", "mixed_bfloat16")


def training_precision(asked: str = "auto", cpu_flags: dict | None = None, gpus: int = 0) -> tuple[str, str]:
    """(the Keras dtype policy training runs under, why), for ``asked`` on this machine. Pure.

    ``cpu_flags``: ``environment.cpu_info()["flags"]`` (None: unknown); ``gpus``: GPUs
    TensorFlow trains on. "auto" takes mixed bf16 only where the CPU trains with AMX-BF16
    tiles and no GPU is in play: there oneDNN runs the bf16 convolutions and matrix
    multiplies on AMX (2026-12-02, Xeon with AMX: 1.6x the rows per second for
    alexnet_fashion, 3x for alexnet_catsdogs, docs/training.md). Without AMX, bf16 is
    emulated and was slower than float32 (docs/training.md), so "auto" stays in float32.
    Either way the weights are float32 and the saved model computes in float32.
    """
    if asked not in TRAINING_PRECISIONS:
        raise unknown_name("training precision", asked, TRAINING_PRECISIONS)
    flags = cpu_flags or {}
    if asked == "float32":
        return "float32", "asked for"
    if asked == "mixed_bfloat16":
        if flags.get("amx_bf16") or flags.get("avx512_bf16"):
            return "mixed_bfloat16", "asked for"
        return "mixed_bfloat16", ("asked for; this CPU has neither AMX-BF16 nor AVX512-BF16, so bf16 is emulated "
                                  "and likely slower than float32")
    if gpus:
        return "float32", "auto: a GPU trains (mixed bf16 is chosen only for CPUs with AMX-BF16)"
    if flags.get("amx_bf16"):
        return "mixed_bfloat16", "auto: this CPU has AMX-BF16, where bf16 convolutions and matmuls train faster"
    if cpu_flags is None:
        return "float32", "auto: the CPU's flags are unknown"
    return "float32", "auto: no AMX-BF16 on this CPU (bf16 would be emulated and slower)"


def learning_rate_schedule(spec: ModelSpec, steps_per_epoch: int, epochs: int):
    """Cosine decay of the learning rate to zero over the run, after an optional linear warm-up."""
    import keras

    total = max(1, steps_per_epoch * epochs)
    warmup = min(int(spec.warmup_epochs * steps_per_epoch), total - 1)
    if warmup <= 0:
        return keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps=total)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total - warmup,
                                                  warmup_target=spec.learning_rate, warmup_steps=warmup)


def make_optimizer(spec: ModelSpec, steps_per_epoch: int, epochs: int):
    """The optimizer ``spec`` names, on the learning-rate schedule above."""
    import keras

    schedule = learning_rate_schedule(spec, steps_per_epoch, epochs)
    weight_decay = spec.weight_decay or None
    if spec.optimizer == "adam":
        return keras.optimizers.Adam(schedule, weight_decay=weight_decay)
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise unknown_name("optimizer", spec.optimizer, OPTIMIZERS)


def smoothed_crossentropy(n_classes: int, label_smoothing: float):
    """Categorical cross-entropy on integer labels, with the one-hot targets smoothed.

    Keras 3's sparse cross-entropy has no label smoothing, so the labels are
    one-hot encoded here first: the target of the true class becomes
    ``1 - label_smoothing + label_smoothing / n_classes`` and every other class gets
    ``label_smoothing / n_classes``.
    """
    import keras

    def loss(y_true, y_pred):
        y_pred = keras.ops.cast(y_pred, "float32")  # bf16 under mixed precision: the loss in float32
        y_true = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, [-1]), "int32"), n_classes)
        return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=label_smoothing)

    loss.__name__ = f"crossentropy_label_smoothing_{label_smoothing:g}"
    return loss


def training_loss(spec: ModelSpec, n_classes: int):
    """The loss ``spec`` trains with: binary or sparse categorical cross-entropy, label-smoothed if asked."""
    if spec.binary:
        return "binary_crossentropy"
    if spec.label_smoothing:
        return smoothed_crossentropy(n_classes, spec.label_smoothing)
    return "sparse_categorical_crossentropy"


def compile_model(model, spec: ModelSpec, steps_per_epoch: int, epochs: int) -> None:
    """Compile with the spec's optimizer, loss, and a cosine decay of the learning rate to zero over the run.

    Why the decay: it is what makes the report's AlexNet on Fashion-MNIST, which
    "does not stabilize at all", settle over its last epochs (the reason and the
    figures are with its row in ``models.MODELS``); the history records the spread
    of the last epochs' validation accuracy to show it.
    """
    model.compile(optimizer=make_optimizer(spec, steps_per_epoch, epochs),
                  loss=training_loss(spec, model.output_shape[-1]), metrics=["accuracy"])


def input_preprocess(spec: ModelSpec) -> Preprocess:
    """How the report's models see their images: resized to their input, pixels / 255."""
    height, width, channels = spec.input_shape
    return Preprocess(height, width, channels, "1/255")


def augmentation(seed: int = SEED):
    """The training-time augmentation of the report's Cats vs Dogs AlexNet, as a (x, y) -> (x, y) batch map.

    It lives in the input pipeline, not the model, so the exported models stay exactly the report's layers.
    """
    import keras

    aug = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=seed),
                            keras.layers.RandomTranslation(0.1, 0.1, seed=seed),
                            keras.layers.RandomZoom(0.1, seed=seed)])

    def augment_batch(images, labels):  # a def, not a lambda: AutoGraph cannot read a lambda's source
        return aug(images, training=True), labels

    return augment_batch


def train_pipeline(split: ImageSplit, preprocess: Preprocess, batch_size: int, augment: bool, seed: int = SEED):
    """Seeded, reshuffled-each-epoch batches of ``split``, augmented if asked, read a batch at a time."""
    return split_batches(split, preprocess, batch_size, shuffle_seed=seed,
                         augment=augmentation(seed) if augment else None)


def validation_pipeline(split: ImageSplit, preprocess: Preprocess, spec: ModelSpec):
    """``split`` in order, in forward-only batches: larger than training's, fewer and better-filled kernel calls."""
    return split_batches(split, preprocess, max(spec.batch_size, VALIDATION_BATCH))


def fit_epochs(model, spec: ModelSpec, train_ds, val_ds, epochs: int, callbacks: list) -> None:
    """``model.fit`` on ``train_ds`` for ``epochs``, validating on ``val_ds`` (None: no validation) after each."""
    # The report's OptionalFromValue error and its input-shape mismatch are caught here, before
    # training, with a message that says what is wrong with the data (datacheck reads only the
    # dataset's element spec: the training order is untouched).
    train_ds = check_training_data(train_ds, model, f"{spec.name}'s training data")
    # shuffle=False: the tf.data pipeline already reshuffles every epoch (seeded).
    with explained_fit_errors(spec.name), first_pass_length_quiet():
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)


def accuracy(model, split: ImageSplit, preprocess: Preprocess, batch_size: int = VALIDATION_BATCH) -> float:
    """Share of ``split``'s rows the compiled model classifies correctly, read a batch at a time.

    Keras' own "accuracy" metric, the one the training curves show (sigmoid: the side of
    0.5; softmax: the top class), in one ``evaluate`` over the streamed split. Why not
    ``predict`` per batch: each call traces a new function (a retracing warning per
    model), and under MirroredStrategy ``predict_on_batch`` returned a row per replica.
    """
    with first_pass_length_quiet():
        return float(model.evaluate(split_batches(split, preprocess, batch_size), verbose=0,
                                    return_dict=True)["accuracy"])


def stability(val_accuracy: list[float], last: int = STABILITY_EPOCHS) -> dict:
    """Spread of validation accuracy over the last epochs: std and max-min, in points."""
    tail = np.asarray(val_accuracy[-last:], dtype=float) * 100
    return {"epochs": int(len(tail)), "std_pts": float(tail.std()), "range_pts": float(tail.max() - tail.min())}


# tf.distribute strategies train-export offers: "default" (one device) or "mirrored" (every local
# GPU, else every logical CPU device, one replica each). Multi-worker training with Keras 3 is not
# offered: Keras 3 does not support MultiWorkerMirroredStrategy (keras-team/keras#20585).
STRATEGIES = ("default", "mirrored")


def distribution_strategy(name: str):
    """The ``tf.distribute`` strategy called ``name`` (see ``STRATEGIES``)."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise unknown_name("strategy", name, STRATEGIES)
    if name == "default":
        return tf.distribute.get_strategy()
    # MirroredStrategy() alone takes the GPUs, or CPU:0 only; without a GPU every logical CPU device
    # (tf.config.set_logical_device_configuration) is a replica.
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


def is_writer(strategy) -> bool:
    """Whether this process writes the artifacts: always under one process (default, mirrored);
    under a multi-worker strategy only the chief (task 0), so workers never write the same files."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def float32_copy(model, spec: ModelSpec):
    """``model``'s weights in a fresh build of ``spec`` under the float32 policy, compiled for evaluation.

    A model built under mixed bf16 casts to bf16 inside every layer, and its exports would
    too; its weights are float32, so a float32 build holding them is the model that was
    trained, computing in float32 as its exports will.
    """
    copy = spec.build()
    copy.set_weights(model.get_weights())
    copy.compile(loss=training_loss(spec, copy.output_shape[-1]), metrics=["accuracy"])
    return copy


def train(spec: ModelSpec, data: DataSource, epochs: int | None = None,
          log: Callable[[str], None] = print, strategy: str = "default", seed: int = SEED,
          precision: str = "auto") -> TrainResult:
    """Train ``spec`` on ``data``'s train split (seeded) and evaluate on its held-out test split.

    The images are read a batch at a time (``data.stream``): memory holds the batches in
    flight, not the dataset. ``data`` needs a validation split (the stability figure is its
    accuracy). ``strategy``: a ``STRATEGIES`` name. The model is built and compiled in the
    strategy's scope and each step takes ``spec.batch_size`` rows per replica (the global
    batch is that times the replicas, so each replica sees the batch size the recipe was tuned for).
    ``seed`` seeds the weights, the shuffling and the augmentation; the data's split is the data's.
    ``precision``: a ``TRAINING_PRECISIONS`` name; under mixed bf16 the returned model is the
    float32 build of the trained weights (``float32_copy``), and the test accuracy is its.
    """
    import keras
    import tensorflow as tf

    from .environment import cpu_info

    if data.validation is None:
        raise InferBenchError(f"{spec.name}'s data ({data.location}) has no validation split to follow training on.",
                              "open it with a validation share above 0 (open_data(..., validation_share=0.2)).")
    keras.utils.set_random_seed(seed)
    epochs = epochs or spec.epochs
    dist = distribution_strategy(strategy)
    replicas = dist.num_replicas_in_sync
    global_batch = spec.batch_size * replicas
    steps = math.ceil(len(data.train) / global_batch)
    policy, policy_why = training_precision(precision, cpu_info()["flags"], len(tf.config.list_logical_devices("GPU")))
    log(f"  [{spec.name}] training in {policy} ({policy_why})")
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)  # layers built from here on compute in it
    try:
        with dist.scope():
            model = spec.build()
            compile_model(model, spec, steps, epochs)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    preprocess = input_preprocess(spec)
    train_ds = train_pipeline(data.train, preprocess, global_batch, spec.augment, seed)
    val_ds = validation_pipeline(data.validation, preprocess, spec)
    start = time.perf_counter()
    curves: dict[str, list[float]] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")}

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            dt = time.perf_counter() - self.t0
            for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
                curves[k].append(float(logs.get(k, float("nan"))))
            curves["seconds"].append(dt)
            log(f"  [{spec.name}] epoch {epoch + 1}/{epochs}: loss {logs.get('loss', 0):.4f} "
                f"acc {logs.get('accuracy', 0):.4f} val_acc {logs.get('val_accuracy', 0):.4f} "
                f"({dt:.1f} s; {time.perf_counter() - start:.0f} s in training)")

    fit_epochs(model, spec, train_ds, val_ds, epochs, [Progress()])
    fit_seconds = time.perf_counter() - start
    if policy != "float32":
        with dist.scope():
            model = float32_copy(model, spec)
    test_acc = accuracy(model, data.test, preprocess)
    log(f"  [{spec.name}] fit returned after {fit_seconds:.0f} s; test accuracy {test_acc:.2%} on "
        f"{len(data.test)} images ({time.perf_counter() - start - fit_seconds:.1f} s)")
    history = {
        "model": spec.name,
        "dataset": spec.dataset,
        "epochs": epochs,
        "batch_size": spec.batch_size,
        "strategy": {"name": strategy, "replicas": replicas, "global_batch": global_batch},
        "optimizer": spec.optimizer,
        "learning_rate": spec.learning_rate,
        "schedule": "cosine decay to 0" + (f" after {spec.warmup_epochs:g} epoch(s) of linear warm-up"
                                           if spec.warmup_epochs else ""),
        "weight_decay": spec.weight_decay,
        "label_smoothing": spec.label_smoothing,
        "augment": spec.augment,
        "seed": seed,
        "training_precision": {"asked": precision, "ran": policy, "why": policy_why},
        "rows": {"train": len(data.train), "val": len(data.validation), "test": len(data.test)},
        "curves": curves,
        "train_seconds": time.perf_counter() - start,
        "fit_seconds": fit_seconds,
        "test_accuracy": test_acc,
        "target_accuracy": spec.target_accuracy,
        "stability": stability(curves["val_accuracy"]),
    }
    return TrainResult(model, history)


def plot_history(history: dict, path: Path) -> None:
    """Draw loss and accuracy curves (train and validation) per epoch to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = history["curves"]
    epochs = range(1, len(c["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, c["loss"], "o-", label="train")
    ax1.plot(epochs, c["val_loss"], "s-", label="validation")
    ax1.set(title="loss", xlabel="epoch")
    ax2.plot(epochs, np.asarray(c["accuracy"]) * 100, "o-", label="train")
    ax2.plot(epochs, np.asarray(c["val_accuracy"]) * 100, "s-", label="validation")
    ax2.axhline(history["test_accuracy"] * 100, color="gray", ls="--", label=f"test {history['test_accuracy']:.1%}")
    ax2.set(title="accuracy (%)", xlabel="epoch")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{history['model']} on {history['dataset']}")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
