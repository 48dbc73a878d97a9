"""The batch journal: an append-only JSONL file that lets a new process re-attach to a batch's jobs.

Format: one JSON object per line, UTF-8, each with a ``"type"``:

``spec`` (always the first line)
    ``{"type": "spec", "version": 1, "batch_id", "created", "url", "quantum_computer", "circuits": N,
    "groups": [[size, count], ...], "shots", "options", "qubit_names", "use_timeslot",
    "circuits_sha256", "parameters_sha256"}``. ``groups`` is the run-length encoded list of job sizes
    (circuit ``i`` of the batch is in the job whose contiguous index range contains ``i``).
    ``circuits_sha256`` hashes every circuit's canonical wire JSON, in order, so it does not depend on
    the grouping; ``options`` hold the resolved ``calibration_set_id``.
``job``
    ``{"type": "job", "group": g, "start": a, "stop": b, "job_id": "...", "at": iso}``: the job
    holding circuits ``a <= i < b`` was created. Written as soon as the server answered the submit,
    before the batch does anything else with the id.
``submit_unknown``
    ``{"type": "submit_unknown", "group", "start", "stop", "message", "at"}``: the submit failed after
    the request left (:class:`~iqm_async.errors.SubmissionUnknownError`); the job may exist. Never
    submitted again automatically.
``refused``
    ``{"type": "refused", "group", "start", "stop", "status_code", "body", "at"}``: the server answered
    the submit with an error status, so no job was created. Not submitted again automatically either.
``resume``
    ``{"type": "resume", "at"}``: a later process re-attached to the batch (for the record only).

Durability: every record is appended with one ``write`` on a file opened with ``O_APPEND``, then
flushed and ``fsync``-ed before the call returns. That is a blocking call on the event loop thread,
on purpose: it is one small write per job (not per poll), and a thread would break the rule that the
core starts none. A last line cut short by a crash is ignored on reading; any other bad line is an error.

Crash window: a submit that reached the server but whose ``job`` record was not yet written (the
process died between the server's answer and the fsync) leaves a job the journal does not know; a
resume with the circuits would submit that group again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import JournalError

__all__ = [
    "JOURNAL_VERSION",
    "ChunkHash",
    "GroupRecord",
    "Journal",
    "JournalContents",
    "JournalError",
    "canonical_json",
    "decode_groups",
    "encode_groups",
    "parse_journal",
    "read_journal",
    "sha256_of",
]

JOURNAL_VERSION = 1

MAX_JOURNAL_CIRCUITS = 10_000_000
"""Most circuits one batch journal may describe; a spec claiming more is taken to be corrupt."""

MAX_JOURNAL_JOBS = 1_000_000
"""Most jobs one batch journal may describe."""

MAX_JOURNAL_BYTES = 1 << 30
"""Largest journal file read (a million jobs' records fit in a few hundred MB)."""


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` deterministically (sorted keys, no spaces) for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


class ChunkHash:
    """SHA-256 of a sequence of chunks, each prefixed by its length (so the split is unambiguous)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        """Add one chunk."""
        self._h.update(len(chunk).to_bytes(8, "big"))
        self._h.update(chunk)

    def hexdigest(self) -> str:
        """Return the hex digest of the chunks so far."""
        return self._h.hexdigest()


def sha256_of(chunks: Iterable[bytes]) -> str:
    """Return the :class:`ChunkHash` hex digest of ``chunks``."""
    h = ChunkHash()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def encode_groups(sizes: Sequence[int]) -> list[list[int]]:
    """Run-length encode job sizes: ``[100, 100, 7]`` → ``[[100, 2], [7, 1]]``."""
    out: list[list[int]] = []
    for size in sizes:
        if out and out[-1][0] == size:
            out[-1][1] += 1
        else:
            out.append([size, 1])
    return out


def decode_groups(encoded: object, circuits: object = None) -> list[tuple[int, int]]:
    """Turn run-length encoded job sizes back into ``[(start, stop), ...]`` index ranges.

    The sizes are checked against ``circuits`` (the spec's circuit count) *before* anything is expanded,
    so a corrupt or hostile spec (``[[1, 100000000]]``) is refused instead of exhausting memory.
    """
    if not isinstance(encoded, list):
        raise JournalError("journal spec: 'groups' must be a list of [size, count] pairs")
    for pair in encoded:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)
        ):
            raise JournalError(f"journal spec: bad group entry {pair!r}")
    total = sum(size * count for size, count in encoded)
    jobs = sum(count for _, count in encoded)
    if circuits is not None and total != circuits:
        raise JournalError(f"journal spec: the groups cover {total} circuits, not the {circuits!r} it declares")
    if total > MAX_JOURNAL_CIRCUITS or jobs > MAX_JOURNAL_JOBS:
        raise JournalError(
            f"journal spec: {total} circuits in {jobs} jobs is more than a journal can hold "
            f"({MAX_JOURNAL_CIRCUITS} circuits, {MAX_JOURNAL_JOBS} jobs); the file is corrupt"
        )
    ranges: list[tuple[int, int]] = []
    start = 0
    for size, count in encoded:
        for _ in range(count):
            ranges.append((start, start + size))
            start += size
    return ranges


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class GroupRecord:
    """What the journal says about one group (one job's worth of circuits)."""

    group: int
    start: int
    stop: int
    job_id: str | None = None
    unknown_message: str | None = None
    refused_status: int | None = None
    refused_body: Any = None
    at: str | None = None

    @property
    def recorded(self) -> bool:
        """True when the journal has any record of a submit of this group."""
        return self.job_id is not None or self.unknown_message is not None or self.refused_status is not None


@dataclass
class JournalContents:
    """A parsed journal: the spec and, per group, what happened to its submit."""

    spec: dict[str, Any]
    groups: list[GroupRecord] = field(default_factory=list)
    resumes: int = 0

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """Index ranges of the groups, in order."""
        return [(g.start, g.stop) for g in self.groups]


def read_journal(path: str | os.PathLike[str]) -> JournalContents:
    """Parse a journal file (without locking it; :meth:`Journal.read` reads under the lock).

    Raises:
        JournalError: the file is missing, does not start with a spec, or has a corrupt line
            (other than a last line cut short by a crash).
    """
    try:
        with open(path, "rb") as f:
            raw = _read_bounded(f.fileno(), os.fspath(path))
    except FileNotFoundError:
        raise JournalError(f"No batch journal at {os.fspath(path)!r}.") from None
    except OSError as exc:
        raise JournalError(f"Cannot read the batch journal {os.fspath(path)!r}: {exc.strerror}.") from None
    return parse_journal(raw, path)


def _read_bounded(fd: int, path: str) -> bytes:
    size = os.fstat(fd).st_size
    if size > MAX_JOURNAL_BYTES:
        raise JournalError(f"{path}: {size} bytes is more than a batch journal can hold; the file is corrupt")
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(1 << 24, size - offset), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def parse_journal(raw: bytes, path: str | os.PathLike[str]) -> JournalContents:
    """Parse a journal's bytes (see :func:`read_journal`)."""
    lines = raw.split(b"\n")
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if n == len(lines) - 1:
                break  # the last write was cut short: that record never counted
            raise JournalError(f"{os.fspath(path)}:{n + 1}: not a JSON record") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
            raise JournalError(f"{os.fspath(path)}:{n + 1}: not a journal record")
        records.append(rec)
    if not records or records[0]["type"] != "spec":
        raise JournalError(f"{os.fspath(path)}: the first record must be the batch spec")
    spec = records[0]
    if spec.get("version") != JOURNAL_VERSION:
        raise JournalError(f"{os.fspath(path)}: journal version {spec.get('version')!r} is not supported")
    circuits = spec.get("circuits")
    if not isinstance(circuits, int) or isinstance(circuits, bool) or circuits < 0:
        raise JournalError(f"{os.fspath(path)}: the spec's circuit count {circuits!r} is not a count")
    try:
        ranges = decode_groups(spec.get("groups"), circuits)
    except JournalError as exc:
        raise JournalError(f"{os.fspath(path)}: {exc}") from None
    contents = JournalContents(spec, [GroupRecord(g, a, b) for g, (a, b) in enumerate(ranges)])
    for rec in records[1:]:
        kind = rec["type"]
        if kind == "resume":
            contents.resumes += 1
            continue
        g = rec.get("group")
        if not isinstance(g, int) or not 0 <= g < len(contents.groups):
            raise JournalError(f"{os.fspath(path)}: record for an unknown group: {rec!r}")
        group = contents.groups[g]
        if (rec.get("start"), rec.get("stop")) != (group.start, group.stop):
            raise JournalError(f"{os.fspath(path)}: record does not match group {g}'s circuits: {rec!r}")
        if kind == "job":
            if not isinstance(rec.get("job_id"), str):
                raise JournalError(f"{os.fspath(path)}: job record without a job id: {rec!r}")
            group.job_id = rec["job_id"]
        elif kind == "submit_unknown":
            group.unknown_message = str(rec.get("message", ""))
            group.at = str(rec["at"]) if rec.get("at") is not None else None
        elif kind == "refused":
            group.refused_status = int(rec.get("status_code", 0))
            group.refused_body = rec.get("body")
        # Unknown record types are skipped: a newer writer may add some.
    return contents


class Journal:
    """Appends records to a journal file; every record is on disk when the call returns.

    The file is locked for as long as the journal is open (an exclusive ``flock``/``LockFileEx`` on
    its descriptor), so a second process cannot append to or resume the same batch at the same time;
    it gets a :class:`JournalError` at once instead of waiting. The lock goes with the descriptor, so
    a process that dies releases it.

    Args:
        path: the journal file.
        create: create a new file (refused if it exists) rather than open an existing one.
        readonly_ok: when the existing file cannot be opened for writing (a read-only place), open it
            for reading under a shared lock instead; :attr:`readonly` then says so and appends are refused.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool, readonly_ok: bool = False):
        self.path = os.fspath(path)
        self.readonly = False
        flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_BINARY", 0)
        if create:
            flags |= os.O_CREAT | os.O_EXCL  # never mix two batches in one file
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except FileExistsError:
            raise JournalError(
                f"The batch journal {self.path!r} already exists; resume it with client.resume_batch(...) or "
                "choose a new file."
            ) from None
        except FileNotFoundError:
            if create:
                raise JournalError(f"Cannot create the batch journal {self.path!r}: no such folder.") from None
            raise JournalError(f"No batch journal at {self.path!r}.") from None
        except PermissionError as exc:
            if create or not readonly_ok:
                raise JournalError(f"Cannot open the batch journal {self.path!r} to write: {exc.strerror}.") from None
            self._fd = self._open_readonly()
        except OSError as exc:
            if not create and readonly_ok and exc.errno == errno.EROFS:
                self._fd = self._open_readonly()
            else:
                raise JournalError(f"Cannot open the batch journal {self.path!r}: {exc.strerror}.") from None
        try:
            _lock(self._fd, exclusive=not self.readonly, path=self.path)
            if create:
                _fsync_dir(self.path)
            elif not self.readonly:
                self._drop_torn_tail()
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def _open_readonly(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise JournalError(f"Cannot read the batch journal {self.path!r}: {exc.strerror}.") from None
        self.readonly = True
        return fd

    def read(self) -> JournalContents:
        """Parse the journal as it is now (under this object's lock)."""
        if self._fd < 0:
            raise JournalError(f"The batch journal {self.path!r} is closed.")
        return parse_journal(_read_bounded(self._fd, self.path), self.path)

    def _drop_torn_tail(self) -> None:
        # A record cut short by a crash never counted; remove it, or the next record would be glued to it.
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        chunk = min(size, 1 << 20)
        tail = os.pread(self._fd, chunk, size - chunk)
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        keep = size - chunk + cut + 1 if cut >= 0 else (0 if chunk == size else size)
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file and release its lock (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record and fsync it.

        Raises:
            JournalError: the record could not be written and made durable (disk full, file too large,
                permission, I/O error, or the journal is read-only). A partial line is cut off again
                where possible, so the file stays readable.
        """
        if self.readonly or self._fd < 0:
            raise JournalError(f"The batch journal {self.path!r} is {'read-only' if self.readonly else 'closed'}.")
        line = json.dumps(dict(record), ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
        data = line + b"\n"
        size = os.fstat(self._fd).st_size
        written = 0
        try:
            while written < len(data):  # O_APPEND keeps a short write's rest at the end too
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError as exc:
            if written:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)  # a torn record would otherwise be glued to the next one
            raise JournalError(
                f"Writing to the batch journal {self.path!r} failed: {exc.strerror or exc}. The record was not saved."
            ) from exc

    def spec(self, spec: Mapping[str, Any]) -> None:
        """Write the batch spec (the first record)."""
        self.append({"type": "spec", "version": JOURNAL_VERSION, **spec})

    def job(self, group: int, start: int, stop: int, job_id: str) -> None:
        """Record that group ``group`` (circuits ``start <= i < stop``) became job ``job_id``."""
        self.append({"type": "job", "group": group, "start": start, "stop": stop, "job_id": job_id, "at": _now()})

    def unknown(self, group: int, start: int, stop: int, message: str) -> None:
        """Record a submit whose outcome is unknown (never re-sent automatically)."""
        self.append(
            {"type": "submit_unknown", "group": group, "start": start, "stop": stop, "message": message, "at": _now()}
        )

    def refused(self, group: int, start: int, stop: int, status_code: int, body: Any) -> None:
        """Record a submit the server refused with an error status."""
        self.append(
            {
                "type": "refused",
                "group": group,
                "start": start,
                "stop": stop,
                "status_code": status_code,
                "body": body,
                "at": _now(),
            }
        )

    def resume(self) -> None:
        """Record that a process re-attached to the batch."""
        self.append({"type": "resume", "at": _now()})


def _lock(fd: int, *, exclusive: bool, path: str) -> None:
    """Lock the whole journal file without waiting; a holder elsewhere means another process runs this batch."""
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            raise JournalError(
                f"The batch journal {path!r} is in use by another process (it is locked). Only one process may "
                "run or resume a batch at a time; wait for the other one to finish or stop it."
            ) from None
        raise JournalError(f"Cannot lock the batch journal {path!r}: {exc.strerror}.") from None


def _fsync_dir(path: str) -> None:
    # The new file's directory entry must be durable too, or a crash could lose the whole journal.
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
