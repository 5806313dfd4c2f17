"""The node's inference thread: takes the newest frame from a ``LatestSlot`` and processes it.

The subscription callback only ``put``s; this thread decodes, segments and publishes, so the
executor never blocks and the lag never grows. One frame's failure is logged and counted, never
fatal. ``stop`` does not wait for the frame in progress (deactivate must be prompt, and the node
discards that frame); ``join`` waits for it where the model must be free (activate, exit).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Generic, TypeVar

from t2g_ros.latest_slot import LatestSlot

T = TypeVar("T")


class FrameWorker(Generic[T]):
    """Runs ``process(item)`` on a daemon thread for the newest item put; ``on_error(traceback)``
    when ``process`` raises. Started once, stopped once (a new activation makes a new worker)."""

    def __init__(
        self,
        process: Callable[[T], None],
        *,
        on_error: Callable[[str], None],
        name: str = "t2g_inference",
    ) -> None:
        self._process = process
        self._on_error = on_error
        self._slot: LatestSlot[T] = LatestSlot()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, item: T) -> None:
        self._slot.put(item)

    @property
    def overwritten(self) -> int:
        """Items replaced before the thread took them (frames skipped while inference was busy)."""
        return self._slot.overwritten

    def stop(self) -> None:
        """Take no further item; the thread ends after the one in progress, if any."""
        self._slot.close()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the thread to end (after ``stop``); whether it has."""
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._slot.closed:
            item = self._slot.take(timeout=0.5)
            if item is None:
                continue
            try:
                self._process(item)
            except Exception:  # never let one frame kill the node; the traceback says what to fix
                self._on_error(traceback.format_exc())
