"""Class scores at model resolution -> labels and confidence at frame resolution (numpy + OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np


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

    def __call__(self, scores: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """
        Args:
            scores: (K, h, w) class scores (logits or log-probabilities), K in 1..255; float32 is used as is.
            size: (H, W) output size.

        Returns:
            labels (H, W) uint8 in 0..K-1 and confidence (H, W) float32 in (0, 1], new arrays.
        """
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
                cv2.resize(
                    scores[k], (width, height), dst=planes[k], interpolation=cv2.INTER_LINEAR
                )
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
