"""T2GModel: frozen backbone -> Stability Queries -> pixel decoder -> spatio-temporal memory decoder.

``encode_frames`` runs once per frame (its features are cached in the memory); ``step`` is the one
causal step: it fuses the frame's pixel embedding with the state of the frame before, decodes it from
its memory frames ``window_start(t, T)..t`` and, with the output gate, filters the result with the
previous output. ``forward_clip`` and ``decode_frames`` (training and
validation on clips), the training loop (``ClipPairForward``) and ``StreamingSegmenter`` all call it, so
they give the same result; the rules of the window and of a memory of one frame are in
``t2g_core.modeling.causal``. The per-frame model is the same code with T = 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..config import ModelConfig
from .backbones import FrozenBackbone, build_backbone
from .causal import keeps_fusion_state, window_start
from .detail_refiner import DETAIL_STRIDE, DetailRefiner
from .memory_decoder import MemoryDecoder, StackedMemory
from .output_gate import OutputGate
from .pixel_decoder import PixelDecoder
from .stability_queries import StabilityQueries
from .temporal_fusion import PixelMemoryFusion
from .vertical_prior import VerticalPrior

# Backbone strides the Stability Queries and the pixel decoder read; stride 4 feeds only the detail path.
DECODER_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class FrameFeatures:
    """What the memory caches for N frames (one backbone pass each).

    Attributes:
        pixel_embedding: (N, d, ceil(H/8), ceil(W/8)) float32, the stride-8 per-pixel embedding.
        memory_keys: one (N, L_tok, d) tensor per decoder layer: the frame's memory keys without the
            temporal term (see ``memory_decoder``).
        memory_values: same shapes, the memory values without the temporal term.
        detail: (N, c, ceil(H/4), ceil(W/4)) the detail path's per-frame features, or ``None`` for a
            model without the detail path. Only the decoded frame's is read, never a memory frame's.
    """

    pixel_embedding: torch.Tensor
    memory_keys: tuple[torch.Tensor, ...]
    memory_values: tuple[torch.Tensor, ...]
    detail: torch.Tensor | None = None

    @property
    def num_frames(self) -> int:
        """N."""
        return self.pixel_embedding.shape[0]

    @staticmethod
    def concat(parts: Sequence[FrameFeatures]) -> FrameFeatures:
        """Join frame batches along the frame axis (e.g. features encoded in chunks)."""
        return FrameFeatures(
            pixel_embedding=torch.cat([p.pixel_embedding for p in parts]),
            memory_keys=tuple(torch.cat(ks) for ks in zip(*(p.memory_keys for p in parts))),
            memory_values=tuple(torch.cat(vs) for vs in zip(*(p.memory_values for p in parts))),
            detail=None if parts[0].detail is None else torch.cat([p.detail for p in parts]),
        )

    def select(self, index: slice | torch.Tensor) -> FrameFeatures:
        """The frames picked by ``index`` along the frame axis (a view where indexing allows)."""
        return FrameFeatures(
            pixel_embedding=self.pixel_embedding[index],
            memory_keys=tuple(k[index] for k in self.memory_keys),
            memory_values=tuple(v[index] for v in self.memory_values),
            detail=None if self.detail is None else self.detail[index],
        )


@dataclass(frozen=True)
class StepState:
    """What a causal step hands to the next (pixel fusion and output gate).

    Attributes:
        embedding: (N, d, ceil(H/8), ceil(W/8)) the last frame's pixel embedding as decoded (fused with
            its past when the model has the pixel fusion).
        time_s: (N,) float64 that frame's time in seconds.
        probs: (N, K, h, w) the last frame's filtered class probabilities (output gate), else ``None``.
    """

    embedding: torch.Tensor
    time_s: torch.Tensor
    probs: torch.Tensor | None = None


@dataclass(frozen=True)
class CausalStep:
    """Output of ``T2GModel.step``.

    Attributes:
        logits: the frame's predictions (N, K, h, w): with ``with_aux``, from the initial queries and
            layers 1..L-1 at stride 8 first; always last the output at ``output_stride``.
        state: the state the next step reads, or ``None`` (neither pixel fusion nor output gate, or a
            memory of one frame).
    """

    logits: tuple[torch.Tensor, ...]
    state: StepState | None

    @property
    def sem_logits(self) -> torch.Tensor:
        """(N, K, ceil(H/s), ceil(W/s)) the output, s = ``output_stride``."""
        return self.logits[-1]


@dataclass(frozen=True)
class ClipPrediction:
    """Output of ``T2GModel.forward_clip``.

    Attributes:
        sem_logits: (B, T, K, h, w) float32, (h, w) = ceil((H, W) / s) with s = 4 with the detail path
            and 8 without; softmax over K gives class probabilities.
        aux_sem_logits: L tensors (B, T, K, ceil(H/8), ceil(W/8)), predictions from the initial queries
            and layers 1..L-1, for deep supervision (empty when ``with_aux=False``).
    """

    sem_logits: torch.Tensor
    aux_sem_logits: tuple[torch.Tensor, ...]


class T2GModel(nn.Module):
    """Time2General video segmenter.

    Args:
        backbone: frozen feature extractor (strides 8, 16, 32).
        stability_queries: shared queries S and per-level modulation.
        pixel_decoder: FPN fusion and stride-8 pixel embedding.
        memory_decoder: spatio-temporal memory decoder and semantic head.
        pixel_fusion: per-pixel fusion of the current embedding with the fused past, or ``None``.
        detail_refiner: the stride-4 refinement of the final logits, or ``None``.
        vertical_prior: the height prior added to the pixel embedding, or ``None``.
        output_gate: the learned temporal filter of the output, or ``None``.
        memory_capacity: T, the memory's capacity in frames (current included); 1 = per-frame model.
        input_size: (H, W) frames are resized to (by ``t2g_core.transforms``) before ``encode_frames``.
        config: the config this model was built from; stored in checkpoints.

    Attributes:
        trainable: ModuleDict of every trainable module (queries, pixel decoder, memory decoder, pixel
            fusion, detail refiner, vertical prior and output gate when present); the backbone is
            outside it. Optimisers and checkpoints use exactly this.
    """

    def __init__(
        self,
        *,
        backbone: FrozenBackbone,
        stability_queries: StabilityQueries,
        pixel_decoder: PixelDecoder,
        memory_decoder: MemoryDecoder,
        pixel_fusion: PixelMemoryFusion | None,
        detail_refiner: DetailRefiner | None,
        memory_capacity: int,
        vertical_prior: VerticalPrior | None = None,
        output_gate: OutputGate | None = None,
        input_size: tuple[int, int],
        config: ModelConfig,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.trainable = nn.ModuleDict(
            {
                "stability_queries": stability_queries,
                "pixel_decoder": pixel_decoder,
                "memory_decoder": memory_decoder,
            }
        )
        if pixel_fusion is not None:
            self.trainable["pixel_fusion"] = pixel_fusion
        if detail_refiner is not None:
            self.trainable["detail_refiner"] = detail_refiner
        if vertical_prior is not None:
            self.trainable["vertical_prior"] = vertical_prior
        if output_gate is not None:
            self.trainable["output_gate"] = output_gate
        self.memory_capacity = memory_capacity
        self.input_size = tuple(input_size)
        self.config = config

    def encode_frames(self, images: torch.Tensor) -> FrameFeatures:
        """One frozen-backbone pass plus Stability-Query modulation, pixel decoding and memory projection.

        Args:
            images: (N, 3, H, W) float32 RGB in 0..255 (normally H, W = ``input_size``).

        Returns:
            FrameFeatures of the N frames.
        """
        return self.encode_backbone_features(self.backbone(images))

    def encode_backbone_features(self, features: dict[int, torch.Tensor]) -> FrameFeatures:
        """The trainable part of ``encode_frames``, from backbone maps computed earlier (a feature bank).

        Args:
            features: ``{s: (N, backbone.out_channels[s], ceil(H/s), ceil(W/s))}`` for s in (4, 8, 16, 32),
                as returned by ``self.backbone`` (stride 4 only needed with the detail path); float16
                maps are computed in float32.

        Returns:
            FrameFeatures of the N frames.
        """
        stability_queries, pixel_decoder, memory_decoder = self._parts()
        levels = stability_queries({s: features[s].float() for s in DECODER_STRIDES})
        fused, pixel_embedding = pixel_decoder(levels)
        if "vertical_prior" in self.trainable:
            pixel_embedding = self.trainable["vertical_prior"](pixel_embedding)
        keys, values = memory_decoder.project_memory(fused)
        refiner = self.detail_refiner
        return FrameFeatures(
            pixel_embedding=pixel_embedding,
            memory_keys=keys,
            memory_values=values,
            detail=None if refiner is None else refiner.encode(features[DETAIL_STRIDE].float()),
        )

    @property
    def pixel_fusion(self) -> PixelMemoryFusion | None:
        """The per-pixel temporal fusion, or ``None`` (per-frame model, or a model built without it)."""
        return self.trainable["pixel_fusion"] if "pixel_fusion" in self.trainable else None

    @property
    def output_gate(self) -> OutputGate | None:
        """The learned temporal filter of the output, or ``None``."""
        return self.trainable["output_gate"] if "output_gate" in self.trainable else None

    @property
    def keeps_state(self) -> bool:
        """Whether a step hands a state to the next (pixel fusion or output gate)."""
        return self.pixel_fusion is not None or self.output_gate is not None

    @property
    def detail_refiner(self) -> DetailRefiner | None:
        """The stride-4 detail path, or ``None`` (a model built without it)."""
        return self.trainable["detail_refiner"] if "detail_refiner" in self.trainable else None

    @property
    def output_stride(self) -> int:
        """Stride of ``decode``'s logits relative to the input: 4 with the detail path, else 8."""
        return DETAIL_STRIDE if self.detail_refiner is not None else 8

    def fuse(
        self, embedding: torch.Tensor, state: torch.Tensor | None, offset_s: torch.Tensor | None
    ) -> torch.Tensor:
        """The pixel embedding the head decodes, and the next fusion state (``temporal_fusion``).

        Args:
            embedding: (N, d, h, w) the current frames' ``FrameFeatures.pixel_embedding``.
            state: (N, d, h, w) the previous frames' fused embedding (the output of ``fuse`` for them), or
                ``None`` when there is no past (first frame, reset, memory length 1).
            offset_s: (N,) float, time of the state's frame minus the current frame's time, seconds (<= 0);
                unused without a state.

        Returns:
            (N, d, h, w) fused embedding; ``embedding`` itself without a state or without pixel fusion.
        """
        fusion = self.pixel_fusion
        if state is None or fusion is None:
            return embedding
        return fusion(embedding, state, offset_s.to(embedding.device))

    def decode(
        self,
        current: FrameFeatures,
        memory: Sequence[FrameFeatures],
        offsets_s: torch.Tensor,
        *,
        pixel_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Segment N frames from their memories.

        Args:
            current: the N frames being decoded.
            memory: M >= 1 FrameFeatures of N frames each, oldest first, normally ending with ``current``
                (memory frame m of decoded frame n is frame n of ``memory[m]``).
            offsets_s: (N, M) float, time of memory frame minus time of decoded frame in seconds (<= 0).
            pixel_embedding: (N, d, h, w) the fused embedding from ``fuse``; ``None`` decodes
                ``current.pixel_embedding`` unfused.

        Returns:
            sem_logits: (N, K, ceil(H/s), ceil(W/s)) float32, s = ``output_stride``; softmax over K gives
            class probabilities.
        """
        return self.decode_stacked(
            current, self._stack(memory), offsets_s, pixel_embedding=pixel_embedding
        )

    def decode_stacked(
        self,
        current: FrameFeatures,
        memory: StackedMemory,
        offsets_s: torch.Tensor,
        *,
        pixel_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``decode`` from a memory already in the attention's layout (the ONNX decoder's inputs)."""
        return self._decode(current, memory, offsets_s, pixel_embedding, with_aux=False)[-1]

    def decode_with_aux(
        self,
        current: FrameFeatures,
        memory: Sequence[FrameFeatures],
        offsets_s: torch.Tensor,
        *,
        pixel_embedding: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """``decode`` plus the deep-supervision predictions, for training.

        Returns:
            L + 1 tensors (N, K, h, w): from the initial queries and layers 1..L-1 at stride 8, and
            last the output (equal to ``decode``, at ``output_stride``).
        """
        return self._decode(current, self._stack(memory), offsets_s, pixel_embedding, with_aux=True)

    def forward_clip(
        self, clip: torch.Tensor, times_s: torch.Tensor, *, with_aux: bool = True
    ) -> ClipPrediction:
        """Segment every frame of a clip causally, one ``step`` per frame (``decode_frames``): frame t
        from memory frames ``window_start(t, T)``..t and from the fused pixel state of frames 0..t-1
        (the state starts empty at frame 0, as after a reset; with T = 1 there is none).

        Args:
            clip: (B, T_clip, 3, H, W) float32 RGB 0..255, frames in time order.
            times_s: (B, T_clip) frame times in seconds; only differences matter. Pass float64 for
                absolute (epoch) stamps, float32 cannot resolve them.
            with_aux: also return the deep-supervision predictions.

        Returns:
            ClipPrediction (final logits at ``output_stride``).
        """
        if clip.ndim != 5 or clip.shape[2] != 3:
            raise ValueError(f"clip must be (B, T, 3, H, W), got shape {tuple(clip.shape)}")
        b, t_clip = clip.shape[:2]
        if tuple(times_s.shape) != (b, t_clip):
            raise ValueError(f"times_s must have shape {(b, t_clip)}, got {tuple(times_s.shape)}")
        if not torch.isfinite(times_s).all():
            raise ValueError(f"times_s must be finite, got {times_s.tolist()}")
        features = self.encode_frames(
            clip.reshape(b * t_clip, *clip.shape[2:])
        )  # frame (b, t) at b*T+t
        frames = [features.select(slice(t, None, t_clip)) for t in range(t_clip)]
        per_frame = list(self.decode_frames(frames, times_s, with_aux=with_aux))
        stacked = [
            torch.stack(outputs, dim=1) for outputs in zip(*per_frame)
        ]  # each (B, T, K, h, w)
        return ClipPrediction(sem_logits=stacked[-1], aux_sem_logits=tuple(stacked[:-1]))

    def decode_frames(
        self, frames: Sequence[FrameFeatures], times_s: torch.Tensor, *, with_aux: bool = False
    ) -> Iterator[tuple[torch.Tensor, ...]]:
        """Decode encoded frames in time order, one ``step`` each from an empty state (as after a
        reset), with the model's full memory.

        Args:
            frames: FrameFeatures of N frames each (frame t of a stream), oldest first.
            times_s: (N, len(frames)) their times in seconds (float64 for absolute stamps).
            with_aux: also return the deep-supervision predictions.

        Yields:
            ``CausalStep.logits`` of each frame in turn.
        """
        times = times_s.to(torch.float64)
        state = None
        for t, current in enumerate(frames):
            first = window_start(t, self.memory_capacity)
            out = self.step(
                current,
                frames[first : t + 1],
                times[:, first : t + 1],
                state,
                memory_length=self.memory_capacity,
                with_aux=with_aux,
            )
            state = out.state
            yield out.logits

    def step(
        self,
        current: FrameFeatures,
        memory: Sequence[FrameFeatures],
        times_s: torch.Tensor,
        state: StepState | None,
        *,
        memory_length: int,
        with_aux: bool = False,
    ) -> CausalStep:
        """One causal step: fuse the current frame with the state, decode it from its memory, and filter
        the output with the previous one (output gate).

        Args:
            current: the N frames being decoded (with their detail features, if the model has the
                detail path).
            memory: M FrameFeatures of N frames each, oldest first, ending with ``current`` (frames
                ``window_start(t, memory_length)..t``), 1 <= M <= ``memory_length``.
            times_s: (N, M) the memory frames' times in seconds, the last column the current frame's;
                float64 for absolute stamps.
            state: the previous step's ``CausalStep.state``; ``None`` at the first frame or after a
                reset.
            memory_length: the memory length in use, 1..``self.memory_capacity``; with 1 no fusion state
                is read or kept (``keeps_fusion_state``).
            with_aux: also return the deep-supervision predictions (never gated).

        Returns:
            CausalStep: the frame's logits and the next state.
        """
        if not 1 <= len(memory) <= memory_length <= self.memory_capacity:
            raise ValueError(
                f"need 1 <= len(memory) <= memory_length <= {self.memory_capacity}, "
                f"got {len(memory)} frames and memory_length={memory_length}"
            )
        times = times_s.to(torch.float64)
        embedding, next_state = self.advance(
            current, times[:, -1], state, memory_length=memory_length
        )
        offsets = (times - times[:, -1:]).float()  # (N, M) <= 0
        logits = self._decode(current, self._stack(memory), offsets, embedding, with_aux=with_aux)
        gate = self.output_gate
        if gate is not None and next_state is not None:
            if state is None:  # no past: the frame's own probabilities start the filter
                probs = logits[-1].softmax(1)
            else:
                offset = (state.time_s - times[:, -1]).float()
                logits[-1], probs = gate(
                    logits[-1], state.probs, embedding, state.embedding, offset
                )
            next_state = StepState(
                embedding=next_state.embedding, time_s=next_state.time_s, probs=probs
            )
        return CausalStep(logits=tuple(logits), state=next_state)

    def advance(
        self,
        current: FrameFeatures,
        time_s: torch.Tensor,
        state: StepState | None,
        *,
        memory_length: int,
    ) -> tuple[torch.Tensor, StepState | None]:
        """The fusion half of ``step``, for frames that are not decoded (the training clips').

        Args:
            current: the N current frames.
            time_s: (N,) their times in seconds (float64 for absolute stamps).
            state: the previous step's state, or ``None``.
            memory_length: the memory length in use.

        Returns:
            (N, d, h, w) the pixel embedding to decode (fused with the state, or the frame's own), and
            the next state (``None`` without a state to keep, or with a memory of one frame); its
            ``probs`` are the output gate's and ``step`` fills them in.
        """
        if not self.keeps_state or not keeps_fusion_state(memory_length):
            return current.pixel_embedding, None
        offset = None if state is None else (state.time_s - time_s).float()  # (N,) <= 0
        fused = self.fuse(
            current.pixel_embedding, None if state is None else state.embedding, offset
        )
        return fused, StepState(embedding=fused, time_s=time_s.to(torch.float64))

    def _stack(self, memory: Sequence[FrameFeatures]) -> StackedMemory:
        if not memory:
            raise ValueError("the memory must hold at least one frame")
        return self._parts()[2].stack_memory(
            [frame.memory_keys for frame in memory], [frame.memory_values for frame in memory]
        )

    def _decode(
        self,
        current: FrameFeatures,
        memory: StackedMemory,
        offsets_s: torch.Tensor,
        pixel_embedding: torch.Tensor | None,
        *,
        with_aux: bool,
    ) -> list[torch.Tensor]:
        if tuple(offsets_s.shape) != (current.num_frames, memory.num_frames):
            raise ValueError(
                f"offsets_s must have shape (N, M) = {(current.num_frames, memory.num_frames)}, "
                f"got {tuple(offsets_s.shape)}"
            )
        stability_queries, _, memory_decoder = self._parts()
        embedding = current.pixel_embedding if pixel_embedding is None else pixel_embedding
        outputs = memory_decoder(
            queries=stability_queries.queries,
            pixel_embedding=embedding,
            memory=memory,
            offsets_s=offsets_s.to(current.pixel_embedding.device),
            with_aux=with_aux,
        )
        refiner = self.detail_refiner
        if refiner is not None:
            if current.detail is None:
                raise ValueError(
                    "this model has a detail path: the decoded frames need their detail"
                )
            outputs[-1] = refiner(outputs[-1], embedding, current.detail)
        return outputs

    def _parts(self) -> tuple[StabilityQueries, PixelDecoder, MemoryDecoder]:
        return (
            self.trainable["stability_queries"],
            self.trainable["pixel_decoder"],
            self.trainable["memory_decoder"],
        )


def build_model(cfg: ModelConfig) -> T2GModel:
    """The one place a ``ModelConfig`` becomes constructor arguments. The backbone's weights are loaded
    (frozen); the trainable modules are randomly initialised."""
    backbone = build_backbone(cfg.backbone.name, weights=cfg.backbone.weights)
    time_features = {  # τ(Δt), the same in the memory decoder and the pixel fusion
        "num_frequencies": cfg.temporal.num_frequencies,
        "min_period_s": cfg.temporal.min_period_s,
        "max_period_s": cfg.temporal.max_period_s,
    }
    return T2GModel(
        backbone=backbone,
        stability_queries=StabilityQueries(
            in_channels={s: backbone.out_channels[s] for s in DECODER_STRIDES},
            dim=cfg.dim,
            num_queries=cfg.num_queries,
        ),
        pixel_decoder=PixelDecoder(dim=cfg.dim),
        memory_decoder=MemoryDecoder(
            dim=cfg.dim,
            num_classes=cfg.num_classes,
            num_layers=cfg.decoder.num_layers,
            num_heads=cfg.decoder.num_heads,
            ffn_dim=cfg.decoder.ffn_dim,
            memory_strides=cfg.decoder.memory_strides,
            past_encoding=cfg.decoder.past_encoding,
            **time_features,
        ),
        pixel_fusion=PixelMemoryFusion(
            dim=cfg.dim,
            key_dim=cfg.fusion.key_dim,
            value_dim=cfg.fusion.value_dim,
            window=cfg.fusion.window,
            init_time_constant_s=cfg.fusion.init_time_constant_s,
            **time_features,
        )
        if cfg.pixel_fusion
        else None,
        detail_refiner=DetailRefiner(
            in_channels=backbone.out_channels[DETAIL_STRIDE],
            dim=cfg.dim,
            num_classes=cfg.num_classes,
            channels=cfg.detail.channels,
        )
        if cfg.detail.enabled
        else None,
        vertical_prior=VerticalPrior(
            dim=cfg.dim, num_frequencies=cfg.vertical_prior.num_frequencies
        )
        if cfg.vertical_prior.enabled
        else None,
        output_gate=OutputGate(init_alpha=cfg.output_gate.init_alpha, hidden=cfg.output_gate.hidden)
        if cfg.gated_output
        else None,
        memory_capacity=cfg.memory_capacity,
        input_size=cfg.input_size,
        config=cfg,
    )
