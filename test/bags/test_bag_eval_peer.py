"""t2g-bag-eval --baseline-onnx: the ESPNetv2 peer beside T2G on the same bag (the synthetic peer of
test/fake_peer.py, metrics recomputed from the peer directly; the real one where ../shared has it),
and a missing or corrupt peer as a usage error (status 2, no traceback)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from bag_factory import IMAGE_TOPIC, read_topic, write_image_bag
from fake_peer import SIZES, file_name, write_fake_peer

from t2g_core.metrics import flicker_rate
from t2g_core.peers import DEFAULT_PEER_DIR, EspNetV2Peer
from t2g_ros.bags import eval as bag_eval
from t2g_ros.bags.frames import decode_label_image


def run_eval(capsys, *args) -> tuple[int, str, str]:
    code = bag_eval.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def fake_peer(tmp_path):
    return write_fake_peer(tmp_path / "peer")


def test_peer_is_measured_beside_t2g(tmp_path, store, tiny_checkpoint, sample_frames, capsys):
    fake_peer = write_fake_peer(tmp_path / "peer")
    frames = sample_frames  # 72x128 (16:9): the 36x64 file, a 2x bilinear downscale
    in_bag, out = tmp_path / "in", tmp_path / "out"
    write_image_bag(in_bag, store, frames)
    code, stdout, stderr = run_eval(
        capsys,
        in_bag,
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        out,
        "--checkpoint",
        tiny_checkpoint,
        "--baseline-onnx",
        fake_peer,
        "--no-video",
    )
    assert code == 0, stderr
    report = json.loads((tmp_path / "out.metrics.json").read_text())
    peer_labels = [EspNetV2Peer(fake_peer).segment(f) for f in frames]
    t2g_labels = [decode_label_image(m.msg) for m in read_topic(out, "/t2g/labels")]
    assert len({int(x) for labels in peer_labels for x in np.unique(labels)}) > 3
    assert report["checkpoints"]["peer"]["folder"] == str(fake_peer)
    assert report["flicker"]["peer"] == pytest.approx(
        flicker_rate(peer_labels, frames=frames).rate, abs=0
    )
    per_stride = report["flicker_per_stride"]
    assert per_stride["strides"] == [1, 2, 4, 8]
    for stride, entry in zip((1, 2, 4, 8), per_stride["models"]["peer"], strict=True):
        pairs = [
            flicker_rate(
                [peer_labels[t], peer_labels[t + stride]], frames=[frames[t], frames[t + stride]]
            )
            for t in range(len(frames) - stride)
        ]
        numerator = sum(p.numerator for p in pairs)
        denominator = sum(p.denominator for p in pairs)
        assert entry["stride"] == stride and entry["pixels"] == denominator
        assert entry["rate"] == pytest.approx(numerator / denominator, abs=1e-12)
    assert per_stride["models"]["t2g"][0]["rate"] == pytest.approx(report["flicker"]["t2g"])
    comparison = report["peer_comparison"]
    agree = sum(int((a == b).sum()) for a, b in zip(t2g_labels, peer_labels))
    assert comparison["labels_agree"] == pytest.approx(
        agree / (len(frames) * frames[0][..., 0].size), abs=1e-6
    )
    t2g_rates = [e["rate"] for e in per_stride["models"]["t2g"]]
    for e, t2g_rate, peer_entry in zip(
        comparison["flicker_ratio_per_stride"], t2g_rates, per_stride["models"]["peer"]
    ):
        if peer_entry["rate"]:
            assert e["ratio"] == pytest.approx(t2g_rate / peer_entry["rate"], abs=1e-6)
    counts = np.bincount(np.concatenate([x.ravel() for x in peer_labels]), minlength=12)
    shares = report["label_shares"]["models"]["peer"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-5)
    assert shares.get("void", 0.0) == pytest.approx(counts[11] / counts.sum(), abs=1e-6)
    assert shares.get("sky", 0.0) == pytest.approx(counts[0] / counts.sum(), abs=1e-6)
    timing = report["processing_ms"]["models"]
    assert set(timing) == {"t2g", "memory_1", "peer"} and timing["peer"]["p50"] > 0
    assert "ESPNetv2 peer" in stdout and "T2G vs ESPNetv2 peer" in stdout
    preview = cv2.imread(report["output"]["preview"])
    assert preview is not None and preview.shape[1] > 3 * frames[0].shape[1]


@pytest.mark.parametrize("problem", ["missing", "checksum", "unlisted"])
def test_bad_peer_is_a_usage_error(tmp_path, store, tiny_checkpoint, fake_peer, capsys, problem):
    if problem == "missing":
        peer, expected = tmp_path / "nowhere", "is not there"
    elif problem == "checksum":
        peer = fake_peer / file_name(SIZES[0])
        peer.write_bytes(peer.read_bytes() + b"\0")
        expected = "does not match SHA256SUMS"
    else:
        peer = tmp_path / "model.onnx"
        peer.write_bytes(b"not onnx")
        expected = "SHA256SUMS: missing"
    in_bag = tmp_path / "in"
    write_image_bag(in_bag, store, [np.zeros((48, 64, 3), np.uint8)] * 2)
    code, _, stderr = run_eval(
        capsys,
        in_bag,
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        tmp_path / "out",
        "--checkpoint",
        tiny_checkpoint,
        "--baseline-onnx",
        peer,
    )
    assert code == 2
    assert stderr.startswith("t2g-bag-eval: error: --baseline-onnx: ") and expected in stderr
    assert "Traceback" not in stderr and not (tmp_path / "out").exists()


@pytest.mark.skipif(
    not DEFAULT_PEER_DIR.is_dir(), reason=f"{DEFAULT_PEER_DIR} is missing: real-peer test skipped"
)
def test_real_peer_on_road_frames(tmp_path, store, tiny_checkpoint, sample_frames, capsys):
    frames = sample_frames[:3]
    in_bag = tmp_path / "in"
    write_image_bag(in_bag, store, frames)
    code, stdout, stderr = run_eval(
        capsys,
        in_bag,
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        tmp_path / "out",
        "--checkpoint",
        tiny_checkpoint,
        "--baseline-onnx",
        DEFAULT_PEER_DIR,
        "--no-video",
        "--preview-rows",
        "0",
    )
    assert code == 0, stderr
    report = json.loads((tmp_path / "out.metrics.json").read_text())
    shares = report["label_shares"]["models"]["peer"]
    # A dash-cam road scene: the pretrained peer sees road among its main classes.
    assert shares.get("road", 0) > 0.1, shares
    assert report["flicker"]["peer"] is not None and report["checkpoints"]["peer"]["files"]
