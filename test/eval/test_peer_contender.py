"""The ESPNetv2 peer as a contender of ``make bench``: a small evaluation run with the synthetic peer
of ``test/fake_peer.py`` (scores recomputed from the peer directly), its report, and the skip and
error paths."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_peer import SIZES, file_name, write_fake_peer

from t2g_core.evaluate import main
from t2g_core.evaluation import PERFRAME, PERFRAME_EMA, SUMMARY_FILE, T2G, T2G_MEMORY1
from t2g_core.evaluation.peer import ESPNETV2_PEER, open_peer_contender
from t2g_core.evaluation.report import render_markdown, to_jsonable
from t2g_core.evaluation.runner import Evaluation, run_evaluation
from t2g_core.evaluation.sources import load_test_runs
from t2g_core.labels import LabelSet
from t2g_core.metrics import ConfusionAccumulator
from t2g_core.peers import EspNetV2Peer

REPO = Path(__file__).resolve().parents[2]
CAMVID = LabelSet.from_yaml(REPO / "config" / "classes_camvid.yaml")


@pytest.fixture(scope="module")
def fake_peer(tmp_path_factory) -> Path:
    return write_fake_peer(tmp_path_factory.mktemp("peer") / "espnetv2_cityscapes")


@pytest.fixture(scope="module")
def peer_config(quick_config, fake_peer, tmp_path_factory):
    """The shared quick config, smaller, with the synthetic peer; the tiny checkpoints on torch,
    which opens a stream much faster than onnxruntime's T + 1 sessions (the peer is always ORT)."""
    targets = quick_config.targets
    return dataclasses.replace(
        quick_config,
        backend="torch",
        output_dir=str(tmp_path_factory.mktemp("peer_results")),
        models=dataclasses.replace(quick_config.models, espnetv2_peer=str(fake_peer)),
        ema=dataclasses.replace(quick_config.ema, alphas=(0.5,)),
        targets=dataclasses.replace(
            targets,
            camvid_corrupted=dataclasses.replace(targets.camvid_corrupted, corruptions=("fog",)),
            video=dataclasses.replace(targets.video, strides=(1, 2)),
            val_15hz=dataclasses.replace(targets.val_15hz, strides=(1,), vc_windows=(3,)),
        ),
        speed=dataclasses.replace(quick_config.speed, sizes=((48, 64),), segformer_peer=False),
    )


@pytest.fixture(scope="module")
def peer_results(peer_config) -> dict:
    threads = torch.get_num_threads()
    try:
        return run_evaluation(peer_config, config_path="test", progress=False)
    finally:
        torch.set_num_threads(threads)


def test_peer_is_scored_beside_the_contenders(peer_config, peer_results, fake_peer):
    names = [m["name"] for m in peer_results["models"]]
    assert names == [PERFRAME, PERFRAME_EMA, T2G, ESPNETV2_PEER, T2G_MEMORY1]
    entry = peer_results["models"][3]
    assert entry["checkpoint"] == str(fake_peer) and entry["memory_length"] == 1
    assert set(entry["provenance"]["sha256"]) == {file_name(s) for s in SIZES}
    assert peer_results["meta"]["skipped"] == []
    targets = peer_results["targets"]
    # CamVid test: the same confusion as running the peer on the frames directly.
    runs = load_test_runs(peer_config.data_root, max_frames=peer_config.max_frames)
    peer = EspNetV2Peer(fake_peer)
    confusion = ConfusionAccumulator(CAMVID.num_classes, void_id=CAMVID.void_id)
    for run in runs:
        for image, labels in zip(run.images, run.labels, strict=True):
            confusion.update(peer.segment(image), labels)
    scored = targets["camvid_test"]["models"][ESPNETV2_PEER]
    assert scored["miou"] == pytest.approx(confusion.mean_iou())
    np.testing.assert_allclose(scored["per_class_iou"], confusion.per_class_iou())
    fog = targets["camvid_corrupted"]["corruptions"]["fog"][ESPNETV2_PEER]
    assert 0 <= fog["miou"] <= 1
    assert targets["camvid_corrupted"]["mean"][ESPNETV2_PEER]["miou"] == pytest.approx(fog["miou"])
    per_stride = targets["video"]["models"][ESPNETV2_PEER]["per_stride"]
    assert [e["stride"] for e in per_stride] == [1, 2]
    assert all(0 <= e["rate"] <= 1 and e["denominator"] > 0 for e in per_stride)
    assert ESPNETV2_PEER not in targets["val_15hz"]["models"]  # T2G's selection split only
    speed = peer_results["speed"]
    p50 = {n: speed["models"][n]["64x48"]["p50_ms"] for n in (T2G, ESPNETV2_PEER)}
    assert p50[ESPNETV2_PEER] > 0
    assert speed["ratios"]["64x48"]["espnetv2_peer/t2g"] == pytest.approx(
        p50[ESPNETV2_PEER] / p50[T2G]
    )


