"""The argparse parser of every subcommand (what the options are; ``cli`` decides what they do)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .bench import DEFAULT_BATCH_SIZES, DEFAULT_MIN_TIME_S
from .check.tolerances import ToleranceError, int8_budget_overrides
from .catalog import DATASET_BY_SHAPE, DEVICES, FORMATS, PRECISIONS
from .data.preprocess import SCALES
from .export.calibration import CALIBRATION_IMAGES
from .models import MODELS
from .regress import DEFAULT_ROUNDS, DEFAULT_THREADS, DEFAULT_THRESHOLD_PCT
from .runtimes import RUNTIMES
from .scenario.settings import SCENARIOS
from .train import SEED, STRATEGIES, TRAINING_PRECISIONS
from .usermodel import OUTPUT_KINDS


def csv(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(value: str) -> list[int]:
    try:
        return [int(b) for b in csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list of integers") from None


def _exported(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exported", type=Path, default=Path("exported"), metavar="DIR",
                   help="export folder holding manifest.json (default: exported/)")


def _results_dir(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR",
                   help=f"{what} (default: results/)")


def _data_dir(p: argparse.ArgumentParser, what: str = "folder holding the datasets") -> None:
    p.add_argument("--data-dir", default=None, metavar="D", help=what)


def _add_train_export(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train-export", help="train the report's models on the real data and export every artifact")
    p.add_argument("--models", type=csv, default=list(MODELS), metavar="M1,M2",
                   help=f"models to train and export (default: all: {', '.join(MODELS)})")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default: each model's own)")
    p.add_argument("--seed", type=int, default=SEED, metavar="N",
                   help=f"training seed: initial weights, shuffling, augmentation (default {SEED}); the data "
                        "split, calibration images and test set stay the same; a model trained with another "
                        "seed is retrained")
    p.add_argument("--training-precision", choices=TRAINING_PRECISIONS, default="auto",
                   help="Keras dtype policy of training (default auto: mixed_bfloat16 on a CPU with AMX-BF16, "
                        "else float32); the saved model and its exports compute in float32 either way")
    p.add_argument("--quick", action="store_true",
                   help="small data subsets and one epoch: a smoke run in minutes, not a real result")
    _data_dir(p, "folder holding fashion-mnist/ and cats-vs-dogs/")
    p.add_argument("--out", type=Path, default=Path("exported"), metavar="DIR", help="export folder (default: exported/)")
    p.add_argument("--force", action="store_true", help="retrain and re-export even if artifacts are up to date")
    p.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute strategy: mirrored = one replica per local GPU (else per logical CPU "
                        "device), global batch = each model's batch x replicas (default: one device)")
    return p


def _ray(p: argparse.ArgumentParser, what: str) -> None:
    """The fleet options (fleet/): the command sent to a Ray cluster's labelled nodes."""
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help=f"run {what} on a Ray cluster's labelled nodes, one job at a time per node (docs/fleet.md)")
    p.add_argument("--targets", type=csv, default=[], metavar="L1,L2",
                   help="with --ray: only nodes labelled ib.target=L1, L2 (default: every labelled live node)")
    p.add_argument("--unschedulable-after", type=float, default=60.0, metavar="S",
                   help="with --ray: a target with no live node for S seconds gets 'unschedulable' records (default 60)")


