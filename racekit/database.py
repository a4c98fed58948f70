"""Failing schedules kept between runs, so that a race found once stays found.

Modelled on Hypothesis's ``DirectoryBasedExampleDatabase``: a folder with one
sub-folder per variant (named by a digest of the variant's code, inputs and the
schedule format) and one small file per schedule (named by a digest of the
schedule), each written to a temporary file of its own and renamed into place.
Many racekit processes can then save and read at once without a lock: a reader
sees a whole file or none, and two writers of one schedule write the same file.
A folder of files was chosen over ``sqlite3`` because it needs no locking
protocol (sqlite's is unreliable on network file systems, and a damaged
database file loses every entry at once, where a damaged entry here loses one),
and because a user can look into it, copy it, or delete one entry.

racekit only ever writes inside a folder it made: the folder holds a marker
file, and a ``RACEKIT_DATABASE`` path that exists without the marker (a file, a
device node, a symlink, someone's folder) is refused before any trial. Inside
it, nothing is followed: a variant's folder or an entry that is a symbolic
link (committed to a repository, restored from a CI cache) is skipped with a
warning, entries are opened with ``O_NOFOLLOW``, and only names racekit itself
writes (a schedule's digest) are ever replaced or trimmed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from racekit.case.model import Variant
from racekit.errors import UsageError
from racekit.own_files import read_own
from racekit.records import Note

MARKER = ".racekit-database"
MARKER_TEXT = "racekit's failing-schedule database: safe to delete as a whole\n"
MAX_PER_VARIANT = 5
MAX_ENTRY_BYTES = 64 * 1024  # a schedule string is short; a bigger file is not ours
DEFAULT = Path(".racekit") / "schedules"


def from_environment() -> Database | None:
    """The database the environment asks for (``RACEKIT_DATABASE``), checked; None when off."""
    setting = os.environ.get("RACEKIT_DATABASE", "")
    if setting.lower() in ("off", "none", "0"):
        return None
    database = Database(Path(setting) if setting else DEFAULT)
    database.check()
    return database


@dataclass
class Database:
    root: Path
    warnings: list[Note] = field(default_factory=list)  # damaged or stale entries skipped, failed writes
    _files: dict[tuple[str, str], Path] = field(default_factory=dict, repr=False)  # (variant, schedule) -> its file

    def check(self) -> None:
        """Refuse, before any trial, a path that is not racekit's own database."""
        where = str(self.root)
        try:
            info = os.lstat(self.root)
        except FileNotFoundError:
            return  # made on the first save
        except OSError as exc:
            raise UsageError(f"RACEKIT_DATABASE={where}: cannot be used ({exc.strerror})") from None
        if stat.S_ISLNK(info.st_mode):
            raise UsageError(f"RACEKIT_DATABASE={where} is a symbolic link; racekit keeps its schedules only in a "
                             "folder it made itself (set RACEKIT_DATABASE to a new folder, or to off)")
        if not stat.S_ISDIR(info.st_mode):
            kind = "a regular file" if stat.S_ISREG(info.st_mode) else "a device or special file"
            raise UsageError(f"RACEKIT_DATABASE={where} is {kind}, not racekit's database folder; racekit never "
                             "replaces what it did not make (set RACEKIT_DATABASE to a new folder, or to off)")
        if not (self.root / MARKER).is_file():
            raise UsageError(f"RACEKIT_DATABASE={where} is a folder racekit did not make (it has no {MARKER}); "
                             "racekit writes only into its own database (set it to a new folder, or to off)")

    # -- reading -------------------------------------------------------------

    def load(self, variant: Variant) -> list[str]:
        """The variant's saved schedules, newest first; damaged entries are skipped with a warning,
        and an entry whose schedule racekit cannot read is forgotten too (it would never replay)."""
        folder = self.root / fingerprint(variant)
        try:
            if not self._own_folder(folder, variant):
                return []
            names = [e for e in os.scandir(folder) if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            self.warnings.append(Note.of("db_unreadable", variant=variant.id, folder=folder, reason=exc.strerror))
            return []
        found: list[tuple[float, str]] = []
        for entry in names:
            read = self._read(Path(entry.path), variant)
            if read is None:
                continue
            schedule, modified = read
            found.append((modified, schedule))
            self._files[(variant.id, schedule)] = Path(entry.path)
        found.sort(reverse=True)
        return [s for _, s in found[:MAX_PER_VARIANT]]

    def _own_folder(self, folder: Path, variant: Variant) -> bool:
        """Whether ``folder`` is a real folder (or absent); a link or a file in
        its place is not racekit's, and is neither followed nor replaced."""
        try:
            info = os.lstat(folder)
        except FileNotFoundError:
            return True
        if stat.S_ISDIR(info.st_mode):
            return True
        self.warnings.append(Note.of("db_not_ours", variant=variant.id, path=folder))
        return False

    def _read(self, path: Path, variant: Variant) -> tuple[str, float] | None:
        """An entry's schedule and when it was last saved; None (with a warning) when it is not one."""
        from racekit.runtime.controlled.schedule import decode_schedule

        try:
            content, info = read_own(path, MAX_ENTRY_BYTES)
        except OSError:
            self.warnings.append(Note.of("db_not_ours" if os.path.islink(path) else "db_damaged",
                                         variant=variant.id, path=path))
            return None
        try:
            data = json.loads(content.decode("utf-8"))
            schedule = data["schedule"]
            if not isinstance(schedule, str) or data.get("variant") != variant.id:
                raise ValueError("wrong shape")
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            self.warnings.append(Note.of("db_damaged", variant=variant.id, path=path))
            return None
        try:
            decode_schedule(schedule)
        except ValueError as exc:
            self.warnings.append(Note.of("db_stale", variant=variant.id, detail=str(exc)))
            self._unlink_own(path)
            return None
        return schedule, info.st_mtime

    # -- writing -------------------------------------------------------------

    def save(self, variant: Variant, schedule: str) -> None:
        """Keep ``schedule`` (atomically: a whole file or none); a failure only costs the cache."""
        folder = self.root / fingerprint(variant)
        target = folder / entry_name(schedule)
        try:
            self._make_root()
            if not self._own_folder(folder, variant):
                return
            try:
                folder.mkdir()
            except FileExistsError:
                pass
            if not self._own_folder(folder, variant):  # replaced by a link meanwhile
                return
            try:
                info = os.lstat(target)
            except FileNotFoundError:
                info = None
            if info is not None and stat.S_ISREG(info.st_mode):
                os.utime(target, follow_symlinks=False)  # newest first: seen again
            else:
                # A link or anything else under our own name is replaced, never followed (rename does not follow).
                _write_atomically(target, json.dumps({"variant": variant.id, "schedule": schedule}) + "\n")
            self._trim(folder)
        except OSError as exc:
            self.warnings.append(Note.of("db_unsaved", variant=variant.id, folder=self.root,
                                          reason=exc.strerror or exc))

    def forget(self, variant: Variant, schedule: str) -> None:
        """Drop a saved schedule that no longer fits the variant (its own file only)."""
        folder = self.root / fingerprint(variant)
        target = self._files.get((variant.id, schedule)) or folder / entry_name(schedule)
        if self._own_folder(target.parent, variant):
            self._unlink_own(target)

    @staticmethod
    def _unlink_own(path: Path) -> None:
        """Remove an entry racekit named (a schedule's digest), in a folder already checked."""
        if not _OWN_NAME.fullmatch(path.name):
            return
        try:
            os.unlink(path)  # unlink removes a link itself, never what it points to
        except OSError:
            pass

    def _make_root(self) -> None:
        try:
            if stat.S_ISREG(os.lstat(self.root / MARKER).st_mode):
                return
        except OSError:
            pass
        self.check()  # it may have appeared since the run started
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.root / MARKER, MARKER_TEXT)

    def _trim(self, folder: Path) -> None:
        """Keep the newest entries; only files racekit names are counted and removed."""
        entries = sorted((e for e in os.scandir(folder) if _OWN_NAME.fullmatch(e.name)
                          and e.is_file(follow_symlinks=False)),
                         key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)
        for old in entries[MAX_PER_VARIANT:]:
            self._unlink_own(Path(old.path))


ENTRY_DIGEST = 10  # bytes of a schedule's blake2b digest: its entry's name, in hex
_OWN_NAME = re.compile(f"[0-9a-f]{{{2 * ENTRY_DIGEST}}}")


def entry_name(schedule: str) -> str:
    return hashlib.blake2b(schedule.encode(), digest_size=ENTRY_DIGEST).hexdigest()


def fingerprint(variant: Variant) -> str:
    """What a schedule depends on: the code every thread runs, in order, its inputs,
    and what a schedule's choices mean (the scheduler's format)."""
    from racekit.runtime.controlled.schedule import SCHEDULE_FORMAT

    parts = [f"format {SCHEDULE_FORMAT}", variant.id, repr(sorted(variant.params.items(), key=lambda kv: kv[0]))]
    parts += [variant.setup.text if variant.setup else ""]
    parts += [f"{t.name}*{t.count}:{t.code.text}" for t in variant.threads]
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=12).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in variant.id)[:60]
    return f"{safe}-{digest}"


def _write_atomically(target: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
