#!/usr/bin/env python3
"""Write the shipped sample bag: a real dash-cam excerpt as sensor_msgs/CompressedImage JPEGs.

Reads the Udacity ``solidWhiteRight.mp4`` clip frame by frame (in order: seeking returns empty frames
in the opencv-python build we use), resizes, JPEG-encodes, and writes a rosbag2 mcap directory with
header stamps at the clip's 25 fps from a fixed start time, so re-runs give the same bytes (given
the same OpenCV/FFmpeg/rosbags versions). See data/sample/README.md for provenance and licence.

    python scripts/make_sample_bag.py --video /path/to/solidWhiteRight.mp4
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2

from t2g_ros.bags.io import BagWriter, make_header, make_typestore
from t2g_ros.image_codec import rgb_to_compressed_fields

REPO = Path(__file__).resolve().parents[1]

TOPIC = "/camera/image_raw/compressed"
FRAME_ID = "camera"
START_NS = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z, fixed for reproducible bytes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--video", type=Path, required=True, help="solidWhiteRight.mp4 (25 fps, 960x540)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "data" / "sample" / "solidwhiteright",
        help="bag directory to create",
    )
    parser.add_argument("--start-frame", type=int, default=0, help="first frame of the excerpt")
    parser.add_argument(
        "--frames", type=int, default=150, help="number of consecutive frames (150 = 6 s)"
    )
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=270)
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality 1..100")
    parser.add_argument(
        "--fps", type=float, default=25.0, help="frame rate of the stamps (the clip's own)"
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    return parser.parse_args(argv)


def write_bag(
    video: str | Path,
    out: str | Path,
    *,
    quality: int = 85,
    width: int = 480,
    height: int = 270,
    frames: int | None = 150,
    start_frame: int = 0,
    fps: float = 25.0,
) -> dict[str, int]:
    """Write ``frames`` consecutive frames of ``video`` from ``start_frame`` as a CompressedImage bag.

    Each frame is resized to ``width`` x ``height`` (``cv2.INTER_AREA``), JPEG-encoded at ``quality``
    and stamped ``START_NS + i / fps``; ``frames=None`` takes every frame to the end of the video.
    ``out`` (a rosbag2 mcap directory) must not exist.

    Returns:
        ``{"frames": written, "jpeg_bytes": JPEG payload in bytes, "bag_bytes": bag size in bytes}``.

    Raises:
        OSError: the video cannot be opened.
        ValueError: the video ends before ``start_frame + frames``.
    """
    out = Path(out)
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise OSError(f"cannot open video {video}")
    store = make_typestore()
    message_cls = store.types["sensor_msgs/msg/CompressedImage"]
    frame_ns = round(1e9 / fps)
    written = index = total_bytes = 0
    try:
        with BagWriter(out, typestore=store) as bag:
            bag.add_topic(TOPIC, "sensor_msgs/msg/CompressedImage")
            while frames is None or written < frames:
                ok, bgr = capture.read()
                if not ok:
                    if frames is None and written:
                        break
                    raise ValueError(
                        f"{video} ended after {index} frames; asked for {start_frame} + {frames}"
                    )
                index += 1
                if index <= start_frame:
                    continue
                small = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
                fields = rgb_to_compressed_fields(
                    cv2.cvtColor(small, cv2.COLOR_BGR2RGB), "jpeg", quality, data_type="numpy"
                )
                stamp = START_NS + written * frame_ns
                bag.write(
                    TOPIC, message_cls(header=make_header(store, stamp, FRAME_ID), **fields), stamp
                )
                total_bytes += len(fields["data"])
                written += 1
    finally:
        capture.release()
    size = sum(f.stat().st_size for f in out.iterdir())
    return {"frames": written, "jpeg_bytes": total_bytes, "bag_bytes": size}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out.exists():
        if not args.force:
            sys.exit(f"{args.out} exists; pass --force to replace it")
        shutil.rmtree(args.out)
    try:
        written = write_bag(
            args.video,
            args.out,
            quality=args.quality,
            width=args.width,
            height=args.height,
            frames=args.frames,
            start_frame=args.start_frame,
            fps=args.fps,
        )
    except (OSError, ValueError) as exc:
        sys.exit(str(exc))
    print(
        f"wrote {args.out}: {written['frames']} frames {args.width}x{args.height} JPEG "
        f"q{args.quality} on {TOPIC}, {written['frames'] / args.fps:.2f} s at {args.fps:g} fps, "
        f"JPEG data {written['jpeg_bytes'] / 1e6:.2f} MB, bag {written['bag_bytes'] / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