def _add_bench(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="per-row latency and throughput of every artifact in every runtime")
    _exported(p)
    p.add_argument("--models", type=csv, default=[], metavar="M1,M2", help="only these models")
    p.add_argument("--formats", type=csv, default=[], metavar="F1,F2", help=f"only these formats ({', '.join(FORMATS)})")
    p.add_argument("--quantizations", type=csv, default=[], metavar="Q1,Q2",
                   help=f"only these precisions ({', '.join(PRECISIONS)}; bf16 = fp32 files run by OpenVINO in bf16)")
    p.add_argument("--runtimes", type=csv, default=[], metavar="R1,R2",
                   help=f"only these runtimes ({', '.join(RUNTIMES)})")
    p.add_argument("--devices", type=csv, default=["cpu"], metavar="cpu,cuda",
                   help=f"devices (default: cpu; any of {', '.join(DEVICES)})")
    p.add_argument("--batch-sizes", type=_ints, default=None,
                   metavar="1,8,32,128", help="batch sizes to sweep (default: 1,8,32,128; with --sweep: 1)")
    p.add_argument("--min-time", type=float, default=DEFAULT_MIN_TIME_S, metavar="S",
                   help=f"minimum timed seconds per batch size (default: {DEFAULT_MIN_TIME_S:g})")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads for every CPU runtime (default: all cores)")
    p.add_argument("--sweep", action="store_true",
                   help="instead of the batch matrix: each case with k sessions of t threads running at once, "
                        "latency and rows/s per layout (results/sweep-<time>.json; docs/benchmarking.md)")
    p.add_argument("--sessions", type=_ints, default=[], metavar="1,2",
                   help="with --sweep: concurrent sessions to try (OpenVINO: streams; default 1, 2, 4 ... cores)")
    p.add_argument("--sweep-threads", type=_ints, default=[], metavar="1,2",
                   help="with --sweep: intra-op threads per session to try (default 1, 2, 4 ... cores; "
                        "without both lists, only layouts that fit the cores)")
    p.add_argument("--artifact", type=Path, action="append", default=[], metavar="PATH",
                   help="also benchmark this .keras/.onnx/.tflite file or SavedModel / OpenVINO IR folder (repeatable)")
    _data_dir(p)
    p.add_argument("--dataset", default=None, choices=sorted(set(DATASET_BY_SHAPE.values())),
                   help="feed this dataset's test images to every model (default: each model's own)")
    p.add_argument("--adapt", action="store_true",
                   help="resize images to each model's input size and convert grayscale/RGB (the report's fix)")
    p.add_argument("--unsafe-keras", action="store_true",
                   help="load .keras files with Keras safe mode off (runs code stored in them: trusted files only)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="write results here (refuses an existing file) instead of results/bench-<time>.json")
    _results_dir(p, "folder for timestamped results files")
    p.add_argument("--table-format", choices=["github", "plain", "csv"], default="github")
    _ray(p, "every case once per target")
    return p


def _add_merge(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("merge", help="bench files of several targets as one file, one section per target")
    p.add_argument("files", nargs="+", metavar="[LABEL=]FILE",
                   help="bench results files; LABEL= names a local file's target (default: its hostname)")
    p.add_argument("--out", type=Path, required=True, metavar="M.json", help="the merged file (refuses an existing one)")
    return p


def _add_regress(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("regress", help="latency regression check of a fast set against a committed baseline")
    _exported(p)
    p.add_argument("--baseline", type=Path, default=None, metavar="PATH",
                   help="baseline JSON (default: the benchmarks/baseline*.json recorded on this machine setup; "
                        "with --update-baseline, that file or a new baseline-<cpu>-<cores>c.json)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_PCT, metavar="PCT",
                   help=f"flag a case whose slowdown is above this, with 95%% confidence (default {DEFAULT_THRESHOLD_PCT:g})")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help=f"interleaved rounds (default {DEFAULT_ROUNDS})")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"threads per runtime (default {DEFAULT_THREADS}: steadiest on a shared machine)")
    p.add_argument("--update-baseline", action="store_true",
                   help="measure and rewrite the baseline instead of comparing: 5 fresh processes, then 3 "
                        "under memory contention (a few minutes; needs a spare core)")
    p.add_argument("--memory-contention", action="store_true",
                   help="run the check while another process streams memory on a spare core, as a busy CI "
                        "neighbour does (unchanged code should still pass)")
    p.add_argument("--inject-slowdown", action="append", default=[], metavar="CASE=FRACTION",
                   help="testing the gate only: make CASE's calls FRACTION slower (e.g. simple_cnn/onnx/fp32/onnxruntime/b1=0.25)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="also write the comparison as JSON (refuses an existing file)")
    _data_dir(p)
    return p


def _int8_budget(text: str) -> list[str]:
    """``--int8-budget AGREE_PCT,DROP_PTS`` as ``--tolerance`` overrides of both int8 rows."""
    try:
        return int8_budget_overrides(text)
    except ToleranceError as exc:
        raise argparse.ArgumentTypeError(f"{exc.problem} {exc.fix}") from None


class _ExtendTolerances(argparse.Action):
    """Adds the overrides ``--int8-budget`` stands for to ``--tolerance``'s list (a fresh list: the
    default is never mutated)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), *values])


def _add_check(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("check", help="every exported artifact against its Keras original: PASS/FAIL per precision")
    _exported(p)
    p.add_argument("--models", type=csv, default=[], metavar="M1,M2", help="only these models")
    p.add_argument("--artifact", type=Path, action="append", default=[], metavar="PATH",
                   help="also check this .onnx/.tflite/.keras file or SavedModel folder (needs --reference)")
    p.add_argument("--reference", type=Path, default=None, metavar="X.keras",
                   help="the Keras model --artifact files are compared with")
    p.add_argument("--tolerance", action="append", default=[], metavar="PRECISION.FIELD=VALUE",
                   help="override a tolerance, e.g. fp16.max_abs_diff=0.02 or static_int8.min_agreement=0.97 (repeatable)")
    p.add_argument("--int8-budget", type=_int8_budget, action=_ExtendTolerances, dest="tolerance", default=[],
                   metavar="AGREE_PCT,DROP_PTS",
                   help="the int8 budget: top-1 agreement %% and accuracy drop in points (default 99,0.5); a "
                        "static int8 artifact that misses it is repaired (static_int8.repair_max_float_layers / "
                        "repair_max_attempts, default 3 and 10; 0 switches the repair off)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="check only the first N test rows (quick look)")
    _data_dir(p)
    _results_dir(p, "folder for the timestamped check-<time>.json")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report here instead (refuses an existing file)")
    return p


def _add_calibration_study(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("calibration-study", help="static int8 agreement and accuracy over calibration sets of "
                                                 "several sizes and seeds (slow: one re-quantization each)")
    _exported(p)
    p.add_argument("--models", type=csv, default=[], metavar="M1,M2", help="only these models")
    p.add_argument("--sizes", default="64,256,1024", metavar="N1,N2",
                   help="calibration images per set (default 64,256,1024)")
    p.add_argument("--seeds", type=int, default=3, metavar="K", help="calibration draws per size (default 3)")
    p.add_argument("--tolerance", action="append", default=[], metavar="PRECISION.FIELD=VALUE",
                   help="override the budget, e.g. static_int8.min_agreement=0.98 (repeatable)")
    p.add_argument("--int8-budget", type=_int8_budget, action=_ExtendTolerances, dest="tolerance", default=[],
                   metavar="AGREE_PCT,DROP_PTS", help="the int8 budget each point is judged by (default 99,0.5)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="check on the first N test rows only")
    _data_dir(p)
    _results_dir(p, "folder for calibration-<time>.json and its figure")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="write the record here instead (refuses an existing file); the figure goes beside it")
    return p


def _add_explain(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("explain", help="why the models' speeds differ: cost model, machine ceilings, per-layer time, overhead")
    _exported(p)
    _results_dir(p, "where benchmark results are read and the explanation is written")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="write the explanation here (refuses an existing file) instead of results/explain-<time>.json")
    p.add_argument("--threads", type=int, default=None, help="threads for the measurements (default: all cores)")
    return p


def _add_report(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="Markdown report with figures and a deployment decision table")
    _exported(p)
    _results_dir(p, "where bench/check/explain results are")
    p.add_argument("--out", type=Path, default=Path("report"), metavar="DIR", help="output folder (default: report/)")
    return p


def _user_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=None, help="name of the model's artifacts and results (default: the file's stem)")
    p.add_argument("--output", choices=OUTPUT_KINDS, default=None,
                   help="what the model outputs (default: detected from its last layer)")
    p.add_argument("--scale", choices=SCALES, default=None,
                   help="pixel scaling: 1/255 (default), none (raw 0-255; the default when the model starts "
                        "with a Rescaling layer) or -1,1")
    p.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES, metavar="N",
                   help=f"training images that calibrate static int8 (default {CALIBRATION_IMAGES})")
    p.add_argument("--unsafe-keras", action="store_true",
                   help="load a model with custom objects or Lambda layers (runs code stored in it: trusted files only)")


DATA_HELP = ("a folder of class subfolders of images (optionally with train/ and test/ or validation/), "
             "an .npz file with x and y, or a shipped dataset's name (fashion_mnist, cats_vs_dogs)")


def _add_export(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="export your own Keras image classifier to every artifact, calibrated on your data")
    p.add_argument("model", type=Path, metavar="MODEL.keras", help="a .keras file or a SavedModel folder")
    p.add_argument("--data", required=True, metavar="D", help=DATA_HELP)
    _exported(p)
    _user_model_options(p)
    p.add_argument("--force", action="store_true", help="re-export even if the artifacts are up to date")
    return p


def _add_run(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="the whole answer: (train-)export, check, bench, explain, report, decisions")
    p.add_argument("model", type=Path, nargs="?", default=None, metavar="MODEL.keras",
                   help="your model (default: train the report's three models)")
    p.add_argument("--data", default=None, metavar="D", help=f"your model's data: {DATA_HELP}")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: --quick training, batch size 1 only, 0.1 s and 20 calls per measurement, "
                        "check on 256 test rows and 64 random images")
    _exported(p)
    _results_dir(p, "where bench, check and explain results go")
    p.add_argument("--report-dir", type=Path, default=Path("report"), metavar="DIR",
                   help="where report.md and its figures go (default: report/)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads for every CPU runtime (default: all cores)")
    _data_dir(p, "folder holding the shipped datasets")
    _user_model_options(p)
    return p


def _add_scenario(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("scenario", help="MLPerf LoadGen scenarios (single-stream, multi-stream, server, offline) "
                                        "and the most server QPS under a p99 bound")
    p.add_argument("--scenario", choices=SCENARIOS, default=None,
                   help="LoadGen scenario (default: single-stream; server with --find-max-qps)")
    p.add_argument("--model", default=None, help="a model in the manifest (with --format/--quantization)")
    p.add_argument("--artifact", type=Path, default=None, metavar="PATH",
                   help="serve this .onnx/.tflite/.keras file, SavedModel or OpenVINO IR folder instead")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="the --model's artifact format (default: the first the runtime loads)")
    p.add_argument("--quantization", choices=PRECISIONS, default="fp32",
                   help="the --model's artifact precision (bf16: its fp32 artifact run in bf16 by openvino)")
    p.add_argument("--runtime", choices=list(RUNTIMES), default=None,
                   help="runtime (default: the first that loads the artifact's format)")
    _exported(p)
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads per worker session (default: the cores divided among the workers); "
                        "with --find-max-qps, the cores the search splits")
    p.add_argument("--workers", type=int, default=1, help="server: sessions serving the queue (default 1)")
    p.add_argument("--max-batch", type=int, default=1,
                   help="server: dynamic batching up to this many queries; offline: the batch size (default 1)")
    p.add_argument("--max-wait-ms", type=float, default=0.0,
                   help="server: how long a batch waits for more queries after its first arrived (default 0)")
    p.add_argument("--target-qps", type=float, default=None, metavar="Q",
                   help="server: the Poisson arrival rate; offline: the expected rate (default: probed)")
    p.add_argument("--slo-ms", type=float, default=None, metavar="X",
                   help="server: the p99 latency bound (default 10 ms, MLPerf's)")
    p.add_argument("--find-max-qps", action="store_true",
                   help="search workers x threads x dynamic batching for the most server QPS VALID at p99 <= --slo-ms")
    p.add_argument("--no-batching", action="store_true", help="--find-max-qps: leave dynamic batching out of the search")
    p.add_argument("--max-runs", type=int, default=7, metavar="N",
                   help="--find-max-qps: LoadGen runs per configuration at most (default 7)")
    p.add_argument("--mlperf", action="store_true",
                   help="MLPerf's settings (600 s minimum per run) instead of the short ones (2 s; 662 queries "
                        "single-/multi-stream, 500 server)")
    p.add_argument("--duration-s", type=float, default=None, metavar="S", help="LoadGen's minimum duration per run")
    p.add_argument("--min-queries", type=int, default=None, metavar="N", help="LoadGen's minimum query count per run")
    p.add_argument("--rows", type=int, default=None, metavar="N",
                   help="test images in the sample library (default: 512 Fashion-MNIST, 256 cats_vs_dogs)")
    _data_dir(p)
    _results_dir(p, "folder for scenario-<time>.json and LoadGen's logs")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="write the record here (refuses an existing file) instead of results/scenario-<time>.json")
    _ray(p, "the scenario once per target (record: results/fleet-scenario-<time>.json)")
    return p


SUBCOMMANDS = {"run": _add_run, "export": _add_export, "train-export": _add_train_export, "bench": _add_bench, "regress": _add_regress,
               "check": _add_check, "explain": _add_explain, "report": _add_report, "scenario": _add_scenario,
               "calibration-study": _add_calibration_study, "merge": _add_merge}


def build_parser(description: str, commands: dict) -> argparse.ArgumentParser:
    """The parser; ``commands`` maps each subcommand name to its ``(build_plan, run)`` pair in ``cli``."""
    parser = argparse.ArgumentParser(prog="infer-bench", description=description)
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, add in SUBCOMMANDS.items():
        build_plan, run = commands[name]
        add(sub).set_defaults(build_plan=build_plan, run=run)
    return parser
