"""The README's Results section: the block between two HTML comment markers, regenerated from results.json."""

from __future__ import annotations

import os
from pathlib import Path

from .report import load_results, render_markdown

START_MARKER = "<!-- results:start -->"
END_MARKER = "<!-- results:end -->"


def replace_block(
    text: str, block: str, *, markers: tuple[str, str] = (START_MARKER, END_MARKER)
) -> str:
    """``text`` with everything between the two ``markers`` (default :data:`START_MARKER` and
    :data:`END_MARKER`) replaced by ``block``.

    The markers stay on their own lines; the block sits between them with one newline on each side, so a
    second call with the same block returns the text unchanged.

    Raises:
        ValueError: a marker is missing or appears more than once, or the end comes before the start.
    """
    start_marker, end_marker = markers
    for marker in markers:
        if text.count(marker) != 1:
            raise ValueError(
                f"README must contain {marker!r} exactly once, found {text.count(marker)}"
            )
    start = text.index(start_marker) + len(start_marker)
    end = text.index(end_marker)
    if end < start:
        raise ValueError(f"{end_marker!r} comes before {start_marker!r}")
    return text[:start] + "\n" + block.strip("\n") + "\n" + text[end:]


def readme_block(results_path: str | Path, *, image_prefix: str) -> str:
    """The README section rendered from ``results.json`` (charts linked with ``image_prefix``).

    Raises:
        ValueError: the results come from a ``--quick`` smoke run.
    """
    results = load_results(results_path)
    if results["meta"].get("quick"):
        raise ValueError(
            f"{results_path} is a --quick smoke run; run the full evaluation (make bench) first"
        )
    return render_markdown(results, image_prefix=image_prefix, level=3)


def update_readme(readme_path: str | Path, results_path: str | Path) -> bool:
    """Regenerate the marked block of ``readme_path`` from ``results_path``; True if the file changed.

    Chart links are made relative to the README's folder.
    """
    readme_path, results_path = Path(readme_path), Path(results_path)
    prefix = Path(
        os.path.relpath(results_path.parent.resolve(), readme_path.parent.resolve())
    ).as_posix()
    text = readme_path.read_text(encoding="utf-8")
    new = replace_block(
        text, readme_block(results_path, image_prefix=f"{prefix}/" if prefix != "." else "")
    )
    if new == text:
        return False
    readme_path.write_text(new, encoding="utf-8")
    return True
