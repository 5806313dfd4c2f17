"""``t2g-eval``: evaluate per-frame, per-frame + EMA and T2G side by side and write results/.

Usage::

    t2g-eval --config config/eval.yaml            # the full run (make bench)
    t2g-eval --config config/eval.yaml --quick    # smoke run, a few frames per target, to results/quick

Writes ``results.json``, ``summary.md`` and PNG charts into the config's ``output_dir``; progress bars go
to stderr. Exit status 0 on success, 2 on a bad config, checkpoint or data folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .evaluation.config import load_eval_config
from .evaluation.report import RESULTS_FILE, SUMMARY_FILE
from .evaluation.runner import run_evaluation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2g-eval", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=Path("config/eval.yaml"), help="evaluation YAML"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: the config's quick overrides"
    )
    parser.add_argument(
        "--output", type=Path, help="output folder (default: the config's output_dir)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        cfg = load_eval_config(args.config)
        if args.quick:
            cfg = cfg.quick_variant()
        if args.output is not None:
            cfg = dataclasses.replace(cfg, output_dir=str(args.output))
        results = run_evaluation(cfg, config_path=str(args.config), progress=not args.no_progress)
    except (CheckpointError, FileNotFoundError, ValueError, ImportError) as exc:
        print(f"t2g-eval: {exc}", file=sys.stderr)
        return 2
    out = Path(cfg.output_dir)
    print(
        f"t2g-eval: wrote {out / RESULTS_FILE}, {out / SUMMARY_FILE} and {len(results['plots'])} charts "
        f"in {results['meta']['wall_s'] / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
