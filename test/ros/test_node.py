"""The t2g node as users run it: its own process, real rclpy and Fast DDS, a real (tiny, randomly
initialised) model. Checks topics, encodings, sizes, headers, occupancy, label_info, bad input,
parameter validation, sim-time resets, and per-frame vs temporal mode."""

from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from node_harness import NodeProcess, Probe, header_tuple, rgb_image
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image

pytestmark = pytest.mark.slow
FAST = {"diagnostics_period_s": 0.2, "input.max_age_s": 0.0}


@pytest.fixture()
def temporal_node(ros, tiny_checkpoints):
    proc = NodeProcess({"model.checkpoint": tiny_checkpoints["temporal"], **FAST})
    probe = Probe(proc)
    probe.wait_ready()
    yield proc, probe
    probe.close()
    proc.stop()


def test_outputs_topics_encodings_sizes_headers_occupancy(temporal_node, frames):
    proc, probe = temporal_node
    names = ("labels", "color", "overlay", "confidence", "occupancy")
    for i, frame in enumerate(frames[:4]):
        stamp = 100.0 + 0.1 * i
        msg = rgb_image(frame, "bgr8")
        probe.send(msg, stamp, frame_id="cam_front")
        out = probe.wait_outputs(stamp, names)
        for name in names:
            assert header_tuple(out[name]) == header_tuple(msg), (
                f"{name} header differs from the input's"
            )
        for name, encoding in (
            ("labels", "mono8"),
            ("color", "rgb8"),
            ("overlay", "rgb8"),
            ("confidence", "mono8"),
        ):
            assert out[name].encoding == encoding
            assert (out[name].height, out[name].width) == frame.shape[:2]
        labels = np.frombuffer(bytes(out["labels"].data), np.uint8)
        assert labels.max() < 11, "class ids must be 0..10 (no threshold set)"
        occ = out["occupancy"]
        assert (occ.height, occ.width) == frame.shape[:2]
        assert abs(sum(occ.pixel_fraction) + occ.unlabelled_fraction - 1.0) < 1e-4
        assert len(occ.grid_class) == occ.grid_rows * occ.grid_cols == 48
        assert occ.frames_in_memory == i + 1  # up to the default model.memory_length, 4
        assert occ.memory_frames == occ.frames_in_memory  # the deprecated field, still filled
        assert occ.memory_reset == (i == 0)
        # Class ids published on ~/labels are what the occupancy counts.
        counts = np.bincount(labels, minlength=11)[:11] / labels.size
        np.testing.assert_allclose(occ.pixel_fraction, counts, atol=1e-6)

    info = probe.late_label_info()
    assert [c.class_name for c in info.class_map][:4] == ["sky", "building", "pole", "road"]
    assert len(info.class_colors) == len(info.class_map) == 11
    probe.spin_until(
        lambda: probe.diagnostic_value("mode") is not None, 20, "a /diagnostics status"
    )
    assert probe.diagnostic_value("mode") == "temporal"


BAD_IMAGES = {
    "unknown encoding": lambda f: Image(
        height=2, width=2, encoding="yuv422_weird", step=4, data=bytes(8)
    ),
    "step smaller than a row": lambda f: Image(
        height=f.shape[0],
        width=f.shape[1],
        encoding="rgb8",
        step=f.shape[1] * 3 - 1,
        data=f.tobytes(),
    ),
    "truncated data": lambda f: Image(
        height=f.shape[0],
        width=f.shape[1],
        encoding="rgb8",
        step=f.shape[1] * 3,
        data=f.tobytes()[:1000],
    ),
    "zero size": lambda f: Image(height=0, width=0, encoding="rgb8", step=0, data=b""),
}


