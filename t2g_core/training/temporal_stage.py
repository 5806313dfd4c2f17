"""Stage 2: the temporal parts on ego-motion clips, the stage-1 model frozen.

Every step draws ``ego_clips.batch`` clips on the fly (in a worker process): a labelled train frame,
recoloured by class and augmented as a stage-1 view, becomes an ego-motion video
(``t2g_core.data.ego_video``: forward motion, moving objects, photometric drift, noise, JPEG, 5-30 fps)
sampled every s-th frame. The frozen backbone and encoder run without gradients; the causal steps
(``T2GModel.decode_frames``, as streaming runs them) run with gradients for the parameters named in
``ego_clips.train_only`` only (the output gate, the memory's past-frame encoding δ), on

    L = mean_{t >= 1} [CE + λ_dice·Dice](out_t, y_t)  +  λ_cons · mean_{t >= 1} C(out_{t-1}, out_t)

with C the consecutive-frame term (``t2g_core.losses.consecutive_consistency_loss``: agreement of
frames t-1 and t where the true label did not change). Frame 0 has no past, so its output is the
per-frame model's and is not supervised. Because the output gate starts as the tuned EMA and nothing
else of stage 1 moves, the model starts as steady as the per-frame model + EMA, and the frozen weights
keep T2G at memory 1 exactly the per-frame checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from t2g_core.data.camvid import CamVidSplit
from t2g_core.data.ego_video import render_ego_video
from t2g_core.labels import LabelSet
from t2g_core.losses import consecutive_consistency_loss, segmentation_loss
from t2g_core.modeling.model import T2GModel

from .config import EgoClipConfig, TrainConfig
from .views import OnTheFlyTrainer, ViewSampler


class EgoClipSampler:
    """Clips of ego-motion videos rendered from augmented single views.

    Args:
        views: the single views the videos start from (their recolouring and augmentation).
        config: clip length, strides and the ego-motion ranges.
    """

    def __init__(self, views: ViewSampler, config: EgoClipConfig) -> None:
        self.views, self.config = views, config

    def sample(
        self, rng: np.random.Generator, count: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``count`` clips.

        Returns:
            frames (count, L, 3, H, W) uint8 RGB, labels (count, L, H, W) uint8 (void where a pixel
            has no source), times (count, L) float64 seconds.
        """
        length = self.config.length
        frames, labels, times = [], [], []
        for index in rng.integers(0, len(self.views), count):
            image, label = self.views.view(int(index), rng)
            stride = int(rng.integers(self.config.stride_range[0], self.config.stride_range[1] + 1))
            ego = dataclasses.replace(self.config.ego, length=(length - 1) * stride + 1)
            video = render_ego_video(image, label, rng=rng, config=ego, void_id=self.views.void_id)
            frames.append(video.frames[::stride])
            labels.append(video.labels[::stride])
            times.append(video.times_s[::stride])
        return (
            torch.from_numpy(np.stack(frames)).permute(0, 1, 4, 2, 3),
            torch.from_numpy(np.stack(labels)),
            torch.from_numpy(np.stack(times)),
        )


def freeze_all_but(model: T2GModel, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """Freeze every trainable parameter whose name does not start with one of ``prefixes``.

    Returns:
        The parameters left trainable.

    Raises:
        ValueError: a prefix names no parameter.
    """
    named = dict(model.trainable.named_parameters())
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in named):
            raise ValueError(f"train_only: {prefix!r} names no parameter of this model")
    kept = []
    for name, param in named.items():
        param.requires_grad_(any(name.startswith(prefix) for prefix in prefixes))
        if param.requires_grad:
            kept.append(param)
    return kept


class TemporalTrainer(OnTheFlyTrainer):
    """Stage 2's job on ego-motion clips (``stage: temporal``): a temporal model (memory capacity
    >= 2) started from the stage-1 checkpoint, only ``config.ego_clips.train_only`` learning; the
    arguments are ``OnTheFlyTrainer``'s, the batch from ``config.ego_clips``."""

    def __init__(
        self,
        config: TrainConfig,
        model: T2GModel,
        label_set: LabelSet,
        sampler: EgoClipSampler,
        backbone: Callable[[torch.Tensor], dict[int, torch.Tensor]],
        val: CamVidSplit | tuple[CamVidSplit, ...],
        *,
        config_path: str,
        device: torch.device | str = "cpu",
    ) -> None:
        if model.memory_capacity < 2:
            raise ValueError("stage 2 trains a temporal model (memory capacity >= 2)")
        super().__init__(
            config,
            model,
            label_set,
            sampler,
            backbone,
            val,
            batch=config.ego_clips.batch,
            class_pixel_counts=sampler.views.class_pixel_counts(label_set.num_classes),
            config_path=config_path,
            device=device,
            parameters=freeze_all_but(model, config.ego_clips.train_only),
        )

    def train_step(self, elapsed_s: float = 0.0) -> dict[str, float]:
        frames, labels, times = self.batches.get(self.step)
        length = frames.shape[1]
        with torch.no_grad():  # the frozen part: backbone and per-frame encoder
            levels = self.backbone(frames.flatten(0, 1).to(self.device).float())
            levels = {s: v.to(self.device) for s, v in levels.items()}
            encoded = self.model.encode_backbone_features(levels)  # frame (b, t) at b*L+t
        clip_frames = [encoded.select(slice(t, None, length)) for t in range(length)]
        outputs = [out[-1] for out in self.model.decode_frames(clip_frames, times.to(self.device))]
        labels = labels.long().to(self.device)  # (B, L, H, W)

        loss_cfg, void = self.config.loss, self.label_set.void_id
        sub = loss_cfg.label_subsample
        supervised = torch.cat(outputs[1:])  # frames 1..L-1, frame-major
        targets = labels[:, 1:, ::sub, ::sub].transpose(0, 1).flatten(0, 1)
        seg = segmentation_loss(
            supervised,
            targets,
            void_id=void,
            class_weights=self.class_weights,
            dice_weight=loss_cfg.dice_weight,
        )
        weighted = {"seg": seg.total}
        terms = {"ce": seg.ce.item(), "dice": seg.dice.item()}
        if loss_cfg.consecutive_weight > 0:
            consecutive = torch.stack(
                [
                    consecutive_consistency_loss(
                        outputs[t - 1],
                        outputs[t],
                        labels[:, t - 1, ::sub, ::sub],
                        labels[:, t, ::sub, ::sub],
                        void_id=void,
                    )
                    for t in range(1, length)
                ]
            ).mean()
            weighted["consecutive"] = loss_cfg.consecutive_weight * consecutive
            terms["consecutive"] = consecutive.item()
        return self._optimise(weighted, terms, elapsed_s)

    def _data_description(self) -> str:
        clips = self.config.ego_clips
        return (
            f"{len(self.sampler.views)} labelled frames as ego-motion clips on the fly "
            f"({clips.batch} x {clips.length} frames per step, strides {clips.stride_range}); "
            f"trained only {', '.join(clips.train_only)}"
        )
