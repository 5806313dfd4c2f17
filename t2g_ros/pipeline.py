"""The per-frame work shared by the live node and the offline bag tools (no ROS imports).

decoded RGB frame + stamp -> streaming segmenter (core) -> thresholded labels, occupancy summary and, on
request, the colour mask, overlay and confidence image. The node and ``t2g-bag-eval`` both call
``SegmentationPipeline.process``, so a bag evaluated offline gets exactly what the node would publish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t2g_core.labels import LabelSet
from t2g_core.postprocess import (
    UNLABELLED,
    OccupancySummary,
    colorize,
    confidence_to_mono8,
    overlay,
    palette_lut,
    summarize_occupancy,
)


@dataclass(frozen=True)
class OutputOptions:
    """What to draw and how; the node rebuilds it when its output parameters change."""

    confidence_threshold: float = 0.0
    overlay_alpha: float = 0.5
    grid_rows: int = 6
    grid_cols: int = 8


@dataclass(frozen=True)
class PipelineOutput:
    """Everything published for one input frame, at the input resolution ``(H, W)``.

    Attributes:
        labels: ``(H, W) uint8`` class ids, 255 where confidence is below the threshold.
        confidence: ``(H, W) float32`` 0..1, max softmax probability.
        occupancy: per-class shares, grid and stability versus the previous output.
        reset_reason: why the temporal memory was reset before this frame, else ``None``.
        frames_in_memory: frames in memory that produced this output (1 = per-frame).
        color, overlay: ``(H, W, 3) uint8`` RGB, only when asked for.
        confidence_mono8: ``(H, W) uint8``, only when asked for.
    """

    labels: np.ndarray
    confidence: np.ndarray
    occupancy: OccupancySummary
    reset_reason: str | None
    frames_in_memory: int
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None
    confidence_mono8: np.ndarray | None = None


class SegmentationPipeline:
    """Wraps a ``t2g_core.StreamingSegmenter`` with the post-processing every consumer shares."""

    def __init__(
        self, segmenter, label_set: LabelSet, options: OutputOptions = OutputOptions()
    ) -> None:
        self.segmenter = segmenter
        self.label_set = label_set
        self.options = options
        self._lut = palette_lut(label_set.colors)
        self._previous_labels: np.ndarray | None = None

    @property
    def memory_length(self) -> int:
        """Frames the memory holds at most, the current one included (1 = per-frame)."""
        return self.segmenter.memory_length

    def configure(self, *, memory_length: int, max_gap_s: float) -> None:
        """Set the memory length (1..the checkpoint's capacity) and the gap limit; the memory restarts.

        Raises:
            ValueError: naming the bad value; nothing changes then.
        """
        self.segmenter.configure(memory_length=memory_length, max_gap_s=max_gap_s)
        self._previous_labels = None

    def reset(self, reason: str) -> None:
        self.segmenter.reset(reason)
        self._previous_labels = None

    def process(
        self,
        rgb: np.ndarray,
        stamp_s: float,
        *,
        color: bool = False,
        overlay_image: bool = False,
        confidence_mono8: bool = False,
    ) -> PipelineOutput:
        """Segment one frame. ``rgb``: ``(H, W, 3) uint8``; ``stamp_s``: its header stamp in seconds.

        Raises ``ValueError`` (from the core) for a frame the model cannot take; the state is unchanged then.
        """
        result = self.segmenter.step(rgb, stamp_s)
        labels = result.labels
        if self.options.confidence_threshold > 0.0:
            labels = np.where(
                result.confidence < self.options.confidence_threshold, np.uint8(UNLABELLED), labels
            )
        previous = None if result.reset_reason is not None else self._previous_labels
        # A frame smaller than the grid (a 7x5 thumbnail, a 255-column grid on a narrow image) gets
        # one cell per pixel on that axis; the message carries the grid it got.
        height, width = labels.shape
        occupancy = summarize_occupancy(
            labels,
            result.confidence,
            num_classes=self.label_set.num_classes,
            grid_rows=min(self.options.grid_rows, height),
            grid_cols=min(self.options.grid_cols, width),
            previous_labels=previous,
        )
        self._previous_labels = labels
        color_mask = colorize(labels, self._lut) if (color or overlay_image) else None
        return PipelineOutput(
            labels=labels,
            confidence=result.confidence,
            occupancy=occupancy,
            reset_reason=result.reset_reason,
            frames_in_memory=result.frames_in_memory,
            color=color_mask if color else None,
            overlay=overlay(rgb, color_mask, self.options.overlay_alpha, labels)
            if overlay_image
            else None,
            confidence_mono8=confidence_to_mono8(result.confidence) if confidence_mono8 else None,
        )
