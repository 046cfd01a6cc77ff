"""Command line: parses arguments and calls the stage modules; nothing else lives here.

Every user-fixable problem is an ``InferBenchError``: printed as one paragraph,
exit status 2, no traceback (``--debug`` shows it). Ctrl-C and SIGTERM end the
run cleanly with status 130 after saying what was kept.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) hides our own
# output; users can still set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .errors import InferBenchError  # noqa: E402


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _models(value: str) -> list[str]:
    from .models import get_spec

    names = _csv(value)
    for n in names:
        get_spec(n)
    return names


def _add_exported(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exported", type=Path, default=Path("exported"), metavar="DIR",
                   help="export folder holding manifest.json (default: exported/)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every subcommand."""
    from .models import MODELS

    parser = argparse.ArgumentParser(prog="infer-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train-export", help="train the report's models on the real data and export every artifact")
    p.add_argument("--models", type=_csv, default=list(MODELS), metavar="M1,M2",
                   help=f"models to train and export (default: all: {', '.join(MODELS)})")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default: each model's own)")
    p.add_argument("--quick", action="store_true",
                   help=f"small data subsets and one epoch: a smoke run in minutes, not a real result")
    p.add_argument("--data-dir", default=None, metavar="D", help="folder holding fashion-mnist/ and cats-vs-dogs/")
    p.add_argument("--out", type=Path, default=Path("exported"), metavar="DIR", help="export folder (default: exported/)")
    p.add_argument("--force", action="store_true", help="retrain and re-export even if artifacts are up to date")
    p.set_defaults(func=cmd_train_export)
    return parser


def cmd_train_export(args) -> int:
    """``infer-bench train-export``."""
    from tabulate import tabulate

    from .models import get_spec
    from .train_export import Plan, artifact_table, run_train_export

    for n in args.models:
        get_spec(n)
    if args.epochs is not None and args.epochs < 1:
        raise InferBenchError(f"--epochs {args.epochs} must be at least 1.", "pass a positive number of epochs.")
    plan = Plan(models=args.models, out=args.out, data_dir=args.data_dir, epochs=args.epochs,
                quick=args.quick, force=args.force)
    try:
        manifest = run_train_export(plan)
    except KeyboardInterrupt:
        _report_kept(args.out, args.models)
        raise
    print()
    print(tabulate(artifact_table(manifest, args.models),
                   headers=["model", "format", "quantization", "MB", "source test acc", "path"], tablefmt="github"))
    print(f"\nManifest: {manifest.path}")
    for name in args.models:
        info = manifest.models.get(name, {})
        if info and not info.get("quick") and info["test_accuracy"] < info["target_accuracy"]:
            print(f"warning: {name} test accuracy {info['test_accuracy']:.2%} is below its "
                  f"{info['target_accuracy']:.0%} target", file=sys.stderr)
    return 0


def _report_kept(folder: Path, models) -> None:
    from .manifest import load_manifest

    try:
        m = load_manifest(folder, missing_ok=True)
    except InferBenchError:
        return
    kept = m.entries(models=models)
    print(f"\nInterrupted. {len(kept)} finished artifact(s) kept in {m.path}:", file=sys.stderr)
    for e in kept:
        print(f"  {e.label}: {e.path}", file=sys.stderr)
    print("The unfinished one was discarded. Rerun the same command to continue.", file=sys.stderr)


def _sigterm_as_interrupt(signum, frame):  # SIGTERM ends a run like Ctrl-C: cleanly
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Entry point of the ``infer-bench`` console script."""
    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except InferBenchError as exc:
        if debug:
            traceback.print_exc()
        print(f"infer-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("infer-bench: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
