"""scripts/int8_ablation.py: re-quantizes a real quick export's static int8 ONNX artifact with layers kept in float."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "int8_ablation.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("int8_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_weighted_layer_then_groups_and_float_layers_bring_the_outputs_closer(ablation, quick_export, capsys):
    manifest, _ = quick_export
    rows = ablation.ablate(manifest.folder, "simple_cnn", ["onnx"], limit=128, log=lambda line: None)
    import keras

    # Layer names depend on what Keras built before in the process (conv2d_2, dense_7, ...): read them.
    keras_model = keras.saving.load_model(manifest.folder / "simple_cnn" / "simple_cnn.keras", compile=False)
    weighted = [layer.name for layer in keras_model.layers if layer.weights]  # 2 Conv2D, then 2 Dense
    assert [r["trial"] for r in rows] == (["as exported"] + [f"{name} in float" for name in weighted]
                                          + ["all 2 conv/BatchNorm layers in float", "all 2 Dense layers in float"])
    assert rows[-2]["float_layers"] == weighted[:2] and rows[-1]["float_layers"] == weighted[2:]
    assert all(r["rows"] == 128 and r["format"] == "onnx" for r in rows)
    as_exported = rows[0]
    # Keeping layers in float can only take the int8 model towards the float one on the whole.
    assert min(r["max_abs_diff"] for r in rows[1:]) < as_exported["max_abs_diff"]
    ablation.print_table(rows)
    assert "kept in float" in capsys.readouterr().out


def test_an_unknown_model_or_format_and_an_existing_json_are_refused(ablation, quick_export, tmp_path, capsys):
    manifest, _ = quick_export
    assert ablation.main(["--exported", str(manifest.folder), "--model", "resnet"]) == 2
    assert "has no model 'resnet'" in capsys.readouterr().err
    assert ablation.main(["--exported", str(manifest.folder), "--model", "simple_cnn", "--formats", "caffe"]) == 2
    assert "Unknown format(s): caffe" in capsys.readouterr().err
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    assert ablation.main(["--exported", str(manifest.folder), "--model", "simple_cnn", "--json", str(taken)]) == 2
    assert "already exists" in capsys.readouterr().err and taken.read_text() == "{}"
