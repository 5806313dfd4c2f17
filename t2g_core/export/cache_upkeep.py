"""Keeping the export cache sound: one builder per export, stale exports replaced with the reason.

- ``build_lock``: an exclusive lock file per export (``flock``), so two processes starting on the
  same checkpoint (two nodes, the demo and its node, a benchmark) build it once: the second waits,
  then finds the export complete and reuses it. A stray folder (or anything but a plain file) at
  the lock's name is removed first, as ``remove_entry`` removes whatever is at an export's name.
- ``stale_exports``: the exports an earlier build made from the same checkpoint file (its path is
  recorded in ``source.json`` beside the manifest) whose cache key no longer matches: the checkpoint
  was retrained, or the export format or the torch/onnx/onnxruntime versions changed. Each comes
  with why, so the log says it, and the new export replaces it (the cache does not grow by one
  ~27 MB export per retraining). Exports of other checkpoint files are left alone.

json and fcntl only (no torch): the set-up's cheap check can use it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .format import FORMAT_VERSION, MANIFEST, OPSET

SOURCE_FILE = "source.json"
# The shipped checkpoint's export took ~8 s of work on 2 idle cores (480x360, memory 4); loaded
# machines take longer, so this is said as an order of magnitude.
BUILD_ESTIMATE_S = 10
KEY_LENGTH = 16  # hex digits of ``cache.cache_key`` in a folder name


@contextmanager
def build_lock(
    cache: Path, name: str, *, log: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold ``<cache>/.<name>.lock`` exclusively; says so when another process holds it.

    Anything but a plain file at the lock's name (a folder, a FIFO, a link) would make every start
    fail (or block, for a FIFO) and is never a lock this code made: it is removed, and logged.

    Raises:
        OSError: the cache folder cannot be created or written.
    """
    cache.mkdir(parents=True, exist_ok=True)
    lock = cache / f".{name}.lock"
    if _stray(lock):
        remove_entry(lock)
        if log is not None:
            log(f"removed a stray entry (not a lock file) at {lock}")
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log is not None:
                log(f"waiting for another process that is building {cache / name}...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_entry(path: Path) -> None:
    """Remove whatever is at ``path``: a folder with its contents, a file, a link (not its target).

    Raises:
        OSError: it cannot be removed (the error names the path).
    """
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass  # gone already, e.g. removed by another process


def _stray(lock: Path) -> bool:
    """Whether something other than a plain file is at ``lock``'s name."""
    try:
        return not stat.S_ISREG(os.lstat(lock).st_mode)
    except FileNotFoundError:
        return False


def write_source(folder: Path, checkpoint: Path) -> None:
    """Record which checkpoint file ``folder`` was exported from (resolved path)."""
    text = json.dumps({"checkpoint": str(checkpoint.resolve())}) + "\n"
    (folder / SOURCE_FILE).write_text(text, encoding="utf-8")


def stale_exports(
    target: Path,
    checkpoint: Path,
    *,
    checkpoint_sha256: str,
    input_size: tuple[int, int],
    versions: dict[str, str],
) -> list[tuple[Path, str]]:
    """Exports beside ``target`` of the same checkpoint file and precision, each with why it is stale.

    ``target`` is ``<cache>/<name>-<key>``; siblings are ``<name>-<other key>`` whose ``source.json``
    names ``checkpoint``. The other arguments describe the export ``target`` will hold.
    """
    prefix = target.name[: -KEY_LENGTH - 1]
    wanted = {
        "format_version": FORMAT_VERSION,
        "opset": OPSET,
        "checkpoint_sha256": checkpoint_sha256,
        "input_size": list(input_size),
        "versions": versions,
    }
    source = str(checkpoint.resolve())
    found = []
    for folder in sorted(target.parent.glob(f"{prefix}-*")):
        key = folder.name[len(prefix) + 1 :]
        if folder == target or len(key) != KEY_LENGTH or not folder.is_dir():
            continue
        if _read_json(folder / SOURCE_FILE).get("checkpoint") != source:
            continue
        found.append((folder, stale_reason(_read_json(folder / MANIFEST), wanted)))
    return found


def stale_reason(old: dict, new: dict) -> str:
    """What differs between an old manifest (raw JSON) and the export wanted now, in words."""
    if not old:
        return "no readable manifest"
    changes = []
    if old.get("format_version") != new["format_version"]:
        changes.append(f"export format v{old.get('format_version')} -> v{new['format_version']}")
    if old.get("checkpoint_sha256") != new["checkpoint_sha256"]:
        before = str(old.get("checkpoint_sha256"))[:12]
        changes.append(
            f"the checkpoint changed (sha256 {before}... -> {new['checkpoint_sha256'][:12]}...)"
        )
    if old.get("input_size") != new["input_size"]:
        changes.append(f"input size {old.get('input_size')} -> {new['input_size']}")
    if old.get("opset") != new["opset"]:
        changes.append(f"opset {old.get('opset')} -> {new['opset']}")
    before_versions = old.get("versions") or {}
    for name, version in sorted(new["versions"].items()):
        if before_versions.get(name) != version:
            changes.append(f"{name} {before_versions.get(name)} -> {version}")
    return "; ".join(changes) or "another cache key"


def _read_json(path: Path) -> dict:
    """The JSON object in ``path``, or {} when it is missing or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
