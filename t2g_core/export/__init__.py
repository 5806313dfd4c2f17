"""ONNX export of a T2G checkpoint for onnxruntime, and the cache the node and bag tools build it into.

The streaming step is split where its state is: the memory of the last T frames' keys and values.

- ``encode.onnx``: ``frame`` (H, W, 3) uint8 RGB, any H and W -> ``pixel_embedding`` (1, d, h8, w8),
  ``memory_keys`` and ``memory_values`` (1, L, N_tok, d) float32. It holds the shared transform (cast,
  HWC -> CHW, one bilinear ``Resize`` to the model's ``input_size``, as ``t2g_core.transforms``), the
  frozen backbone, the Stability Queries, the pixel decoder and the per-layer memory K/V projection:
  ``T2GModel.encode_frames``.
- ``decode_m{M}.onnx`` for M = 1..T: ``pixel_embedding`` (1, d, h8, w8) of the current frame,
  ``offsets_s`` (1, M) float32 memory time minus current time (<= 0), and ``memory_keys_{m}_{l}``,
  ``memory_values_{m}_{l}`` (1, N_tok, d) of memory frame m (0..M-1, the current one included, in any
  order matching ``offsets_s``) and decoder layer l -> ``logits`` (1, K, h8, w8): ``T2GModel.decode``.
  One graph per M because the exporter unrolls the model's own loop over memory frames, so no decoder
  code is duplicated for the export; one input per frame and layer because the caller's cache holds
  exactly those contiguous pieces (a stacked (M, L, N_tok, d) input cost a 10 MB split copy per step,
  about a fifth of the decoder's time).

So the state is explicit: encode returns the new frame's cache entry, the caller keeps the cache (a ring
buffer, ``t2g_core.inference.ort_streaming``) and passes it back in. Labels and confidence at the frame size
are read out of the logits by ``inference.readout.LabelReadout``, as the torch path does. ``manifest.json``
records what was exported from what (checkpoint SHA-256, versions, shapes) and the SHA-256 of every
file, so a corrupt or stale export is detected and rebuilt.

The backbone may run in an export-friendly form while the encoder is traced
(``FrozenBackbone.export_friendly``: EfficientNet fixes its "SAME" padding for ``input_size``), and
the asymmetric Pads that leaves are folded into the convolutions (``graph_surgery``), which removed
about a quarter of the encoder's time.

Modules, one job each: ``format`` (names, manifest; json + hashlib only, enough for onnxruntime),
``onnx_export`` (the torch -> ONNX wrappers), ``graph_surgery`` (ONNX rewrites), ``quantize`` (the
int8 export: the backbone statically quantised), ``cache`` (the export cache, keyed by precision),
``cli`` (``t2g-export``, ``--precision int8``). Names below load on first use, so
``t2g_core.export.format`` imports no torch.

    t2g-export --checkpoint checkpoints/t2g_lite0_camvid.pt --out artifacts/onnx/t2g_lite0_camvid
    t2g-export --checkpoint checkpoints/t2g_lite0_camvid.pt     # into the node's cache; prints where
    (or python -m t2g_core.export ...)
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "DECODE_OUTPUTS": "format",
    "ENCODE_FILE": "format",
    "ENCODE_INPUTS": "format",
    "ENCODE_OUTPUTS": "format",
    "FORMAT": "format",
    "FORMAT_VERSION": "format",
    "MANIFEST": "format",
    "OPSET": "format",
    "CalibrationUnavailable": "format",
    "ExportError": "format",
    "ExportManifest": "format",
    "decode_file": "format",
    "decode_inputs": "format",
    "file_sha256": "format",
    "load_manifest": "format",
    "PRECISIONS": "quantize",
    "export_precision": "quantize",
    "quantize_export": "quantize",
    "export_model": "onnx_export",
    "runtime_versions": "format",
    "cache_key": "cache",
    "cached_export": "cache",
    "default_cache_dir": "cache",
    "main": "cli",
}


__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
