"""LabelSet: parsing config/classes_camvid.yaml, validation, colour lookup table."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from t2g_core import LabelSet


def test_camvid_label_set():
    labels = LabelSet.from_yaml("config/classes_camvid.yaml")
    assert labels.num_classes == 11 and labels.void_id == 11
    assert labels.names[3] == "road" and labels.colors[3] == (128, 64, 128)
    lut = labels.palette_lut()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0].tolist() == [128, 128, 128] and lut[10].tolist() == [0, 128, 192]
    assert lut[11].tolist() == [0, 0, 0] and lut[255].tolist() == [0, 0, 0]
    mask = np.array([[3, 11], [255, 0]], dtype=np.uint8)
    assert lut[mask].shape == (2, 2, 3)


def _write(tmp_path, doc) -> str:
    path = tmp_path / "classes.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _entry(index: int, name: str) -> dict:
    return {"id": index, "name": name, "color": [index, index, index]}


@pytest.mark.parametrize(
    "doc, message",
    [
        (
            {"void_id": 2, "classes": [{"id": 1, "name": "a", "color": [0, 0, 0]}]},
            "ids must be 0..K-1",
        ),
        (
            {"void_id": 2, "classes": [{"id": 0, "name": "a", "color": [0, 0, 300]}]},
            "colour of class 'a'",
        ),
        (
            {"void_id": 0, "classes": [{"id": 0, "name": "a", "color": [0, 0, 0]}]},
            "void_id must be an int in 1..255",
        ),
        ({"void_id": 1, "palette": 1, "classes": []}, r"unknown keys \['palette'\]"),
        ({"classes": []}, "needs 'void_id' and 'classes'"),
        ({"void_id": 1, "classes": [{"id": 0, "name": "a"}]}, "must have exactly keys"),
        ({"void_id": 2, "classes": [_entry(0, "a"), _entry(1, "a")]}, "unique"),
    ],
)
def test_bad_label_files(tmp_path, doc, message):
    path = _write(tmp_path, doc)
    with pytest.raises(ValueError, match=message) as info:
        LabelSet.from_yaml(path)
    assert path in str(info.value)
