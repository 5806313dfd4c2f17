#!/usr/bin/env python3
"""Regenerate README.md's Results section from results/results.json (never typed by hand).

Replaces the block between ``<!-- results:start -->`` and ``<!-- results:end -->`` with the tables, the
machine, the date and the chart links of the last full ``make bench`` run, the pretrained ESPNetv2
peer's rows and the T2G-vs-peer line included when that run had the peer. Idempotent.

Usage: python scripts/update_readme_results.py [--readme README.md] [--results results/results.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from t2g_core.evaluation.readme import update_readme

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--results", type=Path, default=REPO / "results" / "results.json")
    args = parser.parse_args(argv)
    try:
        changed = update_readme(args.readme, args.results)
    except (OSError, ValueError) as exc:
        print(f"update_readme_results: {exc}", file=sys.stderr)
        return 1
    print(f"{args.readme}: {'Results section updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
