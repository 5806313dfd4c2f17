"""Counters and timings of the node between two diagnostics reports (no ROS imports)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PeriodStats:
    """What happened since the last report; ``snapshot_and_reset`` hands it over and starts anew."""

    frames_in: int = 0
    frames_out: int = 0
    dropped_stale: int = 0
    dropped_bad_input: int = 0
    memory_resets: int = 0
    processing_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class NodeStats:
    """Thread-safe: the subscription callback and the inference thread both report here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._period = PeriodStats()
        self.totals = PeriodStats()  # whole-run counters (timing lists stay empty)
        self.last_reset_reason = ""

    def frame_in(self) -> None:
        with self._lock:
            self._period.frames_in += 1
            self.totals.frames_in += 1

    def frame_out(self, processing_ms: float, latency_ms: float) -> None:
        with self._lock:
            self._period.frames_out += 1
            self.totals.frames_out += 1
            self._period.processing_ms.append(processing_ms)
            self._period.latency_ms.append(latency_ms)

    def dropped(self, *, stale: bool = False, problem: str | None = None) -> None:
        with self._lock:
            if stale:
                self._period.dropped_stale += 1
                self.totals.dropped_stale += 1
            if problem is not None:
                self._period.dropped_bad_input += 1
                self.totals.dropped_bad_input += 1
                self._period.problems.append(problem)

    def memory_reset(self, reason: str) -> None:
        with self._lock:
            self._period.memory_resets += 1
            self.totals.memory_resets += 1
            self.last_reset_reason = reason

    def snapshot_and_reset(self) -> PeriodStats:
        with self._lock:
            period, self._period = self._period, PeriodStats()
            return period


def percentile(values: list[float], q: float) -> float:
    """``q``-th percentile, NaN for no values (a period without output)."""
    return float(np.percentile(values, q)) if values else float("nan")