def test_bad_inputs_are_dropped_and_the_node_keeps_publishing(temporal_node, frames):
    proc, probe = temporal_node
    stamp = 200.0
    for dropped, (case, make) in enumerate(BAD_IMAGES.items(), start=1):
        probe.send(make(frames[0]), stamp)
        probe.spin_until(
            lambda dropped=dropped: (
                probe.diagnostic_value("dropped_bad_input_total") == str(dropped)
            ),
            20,
            f"the drop of '{case}' in diagnostics",
        )
        stamp += 0.1
        probe.send(rgb_image(frames[1]), stamp)
        probe.wait_outputs(stamp)
        stamp += 0.1
    # A resolution change mid-stream resets the memory and is published at the new size.
    small = np.ascontiguousarray(frames[2][::2, ::2])
    probe.send(rgb_image(small), stamp)
    out = probe.wait_outputs(stamp)
    assert (out["labels"].height, out["labels"].width) == small.shape[:2]
    assert (
        out["occupancy"].memory_reset
        and out["occupancy"].memory_reset_reason == "resolution_change"
    )
    warned = [
        s
        for a in probe.diagnostics
        for s in a.status
        if s.level == DiagnosticStatus.WARN and "bad frame" in s.message
    ]
    assert warned, "diagnostics never reported the bad frames as WARN"


def test_corrupt_jpeg_is_dropped_on_the_compressed_input(ros, tiny_checkpoints, frames):
    from t2g_ros.image_codec import rgb_to_compressed_fields

    proc = NodeProcess(
        {"model.checkpoint": tiny_checkpoints["temporal"], "input.compressed": True, **FAST}
    )
    probe = Probe(proc, compressed=True)
    try:
        probe.wait_ready()
        good = rgb_to_compressed_fields(frames[0], "jpeg", 90)
        probe.send(CompressedImage(format=good["format"], data=bytes(good["data"])[:2000]), 1.0)
        probe.spin_until(
            lambda: probe.diagnostic_value("dropped_bad_input_total") == "1",
            20,
            "corrupt JPEG drop",
        )
        probe.send(CompressedImage(**good), 1.1)
        out = probe.wait_outputs(1.1)
        assert (out["labels"].height, out["labels"].width) == frames[0].shape[:2]
    finally:
        probe.close()
        proc.stop()


def test_rejected_parameter_update_keeps_the_old_value(temporal_node, frames):
    proc, probe = temporal_node
    client = AsyncParameterClient(probe.node, proc.fqn)
    assert client.wait_for_services(timeout_sec=20.0)

    def set_and_wait(parameter):
        future = client.set_parameters([parameter])
        probe.spin_until(future.done, 20, "set_parameters reply")
        return future.result().results[0]

    bad = set_and_wait(Parameter("output.overlay_alpha", Parameter.Type.DOUBLE, 2.0))
    assert not bad.successful and "overlay_alpha" in bad.reason and "out of range" in bad.reason
    read_only = set_and_wait(Parameter("model.backend", Parameter.Type.STRING, "torch"))
    assert not read_only.successful and "while configured" in read_only.reason
    good = set_and_wait(Parameter("output.overlay_alpha", Parameter.Type.DOUBLE, 0.25))
    assert good.successful
    future = client.get_parameters(["output.overlay_alpha"])
    probe.spin_until(future.done, 20, "get_parameters reply")
    assert future.result().values[0].double_value == 0.25

    # The memory length is checked against the checkpoint (capacity 4) by the pipeline's configure.
    too_long = set_and_wait(Parameter("model.memory_length", Parameter.Type.INTEGER, 5))
    assert not too_long.successful and "memory_length" in too_long.reason and "5" in too_long.reason
    shorter = set_and_wait(Parameter("model.memory_length", Parameter.Type.INTEGER, 2))
    assert shorter.successful
    got = []
    for i, frame in enumerate(frames[:3]):
        probe.send(rgb_image(frame), 300.0 + 0.1 * i)
        got.append(probe.wait_outputs(300.0 + 0.1 * i)["occupancy"])
    assert [o.frames_in_memory for o in got] == [1, 2, 2]
    assert got[0].memory_reset_reason == "reconfigured"


