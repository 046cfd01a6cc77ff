"""The report's three models, each defined once, and the table that ties them to their data.

Layer for layer as the report's summaries (output shapes are checked in
tests/test_models.py). Training settings live here too, as data: one row per
model in ``MODELS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import unknown_name


def simple_cnn():
    """Fashion-MNIST 2-conv CNN: about 225k parameters."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),  # 26x26x32
        layers.MaxPooling2D(2),  # 13x13
        layers.Conv2D(64, 3, activation="relu"),  # 11x11x64
        layers.MaxPooling2D(2),  # 5x5
        layers.Flatten(),  # 1600
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name="simple_cnn")


def _alexnet_head(n_out: int, activation: str, dropout: float):
    from keras import layers

    return [
        layers.Flatten(),  # 256
        layers.Dense(4096, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(4096, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(n_out, activation=activation),
    ]


def _conv_bn_pool(filters: int, kernel: int, strides: int = 1, padding: str = "valid"):
    """AlexNet's first two stages: a ReLU convolution, BatchNormalization, then 3x3/2 max pooling."""
    from keras import layers

    return [layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(3, strides=2)]


def alexnet_fashion(dropout: float = 0.5):
    """AlexNet-style network for 28x28x1 Fashion-MNIST: about 21.2M parameters."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        *_conv_bn_pool(96, 5, strides=2),  # conv 12x12x96, pool 5x5x96
        *_conv_bn_pool(256, 3, padding="same"),  # conv 5x5x256, pool 2x2x256
        layers.Conv2D(384, 3, padding="same", activation="relu"),
        layers.Conv2D(384, 3, padding="same", activation="relu"),
        layers.Conv2D(256, 3, padding="same", activation="relu"),  # 2x2x256
        layers.MaxPooling2D(2),  # 1x1x256
        *_alexnet_head(10, "softmax", dropout),
    ], name="alexnet_fashion")


def alexnet_catsdogs(dropout: float = 0.5):
    """AlexNet for 224x224x3 Cats vs Dogs with one sigmoid output."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((224, 224, 3)),
        *_conv_bn_pool(96, 11, strides=4),  # conv 54x54x96, pool 26x26x96
        *_conv_bn_pool(256, 5),  # conv 22x22x256, pool 10x10x256
        layers.Conv2D(384, 3, activation="relu"),  # 8x8x384
        layers.Conv2D(384, 3, activation="relu"),  # 6x6x384
        layers.Conv2D(256, 3, activation="relu"),  # 4x4x256
        layers.MaxPooling2D(3, strides=2),  # 1x1x256
        *_alexnet_head(1, "sigmoid", dropout),
    ], name="alexnet_catsdogs")


@dataclass(frozen=True)
class ModelSpec:
    """One model of the suite and how it is trained."""

    name: str
    build: Callable
    dataset: str  # key of data.LOADERS
    input_shape: tuple[int, ...]
    binary: bool  # one sigmoid output (else softmax over classes)
    epochs: int
    batch_size: int
    learning_rate: float  # peak learning rate; train.py decays it to zero along a cosine
    optimizer: str = "adam"  # "adam", or "sgd" (Nesterov momentum 0.9)
    warmup_epochs: float = 0.0  # linear warm-up from zero to the peak learning rate
    weight_decay: float = 0.0  # decoupled: each step shrinks weights by weight_decay * learning rate
    label_smoothing: float = 0.0  # softmax models: share of the target spread over all classes
    augment: bool = False  # random flips, shifts and zoom during training
    target_accuracy: float = 0.0  # the target on the held-out test set
    parameters: int = 0  # the built model's count_params() (tests/test_models.py checks it)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("simple_cnn", simple_cnn, "fashion_mnist", (28, 28, 1), False,
                  epochs=10, batch_size=64, learning_rate=1e-3, target_accuracy=0.91, parameters=225_034),
        # The report's AlexNet "does not stabilize": with a constant Adam step of 1e-3 the
        # 16.8M-weight dense block swings the validation accuracy from epoch to epoch, and the
        # BatchNorm statistics that chase it lag behind (19% validation accuracy after epoch 1
        # with Adam). SGD with Nesterov momentum, half an epoch of warm-up and a cosine decay
        # to zero is at 79-81% after epoch 1 and settles over the last epochs. Weight decay and
        # label smoothing hold back the overfitting of the dense block; with 8 epochs they are
        # what reaches the 91% target (6 epochs of the same SGD: 90.53%; docs/training.md
        # has the 17 recipes tried). On a Xeon with AMX it reached only 90.85% until
        # train-export gave it 90% of the training images (train_export.VALIDATION_SHARES): 91.30%.
        ModelSpec("alexnet_fashion", alexnet_fashion, "fashion_mnist", (28, 28, 1), False,
                  epochs=8, batch_size=128, learning_rate=0.03, optimizer="sgd", warmup_epochs=0.5,
                  weight_decay=5e-3, label_smoothing=0.1, target_accuracy=0.91, parameters=21_197_898),
        # 15 epochs (75.4% and 75.7% in two runs; 20 epochs: 74.4-78.3% over five) leave
        # alexnet_fashion its 8 epochs inside the 30-minute budget.
        ModelSpec("alexnet_catsdogs", alexnet_catsdogs, "cats_vs_dogs", (224, 224, 3), True,
                  epochs=15, batch_size=32, learning_rate=2e-4, augment=True, target_accuracy=0.70,
                  parameters=21_586_689),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The ModelSpec for ``name``; an unknown name lists the valid ones."""
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return MODELS[name]
