"""Bag tools: rosbag2 (mcap, sqlite3) I/O on ``rosbags`` and the tools built on it.

- ``io``: open, read and write bags (no rclpy); ``frames``: bag messages -> RGB frames and label images;
  ``outputs``: pipeline outputs -> the node's output messages in a bag; ``preview``: the preview strip;
- ``eval`` (``t2g-bag-eval``): the node's pipeline over a bag, offline, without rclpy;
- ``replay`` (``t2g-replay``) and ``record`` (``t2g-record``): bags to and from live DDS (rclpy), sharing
  ``msg_types``.

Run a tool as its console script or ``python -m t2g_ros.bags.<tool>``.
"""
