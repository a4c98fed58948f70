"""Reading a file racekit wrote, where someone else may have put something else.

The schedule database and the rewrite cache live in folders a repository or a
CI cache can fill: an entry may be a symbolic link to someone's file, a FIFO
that blocks a reader for ever, a device that never ends, or just too big. A
file racekit reads back from there is opened without following a link and
without blocking, and read only if it is a regular file of a bounded size.
"""

from __future__ import annotations

import os
import stat

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class NotOurs(OSError):
    """The path holds something racekit never writes (a link, a device, a FIFO, a huge file)."""


def read_own(path: str | os.PathLike[str], max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The file's bytes and its status; OSError when it cannot be read, NotOurs when
    it is a link (on systems with O_NOFOLLOW), not a regular file, or over ``max_bytes``."""
    try:
        handle = os.open(path, _FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            raise NotOurs(f"{os.fspath(path)} is a symbolic link") from exc
        raise
    with os.fdopen(handle, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            raise NotOurs(f"{os.fspath(path)} is not a file racekit wrote")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotOurs(f"{os.fspath(path)} grew past {max_bytes} bytes")
    return data, info
