"""Class-wise appearance randomisation of CamVid training views: recolour whole classes, keep their texture.

Why: CamVid's skies are white or grey and its roads dark asphalt, so a model trained on it may learn "blue
and smooth at the top means road". Here each class of a view is recoloured the way the world varies it (a
clear, deep-blue, overcast, dusk or sunset sky; fresh, worn, concrete or wet road; green, dry, bare or autumn
trees; buildings, fences and cars of any colour; grey pavements), so colour stops being a shortcut for the
class and the model has to use shape, texture and context.

How: the image is converted to CIE Lab (OpenCV, float32 sRGB in 0..1: ``L`` in 0..100, ``a, b`` chroma).
For class ``c`` with mean ``(L_c, ab_c)`` over its pixels and a drawn look with target colour
``(L_t, ab_t)``::

    L'  = clip(L_t + g (L - L_c), 0, 100)       g ~ U(luminance_gain_range)
    ab' = s ab_t + M (ab - s ab_c)              s = clip(L / L_c, 0, 1.25)

with ``M = 0.3 I`` for a look (keep 30 % of the original chroma variation) or ``M = k R(theta)`` for a mild
hue rotation and chroma scaling (then ``ab' = M ab`` exactly). The luminance map is affine, so smooth and
monotone: every local luminance deviation (edges, cracks, leaves, clouds, lane markings) is kept, only
scaled by ``g``; its high-frequency detail is the same up to a factor. The shading ratio ``s`` scales the
target chroma with the pixel's relative lightness, so a wall in shadow becomes a darker, duller version of
its new paint rather than a saturated dark one.

A target can vary with the row inside the class region (the sky's horizon-to-zenith gradient, a wet road
reflecting more of the sky's horizon colour towards its far end). Target lightness, except the sky's, is
scaled by the view's exposure (its non-sky median lightness over a nominal one), so a dark dusk frame gets a
dark concrete road, not a glowing one. CamVid labels tree crowns whole, sky between the branches included,
so tree pixels much lighter than the crown (near the sky's lightness) take the sky's new colour, not the
foliage's. An optional glare (a soft, bright, warm-white blob) is laid over the sky and reaches a little
over its neighbours.

Each class's recoloured version is blended in with its label mask feathered by a Gaussian
(``feather_sigma_px``), so no hard label-shaped seams appear. Pixels no feathered mask reaches (void, and
classes kept as they are away from changed neighbours) are returned bit-identical.

Target colours are round sRGB values chosen from general knowledge of how skies, roads and plants look
(the constants below say what each one is); nothing is measured from the dash-cam clips, their labels or
CamVid's val/test splits. All randomness comes from the ``numpy.random.Generator`` passed in, so a seed
reproduces a draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from t2g_core.data.camvid import CAMVID_CLASS_NAMES, CAMVID_VOID_ID

# CamVid class names by id (config/classes_camvid.yaml); id 11 (void) is never recoloured.
CLASS_NAMES = CAMVID_CLASS_NAMES

# Palette looks: sRGB 0..255 stops listed from the bottom of the class region up (one stop: uniform).
_PALETTE_LOOKS: dict[str, dict[str, tuple[tuple[int, int, int], ...]]] = {
    "sky": {
        # clear-sky blue, approx. sRGB (110, 160, 220) overhead, paler and whiter near the horizon
        "clear_blue": ((175, 205, 235), (110, 160, 220)),
        # deep blue of a dry clear day, pale blue at the horizon to a saturated dark blue overhead
        "deep_blue": ((120, 160, 215), (35, 75, 165)),
        # overcast: an even light grey-white, roughly what CamVid's own skies look like
        "overcast": ((205, 208, 212),),
        # dusk: salmon-pink horizon, mauve, deep blue-purple overhead
        "dusk": ((235, 150, 120), (150, 110, 155), (55, 60, 115)),
        # sunset: orange horizon, pink, soft blue overhead
        "sunset": ((255, 180, 90), (235, 125, 110), (95, 105, 175)),
    },
    "road": {
        "fresh_asphalt": ((45, 45, 48),),  # fresh black asphalt
        "worn_grey": ((118, 116, 112),),  # worn, sun-bleached asphalt
        "concrete": ((185, 180, 168),),  # light grey-beige concrete
        # wet asphalt, darker; a reflection of the sky's horizon colour is mixed in towards the far end
        "wet": ((38, 40, 44),),
    },
    "tree": {
        "green": ((70, 100, 45),),  # summer foliage green
        "dry_yellow": ((150, 140, 75),),  # dry, yellowed foliage
        "bare": ((105, 98, 88),),  # bare branches, brownish grey
        "autumn_orange": ((185, 105, 40),),  # autumn orange
    },
    "pavement": {
        "light_grey": ((175, 174, 170),),  # light concrete slabs
        "mid_grey": ((135, 134, 131),),  # weathered paving
        "dark_grey": ((92, 92, 94),),  # dark asphalt pavement
    },
}
_RANDOM_COLOUR = "random_colour"  # any hue and chroma (painted buildings, fences, cars)
_MILD_SHIFT = "mild_shift"  # hue rotated by up to 25 degrees, chroma scaled by 0.7..1.3
_WET_REFLECTION = (0.2, 0.5)  # fraction of the sky colour mixed into the wet road at its far end
_DEFAULT_SKY = (150, 175, 205)  # reflected when the view has no sky: a pale blue-grey
# Median lightness of the non-sky part of a normally exposed street photo (shadows pull it below mid-grey
# L 50; a rule of thumb, in line with a handful of CamVid train frames, 20..54, while the dusk drive 0001TP
# sits at 5..12). The looks' lightness is meant for it and is scaled by the view's own median over this.
# The sky keeps its absolute colours.
_NOMINAL_SCENE_LIGHTNESS = 35.0
_EXPOSURE_RANGE = (0.25, 1.3)
_SUN = (255, 245, 225)  # glare: warm white

LOOKS: dict[str, tuple[str, ...]] = {
    "sky": tuple(_PALETTE_LOOKS["sky"]),
    "building": (_RANDOM_COLOUR,),
    "pole": (_MILD_SHIFT,),
    "road": tuple(_PALETTE_LOOKS["road"]),
    "pavement": tuple(_PALETTE_LOOKS["pavement"]),
    "tree": tuple(_PALETTE_LOOKS["tree"]),
    "sign_symbol": (_MILD_SHIFT,),
    "fence": (_RANDOM_COLOUR,),
    "car": (_RANDOM_COLOUR,),
    "pedestrian": (_MILD_SHIFT,),
    "bicyclist": (_MILD_SHIFT,),
}
"""Named looks of each class (by class name); one is drawn uniformly when a class is recoloured."""


@dataclass(frozen=True)
class ClassAppearanceConfig:
    """How often and how strongly classes are recoloured.

    Attributes:
        prob: probability that a view is recoloured at all.
        sky_prob, road_prob, vegetation_prob (tree), structure_prob (building and fence, each its own draw),
        car_prob, pavement_prob, minor_prob (pole, sign_symbol, pedestrian, bicyclist): probability that a
            class present in a recoloured view gets a drawn look; otherwise it keeps its own.
        glare_prob: probability of a glare blob over the sky of a recoloured view.
        feather_sigma_px: Gaussian sigma (px) of the class-mask feathering; 0 gives hard label edges.
        luminance_gain_range: (low, high) range of the luminance gain ``g`` (uniform, per class).
    """

    prob: float = 0.8
    sky_prob: float = 0.7
    road_prob: float = 0.6
    vegetation_prob: float = 0.6
    structure_prob: float = 0.5
    car_prob: float = 0.5
    pavement_prob: float = 0.4
    minor_prob: float = 0.3
    glare_prob: float = 0.2
    feather_sigma_px: float = 1.5
    luminance_gain_range: tuple[float, float] = (0.7, 1.3)

    def __post_init__(self) -> None:
        for field in self.__dataclass_fields__:
            if field.endswith("prob") and not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"{field} must be in [0, 1], got {getattr(self, field)!r}")
        if not self.feather_sigma_px >= 0.0:
            raise ValueError(f"feather_sigma_px must be >= 0, got {self.feather_sigma_px!r}")
        low, high = self.luminance_gain_range
        if not 0.0 < low <= high:
            raise ValueError(
                f"luminance_gain_range must be (low, high), 0 < low <= high, got {(low, high)!r}"
            )


_PROB_FIELD = {
    "sky": "sky_prob",
    "road": "road_prob",
    "tree": "vegetation_prob",
    "building": "structure_prob",
    "fence": "structure_prob",
    "car": "car_prob",
    "pavement": "pavement_prob",
}


def recolour_by_class(
    image: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    cfg: ClassAppearanceConfig,
    *,
    looks: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Recolour the classes of one view (see the module docstring for the method).

    Args:
        image: (H, W, 3) uint8 RGB.
        labels: (H, W) integer CamVid ids 0..10, void 11 (void pixels are never recoloured).
        rng: the source of every random draw.
        cfg: probabilities and ranges.
        looks: optional ``{class name: look name}`` (names from :data:`LOOKS`) forcing those classes to that
            look whatever the probabilities say (the contact sheet uses it); other classes follow ``cfg``.
    Returns:
        (H, W, 3) uint8 RGB, a new array; the inputs are not modified.
    Raises:
        ValueError: wrong shape or dtype, image and labels of different sizes, ids outside 0..11, or an
            unknown class or look name in ``looks``.
    """
    _check_inputs(image, labels)
    forced = _check_looks(looks or {})
    recolour_view = bool(rng.random() < cfg.prob)
    if not recolour_view and not forced:
        return image.copy()

    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    out = lab.copy()
    reach = np.zeros(labels.shape, np.float32)  # how much any change reaches each pixel
    sky = labels == 0
    new_sky = None  # the image under the sky's transform, once the sky is recoloured
    horizon_colour = _srgb_to_lab(_DEFAULT_SKY)  # what a wet road reflects
    exposure = _exposure(lab, labels)
    for class_id, name in enumerate(CLASS_NAMES):
        mask = labels == class_id
        if not mask.any():
            continue
        look = forced.get(name) or _draw_look(name, recolour_view, rng, cfg)
        weight = _feather(mask, cfg.feather_sigma_px)
        if name == "tree" and new_sky is not None:
            # Labelled tree crowns hold the sky seen between branches: give those pixels the new sky.
            through = weight * _sky_through(lab, mask, lab[sky, 0].mean())
            out += through[..., None] * (new_sky - lab)
            reach += through
            weight -= through
        if look is not None:
            recoloured = _recolour_class(lab, mask, name, look, rng, cfg, horizon_colour, exposure)
            out += weight[..., None] * (recoloured - lab)
            reach += weight
            if name == "sky":
                new_sky = recoloured
        if name == "sky":
            near_horizon = mask & (_row_position(mask) < 0.25)[:, None]
            horizon_colour = (lab if new_sky is None else new_sky)[near_horizon].mean(axis=0)
    if recolour_view and sky.any() and rng.random() < cfg.glare_prob:
        glare = _glare_field(sky, rng)
        out[..., 0] += glare * (100.0 - out[..., 0])
        out[..., 1:] += glare[..., None] * (_srgb_to_lab(_SUN)[1:] - out[..., 1:])
        reach += glare

    rgb = np.clip(cv2.cvtColor(out, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    result = np.round(rgb * 255.0).astype(np.uint8)
    untouched = reach == 0.0
    result[untouched] = image[untouched]
    return result


def _draw_look(
    name: str, recolour_view: bool, rng: np.random.Generator, cfg: ClassAppearanceConfig
) -> str | None:
    """A look drawn for class ``name``, or ``None`` to keep its own (always ``None`` if not recolour_view)."""
    if recolour_view and rng.random() < getattr(cfg, _PROB_FIELD.get(name, "minor_prob")):
        return LOOKS[name][rng.integers(len(LOOKS[name]))]
    return None


def _check_inputs(image: np.ndarray, labels: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(
            f"image must be a uint8 numpy array, got {getattr(image, 'dtype', type(image))}"
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be an integer numpy array, got {getattr(labels, 'dtype', type(labels))}"
        )
    if labels.shape != image.shape[:2]:
        raise ValueError(f"labels {labels.shape} must match the image's (H, W) {image.shape[:2]}")
    if labels.min() < 0 or labels.max() > CAMVID_VOID_ID:
        raise ValueError(
            f"label ids must be in 0..{CAMVID_VOID_ID}, got {labels.min()}..{labels.max()}"
        )


def _check_looks(looks: Mapping[str, str]) -> dict[str, str]:
    for name, look in looks.items():
        if name not in LOOKS:
            raise ValueError(f"unknown class {name!r} in looks; classes are {tuple(LOOKS)}")
        if look not in LOOKS[name]:
            raise ValueError(f"unknown look {look!r} for {name!r}; it has {LOOKS[name]}")
    return dict(looks)


def _srgb_to_lab(colours: tuple) -> np.ndarray:
    """Lab of sRGB 0..255 colours: (3,) for one colour, (N, 3) for N."""
    rgb = np.asarray(colours, np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(np.shape(colours))


def _exposure(lab: np.ndarray, labels: np.ndarray) -> float:
    """The view's exposure relative to a normal one: median lightness of its non-sky, non-void pixels over
    :data:`_NOMINAL_SCENE_LIGHTNESS`, clipped to :data:`_EXPOSURE_RANGE` (1 when there are none)."""
    scene = (labels != 0) & (labels != CAMVID_VOID_ID)
    if not scene.any():
        return 1.0
    return float(np.clip(np.median(lab[scene, 0]) / _NOMINAL_SCENE_LIGHTNESS, *_EXPOSURE_RANGE))


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) float32 weight in [0, 1]: the mask blurred by a Gaussian of ``sigma`` px (hard when 0)."""
    weight = mask.astype(np.float32)
    return cv2.GaussianBlur(weight, (0, 0), sigma) if sigma > 0 else weight


def _row_position(mask: np.ndarray) -> np.ndarray:
    """(H,) float32 per row: 0 at the bottom of the class region (95th percentile row), 1 at its top row."""
    rows = np.nonzero(mask)[0]
    top, bottom = rows.min(), np.percentile(rows, 95)
    t = (bottom - np.arange(mask.shape[0], dtype=np.float32)) / max(bottom - top, 1.0)
    return np.clip(t, 0.0, 1.0)


def _sky_through(lab: np.ndarray, mask: np.ndarray, sky_lightness: float) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how much each pixel of a tree crown (``mask``) is sky seen through it.

    A smoothstep of the lightness: 0 up to 40 % of the way from the crown's median lightness to the sky's,
    1 from 80 %; 0 everywhere when the sky is not clearly lighter than the crown.
    """
    median = float(np.median(lab[mask, 0]))
    if sky_lightness < median + 10.0:
        return np.zeros(mask.shape, np.float32)
    ramp = np.clip(((lab[..., 0] - median) / (sky_lightness - median) - 0.4) / 0.4, 0.0, 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)


def _gradient(stops: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Lab target per row: (1, 3) for one stop, else (H, 1, 3) interpolated bottom to top of the region."""
    if len(stops) == 1:
        return stops
    t = _row_position(mask)[:, None, None]
    knots = np.linspace(0.0, 1.0, len(stops))
    return np.stack([np.interp(t, knots, stops[:, k]) for k in range(3)], axis=-1)[..., 0, :]


def _recolour_class(
    lab: np.ndarray,
    mask: np.ndarray,
    name: str,
    look: str,
    rng: np.random.Generator,
    cfg: ClassAppearanceConfig,
    horizon_colour: np.ndarray,
    exposure: float,
) -> np.ndarray:
    """(H, W, 3) Lab: the whole image mapped by the transform drawn for class ``name`` (pixels ``mask``).

    ``horizon_colour`` (Lab) is what a wet road reflects; ``exposure`` scales the target lightness of every
    look but the sky's and the mild shift (which is relative to the class's own colour).
    """
    mean = lab[mask].mean(axis=0)
    gain = rng.uniform(*cfg.luminance_gain_range)
    matrix = 0.3 * np.eye(2)
    if look == _MILD_SHIFT:
        theta = np.deg2rad(rng.uniform(-25.0, 25.0))
        matrix = rng.uniform(0.7, 1.3) * np.array(
            [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
        )
        gain = 1.0
        target = np.concatenate([[mean[0] + rng.uniform(-5.0, 5.0)], matrix @ mean[1:]])
    elif look == _RANDOM_COLOUR:
        hue, chroma = rng.uniform(0.0, 2.0 * np.pi), 35.0 * rng.random() ** 2  # mostly muted
        lightness = rng.uniform(20.0, 85.0) * exposure
        target = np.array([lightness, chroma * np.cos(hue), chroma * np.sin(hue)])
    else:
        stops = _srgb_to_lab(_PALETTE_LOOKS[name][look]).reshape(-1, 3)
        if look == "wet":
            reflection = rng.uniform(*_WET_REFLECTION)
            stops = np.stack([stops[0], stops[0] + reflection * (horizon_colour - stops[0])])
        if name != "sky":
            stops[:, 0] *= exposure
        jitter = np.array([rng.uniform(-6.0, 6.0), *rng.uniform(-3.0, 3.0, size=2)])
        target = _gradient(stops + jitter, mask)
    shading = np.clip(lab[..., :1] / max(mean[0], 1.0), 0.0, 1.25)
    new = np.empty_like(lab)
    new[..., 0] = np.clip(target[..., 0] + gain * (lab[..., 0] - mean[0]), 0.0, 100.0)
    new[..., 1:] = shading * target[..., 1:] + (lab[..., 1:] - shading * mean[1:]) @ matrix.T
    return new


def _glare_field(sky: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 glare strength in [0, 1): a Gaussian blob centred on a sky pixel, limited to the sky
    and a few px around it (the mask blurred by 2 % of the image size)."""
    height, width = sky.shape
    size = max(height, width)
    rows, cols = np.nonzero(sky)
    pick = rng.integers(len(rows))
    radius = rng.uniform(0.08, 0.22) * size
    strength = rng.uniform(0.4, 0.85)
    y = np.arange(height, dtype=np.float32)[:, None] - rows[pick]
    x = np.arange(width, dtype=np.float32)[None, :] - cols[pick]
    blob = strength * np.exp(-(x**2 + y**2) / (2.0 * radius**2))
    near_sky = np.clip(2.0 * cv2.GaussianBlur(sky.astype(np.float32), (0, 0), 0.02 * size), 0, 1)
    return (blob * near_sky).astype(np.float32)
