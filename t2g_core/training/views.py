"""Stage 1: the per-frame decoder on single labelled views, the frozen backbone run on the fly.

No clips and no feature bank: every step draws ``views.batch`` fresh views of the labelled train
frames (class-wise recolouring, zoom-in window, flip, photometric and weather draws), runs the frozen
backbone on them (onnxruntime on a CPU) and trains the decoder on

    L = [CE + λ_dice·Dice](final) + λ_aux · mean_layers [CE + λ_dice·Dice](aux)

Fresh pixels every step are what the appearance randomisation needs (a bank fixes a few draws per
frame), and a step costs one backbone pass per view instead of a clip's. The checkpoint is the
per-frame model, and the stage-2 temporal model starts from it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Protocol

import cv2
import numpy as np
import torch

from t2g_core.data.augment import augment_clip
from t2g_core.data.camvid import CamVidSplit
from t2g_core.labels import LabelSet
from t2g_core.losses import segmentation_loss
from t2g_core.modeling.model import T2GModel

from .config import TrainConfig, ViewConfig
from .feature_style import restyle_levels
from .trainer import _AUX_LABEL_SUBSAMPLE, Trainer

# (image (H, W, 3) uint8, labels (H, W), rng) -> recoloured image (H, W, 3) uint8
Recolour = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


class ViewSampler:
    """Augmented single views of a split's labelled frames (all held in memory, ~0.5 MB a frame).

    Args:
        split: the frames to draw from (CamVid train without its held-out drives).
        config: the view size, zoom, augmentation and recolouring probability.
        void_id: the label of padded pixels.
        recolour: the class-wise recolouring, applied with ``config.class_appearance_prob``.
    """

    def __init__(
        self, split: CamVidSplit, config: ViewConfig, *, void_id: int, recolour: Recolour
    ) -> None:
        frames = [frame for sequence in split.sequences for frame in sequence.frames]
        if not frames:
            raise ValueError("no labelled frames to draw views from")
        loaded = [split.load(frame) for frame in frames]
        self.images = [image for image, _ in loaded]
        self.labels = [labels for _, labels in loaded]
        self.config = config
        self.void_id = void_id
        self.recolour = recolour
        self.augment = dataclasses.replace(
            config.augment, scale_range=config.zoom_range, crop_size=config.crop_size
        )

    def __len__(self) -> int:
        return len(self.images)

    def class_pixel_counts(self, num_classes: int) -> np.ndarray:
        """(K,) labelled pixels of each class over the frames (void excluded)."""
        counts = np.zeros(num_classes, np.int64)
        for labels in self.labels:
            counts += np.bincount(labels.ravel(), minlength=256)[:num_classes]
        return counts

    def sample(self, rng: np.random.Generator, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` views.

        Returns:
            images (count, 3, H, W) uint8 RGB and labels (count, H, W) uint8,
            (H, W) = ``config.crop_size``.
        """
        views = [self.view(index, rng) for index in rng.integers(0, len(self.images), count)]
        images, labels = zip(*views)
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2), torch.from_numpy(
            np.stack(labels)
        )

    def view(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``index`` as one augmented view: (H, W, 3) uint8 RGB and (H, W) uint8 labels."""
        height, width = self.config.crop_size
        # Resized first: the recolouring costs about half as much at the view size.
        image = cv2.resize(self.images[index], (width, height), interpolation=cv2.INTER_AREA)
        label = cv2.resize(self.labels[index], (width, height), interpolation=cv2.INTER_NEAREST)
        if rng.random() < self.config.class_appearance_prob:
            image = self.recolour(image, label, rng)
        view, view_labels = augment_clip(
            image[None], label[None], rng=rng, config=self.augment, void_id=self.void_id
        )
        return view[0], view_labels[0]


class Sampler(Protocol):
    """Anything that draws a training batch from a generator (views, clips)."""

    def sample(self, rng: np.random.Generator, count: int) -> tuple[torch.Tensor, ...]: ...


_WORKER_SAMPLER: Sampler | None = None  # the worker process's copy, sent once at its start


def _start_worker(sampler: Sampler) -> None:
    global _WORKER_SAMPLER
    cv2.setNumThreads(1)
    _WORKER_SAMPLER = sampler


def _draw_in_worker(seed: tuple[int, ...], count: int) -> tuple[torch.Tensor, ...]:
    return _WORKER_SAMPLER.sample(np.random.default_rng(seed), count)


class Prefetched:
    """Batches drawn ahead in worker processes (``workers`` steps ahead, one per worker), so
    augmentation runs on other cores than the backbone and the decoder (one worker on a 2-core CPU;
    more beside a GPU).

    Batch ``step`` comes from ``numpy.random.default_rng((seed, step))``: the draws do not depend on
    the worker's timing, and a resumed job draws the batches it would have drawn.

    Args:
        sampler: what draws a batch (pickled once into the worker; a forked worker hung next to
            onnxruntime's threads).
        seed: the job's seed.
        batch: views or clips per step.
        workers: worker processes.
    """

    def __init__(self, sampler: Sampler, *, seed: int, batch: int, workers: int = 1) -> None:
        self.sampler, self.seed, self.batch, self.workers = sampler, seed, batch, workers
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(sampler,),
        )
        self._pending: dict[int, Future] = {}

    def get(self, step: int) -> tuple[torch.Tensor, ...]:
        """Batch ``step``, as the sampler's ``sample`` returns it."""
        future = self._pending.pop(step, None) or self._submit(step)
        ahead = range(step + 1, step + 1 + self.workers)
        self._pending = {s: self._pending.get(s) or self._submit(s) for s in ahead}
        return future.result()

    def _submit(self, step: int) -> Future:
        return self._pool.submit(_draw_in_worker, (self.seed, step), self.batch)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class OnTheFlyTrainer(Trainer):
    """``Trainer``'s schedule, validation, checkpoints and resume with batches drawn on the fly: the
    sampler's augmentation in worker processes (``Prefetched``), the frozen backbone in each step.
    Subclasses define ``train_step`` on ``self.batches.get(self.step)``.

    Args:
        config: the job.
        model: the model to train.
        label_set: the classes.
        sampler: draws the batches (``ViewSampler`` or a clip sampler).
        backbone: the frozen backbone's maps of an image batch (e.g. ``OrtBackbone``).
        val: the validation splits.
        batch: items per step.
        class_pixel_counts: (C,) labelled pixels per class of the training frames (CE weights).
        parameters: what the optimiser updates (default: every trainable weight).
    """

    def __init__(
        self,
        config: TrainConfig,
        model: T2GModel,
        label_set: LabelSet,
        sampler: Sampler,
        backbone: Callable[[torch.Tensor], dict[int, torch.Tensor]],
        val: CamVidSplit | tuple[CamVidSplit, ...],
        *,
        batch: int,
        class_pixel_counts: np.ndarray,
        config_path: str,
        device: torch.device | str = "cpu",
        parameters: Iterable[torch.nn.Parameter] | None = None,
    ) -> None:
        self._init_job(
            config,
            model,
            label_set,
            val,
            config_path=config_path,
            device=device,
            parameters=parameters,
        )
        self.sampler = sampler
        self.batches = Prefetched(
            sampler, seed=config.seed, batch=batch, workers=config.views.workers
        )
        self.backbone = backbone
        self.class_weights = self._class_weights(class_pixel_counts)

    def run(self, *, progress: bool = True) -> dict[str, float]:
        try:
            return super().run(progress=progress)
        finally:
            self.batches.close()


class ViewTrainer(OnTheFlyTrainer):
    """Stage 1's job on single views (``stage: views``): a per-frame model (memory capacity 1); the
    arguments are ``OnTheFlyTrainer``'s, the batch from ``config.views``."""

    def __init__(
        self,
        config: TrainConfig,
        model: T2GModel,
        label_set: LabelSet,
        sampler: ViewSampler,
        backbone: Callable[[torch.Tensor], dict[int, torch.Tensor]],
        val: CamVidSplit | tuple[CamVidSplit, ...],
        *,
        config_path: str,
        device: torch.device | str = "cpu",
    ) -> None:
        if model.memory_capacity != 1:
            raise ValueError(
                f"stage 1 trains a per-frame model, got memory capacity {model.memory_capacity}"
            )
        super().__init__(
            config,
            model,
            label_set,
            sampler,
            backbone,
            val,
            batch=config.views.batch,
            class_pixel_counts=sampler.class_pixel_counts(label_set.num_classes),
            config_path=config_path,
            device=device,
        )

    def train_step(self, elapsed_s: float = 0.0) -> dict[str, float]:
        images, labels = self.batches.get(self.step)
        images, labels = images.float(), labels.long()
        with torch.no_grad():
            levels = self.backbone(images.to(self.device))
        if self.config.feature_style.prob > 0:  # each view is its own "pair"
            levels = restyle_levels(
                levels,
                torch.arange(len(images)),
                num_pairs=len(images),
                rng=self.rng,
                config=self.config.feature_style,
            )
        levels = {s: v.to(self.device) for s, v in levels.items()}
        labels = labels.to(self.device)
        features = self.model.encode_backbone_features(levels)
        offsets = torch.zeros(len(images), 1, device=self.device)
        outputs = self.model.decode_with_aux(features, [features], offsets)

        loss_cfg, void = self.config.loss, self.label_set.void_id
        sub = loss_cfg.label_subsample
        seg = segmentation_loss(
            outputs[-1],
            labels[:, ::sub, ::sub],
            void_id=void,
            class_weights=self.class_weights,
            dice_weight=loss_cfg.dice_weight,
        )
        weighted = {"seg": seg.total}
        terms = {"ce": seg.ce.item(), "dice": seg.dice.item()}
        if loss_cfg.aux_weight > 0 and len(outputs) > 1:
            small = labels[:, ::_AUX_LABEL_SUBSAMPLE, ::_AUX_LABEL_SUBSAMPLE]
            aux = torch.stack(
                [
                    segmentation_loss(
                        logits,
                        small,
                        void_id=void,
                        class_weights=self.class_weights,
                        dice_weight=loss_cfg.dice_weight,
                    ).total
                    for logits in outputs[:-1]
                ]
            ).mean()
            weighted["aux"] = loss_cfg.aux_weight * aux
            terms["aux"] = aux.item()
        return self._optimise(weighted, terms, elapsed_s)

    def _data_description(self) -> str:
        views = self.config.views
        return (
            f"{len(self.sampler)} labelled frames as single views on the fly, {views.batch} per step, "
            f"class-wise recolouring p={views.class_appearance_prob:g}"
        )
