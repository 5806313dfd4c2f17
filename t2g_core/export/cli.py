"""``t2g-export`` (``python -m t2g_core.export``): export a checkpoint to a folder or the cache."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .cache import cached_export
from .format import ExportError, file_sha256, load_manifest
from .onnx_export import export_model
from .quantize import CALIBRATION_FRAMES, PRECISIONS, quantize_export

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
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="int8: the backbone statically quantised (onnxruntime QDQ), calibrated on "
        f"{CALIBRATION_FRAMES} CamVid train frames",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="shared data folder holding camvid/ (int8 calibration; default ../shared/data "
        "beside the repository)",
    )
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(f"t2g-export: {line}", file=sys.stderr)

    def calibration(count: int):
        """The CamVid train frames that calibrate int8 (read here: the export code reads no data)."""
        from ..data.calibration import camvid_calibration_frames

        try:
            return camvid_calibration_frames(args.data_root, count=count)
        except ValueError as exc:
            raise ExportError(f"{exc} (pass --data-root <the shared data folder>)") from exc

    try:
        if args.out is None:
            folder = cached_export(
                args.checkpoint, log=log, precision=args.precision, calibration=calibration
            )
        else:
            folder = Path(args.out)
            try:
                loaded = load_checkpoint(args.checkpoint)
            except CheckpointError as exc:
                raise ExportError(str(exc)) from exc
            digest = file_sha256(args.checkpoint)
            labels = loaded.label_set
            if args.precision == "fp32":
                export_model(loaded.model, folder, checkpoint_sha256=digest, label_set=labels)
            else:
                names, frames = calibration(count=CALIBRATION_FRAMES)
                with tempfile.TemporaryDirectory() as fp32_dir:
                    export_model(loaded.model, fp32_dir, checkpoint_sha256=digest, label_set=labels)
                    quantize_export(fp32_dir, folder, frames=frames, calibration=names, log=log)
        manifest = load_manifest(folder)
    except ExportError as exc:
        print(f"t2g-export: error: {exc}", file=sys.stderr)
        return 1
    size = sum((folder / name).stat().st_size for name in manifest.files) / 1e6
    print(
        f"t2g-export: {folder} ({args.precision}, {len(manifest.files)} graphs, {size:.1f} MB; "
        f"input {manifest.input_size[1]}x"
        f"{manifest.input_size[0]}, memory 1..{manifest.memory_capacity} frames, opset {manifest.opset})"
    )
    return 0
