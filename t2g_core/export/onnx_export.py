"""torch -> ONNX: the encode/decode wrappers around ``T2GModel``; ``export_model`` writes an export.

The backbone is put in its export-friendly form (``FrozenBackbone.export_friendly``) while the
encoder is traced, and the constant Pads that leaves are folded into their Convs
(``graph_surgery``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..labels import LabelSet
from ..modeling.memory_decoder import StackedMemory
from ..modeling.model import FrameFeatures, T2GModel
from .format import (
    DECODE_OUTPUTS,
    ENCODE_FILE,
    ENCODE_INPUTS,
    FUSE_FILE,
    FUSE_INPUTS,
    FUSE_OUTPUTS,
    GATE_FILE,
    GATE_INPUTS,
    GATE_OUTPUTS,
    MANIFEST,
    OPSET,
    ExportManifest,
    decode_file,
    decode_inputs,
    encode_outputs,
    file_sha256,
    runtime_versions,
)
from .graph_surgery import fold_pads_into_convs


class _Encode(nn.Module):
    """frame (H, W, 3) uint8 -> the current frame's pixel embedding, memory cache entry and (with the
    detail path) detail features."""

    def __init__(self, model: T2GModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, ...]:
        image = frame.permute(2, 0, 1)[None].float()  # (1, 3, H, W), RGB 0..255
        # transforms.resize_images, unconditionally: a Resize to the same size is the identity.
        image = F.interpolate(
            image, size=self.model.input_size, mode="bilinear", align_corners=False, antialias=False
        )
        features = self.model.encode_frames(image)
        # Per layer: keys (1, h, d/h, N_tok), values (1, h, N_tok, d/h).
        keys, values = self.model.trainable["memory_decoder"].split_heads(
            features.memory_keys, features.memory_values
        )
        detail = () if features.detail is None else (features.detail,)  # (1, c, h4, w4)
        return (features.pixel_embedding, *keys, *values, *detail)


class _Decode(nn.Module):
    """The current frame's pixel embedding + a memory of M frames, per layer (+ the current frame's
    detail features, last, with the detail path) -> logits."""

    def __init__(self, model: T2GModel, num_layers: int) -> None:
        super().__init__()
        self.model = model
        self.num_layers = num_layers
        self.detail = model.detail_refiner is not None

    def forward(
        self, pixel_embedding: torch.Tensor, offsets_s: torch.Tensor, *memory: torch.Tensor
    ) -> torch.Tensor:
        """``memory``: the keys (M, h, d/h, N_tok) of layers 0..L-1, then the values (M, h, N_tok,
        d/h) likewise, then the detail features with the detail path."""
        layers = self.num_layers
        stacked = StackedMemory(
            keys=tuple(k[None] for k in memory[:layers]),  # (1, M, h, d/h, N_tok)
            values=tuple(v[None] for v in memory[layers : 2 * layers]),
        )
        current = FrameFeatures(
            pixel_embedding=pixel_embedding,
            memory_keys=(),
            memory_values=(),
            detail=memory[-1] if self.detail else None,
        )
        return self.model.decode_stacked(current, stacked, offsets_s)  # (1, K, h, w)


class _Gate(nn.Module):
    """Decoded logits + the current embedding + the previous step's probabilities and embedding + its
    time offset -> the filtered logits and probabilities (``OutputGate``)."""

    def __init__(self, model: T2GModel) -> None:
        super().__init__()
        self.gate = model.output_gate

    def forward(
        self,
        logits: torch.Tensor,
        pixel_embedding: torch.Tensor,
        gate_probs: torch.Tensor,
        gate_embedding: torch.Tensor,
        state_offset_s: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gate(logits, gate_probs, pixel_embedding, gate_embedding, state_offset_s)


class _Fuse(nn.Module):
    """Current pixel embedding + the previous fused embedding + its time offset -> the fused embedding."""

    def __init__(self, model: T2GModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        pixel_embedding: torch.Tensor,
        fusion_state: torch.Tensor,
        state_offset_s: torch.Tensor,
    ) -> torch.Tensor:
        return self.model.fuse(pixel_embedding, fusion_state, state_offset_s)  # (1, d, h8, w8)


def export_model(
    model: T2GModel,
    out_dir: str | Path,
    *,
    checkpoint_sha256: str = "",
    label_set: LabelSet | None = None,
    opset: int = OPSET,
) -> ExportManifest:
    """Export ``model`` into ``out_dir`` (created; existing files of the same names are replaced).

    ``checkpoint_sha256`` and ``label_set`` (recorded in the manifest) say which checkpoint it is.

    Returns:
        The manifest, also written to ``out_dir/manifest.json`` (last, so a directory with a manifest
        is complete).
    """
    import onnx

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").eval()
    height, width = model.input_size
    capacity = model.memory_capacity
    # A frame of another size than input_size, so the traced graph resizes (the frame axes are dynamic).
    frame = torch.randint(
        0,
        256,
        (height + 3, width + 5, 3),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(0),
    )
    detail_path = model.detail_refiner is not None
    layers = model.config.decoder.num_layers
    with torch.no_grad():
        embedding, *memory = _Encode(model)(frame)
    keys, values, detail = memory[:layers], memory[layers : 2 * layers], memory[2 * layers :]
    _, heads, head_dim, tokens = keys[0].shape
    with warnings.catch_warnings(), model.backbone.export_friendly(model.input_size):
        # The TorchScript exporter warns about itself (deprecation) and about traced shape arithmetic,
        # which is constant here: the model input size is fixed.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Encode(model),
            (frame,),
            str(out / ENCODE_FILE),
            dynamo=False,
            opset_version=opset,
            input_names=list(ENCODE_INPUTS),
            output_names=list(encode_outputs(layers, detail=detail_path)),
            dynamic_axes={"frame": {0: "height", 1: "width"}},
        )
    fold_pads_into_convs(out / ENCODE_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in range(1, capacity + 1):
            offsets = -0.04 * torch.arange(m - 1, -1, -1, dtype=torch.float32)[None]  # (1, M)
            # The current frame's memory M times: (M, h, d/h, N_tok) keys, (M, h, N_tok, d/h) values.
            pieces = [k.expand(m, -1, -1, -1).contiguous() for k in keys]
            pieces += [v.expand(m, -1, -1, -1).contiguous() for v in values]
            pieces += detail  # the current frame's detail features, with the detail path
            torch.onnx.export(
                _Decode(model, layers),
                (embedding, offsets, *pieces),
                str(out / decode_file(m)),
                dynamo=False,
                opset_version=opset,
                input_names=list(decode_inputs(layers, detail=detail_path)),
                output_names=list(DECODE_OUTPUTS),
            )
        if model.pixel_fusion is not None:
            torch.onnx.export(
                _Fuse(model),
                (embedding, embedding.clone(), torch.tensor([-0.04])),
                str(out / FUSE_FILE),
                dynamo=False,
                opset_version=opset,
                input_names=list(FUSE_INPUTS),
                output_names=list(FUSE_OUTPUTS),
            )
        if model.output_gate is not None:
            logits_size = embedding.shape[-2:] if not detail_path else detail[0].shape[-2:]
            logits = torch.randn(1, model.config.num_classes, *logits_size)
            torch.onnx.export(
                _Gate(model),
                (logits, embedding, logits.softmax(1), embedding.clone(), torch.tensor([-0.04])),
                str(out / GATE_FILE),
                dynamo=False,
                opset_version=opset,
                input_names=list(GATE_INPUTS),
                output_names=list(GATE_OUTPUTS),
            )
    names = [ENCODE_FILE] + [decode_file(m) for m in range(1, capacity + 1)]
    names += [FUSE_FILE] if model.pixel_fusion is not None else []
    names += [GATE_FILE] if model.output_gate is not None else []
    for name in names:
        onnx.checker.check_model(str(out / name))
    manifest = ExportManifest(
        checkpoint_sha256=checkpoint_sha256,
        input_size=(height, width),
        memory_capacity=capacity,
        num_classes=model.config.num_classes,
        num_layers=layers,
        num_tokens=tokens,
        dim=heads * head_dim,
        num_heads=heads,
        embedding_size=tuple(embedding.shape[-2:]),
        detail_shape=tuple(detail[0].shape[1:]) if detail_path else None,
        pixel_fusion=model.pixel_fusion is not None,
        output_gate=model.output_gate is not None,
        opset=opset,
        versions=runtime_versions(),
        files={name: file_sha256(out / name) for name in names},
        labels=None
        if label_set is None
        else {
            "names": list(label_set.names),
            "colors": [list(c) for c in label_set.colors],
            "void_id": label_set.void_id,
        },
    )
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(manifest.to_json(), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return manifest
