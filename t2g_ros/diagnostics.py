"""The node's ``/diagnostics``: one ``DiagnosticStatus`` per period, from the node's counters while
it is active, else its lifecycle state (and why its last transition failed)."""

from __future__ import annotations

from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from t2g_ros.stats import DROP_REASONS, PeriodStats, percentile

# Resets that are part of a normal stream, not a memory that never fills.
EXPECTED_RESETS = ("start", "reconfigured")


def problems(
    period: PeriodStats,
    *,
    silent_s: float,
    no_input_warn_s: float,
    topic: str,
    publishers: int,
    max_age_s: float,
    notes: list[str],
) -> list[str]:
    """What is wrong in this period, most urgent first; empty when all is well.

    Args:
        period: the counters since the last report.
        silent_s: seconds since the last frame arrived; ``publishers``: publishers matched with the
            input subscription (none: a wrong topic or an incompatible QoS).
        max_age_s: ``input.max_age_s``, quoted for stale drops.
        notes: other conditions the node detected (clock offset, sim time without /clock, QoS).
    """
    found = []
    if silent_s > no_input_warn_s:
        why = (
            f"{publishers} publisher(s) matched: frames lost in transport? (README, Reliability)"
            if publishers
            else "no publisher matched: a wrong topic, or an incompatible QoS"
        )
        found.append(f"no input on {topic} for {silent_s:.0f} s, {why}")
    for reason in DROP_REASONS:
        count = period.drops.get(reason, 0)
        if count:
            detail = period.last_problem.get(reason, "")
            found.append(
                {
                    "stale": f"dropped {count} stale frame(s) (over input.max_age_s {max_age_s:g} s)",
                    "too_large": f"dropped {count} frame(s) over input.max_pixels: {detail}",
                    "bad_input": f"dropped {count} bad frame(s): {detail}",
                    "internal_error": f"internal error on {count} frame(s): {detail}",
                    "lost_in_transport": f"{count} frame(s) lost in transport (DDS lost-sample events)",
                }[reason]
            )
    return found + notes


def memory_notes(period: PeriodStats, *, memory_length: int, max_gap_s: float) -> list[str]:
    """A temporal memory that held one frame for every output of the period, because something
    reset it each time (a frame rate below 1 / ``model.max_gap_s``, stamps going back): the node is
    per-frame in all but name, which the configured mode alone would hide."""
    unexpected = {r: n for r, n in period.reset_reasons.items() if r not in EXPECTED_RESETS}
    if memory_length <= 1 or not period.frames_in_memory or max(period.frames_in_memory) > 1:
        return []
    if not unexpected:
        return []
    why = ", ".join(f"{reason} x{count}" for reason, count in sorted(unexpected.items()))
    hint = (
        f"; consecutive frames further apart than model.max_gap_s {max_gap_s:g} s"
        if "gap" in unexpected
        else ""
    )
    return [
        f"temporal memory unused: every output had 1 frame in memory of {memory_length} "
        f"(reset by {why}{hint})"
    ]


def period_values(
    period: PeriodStats,
    totals: PeriodStats,
    *,
    elapsed_s: float,
    overwritten: int,
    last_reset_reason: str,
    memory_length: int,
    clock_offset_s: float | None,
) -> dict[str, Any]:
    """The key/values of one report: rates over the ``elapsed_s`` measured since the last report,
    p50/p95 timings, run totals (one ``dropped_<reason>_total`` per reason), and the frames in
    memory the outputs really had (``frames_in_memory_mean``) beside the configured length."""
    values = {
        "state": "active",
        "input_rate_hz": period.frames_in / elapsed_s,
        "output_rate_hz": period.frames_out / elapsed_s,
        "processing_ms_p50": percentile(period.processing_ms, 50),
        "processing_ms_p95": percentile(period.processing_ms, 95),
        "latency_ms_p50": percentile(period.latency_ms, 50),
        "latency_ms_p95": percentile(period.latency_ms, 95),
        "clock_offset_s": float("nan") if clock_offset_s is None else clock_offset_s,
        "frames_in_total": totals.frames_in,
        "frames_out_total": totals.frames_out,
        "dropped_overwritten_total": overwritten,
    }
    values.update(
        {f"dropped_{reason}_total": totals.drops.get(reason, 0) for reason in DROP_REASONS}
    )
    values.update(
        {
            "memory_resets_total": totals.memory_resets,
            "last_memory_reset_reason": last_reset_reason,
            "mode": "temporal" if memory_length > 1 else "per-frame",
            "memory_length": memory_length,
            "frames_in_memory_mean": float(np.mean(period.frames_in_memory))
            if period.frames_in_memory
            else float("nan"),
        }
    )
    return values


def state_report(state: str, failure: str | None) -> tuple[bytes, str]:
    """Level and message of a node that is not active: OK and its state ("unconfigured",
    "inactive"), or ERROR with the reason its last transition failed."""
    if failure:
        return DiagnosticStatus.ERROR, f"{state}: {failure}"
    return DiagnosticStatus.OK, state


def diagnostic_array(
    *,
    name: str,
    hardware_id: str,
    found: list[str],
    values: dict[str, Any],
    stamp: Any,
    level: bytes | None = None,
) -> DiagnosticArray:
    """One status: WARN with every problem ``found`` joined by "; ", else OK "ok"; ``level``, when
    given, with the message ``found[0]``."""
    if level is None:
        level = DiagnosticStatus.WARN if found else DiagnosticStatus.OK
    status = DiagnosticStatus(
        level=level,
        message="; ".join(found) if found else "ok",
        name=name,
        hardware_id=hardware_id,
        values=[
            KeyValue(key=k, value=f"{v:.2f}" if isinstance(v, float) else str(v))
            for k, v in values.items()
        ],
    )
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
