"""Synthetic weather and light, of our own making, for training-time augmentation.

Every effect takes frames ``(L, H, W, 3)`` float32 RGB in 0..255 (a clip or a chunk of one), a ``severity``
in [0, 1] and two generators. What belongs to the scene or the lens (haze field, frost texture, colour
cast, glare, rain angle) comes from ``clip_rng``, which the caller seeds identically for every chunk of a
clip, so the clip stays a plausible video and long clips can be processed in chunks; only what moves
(rain streaks, snow flakes, sensor noise) comes from ``frame_rng``, drawn per frame. ``clip_rng`` is
consumed the same way whatever the number of frames. Labels are never touched: weather changes how a
scene looks, not what it is. Output is float32, not clipped (the caller rounds to uint8 once at the end).

Evaluation uses the ``imagecorruptions`` package as unseen shifts, so nothing here uses or copies it: the
formulas below are written from the physics (Koschmieder haze, screen-blended streaks, a fractal-noise lens
texture, gamma low light).
"""

from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(
    rng: np.random.Generator, *, height: int, width: int, cells: int, octaves: int = 1
) -> np.ndarray:
    """Low-frequency fractal value noise (H, W) float32 in [0, 1].

    ``N = sum_k 2^-k U_k(grid of cells * 2^k) / sum_k 2^-k``: random coarse grids upsampled bicubically,
    each octave twice finer and half as strong, then min-max normalised.
    """
    total = np.zeros((height, width), np.float32)
    for k in range(octaves):
        n = cells * 2**k
        grid = rng.random((n, max(2, round(n * width / height)))).astype(np.float32)
        total += 0.5**k * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def haze(
    clip: np.ndarray,
    *,
    severity: float,
    clip_rng: np.random.Generator,
    frame_rng: np.random.Generator,
) -> np.ndarray:
    """Fog / haze with the Koschmieder model, one field per clip.

    ``I = J t + A (1 - t)``, ``t = exp(-beta d)``, ``beta = 0.3 + 2.7 severity``. The depth proxy ``d`` is 1
    above a random horizon row ``y_h`` (sky and far scene) and ``((H - y) / (H - y_h))^1.5`` below (the road
    near the camera is close), times ``0.55 + 0.45 N`` with ``N`` a low-frequency noise field (patchy fog).
    The airlight ``A`` is a light grey with a slight random tint. Higher severity lowers ``t`` everywhere, so
    contrast falls monotonically.
    """
    _, height, width, _ = clip.shape
    horizon = clip_rng.uniform(0.3, 0.55) * height
    rows = np.arange(height, dtype=np.float32)[:, None]
    depth = np.clip((height - rows) / (height - horizon), 0.0, 1.0) ** 1.5
    depth = depth * (
        0.55 + 0.45 * smooth_noise(clip_rng, height=height, width=width, cells=3, octaves=2)
    )
    airlight = 255.0 * clip_rng.uniform(0.72, 0.95) * (1.0 + clip_rng.uniform(-0.04, 0.04, size=3))
    beta = 0.3 + 2.7 * severity
    t = np.exp(-beta * depth)[None, ..., None].astype(np.float32)
    return clip * t + airlight.astype(np.float32) * (1.0 - t)


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """(k, k) float32 kernel of a line of ``length`` px at ``angle_deg`` from vertical, summing to 1."""
    size = length | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = np.sin(np.deg2rad(angle_deg)) * c, np.cos(np.deg2rad(angle_deg)) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return kernel / kernel.sum()


