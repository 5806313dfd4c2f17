"""The inference stack: backends, streaming segmenters and ``open_segmenter``.

- ``backends``: the backend registry (``BACKENDS``) and ``open_segmenter``;
- ``stream_base``: what every segmenter shares (``StreamBase``: checks, resets, memory length;
  ``FrameResult``), numpy only;
- ``streaming``: the torch ``StreamingSegmenter``;
- ``ort_streaming``: ``OrtStreamingSegmenter`` on an ONNX export (``t2g_core.export``), no torch;
- ``readout``: ``LabelReadout``, class scores -> labels + confidence at the frame size (OpenCV).

Names are loaded on first use, so importing this package loads neither torch nor onnxruntime.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "BACKENDS": "backends",
    "BACKEND_NAMES": "backends",
    "DEFAULT_BACKEND": "backends",
    "Backend": "backends",
    "default_checkpoint": "backends",
    "open_segmenter": "backends",
    "FrameResult": "stream_base",
    "LabelReadout": "readout",
    "StreamBase": "stream_base",
    "StreamingSegmenter": "streaming",
    "OrtStreamingSegmenter": "ort_streaming",
}


__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
