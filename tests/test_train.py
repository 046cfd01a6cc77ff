"""Training settings: input pipeline, learning-rate schedule, optimizer choice, stability figure."""

import dataclasses

import numpy as np
import pytest

from infer_bench.errors import InferBenchError
from infer_bench.models import MODELS
from infer_bench.train import (OPTIMIZERS, learning_rate_schedule, make_optimizer, smoothed_crossentropy, stability,
                               training_loss, training_precision)


def _lr(schedule, step):
    return float(schedule(step))


def test_schedule_without_warmup_starts_at_the_peak_and_ends_at_zero():
    spec = dataclasses.replace(MODELS["simple_cnn"], learning_rate=1e-3, warmup_epochs=0.0)
    schedule = learning_rate_schedule(spec, steps_per_epoch=100, epochs=4)
    assert _lr(schedule, 0) == pytest.approx(1e-3)
    assert _lr(schedule, 200) == pytest.approx(5e-4, rel=1e-3)  # half way down the cosine
    assert _lr(schedule, 400) == pytest.approx(0.0, abs=1e-9)


def test_warmup_climbs_linearly_to_the_peak_then_decays_to_zero():
    spec = dataclasses.replace(MODELS["simple_cnn"], learning_rate=0.04, warmup_epochs=0.5)
    schedule = learning_rate_schedule(spec, steps_per_epoch=100, epochs=4)
    assert _lr(schedule, 0) == pytest.approx(0.0, abs=1e-9)
    assert _lr(schedule, 25) == pytest.approx(0.02, rel=1e-3)
    assert _lr(schedule, 50) == pytest.approx(0.04, rel=1e-3)
    lrs = [_lr(schedule, s) for s in range(50, 401, 50)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-9)


def test_sgd_spec_gets_nesterov_momentum_and_its_weight_decay():
    spec = dataclasses.replace(MODELS["simple_cnn"], optimizer="sgd", weight_decay=5e-3)
    opt = make_optimizer(spec, steps_per_epoch=10, epochs=1)
    assert type(opt).__name__ == "SGD"
    assert opt.nesterov and opt.momentum == pytest.approx(0.9)
    assert opt.weight_decay == pytest.approx(5e-3)


def test_unknown_optimizer_names_the_valid_ones():
    spec = dataclasses.replace(MODELS["simple_cnn"], optimizer="rmsprop")
    with pytest.raises(InferBenchError, match="rmsprop.*adam, sgd"):
        make_optimizer(spec, steps_per_epoch=10, epochs=1)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_names_a_known_optimizer(name):
    assert MODELS[name].optimizer in OPTIMIZERS


def test_smoothed_crossentropy_is_crossentropy_against_smoothed_one_hot_targets():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    labels = np.array([0, 1])
    targets = np.full((2, 3), 0.1 / 3) + np.eye(3)[labels] * 0.9  # 1 - 0.1 + 0.1/3 on the true class
    expected = -(targets * np.log(probs)).sum(axis=1)
    got = np.asarray(smoothed_crossentropy(3, 0.1)(labels, probs))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    plain = np.asarray(smoothed_crossentropy(3, 0.0)(labels, probs))
    np.testing.assert_allclose(plain, -np.log([0.7, 0.1]), rtol=1e-5)


def test_training_loss_smooths_only_softmax_models_that_ask_for_it():
    fashion = MODELS["alexnet_fashion"]
    assert fashion.label_smoothing > 0
    assert training_loss(fashion, 10).__name__ == f"crossentropy_label_smoothing_{fashion.label_smoothing:g}"
    assert training_loss(dataclasses.replace(fashion, label_smoothing=0.0), 10) == "sparse_categorical_crossentropy"
    assert training_loss(MODELS["alexnet_catsdogs"], 1) == "binary_crossentropy"


def test_stability_is_the_spread_of_the_last_epochs_in_points():
    s = stability([0.19, 0.85, 0.90, 0.91, 0.92], last=3)
    assert s["epochs"] == 3
    assert s["range_pts"] == pytest.approx(2.0)
    assert s["std_pts"] == pytest.approx(np.std([90.0, 91.0, 92.0]))


AMX = {"amx_bf16": True, "avx512_bf16": True}
AVX512_BF16_ONLY = {"amx_bf16": False, "avx512_bf16": True}
NO_BF16 = {"amx_bf16": False, "avx512_bf16": False}


def test_auto_trains_in_mixed_bf16_only_on_a_cpu_with_amx_and_no_gpu():
    assert training_precision("auto", AMX)[0] == "mixed_bfloat16"
    for flags in (AVX512_BF16_ONLY, NO_BF16, None):  # emulated or unknown: float32
        policy, why = training_precision("auto", flags)
        assert policy == "float32" and why.startswith("auto")
    policy, why = training_precision("auto", AMX, gpus=1)
    assert policy == "float32" and "GPU" in why


def test_an_explicit_training_precision_is_kept_and_a_slow_one_is_said():
    assert training_precision("float32", AMX) == ("float32", "asked for")
    assert training_precision("mixed_bfloat16", AMX) == ("mixed_bfloat16", "asked for")
    policy, why = training_precision("mixed_bfloat16", NO_BF16)
    assert policy == "mixed_bfloat16" and "emulated" in why
    with pytest.raises(InferBenchError, match="mixed_bfloat16"):
        training_precision("bf16", AMX)


def test_the_smoothed_loss_takes_bf16_predictions():
    import keras

    probs = np.array([[0.7, 0.2, 0.1]], np.float32)
    bf16 = keras.ops.cast(probs, "bfloat16")
    got = float(np.asarray(smoothed_crossentropy(3, 0.1)(np.array([0]), bf16))[0])
    assert got == pytest.approx(float(np.asarray(smoothed_crossentropy(3, 0.1)(np.array([0]), probs))[0]), rel=1e-2)
