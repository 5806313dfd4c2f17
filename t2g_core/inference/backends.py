"""The inference backends, named in one place, and ``open_segmenter``: checkpoint -> segmenter.

The node, ``t2g-bag-eval``, the evaluation (``make bench``) and ``scripts/bench_speed.py`` all open
their segmenters here, so each can run (and time) any backend:

- ``torch``: ``StreamingSegmenter`` on the checkpoint's model (CPU, or CUDA under float16 autocast);
- ``onnxruntime``: ``OrtStreamingSegmenter`` on the checkpoint's ONNX export (CPU), built on first
  use into the export cache and reused while the checkpoint and the torch/onnx/onnxruntime
  versions stay the same; ``precision="int8"`` runs it with the backbone quantised
  (``t2g_core.export.quantize``), the only backend that can. When the cache holds a valid export
  of the checkpoint, it opens from the export alone (its manifest carries the label set): torch is
  neither imported nor needed.

Per-frame is not a backend: it is ``memory_length=1`` (or a checkpoint whose memory capacity is 1);
the EMA baseline is ``ema_alpha`` on any backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..export.quantize import check_precision
from ..resources import shipped_path

if TYPE_CHECKING:  # torch loads only when a checkpoint is opened
    from ..checkpoint import LoadedCheckpoint
    from .stream_base import StreamBase

DEFAULT_CHECKPOINT = ("checkpoints", "t2g_lite0_camvid.pt")
DEFAULT_BACKEND = "onnxruntime"
"""The backend every default names: the node's ``model.backend``, ``open_segmenter``, the evaluation."""


@dataclass(frozen=True)
class Backend:
    """One inference runtime.

    Attributes:
        name: the value of ``backend`` (and of the node's ``model.backend``).
        description: one line for help texts.
        devices: device kinds it runs on (``"cpu"``, ``"cuda"``).
    """

    name: str
    description: str
    devices: tuple[str, ...]


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("torch", "PyTorch eager (CPU, or CUDA under float16 autocast)", ("cpu", "cuda")),
        Backend("onnxruntime", "ONNX export of the checkpoint on onnxruntime (CPU)", ("cpu",)),
    )
}
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)


def default_checkpoint() -> Path:
    """The shipped T2G checkpoint (``FileNotFoundError`` naming where it was looked for)."""
    return shipped_path(*DEFAULT_CHECKPOINT)


def open_segmenter(
    checkpoint: str | Path,
    *,
    backend: str = DEFAULT_BACKEND,
    device: str = "cpu",
    threads: int = 2,
    memory_length: int | None = None,
    max_gap_s: float = 0.5,
    ema_alpha: float | None = None,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    loaded: LoadedCheckpoint | None = None,
    precision: str = "fp32",
) -> StreamBase:
    """Load ``checkpoint`` and open a streaming segmenter on ``backend``.

    Args:
        checkpoint: a t2g checkpoint file.
        backend: a name in ``BACKENDS``; default ``DEFAULT_BACKEND``.
        device: torch device string; ``cuda`` needs a visible GPU and runs under float16 autocast.
            ``onnxruntime`` needs ``cpu``.
        threads: CPU threads for inference (torch intra-op threads, or onnxruntime's).
        memory_length: frames in the temporal memory, 1..the checkpoint's capacity; None = all.
        max_gap_s: a larger gap between consecutive stamps (seconds) clears the memory.
        ema_alpha: weight of the new frame in an EMA of the class probabilities (the EMA baseline);
            None = no smoothing.
        cache_dir: where ONNX exports are cached; default ``t2g_core.export.default_cache_dir()``.
        log: called with a line when an export is (re)built.
        loaded: ``checkpoint`` already loaded by the caller (saves loading it again).
        precision: ``fp32``, or ``int8`` (``onnxruntime`` only): the backbone statically quantised,
            calibrated on CamVid train frames when its export is first built.

    Returns:
        The segmenter (``step``, ``reset``, ``configure``), its ``label_set`` the checkpoint's.

    Raises:
        ValueError: unknown backend or precision, int8 on another backend than onnxruntime,
            unavailable device, memory length out of range, an unusable checkpoint or ONNX export
            (the message names the file and the problem).
    """
    if backend not in BACKENDS:
        names = " or ".join(repr(name) for name in BACKEND_NAMES)
        raise ValueError(f"backend {backend!r} is not available; use {names}")
    check_precision(precision)
    if precision != "fp32" and backend != "onnxruntime":
        raise ValueError(
            f"precision {precision!r} needs backend 'onnxruntime' (got {backend!r}); "
            "the torch backend runs fp32 (float16 autocast on CUDA)"
        )
    if device.split(":")[0] not in BACKENDS[backend].devices:
        raise ValueError(
            f"backend {backend!r} runs on the CPU, got device {device!r}; "
            "use backend 'torch' for CUDA"
        )
    if backend == "onnxruntime":
        from ..export.cache import find_cached_export

        export_dir = find_cached_export(checkpoint, cache_dir=cache_dir, precision=precision)
        if export_dir is not None:  # a valid export: no torch, the checkpoint is not even loaded
            return _ort_segmenter(export_dir, threads, memory_length, max_gap_s, ema_alpha, loaded)
    import torch

    from ..checkpoint import CheckpointError, load_checkpoint

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device is {device!r} but no CUDA device is visible to torch")
    torch.set_num_threads(threads)
    if loaded is None:
        try:
            loaded = load_checkpoint(checkpoint)
        except CheckpointError as exc:
            raise ValueError(str(exc)) from exc
    if backend == "onnxruntime":
        from ..data.calibration import camvid_calibration_frames
        from ..export.cache import cached_export

        # ExportError is a ValueError: a broken cache or export fails with its reason.
        export_dir = cached_export(
            checkpoint,
            cache_dir=cache_dir,
            model=loaded.model,
            label_set=loaded.label_set,
            log=log,
            precision=precision,
            calibration=partial(camvid_calibration_frames, None),
        )
        return _ort_segmenter(export_dir, threads, memory_length, max_gap_s, ema_alpha, loaded)
    from .streaming import StreamingSegmenter

    autocast = "float16" if device.startswith("cuda") else None
    return StreamingSegmenter(
        loaded.model,
        max_gap_s=max_gap_s,
        device=device,
        memory_length=memory_length,
        ema_alpha=ema_alpha,
        autocast=autocast,
        label_set=loaded.label_set,
    )


def _ort_segmenter(
    export_dir: Path,
    threads: int,
    memory_length: int | None,
    max_gap_s: float,
    ema_alpha: float | None,
    loaded: LoadedCheckpoint | None,
) -> StreamBase:
    """``OrtStreamingSegmenter`` on ``export_dir``; its label set the checkpoint's (the one the
    export's manifest records when the checkpoint was not loaded)."""
    from ..export.format import load_manifest
    from .ort_streaming import OrtStreamingSegmenter  # onnxruntime only loads for this backend

    return OrtStreamingSegmenter(
        export_dir,
        max_gap_s=max_gap_s,
        threads=threads,
        memory_length=memory_length,
        ema_alpha=ema_alpha,
        label_set=load_manifest(export_dir, verify_files=False).label_set
        if loaded is None
        else loaded.label_set,
    )
