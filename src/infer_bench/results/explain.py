"""The record of an explanation (``results/explain-*.json``): one typed, versioned writer and reader.

File shape (``SCHEMA_VERSION`` 2)::

    {"schema_version": 2, "created": "...", "environment": {...}, "exported": "exported",
     "threads": 2, "bench_results": "results/bench-....json" | null, "machine": {...ceilings...},
     "report_figures": {...}, "litert_layer_times": "...", "models": {NAME: {...}, ...},
     "pairs": [{...}, ...], "text": "..."}

``environment`` (``environment.capture_environment``) is written by this
version and optional when reading: files written before it have none.
Version 2 adds each model's ``int8_why`` (the reason codes of every int8
variant, ``explain.int8why``); version 1 files, which have none, still read
(``READ_VERSIONS``), with ``int8_why`` empty.

The top level and each model are typed records; the values nested below
them (the machine ceilings, a model's roofline, overhead, profile and layer
lists, the pairs) stay plain JSON dicts and lists, exactly as written, so
``to_dict`` gives back the file's own JSON. Nothing here imports the
``explain`` package that produces these records.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InferBenchError
from . import store

SCHEMA_VERSION = 2
READ_VERSIONS = (1, 2)  # version 1: no int8_why
KIND = "explain"  # files are results/explain-<time>.json
WHAT = "explanation"
REGENERATE = "infer-bench explain"


def _missing_keys(data: dict, keys, source: str, what: str) -> None:
    """Refuse a dict that lacks any of ``keys``, naming them."""
    lacking = [k for k in keys if k not in data]
    if lacking:
        raise InferBenchError(f"{source}: {what} lacks {', '.join(lacking)}.",
                              f"run `{REGENERATE}` to write a fresh explanation.")


def _need(ok: bool, source: str, message: str) -> None:
    if not ok:
        raise InferBenchError(f"{source}: {message}.", f"run `{REGENERATE}` to write a fresh explanation.")


@dataclass(frozen=True)
class ModelExplanation:
    """One model's explanation at batch 1: its cost, measured latencies, roofline, overhead and layers.

    Scalars are typed; ``weight_bytes`` (by precision), ``layers`` (the cost
    model's per-layer dicts), ``layer_times`` (ONNX Runtime's per-layer
    profile), ``profile``, ``latency_ms``/``latency_sources`` (by runtime),
    ``int8_latency_ms``/``int8_sources`` (by "runtime format/quantization"),
    ``roofline`` (by precision), ``overhead`` and ``report`` stay the plain
    JSON dicts and lists they are in the file.
    """

    dataset: str | None
    quick: bool | None
    flops: int
    macs: int
    params: int
    weight_bytes: dict[str, int]
    activation_bytes: int
    input_bytes: int
    layers: list[dict]
    layer_times: list[dict]
    profile: dict[str, Any]
    latency_ms: dict[str, float]
    latency_sources: dict[str, str]
    int8_latency_ms: dict[str, float]
    int8_sources: dict[str, str]
    roofline: dict[str, dict]
    overhead: dict[str, Any]
    report: dict[str, Any]
    # Layers the cost model could not count (name, kind, params, weight_bytes, param_share);
    # absent from files written before the cost model listed them.
    uncounted: list[dict] = field(default_factory=list)
    # Per int8 variant ("<runtime> <format>/<quantization>"): verdict, ratio, reason codes, sentence
    # (``explain.int8why.Int8Why.to_dict``); absent from version 1 files.
    int8_why: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The model's JSON object, keys in the file's order (a deep copy)."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data, source: str = "explanation") -> ModelExplanation:
        """Read one model's JSON object; a clear error naming what is missing or of the wrong type."""
        _need(isinstance(data, dict), source, f"a model entry is {type(data).__name__}, not an object")
        names = [f.name for f in fields(cls)]
        _missing_keys(data, [n for n in names if n not in _OPTIONAL_MODEL_KEYS], source, "a model entry")
        for key in ("flops", "macs", "params", "activation_bytes", "input_bytes"):
            value = data[key]
            _need(isinstance(value, int) and not isinstance(value, bool), source, f"{key} is {value!r}, not an int")
        for key in ("weight_bytes", "profile", "latency_ms", "latency_sources", "int8_latency_ms", "int8_sources",
                    "roofline", "overhead", "report"):
            _need(isinstance(data[key], dict), source, f"{key} is not an object")
        for key in ("layers", "layer_times"):
            _need(isinstance(data[key], list), source, f"{key} is not a list")
        _need(isinstance(data.get("uncounted", []), list), source, "uncounted is not a list")
        why = data.get("int8_why", {})
        _need(isinstance(why, dict) and all(isinstance(v, dict) for v in why.values()), source,
              "int8_why is not an object of objects")
        return cls(**{k: copy.deepcopy(data[k]) for k in names if k in data})


