"""The scorecard written out: ``scorecard.json``, ``scorecard.md`` and ``scorecard.png``.

The picture has one line per labelled real-road frame: the input as the model got it (JPEG), then each
row's colour labels, so a wrong sky is seen at a glance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..postprocess import colorize, palette_lut
from .readme import replace_block

JSON_FILE, MARKDOWN_FILE, PICTURE_FILE = "scorecard.json", "scorecard.md", "scorecard.png"
README_MARKERS = ("<!-- scorecard:start -->", "<!-- scorecard:end -->")
TILE_WIDTH = 256
CAPTION_HEIGHT = 22

#: (axis, column title, scale, decimals) of each markdown table; scale 100 shows fractions as %.
ROAD_COLUMNS = (
    *((f"road.{name}", name, 100, 1) for name in ("sky", "road", "tree", "car", "mean")),
    ("road.sky_as_road", "sky called road", 100, 1),
)
CAMVID_COLUMNS = (
    ("val.miou", "val mIoU", 100, 1),
    ("val.vc8", "val VC_8", 1, 3),
    ("val.flicker", "val flicker %", 100, 2),
    ("test.miou", "test mIoU", 100, 1),
    ("weather.retention", "weather retention %", 100, 1),
)
SPEED_COLUMNS = (
    ("speed.step_ms", "step ms (p50)", 1, 1),
    ("speed.ratio_to_backbone", "÷ backbone alone", 1, 2),
)


def write_scorecard(card: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write the three files into ``out_dir`` (created); returns their paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sheet = card.pop("_sheet", [])
    paths = {"json": out / JSON_FILE, "markdown": out / MARKDOWN_FILE}
    if sheet:
        paths["picture"] = out / PICTURE_FILE
        _atomic_write_bytes(paths["picture"], _png(render_sheet(card, sheet)))
        card["picture"] = PICTURE_FILE
    _atomic_write_bytes(paths["json"], (json.dumps(card, indent=1, default=_json) + "\n").encode())
    _atomic_write_bytes(paths["markdown"], render_markdown(card).encode())
    return paths


def render_markdown(card: dict[str, Any], *, level: int = 1) -> str:
    """The scorecard's tables: real road, real-video flicker and its ratios, CamVid, speed.

    Args:
        level: markdown level of the title; sections are one level below.
    """
    meta, rows = card["meta"], card["rows"]
    h1, h2 = "#" * level, "#" * (level + 1)
    lines = [
        f"{h1} Scorecard"
        + (" (quick: val, regions and stride-1 flicker only)" if meta["quick"] else ""),
        "",
        f"{meta['date_utc']}, commit {meta['git_commit']}, {meta['cpu']} ({meta['nproc']} cores), "
        f"backend {meta['config']['backend']}, {meta['config']['threads']} threads, "
        f"load average {meta.get('load_before', '?')} before / {meta.get('load_after', '?')} after, "
        f"{meta['wall_s'] / 60:.1f} min. Every figure's bootstrap std is in scorecard.json.",
        *_parts_lines(meta),
        "",
        f"{h2} Real road: region accuracy on the dash-cam clips (JPEG q"
        f"{meta['config']['real_road']['jpeg_quality']}, % of region pixels)",
        "",
        *_table(rows, ROAD_COLUMNS),
        "",
        f"{h2} Real-video flicker (% of gray-stable pixels whose label changes), both clips",
        "",
        *_table(rows, _flicker_columns(rows)),
        "",
    ]
    for pair, ratios in card["ratios"].items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(ratios.items()))
        lines.append(f"- {pair}: {parts}")
    lines += ["", f"{h2} CamVid", "", *_table(rows, CAMVID_COLUMNS), ""]
    if any("speed.step_ms" in r["axes"] for r in rows.values()):
        backbone = meta["backbone_alone_ms"]
        lines += [
            f"{h2} Speed: streaming step at {backbone['size']}, backbone alone "
            f"{backbone['median_ms']:.1f} ms (median of rounds)",
            "",
            *_table(rows, SPEED_COLUMNS),
            "",
        ]
    alphas = ", ".join(
        f"{p} α={t['alpha']:g}" for p, t in card["ema_tuning"].items() if t["alpha"] is not None
    )
    lines += [f"EMA weights tuned on CamVid val: {alphas}.", ""]
    if meta["skipped"]:
        lines += [f"Skipped: {'; '.join(meta['skipped'])}", ""]
    return "\n".join(lines)


def update_readme_scorecard(readme: str | Path, scorecard: str | Path) -> bool:
    """Regenerate the README's scorecard block (between :data:`README_MARKERS`) from a full
    scorecard's JSON; True if the file changed.

    Raises:
        ValueError: the scorecard is a ``--quick`` run, or the markers are missing.
    """
    readme, scorecard = Path(readme), Path(scorecard)
    card = json.loads(scorecard.read_text(encoding="utf-8"))
    if card["meta"]["quick"]:
        raise ValueError(f"{scorecard} is a --quick run; the README quotes full scorecards only")
    block = render_markdown(card, level=3).replace(
        "### Scorecard", f"### Scorecard (`{scorecard.as_posix()}`, `make scorecard`)", 1
    )
    text = readme.read_text(encoding="utf-8")
    new = replace_block(text, block, markers=README_MARKERS)
    if new != text:
        _atomic_write_bytes(readme, new.encode())
    return new != text


def render_sheet(card: dict[str, Any], sheet: Sequence[dict[str, Any]]) -> np.ndarray:
    """(H, W, 3) uint8 RGB: per labelled frame, the input then each row's colour labels."""
    lut = palette_lut(card["class_colors"])
    keys = list(card["rows"])
    lines = []
    for item in sheet:
        image = item["image"]
        height = round(TILE_WIDTH * image.shape[0] / image.shape[1])
        tiles = [_tile(image, f"{item['clip'][:18]} #{item['frame']}", height)]
        for key in keys:
            color = colorize(item["labels"][key], lut)
            tiles.append(_tile(color, key, height))
        lines.append(np.concatenate(tiles, axis=1))
    return np.concatenate(lines, axis=0)


