"""One evaluation run: tune the EMA baseline on val, score every contender on every target, time them, and
write ``results.json``, ``summary.md`` and the PNG charts.

``results.json`` (NaN written as null; rates and IoUs are fractions in 0..1, latencies in ms)::

    meta:         date_utc, cpu, nproc, torch_threads, torch, python, git_commit, quick, config_path,
                  config, wall_s
    class_names:  [K names]
    models:       [{name, label, checkpoint, ema_alpha, memory_length, provenance}]
                  (table order; the ESPNetv2 peer "espnetv2_peer" after the three contenders, its
                  checkpoint the peer folder, scored on camvid_test, camvid_corrupted, video and
                  speed only; the memory ablation's "t2g_memory1" last, scored on video and
                  val_15hz only)
    ema_tuning:   {alpha, criterion, split, vc_window, max_miou_drop, reference: {alpha, miou, vc},
                   candidates: [{alpha, miou, vc}]}
    targets:
      camvid_test:      {frames, runs: {run: frames}, models: {name: {miou, per_class_iou: [K]}}}
      camvid_corrupted: {severity, frames, corruptions: {corruption: {name: {miou, retention}}},
                         mean: {name: {miou, retention}}}
      video:            {fps, width, strides, clips: {clip: frames},
                         models: {name: {per_stride: [{stride, rate, numerator, denominator}],
                                         per_clip: {clip: [{stride, rate}]}}},
                         strip: {clip, start, length, rate},
                         memory_ablation: ABLATION}
      val_15hz:         {frames, strides, vc_windows, rate_hz,
                         models: {name: [{stride, miou, flicker, vc8, vc8_pooled, vc8_windows,
                                          ...}]},
                         memory_ablation: ABLATION}
    speed:        {sizes: ["WxH"], warmup_steps, steps, labels: {name: label},
                   models: {name: {"WxH": {steps, fps, mean_ms, p50_ms, p95_ms}}},
                   ratios: {"WxH": {"t2g/perframe": p50 ratio, ...}}}
    plots:        {miou, stability, per_class, strip: file names in the output folder}
    peer_comparison: (when the peer ran) T2G against it, ``peer.peer_comparison``: {t2g, peer,
                  miou_points_ahead, corrupted_miou_points_ahead, corrupted_retention: {t2g, peer},
                  flicker_ratio: [{stride, ratio}]}

meta.skipped lists why a contender did not run (the peer's folder missing, ...).

ABLATION (present when the T2G checkpoint has a memory, capacity > 1): the same checkpoint with its
full memory (``full``, "t2g") and with memory_length 1 (``memory1``, "t2g_memory1"), streamed in
lockstep on the same frames::

    {full, memory1, per_stride: [{stride, changed, changed_pixels, pixels, flicker_full,
                                  flicker_memory1, flicker_ratio}]}

changed = changed_pixels / pixels: the share of pixels whose label differs between the two
predictions of the same frame, pooled over frames (all phases and clips of the stride);
flicker_ratio = flicker_full / flicker_memory1 (the target's own flicker mask).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import LoadedCheckpoint, load_checkpoint
from ..metrics import ConfusionAccumulator, StrideScores
from .ablation import ablation_entry
from .config import EvalConfig
from .contenders import PERFRAME, T2G, Contender, make_contenders, memory_ablation_contender
from .ema_tuning import AlphaScore, EmaTuning, tune_ema_alpha
from .environment import describe_run
from .peer import ESPNETV2_PEER, PeerContender, open_peer_contender, peer_comparison
from .plots import draw_result_charts
from .report import write_results
from .sources import (
    LabelledRun,
    VideoClip,
    corrupt_run,
    load_test_runs,
    load_val_run,
    load_video_clips,
)
from .speed import (
    SEGFORMER_LABEL,
    SEGFORMER_PEER,
    SegformerPeer,
    latency_ratios,
    measure_latency,
    segformer_step,
    streaming_step,
)
from .strip import FlickerWindow, draw_flicker_strip, flickeriest_window, pair_flicker
from .targets import Pair, ValScores, score_labelled_runs, score_val_strides, score_video_flicker

CAMVID_FPS = 30.0
STRIP_LENGTH = 6
STRIP_FILE = "flicker_strip.png"


class Evaluation:
    """Runs :func:`run_evaluation`'s steps with shared state (checkpoints, contenders, progress bars).

    Args:
        cfg: the run's config (already the quick variant for a smoke run).
        config_path: where ``cfg`` was read from, recorded in the results.
        progress: show tqdm progress bars on stderr.
    """

    def __init__(self, cfg: EvalConfig, *, config_path: str, progress: bool) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.progress = progress
        self.out = Path(cfg.output_dir)
        self.perframe = load_checkpoint(cfg.models.perframe)
        self.t2g = load_checkpoint(cfg.models.t2g)
        self.label_set = self.t2g.label_set
        self.peer = None
        if cfg.speed.enabled and cfg.speed.segformer_peer:
            # Built now, so that a missing `transformers` fails before an hour of evaluation, not after.
            self.peer = SegformerPeer(num_classes=self.label_set.num_classes, device=cfg.device)
        # Opened (and its files verified) now too; a missing folder only skips it.
        self.espnetv2, self.skipped = open_peer_contender(
            cfg.models.espnetv2_peer, label_set=self.label_set, threads=cfg.threads
        )
        if self.skipped:
            print(f"t2g-eval: {self.skipped}", file=sys.stderr)

    def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        cfg = self.cfg
        val_run = load_val_run(
            cfg.data_root,
            sequence=cfg.targets.val_15hz.sequence,
            first_frame=cfg.targets.val_15hz.first_frame,
            last_frame=cfg.targets.val_15hz.last_frame,
            frame_step=cfg.targets.val_15hz.frame_step,
            max_frames=cfg.max_frames,
        )
        tuning = self._tune_ema(val_run)
        contenders = make_contenders(
            self.perframe,
            self.t2g,
            ema_alpha=tuning.alpha,
            paths=(cfg.models.perframe, cfg.models.t2g),
            backend=cfg.backend,
            threads=cfg.threads,
        )
        # The memory ablation runs beside the contenders on the streaming targets only; the peer
        # beside them on CamVid test, weather, video and speed (``compared``), not on val.
        ablation = memory_ablation_contender(next(c for c in contenders if c.name == T2G))
        compared = contenders + ([self.espnetv2] if self.espnetv2 else [])
        streamed = contenders + ([ablation] if ablation else [])
        compare = (T2G, ablation.name) if ablation else None
        results: dict[str, Any] = {
            "meta": {
                **describe_run(Path(__file__).resolve().parents[2]),
                "quick": cfg.is_quick,
                "config_path": self.config_path,
                "config": cfg.to_dict(),
                "skipped": [self.skipped] if self.skipped else [],
            },
            "class_names": list(self.label_set.names),
            "models": [self._model_entry(c) for c in compared + streamed[len(contenders) :]],
            "ema_tuning": _tuning_entry(tuning),
            "targets": {},
        }
        targets = results["targets"]
        if cfg.targets.camvid_test.enabled or cfg.targets.camvid_corrupted.enabled:
            test_runs = load_test_runs(cfg.data_root, max_frames=cfg.max_frames)
            clean = (
                self._camvid_test(compared, test_runs) if cfg.targets.camvid_test.enabled else None
            )
            if clean is not None:
                targets["camvid_test"] = clean
            if cfg.targets.camvid_corrupted.enabled:
                targets["camvid_corrupted"] = self._camvid_corrupted(compared, test_runs, clean)
        if cfg.targets.video.enabled:
            video_streamed = compared + streamed[len(contenders) :]
            targets["video"] = self._video(compared, video_streamed, compare)
        if cfg.targets.val_15hz.enabled:
            targets["val_15hz"] = self._val_15hz(streamed, val_run, compare)
        if cfg.speed.enabled:
            results["speed"] = self._speed(compared)
        if self.espnetv2:
            results["peer_comparison"] = peer_comparison(targets, t2g=T2G, peer=ESPNETV2_PEER)
        results["plots"] = draw_result_charts(results, self.out)
        if "strip" in targets.get("video", {}):
            results["plots"]["strip"] = STRIP_FILE
        results["meta"]["wall_s"] = time.perf_counter() - start
        write_results(results, self.out)
        return results

    # ------------------------------------------------------------------------------------------ steps

    def _tune_ema(self, val_run: LabelledRun) -> EmaTuning:
        cfg = self.cfg
        n = cfg.ema.vc_window
        bar = self._bar("EMA alpha on val", len(val_run) * (len(cfg.ema.alphas) + 1))

        def score(alpha: float | None) -> tuple[float, float]:
            contender = Contender(
                "ema_tuning",
                "per-frame + EMA",
                self.perframe,
                alpha,
                cfg.models.perframe,
                backend=cfg.backend,
                threads=cfg.threads,
            )
            s = self._val_scores(
                [contender], val_run, strides=(1,), vc_windows=(n,), tick=bar.update
            ).per_model[contender.name][1]
            return s.mean_iou, s.vc[n].mean_of_windows

        tuning = tune_ema_alpha(
            score, alphas=cfg.ema.alphas, max_miou_drop=cfg.ema.max_miou_drop, vc_window=n
        )
        bar.close()
        return tuning

    def _camvid_test(self, contenders: list[Contender], runs: list[LabelledRun]) -> dict[str, Any]:
        models = {}
        for c in contenders:
            confusion = self._labelled(c, runs, f"CamVid test · {c.label}")
            models[c.name] = {
                "miou": confusion.mean_iou(),
                "per_class_iou": confusion.per_class_iou().tolist(),
            }
        return {
            "frames": sum(map(len, runs)),
            "runs": {r.name: len(r) for r in runs},
            "models": models,
        }

    def _camvid_corrupted(
        self, contenders: list[Contender], runs: list[LabelledRun], clean: dict[str, Any] | None
    ) -> dict[str, Any]:
        spec = self.cfg.targets.camvid_corrupted
        per_corruption: dict[str, dict[str, Any]] = {}
        for name in spec.corruptions:
            corrupted = [corrupt_run(run, name, spec.severity) for run in runs]
            per_corruption[name] = {}
            for c in contenders:
                miou = self._labelled(c, corrupted, f"CamVid test {name} · {c.label}").mean_iou()
                clean_miou = clean["models"][c.name]["miou"] if clean else float("nan")
                retention = miou / clean_miou if clean_miou > 0 else float("nan")
                per_corruption[name][c.name] = {"miou": miou, "retention": retention}
        mean = {
            c.name: {
                key: float(np.mean([per_corruption[n][c.name][key] for n in spec.corruptions]))
                for key in ("miou", "retention")
            }
            for c in contenders
        }
        return {
            "severity": spec.severity,
            "frames": sum(map(len, runs)),
            "corruptions": per_corruption,
            "mean": mean,
        }

    def _video(
        self, contenders: list[Contender], streamed: list[Contender], compare: Pair | None
    ) -> dict[str, Any]:
        """Flicker of every ``streamed`` contender (in lockstep); the strip shows ``contenders``."""
        spec = self.cfg.targets.video
        clips = load_video_clips(
            self.cfg.data_root,
            pattern=spec.pattern,
            fps=spec.fps,
            width=spec.width,
            max_frames=self.cfg.max_frames,
        )
        bar = self._bar("video flicker", sum(map(len, clips)) * len(spec.strides) * len(streamed))
        scores = score_video_flicker(
            streamed,
            clips,
            strides=spec.strides,
            max_gap_s=self.cfg.max_gap_s,
            device=self.cfg.device,
            tick=bar.update,
            compare=compare,
        )
        bar.close()
        stride1 = {c.name: scores.flicker[c.name].stride1_preds for c in contenders}
        models = {}
        for c in streamed:
            flicker = scores.flicker[c.name]
            models[c.name] = {
                "per_stride": [
                    {
                        "stride": s,
                        "rate": r.rate,
                        "numerator": r.numerator,
                        "denominator": r.denominator,
                    }
                    for s, r in flicker.per_stride.items()
                ],
                "per_clip": {
                    clip: [{"stride": s, "rate": r.rate} for s, r in per.items()]
                    for clip, per in flicker.per_clip.items()
                },
            }
        entry: dict[str, Any] = {
            "fps": spec.fps,
            "width": spec.width,
            "strides": list(spec.strides),
            "clips": {clip.name: len(clip) for clip in clips},
            "models": models,
        }
        if compare is not None:
            full, memory1 = (scores.flicker[name].per_stride for name in compare)
            entry["memory_ablation"] = ablation_entry(
                full=compare[0],
                memory1=compare[1],
                changed=scores.changed,
                flicker_full={s: r.rate for s, r in full.items()},
                flicker_memory1={s: r.rate for s, r in memory1.items()},
            )
        if 1 in spec.strides:
            window = self._draw_strip(contenders, clips, stride1)
            if window is not None:
                entry["strip"] = dataclasses.asdict(window)
        return entry

    def _draw_strip(
        self,
        contenders: list[Contender],
        clips: list[VideoClip],
        stride1: dict[str, dict[str, list[np.ndarray]]],
    ) -> FlickerWindow | None:
        """The per-frame model's flickeriest window over all clips, drawn with every contender's labels."""
        best: FlickerWindow | None = None
        for clip in clips:
            preds = stride1[PERFRAME][clip.name]
            length = min(
                STRIP_LENGTH, len(clip)
            )  # a quick run's clips may be shorter than the strip
            start, rate = flickeriest_window(*pair_flicker(preds, clip.frames), length=length)
            if np.isfinite(rate) and (best is None or rate > best.rate):
                best = FlickerWindow(clip.name, start, length, rate)
        if best is None:
            return None
        clip = next(c for c in clips if c.name == best.clip)
        window = slice(best.start, best.start + best.length)
        fps = self.cfg.targets.video.fps
        draw_flicker_strip(
            self.out / STRIP_FILE,
            frames=clip.frames[window],
            rows={c.label: stride1[c.name][clip.name][window] for c in contenders},
            lut=self.label_set.palette_lut(),
            class_names=self.label_set.names,
            times_s=clip.stamps_s[window],
            title=f"{clip.name}, frames {best.start}..{best.start + best.length - 1} at {fps:g} fps: "
            f"the per-frame model's most flickering {best.length} frames",
        )
        return best

    def _val_15hz(
        self, streamed: list[Contender], run: LabelledRun, compare: Pair | None
    ) -> dict[str, Any]:
        spec = self.cfg.targets.val_15hz
        bar = self._bar("val 15 Hz strides", len(run) * len(spec.strides) * len(streamed))
        scores = self._val_scores(
            streamed,
            run,
            strides=spec.strides,
            vc_windows=spec.vc_windows,
            tick=bar.update,
            compare=compare,
        )
        bar.close()
        entry: dict[str, Any] = {
            "frames": len(run),
            "rate_hz": CAMVID_FPS / spec.frame_step,
            "strides": list(spec.strides),
            "vc_windows": list(spec.vc_windows),
            "models": {
                name: [_stride_entry(s) for s in per.values()]
                for name, per in scores.per_model.items()
            },
        }
        if compare is not None:
            full, memory1 = (scores.per_model[name] for name in compare)
            entry["memory_ablation"] = ablation_entry(
                full=compare[0],
                memory1=compare[1],
                changed=scores.changed,
                flicker_full={s: v.flicker.rate for s, v in full.items()},
                flicker_memory1={s: v.flicker.rate for s, v in memory1.items()},
            )
        return entry

    def _speed(self, contenders: list[Contender]) -> dict[str, Any]:
        spec = self.cfg.speed
        names = [c.name for c in contenders] + ([SEGFORMER_PEER] if self.peer else [])
        bar = self._bar("speed", len(names) * len(spec.sizes) * (spec.warmup_steps + spec.steps))
        models: dict[str, dict[str, Any]] = {name: {} for name in names}
        ratios = {}
        for size in spec.sizes:
            key = f"{size[1]}x{size[0]}"
            steps: dict[str, Callable[[int], object]] = {
                c.name: streaming_step(
                    c, size, max_gap_s=self.cfg.max_gap_s, device=self.cfg.device
                )
                for c in contenders
            }
            if self.peer:
                steps[SEGFORMER_PEER] = segformer_step(self.peer, size)
            for name, step in steps.items():
                # The bar moves between measurements only, so its drawing is never inside a timed step.
                stats = measure_latency(step, warmup_steps=spec.warmup_steps, steps=spec.steps)
                bar.update(spec.warmup_steps + spec.steps)
                models[name][key] = stats.to_dict()
            ratios[key] = latency_ratios({name: models[name][key]["p50_ms"] for name in names})
        bar.close()
        labels = {c.name: c.label for c in contenders}
        if self.peer:
            labels[SEGFORMER_PEER] = SEGFORMER_LABEL
        return {
            "sizes": [f"{w}x{h}" for h, w in spec.sizes],
            "warmup_steps": spec.warmup_steps,
            "steps": spec.steps,
            "labels": labels,
            "models": models,
            "ratios": ratios,
        }

    # ---------------------------------------------------------------------------------------- helpers

    def _labelled(
        self, contender: Contender, runs: list[LabelledRun], desc: str
    ) -> ConfusionAccumulator:
        bar = self._bar(desc, sum(map(len, runs)))
        confusion = score_labelled_runs(
            contender,
            runs,
            num_classes=self.label_set.num_classes,
            void_id=self.label_set.void_id,
            max_gap_s=self.cfg.max_gap_s,
            device=self.cfg.device,
            tick=bar.update,
        )
        bar.close()
        return confusion

    def _val_scores(
        self,
        contenders: list[Contender],
        run: LabelledRun,
        *,
        strides: Sequence[int],
        vc_windows: Sequence[int],
        tick: Callable[[], object],
        compare: Pair | None = None,
    ) -> ValScores:
        return score_val_strides(
            contenders,
            run,
            strides=strides,
            vc_windows=vc_windows,
            num_classes=self.label_set.num_classes,
            void_id=self.label_set.void_id,
            max_gap_s=self.cfg.max_gap_s,
            device=self.cfg.device,
            tick=tick,
            compare=compare,
        )

    def _model_entry(self, contender: Contender | PeerContender) -> dict[str, Any]:
        if isinstance(contender, PeerContender):
            return contender.model_entry()
        checkpoint: LoadedCheckpoint = (
            self.perframe if contender.model is self.perframe.model else self.t2g
        )
        return {
            "name": contender.name,
            "label": contender.label,
            "checkpoint": contender.checkpoint,
            "ema_alpha": contender.ema_alpha,
            "memory_length": contender.memory_length,
            "provenance": checkpoint.provenance.to_dict(),
        }

    def _bar(self, desc: str, total: int) -> tqdm:
        return tqdm(
            total=total, desc=desc, unit="frame", disable=not self.progress, dynamic_ncols=True
        )


def run_evaluation(
    cfg: EvalConfig, *, config_path: str = "", progress: bool = True
) -> dict[str, Any]:
    """Run everything ``cfg`` enables and write ``results.json``, ``summary.md`` and PNGs to ``cfg.output_dir``.

    The torch thread count is set to ``cfg.threads`` for the whole process (speed numbers depend on it).

    Returns:
        The results (see the module docstring), as written to ``results.json`` before NaN -> null.
    Raises:
        CheckpointError: a checkpoint cannot be loaded; FileNotFoundError / ValueError: data missing or
        malformed; ImportError: the SegFormer peer is enabled and ``transformers`` is not installed.
    """
    torch.set_num_threads(cfg.threads)
    return Evaluation(cfg, config_path=config_path, progress=progress).run()


def _tuning_entry(tuning: EmaTuning) -> dict[str, Any]:
    def score(s: AlphaScore) -> dict[str, float]:
        return {"alpha": s.alpha, "miou": s.miou, "vc": s.vc}

    return {
        "alpha": tuning.alpha,
        "criterion": tuning.criterion,
        "split": "val",
        "vc_window": tuning.vc_window,
        "max_miou_drop": tuning.max_miou_drop,
        "reference": score(tuning.reference),
        "candidates": [score(s) for s in tuning.candidates],
    }


def _stride_entry(scores: StrideScores) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "stride": scores.stride,
        "miou": scores.mean_iou,
        "flicker": scores.flicker.rate,
    }
    for n, vc in scores.vc.items():
        entry[f"vc{n}"] = vc.mean_of_windows
        entry[f"vc{n}_pooled"] = vc.pooled
        entry[f"vc{n}_windows"] = len(vc.window_ratios)
    return entry
