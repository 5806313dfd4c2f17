"""``make demo`` / ``t2g-demo`` / ``python -m t2g_ros.demo``: the node on a bag over live DDS.

``run``: starts the node, replays the bag, records the outputs; ``report``: the summary and preview.
"""