def _parts_lines(meta: dict[str, Any]) -> list[str]:
    """One line per part of a merged scorecard: what it scored, when, and the load around it."""
    return [
        f"Part {'+'.join(m.get('parts', []))}: {m['date_utc']}, commit {m['git_commit']}, load "
        f"average {m.get('load_before', '?')} before / {m.get('load_after', '?')} after, "
        f"{m['wall_s'] / 60:.1f} min."
        for m in meta.get("parts_meta", [])
    ]


def _table(rows: dict[str, Any], columns: Sequence[tuple[str, str, float, int]]) -> list[str]:
    present = [c for c in columns if any(c[0] in r["axes"] for r in rows.values())]
    out = [
        "| model | " + " | ".join(c[1] for c in present) + " |",
        "|---|" + "---|" * len(present),
    ]
    for row in rows.values():
        cells = []
        for axis, _, scale, decimals in present:
            value = row["axes"].get(axis, {}).get("value")
            ok = value is not None and math.isfinite(value)
            cells.append(f"{value * scale:.{decimals}f}" if ok else "–")
        out.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return out


def _flicker_columns(rows: dict[str, Any]) -> tuple[tuple[str, str, float, int], ...]:
    axes = sorted(
        {a for r in rows.values() for a in r["axes"] if a.startswith("video_flicker.s")},
        key=lambda a: int(a.rsplit("s", 1)[1]),
    )
    return tuple((a, f"stride {a.rsplit('s', 1)[1]}", 100, 2) for a in axes)


def _tile(rgb: np.ndarray, caption: str, height: int) -> np.ndarray:
    body = cv2.resize(rgb, (TILE_WIDTH, height), interpolation=cv2.INTER_NEAREST)
    bar = np.full((CAPTION_HEIGHT, TILE_WIDTH, 3), 255, np.uint8)
    cv2.putText(bar, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, body], axis=0)


def _png(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding of the scorecard picture failed")
    return data.tobytes()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write under a temporary name, then rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
