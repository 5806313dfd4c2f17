"""t2g_core: Time2General video semantic segmentation in pure PyTorch/numpy (never imports ROS).

Public API (see docs/architecture.md); the other modules (``t2g_core.data``, ``.losses``, ``.metrics``,
``.postprocess``) are imported by name where needed.
"""

from .backbones import BACKBONES, FrozenBackbone, build_backbone, register_backbone
from .checkpoint import CheckpointError, LoadedCheckpoint, Provenance, load_checkpoint, save_checkpoint
from .config import BackboneConfig, DecoderConfig, ModelConfig, TemporalConfig, load_model_config
from .labels import LabelSet
from .model import ClipPrediction, FrameFeatures, T2GModel, build_model
from .inference.streaming import FrameResult, StreamingSegmenter
from .transforms import frames_to_tensor, resize_images, resize_labels, upsample_logits

__all__ = [
    "BACKBONES",
    "BackboneConfig",
    "CheckpointError",
    "ClipPrediction",
    "DecoderConfig",
    "FrameFeatures",
    "FrameResult",
    "FrozenBackbone",
    "LabelSet",
    "LoadedCheckpoint",
    "ModelConfig",
    "Provenance",
    "StreamingSegmenter",
    "T2GModel",
    "TemporalConfig",
    "build_backbone",
    "build_model",
    "frames_to_tensor",
    "load_checkpoint",
    "load_model_config",
    "register_backbone",
    "resize_images",
    "resize_labels",
    "save_checkpoint",
    "upsample_logits",
]
