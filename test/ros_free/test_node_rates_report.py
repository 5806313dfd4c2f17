"""scripts/node_rates.py (make node-rates): the figures of a row from what was received (synthetic
timings, no node), the goals and the markdown report. The measurement itself is not a test."""

from __future__ import annotations

import math

import pytest


@pytest.fixture(scope="module")
def rates():
    import node_rates  # scripts/ is on the test path (pytest.ini pythonpath)

    return node_rates


def _diag(**totals):
    return {f"dropped_{k}_total": str(v) for k, v in totals.items()} | {
        "processing_ms_p50": "20.0",
        "processing_ms_p95": "30.0",
    }


def test_rate_latency_slope_and_drops_come_from_what_was_received(rates):
    # 30 Hz for 10 s of stamps from t=100; every second frame answered, latency 40 ms + 2 ms/s.
    sent = [100.0 + i / 30 for i in range(300)]
    received = [(s + 0.040 + 0.002 * (s - 100.0), s) for s in sent[::2]]
    received.append((95.0, 99.0))  # a reply to a warm-up frame: outside the window
    diagnostics = [
        (99.5, _diag(overwritten=10, stale=1)),  # before the window: the baseline
        (104.0, _diag(overwritten=50, stale=1)),
        (110.5, _diag(overwritten=160, stale=3)),
    ]
    row = rates.summarize(
        received, sent_stamps=sent, window=(100.0, 110.0), diagnostics=diagnostics
    )
    assert row["published_hz"] == pytest.approx(30.0)
    assert row["output_hz"] == pytest.approx(15.0)
    assert (row["sent"], row["answered"], row["unanswered"]) == (300, 150, 150)
    assert row["latency_ms_p50"] == pytest.approx(40 + 2 * 5, abs=0.2)
    assert row["lag_slope_ms_per_s"] == pytest.approx(2.0, rel=1e-3)
    assert row["drops"]["dropped_overwritten_total"] == 150
    assert row["drops"]["dropped_stale_total"] == 2
    assert row["node_processing_ms_p50"] == 20.0


def test_no_reply_gives_nan_figures_not_an_error(rates):
    row = rates.summarize([], sent_stamps=[1.0, 2.0], window=(0.0, 4.0), diagnostics=[])
    assert row["output_hz"] == 0 and row["unanswered"] == 2 and row["drops"] == {}
    assert math.isnan(row["latency_ms_p95"]) and math.isnan(row["lag_slope_ms_per_s"])


def test_goals_and_markdown(rates):
    def row(size, kind, hz, p95, slope, overwritten=0, stale=0):
        return {
            "size": size,
            "input": kind,
            "rate_hz": 30.0,
            "published_hz": 30.0,
            "output_hz": hz,
            "latency_ms_p50": p95 / 2,
            "latency_ms_p95": p95,
            "lag_slope_ms_per_s": slope,
            "node_processing_ms_p50": 20.0,
            "node_processing_ms_p95": 30.0,
            "unanswered": 3,
            "drops": {"dropped_overwritten_total": overwritten, "dropped_stale_total": stale},
        }

    rows = [
        row("640x480", "raw", 29.5, 45.0, 0.2),  # met
        row("640x480", "compressed", 29.5, 55.0, 0.2),  # p95 too high
        row("1280x720", "raw", 26.0, 90.0, 0.1, overwritten=12, stale=4),  # met: no p95 goal
        row("1280x720", "compressed", 26.0, 90.0, 3.0),  # growing lag
        row("480x360", "raw", 30.0, 20.0, 0.0),  # no goal at this size
    ]
    goals = rates.goals(rows)
    assert [g["met"] for g in goals] == [True, False, True, False]
    report = {
        "date": "today",
        "machine": {"cpu": "cpu", "cores": 2, "load_average": [5.0, 4.0, 3.0]},
        "backend": "onnxruntime",
        "precision": "fp32",
        "threads": 2,
        "seconds": 2.0,
        "warmup_s": 1.0,
        "note": "smoke run on a busy machine",
        "command": "python scripts/node_rates.py --quick",
        "rows": rows,
        "goals": goals,
    }
    text = rates.markdown(report)
    assert "**smoke run on a busy machine**" in text
    table = [line for line in text.splitlines() if line.startswith("| 1280x720 | raw")]
    (cells,) = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    assert cells[3] == "26.0" and cells[5] == "90.0" and cells[8] == "12"
    assert cells[9] == "stale 4" and cells[10] == "3"
    assert text.count("| yes |") == 2 and text.count("| no |") == 2
