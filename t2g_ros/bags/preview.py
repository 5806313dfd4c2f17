"""A preview PNG: one row per chosen frame, one column per source (e.g. input | per-frame | T2G)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

_BAND = 22  # pixels of the caption band above each tile
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def preview_indices(count: int, rows: int = 4) -> list[int]:
    """``rows`` frame indices spread over ``0..count-1``, the first frame left out (every model's memory
    holds only that frame there, so all columns look alike); fewer when ``count`` is small."""
    if count <= 0 or rows <= 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, rows + 1)[1:]} or {0})


class PreviewStrip:
    """Collects rows of equally sized RGB tiles and writes them as one image.

    Args:
        columns: caption of each column, e.g. ``("input", "per-frame", "T2G")``.
        tile_width: tiles are scaled to this width (aspect kept).
    """

    def __init__(self, columns: tuple[str, ...], *, tile_width: int = 320) -> None:
        self.columns = columns
        self.tile_width = tile_width
        self._rows: list[np.ndarray] = []

    def add_row(self, caption: str, tiles: list[np.ndarray]) -> None:
        """``tiles``: one ``(H, W, 3) uint8`` RGB image per column, all of one size."""
        if len(tiles) != len(self.columns):
            raise ValueError(f"{len(tiles)} tiles for {len(self.columns)} columns {self.columns}")
        height = round(tiles[0].shape[0] * self.tile_width / tiles[0].shape[1])
        scaled = [
            cv2.resize(tile, (self.tile_width, height), interpolation=cv2.INTER_AREA)
            for tile in tiles
        ]
        row = np.concatenate(
            [
                self._captioned(tile, f"{name}  {caption}")
                for tile, name in zip(scaled, self.columns)
            ],
            axis=1,
        )
        if self._rows and row.shape != self._rows[0].shape:
            row = cv2.resize(
                row, (self._rows[0].shape[1], self._rows[0].shape[0]), interpolation=cv2.INTER_AREA
            )
        self._rows.append(row)

    def __len__(self) -> int:
        return len(self._rows)

    def write(self, path: str | Path) -> Path:
        """Write the rows as a PNG; raises ``ValueError`` when there is no row, ``OSError`` when cv2 fails."""
        if not self._rows:
            raise ValueError(f"no frames to preview for {path}")
        path = Path(path)
        if not cv2.imwrite(
            str(path), cv2.cvtColor(np.concatenate(self._rows, axis=0), cv2.COLOR_RGB2BGR)
        ):
            raise OSError(f"cv2 could not write the preview {path}")
        return path

    @staticmethod
    def _captioned(tile: np.ndarray, text: str) -> np.ndarray:
        band = np.zeros((_BAND, tile.shape[1], 3), np.uint8)
        cv2.putText(band, text, (4, _BAND - 7), _FONT, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        return np.concatenate([band, tile], axis=0)
