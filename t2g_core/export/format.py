"""The ONNX export's file format: file and tensor names, the manifest, reading it back (json + hashlib).

An export directory holds ``encode.onnx``, ``decode_m{M}.onnx`` for M = 1..T, ``fuse.onnx`` when the
model has pixel fusion, ``gate.onnx`` when it has the output gate, ``quantization.json`` when it is
int8, and ``manifest.json``: its precision, its source (the checkpoint's SHA-256) and the SHA-256 of
every other file, so int8 files in an fp32 export, or an export of another checkpoint, are found
damaged. With the stride-4 detail path, ``encode.onnx`` has one more output and every decoder one more
(last) input, both named ``detail`` (see ``t2g_core.export``). This module is all an onnxruntime
deployment needs to check and read one, so it imports neither torch nor onnx.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..labels import LabelSet

FORMAT = "t2g-onnx"
# Bump when the graphs' inputs/outputs or their meaning change: cached exports of older versions rebuild.
# v6: the manifest records the precision, and an int8 export's quantization.json is hashed.
# v7: memory_frames -> memory_capacity. v8: the manifest carries the checkpoint's label set.
# v9: the output gate (gate.onnx, manifest.output_gate).
# v10: the memory per layer in the attention's head-split layout (manifest.num_heads); the decoders
# take M frames of a layer as one tensor.
FORMAT_VERSION = 10
OPSET = 17
MANIFEST = "manifest.json"
PRECISIONS = ("fp32", "int8")
# How an int8 export was quantised (t2g_core.export.quantize); listed in its manifest's files.
QUANTIZATION_FILE = "quantization.json"
ENCODE_FILE = "encode.onnx"
ENCODE_INPUTS = ("frame",)
# Then, per decoder layer l, the frame's memory keys/values in the attention's layout
# (``MemoryCrossAttention.split_heads``): ``memory_keys_{l}`` (1, h, d/h, N_tok), ``memory_values_{l}``
# (1, h, N_tok, d/h). The decoders read them as ``memory_keys_{l}`` (M, h, d/h, N_tok) and
# ``memory_values_{l}`` (M, h, N_tok, d/h): M frames of one layer, one block of a layer-major ring buffer.
ENCODE_OUTPUTS = ("pixel_embedding",)
# The detail path's per-frame features: an extra encoder output and decoder input (manifest.detail_shape).
DETAIL = "detail"
DECODE_OUTPUTS = ("logits",)
# Pixel fusion (t2g_core.modeling.temporal_fusion): the current embedding and the previous fused one -> the fused
# embedding, which the decoder reads as its pixel embedding and the next step reads as its state.
FUSE_FILE = "fuse.onnx"
FUSE_INPUTS = ("pixel_embedding", "fusion_state", "state_offset_s")
FUSE_OUTPUTS = ("fused_embedding",)

# Output gate (t2g_core.modeling.output_gate): the decoded logits, the current pixel embedding (as decoded)
# and the previous step's filtered probabilities and embedding -> the filtered logits and probabilities
# (the next state's).
GATE_FILE = "gate.onnx"
GATE_INPUTS = ("logits", "pixel_embedding", "gate_probs", "gate_embedding", "state_offset_s")
GATE_OUTPUTS = ("gated_logits", "probs")


def decode_file(frames_in_memory: int) -> str:
    """File name of the decoder graph for a memory holding ``frames_in_memory`` frames."""
    return f"decode_m{frames_in_memory}.onnx"


def memory_names(num_layers: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The per-layer memory tensors' names: keys, then values, in layer order."""
    layers = range(num_layers)
    return (
        tuple(f"memory_keys_{layer}" for layer in layers),
        tuple(f"memory_values_{layer}" for layer in layers),
    )


def encode_outputs(num_layers: int, *, detail: bool) -> tuple[str, ...]:
    """Output names of ``encode.onnx``, in order."""
    keys, values = memory_names(num_layers)
    return (*ENCODE_OUTPUTS, *keys, *values, *((DETAIL,) if detail else ()))


def decode_inputs(num_layers: int, *, detail: bool) -> tuple[str, ...]:
    """Input names of every ``decode_file(M)``, in order."""
    keys, values = memory_names(num_layers)
    return ("pixel_embedding", "offsets_s", *keys, *values, *((DETAIL,) if detail else ()))


