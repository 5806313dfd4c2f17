"""The node's ``/diagnostics``: one ``DiagnosticStatus`` per period from the node's counters."""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from t2g_ros.stats import PeriodStats, percentile


def status_level(period: PeriodStats, *, silent_s: float, no_input_warn_s: float,
                 topic: str) -> tuple[bytes, str]:
    """``(level, message)``: WARN for no input for too long, or for bad frames dropped; else OK."""
    if silent_s > no_input_warn_s:
        return DiagnosticStatus.WARN, f"no input on {topic} for {silent_s:.0f} s"
    if period.problems:
        count, last = len(period.problems), period.problems[-1]
        return DiagnosticStatus.WARN, f"dropped {count} bad frame(s): {last}"
    return DiagnosticStatus.OK, "ok"


def period_values(period: PeriodStats, totals: PeriodStats, *, elapsed_s: float, overwritten: int,
                  last_reset_reason: str, memory_length: int) -> dict[str, Any]:
    """The key/values of one report: rates over ``elapsed_s``, p50/p95 timings, run totals."""
    return {
        "input_rate_hz": period.frames_in / elapsed_s,
        "output_rate_hz": period.frames_out / elapsed_s,
        "processing_ms_p50": percentile(period.processing_ms, 50),
        "processing_ms_p95": percentile(period.processing_ms, 95),
        "latency_ms_p50": percentile(period.latency_ms, 50),
        "latency_ms_p95": percentile(period.latency_ms, 95),
        "dropped_stale_total": totals.dropped_stale,
        "dropped_overwritten_total": overwritten,
        "dropped_bad_input_total": totals.dropped_bad_input,
        "memory_resets_total": totals.memory_resets,
        "last_memory_reset_reason": last_reset_reason,
        "mode": "temporal" if memory_length > 1 else "per-frame",
        "memory_length": memory_length,
    }


def diagnostic_array(*, name: str, hardware_id: str, level: bytes, message: str,
                     values: dict[str, Any], stamp: Any) -> DiagnosticArray:
    status = DiagnosticStatus(
        level=level, name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=k, value=f"{v:.2f}" if isinstance(v, float) else str(v))
                for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
