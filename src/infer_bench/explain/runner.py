"""The run: measure every explainable model of an export folder and record the explanation.

``run_explain`` puts four measured things side by side, per model, at batch 1:

* **Overhead.** The same fp32 model through ``keras_predict`` (the report's
  way), ``keras_call``, ``tf_function``, ``onnxruntime`` and ``litert``
  (p50 per row from the latest bench results when they hold the case and
  were taken on this machine setup, else measured now, briefly: the
  ``QUICK`` stop rule). The model's compute is estimated as ONNX Runtime's
  summed kernel time (profiled now), or the fastest whole call when that is
  lower (the profiler's per-node cost inflates the kernel sum of a model
  whose nodes take microseconds). Everything a runtime spends above that per
  call is its framework overhead.
* **The roofline.** This machine's ceilings (``ceilings.measure_ceilings``)
  and, per precision, the floor one call cannot beat (fp32, and int8 with
  the activation precision of the int8 variant measured), against the best
  measured fp32 ONNX Runtime time and the best int8 variant (any runtime).
* **The layers.** ONNX Runtime's per-node profile mapped onto Keras layers
  (``profile.profile_onnx_layers``), next to each layer's FLOPs.
* **The pairs.** For each pair of models: FLOP and weight-byte ratios
  against the measured ratios in ONNX Runtime and through model.predict, in
  plain words.
* **Why int8 is slower or faster.** Per int8 variant, reason codes with
  numbers and one sentence (``int8facts``, ``int8why``).

Nothing is hard-coded except the report's own figures
(``analysis.REPORT_FIGURES``), which are labelled as the report's wherever
they appear. The arithmetic is in ``analysis``, the words in ``text``.
"""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path
from typing import Callable

from ..bench import input_rotation
from ..environment import capture_environment
from ..errors import InferBenchError
from ..inputs import input_spec_for
from ..manifest import Manifest, load_manifest, verify_entry
from ..measure import QUICK, measure_session
from ..models import MODELS
from ..results import ResultsFile, latest_results, load_results, machine_differences, store
from ..results.explain import WHAT, Explanation, ModelExplanation, save_explanation
from ..runtimes import LoadOptions, get_runtime
from ..runtimes.devices import effective_threads, prepare_tensorflow
from ..runtimes.keras_predict import load_keras_model
from . import analysis
from .ceilings import MachineCeilings, measure_ceilings
from .costmodel import model_cost
from .int8facts import INT8_PROFILE_MAX_SECONDS, WHY_ARTIFACTS, model_int8_why
from .profile import LITERT_PROFILING_NOTE, profile_onnx_layers
from .text import explanation_text
from .words import ms

PROFILE_MAX_SECONDS = 3.0  # per profile phase; the big AlexNet gets fewer than profile.DEFAULT_RUNS runs


def explainable_models(exported: Path, log: Callable[[str], None] = print) -> tuple[Manifest, list[str]]:
    """The manifest of ``exported`` and its models that have a .keras and an fp32 ONNX artifact (shipped ones first).

    Raises an InferBenchError naming ``infer-bench train-export --out DIR``
    when there is no manifest or no such model: nothing is measured first.
    """
    manifest = load_manifest(exported)
    have = {(e.model, e.format, e.quantization) for e in manifest.entries()}
    names = [m for m in list(MODELS) + sorted(set(manifest.models) - set(MODELS))
             if (m, "keras", "fp32") in have and (m, "onnx", "fp32") in have and m in manifest.models]
    if not names:
        raise InferBenchError(f"No model in {manifest.path} has both a .keras and an fp32 ONNX artifact.",
                              f"run `infer-bench train-export --out {exported}` first.")
    missing = [m for m in MODELS if m not in names]
    if missing:
        log(f"Not in {manifest.path} (or missing .keras / fp32 ONNX): {', '.join(missing)}; explaining "
            f"{', '.join(names)}.")
    return manifest, names


