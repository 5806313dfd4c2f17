#!/usr/bin/env python3
"""Write the README's side-by-side frame (input | per-frame | T2G) from a bag, offline (no ROS).

Streams the bag's frames through the checkpoint twice in lockstep, as ``make demo`` and
``t2g-bag-eval`` compare it: with its full memory (T2G) and with ``memory_length=1`` (per-frame, the
same weights), and writes frame ``--frame`` (default: the middle one) as the video of ``make demo``
draws it (``t2g_core.side_by_side.compose_frame``). Run it again after retraining:

    python scripts/side_by_side_frame.py            # -> docs/img/side_by_side.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from t2g_core.inference import default_checkpoint, open_segmenter
from t2g_core.resources import shipped_path
from t2g_core.side_by_side import compose_frame
from t2g_ros.bags.frames import IMAGE_TYPES, decode_frame
from t2g_ros.bags.io import BagError, open_reader

REPO = Path(__file__).resolve().parents[1]
CAPTIONS = ("input", "per-frame (memory 1)", "T2G")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bag", type=Path, help="default: the shipped data/sample/solidwhiteright")
    parser.add_argument("--checkpoint", type=Path, help="default: the shipped T2G checkpoint")
    parser.add_argument("--frame", type=int, help="0-based frame index (default: the middle frame)")
    parser.add_argument(
        "--panel-width", type=int, default=400, help="pixels per panel (default 400)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "side_by_side.png")
    args = parser.parse_args(argv)
    try:
        bag = args.bag or shipped_path("data", "sample", "solidwhiteright")
        checkpoint = args.checkpoint or default_checkpoint()
        t2g = open_segmenter(checkpoint, threads=1)
        per_frame = open_segmenter(checkpoint, memory_length=1, threads=1)
        with open_reader(bag) as reader:
            images = [(t, m) for t, m in reader.topics.items() if m in IMAGE_TYPES]
            if len(images) != 1:
                raise ValueError(
                    f"{bag} has {len(images)} image topics; this script reads bags with one"
                )
            topic, msgtype = images[0]
            count = reader.message_count(topic)
            index = count // 2 if args.frame is None else args.frame
            if not 0 <= index < count:
                raise ValueError(
                    f"--frame {index} is outside 0..{count - 1} ({count} frames in {bag})"
                )
            # Every frame up to the chosen one: T2G's memory holds what the node's would.
            for _, message in zip(range(index + 1), reader.messages(topic)):
                rgb = decode_frame(msgtype, message.msg)
                stamp_s = message.stamp_ns * 1e-9
                labels = [per_frame.step(rgb, stamp_s).labels, t2g.step(rgb, stamp_s).labels]
    except (BagError, FileNotFoundError, ValueError) as exc:
        print(f"side_by_side_frame: error: {exc}", file=sys.stderr)
        return 1
    composed = compose_frame(
        rgb,
        labels,
        lut=t2g.label_set.palette_lut(),
        captions=CAPTIONS,
        panel_width=args.panel_width,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(composed, cv2.COLOR_RGB2BGR)):
        print(f"side_by_side_frame: error: cv2 could not write {args.out}", file=sys.stderr)
        return 1
    print(f"{args.out}: frame {index} of {bag} ({topic}), checkpoint {checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
