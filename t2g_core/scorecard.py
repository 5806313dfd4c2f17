"""``make scorecard``: checkpoint pairs side by side on real roads, real video, CamVid and speed.

Usage::

    python -m t2g_core.scorecard                                   # the shipped pair (checkpoints/)
    python -m t2g_core.scorecard --pair v2=runs/releases/v2 --pair shipped=checkpoints
    python -m t2g_core.scorecard --quick --pair mine=runs/t2g/best.pt,runs/perframe/best.pt
    python -m t2g_core.scorecard --readme results/scorecard.json   # README block, no scoring
    python -m t2g_core.scorecard --merge runs/acc/scorecard.json runs/speed/scorecard.json --output results

Writes ``scorecard.json``, ``scorecard.md`` and ``scorecard.png`` into ``--output`` (default: the
config's ``output_dir``, or its ``quick/`` folder with ``--quick``). Exit status 0, or 2 with one line
on a bad config, checkpoint or data folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .evaluation.scorecard import PARTS, merge_scorecards, run_scorecard
from .evaluation.scorecard_config import load_scorecard_config, parse_pair
from .evaluation.scorecard_report import PICTURE_FILE, update_readme_scorecard, write_scorecard
from .export.quantize import PRECISIONS

DEFAULT_PAIR = "shipped=checkpoints"
README = Path(__file__).resolve().parents[1] / "README.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2g-scorecard", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/scorecard.yaml"))
    parser.add_argument(
        "--pair",
        action="append",
        help=f"NAME=DIR or NAME=T2G.pt,PERFRAME.pt; repeatable (default {DEFAULT_PAIR})",
    )
    parser.add_argument("--quick", action="store_true", help="val, regions, stride-1 flicker only")
    parser.add_argument("--output", type=Path, help="output folder (default: the config's)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="of the t2g models (default: the config's); int8 quantises their backbone",
    )
    parser.add_argument(
        "--readme",
        type=Path,
        metavar="SCORECARD_JSON",
        help="score nothing: regenerate README.md's scorecard block from this scorecard",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="SCORECARD_JSON",
        help="score nothing: merge parts run apart (e.g. accuracy, then speed when idle) into "
        "--output, the first part's picture with them",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        help="with --merge: the parts may score different pairs (their rows are joined, later "
        "axes override), e.g. a new candidate scored alone next to the releases' scorecard",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="run only these parts (time speed on an idle machine; merge with t2g-release-check)",
    )
    args = parser.parse_args(argv)
    try:
        if args.readme:
            changed = update_readme_scorecard(README, args.readme)
            print(f"t2g-scorecard: README.md {'updated' if changed else 'unchanged'}")
            return 0
        if args.merge:
            paths = merge_parts(args.merge, args.output or Path("results"), join=args.join)
            print(f"t2g-scorecard: wrote {', '.join(str(p) for p in paths.values())}")
            return 0
        cfg = load_scorecard_config(args.config)
        if args.quick:
            cfg = cfg.quick_variant()
        if args.output is not None:
            cfg = dataclasses.replace(cfg, output_dir=str(args.output))
        if args.precision is not None:
            cfg = dataclasses.replace(cfg, precision=args.precision)
        pairs = [parse_pair(spec) for spec in args.pair or [DEFAULT_PAIR]]
        load_before = os.getloadavg()[0]
        card = run_scorecard(cfg, pairs, parts=args.parts)
        card["meta"]["load_before"] = round(load_before, 2)
        card["meta"]["load_after"] = round(os.getloadavg()[0], 2)
        card["meta"]["command"] = " ".join(
            ["python -m t2g_core.scorecard", *(argv or sys.argv[1:])]
        )
        paths = write_scorecard(card, cfg.output_dir)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"t2g-scorecard: {exc}", file=sys.stderr)
        return 2
    print(f"t2g-scorecard: wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def merge_parts(parts: list[Path], out: Path, *, join: bool = False) -> dict[str, Path]:
    """Merge scorecard JSONs into ``out`` (json, markdown, and the first part's picture if any);
    ``join``: see ``merge_scorecards``."""
    cards = [json.loads(p.read_text(encoding="utf-8")) for p in parts]
    merged = merge_scorecards(cards, join=join)
    merged["meta"]["command"] = " ".join(
        ["python -m t2g_core.scorecard --merge", *map(str, parts), *(["--join"] if join else [])]
    )
    picture = cards[0].get("picture")
    paths = write_scorecard(merged, out)
    if picture:
        source = parts[0].parent / picture
        paths["picture"] = out / PICTURE_FILE
        if source.resolve() != paths["picture"].resolve():
            shutil.copyfile(source, paths["picture"])
    return paths


if __name__ == "__main__":
    sys.exit(main())
