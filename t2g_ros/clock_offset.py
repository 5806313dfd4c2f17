"""How far the input stamps are from the node's clock, learned from the frames (no ROS imports).

A camera with its own clock (a network camera, a second computer without chrony/PTP, a bag replayed
without ``use_sim_time``) stamps frames seconds away from the node's clock. Judging staleness by
``now - stamp`` then drops every frame. The offset is estimated as the smallest
``reception - stamp`` of the frames received in the last ``window_s`` seconds: the skew plus the
fastest transport, which a short stall never lowers. Staleness is then the delay beyond that, the
part the node can act on.

Two events restart the estimate instead of waiting for the window to forget the old minimum:
- a frame stamped after every frame seen whose offset exceeds the estimate by more than
  ``max_jump_s`` (the staleness limit): the camera clock stepped back (NTP step, reboot, a pause
  after which it runs further behind). The node cannot tell this from a camera that stalls and then
  delivers a frame older than the limit; it takes the step, so that one such frame is segmented
  rather than every frame of a stepped clock dropped;
- several consecutive frames stamped before the newest stamp seen: a timeline that went back (a bag
  loop). One such frame alone is a late frame, judged against the estimate as it stands.
"""

from __future__ import annotations

import threading
from collections import deque


class ClockOffset:
    """Thread-safe estimate of ``node clock - camera clock`` in seconds (positive: stamps lag).

    Args:
        window_s: seconds of reception time the minimum is taken over; a drifting camera clock is
            followed within it, whatever the frame rate.
        restart_after: consecutive frames stamped before the newest stamp seen that mean a new
            timeline (a bag loop, a camera clock stepped back), not late frames: the estimate then
            starts over from them.
    """

    def __init__(self, *, window_s: float = 5.0, restart_after: int = 3) -> None:
        self._lock = threading.Lock()
        self._window_s = window_s
        self._recent: deque[tuple[float, float]] = deque()  # (received_s, offset), oldest first
        # (stamp, received, offset) of the consecutive frames behind the newest stamp, in order
        self._behind: list[tuple[float, float, float]] = []
        self._restart_after = restart_after
        self._newest_stamp_s: float | None = None

    def observe(
        self, *, stamp_s: float, received_s: float, max_jump_s: float | None = None
    ) -> None:
        """Record a frame: its header stamp and its reception time on the node's clock (seconds).

        ``max_jump_s``: a newer frame whose offset exceeds the estimate by more than this restarts
        the estimate (a camera clock that stepped back); None: never.
        """
        offset = received_s - stamp_s
        with self._lock:
            if self._recent and received_s < self._recent[-1][0] - self._window_s:
                self._restart()  # the node's clock went back (sim time from a looping bag)
            if self._newest_stamp_s is not None and stamp_s < self._newest_stamp_s:
                # One late frame is stale; several in a row are a timeline that went back, whose
                # offsets the old minimum would make look stale for a whole window.
                if self._behind and stamp_s < self._behind[-1][0]:
                    self._behind.clear()  # not one timeline either (late frames, out of order)
                self._behind.append((stamp_s, received_s, offset))
                if len(self._behind) < self._restart_after:
                    self._add(received_s, offset)
                    return
                behind = self._behind
                self._restart()
                for _, received, late_offset in behind:
                    self._add(received, late_offset)
            else:
                stepped = max_jump_s is not None and self._recent
                if stepped and offset - min(o for _, o in self._recent) > max_jump_s:
                    self._restart()
                self._add(received_s, offset)
            self._behind = []
            self._newest_stamp_s = stamp_s

    def _add(self, received_s: float, offset: float) -> None:
        self._recent.append((received_s, offset))
        while self._recent[0][0] < received_s - self._window_s:
            self._recent.popleft()

    def _restart(self) -> None:
        self._recent.clear()
        self._behind = []
        self._newest_stamp_s = None

    @property
    def offset_s(self) -> float | None:
        """The estimate, or ``None`` before the first frame."""
        with self._lock:
            return min(o for _, o in self._recent) if self._recent else None

    def reset(self) -> None:
        with self._lock:
            self._restart()
