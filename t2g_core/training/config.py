"""Training configuration: frozen dataclasses read from ``config/train_*.yaml`` and validated.

A file may start from another with ``base: <path>``; its keys then override the base's, section by
section. Relative paths in the file are resolved against the repository root (``t2g-train`` runs there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from t2g_core.config import from_mapping
from t2g_core.data.augment import AugmentConfig
from t2g_core.data.ego_video import EgoVideoConfig
from t2g_core.data.pseudo_clip import MotionRange

CLASS_WEIGHTINGS = ("none", "inverse_sqrt")


@dataclass(frozen=True)
class BankConfig:
    """The feature bank: augmented views whose frozen-backbone features are computed once.

    Attributes:
        crop_size: (H, W) training crop.
        real_views: augmented copies of every real CamVid sequence (one draw per sequence and view).
        pseudo_motions: pseudo-videos made from every labelled frame.
        pseudo_length: frames per pseudo-video; must fit a clip of T frames at ``pseudo_stride_max``.
        pseudo_gap_s: nominal spacing of pseudo-video frames (jittered by +-20 %).
        motion: per-second ranges of the pseudo-videos' camera motion.
        ego_videos: ego-motion videos (``t2g_core.data.ego_video``) rendered from every labelled frame:
            forward motion, moving objects, per-frame photometry, noise and JPEG, at 5-30 fps.
        ego: the ranges those videos draw from.
        augment: augmentation ranges (its ``crop_size`` is ignored: ``crop_size`` above applies).
    """

    crop_size: tuple[int, int] = (288, 384)
    real_views: int = 4
    pseudo_motions: int = 2
    pseudo_length: int = 7
    pseudo_gap_s: float = 1 / 15
    motion: MotionRange = field(
        default_factory=lambda: MotionRange(zoom_per_s=0.6, shift_per_s=0.3, rotation_deg_per_s=6.0)
    )
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    ego_videos: int = 0
    ego: EgoVideoConfig = field(default_factory=EgoVideoConfig)

    def __post_init__(self) -> None:
        if self.ego_videos < 0:
            raise ValueError(f"bank.ego_videos must be >= 0, got {self.ego_videos}")
        if (
            min(self.crop_size) < 32
            or self.real_views < 1
            or self.pseudo_motions < 0
            or self.pseudo_length < 1
        ):
            raise ValueError(
                f"bank: need crop >= 32 px, real_views >= 1, pseudo_motions >= 0, pseudo_length >= 1; "
                f"got {self.crop_size}, {self.real_views}, {self.pseudo_motions}, {self.pseudo_length}"
            )
        if not self.pseudo_gap_s > 0:
            raise ValueError(f"bank.pseudo_gap_s must be > 0, got {self.pseudo_gap_s}")


@dataclass(frozen=True)
class ClipConfig:
    """Random training strides, in frames of the sequence the clip comes from.

    ``length``: frames per training clip; 0 = the model's memory length T. Longer clips let the
    recurrent pixel fusion warm up its state before the supervised frames, as in streaming.
    """

    real_stride_min: int = 1
    real_stride_max: int = 3
    pseudo_stride_min: int = 1
    pseudo_stride_max: int = 2
    pseudo_fraction: float = 0.5
    length: int = 0

    def __post_init__(self) -> None:
        if self.length < 0:
            raise ValueError(
                f"clips.length must be >= 0 (0 = the model's memory length), got {self.length}"
            )
        for kind in ("real", "pseudo"):
            lo, hi = getattr(self, f"{kind}_stride_min"), getattr(self, f"{kind}_stride_max")
            if not 1 <= lo <= hi:
                raise ValueError(
                    f"clips.{kind}_stride_min/max must satisfy 1 <= min <= max, got {lo}, {hi}"
                )
        if not 0.0 <= self.pseudo_fraction <= 1.0:
            raise ValueError(f"clips.pseudo_fraction must be in [0, 1], got {self.pseudo_fraction}")


@dataclass(frozen=True)
class LossConfig:
    """Loss weights. ``label_subsample``: labels (and so the final and MTC losses) at 1/n of the crop,
    nearest-neighbour; logits are stride 8, so n = 2 keeps thin classes while quartering the loss cost.
    ``consecutive_weight``: the consecutive-frame consistency term (``losses.consecutive_consistency_loss``).
    ``grad_share_every``: every n steps, log each weighted term's share of the gradient norm (0 = never).
    """

    label_subsample: int = 2
    dice_weight: float = 0.5
    class_weighting: str = "inverse_sqrt"
    aux_weight: float = 0.4
    mtc_weight: float = 1.0
    mtc_stop_gradient: bool = True
    consecutive_weight: float = 0.0
    grad_share_every: int = 0

    def __post_init__(self) -> None:
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise ValueError(
                f"loss.class_weighting must be one of {CLASS_WEIGHTINGS}, got {self.class_weighting!r}"
            )
        if not 1 <= self.label_subsample <= 8:
            raise ValueError(f"loss.label_subsample must be in 1..8, got {self.label_subsample}")
        if self.grad_share_every < 0:
            raise ValueError(
                f"loss.grad_share_every must be >= 0 (0 = never), got {self.grad_share_every}"
            )
        if min(self.dice_weight, self.aux_weight, self.mtc_weight, self.consecutive_weight) < 0:
            raise ValueError("loss weights must be >= 0")


@dataclass(frozen=True)
class OptimConfig:
    steps: int = 3000
    batch_pairs: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 150
    grad_clip: float = 1.0
    max_minutes: float = 85.0
    threads: int = 2

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_pairs < 1 or self.threads < 1 or self.warmup_steps < 0:
            raise ValueError(
                "optim: steps, batch_pairs and threads must be >= 1, warmup_steps >= 0"
            )
        if not (
            self.lr > 0 and self.max_minutes > 0 and self.grad_clip > 0 and self.weight_decay >= 0
        ):
            raise ValueError("optim: lr, max_minutes and grad_clip must be > 0, weight_decay >= 0")


@dataclass(frozen=True)
class FeatureStyleConfig:
    """Style randomisation in feature space (``t2g_core.training.feature_style``).

    Attributes:
        prob: chance that a clip pair's backbone maps are re-styled.
        strides: backbone levels re-styled (the shallow ones carry the style: colour, contrast, texture).
        mix_alpha: the mixing weight with another pair's statistics is drawn from Beta(a, a).
        noise: scale of the Gaussian perturbation of the statistics, in units of their spread over the
            batch (0 = mixing only).
    """

    prob: float = 0.0
    strides: tuple[int, ...] = (4, 8, 16)
    mix_alpha: float = 0.3
    noise: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"feature_style.prob must be in [0, 1], got {self.prob}")
        if self.mix_alpha <= 0 or self.noise < 0:
            raise ValueError("feature_style: mix_alpha must be > 0 and noise >= 0")


@dataclass(frozen=True)
class EvalConfig:
    """Validation during training and the checkpoint-selection criterion.

    Attributes:
        every_steps: validate (and maybe save ``best.pt``) every this many steps.
        val_split: the labelled split streamed for validation (never ``test``).
        holdout_drives: train-split drives kept out of the bank and validated on as well. CamVid val is
            one drive (0016E5) that also gives training 204 of its 367 frames, so alone it flatters.
        vc8_weight: weight w of the val split's VC_8 in the selection criterion.
        ``best.pt`` is the checkpoint with the highest mean over drives of the per-drive val mIoU (each
        drive weighs the same, so the drive shared with training is at most half of the criterion)
        plus w · VC_8: a temporal model is chosen for its steadiness too (w = 1: +0.01 VC_8 weighs as
        much as +1 mIoU point).
    """

    every_steps: int = 250
    val_split: str = "val"
    holdout_drives: tuple[str, ...] = ()
    vc8_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.every_steps < 1:
            raise ValueError(f"eval.every_steps must be >= 1, got {self.every_steps}")
        if not self.vc8_weight >= 0:
            raise ValueError(f"eval.vc8_weight must be >= 0, got {self.vc8_weight}")
        if self.val_split == "test":
            raise ValueError(
                "eval.val_split must not be 'test': the CamVid test split is for final evaluation only"
            )


@dataclass(frozen=True)
class ViewConfig:
    """Stage 1 (``stage: views``): the per-frame decoder on single labelled views, backbone on the fly.

    Attributes:
        crop_size: (H, W) every view is resized to (the whole frame, so a row's height is its height in
            the picture: the vertical prior stays true).
        zoom_range: (low, high) > 0, the zoom drawn per view (it replaces ``augment.scale_range``): above
            1 a window of 1/zoom of the frame at a random place, so the horizon moves by at most
            (1 - 1/high) / 2 of the height; below 1 the frame shrinks inside void padding.
        batch: views per step.
        class_appearance_prob: probability that a view's classes are recoloured
            (``t2g_core.data.class_appearance``) before the other augmentations.
        augment: photometric and weather ranges, one draw per view.
        workers: processes drawing views (and stage 2's clips) ahead of the training step.
    """

    crop_size: tuple[int, int] = (288, 384)
    zoom_range: tuple[float, float] = (1.0, 1.35)
    batch: int = 8
    class_appearance_prob: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"views.workers must be >= 1, got {self.workers}")
        if min(self.crop_size) < 32 or self.batch < 1:
            raise ValueError(
                f"views: need crop >= 32 px and batch >= 1, got {self.crop_size}, {self.batch}"
            )
        if not 0.0 < self.zoom_range[0] <= self.zoom_range[1]:
            raise ValueError(
                f"views.zoom_range must satisfy 0 < low <= high, got {self.zoom_range}"
            )
        if not 0.0 <= self.class_appearance_prob <= 1.0:
            raise ValueError(
                f"views.class_appearance_prob must be in [0, 1], got {self.class_appearance_prob}"
            )


@dataclass(frozen=True)
class EgoClipConfig:
    """Stage 2 (``stage: temporal``): clips of ego-motion videos rendered on the fly from single views.

    Attributes:
        length: frames per clip; frame 0 starts from an empty state, every later one is supervised.
        batch: clips per step.
        stride_range: (low, high) frames of the rendered video between two clip frames (drawn per
            clip), so the time steps span the video's 5-30 fps divided by 1..high.
        train_only: the trainable parameters, by name prefix in ``T2GModel.trainable`` (e.g.
            ``output_gate``, ``memory_decoder.past_encoding``); everything else stays as stage 1 left it.
        ego: the ego-motion ranges (``length`` is set from ``length`` and the stride drawn).
    """

    length: int = 6
    batch: int = 4
    stride_range: tuple[int, int] = (1, 3)
    train_only: tuple[str, ...] = ("output_gate", "memory_decoder.past_encoding")
    ego: EgoVideoConfig = field(default_factory=lambda: EgoVideoConfig(length=2))

    def __post_init__(self) -> None:
        if self.length < 2 or self.batch < 1:
            raise ValueError(
                f"ego_clips: need length >= 2 and batch >= 1, got {self.length}, {self.batch}"
            )
        if not 1 <= self.stride_range[0] <= self.stride_range[1]:
            raise ValueError(
                f"ego_clips.stride_range must satisfy 1 <= low <= high, got {self.stride_range}"
            )
        if not self.train_only:
            raise ValueError("ego_clips.train_only must name at least one parameter prefix")


STAGES = ("clips", "views", "temporal")


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``t2g-train`` needs; paths are strings as written in the YAML (see ``resolve``).

    ``init_from``: a checkpoint whose trainable weights start the modules it has (a warm start, e.g.
    the previous release); modules it lacks (a new part such as the pixel fusion) start random. "" =
    every trainable module starts random. ``init_modules``: the modules taken from it (empty = all it
    has; a module the model lacks is then an error).

    ``stage``: ``clips`` trains on clip pairs from the feature bank (``bank``, ``clips``,
    ``feature_style``); ``views`` is stage 1, the per-frame decoder on single views with the backbone on
    the fly (``views``; ``feature_style`` applies per view); ``temporal`` is stage 2, the temporal parts
    on ego-motion clips of such views (``views`` for each clip's look, ``ego_clips``).
    """

    model: str = "config/model_t2g.yaml"
    labels: str = "config/classes_camvid.yaml"
    data_root: str = "../shared/data"
    out_dir: str = "runs/t2g"
    seed: int = 0
    init_from: str = ""
    init_modules: tuple[str, ...] = ()
    stage: str = "clips"
    views: ViewConfig = field(default_factory=ViewConfig)
    ego_clips: EgoClipConfig = field(default_factory=EgoClipConfig)
    bank: BankConfig = field(default_factory=BankConfig)
    clips: ClipConfig = field(default_factory=ClipConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    feature_style: FeatureStyleConfig = field(default_factory=FeatureStyleConfig)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")


def load_train_config(path: str | Path) -> TrainConfig:
    """Read ``path`` (following ``base:`` chains) and validate; ``ValueError`` messages start with the path."""
    try:
        return from_mapping(TrainConfig, _read_with_base(Path(path)), "")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _read_with_base(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path.resolve() in seen:
        raise ValueError(f"{path}: 'base' chain loops back to itself")
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping at top level")
    base = doc.pop("base", None)
    if base is None:
        return doc
    return _merge(_read_with_base(Path(base), seen + (path.resolve(),)), doc)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            _merge(base[key], value)
            if isinstance(value, dict) and isinstance(base.get(key), dict)
            else value
        )
    return merged
