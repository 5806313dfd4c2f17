"""Clip augmentations for domain generalisation.

Geometric transforms (scale, crop, horizontal flip) are drawn once per clip and applied to every frame, so
the clip stays a plausible video and labels stay aligned across time. Photometric transforms (colour jitter,
gamma, blur, noise) are drawn once per clip too: a domain (camera, weather, light) changes between clips, not
between the frames of one clip. Only the noise *pattern* is drawn per frame, as real sensor noise is.
Labels are always resampled nearest-neighbour. All randomness comes from the ``numpy.random.Generator``
passed in, so a seed reproduces a draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges.

    Attributes:
        scale_range: resize factor range (uniform), applied before the crop.
        crop_size: (height, width) of the output; ``None`` keeps the input size. Where the scaled frame is
            smaller than the crop, it is padded with black pixels and void labels.
        hflip_prob: probability of mirroring the clip left-right.
        photometric_prob: probability of applying the colour jitter and gamma to the clip.
        brightness, contrast, saturation: factors drawn from ``[1 - x, 1 + x]``.
        hue_deg: hue shift drawn from ``[-hue_deg, hue_deg]`` degrees.
        gamma_range: gamma drawn log-uniformly from this range (``out = 255 (in / 255) ** gamma``).
        blur_prob, blur_sigma_max: probability of a Gaussian blur with sigma from ``[0.1, blur_sigma_max]`` px.
        noise_prob, noise_std_max: probability of Gaussian noise with std from ``[0, noise_std_max]`` (0..255).
    """

    scale_range: tuple[float, float] = (0.75, 1.5)
    crop_size: tuple[int, int] | None = None
    hflip_prob: float = 0.5
    photometric_prob: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue_deg: float = 10.0
    gamma_range: tuple[float, float] = (0.7, 1.5)
    blur_prob: float = 0.2
    blur_sigma_max: float = 1.5
    noise_prob: float = 0.2
    noise_std_max: float = 8.0

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range!r}")
        lo, hi = self.gamma_range
        if not 0 < lo <= hi:
            raise ValueError(f"gamma_range must satisfy 0 < low <= high, got {self.gamma_range!r}")
        if self.crop_size is not None and min(self.crop_size) < 1:
            raise ValueError(f"crop_size must be positive, got {self.crop_size!r}")
        for field in ("hflip_prob", "photometric_prob", "blur_prob", "noise_prob"):
            if not 0 <= getattr(self, field) <= 1:
                raise ValueError(
                    f"AugmentConfig.{field} must be in [0, 1], got {getattr(self, field)!r}"
                )
        for field in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, field) < 1:
                raise ValueError(
                    f"AugmentConfig.{field} must be in [0, 1), got {getattr(self, field)!r}"
                )
        if self.hue_deg < 0 or self.blur_sigma_max < 0.1 or self.noise_std_max < 0:
            raise ValueError(
                f"need hue_deg >= 0, blur_sigma_max >= 0.1, noise_std_max >= 0; got {self.hue_deg!r}, "
                f"{self.blur_sigma_max!r}, {self.noise_std_max!r}"
            )


