"""A journal file: the writers' lock, a torn last record set aside, a corrupt record named.

Optuna's :class:`~optuna.storages.journal.JournalFileBackend` appends one JSON object a
line. A write cut short (a full disk, a SIGKILL between ``write`` and ``fsync``) leaves a
last line without its newline. Optuna skips such a line when it reads, but the next append
lands on the same line, and from then on the whole journal fails to load: every completed
trial becomes unreadable. :func:`repair_torn_tail` runs before a journal is opened: it moves
the torn bytes into a side file (nothing is deleted) and truncates the journal to its last
whole record, under the writers' lock (:class:`JournalLock`, the one every writer takes).
:func:`check_records` names the first line that is not a journal record, for the corruption
that truncation cannot mend.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "s.journal"
    >>> _ = path.write_bytes(b'{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}\\n{"op_c')
    >>> repair_torn_tail(path).torn_bytes
    6
    >>> check_records(path)
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from pathlib import Path


class JournalFileError(RuntimeError):
    """A journal file holds a line that is not a journal record."""


@dataclasses.dataclass(frozen=True)
class TornTail:
    """What :func:`repair_torn_tail` set aside.

    Args:
        path: The journal.
        kept_bytes: Size of the journal after the repair (its whole records).
        torn_bytes: Bytes of the torn last record, moved to ``saved_to``.
        saved_to: The side file holding the torn bytes.
    """

    path: Path
    kept_bytes: int
    torn_bytes: int
    saved_to: Path

    def __str__(self) -> str:
        return (f"{self.path}: its last record was cut short ({self.torn_bytes} bytes without a newline, "
                f"a write interrupted by a full disk or a kill); moved them to {self.saved_to} and kept the "
                f"{self.kept_bytes} bytes of whole records")


class JournalLock:
    """The journal's write lock as an exclusive ``flock`` on ``<journal>.flock``.

    The kernel releases it when its holder dies, even by SIGKILL, so a killed driver
    never stalls the others; Optuna's own lock files outlive their holder and are only
    broken after a 30 s grace period. Every writer of one journal must use the same
    lock: open journals with :func:`open_storage`. :class:`~optuna.storages.journal.JournalFileBackend`
    takes any object with ``acquire`` and ``release``, as its two shipped locks have.
    """

    def __init__(self, journal_path: str | Path) -> None:
        self._path = f"{journal_path}.flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def repair_torn_tail(journal: str | Path) -> TornTail | None:
    """Set aside a last record that lacks its newline; return what was done, or None.

    Runs under the writers' lock, so a record another driver is appending right now is never
    mistaken for a torn one. The torn bytes go to ``<journal>.torn-<n>`` (the first free
    ``n``), so a person can still inspect them.

    Args:
        journal: Path of the journal file; a missing or empty file needs no repair.
    """
    path = Path(journal)
    if not path.is_file():
        return None
    lock = JournalLock(path)
    lock.acquire()
    try:
        return _set_aside_torn_tail(path)
    finally:
        lock.release()


def _set_aside_torn_tail(path: Path) -> TornTail | None:
    with open(path, "r+b") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            return None
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        kept = _last_newline_end(handle, size)
        handle.seek(kept)
        torn = handle.read()
        saved_to = _free_side_file(path)
        saved_to.write_bytes(torn)
        handle.truncate(kept)
        handle.flush()
    return TornTail(path, kept, len(torn), saved_to)


def check_records(journal: str | Path) -> None:
    """Raise :class:`JournalFileError` naming the first line that is not a journal record.

    A record is a JSON object with an integer ``op_code`` (Optuna's journal format). The
    message says how many whole records precede the bad line: those, and the trials they
    complete, are intact.
    """
    path = Path(journal)
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            reason = _record_problem(line)
            if reason is not None:
                raise JournalFileError(
                    f"{path} line {number}: {reason}, so Optuna cannot replay the study; the {number - 1} records "
                    f"before it are intact. Move the file aside, or delete that line (and any after it that are "
                    f"not records) to keep them"
                )


def _record_problem(line: bytes) -> str | None:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"not a JSON record ({error})"
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a journal record (an object)"
    op_code = record.get("op_code")
    if not isinstance(op_code, int) or isinstance(op_code, bool):
        return "a JSON object without an integer 'op_code', not an Optuna journal record"
    return None


def _last_newline_end(handle, size: int) -> int:
    """Offset just past the last newline before ``size`` (0 if there is none)."""
    block = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - block)
        handle.seek(start)
        found = handle.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _free_side_file(path: Path) -> Path:
    n = 1
    while (candidate := path.with_name(f"{path.name}.torn-{n}")).exists():
        n += 1
    return candidate
