"""The training loop: clip pairs from the feature bank, segmentation + MTC losses, validation, checkpoints.

One step draws ``batch_pairs`` pairs of clips. Both clips of a pair end on the same frame and differ in
stride (real CamVid runs, strides in labelled frames) or in pseudo-video stride. The model decodes that
shared last frame once from each clip's memory:

    L = Σ_clips [CE + λ_dice·Dice](final) + λ_aux · mean_layers [CE + λ_dice·Dice](aux)
        + λ_mtc · MTC(final_dense, final_sparse; stable mask)

where the MTC mask (``t2g_core.losses.stable_label_mask``) keeps the pixels whose true label is the same
in every frame of both clips and not void (pixels outside a pseudo-video's view are void). With
``mtc_stop_gradient`` the denser-stride prediction is the target. Only the last frame of a clip is
supervised: it is the one decoded with a full memory, which is what streaming produces.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from t2g_core.checkpoint import Provenance, save_checkpoint
from t2g_core.data.camvid import CamVidSplit, check_not_test_split
from t2g_core.data.clips import ClipSampler
from t2g_core.labels import LabelSet
from t2g_core.losses import (
    consecutive_consistency_loss,
    inverse_sqrt_frequency_weights,
    masked_temporal_consistency_loss,
    segmentation_loss,
    stable_label_mask,
)
from t2g_core.metrics import ConfusionAccumulator, video_consistency
from t2g_core.modeling.causal import window_start
from t2g_core.modeling.model import FrameFeatures, T2GModel
from t2g_core.transforms import frames_to_tensor, resize_images, upsample_logits

from .config import TrainConfig
from .feature_bank import FeatureBank
from .feature_style import restyle_levels

# Aux (deep-supervision) losses are computed on labels subsampled by this factor: they only need to
# steer the intermediate layers, and full-resolution CE on every layer would double the loss cost.
_AUX_LABEL_SUBSAMPLE = 4
STATE_FILE = "train_state.pt"


@dataclass(frozen=True)
class ClipBatch:
    """``batch_pairs`` clip pairs as bank indices; clip ``a`` of a pair has the smaller (denser) stride.

    Attributes:
        frames_a, frames_b: (B, T) int64 bank indices, oldest first; column -1 is the shared target frame.
        times_a, times_b: (B, T) float64 seconds.
    """

    frames_a: torch.Tensor
    frames_b: torch.Tensor
    times_a: torch.Tensor
    times_b: torch.Tensor


class PairSampler:
    """Draws clip pairs from the bank's real runs and pseudo-videos (``ClipSampler.sample_pair``)."""

    def __init__(self, bank: FeatureBank, *, clip_len: int, config: TrainConfig) -> None:
        clips = config.clips
        self.bank = bank
        self.clip_len = clip_len
        self.pseudo_fraction = clips.pseudo_fraction
        real = [run for run in bank.runs if not run.pseudo]
        pseudo = [run for run in bank.runs if run.pseudo]
        self._kinds = [
            (
                real,
                ClipSampler(
                    [r.times_s for r in real],
                    clip_len=clip_len,
                    s_min=clips.real_stride_min,
                    s_max=clips.real_stride_max,
                ),
            )
        ]
        if pseudo:
            self._kinds.append(
                (
                    pseudo,
                    ClipSampler(
                        [r.times_s for r in pseudo],
                        clip_len=clip_len,
                        s_min=clips.pseudo_stride_min,
                        s_max=clips.pseudo_stride_max,
                    ),
                )
            )
        else:
            self.pseudo_fraction = 0.0

    def sample(self, rng: np.random.Generator, batch_pairs: int) -> ClipBatch:
        rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for _ in range(batch_pairs):
            runs, sampler = self._kinds[
                int(len(self._kinds) > 1 and rng.random() < self.pseudo_fraction)
            ]
            first, second = sampler.sample_pair(rng)
            dense, sparse = (first, second) if first.stride <= second.stride else (second, first)
            run = runs[dense.sequence]
            rows.append(
                (
                    run.frames[dense.indices],
                    run.frames[sparse.indices],
                    dense.times_s,
                    sparse.times_s,
                )
            )
        fa, fb, ta, tb = (np.stack(column) for column in zip(*rows))
        return ClipBatch(
            torch.from_numpy(fa), torch.from_numpy(fb), torch.from_numpy(ta), torch.from_numpy(tb)
        )


