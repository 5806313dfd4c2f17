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

import importlib

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


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


__all__ = sorted(_EXPORTS)
