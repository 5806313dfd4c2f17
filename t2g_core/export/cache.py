"""The export cache (``~/.cache/t2g/onnx``): one export per checkpoint and version set.

A cached export is ``<cache_dir>/<checkpoint stem>-<key>`` (fp32) or ``<checkpoint stem>-int8-<key>``
(the backbone quantised, ``quantize``), key = ``cache_key``: what the export depends on (the
checkpoint's bytes, the input size, the torch/onnx/onnxruntime versions, the format and opset, the
precision and its recipe). It is built on first use; an int8 export is made from the fp32 one.
One process builds a given export at a time (``cache_upkeep.build_lock``); a corrupt export (its
manifest binds the files' bytes, the precision and the checkpoint) or a stray file or folder at its
name is rebuilt, and a stale one (same checkpoint file, another key) replaced, the log line saying
why. When the cache cannot be written, the error names the cause and only the advice that fits it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .cache_upkeep import BUILD_ESTIMATE_S, build_lock, remove_entry, stale_exports, write_source
from .format import (
    FORMAT_VERSION,
    OPSET,
    CalibrationUnavailable,
    ExportError,
    file_sha256,
    load_manifest,
    runtime_versions,
)
from .quantize import (
    CALIBRATION_FRAMES,
    INT8_BUILD_ESTIMATE_S,
    RECIPE,
    check_precision,
    quantize_export,
)

if TYPE_CHECKING:
    import numpy as np

    from ..labels import LabelSet
    from ..modeling.model import T2GModel

Calibration = Callable[..., tuple[Sequence[str], Iterable["np.ndarray"]]]
"""Called with ``count=``: the names of that many calibration images and their (H, W, 3) uint8 RGB frames
(``t2g_core.data.calibration.camvid_calibration_frames``)."""


def default_cache_dir() -> Path:
    """``$T2G_EXPORT_CACHE``, else ``$XDG_CACHE_HOME/t2g/onnx``, else ``~/.cache/t2g/onnx``."""
    if os.environ.get("T2G_EXPORT_CACHE"):
        return Path(os.environ["T2G_EXPORT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "t2g" / "onnx"


def cache_key(
    checkpoint_sha256: str,
    input_size: Sequence[int],
    *,
    precision: str = "fp32",
    versions: dict[str, str | None] | None = None,
) -> str:
    """What a cached export depends on: the checkpoint's bytes, the input size, the versions
    (default: the installed ones), the format, and for int8 the quantisation recipe and
    calibration size."""
    fields = {
        "checkpoint": checkpoint_sha256,
        "input_size": list(input_size),
        "versions": runtime_versions() if versions is None else versions,
        "format": FORMAT_VERSION,
        "opset": OPSET,
    }
    if check_precision(precision) != "fp32":  # fp32 keys stay as before: existing caches stay valid
        fields |= {"precision": precision, "recipe": RECIPE, "frames": CALIBRATION_FRAMES}
    text = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_cached_export(
    checkpoint: str | Path, *, cache_dir: str | Path | None = None, precision: str = "fp32"
) -> Path | None:
    """The valid export of ``checkpoint`` in the cache, or None; imports no torch, loads nothing.

    Valid as ``cached_export`` would reuse it: complete and intact (its files match the manifest),
    of this checkpoint's bytes at ``precision``, with a label set, in a folder named by the cache key
    of its input size and the installed versions. Without torch installed (an onnxruntime-only
    deployment) the export's recorded torch version stands in for it.
    """
    checkpoint = Path(checkpoint)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not checkpoint.is_file() or not cache.is_dir():
        return None
    digest = file_sha256(checkpoint)
    tag = "" if precision == "fp32" else f"-{precision}"
    for folder in sorted(cache.glob(f"{checkpoint.stem}{tag}-*")):
        if _unusable(folder, digest, precision) is not None:
            continue
        manifest = load_manifest(folder, verify_files=False)  # verified by _unusable
        versions = runtime_versions()
        if versions["torch"] is None:
            versions["torch"] = manifest.versions.get("torch")
        key = cache_key(digest, manifest.input_size, precision=precision, versions=versions)
        if folder.name == f"{checkpoint.stem}{tag}-{key}" and manifest.labels is not None:
            return folder
    return None


def cached_export(
    checkpoint: str | Path,
    *,
    cache_dir: str | Path | None = None,
    model: T2GModel | None = None,
    label_set: LabelSet | None = None,
    log: Callable[[str], None] | None = None,
    precision: str = "fp32",
    calibration: Calibration | None = None,
) -> Path:
    """The export directory of ``checkpoint`` in the cache, exported first when missing, stale or corrupt.

    The directory is written under a temporary name and renamed when complete, so a crash or a
    concurrent start never leaves a half export that looks valid.

    Args:
        checkpoint: a t2g checkpoint file.
        cache_dir: default ``default_cache_dir()``.
        model: the checkpoint's model if the caller loaded it already (saves loading it again).
        label_set: its label set, recorded in the manifest (read from the checkpoint when None and
            an export is built).
        log: called with one line when an export is (re)built.
        precision: ``fp32``, or ``int8`` (the backbone quantised; built from the fp32 export).
        calibration: the frames that calibrate an int8 export when it must be built
            (``t2g_core.data.calibration.camvid_calibration_frames``); unused for fp32.

    Raises:
        ExportError: the checkpoint cannot be read, the cache cannot be written (the message names
            the OS's reason and the path), an int8 build has no calibration frames, or the fresh
            export is unusable (the message says which).
        ValueError: an unknown precision.
    """
    from ..checkpoint import CheckpointError, load_checkpoint

    check_precision(precision)
    checkpoint = Path(checkpoint)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not checkpoint.is_file():
        raise ExportError(f"{checkpoint}: no such checkpoint file")
    digest = file_sha256(checkpoint)
    if model is None:
        try:
            loaded = load_checkpoint(checkpoint)
        except CheckpointError as exc:
            raise ExportError(str(exc)) from exc
        model, label_set = loaded.model, label_set or loaded.label_set
    key = cache_key(digest, model.input_size, precision=precision)
    tag = "" if precision == "fp32" else f"-{precision}"
    target = cache / f"{checkpoint.stem}{tag}-{key}"
    if _unusable(target, digest, precision) is None:
        return target
    try:
        with build_lock(cache, target.name, log=log):
            return _build(checkpoint, target, digest, model, label_set, log, precision, calibration)
    except OSError as exc:
        raise ExportError(_cache_error(cache, exc)) from exc


def _cache_error(cache: Path, exc: OSError) -> str:
    """Why the cache could not be written, with the advice for that cause only."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "it is not writable: set T2G_EXPORT_CACHE to a writable folder"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "the disk is full: free space, or set T2G_EXPORT_CACHE to a folder on another disk"
    elif exc.errno in (errno.EEXIST, errno.ENOTDIR):
        advice = "a file is where a folder should be: remove it, or set T2G_EXPORT_CACHE elsewhere"
    else:
        advice = "set T2G_EXPORT_CACHE to another folder"
    where = f": {exc.filename}" if exc.filename else ""
    return (
        f"cannot write the ONNX export cache {cache}: {exc.strerror or exc}{where} "
        f"({advice}, or use the torch backend)"
    )


def _build(
    checkpoint: Path,
    target: Path,
    digest: str,
    model: T2GModel,
    label_set: LabelSet | None,
    log: Callable[[str], None] | None,
    precision: str,
    calibration: Calibration | None,
) -> Path:
    """``cached_export``'s build, under the export's lock: logs what and why, replaces stale ones."""
    cache = target.parent
    problem = _unusable(target, digest, precision)
    if problem is None:  # another process built it while this one waited for the lock
        return target
    stale = stale_exports(
        target,
        checkpoint,
        checkpoint_sha256=digest,
        input_size=tuple(model.input_size),
        versions=runtime_versions(),
    )
    if problem != "missing":
        why = f": the cached one is unusable ({problem})"
    elif stale:
        why = "".join(f": {folder.name} is stale ({reason})" for folder, reason in stale)
    else:
        why = ""
    kind = "" if precision == "fp32" else f" {precision}"
    estimate = BUILD_ESTIMATE_S if precision == "fp32" else INT8_BUILD_ESTIMATE_S
    started = time.monotonic()
    if log is not None:
        log(
            f"building the onnxruntime{kind} export of {checkpoint.name} "
            f"(once, ~{estimate} s) into {target}{why}..."
        )
    if precision == "fp32":
        from ..checkpoint import load_checkpoint

        labels = label_set or load_checkpoint(checkpoint).label_set

        def write(folder: Path) -> None:
            export_model(model, folder, checkpoint_sha256=digest, label_set=labels)

    else:
        fp32_dir = cached_export(
            checkpoint, cache_dir=cache, model=model, label_set=label_set, log=log
        )
        names, frames = _calibration_frames(calibration)

        def write(folder: Path) -> None:
            quantize_export(fp32_dir, folder, frames=frames, calibration=names, log=log)

    # Written under a temporary name and renamed when complete: a crash never leaves a half export
    # under the final name.
    tmp = cache / f".tmp-{uuid.uuid4().hex}"
    try:
        write(tmp)
        write_source(tmp, checkpoint)
        remove_entry(target)  # a damaged export, or a stray file or link at its name
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_manifest(target)
    for folder, _ in stale:
        shutil.rmtree(folder, ignore_errors=True)
    if log is not None:
        elapsed = time.monotonic() - started
        log(f"built the onnxruntime{kind} export of {checkpoint.name} in {elapsed:.1f} s")
    return target


def export_model(*args, **kwargs):
    """``onnx_export.export_model``, imported when an export is built: it needs torch, and finding
    a valid cached export does not."""
    from .onnx_export import export_model as export

    return export(*args, **kwargs)


def _calibration_frames(calibration: Calibration | None) -> tuple[Sequence[str], Iterable]:
    """``CALIBRATION_FRAMES`` frames from ``calibration``; ``ExportError`` saying how to build the
    int8 export when there are none."""
    advice = (
        "build the int8 export once with t2g-export --checkpoint <checkpoint> --precision int8 "
        "--data-root <the shared data folder holding camvid/>; the node then finds it in the cache"
    )
    if calibration is None:
        raise CalibrationUnavailable(f"an int8 export needs calibration frames ({advice})")
    try:
        return calibration(count=CALIBRATION_FRAMES)
    except (FileNotFoundError, ValueError) as exc:
        raise CalibrationUnavailable(f"{exc} ({advice})") from exc


def _unusable(folder: Path, checkpoint_sha256: str, precision: str) -> str | None:
    """Why the export in ``folder`` cannot serve the checkpoint with that SHA-256 at ``precision``,
    or None when it can. The manifest's hashes bind the files, so its precision and checkpoint
    are the files' own."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        return "a stray file or link, not an export folder"
    if not folder.exists():
        return "missing"
    try:
        manifest = load_manifest(folder)
    except ExportError as exc:
        return str(exc)
    if manifest.checkpoint_sha256 != checkpoint_sha256:
        return "exported from another checkpoint"
    if manifest.precision != precision:
        return f"{manifest.precision}, not {precision}"
    return None
