"""Pseudo-clips: video-like clips synthesised from one labelled frame by a smooth random camera motion.

CamVid's train labels are 1 Hz, but the node sees 15-30 Hz video. A pseudo-clip shows the model small,
video-like gaps with dense labels on every frame.

Motion model: a :class:`CameraMotion` is a constant rate of zoom (log scale), translation and rotation about
the image centre. The pose of a frame at time ``t`` is that rate times ``t - t_target``: identity on the target
frame (which is the labelled frame itself, unwarped), moving linearly in time away from it. This is a linear
interpolation from the identity to a random end pose, and because the rate is per second, two clips with
different gaps (strides) of the *same* motion sample one continuous camera path at different times.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionRange:
    """Bounds of a random camera motion; each rate is drawn uniformly from ``[-bound, +bound]``.

    Attributes:
        zoom_per_s: log-scale change per second (0.4: about 8 % scale over 0.2 s).
        shift_per_s: translation per second as a fraction of the image width (x) and height (y).
        rotation_deg_per_s: in-plane rotation per second, degrees.
    """

    zoom_per_s: float = 0.4
    shift_per_s: float = 0.15
    rotation_deg_per_s: float = 5.0

    def __post_init__(self) -> None:
        for field in ("zoom_per_s", "shift_per_s", "rotation_deg_per_s"):
            if not getattr(self, field) >= 0:
                raise ValueError(f"MotionRange.{field} must be >= 0, got {getattr(self, field)!r}")


@dataclass(frozen=True)
class CameraMotion:
    """A constant-rate camera motion (see the module docstring)."""

    zoom_per_s: float
    shift_x_per_s: float
    shift_y_per_s: float
    rotation_deg_per_s: float

    def affine(self, dt_s: float, *, height: int, width: int) -> np.ndarray:
        """(2, 3) float64 map from target-frame pixel coordinates to those of a frame ``dt_s`` seconds away.

        ``x' = s R(theta) (x - c) + c + d`` with ``s = exp(zoom * dt)``, ``theta = rotation * dt``,
        ``d = (shift_x * width, shift_y * height) * dt`` and ``c`` the image centre.
        """
        scale = np.exp(self.zoom_per_s * dt_s)
        theta = np.deg2rad(self.rotation_deg_per_s * dt_s)
        rot = scale * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
        shift = np.array([self.shift_x_per_s * width, self.shift_y_per_s * height]) * dt_s
        return np.concatenate([rot, (centre - rot @ centre + shift)[:, None]], axis=1)


@dataclass(frozen=True)
class PseudoClip:
    """A synthesised clip.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB; pixels with no source are 0.
        labels: (T, H, W), the input's dtype, nearest-neighbour; pixels with no source are void. ``None`` when
            made from an unlabelled frame.
        valid: (T, H, W) bool, True where the frame pixel has a source pixel in the base frame.
        affines: (T, 2, 3) float64, base-frame pixel coordinates -> frame-t pixel coordinates.
        times_s: (T,) float64 seconds, strictly increasing, starting at 0.
        target_index: the frame equal to the base frame (identity pose).
    """

    frames: np.ndarray
    labels: np.ndarray | None
    valid: np.ndarray
    affines: np.ndarray
    times_s: np.ndarray
    target_index: int


def sample_motion(rng: np.random.Generator, motion_range: MotionRange) -> CameraMotion:
    """A motion with each rate uniform in ``[-bound, +bound]`` of ``motion_range``."""
    zoom, shift_x, shift_y, rotation = rng.uniform(-1.0, 1.0, size=4)
    return CameraMotion(
        zoom_per_s=float(zoom * motion_range.zoom_per_s),
        shift_x_per_s=float(shift_x * motion_range.shift_per_s),
        shift_y_per_s=float(shift_y * motion_range.shift_per_s),
        rotation_deg_per_s=float(rotation * motion_range.rotation_deg_per_s),
    )


def sample_times(
    rng: np.random.Generator, *, clip_len: int, gap_s: float, gap_jitter: float, stride: int = 1
) -> np.ndarray:
    """(T,) float64 frame times from 0: each gap is ``stride * gap_s * (1 + u)``, ``u ~ U(-gap_jitter, gap_jitter)``.

    ``gap_jitter`` in ``[0, 1)`` models the uneven arrival of real camera frames.
    """
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    if not gap_s > 0:
        raise ValueError(f"gap_s must be > 0, got {gap_s!r}")
    if not 0 <= gap_jitter < 1:
        raise ValueError(f"gap_jitter must be in [0, 1), got {gap_jitter!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride!r}")
    gaps = stride * gap_s * (1.0 + rng.uniform(-gap_jitter, gap_jitter, size=clip_len - 1))
    return np.concatenate([[0.0], np.cumsum(gaps)])


def render_pseudo_clip(
    image: np.ndarray,
    labels: np.ndarray | None,
    *,
    motion: CameraMotion,
    times_s: np.ndarray,
    target_index: int = -1,
    void_id: int,
) -> PseudoClip:
    """Warp one frame along ``motion`` at ``times_s``; frame ``target_index`` is the input itself.

    Args:
        image: (H, W, 3) uint8 RGB.
        labels: (H, W) integer ids in 0..255 (void ``void_id``), or ``None`` for an unlabelled frame.
        motion: the camera motion.
        times_s: (T,) strictly increasing seconds.
        target_index: which frame carries the identity pose (negative counts from the end).
        void_id: label of pixels that have no source.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (height, width) or labels.dtype.kind not in "iu":
            raise ValueError(
                f"labels must be ({height}, {width}) integers, got {labels.dtype} {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError(f"label ids must be in 0..255, got {labels.min()}..{labels.max()}")
    if not 0 <= void_id <= 255:
        raise ValueError(f"void_id must be in 0..255, got {void_id!r}")
    times_s = np.asarray(times_s, dtype=np.float64)
    if times_s.ndim != 1 or len(times_s) == 0 or np.any(np.diff(times_s) <= 0):
        raise ValueError(f"times_s must be 1-D, non-empty and strictly increasing, got {times_s!r}")
    clip_len = len(times_s)
    if not -clip_len <= target_index < clip_len:
        raise ValueError(f"target_index {target_index} is outside a clip of {clip_len} frames")
    target_index %= clip_len

    frames = np.empty((clip_len, height, width, 3), dtype=np.uint8)
    valid = np.empty((clip_len, height, width), dtype=bool)
    out_labels = None if labels is None else np.empty((clip_len, height, width), dtype=labels.dtype)
    affines = np.empty((clip_len, 2, 3), dtype=np.float64)
    ones = np.ones((height, width), dtype=np.uint8)
    for t in range(clip_len):
        affines[t] = motion.affine(times_s[t] - times_s[target_index], height=height, width=width)
        if t == target_index:
            # The identity pose: copy, so the target frame is bit-exact in every clip made from this frame.
            frames[t] = image
            valid[t] = True
            if labels is not None:
                out_labels[t] = labels
            continue
        warp = dict(dsize=(width, height), borderMode=cv2.BORDER_CONSTANT)
        valid[t] = (
            cv2.warpAffine(ones, affines[t], flags=cv2.INTER_NEAREST, borderValue=0, **warp) > 0
        )
        frames[t] = cv2.warpAffine(
            image, affines[t], flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0), **warp
        )
        frames[t][~valid[t]] = 0
        if labels is not None:
            warped = cv2.warpAffine(
                labels.astype(np.uint8),
                affines[t],
                flags=cv2.INTER_NEAREST,
                borderValue=void_id,
                **warp,
            )
            warped[~valid[t]] = void_id
            out_labels[t] = warped
    return PseudoClip(
        frames=frames,
        labels=out_labels,
        valid=valid,
        affines=affines,
        times_s=times_s,
        target_index=target_index,
    )
