"""ONNX export of a T2G checkpoint for onnxruntime, and the cache the node and bag tools build it into.

The streaming step is split where its state is: the memory of the last T frames' keys and values.

- ``encode.onnx``: ``frame`` (H, W, 3) uint8 RGB, any H and W -> ``pixel_embedding`` (1, d, h8, w8),
  ``memory_keys`` and ``memory_values`` (1, L, N_tok, d) float32. It holds the shared transform (cast,
  HWC -> CHW, one bilinear ``Resize`` to the model's ``input_size``, as ``t2g_core.transforms``), the
  frozen backbone, the Stability Queries, the pixel decoder and the per-layer memory K/V projection:
  ``T2GModel.encode_frames``.
- ``decode_m{M}.onnx`` for M = 1..T: ``pixel_embedding`` (1, d, h8, w8) of the current frame,
  ``offsets_s`` (1, M) float32 memory time minus current time (<= 0), and ``memory_keys_{m}_{l}``,
  ``memory_values_{m}_{l}`` (1, N_tok, d) of memory frame m (0..M-1, the current one included, in any
  order matching ``offsets_s``) and decoder layer l -> ``logits`` (1, K, h8, w8): ``T2GModel.decode``.
  One graph per M because the exporter unrolls the model's own loop over memory frames, so no decoder
  code is duplicated for the export; one input per frame and layer because the caller's cache holds
  exactly those contiguous pieces (a stacked (M, L, N_tok, d) input cost a 10 MB split copy per step,
  about a fifth of the decoder's time).

So the state is explicit: encode returns the new frame's cache entry, the caller keeps the cache (a ring
buffer, ``t2g_core.ort_streaming``) and passes it back in. Labels and confidence at the frame size
are read out of the logits by ``transforms.LabelReadout``, as the torch path does. ``manifest.json``
records what was exported from what (checkpoint SHA-256, versions, shapes) and the SHA-256 of every
file, so a corrupt or stale export is detected and rebuilt.

The backbone's TensorFlow-style "SAME" padding is computed from the input shape at every call; the export
fixes it for ``input_size`` and folds the remaining asymmetric Pads into the convolutions
(``_static_same_padding``, ``_fold_pads_into_convs``), which removed about a quarter of the encoder's time.

    t2g-export --checkpoint checkpoints/t2g_lite0_camvid.pt --out artifacts/onnx/t2g_lite0_camvid
    t2g-export --checkpoint checkpoints/t2g_lite0_camvid.pt     # into the node's cache; prints where
    (or python -m t2g_core.export ...)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint
from .model import FrameFeatures, T2GModel

FORMAT = "t2g-onnx"
# Bump when the graphs' inputs/outputs or their meaning change: cached exports of older versions rebuild.
FORMAT_VERSION = 3
OPSET = 17
MANIFEST = "manifest.json"
ENCODE_FILE = "encode.onnx"
ENCODE_INPUTS = ("frame",)
ENCODE_OUTPUTS = ("pixel_embedding", "memory_keys", "memory_values")
DECODE_OUTPUTS = ("logits",)


def decode_file(memory_frames: int) -> str:
    """File name of the decoder graph for a memory of ``memory_frames`` frames."""
    return f"decode_m{memory_frames}.onnx"


def decode_inputs(memory_frames: int, num_layers: int) -> tuple[str, ...]:
    """Input names of ``decode_file(memory_frames)``, in order."""
    keys = [f"memory_keys_{m}_{layer}" for m in range(memory_frames) for layer in range(num_layers)]
    values = [f"memory_values_{m}_{layer}" for m in range(memory_frames) for layer in range(num_layers)]
    return ("pixel_embedding", "offsets_s", *keys, *values)


class ExportError(ValueError):
    """An export cannot be made or used; the message names the directory or file and the problem."""


@dataclass(frozen=True)
class ExportManifest:
    """What ``manifest.json`` holds.

    Attributes:
        checkpoint_sha256: SHA-256 of the checkpoint file exported ("" for an in-memory model).
        input_size: (H, W) the encoder resizes every frame to.
        memory_frames: T; decoders exist for M = 1..T.
        num_classes: K, channels of the logits.
        num_layers: L decoder layers (axis 1 of the memory tensors).
        num_tokens: N_tok memory tokens per frame.
        dim: d.
        embedding_size: (h8, w8) of the pixel embedding and the logits.
        opset: ONNX opset of the graphs.
        versions: torch, onnx and onnxruntime versions at export time.
        files: file name -> SHA-256 of its bytes.
    """

    checkpoint_sha256: str
    input_size: tuple[int, int]
    memory_frames: int
    num_classes: int
    num_layers: int
    num_tokens: int
    dim: int
    embedding_size: tuple[int, int]
    opset: int
    versions: dict[str, str]
    files: dict[str, str]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}, indent=2) + "\n"


def runtime_versions() -> dict[str, str]:
    """Versions that shape an export: the exporter (torch), onnx and the runtime that loads it."""
    import onnx
    import onnxruntime

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Encode(nn.Module):
    """frame (H, W, 3) uint8 -> the current frame's pixel embedding and memory cache entry."""

    def __init__(self, model: T2GModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image = frame.permute(2, 0, 1)[None].float()  # (1, 3, H, W), RGB 0..255
        # transforms.resize_images, unconditionally: a Resize to the same size is the identity.
        image = F.interpolate(image, size=self.model.input_size, mode="bilinear", align_corners=False, antialias=False)
        features = self.model.encode_frames(image)
        keys = torch.stack(features.memory_keys, dim=1)  # (1, L, N_tok, d)
        values = torch.stack(features.memory_values, dim=1)  # (1, L, N_tok, d)
        return features.pixel_embedding, keys, values


class _Decode(nn.Module):
    """The current frame's pixel embedding + a memory of ``memory_frames`` cache entries -> logits."""

    def __init__(self, model: T2GModel, memory_frames: int, num_layers: int) -> None:
        super().__init__()
        self.model = model
        self.memory_frames = memory_frames
        self.num_layers = num_layers

    def forward(self, pixel_embedding: torch.Tensor, offsets_s: torch.Tensor, *memory_kv: torch.Tensor) -> torch.Tensor:
        """``memory_kv``: the keys of (frame 0, layer 0), (0, 1), ..., (M-1, L-1), then the values likewise."""
        count = self.memory_frames * self.num_layers
        keys, values = memory_kv[:count], memory_kv[count:]
        layers = range(self.num_layers)
        # decode() reads only the memory keys/values of memory frames, the pixel embedding of the current one.
        memory = [
            FrameFeatures(
                pixel_embedding=pixel_embedding,
                memory_keys=tuple(keys[m * self.num_layers + layer] for layer in layers),  # each (1, N_tok, d)
                memory_values=tuple(values[m * self.num_layers + layer] for layer in layers),
            )
            for m in range(self.memory_frames)
        ]
        current = FrameFeatures(pixel_embedding=pixel_embedding, memory_keys=(), memory_values=())
        return self.model.decode(current, memory, offsets_s)  # (1, K, h8, w8)


def _same_pads(conv: nn.Conv2d, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) of TensorFlow "SAME" padding for ``conv`` on an input of ``size`` (H, W)."""
    pads = []
    for length, kernel, stride, dilation in zip(size, conv.weight.shape[-2:], conv.stride, conv.dilation):
        out = -(-length // stride)
        total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - length, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return left, right, top, bottom


def _static_same_conv(conv: nn.Conv2d, pads: tuple[int, int, int, int], x: torch.Tensor) -> torch.Tensor:
    left, right, top, bottom = pads
    if (left, top) == (right, bottom):  # symmetric: the Conv's own padding, no Pad op
        return F.conv2d(x, conv.weight, conv.bias, conv.stride, (top, left), conv.dilation, conv.groups)
    x = F.pad(x, [left, right, top, bottom])  # constant pads; _fold_pads_into_convs merges them into the Conv
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)


@contextmanager
def _static_same_padding(model: T2GModel) -> Iterator[None]:
    """EfficientNet's "SAME" padding, computed per call from the input shape, fixed for ``model.input_size``.

    Traced as is, every conv gets a Pad whose amounts come from Shape arithmetic at run time; those Pads
    (and the layout reorders they force around onnxruntime's blocked convolutions) were about a quarter
    of the encoder's time. The encoder only ever sees ``input_size`` (the graph resizes every frame
    first), so the amounts are constants.
    """
    try:
        from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding
    except ImportError:  # another backbone: nothing to fix
        yield
        return
    convs = [m for m in model.backbone.modules() if isinstance(m, Conv2dDynamicSamePadding)]
    sizes: dict[nn.Module, tuple[int, int]] = {}
    hooks = [m.register_forward_pre_hook(lambda module, args: sizes.__setitem__(module, tuple(args[0].shape[-2:])))
             for m in convs]
    try:
        with torch.no_grad():
            model.backbone(torch.zeros(1, 3, *model.input_size))
    finally:
        for hook in hooks:
            hook.remove()
    for conv in convs:
        conv.forward = partial(_static_same_conv, conv, _same_pads(conv, sizes[conv]))
    try:
        yield
    finally:
        for conv in convs:
            del conv.forward  # back to the class's dynamic forward


def _constant_value(graph, name: str, producers: dict) -> np.ndarray | None:
    """The value of tensor ``name`` when it depends on constants only (evaluated with onnx.reference), else None."""
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    initializers = {t.name: t for t in graph.initializer}
    if name in initializers:
        return numpy_helper.to_array(initializers[name])
    needed, stack = set(), [name]
    while stack:
        tensor = stack.pop()
        if not tensor or tensor in initializers:
            continue
        node = producers.get(tensor)
        if node is None:
            return None  # a graph input: not a constant
        if id(node) not in needed:
            needed.add(id(node))
            stack.extend(node.input)
    nodes = [n for n in graph.node if id(n) in needed]  # graph order is topological
    used = {i for n in nodes for i in n.input}
    sub = onnx.helper.make_graph(nodes, "constant", [], [onnx.helper.make_tensor_value_info(name, 0, None)],
                                 initializer=[t for t in graph.initializer if t.name in used])
    model = onnx.helper.make_model(sub, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    return ReferenceEvaluator(model).run(None, {})[0]


def _fold_pads_into_convs(path: Path) -> int:
    """Merge each constant zero Pad that only feeds a Conv into the Conv's (asymmetric) ``pads``.

    Returns:
        The number of Pads folded.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    removed = []
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        users = consumers.get(pad.output[0], [])
        if mode != b"constant" or len(users) != 1 or users[0].op_type != "Conv" or len(pad.input) < 2:
            continue
        amounts = _constant_value(graph, pad.input[1], producers)
        value = _constant_value(graph, pad.input[2], producers) if len(pad.input) > 2 and pad.input[2] else 0
        if amounts is None or amounts.shape != (8,) or value is None or value != 0 or amounts[[0, 1, 4, 5]].any():
            continue
        conv = users[0]
        attrs = {a.name: a for a in conv.attribute}
        if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"", b"NOTSET"):
            continue
        old = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
        new = [old[0] + int(amounts[2]), old[1] + int(amounts[3]), old[2] + int(amounts[6]), old[3] + int(amounts[7])]
        if "pads" in attrs:
            conv.attribute.remove(attrs["pads"])
        conv.attribute.append(onnx.helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        removed.append(pad)
    for pad in removed:
        graph.node.remove(pad)
    _drop_dead_nodes(graph)
    onnx.save(model, str(path))
    return len(removed)


def _drop_dead_nodes(graph) -> None:
    """Remove nodes none of whose outputs are used (the pad-amount arithmetic left by the folding)."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)


def export_model(model: T2GModel, out_dir: str | Path, *, checkpoint_sha256: str = "",
                 opset: int = OPSET) -> ExportManifest:
    """Export ``model`` into ``out_dir`` (created; existing files of the same names are replaced).

    Returns:
        The manifest, also written to ``out_dir/manifest.json`` (last, so a directory with a manifest
        is complete).
    """
    import onnx

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").eval()
    height, width = model.input_size
    # A frame of another size than input_size, so the traced graph resizes (the frame axes are dynamic).
    frame = torch.randint(0, 256, (height + 3, width + 5, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        embedding, keys, values = _Encode(model)(frame)
    _, layers, tokens, dim = keys.shape
    with warnings.catch_warnings(), _static_same_padding(model):
        # The TorchScript exporter warns about itself (deprecation) and about traced shape arithmetic,
        # which is constant here: the model input size is fixed.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Encode(model), (frame,), str(out / ENCODE_FILE), dynamo=False, opset_version=opset,
            input_names=list(ENCODE_INPUTS), output_names=list(ENCODE_OUTPUTS),
            dynamic_axes={"frame": {0: "height", 1: "width"}},
        )
    _fold_pads_into_convs(out / ENCODE_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in range(1, model.memory_frames + 1):
            offsets = -0.04 * torch.arange(m - 1, -1, -1, dtype=torch.float32)[None]  # (1, M)
            pieces = [keys[:, layer] for _ in range(m) for layer in range(layers)]  # each (1, N_tok, d)
            pieces += [values[:, layer] for _ in range(m) for layer in range(layers)]
            torch.onnx.export(
                _Decode(model, m, layers), (embedding, offsets, *pieces),
                str(out / decode_file(m)), dynamo=False, opset_version=opset,
                input_names=list(decode_inputs(m, layers)), output_names=list(DECODE_OUTPUTS),
            )
    names = [ENCODE_FILE] + [decode_file(m) for m in range(1, model.memory_frames + 1)]
    for name in names:
        onnx.checker.check_model(str(out / name))
    manifest = ExportManifest(
        checkpoint_sha256=checkpoint_sha256,
        input_size=(height, width),
        memory_frames=model.memory_frames,
        num_classes=model.config.num_classes,
        num_layers=layers,
        num_tokens=tokens,
        dim=dim,
        embedding_size=tuple(embedding.shape[-2:]),
        opset=opset,
        versions=runtime_versions(),
        files={name: file_sha256(out / name) for name in names},
    )
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(manifest.to_json(), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return manifest


def load_manifest(export_dir: str | Path, *, verify_files: bool = True) -> ExportManifest:
    """Read and check ``export_dir/manifest.json``.

    Args:
        verify_files: also check every listed file exists with the recorded SHA-256.

    Raises:
        ExportError: missing or unreadable manifest, another format version, a missing file or one
            whose bytes changed (the message says which and how to rebuild).
    """
    folder = Path(export_dir)
    path = folder / MANIFEST
    if not path.is_file():
        raise ExportError(f"{folder}: no {MANIFEST}; not a complete t2g ONNX export (re-run t2g-export)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT or raw.get("format_version") != FORMAT_VERSION:
            raise ExportError(f"{path}: format {raw.get('format')!r} version {raw.get('format_version')!r}, "
                              f"this code reads {FORMAT!r} version {FORMAT_VERSION} (re-run t2g-export)")
        fields = {k: v for k, v in raw.items() if k not in ("format", "format_version")}
        fields["input_size"] = tuple(fields["input_size"])
        fields["embedding_size"] = tuple(fields["embedding_size"])
        manifest = ExportManifest(**fields)
    except ExportError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExportError(f"{path}: unreadable manifest ({type(exc).__name__}: {exc}); re-run t2g-export") from exc
    expected = {ENCODE_FILE} | {decode_file(m) for m in range(1, manifest.memory_frames + 1)}
    if set(manifest.files) != expected:
        raise ExportError(f"{path}: lists {sorted(manifest.files)}, expected {sorted(expected)}; re-run t2g-export")
    if verify_files:
        for name, digest in manifest.files.items():
            if not (folder / name).is_file():
                raise ExportError(f"{folder / name}: missing from the export; re-run t2g-export")
            if file_sha256(folder / name) != digest:
                raise ExportError(f"{folder / name}: contents differ from the manifest (corrupt or edited); "
                                  "re-run t2g-export")
    return manifest


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/t2g/onnx``, else ``~/.cache/t2g/onnx``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "t2g" / "onnx"


def cache_key(checkpoint_sha256: str, input_size: Sequence[int]) -> str:
    """What a cached export depends on: the checkpoint's bytes, the input size, the versions, the format."""
    versions = runtime_versions()
    text = json.dumps({"checkpoint": checkpoint_sha256, "input_size": list(input_size), "versions": versions,
                       "format": FORMAT_VERSION, "opset": OPSET}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_export(checkpoint: str | Path, *, cache_dir: str | Path | None = None, model: T2GModel | None = None,
                  log: Callable[[str], None] | None = None) -> Path:
    """The export directory of ``checkpoint`` in the cache, exported first when missing, stale or corrupt.

    The directory is ``<cache_dir>/<checkpoint stem>-<key>``, key = ``cache_key``; it is written under a
    temporary name and renamed when complete, so a crash or a concurrent start never leaves a half export
    that looks valid.

    Args:
        checkpoint: a t2g checkpoint file.
        cache_dir: default ``default_cache_dir()``.
        model: the checkpoint's model if the caller loaded it already (saves loading it again).
        log: called with one line when an export is (re)built.

    Raises:
        ExportError: the checkpoint cannot be read, the cache cannot be written, or the fresh export is
            unusable (the message says which).
    """
    checkpoint = Path(checkpoint)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not checkpoint.is_file():
        raise ExportError(f"{checkpoint}: no such checkpoint file")
    digest = file_sha256(checkpoint)
    if model is None:
        try:
            model = load_checkpoint(checkpoint).model
        except CheckpointError as exc:
            raise ExportError(str(exc)) from exc
    target = cache / f"{checkpoint.stem}-{cache_key(digest, model.input_size)}"
    if target.exists():
        problem = _unusable(target, digest)
        if problem is None:
            return target
        if log is not None:
            log(f"cached ONNX export {target} is unusable ({problem}); rebuilding it")
    elif log is not None:
        log(f"exporting {checkpoint.name} to ONNX in {target} (once per checkpoint and version set)")
    tmp = cache / f".tmp-{uuid.uuid4().hex}"
    try:
        export_model(model, tmp, checkpoint_sha256=digest)
        if _unusable(target, digest) is not None:  # else another process has just finished the same export
            shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(tmp, target)
            except OSError:
                if _unusable(target, digest) is not None:  # not a concurrent finisher: a real failure
                    raise
    except OSError as exc:
        raise ExportError(f"cannot write the ONNX export cache {cache}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_manifest(target)
    return target


def _unusable(folder: Path, checkpoint_sha256: str) -> str | None:
    """Why the export in ``folder`` cannot serve the checkpoint with that SHA-256, or None when it can."""
    if not folder.exists():
        return "missing"
    try:
        manifest = load_manifest(folder)
    except ExportError as exc:
        return str(exc)
    return None if manifest.checkpoint_sha256 == checkpoint_sha256 else "exported from another checkpoint"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2g-export", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="t2g checkpoint (.pt)")
    parser.add_argument("--out", default=None,
                        help="export directory; default: the cache the node uses (printed), reused when valid")
    args = parser.parse_args(argv)
    try:
        if args.out is None:
            folder = cached_export(args.checkpoint, log=lambda line: print(f"t2g-export: {line}", file=sys.stderr))
            manifest = load_manifest(folder)
        else:
            folder = Path(args.out)
            try:
                loaded = load_checkpoint(args.checkpoint)
            except CheckpointError as exc:
                raise ExportError(str(exc)) from exc
            manifest = export_model(loaded.model, folder, checkpoint_sha256=file_sha256(args.checkpoint))
    except ExportError as exc:
        print(f"t2g-export: error: {exc}", file=sys.stderr)
        return 1
    size = sum((folder / name).stat().st_size for name in manifest.files) / 1e6
    print(f"t2g-export: {folder} ({len(manifest.files)} graphs, {size:.1f} MB; input {manifest.input_size[1]}x"
          f"{manifest.input_size[0]}, memory 1..{manifest.memory_frames} frames, opset {manifest.opset})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "ExportError",
    "ExportManifest",
    "cache_key",
    "cached_export",
    "decode_file",
    "decode_inputs",
    "default_cache_dir",
    "export_model",
    "load_manifest",
    "main",
]
