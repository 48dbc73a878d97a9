"""The ledger's SQLite file: opening it, its schema, and every read and write."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ..errors import IQMError, ValidationError

if TYPE_CHECKING:
    from ..models import JobData
from .records import (
    LedgerEntry,
    UsageReport,
    UsageRow,
    _parse_ts,
    _server_url,
    _times,
    _ts,
    normalize_tags,
    parse_since,
)

logger = logging.getLogger("iqm_async.ledger")

LEDGER_ENV = "IQM_ASYNC_LEDGER"
"""Environment variable: a ledger path, ``1``/``on`` for the default path, or ``0``/``off`` to turn it off."""

_OFF = {"0", "off", "false", "no", "none"}
_ON = {"1", "on", "true", "yes"}
_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_S = 10.0

LedgerSpec = Union["Ledger", str, "os.PathLike[str]", bool, None]
"""What ``ledger=`` accepts: a :class:`Ledger`, a path, ``True`` (default path), ``False`` (off), None (environment)."""


class LedgerError(IQMError):
    """The job ledger could not be read (or is not configured for this client)."""


def default_ledger_path() -> Path:
    """Return the ledger's default file: ``<user data dir>/iqm-async/jobs.sqlite3``.

    The data directory follows each platform's convention: ``$XDG_DATA_HOME`` (default
    ``~/.local/share``) on Linux and other Unixes, ``~/Library/Application Support`` on macOS and
    ``%LOCALAPPDATA%`` (default ``AppData/Local`` in the home directory) on Windows.
    """
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        # The XDG spec says a relative value is invalid and must be ignored.
        base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base / "iqm-async" / "jobs.sqlite3"


def open_ledger(spec: LedgerSpec = None, *, default: bool = False) -> Ledger | None:
    """Resolve a ``ledger=`` argument (then ``IQM_ASYNC_LEDGER``, then ``default``) into a Ledger or None (off).

    The library passes ``default=False`` (opt-in); the command line passes ``default=True``.
    """
    if isinstance(spec, Ledger):
        return spec
    if spec is True:
        return Ledger(default_ledger_path())
    if spec is False:
        return None
    if spec is not None:
        if not isinstance(spec, (str, os.PathLike)):
            from ..errors import ClientConfigurationError

            raise ClientConfigurationError(f"ledger must be a path, True, False or a Ledger, got {spec!r}")
        return Ledger(spec)
    env = os.environ.get(LEDGER_ENV, "").strip()
    if not env:
        return Ledger(default_ledger_path()) if default else None
    if env.lower() in _OFF:
        return None
    if env.lower() in _ON:
        return Ledger(default_ledger_path())
    return Ledger(os.path.expanduser(env))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    server_url TEXT NOT NULL,
    quantum_computer TEXT,
    calibration_set_id TEXT,
    submitted TEXT NOT NULL,
    circuits INTEGER,
    shots INTEGER,
    tags TEXT NOT NULL DEFAULT '[]',
    batch_id TEXT,
    status TEXT NOT NULL,
    created_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    queue_seconds REAL,
    run_seconds REAL,
    qpu_seconds REAL,
    error TEXT,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs (submitted);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS job_tags (
    job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (job_id, tag)
);
CREATE INDEX IF NOT EXISTS job_tags_tag ON job_tags (tag);
"""


