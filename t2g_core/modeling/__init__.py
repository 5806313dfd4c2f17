"""The model: ``T2GModel`` and its parts, one concept per module.

- ``model``: ``T2GModel`` (frozen backbone -> Stability Queries -> pixel decoder -> memory decoder,
  with pixel fusion and the detail path), ``build_model`` (config -> constructor arguments, once),
  ``FrameFeatures``, ``StepState``, ``CausalStep``, ``ClipPrediction``;
- ``causal``: the causal-step rules every runtime shares, the memory window of frame t
  (``window_start``) and the memory-1 rule (``keeps_fusion_state``); no torch, so the onnxruntime
  segmenter reads them too;
- ``backbones``: the frozen backbones and their registry (``BACKBONES``, ``register_backbone``);
- ``stability_queries``: the shared queries S and the per-level modulation of the pixel features;
- ``pixel_decoder``: FPN fusion of the modulated levels and the stride-8 pixel embedding;
- ``memory_decoder``: the spatio-temporal memory decoder and the semantic head;
- ``temporal_fusion``: the per-pixel fusion of the current embedding with the fused past;
- ``detail_refiner``: the stride-4 refinement of the final logits for thin classes.

Names below load on first use, so importing this package (for ``causal``) loads no torch.
``t2g_core`` re-exports the public ones.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "BACKBONES": "backbones",
    "FrozenBackbone": "backbones",
    "build_backbone": "backbones",
    "register_backbone": "backbones",
    "CausalStep": "model",
    "ClipPrediction": "model",
    "FrameFeatures": "model",
    "StepState": "model",
    "T2GModel": "model",
    "build_model": "model",
    "keeps_fusion_state": "causal",
    "window_start": "causal",
}


__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
