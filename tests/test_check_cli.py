"""``infer-bench check`` as CI uses it: a table, a versioned JSON and a non-zero exit on any FAIL."""

import json
import shutil

import pytest

from infer_bench.cli import main

pytestmark = pytest.mark.slow


def test_check_gates_on_a_damaged_artifact(quick_export, tmp_path, capsys):
    manifest, _ = quick_export
    folder = tmp_path / "exported"
    shutil.copytree(manifest.folder / "simple_cnn", folder / "simple_cnn")
    raw = json.loads(manifest.path.read_text())
    raw["artifacts"] = [a for a in raw["artifacts"] if a["model"] == "simple_cnn" and a["quantization"] == "fp32"]
    raw["models"] = {"simple_cnn": raw["models"]["simple_cnn"]}
    (folder / "manifest.json").write_text(json.dumps(raw))

    out = tmp_path / "ok.json"
    assert main(["check", "--exported", str(folder), "--limit", "300", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["schema_version"] == 2
    assert {r["verdict"] for r in report["results"]} == {"PASS"}
    # bf16 variants of the fp32 files (run by OpenVINO) are checked only on CPUs that run bf16
    assert {(r["format"], r["quantization"]) for r in report["results"] if r["quantization"] != "bf16"} == {
        ("savedmodel", "fp32"), ("onnx", "fp32"), ("tflite", "fp32")}

    with open(folder / "simple_cnn" / "simple_cnn_fp32.onnx", "ab") as f:
        f.write(b"\0")
    bad = tmp_path / "bad.json"
    assert main(["check", "--exported", str(folder), "--limit", "300", "--json", str(bad)]) == 1
    text = capsys.readouterr().out
    assert "checksum" in text and "FAIL" in text
    verdicts = {r["format"]: r["verdict"] for r in json.loads(bad.read_text())["results"] if r["quantization"] != "bf16"}
    assert verdicts == {"savedmodel": "PASS", "onnx": "FAIL", "tflite": "PASS"}


def test_check_refuses_bad_options(tmp_path, capsys):
    assert main(["check", "--artifact", str(tmp_path / "x.onnx")]) == 2
    assert "--reference" in capsys.readouterr().err
    assert main(["check", "--tolerance", "fp99.max_abs_diff=1"]) == 2
    assert "fp99" in capsys.readouterr().err
