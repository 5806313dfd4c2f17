"""The README updater replaces exactly the marked block, idempotently, from results.json."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from t2g_core.evaluation import END_MARKER, RESULTS_FILE, START_MARKER, replace_block, update_readme

REPO = Path(__file__).resolve().parents[2]
BEFORE = f"# t2g\n\nintro\n\n## Results\n\n{START_MARKER}\nold table\nold line\n{END_MARKER}\n\n## Licences\n\ntext\n"


def test_replace_block_touches_only_the_marked_block():
    new = replace_block(BEFORE, "| a | b |\n|---|---|\n")
    assert new == BEFORE.replace("old table\nold line\n", "| a | b |\n|---|---|\n")
    assert replace_block(new, "| a | b |\n|---|---|\n") == new


@pytest.mark.parametrize(
    "text",
    [
        "no markers",
        f"{START_MARKER}\nonly a start",
        f"{START_MARKER}\n{START_MARKER}\n{END_MARKER}",
        f"{END_MARKER}\nx\n{START_MARKER}",
    ],
)
def test_replace_block_rejects_bad_markers(text):
    with pytest.raises(ValueError):
        replace_block(text, "block")


@pytest.fixture
def full_run(tmp_path, quick_config, quick_results) -> Path:
    """The quick run's results.json re-labelled as a full run, in tmp/results/ beside tmp/README.md."""
    results = json.loads((Path(quick_config.output_dir) / RESULTS_FILE).read_text())
    results["meta"]["quick"] = False
    (tmp_path / "results").mkdir()
    path = tmp_path / "results" / RESULTS_FILE
    path.write_text(json.dumps(results))
    return path


def test_update_readme_renders_results_with_machine_and_date(tmp_path, full_run, quick_results):
    readme = tmp_path / "README.md"
    readme.write_text(BEFORE)
    assert update_readme(readme, full_run) is True
    text = readme.read_text()
    head, block_and_tail = text.split(START_MARKER)
    block, tail = block_and_tail.split(END_MARKER)
    assert head == BEFORE.split(START_MARKER)[0] and tail == BEFORE.split(END_MARKER)[1]
    assert "old table" not in block
    assert quick_results["meta"]["date_utc"] in block and quick_results["meta"]["cpu"] in block
    assert "### Accuracy: mIoU (%)" in block and "](results/miou_by_target.png)" in block
    assert update_readme(readme, full_run) is False
    assert readme.read_text() == text


def test_update_readme_refuses_a_quick_run(tmp_path, quick_config, quick_results):
    readme = tmp_path / "README.md"
    readme.write_text(BEFORE)
    with pytest.raises(ValueError, match="quick"):
        update_readme(readme, Path(quick_config.output_dir) / RESULTS_FILE)
    assert readme.read_text() == BEFORE


def test_script_exit_codes(tmp_path, full_run, capsys):
    script = REPO / "scripts" / "update_readme_results.py"
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    script_main = runpy.run_path(str(script))["main"]
    assert script_main(["--readme", str(readme), "--results", str(full_run)]) == 1
    assert "exactly once" in capsys.readouterr().err
    readme.write_text(BEFORE)
    done = subprocess.run(
        [sys.executable, str(script), "--readme", str(readme), "--results", str(full_run)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "Accuracy" in readme.read_text()
