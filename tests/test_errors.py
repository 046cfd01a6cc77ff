"""Bad input, faults and integrity: every case ends in a clear message, a non-zero exit, nothing lost.

Real files, damaged on purpose in temporary folders.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from infer_bench.adapt import check_inputs
from infer_bench.cli import main
from infer_bench.export import ARTIFACTS
from infer_bench.errors import DataError
from infer_bench.fsutil import write_bytes_atomic
from infer_bench.manifest import load_manifest, verify_entry

pytestmark = pytest.mark.slow


def _bench(capsys, *args) -> tuple[int, str]:
    rc = main(["bench", "--min-time", "0", "--batch-sizes", "1", *map(str, args)])
    err = capsys.readouterr().err
    return rc, err


def _copy_artifact(quick_export, key, tmp_path) -> Path:
    manifest, _ = quick_export
    src = manifest.folder / manifest.artifacts[key].path
    dst = tmp_path / src.name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return dst


# 1. Input shape, dtype and values -------------------------------------------------------------

def test_shape_mismatch_names_both_shapes_and_the_fix(quick_export, tmp_path, capsys):
    manifest, _ = quick_export
    rc, err = _bench(capsys, "--exported", manifest.folder, "--models", "simple_cnn", "--formats", "onnx",
                     "--quantizations", "fp32", "--dataset", "cats_vs_dogs", "--json", tmp_path / "r.json")
    assert rc == 2
    assert "(None, 28, 28, 1)" in err and "(None, 224, 224, 3)" in err and "--adapt" in err
    assert "Traceback" not in err


def test_adapt_runs_fashion_mnist_through_a_224x224x3_model(tmp_path, capsys):
    """The report's first error: 28x28x1 Fashion-MNIST fed to a 224x224x3 network; --adapt is the fix."""
    import keras

    from infer_bench.export.onnx_formats import export_onnx_fp32

    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.Conv2D(4, 8, strides=8, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])
    export_onnx_fp32(model, tmp_path / "rgb224.onnx")
    args = ["--artifact", tmp_path / "rgb224.onnx", "--models", "", "--dataset", "fashion_mnist"]
    rc, err = _bench(capsys, *args, "--json", tmp_path / "refused.json")
    assert rc == 2 and "(None, 28, 28, 1)" in err and "(None, 224, 224, 3)" in err and "--adapt" in err
    rc, _ = _bench(capsys, *args, "--adapt", "--json", tmp_path / "r.json")
    assert rc == 0
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["calls"] >= 10


def test_adapt_converts_channels_both_ways():
    gray = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    rgb = check_inputs(gray, (None, 224, 224, 3), "x", adapt=True)
    assert rgb.shape == (2, 224, 224, 3) and np.allclose(rgb[..., 0], rgb[..., 2])
    back = check_inputs(rgb, (None, 28, 28, 1), "x", adapt=True)
    assert back.shape == (2, 28, 28, 1)


def test_nan_or_inf_inputs_are_refused():
    x = np.ones((2, 28, 28, 1), dtype=np.float32)
    x[1, 3, 3, 0] = np.nan
    with pytest.raises(DataError, match="1 NaN or Inf"):
        check_inputs(x, (None, 28, 28, 1), "x")


