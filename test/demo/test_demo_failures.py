"""t2g-demo ends at once, with one line, when its recording thread dies (a real full disk) or its
--timeout passes, wherever it is waiting; the previous run's outputs are left as they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from small_disk import tiny_tmpfs


def run_demo(out: Path, bag: Path, checkpoint: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "t2g_ros.demo",
            "--checkpoint",
            str(checkpoint),
            "--bag",
            str(bag),
            "--out",
            str(out),
            "--node-param",
            "model.threads:=1",
            "--node-param",
            "model.backend:=torch",  # no export to build: the test is about the live run
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("t2g-demo: error")]


def test_a_full_disk_ends_the_demo_at_once_with_one_line(tmp_path, short_bag, tiny_checkpoint):
    bag, _ = short_bag
    with tiny_tmpfs(tmp_path / "disk", "1m") as disk:
        result = run_demo(disk / "demo", bag, tiny_checkpoint)
        left = sorted(p.name for p in (disk / "demo").iterdir())
    assert result.returncode == 1, result.stdout + result.stderr
    assert _error_lines(result) == [
        f"t2g-demo: error: the recording thread failed: disk full while writing {disk / 'demo'} "
        "(No space left on device); the previous run's outputs are unchanged"
    ], result.stderr
    assert "live run done" not in result.stdout  # it ended in the replay, not after it
    assert left == ["node.log"]  # no partial bag or summary


def test_the_timeout_covers_the_whole_run(tmp_path, short_bag, tiny_checkpoint):
    bag, _ = short_bag
    out = tmp_path / "demo"
    (out / "bag").mkdir(parents=True)  # a previous run's results stay as they were
    (out / "bag" / "metadata.yaml").write_text("previous run\n")
    # Every frame is dropped (more pixels than allowed), so lockstep waits out its 10 s per frame:
    # ten frames take longer than the whole run may.
    result = run_demo(
        out, bag, tiny_checkpoint, "--timeout", "20", "--node-param", "input.max_pixels:=1"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    errors = _error_lines(result)
    assert len(errors) == 1 and errors[0].startswith(
        "t2g-demo: error: the run did not finish within --timeout 20 s"
    ), result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["bag", "node.log"]
    assert (out / "bag" / "metadata.yaml").read_text() == "previous run\n"
