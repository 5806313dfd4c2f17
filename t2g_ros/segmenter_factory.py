"""Build the inference stack the node and the bag tools share: checkpoint -> streaming segmenter -> pipeline.

No rclpy import, so ``t2g-bag-eval`` builds exactly what the node runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from t2g_core import CheckpointError, StreamingSegmenter, load_checkpoint
from t2g_core.export import cached_export
from t2g_core.resources import shipped_path
from t2g_ros.pipeline import OutputOptions, SegmentationPipeline

DEFAULT_CHECKPOINT = ("checkpoints", "t2g_lite0_camvid.pt")


def default_checkpoint() -> Path:
    """The shipped T2G checkpoint (``FileNotFoundError`` naming where it was looked for)."""
    return shipped_path(*DEFAULT_CHECKPOINT)


def build_segmenter(checkpoint: str | Path, *, backend: str = "torch", device: str = "cpu", threads: int = 2,
                    max_gap_s: float = 0.5, memory_length: int | None = None,
                    options: OutputOptions = OutputOptions(), cache_dir: str | Path | None = None,
                    log: Callable[[str], None] | None = None) -> SegmentationPipeline:
    """Load ``checkpoint`` and wrap it for streaming.

    Args:
        backend: ``torch`` or ``onnxruntime`` (see ``t2g_ros.params.BACKENDS``). ``onnxruntime`` runs an
            ONNX export of the checkpoint on the CPU, built on first use into ``cache_dir`` and reused
            while the checkpoint and the torch/onnx/onnxruntime versions stay the same.
        device: torch device string; ``cuda`` needs a visible GPU and runs under float16 autocast.
            ``onnxruntime`` needs ``cpu``.
        threads: CPU threads for inference (torch intra-op threads, or onnxruntime's).
        memory_length: frames in the temporal memory, 1..the checkpoint's; ``None`` = the checkpoint's.
        cache_dir: where ONNX exports are cached; default ``t2g_core.export.default_cache_dir()``.
        log: called with a line when an export is (re)built.

    Raises:
        ValueError: unknown backend, unavailable device, memory length out of range, an unusable
            checkpoint or ONNX export (the message names the file and the problem).
    """
    if backend not in ("torch", "onnxruntime"):
        raise ValueError(f"model.backend {backend!r} is not available; use 'torch' or 'onnxruntime'")
    if backend == "onnxruntime" and device != "cpu":
        raise ValueError(f"model.backend 'onnxruntime' runs on the CPU, got model.device {device!r}; "
                         "use model.backend 'torch' for CUDA")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"model.device is {device!r} but no CUDA device is visible to torch")
    torch.set_num_threads(threads)
    try:
        loaded = load_checkpoint(checkpoint)
    except CheckpointError as exc:
        raise ValueError(str(exc)) from exc
    if backend == "onnxruntime":
        from t2g_core.ort_streaming import OrtStreamingSegmenter  # onnxruntime only loads for this backend

        # ExportError is a ValueError: a broken cache or export fails start-up with its reason.
        export_dir = cached_export(checkpoint, cache_dir=cache_dir, model=loaded.model, log=log)
        segmenter = OrtStreamingSegmenter(export_dir, max_gap_s=max_gap_s, threads=threads,
                                          memory_length=memory_length)
        return SegmentationPipeline(segmenter, loaded.label_set, options)
    autocast = "float16" if device.startswith("cuda") else None
    segmenter = StreamingSegmenter(loaded.model, max_gap_s=max_gap_s, device=device, memory_length=memory_length,
                                   autocast=autocast)
    return SegmentationPipeline(segmenter, loaded.label_set, options)