# 2. Bad files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key, runtime", [
    (("simple_cnn", "onnx", "fp32"), "onnxruntime"),
    (("simple_cnn", "tflite", "fp32"), "litert"),
    (("simple_cnn", "keras", "fp32"), "keras_call"),
])
def test_truncated_artifact_is_refused_with_its_name(quick_export, tmp_path, capsys, key, runtime):
    path = _copy_artifact(quick_export, key, tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    rc, err = _bench(capsys, "--artifact", path, "--runtimes", runtime, "--json", tmp_path / "r.json")
    assert rc == 2 and path.name in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


def test_savedmodel_without_its_variables_is_refused(quick_export, tmp_path, capsys):
    path = _copy_artifact(quick_export, ("simple_cnn", "savedmodel", "fp32"), tmp_path)
    shutil.rmtree(path / "variables")
    rc, err = _bench(capsys, "--artifact", path, "--runtimes", "tf_function", "--json", tmp_path / "r.json")
    assert rc == 2 and path.name in err


def _copied_export(quick_export, tmp_path) -> Path:
    manifest, _ = quick_export
    folder = tmp_path / "exported"
    shutil.copytree(manifest.folder / "simple_cnn", folder / "simple_cnn")
    raw = json.loads(manifest.path.read_text())
    raw["artifacts"] = [a for a in raw["artifacts"] if a["model"] == "simple_cnn"]
    raw["models"] = {"simple_cnn": raw["models"]["simple_cnn"]}
    (folder / "manifest.json").write_text(json.dumps(raw))
    return folder


def test_manifest_entry_whose_file_is_missing(quick_export, tmp_path, capsys):
    folder = _copied_export(quick_export, tmp_path)
    (folder / "simple_cnn" / "simple_cnn_fp16.onnx").unlink()
    rc, err = _bench(capsys, "--exported", folder, "--models", "simple_cnn", "--json", tmp_path / "r.json")
    assert rc == 2 and "simple_cnn_fp16.onnx" in err and "does not exist" in err and "train-export" in err


def test_manifest_entry_whose_checksum_differs(quick_export, tmp_path, capsys):
    folder = _copied_export(quick_export, tmp_path)
    with open(folder / "simple_cnn" / "simple_cnn_fp32.tflite", "ab") as f:
        f.write(b"\0")
    rc, err = _bench(capsys, "--exported", folder, "--models", "simple_cnn", "--json", tmp_path / "r.json")
    assert rc == 2 and "checksum" in err and "simple_cnn_fp32.tflite" in err


@pytest.mark.parametrize("argv, message", [
    (["bench", "--models", "vgg16"], "Unknown model 'vgg16'"),
    (["bench", "--formats", "pt"], "Unknown format 'pt'"),
    (["bench", "--quantizations", "int4"], "Unknown quantization 'int4'"),
    (["train-export", "--models", "lenet"], "Unknown model 'lenet'"),
])
def test_unknown_names_list_the_valid_ones(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "use one of" in err and "Traceback" not in err


def test_missing_manifest_says_how_to_make_one(tmp_path, capsys):
    rc, err = _bench(capsys, "--exported", tmp_path / "none", "--artifact", tmp_path / "nope.onnx")
    assert rc == 2 and "does not exist" in err


# 4. Interruption and a full disk ---------------------------------------------------------------

def _spawn(args, cwd) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "infer_bench", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_train_export_keeps_finished_artifacts_and_resumes(tmp_path, sig):
    out = tmp_path / "exported"

    def some_exported():
        try:
            return len(json.loads((out / "manifest.json").read_text())["artifacts"]) >= 3
        except (OSError, ValueError):
            return False

    proc = _spawn(["train-export", "--quick", "--models", "simple_cnn", "--out", str(out)], tmp_path)
    assert _wait_for(some_exported, proc), proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    # 130 is our own exit status; when Ctrl-C lands inside TensorFlow's exporter, Python may
    # also end by re-raising the signal at shutdown (-2): both are "interrupted", and the
    # clean-up below is what matters.
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "finished artifact(s) kept" in err and "Rerun the same command" in err
    manifest = load_manifest(out)
    for entry in manifest.entries():
        verify_entry(manifest, entry)  # every listed file is complete
    assert not [p for p in out.rglob("*") if ".partial" in p.name]
    kept = {e.key for e in manifest.entries()}
    rerun = _spawn(["train-export", "--quick", "--models", "simple_cnn", "--out", str(out)], tmp_path)
    stdout, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert stdout.count("up to date, reused") >= len(kept) - 1  # the keras file is reused as the trained model
    assert len(load_manifest(out).entries()) == len(ARTIFACTS)


def test_interrupted_bench_keeps_finished_cases(quick_export, tmp_path):
    manifest, _ = quick_export
    results = tmp_path / "results"
    proc = _spawn(["bench", "--exported", str(manifest.folder), "--models", "simple_cnn", "--min-time", "0.3",
                   "--results-dir", str(results)], tmp_path)
    assert _wait_for(lambda: any(results.glob("bench-*.json")), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "finished result(s) kept" in err
    (path,) = results.glob("bench-*.json")
    from infer_bench.results import load_results

    assert len(load_results(path).results) >= 1


def test_full_disk_leaves_no_partial_file(tmp_path):
    """A real write failure: the file-size limit (RLIMIT_FSIZE) makes the OS refuse the write mid-file."""
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the earlier, complete artifact")
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "from infer_bench.fsutil import write_bytes_atomic\n"
        "try:\n"
        f"    write_bytes_atomic({str(target)!r}, b'x' * (4 << 20))\n"
        "except OSError as exc:\n"
        "    print('write failed:', exc.errno); sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert target.read_bytes() == b"the earlier, complete artifact"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_atomic_write_of_a_folder_leaves_nothing_on_failure(tmp_path):
    from infer_bench.fsutil import atomic_path

    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "saved") as tmp:
            tmp.mkdir()
            (tmp / "half").write_bytes(b"1")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    write_bytes_atomic(tmp_path / "ok.bin", b"1")
    assert (tmp_path / "ok.bin").read_bytes() == b"1"


# 5. Untrusted models ----------------------------------------------------------------------------

def test_lambda_layer_is_refused_unless_allowed(tmp_path, capsys):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda t: t * 2.0),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "lambda_model.keras"
    model.save(path)
    rc, err = _bench(capsys, "--artifact", path, "--runtimes", "keras_call", "--json", tmp_path / "r.json")
    assert rc == 2 and "Lambda" in err and "--unsafe-keras" in err and "code" in err
    rc = main(["bench", "--artifact", str(path), "--runtimes", "keras_call", "--unsafe-keras", "--min-time", "0",
               "--batch-sizes", "1", "--json", str(tmp_path / "ok.json")])
    assert rc == 0


# 6. The CLI shows no traceback, unless --debug ---------------------------------------------------

def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "bench", "--artifact", str(tmp_path / "nope.onnx")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "does not exist" in err


def test_an_error_after_a_stop_signal_counts_as_the_interrupt(monkeypatch):
    # Ctrl-C inside a C extension's import surfaces as ImportError("initialization failed").
    from infer_bench import cli

    monkeypatch.setattr(cli, "_signal_received", None)
    assert cli.was_interrupted(KeyboardInterrupt())
    assert not cli.was_interrupted(ImportError("initialization failed"))
    monkeypatch.setattr(cli, "_signal_received", signal.SIGINT)
    assert cli.was_interrupted(ImportError("initialization failed"))


def test_main_exits_130_when_a_signal_surfaces_as_another_error(monkeypatch, capsys):
    from infer_bench import cli

    def interrupted_import(args):
        monkeypatch.setattr(cli, "_signal_received", signal.SIGINT)
        raise ImportError("initialization failed")

    monkeypatch.setattr(cli, "_signal_received", None)
    monkeypatch.setitem(cli.COMMANDS, "report", (cli.plan_report, interrupted_import))  # bound at parse time
    assert cli.main(["report"]) == 130
    assert "interrupted" in capsys.readouterr().err