def usable_bench(results_dir: Path, environment: dict, n_threads: int,
                 log: Callable[[str], None]) -> tuple[ResultsFile | None, str | None]:
    """(ResultsFile, path) of the latest bench results, or (None, None) when absent or from another machine setup.

    ``environment``: this run's (``capture_environment``); any difference
    ``results.machine_differences`` finds is logged, and everything is measured now.
    """
    path = latest_results(results_dir)
    if path is None:
        log(f"No bench results in {results_dir}/: measuring batch-1 latencies now "
            f"(at least {QUICK.min_time_s:g} s and {QUICK.min_calls} calls each).")
        return None, None
    results = load_results(path)
    diffs = machine_differences(results.environment, environment)
    if diffs:
        log(f"{path} was measured on another machine setup ({'; '.join(diffs)}); measuring batch-1 latencies now.")
        return None, None
    log(f"Using batch-1 latencies from {path} where it has them (threads {n_threads}).")
    return results, str(path)


def measure_p50(runtime: str, path: Path, rotation, threads: int | None) -> float:
    """p50 ms per call at batch 1, measured now (a short run: the ``QUICK`` stop rule)."""
    session = get_runtime(runtime).load(path, LoadOptions(device="cpu", threads=threads))
    try:
        m = measure_session(session.run, rotation, 1, QUICK)
    finally:
        session.close()
    return m.stats.per_row_ms.p50


def explain_model(name: str, manifest: Manifest, bench: ResultsFile | None, bench_path: str | None,
                  ceilings: MachineCeilings, threads: int | None, inputs_cache: dict,
                  log: Callable[[str], None]) -> ModelExplanation:
    """One model's cost, per-layer profile, batch-1 latencies (bench results or measured now), roofline and overhead."""
    n_threads = effective_threads(threads)
    entries = {(e.format, e.quantization): e for e in manifest.entries(models=[name])}
    paths = {key: verify_entry(manifest, e) for key, e in entries.items()
             if key in analysis.MEASURED_ARTIFACTS or key in WHY_ARTIFACTS}
    keras_entry = entries[("keras", "fp32")]
    tf, tf_device, _ = prepare_tensorflow("cpu", threads)
    keras_model = load_keras_model(paths[("keras", "fp32")], "explain", tf, tf_device)
    cost = model_cost(keras_model, 1)
    info = manifest.models.get(name, {})
    inputs = input_spec_for(info, keras_entry.input_shape, f"{name!r} in {manifest.path}")
    dataset = inputs.label
    rotation = input_rotation(inputs, None, inputs_cache, keras_entry.input_shape)

    log(f"{name}: profiling ONNX Runtime per layer ...")
    profile = profile_onnx_layers(paths[("onnx", "fp32")], keras_model, rotation.images, threads=threads,
                                  max_seconds=PROFILE_MAX_SECONDS)
    p50s: dict[tuple, tuple] = {}  # each case looked up (or measured) once: int8 reasons ask again

    def p50(runtime, fmt, quantization):
        key = (runtime, fmt, quantization)
        if key not in p50s:
            p50s[key] = lookup_p50(runtime, fmt, quantization)
        return p50s[key]

    def lookup_p50(runtime, fmt, quantization):
        entry = entries.get((fmt, quantization))
        if entry is None:
            return None, f"no {fmt}/{quantization} artifact"
        found = analysis.bench_p50(bench, name, fmt, quantization, runtime, n_threads, entry.bytes)
        if found is not None:
            return found, f"bench results {bench_path}"
        if runtime == "onnxruntime" and (fmt, quantization) == ("onnx", "fp32"):
            return profile.wall_p50_us / 1e3, "measured now (unprofiled calls of the profile run)"
        return measure_p50(runtime, paths[(fmt, quantization)], rotation, threads), "measured now"

    latency, sources = {}, {}
    for runtime, (fmt, quantization) in analysis.LATENCY_RUNTIMES.items():
        t, sources[runtime] = p50(runtime, fmt, quantization)
        if t is not None:
            latency[runtime] = t
    int8, int8_sources = {}, {}
    for fmt, quantization, runtime in analysis.INT8_VARIANTS:
        t, source = p50(runtime, fmt, quantization)
        if t is not None:
            label = analysis.variant_label(runtime, fmt, quantization)
            int8[label], int8_sources[label] = t, source
    log(f"{name}: batch-1 p50 " + ", ".join(f"{rt} {ms(t)}" for rt, t in latency.items()))
    log(f"{name}: why int8 is slower or faster here ...")
    int8_why = model_int8_why(paths, p50, keras_model, cost.to_dict()["layers"], rotation.images, profile,
                              ceilings.to_dict(), threads, INT8_PROFILE_MAX_SECONDS, log)
    del keras_model
    gc.collect()

    # The roofline's fp32 time: the best of the bench's and the profile's unprofiled calls.
    ort_best = min(t for t in (latency.get("onnxruntime"), profile.wall_p50_us / 1e3) if t is not None)
    costs = cost.to_dict()
    return ModelExplanation(
        dataset=dataset, quick=info.get("quick"),
        flops=costs["flops"], macs=costs["macs"], params=costs["params"], weight_bytes=costs["weight_bytes"],
        activation_bytes=costs["activation_bytes"], input_bytes=costs["input_bytes"], layers=costs["layers"],
        layer_times=[t.to_dict() for t in profile.layers],
        profile={k: v for k, v in profile.to_dict().items() if k != "layers"},
        latency_ms=latency, latency_sources=sources, int8_latency_ms=int8, int8_sources=int8_sources,
        roofline=analysis.model_rooflines(cost, ceilings, ort_best, int8),
        overhead=analysis.overhead_decomposition(latency, profile.node_total_p50_us / 1e3),
        report=analysis.report_check(name, latency, analysis.bench_by_batch(bench, name, n_threads,
                                                                            keras_entry.bytes)),
        uncounted=costs["uncounted"], int8_why=int8_why,
    )


