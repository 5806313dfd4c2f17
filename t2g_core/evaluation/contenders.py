"""The models compared side by side, and running one of them over a stream of frames.

Every contender is opened by the same ``open_segmenter`` the node uses, on the run's backend, so what is
measured is what ships: the per-frame model (memory of 1 frame), the per-frame model with an EMA of its class
probabilities (the peer projects' flicker fix), and T2G with its temporal memory. The memory
ablation adds the T2G checkpoint once more with ``memory_length=1``
(:func:`memory_ablation_contender`), scored on the streaming targets only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..checkpoint import LoadedCheckpoint
from ..inference import open_segmenter
from ..inference.backends import DEFAULT_BACKEND
from ..inference.stream_base import StreamBase
from ..modeling.model import T2GModel

PERFRAME = "perframe"
PERFRAME_EMA = "perframe_ema"
T2G = "t2g"
T2G_MEMORY1 = "t2g_memory1"
# Contenders of the memory ablation only: in its own table, left out of the tables and charts that
# compare models on every target.
ABLATIONS = (T2G_MEMORY1,)


@dataclass(frozen=True)
class Contender:
    """One model as the evaluation runs it.

    Attributes:
        name: key in the results (``perframe``, ``perframe_ema``, ``t2g``, ``t2g_memory1``).
        label: name in tables and plots.
        loaded: the checkpoint, loaded (the EMA contender shares the per-frame one).
        ema_alpha: weight of the new frame in the probability EMA; None = no smoothing.
        checkpoint: path of the checkpoint ``loaded`` came from.
        backend: the inference backend it runs on (a name in ``t2g_core.inference.BACKENDS``).
        threads: CPU threads for inference.
        precision: ``fp32``, or ``int8`` (onnxruntime: the backbone quantised).
        memory_length: frames of memory the segmenter keeps (1..the model's capacity); None given
            becomes the capacity.
    """

    name: str
    label: str
    loaded: LoadedCheckpoint
    ema_alpha: float | None
    checkpoint: str
    backend: str = DEFAULT_BACKEND
    threads: int = 1
    precision: str = "fp32"
    memory_length: int | None = None

    def __post_init__(self) -> None:
        if self.memory_length is None:  # frozen: the one place the default is resolved
            object.__setattr__(self, "memory_length", self.model.memory_capacity)

    @property
    def model(self) -> T2GModel:
        return self.loaded.model

    def segmenter(self, *, max_gap_s: float, device: str) -> StreamBase:
        """A fresh streaming state (empty memory, no EMA history)."""
        return open_segmenter(
            self.checkpoint,
            backend=self.backend,
            device=device,
            threads=self.threads,
            max_gap_s=max_gap_s,
            ema_alpha=self.ema_alpha,
            loaded=self.loaded,
            memory_length=self.memory_length,
            precision=self.precision,
        )


def make_contenders(
    perframe: LoadedCheckpoint,
    t2g: LoadedCheckpoint,
    *,
    ema_alpha: float,
    paths: tuple[str, str],
    backend: str = DEFAULT_BACKEND,
    threads: int = 1,
) -> list[Contender]:
    """The three contenders, in table order.

    Args:
        perframe, t2g: the loaded checkpoints; ``perframe`` must be a per-frame model (memory of 1).
        ema_alpha: the tuned EMA weight, in (0, 1].
        paths: checkpoint paths (per-frame, T2G) recorded in the results.
        backend, threads: what every contender runs on.
    Raises:
        ValueError: the per-frame checkpoint has a temporal memory, or the two label sets differ.
    """
    if perframe.model.memory_capacity != 1:
        raise ValueError(
            f"{paths[0]}: the per-frame checkpoint has a memory capacity of "
            f"{perframe.model.memory_capacity} frames, expected 1"
        )
    if perframe.label_set != t2g.label_set:
        raise ValueError(
            f"{paths[0]} and {paths[1]} have different label sets; they cannot be compared"
        )
    runtime = {"backend": backend, "threads": threads}
    return [
        Contender(PERFRAME, "per-frame", perframe, None, paths[0], **runtime),
        Contender(
            PERFRAME_EMA,
            f"per-frame + EMA (α={ema_alpha:g})",
            perframe,
            ema_alpha,
            paths[0],
            **runtime,
        ),
        Contender(T2G, "T2G", t2g, None, paths[1], **runtime),
    ]


def memory_ablation_contender(t2g: Contender) -> Contender | None:
    """The T2G contender's checkpoint with ``memory_length=1``: no query memory and no fused pixel
    state. None when the checkpoint has no memory to ablate (capacity 1)."""
    if t2g.model.memory_capacity <= 1:
        return None
    return dataclasses.replace(
        t2g, name=T2G_MEMORY1, label=f"{t2g.label}, memory 1", memory_length=1
    )


def predict_stream(
    contender: Contender,
    frames: Iterable[np.ndarray],
    stamps_s: Iterable[float],
    *,
    max_gap_s: float,
    device: str,
    tick: Callable[[], object] | None = None,
) -> list[np.ndarray]:
    """Segment frames in order from a fresh streaming state.

    Args:
        frames: (H, W, 3) uint8 RGB frames in time order.
        stamps_s: their capture times in seconds, aligned with ``frames``.
        tick: called after every frame (a progress bar's ``update``).
    Returns:
        One (H, W) uint8 label map (ids 0..K-1) per frame.
    """
    return predict_streams(
        [contender], frames, stamps_s, max_gap_s=max_gap_s, device=device, tick=tick
    )[0]


def predict_streams(
    contenders: Sequence[Contender],
    frames: Iterable[np.ndarray],
    stamps_s: Iterable[float],
    *,
    max_gap_s: float,
    device: str,
    tick: Callable[[], object] | None = None,
) -> list[list[np.ndarray]]:
    """:func:`predict_stream` for several contenders in lockstep, each from its own fresh state.

    Frame t goes to every contender before frame t+1 is read, so their predictions of one stream can
    be compared without streaming the frames twice.

    Returns:
        Per contender (in order), one (H, W) uint8 label map per frame.
    """
    segmenters = [c.segmenter(max_gap_s=max_gap_s, device=device) for c in contenders]
    preds: list[list[np.ndarray]] = [[] for _ in contenders]
    for frame, stamp in zip(frames, stamps_s, strict=True):
        for segmenter, out in zip(segmenters, preds):
            out.append(segmenter.step(frame, float(stamp)).labels)
            if tick is not None:
                tick()
    return preds
