"""The rclpy message class of a bag's type name, shared by ``replay`` and ``record``."""

from __future__ import annotations

import importlib

from t2g_ros.bags.io import BagError


def message_class(msgtype: str) -> type:
    """The rclpy class of ``pkg/msg/Name``; ``BagError`` naming the type when it is missing."""
    package, _, name = msgtype.split("/") if msgtype.count("/") == 2 else (msgtype, "", "")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError, ValueError):
        raise BagError(
            f"message type {msgtype!r} has no Python class in this ROS environment "
            f"(is its package installed and sourced?)"
        ) from None