def run_explain(exported: Path, results_dir: Path = Path("results"), json_path: Path | None = None,
                threads: int | None = None, log: Callable[[str], None] = print) -> Explanation:
    """Explain every model of ``exported`` that has a .keras and an fp32 ONNX artifact; write and return the record.

    Writes ``json_path`` (refused if it exists) or a new
    ``results_dir/explain-YYYYMMDD-HHMMSS.json`` (``save_explanation``).
    A folder without a manifest or without such a model is refused before
    anything is measured. TensorFlow's threads are the caller's to set (the
    CLI does). About a minute for the three models on 2 cores when the bench
    results hold the latencies, a little more when they are measured now.
    """
    exported, results_dir = Path(exported), Path(results_dir)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InferBenchError(f"threads must be an int >= 1 or None (all cores), got {threads!r}.",
                              "pass --threads N with N >= 1, or leave it out to use all cores.")
    if json_path is not None and Path(json_path).exists():
        raise store.exists_error(Path(json_path), WHAT)
    manifest, names = explainable_models(exported, log)

    n_threads = effective_threads(threads)
    environment = capture_environment(threads)
    created = store.now_iso()
    bench, bench_path = usable_bench(results_dir, environment, n_threads, log)
    log(f"Measuring this machine's ceilings at {n_threads} thread(s) ...")
    ceilings = measure_ceilings(threads)

    models, inputs_cache = {}, {}
    for name in names:
        models[name] = explain_model(name, manifest, bench, bench_path, ceilings, threads, inputs_cache, log)
        inputs_cache.clear()

    expl = Explanation(
        created=created, exported=str(exported), threads=n_threads, bench_results=bench_path,
        machine=ceilings.to_dict(), report_figures=analysis.quoted_figures(),
        litert_layer_times=LITERT_PROFILING_NOTE, models=models, pairs=analysis.compare_models(models), text="",
        environment=environment)
    expl = dataclasses.replace(expl, text=explanation_text(expl))
    path = save_explanation(expl, results_dir, json_path)
    log(f"Wrote {path}")
    return expl
