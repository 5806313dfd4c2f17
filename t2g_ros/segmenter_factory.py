"""Build the inference stack the node and the bag tools share: checkpoint -> streaming segmenter -> pipeline.

No rclpy import, so ``t2g-bag-eval`` builds exactly what the node runs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from t2g_core import CheckpointError, StreamingSegmenter, load_checkpoint
from t2g_core.resources import shipped_path
from t2g_ros.pipeline import OutputOptions, SegmentationPipeline

DEFAULT_CHECKPOINT = ("checkpoints", "t2g_lite0_camvid.pt")


def default_checkpoint() -> Path:
    """The shipped T2G checkpoint (``FileNotFoundError`` naming where it was looked for)."""
    return shipped_path(*DEFAULT_CHECKPOINT)


def build_segmenter(checkpoint: str | Path, *, backend: str = "torch", device: str = "cpu", threads: int = 2,
                    max_gap_s: float = 0.5, memory_length: int | None = None,
                    options: OutputOptions = OutputOptions()) -> SegmentationPipeline:
    """Load ``checkpoint`` and wrap it for streaming.

    Args:
        backend: ``torch``. (The inference runtime; see ``t2g_ros.params.BACKENDS``.)
        device: torch device string; ``cuda`` needs a visible GPU.
        threads: CPU threads for inference.
        memory_length: frames in the temporal memory, 1..the checkpoint's; ``None`` = the checkpoint's.

    Raises:
        ValueError: unknown backend, unavailable device, memory length out of range, or an unusable
            checkpoint (the message names the file and the problem).
    """
    if backend != "torch":
        raise ValueError(f"model.backend {backend!r} is not available; use 'torch'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"model.device is {device!r} but no CUDA device is visible to torch")
    torch.set_num_threads(threads)
    try:
        loaded = load_checkpoint(checkpoint)
    except CheckpointError as exc:
        raise ValueError(str(exc)) from exc
    segmenter = StreamingSegmenter(loaded.model, max_gap_s=max_gap_s, device=device, memory_length=memory_length)
    return SegmentationPipeline(segmenter, loaded.label_set, options)