def runtime_versions() -> dict[str, str | None]:
    """Versions that shape an export: the exporter (torch), onnx and the runtime that loads it.

    Read from the installed packages' metadata, so nothing is imported (an onnxruntime deployment
    checks its cached export without torch); None for a package that is not installed.
    """
    versions: dict[str, str | None] = {}
    for name in ("torch", "onnx", "onnxruntime"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class ExportError(ValueError):
    """An export cannot be made or used; the message names the directory or file and the problem."""


class CalibrationUnavailable(ExportError):
    """An int8 export must be built and there are no calibration frames to build it from (the
    message says how to provide them); the fp32 export is unaffected."""


@dataclass(frozen=True)
class ExportManifest:
    """What ``manifest.json`` holds.

    Attributes:
        checkpoint_sha256: SHA-256 of the checkpoint file exported ("" for an in-memory model).
        input_size: (H, W) the encoder resizes every frame to.
        memory_capacity: T, the model's memory capacity; decoders exist for M = 1..T frames in
            memory (``memory_frames`` up to format version 6).
        num_classes: K, channels of the logits.
        num_layers: L decoder layers (one memory tensor each).
        num_tokens: N_tok memory tokens per frame.
        dim: d.
        num_heads: h, attention heads of the memory (its tensors are split into h heads of d/h).
        embedding_size: (h8, w8) of the pixel embedding.
        detail_shape: (c, h4, w4) of the detail features, or ``None`` for a model without the detail
            path; the logits are (K, h4, w4) with it and (K, h8, w8) without.
        pixel_fusion: whether ``fuse.onnx`` exists (the model fuses each pixel with the fused past).
        output_gate: whether ``gate.onnx`` exists (the output is filtered with the previous one).
        opset: ONNX opset of the graphs.
        versions: torch, onnx and onnxruntime versions at export time.
        files: file name -> SHA-256 of its bytes.
        precision: ``fp32``, or ``int8`` (the backbone quantised; ``files`` then lists
            ``quantization.json`` too).
        labels: the checkpoint's label set (``names``, ``colors``, ``void_id``, as a checkpoint
            stores it), or None for an export of an in-memory model; lets an onnxruntime deployment
            run without loading the checkpoint.
    """

    checkpoint_sha256: str
    input_size: tuple[int, int]
    memory_capacity: int
    num_classes: int
    num_layers: int
    num_tokens: int
    dim: int
    num_heads: int
    embedding_size: tuple[int, int]
    detail_shape: tuple[int, int, int] | None
    pixel_fusion: bool
    opset: int
    versions: dict[str, str]
    files: dict[str, str]
    precision: str = "fp32"
    labels: dict[str, Any] | None = None
    output_gate: bool = False

    @property
    def label_set(self) -> LabelSet | None:
        """``labels`` as a ``LabelSet`` (None when the export has none)."""
        from ..labels import LabelSet

        if self.labels is None:
            return None
        return LabelSet(
            names=tuple(self.labels["names"]),
            colors=tuple(tuple(c) for c in self.labels["colors"]),
            void_id=self.labels["void_id"],
        )

    @property
    def logits_size(self) -> tuple[int, int]:
        """(h, w) of the decoders' logits."""
        return self.embedding_size if self.detail_shape is None else self.detail_shape[1:]

    def to_json(self) -> str:
        return (
            json.dumps(
                {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}, indent=2
            )
            + "\n"
        )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(export_dir: str | Path, *, verify_files: bool = True) -> ExportManifest:
    """Read and check ``export_dir/manifest.json``.

    Args:
        verify_files: also check every listed file exists with the recorded SHA-256.

    Raises:
        ExportError: missing or unreadable manifest, another format version or an unknown
            precision, a missing file or one whose bytes changed, or a ``quantization.json`` in an
            export whose manifest says fp32 (the message says which and how to rebuild).
    """
    folder = Path(export_dir)
    path = folder / MANIFEST
    if not path.is_file():
        raise ExportError(
            f"{folder}: no {MANIFEST}; not a complete t2g ONNX export (re-run t2g-export)"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT or raw.get("format_version") != FORMAT_VERSION:
            raise ExportError(
                f"{path}: format {raw.get('format')!r} version {raw.get('format_version')!r}, "
                f"this code reads {FORMAT!r} version {FORMAT_VERSION} (re-run t2g-export)"
            )
        fields = {k: v for k, v in raw.items() if k not in ("format", "format_version")}
        if fields.get("precision") not in PRECISIONS:  # required: a default would hide int8 files
            raise ValueError(f"precision {fields.get('precision')!r} is not one of {PRECISIONS}")
        fields["input_size"] = tuple(fields["input_size"])
        fields["embedding_size"] = tuple(fields["embedding_size"])
        if fields["detail_shape"] is not None:
            fields["detail_shape"] = tuple(fields["detail_shape"])
        manifest = ExportManifest(**fields)
    except ExportError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExportError(
            f"{path}: unreadable manifest ({type(exc).__name__}: {exc}); re-run t2g-export"
        ) from exc
    expected = {ENCODE_FILE} | {decode_file(m) for m in range(1, manifest.memory_capacity + 1)}
    expected |= {FUSE_FILE} if manifest.pixel_fusion else set()
    expected |= {GATE_FILE} if manifest.output_gate else set()
    expected |= {QUANTIZATION_FILE} if manifest.precision == "int8" else set()
    if set(manifest.files) != expected:
        raise ExportError(
            f"{path}: lists {sorted(manifest.files)}, expected {sorted(expected)}; "
            "re-run t2g-export"
        )
    if verify_files:
        if manifest.precision == "fp32" and (folder / QUANTIZATION_FILE).exists():
            raise ExportError(
                f"{folder}: holds {QUANTIZATION_FILE} but its manifest says fp32 (int8 files in an "
                "fp32 export?); re-run t2g-export"
            )
        for name, digest in manifest.files.items():
            if not (folder / name).is_file():
                raise ExportError(f"{folder / name}: missing from the export; re-run t2g-export")
            if file_sha256(folder / name) != digest:
                raise ExportError(
                    f"{folder / name}: contents differ from the manifest (corrupt or edited); "
                    "re-run t2g-export"
                )
    return manifest
