"""The one image/label/logit resizing contract shared by training, evaluation, streaming and export.

Colour order is RGB, values stay 0..255 float32 (the backbone owns normalisation). Resizing is a plain
bilinear ``F.interpolate(align_corners=False, antialias=False)`` so that it maps to a single ONNX
``Resize`` op; frames of another aspect ratio are stretched, not padded, so a mask upsampled back
with ``upsample_logits`` lines up with the input frame pixel for pixel.
"""

from __future__ import annotations

import cv2
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
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (N, 3, H, W)


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
    flat = labels.reshape(-1, 1, *labels.shape[-2:]).float()  # (N, 1, H, W); interpolate needs float
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


class LabelReadout:
    """Class scores at model resolution -> labels and confidence at frame resolution, on the CPU.

    The result is that of ``upsample_logits(scores, size).softmax(0).max(0)`` (bilinear upsampling of the
    scores, then the softmax at full resolution) to float rounding: labels are the argmax of the upsampled
    scores, ties to the lowest class id; confidence is ``1 / Σ_k exp(s_k - max_k s_k)``, the probability
    of that class. It is computed plane by plane with OpenCV (one ``cv2.resize`` per class, then running
    max / compare / exp over whole planes), which measured 2-4x faster than torch's interpolate + softmax +
    max on the 2-core CPU (the full-resolution softmax was the most expensive part of a step after the
    backbone). The K upsampled planes live in a workspace kept between calls (allocating 30 MB per
    960x720 frame cost more page faults than the arithmetic), so one instance serves one stream.
    """

    def __init__(self) -> None:
        self._planes = np.empty((0, 0, 0), np.float32)

    def __call__(self, scores: np.ndarray | torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """
        Args:
            scores: (K, h, w) class scores (logits or log-probabilities), K in 1..255; float32 is used as is.
            size: (H, W) output size.

        Returns:
            labels (H, W) uint8 in 0..K-1 and confidence (H, W) float32 in (0, 1], new arrays.
        """
        if isinstance(scores, torch.Tensor):
            scores = scores.detach().cpu().numpy()
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        if scores.ndim != 3 or not 1 <= scores.shape[0] <= 255:
            raise ValueError(f"scores must be (K, h, w) with K in 1..255, got shape {scores.shape}")
        num_classes = scores.shape[0]
        height, width = int(size[0]), int(size[1])
        if self._planes.shape != (num_classes, height, width):
            self._planes = np.empty((num_classes, height, width), np.float32)
        planes = self._planes
        for k in range(num_classes):
            if scores.shape[1:] == (height, width):
                planes[k] = scores[k]
            else:  # bilinear, half-pixel centres: equal to F.interpolate(align_corners=False) to ~1e-6
                cv2.resize(scores[k], (width, height), dst=planes[k], interpolation=cv2.INTER_LINEAR)
        best = planes[0].copy()
        labels = np.zeros((height, width), np.uint8)
        above = np.empty((height, width), np.uint8)
        for k in range(1, num_classes):
            cv2.compare(planes[k], best, cv2.CMP_GT, dst=above)  # 255 where class k beats 0..k-1
            # Classes come in increasing order, so "becomes k" is max(labels, k where above else 0).
            cv2.min(above, k, dst=above)
            cv2.max(labels, above, dst=labels)
            cv2.max(best, planes[k], dst=best)
        total = np.zeros((height, width), np.float32)
        shifted = np.empty((height, width), np.float32)
        for k in range(num_classes):
            cv2.subtract(planes[k], best, dst=shifted)
            cv2.exp(shifted, dst=shifted)
            cv2.add(total, shifted, dst=total)
        return labels, np.reciprocal(total, out=total)
