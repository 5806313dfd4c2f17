"""The export cache (``~/.cache/t2g/onnx``): one export per checkpoint and version set.

A cached export is ``<cache_dir>/<checkpoint stem>-<key>``, key = ``cache_key``: what the export
depends on (the checkpoint's bytes, the input size, the torch/onnx/onnxruntime versions, the format
and opset). It is built on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .format import FORMAT_VERSION, OPSET, ExportError, file_sha256, load_manifest
from .onnx_export import export_model, runtime_versions

if TYPE_CHECKING:
    from ..model import T2GModel


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/t2g/onnx``, else ``~/.cache/t2g/onnx``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "t2g" / "onnx"


def cache_key(checkpoint_sha256: str, input_size: Sequence[int]) -> str:
    """What a cached export depends on: the checkpoint's bytes, the input size, the versions, the format."""
    versions = runtime_versions()
    text = json.dumps(
        {
            "checkpoint": checkpoint_sha256,
            "input_size": list(input_size),
            "versions": versions,
            "format": FORMAT_VERSION,
            "opset": OPSET,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_export(
    checkpoint: str | Path,
    *,
    cache_dir: str | Path | None = None,
    model: T2GModel | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The export directory of ``checkpoint`` in the cache, exported first when missing, stale or corrupt.

    The directory is written under a temporary name and renamed when complete, so a crash or a
    concurrent start never leaves a half export that looks valid.

    Args:
        checkpoint: a t2g checkpoint file.
        cache_dir: default ``default_cache_dir()``.
        model: the checkpoint's model if the caller loaded it already (saves loading it again).
        log: called with one line when an export is (re)built.

    Raises:
        ExportError: the checkpoint cannot be read, the cache cannot be written, or the fresh export is
            unusable (the message says which).
    """
    from ..checkpoint import CheckpointError, load_checkpoint

    checkpoint = Path(checkpoint)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not checkpoint.is_file():
        raise ExportError(f"{checkpoint}: no such checkpoint file")
    digest = file_sha256(checkpoint)
    if model is None:
        try:
            model = load_checkpoint(checkpoint).model
        except CheckpointError as exc:
            raise ExportError(str(exc)) from exc
    target = cache / f"{checkpoint.stem}-{cache_key(digest, model.input_size)}"
    if target.exists():
        problem = _unusable(target, digest)
        if problem is None:
            return target
        if log is not None:
            log(f"cached ONNX export {target} is unusable ({problem}); rebuilding it")
    elif log is not None:
        log(
            f"exporting {checkpoint.name} to ONNX in {target} (once per checkpoint and version set)"
        )
    tmp = cache / f".tmp-{uuid.uuid4().hex}"
    try:
        export_model(model, tmp, checkpoint_sha256=digest)
        if (
            _unusable(target, digest) is not None
        ):  # else another process has just finished the same export
            shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(tmp, target)
            except OSError:
                if (
                    _unusable(target, digest) is not None
                ):  # not a concurrent finisher: a real failure
                    raise
    except OSError as exc:
        raise ExportError(f"cannot write the ONNX export cache {cache}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_manifest(target)
    return target


def _unusable(folder: Path, checkpoint_sha256: str) -> str | None:
    """Why the export in ``folder`` cannot serve the checkpoint with that SHA-256, or None when it can."""
    if not folder.exists():
        return "missing"
    try:
        manifest = load_manifest(folder)
    except ExportError as exc:
        return str(exc)
    return (
        None
        if manifest.checkpoint_sha256 == checkpoint_sha256
        else "exported from another checkpoint"
    )
