"""The one store for every JSON file the suite writes.

Rules, for every kind of file: written under a temporary name and renamed
(never half-written); a new file never replaces an existing one (hard-link
claim, so even two racing writers cannot overwrite each other); timestamped
files are named ``KIND-YYYYMMDD-HHMMSS[-N].json`` and "the newest" is chosen by
that name; a file is read back with a clear error when it is missing, damaged
or of a schema version this infer-bench does not read.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from ..errors import InferBenchError
from ..fsutil import write_json_atomic

MAX_SAME_SECOND = 10_000  # KIND-<stamp>-N.json names tried before giving up


def now_iso() -> str:
    """The local time now, ISO 8601 with offset, to the second (every file's ``created``)."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def exists_error(path: Path, what: str = "results") -> InferBenchError:
    """The one "already exists" error: nothing is ever overwritten silently."""
    return InferBenchError(f"{path} already exists; {what} files are never overwritten silently.",
                           "choose another path, or remove the file first.")


def payload(data: dict) -> bytes:
    """The bytes of a JSON file: indented, NaN/Inf refused before anything is written."""
    return (json.dumps(data, indent=2, allow_nan=False) + "\n").encode()


def create_new(final: Path, content: bytes) -> None:
    """Write ``content`` to ``final`` only if ``final`` does not exist yet.

    The content is written and synced under a temporary name first, then
    hard-linked to ``final``: ``link`` fails if the name exists, so even two
    racing writers cannot overwrite each other, and ``final`` never appears
    half-written. Raises ``FileExistsError`` if ``final`` exists.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise
        except OSError:
            # File system without hard links: claim the name exclusively, then
            # move the complete content over our own (empty) claim.
            with open(final, "xb"):
                pass
            os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def stamp_of(created: str) -> str:
    """``YYYYMMDD-HHMMSS`` of an ISO time (now, if it cannot be parsed)."""
    try:
        return datetime.fromisoformat(created).strftime("%Y%m%d-%H%M%S")
    except (TypeError, ValueError):
        return datetime.now().strftime("%Y%m%d-%H%M%S")


def write_stamped(folder: str | os.PathLike, kind: str, data: dict, created: str) -> Path:
    """Create ``folder/KIND-YYYYMMDD-HHMMSS.json`` (time of ``created``); never overwrite.

    If that name is taken, ``-2``, ``-3``, ... are tried. Returns the path written.
    """
    folder = Path(folder)
    stamp = stamp_of(created)
    content = payload(data)
    for n in range(1, MAX_SAME_SECOND):
        path = folder / (f"{kind}-{stamp}.json" if n == 1 else f"{kind}-{stamp}-{n}.json")
        try:
            create_new(path, content)
            return path
        except FileExistsError:
            continue
    raise InferBenchError(f"Too many files named {kind}-{stamp}*.json in {folder}.", "clean up the folder.")


def write_new(path: str | os.PathLike, data: dict, *, overwrite: bool = False, what: str = "results") -> Path:
    """Write to an explicit path (``--json PATH``); an existing file is refused unless ``overwrite``."""
    path = Path(path)
    if overwrite:
        rewrite(path, data)
        return path
    try:
        create_new(path, payload(data))
    except FileExistsError:
        raise exists_error(path, what) from None
    return path


def rewrite(path: str | os.PathLike, data: dict) -> None:
    """Atomically replace a file this run owns (one that grows case by case)."""
    payload(data)  # refuse NaN/Inf before touching the file
    write_json_atomic(path, data)


def write(data: dict, kind: str, created: str, folder: str | os.PathLike, json_path: str | os.PathLike | None = None,
          what: str = "results") -> Path:
    """Write a finished file: to ``json_path`` if given (refused if it exists), else a new stamped file in ``folder``."""
    if json_path is not None:
        return write_new(json_path, data, what=what)
    return write_stamped(folder, kind, data, created)


def paths(folder: str | os.PathLike, kind: str) -> list[Path]:
    """Every ``KIND-*.json`` in ``folder``, oldest first: names without the ``KIND-YYYYMMDD-HHMMSS[-N]``
    stamp by modification time, then the time-stamped ones by the time in their name (``-N``
    suffixes in number order). A stamped file always ranks above an unstamped one."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(kind)}-(\d{{8}}-\d{{6}})(?:-(\d+))?\.json$")
    stamped, other = [], []
    for p in folder.glob(f"{kind}-*.json"):
        if not p.is_file():
            continue
        m = pattern.match(p.name)
        if m:
            # Parse the suffix: "-10" sorts after "-2", and no suffix is the first.
            stamped.append((m.group(1), int(m.group(2) or 1), p))
        else:
            other.append((p.stat().st_mtime, p.name, p))
    return [p for *_, p in sorted(other)] + [p for *_, p in sorted(stamped)]


def latest(folder: str | os.PathLike, kind: str) -> Path | None:
    """The newest ``KIND-*.json`` in ``folder`` as ``paths`` ranks them; None when there is none."""
    found = paths(folder, kind)
    return found[-1] if found else None


def read(path: str | os.PathLike, versions, what: str, regenerate: str) -> dict:
    """Read a JSON object written by this store and check its ``schema_version``.

    ``versions``: the schema versions this reader understands. ``what`` names
    the kind of file in messages; ``regenerate`` says which command writes a
    fresh one. Missing, damaged and other-version files get a clear error.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InferBenchError(f"No {what} file at {path}.", f"run `{regenerate}` first, or check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InferBenchError(f"Cannot read {what} file {path}: {e}.",
                              f"run `{regenerate}` to write a fresh one.") from e
    check_version(data, versions, str(path), what, regenerate)
    return data


def check_version(data, versions, source: str, what: str, regenerate: str) -> None:
    """Refuse an object without ``schema_version`` or with one not in ``versions``."""
    versions = (versions,) if isinstance(versions, int) else tuple(versions)
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InferBenchError(f"{source} is not an infer-bench {what} file (no schema_version).",
                              f"pass a file written by `{regenerate}`.")
    if data["schema_version"] not in versions:
        known = " or ".join(map(str, versions))
        raise InferBenchError(
            f"{source} has schema_version {data['schema_version']!r}; this infer-bench reads {what} version {known} only.",
            f"run `{regenerate}` again with this version, or read the file with the infer-bench version that wrote it.")
