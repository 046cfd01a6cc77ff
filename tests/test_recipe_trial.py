"""scripts/recipe_trial.py: a recipe variant trains on real data and reports test accuracy per epoch."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "recipe_trial.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_variant_trains_and_reports_test_accuracy_each_epoch():
    out = _run("simple_cnn", "--rows", "256", "--epochs", "2", "--label-smoothing", "0.1", "--flips",
               "--cutout", "6", "--init", "he_normal", "--ema", "0.9")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'label_smoothing': 0.1" in out.stdout and "'flips': True" in out.stdout
    assert "'cutout': 6" in out.stdout and "'init': 'he_normal'" in out.stdout and "'ema': 0.9" in out.stdout
    assert "on 256 rows" in out.stdout
    lines = [line for line in out.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "final test accuracy" in out.stdout and "(averaged weights)" in out.stdout


def test_cutout_zeroes_one_square_of_the_given_width_in_some_images():
    spec = importlib.util.spec_from_file_location("recipe_trial", SCRIPT)
    recipe_trial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe_trial)
    x = np.ones((200, 28, 28, 1), np.float32)
    out, _ = recipe_trial._cutout(8)(x, np.zeros(200))
    zeroed = (out.numpy() == 0).reshape(200, -1).sum(axis=1)
    hit = zeroed > 0
    assert 0.3 < hit.mean() < 0.7  # about half the images
    assert zeroed.max() == 64  # an 8x8 square where it lies fully inside the image
    assert set(zeroed[hit]) <= {w * h for w in range(4, 9) for h in range(4, 9)}  # clipped at the border


def test_binary_model_is_refused_with_the_valid_choices():
    out = _run("alexnet_catsdogs")
    assert out.returncode == 2
    assert "invalid choice: 'alexnet_catsdogs'" in out.stderr and "alexnet_fashion" in out.stderr
