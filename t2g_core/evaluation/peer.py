"""The pretrained ESPNetv2 Cityscapes peer as a contender (``t2g_core.peers.espnetv2``).

It is scored on CamVid test, the weather targets and the real video, and timed, beside the three
contenders of ``contenders``; it is not scored on the val run (T2G's selection split). Its folder is
read in place (``models.espnetv2_peer`` of the config); a missing folder skips the peer with a
message, a corrupt one is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..labels import LabelSet
from ..meters import ratio
from ..peers.espnetv2 import (
    CAMVID_CLASSES,
    CAMVID_VOID,
    EspNetV2Peer,
    EspNetV2Segmenter,
    PeerNotFoundError,
)

ESPNETV2_PEER = "espnetv2_peer"
ESPNETV2_LABEL = "ESPNetv2 Cityscapes (pretrained peer)"


@dataclass(frozen=True)
class PeerContender:
    """The peer with the interface the scoring functions use from a ``Contender``.

    Attributes:
        name, label: key in the results and name in tables.
        peer: the opened, verified peer.
    """

    name: str
    label: str
    peer: EspNetV2Peer
    ema_alpha: None = None
    memory_length: int = 1

    @property
    def checkpoint(self) -> str:
        """The peer folder, where a contender records its checkpoint."""
        return str(self.peer.folder)

    def segmenter(self, *, max_gap_s: float, device: str) -> EspNetV2Segmenter:
        """A fresh per-frame stream (onnxruntime on CPU whatever ``device``)."""
        return self.peer.segmenter(max_gap_s=max_gap_s)

    def model_entry(self) -> dict[str, Any]:
        """Its ``models`` entry in ``results.json`` (provenance: the peer's files and SHA-256)."""
        return {
            "name": self.name,
            "label": self.label,
            "checkpoint": self.checkpoint,
            "ema_alpha": None,
            "memory_length": self.memory_length,
            "provenance": self.peer.describe(),
        }


def open_peer_contender(
    path: str | None, *, label_set: LabelSet, threads: int
) -> tuple[PeerContender | None, str | None]:
    """The peer contender, or None and why it is skipped.

    Args:
        path: the peer folder (``models.espnetv2_peer``); None = disabled.
        label_set: the T2G checkpoint's classes; the peer predicts CamVid-11 and is skipped otherwise.
        threads: onnxruntime threads.
    Returns:
        (contender, None), or (None, message) when disabled, the folder is missing, or the classes
        differ.
    Raises:
        PeerError: the folder is there but a file is missing, corrupt or unusable.
    """
    if path is None:
        return None, "ESPNetv2 peer skipped: models.espnetv2_peer is null"
    if tuple(label_set.names) != CAMVID_CLASSES or label_set.void_id != CAMVID_VOID:
        return None, (
            "ESPNetv2 peer skipped: it predicts the CamVid-11 classes and the checkpoints have "
            f"{list(label_set.names)} (void {label_set.void_id})"
        )
    try:
        peer = EspNetV2Peer(Path(path), threads=threads)
    except PeerNotFoundError as exc:
        return None, f"ESPNetv2 peer skipped: {exc}"
    return PeerContender(ESPNETV2_PEER, ESPNETV2_LABEL, peer), None


def peer_comparison(targets: dict[str, Any], *, t2g: str, peer: str) -> dict[str, Any]:
    """T2G against the peer on the targets both ran, from the ``targets`` of ``results.json``.

    Returns:
        ``{t2g, peer, miou_points_ahead, corrupted_retention: {t2g, peer},
        corrupted_miou_points_ahead, flicker_ratio: [{stride, ratio}]}`` for what is present;
        points are mIoU percentage points (T2G - peer), ratios T2G flicker / peer flicker (below 1:
        T2G flickers less; None where the peer does not flicker, ``t2g_core.meters.ratio``).
    """
    out: dict[str, Any] = {"t2g": t2g, "peer": peer}
    test = targets.get("camvid_test", {}).get("models", {})
    if t2g in test and peer in test:
        out["miou_points_ahead"] = 100 * (test[t2g]["miou"] - test[peer]["miou"])
    mean = targets.get("camvid_corrupted", {}).get("mean", {})
    if t2g in mean and peer in mean:
        out["corrupted_miou_points_ahead"] = 100 * (mean[t2g]["miou"] - mean[peer]["miou"])
        out["corrupted_retention"] = {
            "t2g": mean[t2g]["retention"],
            "peer": mean[peer]["retention"],
        }
    video = targets.get("video", {}).get("models", {})
    if t2g in video and peer in video:
        rates = {e["stride"]: e["rate"] for e in video[peer]["per_stride"]}
        out["flicker_ratio"] = [
            {"stride": e["stride"], "ratio": ratio(e["rate"], rates.get(e["stride"]))}
            for e in video[t2g]["per_stride"]
        ]
    return out
