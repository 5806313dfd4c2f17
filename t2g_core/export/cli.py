"""``t2g-export`` (``python -m t2g_core.export``): export a checkpoint to a folder or the cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cache import cached_export
from .format import ExportError, file_sha256, load_manifest
from .onnx_export import export_model

DESCRIPTION = (
    "ONNX export of a T2G checkpoint for onnxruntime, and the cache the node and bag "
    "tools build it into."
)


def main(argv: list[str] | None = None) -> int:
    from ..checkpoint import CheckpointError, load_checkpoint

    parser = argparse.ArgumentParser(prog="t2g-export", description=DESCRIPTION)
    parser.add_argument("--checkpoint", required=True, help="t2g checkpoint (.pt)")
    parser.add_argument(
        "--out",
        default=None,
        help="export directory; default: the cache the node uses (printed), reused when valid",
    )
    args = parser.parse_args(argv)
    try:
        if args.out is None:
            folder = cached_export(
                args.checkpoint, log=lambda line: print(f"t2g-export: {line}", file=sys.stderr)
            )
            manifest = load_manifest(folder)
        else:
            folder = Path(args.out)
            try:
                loaded = load_checkpoint(args.checkpoint)
            except CheckpointError as exc:
                raise ExportError(str(exc)) from exc
            manifest = export_model(
                loaded.model, folder, checkpoint_sha256=file_sha256(args.checkpoint)
            )
    except ExportError as exc:
        print(f"t2g-export: error: {exc}", file=sys.stderr)
        return 1
    size = sum((folder / name).stat().st_size for name in manifest.files) / 1e6
    print(
        f"t2g-export: {folder} ({len(manifest.files)} graphs, {size:.1f} MB; input {manifest.input_size[1]}x"
        f"{manifest.input_size[0]}, memory 1..{manifest.memory_frames} frames, opset {manifest.opset})"
    )
    return 0
