"""Where racekit may write a report (``--output``, ``--save-schedules``), checked before any trial.

A run can take minutes; finding only at its end that the report cannot be
written would throw it away. So the path is checked first: its folder must
exist and take a new file, and an existing file is replaced only if racekit
wrote it (a report or schedule list of its own): never a case file, a folder,
a device or ``/proc`` entry, or someone's document. The report is written to a
temporary file beside the target and renamed over it, so a full disk leaves
the old file whole; the caller then prints the report and says where it could
not go.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from racekit.errors import UsageError

SCHEDULES_HEADER = "# racekit failing schedules: FILE VARIANT SCHEDULE, one a line\n"
_OURS = (b"racekit ", b"{\n  \"racekit\":", b"{\"racekit\":", SCHEDULES_HEADER.encode(), b"<!doctype html>\n<!-- racekit")


def check(path: Path, option: str, inputs: list[str]) -> None:
    """Raise UsageError, naming the option, if racekit must not or cannot write ``path``."""
    where = f"{option} {str(path)!r}"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UsageError(f"{where}: cannot be used ({exc.strerror})") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{where} is a folder; give a file name inside it")
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{where} is a device or special file, not a file racekit can write a report to")
        for case in inputs:
            try:
                if os.path.samefile(case, path):
                    raise UsageError(f"{where} is a case file this run reads; racekit does not overwrite its input")
            except OSError:
                continue
        if not _written_by_racekit(path):
            raise UsageError(f"{where} exists and is not a report racekit wrote; racekit does not overwrite files it "
                             "did not create (remove it, or choose another name)")
        if not os.access(path, os.W_OK):
            raise UsageError(f"{where} is not writable")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{where}: the folder {str(folder)!r} does not exist")
    try:  # can a file be made there at all (read-only folder, /proc, no space for an inode)?
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".racekit-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{where}: cannot write in {str(folder)!r} ({exc.strerror or exc})") from None


def write(path: Path, text: str) -> str | None:
    """Write ``text`` to ``path`` whole or not at all; the reason when it could not be written."""
    folder = path.parent if str(path.parent) else Path(".")
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".racekit-report-")
        # mkstemp makes it private (0600); a report is shared as any new file would
        # be (a course site): 0666 less the umask, as open() would have made it.
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        return None
    except OSError as exc:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass
        return exc.strerror or str(exc)


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (setting
    it to read it would change it for every thread for a moment)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _written_by_racekit(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head == b"" and path.stat().st_size == 0 and not _pseudo(path) or head.startswith(_OURS)


def _pseudo(path: Path) -> bool:
    """/proc and /sys files look empty but are not files (writing them changes the system)."""
    real = os.path.realpath(path)
    return real.startswith(("/proc/", "/sys/", "/dev/"))
