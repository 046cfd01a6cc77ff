"""Train a small user model to try `infer-bench run MODEL.keras --data DIR` with.

Usage: python scripts/train_demo_model.py DIR OUT.keras [--size 96] [--epochs 2] [--batch 32]

Builds ``keras.applications.MobileNetV3Small(input_shape=(size, size, 3),
weights=None, classes=K)`` (no download) for the K class folders of DIR and
trains it briefly on DIR's training split, streamed batch by batch through the
same data layer infer-bench trains with (``open_data``, ``data.stream.split_batches``). It is a
stand-in for "your own model": an architecture people ship, on real images, not a
tuned classifier. MobileNetV3 rescales its input itself (its first layer is a
Rescaling), so images are fed unscaled (0-255), which ``infer-bench export``
detects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from infer_bench.data import open_data
from infer_bench.data.preprocess import Preprocess
from infer_bench.data.stream import first_pass_length_quiet, split_batches
from infer_bench.errors import InferBenchError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a folder of class subfolders (optionally with train/ and test/ or validation/)")
    parser.add_argument("out", type=Path, help="where to save the .keras file")
    parser.add_argument("--size", type=int, default=96, help="input height and width (default 96)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    import keras

    try:
        source = open_data(args.data)
    except InferBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keras.utils.set_random_seed(0)
    classes = len(source.class_names)
    model = keras.applications.MobileNetV3Small(input_shape=(args.size, args.size, 3), weights=None,
                                                classes=classes, include_preprocessing=True)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    preprocess = Preprocess(args.size, args.size, 3, "none")  # the model rescales its input itself
    split = source.train
    # The package's own streamed pipeline: a batch of images decoded at a time, reshuffled each epoch.
    with first_pass_length_quiet():
        model.fit(split_batches(split, preprocess, args.batch, shuffle_seed=0), epochs=args.epochs, verbose=2,
                  shuffle=False)
    x, y = split.sample(min(256, len(split)), preprocess, seed=1)
    accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"saved {args.out}: MobileNetV3Small {args.size}x{args.size}x3, {classes} classes "
          f"({', '.join(source.class_names)}), training accuracy on 256 images {accuracy:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
