"""scripts/recipe_trial.py: a recipe variant trains on real data and reports test accuracy per epoch."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "recipe_trial.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_variant_trains_and_reports_test_accuracy_each_epoch():
    out = _run("simple_cnn", "--rows", "256", "--epochs", "2", "--label-smoothing", "0.1", "--flips")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'label_smoothing': 0.1" in out.stdout and "'flips': True" in out.stdout
    assert "on 256 rows" in out.stdout
    lines = [line for line in out.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "final test accuracy" in out.stdout


def test_binary_model_is_refused_with_the_valid_choices():
    out = _run("alexnet_catsdogs")
    assert out.returncode == 2
    assert "invalid choice: 'alexnet_catsdogs'" in out.stderr and "alexnet_fashion" in out.stderr
