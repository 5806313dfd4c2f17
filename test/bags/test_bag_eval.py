"""t2g-bag-eval: round trips through both storage formats, metric values known independently, bad input."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from bag_factory import GT_TOPIC, IMAGE_TOPIC, T0, read_topic, scene, write_image_bag
from rosbags.typesys import get_types_from_msg
from ruamel.yaml import YAML
from video_frames import video_frames

from t2g_core.inference import open_segmenter
from t2g_core.metrics import flicker_rate
from t2g_ros.bags import eval as bag_eval
from t2g_ros.bags.frames import decode_label_image
from t2g_ros.bags.io import BagWriter, make_header, make_typestore, open_reader
from t2g_ros.image_codec import image_msg_to_rgb, rgb_to_compressed_fields

OUTPUTS = {
    "/t2g/labels": "sensor_msgs/msg/Image",
    "/t2g/color": "sensor_msgs/msg/Image",
    "/t2g/overlay": "sensor_msgs/msg/Image",
    "/t2g/confidence": "sensor_msgs/msg/Image",
    "/t2g/occupancy": "t2g_msgs/msg/ClassOccupancy",
    "/t2g/label_info": "t2g_msgs/msg/LabelInfo",
}


def run_eval(capsys, *args: str) -> tuple[int, str, str]:
    code = bag_eval.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "storage, bare_file",
    [("mcap", False), ("sqlite3", False), ("mcap", True)],
    ids=["mcap", "sqlite3", "bare-mcap-file"],
)
def test_round_trip_writes_every_node_output_with_the_input_headers(
    tmp_path, store, tiny_checkpoint, capsys, storage, bare_file
):
    frames = [scene(i) for i in range(5)]
    source = tmp_path / "in"
    stamps = write_image_bag(source, store, frames, storage=storage, encoding="bgr8")
    in_path = source / "in.mcap" if bare_file else source
    out = tmp_path / "out"

    code, stdout, stderr = run_eval(
        capsys, in_path, "--image-topic", IMAGE_TOPIC, "--out", out, "--checkpoint", tiny_checkpoint
    )

    assert code == 0, stderr
    assert "frames in 5, out 5" in stdout
    with open_reader(out) as bag:
        assert bag.topics == {IMAGE_TOPIC: "sensor_msgs/msg/Image", **OUTPUTS}
        counts = {topic: bag.message_count(topic) for topic in bag.topics}
    assert counts == {IMAGE_TOPIC: 5, **{t: 5 for t in OUTPUTS}, "/t2g/label_info": 1}
    copied = read_topic(out, IMAGE_TOPIC)
    assert [m.stamp_ns for m in copied] == stamps
    assert all(np.array_equal(image_msg_to_rgb(m.msg), f) for m, f in zip(copied, frames))
    for topic in OUTPUTS:
        messages = read_topic(out, topic)
        expected = stamps[:1] if topic == "/t2g/label_info" else stamps
        assert [m.stamp_ns for m in messages] == expected, topic
        assert [m.log_time_ns for m in messages] == expected, topic  # the input's log times
        assert {m.msg.header.frame_id for m in messages} == {"camera"}
    labels = read_topic(out, "/t2g/labels")
    assert {(m.msg.encoding, m.msg.height, m.msg.width) for m in labels} == {("mono8", 48, 64)}
    assert {m.msg.encoding for m in read_topic(out, "/t2g/overlay")} == {"rgb8"}
    assert {m.msg.encoding for m in read_topic(out, "/t2g/confidence")} == {"mono8"}
    info = read_topic(out, "/t2g/label_info")[0].msg
    assert [c.class_name for c in info.class_map][:2] == ["sky", "building"]
    metadata = YAML(typ="safe").load((out / "metadata.yaml").read_text())[
        "rosbag2_bagfile_information"
    ]
    durability = {
        t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"][0]["durability"]
        for t in metadata["topics_with_message_count"]
    }
    assert (
        durability["/t2g/label_info"] == "transient_local"
        and durability["/t2g/labels"] == "volatile"
    )

    report = json.loads((tmp_path / "out.metrics.json").read_text())
    assert report["frames"] == {
        "in": 5,
        "out": 5,
        "dropped_bad": 0,
        "size_changes": 0,
        "problems": [],
    }
    assert report["input"]["image_type"] == "sensor_msgs/msg/Image"
    assert (tmp_path / "out.preview.png").stat().st_size > 1000
    video = Path(report["output"]["side_by_side"])
    assert video.name.startswith("out.side_by_side.") and video.parent == tmp_path
    assert video_frames(video) == 5 and str(video) in stdout


def test_metrics_match_values_computed_independently(
    tmp_path, store, tiny_checkpoint, capsys, sample_frames
):
    """Flicker and shares recomputed from the written outputs; GT = T2G's own labels gives mIoU = VC_8 = 1;
    the same checkpoint as the baseline flickers exactly like T2G; a static scene does not flicker per frame."""
    frames = sample_frames + [sample_frames[-1]] * 3  # driving, then still
    first = tmp_path / "first"
    code, _, stderr = run_eval(
        capsys,
        _bag(tmp_path / "in", store, frames),
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        first,
        "--checkpoint",
        tiny_checkpoint,
        "--baseline-checkpoint",
        tiny_checkpoint,
    )
    assert code == 0, stderr
    report = json.loads((tmp_path / "first.metrics.json").read_text())
    labels = [decode_label_image(m.msg) for m in read_topic(first, "/t2g/labels")]

    t2g = flicker_rate(labels, frames=frames)
    memory_1_segmenter = open_segmenter(tiny_checkpoint, memory_length=1, threads=1)
    memory_1 = [
        memory_1_segmenter.step(f, (T0 + i * 40_000_000) * 1e-9).labels
        for i, f in enumerate(frames)
    ]
    assert (
        t2g.denominator > 0
    )  # (the pooling itself is checked on changing labels in test_bag_metrics)
    assert report["flicker"]["t2g"] == pytest.approx(t2g.rate, abs=0)
    assert report["flicker"]["memory_1"] == pytest.approx(
        flicker_rate(memory_1, frames=frames).rate, abs=0
    )
    assert report["flicker"]["baseline"] == report["flicker"]["t2g"]
    # The last three frames are identical: at memory 1, a deterministic model repeats itself exactly.
    assert flicker_rate(memory_1[-3:], frames=frames[-3:]).numerator == 0
    changed = sum(int((a != b).sum()) for a, b in zip(labels, memory_1))
    ablation = report["memory_ablation"]
    pixels = len(frames) * labels[0].size
    assert (ablation["changed_pixels"], ablation["pixels"]) == (changed, pixels)
    assert ablation["labels_changed"] == pytest.approx(changed / ablation["pixels"], abs=1e-6)
    if report["flicker"]["memory_1"]:
        assert ablation["flicker_ratio"] == pytest.approx(
            report["flicker"]["t2g"] / report["flicker"]["memory_1"], abs=1e-6
        )
    shares = np.mean([np.bincount(x.ravel(), minlength=11)[:11] / x.size for x in labels], axis=0)
    assert list(report["occupancy"]["mean_class_share"].values()) == pytest.approx(
        shares.tolist(), abs=1e-6
    )

    second = tmp_path / "second"
    code, stdout, stderr = run_eval(
        capsys,
        _bag(tmp_path / "in_gt", store, frames, labels),
        "--image-topic",
        IMAGE_TOPIC,
        "--gt-topic",
        GT_TOPIC,
        "--out",
        second,
        "--checkpoint",
        tiny_checkpoint,
        "--no-video",
    )
    assert code == 0, stderr
    output = json.loads((tmp_path / "second.metrics.json").read_text())["output"]
    assert output["side_by_side"] is None
    assert not list(tmp_path.glob("second.side_by_side.*"))
    scores = json.loads((tmp_path / "second.metrics.json").read_text())["ground_truth"]
    assert scores["frames_with_gt"] == scores["frames_scored"] == 12
    assert scores["models"]["t2g"]["miou"] == 1.0
    assert scores["models"]["t2g"]["vc8"] == 1.0
    assert "t2g: mIoU 1.0000, VC_8 1.0000 over 12 labelled frames" in stdout


def test_ground_truth_void_pixels_are_ignored(
    tmp_path, store, tiny_checkpoint, capsys, sample_frames
):
    frames = sample_frames[:3]
    first = tmp_path / "first"
    assert (
        run_eval(
            capsys,
            _bag(tmp_path / "in", store, frames),
            "--image-topic",
            IMAGE_TOPIC,
            "--out",
            first,
            "--checkpoint",
            tiny_checkpoint,
        )[0]
        == 0
    )
    labels = [decode_label_image(m.msg) for m in read_topic(first, "/t2g/labels")]
    wrong = [(x + 1) % 11 for x in labels]  # every pixel wrong ...
    for gt, right, void in zip(wrong, labels, (255, 11, 255)):
        gt[:, :64] = right[:, :64]  # ... except the left half, which is right
        gt[:, 64:] = (
            void  # and the wrong half is void (255 or CamVid's 11): ignored, so mIoU stays 1
        )
    out = tmp_path / "second"
    assert (
        run_eval(
            capsys,
            _bag(tmp_path / "in_gt", store, frames, wrong),
            "--image-topic",
            IMAGE_TOPIC,
            "--gt-topic",
            GT_TOPIC,
            "--out",
            out,
            "--checkpoint",
            tiny_checkpoint,
        )[0]
        == 0
    )
    scores = json.loads((tmp_path / "second.metrics.json").read_text())["ground_truth"]
    assert scores["frames_scored"] == 3 and scores["models"]["t2g"]["miou"] == 1.0


def test_missing_topic_names_it_and_lists_the_bag(tmp_path, store, tiny_checkpoint, capsys):
    source = _bag(tmp_path / "in", store, [scene(0)])
    code, _, stderr = run_eval(
        capsys,
        source,
        "--image-topic",
        "/front/image",
        "--out",
        tmp_path / "out",
        "--checkpoint",
        tiny_checkpoint,
    )
    assert code == 1
    assert "'/front/image' not in" in stderr and str(source) in stderr and IMAGE_TOPIC in stderr
    assert not (tmp_path / "out").exists()


def test_missing_bag_and_checkpoint_are_named(tmp_path, store, tiny_checkpoint, capsys):
    code, _, stderr = run_eval(
        capsys,
        tmp_path / "nope",
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        tmp_path / "o",
        "--checkpoint",
        tiny_checkpoint,
    )
    assert code == 1 and str(tmp_path / "nope") in stderr
    source = _bag(tmp_path / "in", store, [scene(0)])
    code, _, stderr = run_eval(
        capsys,
        source,
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        tmp_path / "o",
        "--checkpoint",
        tmp_path / "missing.pt",
    )
    assert code == 1 and "missing.pt" in stderr


def test_unknown_and_wrong_message_types_are_named(tmp_path, capsys, tiny_checkpoint):
    custom = make_typestore()
    custom.register(get_types_from_msg("uint8[] blob", "acme_msgs/msg/Blob"))
    with BagWriter(tmp_path / "in", typestore=custom) as bag:
        bag.add_topic("/acme/blob", "acme_msgs/msg/Blob")
        bag.add_topic("/chatter", "std_msgs/msg/String")
        bag.write("/acme/blob", custom.types["acme_msgs/msg/Blob"](blob=np.zeros(3, np.uint8)), T0)
        bag.write("/chatter", custom.types["std_msgs/msg/String"](data="hi"), T0)
    for topic, msgtype in (
        ("/acme/blob", "acme_msgs/msg/Blob"),
        ("/chatter", "std_msgs/msg/String"),
    ):
        code, _, stderr = run_eval(
            capsys,
            tmp_path / "in",
            "--image-topic",
            topic,
            "--out",
            tmp_path / "out",
            "--checkpoint",
            tiny_checkpoint,
        )
        assert code == 1
        assert f"topic '{topic}'" in stderr and f"carries {msgtype}" in stderr


def test_undecodable_frames_are_counted_and_the_rest_processed(
    tmp_path, store, tiny_checkpoint, capsys
):
    compressed = store.types["sensor_msgs/msg/CompressedImage"]
    with BagWriter(tmp_path / "in", typestore=store) as bag:
        bag.add_topic("/cam/compressed", "sensor_msgs/msg/CompressedImage")
        for i in range(4):
            fields = rgb_to_compressed_fields(scene(i), "jpeg", data_type="numpy")
            if i == 2:
                fields["data"] = np.frombuffer(b"not an image", np.uint8).copy()
            bag.write(
                "/cam/compressed",
                compressed(header=make_header(store, T0 + i, "camera"), **fields),
                T0 + i,
            )
    code, stdout, stderr = run_eval(
        capsys,
        tmp_path / "in",
        "--image-topic",
        "/cam/compressed",
        "--out",
        tmp_path / "out",
        "--checkpoint",
        tiny_checkpoint,
    )
    assert code == 0, stderr
    report = json.loads((tmp_path / "out.metrics.json").read_text())
    assert report["frames"]["in"] == 4 and report["frames"]["out"] == 3
    assert report["frames"]["problems"][0].startswith(f"frame 2 (stamp {T0 + 2})")
    assert len(read_topic(tmp_path / "out", "/cam/compressed")) == 4  # every input frame is copied
    assert [m.stamp_ns for m in read_topic(tmp_path / "out", "/t2g/labels")] == [T0, T0 + 1, T0 + 3]


def test_truncated_bag_is_processed_up_to_the_cut_with_a_warning(
    tmp_path, store, tiny_checkpoint, capsys
):
    # 256x360 rgb8 frames: rosbags closes a 1 MiB chunk after every 4th, so a cut at 75 % keeps 4 frames.
    stamps = write_image_bag(
        tmp_path / "in", store, [np.full((256, 360, 3), 30 * i, np.uint8) for i in range(8)]
    )
    mcap_file = tmp_path / "in" / "in.mcap"
    mcap_file.write_bytes(mcap_file.read_bytes()[: int(mcap_file.stat().st_size * 0.75)])

    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # the tool reports the truncation itself, it does not leak a warning
        code, stdout, stderr = run_eval(
            capsys,
            tmp_path / "in",
            "--image-topic",
            IMAGE_TOPIC,
            "--out",
            tmp_path / "out",
            "--checkpoint",
            tiny_checkpoint,
        )
    assert code == 0, stderr
    assert "warning" in stderr and str(mcap_file) in stderr and "end early" in stderr
    assert "frames in 4, out 4" in stdout
    report = json.loads((tmp_path / "out.metrics.json").read_text())
    assert report["input"]["truncated_files"] == [str(mcap_file)]
    assert [m.stamp_ns for m in read_topic(tmp_path / "out", "/t2g/labels")] == stamps[:4]


def test_output_bag_that_exists_is_refused(tmp_path, store, tiny_checkpoint, capsys):
    source = _bag(tmp_path / "in", store, [scene(0)])
    (tmp_path / "out").mkdir()
    code, _, stderr = run_eval(
        capsys,
        source,
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        tmp_path / "out",
        "--checkpoint",
        tiny_checkpoint,
    )
    assert code == 1 and str(tmp_path / "out") in stderr


def test_no_rclpy_import(tmp_path):
    """The offline tool runs where ROS is absent: importing it must not import rclpy."""
    import subprocess

    code = "import sys, t2g_ros.bags.eval; sys.exit('rclpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _bag(path, store, frames, labels=None):
    write_image_bag(path, store, frames, labels=labels)
    return path
