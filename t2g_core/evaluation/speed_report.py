"""The speed report (``results/speed.json`` -> ``speed.md``) and its goals, from the rows of
:mod:`~t2g_core.evaluation.step_timing`, :mod:`~t2g_core.evaluation.stage_profile` and
:mod:`~t2g_core.evaluation.session_variants`. The node through ROS is ``make node-rates``'s report.
"""

from __future__ import annotations

from typing import Any

from .environment import measured_on
from .stage_profile import HOW
from .step_timing import PEER, T2G_FP32, side_by_side_ratios

# A design decision measured with the ort+torch split before it was removed; every report repeats it.
SPLIT_NOTE = (
    "Why the node's onnxruntime backend runs both graphs in onnxruntime: measured 2026-11-21 on this "
    "machine (480x360, temporal, p50), ORT encode + ORT decode took 31.9 ms against 34.6 ms for ORT "
    "encode + torch decode (the `ort+torch` rows of that run), so the decoder stayed in onnxruntime and "
    "the `ort+torch` variant was removed."
)


def goals(
    steps: list[dict[str, Any]],
    *,
    profile: dict[str, dict[str, Any]] | None = None,
    side: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The speed goals, each with what was measured and whether it was met (reported, never
    asserted)."""

    def step(backend: str, mode: str, size: str = "480x360") -> dict[str, Any] | None:
        return next(
            (r for r in steps if (r["backend"], r["mode"], r["size"]) == (backend, mode, size)),
            None,
        )

    out = []
    ort_t = step("onnxruntime", "temporal")
    if ort_t:
        out.append(
            {
                "goal": "streaming step >= 60 FPS, p50 <= 16 ms at 480x360 (onnxruntime, temporal)",
                "measured": f"p50 {ort_t['p50_ms']:.1f} ms ({1000 / ort_t['p50_ms']:.1f} FPS by the "
                f"median, {ort_t['fps']:.1f} by the mean)",
                "met": ort_t["p50_ms"] <= 16.0,
            }
        )
    ort_p = step("onnxruntime", "per-frame")
    if ort_t and ort_p:
        ratio = ort_t["p50_ms"] / ort_p["p50_ms"]
        out.append(
            {
                "goal": "temporal <= 1.3x per-frame (onnxruntime, 480x360, p50)",
                "measured": f"{ratio:.2f}x",
                "met": ratio <= 1.3,
            }
        )
    at_480 = (profile or {}).get("480x360")
    if at_480:
        ratio = at_480["step_p50_ms"] / at_480["backbone_alone_p50_ms"]
        out.append(
            {
                "goal": "step <= 1.1x resize + backbone alone (onnxruntime, 480x360, p50)",
                "measured": f"{ratio:.2f}x ({at_480['step_p50_ms']:.1f} / "
                f"{at_480['backbone_alone_p50_ms']:.1f} ms)",
                "met": ratio <= 1.1,
            }
        )
    for r in side_by_side_ratios(side or []):
        if r["ratio"] == f"{PEER} / {T2G_FP32}":
            out.append(
                {
                    "goal": f">= 5x faster than the ESPNetv2 peer ({r['size']}, p50)",
                    "measured": f"{r['value']:.2f}x",
                    "met": r["value"] >= 5.0,
                }
            )
    return out


def goals_section(goals: list[dict[str, Any]]) -> list[str]:
    """A ``## Goals`` table (goal, measured, met) as markdown lines; none without goals."""
    if not goals:
        return []
    lines = ["", "## Goals", "", "| goal | measured | met |", "|---|---|---|"]
    for g in goals:
        lines.append(f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else 'no'} |")
    return lines


def _software(report: dict[str, Any]) -> str:
    machine = report["machine"]
    return (
        f"torch {machine['torch']}, onnxruntime {machine['onnxruntime']}, "
        f"{report['threads']} inference thread(s)"
    )


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# t2g speed",
        "",
        f"{measured_on(report['date'], report['machine'])}; {_software(report)}.",
        f"Model: {report['model']}.",
        *(
            ["", "**A smoke run (--quick): few steps, figures are not results.**"]
            if report.get("quick")
            else []
        ),
        *(["", f"**{report['note']}**"] if report.get("note") else []),
        "",
        "## Streaming step (`step(frame, stamp)`: resize, model, labels + confidence at the frame size)",
        "",
        f"{report['steps_per_row']} warm steps per row; FPS = 1000 / mean latency.",
        "",
        "| size | backend | mode | FPS | p50 ms | p95 ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in report["step"]:
        lines.append(
            f"| {r['size']} | {r['backend']} | {r['mode']} | {r['fps']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} |"
        )
    lines += ["", SPLIT_NOTE]
    lines += [
        "",
        "Ratios of p50 latencies:",
        "",
        "| ratio | where | value | meaning |",
        "|---|---|---:|---|",
    ]
    for r in report["ratios"]:
        where = ", ".join(str(r[k]) for k in ("size", "backend", "mode") if k in r)
        lines.append(f"| {r['ratio']} | {where} | {r['value']:.2f}x | {r['meaning']} |")
    for size, prof in report["profile"].items():
        lines += [
            "",
            f"## Per-stage profile at {size} (onnxruntime, temporal, {report['threads']} thread(s))",
            "",
            f"Each stage timed alone, {report['repeats']} repeats. Share = of the sum of the stages "
            "marked with a share, which make up one node frame (raw input).",
            "",
            "| stage | p50 ms | p95 ms | share | how |",
            "|---|---:|---:|---:|---|",
        ]
        for r in prof["rows"]:
            share = f"{100 * r['share']:.1f} %" if r["share"] is not None else "-"
            lines.append(
                f"| {r['stage']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {share} | {r['how']} |"
            )
        lines += [
            "",
            f"Measured whole: step p50 {prof['step_p50_ms']:.1f} ms (p95 {prof['step_p95_ms']:.1f}); "
            f"node frame (decode, step, occupancy, colour, overlay, messages) p50 "
            f"{prof['frame_p50_ms']:.1f} ms (sum of the stages {prof['leaves_p50_ms']:.1f}); "
            f"resize + backbone alone p50 {prof['backbone_alone_p50_ms']:.1f} ms (p95 "
            f"{prof['backbone_alone_p95_ms']:.1f}): **step / backbone alone = "
            f"{prof['step_p50_ms'] / prof['backbone_alone_p50_ms']:.2f}x** (goal <= 1.1x, p50 <= 16 "
            "ms).",
        ]
    lines += ["", "How: " + "; ".join(f"`{k}`: {v}" for k, v in HOW.items()) + "."]
    if report.get("side_by_side"):
        lines += [
            "",
            f"## Side by side ({report['threads']} thread(s), `step(frame, stamp)` at the frame "
            f"size, {report['steps_per_row']} warm steps)",
            "",
            "| contender | size | p50 ms | p95 ms | FPS |",
            "|---|---|---:|---:|---:|",
        ]
        for r in report["side_by_side"]:
            lines.append(
                f"| {r['contender']} | {r['size']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                f"{r['fps']:.1f} |"
            )
        lines += ["", "| side-by-side ratio of p50 | size | value |", "|---|---|---:|"]
        for r in side_by_side_ratios(report["side_by_side"]):
            lines.append(f"| {r['ratio']} | {r['size']} | {r['value']:.2f}x |")
    if report.get("session_variants"):
        lines += [
            "",
            "## onnxruntime session variants (480x360, temporal, streaming step; each in a fresh "
            "process, round-robin; median over rounds)",
            "",
            "| variant | p50 ms | p95 ms | rounds | what |",
            "|---|---:|---:|---:|---|",
        ]
        for r in report["session_variants"]:
            lines.append(
                f"| {r['variant']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['rounds']} | "
                f"{r['meaning']} |"
            )
    lines += goals_section(report["goals"])
    return "\n".join(lines) + "\n"
