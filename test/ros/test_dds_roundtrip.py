"""A real cross-process round trip over Fast DDS: sensor_msgs/Image and t2g_msgs/ClassOccupancy.

Two Python processes, each with its own rclpy context, on the loopback-only discovery range the test
session configured. Nothing sleeps a fixed time: the publisher waits for the match, and reliable +
transient-local QoS lets a late-matching reader still get the sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

PUBLISHER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, DurabilityPolicy, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from t2g_msgs.msg import ClassOccupancy

    prefix = sys.argv[1]
    rclpy.init()
    node = rclpy.create_node("roundtrip_pub")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    image_pub = node.create_publisher(Image, prefix + "/image", qos)
    occ_pub = node.create_publisher(ClassOccupancy, prefix + "/occupancy", qos)
    deadline = time.monotonic() + 20.0
    while min(image_pub.get_subscription_count(), occ_pub.get_subscription_count()) == 0:
        assert time.monotonic() < deadline, "subscriber never matched"
        rclpy.spin_once(node, timeout_sec=0.02)

    pixels = (np.arange(360 * 480 * 3) % 251).astype(np.uint8)
    image = Image(height=360, width=480, encoding="rgb8", is_bigendian=0, step=480 * 3, data=pixels.tobytes())
    image.header.frame_id = "camera"
    image.header.stamp.sec, image.header.stamp.nanosec = 1234, 5678
    occ = ClassOccupancy(header=image.header, height=360, width=480, class_ids=[0, 3],
                         class_names=["sky", "road"], pixel_fraction=[0.25, 0.75],
                         mean_confidence=[0.5, 0.875], grid_rows=1, grid_cols=2, grid_class=[3, 0],
                         grid_share=[1.0, 0.5], stability=0.9375, memory_frames=4,
                         frames_in_memory=4)
    image_pub.publish(image)
    occ_pub.publish(occ)
    # Stay until the subscriber has its samples and leaves (its readers unmatch), bounded in time.
    while max(image_pub.get_subscription_count(), occ_pub.get_subscription_count()) > 0:
        assert time.monotonic() < deadline, "subscriber did not finish"
        rclpy.spin_once(node, timeout_sec=0.02)
    rclpy.shutdown()
    """
)

SUBSCRIBER = textwrap.dedent(
    """
    import hashlib, json, sys, time
    import rclpy
    from rclpy.qos import QoSProfile, DurabilityPolicy, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from t2g_msgs.msg import ClassOccupancy

    prefix = sys.argv[1]
    rclpy.init()
    node = rclpy.create_node("roundtrip_sub")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    got = {}
    node.create_subscription(Image, prefix + "/image", lambda m: got.setdefault("image", m), qos)
    node.create_subscription(ClassOccupancy, prefix + "/occupancy", lambda m: got.setdefault("occ", m), qos)
    deadline = time.monotonic() + 20.0
    while len(got) < 2 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    out = {}
    if "image" in got:
        m = got["image"]
        out["image"] = dict(h=m.height, w=m.width, enc=m.encoding, step=m.step, frame=m.header.frame_id,
                            stamp=[m.header.stamp.sec, m.header.stamp.nanosec],
                            sha=hashlib.sha256(bytes(m.data)).hexdigest())
    if "occ" in got:
        m = got["occ"]
        out["occ"] = dict(names=list(m.class_names), ids=list(m.class_ids), frac=list(m.pixel_fraction),
                          grid=list(m.grid_class), stability=m.stability, frames=m.frames_in_memory,
                          stamp=[m.header.stamp.sec, m.header.stamp.nanosec])
    print(json.dumps(out))
    rclpy.shutdown()
    """
)


def test_image_and_class_occupancy_cross_process():
    import hashlib

    import numpy as np

    prefix = f"/t2g_test_{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    sub = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, prefix],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pub = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, prefix],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sub_out, sub_err = sub.communicate(timeout=60)
        _, pub_err = pub.communicate(timeout=30)
    finally:
        for proc in (sub, pub):
            if proc.poll() is None:
                proc.kill()
    assert sub.returncode == 0, sub_err
    assert pub.returncode == 0, pub_err
    result = json.loads(sub_out.strip().splitlines()[-1])

    expected_pixels = (np.arange(360 * 480 * 3) % 251).astype(np.uint8).tobytes()
    assert result["image"] == dict(
        h=360,
        w=480,
        enc="rgb8",
        step=1440,
        frame="camera",
        stamp=[1234, 5678],
        sha=hashlib.sha256(expected_pixels).hexdigest(),
    )
    assert result["occ"]["names"] == ["sky", "road"]
    assert result["occ"]["ids"] == [0, 3]
    assert result["occ"]["frac"] == [0.25, 0.75]
    assert result["occ"]["grid"] == [3, 0]
    assert result["occ"]["stability"] == 0.9375
    assert result["occ"]["frames"] == 4
    assert result["occ"]["stamp"] == [1234, 5678]
