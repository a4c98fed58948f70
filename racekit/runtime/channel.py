"""Pickled messages over a pair of pipes, between the pool and a worker.

``multiprocessing.connection`` does the same, but importing it costs a worker
about 25 ms of a ~60 ms start (it pulls in sockets, tempfile, subprocess…),
and workers are started on every run. Framing is an 8-byte length, then the
pickle.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
from typing import Any

_HEADER = struct.Struct("<Q")
MAX_MESSAGE = 1 << 30


class ChannelError(OSError):
    """What came through the channel is not a racekit message."""


class Channel:
    """One end: reads from ``read_fd``, writes to ``write_fd`` (both blocking)."""

    def __init__(self, read_fd: int, write_fd: int):
        self._read_fd = read_fd
        self._write_fd = write_fd

    def fileno(self) -> int:
        """The readable descriptor, for ``select`` and ``selectors``."""
        return self._read_fd

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_HEADER.pack(len(data)) + data)
        while view:
            written = os.write(self._write_fd, view)
            view = view[written:]

    def recv(self) -> Any:
        """The next message. A garbled one (a case wrote into racekit's file
        descriptor, say) raises ChannelError, never anything else."""
        (size,) = _HEADER.unpack(self._read_exactly(_HEADER.size))
        if size > MAX_MESSAGE:
            raise ChannelError(f"a header announcing {size:,} bytes, more than any racekit message")
        data = self._read_exactly(size)
        try:
            return pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - garbage can fail to unpickle in any way
            raise ChannelError(f"a message racekit could not read ({type(exc).__name__})") from None

    def poll(self, timeout: float = 0.0) -> bool:
        readable, _, _ = select.select([self._read_fd], [], [], timeout)
        return bool(readable)

    def close(self) -> None:
        for fd in {self._read_fd, self._write_fd}:
            try:
                os.close(fd)
            except OSError:
                pass

    def _read_exactly(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self._read_fd, min(size, 1 << 20))
            if not chunk:
                raise EOFError("the other end closed the channel")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


def channel_pair() -> tuple[Channel, tuple[int, int]]:
    """The parent's end, and the two descriptors the child's end is built from."""
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    return Channel(to_parent_r, to_child_w), (to_child_r, to_parent_w)
