"""t2g ROS 2 adapter: message -> array -> ``t2g_core`` segmenter -> arrays -> messages.

- top level: the node (``node``: the lifecycle node; ``params``, ``pipeline``, ``image_codec``,
  ``msg_fields``, ``publishers``, ``diagnostics``, ``latest_slot``, ``stats``);
- ``bags``: offline and live bag tools (``t2g-bag-eval``, ``t2g-replay``, ``t2g-record``);
- ``demo``: ``make demo`` (node + replay + record + report).

Kept free of imports, so offline tools can use ``t2g_ros.image_codec`` and ``t2g_ros.bags.io`` where
rclpy is not installed.
"""