def rain(
    clip: np.ndarray,
    *,
    severity: float,
    clip_rng: np.random.Generator,
    frame_rng: np.random.Generator,
) -> np.ndarray:
    """Rain: darkened, slightly blurred scene with bright streaks at one angle per clip.

    Per clip: angle ``a ~ U(-25, 25)`` deg, streak length ``l = 8 + 22 severity`` px, darkening
    ``k = 1 - 0.3 severity``, blur sigma ``0.4 + 1.2 severity``. Per frame: sparse drops ``D`` (density
    ``0.001 + 0.008 severity``, brightness ``U(0.5, 1)``) convolved with a line kernel of length ``l`` at
    ``a``: ``S = clip(0.6 l (D * line), 0, 1)``; ``I = k blur(J) + o S (230 - k blur(J))`` (screen-like
    blend, opacity ``o = 0.5 + 0.4 severity``). Streaks are rendered at half resolution and upsampled
    bilinearly: four times cheaper, and real streaks are soft anyway.
    """
    _, height, width, _ = clip.shape
    small_h, small_w = (height + 1) // 2, (width + 1) // 2
    kernel = _line_kernel(int(4 + 11 * severity), clip_rng.uniform(-25.0, 25.0))
    density = 4 * (0.001 + 0.008 * severity)  # per half-resolution pixel
    darken = 1.0 - 0.3 * severity
    sigma = 0.4 + 1.2 * severity
    opacity = 0.5 + 0.4 * severity
    out = np.empty_like(clip)
    for i, frame in enumerate(clip):
        base = darken * cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma)
        draw = frame_rng.random((small_h, small_w), dtype=np.float32)
        # One draw gives both where the drops are and how bright: U(0.5, 1) inside, 0 outside.
        drops = np.where(draw < density, 0.5 + 0.5 * draw / density, 0.0).astype(np.float32)
        streaks = cv2.filter2D(drops, -1, kernel) * (kernel.shape[0] * 0.6)
        streaks = cv2.resize(streaks, (width, height), interpolation=cv2.INTER_LINEAR)
        out[i] = base + (opacity * np.clip(streaks, 0.0, 1.0))[..., None] * (230.0 - base)
    return out


_SNOW_LAYERS = ((0.6, 1.0), (1.2, 0.35), (2.6, 0.08))  # (flake blur sigma px, relative density)


def snow(
    clip: np.ndarray,
    *,
    severity: float,
    clip_rng: np.random.Generator,
    frame_rng: np.random.Generator,
) -> np.ndarray:
    """Snow: a whitening veil plus flakes of several sizes, the large ones blurred (out of focus).

    Per clip: veil ``v = 0.08 + 0.3 severity`` towards a cold white ``W``, fall angle, flake brightness.
    Per frame and layer ``(s, r)``: drops with density ``r (0.001 + 0.006 severity)`` blurred with sigma
    ``s`` and a short motion kernel, rescaled by ``2 pi s^2`` so a flake peaks near 1:
    ``M = clip(sum_layers, 0, 1)``; ``I = ((1 - v) J + v W)(1 - M) + M b``.
    """
    _, height, width, _ = clip.shape
    veil = 0.08 + 0.3 * severity
    white = np.float32(255.0) * np.array([0.93, 0.95, 1.0], np.float32)
    motion = _line_kernel(int(3 + 6 * severity), clip_rng.uniform(-30.0, 30.0))
    bright = clip_rng.uniform(225.0, 250.0)
    density = 0.001 + 0.006 * severity
    out = np.empty_like(clip)
    for i, frame in enumerate(clip):
        mask = np.zeros((height, width), np.float32)
        # One uniform draw per pixel, split into disjoint intervals: one interval per layer.
        draw = frame_rng.random((height, width), dtype=np.float32)
        low = 0.0
        for sigma, share in _SNOW_LAYERS:
            drops = ((draw >= low) & (draw < low + share * density)).astype(np.float32)
            low += share * density
            mask += cv2.GaussianBlur(drops, (0, 0), sigmaX=sigma) * np.float32(2 * np.pi * sigma**2)
        # Convolution is linear: one motion blur of the sum equals the sum of the blurred layers.
        mask = cv2.filter2D(mask, -1, motion) * min(motion.shape[0], 3)
        mask = np.clip(mask, 0.0, 1.0)[..., None]
        veiled = (1.0 - veil) * frame + veil * white
        out[i] = veiled * (1.0 - mask) + mask * bright
    return out


