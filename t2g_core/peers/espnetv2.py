"""The pretrained ESPNetv2 (s=2.0) Cityscapes peer, as its folder's README specifies it (numpy,
OpenCV and onnxruntime only: no torch).

The folder (``../shared/peers/espnetv2_cityscapes``, read in place, never copied) holds one ONNX file
per fixed input size, ``espnetv2_s2_cityscapes_{H}x{W}.onnx``, and ``SHA256SUMS`` listing them. Per
frame (the README's contract):

1. resize the (H, W, 3) uint8 RGB frame to the file's (h, w) with bilinear interpolation;
2. ``(x / 255 - mean) / std`` with the ImageNet mean and std, as float32 (1, 3, h, w) NCHW;
3. run: ``logits`` (1, 20, h, w), already at the input resolution;
4. argmax over the 20 Cityscapes trainIds, mapped to CamVid-11 ids with :data:`CITYSCAPES_TO_CAMVID`
   (trainId 19, background, becomes void 11);
5. nearest-neighbour resize of the labels back to (H, W).

The input size follows the frame's aspect ratio: 384x512 for ~4:3 frames, 288x512 for ~16:9 ones (the
README's choice), unless one file is chosen.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import cv2
import numpy as np

from ..data.camvid import CAMVID_CLASS_NAMES, CAMVID_VOID_ID
from ..inference.stream_base import StreamBase

DEFAULT_PEER_DIR = Path(__file__).resolve().parents[3] / "shared" / "peers" / "espnetv2_cityscapes"
SUMS_FILE = "SHA256SUMS"
LICENCE_FILE = "LICENSE-EdgeNets.txt"
_FILE_SIZE = re.compile(r"^espnetv2_s2_cityscapes_(\d+)x(\d+)\.onnx$")

NUM_CITYSCAPES = 20  # 19 Cityscapes trainIds and background (19)
# The CamVid-11 classes the mapping targets, in id order (as config/classes_camvid.yaml), and void.
CAMVID_CLASSES = CAMVID_CLASS_NAMES
CAMVID_VOID = CAMVID_VOID_ID
# Cityscapes trainId -> CamVid-11 id (0 sky, 1 building, 2 pole, 3 road, 4 pavement, 5 tree,
# 6 sign_symbol, 7 fence, 8 car, 9 pedestrian, 10 bicyclist, 11 void), the README's mapping.
CITYSCAPES_TO_CAMVID = np.array(
    [
        3,  # 0 road
        4,  # 1 sidewalk
        1,  # 2 building
        1,  # 3 wall
        7,  # 4 fence
        2,  # 5 pole
        6,  # 6 traffic light
        6,  # 7 traffic sign
        5,  # 8 vegetation
        5,  # 9 terrain
        0,  # 10 sky
        9,  # 11 person
        10,  # 12 rider
        8,  # 13 car
        8,  # 14 truck
        8,  # 15 bus
        8,  # 16 train
        10,  # 17 motorcycle
        10,  # 18 bicycle
        CAMVID_VOID,  # 19 background: never correct
    ],
    dtype=np.uint8,
)
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


class PeerError(ValueError):
    """The peer folder or one of its files cannot be used (message names the path)."""


class PeerNotFoundError(PeerError, FileNotFoundError):
    """The peer folder (or the chosen file) does not exist: callers skip the peer."""


class EspNetV2Peer:
    """The peer's ONNX files, checked against ``SHA256SUMS``, and one frame's segmentation.

    Args:
        path: the peer folder, or one ``.onnx`` file in it (then every frame uses that size).
        threads: onnxruntime intra-op threads (>= 1).

    Attributes:
        folder: the peer folder.
        files: (h, w) input size -> its ONNX file, for every file listed in ``SHA256SUMS`` (only the
            chosen one when ``path`` is a file).
        sha256: file name -> its verified SHA-256.

    Raises:
        PeerNotFoundError: ``path`` does not exist.
        PeerError: no ``SHA256SUMS``, a listed file missing or whose SHA-256 differs, a file name
            without its size, an ``.onnx`` path that ``SHA256SUMS`` does not list, or a file that
            onnxruntime cannot load or whose input/output shapes are not the contract's.
        ValueError: bad ``threads``.
    """

    def __init__(self, path: str | Path = DEFAULT_PEER_DIR, *, threads: int = 1) -> None:
        if not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        path = Path(path)
        if not path.exists():
            raise PeerNotFoundError(f"{path}: the ESPNetv2 peer is not there")
        chosen = path.name if path.is_file() else None
        self.folder = path.parent if chosen else path
        self.threads = threads
        sums = _read_sums(self.folder / SUMS_FILE)
        if chosen is not None and chosen not in sums:
            raise PeerError(f"{path}: not listed in {self.folder / SUMS_FILE}")
        names = [chosen] if chosen else sorted(sums)
        self.sha256 = {name: _verify(self.folder / name, sums[name]) for name in names}
        self.files = {_size_of(name, self.folder): self.folder / name for name in names}
        if not self.files:
            raise PeerError(f"{self.folder / SUMS_FILE}: lists no ONNX file")
        # Opened now, so that an unusable file fails here, not in the middle of a stream.
        self._sessions = {
            size: _open_session(path, size, threads) for size, path in self.files.items()
        }

    def input_size_for(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """The (h, w) input size for a frame of ``frame_hw`` (H, W): the file whose aspect ratio is
        closest to the frame's (log ratio), so 4:3 -> 384x512 and 16:9 -> 288x512."""
        aspect = math.log(frame_hw[1] / frame_hw[0])
        return min(self.files, key=lambda hw: (abs(math.log(hw[1] / hw[0]) - aspect), hw))

    def logits(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Steps 1-3 of the contract: (H, W, 3) uint8 RGB -> (20, h, w) float32 Cityscapes logits at
        the input size chosen for the frame."""
        size = self.input_size_for(frame_rgb.shape[:2])
        resized = cv2.resize(frame_rgb, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        x = (resized.astype(np.float32) / 255.0 - _MEAN) / _STD  # (h, w, 3)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # (1, 3, h, w)
        session = self._sessions[size]
        return session.run(None, {session.get_inputs()[0].name: x})[0][0]

    def segment(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Segment one frame.

        Args:
            frame_rgb: (H, W, 3) uint8 RGB, any size.
        Returns:
            (H, W) uint8 CamVid-11 ids 0..10, and 11 (void) where the peer says background.
        """
        ids = self.logits(frame_rgb).argmax(axis=0)  # (h, w) trainIds
        return _resize_nearest(CITYSCAPES_TO_CAMVID[ids], frame_rgb.shape[:2])

    def segmenter(self, *, max_gap_s: float = 1.0) -> EspNetV2Segmenter:
        """A streaming segmenter on this peer (the interface of ``StreamBase``), memory of 1 frame."""
        return EspNetV2Segmenter(self, max_gap_s=max_gap_s)

    def describe(self) -> dict[str, object]:
        """Where the peer came from, for results files: folder, files with SHA-256, threads."""
        return {
            "peer": "ESPNetv2 s=2.0 Cityscapes (EdgeNets, MIT)",
            "folder": str(self.folder),
            "files": {f"{h}x{w}": p.name for (h, w), p in sorted(self.files.items())},
            "sha256": dict(self.sha256),
            "threads": self.threads,
        }


class EspNetV2Segmenter(StreamBase):
    """The peer behind the streaming interface the evaluation uses (``step``, ``reset``).

    A per-frame model: the memory is the current frame only (``memory_capacity`` 1), so the reset
    rules only report their reasons. ``step(frame_rgb (H, W, 3) uint8, stamp_s)`` returns a
    ``FrameResult`` with ``labels`` (H, W) uint8 CamVid ids (11 = void, the peer's background) and
    ``confidence`` (H, W) float32, the softmax probability of the chosen Cityscapes class.
    """

    def __init__(self, peer: EspNetV2Peer, *, max_gap_s: float) -> None:
        self.peer = peer
        self._held = 0
        super().__init__(memory_capacity=1, memory_length=1, max_gap_s=max_gap_s)

    @property
    def frames_in_memory(self) -> int:
        return self._held

    def _segment(self, frame_rgb: np.ndarray, stamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        logits = self.peer.logits(frame_rgb)  # (20, h, w)
        ids = logits.argmax(axis=0)
        top = np.take_along_axis(logits, ids[None], axis=0)[0]
        confidence = 1.0 / np.exp(logits - top).sum(axis=0)  # softmax of the argmax
        size = frame_rgb.shape[:2]
        self._held = 1
        return (
            _resize_nearest(CITYSCAPES_TO_CAMVID[ids], size),
            _resize_nearest(confidence.astype(np.float32), size),
        )

    def _resize_memory(self, memory_length: int) -> None:
        self._held = 0

    def _clear_memory(self) -> None:
        self._held = 0


def _resize_nearest(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) -> (H, W) nearest neighbour, ``size`` = (H, W)."""
    if image.shape == tuple(size):
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def _read_sums(path: Path) -> dict[str, str]:
    """``SHA256SUMS`` (``<hex>  <name>`` lines) -> name -> lowercase hex."""
    if not path.is_file():
        raise PeerError(f"{path}: missing; the peer's files cannot be verified")
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            raise PeerError(f"{path}:{number}: expected '<sha256>  <file>', got {line!r}")
        sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _verify(path: Path, expected: str) -> str:
    if not path.is_file():
        raise PeerError(f"{path}: listed in {SUMS_FILE} but missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise PeerError(
            f"{path}: SHA-256 {digest} does not match {SUMS_FILE} ({expected}); "
            "the file is corrupt or not the one the README describes"
        )
    return digest


def _size_of(name: str, folder: Path) -> tuple[int, int]:
    match = _FILE_SIZE.match(name)
    if match is None:
        raise PeerError(
            f"{folder / name}: expected a name espnetv2_s2_cityscapes_<H>x<W>.onnx (its input size)"
        )
    return int(match.group(1)), int(match.group(2))


def _open_session(path: Path, size: tuple[int, int], threads: int):
    """An onnxruntime CPU session, checked against the README's contract for ``size`` (h, w)."""
    import onnxruntime as ort

    from ..inference.ort_streaming import session_options

    try:
        session = ort.InferenceSession(
            str(path), session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own types (Fail, InvalidProtobuf, ...)
        raise PeerError(
            f"{path}: onnxruntime cannot load it ({type(exc).__name__}: {exc})"
        ) from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    want_in, want_out = [1, 3, *size], [1, NUM_CITYSCAPES, *size]
    if len(inputs) != 1 or list(inputs[0].shape) != want_in:
        got = [list(i.shape) for i in inputs]
        raise PeerError(f"{path}: expected one input of shape {want_in}, got {got}")
    if not outputs or list(outputs[0].shape) != want_out:
        got = [list(o.shape) for o in outputs]
        raise PeerError(f"{path}: expected a first output of shape {want_out}, got {got}")
    return session
