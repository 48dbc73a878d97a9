"""The local job ledger: one SQLite file recording every job a client submits, its tags, status and QPU time.

This is the only module that touches the database. The file lives under the user's data directory
(:func:`default_ledger_path`), or wherever ``ledger=`` / ``IQM_ASYNC_LEDGER`` says. It is opened in
WAL mode with a busy timeout, so several processes (a notebook, a CLI, a worker) can write to it at
once. Writes are small, synchronous transactions (the client path starts no threads); a failing
write is logged once and never stops a job.

Rows are written when a job's id is known (the submit's reply) and updated whenever the client
learns something new about the job from its JobData: status, the timeline's queue/run/QPU times and
the error message. QPU seconds come from the station's timeline entries (``execution_started`` to
``execution_ended`` when present, else ``received`` to ``completed``); see ``docs/protocol.md``.
"""

from __future__ import annotations

from .records import LedgerEntry, UsageReport, UsageRow, normalize_tags, parse_since
from .store import LEDGER_ENV, Ledger, LedgerError, LedgerSpec, default_ledger_path, open_ledger

__all__ = [
    "LEDGER_ENV",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerSpec",
    "UsageReport",
    "UsageRow",
    "default_ledger_path",
    "normalize_tags",
    "open_ledger",
    "parse_since",
]
