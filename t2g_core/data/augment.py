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

from t2g_core.data.weather_synth import EFFECTS


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges.

    Attributes:
        scale_range: resize factor range (uniform), applied before the crop.
        crop_size: (height, width) of the output; ``None`` keeps the input size. Where the scaled frame is
            smaller than the crop, it is padded with black pixels and void labels.
        hflip_prob: probability of mirroring the clip left-right.
        photometric_prob: probability of applying the colour jitter, white balance and gamma to the clip.
        brightness, contrast, saturation: factors drawn from ``[1 - x, 1 + x]``.
        hue_deg: hue shift drawn from ``[-hue_deg, hue_deg]`` degrees.
        gamma_range: gamma drawn log-uniformly from this range (``out = 255 (in / 255) ** gamma``).
        white_balance: per-channel gains drawn from ``[1 - x, 1 + x]``, renormalised to keep the mean gain
            1 (a colour cast / white balance error; part of the photometric draw).
        tone_curve_prob, tone_curve_strength: probability of a random monotone per-channel tone curve: a
            piecewise-linear map through ``(k / 4, k / 4 + U(-s, s))``, ``k = 1..3``, sorted, ends fixed.
        grayscale_prob: probability of desaturating towards gray by a fraction drawn from ``[0.6, 1]``.
        blur_prob, blur_sigma_max: probability of a Gaussian blur with sigma from ``[0.1, blur_sigma_max]`` px.
        noise_prob, noise_std_max: probability of Gaussian noise with std from ``[0, noise_std_max]`` (0..255).
        night_prob, haze_prob, rain_prob, snow_prob, frost_prob: probability of each synthetic weather /
            light effect of :mod:`t2g_core.data.weather_synth` (independent; several may combine).
        night_severity, haze_severity, rain_severity, snow_severity, frost_severity: (low, high) range in
            [0, 1] the effect's severity is drawn from (uniform, once per clip).
    """

    scale_range: tuple[float, float] = (0.5, 2.0)
    crop_size: tuple[int, int] | None = None
    hflip_prob: float = 0.5
    photometric_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.5
    hue_deg: float = 15.0
    gamma_range: tuple[float, float] = (0.6, 1.7)
    white_balance: float = 0.15
    tone_curve_prob: float = 0.3
    tone_curve_strength: float = 0.08
    grayscale_prob: float = 0.1
    blur_prob: float = 0.2
    blur_sigma_max: float = 1.5
    noise_prob: float = 0.2
    noise_std_max: float = 8.0
    night_prob: float = 0.12
    night_severity: tuple[float, float] = (0.2, 1.0)
    haze_prob: float = 0.15
    haze_severity: tuple[float, float] = (0.1, 1.0)
    rain_prob: float = 0.12
    rain_severity: tuple[float, float] = (0.1, 1.0)
    snow_prob: float = 0.12
    snow_severity: tuple[float, float] = (0.1, 1.0)
    frost_prob: float = 0.12
    frost_severity: tuple[float, float] = (0.1, 1.0)

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range!r}")
        lo, hi = self.gamma_range
        if not 0 < lo <= hi:
            raise ValueError(f"gamma_range must satisfy 0 < low <= high, got {self.gamma_range!r}")
        if self.crop_size is not None and min(self.crop_size) < 1:
            raise ValueError(f"crop_size must be positive, got {self.crop_size!r}")
        probs = ["hflip_prob", "photometric_prob", "tone_curve_prob", "grayscale_prob", "blur_prob"]
        probs += ["noise_prob"] + [f"{name}_prob" for name in EFFECTS]
        for field in probs:
            if not 0 <= getattr(self, field) <= 1:
                raise ValueError(
                    f"AugmentConfig.{field} must be in [0, 1], got {getattr(self, field)!r}"
                )
        for field in ("brightness", "contrast", "saturation", "white_balance"):
            if not 0 <= getattr(self, field) < 1:
                raise ValueError(
                    f"AugmentConfig.{field} must be in [0, 1), got {getattr(self, field)!r}"
                )
        for field in [f"{name}_severity" for name in EFFECTS]:
            lo, hi = getattr(self, field)
            if not 0 <= lo <= hi <= 1:
                raise ValueError(
                    f"AugmentConfig.{field} must satisfy 0 <= low <= high <= 1, got {(lo, hi)!r}"
                )
        if not 0 <= self.tone_curve_strength <= 0.25:
            raise ValueError(
                f"tone_curve_strength must be in [0, 0.25], got {self.tone_curve_strength!r}"
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


# Frames converted to float32 at once: bounds memory on long real sequences (hundreds of frames).
_CHUNK = 8
_CURVE_X = np.linspace(0.0, 1.0, 5)


def _photometric(frames, *, rng, config):
    """Colour, tone, weather, blur and noise: one draw for the clip, noise and moving particles per frame.

    frames (T, H, W, 3) uint8 -> same. Order: colour jitter, white balance, gamma, tone curve, desaturation
    (the camera and light), then weather (scene and lens), then blur and sensor noise (the sensor).
    """
    # Every parameter is drawn whatever the coin flips, so changing one probability leaves the other draws
    # of a seed unchanged.
    apply_colour = rng.random() < config.photometric_prob
    brightness = rng.uniform(1 - config.brightness, 1 + config.brightness)
    contrast = rng.uniform(1 - config.contrast, 1 + config.contrast)
    saturation = rng.uniform(1 - config.saturation, 1 + config.saturation)
    hue_deg = rng.uniform(-config.hue_deg, config.hue_deg)
    gamma = np.exp(rng.uniform(np.log(config.gamma_range[0]), np.log(config.gamma_range[1])))
    gains = rng.uniform(1 - config.white_balance, 1 + config.white_balance, size=3)
    gains = (gains / gains.mean()).astype(np.float32)
    apply_curve = rng.random() < config.tone_curve_prob
    shift = rng.uniform(-config.tone_curve_strength, config.tone_curve_strength, size=(3, 3))
    curves = np.concatenate(
        [np.zeros((3, 1)), np.clip(np.sort(_CURVE_X[1:4] + shift, axis=1), 0, 1), np.ones((3, 1))],
        axis=1,
    )
    apply_gray = rng.random() < config.grayscale_prob
    gray_amount = rng.uniform(0.6, 1.0)
    weather = []
    for name, effect in EFFECTS.items():
        on = rng.random() < getattr(config, f"{name}_prob")
        severity = rng.uniform(*getattr(config, f"{name}_severity"))
        seed = int(rng.integers(2**63))
        if on:
            weather.append((effect, severity, seed, np.random.default_rng([seed, 1])))
    apply_blur = rng.random() < config.blur_prob
    sigma = rng.uniform(0.1, config.blur_sigma_max)
    apply_noise = rng.random() < config.noise_prob
    noise_std = rng.uniform(0.0, config.noise_std_max)
    if not (apply_colour or apply_curve or apply_gray or weather or apply_blur or apply_noise):
        return frames
    out = np.empty_like(frames)
    for start in range(0, len(frames), _CHUNK):
        clip = frames[start : start + _CHUNK].astype(np.float32)
        for image in clip:  # in place, frame by frame
            if apply_colour:
                image[:] = _colour_jitter(image, brightness, contrast, saturation, hue_deg) * gains
                image[:] = 255.0 * (np.clip(image, 0, 255) / 255.0) ** gamma
            if apply_curve:
                for c in range(3):
                    image[..., c] = 255.0 * np.interp(image[..., c] / 255.0, _CURVE_X, curves[c])
            if apply_gray:
                gray = cv2.cvtColor(np.clip(image, 0, 255), cv2.COLOR_RGB2GRAY)[..., None]
                image += gray_amount * (gray - image)
        np.clip(clip, 0, 255, out=clip)
        for effect, severity, seed, frame_rng in weather:
            # The clip generator restarts for every chunk: the scene/lens draws repeat exactly.
            clip = effect(
                clip,
                severity=severity,
                clip_rng=np.random.default_rng([seed, 0]),
                frame_rng=frame_rng,
            )
        for i, image in enumerate(clip):
            if apply_blur:
                image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)
            if apply_noise:
                image = image + rng.normal(0.0, noise_std, size=image.shape).astype(np.float32)
            out[start + i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
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
