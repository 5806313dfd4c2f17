"""Class scores at model resolution -> labels and confidence at frame resolution (numpy + OpenCV)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

# exp() of anything below about -87.3 is a float32 denormal (or 0), which cv2.exp computes ~100x
# slower (45 ms instead of 0.4 ms per 720p plane, measured). A score this far below the best adds
# at most K * exp(-80) ~ 1e-33 to a sum that is >= 1 (the best class adds exp(0)), which float32
# cannot represent, so clamping there changes no result bit.
_EXP_FLOOR = -80.0


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

    The per-pixel passes after the resize run on ``threads`` horizontal bands at once (OpenCV releases
    the GIL; its element-wise functions are single-threaded): every pixel gets the same operations in
    the same order as with one band, so the result does not depend on ``threads``.

    With ``max_size`` (the model's input size), a frame larger than it on either axis is read out at
    ``max_size`` and the result resized to the frame: labels by nearest neighbour, confidence
    bilinearly. The model saw the frame at its input size, so this only moves class borders by less
    than one input pixel, and it saves most of the work at 720p (the softmax of K planes at the frame
    size). A frame at most ``max_size`` is read out exactly as without it.

    Args:
        threads: bands processed in parallel (>= 1); the segmenter's CPU threads.
        max_size: (H, W) largest read-out size, or None: always at the frame size.
    """

    def __init__(self, *, threads: int = 2, max_size: tuple[int, int] | None = None) -> None:
        if not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        if max_size is not None and not (len(max_size) == 2 and min(max_size) >= 1):
            raise ValueError(f"max_size must be (H, W) >= 1 or None, got {max_size!r}")
        self.threads = threads
        self.max_size = None if max_size is None else (int(max_size[0]), int(max_size[1]))
        self._planes = np.empty((0, 0, 0), np.float32)
        self._pool = ThreadPoolExecutor(threads, "t2g_readout") if threads > 1 else None

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
        height, width = int(size[0]), int(size[1])
        cap = self.max_size
        if cap is not None and (height > cap[0] or width > cap[1]):
            labels, confidence = self._read(scores, cap)
            return (
                cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST_EXACT),
                cv2.resize(confidence, (width, height), interpolation=cv2.INTER_LINEAR),
            )
        return self._read(scores, (height, width))

    def _read(self, scores: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Labels and confidence at ``size`` (H, W) from ``scores`` (K, h, w) float32."""
        num_classes = scores.shape[0]
        height, width = size
        if self._planes.shape != (num_classes, height, width):
            self._planes = np.empty((num_classes, height, width), np.float32)
        planes = self._planes
        for k in range(num_classes):  # cv2.resize is multi-threaded itself
            if scores.shape[1:] == (height, width):
                planes[k] = scores[k]
            else:  # bilinear, half-pixel centres: equal to F.interpolate(align_corners=False) to ~1e-6
                cv2.resize(
                    scores[k], (width, height), dst=planes[k], interpolation=cv2.INTER_LINEAR
                )
        # The upsampled gap to the best class is a convex combination of gaps at the low-resolution
        # pixels, so it is never below their minimum: clamp only when that minimum can underflow.
        clamp = float((scores - scores.max(axis=0)).min()) < _EXP_FLOOR
        labels = np.empty((height, width), np.uint8)
        confidence = np.empty((height, width), np.float32)
        bands = np.linspace(0, height, min(self.threads, height) + 1).round().astype(int)
        jobs = [
            (planes[:, r0:r1], labels[r0:r1], confidence[r0:r1], clamp)
            for r0, r1 in zip(bands[:-1], bands[1:])
        ]
        if self._pool is None or len(jobs) == 1:
            for job in jobs:
                _read_band(*job)
        else:
            for future in [self._pool.submit(_read_band, *job) for job in jobs]:
                future.result()
        return labels, confidence


def _read_band(planes: np.ndarray, labels: np.ndarray, confidence: np.ndarray, clamp: bool) -> None:
    """Argmax and softmax maximum of ``planes`` (K, R, W) into ``labels`` and ``confidence`` (R, W)."""
    num_classes, rows, width = planes.shape
    best = planes[0].copy()
    labels.fill(0)
    above = np.empty((rows, width), np.uint8)
    for k in range(1, num_classes):
        cv2.compare(planes[k], best, cv2.CMP_GT, dst=above)  # 255 where class k beats 0..k-1
        # Classes come in increasing order, so "becomes k" is max(labels, k where above else 0).
        cv2.min(above, k, dst=above)
        cv2.max(labels, above, dst=labels)
        cv2.max(best, planes[k], dst=best)
    total = np.zeros((rows, width), np.float32)
    shifted = np.empty((rows, width), np.float32)
    for k in range(num_classes):
        cv2.subtract(planes[k], best, dst=shifted)
        if clamp:
            cv2.max(shifted, _EXP_FLOOR, dst=shifted)
        cv2.exp(shifted, dst=shifted)
        cv2.add(total, shifted, dst=total)
    np.reciprocal(total, out=confidence)
