"""int8 exports: the frozen backbone of ``encode.onnx`` statically quantised (onnxruntime QDQ).

Every node under the backbone's scope (``/backbone/``: EfficientNet's convolutions, ReLU6 clips and
residual adds), the stem included, gets QuantizeLinear/DequantizeLinear pairs. (Recipe 2 kept the stem
and the stride-2/4 blocks float, as their few channels quantise worst: 1.0 % of the labels changed
against fp32 instead of 2.6 % on CamVid train frames, but on an AVX2 machine the backbone was then only
1.07x faster. Recipe 3 quantises them all: on CamVid val 1.0 % of the shipped T2G's labels change,
mIoU -0.2 points, and the encoder runs 1.4x faster on an AVX-512 VNNI Xeon; ``make int8-accept``.)
The resize in front of the backbone and the trainable heads after it (Stability Queries, pixel
decoder, memory K/V projections) stay float32, as do ``decode_m*.onnx``, ``fuse.onnx`` and
``gate.onnx``. Weights are int8 per output channel (7-bit where the CPU lacks VNNI, see ``RECIPE``),
activations uint8 per tensor with ranges calibrated (MinMax) on a fixed, evenly spaced subset of the
CamVid **train** frames (read by the caller, ``t2g_core.data.calibration``, and passed in: this module
reads no data); val and test are never read, so they stay clean for the acceptance measurement.

An int8 export is a copy of the fp32 one with ``encode.onnx`` replaced, ``quantization.json`` beside
it saying how it was quantised, and a manifest that says ``int8`` and hashes both files
(``export_precision`` reads the manifest). It is only ever made from an fp32 export: the source's
manifest must say fp32 and its encoder hold no quantisation nodes.

onnxruntime fuses the QDQ pairs into QLinearConv / QLinearAdd kernels when the session is created
(graph optimisation), so the saved graph stays portable and the int8 kernels are chosen per CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..cpuinfo import CPUINFO, cpu_flags
from .format import (
    ENCODE_FILE,
    MANIFEST,
    PRECISIONS,
    QUANTIZATION_FILE,
    ExportError,
    file_sha256,
    load_manifest,
)

_QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# x86 flags of the int8 dot-product instructions (AVX-512 VNNI, or the VEX-coded AVX-VNNI).
_VNNI_FLAGS = {"avx512_vnni", "avx_vnni"}


def has_vnni(cpuinfo: str | Path = CPUINFO) -> bool:
    """Whether this CPU multiplies u8 x s8 with VNNI (int32 accumulation, no saturation)."""
    return bool(cpu_flags(cpuinfo) & _VNNI_FLAGS)


BACKBONE_SCOPE = "/backbone/"
CALIBRATION_FRAMES = 128
# Seconds to calibrate and quantise a Lite0 encoder on 2 idle cores (~60-120 s measured under load).
INT8_BUILD_ESTIMATE_S = 60
# Bump when the recipe below changes, so cached int8 exports rebuild.
RECIPE_VERSION = 3
# Backbone layers at this stride or finer stay float (see the module docstring).
FLOAT_MAX_STRIDE = 1
RECIPE = {
    "recipe_version": RECIPE_VERSION,
    "format": "QDQ",
    "scope": BACKBONE_SCOPE,
    "float_max_stride": FLOAT_MAX_STRIDE,
    "weights": "int8 symmetric, per output channel",
    "activations": "uint8 asymmetric, per tensor",
    # 7-bit weights only where the CPU lacks VNNI: there u8 x s8 is multiplied with VPMADDUBSW, whose
    # int16 pair sums can saturate with full-range weights (onnxruntime's advice for per-channel
    # models on AVX2); VNNI accumulates in int32 and gets the full 8 bits.
    "reduce_range": not has_vnni(),
    "calibration": "MinMax",
    "calibration_split": "train",
}


def check_precision(precision: str) -> str:
    """``precision`` if it is one of ``PRECISIONS``, else ``ValueError`` naming the choices."""
    if precision not in PRECISIONS:
        names = " or ".join(repr(name) for name in PRECISIONS)
        raise ValueError(f"precision {precision!r} is not available; use {names}")
    return precision


def export_precision(export_dir: str | Path) -> str:
    """The precision an export directory's manifest records (``fp32`` or ``int8``).

    Raises:
        ExportError: no readable manifest.
    """
    return load_manifest(export_dir, verify_files=False).precision


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Silence onnxruntime.quantization's root-logger advice ("consider pre-processing"), which
    would otherwise land in the node's log on every int8 build."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def backbone_nodes(model, float_max_stride: int = FLOAT_MAX_STRIDE) -> list[str]:
    """Names of the backbone nodes of an ``onnx.ModelProto`` to quantise: those under the backbone's
    scope from the first convolution whose output is coarser than ``float_max_stride`` on (graph
    order; the backbone is a chain, so the product of its convolutions' strides so far is the
    resolution). With 1, every backbone node."""
    names: list[str] = []
    stride = 1
    for node in model.graph.node:
        if not node.name.startswith(BACKBONE_SCOPE):
            continue
        if node.op_type == "Conv":
            strides = next((list(a.ints) for a in node.attribute if a.name == "strides"), [1])
            stride *= max(strides, default=1)
        if stride > float_max_stride:
            names.append(node.name)
    return names


def quantize_encoder(src: Path, dst: Path, *, frames: Iterable[np.ndarray]) -> dict:
    """Write ``dst``: ``src`` (an ``encode.onnx``) with its backbone quantised to int8 QDQ.

    Args:
        frames: calibration frames, each (H, W, 3) uint8 RGB, fed to the graph's ``frame`` input.

    Returns:
        What was done (node counts), for ``quantization.json``.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._frames = iter(frames)
            self.count = 0

        def get_next(self) -> dict | None:
            frame = next(self._frames, None)
            if frame is None:
                return None
            self.count += 1
            return {"frame": frame}

    graph = onnx.load(str(src), load_external_data=False)
    if any(node.op_type in _QDQ_OPS for node in graph.graph.node):
        raise ExportError(f"{src}: already holds quantisation nodes; quantise an fp32 encoder")
    nodes = backbone_nodes(graph)
    if not nodes:
        raise ExportError(
            f"{src}: no node under {BACKBONE_SCOPE!r} coarser than stride {FLOAT_MAX_STRIDE}; "
            "nothing to quantise"
        )
    reader = _Reader()
    with _quiet_root_logger():
        quantize_static(
            str(src),
            str(dst),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=RECIPE["reduce_range"],
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=nodes,
            # MinMax keeps only each tensor's per-frame min and max (ReduceMin/Max in the calibration
            # graph), so 128 frames take little memory. (CalibMaxIntermediateOutputs is not used: in
            # onnxruntime 1.31 it discards the collected ranges instead of merging them.)
            calibrate_method=CalibrationMethod.MinMax,
        )
    if reader.count == 0:
        raise ExportError("int8 calibration got no frames")
    quantized = onnx.load(str(dst))
    qdq = [n for n in quantized.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    return {"calibration_frames": reader.count, "backbone_nodes": len(nodes), "qdq_nodes": len(qdq)}


def quantize_export(
    fp32_dir: str | Path,
    out_dir: str | Path,
    *,
    frames: Iterable[np.ndarray],
    calibration: Sequence[str] = (),
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write the int8 export of the fp32 export ``fp32_dir`` into ``out_dir`` (created).

    Args:
        frames: calibration frames, each (H, W, 3) uint8 RGB
            (``t2g_core.data.calibration.camvid_calibration_frames``).
        calibration: the calibration images' names, recorded in ``quantization.json``.
        log: called with one line before calibrating (it takes a while).

    Returns:
        ``out_dir``; its manifest is written last, so a directory with one is complete.
    """
    src = Path(fp32_dir)
    out = Path(out_dir)
    manifest = load_manifest(src)
    if manifest.precision != "fp32":
        raise ExportError(
            f"{src}: already quantised ({manifest.precision}); quantise an fp32 export"
        )
    out.mkdir(parents=True, exist_ok=True)
    for name in manifest.files:
        if name != ENCODE_FILE:
            shutil.copyfile(src / name, out / name)
    if log is not None:
        log(f"quantising the backbone of {src / ENCODE_FILE} to int8 (calibrating on CamVid train)")
    done = quantize_encoder(src / ENCODE_FILE, out / ENCODE_FILE, frames=frames)
    record = {
        "precision": "int8",
        **RECIPE,
        **done,
        "calibration_images": list(calibration),
        "fp32_encode_sha256": manifest.files[ENCODE_FILE],
    }
    (out / QUANTIZATION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    files = {
        **manifest.files,
        ENCODE_FILE: file_sha256(out / ENCODE_FILE),
        QUANTIZATION_FILE: file_sha256(out / QUANTIZATION_FILE),
    }
    int8 = dataclasses.replace(manifest, files=files, precision="int8")
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(int8.to_json(), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return out
