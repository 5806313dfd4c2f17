"""OrtStreamingSegmenter: the streaming segmenter on onnxruntime (CPU), from a ``t2g_core.export`` directory.

Same contract as ``StreamingSegmenter`` (``step``, ``reset``, ``configure``, ``memory_capacity``,
``memory_length``, ``frames_in_memory``, the reset rules and reasons; the bookkeeping is the shared
``StreamBase``). Per step:

1. ``encode.onnx`` runs on the uint8 frame as it is (the graph resizes it) and writes the new frame's
   memory keys/values straight into a slot of two preallocated, layer-major ring buffers (keys
   (L, T, h, d/h, N_tok), values (L, T, h, N_tok, d/h)) through an I/O binding, so no cache entry is
   ever copied (with the detail path it also writes the frame's detail features, which only the
   current frame's decoding reads);
2. with pixel fusion and a memory length > 1 (the memory-1 rule, ``modeling.causal``), ``fuse.onnx``
   fuses the new pixel embedding with the previous step's fused embedding (the state), and the result
   replaces the embedding and becomes the next state (``T2GModel.fuse``; no state after a reset, as
   in torch);
3. ``decode_m{M}.onnx`` reads the first M slots of each layer, one contiguous zero-copy view per layer
   (attention over the memory does not depend on the order of its frames, only each frame's own time
   offset does); the feeds and the encoder's bindings are built once;
   with the output gate and a memory length > 1, ``gate.onnx`` filters its logits with the previous
   step's probabilities (``T2GModel.step``; at the first frame they are the frame's own softmax);
4. with ``ema_alpha``, the class probabilities are smoothed over time as ``StreamingSegmenter`` does;
5. ``readout.LabelReadout`` turns the logits into labels and confidence at the frame size.

Sessions: ``intra_op_num_threads = threads``, sequential execution, all graph optimisations, and
intra-op threads that do not spin while waiting: each of the T + 1 sessions has its own pool, and with
spinning on, the encoder's idle threads spun against the decoder's on the 2-core machine (step p50
50.6 ms instead of 31.4 ms at 480x360 with 2 threads, measured in isolation). Measured again on
2026-12-07 (``results/session_variants/``, fresh processes round-robin): spinning only the encoder's
pool made the step alone faster, but the node under a 30 Hz camera on the same two cores was not (6
of 8 rows slower, ``results/node_rates_encoder_spinning/``: spinning threads take the cores the
camera, DDS and the read-out need); one process-wide spinning pool was faster still, but onnxruntime
then refuses every session with a pool of its own in that process (the int8 calibration's included).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..export.format import (
    ENCODE_FILE,
    FUSE_FILE,
    GATE_FILE,
    ExportError,
    ExportManifest,
    decode_file,
    decode_inputs,
    encode_outputs,
    load_manifest,
)
from ..labels import LabelSet
from ..modeling.causal import keeps_fusion_state
from .readout import LabelReadout
from .stream_base import StreamBase, check_ema_alpha


def session_options(threads: int):
    """onnxruntime ``SessionOptions`` for one stream on ``threads`` CPU threads."""
    import onnxruntime as ort

    if not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; warnings about unused initializers are noise here
    return options


def load_session(path: Path, threads: int, *, options: Callable[[Path, int], Any] | None = None):
    """An onnxruntime CPU session of ``path``; ``ExportError`` naming the file when it cannot be loaded.

    ``options(path, threads)`` builds its ``SessionOptions``; None: ``session_options(threads)``.
    """
    import onnxruntime as ort

    built = session_options(threads) if options is None else options(Path(path), threads)
    try:
        return ort.InferenceSession(str(path), built, providers=["CPUExecutionProvider"])
    except (
        Exception
    ) as exc:  # onnxruntime raises its own exception types (Fail, InvalidProtobuf, ...)
        raise ExportError(
            f"{path}: onnxruntime cannot load it ({type(exc).__name__}: {exc})"
        ) from exc


class OrtStreamingSegmenter(StreamBase):
    """One camera stream on onnxruntime.

    Args:
        export_dir: a directory written by ``t2g_core.export`` (checked against its manifest).
        max_gap_s: a gap between consecutive stamps larger than this (seconds) clears the memory.
        threads: onnxruntime intra-op threads.
        memory_length: frames kept in the memory, 1..T; None = the model's T.
        ema_alpha: weight of the new frame in the probability EMA, in (0, 1]; None = no smoothing.
        label_set: the classes of the exported checkpoint, None if unknown.
        session_options: ``(graph path, threads) -> SessionOptions`` for every session (a
            benchmark's candidate settings); None = :func:`session_options`.

    Raises:
        ExportError: the export is incomplete, corrupt, or onnxruntime cannot load it.
        ValueError: a bad ``threads``, ``max_gap_s`` or ``memory_length``.
    """

    def __init__(
        self,
        export_dir: str | Path,
        *,
        max_gap_s: float,
        threads: int = 2,
        memory_length: int | None = None,
        ema_alpha: float | None = None,
        label_set: LabelSet | None = None,
        session_options: Callable[[Path, int], Any] | None = None,
    ) -> None:
        check_ema_alpha(ema_alpha)
        self._ema_alpha = ema_alpha
        self._ema: np.ndarray | None = None  # (K, h, w) smoothed probabilities
        folder = Path(export_dir)
        self.manifest: ExportManifest = load_manifest(folder)
        m = self.manifest
        self._encode = load_session(folder / ENCODE_FILE, threads, options=session_options)
        self._decoders = {
            n: load_session(folder / decode_file(n), threads, options=session_options)
            for n in range(1, m.memory_capacity + 1)
        }
        slots, heads, head_dim = m.memory_capacity, m.num_heads, m.dim // m.num_heads
        # Layer-major ring buffers: [layer, slot] holds one frame's keys/values of that layer.
        self._keys = np.zeros((m.num_layers, slots, heads, head_dim, m.num_tokens), np.float32)
        self._values = np.zeros((m.num_layers, slots, heads, m.num_tokens, head_dim), np.float32)
        self._embedding = np.zeros((1, m.dim, *m.embedding_size), np.float32)
        self._detail = (
            None if m.detail_shape is None else np.zeros((1, *m.detail_shape), np.float32)
        )
        self._fuse = (
            load_session(folder / FUSE_FILE, threads, options=session_options)
            if m.pixel_fusion
            else None
        )
        self._fused = np.zeros_like(self._embedding)  # fuse.onnx output
        self._state = np.zeros_like(self._embedding)  # the previous step's (fused) embedding
        self._state_stamp: float | None = None  # its stamp; None = no state
        self._gate = (
            load_session(folder / GATE_FILE, threads, options=session_options)
            if m.output_gate
            else None
        )
        self._gate_probs: np.ndarray | None = (
            None  # (1, K, h, w) the previous filtered probabilities
        )
        # The decoder inputs of every memory size and the encoder's output binding of every slot:
        # fixed views of the ring buffers, built once.
        self._feeds = {n: self._decoder_feed(n) for n in range(1, m.memory_capacity + 1)}
        self._encode_bindings = [self._encoder_binding(slot) for slot in range(slots)]
        self._stamps: list[float] = []  # stamp of slot i, for the filled slots
        self._next_slot = 0
        # Frames larger than the model input are read out at the input size (see LabelReadout).
        self._readout = LabelReadout(threads=threads, max_size=m.input_size)
        super().__init__(
            memory_capacity=m.memory_capacity,
            memory_length=memory_length,
            max_gap_s=max_gap_s,
            label_set=label_set,
        )

    @property
    def frames_in_memory(self) -> int:
        """Frames currently held in the memory (0..memory_length)."""
        return len(self._stamps)

    def _resize_memory(self, memory_length: int) -> None:
        self._clear_memory()  # slots 0..memory_length-1 of the ring buffers are used

    def _clear_memory(self) -> None:
        self._stamps = []
        self._next_slot = 0
        self._state_stamp = None
        self._ema = None

    def _push(self, frame_rgb: np.ndarray, stamp_s: float) -> int:
        """Encode the frame into the next ring-buffer slot; return the frames now in memory."""
        slot = self._next_slot
        self.encode_into_slot(frame_rgb, slot)
        if slot < len(self._stamps):
            self._stamps[slot] = stamp_s
        else:
            self._stamps.append(stamp_s)
        self._next_slot = (slot + 1) % self.memory_length
        return len(self._stamps)

    def _segment(self, frame_rgb: np.ndarray, stamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        self._push(frame_rgb, stamp_s)
        stateful = (self._fuse is not None or self._gate is not None) and keeps_fusion_state(
            self.memory_length
        )
        past = self._state_stamp is not None  # a state to read (it is reset with the memory)
        if self._fuse is not None and stateful and past:
            self.fuse(self._state_stamp - stamp_s)
        offsets = (np.asarray(self._stamps, np.float64) - stamp_s).astype(np.float32)[
            None
        ]  # (1, M), slot order
        logits = self.decode(offsets)  # (1, K, h, w), manifest.logits_size
        if self._gate is not None and stateful:
            logits = self.gate(logits, self._state_stamp - stamp_s if past else None)
        if stateful:
            np.copyto(self._state, self._embedding)
            self._state_stamp = stamp_s
        logits = logits[0]
        if self._ema_alpha is not None:
            logits = self._smooth(logits)
        return self._readout(logits, frame_rgb.shape[:2])

    def _smooth(self, logits: np.ndarray) -> np.ndarray:
        """p̄_t = α p_t + (1-α) p̄_{t-1}; returns log p̄ (K, h, w), whose softmax is p̄."""
        probs = np.exp(logits - logits.max(axis=0, keepdims=True))
        probs /= probs.sum(axis=0, keepdims=True)
        alpha = self._ema_alpha
        self._ema = probs if self._ema is None else alpha * probs + (1 - alpha) * self._ema
        return np.log(np.maximum(self._ema, 1e-12)).astype(np.float32)

    def _decoder_feed(self, count: int) -> dict[str, np.ndarray]:
        """Inputs of ``decode_m{count}`` but ``offsets_s``: slots 0..count-1 of each layer's ring buffer."""
        layers = self.manifest.num_layers
        pieces = [self._embedding, *self._keys[:, :count], *self._values[:, :count]]
        pieces += [] if self._detail is None else [self._detail]
        detail = self._detail is not None
        names = [n for n in decode_inputs(layers, detail=detail) if n != "offsets_s"]
        return dict(zip(names, pieces, strict=True))

    def _encoder_binding(self, slot: int):
        """``encode.onnx``'s I/O binding with its outputs in place: the pixel embedding, ring-buffer
        slot ``slot`` of every layer's keys and values, and the detail features."""
        binding = self._encode.io_binding()
        layers = self.manifest.num_layers
        names = encode_outputs(layers, detail=self._detail is not None)
        targets = [self._embedding]
        targets += [keys[slot : slot + 1] for keys in self._keys]  # (1, h, d/h, N_tok) per layer
        targets += [values[slot : slot + 1] for values in self._values]
        targets += [] if self._detail is None else [self._detail]
        for name, target in zip(names, targets, strict=True):
            binding.bind_output(name, "cpu", 0, np.float32, list(target.shape), target.ctypes.data)
        return binding

    # The two graphs as one step runs them, public so a benchmark can time each alone. Neither touches
    # the stream bookkeeping (stamps, next slot, resets): ``step`` does that.

    def encode_into_slot(self, frame_rgb: np.ndarray, slot: int) -> None:
        """Run ``encode.onnx`` on ``frame_rgb`` (H, W, 3) uint8 RGB, writing the current frame's pixel
        embedding and its memory keys/values into ring-buffer slot ``slot`` (0..memory_length-1), and
        its detail features with the detail path."""
        binding = self._encode_bindings[slot]
        binding.bind_cpu_input("frame", np.ascontiguousarray(frame_rgb))
        self._encode.run_with_iobinding(binding)

    def fuse(self, state_offset_s: float) -> None:
        """Run ``fuse.onnx``: the current pixel embedding becomes its fusion with the state (the previous
        fused embedding, ``state_offset_s`` seconds earlier, <= 0)."""
        binding = self._fuse.io_binding()
        binding.bind_cpu_input("pixel_embedding", self._embedding)
        binding.bind_cpu_input("fusion_state", self._state)
        binding.bind_cpu_input("state_offset_s", np.array([state_offset_s], np.float32))
        binding.bind_output(
            "fused_embedding",
            "cpu",
            0,
            np.float32,
            list(self._fused.shape),
            self._fused.ctypes.data,
        )
        self._fuse.run_with_iobinding(binding)
        np.copyto(self._embedding, self._fused)

    def gate(self, logits: np.ndarray, state_offset_s: float | None) -> np.ndarray:
        """Run ``gate.onnx`` on the decoded ``logits`` (1, K, h, w) with the state (the previous
        filtered probabilities and embedding, ``state_offset_s`` seconds earlier, <= 0), keep the new
        probabilities as the next state and return the filtered logits. Without a state (None) the
        frame's own softmax starts the filter and the logits pass unchanged."""
        if state_offset_s is None:
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            self._gate_probs = probs / probs.sum(axis=1, keepdims=True)
            return logits
        gated, self._gate_probs = self._gate.run(
            None,
            {
                "logits": logits,
                "pixel_embedding": self._embedding,
                "gate_probs": self._gate_probs,
                "gate_embedding": self._state,
                "state_offset_s": np.array([state_offset_s], np.float32),
            },
        )
        return gated

    def decode(self, offsets_s: np.ndarray) -> np.ndarray:
        """Run ``decode_m{M}.onnx`` on the current pixel embedding and ring-buffer slots 0..M-1.

        Args:
            offsets_s: (1, M) float32, each slot's stamp minus the current frame's (<= 0), M in 1..T.

        Returns:
            logits (1, K, h, w) float32, (h, w) = ``manifest.logits_size``.
        """
        count = offsets_s.shape[1]
        return self._decoders[count].run(None, {**self._feeds[count], "offsets_s": offsets_s})[0]


__all__ = ["OrtStreamingSegmenter", "load_session", "session_options"]
