"""Read and write rosbag2 bags (mcap and sqlite3) without rclpy, on the pure-Python ``rosbags`` library.

Messages are ``rosbags`` dataclasses from a typestore holding ROS 2 Kilted's standard types plus
``t2g_msgs`` (registered from its ``.msg`` files). Their fields mirror the rclpy messages, so
``t2g_ros.image_codec`` decodes them (use ``data_type="numpy"`` when encoding for a bag).

A truncated mcap file (a recorder killed before it wrote the summary) cannot be opened by
``rosbags``; the reader then falls back to the ``mcap`` library's streaming reader, yields every
message of the complete chunks before the cut, and warns with :class:`BagTruncatedWarning`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import struct
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

#: ROS 2 Kilted's message definitions (the distribution the node targets; Humble-compatible types).
STORE = Stores.ROS2_KILTED
MSG_PACKAGE = "t2g_msgs"
#: rosbag2 metadata version 9 (Jazzy and newer); Humble's rosbag2 cannot read it.
METADATA_VERSION = 9

_MCAP_MAGIC = b"\x89MCAP0\r\n"
# What `ros2 bag record` stores for a durationless QoS policy (RMW_DURATION_INFINITE).
_INFINITE = QosTime(9223372036, 854775807)


class BagError(Exception):
    """A bag cannot be read or written as asked; the message names the file, topic or type."""


# What a damaged bag makes the parsers raise (metadata.yaml, mcap records, sqlite3, CDR payloads):
# each becomes a BagError naming the file, so a tool exits with a reason instead of a traceback.
_DAMAGE = (
    ReaderError,
    YAMLError,
    UnicodeDecodeError,
    McapError,
    sqlite3.DatabaseError,
    struct.error,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    OverflowError,
)


_Raw = tuple[str, str, int, bytes]  # topic, message type, log time in ns, CDR bytes


class BagTruncatedWarning(UserWarning):
    """A bag file ends early; only the messages before the cut are read."""


# --- types --------------------------------------------------------------------------------------


def find_msg_dir() -> Path:
    """Directory with ``t2g_msgs``'s ``.msg`` files, found without the ament index.

    Looks in the source checkout next to this package, then in ``share/t2g_msgs/msg`` under this
    Python's prefix and each ``AMENT_PREFIX_PATH`` entry (colcon and pip installs).
    """
    candidates = [Path(__file__).resolve().parents[1] / MSG_PACKAGE / "msg"]
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    candidates += [Path(prefix) / "share" / MSG_PACKAGE / "msg" for prefix in prefixes if prefix]
    for candidate in candidates:
        if (candidate / "ClassOccupancy.msg").is_file():
            return candidate
    raise BagError(
        f"{MSG_PACKAGE} .msg files not found; looked in: {', '.join(map(str, candidates))}"
    )


def make_typestore(msg_dir: Path | None = None) -> Typestore:
    """A new typestore: ROS 2 Kilted's types plus every ``t2g_msgs/msg/*.msg`` in ``msg_dir``.

    Its RIHS01 type hashes equal rosidl's, so bags carry the hashes a ROS install expects.
    """
    msg_dir = find_msg_dir() if msg_dir is None else Path(msg_dir)
    store = get_typestore(STORE)
    types: dict[str, Any] = {}
    for path in sorted(msg_dir.glob("*.msg")):
        types.update(
            get_types_from_msg(path.read_text(encoding="utf-8"), f"{MSG_PACKAGE}/msg/{path.stem}")
        )
    if not types:
        raise BagError(f"no .msg files in {msg_dir}")
    store.register(types)
    return store


def make_header(typestore: Typestore, stamp_ns: int, frame_id: str) -> Any:
    """A ``std_msgs/msg/Header`` dataclass for ``stamp_ns`` (nanoseconds since the epoch)."""
    time_cls = typestore.types["builtin_interfaces/msg/Time"]
    header_cls = typestore.types["std_msgs/msg/Header"]
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return header_cls(stamp=time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id)


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (anything with ``sec`` and ``nanosec``)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BagMessage:
    """One deserialised message."""

    topic: str
    msgtype: str  # e.g. "sensor_msgs/msg/CompressedImage"
    log_time_ns: int  # when the recorder received it
    stamp_ns: int | None  # header.stamp; None for types without a header
    msg: Any  # rosbags dataclass with the message's fields


def open_reader(path: str | Path, *, typestore: Typestore | None = None) -> BagReader:
    """Open a rosbag2 directory (mcap or sqlite3 storage) or a bare ``.mcap``/``.db3`` file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        BagError: not a readable bag (the message names the file and the reason).

    Warns:
        BagTruncatedWarning: an mcap file ends early; ``reader.truncated`` lists it.
    """
    return BagReader(Path(path), typestore or make_typestore())


class BagReader:
    """An open bag; iterate with :meth:`messages`. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path, typestore: Typestore) -> None:
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "bag not found", str(path))
        self.path = path
        self.typestore = typestore
        #: Files that end early; messages come from their readable prefix.
        self.truncated: tuple[Path, ...] = ()
        self._reader: Reader | None = None
        self._recovery: _McapRecovery | None = None
        self._counts: Counter[str] | None = None  # readable messages per topic, once counted
        try:
            reader = Reader(path)
            reader.open()
        except (*_DAMAGE, FileNotFoundError) as err:
            truncated = _truncated_mcap_files(path)
            if not truncated:
                raise BagError(f"cannot read bag {path}: {_reason(err)}") from err
            self.truncated = truncated
            try:
                self._recovery = _McapRecovery(_storage_files(path))
            except _DAMAGE as scan_err:
                raise BagError(
                    f"cannot read bag {path}: {_reason(err)}; and its readable part is "
                    f"damaged: {_reason(scan_err)}"
                ) from scan_err
            warnings.warn(
                BagTruncatedWarning(
                    f"bag file(s) {', '.join(map(str, truncated))} end early ({err}); reading the "
                    f"{sum(self._recovery.counts.values())} complete messages before the cut"
                ),
                stacklevel=3,
            )
        else:
            self._reader = reader

    @property
    def topics(self) -> dict[str, str]:
        """Topic name -> message type, for every topic in the bag."""
        if self._recovery is not None:
            return dict(self._recovery.types)
        assert self._reader is not None
        return {name: info.msgtype or "" for name, info in self._reader.topics.items()}

    def message_count(self, topic: str) -> int:
        """Messages on ``topic`` that can be read, counted by reading them once (all topics at once).

        ``metadata.yaml``'s counts are not trusted: a hand-edited or half-written one can say 0 of a
        bag with frames, or 1000 of one with 150. A damaged record ends the count, as it ends
        :meth:`messages`.
        """
        self._check_topics([topic])
        if self._counts is None:
            self._counts = self._count_readable()
        return self._counts[topic]

    def messages(self, *topics: str) -> Iterator[BagMessage]:
        """Deserialised messages of ``topics`` (at least one), in log-time order.

        A truncated mcap is read in file order, which is log-time order for recorder-written bags.

        Raises:
            BagError: a topic is not in the bag (the message lists those that are), its type is not
                in the typestore, or a file is corrupt.
        """
        if not topics:
            raise ValueError("name at least one topic")
        self._check_topics(topics)
        for topic in topics:
            msgtype = self.topics[topic]
            if msgtype not in self.typestore.types:
                raise BagError(
                    f"message type {msgtype!r} of topic {topic!r} in {self.path} is not known "
                    f"(the typestore has {STORE.value} and {MSG_PACKAGE})"
                )
        if self._recovery is not None:
            raw = self._recovery.messages(set(topics))
        else:
            raw = self._rosbags_messages(topics)
        for topic, msgtype, log_time, data in _guarded(raw, self.path):
            try:
                msg = self.typestore.deserialize_cdr(data, msgtype)
            except _DAMAGE as err:
                raise BagError(
                    f"message on {topic!r} at log time {log_time} ns in {self.path} is "
                    f"corrupt: {_reason(err)}"
                ) from err
            header = getattr(msg, "header", None)
            stamp = (
                stamp_to_ns(header.stamp)
                if header is not None and hasattr(header, "stamp")
                else None
            )
            yield BagMessage(topic, msgtype, log_time, stamp, msg)

    def _count_readable(self) -> Counter[str]:
        """Readable messages per topic, without deserialising them."""
        if self._recovery is not None:
            return Counter(self._recovery.counts)
        counts: Counter[str] = Counter()
        try:
            for topic, _, _, _ in _guarded(self._rosbags_messages(tuple(self.topics)), self.path):
                counts[topic] += 1
        except BagError:
            pass  # messages() stops at the same record and says why
        return counts

    def close(self) -> None:
        if self._reader is not None and self._reader.is_open:
            self._reader.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_topics(self, topics: tuple[str, ...] | list[str]) -> None:
        present = self.topics
        missing = [topic for topic in topics if topic not in present]
        if missing:
            listing = (
                ", ".join(f"{name} ({msgtype})" for name, msgtype in sorted(present.items()))
                or "none"
            )
            raise BagError(
                f"topic(s) {', '.join(map(repr, missing))} not in {self.path}; topics: {listing}"
            )

    def _rosbags_messages(self, topics: tuple[str, ...]) -> Iterator[tuple[str, str, int, bytes]]:
        assert self._reader is not None
        connections = [c for c in self._reader.connections if c.topic in topics]
        for connection, log_time, data in self._reader.messages(connections):
            yield connection.topic, connection.msgtype, log_time, data


