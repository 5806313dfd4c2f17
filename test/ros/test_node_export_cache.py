"""The node on its default backend, onnxruntime (issue 15), started twice on one export cache: the
first start says it builds the export (once), the second reuses it without a word. Real processes,
real rclpy; the tiny per-frame checkpoint (one decoder graph: the cheapest export). A corrupt or
stale export is rebuilt by the same ``open_segmenter`` call, with the reason passed to the node's
log: test/core/test_export_cache.py and test/core/test_open_segmenter.py."""

from __future__ import annotations

import pytest
from node_harness import NodeProcess, Probe, rgb_image

pytestmark = pytest.mark.slow
BUILDING = "building the onnxruntime export of random_init_per_frame.pt (once, ~"


def _start_and_answer_one_frame(checkpoint, frame) -> str:
    """The node's log after it answered one frame (so its model is open) and stopped."""
    proc = NodeProcess(
        {"model.checkpoint": checkpoint, "model.memory_length": 1, "input.max_age_s": 0.0}
    )
    probe = Probe(proc)
    try:
        probe.wait_ready()
        probe.send(rgb_image(frame), 1.0)
        probe.wait_outputs(1.0, ("labels",))
    finally:
        probe.close()
        log = proc.stop()
    assert "backend onnxruntime on cpu" in log, log
    return log


def test_first_start_builds_the_export_once_and_the_second_reuses_it(
    ros, tiny_checkpoints, frames, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv("T2G_EXPORT_CACHE", str(cache))  # the node processes inherit it
    checkpoint = tiny_checkpoints["per_frame"]

    first = _start_and_answer_one_frame(checkpoint, frames[0])
    assert first.count(BUILDING) == 1 and "built the onnxruntime export" in first, first
    (export,) = [p for p in cache.iterdir() if p.is_dir()]

    second = _start_and_answer_one_frame(checkpoint, frames[0])
    assert "building" not in second, second
    assert [p for p in cache.iterdir() if p.is_dir()] == [export]
