"""Class names, colours and the void id of a label set, read from ``config/classes_*.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

_YAML_KEYS = {"name", "void_id", "classes"}
_CLASS_KEYS = {"id", "name", "color"}


@dataclass(frozen=True)
class LabelSet:
    """The K classes a model predicts, their display colours and the void (ignore) id.

    Attributes:
        names: K class names; class id k is ``names[k]`` (ids are 0..K-1).
        colors: K RGB triples, each channel an int in 0..255.
        void_id: label id ignored by losses and metrics and never predicted; in ``K..255``.
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    void_id: int

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("LabelSet needs at least one class, got names=()")
        if len(self.names) > 255:
            raise ValueError(
                f"LabelSet supports at most 255 classes (uint8 masks), got {len(self.names)}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"class names must be unique, got {self.names}")
        if len(self.colors) != len(self.names):
            raise ValueError(
                f"need one colour per class: {len(self.names)} names, {len(self.colors)} colours"
            )
        for name, color in zip(self.names, self.colors):
            if len(color) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in color):
                raise ValueError(
                    f"colour of class {name!r} must be 3 ints in 0..255, got {color!r}"
                )
        if not isinstance(self.void_id, int) or not len(self.names) <= self.void_id <= 255:
            raise ValueError(
                f"void_id must be an int in {len(self.names)}..255, got {self.void_id!r}"
            )

    @property
    def num_classes(self) -> int:
        """K, the number of predicted classes (void excluded)."""
        return len(self.names)

    @classmethod
    def from_yaml(cls, path: str | Path) -> LabelSet:
        """Read a label set file such as ``config/classes_camvid.yaml``.

        The file holds ``void_id``, an optional descriptive ``name`` and ``classes``: a list of
        ``{id, name, color: [r, g, b]}`` whose ids are exactly 0..K-1 in order.

        Raises:
            ValueError: unknown or missing keys, ids out of order, bad colours or void id.
        """
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a mapping at top level, got {type(doc).__name__}")
        unknown = set(doc) - _YAML_KEYS
        if unknown:
            raise ValueError(
                f"{path}: unknown keys {sorted(unknown)}; allowed {sorted(_YAML_KEYS)}"
            )
        if "void_id" not in doc or "classes" not in doc:
            raise ValueError(f"{path}: needs 'void_id' and 'classes'")
        names, colors = [], []
        for index, entry in enumerate(doc["classes"]):
            if not isinstance(entry, dict) or set(entry) != _CLASS_KEYS:
                raise ValueError(
                    f"{path}: class entry {index} must have exactly keys {sorted(_CLASS_KEYS)}, got {entry!r}"
                )
            if entry["id"] != index:
                raise ValueError(
                    f"{path}: class ids must be 0..K-1 in order; entry {index} has id {entry['id']!r}"
                )
            names.append(str(entry["name"]))
            colors.append(tuple(entry["color"]))
        try:
            return cls(names=tuple(names), colors=tuple(colors), void_id=doc["void_id"])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def palette_lut(self) -> np.ndarray:
        """Colour lookup table for class-id masks: ``lut[labels]`` gives an (H, W, 3) uint8 RGB image.

        Returns:
            (256, 3) uint8; row k is the colour of class k, every other row (void, 255) is black.
        """
        lut = np.zeros((256, 3), dtype=np.uint8)
        lut[: self.num_classes] = np.asarray(self.colors, dtype=np.uint8)
        return lut