def _guarded(raw: Iterator[_Raw], path: Path) -> Iterator[_Raw]:
    """``raw``, with the parsers' exceptions on a damaged file turned into BagError."""
    try:
        yield from raw
    except _DAMAGE as err:
        raise BagError(f"cannot read messages from {path}: {_reason(err)}") from err


def _reason(err: BaseException) -> str:
    return str(err) if isinstance(err, (ReaderError, OSError)) else f"{type(err).__name__}: {err}"


def _storage_files(path: Path) -> list[Path]:
    """The storage files of a bag: ``path`` itself, or those listed in its ``metadata.yaml``."""
    if path.is_file():
        return [path]
    try:
        metadata = YAML(typ="safe").load((path / "metadata.yaml").read_text())[
            "rosbag2_bagfile_information"
        ]
        return [path / Path(name).name for name in metadata["relative_file_paths"]]
    except (OSError, YAMLError, UnicodeDecodeError, KeyError, TypeError):
        return []


def _truncated_mcap_files(path: Path) -> tuple[Path, ...]:
    """mcap files of the bag that lack the closing magic a complete mcap file ends with."""
    truncated = []
    for file in _storage_files(path):
        if file.suffix != ".mcap" or not file.is_file():
            continue
        with file.open("rb") as stream:
            stream.seek(max(0, file.stat().st_size - len(_MCAP_MAGIC)))
            if stream.read() != _MCAP_MAGIC:
                truncated.append(file)
    return tuple(truncated)


