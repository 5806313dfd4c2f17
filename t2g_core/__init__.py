"""t2g_core: Time2General video semantic segmentation in pure PyTorch/numpy (never imports ROS).

Public API (see docs/architecture.md); the other modules (``t2g_core.data``, ``.losses``, ``.metrics``,
``.postprocess``) are imported by name where needed. The names below load on first use, so an
onnxruntime deployment (``t2g_core.inference.ort_streaming``) never imports torch.
"""

from __future__ import annotations

from ._lazy import lazy_exports

_EXPORTS = {
    "BACKBONES": "modeling.backbones",
    "FrozenBackbone": "modeling.backbones",
    "build_backbone": "modeling.backbones",
    "register_backbone": "modeling.backbones",
    "CheckpointError": "checkpoint",
    "LoadedCheckpoint": "checkpoint",
    "Provenance": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "BackboneConfig": "config",
    "DecoderConfig": "config",
    "ModelConfig": "config",
    "TemporalConfig": "config",
    "load_model_config": "config",
    "LabelSet": "labels",
    "ClipPrediction": "modeling.model",
    "FrameFeatures": "modeling.model",
    "T2GModel": "modeling.model",
    "build_model": "modeling.model",
    "FrameResult": "inference.stream_base",
    "StreamingSegmenter": "inference.streaming",
    "open_segmenter": "inference.backends",
    "frames_to_tensor": "transforms",
    "resize_images": "transforms",
    "resize_labels": "transforms",
    "upsample_logits": "transforms",
}


__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