_OPTIONAL_MODEL_KEYS = ("uncounted", "int8_why")  # absent from older files

# Top-level keys of the file in their order, after schema_version (environment is optional).
_TOP_KEYS = ("created", "environment", "exported", "threads", "bench_results", "machine", "report_figures",
             "litert_layer_times", "models", "pairs", "text")
_REQUIRED_TOP = tuple(k for k in _TOP_KEYS if k != "environment")


@dataclass(frozen=True)
class Explanation:
    """A whole explanation: the machine's ceilings, each model's ``ModelExplanation``, the pairs, the text.

    ``machine`` (the ceilings' ``to_dict``), ``report_figures``, ``pairs`` and
    ``environment`` stay plain JSON; ``environment`` is None for files
    written before it was recorded (and is then left out of ``to_dict``).
    """

    created: str
    exported: str
    threads: int
    bench_results: str | None
    machine: dict[str, Any]
    report_figures: dict[str, dict]
    litert_layer_times: str
    models: dict[str, ModelExplanation]
    pairs: list[dict]
    text: str
    environment: dict[str, Any] | None = None

    def __post_init__(self):
        bad = [name for name, m in self.models.items() if not isinstance(m, ModelExplanation)]
        if bad:
            raise InferBenchError(f"Explanation: models {', '.join(bad)} are not ModelExplanation records.")

    def to_dict(self) -> dict:
        """The file's JSON object (``schema_version`` first; no ``environment`` key when there is none)."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for key in _TOP_KEYS:
            if key == "models":
                out[key] = {name: m.to_dict() for name, m in self.models.items()}
            elif key == "environment":
                if self.environment is not None:
                    out[key] = copy.deepcopy(self.environment)
            else:
                out[key] = copy.deepcopy(getattr(self, key))
        return out

    @classmethod
    def from_dict(cls, data, source: str = "explanation") -> Explanation:
        """Read the file's JSON object (version already checked, or checked here)."""
        store.check_version(data, READ_VERSIONS, source, WHAT, REGENERATE)
        _missing_keys(data, _REQUIRED_TOP, source, "the explanation")
        threads = data["threads"]
        _need(isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1, source,
              f"threads is {threads!r}, not an int >= 1")
        _need(isinstance(data["models"], dict), source, "models is not an object")
        _need(isinstance(data["pairs"], list), source, "pairs is not a list")
        _need(isinstance(data["machine"], dict), source, "machine is not an object")
        env = data.get("environment")
        _need(env is None or isinstance(env, dict), source, "environment is not an object")
        models = {name: ModelExplanation.from_dict(m, f"{source} (model {name!r})")
                  for name, m in data["models"].items()}
        plain = {k: copy.deepcopy(data[k]) for k in _REQUIRED_TOP if k != "models"}
        return cls(models=models, environment=copy.deepcopy(env), **plain)


def save_explanation(expl: Explanation, folder: str | os.PathLike, json_path: str | os.PathLike | None = None) -> Path:
    """Write ``expl``: to ``json_path`` (refused if it exists) or a new ``folder/explain-YYYYMMDD-HHMMSS[-N].json``.

    Atomic and never overwriting (``results.store``); NaN or Inf anywhere is
    refused before anything is written. Returns the path written.
    """
    return store.write(expl.to_dict(), KIND, expl.created, folder, json_path, what=WHAT)


def load_explanation(path: str | os.PathLike) -> Explanation:
    """Read an ``explain-*.json``; a clear error when it is missing, damaged, of another version or incomplete."""
    data = store.read(path, READ_VERSIONS, WHAT, REGENERATE)
    return Explanation.from_dict(data, str(path))


def latest_explanation(folder: str | os.PathLike) -> Path | None:
    """The newest ``explain-*.json`` in ``folder`` (by the time in its name), or None."""
    return store.latest(folder, KIND)
