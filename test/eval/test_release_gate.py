"""The release gate's verdict logic on hand-made scorecards, its bands, and its command line."""

from __future__ import annotations

import json

import pytest
import yaml

from t2g_core.evaluation.release_gate import (
    BETTER,
    GATE_AXES,
    HIGHER,
    MISSING,
    SAME,
    WORSE,
    GateAxis,
    judge,
    load_bands,
    measure_bands,
    render_bands_yaml,
    render_verdict_markdown,
)
from t2g_core.release_check import main

BAND = 0.01


def _card(values: dict[str, dict[str, dict[str, float]]], std: float = 0.005) -> dict:
    """A scorecard with pairs -> role -> axis -> value (every axis with the same std)."""
    rows = {}
    for pair, roles in values.items():
        for role, axes in roles.items():
            rows[f"{pair}/{role}"] = {
                "role": role,
                "axes": {a: {"value": v, "std": std} for a, v in axes.items()},
            }
    return {"rows": rows, "pairs": [{"name": p} for p in values], "meta": {}}


def _baseline_values() -> dict[str, dict[str, float]]:
    """Every gate axis at a mid value, per role."""
    roles: dict[str, dict[str, float]] = {}
    for axis in GATE_AXES:
        roles.setdefault(axis.role, {})[axis.axis] = 0.5
    return roles


def _nudged(axis: GateAxis, by: float) -> dict[str, dict[str, float]]:
    """The baseline's values with ``axis`` moved by ``by`` in its better direction."""
    roles = _baseline_values()
    sign = 1 if axis.better == HIGHER else -1
    roles[axis.role][axis.axis] += sign * by
    return roles


BANDS = {axis.name: BAND for axis in GATE_AXES}


def test_a_clear_gain_on_one_axis_passes():
    axis = GATE_AXES[0]
    card = _card({"new": _nudged(axis, 5 * BAND), "old": _baseline_values()})
    verdict = judge(card, candidate="new", baseline="old", bands=BANDS)
    assert verdict.passed, verdict.reason
    outcomes = {a.name: a.outcome for a in verdict.axes}
    assert outcomes[axis.name] == BETTER
    assert all(o == SAME for name, o in outcomes.items() if name != axis.name)


@pytest.mark.parametrize("axis", [a for a in GATE_AXES if a.better != HIGHER][:2] + [GATE_AXES[0]])
def test_one_worse_axis_fails_even_with_gains_elsewhere(axis):
    roles = _nudged(axis, -5 * BAND)
    other = next(a for a in GATE_AXES if a != axis)
    sign = 1 if other.better == HIGHER else -1
    roles[other.role][other.axis] += sign * 5 * BAND
    card = _card({"new": roles, "old": _baseline_values()})
    verdict = judge(card, candidate="new", baseline="old", bands=BANDS)
    assert not verdict.passed
    assert {a.name: a.outcome for a in verdict.axes}[axis.name] == WORSE
    assert axis.name in verdict.reason


def test_changes_within_the_bands_are_no_gain_and_fail():
    roles = _baseline_values()
    for axis in GATE_AXES:
        roles[axis.role][axis.axis] += 0.5 * BAND  # better or worse by half a band: noise
    card = _card({"new": roles, "old": _baseline_values()})
    verdict = judge(card, candidate="new", baseline="old", bands=BANDS)
    assert not verdict.passed and "no axis better" in verdict.reason
    assert {a.outcome for a in verdict.axes} == {SAME}


def test_a_missing_axis_fails():
    axis = GATE_AXES[3]
    roles = _nudged(GATE_AXES[0], 5 * BAND)
    del roles[axis.role][axis.axis]
    card = _card({"new": roles, "old": _baseline_values()})
    verdict = judge(card, candidate="new", baseline="old", bands=BANDS)
    assert not verdict.passed
    assert {a.name: a.outcome for a in verdict.axes}[axis.name] == MISSING


def test_an_axis_without_a_band_fails_as_missing():
    card = _card({"new": _nudged(GATE_AXES[0], 5 * BAND), "old": _baseline_values()})
    bands = dict(BANDS)
    del bands[GATE_AXES[1].name]
    verdict = judge(card, candidate="new", baseline="old", bands=bands)
    assert not verdict.passed and GATE_AXES[1].name in verdict.reason