def test_comparison_and_report(peer_config, peer_results):
    targets, comparison = peer_results["targets"], peer_results["peer_comparison"]
    test = targets["camvid_test"]["models"]
    assert comparison["miou_points_ahead"] == pytest.approx(
        100 * (test[T2G]["miou"] - test[ESPNETV2_PEER]["miou"])
    )
    video = targets["video"]["models"]
    for k, e in enumerate(comparison["flicker_ratio"]):
        t2g, peer = (
            video[T2G]["per_stride"][k]["rate"],
            video[ESPNETV2_PEER]["per_stride"][k]["rate"],
        )
        assert e["ratio"] == (pytest.approx(t2g / peer) if peer > 0 else None)
    summary = (Path(peer_config.output_dir) / SUMMARY_FILE).read_text()
    assert "T2G vs the pretrained ESPNetv2 Cityscapes peer" in summary
    assert f"CamVid test mIoU {comparison['miou_points_ahead']:+.1f} points" in summary
    assert "*T2G ÷ ESPNetv2 peer*" in summary
    peer_rows = [line for line in summary.splitlines() if line.startswith("| ESPNetv2")]
    # Models table, accuracy (val column a dash), video flicker, speed; a column of per-class IoU.
    assert len(peer_rows) == 4
    assert peer_rows[1].endswith("| – |")
    assert (
        "| class | per-frame | per-frame + EMA" in summary
        and "| T2G | ESPNetv2 Cityscapes" in summary
    )
    assert set(peer_results["plots"]) == {"miou", "stability", "per_class", "strip"}


def test_missing_or_null_peer_skips_with_a_message(peer_config, peer_results, tmp_path, capsys):
    missing = tmp_path / "no_peer"
    for path, expected in [
        (str(missing), f"ESPNetv2 peer skipped: {missing}: the ESPNetv2 peer is not there"),
        (None, "ESPNetv2 peer skipped: models.espnetv2_peer is null"),
    ]:
        models = dataclasses.replace(peer_config.models, espnetv2_peer=path)
        evaluation = Evaluation(
            dataclasses.replace(peer_config, models=models), config_path="test", progress=False
        )
        assert evaluation.espnetv2 is None and evaluation.skipped == expected
        assert expected in capsys.readouterr().err
    results = json.loads(json.dumps(to_jsonable(peer_results)))
    results["meta"]["skipped"] = [expected]
    assert f"*{expected}*" in render_markdown(results)


def test_other_classes_skip_the_peer(fake_peer):
    other = LabelSet(names=("a", "b"), colors=((0, 0, 0), (1, 1, 1)), void_id=255)
    contender, message = open_peer_contender(str(fake_peer), label_set=other, threads=1)
    assert contender is None and "CamVid-11" in message
    contender, message = open_peer_contender(str(fake_peer), label_set=CAMVID, threads=1)
    assert contender is not None and message is None


def test_cli_refuses_a_corrupt_peer(tmp_path, checkpoints, fake_peer, capsys):
    bad = write_fake_peer(tmp_path / "bad_peer")
    path = bad / file_name(SIZES[1])
    path.write_bytes(path.read_bytes()[:-4])
    text = (REPO / "config" / "eval.yaml").read_text()
    text = text.replace("checkpoints/perframe_lite0_camvid.pt", str(checkpoints[0]))
    text = text.replace("checkpoints/t2g_lite0_camvid.pt", str(checkpoints[1]))
    text = text.replace("../shared/peers/espnetv2_cityscapes", str(bad))
    text = text.replace("segformer_peer: true", "segformer_peer: false")  # no transformers import
    config = tmp_path / "eval.yaml"
    config.write_text(text)
    args = ["--config", str(config), "--quick", "--no-progress", "--output", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "espnetv2_s2_cityscapes_36x64.onnx: SHA-256" in err and "Traceback" not in err