class ClipPairForward(nn.Module):
    """The differentiable part of a step, as one module so DistributedDataParallel can wrap it.

    Encodes every distinct bank frame of the batch once, runs the pixel-fusion state through each clip
    from its first frame (as streaming does from a reset), and decodes the shared last frame of each clip
    from its own memory, plus the frame before it in clip ``a`` (for the consecutive-frame term). Returns
    the predictions of the last frame of clip ``a`` and of clip ``b`` (each a list, aux first, final last)
    and the final prediction of the frame before, all (B, K, h/8, w/8).
    """

    def __init__(self, model: T2GModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        levels: dict[int, torch.Tensor],
        slots_a: torch.Tensor,
        slots_b: torch.Tensor,
        times_a: torch.Tensor,
        times_b: torch.Tensor,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        features = self.model.encode_backbone_features(levels)  # N distinct frames
        last_a, before_last_a = self._decode_clip(features, slots_a, times_a, with_before_last=True)
        last_b, _ = self._decode_clip(features, slots_b, times_b, with_before_last=False)
        return last_a, last_b, before_last_a

    def _decode_clip(
        self,
        features: FrameFeatures,
        slots: torch.Tensor,
        times: torch.Tensor,
        *,
        with_before_last: bool,
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        frames = [features.select(slots[:, t]) for t in range(slots.shape[1])]  # T x (B frames)
        times = times.to(torch.float64)
        capacity = self.model.memory_capacity
        last = len(frames) - 1
        decoded = {last: None, last - 1: None} if with_before_last else {last: None}
        state = None
        for t, frame in enumerate(frames):
            if t not in decoded:  # only the fusion state runs through the frames not decoded
                _, state = self.model.advance(frame, times[:, t], state, memory_length=capacity)
                continue
            first = window_start(t, capacity)
            out = self.model.step(
                frame,
                frames[first : t + 1],
                times[:, first : t + 1],
                state,
                memory_length=capacity,
                with_aux=t == last,
            )
            decoded[t], state = list(out.logits), out.state
        return decoded[last], decoded[last - 1][0] if with_before_last else None


def validation_stream(
    model: T2GModel, frames: torch.Tensor, times_s: np.ndarray, *, device: torch.device | str
) -> Iterator[torch.Tensor]:
    """A validation run decoded causally, as ``StreamingSegmenter`` decodes it from a reset.

    Args:
        model: the model (its full memory is used).
        frames: (N, 3, H, W) float32 RGB 0..255 at the model input size, in time order.
        times_s: (N,) float64 their times in seconds.
        device: where the model runs.

    Yields:
        (1, K, h, w) float32 logits of each frame in turn, at ``model.output_stride``.
    """
    features = FrameFeatures.concat(
        [model.encode_frames(chunk.to(device)) for chunk in frames.split(16)]
    )
    per_frame = [features.select(slice(t, t + 1)) for t in range(features.num_frames)]
    times = torch.from_numpy(np.asarray(times_s, np.float64))[None]  # (1, N)
    for logits in model.decode_frames(per_frame, times):
        yield logits[-1]


class Trainer:
    """Runs (or resumes) one training job described by a ``TrainConfig``; rank 0 writes all files."""

    def __init__(
        self,
        config: TrainConfig,
        model: T2GModel,
        label_set: LabelSet,
        bank: FeatureBank,
        val: CamVidSplit | tuple[CamVidSplit, ...],
        *,
        config_path: str,
        device: torch.device | str = "cpu",
    ) -> None:
        self._init_job(config, model, label_set, val, config_path=config_path, device=device)
        self.bank = bank
        self.sampler = PairSampler(
            bank, clip_len=max(model.memory_capacity, config.clips.length, 2), config=config
        )
        forward = ClipPairForward(self.model)
        self.forward = (
            nn.parallel.DistributedDataParallel(forward, broadcast_buffers=False)
            if self.world > 1
            else forward
        )
        self.class_weights = self._class_weights(bank.class_pixel_counts(label_set.num_classes))

    def _init_job(
        self,
        config: TrainConfig,
        model: T2GModel,
        label_set: LabelSet,
        val: CamVidSplit | tuple[CamVidSplit, ...],
        *,
        config_path: str,
        device: torch.device | str,
        parameters: Iterable[torch.nn.Parameter] | None = None,
    ) -> None:
        """What every stage's trainer has: the model and its optimiser (over ``parameters``, default
        every trainable weight), the job's bookkeeping, val runs."""
        self.config = config
        self.model = model.to(torch.device(device))
        self.label_set = label_set
        self.device = torch.device(device)
        self.config_path = config_path
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.out_dir = Path(config.out_dir)
        optim = config.optim
        self.optimizer = torch.optim.AdamW(
            model.trainable.parameters() if parameters is None else parameters,
            lr=optim.lr,
            weight_decay=optim.weight_decay,
        )
        self.step = 0
        self.best_val_miou = (
            -1.0
        )  # of the selection criterion (EvalConfig): the mean per-drive mIoU
        self.elapsed_s = 0.0  # training wall time of earlier sessions of this job (resume)
        self.rng = np.random.default_rng([config.seed, self.rank, 2])
        self.val_runs = _load_val_runs(val, model.input_size)

    def _class_weights(self, pixel_counts: np.ndarray) -> torch.Tensor | None:
        """The cross-entropy's class weights from the training data's (K,) pixel counts, or None."""
        if self.config.loss.class_weighting != "inverse_sqrt":
            return None
        return inverse_sqrt_frequency_weights(pixel_counts).to(self.device)

    # ---- schedule ---------------------------------------------------------------------------------
    def lr_at(self, step: int, elapsed_s: float = 0.0) -> float:
        """Linear warm-up, then cosine decay to 1 % of the peak.

        Progress is the larger of the step fraction and the wall-clock fraction of ``max_minutes``, so a
        run that the time budget cuts short still ends with a decayed learning rate.
        """
        optim = self.config.optim
        if step < optim.warmup_steps:
            return optim.lr * (step + 1) / optim.warmup_steps
        by_steps = (step - optim.warmup_steps) / max(1, optim.steps - optim.warmup_steps)
        by_time = elapsed_s / (optim.max_minutes * 60)
        progress = min(max(by_steps, by_time), 1.0)
        return optim.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))

    # ---- one step ---------------------------------------------------------------------------------
    def train_step(self, elapsed_s: float = 0.0) -> dict[str, float]:
        batch = self._trim(self.sampler.sample(self.rng, self.config.optim.batch_pairs))
        all_frames = torch.cat([batch.frames_a, batch.frames_b], dim=1)  # (B, 2T)
        distinct, slots = torch.unique(
            all_frames, return_inverse=True
        )  # slots (B, 2T) into distinct
        t = batch.frames_a.shape[1]
        levels = self.bank.gather(distinct)
        if self.config.feature_style.prob > 0:
            # The pair each distinct frame belongs to (a frame two pairs share takes one of them).
            frame_pairs = torch.empty(len(distinct), dtype=torch.int64)
            rows = torch.arange(len(slots))[:, None].expand_as(slots)
            frame_pairs[slots.flatten()] = rows.flatten()
            levels = restyle_levels(
                levels,
                frame_pairs,
                num_pairs=len(slots),
                rng=self.rng,
                config=self.config.feature_style,
            )
        levels = {s: v.to(self.device) for s, v in levels.items()}
        preds_a, preds_b, before_last_a = self.forward(
            levels, slots[:, :t], slots[:, t:], batch.times_a, batch.times_b
        )

        loss_cfg = self.config.loss
        labels_all = self.bank.labels[all_frames].long().to(self.device)  # (B, 2T, H, W)
        sub = loss_cfg.label_subsample
        target = labels_all[:, t - 1, ::sub, ::sub]  # (B, H/sub, W/sub), the shared last frame
        target_before = labels_all[:, t - 2, ::sub, ::sub]  # the frame before it in clip a
        void = self.label_set.void_id
        final = torch.cat([preds_a[-1], preds_b[-1], before_last_a])
        seg = segmentation_loss(
            final,
            torch.cat([target, target, target_before]),
            void_id=void,
            class_weights=self.class_weights,
            dice_weight=loss_cfg.dice_weight,
        )
        weighted = {"seg": seg.total}
        terms = {"ce": seg.ce.item(), "dice": seg.dice.item()}
        if loss_cfg.aux_weight > 0 and len(preds_a) > 1:
            small = labels_all[:, t - 1, ::_AUX_LABEL_SUBSAMPLE, ::_AUX_LABEL_SUBSAMPLE]
            aux = torch.stack(
                [
                    segmentation_loss(
                        torch.cat([pa, pb]),
                        torch.cat([small, small]),
                        void_id=void,
                        class_weights=self.class_weights,
                        dice_weight=loss_cfg.dice_weight,
                    ).total
                    for pa, pb in zip(preds_a[:-1], preds_b[:-1])
                ]
            ).mean()
            weighted["aux"] = loss_cfg.aux_weight * aux
            terms["aux"] = aux.item()
        if loss_cfg.mtc_weight > 0:
            mask = stable_label_mask(
                labels_all[..., ::sub, ::sub], void_id=void
            )  # (B, H/sub, W/sub)
            mtc = masked_temporal_consistency_loss(
                preds_a[-1],
                preds_b[-1],
                mask,
                stop_gradient="a" if loss_cfg.mtc_stop_gradient else None,
            )
            weighted["mtc"] = loss_cfg.mtc_weight * mtc
            terms["mtc"] = mtc.item()
        if loss_cfg.consecutive_weight > 0:
            consecutive = consecutive_consistency_loss(
                before_last_a, preds_a[-1], target_before, target, void_id=void
            )
            weighted["consecutive"] = loss_cfg.consecutive_weight * consecutive
            terms["consecutive"] = consecutive.item()
        return self._optimise(weighted, terms, elapsed_s)

    def _optimise(
        self, weighted: dict[str, torch.Tensor], terms: dict[str, float], elapsed_s: float
    ) -> dict[str, float]:
        """One optimiser step on the sum of the weighted loss terms; returns the step's log row."""
        total = sum(weighted.values())
        if self.config.loss.grad_share_every and self.step % self.config.loss.grad_share_every == 0:
            terms.update(self._gradient_shares(weighted))
        lr = self.lr_at(self.step, elapsed_s)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        nn.utils.clip_grad_norm_(self.model.trainable.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        self.step += 1
        return {"loss": total.item(), **terms, "lr": lr}

    def _trim(self, batch: ClipBatch) -> ClipBatch:
        """Drop the leading clip frames that cannot affect the loss: without pixel fusion the prediction of
        frame t reads only the query memory (the last T frames), and the loss reads the last two frames."""
        if self.model.pixel_fusion is not None:
            return batch
        keep = max(self.model.memory_capacity, 2)
        return ClipBatch(
            batch.frames_a[:, -keep:],
            batch.frames_b[:, -keep:],
            batch.times_a[:, -keep:],
            batch.times_b[:, -keep:],
        )

    def _gradient_shares(self, weighted: dict[str, torch.Tensor]) -> dict[str, float]:
        """Each weighted term's gradient norm over the trainable parameters, as a share of their sum.

        Logged as ``grad_share_<term>``: it shows whether a term steers training (a term whose share is
        ~0 is decoration). Costs one extra backward pass per term, so it runs every few steps only.
        """
        params = [p for p in self.model.trainable.parameters() if p.requires_grad]
        norms = {}
        for name, term in weighted.items():
            grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
            norms[name] = math.sqrt(sum(float(g.pow(2).sum()) for g in grads if g is not None))
        total = sum(norms.values()) or 1.0
        return {f"grad_share_{name}": norm / total for name, norm in norms.items()}

    # ---- validation -------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Per-drive mIoU (each run streamed causally with its real stamps, at the model input size), their
        mean (``val_miou``, the selection criterion), the pooled mIoU, per-class IoU, and VC_8 on the
        15 Hz val split run."""
        self.model.eval()
        num_classes, void = self.label_set.num_classes, self.label_set.void_id
        pooled = ConfusionAccumulator(num_classes, void_id=void)
        per_drive: dict[str, ConfusionAccumulator] = {}
        vc8 = []
        for run in self.val_runs:
            preds = self._stream(run)
            drive = per_drive.setdefault(run.drive, ConfusionAccumulator(num_classes, void_id=void))
            for pred, label in zip(preds, run.labels):
                drive.update(pred, label)
                pooled.update(pred, label)
            if run.split_run and len(preds) >= 8:
                vc8.append(video_consistency(preds, run.labels, n=8, void_id=void).mean_of_windows)
        self.model.train()
        drive_miou = {name: acc.mean_iou() for name, acc in sorted(per_drive.items())}
        mean_miou = float(np.mean(list(drive_miou.values())))
        vc8_weight = self.config.eval.vc8_weight
        return {
            "val_selection": mean_miou + (vc8_weight * float(np.mean(vc8)) if vc8_weight else 0.0),
            "val_miou": mean_miou,
            "val_pooled_miou": pooled.mean_iou(),
            **{f"val_miou_{name}": value for name, value in drive_miou.items()},
            "val_vc8": float(np.mean(vc8)) if vc8 else float("nan"),
            **{f"iou_{n}": float(v) for n, v in zip(self.label_set.names, pooled.per_class_iou())},
        }

    def _stream(self, run: ValRun) -> list[np.ndarray]:
        """Predicted labels (H, W) uint8 of one run, decoded causally as streaming does."""
        stream = validation_stream(self.model, run.frames, run.times_s, device=self.device)
        return [
            upsample_logits(logits, label.shape).argmax(1)[0].to(torch.uint8).cpu().numpy()
            for logits, label in zip(stream, run.labels, strict=True)
        ]

    # ---- the job ----------------------------------------------------------------------------------
    def run(self, *, progress: bool = True) -> dict[str, float]:
        optim, evaluation = self.config.optim, self.config.eval
        started = time.monotonic() - self.elapsed_s
        budget_s = optim.max_minutes * 60
        bar = tqdm(
            total=optim.steps,
            initial=self.step,
            desc="train",
            disable=not (progress and self.rank == 0),
        )
        stopped_early = False
        last_val: dict[str, float] = {}
        self.model.train()
        while self.step < optim.steps:
            if time.monotonic() - started > budget_s:
                stopped_early = True
                break
            terms = self.train_step(time.monotonic() - started)
            self.elapsed_s = time.monotonic() - started
            bar.update(1)
            bar.set_postfix(loss=f"{terms['loss']:.3f}")
            if not progress and self.rank == 0 and self.step % 50 == 0:
                print(
                    f"step {self.step}/{optim.steps} {self.elapsed_s / 60:.1f} min loss {terms['loss']:.4f}",
                    flush=True,
                )
            if self.rank == 0:
                stamp = {"step": self.step, "elapsed_s": round(self.elapsed_s, 1)}
                shares = {k: v for k, v in terms.items() if k.startswith("grad_share_")}
                self._append_csv(
                    "log.csv", {**stamp, **{k: v for k, v in terms.items() if k not in shares}}
                )
                if shares:
                    self._append_csv("grad_shares.csv", {**stamp, **shares})
            if self.step % evaluation.every_steps == 0 or self.step == optim.steps:
                last_val = self._validate_and_save()
        bar.close()
        if stopped_early and self.rank == 0:
            tqdm.write(
                f"stopped at step {self.step}/{optim.steps}: the {optim.max_minutes} min budget ran out"
            )
            last_val = self._validate_and_save()
        summary = {
            "steps": self.step,
            "planned_steps": optim.steps,
            "minutes": self.elapsed_s / 60,
            "stopped_early": stopped_early,
            "best_val_miou": self.best_val_miou,
            **last_val,
        }
        if self.rank == 0:
            (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def _validate_and_save(self) -> dict[str, float]:
        if self.rank != 0:
            return {}
        metrics = self.validate()
        self._append_csv(
            "val.csv", {"step": self.step, "elapsed_s": round(self.elapsed_s, 1), **metrics}
        )
        tqdm.write(
            f"step {self.step}: val mIoU (mean of drives) {metrics['val_miou']:.4f}  "
            + "  ".join(f"{k[9:]} {v:.4f}" for k, v in metrics.items() if k.startswith("val_miou_"))
            + f"  VC_8 {metrics['val_vc8']:.4f}"
        )
        if metrics["val_selection"] > self.best_val_miou:
            self.best_val_miou = metrics["val_selection"]
            save_checkpoint(
                self.out_dir / "best.pt", self.model, self.label_set, self._provenance(metrics)
            )
        save_checkpoint(
            self.out_dir / "last.pt", self.model, self.label_set, self._provenance(metrics)
        )
        self.save_state()
        return metrics

    def _data_description(self) -> str:
        """What the model trained on, for the checkpoint's provenance."""
        bank = self.config.bank
        return (
            f"{len(self.bank)} bank frames: {bank.real_views} augmented views "
            f"+ {bank.pseudo_motions} pseudo-clips + {bank.ego_videos} ego-motion videos per frame"
        )

    def _provenance(self, metrics: dict[str, float]) -> Provenance:
        holdout = self.config.eval.holdout_drives
        return Provenance(
            data=(
                f"CamVid train ({self._data_description()}"
                f"{'; warm start from ' + self.config.init_from if self.config.init_from else ''}"
                f"{'; drives held out: ' + ','.join(holdout) if holdout else ''})"
                "; selected on the mean per-drive mIoU of CamVid val and the held-out drives"
            ),
            git_commit=_git_commit(),
            hardware=f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"{self.world} process(es), device {self.device}",
            metrics={k: v for k, v in metrics.items() if k.startswith("val_")},
            extra={
                "step": self.step,
                "minutes": round(self.elapsed_s / 60, 2),
                "config": self.config_path,
                "seed": self.config.seed,
            },
        )

    # ---- resume -----------------------------------------------------------------------------------
    def save_state(self) -> None:
        state = {
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "best_val_miou": self.best_val_miou,
            "trainable": self.model.trainable.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
        }
        tmp = self.out_dir / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.out_dir / STATE_FILE)

    def load_state(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.trainable.load_state_dict(state["trainable"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.elapsed_s, self.best_val_miou = (
            state["step"],
            state["elapsed_s"],
            state["best_val_miou"],
        )
        self.rng.bit_generator.state = state["rng"]

    def _append_csv(self, name: str, row: dict) -> None:
        path = self.out_dir / name
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


@dataclass(frozen=True)
class ValRun:
    """One validation run: a continuous labelled run of one drive.

    Attributes:
        drive: the drive name (``0016E5``).
        split_run: True for a run of the val split (15 Hz), False for a held-out train drive (1 Hz).
        frames: (N, 3, H, W) float32 frames resized to the model input, in time order.
        labels: N (H0, W0) uint8 label maps at full size.
        times_s: (N,) float64 seconds.
    """

    drive: str
    split_run: bool
    frames: torch.Tensor
    labels: list[np.ndarray]
    times_s: np.ndarray


def _load_val_runs(
    splits: CamVidSplit | tuple[CamVidSplit, ...], input_size: tuple[int, int]
) -> list[ValRun]:
    """Every run of the validation splits; the first split is the val split proper."""
    splits = splits if isinstance(splits, tuple) else (splits,)
    runs = []
    for index, split in enumerate(splits):
        check_not_test_split(split.split)
        for sequence in split.sequences:
            images, labels = zip(*(split.load(f) for f in sequence.frames))
            runs.append(
                ValRun(
                    drive=sequence.sequence,
                    split_run=index == 0,
                    frames=resize_images(frames_to_tensor(np.stack(images)), input_size),
                    labels=list(labels),
                    times_s=sequence.times_s,
                )
            )
    return runs


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
