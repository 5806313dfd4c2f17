"""Latency of one streaming step on this machine, and a per-frame SegFormer-B0-shaped peer to compare with.

A step is what the node pays per frame: resize to the model input, backbone, decoder, upsampling of the
class scores to the frame size, argmax. The T2G and per-frame models resize every frame to their input size
(360x480), so a larger frame only adds the resize and the upsampling; the SegFormer peer runs at the frame
size, as peers do. The pretrained ESPNetv2 peer (``peer``) resizes every frame to its fixed input size
(384x512 for 4:3 frames, 288x512 for 16:9) and its labels back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .contenders import PERFRAME, PERFRAME_EMA, T2G, Contender
from .peer import ESPNETV2_PEER, PeerContender

SEGFORMER_PEER = "segformer_b0"
SEGFORMER_LABEL = "SegFormer-B0 shape (per-frame, random weights)"
# ImageNet statistics in 0..255, the normalisation SegFormer checkpoints use.
_IMAGENET_MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
_IMAGENET_STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class LatencyStats:
    """Wall-clock time of the timed steps.

    Attributes:
        steps: number of timed steps.
        mean_ms, p50_ms, p95_ms: per-step latency in milliseconds.
        fps: steps per second when run back to back, ``1000 / mean_ms``.
    """

    steps: int
    mean_ms: float
    p50_ms: float
    p95_ms: float

    @property
    def fps(self) -> float:
        return 1000.0 / self.mean_ms

    def to_dict(self) -> dict[str, float]:
        return {
            "steps": self.steps,
            "fps": self.fps,
            "mean_ms": self.mean_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }


def measure_latency(
    step: Callable[[int], object],
    *,
    warmup_steps: int,
    steps: int,
    clock: Callable[[], float] = time.perf_counter,
) -> LatencyStats:
    """Call ``step(i)`` for ``warmup_steps`` untimed then ``steps`` timed steps (i counts from 0 throughout).

    The warm-up fills the streaming memory and lets torch pick its kernels, so the timed steps are the
    steady state. ``clock`` returns seconds (a test passes a fake one).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    for i in range(warmup_steps):
        step(i)
    times_ms = np.empty(steps, dtype=np.float64)
    for i in range(steps):
        start = clock()
        step(warmup_steps + i)
        times_ms[i] = (clock() - start) * 1000.0
    return LatencyStats(
        steps=steps,
        mean_ms=float(times_ms.mean()),
        p50_ms=float(np.percentile(times_ms, 50)),
        p95_ms=float(np.percentile(times_ms, 95)),
    )


def synthetic_frames(size: tuple[int, int], count: int = 4, seed: int = 0) -> list[np.ndarray]:
    """``count`` random (H, W, 3) uint8 RGB frames: dense networks cost the same whatever the content."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]


def streaming_step(
    contender: Contender | PeerContender,
    size: tuple[int, int],
    *,
    max_gap_s: float,
    device: str,
    fps: float = 25.0,
) -> Callable[[int], object]:
    """A step function for :func:`measure_latency`: frame i of a ``fps`` stream at ``size`` (H, W)."""
    segmenter = contender.segmenter(max_gap_s=max_gap_s, device=device)
    frames = synthetic_frames(size)
    return lambda i: segmenter.step(frames[i % len(frames)], i / fps)


class SegformerPeer:
    """A per-frame SegFormer-B0-shaped segmenter built from ``transformers``' default config, random weights.

    For speed only: no weights can be downloaded here, and none are needed to time the architecture.

    Args:
        num_classes: K output classes.
        device: torch device.
    Raises:
        ImportError: ``transformers`` is not installed (it is an evaluation-only dependency).
    """

    def __init__(self, *, num_classes: int, device: str = "cpu") -> None:
        try:
            from transformers import SegformerConfig, SegformerForSemanticSegmentation
        except ImportError as exc:
            raise ImportError(
                f"the SegFormer speed peer needs `transformers` ({exc}); install the evaluation pins "
                "(pip install --no-deps transformers and its listed dependencies) or set speed.segformer_peer: false"
            ) from exc

        # SegformerConfig()'s defaults are MiT-b0: hidden sizes 32/64/160/256, depths 2/2/2/2, decoder 256.
        self._device = torch.device(device)
        self._model = (
            SegformerForSemanticSegmentation(SegformerConfig(num_labels=num_classes))
            .to(self._device)
            .eval()
        )

    def step(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Segment one frame at its own size.

        Args:
            frame_rgb: (H, W, 3) uint8 RGB.
        Returns:
            (H, W) uint8 class ids.
        """
        with torch.inference_mode():
            x = (
                torch.from_numpy(frame_rgb).permute(2, 0, 1)[None].float().to(self._device)
            )  # (1, 3, H, W)
            x = (x - _IMAGENET_MEAN.to(self._device)) / _IMAGENET_STD.to(self._device)
            logits = self._model(pixel_values=x).logits  # (1, K, H/4, W/4)
            logits = F.interpolate(
                logits, size=frame_rgb.shape[:2], mode="bilinear", align_corners=False
            )
            return logits[0].argmax(dim=0).to(torch.uint8).cpu().numpy()


def segformer_step(peer: SegformerPeer, size: tuple[int, int]) -> Callable[[int], object]:
    """A step function for :func:`measure_latency`: the peer on frame i at ``size`` (H, W)."""
    frames = synthetic_frames(size)
    return lambda i: peer.step(frames[i % len(frames)])


def latency_ratios(p50_ms: dict[str, float]) -> dict[str, float]:
    """Side-by-side ratios of median latencies at one size, for the pairs present.

    Args:
        p50_ms: contender or peer name -> median latency (ms).
    Returns:
        ``"a/b"`` -> p50(a) / p50(b), e.g. ``"t2g/perframe"`` (what the memory costs) and
        ``"segformer_b0/t2g"`` (how much slower the peer is), ``"espnetv2_peer/t2g"``.
    """
    pairs = [
        (T2G, PERFRAME),
        (PERFRAME_EMA, PERFRAME),
        (ESPNETV2_PEER, T2G),
        (SEGFORMER_PEER, T2G),
        (SEGFORMER_PEER, PERFRAME),
    ]
    return {f"{a}/{b}": p50_ms[a] / p50_ms[b] for a, b in pairs if a in p50_ms and b in p50_ms}
