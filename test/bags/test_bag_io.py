"""Tests for t2g_ros.bags.io: round trips through both storage plugins, QoS metadata and every error."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from rosbags.typesys import get_types_from_msg
from ruamel.yaml import YAML

from t2g_ros.bags.io import (
    BagError,
    BagTruncatedWarning,
    BagWriter,
    find_msg_dir,
    make_header,
    make_typestore,
    open_reader,
)
from t2g_ros.image_codec import (
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_compressed_fields,
    rgb_to_image_fields,
)

T0 = 1_700_000_000_000_000_000  # ns
FRAME_NS = 40_000_000


@pytest.fixture(scope="module")
def store():
    return make_typestore()


def frame(index: int, shape=(12, 16)) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.stack([xx * 9 + index, yy * 13, np.full(shape, index * 17)], axis=-1).astype(np.uint8)


def image_msg(store, index):
    fields = rgb_to_image_fields(frame(index), "bgr8", data_type="numpy")
    return store.types["sensor_msgs/msg/Image"](
        header=make_header(store, T0 + index * FRAME_NS, "camera"), **fields
    )


def compressed_msg(store, index):
    fields = rgb_to_compressed_fields(frame(index), "png", data_type="numpy")
    header = make_header(store, T0 + index * FRAME_NS, "camera")
    return store.types["sensor_msgs/msg/CompressedImage"](header=header, **fields)


def occupancy_msg(store, index):
    return store.types["t2g_msgs/msg/ClassOccupancy"](
        header=make_header(store, T0 + index * FRAME_NS, "camera"),
        height=12,
        width=16,
        class_ids=np.array([0, 1, 2], np.uint8),
        class_names=["sky", "building", "road"],
        pixel_fraction=np.array([0.5, 0.25, 0.125], np.float32),
        mean_confidence=np.array([0.9, 0.8, 0.0], np.float32),
        unlabelled_fraction=0.125,
        grid_rows=1,
        grid_cols=2,
        grid_class=np.array([0, 255], np.uint8),
        grid_share=np.array([0.75, 0.5], np.float32),
        stability=float("nan") if index == 0 else 0.5,
        memory_reset=index == 0,
        memory_reset_reason="start" if index == 0 else "",
        memory_frames=min(index + 1, 4),
        frames_in_memory=min(index + 1, 4),
    )


def label_info_msg(store):
    types = store.types
    return types["t2g_msgs/msg/LabelInfo"](
        header=make_header(store, T0, "camera"),
        class_map=[
            types["t2g_msgs/msg/VisionClass"](class_id=i, class_name=n)
            for i, n in enumerate(["sky", "road"])
        ],
        threshold=0.3,
        class_colors=[types["std_msgs/msg/ColorRGBA"](r=0.5, g=0.5, b=0.5, a=1.0)] * 2,
    )


def diagnostics_msg(store, index):
    types = store.types
    status = types["diagnostic_msgs/msg/DiagnosticStatus"](
        level=0,
        name="t2g: segmentation",
        message="ok",
        hardware_id="camera",
        values=[types["diagnostic_msgs/msg/KeyValue"](key="latency_ms", value=str(10 + index))],
    )
    header = make_header(store, T0 + index * FRAME_NS, "")
    return types["diagnostic_msgs/msg/DiagnosticArray"](header=header, status=[status])


def write_sample(path, store, storage, frames=3):
    with BagWriter(path, storage=storage, typestore=store) as bag:
        bag.add_topic("/t2g/label_info", "t2g_msgs/msg/LabelInfo", durability="transient_local")
        bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image", reliability="best_effort")
        bag.add_topic("/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
        bag.add_topic("/t2g/occupancy", "t2g_msgs/msg/ClassOccupancy")
        bag.add_topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")
        bag.write("/t2g/label_info", label_info_msg(store), T0)
        for i in range(frames):
            receive = T0 + i * FRAME_NS + 1_000_000  # 1 ms after the stamp
            bag.write("/camera/image_raw", image_msg(store, i), receive)
            bag.write("/camera/image_raw/compressed", compressed_msg(store, i), receive)
            bag.write("/t2g/occupancy", occupancy_msg(store, i), receive + 5_000_000)
            bag.write("/diagnostics", diagnostics_msg(store, i), receive + 6_000_000)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip(tmp_path, store, storage):
    path = tmp_path / "bag"
    write_sample(path, store, storage)
    assert (path / f"bag.{'mcap' if storage == 'mcap' else 'db3'}").is_file()

    with open_reader(path, typestore=store) as bag:
        assert bag.truncated == ()
        assert bag.topics == {
            "/t2g/label_info": "t2g_msgs/msg/LabelInfo",
            "/camera/image_raw": "sensor_msgs/msg/Image",
            "/camera/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
            "/t2g/occupancy": "t2g_msgs/msg/ClassOccupancy",
            "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
        }
        assert bag.message_count("/camera/image_raw") == 3
        assert bag.message_count("/t2g/label_info") == 1

        images = list(bag.messages("/camera/image_raw"))
        assert [m.log_time_ns for m in images] == [T0 + i * FRAME_NS + 1_000_000 for i in range(3)]
        assert [m.stamp_ns for m in images] == [T0 + i * FRAME_NS for i in range(3)]
        for i, message in enumerate(images):
            assert (
                message.topic == "/camera/image_raw" and message.msgtype == "sensor_msgs/msg/Image"
            )
            assert message.msg.header.frame_id == "camera" and message.msg.encoding == "bgr8"
            np.testing.assert_array_equal(image_msg_to_rgb(message.msg), frame(i))

        for i, message in enumerate(bag.messages("/camera/image_raw/compressed")):
            np.testing.assert_array_equal(compressed_msg_to_rgb(message.msg), frame(i))

        occupancy = [m.msg for m in bag.messages("/t2g/occupancy")]
        assert math.isnan(occupancy[0].stability) and occupancy[1].stability == 0.5
        assert occupancy[0].class_names == ["sky", "building", "road"]
        np.testing.assert_array_equal(occupancy[2].grid_class, [0, 255])
        np.testing.assert_array_equal(
            occupancy[2].pixel_fraction, np.array([0.5, 0.25, 0.125], np.float32)
        )
        assert (occupancy[0].memory_reset, occupancy[0].memory_reset_reason) == (True, "start")
        assert occupancy[2].frames_in_memory == occupancy[2].memory_frames == 3

        (label_info,) = [m.msg for m in bag.messages("/t2g/label_info")]
        assert [c.class_name for c in label_info.class_map] == ["sky", "road"]
        assert label_info.threshold == pytest.approx(0.3)

        diagnostics = [m.msg for m in bag.messages("/diagnostics")]
        assert diagnostics[2].status[0].values[0].value == "12"


def test_multi_topic_iteration_is_in_log_time_order(tmp_path, store):
    path = tmp_path / "bag"
    write_sample(path, store, "mcap")
    with open_reader(path, typestore=store) as bag:
        merged = list(bag.messages("/t2g/occupancy", "/camera/image_raw", "/t2g/label_info"))
    times = [m.log_time_ns for m in merged]
    assert times == sorted(times) and len(merged) == 7
    assert merged[0].topic == "/t2g/label_info"


def test_out_of_order_writes_are_read_in_log_time_order(tmp_path, store):
    path = tmp_path / "bag"
    with BagWriter(path, typestore=store) as bag:
        bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        for i in (2, 0, 1):
            bag.write("/camera/image_raw", image_msg(store, i), T0 + i * FRAME_NS)
    with open_reader(path, typestore=store) as bag:
        assert [m.stamp_ns for m in bag.messages("/camera/image_raw")] == [
            T0 + i * FRAME_NS for i in range(3)
        ]


def test_metadata_offers_the_qos_ros2_bag_play_replays(tmp_path, store):
    path = tmp_path / "bag"
    write_sample(path, store, "mcap")
    info = YAML(typ="safe").load((path / "metadata.yaml").read_text())[
        "rosbag2_bagfile_information"
    ]
    assert info["version"] == 9 and info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["bag.mcap"] and info["message_count"] == 13
    topics = {t["topic_metadata"]["name"]: t for t in info["topics_with_message_count"]}
    label_info = topics["/t2g/label_info"]["topic_metadata"]
    (offer,) = label_info["offered_qos_profiles"]
    assert (offer["durability"], offer["reliability"]) == ("transient_local", "reliable")
    (offer,) = topics["/camera/image_raw"]["topic_metadata"]["offered_qos_profiles"]
    assert (offer["durability"], offer["reliability"]) == ("volatile", "best_effort")
    assert offer["deadline"] == {"sec": 9223372036, "nsec": 854775807}
    assert label_info["type_description_hash"] == store.hash_rihs01("t2g_msgs/msg/LabelInfo")
    assert label_info["type_description_hash"].startswith("RIHS01_")


def test_bare_mcap_file_opens(tmp_path, store):
    path = tmp_path / "bag"
    write_sample(path, store, "mcap")
    with open_reader(path / "bag.mcap", typestore=store) as bag:
        assert bag.message_count("/t2g/occupancy") == 3
        assert len(list(bag.messages("/t2g/occupancy"))) == 3


def test_messages_without_header_have_no_stamp(tmp_path, store):
    path = tmp_path / "bag"
    with BagWriter(path, typestore=store) as bag:
        bag.add_topic("/chatter", "std_msgs/msg/String")
        bag.write("/chatter", store.types["std_msgs/msg/String"](data="hi"), 5)
    with open_reader(path, typestore=store) as bag:
        (message,) = bag.messages("/chatter")
    assert (message.stamp_ns, message.log_time_ns, message.msg.data) == (None, 5, "hi")


def test_typestore_has_t2g_msgs_from_the_source_tree(store):
    assert (find_msg_dir() / "ClassOccupancy.msg").is_file()
    assert {
        "t2g_msgs/msg/ClassOccupancy",
        "t2g_msgs/msg/LabelInfo",
        "t2g_msgs/msg/VisionClass",
    } <= set(store.types)
    fields = [name for name, _ in store.get_msgdef("t2g_msgs/msg/ClassOccupancy").fields]
    assert fields[:3] == ["header", "height", "width"] and fields[-2:] == [
        "memory_frames",
        "frames_in_memory",
    ]


# --- truncated files ----------------------------------------------------------------------------


def write_big_frames(path, store, count=8):
    """270 KB frames; rosbags closes a chunk once it passes 1 MiB, after every 4th, so 8 make 2 chunks."""
    with BagWriter(path, typestore=store) as bag:
        bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        for i in range(count):
            fields = rgb_to_image_fields(
                np.full((256, 360, 3), i, np.uint8), "rgb8", data_type="numpy"
            )
            header = make_header(store, T0 + i * FRAME_NS, "camera")
            message = store.types["sensor_msgs/msg/Image"](header=header, **fields)
            bag.write("/camera/image_raw", message, T0 + i * FRAME_NS)


def truncate(file, share):
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * share)])


@pytest.mark.parametrize("open_file", [False, True], ids=["directory", "bare-mcap"])
def test_truncated_mcap_yields_the_complete_prefix_and_warns(tmp_path, store, open_file):
    path = tmp_path / "bag"
    write_big_frames(path, store)
    mcap_file = path / "bag.mcap"
    truncate(mcap_file, 0.75)  # the second chunk is cut

    with pytest.warns(BagTruncatedWarning, match=str(mcap_file)):
        bag = open_reader(mcap_file if open_file else path, typestore=store)
    with bag:
        assert bag.truncated == (mcap_file,)
        assert bag.topics == {"/camera/image_raw": "sensor_msgs/msg/Image"}
        assert bag.message_count("/camera/image_raw") == 4
        messages = list(bag.messages("/camera/image_raw"))
    assert [m.stamp_ns for m in messages] == [T0 + i * FRAME_NS for i in range(4)]
    assert [int(image_msg_to_rgb(m.msg)[0, 0, 0]) for m in messages] == [0, 1, 2, 3]


def test_mcap_cut_inside_the_first_chunk_reads_nothing(tmp_path, store):
    path = tmp_path / "bag"
    write_big_frames(path, store)
    truncate(path / "bag.mcap", 0.3)
    with pytest.warns(BagTruncatedWarning), open_reader(path, typestore=store) as bag:
        assert bag.topics == {}
        with pytest.raises(BagError, match="'/camera/image_raw' not in .*; topics: none"):
            list(bag.messages("/camera/image_raw"))


def test_truncated_sqlite3_is_an_error_naming_the_file(tmp_path, store):
    path = tmp_path / "bag"
    write_sample(path, store, "sqlite3")
    truncate(path / "bag.db3", 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no truncation warning: sqlite3 has no recovery
        with pytest.raises(BagError, match="bag.db3"):
            open_reader(path, typestore=store)


# --- reader errors ------------------------------------------------------------------------------


def test_missing_bag_names_the_path(tmp_path, store):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_reader(tmp_path / "nowhere", typestore=store)


def test_not_a_bag(tmp_path, store):
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(BagError, match="empty_dir"):
        open_reader(tmp_path / "empty_dir", typestore=store)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagError, match="notes.txt"):
        open_reader(tmp_path / "notes.txt", typestore=store)


def test_missing_topic_lists_the_topics_present(tmp_path, store):
    path = tmp_path / "bag"
    write_sample(path, store, "mcap")
    with open_reader(path, typestore=store) as bag:
        listing = r"'/image' not in .*bag; topics: .*/camera/image_raw \(sensor_msgs/msg/Image\)"
        with pytest.raises(BagError, match=listing):
            list(bag.messages("/image"))
        with pytest.raises(BagError, match="'/image'"):
            bag.message_count("/image")
        with pytest.raises(ValueError, match="at least one topic"):
            list(bag.messages())


def test_unknown_message_type_is_named(tmp_path, store):
    custom = make_typestore()
    custom.register(get_types_from_msg("int32 x", "foo_msgs/msg/Bar"))
    path = tmp_path / "bag"
    with BagWriter(path, typestore=custom) as bag:
        bag.add_topic("/bar", "foo_msgs/msg/Bar")
        bag.add_topic("/chatter", "std_msgs/msg/String")
        bag.write("/bar", custom.types["foo_msgs/msg/Bar"](x=3), 1)
        bag.write("/chatter", custom.types["std_msgs/msg/String"](data="a"), 2)
    with open_reader(path, typestore=store) as bag:
        assert bag.topics["/bar"] == "foo_msgs/msg/Bar"
        with pytest.raises(BagError, match="'foo_msgs/msg/Bar' of topic '/bar'"):
            list(bag.messages("/bar"))
        assert [m.msg.data for m in bag.messages("/chatter")] == ["a"]  # the rest stays readable


# --- writer errors ------------------------------------------------------------------------------


def test_writer_refuses_an_existing_path(tmp_path, store):
    with pytest.raises(BagError, match="exists"):
        BagWriter(tmp_path, typestore=store)


def test_writer_errors(tmp_path, store):
    with pytest.raises(BagError, match="unknown storage 'rosbag1'"):
        BagWriter(tmp_path / "a", storage="rosbag1", typestore=store)
    with BagWriter(tmp_path / "bag", typestore=store) as bag:
        with pytest.raises(BagError, match="'foo_msgs/msg/Bar' for topic '/x'"):
            bag.add_topic("/x", "foo_msgs/msg/Bar")
        with pytest.raises(BagError, match="unknown reliability 'sometimes'"):
            bag.add_topic("/x", "std_msgs/msg/String", reliability="sometimes")
        bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        with pytest.raises(BagError, match="already added"):
            bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        with pytest.raises(BagError, match=r"'/other' was not added .*; added: /camera/image_raw"):
            bag.write("/other", image_msg(store, 0), 1)
        with pytest.raises(
            BagError, match="carries sensor_msgs/msg/Image, got a sensor_msgs/msg/CompressedImage"
        ):
            bag.write("/camera/image_raw", compressed_msg(store, 0), 1)
        with pytest.raises(BagError, match="log time"):
            bag.write("/camera/image_raw", image_msg(store, 0), -1)


def test_writer_leaves_no_metadata_after_an_exception(tmp_path, store):
    path = tmp_path / "bag"
    with pytest.raises(RuntimeError), BagWriter(path, typestore=store) as bag:
        bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        raise RuntimeError("boom")
    assert not (path / "metadata.yaml").exists()


def test_mcap_is_readable_by_an_independent_reader(tmp_path, store):
    """The mcap library (Foxglove's reference reader) decodes our file from its embedded schemas alone."""
    decoder = pytest.importorskip("mcap_ros2.decoder")
    from mcap.reader import make_reader

    path = tmp_path / "bag"
    write_sample(path, store, "mcap")
    with (path / "bag.mcap").open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[decoder.DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert summary.statistics.message_count == 13
        decoded = [
            (channel.topic, schema.name, message.log_time, ros_msg)
            for schema, channel, message, ros_msg in reader.iter_decoded_messages(
                topics=["/t2g/occupancy", "/t2g/label_info"]
            )
        ]
    assert [d[0] for d in decoded] == ["/t2g/label_info"] + ["/t2g/occupancy"] * 3
    assert decoded[1][1] == "t2g_msgs/msg/ClassOccupancy"
    occupancy = decoded[3][3]
    assert (occupancy.grid_rows, occupancy.grid_cols) == (1, 2)
    assert list(occupancy.class_names) == ["sky", "building", "road"]
    assert list(occupancy.grid_class) == [0, 255] and occupancy.frames_in_memory == 3
    assert [c.class_name for c in decoded[0][3].class_map] == ["sky", "road"]


def test_offline_modules_do_not_import_rclpy():
    code = (
        "import sys, t2g_ros.bags.io, t2g_ros.image_codec; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'rclpy', 'rosidl_runtime_py', 'sensor_msgs'}); "
        "assert not bad, bad"
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, timeout=60)