def test_descriptors_carry_ranges_and_allowed_values(temporal_node):
    proc, probe = temporal_node
    client = AsyncParameterClient(probe.node, proc.fqn)
    assert client.wait_for_services(timeout_sec=20.0)
    future = client.describe_parameters(
        ["output.grid_rows", "output.overlay_alpha", "model.backend", "model.memory_length"]
    )
    probe.spin_until(future.done, 20, "describe_parameters reply")
    rows, alpha, backend, memory = future.result().descriptors
    assert (rows.integer_range[0].from_value, rows.integer_range[0].to_value) == (1, 255)
    assert (alpha.floating_point_range[0].from_value, alpha.floating_point_range[0].to_value) == (
        0.0,
        1.0,
    )
    assert (
        "torch" in backend.description
        and "onnxruntime" in backend.description
        and "read-only while configured" in backend.description
    )
    assert memory.integer_range[0].from_value == 1 and not memory.read_only


def test_sim_time_backwards_stamp_resets_memory_once(ros, tiny_checkpoints, frames):
    proc = NodeProcess(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "use_sim_time": True,
            "diagnostics_period_s": 0.2,
            "input.max_age_s": 1.0,
        }
    )
    probe = Probe(proc)
    clock_pub = probe.node.create_publisher(Clock, "/clock", 10)
    try:
        probe.wait_ready()
        probe.spin_until(
            lambda: clock_pub.get_subscription_count() > 0, 20, "the node's /clock subscription"
        )

        def send_at(stamp):
            clock = Clock()
            clock.clock.sec, clock.clock.nanosec = int(stamp), int(round((stamp % 1) * 1e9))
            clock_pub.publish(clock)  # sim time follows the bag: frames are fresh, not stale
            probe.send(rgb_image(frames[int(stamp * 10) % len(frames)]), stamp)
            return probe.wait_outputs(stamp)["occupancy"]

        stamps = [50.0, 50.1, 50.2, 10.0, 10.1, 10.2]  # a bag loop: time jumps back by 40 s
        occupancies = [send_at(s) for s in stamps]
        resets = [(o.memory_reset, o.memory_reset_reason) for o in occupancies]
        assert resets == [
            (True, "start"),
            (False, ""),
            (False, ""),
            (True, "time_backwards"),
            (False, ""),
            (False, ""),
        ]
        assert [o.frames_in_memory for o in occupancies] == [1, 2, 3, 1, 2, 3]
        assert np.isnan(occupancies[3].stability) and not np.isnan(occupancies[4].stability)
    finally:
        probe.close()
        log = proc.stop()
    assert log.count("temporal memory reset: time_backwards") == 1, log


def test_per_frame_mode_vs_temporal_mode(ros, tiny_checkpoints, frames):
    for checkpoint, extra, expected_frames in (
        (tiny_checkpoints["per_frame"], {"model.memory_length": 1}, [1, 1, 1, 1]),
        (tiny_checkpoints["temporal"], {"model.memory_length": 1}, [1, 1, 1, 1]),
        (tiny_checkpoints["temporal"], {"model.memory_length": 2}, [1, 2, 2, 2]),
    ):
        proc = NodeProcess({"model.checkpoint": checkpoint, **FAST, **extra})
        probe = Probe(proc)
        try:
            probe.wait_ready()
            got = []
            for i, frame in enumerate(frames[:4]):
                probe.send(rgb_image(frame), 1.0 + 0.1 * i)
                got.append(probe.wait_outputs(1.0 + 0.1 * i)["occupancy"].frames_in_memory)
            assert got == expected_frames, (checkpoint.name, extra)
        finally:
            probe.close()
            proc.stop()


def test_bad_start_up_parameters_fail_loudly(ros, tiny_checkpoints, tmp_path):
    for params, expected in (
        ({"model.checkpoint": str(tmp_path / "missing.pt")}, "no such checkpoint file"),
        (
            {"model.checkpoint": tiny_checkpoints["temporal"], "output.grid_rows": 0},
            "output.grid_rows",
        ),
        (
            {"model.checkpoint": tiny_checkpoints["temporal"], "input.reliability": "sometimes"},
            "input.reliability must be one of best_effort, reliable",
        ),
        # The default memory of 4 frames does not fit a per-frame checkpoint: the reason names both.
        (
            {"model.checkpoint": tiny_checkpoints["per_frame"]},
            "memory_length must be an int in 1..1",
        ),
    ):
        proc = NodeProcess(params)
        proc.proc.wait(timeout=60)
        log = proc.stop()
        assert proc.proc.returncode != 0 and expected in log, log
