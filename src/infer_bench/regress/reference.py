"""The reference side of the gate's A/B rounds: frozen runtime calls on the baseline commit's exports.

Each case is timed twice per round in one process: the **candidate** (the
fast-set artifact exported by the code under test, run through infer-bench's
own runtime adapter) and the **reference** (the baseline commit's export of the
same model, run by the plain runtime calls below, whose settings are fixed
here). Both see the same neighbours at the same moment, so the paired ratio
candidate / reference does not move when the host gets busy.

What each side catches:

- an export change (``export/``, ``models.py``, ``regress/fastset.py``): the
  reference exports are rebuilt from the baseline's commit in a git worktree,
  so the candidate's new graph is timed against the old one;
- a runtime-adapter change (session options, a copy per call): the candidate
  runs through ``runtimes/``, the reference does not;
- a library upgrade: not judged by the ratio (both sides use the installed
  library); ``Baseline.check_machine`` refuses a baseline recorded with other
  library versions, so an upgrade re-records the baseline on purpose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InferBenchError
from .fastset import CACHE_DIR

# The sources whose change alters the fast set's exported graphs: with none of them changed
# since the baseline's commit, the candidate's exports are the reference's, byte for byte or not.
EXPORT_SOURCES = ("src/infer_bench/export", "src/infer_bench/models.py", "src/infer_bench/regress/fastset.py")
REFERENCE_CACHE = CACHE_DIR.parent / "regress-reference"
_REPO = Path(__file__).resolve().parents[3]


def _git(args: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(_REPO), *args], capture_output=True, text=True)


def export_sources_changed(commit: str) -> bool | str:
    """Whether ``EXPORT_SOURCES`` differ between ``commit`` and this checkout (uncommitted edits count).

    Returns True/False, or a sentence saying why git could not tell.
    """
    if not commit:
        return "the baseline records no git commit"
    try:
        proc = _git(["diff", "--quiet", commit, "--", *EXPORT_SOURCES])
    except OSError as exc:
        return f"git could not run ({exc})"
    if proc.returncode in (0, 1):
        return proc.returncode == 1
    return f"git cannot compare with commit {commit[:12]} ({proc.stderr.strip()[:200] or 'unknown error'})"


def require_committed_exports() -> None:
    """Refuse to record a baseline while the export sources have uncommitted changes.

    The check rebuilds the reference exports from the recorded commit; exports
    made from uncommitted code could never be rebuilt.
    """
    proc = _git(["status", "--porcelain", "--untracked-files=no", "--", *EXPORT_SOURCES])
    if proc.returncode == 0 and proc.stdout.strip():
        changed = ", ".join(line[3:] for line in proc.stdout.splitlines())
        raise InferBenchError(f"The export sources have uncommitted changes ({changed}); a baseline records the "
                              "commit the gate rebuilds its reference exports from.",
                              "commit them, then rerun `infer-bench regress --update-baseline`.")


@dataclass(frozen=True)
class ReferenceExports:
    """Where the reference artifacts come from, and the files: {(model, format): path}."""

    source: str  # one sentence for the output and the --json outcome
    paths: dict


def build_at_commit(commit: str, models: Sequence[str], log: Callable[[str], None]) -> dict:
    """The fast-set exports of ``models`` made by the code of ``commit`` (cached per commit).

    Checks the commit out in a temporary git worktree and runs its
    ``fast_set_artifacts`` in a child process with that tree's sources first on
    the path, under the libraries installed here.
    """
    cache = REFERENCE_CACHE / commit[:12]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        added = _git(["worktree", "add", "--detach", str(tree), commit])
        if added.returncode != 0:
            raise InferBenchError(f"Could not check out the baseline's commit {commit[:12]}: {added.stderr.strip()}",
                                  "fetch the full history (not a shallow clone), or re-record the baseline.")
        try:
            code = ("import json, sys; from pathlib import Path; "
                    "from infer_bench.regress.fastset import fast_set_artifacts; "
                    "out = fast_set_artifacts(Path(sys.argv[1]), log=lambda m: print(m, flush=True), "
                    "models=sys.argv[2].split(',')); "
                    "print(json.dumps({'/'.join(k): str(v) for k, v in out.items()}))")
            env = dict(os.environ, PYTHONPATH=str(tree / "src"), TF_CPP_MIN_LOG_LEVEL="3")
            log(f"  export sources changed since the baseline's commit {commit[:12]}: building its exports "
                "as the reference (once per commit)")
            proc = subprocess.run([sys.executable, "-c", code, str(cache.resolve()), ",".join(models)],
                                  capture_output=True, text=True, env=env, cwd=tmp)
        finally:
            _git(["worktree", "remove", "--force", str(tree)])
    if proc.returncode != 0:
        raise InferBenchError(f"Exporting the reference at commit {commit[:12]} failed: {proc.stderr.strip()[-1500:]}",
                              "re-record the baseline at a commit whose fast set exports.")
    made = json.loads(proc.stdout.strip().splitlines()[-1])
    return {tuple(key.split("/")): Path(path) for key, path in made.items()}  # the child's last line


def reference_exports(commit: str, candidate: dict, log: Callable[[str], None]) -> ReferenceExports:
    """The reference artifacts for ``candidate`` ({(model, format): path}): the same files when the export
    sources are unchanged since ``commit``, the commit's own exports when they changed."""
    changed = export_sources_changed(commit)
    if changed is False:
        return ReferenceExports(f"the candidate's exports (export sources unchanged since {commit[:12]})",
                                dict(candidate))
    if changed is True:
        models = sorted({model for model, _ in candidate})
        return ReferenceExports(f"exports rebuilt from the baseline's commit {commit[:12]} (export sources changed)",
                                build_at_commit(commit, models, log))
    log(f"  warning: {changed}; the reference uses the candidate's exports, so an export change is not judged")
    return ReferenceExports(f"the candidate's exports ({changed}: export changes not judged)", dict(candidate))


def reference_run(runtime: str, path: Path, threads: int, batch: int) -> Callable[[np.ndarray], object]:
    """A frozen plain call of ``runtime`` on ``path`` for batches of ``batch`` rows (freed with the callable).

    The settings are the ones infer-bench's adapters used when this gate was
    written: ONNX Runtime CPU, all graph optimizations, sequential, ``threads``
    intra-op threads; LiteRT's Interpreter with XNNPACK and ``threads``.
    """
    if runtime == "onnxruntime":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})[0]
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        entry = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(entry["index"], [batch, *entry["shape"][1:]])
        interpreter.allocate_tensors()
        out = interpreter.get_output_details()[0]["index"]

        def run(x):
            interpreter.set_tensor(entry["index"], x)
            interpreter.invoke()
            return interpreter.get_tensor(out)

        return run
    raise InferBenchError(f"The gate has no reference call for runtime {runtime!r}.",
                          "keep the fast set to onnxruntime and litert cases, or add a reference call here.")
