"""The scorecard: checkpoint pairs side by side on the axes a user of the node cares about.

For every pair (a release's T2G and per-frame checkpoints) it scores three rows, ``<pair>/t2g``,
``<pair>/perframe`` and ``<pair>/perframe_ema`` (the per-frame model with an EMA of its class
probabilities, alpha tuned on CamVid val), plus the ESPNetv2 Cityscapes peer once, all in one run:

- ``road.*``: region accuracy on the real dash-cam clips (``real_road``), every clip streamed in
  order as JPEG, per class, the mean, and ``road.sky_as_road``;
- ``video_flicker.s<k>``: flicker of gray-stable pixels on both clips at stride k;
- ``val.miou``, ``val.vc8``, ``val.flicker``: CamVid val at 15 Hz, stride 1 (flicker on GT-stable pixels);
- ``test.miou`` and ``weather.retention`` (mean over corruptions of corrupted / clean test mIoU);
- ``speed.step_ms`` and ``speed.ratio_to_backbone``: the streaming step at one frame size, the models
  and the backbone alone taking turns in rounds in one process.

Every axis carries ``value`` and ``std``: the std over bootstrap resamples of its units (frames, frame
pairs, VC windows, labelled frames), or over the speed rounds. The release gate's noise bands come from
these stds. ``--quick`` keeps val, the region labels and stride-1 flicker (minutes, for use while
training).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..checkpoint import load_checkpoint
from ..export import file_sha256
from ..metrics import (
    confusion_matrix,
    flicker_rate,
    mean_iou,
    stride_phases,
    video_consistency,
)
from . import bootstrap
from .contenders import Contender, predict_streams
from .ema_tuning import tune_ema_alpha
from .environment import describe_run
from .peer import PeerContender, open_peer_contender
from .real_road import (
    RegionLabels,
    RegionTally,
    camera_frames,
    load_region_labels,
    region_masks,
    to_size,
)
from .scorecard_config import Pair, ScorecardConfig
from .sources import LabelledRun, corrupt_run, load_test_runs, load_val_run
from .speed import measure_latency, streaming_step, synthetic_frames

T2G_ROLE, PERFRAME_ROLE, EMA_ROLE, PEER_ROLE = "t2g", "perframe", "perframe_ema", "peer"
REPO = Path(__file__).resolve().parents[2]
Say = Callable[[str], None]


@dataclass(frozen=True)
class Row:
    """One model of the scorecard.

    Attributes:
        key: ``<pair>/<role>``, or ``peer``.
        pair: the pair's name; None for the peer.
        role: ``t2g``, ``perframe``, ``perframe_ema`` or ``peer``.
        contender: what streams the frames (``segmenter()``).
    """

    key: str
    pair: str | None
    role: str
    contender: Contender | PeerContender


PARTS = ("accuracy", "speed")


def run_scorecard(
    cfg: ScorecardConfig,
    pairs: Sequence[Pair],
    *,
    parts: Sequence[str] = PARTS,
    say: Say | None = None,
) -> dict[str, Any]:
    """Score ``pairs`` (and the peer) and return the scorecard (see the module docstring).

    Args:
        parts: ``accuracy`` (every axis but speed) and/or ``speed``. Timing needs an idle machine while
            the accuracy axes do not, so the two can run apart and be merged (:func:`merge_scorecards`).

    Raises:
        ValueError, FileNotFoundError, CheckpointError: a bad checkpoint, a missing data folder.
    """
    say = say or (lambda line: print(f"scorecard: {line}", file=sys.stderr, flush=True))
    if not pairs:
        raise ValueError("the scorecard needs at least one checkpoint pair")
    names = [p.name for p in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"pair names must be unique, got {names}")
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        raise ValueError(f"parts must be from {PARTS}, got {list(parts)}")
    return _Scorecard(cfg, pairs, say).run(parts)


class _Scorecard:
    """The steps of :func:`run_scorecard`, sharing the rows and the loaded data."""

    def __init__(self, cfg: ScorecardConfig, pairs: Sequence[Pair], say: Say) -> None:
        self.cfg, self.pairs, self.say = cfg, pairs, say
        self.loaded = {}
        for pair in pairs:
            self.loaded[pair.name] = (load_checkpoint(pair.t2g), load_checkpoint(pair.perframe))
            t2g, perframe = self.loaded[pair.name]
            if perframe.model.memory_capacity != 1:
                raise ValueError(f"{pair.perframe}: not a per-frame checkpoint (memory > 1)")
            if t2g.label_set != perframe.label_set:
                raise ValueError(f"pair {pair.name}: the two checkpoints' label sets differ")
        self.label_set = next(iter(self.loaded.values()))[0].label_set
        self.peer, skipped = open_peer_contender(
            cfg.peer, label_set=self.label_set, threads=cfg.threads
        )
        self.skipped = [skipped] if skipped else []
        for line in self.skipped:
            say(line)
        self.runtime = {
            "backend": cfg.backend,
            "threads": cfg.threads,
            "precision": cfg.precision,
        }
        self.stream = {"max_gap_s": cfg.max_gap_s, "device": "cpu"}
        self.units: dict[str, dict[str, Any]] = {}  # row key -> per-unit numbers of each axis

    # -------------------------------------------------------------------------------------- the run

    def run(self, parts: Sequence[str]) -> dict[str, Any]:
        start = time.perf_counter()
        environment = describe_run(REPO)  # the code and machine as the run starts
        cfg = self.cfg
        val = load_val_run(
            cfg.data_root,
            sequence=cfg.camvid_val.sequence,
            first_frame=cfg.camvid_val.first_frame,
            last_frame=cfg.camvid_val.last_frame,
            frame_step=cfg.camvid_val.frame_step,
            max_frames=None,
        )
        rows, tuning = self._rows(val, tune="accuracy" in parts)
        self.units = {row.key: {} for row in rows}
        sheet, speed = [], None
        if "accuracy" in parts:
            self._val(rows, val)
            regions = load_region_labels(Path(cfg.data_root) / cfg.real_road.regions)
            sheet = self._real_road(rows, regions)
            if not cfg.is_quick:
                self._test_and_weather(rows)
        if "speed" in parts and not cfg.is_quick:
            speed = self._speed(rows)
        result = {
            "meta": {
                **environment,
                "quick": cfg.is_quick,
                "parts": list(parts),
                "config": _plain(cfg),
                "skipped": self.skipped,
                "backbone_alone_ms": speed,
            },
            "class_names": list(self.label_set.names),
            "class_colors": [list(c) for c in self.label_set.colors],
            "pairs": [{"name": p.name, "t2g": p.t2g, "perframe": p.perframe} for p in self.pairs],
            "ema_tuning": tuning,
            "rows": {row.key: self._row_entry(row) for row in rows},
        }
        result["ratios"] = flicker_ratios(result["rows"], [p.name for p in self.pairs])
        result["meta"]["wall_s"] = time.perf_counter() - start
        result["_sheet"] = sheet  # labelled frames and each row's labels, for the picture
        return result

    def _rows(self, val: LabelledRun, *, tune: bool) -> tuple[list[Row], dict[str, Any]]:
        """The rows in table order. Without ``tune`` (a speed-only run, where the weight does not
        change the cost) the EMA row takes the first candidate weight untuned."""
        rows, tuning = [], {}
        for pair in self.pairs:
            t2g, perframe = self.loaded[pair.name]
            if tune:
                alpha, table = self._tune_ema(pair, val)
            else:
                alpha, table = self.cfg.ema.alphas[0], {"alpha": None, "criterion": "not tuned"}
            tuning[pair.name] = table
            for role, loaded, path, ema in (
                (T2G_ROLE, t2g, pair.t2g, None),
                (PERFRAME_ROLE, perframe, pair.perframe, None),
                (EMA_ROLE, perframe, pair.perframe, alpha),
            ):
                label = f"{pair.name} {role}" + (f" (α={alpha:g})" if ema else "")
                contender = Contender(
                    f"{pair.name}/{role}", label, loaded, ema, path, **self.runtime
                )
                rows.append(Row(f"{pair.name}/{role}", pair.name, role, contender))
        if self.peer is not None:
            rows.append(Row(PEER_ROLE, None, PEER_ROLE, self.peer))
        return rows, tuning

    def _tune_ema(self, pair: Pair, val: LabelledRun) -> tuple[float, dict[str, Any]]:
        cfg, perframe = self.cfg, self.loaded[pair.name][1]
        n = cfg.ema.vc_window
        self.say(f"{pair.name}: tuning the EMA weight on CamVid val ({len(cfg.ema.alphas)} values)")

        def score(alpha: float | None) -> tuple[float, float]:
            c = Contender("ema", "ema", perframe, alpha, pair.perframe, **self.runtime)
            (preds,) = predict_streams([c], val.images, val.stamps_s, **self.stream)
            confusion = sum(self._confusions(preds, val.labels))
            vc = video_consistency(preds, val.labels, n=n, void_id=self.label_set.void_id)
            return mean_iou(confusion), vc.mean_of_windows

        tuned = tune_ema_alpha(
            score, alphas=cfg.ema.alphas, max_miou_drop=cfg.ema.max_miou_drop, vc_window=n
        )
        table = {
            "alpha": tuned.alpha,
            "criterion": tuned.criterion,
            "scores": [
                {"alpha": s.alpha, "miou": s.miou, f"vc{n}": s.vc}
                for s in (tuned.reference, *tuned.candidates)
            ],
        }
        return tuned.alpha, table

    # ---------------------------------------------------------------------------------- the targets

    def _val(self, rows: list[Row], val: LabelledRun) -> None:
        self.say(f"CamVid val at 15 Hz: {len(val)} frames x {len(rows)} models")
        preds = predict_streams(
            [r.contender for r in rows], val.images, val.stamps_s, **self.stream
        )
        void = self.label_set.void_id
        for row, own in zip(rows, preds, strict=True):
            units = self.units[row.key]
            units["val.confusions"] = np.stack(self._confusions(own, val.labels))
            units["val.vc_windows"] = video_consistency(
                own, val.labels, n=self.cfg.camvid_val.vc_window, void_id=void
            ).window_ratios
            units["val.flicker_pairs"] = np.array(
                [
                    _counts(
                        flicker_rate(
                            own[t - 1 : t + 1], labels=val.labels[t - 1 : t + 1], void_id=void
                        )
                    )
                    for t in range(1, len(own))
                ]
            )

    def _real_road(self, rows: list[Row], regions: RegionLabels) -> list[dict[str, Any]]:
        spec, contenders = self.cfg.real_road, [r.contender for r in rows]
        sheet = []
        for row in rows:
            self.units[row.key]["road.tally"] = RegionTally(regions.classes)
            for stride in spec.strides:
                self.units[row.key][f"video_flicker.s{stride}"] = []
        for clip in regions.clips:
            path = Path(self.cfg.data_root) / "video" / clip.path
            frames = camera_frames(path, quality=spec.jpeg_quality)
            grid = (spec.flicker_width, round(spec.flicker_width * clip.size[1] / clip.size[0]))
            gray_frames = [cv2.resize(f, grid, interpolation=cv2.INTER_AREA) for f in frames]
            stamps = np.arange(len(frames), dtype=np.float64) / spec.fps
            masks = {i: region_masks(regs, clip.size) for i, regs in clip.frames.items()}
            for stride in spec.strides:
                self.say(
                    f"{clip.name}: {len(frames)} JPEG q{spec.jpeg_quality} frames at stride {stride}"
                    f" x {len(rows)} models"
                )
                for indices in stride_phases(len(frames), stride=stride):
                    preds = predict_streams(
                        contenders, [frames[i] for i in indices], stamps[indices], **self.stream
                    )
                    for row, own in zip(rows, preds, strict=True):
                        pairs = self.units[row.key][f"video_flicker.s{stride}"]
                        small = [to_size(p, grid) for p in own]
                        for t in range(1, len(small)):
                            result = flicker_rate(
                                small[t - 1 : t + 1],
                                frames=[gray_frames[indices[t - 1]], gray_frames[indices[t]]],
                            )
                            pairs.append(_counts(result))
                    if stride != 1:
                        continue
                    for i, frame_masks in masks.items():
                        labelled = {}
                        for row, own in zip(rows, preds, strict=True):
                            labels = to_size(own[i], clip.size)
                            self.units[row.key]["road.tally"].add(labels, frame_masks)
                            labelled[row.key] = labels
                        sheet.append(
                            {"clip": clip.name, "frame": i, "image": frames[i], "labels": labelled}
                        )
        return sheet

    def _test_and_weather(self, rows: list[Row]) -> None:
        runs = load_test_runs(self.cfg.data_root, max_frames=None)
        frames = sum(map(len, runs))
        self.say(f"CamVid test: {frames} frames x {len(rows)} models")
        for row, confusions in zip(rows, self._labelled(rows, runs), strict=True):
            self.units[row.key]["test.confusions"] = confusions
            self.units[row.key]["weather.confusions"] = []
        weather = self.cfg.weather
        for name in weather.corruptions:
            self.say(f"CamVid test with {name} (severity {weather.severity}) x {len(rows)} models")
            corrupted = [corrupt_run(run, name, weather.severity) for run in runs]
            for row, confusions in zip(rows, self._labelled(rows, corrupted), strict=True):
                self.units[row.key]["weather.confusions"].append(confusions)

    def _labelled(self, rows: list[Row], runs: list[LabelledRun]) -> list[np.ndarray]:
        """Per row, (N, K, K) per-frame confusions over every frame of ``runs``, each run streamed."""
        per_row: list[list[np.ndarray]] = [[] for _ in rows]
        for run in runs:
            preds = predict_streams(
                [r.contender for r in rows], run.images, run.stamps_s, **self.stream
            )
            for out, own in zip(per_row, preds, strict=True):
                out.extend(self._confusions(own, run.labels))
        return [np.stack(c) for c in per_row]

    def _speed(self, rows: list[Row]) -> dict[str, Any]:
        """Rounds in which every model, then the backbone alone, takes ``steps`` timed steps."""
        spec = self.cfg.speed
        size = tuple(spec.size)
        self.say(
            f"speed at {size[1]}x{size[0]}: {spec.rounds} rounds x {len(rows)} models + backbone"
        )
        steps = {
            r.key: streaming_step(r.contender, size, **self.stream, fps=self.cfg.real_road.fps)
            for r in rows
        }
        backbone = _backbone_step(self.loaded[self.pairs[0].name][0], size, self.cfg.threads)
        times: dict[str, list[float]] = {key: [] for key in [*steps, "backbone"]}
        for _ in range(spec.rounds):
            for key, step in [*steps.items(), ("backbone", backbone)]:
                stats = measure_latency(step, warmup_steps=spec.warmup_steps, steps=spec.steps)
                times[key].append(stats.p50_ms)
        base = np.array(times["backbone"])
        for row in rows:
            own = np.array(times[row.key])
            self.units[row.key]["speed.rounds"] = np.stack([own, own / base], axis=1)
        return {
            "size": f"{size[1]}x{size[0]}",
            "p50_ms_per_round": times["backbone"],
            "median_ms": float(np.median(base)),
        }

    # --------------------------------------------------------------------------------- the numbers

    def _confusions(self, preds: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> list:
        k, void = self.label_set.num_classes, self.label_set.void_id
        return [
            confusion_matrix(p, g, num_classes=k, void_id=void)
            for p, g in zip(preds, labels, strict=True)
        ]

    def _row_entry(self, row: Row) -> dict[str, Any]:
        c = row.contender
        entry = {
            "label": c.label,
            "pair": row.pair,
            "role": row.role,
            "checkpoint": c.checkpoint,
            "sha256": None if row.role == PEER_ROLE else file_sha256(c.checkpoint)[:12],
            "ema_alpha": c.ema_alpha,
            "axes": row_axes(
                self.units[row.key], samples=self.cfg.bootstrap_samples, seed=_seed(row.key)
            ),
        }
        return entry


def row_axes(units: dict[str, Any], *, samples: int, seed: int) -> dict[str, dict[str, float]]:
    """Every axis a row has units for: ``{axis: {"value": v, "std": bootstrap std}}``.

    Args:
        units: what the targets kept for the row (per-frame confusions, per-pair flicker counts, VC
            windows, the region tally, the speed rounds); a target that did not run is absent.
    """
    axes: dict[str, tuple[float, float]] = {}
    boot = {"samples": samples, "seed": seed}
    if "val.confusions" in units:
        axes["val.miou"] = bootstrap.miou_with_std(units["val.confusions"], **boot)
        axes["val.vc8"] = bootstrap.mean_with_std(units["val.vc_windows"], **boot)
        axes["val.flicker"] = bootstrap.ratio_with_std(units["val.flicker_pairs"], **boot)
    if "road.tally" in units:
        tally: RegionTally = units["road.tally"]
        values = tally.scores()
        for name, value in values.items():
            axes[f"road.{name}"] = (
                value,
                bootstrap.resample_std(
                    lambda idx, name=name: tally.scores(idx).get(name, float("nan")),
                    len(tally.hits),
                    **boot,
                ),
            )
    for key in sorted(k for k in units if k.startswith("video_flicker.s")):
        axes[key] = bootstrap.ratio_with_std(np.asarray(units[key]), **boot)
    if "test.confusions" in units:
        clean = units["test.confusions"]
        axes["test.miou"] = bootstrap.miou_with_std(clean, **boot)
        axes["weather.retention"] = bootstrap.retention_with_std(
            clean, units["weather.confusions"], **boot
        )
    if "speed.rounds" in units:
        rounds = units["speed.rounds"]
        for column, name in enumerate(("speed.step_ms", "speed.ratio_to_backbone")):
            axes[name] = (float(np.median(rounds[:, column])), float(rounds[:, column].std(ddof=1)))
    return {name: {"value": float(v), "std": float(s)} for name, (v, s) in axes.items()}


def merge_scorecards(cards: Sequence[dict[str, Any]], *, join: bool = False) -> dict[str, Any]:
    """One scorecard from parts run apart on the same pairs (e.g. accuracy, then speed when idle).

    Rows keep the first card's fields; each later card adds its axes (an axis present twice keeps
    the later value). ``meta`` keeps every part's under ``parts_meta``. With ``join`` the cards may
    score different pairs (e.g. a new candidate's accuracy scored alone, next to the scorecard that
    holds the shipped pair: the accuracy axes of a checkpoint do not depend on the run): pairs and
    rows are the union, in order of first appearance.

    Raises:
        ValueError: without ``join``, the cards score different pairs or rows.
    """
    if not cards:
        raise ValueError("nothing to merge")
    first = cards[0]
    merged = {
        **first,
        "pairs": list(first["pairs"]),
        "rows": {k: {**r, "axes": dict(r["axes"])} for k, r in first["rows"].items()},
    }
    for card in cards[1:]:
        same = card["pairs"] == first["pairs"] and set(card["rows"]) == set(first["rows"])
        if not (same or join):
            raise ValueError("scorecards to merge must score the same pairs and rows")
        merged["pairs"] += [p for p in card["pairs"] if p not in merged["pairs"]]
        for key, row in card["rows"].items():
            if key not in merged["rows"]:
                merged["rows"][key] = {**row, "axes": {}}
            merged["rows"][key]["axes"].update(row["axes"])
        if card["meta"].get("backbone_alone_ms"):
            merged["meta"] = {
                **merged["meta"],
                "backbone_alone_ms": card["meta"]["backbone_alone_ms"],
            }
    # A card that is itself a merge contributes its own parts (e.g. its accuracy and speed runs).
    parts_meta = [m for c in cards for m in c["meta"].get("parts_meta", [c["meta"]])]
    merged["meta"] = {**merged["meta"], "parts_meta": parts_meta}
    # A speed-only part tunes no EMA (alpha None): it never hides a part's tuned alpha.
    tuning: dict[str, Any] = {}
    for card in cards:
        for pair, tuned in card.get("ema_tuning", {}).items():
            if tuned["alpha"] is not None or pair not in tuning:
                tuning[pair] = tuned
    merged["ema_tuning"] = tuning
    merged["ratios"] = flicker_ratios(merged["rows"], [p["name"] for p in merged["pairs"]])
    return merged


def flicker_ratios(rows: dict[str, Any], pairs: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per pair and stride: T2G flicker / per-frame flicker and T2G / per-frame + EMA."""
    out = {}
    for pair in pairs:
        t2g = rows.get(f"{pair}/{T2G_ROLE}", {}).get("axes", {})
        ratios = {}
        for axis in sorted(a for a in t2g if a.startswith("video_flicker.")):
            stride = axis.rsplit(".", 1)[1]
            for role, name in ((PERFRAME_ROLE, "perframe"), (EMA_ROLE, "ema")):
                other = rows.get(f"{pair}/{role}", {}).get("axes", {}).get(axis, {}).get("value")
                ratios[f"t2g_per_{name}.{stride}"] = (
                    t2g[axis]["value"] / other if other else float("nan")
                )
        out[pair] = ratios
    return out


def _backbone_step(loaded, size: tuple[int, int], threads: int) -> Callable[[int], object]:
    """The frozen backbone alone on onnxruntime at the model input, fed frames already at that size."""
    import torch

    from ..training.backbone_onnx import OrtBackbone

    model = loaded.model
    input_size = tuple(model.input_size)
    backbone = OrtBackbone(model.backbone, input_size=input_size, threads=threads)
    frames = [
        torch.from_numpy(
            np.ascontiguousarray(
                cv2.resize(f, input_size[::-1], interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[
                    None
                ],
                dtype=np.float32,
            )
        )
        for f in synthetic_frames(size)
    ]
    return lambda i: backbone(frames[i % len(frames)])


def _counts(result) -> tuple[int, int]:
    return (result.numerator, result.denominator)


def _seed(key: str) -> int:
    """A fixed seed per row, so reruns resample the same way."""
    return sum(key.encode()) % (2**31)


def _plain(cfg: ScorecardConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


__all__ = [
    "PARTS",
    "Row",
    "flicker_ratios",
    "merge_scorecards",
    "row_axes",
    "run_scorecard",
]