class Ledger:
    """A job ledger file; opened on first use, safe to share between processes (and threads of one).

    Args:
        path: the SQLite file; its directory is created on first write.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(os.fspath(path))
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()  # the facade may use one client from several threads via its portal
        self._seen: dict[str, tuple[object, ...]] = {}
        self._warned = False

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # ---------------------------------------------------------------- connection

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited over fork() must never be used by the child: open a fresh one.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            if conn.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                # Two processes may open a new file at once: check again under the write lock.
                with self._transaction(conn):
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version > _SCHEMA_VERSION:
                        raise LedgerError(
                            f"The ledger {self.path} was written by a newer iqm-async (schema {version}); "
                            "upgrade iqm-async."
                        )
                    if version < _SCHEMA_VERSION:
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn

    @staticmethod
    @contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (it reopens on next use); idempotent."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def _write(self, what: str, fn: Any) -> None:
        """Run one write transaction; a failure is logged (once loudly) and never reaches the job."""
        try:
            with self._lock:
                conn = self._connect()
                with self._transaction(conn):
                    fn(conn)
        except (sqlite3.Error, OSError, LedgerError) as exc:
            level = logging.WARNING if not self._warned else logging.DEBUG
            self._warned = True
            logger.log(level, "job ledger %s: could not %s: %s", self.path, what, exc)

    # ---------------------------------------------------------------- writes

    def record_submit(
        self,
        data: JobData,
        *,
        server_url: str,
        quantum_computer: str | None,
        circuits: int | None,
        shots: int | None,
        tags: Sequence[str] = (),
        batch_id: str | None = None,
        calibration_set_id: str | None = None,
        submitted: datetime | None = None,
    ) -> None:
        """Record a job whose id the server just assigned (its submit reply is ``data``)."""
        now = _ts(datetime.now(timezone.utc))
        row = {
            "job_id": data.id,
            "server_url": _server_url(server_url),
            "quantum_computer": quantum_computer,
            "calibration_set_id": data.calibration_set_id or calibration_set_id,
            "submitted": _ts(submitted) if submitted is not None else now,
            "circuits": circuits,
            "shots": shots,
            "tags": json.dumps(list(tags)),
            "batch_id": batch_id,
            "status": data.status,
            "error": _error_text(data),
            "updated": now,
            **_times(data.timeline),
        }

        def write(conn: sqlite3.Connection) -> None:
            columns = ", ".join(row)
            marks = ", ".join(f":{k}" for k in row)
            conn.execute(f"INSERT OR REPLACE INTO jobs ({columns}) VALUES ({marks})", row)
            conn.execute("DELETE FROM job_tags WHERE job_id = ?", (data.id,))
            conn.executemany("INSERT INTO job_tags (job_id, tag) VALUES (?, ?)", [(data.id, t) for t in tags])

        self._write(f"record job {data.id}", write)
        self._seen[data.id] = _signature(data)

    def note(self, data: JobData) -> None:
        """Update a recorded job from a JobData the client saw; no write unless something changed.

        A job the ledger does not hold (re-attached by id, submitted elsewhere) is left out.
        """
        signature = _signature(data)
        if self._seen.get(data.id) == signature:
            return
        if data.is_final:
            self._seen.pop(data.id, None)  # a final job never changes: no need to remember it
        else:
            self._seen[data.id] = signature
        values = {
            "job_id": data.id,
            "status": data.status,
            "error": _error_text(data),
            "updated": _ts(datetime.now(timezone.utc)),
            **_times(data.timeline),
        }
        if data.calibration_set_id is not None:
            values["calibration_set_id"] = data.calibration_set_id

        def write(conn: sqlite3.Connection) -> None:
            sets = ", ".join(f"{k} = COALESCE(:{k}, {k})" for k in values if k != "job_id")
            # A final status never goes back to an earlier one (another process may hold older data).
            conn.execute(
                f"UPDATE jobs SET {sets} WHERE job_id = :job_id AND status NOT IN ('completed', 'failed', 'cancelled')",
                values,
            )

        self._write(f"update job {data.id}", write)

    def set_batch(self, job_ids: Iterable[str], batch_id: str) -> None:
        """Mark recorded jobs as belonging to a batch (for example from a batch journal)."""
        ids = [(batch_id, j) for j in job_ids]
        self._write(
            f"set the batch of {len(ids)} jobs",
            lambda conn: conn.executemany("UPDATE jobs SET batch_id = ? WHERE job_id = ?", ids),
        )

    # ---------------------------------------------------------------- reads

    def _read(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        if not self.path.exists():
            return []
        try:
            with self._lock:
                conn = self._connect()
                cursor = conn.execute(sql, params)
                cursor.row_factory = sqlite3.Row
                return cursor.fetchall()
        except sqlite3.Error as exc:
            raise LedgerError(f"Could not read the job ledger {self.path}: {exc}") from exc

    def jobs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        since: datetime | date | timedelta | str | None = None,
        limit: int | None = None,
        server_url: str | None = None,
        job_ids: Iterable[str] | None = None,
    ) -> list[LedgerEntry]:
        """Return recorded jobs, newest first.

        Args:
            status: one IQM status (``waiting``, ``processing``, ``completed``, ``failed``, ``cancelled``)
                or several; ``unfinished`` / ``final`` select the non-final / final ones.
            tags: only jobs carrying every one of these tags.
            since: only jobs submitted at or after this time (see :func:`parse_since`).
            limit: at most this many (the newest).
            server_url: only jobs on this server.
            job_ids: only these jobs.
        """
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses = []
            for s in statuses:
                if s == "unfinished":
                    clauses.append("status NOT IN ('completed', 'failed', 'cancelled')")
                elif s == "final":
                    clauses.append("status IN ('completed', 'failed', 'cancelled')")
                else:
                    clauses.append("status = ?")
                    params.append(s)
            where.append("(" + " OR ".join(clauses or ["0"]) + ")")
        for tag in normalize_tags(tags):
            where.append("job_id IN (SELECT job_id FROM job_tags WHERE tag = ?)")
            params.append(tag)
        start = parse_since(since)
        if start is not None:
            where.append("submitted >= ?")
            params.append(_ts(start))
        if server_url is not None:
            where.append("server_url = ?")
            params.append(_server_url(server_url))
        if job_ids is not None:
            ids = list(job_ids)
            where.append(f"job_id IN ({', '.join('?' * len(ids)) or 'NULL'})")
            params.extend(ids)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY submitted DESC, job_id"
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValidationError(f"limit must be a non-negative integer, got {limit!r}")
            sql += " LIMIT ?"
            params.append(limit)
        return [_entry(row) for row in self._read(sql, params)]

    def job(self, job_id: str) -> LedgerEntry | None:
        """Return one recorded job, or None."""
        found = self.jobs(job_ids=[job_id])
        return found[0] if found else None

    def usage(
        self, *, since: datetime | date | timedelta | str | None = None, server_url: str | None = None
    ) -> UsageReport:
        """Sum the recorded QPU seconds by quantum computer and by quantum computer and tag."""
        start = parse_since(since)
        where = ["j.qpu_seconds IS NOT NULL"]
        params: list[Any] = []
        if start is not None:
            where.append("j.submitted >= ?")
            params.append(_ts(start))
        if server_url is not None:
            where.append("j.server_url = ?")
            params.append(_server_url(server_url))
        cond = " AND ".join(where)
        report = UsageReport(since=start)
        totals = self._read(
            f"SELECT COALESCE(j.quantum_computer, '') AS qc, COUNT(*) AS n, SUM(j.qpu_seconds) AS s FROM jobs AS j "
            f"WHERE {cond} GROUP BY qc ORDER BY qc",
            params,
        )
        for row in totals:
            report.totals[row["qc"]] = UsageRow(row["qc"], None, int(row["n"]), float(row["s"]))
        rows = self._read(
            f"SELECT COALESCE(j.quantum_computer, '') AS qc, t.tag AS tag, COUNT(*) AS n, SUM(j.qpu_seconds) AS s "
            f"FROM jobs AS j LEFT JOIN job_tags AS t ON t.job_id = j.job_id WHERE {cond} "
            "GROUP BY qc, tag ORDER BY qc, tag IS NULL, tag",
            params,
        )
        report.rows.extend(UsageRow(r["qc"], r["tag"], int(r["n"]), float(r["s"])) for r in rows)
        return report


def _signature(data: JobData) -> tuple[object, ...]:
    return (data.status, len(data.timeline), len(data.errors), data.calibration_set_id)


def _error_text(data: JobData) -> str | None:
    if not data.errors:
        return None
    return "; ".join(f"{e.error_code}: {e.message}" if e.error_code else e.message for e in data.errors)


def _entry(row: sqlite3.Row) -> LedgerEntry:
    submitted = _parse_ts(row["submitted"])
    assert submitted is not None
    return LedgerEntry(
        job_id=row["job_id"],
        server_url=row["server_url"],
        quantum_computer=row["quantum_computer"],
        calibration_set_id=row["calibration_set_id"],
        submitted=submitted,
        circuits=row["circuits"],
        shots=row["shots"],
        tags=tuple(json.loads(row["tags"] or "[]")),
        batch_id=row["batch_id"],
        status=row["status"],
        queue_seconds=row["queue_seconds"],
        run_seconds=row["run_seconds"],
        qpu_seconds=row["qpu_seconds"],
        error=row["error"],
        updated=_parse_ts(row["updated"]),
    )
