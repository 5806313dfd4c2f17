"""Counters and timings of the node between two diagnostics reports (no ROS imports)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

#: Why a frame was dropped; each has a ``dropped_<reason>_total`` counter in diagnostics.
#: (Frames replaced in the one-frame mailbox by a newer one are counted by the worker, not here.)
DROP_REASONS = ("stale", "too_large", "bad_input", "internal_error", "lost_in_transport")


@dataclass
class PeriodStats:
    """What happened since the last report; ``snapshot_and_reset`` hands it over and starts anew."""

    frames_in: int = 0
    frames_out: int = 0
    memory_resets: int = 0
    drops: Counter[str] = field(default_factory=Counter)  # reason -> frames
    last_problem: dict[str, str] = field(default_factory=dict)  # reason -> the latest detail
    processing_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    frames_in_memory: list[int] = field(default_factory=list)  # frames in memory of each output
    reset_reasons: Counter[str] = field(default_factory=Counter)  # memory reset reason -> count


class NodeStats:
    """Thread-safe: the subscription callback, its QoS events and the inference thread report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._period = PeriodStats()
        self.totals = PeriodStats()  # whole-run counters (timing lists stay empty)
        self.last_reset_reason = ""

    def frame_in(self) -> None:
        with self._lock:
            self._period.frames_in += 1
            self.totals.frames_in += 1

    def frame_out(self, processing_ms: float, latency_ms: float, frames_in_memory: int) -> None:
        """One output published: its timings and the frames in memory that produced it."""
        with self._lock:
            self._period.frames_out += 1
            self.totals.frames_out += 1
            self._period.processing_ms.append(processing_ms)
            self._period.latency_ms.append(latency_ms)
            self._period.frames_in_memory.append(frames_in_memory)

    def dropped(self, reason: str, detail: str = "", *, count: int = 1) -> None:
        """``count`` frames dropped for ``reason`` (in ``DROP_REASONS``); ``detail`` says which."""
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}; one of {', '.join(DROP_REASONS)}")
        with self._lock:
            self._period.drops[reason] += count
            self.totals.drops[reason] += count
            if detail:
                self._period.last_problem[reason] = detail

    def memory_reset(self, reason: str) -> None:
        with self._lock:
            self._period.memory_resets += 1
            self.totals.memory_resets += 1
            self._period.reset_reasons[reason] += 1
            self.last_reset_reason = reason

    def snapshot_and_reset(self) -> PeriodStats:
        with self._lock:
            period, self._period = self._period, PeriodStats()
            return period


def percentile(values: list[float], q: float) -> float:
    """``q``-th percentile, NaN for no values (a period without output)."""
    return float(np.percentile(values, q)) if values else float("nan")
