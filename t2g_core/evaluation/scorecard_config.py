"""The scorecard config (``config/scorecard.yaml``) as frozen dataclasses, and the checkpoint pairs.

A *pair* is what a release ships: a T2G checkpoint and its per-frame twin. The scorecard scores any
number of pairs; each gives three rows (T2G, per-frame, per-frame + tuned EMA), beside the ESPNetv2 peer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import from_mapping
from ..data.corruptions import WEATHER_CORRUPTIONS
from ..export.quantize import check_precision
from ..inference.backends import BACKEND_NAMES
from .config import EmaConfig

T2G_FILE = "t2g_lite0_camvid.pt"
PERFRAME_FILE = "perframe_lite0_camvid.pt"


@dataclass(frozen=True)
class Pair:
    """One release's checkpoints. ``name`` prefixes its rows (``shipped/t2g``)."""

    name: str
    t2g: str
    perframe: str


def parse_pair(spec: str) -> Pair:
    """``NAME=DIR`` (``DIR`` holds the shipped file names) or ``NAME=T2G.pt,PERFRAME.pt``.

    Raises:
        ValueError: no ``=``, a name with ``/``, or a file that does not exist.
    """
    name, sep, where = spec.partition("=")
    if not sep or not name or "/" in name or not where:
        raise ValueError(f"pair {spec!r}: expected NAME=DIR or NAME=T2G.pt,PERFRAME.pt")
    if "," in where:
        t2g, perframe = where.split(",", 1)
    else:
        t2g, perframe = str(Path(where) / T2G_FILE), str(Path(where) / PERFRAME_FILE)
    for path in (t2g, perframe):
        if not Path(path).is_file():
            raise ValueError(f"pair {name!r}: checkpoint {path!r} not found")
    return Pair(name, t2g, perframe)


@dataclass(frozen=True)
class RealRoadConfig:
    regions: str
    fps: float
    jpeg_quality: int
    strides: tuple[int, ...]
    flicker_width: int

    def __post_init__(self) -> None:
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"real_road.jpeg_quality must be 1..100, got {self.jpeg_quality}")
        if not self.strides or min(self.strides) < 1 or 1 not in self.strides:
            raise ValueError(f"real_road.strides must include 1, all >= 1, got {self.strides}")
        if self.fps <= 0 or self.flicker_width < 16:
            raise ValueError("real_road.fps must be > 0 and flicker_width >= 16")


@dataclass(frozen=True)
class ValConfig:
    sequence: str
    first_frame: int
    last_frame: int
    frame_step: int
    vc_window: int

    def __post_init__(self) -> None:
        if self.vc_window < 2 or self.frame_step < 1 or self.last_frame < self.first_frame:
            raise ValueError("camvid_val: vc_window >= 2, frame_step >= 1, last >= first frame")


@dataclass(frozen=True)
class WeatherConfig:
    corruptions: tuple[str, ...]
    severity: int

    def __post_init__(self) -> None:
        unknown = set(self.corruptions) - set(WEATHER_CORRUPTIONS)
        if not self.corruptions or unknown or self.severity not in (1, 2, 3, 4, 5):
            raise ValueError(
                f"weather: corruptions from {WEATHER_CORRUPTIONS} and severity 1..5, got "
                f"{self.corruptions} at {self.severity}"
            )


@dataclass(frozen=True)
class SpeedConfig:
    size: tuple[int, int]
    warmup_steps: int
    steps: int
    rounds: int

    def __post_init__(self) -> None:
        if self.steps < 1 or self.rounds < 2 or self.warmup_steps < 0:
            raise ValueError("speed: steps >= 1, rounds >= 2 (the spread needs two), warmup >= 0")


@dataclass(frozen=True)
class QuickConfig:
    ema_alphas: tuple[float, ...]


@dataclass(frozen=True)
class ScorecardConfig:
    """Everything ``config/scorecard.yaml`` sets; see that file for what each key means.

    Attributes:
        precision: of the t2g models (``fp32``, or ``int8``: their backbone quantised); the peer
            and the backbone-alone reference of the speed axis stay as they are.
        is_quick: True for ``--quick`` (val at stride 1 and both clips at stride 1, no test, weather or
            speed); set by :meth:`quick_variant`, never by the YAML.
    """

    data_root: str
    output_dir: str
    backend: str
    threads: int
    max_gap_s: float
    peer: str | None
    bootstrap_samples: int
    real_road: RealRoadConfig
    camvid_val: ValConfig
    weather: WeatherConfig
    ema: EmaConfig
    speed: SpeedConfig
    quick: QuickConfig
    precision: str = "fp32"
    is_quick: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {self.backend!r}")
        check_precision(self.precision)
        if self.precision != "fp32" and self.backend != "onnxruntime":
            raise ValueError(f"precision {self.precision} needs backend onnxruntime")
        if self.threads < 1 or self.bootstrap_samples < 2 or self.max_gap_s <= 0:
            raise ValueError("threads >= 1, bootstrap_samples >= 2 and max_gap_s > 0")

    def quick_variant(self) -> ScorecardConfig:
        """The ``--quick`` run: stride 1 only, fewer EMA weights, into ``<output_dir>/quick``."""
        return dataclasses.replace(
            self,
            is_quick=True,
            output_dir=str(Path(self.output_dir) / "quick"),
            real_road=dataclasses.replace(self.real_road, strides=(1,)),
            ema=dataclasses.replace(self.ema, alphas=self.quick.ema_alphas),
        )


def load_scorecard_config(path: str | Path) -> ScorecardConfig:
    """Parse and check the YAML. Raises ``ValueError`` naming the bad key."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if isinstance(doc, dict) and "is_quick" in doc:
        raise ValueError(f"{path}: is_quick is set by --quick, not by the config")
    try:
        return from_mapping(ScorecardConfig, doc, "")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
