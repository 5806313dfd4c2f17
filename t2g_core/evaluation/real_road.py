"""Real dash-cam clips as a camera sends them, and the coarse region labels that score them.

The clips in ``<data_root>/video`` are unlabelled except for ``video/regions/regions.json``: on a few
frames per clip, hand-drawn polygons that certainly show sky, road, tree or car (CamVid ids). They are
evaluation data only: nothing here may feed training.

A camera on a vehicle publishes JPEG, so every frame goes through one JPEG round trip at the scorecard's
quality before a model sees it (:func:`camera_frames`), at its native size: each model resizes it to its
own input size, as the node would. Region accuracy is counted at the native size; labels read out at a
smaller size are scaled up by nearest neighbour first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .sources import decode_video

REGIONS_FORMAT = "t2g coarse region labels v1"


@dataclass(frozen=True)
class Region:
    """One polygon that certainly shows one class.

    Attributes:
        class_name: a key of :attr:`RegionLabels.classes` (``sky``, ``road``, ``tree``, ``car``).
        polygon: (N, 2) int32 vertices (x, y) in native pixels of the clip.
    """

    class_name: str
    polygon: np.ndarray


@dataclass(frozen=True)
class LabelledClip:
    """A clip and its labelled frames.

    Attributes:
        path: the clip's path under ``video/`` (``udacity_solidWhiteRight/solidWhiteRight.mp4``).
        size: native (width, height).
        frames: decode-order frame index -> its regions.
    """

    path: str
    size: tuple[int, int]
    frames: dict[int, tuple[Region, ...]]

    @property
    def name(self) -> str:
        """The clip's folder name, e.g. ``udacity_solidWhiteRight``."""
        return Path(self.path).parent.name


@dataclass(frozen=True)
class RegionLabels:
    """``regions.json``: class name -> CamVid id, and the labelled clips in file order."""

    classes: dict[str, int]
    clips: tuple[LabelledClip, ...]


def load_region_labels(path: str | Path) -> RegionLabels:
    """Read and check ``regions.json``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another format, a region of an unknown class, or a polygon of fewer than 3 points.
    """
    path = Path(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != REGIONS_FORMAT:
        raise ValueError(f"{path}: format {doc.get('format')!r}, expected {REGIONS_FORMAT!r}")
    classes = {str(k): int(v) for k, v in doc["classes"].items()}
    clips = []
    for clip_path, clip in doc["clips"].items():
        frames = {}
        for index, regions in clip["frames"].items():
            parsed = []
            for region in regions:
                if region["class"] not in classes:
                    raise ValueError(
                        f"{path}: {clip_path} frame {index}: class {region['class']!r}"
                    )
                polygon = np.asarray(region["polygon"], dtype=np.int32)
                if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
                    raise ValueError(f"{path}: {clip_path} frame {index}: bad polygon {polygon}")
                parsed.append(Region(region["class"], polygon))
            frames[int(index)] = tuple(parsed)
        width, height = clip["size"]
        clips.append(LabelledClip(clip_path, (int(width), int(height)), frames))
    return RegionLabels(classes, tuple(clips))


def region_masks(regions: tuple[Region, ...], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Class name -> (H, W) bool mask of its polygons, filled as ``cv2.fillPoly`` fills them."""
    width, height = size
    masks: dict[str, np.ndarray] = {}
    for region in regions:
        canvas = masks.setdefault(region.class_name, np.zeros((height, width), np.uint8))
        cv2.fillPoly(canvas, [region.polygon], 1)
    return {name: mask.astype(bool) for name, mask in masks.items()}


def jpeg_round_trip(frame_rgb: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> the same frame after JPEG encoding at ``quality`` and decoding."""
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError(f"JPEG encoding failed for a frame of shape {frame_rgb.shape}")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def camera_frames(
    path: str | Path, *, quality: int, max_frames: int | None = None
) -> list[np.ndarray]:
    """Every frame of a video, in order, as a camera publishing JPEG at ``quality`` delivers it:
    (H, W, 3) uint8 RGB at the native size.

    Raises:
        ValueError: the file cannot be opened or holds no frame.
    """
    frames = decode_video(path, width=None, max_frames=max_frames)
    return [jpeg_round_trip(frame, quality) for frame in frames]


def to_size(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) uint8 labels scaled to ``size`` = (width, height) by nearest neighbour (a no-op if equal)."""
    if labels.shape[::-1] == tuple(size):
        return labels
    return cv2.resize(labels, tuple(size), interpolation=cv2.INTER_NEAREST)


@dataclass
class RegionTally:
    """Region pixels and how they were labelled, per labelled frame (so frames can be resampled).

    Attributes:
        classes: class name -> CamVid id, in report order.
        hits: per labelled frame, class name -> (pixels of its regions, of those labelled that class).
        sky_as_road: per labelled frame, sky pixels labelled road.
    """

    classes: Mapping[str, int]
    hits: list[dict[str, tuple[int, int]]] = field(default_factory=list)
    sky_as_road: list[int] = field(default_factory=list)

    def add(self, labels: np.ndarray, masks: Mapping[str, np.ndarray]) -> None:
        """Count one labelled frame: ``labels`` (H, W) uint8 at the masks' size."""
        counts = {}
        for name, mask in masks.items():
            counts[name] = (int(mask.sum()), int((labels[mask] == self.classes[name]).sum()))
        self.hits.append(counts)
        sky = masks.get("sky")
        road_id = self.classes.get("road")
        within = 0 if sky is None or road_id is None else int((labels[sky] == road_id).sum())
        self.sky_as_road.append(within)

    def scores(self, frames: np.ndarray | None = None) -> dict[str, float]:
        """Region accuracy per class (pooled over ``frames``, default all), their mean over the
        classes present, and the share of sky pixels labelled road; all fractions in 0..1."""
        chosen = range(len(self.hits)) if frames is None else frames
        totals = {name: [0, 0] for name in self.classes}
        sky_road = 0
        for i in chosen:
            for name, (pixels, correct) in self.hits[i].items():
                totals[name][0] += pixels
                totals[name][1] += correct
            sky_road += self.sky_as_road[i]
        per_class = {name: c / p for name, (p, c) in totals.items() if p}
        out = {f"{name}": value for name, value in per_class.items()}
        out["mean"] = float(np.mean(list(per_class.values()))) if per_class else float("nan")
        sky_pixels = totals.get("sky", [0, 0])[0]
        out["sky_as_road"] = sky_road / sky_pixels if sky_pixels else float("nan")
        return out
