"""All-or-nothing outputs for the bag tools and the demo, and their one-line ending on signals and full disks.

A tool writes every output under its final name inside a staging folder beside it
(``.<name>.partial-<pid>/``) and renames each into place once all are complete (a rename within one
folder is atomic). A run that fails or is interrupted removes the staging folder, so nothing is left
at a final name and a rerun is never blocked; only a SIGKILL can leave a staging folder, which no
rerun reads or collides with (its name carries the dead run's pid).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

#: errno values that mean the file system is full (space, or a user's quota).
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; the tool exits with :attr:`exit_code` (128 + the signal, 130 or 143).

    A KeyboardInterrupt, so the ``except KeyboardInterrupt`` and ``finally`` clean-ups run as for Ctrl-C.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread (no traceback
    is printed for it by the tools); the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():  # signals reach only that thread
        yield
        return

    def raise_interrupted(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def is_disk_full(exc: BaseException) -> bool:
    """True for an ``OSError`` that says the file system is full (anywhere in its ``__cause__`` chain)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        exc = exc.__cause__
    return False


def failure_line(exc: BaseException, target: Path, kept: str = "nothing was kept") -> str:
    """What a tool prints after ``error:`` when writing ``target`` failed: a full disk said as such,
    with what is left (``kept``)."""
    if is_disk_full(exc):
        return f"disk full while writing {target} ({os.strerror(errno.ENOSPC)}); {kept}"
    return str(exc)


class StagedOutputs:
    """A staging folder for outputs that all belong in ``parent``; use as a context manager.

    ``path(name)`` is where to write the output called ``name``; :meth:`commit` renames every staged
    entry into ``parent``. Leaving the block removes the staging folder with whatever is still in it:
    everything after an exception or an interrupt, nothing after a commit.

    Args:
        parent: the folder the outputs belong in (created if missing).
        tag: names the staging folder, e.g. the main output's name.
    """

    def __init__(self, parent: str | Path, tag: str) -> None:
        self.parent = Path(parent)
        self.dir = self.parent / f".{tag}.partial-{os.getpid()}"

    def path(self, name: str) -> Path:
        """Where to write the output that ends up as ``parent / name``."""
        return self.dir / name

    def __enter__(self) -> StagedOutputs:
        self.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)  # a killed run that had this pid
        self.dir.mkdir()
        return self

    def commit(self, *, replace: bool = True, order: tuple[str, ...] = ()) -> list[Path]:
        """Rename every staged entry into ``parent``; returns the final paths.

        ``order``: names to move last, in this order (e.g. the metrics file that marks a finished run).
        With ``replace`` a previous output of the same name is replaced (a folder removed first),
        otherwise it raises ``FileExistsError`` before anything is moved.
        """
        names = sorted(p.name for p in self.dir.iterdir())
        names = [n for n in names if n not in order] + [n for n in order if n in names]
        finals = [self.parent / name for name in names]
        existing = [final for final in finals if final.exists() or final.is_symlink()]
        if existing and not replace:
            raise FileExistsError(errno.EEXIST, "output exists already", str(existing[0]))
        for name, final in zip(names, finals):
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            os.replace(self.dir / name, final)
        return finals

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
