"""CamVid names, split lists, sequence grouping and loading: on tiny made-up folders and on the real data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from t2g_core.data.camvid import (
    CAMVID_VOID_ID,
    CamVidSplit,
    check_not_test_split,
    group_sequences,
    load_image,
    load_labels,
    parse_frame_name,
    read_split_list,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0001TP_008550", ("0001TP", 8550)),
        ("0006R0_f02400", ("0006R0", 2400)),
        ("0016E5_07959", ("0016E5", 7959)),
        ("Seq05VD_f01290", ("Seq05VD", 1290)),
        ("train/images/0001TP_006690.jpg", ("0001TP", 6690)),
    ],
)
def test_parse_frame_name(name, expected):
    assert parse_frame_name(name) == expected


@pytest.mark.parametrize(
    "name", ["0001TP", "0001TP_", "0001TP_f", "_008550", "0001TP_00x5", "a_b_1"]
)
def test_parse_frame_name_rejects_malformed(name):
    with pytest.raises(ValueError, match="frame name"):
        parse_frame_name(name)


def _write_fake_camvid(root: Path, split: str, names: list[str], *, size=(4, 6)) -> None:
    (root / split / "images").mkdir(parents=True, exist_ok=True)
    (root / split / "labels").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, name in enumerate(names):
        image = np.full((*size, 3), (10 * i, 20, 30), dtype=np.uint8)  # RGB
        cv2.imwrite(
            str(root / split / "images" / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        )
        labels = np.full(size, i % 12, dtype=np.uint8)
        cv2.imwrite(str(root / split / "labels" / f"{name}.png"), labels)
        lines.append(f"{split}/images/{name}.png {split}/labels/{name}.png")
    (root / f"{split}.txt").write_text("\n".join(lines) + "\n")


def test_split_list_grouping_order_and_times(tmp_path):
    # Listed out of order, two drives, one with a 10 s gap (300 source frames).
    names = ["B_f00060", "A_000030", "B_f00000", "A_000000", "B_f00030", "B_f00330"]
    _write_fake_camvid(tmp_path, "train", names)
    frames = read_split_list(tmp_path, split="train")
    assert [f.name for f in frames] == names
    assert frames[0].image_path == tmp_path / "train" / "images" / "B_f00060.png"

    whole = group_sequences(frames, max_gap_s=None)
    assert [s.name for s in whole] == ["A", "B"]
    assert [f.frame_number for f in whole[1].frames] == [0, 30, 60, 330]
    np.testing.assert_allclose(whole[1].times_s, [0.0, 1.0, 2.0, 11.0])

    cut = group_sequences(frames, max_gap_s=2.0)
    assert [(s.name, len(s)) for s in cut] == [("A", 2), ("B", 3), ("B#1", 1)]
    assert cut[2].sequence == "B" and cut[2].run == 1


def test_duplicate_frame_is_rejected(tmp_path):
    _write_fake_camvid(tmp_path, "val", ["A_000030", "A_f00030"])
    with pytest.raises(ValueError, match="listed twice"):
        group_sequences(read_split_list(tmp_path, split="val"), max_gap_s=None)


def test_loading_made_up_frames(tmp_path):
    _write_fake_camvid(tmp_path, "train", ["A_000000", "A_000030"])
    split = CamVidSplit(tmp_path, split="train")
    image, labels = split.load(split.frames[1])
    assert image.dtype == np.uint8 and image.shape == (4, 6, 3)
    assert tuple(image[0, 0]) == (10, 20, 30)  # RGB order, not BGR
    assert labels.dtype == np.uint8 and labels.shape == (4, 6) and (labels == 1).all()


def test_missing_paths_name_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        CamVidSplit(missing, split="train")
    (tmp_path / "camvid").mkdir()
    with pytest.raises(FileNotFoundError, match="val.txt"):
        read_split_list(tmp_path, split="val")
    _write_fake_camvid(tmp_path / "camvid", "train", ["A_000000"])
    (tmp_path / "camvid" / "train" / "images" / "A_000000.png").unlink()
    split = CamVidSplit(tmp_path, split="train")
    with pytest.raises(FileNotFoundError, match="A_000000.png"):
        split.load(split.frames[0])


def test_bad_label_files(tmp_path):
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="single channel"):
        load_labels(colour)
    high = tmp_path / "high.png"
    cv2.imwrite(str(high), np.full((4, 4), 12, dtype=np.uint8))
    with pytest.raises(ValueError, match="id 12"):
        load_labels(high)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="decoded"):
        load_image(broken)


def test_split_name_is_explicit_and_test_is_guarded(tmp_path):
    with pytest.raises(TypeError):
        CamVidSplit(tmp_path)  # no default split
    with pytest.raises(ValueError, match="'training'"):
        read_split_list(tmp_path, split="training")
    with pytest.raises(ValueError, match="final evaluation"):
        check_not_test_split("test")
    assert check_not_test_split("train") == "train"
    assert check_not_test_split("val") == "val"


def test_real_camvid_splits(shared_data):
    train = CamVidSplit(shared_data, split="train", max_gap_s=None)
    assert len(train) == 367
    # Counts per drive from the data README.
    assert {s.sequence: len(s) for s in train.sequences} == {
        "0001TP": 62,
        "0006R0": 101,
        "0016E5": 204,
    }
    for sequence in train.sequences:
        assert np.all(np.diff(sequence.times_s) > 0)
    # 0016E5 train frames sit before and after the val run: the default 2 s cut splits them.
    runs = CamVidSplit(shared_data / "camvid", split="train")
    assert sum(len(s) for s in runs.sequences if s.sequence == "0016E5") == 204
    assert len([s for s in runs.sequences if s.sequence == "0016E5"]) >= 2
    for run in runs.sequences:
        assert np.all(np.diff(run.times_s) <= 2.0)

    val = CamVidSplit(shared_data, split="val")
    (run,) = val.sequences
    assert run.name == "0016E5" and len(run) == 101
    assert run.frames[0].frame_number == 7959 and run.frames[-1].frame_number == 8159
    np.testing.assert_allclose(np.diff(run.times_s), 2 / 30)  # the 15 Hz labelled run

    image, labels = val.load(run.frames[0])
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    assert labels.shape == (360, 480) and labels.max() <= CAMVID_VOID_ID

    test = read_split_list(shared_data, split="test")
    assert len(test) == 233 and {f.sequence for f in test} == {"0001TP", "Seq05VD"}


def test_select_drives_keeps_or_drops_whole_drives(tmp_path):
    names = ["0006R0_f00930", "0001TP_006690", "0006R0_f00960", "0001TP_006720", "0006R0_f01290"]
    _write_fake_camvid(tmp_path, "train", names)
    split = CamVidSplit(tmp_path, split="train")
    assert split.drives == ("0001TP", "0006R0")
    held = split.select_drives(keep=("0001TP",))
    rest = split.select_drives(drop=("0001TP",))
    assert held.drives == ("0001TP",) and rest.drives == ("0006R0",)
    assert len(held) + len(rest) == len(split)
    assert all(s.sequence == "0006R0" for s in rest.sequences)
    assert split.drives == ("0001TP", "0006R0")  # the original is untouched
    with pytest.raises(ValueError, match="no drive"):
        split.select_drives(drop=("0001tp",))
