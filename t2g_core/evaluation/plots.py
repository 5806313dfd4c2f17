"""Charts of the results (PNG, matplotlib's Agg renderer; no display needed).

The functions take plain numbers, so every chart can be redrawn from ``results.json`` alone. NaN values
(a target too short for a metric) are left out of the chart rather than drawn as zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .contenders import ABLATIONS

DPI = 110
MIOU_FILE = "miou_by_target.png"
STABILITY_FILE = "flicker_vs_stride.png"
PER_CLASS_FILE = "per_class_iou.png"


@dataclass(frozen=True)
class LinePanel:
    """One panel of :func:`plot_lines`: a y value per x for each named series (None/NaN = missing)."""

    title: str
    x: Sequence[float]
    series: Mapping[str, Sequence[float | None]]
    xlabel: str
    ylabel: str


def plot_grouped_bars(
    path: str | Path,
    *,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    ylabel: str,
    title: str,
) -> Path:
    """Bars grouped by ``groups`` (x), one colour per series, each value written on its bar.

    Args:
        groups: G group names on the x axis.
        series: name -> G values in percent (0..100).
    """
    width = 0.8 / max(len(series), 1)
    fig = Figure(
        figsize=(min(13.0, max(6.0, 0.4 * len(groups) * max(len(series), 1))), 4.2), dpi=DPI
    )
    ax = fig.subplots()
    x = np.arange(len(groups))
    for k, (name, values) in enumerate(series.items()):
        heights = _floats(values)
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, heights, width, label=name)
        ax.bar_label(bars, labels=["" if np.isnan(h) else f"{h:.0f}" for h in heights], fontsize=7)
    ax.set_xticks(
        x,
        groups,
        rotation=20 if len(groups) > 6 else 0,
        ha="right" if len(groups) > 6 else "center",
    )
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    # Below the axes: high bars (sky, road) would hide under a legend inside them.
    ax.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18 if len(groups) > 6 else -0.1),
        ncol=len(series),
        frameon=False,
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_lines(path: str | Path, panels: Sequence[LinePanel]) -> Path:
    """Side-by-side line charts (e.g. flicker vs stride on video and on the val run)."""
    fig = Figure(figsize=(5.2 * len(panels), 4.0), dpi=DPI)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels, strict=True):
        for name, values in panel.series.items():
            ax.plot(panel.x, _floats(values), marker="o", label=name)
        ax.set_xticks(list(panel.x))
        ax.set_title(panel.title)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def draw_result_charts(results: Mapping[str, Any], out_dir: str | Path) -> dict[str, str]:
    """The charts of a results dict (schema in ``runner``) that its targets allow.

    - ``miou``: mIoU per target (clean, each corruption, val) per model;
    - ``stability``: flicker vs stride on video and on the val run, and val VC_n vs stride;
    - ``per_class``: per-class IoU on CamVid test.

    A model missing from a target (the peer on the val run) is left out of that target's series.

    Returns:
        chart key -> file name inside ``out_dir``.
    """
    out_dir = Path(out_dir)
    targets = results["targets"]
    models = [(m["name"], m["label"]) for m in results["models"] if m["name"] not in ABLATIONS]
    written: dict[str, str] = {}
    groups, values = [], {name: [] for name, _ in models}
    if "camvid_test" in targets:
        groups.append("CamVid test")
        for name, _ in models:
            values[name].append(targets["camvid_test"]["models"][name]["miou"])
    for corruption, per_model in targets.get("camvid_corrupted", {}).get("corruptions", {}).items():
        groups.append(f"test + {corruption}")
        for name, _ in models:
            values[name].append(per_model[name]["miou"])
    if "val_15hz" in targets:
        groups.append("val 15 Hz")
        for name, _ in models:
            # The peer is not scored on the val run: its bar is left out.
            values[name].append(_at_stride(targets["val_15hz"]["models"].get(name, []), 1, "miou"))
    if groups:
        plot_grouped_bars(
            out_dir / MIOU_FILE,
            groups=groups,
            series={label: _percent(values[name]) for name, label in models},
            ylabel="mIoU (%)",
            title="mIoU per target",
        )
        written["miou"] = MIOU_FILE
    panels = []
    if "video" in targets:
        video = targets["video"]
        panels.append(
            LinePanel(
                title=f"real video, gray-stable pixels ({video['fps']:g} fps / stride)",
                x=video["strides"],
                series={
                    label: _percent(
                        [
                            _at_stride(video["models"][name]["per_stride"], s, "rate")
                            for s in video["strides"]
                        ]
                    )
                    for name, label in models
                },
                xlabel="stride (frames)",
                ylabel="flicker (%)",
            )
        )
    if "val_15hz" in targets:
        val = targets["val_15hz"]
        for key, ylabel in [("flicker", "flicker (%)")] + [
            (f"vc{n}", f"VC_{n} (%)") for n in val["vc_windows"][:1]
        ]:
            panels.append(
                LinePanel(
                    title=f"CamVid val run, GT-stable pixels ({val['rate_hz']:g} Hz / stride)",
                    x=val["strides"],
                    series={
                        label: _percent(
                            [_at_stride(val["models"][name], s, key) for s in val["strides"]]
                        )
                        for name, label in models
                        if name in val["models"]
                    },
                    xlabel="stride (frames)",
                    ylabel=ylabel,
                )
            )
    if panels:
        plot_lines(out_dir / STABILITY_FILE, panels)
        written["stability"] = STABILITY_FILE
    if "camvid_test" in targets:
        plot_grouped_bars(
            out_dir / PER_CLASS_FILE,
            groups=list(results["class_names"]),
            series={
                label: _percent(targets["camvid_test"]["models"][name]["per_class_iou"])
                for name, label in models
            },
            ylabel="IoU (%)",
            title="per-class IoU on CamVid test",
        )
        written["per_class"] = PER_CLASS_FILE
    return written


def _at_stride(entries: Sequence[Mapping[str, Any]], stride: int, key: str) -> float | None:
    return next((e.get(key) for e in entries if e["stride"] == stride), None)


def _percent(values: Sequence[float | None]) -> list[float]:
    return list(100 * _floats(values))


def _floats(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path)
    return path
