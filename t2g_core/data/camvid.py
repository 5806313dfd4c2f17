"""CamVid (SegNet 11-class version): split lists, frame names, ordered sequences, image/label loading.

Layout expected under the CamVid root (see ``../shared/data/camvid/README.md``)::

    <root>/{train,val,test}.txt          lines "<split>/images/<name>.jpg <split>/labels/<name>.png"
    <root>/<split>/images/<name>.jpg     RGB, 480x360
    <root>/<split>/labels/<name>.png     uint8 ids 0..10, void 11

``<name>`` is ``<sequence>_<frame>`` where ``<frame>`` is the index in the 30 fps source video, optionally
prefixed by ``f`` (``0001TP_008550``, ``0006R0_f02400``, ``0016E5_07959``, ``Seq05VD_f01290``), so frame times
in seconds are ``frame_number / 30``.

The test split is for the final evaluation only. Every entry point takes the split name as a required
keyword (nothing defaults to a split), and :func:`check_not_test_split` lets training code refuse it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CAMVID_VOID_ID = 11
# The 11 classes by id, as config/classes_camvid.yaml names them.
CAMVID_CLASS_NAMES = (
    "sky",
    "building",
    "pole",
    "road",
    "pavement",
    "tree",
    "sign_symbol",
    "fence",
    "car",
    "pedestrian",
    "bicyclist",
)
CAMVID_NUM_CLASSES = 11
CAMVID_SOURCE_FPS = 30.0
CAMVID_SPLITS = ("train", "val", "test")
# The shared data folder, relative to the repository root; CLIs and configs use it as their default.
DEFAULT_DATA_ROOT = Path("..") / "shared" / "data"
CAMVID_SUBDIR = "camvid"

_NAME_RE = re.compile(r"(?P<sequence>[A-Za-z0-9]+)_f?(?P<frame>\d+)")


@dataclass(frozen=True)
class CamVidFrame:
    """One labelled CamVid frame.

    ``time_s`` is the frame's time in the source video, ``frame_number / 30`` seconds.
    """

    name: str
    sequence: str
    frame_number: int
    image_path: Path
    label_path: Path

    @property
    def time_s(self) -> float:
        return self.frame_number / CAMVID_SOURCE_FPS


@dataclass(frozen=True)
class CamVidSequence:
    """Labelled frames of one continuous run of a drive, ordered by frame number.

    ``sequence`` is the drive name (``0016E5``); ``run`` numbers the runs of that drive when it was cut at
    time gaps (see :func:`group_sequences`), so ``name`` is ``0016E5`` or ``0016E5#1``.
    """

    sequence: str
    run: int
    frames: tuple[CamVidFrame, ...]

    @property
    def name(self) -> str:
        return self.sequence if self.run == 0 else f"{self.sequence}#{self.run}"

    @property
    def times_s(self) -> np.ndarray:
        """(L,) float64 seconds, strictly increasing."""
        return np.array([f.time_s for f in self.frames], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.frames)


def parse_frame_name(name: str) -> tuple[str, int]:
    """Split a CamVid frame name such as ``0006R0_f02400`` into ``("0006R0", 2400)``.

    A directory and extension are stripped first, so ``train/images/0001TP_006690.jpg`` parses too.
    """
    stem = Path(name).stem
    match = _NAME_RE.fullmatch(stem)
    if match is None:
        raise ValueError(
            f"CamVid frame name {name!r} is not '<sequence>_<frame>' (e.g. '0016E5_07959')"
        )
    return match["sequence"], int(match["frame"])


def check_split_name(split: str) -> str:
    """Return ``split`` if it is one of ``train``, ``val``, ``test``; raise ``ValueError`` otherwise."""
    if split not in CAMVID_SPLITS:
        raise ValueError(f"split {split!r} is not one of {CAMVID_SPLITS}")
    return split


def check_not_test_split(split: str) -> str:
    """Guard for training, tuning and model selection: raise ``ValueError`` for the test split."""
    check_split_name(split)
    if split == "test":
        raise ValueError(
            "split 'test' is reserved for the final evaluation; train and tune on 'train'/'val'"
        )
    return split


def camvid_root(data_root: str | Path) -> Path:
    """The CamVid folder inside the shared data folder, checked to exist.

    ``data_root`` is the shared data folder (default :data:`DEFAULT_DATA_ROOT`, which holds ``camvid/``)
    or the CamVid folder itself (the one holding the split lists ``train.txt``, ...).
    """
    data_root = Path(data_root)
    if not data_root.is_dir():
        raise FileNotFoundError(
            f"data folder {str(data_root)!r} does not exist (resolved: {data_root.resolve()}); "
            f"pass the shared data folder (default {str(DEFAULT_DATA_ROOT)!r} from the repository root)"
        )
    holds_lists = any((data_root / f"{split}.txt").is_file() for split in CAMVID_SPLITS)
    root = data_root if holds_lists else data_root / CAMVID_SUBDIR
    if not root.is_dir():
        raise FileNotFoundError(
            f"CamVid folder {str(root)!r} does not exist under {str(data_root)!r}"
        )
    return root


def read_split_list(root: str | Path, *, split: str) -> tuple[CamVidFrame, ...]:
    """Frames listed in ``<root>/<split>.txt``, in file order.

    Args:
        root: the CamVid folder, or the shared data folder holding ``camvid/``.
        split: ``train``, ``val`` or ``test`` (required: no split is a default).
    Raises:
        FileNotFoundError: the folder or the list is missing.
        ValueError: a malformed line or frame name, or an image and label of different names.
    """
    check_split_name(split)
    root = camvid_root(root)
    list_path = root / f"{split}.txt"
    if not list_path.is_file():
        raise FileNotFoundError(f"CamVid split list {str(list_path)!r} does not exist")
    frames = []
    for line_no, line in enumerate(list_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{list_path}:{line_no}: expected '<image> <label>', got {line!r}")
        image_rel, label_rel = parts
        name = Path(image_rel).stem
        if Path(label_rel).stem != name:
            raise ValueError(
                f"{list_path}:{line_no}: image {image_rel!r} and label {label_rel!r} differ"
            )
        sequence, frame_number = parse_frame_name(name)
        frames.append(
            CamVidFrame(
                name=name,
                sequence=sequence,
                frame_number=frame_number,
                image_path=root / image_rel,
                label_path=root / label_rel,
            )
        )
    return tuple(frames)


def group_sequences(
    frames: tuple[CamVidFrame, ...] | list[CamVidFrame], *, max_gap_s: float | None
) -> tuple[CamVidSequence, ...]:
    """Group frames by drive, order them by frame number, and cut a drive where labelled frames are far apart.

    Args:
        frames: frames of one split.
        max_gap_s: cut a drive into runs where consecutive labelled frames are more than this many seconds
            apart (train ``0016E5`` skips 9 s around the val run and 65 s elsewhere; a clip across such a gap
            is not one continuous shot). ``None`` keeps each drive whole.
    Returns:
        Runs sorted by (drive name, run), each ordered by frame number.
    """
    if max_gap_s is not None and not max_gap_s > 0:
        raise ValueError(f"max_gap_s must be > 0 or None, got {max_gap_s!r}")
    by_sequence: dict[str, list[CamVidFrame]] = {}
    for frame in frames:
        by_sequence.setdefault(frame.sequence, []).append(frame)
    sequences = []
    for sequence in sorted(by_sequence):
        ordered = sorted(by_sequence[sequence], key=lambda f: f.frame_number)
        for prev, cur in zip(ordered, ordered[1:]):
            if cur.frame_number == prev.frame_number:
                raise ValueError(
                    f"frame {cur.frame_number} of sequence {sequence!r} is listed twice"
                )
        runs = [[ordered[0]]]
        for prev, cur in zip(ordered, ordered[1:]):
            if max_gap_s is not None and cur.time_s - prev.time_s > max_gap_s:
                runs.append([])
            runs[-1].append(cur)
        sequences.extend(
            CamVidSequence(sequence=sequence, run=i, frames=tuple(run))
            for i, run in enumerate(runs)
        )
    return tuple(sequences)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB. Returns (H, W, 3) uint8."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"image {str(path)!r} could not be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_labels(path: str | Path, *, void_id: int = CAMVID_VOID_ID) -> np.ndarray:
    """Read a single-channel label PNG. Returns (H, W) uint8 with ids 0..void_id.

    Raises ``ValueError`` for a colour PNG or an id above ``void_id`` (e.g. a colour-coded label file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {str(path)!r} does not exist")
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if labels is None:
        raise ValueError(f"label file {str(path)!r} could not be decoded")
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(
            f"label file {str(path)!r} is {labels.dtype} with shape {labels.shape}, expected 8-bit single channel"
        )
    top = int(labels.max())
    if top > void_id:
        raise ValueError(f"label file {str(path)!r} holds id {top} > void id {void_id}")
    return labels


class CamVidSplit:
    """One CamVid split: its frames, its ordered runs, and loading.

    Args:
        data_root: the shared data folder (holding ``camvid/``) or the CamVid folder itself.
        split: ``train``, ``val`` or ``test``. Required; training code should pass it through
            :func:`check_not_test_split`.
        max_gap_s: passed to :func:`group_sequences`; 2 s keeps CamVid's 1 Hz runs together and cuts the
            9 s and 65 s gaps.
    """

    def __init__(self, data_root: str | Path, *, split: str, max_gap_s: float | None = 2.0) -> None:
        self.split = check_split_name(split)
        self.root = camvid_root(data_root)
        self.frames = read_split_list(self.root, split=split)
        self.sequences = group_sequences(self.frames, max_gap_s=max_gap_s)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def drives(self) -> tuple[str, ...]:
        """The drives (``0016E5``, ...) this split holds frames of, sorted."""
        return tuple(sorted({f.sequence for f in self.frames}))

    def select_drives(
        self, *, keep: tuple[str, ...] | None = None, drop: tuple[str, ...] = ()
    ) -> CamVidSplit:
        """A copy with the frames of the drives in ``keep`` (all when ``None``) minus those in ``drop``.

        Raises ``ValueError`` for a drive name the split does not hold (a typo would otherwise hold
        out nothing, silently).
        """
        unknown = sorted((set(keep or ()) | set(drop)) - set(self.drives))
        if unknown:
            raise ValueError(f"CamVid {self.split} has no drive {unknown}; it has {self.drives}")
        chosen = copy.copy(self)
        wanted = set(self.drives if keep is None else keep) - set(drop)
        chosen.frames = tuple(f for f in self.frames if f.sequence in wanted)
        chosen.sequences = tuple(s for s in self.sequences if s.sequence in wanted)
        return chosen

    def load(self, frame: CamVidFrame) -> tuple[np.ndarray, np.ndarray]:
        """Image (H, W, 3) uint8 RGB and labels (H, W) uint8 (void 11) of one frame."""
        image = load_image(frame.image_path)
        labels = load_labels(frame.label_path)
        if labels.shape != image.shape[:2]:
            raise ValueError(
                f"labels {str(frame.label_path)!r} {labels.shape} do not match image {image.shape[:2]}"
            )
        return image, labels
