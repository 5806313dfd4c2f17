"""The feature bank: frozen-backbone features of augmented training views, computed once.

The backbone never trains, so its output for a given input never changes. Training therefore draws a
fixed number of augmented views up front — ``real_views`` copies of every CamVid sequence (one geometric
and photometric draw per sequence and view, so a view is still a plausible video) and
``pseudo_motions`` pseudo-videos per labelled frame (a smooth camera motion at ~15 fps) and
``ego_videos`` ego-motion videos per labelled frame (``t2g_core.data.ego_video``) — runs the
backbone on each frame once, and keeps the maps in memory as float16. Every training step then only runs
the trainable modules. Both the T2G and the per-frame model train on banks built from the same config and
seed, i.e. on identical data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from t2g_core.data.augment import augment_clip
from t2g_core.data.camvid import CamVidSplit
from t2g_core.data.ego_video import render_ego_video
from t2g_core.data.pseudo_clip import render_pseudo_clip, sample_motion, sample_times
from t2g_core.modeling.backbones import FrozenBackbone
from t2g_core.transforms import frames_to_tensor

from .config import BankConfig

# Pseudo-video frame spacing jitter (+-20 %): real cameras do not deliver frames exactly on time.
_PSEUDO_GAP_JITTER = 0.2
_BACKBONE_BATCH = 16
# Bumped when what a bank stores changes without its config changing (2: the stride-4 map).
_BANK_FORMAT = 2


@dataclass(frozen=True)
class Run:
    """An ordered run of bank frames: a real sequence under one view, or one pseudo-video.

    Attributes:
        frames: (L,) int64 bank indices, in time order.
        times_s: (L,) float64 seconds, strictly increasing.
        pseudo: True for a pseudo-video.
    """

    frames: np.ndarray
    times_s: np.ndarray
    pseudo: bool


class FeatureBank:
    """Backbone maps, labels and runs of the augmented views.

    Attributes:
        levels: ``{stride: (F, C_stride, ceil(H/stride), ceil(W/stride)) float16}`` for F bank frames.
        labels: (F, H, W) uint8 class ids, ``void_id`` where unlabelled or outside the view.
        runs: the real runs first, then the pseudo-videos.
    """

    def __init__(
        self, levels: dict[int, torch.Tensor], labels: torch.Tensor, runs: list[Run]
    ) -> None:
        self.levels = levels
        self.labels = labels
        self.runs = runs

    def __len__(self) -> int:
        return self.labels.shape[0]

    def gather(self, frames: torch.Tensor) -> dict[int, torch.Tensor]:
        """Float32 maps of bank frames ``frames`` ((N,) int64): ``{stride: (N, C, h, w)}``."""
        return {stride: level[frames].float() for stride, level in self.levels.items()}

    def save(self, path: Path) -> None:
        """Write the bank (atomically) so another job with the same bank key can load it."""
        payload = {
            "levels": self.levels,
            "labels": self.labels,
            "runs": [
                {
                    "frames": torch.from_numpy(r.frames),
                    "times_s": torch.from_numpy(r.times_s),
                    "pseudo": r.pseudo,
                }
                for r in self.runs
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> FeatureBank:
        # Memory-mapped: jobs loading the same bank (T2G and the per-frame baseline) share its pages.
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        runs = [
            Run(frames=r["frames"].numpy(), times_s=r["times_s"].numpy(), pseudo=bool(r["pseudo"]))
            for r in payload["runs"]
        ]
        return cls(payload["levels"], payload["labels"], runs)

    def class_pixel_counts(self, num_classes: int) -> np.ndarray:
        """(K,) int64 labelled-pixel count per class over the real views (pseudo-videos repeat them)."""
        real = np.concatenate([run.frames for run in self.runs if not run.pseudo])
        counts = torch.bincount(self.labels[torch.from_numpy(real)].flatten().long(), minlength=256)
        return counts[:num_classes].numpy()


def bank_key(split: CamVidSplit, backbone_name: str, config: BankConfig, *, seed: int) -> str:
    """Identifies a bank: same data, backbone, bank config and seed give the same key (and the same bank)."""
    text = repr((_BANK_FORMAT, sorted(f.name for f in split.frames), backbone_name, config, seed))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_feature_bank(
    split: CamVidSplit,
    backbone: FrozenBackbone,
    config: BankConfig,
    *,
    seed: int,
    void_id: int,
    progress: bool = True,
    runner: Callable[[torch.Tensor], dict[int, torch.Tensor]] | None = None,
) -> FeatureBank:
    """Draw the augmented views of ``split`` and run ``backbone`` on each of their frames once.

    Deterministic: the same split, config and seed give the same bank (each view has its own generator).
    Views are generated one at a time, so only the float16 maps of the whole bank stay in memory.
    ``runner`` computes the maps instead of ``backbone`` itself, e.g. ``OrtBackbone`` (same maps, faster
    on a CPU); it takes (n, 3, H, W) float32 0..255 at ``config.crop_size``.
    """
    runner = runner or backbone
    total = len(split.frames) * (
        config.real_views
        + config.pseudo_motions * config.pseudo_length
        + config.ego_videos * config.ego.length
    )
    height, width = config.crop_size
    levels = {
        stride: torch.empty(
            (total, channels, -(-height // stride), -(-width // stride)), dtype=torch.float16
        )
        for stride, channels in backbone.out_channels.items()
    }
    all_labels = torch.empty((total, height, width), dtype=torch.uint8)
    runs: list[Run] = []
    cursor = 0
    bar = tqdm(total=total, desc="feature bank", unit="frame", disable=not progress)
    with torch.inference_mode():
        for images, labels, times, pseudo in _views(split, config, seed=seed, void_id=void_id):
            length = len(images)
            for start in range(0, length, _BACKBONE_BATCH):
                chunk = frames_to_tensor(
                    images[start : start + _BACKBONE_BATCH]
                )  # (n, 3, H, W) float32 0..255
                for stride, features in runner(chunk).items():
                    levels[stride][cursor + start : cursor + start + len(chunk)] = features.half()
                bar.update(len(chunk))
            all_labels[cursor : cursor + length] = torch.from_numpy(
                np.ascontiguousarray(labels, dtype=np.uint8)
            )
            runs.append(
                Run(
                    frames=np.arange(cursor, cursor + length, dtype=np.int64),
                    times_s=np.asarray(times, np.float64),
                    pseudo=pseudo,
                )
            )
            cursor += length
    bar.close()
    assert cursor == total, f"bank holds {cursor} frames, expected {total}"
    return FeatureBank(levels, all_labels, runs)


def _views(split: CamVidSplit, config: BankConfig, *, seed: int, void_id: int):
    """Yield (frames (L, H, W, 3) uint8, labels (L, H, W), times (L,) s, pseudo) for every view."""
    augment = dataclasses.replace(config.augment, crop_size=tuple(config.crop_size))
    loaded = {frame.name: split.load(frame) for frame in split.frames}
    for view in range(config.real_views):
        for run_index, sequence in enumerate(split.sequences):
            rng = np.random.default_rng([seed, 0, view, run_index])
            images = np.stack([loaded[f.name][0] for f in sequence.frames])
            labels = np.stack([loaded[f.name][1] for f in sequence.frames])
            images, labels = augment_clip(images, labels, rng=rng, config=augment, void_id=void_id)
            yield images, labels, sequence.times_s, False
    for motion_index in range(config.pseudo_motions):
        for frame_index, frame in enumerate(split.frames):
            rng = np.random.default_rng([seed, 1, motion_index, frame_index])
            image, labels = loaded[frame.name]
            times = sample_times(
                rng,
                clip_len=config.pseudo_length,
                gap_s=config.pseudo_gap_s,
                gap_jitter=_PSEUDO_GAP_JITTER,
            )
            clip = render_pseudo_clip(
                image,
                labels,
                motion=sample_motion(rng, config.motion),
                times_s=times,
                target_index=-1,
                void_id=void_id,
            )
            images, clip_labels = augment_clip(
                clip.frames, clip.labels, rng=rng, config=augment, void_id=void_id
            )
            yield images, clip_labels, clip.times_s, True
    for video_index in range(config.ego_videos):
        for frame_index, frame in enumerate(split.frames):
            rng = np.random.default_rng([seed, 2, video_index, frame_index])
            image, labels = loaded[frame.name]
            video = render_ego_video(image, labels, rng=rng, config=config.ego, void_id=void_id)
            images, clip_labels = augment_clip(
                video.frames, video.labels, rng=rng, config=augment, void_id=void_id
            )
            yield images, clip_labels, video.times_s, True
