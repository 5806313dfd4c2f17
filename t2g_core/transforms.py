"""The one image/label/logit resizing contract shared by training, evaluation, streaming and export.

Colour order is RGB, values stay 0..255 float32 (the backbone owns normalisation). Resizing is a plain
bilinear ``F.interpolate(align_corners=False, antialias=False)`` so that it maps to a single ONNX
``Resize`` op; frames of another aspect ratio are stretched, not padded, so a mask upsampled back
with ``upsample_logits`` lines up with the input frame pixel for pixel.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """Camera frames to a model image batch.

    Args:
        frames: (H, W, 3) or (N, H, W, 3) uint8 RGB.

    Returns:
        (N, 3, H, W) float32 RGB in 0..255 (N = 1 for a single frame).
    """
    if frames.ndim == 3:
        frames = frames[None]
    return (
        torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    )  # (N, 3, H, W)


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an image batch to the model input size.

    Args:
        images: (..., 3, H, W) float32 RGB 0..255 (e.g. a batch or a clip (B, T, 3, H, W)).
        size: (h, w) target size.

    Returns:
        (..., 3, h, w) float32; the input itself when it already has that size.
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    lead = images.shape[:-3]
    flat = images.reshape(-1, *images.shape[-3:])  # (N, 3, H, W)
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False, antialias=False)
    return out.reshape(*lead, *out.shape[-3:])  # (..., 3, h, w)


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of class-id maps, so no label is ever blended into another.

    Args:
        labels: (..., H, W) integer class ids (void included).
        size: (h, w) target size.

    Returns:
        (..., h, w) with the input's dtype.
    """
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    lead = labels.shape[:-2]
    flat = labels.reshape(
        -1, 1, *labels.shape[-2:]
    ).float()  # (N, 1, H, W); interpolate needs float
    out = F.interpolate(flat, size=size, mode="nearest-exact")
    return out.reshape(*lead, *size).to(labels.dtype)  # (..., h, w)


def upsample_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of class scores (model output at stride 8) to a label or frame size.

    Args:
        logits: (..., K, h, w) float class scores.
        size: (H, W) target size.

    Returns:
        (..., K, H, W) float.
    """
    lead = logits.shape[:-3]
    flat = logits.reshape(-1, *logits.shape[-3:])  # (N, K, h, w)
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False)
    return out.reshape(*lead, *out.shape[-3:])  # (..., K, H, W)
