#!/usr/bin/env python3
"""Speed of t2g on this machine: the streaming step per backend, a per-stage profile, side by side
with int8 and the ESPNetv2 peer, and onnxruntime session variants.

    python scripts/bench_speed.py                  # or: make bench-speed
    python scripts/bench_speed.py --quick          # smoke run: few steps, 480x360 (not results)
    python scripts/bench_speed.py --session-variants 3   # also: session settings, 3 rounds each

1. Streaming step (``t2g_core.evaluation.step_timing``): ``step(frame, stamp)`` (resize, model,
   labels + confidence at the frame size), warm, ``--steps`` timed steps per row: FPS = 1000 / mean,
   p50, p95. Backends: every one of ``t2g_core.inference.BACKENDS``, each opened by
   ``open_segmenter`` as the node opens it. Per-frame = memory of 1 frame, temporal = the
   checkpoint's capacity.
2. Profile (``t2g_core.evaluation.stage_profile``; onnxruntime, temporal; per size): p50/p95 and
   share of a node frame for every stage: message decode (raw; JPEG shown beside it), the input
   resize, backbone and each other module of encode.onnx, pixel fusion, memory decoder, read-out,
   occupancy, colour, overlay and the output messages (this script supplies the message stages).
   Beside it: resize + backbone alone and the ratio step / backbone alone.
3. Side by side: t2g fp32, t2g int8 and the ESPNetv2 peer at the same frame sizes, as ratios.
4. ``--session-variants N``: candidate onnxruntime session settings, each in a fresh process
   (``t2g_core.evaluation.session_variants``).

The node through ROS (rate, latency, drops) is ``make node-rates`` (``scripts/node_rates.py``).
The model is the shipped checkpoint when it exists, else the full-size T2G model with randomly
initialised trainable modules (seed 0): speed does not depend on the weights. ONNX exports go to
``t2g_core.export.default_cache_dir()`` (``T2G_EXPORT_CACHE``), where the node finds them; a random
model's go to a throw-away folder. Writes ``results/speed.json`` and ``results/speed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import torch

from t2g_core import (
    LabelSet,
    Provenance,
    build_model,
    load_checkpoint,
    load_model_config,
    save_checkpoint,
)
from t2g_core.evaluation.environment import describe_machine, utc_now
from t2g_core.evaluation.session_variants import session_variants
from t2g_core.evaluation.speed_report import PROFILE_SIZE, goals, markdown
from t2g_core.evaluation.stage_profile import FrameResult, NodeIO, Stage, profile_stages
from t2g_core.evaluation.step_timing import (
    PEER,
    T2G_FP32,
    T2G_INT8,
    bench_steps,
    open_contenders,
    parse_sizes,
    side_by_side,
    step_ratios,
)
from t2g_core.export import cached_export, default_cache_dir
from t2g_core.export.quantize import PRECISIONS
from t2g_core.inference import BACKEND_NAMES

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "t2g_lite0_camvid.pt"
DEFAULT_SIZES = "480x360,640x480,1280x720"
JPEG_QUALITY = 90


def model_checkpoint(work: Path) -> tuple[Path, str]:
    """The shipped checkpoint, or a seeded random full-size one saved into ``work``."""
    if SHIPPED.is_file():
        return SHIPPED, f"shipped checkpoint {SHIPPED.name}"
    torch.manual_seed(0)
    model = build_model(load_model_config(REPO / "config" / "model_t2g.yaml"))
    path = work / "t2g_random_seed0.pt"
    save_checkpoint(
        path,
        model,
        LabelSet.from_yaml(REPO / "config" / "classes_camvid.yaml"),
        Provenance(data="none: random initialisation, for speed measurements only"),
    )
    return (
        path,
        "full-size T2G model (config/model_t2g.yaml), trainable modules randomly initialised (seed 0)",
    )


def ros_io(result: FrameResult) -> NodeIO:
    """The node's message stages for the profile: decode the input, build and serialise the
    outputs, as ``NodePublishers.publish`` does (labels, color, overlay, occupancy)."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from t2g_msgs.msg import ClassOccupancy
    from t2g_ros.image_codec import (
        compressed_msg_to_rgb,
        image_msg_to_rgb,
        rgb_to_compressed_fields,
        rgb_to_image_fields,
    )
    from t2g_ros.msg_fields import as_ros_sequence, class_occupancy_fields

    frame = result.frame
    raw = SimpleNamespace(**rgb_to_image_fields(frame, "rgb8", data_type="numpy"))
    jpeg = SimpleNamespace(
        **rgb_to_compressed_fields(frame, "jpeg", JPEG_QUALITY, data_type="numpy")
    )
    header = Header(frame_id="camera")
    label_set = result.label_set

    def messages() -> list[Any]:
        images = [(result.labels, "mono8"), (result.color, "rgb8"), (result.blended, "rgb8")]
        built = [Image(header=header, **rgb_to_image_fields(a, e)) for a, e in images]
        fields = class_occupancy_fields(
            result.occupancy, label_set, reset_reason=None, frames_in_memory=result.memory
        )
        return [*built, ClassOccupancy(header=header, **as_ros_sequence(fields))]

    built = messages()
    return NodeIO(
        decode=lambda: image_msg_to_rgb(raw),
        publish=messages,
        before=(
            Stage("decode rgb8 Image (raw)", lambda: image_msg_to_rgb(raw)),
            Stage(
                "decode JPEG CompressedImage (instead of raw)",
                lambda: compressed_msg_to_rgb(jpeg),
                leaf=False,
            ),
        ),
        after=(
            Stage("publish: build labels, color, overlay, occupancy messages", messages),
            Stage(
                "publish: serialise them (rmw's copy, before DDS)",
                lambda: [serialize_message(m) for m in built],
                leaf=False,
            ),
        ),
    )


