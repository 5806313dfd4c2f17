"""The release gate: may a candidate pair of checkpoints replace the shipped one?

Both pairs are scored in one scorecard run. For each gate axis (:data:`GATE_AXES`, a row role and a
scorecard axis), ``delta`` is the candidate's value minus the baseline's, signed so that positive is
better. With the axis's noise band ``b`` (``config/release_gate.yaml``):

- ``delta < -b``: **worse** (the axis fails);
- ``delta > b``: **better**;
- otherwise **same**; an axis either scorecard lacks is **missing** (it fails: nothing unmeasured passes).

PASS needs no worse or missing axis and at least one better one. Bands come from the scorecard's own
bootstrap stds (:func:`measure_bands`): ``z`` times the largest std of the axis among the rows scored,
so a difference the evaluation data could produce by chance neither fails nor passes a release.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

HIGHER, LOWER = "higher", "lower"
WORSE, BETTER, SAME, MISSING = "worse", "better", "same", "missing"


@dataclass(frozen=True)
class GateAxis:
    """One checked axis: ``role`` (``t2g`` or ``perframe``) of each pair, scorecard ``axis``."""

    role: str
    axis: str
    better: str

    @property
    def name(self) -> str:
        return f"{self.role}:{self.axis}"


def _axes(role: str, spec: Sequence[tuple[str, str]]) -> tuple[GateAxis, ...]:
    return tuple(GateAxis(role, axis, better) for axis, better in spec)


#: What the gate checks: where users run the node first (real road, real video), then CamVid, weather
#: and speed, for the T2G checkpoint and for its per-frame twin (which ships too).
GATE_AXES: tuple[GateAxis, ...] = _axes(
    "t2g",
    (
        ("road.mean", HIGHER),
        ("road.sky", HIGHER),
        ("road.sky_as_road", LOWER),
        ("video_flicker.s1", LOWER),
        ("video_flicker.s2", LOWER),
        ("video_flicker.s4", LOWER),
        ("video_flicker.s8", LOWER),
        ("val.miou", HIGHER),
        ("val.vc8", HIGHER),
        ("val.flicker", LOWER),
        ("test.miou", HIGHER),
        ("weather.retention", HIGHER),
        ("speed.ratio_to_backbone", LOWER),
    ),
) + _axes(
    "perframe",
    (
        ("road.mean", HIGHER),
        ("road.sky_as_road", LOWER),
        ("val.miou", HIGHER),
        ("test.miou", HIGHER),
        ("weather.retention", HIGHER),
        ("speed.ratio_to_backbone", LOWER),
    ),
)


@dataclass(frozen=True)
class AxisVerdict:
    """One axis of a verdict; ``delta`` is positive when the candidate is better (None if missing)."""

    name: str
    better: str
    band: float | None
    candidate: float | None
    baseline: float | None
    delta: float | None
    outcome: str


@dataclass(frozen=True)
class GateVerdict:
    """PASS or FAIL, why, and every axis."""

    passed: bool
    reason: str
    candidate: str
    baseline: str
    axes: tuple[AxisVerdict, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": "PASS" if self.passed else "FAIL"}


def judge(
    card: Mapping[str, Any],
    *,
    candidate: str,
    baseline: str,
    bands: Mapping[str, float],
    axes: Sequence[GateAxis] = GATE_AXES,
) -> GateVerdict:
    """The verdict on ``candidate`` against ``baseline``, two pairs of the scorecard ``card``.

    Args:
        bands: gate axis name (``t2g:road.mean``) -> noise band, in the axis's own unit; an axis with
            no band is judged missing.
    """
    results = []
    for axis in axes:
        band = bands.get(axis.name)
        cand = _value(card, candidate, axis)
        base = _value(card, baseline, axis)
        if cand is None or base is None or band is None or not math.isfinite(band):
            results.append(AxisVerdict(axis.name, axis.better, band, cand, base, None, MISSING))
            continue
        delta = cand - base if axis.better == HIGHER else base - cand
        outcome = WORSE if delta < -band else BETTER if delta > band else SAME
        results.append(AxisVerdict(axis.name, axis.better, band, cand, base, delta, outcome))
    failed = [r.name for r in results if r.outcome in (WORSE, MISSING)]
    gained = [r.name for r in results if r.outcome == BETTER]
    if failed:
        reason = "fails on " + ", ".join(failed)
    elif not gained:
        reason = "no axis better beyond its noise band"
    else:
        reason = "no axis worse; better on " + ", ".join(gained)
    return GateVerdict(not failed and bool(gained), reason, candidate, baseline, tuple(results))


def measure_bands(
    card: Mapping[str, Any], *, z: float, axes: Sequence[GateAxis] = GATE_AXES
) -> dict[str, float]:
    """Noise band of each gate axis: ``z`` x the largest finite std of that axis among the rows of
    its role in ``card`` (every pair scored). Axes with no finite std are left out (they then fail
    as missing)."""
    bands = {}
    for axis in axes:
        stds = [
            row["axes"][axis.axis]["std"]
            for row in card["rows"].values()
            if row["role"] == axis.role and axis.axis in row["axes"]
        ]
        stds = [s for s in stds if s is not None and math.isfinite(s)]
        if stds:
            bands[axis.name] = z * max(stds)
    return bands


def load_bands(path: str | Path) -> dict[str, float]:
    """The ``bands`` mapping of ``config/release_gate.yaml``. Raises ``ValueError`` if malformed."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    bands = doc.get("bands") if isinstance(doc, dict) else None
    if not isinstance(bands, dict) or not all(
        isinstance(v, (int, float)) and v >= 0 for v in bands.values()
    ):
        raise ValueError(f"{path}: expected 'bands: {{axis: non-negative number}}'")
    known = {a.name for a in GATE_AXES}
    unknown = set(bands) - known
    if unknown:
        raise ValueError(f"{path}: unknown gate axes {sorted(unknown)}")
    return {str(k): float(v) for k, v in bands.items()}