def frost(
    clip: np.ndarray,
    *,
    severity: float,
    clip_rng: np.random.Generator,
    frame_rng: np.random.Generator,
) -> np.ndarray:
    """Frost or dirt on the lens: a smooth procedural texture, fixed for the clip (it sits on the lens).

    ``T = 0.7 N_coarse + 0.3 N_fine`` (fractal value noise) plus ``0.35 r^2`` (thicker towards the edges,
    ``r`` the normalised radius). Coverage ``M = smoothstep(c, c + 0.25, T)`` with threshold
    ``c = 0.95 - 0.6 severity``, opacity ``o = 0.45 + 0.45 severity``. Under the texture the scene is blurred
    (light scatters): ``I = J (1 - M) + (blur(J) (1 - o) + o C G) M`` with ``C`` icy white-blue (frost) or a
    dark brown (dirt), chosen per clip, and ``G = 0.75 + 0.5 (X - 0.5)`` a grain: high-frequency noise
    smeared along two random directions (line kernels), which gives frost its crystal needles.
    """
    _, height, width, _ = clip.shape
    coarse = smooth_noise(clip_rng, height=height, width=width, cells=4, octaves=3)
    fine = smooth_noise(clip_rng, height=height, width=width, cells=24, octaves=2)
    yy, xx = np.mgrid[-1 : 1 : complex(height), -1 : 1 : complex(width)].astype(np.float32)
    texture = 0.7 * coarse + 0.3 * fine + 0.35 * (xx**2 + yy**2) / 2
    low = 0.95 - 0.6 * severity
    x = np.clip((texture - low) / 0.25, 0.0, 1.0)
    mask = (x * x * (3 - 2 * x))[..., None]
    opacity = 0.45 + 0.45 * severity
    if clip_rng.random() < 0.6:
        colour = np.array([215.0, 228.0, 245.0], np.float32) * clip_rng.uniform(0.9, 1.05)
    else:
        colour = np.array([95.0, 82.0, 62.0], np.float32) * clip_rng.uniform(0.7, 1.2)
    grain = clip_rng.random((height, width), dtype=np.float32)
    angle = clip_rng.uniform(0.0, 180.0)
    grain = sum(
        cv2.filter2D(grain, -1, _line_kernel(9, angle + turn)) for turn in (0.0, 70.0)
    ) / np.float32(2)
    low, high = float(grain.min()), float(grain.max())
    grain = (0.75 + 0.5 * ((grain - low) / max(high - low, 1e-6) - 0.5))[..., None]
    overlay = (opacity * colour * grain).astype(np.float32)
    sigma = 1.5 + 3.0 * severity
    out = np.empty_like(clip)
    for i, frame in enumerate(clip):
        scattered = cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma) * (1 - opacity) + overlay
        out[i] = frame * (1.0 - mask) + scattered * mask
    return out


def night(
    clip: np.ndarray,
    *,
    severity: float,
    clip_rng: np.random.Generator,
    frame_rng: np.random.Generator,
) -> np.ndarray:
    """Low light: gamma darkening, a colour cast, optional headlight-like glare, sensor noise.

    ``I = 255 g (J / 255)^gamma * tint + glare + n`` with ``gamma = 1 + 1.8 severity``,
    ``g = 1 - 0.55 severity``, ``tint`` a per-clip bluish or sodium-orange cast, ``glare`` (probability 0.5)
    1-3 radial glows ``255 a exp(-r^2 / (2 s^2))`` of warm white near the horizon, and ``n`` Gaussian noise
    of std ``2 + 10 severity`` drawn per frame (dark frames are noisy) at half resolution and upsampled
    bilinearly: low-light noise after demosaicing and denoising is spatially correlated, and it is 3x
    cheaper to draw.
    """
    _, height, width, _ = clip.shape
    gamma = 1.0 + 1.8 * severity
    gain = 1.0 - 0.55 * severity
    if clip_rng.random() < 0.5:
        tint = np.array([0.85, 0.92, 1.1], np.float32)  # moonlight / LED: blue
    else:
        tint = np.array([1.12, 0.95, 0.7], np.float32)  # sodium street lights: orange
    tint = 1.0 + (tint - 1.0) * clip_rng.uniform(0.3, 1.0) * severity
    glare = np.zeros((height, width, 1), np.float32)
    if clip_rng.random() < 0.5:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        for _ in range(int(clip_rng.integers(1, 4))):
            cy, cx = clip_rng.uniform(0.35, 0.6) * height, clip_rng.uniform(0.1, 0.9) * width
            s = clip_rng.uniform(0.02, 0.07) * width
            glare[..., 0] += clip_rng.uniform(0.4, 0.9) * np.exp(
                -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s)
            )
    glare = 255.0 * severity * glare * np.array([1.0, 0.95, 0.8], np.float32)
    noise_std = 2.0 + 10.0 * severity
    scale = (255.0 * gain * tint).astype(np.float32)
    small = ((height + 1) // 2, (width + 1) // 2, 3)
    out = np.empty_like(clip)
    for i, frame in enumerate(clip):
        dark = cv2.pow(np.clip(frame, 0.0, 255.0) * np.float32(1 / 255), gamma) * scale + glare
        noise = frame_rng.standard_normal(small, dtype=np.float32) * np.float32(noise_std)
        out[i] = dark + cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    return out


EFFECTS = {"night": night, "haze": haze, "rain": rain, "snow": snow, "frost": frost}
