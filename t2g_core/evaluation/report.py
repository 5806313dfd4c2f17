"""Results on disk: ``results.json`` (NaN as null) and the markdown tables of ``summary.md`` / the README.

:func:`render_markdown` reads only the results dict (the schema is in ``runner``), so the README section
is regenerated from ``results.json`` without running anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .contenders import ABLATIONS, PERFRAME, T2G
from .peer import ESPNETV2_PEER

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"
DASH = "–"


def to_jsonable(value: Any) -> Any:
    """Builtins only: numpy scalars and arrays become numbers and lists, tuples lists, NaN/inf None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def memory_length(model: dict[str, Any]) -> int:
    """The memory length a ``models`` entry ran with (``memory_frames`` in results written before
    issue 21 renamed it)."""
    return model["memory_length"] if "memory_length" in model else model["memory_frames"]


def write_results(results: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``summary.md`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    plain = to_jsonable(results)
    json_path = out_dir / RESULTS_FILE
    json_path.write_text(json.dumps(plain, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    summary_path = out_dir / SUMMARY_FILE
    summary_path.write_text(
        "# t2g evaluation results\n\n" + render_markdown(plain), encoding="utf-8"
    )
    return json_path, summary_path


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` written by :func:`write_results`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def render_markdown(results: dict[str, Any], *, image_prefix: str = "", level: int = 2) -> str:
    """Markdown tables and charts of a run (sections for the targets it ran only).

    Args:
        results: the results dict (NaN or None for missing values).
        image_prefix: prepended to chart file names (``results/`` in the README).
        level: heading level of the sections.
    """
    h = "#" * level
    meta = results["meta"]
    models = [
        (m["name"], m["label"]) for m in results["models"] if m["name"] not in ABLATIONS
    ]  # the ablation has its own table
    out = [
        f"Generated from `results.json` of the run of **{meta['date_utc']}** on **{meta['cpu']}** "
        f"({meta['nproc']} cores, {meta['torch_threads']} torch threads, torch {meta['torch']}), "
        f"commit `{meta['git_commit']}`, in {_minutes(meta.get('wall_s'))}.",
    ]
    if meta.get("quick"):
        out.append("\n**Quick smoke run: a few frames per target. These numbers are not results.**")
    out += [f"\n*{message}*" for message in meta.get("skipped", [])]
    out += [
        "",
        _table(
            ["model", "checkpoint", "memory (frames)", "EMA α"],
            [
                [
                    m["label"],
                    f"`{m['checkpoint']}`",
                    str(memory_length(m)),
                    _num(m["ema_alpha"], 2),
                ]
                for m in results["models"]
            ],
        ),
    ]
    targets = results["targets"]
    out += _accuracy_section(h, targets, models)
    out += _peer_section(h, results)
    out += _stability_section(h, targets, models)
    out += _ablation_section(h, targets, results["models"])
    if "camvid_test" in targets:
        names = results["class_names"]
        per_class = {n: targets["camvid_test"]["models"][n]["per_class_iou"] for n, _ in models}
        rows = [[c] + [_pct(per_class[n][k]) for n, _ in models] for k, c in enumerate(names)]
        out += [
            f"\n{h} Per-class IoU on CamVid test (%)\n",
            _table(["class"] + [lab for _, lab in models], rows),
        ]
    if "speed" in results:
        out += _speed_section(h, results["speed"])
    out += _tuning_section(h, results["ema_tuning"])
    plots = results.get("plots", {})
    if plots:
        out.append(f"\n{h} Charts\n")
        out += [f"![{key}]({image_prefix}{name})\n" for key, name in plots.items()]
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------------------------- sections


def _accuracy_section(h: str, targets: dict[str, Any], models: list[tuple[str, str]]) -> list[str]:
    header, columns = ["model"], []
    if "camvid_test" in targets:
        header.append("CamVid test")
        columns.append(lambda n: _pct(targets["camvid_test"]["models"][n]["miou"]))
    if "camvid_corrupted" in targets:
        corrupted = targets["camvid_corrupted"]
        for name, per_model in corrupted["corruptions"].items():
            header.append(f"{name} (retention)")
            columns.append(
                lambda n, p=per_model: f"{_pct(p[n]['miou'])} ({_pct(p[n]['retention'], 0)} %)"
            )
        header.append("mean corrupted (retention)")
        mean = corrupted["mean"]
        columns.append(lambda n: f"{_pct(mean[n]['miou'])} ({_pct(mean[n]['retention'], 0)} %)")
    if "val_15hz" in targets:
        header.append("val 15 Hz")
        val_models = targets["val_15hz"]["models"]  # the peer is not scored on val: a dash
        columns.append(lambda n: _pct(_stride(val_models.get(n, []), 1).get("miou")))
    if not columns:
        return []
    lines = [f"\n{h} Accuracy: mIoU (%)\n"]
    if "camvid_test" in targets or "camvid_corrupted" in targets:
        lines.append(
            "CamVid test is labelled at 1 Hz: each sequence is streamed in order with its frame times, and the "
            "memory is kept across the 1 s gaps, so every frame is decoded with the labelled frames before it "
            "as memory (what a 1 Hz camera gives the node).\n"
        )
    if "camvid_corrupted" in targets:
        lines.append(
            f"Corrupted: the CamVid test frames with one `imagecorruptions` corruption at severity "
            f"{targets['camvid_corrupted']['severity']} (a fixed seed per frame); retention = corrupted / clean mIoU.\n"
        )
    lines.append(_table(header, [[label] + [col(n) for col in columns] for n, label in models]))
    return lines


def _stability_section(h: str, targets: dict[str, Any], models: list[tuple[str, str]]) -> list[str]:
    lines = []
    if "val_15hz" in targets:
        val = targets["val_15hz"]
        strides = val["strides"]
        val_models = [(n, label) for n, label in models if n in val["models"]]
        hz = [f"{s} ({val['rate_hz'] / s:.3g} Hz)" for s in strides]
        lines += [
            f"\n{h} Stability on the labelled CamVid val run ({val['frames']} frames at {val['rate_hz']:g} Hz)\n",
            "VC_n: the fraction of pixels whose label is the same in all n frames of a window and that the model "
            "also keeps constant (mean over windows; every window counted, void excluded). Flicker: the fraction "
            "of GT-stable pixels whose prediction changes between consecutive frames the model saw. A stride s "
            "streams every s-th frame (all s phases pooled).",
        ]
        for key, title, fmt in [
            (f"vc{n}", f"VC_{n}", lambda v: _num(v, 3)) for n in val["vc_windows"]
        ] + [("flicker", "flicker (%)", lambda v: _pct(v, 2))]:
            values = {
                n: [_stride(val["models"][n], s).get(key) for s in strides] for n, _ in val_models
            }
            rows = [[label] + [fmt(v) for v in values[n]] for n, label in val_models]
            if key == "flicker":
                rows.append(_ratio_row(values))
            lines += [f"\n{title} by stride:\n", _table(["model"] + hz, rows)]
    if "video" in targets:
        video = targets["video"]
        strides = video["strides"]
        clips = ", ".join(f"{name} ({frames} frames)" for name, frames in video["clips"].items())
        lines += [
            f"\n{h} Flicker on real dash-cam video, unlabelled (%)\n",
            f"Clips: {clips}, {video['width']} px wide, {video['fps']:g} fps. Pixels whose gray value changes by "
            "at most 20 between the two frames (DGVSS protocol); ego-motion inflates every model's number, so "
            "compare models, not absolute values.\n",
        ]
        values = {
            n: [_stride(video["models"][n]["per_stride"], s).get("rate") for s in strides]
            for n, _ in models
        }
        rows = [[label] + [_pct(v, 2) for v in values[n]] for n, label in models]
        rows.append(_ratio_row(values))
        rows.append(_ratio_row(values, over=ESPNETV2_PEER, title="*T2G ÷ ESPNetv2 peer*"))
        lines.append(
            _table(["model"] + [f"{s} ({video['fps'] / s:.3g} fps)" for s in strides], rows)
        )
    return lines


def _peer_section(h: str, results: dict[str, Any]) -> list[str]:
    """T2G against the pretrained ESPNetv2 peer in one line per target (``peer_comparison``)."""
    comparison = results.get("peer_comparison")
    if not comparison:
        return []
    parts = []
    if "miou_points_ahead" in comparison:
        parts.append(f"CamVid test mIoU {_signed(comparison['miou_points_ahead'])} points")
    if "corrupted_miou_points_ahead" in comparison:
        retention = comparison["corrupted_retention"]
        parts.append(
            f"mean corrupted mIoU {_signed(comparison['corrupted_miou_points_ahead'])} points "
            f"(retention {_pct(retention['t2g'], 0)} % vs {_pct(retention['peer'], 0)} %)"
        )
    if "flicker_ratio" in comparison:
        ratios = ", ".join(
            f"{_num(e['ratio'], 2)} (stride {e['stride']})" for e in comparison["flicker_ratio"]
        )
        parts.append(f"video flicker T2G ÷ peer {ratios}")
    return [
        f"\n{h} T2G vs the pretrained ESPNetv2 Cityscapes peer\n",
        "The peer is not trained on CamVid: its Cityscapes classes are mapped to CamVid-11 with its "
        "README's mapping (background becomes void and is always wrong), each frame resized to its fixed "
        "input (384x512 for 4:3 frames, 288x512 for 16:9) and its labels resized back (nearest). It is "
        "not scored on the val run.\n",
        "T2G − peer: " + "; ".join(parts) + ".",
    ]


def _ablation_section(h: str, targets: dict[str, Any], models: list[dict[str, Any]]) -> list[str]:
    """The memory ablation table: one row per target and stride (see ``runner`` for the schema)."""
    ablated = [
        (key, targets[key])
        for key in ("val_15hz", "video")
        if "memory_ablation" in targets.get(key, {})
    ]
    if not ablated:
        return []
    entries = {m["name"]: m for m in models}
    first = ablated[0][1]["memory_ablation"]
    full, memory1 = entries[first["full"]], entries[first["memory1"]]
    vc_key = f"vc{targets['val_15hz']['vc_windows'][0]}" if "val_15hz" in targets else None
    rows = []
    for key, target in ablated:
        ablation = target["memory_ablation"]
        for e in ablation["per_stride"]:
            stride = e["stride"]
            if key == "val_15hz":
                name = f"val {stride} ({target['rate_hz'] / stride:.3g} Hz)"
                a = _stride(target["models"][ablation["full"]], stride)
                b = _stride(target["models"][ablation["memory1"]], stride)
                extra = [
                    _num(a.get(vc_key), 3),
                    _num(b.get(vc_key), 3),
                    _pct(a.get("miou")),
                    _pct(b.get("miou")),
                ]
            else:
                name = f"video {stride} ({target['fps'] / stride:.3g} fps)"
                extra = [DASH] * 4
            rows.append(
                [
                    name,
                    _pct(e["changed"], 2),
                    _pct(e["flicker_full"], 2),
                    _pct(e["flicker_memory1"], 2),
                    _num(e["flicker_ratio"], 2),
                    *extra,
                ]
            )
    vc = f"VC_{vc_key[2:]}" if vc_key else "VC"
    header = [
        "target, stride",
        "labels changed (%)",
        "flicker full (%)",
        "flicker memory 1 (%)",
        "full ÷ memory 1",
        f"{vc} full",
        f"{vc} memory 1",
        "mIoU full (%)",
        "mIoU memory 1 (%)",
    ]
    return [
        f"\n{h} Memory ablation: {full['label']} with memory {memory_length(full)} vs memory 1\n",
        f"The same checkpoint streamed on the same frames with its full memory "
        f"({memory_length(full)} frames) and as *{memory1['label']}* (`memory_length` 1: "
        "no query memory and no fused pixel state). Labels changed: the share of pixels whose "
        "label differs between the two predictions of the same frame. Flicker uses each target's "
        "mask (val: GT-stable pixels, video: gray-stable pixels); a ratio below 1 means the "
        "memory steadies the output.\n",
        _table(header, rows),
    ]


def _speed_section(h: str, speed: dict[str, Any]) -> list[str]:
    sizes, labels = speed["sizes"], speed["labels"]
    header = ["model"] + [
        f"{size} {what}" for size in sizes for what in ("FPS", "p50 ms", "p95 ms")
    ]
    rows = []
    for name, label in labels.items():
        row = [label]
        for size in sizes:
            stats = speed["models"][name][size]
            row += [_num(stats["fps"], 1), _num(stats["p50_ms"], 0), _num(stats["p95_ms"], 0)]
        rows.append(row)
    ratio_names = list(
        dict.fromkeys(r for per in speed["ratios"].values() for r in per)
    )  # first-seen order
    ratio_rows = [
        [f"`{r}`"] + [_num(speed["ratios"][s].get(r), 2) + "×" for s in sizes] for r in ratio_names
    ]
    return [
        f"\n{h} Speed of one streaming step on this CPU\n",
        f"Warm-up: {speed['warmup_steps']} steps, then {speed['steps']} timed steps per model and frame size "
        "(a step: resize, network, upsampling to the frame size, argmax). T2G and the per-frame model resize "
        "every frame to their input size; the SegFormer peer runs at the frame size; the ESPNetv2 peer "
        "resizes to its fixed input (384x512 for 4:3 frames) and its labels back.\n",
        _table(header, rows),
        "\nRatios of median latency:\n",
        _table(["ratio"] + sizes, ratio_rows),
    ]


def _tuning_section(h: str, tuning: dict[str, Any]) -> list[str]:
    rows = [
        [
            _num(s["alpha"], 2) + (" (no EMA)" if s is tuning["reference"] else ""),
            _pct(s["miou"]),
            _num(s["vc"], 3),
            "**chosen**" if s["alpha"] == tuning["alpha"] else "",
        ]
        for s in [tuning["reference"], *tuning["candidates"]]
    ]
    return [
        f"\n{h} EMA baseline: alpha tuned on CamVid {tuning['split']}\n",
        f"Criterion: {tuning['criterion']}. Tuned on the val run at stride 1; the test split is never used.\n",
        _table(["α", "val mIoU (%)", f"val VC_{tuning['vc_window']}", ""], rows),
    ]


# ----------------------------------------------------------------------------------------------- helpers


def _stride(entries: list[dict[str, Any]], stride: int) -> dict[str, Any]:
    return next((e for e in entries if e["stride"] == stride), {})


def _ratio_row(
    values: dict[str, list[Any]], *, over: str = PERFRAME, title: str = "*T2G ÷ per-frame*"
) -> list[str]:
    """The 'T2G ÷ ``over``' row of a table whose rows are models and columns strides; [] (no row)
    when either model is absent.

    Args:
        values: model name -> one value per column.
    """
    base, t2g = values.get(over), values.get(T2G)
    if base is None or t2g is None:
        return []
    return [title] + [
        _num(b / a, 2) if _finite(a) and _finite(b) and a > 0 else DASH
        for a, b in zip(base, t2g, strict=True)
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows if row]
    return "\n".join(lines)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _pct(value: Any, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}" if _finite(value) else DASH


def _num(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if _finite(value) else DASH


def _signed(value: Any) -> str:
    return f"{value:+.1f}" if _finite(value) else DASH


def _minutes(seconds: Any) -> str:
    return f"{seconds / 60:.1f} min" if _finite(seconds) else "unknown time"
