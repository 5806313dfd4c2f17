"""Training of the T2G decoder: config, the frozen-backbone feature bank, and the training loop.

Entry point: ``t2g_core.train`` (``t2g-train --config config/train_camvid.yaml``).
"""
