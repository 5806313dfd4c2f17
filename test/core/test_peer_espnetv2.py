"""The ESPNetv2 Cityscapes peer: its README's contract on a synthetic peer built with onnx.helper
(normalisation, argmax, mapping, resizes, size choice, checksum errors), and the real files from
../shared/peers where they are present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_peer import SIZES, class_frame, file_name, peer_model_bytes, write_fake_peer

from t2g_core.peers import (
    CITYSCAPES_TO_CAMVID,
    DEFAULT_PEER_DIR,
    EspNetV2Peer,
    PeerError,
    PeerNotFoundError,
)

REPO = Path(__file__).resolve().parents[2]
needs_real_peer = pytest.mark.skipif(
    not DEFAULT_PEER_DIR.is_dir(), reason=f"{DEFAULT_PEER_DIR} is missing: real-peer test skipped"
)


@pytest.fixture
def fake_peer(tmp_path) -> Path:
    return write_fake_peer(tmp_path / "peer")


def test_mapping_covers_camvid_and_sends_background_to_void():
    assert CITYSCAPES_TO_CAMVID.shape == (20,) and CITYSCAPES_TO_CAMVID.dtype == np.uint8
    assert CITYSCAPES_TO_CAMVID[19] == 11
    assert set(CITYSCAPES_TO_CAMVID[:19].tolist()) == set(range(11))


@needs_real_peer
def test_mapping_is_the_readme_table():
    text = (DEFAULT_PEER_DIR / "README.md").read_text(encoding="utf-8")
    section = text.split("Recommended Cityscapes -> CamVid-11 mapping")[1].split("\n## ")[0]
    mapping = {}
    for left, right in re.findall(r"^\| ([0-9][^|]*) \| ([0-9]+) [^|]*\|$", section, re.M):
        for train_id in re.findall(r"(\d+) [a-z]", left):
            mapping[int(train_id)] = int(right)
    assert sorted(mapping) == list(range(20))
    assert CITYSCAPES_TO_CAMVID.tolist() == [mapping[k] for k in range(20)]


@pytest.mark.parametrize("size", SIZES)
def test_contract_at_the_input_size_is_exact(fake_peer, size):
    frame, ids = class_frame(size)
    labels = EspNetV2Peer(fake_peer).segment(frame)
    assert labels.dtype == np.uint8 and labels.shape == size
    np.testing.assert_array_equal(labels, CITYSCAPES_TO_CAMVID[ids])


def test_resizes_bilinear_in_and_nearest_out(fake_peer):
    # A frame twice the input size in 2x2 blocks: the bilinear 2x downscale reads back the blocks,
    # and the nearest upscale of the labels returns them as blocks.
    frame, ids = class_frame(SIZES[0])
    big = np.kron(frame, np.ones((2, 2, 1), np.uint8))
    labels = EspNetV2Peer(fake_peer).segment(big)
    assert labels.shape == big.shape[:2]
    np.testing.assert_array_equal(labels, np.kron(CITYSCAPES_TO_CAMVID[ids], np.ones((2, 2), int)))


@pytest.mark.parametrize(
    "frame_hw, expected",
    [((360, 480), 0), ((480, 640), 0), ((270, 480), 1), ((720, 1280), 1), ((540, 960), 1)],
)
def test_input_size_follows_the_aspect_ratio(fake_peer, frame_hw, expected):
    peer = EspNetV2Peer(fake_peer)
    assert peer.input_size_for(frame_hw) == SIZES[expected]
    labels = peer.segment(np.zeros((*frame_hw, 3), np.uint8))
    assert labels.shape == frame_hw


def test_a_chosen_file_serves_every_frame(fake_peer):
    peer = EspNetV2Peer(fake_peer / file_name(SIZES[1]), threads=2)
    assert list(peer.files) == [SIZES[1]]
    assert peer.input_size_for((360, 480)) == SIZES[1]
    assert peer.segment(np.zeros((360, 480, 3), np.uint8)).shape == (360, 480)


def test_segmenter_steps_like_a_per_frame_stream(fake_peer):
    frame, ids = class_frame(SIZES[0])
    segmenter = EspNetV2Peer(fake_peer).segmenter(max_gap_s=0.5)
    first = segmenter.step(frame, 0.0)
    assert first.reset_reason == "start" and first.frames_in_memory == 1
    np.testing.assert_array_equal(first.labels, CITYSCAPES_TO_CAMVID[ids])
    assert first.confidence.dtype == np.float32 and first.confidence.shape == SIZES[0]
    assert 0.05 < first.confidence.min() and first.confidence.max() <= 1.0
    assert segmenter.step(frame, 0.1).reset_reason is None
    assert segmenter.step(frame, 1.0).reset_reason == "gap"
    segmenter.reset("seek")
    assert segmenter.frames_in_memory == 0
    assert segmenter.step(frame, 1.1).reset_reason == "seek"
    with pytest.raises(ValueError, match="uint8"):
        segmenter.step(frame.astype(np.float32), 1.2)


def test_missing_folder_is_not_found(tmp_path):
    with pytest.raises(PeerNotFoundError, match="not there"):
        EspNetV2Peer(tmp_path / "nowhere")


def test_bad_checksum_names_the_file(fake_peer):
    path = fake_peer / file_name(SIZES[0])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PeerError, match=r"espnetv2_s2_cityscapes_48x64\.onnx: SHA-256 .* does not"):
        EspNetV2Peer(fake_peer)


def test_missing_sums_or_unlisted_file_is_an_error(fake_peer, tmp_path):
    stray = tmp_path / "stray" / file_name((24, 32))
    stray.parent.mkdir()
    shutil.copy(fake_peer / "SHA256SUMS", stray.parent / "SHA256SUMS")
    stray.write_bytes(peer_model_bytes((24, 32)))
    with pytest.raises(PeerError, match="not listed"):
        EspNetV2Peer(stray)
    (fake_peer / "SHA256SUMS").unlink()
    with pytest.raises(PeerError, match="SHA256SUMS: missing"):
        EspNetV2Peer(fake_peer)


def test_a_file_whose_shape_differs_from_its_name_is_refused(tmp_path):
    import hashlib

    folder = tmp_path / "liar"
    folder.mkdir()
    data = peer_model_bytes((48, 64), input_size=(36, 64))
    (folder / file_name((48, 64))).write_bytes(data)
    sums = f"{hashlib.sha256(data).hexdigest()}  {file_name((48, 64))}\n"
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    with pytest.raises(PeerError, match=r"expected one input of shape \[1, 3, 48, 64\]"):
        EspNetV2Peer(folder)


def test_a_file_onnxruntime_cannot_load_is_refused(tmp_path):
    import hashlib

    folder = tmp_path / "garbage"
    folder.mkdir()
    (folder / file_name((48, 64))).write_bytes(b"not an onnx model")
    sums = f"{hashlib.sha256(b'not an onnx model').hexdigest()}  {file_name((48, 64))}\n"
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    with pytest.raises(PeerError, match="onnxruntime cannot load it"):
        EspNetV2Peer(folder)


def test_bad_threads_is_refused(fake_peer):
    with pytest.raises(ValueError, match="threads"):
        EspNetV2Peer(fake_peer, threads=0)


@needs_real_peer
def test_real_peer_segments_a_camvid_frame_without_torch():
    # In a fresh interpreter that cannot import torch: the peer is an onnxruntime-only dependency.
    probe = """
import json, sys
import numpy as np
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"torch module {name} imported", name=name)
sys.meta_path.insert(0, BlockTorch())
from t2g_core.peers import EspNetV2Peer
peer = EspNetV2Peer(threads=1)
y, x = np.mgrid[0:360, 0:480]
frame = np.zeros((360, 480, 3), np.uint8)
frame[y < 150] = (135, 170, 220)   # sky above
frame[y >= 150] = (90, 90, 95)     # grey ground below
labels = peer.segment(frame)
print(json.dumps({"files": peer.describe()["files"], "shape": list(labels.shape),
                  "max": int(labels.max()), "top": int(np.bincount(labels[:100].ravel()).argmax()),
                  "sizes": [list(peer.input_size_for(s)) for s in ((360, 480), (270, 480))]}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["files"] == {
        "288x512": "espnetv2_s2_cityscapes_288x512.onnx",
        "384x512": "espnetv2_s2_cityscapes_384x512.onnx",
    }
    assert result["sizes"] == [[384, 512], [288, 512]]
    assert result["shape"] == [360, 480] and result["max"] <= 11
    assert result["top"] == 0  # the sky-blue upper band is sky
