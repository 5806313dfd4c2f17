"""The evaluation config (``config/eval.yaml``) as frozen dataclasses, checked key by key.

Every key is required (the YAML is the one place values live); unknown keys, wrong types and
out-of-range values raise ``ValueError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import from_mapping
from ..data.corruptions import WEATHER_CORRUPTIONS
from ..inference.backends import BACKEND_NAMES, DEFAULT_BACKEND


@dataclass(frozen=True)
class ModelsConfig:
    """Checkpoint paths. ``perframe`` serves both the per-frame and the per-frame + EMA contenders.

    Attributes:
        espnetv2_peer: the pretrained ESPNetv2 Cityscapes peer's folder (``t2g_core.peers``), read in
            place; None disables it, and a missing folder skips it with a message.
    """

    perframe: str
    t2g: str
    espnetv2_peer: str | None


@dataclass(frozen=True)
class EmaConfig:
    """Grid search of the EMA weight on CamVid val (see ``ema_tuning``).

    Attributes:
        alphas: candidate weights of the new frame, each in (0, 1); 1.0 is always scored as reference.
        max_miou_drop: allowed val mIoU loss against alpha 1.0, a fraction (0.005 = half a point).
        vc_window: n of the VC_n that is maximised.
    """

    alphas: tuple[float, ...]
    max_miou_drop: float
    vc_window: int

    def __post_init__(self) -> None:
        if not self.alphas or not all(0 < a < 1 for a in self.alphas):
            raise ValueError(
                f"ema.alphas must be a non-empty list of values in (0, 1), got {self.alphas}"
            )
        if not 0 <= self.max_miou_drop < 1:
            raise ValueError(f"ema.max_miou_drop must be in [0, 1), got {self.max_miou_drop}")
        if self.vc_window < 2:
            raise ValueError(f"ema.vc_window must be >= 2, got {self.vc_window}")


@dataclass(frozen=True)
class CamVidTestConfig:
    enabled: bool


@dataclass(frozen=True)
class CorruptedConfig:
    enabled: bool
    corruptions: tuple[str, ...]
    severity: int

    def __post_init__(self) -> None:
        unknown = set(self.corruptions) - set(WEATHER_CORRUPTIONS)
        if not self.corruptions or unknown:
            raise ValueError(
                f"camvid_corrupted.corruptions must be from {WEATHER_CORRUPTIONS}, got {self.corruptions}"
            )
        if self.severity not in (1, 2, 3, 4, 5):
            raise ValueError(f"camvid_corrupted.severity must be 1..5, got {self.severity}")


@dataclass(frozen=True)
class VideoConfig:
    """Unlabelled video: ``pattern`` is a glob under the data root; frames resized to ``width``, aspect kept."""

    enabled: bool
    pattern: str
    fps: float
    width: int
    strides: tuple[int, ...]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"video.fps must be > 0, got {self.fps}")
        if self.width < 32:
            raise ValueError(f"video.width must be >= 32, got {self.width}")
        _check_strides("video.strides", self.strides)


@dataclass(frozen=True)
class Val15HzConfig:
    """The labelled 15 Hz run of CamVid val: frames ``first_frame..last_frame`` every ``frame_step``."""

    enabled: bool
    sequence: str
    first_frame: int
    last_frame: int
    frame_step: int
    strides: tuple[int, ...]
    vc_windows: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.first_frame < self.last_frame or self.frame_step < 1:
            raise ValueError(
                f"val_15hz needs 0 <= first_frame < last_frame and frame_step >= 1, got "
                f"{self.first_frame}, {self.last_frame}, {self.frame_step}"
            )
        _check_strides("val_15hz.strides", self.strides)
        if not self.vc_windows or min(self.vc_windows) < 2:
            raise ValueError(
                f"val_15hz.vc_windows must be window lengths >= 2, got {self.vc_windows}"
            )


@dataclass(frozen=True)
class TargetsConfig:
    camvid_test: CamVidTestConfig
    camvid_corrupted: CorruptedConfig
    video: VideoConfig
    val_15hz: Val15HzConfig


@dataclass(frozen=True)
class SpeedConfig:
    """Latency of one streaming step; ``sizes`` are (H, W) frame sizes given to ``step``."""

    enabled: bool
    sizes: tuple[tuple[int, int], ...]
    warmup_steps: int
    steps: int
    segformer_peer: bool

    def __post_init__(self) -> None:
        if not self.sizes or min(min(s) for s in self.sizes) < 32:
            raise ValueError(
                f"speed.sizes must be (H, W) pairs of at least 32 pixels, got {self.sizes}"
            )
        if self.warmup_steps < 0 or self.steps < 2:
            raise ValueError(
                f"speed needs warmup_steps >= 0 and steps >= 2, got {self.warmup_steps}, {self.steps}"
            )


@dataclass(frozen=True)
class QuickConfig:
    """Overrides of a ``--quick`` smoke run: ``frames`` first frames of every sequence, clip and run."""

    frames: int
    ema_alphas: tuple[float, ...]
    warmup_steps: int
    steps: int

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError(f"quick.frames must be >= 2, got {self.frames}")


@dataclass(frozen=True)
class EvalConfig:
    """Everything one evaluation run does.

    Attributes:
        backend: the inference backend every contender runs on (``torch`` or ``onnxruntime``).
        quick: the overrides :meth:`quick_variant` applies.
        max_frames: None evaluates everything; an int keeps the first ``max_frames`` frames of every
            sequence, clip and run. Set by :meth:`quick_variant`, never read from the YAML.
        is_quick: True for a smoke run made by :meth:`quick_variant`; never read from the YAML.
    """

    output_dir: str
    data_root: str
    device: str
    threads: int
    models: ModelsConfig
    max_gap_s: float
    ema: EmaConfig
    targets: TargetsConfig
    speed: SpeedConfig
    quick: QuickConfig
    backend: str = DEFAULT_BACKEND
    max_frames: int | None = None
    is_quick: bool = False

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.backend not in BACKEND_NAMES:
            raise ValueError(
                f"backend must be one of {', '.join(BACKEND_NAMES)}, got {self.backend!r}"
            )
        if not (math.isfinite(self.max_gap_s) and self.max_gap_s > 0):
            raise ValueError(f"max_gap_s must be > 0, got {self.max_gap_s}")

    def quick_variant(self) -> EvalConfig:
        """This config with the ``quick`` overrides, writing to ``<output_dir>/quick``."""
        q = self.quick
        return dataclasses.replace(
            self,
            output_dir=str(Path(self.output_dir) / "quick"),
            ema=dataclasses.replace(self.ema, alphas=q.ema_alphas),
            speed=dataclasses.replace(self.speed, warmup_steps=q.warmup_steps, steps=q.steps),
            max_frames=q.frames,
            is_quick=True,
        )

    def to_dict(self) -> dict:
        """Plain dict of builtins, for the results file."""
        return dataclasses.asdict(self)


def load_eval_config(path: str | Path) -> EvalConfig:
    """Read and check ``config/eval.yaml``; ``ValueError`` messages start with the path."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    run_only = sorted({"max_frames", "is_quick"} & set(data)) if isinstance(data, dict) else []
    if run_only:
        raise ValueError(f"{path}: {run_only} are set by --quick, not in the YAML")
    try:
        return from_mapping(EvalConfig, data, "")
    except TypeError as exc:  # a required key is missing: the dataclass constructor names it
        raise ValueError(f"{path}: missing key: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _check_strides(key: str, strides: tuple[int, ...]) -> None:
    if not strides or min(strides) < 1 or len(set(strides)) != len(strides):
        raise ValueError(f"{key} must be distinct integers >= 1, got {strides}")