class _McapRecovery:
    """Streams the readable records of mcap files that may end mid-record."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.types: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        for topic, _, _, _ in self._scan(
            None
        ):  # the scan also fills self.types from channel records
            self.counts[topic] += 1

    def messages(self, topics: set[str]) -> Iterator[tuple[str, str, int, bytes]]:
        return self._scan(topics)

    def _scan(self, topics: set[str] | None) -> Iterator[tuple[str, str, int, bytes]]:
        for file in self.files:
            schemas: dict[int, Schema] = {}
            channels: dict[int, Channel] = {}
            with file.open("rb") as stream:
                records = StreamReader(stream).records
                while True:
                    try:
                        record = next(records)
                    except StopIteration:
                        break
                    # The cut: a record shorter than its length field (EndOfFile) or a partial
                    # length field (struct.error). Everything before it was complete.
                    except (McapError, struct.error):
                        break
                    if isinstance(record, Schema):
                        schemas[record.id] = record
                    elif isinstance(record, Channel):
                        channels[record.id] = record
                        if topics is None:
                            self.types.setdefault(record.topic, schemas[record.schema_id].name)
                    elif isinstance(record, Message):
                        channel = channels[record.channel_id]
                        if topics is None or channel.topic in topics:
                            msgtype = schemas[channel.schema_id].name
                            yield channel.topic, msgtype, record.log_time, record.data


# --- writing ------------------------------------------------------------------------------------


class BagWriter:
    """Write a new rosbag2 directory that ``ros2 bag play`` (Jazzy, Kilted) replays.

    Use as a context manager: on a clean exit it writes the index and ``metadata.yaml``; on an
    exception the partial directory is left without them.

    Args:
        path: the bag directory to create; must not exist.
        storage: ``"mcap"`` (``<name>.mcap``) or ``"sqlite3"`` (``<name>.db3``).
        typestore: defaults to :func:`make_typestore`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        storage: Literal["mcap", "sqlite3"] = "mcap",
        typestore: Typestore | None = None,
    ) -> None:
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise BagError(f"unknown storage {storage!r}; use 'mcap' or 'sqlite3'")
        self.path = Path(path)
        self.typestore = typestore or make_typestore()
        try:
            self._writer = Writer(
                self.path, version=METADATA_VERSION, storage_plugin=plugins[storage]
            )
        except WriterError as err:
            raise BagError(str(err)) from err
        self._connections: dict[str, Any] = {}

    def add_topic(
        self,
        topic: str,
        msgtype: str,
        *,
        reliability: Literal["reliable", "best_effort"] = "reliable",
        durability: Literal["volatile", "transient_local"] = "volatile",
    ) -> None:
        """Declare a topic and the QoS its publisher offered (``transient_local`` for latched topics).

        The QoS is stored as ``ros2 bag record`` stores an offer, and ``ros2 bag play`` uses it to
        republish, e.g. ``label_info`` stays latched on replay.
        """
        if msgtype not in self.typestore.types:
            raise BagError(f"message type {msgtype!r} for topic {topic!r} is not in the typestore")
        if topic in self._connections:
            raise BagError(f"topic {topic!r} was already added to {self.path}")
        qos = Qos(
            QosHistory.UNKNOWN,  # not part of a discovered offer; the recorder writes unknown/0 too
            0,
            _enum(QosReliability, reliability, "reliability"),
            _enum(QosDurability, durability, "durability"),
            _INFINITE,
            _INFINITE,
            QosLiveliness.AUTOMATIC,
            _INFINITE,
            False,
        )
        try:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore, offered_qos_profiles=[qos]
            )
        except WriterError as err:
            raise BagError(f"cannot add topic {topic!r} to {self.path}: {err}") from err

    def write(self, topic: str, msg: Any, log_time_ns: int) -> None:
        """Append ``msg`` (a typestore dataclass of the topic's type) with receive time ``log_time_ns``."""
        connection = self._connections.get(topic)
        if connection is None:
            added = ", ".join(self._connections) or "none"
            raise BagError(f"topic {topic!r} was not added to {self.path}; added: {added}")
        msgtype = getattr(msg, "__msgtype__", type(msg).__name__)
        if msgtype != connection.msgtype:
            raise BagError(f"topic {topic!r} carries {connection.msgtype}, got a {msgtype}")
        if log_time_ns < 0:
            raise BagError(f"log time must be >= 0 ns, got {log_time_ns}")
        self._writer.write(connection, int(log_time_ns), self.typestore.serialize_cdr(msg, msgtype))

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._writer.__exit__(exc_type, exc, tb)

    def abort(self) -> None:
        """Close the storage file without the index and ``metadata.yaml``, for a bag being thrown
        away (e.g. after a full disk); never raises."""
        with suppress(Exception):
            self._writer.abort()


def _enum(enum_cls: Any, name: str, what: str) -> Any:
    try:
        return enum_cls[name.upper()]
    except KeyError:
        raise BagError(f"unknown {what} {name!r}") from None
