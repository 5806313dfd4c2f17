"""Property-based fuzzing of the bag reader (hypothesis, fixed budget, derandomised).

A small valid bag (mcap or sqlite3) is damaged: bytes overwritten, cut, junk appended, or its
``metadata.yaml`` rewritten. The invariant: ``open_reader`` and reading every message either work
(messages whose images decode or fail with ``ImageDecodeError``) or fail with ``BagError`` /
``FileNotFoundError``, never another exception, and never allocate out of proportion with the bag.
"""

from __future__ import annotations

import shutil
import tempfile
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t2g_ros.bags.io import BagError, BagTruncatedWarning, BagWriter, make_header, open_reader
from t2g_ros.image_codec import (
    ImageDecodeError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_compressed_fields,
    rgb_to_image_fields,
)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SLACK_BYTES = 8 << 20


@pytest.fixture(scope="module")
def valid_bags(tmp_path_factory, store):
    """``{"mcap": dir, "sqlite3": dir}``: 6 images (raw and JPEG) and their stamps, 32x24 px."""
    root = tmp_path_factory.mktemp("fuzz_bags")
    rng = np.random.default_rng(0)
    bags = {}
    for storage in ("mcap", "sqlite3"):
        path = root / storage
        with BagWriter(path, storage=storage, typestore=store) as bag:
            bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
            bag.add_topic("/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
            for i in range(3):
                rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
                header = make_header(store, 1_000_000_000 * (i + 1), "camera")
                raw = store.types["sensor_msgs/msg/Image"](
                    header=header, **rgb_to_image_fields(rgb, "rgb8", data_type="numpy")
                )
                jpeg = store.types["sensor_msgs/msg/CompressedImage"](
                    header=header, **rgb_to_compressed_fields(rgb, "jpeg", data_type="numpy")
                )
                bag.write("/camera/image_raw", raw, 1_000_000_000 * (i + 1))
                bag.write("/camera/image_raw/compressed", jpeg, 1_000_000_000 * (i + 1) + 1)
        bags[storage] = path
    return bags


@st.composite
def damage(draw):
    """``(storage, target, edit)``: which bag, which of its files, and how its bytes change."""
    storage = draw(st.sampled_from(["mcap", "sqlite3"]))
    target = draw(st.sampled_from(["storage", "storage", "metadata"]))
    kind = draw(
        st.sampled_from(
            ["overwrite", "cut", "append", "replace"]
            if target == "metadata"
            else ["overwrite", "overwrite", "cut", "append"]
        )
    )
    seed = draw(st.integers(0, 2**32 - 1))
    count = draw(st.integers(1, 8))
    junk = (
        draw(st.binary(max_size=64)) if kind != "replace" else draw(st.text(max_size=200)).encode()
    )

    def edit(data: bytes) -> bytes:
        rng = np.random.default_rng(seed)
        if kind == "cut":
            return data[: int(rng.integers(0, len(data) + 1))]
        if kind == "append":
            return data + junk
        if kind == "replace":
            return junk
        out = bytearray(data)
        for _ in range(count):
            out[int(rng.integers(0, len(out)))] = int(rng.integers(0, 256))
        return bytes(out)

    return storage, target, edit


def read_everything(path: Path, store) -> int:
    """Messages read; images are decoded too (a bad image is the codec's clear error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BagTruncatedWarning)
        with open_reader(path, typestore=store) as reader:
            topics = list(reader.topics)
            for topic in topics:
                reader.message_count(topic)
            count = 0
            for message in reader.messages(*topics) if topics else ():
                count += 1
                try:
                    if message.msgtype.endswith("CompressedImage"):
                        compressed_msg_to_rgb(message.msg)
                    elif message.msgtype.endswith("/Image"):
                        image_msg_to_rgb(message.msg)
                except ImageDecodeError:
                    pass
            return count


@FUZZ
@given(case=damage())
def test_a_damaged_bag_reads_or_fails_with_a_bag_error(valid_bags, store, case):
    storage, target, edit = case
    with tempfile.TemporaryDirectory(prefix="t2g_fuzz_bag_") as tmp:
        bag = Path(tmp) / "bag"
        shutil.copytree(valid_bags[storage], bag)
        file = (
            bag / "metadata.yaml"
            if target == "metadata"
            else next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
        )
        file.write_bytes(edit(file.read_bytes()))
        size = sum(p.stat().st_size for p in bag.iterdir())
        tracemalloc.start()
        try:
            read_everything(bag, store)
        except (BagError, FileNotFoundError) as exc:
            assert str(exc), "a bag error must say what is wrong"
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak <= 64 * size + SLACK_BYTES, f"{peak} bytes allocated reading a {size}-byte bag"