def default_precision() -> str:
    """The node's default ``model.precision`` (``t2g_ros.params``; config/t2g.yaml mirrors it)."""
    from t2g_ros.params import SPECS

    return SPECS["model.precision"].default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", default=None, help="default: the shipped one, else a seeded random model"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="inference threads (torch and onnxruntime)"
    )
    parser.add_argument("--steps", type=int, default=60, help="timed streaming steps per row")
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats per profiled stage")
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="frame sizes of the step rows and the profile"
    )
    parser.add_argument(
        "--side-sizes", default=DEFAULT_SIZES, help="frame sizes of the side-by-side rows"
    )
    parser.add_argument(
        "--side", default="fp32,int8,peer", help="side-by-side contenders: fp32, int8, peer"
    )
    parser.add_argument("--backends", default=",".join(BACKEND_NAMES))
    parser.add_argument("--note", default="", help="a line printed at the top of the report")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="the shipped default precision, profiled at 480x360 against the stage budget "
        "(default: the node's, config/t2g.yaml)",
    )
    parser.add_argument(
        "--out", default=str(REPO / "results"), help="folder for speed.json and speed.md"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 steps, 480x360")
    parser.add_argument("--no-side", action="store_true", help="skip the side-by-side rows")
    parser.add_argument(
        "--session-variants",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="time the onnxruntime session variants (SESSION_VARIANTS) this many rounds each",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 3, 1, 3
        args.sizes = args.side_sizes = "480x360"
    try:
        sizes, side_sizes = parse_sizes(args.sizes), parse_sizes(args.side_sizes)
    except ValueError as exc:
        parser.error(str(exc))
    backends = tuple(b for b in args.backends.split(",") if b)
    if not set(backends) <= set(BACKEND_NAMES):
        parser.error(f"--backends must be among {BACKEND_NAMES}")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    def say(line: str) -> None:
        print(line, flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="t2g_bench_") as tmp:
        work = Path(tmp)
        checkpoint, what = (
            (Path(args.checkpoint), f"checkpoint {args.checkpoint}")
            if args.checkpoint
            else model_checkpoint(work)
        )
        loaded = load_checkpoint(checkpoint)
        say(f"t2g speed: {what}; {args.threads} thread(s)")
        # A throw-away random checkpoint's export stays out of the user's cache.
        cache_dir = work / "onnx" if checkpoint.parent == work else default_cache_dir()
        cached_export(
            checkpoint, cache_dir=cache_dir, model=loaded.model.eval(), log=lambda x: say(f"  {x}")
        )
        report: dict[str, Any] = {
            "date": utc_now(),
            "machine": {
                **describe_machine(),
                "torch": torch.__version__,
                "onnxruntime": __import__("onnxruntime").__version__,
            },
            "model": what,
            "threads": args.threads,
            "steps_per_row": args.steps,
            "quick": args.quick,
            "note": args.note,
        }
        common = {"threads": args.threads, "say": say}
        report["step"] = bench_steps(
            checkpoint,
            loaded,
            cache_dir,
            steps=args.steps,
            warmup=args.warmup,
            sizes=sizes,
            backends=backends,
            **common,
        )
        report["ratios"] = step_ratios(report["step"])
        report["profile"] = (
            {}
            if args.no_profile
            else profile_stages(
                checkpoint,
                loaded,
                cache_dir,
                repeats=args.repeats,
                sizes=sizes,
                work=work,
                node_io=ros_io,
                **common,
            )
        )
        report["repeats"] = args.repeats
        precision = args.precision or default_precision()
        if args.no_profile or PROFILE_SIZE not in sizes:
            report["budget"] = None
        elif precision == "fp32":
            report["budget"] = report["profile"][PROFILE_SIZE]
        else:
            report["budget"] = profile_stages(
                checkpoint,
                loaded,
                cache_dir,
                repeats=args.repeats,
                sizes=[PROFILE_SIZE],
                work=work,
                node_io=ros_io,
                precision=precision,
                **common,
            )[PROFILE_SIZE]
        side = {"fp32": T2G_FP32, "int8": T2G_INT8, "peer": PEER}
        wanted = {side[c] for c in args.side.split(",") if c in side}
        contenders = (
            {}
            if args.no_side
            else {
                name: opener
                for name, opener in open_contenders(checkpoint, loaded, cache_dir, **common).items()
                if name in wanted
            }
        )
        report["side_by_side"] = side_by_side(
            contenders, steps=args.steps, warmup=args.warmup, sizes=side_sizes, say=say
        )
        env = {**os.environ, "T2G_EXPORT_CACHE": str(cache_dir)}
        report["session_variants"] = (
            session_variants(
                checkpoint,
                steps=args.steps,
                warmup=args.warmup,
                rounds=args.session_variants,
                env=env,
                **common,
            )
            if args.session_variants
            else []
        )
        report["goals"] = goals(
            report["step"],
            profile=report["profile"],
            side=report["side_by_side"],
            budget=report["budget"],
        )
    (out / "speed.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "speed.md").write_text(markdown(report), encoding="utf-8")
    say(f"wrote {out / 'speed.json'} and {out / 'speed.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