def test_lower_is_better_axes_count_a_drop_as_a_gain():
    axis = next(a for a in GATE_AXES if a.axis == "road.sky_as_road" and a.role == "t2g")
    roles = _baseline_values()
    roles["t2g"]["road.sky_as_road"] = 0.01  # from 0.5: far less sky called road
    verdict = judge(
        _card({"new": roles, "old": _baseline_values()}),
        candidate="new",
        baseline="old",
        bands=BANDS,
    )
    result = {a.name: a for a in verdict.axes}[axis.name]
    assert result.outcome == BETTER and result.delta == pytest.approx(0.49)


def test_bands_are_z_times_the_largest_std_of_the_role():
    card = _card({"a": _baseline_values()}, std=0.002)
    card["rows"]["b/t2g"] = {
        "role": "t2g",
        "axes": {"road.mean": {"value": 0.9, "std": 0.004}},
    }
    bands = measure_bands(card, z=2.0)
    assert bands["t2g:road.mean"] == pytest.approx(0.008)
    assert bands["t2g:val.miou"] == pytest.approx(0.004)
    assert set(bands) == {a.name for a in GATE_AXES}


def test_bands_file_round_trips_and_rejects_unknown_axes(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text(render_bands_yaml(BANDS, z=2, source="x.json", note="test"))
    assert load_bands(path) == BANDS
    assert "x.json" in path.read_text()
    path.write_text(yaml.safe_dump({"bands": {"t2g:no.such": 0.1}}))
    with pytest.raises(ValueError, match="unknown gate axes"):
        load_bands(path)


def test_the_repository_bands_cover_every_gate_axis(repo_root):
    bands = load_bands(repo_root / "config" / "release_gate.yaml")
    assert set(bands) == {a.name for a in GATE_AXES}
    assert all(b > 0 for b in bands.values())


def test_the_command_judges_given_scorecards_and_writes_the_verdict(tmp_path):
    card = _card({"new": _nudged(GATE_AXES[0], 5 * BAND), "old": _baseline_values()})
    card["meta"] = {"date_utc": "today"}
    card["pairs"] = [
        {"name": n, "t2g": f"{n}/t.pt", "perframe": f"{n}/p.pt"} for n in ("new", "old")
    ]
    scorecard = tmp_path / "card.json"
    scorecard.write_text(json.dumps(card))
    bands = tmp_path / "gate.yaml"
    bands.write_text(render_bands_yaml(BANDS, z=2, source="x", note="test"))
    args = ["--scorecard", str(scorecard), "--bands", str(bands), "--output", str(tmp_path)]
    assert main(["--candidate", "new", "--baseline", "old", *args]) == 0
    record = json.loads((tmp_path / "new_vs_old.json").read_text())
    assert record["verdict"] == "PASS"
    assert "PASS" in (tmp_path / "new_vs_old.md").read_text()
    # The other way round the same scorecard fails: the old pair is worse on that axis.
    assert main(["--candidate", "old", "--baseline", "new", *args]) == 1
    assert json.loads((tmp_path / "old_vs_new.json").read_text())["verdict"] == "FAIL"
    # The model card quotes the verdict between its markers, the rest of the card untouched.
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# card\n<!-- release:start -->\n<!-- release:end -->\n## T2G\n")
    verdict = str(tmp_path / "new_vs_old.json")
    assert main(["--model-card", verdict, "--card", str(card)]) == 0
    text = card.read_text()
    assert "**new** vs **old**: **PASS**" in text and text.endswith("## T2G\n")
    assert f"| {GATE_AXES[0].name} | 0.55 | 0.5 |" in text


def test_the_verdict_markdown_lists_every_axis():
    card = _card({"new": _baseline_values(), "old": _baseline_values()})
    text = render_verdict_markdown(judge(card, candidate="new", baseline="old", bands=BANDS))
    assert "FAIL" in text
    for axis in GATE_AXES:
        assert f"| {axis.name} |" in text
