"""Pretrained peer models that T2G is compared with, read from ``../shared/peers`` (never copied
into the repository). numpy, OpenCV and onnxruntime only: no torch.

- ``espnetv2``: ESPNetv2 (s=2.0) trained on Cityscapes, as fixed-size ONNX files, mapped to CamVid-11.
"""

from .espnetv2 import (
    CAMVID_CLASSES,
    CAMVID_VOID,
    CITYSCAPES_TO_CAMVID,
    DEFAULT_PEER_DIR,
    EspNetV2Peer,
    EspNetV2Segmenter,
    PeerError,
    PeerNotFoundError,
)

__all__ = [
    "CAMVID_CLASSES",
    "CAMVID_VOID",
    "CITYSCAPES_TO_CAMVID",
    "DEFAULT_PEER_DIR",
    "EspNetV2Peer",
    "EspNetV2Segmenter",
    "PeerError",
    "PeerNotFoundError",
]
