"""Ordered clips with randomised strides from labelled sequences.

A stride is counted in *labelled frames of the sequence*: stride 2 on the 1 Hz train runs is a 2 s gap,
on the 15 Hz val run a 2/15 s gap. Clip times are the real seconds of the frames (from their frame numbers),
so the model's temporal encoding sees the true gap, and random strides show it many gaps (the
temporal-sampling shift the method trains against).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clip:
    """An ordered clip of one sequence.

    Attributes:
        sequence: index of the sequence in the sampler's list.
        indices: (T,) int64 positions in that sequence, strictly increasing, step ``stride``.
        times_s: (T,) float64 seconds of those frames.
        stride: gap between consecutive clip frames, in labelled frames.
    """

    sequence: int
    indices: np.ndarray
    times_s: np.ndarray
    stride: int


def check_stride_range(s_min: int, s_max: int) -> None:
    """Raise ``ValueError`` unless ``1 <= s_min <= s_max`` are integers."""
    if not (isinstance(s_min, (int, np.integer)) and isinstance(s_max, (int, np.integer))):
        raise ValueError(f"stride range must be integers, got s_min={s_min!r}, s_max={s_max!r}")
    if not 1 <= s_min <= s_max:
        raise ValueError(
            f"stride range needs 1 <= s_min <= s_max, got s_min={s_min}, s_max={s_max}"
        )


def sample_stride(rng: np.random.Generator, *, s_min: int, s_max: int) -> int:
    """A stride drawn uniformly from the integers ``s_min..s_max`` (both included)."""
    check_stride_range(s_min, s_max)
    return int(rng.integers(s_min, s_max + 1))


class ClipSampler:
    """Draws ordered clips of ``clip_len`` frames with a random stride from a set of sequences.

    Each draw picks a stride uniformly from ``[s_min, s_max]``, then a clip uniformly among all clips of
    that stride over all sequences (so long sequences are drawn proportionally more often). A sequence too
    short for the drawn stride contributes no clip for it; a stride that fits no sequence is never drawn,
    and the constructor raises when not even ``s_min`` fits.

    Args:
        sequence_times_s: per sequence, its (L,) frame times in seconds, strictly increasing
            (e.g. ``[seq.times_s for seq in CamVidSplit(...).sequences]``).
        clip_len: T, frames per clip (>= 1).
        s_min, s_max: stride range in labelled frames, both included.
    """

    def __init__(
        self, sequence_times_s: Sequence[np.ndarray], *, clip_len: int, s_min: int, s_max: int
    ) -> None:
        check_stride_range(s_min, s_max)
        if clip_len < 1:
            raise ValueError(f"clip_len must be >= 1, got {clip_len}")
        self._times = [np.asarray(t, dtype=np.float64) for t in sequence_times_s]
        for i, t in enumerate(self._times):
            if t.ndim != 1 or np.any(np.diff(t) <= 0):
                raise ValueError(
                    f"times of sequence {i} must be 1-D and strictly increasing, got {t!r}"
                )
        self.clip_len = clip_len
        self.s_min = s_min
        self.s_max = s_max
        # Fixed for the sampler's life; computed once so a draw costs O(#sequences).
        self._counts = {stride: self.num_clips(stride) for stride in range(s_min, s_max + 1)}
        self._fitting = [stride for stride, counts in self._counts.items() if counts.sum() > 0]
        if not self._fitting:
            lengths = [len(t) for t in self._times]
            raise ValueError(
                f"no sequence (lengths {lengths}) fits {clip_len} frames at stride s_min={s_min}"
            )

    def num_clips(self, stride: int) -> np.ndarray:
        """(S,) int64: how many clips of ``stride`` start in each sequence."""
        span = (self.clip_len - 1) * stride
        return np.array([max(len(t) - span, 0) for t in self._times], dtype=np.int64)

    def clip(self, sequence: int, *, end: int, stride: int) -> Clip:
        """The clip of ``stride`` whose last frame is position ``end`` of ``sequence``."""
        times = self._times[sequence]
        start = end - (self.clip_len - 1) * stride
        if stride < 1 or start < 0 or end >= len(times):
            raise ValueError(
                f"clip of {self.clip_len} frames at stride {stride} ending at {end} does not fit "
                f"sequence {sequence} of {len(times)} frames"
            )
        indices = np.arange(start, end + 1, stride, dtype=np.int64)
        return Clip(sequence=sequence, indices=indices, times_s=times[indices], stride=stride)

    def sample_pair(self, rng: np.random.Generator) -> tuple[Clip, Clip]:
        """Two clips of the same sequence that end at the same frame, with different strides if possible.

        The shared last frame is the one whose two predictions the Masked Temporal Consistency loss compares:
        the same content seen after two different temporal contexts. The two strides are drawn uniformly
        without replacement from the strides that fit; when only one fits, both clips are identical.
        """
        if len(self._fitting) == 1:
            stride_a = stride_b = self._fitting[0]
        else:
            stride_a, stride_b = (int(s) for s in rng.choice(self._fitting, size=2, replace=False))
        # The shared end must fit the longer span of the two.
        sequence, end = self._pick_end(rng, max(stride_a, stride_b))
        return (
            self.clip(sequence, end=end, stride=stride_a),
            self.clip(sequence, end=end, stride=stride_b),
        )

    def _pick_end(self, rng: np.random.Generator, stride: int) -> tuple[int, int]:
        """A (sequence, end position) uniform over all clips of ``stride``."""
        counts = self._counts[stride]
        k = int(rng.integers(counts.sum()))
        sequence = int(np.searchsorted(np.cumsum(counts), k, side="right"))
        start = k - int(counts[:sequence].sum())
        return sequence, start + (self.clip_len - 1) * stride