def render_bands_yaml(bands: Mapping[str, float], *, z: float, source: str, note: str) -> str:
    """``config/release_gate.yaml``'s text: the bands and a header saying where they came from."""
    lines = [
        "# Noise bands of the release gate (t2g_core.evaluation.release_gate), one per gate axis, in",
        "# the axis's unit (fractions for accuracies and flicker, a ratio for speed). An axis fails",
        "# when the candidate is worse by more than its band. Generated by `make noise-bands`:",
        f"# {z:g} x the largest bootstrap std of the axis among the rows of {source}:",
        f"# {note}.",
        "# Frames, frame pairs, VC windows and labelled frames were resampled; speed stds are over",
        "# the interleaved timing rounds.",
        "bands:",
    ]
    lines += [f"  {name}: {bands[name]:.6g}" for name in sorted(bands)]
    return "\n".join(lines) + "\n"


def render_verdict_markdown(verdict: GateVerdict) -> str:
    """The verdict as a table, one line per axis, then the decision."""
    lines = [
        f"# Release gate: {verdict.candidate} vs {verdict.baseline}: "
        f"**{'PASS' if verdict.passed else 'FAIL'}**",
        "",
        f"{verdict.reason}.",
        "",
        "| axis | better | candidate | baseline | delta (+ = better) | band | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in verdict.axes:
        cells = [_fmt(a.candidate), _fmt(a.baseline), _fmt(a.delta), _fmt(a.band)]
        lines.append(f"| {a.name} | {a.better} | " + " | ".join(cells) + f" | {a.outcome} |")
    return "\n".join(lines) + "\n"


#: The gate axes a model card quotes (the full table is in the verdict file).
CARD_AXES = (
    "t2g:road.sky",
    "t2g:road.sky_as_road",
    "t2g:road.mean",
    "t2g:video_flicker.s1",
    "t2g:val.miou",
    "t2g:test.miou",
    "t2g:weather.retention",
    "t2g:speed.ratio_to_backbone",
    "perframe:road.sky_as_road",
    "perframe:test.miou",
)


def render_release_block(record: Mapping[str, Any], *, verdict_file: str) -> str:
    """The model card's release block from a verdict record (``release_check``'s JSON): which pair
    the verdict is about, PASS or FAIL and why, and the main axes side by side."""
    axes = {a["name"]: a for a in record["axes"]}
    pairs = {p["name"]: p for p in record["pairs"]}
    cand, base = record["candidate"], record["baseline"]
    outcome = (
        f"**{cand}** replaces **{base}**"
        if record["verdict"] == "PASS"
        else f"**{base}** stays shipped"
    )
    lines = [
        f"Release gate (`{verdict_file}`): **{cand}** vs **{base}**: **{record['verdict']}**, "
        f"{record['reason']}. So {outcome}.",
        "",
        f"- {cand}: `{pairs[cand]['t2g']}`, `{pairs[cand]['perframe']}`",
        f"- {base}: `{pairs[base]['t2g']}`, `{pairs[base]['perframe']}`",
        "",
        f"| axis | {cand} | {base} | band | verdict |",
        "|---|---|---|---|---|",
    ]
    for name in CARD_AXES:
        a = axes.get(name)
        if a is not None:
            cells = " | ".join(_fmt(a[k]) for k in ("candidate", "baseline", "band"))
            lines.append(f"| {name} | {cells} | {a['outcome']} |")
    return "\n".join(lines) + "\n"


def _value(card: Mapping[str, Any], pair: str, axis: GateAxis) -> float | None:
    row = card["rows"].get(f"{pair}/{axis.role}")
    entry = None if row is None else row["axes"].get(axis.axis)
    if entry is None or entry["value"] is None or not math.isfinite(entry["value"]):
        return None
    return float(entry["value"])


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"
