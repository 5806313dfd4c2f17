"""How far the input stamps are from the node's clock, learned from the frames (no ROS imports).

A camera with its own clock (a network camera, a second computer without chrony/PTP, a bag replayed
without ``use_sim_time``) stamps frames seconds away from the node's clock. Judging staleness by
``now - stamp`` then drops every frame. The offset is estimated as the smallest
``reception - stamp`` over the last frames: the skew plus the fastest transport, which a stall
never lowers. Staleness is then the delay beyond that, the part the node can act on.
"""

from __future__ import annotations

import threading
from collections import deque


class ClockOffset:
    """Thread-safe estimate of ``node clock - camera clock`` in seconds (positive: stamps lag).

    Args:
        window: frames the minimum is taken over; a drifting camera clock is followed within it.
        restart_after: consecutive frames stamped before the newest stamp seen that mean a new
            timeline (a bag loop, a camera clock stepped back), not late frames: the estimate then
            starts over from them.
    """

    def __init__(self, *, window: int = 64, restart_after: int = 3) -> None:
        self._lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=window)
        # (stamp, offset) of the consecutive frames behind the newest stamp, in stamp order
        self._behind: list[tuple[float, float]] = []
        self._restart_after = restart_after
        self._newest_stamp_s: float | None = None

    def observe(self, *, stamp_s: float, received_s: float) -> None:
        """Record a frame: its header stamp and its reception time on the node's clock (seconds)."""
        offset = received_s - stamp_s
        with self._lock:
            if self._newest_stamp_s is not None and stamp_s < self._newest_stamp_s:
                # One late frame is stale; several in a row are a timeline that went back, whose
                # offsets the old minimum would make look stale for a whole window.
                if self._behind and stamp_s < self._behind[-1][0]:
                    self._behind.clear()  # not one timeline either (late frames, out of order)
                self._behind.append((stamp_s, offset))
                if len(self._behind) < self._restart_after:
                    self._recent.append(offset)
                    return
                self._recent.clear()
                self._recent.extend(o for _, o in self._behind)
            else:
                self._recent.append(offset)
            self._behind.clear()
            self._newest_stamp_s = stamp_s

    @property
    def offset_s(self) -> float | None:
        """The estimate, or ``None`` before the first frame."""
        with self._lock:
            return min(self._recent) if self._recent else None

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._behind.clear()
            self._newest_stamp_s = None