def augment_clip(
    frames: np.ndarray,
    labels: np.ndarray | None,
    *,
    rng: np.random.Generator,
    config: AugmentConfig,
    void_id: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Augment a clip: one geometric and one photometric draw for all frames.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        labels: (T, H, W) integer ids in 0..255 (void ``void_id``), or ``None``.
        rng: the source of all randomness.
        config: ranges and probabilities.
        void_id: label of padded pixels.
    Returns:
        frames (T, H', W', 3) uint8 and labels (T, H', W') in the input dtype (or ``None``), where
        ``(H', W')`` is ``config.crop_size`` or the input size.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != frames.shape[:3] or labels.dtype.kind not in "iu":
            raise ValueError(
                f"labels must be {frames.shape[:3]} integers, got {labels.dtype} {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError(f"label ids must be in 0..255, got {labels.min()}..{labels.max()}")
    frames, labels = _geometric(frames, labels, rng=rng, config=config, void_id=void_id)
    frames = _photometric(frames, rng=rng, config=config)
    return frames, labels


def _geometric(frames, labels, *, rng, config, void_id):
    _, height, width, _ = frames.shape
    out_h, out_w = config.crop_size if config.crop_size is not None else (height, width)
    scale = rng.uniform(*config.scale_range)
    flip = rng.random() < config.hflip_prob
    scaled_h, scaled_w = max(1, round(height * scale)), max(1, round(width * scale))
    # One crop window for the whole clip; offsets may be negative (padding) when the scaled frame is smaller.
    top = int(rng.integers(min(0, scaled_h - out_h), max(0, scaled_h - out_h) + 1))
    left = int(rng.integers(min(0, scaled_w - out_w), max(0, scaled_w - out_w) + 1))
    out_frames = np.zeros((len(frames), out_h, out_w, 3), dtype=np.uint8)
    out_labels = (
        None
        if labels is None
        else np.full((len(frames), out_h, out_w), void_id, dtype=labels.dtype)
    )
    src_y, dst_y, n_y = _overlap(top, scaled_h, out_h)
    src_x, dst_x, n_x = _overlap(left, scaled_w, out_w)
    for t in range(len(frames)):
        image = cv2.resize(frames[t], (scaled_w, scaled_h), interpolation=cv2.INTER_LINEAR)
        if flip:
            image = image[:, ::-1]
        out_frames[t, dst_y : dst_y + n_y, dst_x : dst_x + n_x] = image[
            src_y : src_y + n_y, src_x : src_x + n_x
        ]
        if labels is not None:
            # NEAREST_EXACT samples pixel centres like INTER_LINEAR does; plain NEAREST is off by up to half a
            # source pixel, which misaligns labels and image at non-integer scales.
            lab = cv2.resize(
                labels[t].astype(np.uint8),
                (scaled_w, scaled_h),
                interpolation=cv2.INTER_NEAREST_EXACT,
            )
            if flip:
                lab = lab[:, ::-1]
            out_labels[t, dst_y : dst_y + n_y, dst_x : dst_x + n_x] = lab[
                src_y : src_y + n_y, src_x : src_x + n_x
            ]
    return out_frames, out_labels


def _overlap(offset: int, size: int, out: int) -> tuple[int, int, int]:
    """Source start, destination start and length of a crop window at ``offset`` of a ``size`` axis."""
    src = max(offset, 0)
    dst = max(-offset, 0)
    return src, dst, min(size - src, out - dst)


def _photometric(frames, *, rng, config):
    # Every parameter is drawn whatever the coin flips, so changing one probability leaves the other draws
    # of a seed unchanged.
    apply_colour = rng.random() < config.photometric_prob
    brightness = rng.uniform(1 - config.brightness, 1 + config.brightness)
    contrast = rng.uniform(1 - config.contrast, 1 + config.contrast)
    saturation = rng.uniform(1 - config.saturation, 1 + config.saturation)
    hue_deg = rng.uniform(-config.hue_deg, config.hue_deg)
    gamma = np.exp(rng.uniform(np.log(config.gamma_range[0]), np.log(config.gamma_range[1])))
    apply_blur = rng.random() < config.blur_prob
    sigma = rng.uniform(0.1, config.blur_sigma_max)
    apply_noise = rng.random() < config.noise_prob
    noise_std = rng.uniform(0.0, config.noise_std_max)
    if not (apply_colour or apply_blur or apply_noise):
        return frames
    out = np.empty_like(frames)
    for t in range(len(frames)):
        image = frames[t].astype(np.float32)
        if apply_colour:
            image = _colour_jitter(image, brightness, contrast, saturation, hue_deg)
            image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** gamma
        if apply_blur:
            image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)
        if apply_noise:
            image = image + rng.normal(0.0, noise_std, size=image.shape).astype(np.float32)
        out[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return out


def _colour_jitter(image, brightness, contrast, saturation, hue_deg):
    """(H, W, 3) float32 RGB 0..255 -> same; factors as drawn in :func:`_photometric`."""
    image = image * brightness
    gray = cv2.cvtColor(np.clip(image, 0, 255), cv2.COLOR_RGB2GRAY)
    image = (image - gray.mean()) * contrast + gray.mean()
    gray = cv2.cvtColor(np.clip(image, 0, 255), cv2.COLOR_RGB2GRAY)[..., None]
    image = (image - gray) * saturation + gray
    if hue_deg:
        # float32 HSV in OpenCV has H in degrees 0..360 and V in the input range.
        hsv = cv2.cvtColor(np.clip(image, 0, 255), cv2.COLOR_RGB2HSV)
        hsv[..., 0] = np.mod(hsv[..., 0] + hue_deg, 360.0)
        image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return image
