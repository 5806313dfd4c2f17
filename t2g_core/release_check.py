"""``make release-check``: may a candidate pair of checkpoints replace the baseline (the shipped pair)?

Usage::

    python -m t2g_core.release_check --candidate v2=runs/releases/v2            # baseline: checkpoints/
    python -m t2g_core.release_check --candidate v2=DIR --baseline old=DIR2
    python -m t2g_core.release_check --candidate v2=DIR --scorecard a.json --scorecard b.json
    python -m t2g_core.release_check --candidate v3=DIR --baseline d008=DIR2 --join \
        --scorecard results/scorecard.json --scorecard v3_accuracy.json --scorecard speed.json
    python -m t2g_core.release_check --measure-bands results/release/scorecard.json
    python -m t2g_core.release_check --model-card results/release/v2_vs_shipped.json

Without ``--scorecard`` it scores both pairs in one run (``t2g_core.scorecard``) into
``<output>/<candidate>_vs_<baseline>/``. With it, the given scorecards (parts run apart, e.g. accuracy
under load and speed on an idle machine) are merged and judged as they are; with ``--join`` they may
score different pairs (a candidate scored alone next to the scorecard that holds the baseline). The verdict goes to
``<output>/<candidate>_vs_<baseline>.{json,md}``. ``--measure-bands`` writes the gate's noise bands
from a scorecard's bootstrap stds into ``--bands``; ``--model-card`` writes a verdict's block into
``checkpoints/MODEL_CARD.md`` (between its release markers). Exit status: 0 PASS, 1 FAIL, 2 a bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .evaluation.readme import replace_block
from .evaluation.release_gate import (
    judge,
    load_bands,
    measure_bands,
    render_bands_yaml,
    render_release_block,
    render_verdict_markdown,
)
from .evaluation.scorecard import merge_scorecards, run_scorecard
from .evaluation.scorecard_config import load_scorecard_config, parse_pair
from .evaluation.scorecard_report import write_scorecard

REPO = Path(__file__).resolve().parents[1]
MODEL_CARD_MARKERS = ("<!-- release:start -->", "<!-- release:end -->")
BAND_Z = 2.0  # bands are 2 stds: a 5 % chance that sampling noise alone looks like a change


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2g-release-check", description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", help="NAME=DIR or NAME=T2G.pt,PERFRAME.pt")
    parser.add_argument("--baseline", default="shipped=checkpoints", help="default: %(default)s")
    parser.add_argument("--scorecard", action="append", type=Path, help="judge these (merged)")
    parser.add_argument(
        "--join",
        action="store_true",
        help="the --scorecard files may score different pairs (their rows are joined)",
    )
    parser.add_argument("--config", type=Path, default=Path("config/scorecard.yaml"))
    parser.add_argument("--bands", type=Path, default=Path("config/release_gate.yaml"))
    parser.add_argument("--output", type=Path, default=Path("results/release"))
    parser.add_argument("--measure-bands", type=Path, metavar="SCORECARD", help="write --bands")
    parser.add_argument("--bands-note", default="", help="where the scorecard came from")
    parser.add_argument(
        "--model-card",
        type=Path,
        metavar="VERDICT_JSON",
        help="judge nothing: write this verdict's block into --card",
    )
    parser.add_argument("--card", type=Path, default=REPO / "checkpoints" / "MODEL_CARD.md")
    args = parser.parse_args(argv)
    try:
        if args.measure_bands:
            return _write_bands(args)
        if args.model_card:
            return _write_model_card(args.model_card, args.card)
        if not args.candidate:
            parser.error("--candidate is required (or --measure-bands)")
        return _check(args)
    except (CheckpointError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"t2g-release-check: {exc}", file=sys.stderr)
        return 2


def _check(args: argparse.Namespace) -> int:
    bands = load_bands(args.bands)
    if args.scorecard:
        card = merge_scorecards([json.loads(p.read_text()) for p in args.scorecard], join=args.join)
        candidate = args.candidate.partition("=")[0]
        baseline = args.baseline.partition("=")[0]
    else:
        cand_pair, base_pair = parse_pair(args.candidate), parse_pair(args.baseline)
        candidate, baseline = cand_pair.name, base_pair.name
        load_before = os.getloadavg()[0]
        card = run_scorecard(load_scorecard_config(args.config), [cand_pair, base_pair])
        card["meta"]["load_before"] = round(load_before, 2)
        card["meta"]["load_after"] = round(os.getloadavg()[0], 2)
        write_scorecard(card, args.output / f"{candidate}_vs_{baseline}")
    verdict = judge(card, candidate=candidate, baseline=baseline, bands=bands)
    stem = args.output / f"{candidate}_vs_{baseline}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **verdict.to_dict(),
        "bands_file": str(args.bands),
        "scorecards": [str(p) for p in args.scorecard or []],
        "pairs": card["pairs"],
        "meta": card["meta"],
    }
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    stem.with_suffix(".md").write_text(render_verdict_markdown(verdict))
    print(render_verdict_markdown(verdict))
    return 0 if verdict.passed else 1


def _write_model_card(verdict: Path, card: Path) -> int:
    record = json.loads(verdict.read_text())
    block = render_release_block(record, verdict_file=verdict.as_posix())
    text = card.read_text(encoding="utf-8")
    card.write_text(replace_block(text, block, markers=MODEL_CARD_MARKERS), encoding="utf-8")
    print(f"t2g-release-check: wrote the release block of {card}")
    return 0


def _write_bands(args: argparse.Namespace) -> int:
    card = json.loads(args.measure_bands.read_text())
    bands = measure_bands(card, z=BAND_Z)
    note = args.bands_note or f"{card['meta']['date_utc']}, commit {card['meta']['git_commit']}"
    args.bands.write_text(
        render_bands_yaml(bands, z=BAND_Z, source=str(args.measure_bands), note=note)
    )
    print(f"t2g-release-check: wrote {len(bands)} bands to {args.bands}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
