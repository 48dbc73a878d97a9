"""Logger names, the structured fields of every job and request log record, and ``IQM_ASYNC_LOG_LEVEL``.

Records about an HTTP request go to ``iqm_async.http``, about a job to ``iqm_async.job``, about a batch
to ``iqm_async.batch`` (all children of ``iqm_async``). Each carries the same attributes, set through
``extra`` and ``None`` where they do not apply, so a JSON formatter or a log shipper can rely on them:
``job_id``, ``batch_id``, ``method``, ``path``, ``status`` (the HTTP status code, an int), ``attempt``
(1 for the first try of a request), ``elapsed`` (seconds, a float) and ``job_status`` (the job's IQM
status string). No record ever holds the token: the transport never logs headers, and errors are
scrubbed before they are chained (see :mod:`iqm_async._transport`).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

__all__ = [
    "FIELDS",
    "LEVEL_ENV",
    "batch_logger",
    "bind_batch",
    "configure_from_env",
    "current_batch",
    "fields",
    "http_logger",
    "job_logger",
]

LEVEL_ENV = "IQM_ASYNC_LOG_LEVEL"
"""Environment variable read once, on ``import iqm_async``: the level of the ``iqm_async`` loggers."""

FIELDS = ("job_id", "batch_id", "method", "path", "status", "attempt", "elapsed", "job_status")
"""The attributes every record of the ``iqm_async.http``/``.job``/``.batch`` loggers carries."""

http_logger = logging.getLogger("iqm_async.http")
job_logger = logging.getLogger("iqm_async.job")
batch_logger = logging.getLogger("iqm_async.batch")

# A batch binds its id in its own task; the tasks it starts (submitters, pollers) copy it, so the
# requests they send are logged with the batch's id without passing it through every call.
_batch_id: ContextVar[str | None] = ContextVar("iqm_async_batch_id", default=None)


def bind_batch(batch_id: str | None) -> None:
    """Tag every record logged from the current task (and tasks it starts later) with ``batch_id``."""
    _batch_id.set(batch_id)


def current_batch() -> str | None:
    """Return the batch id bound to the current task, if any."""
    return _batch_id.get()


def fields(
    *,
    job_id: str | None = None,
    batch_id: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
    attempt: int | None = None,
    elapsed: float | None = None,
    job_status: str | None = None,
) -> dict[str, Any]:
    """Return the ``extra`` mapping of one record: every field present, ``None`` where it does not apply."""
    return {
        "job_id": job_id,
        "batch_id": batch_id if batch_id is not None else _batch_id.get(),
        "method": method,
        "path": path,
        "status": status,
        "attempt": attempt,
        "elapsed": None if elapsed is None else round(elapsed, 6),
        "job_status": job_status,
    }


class _FallbackHandler(logging.Handler):
    """Writes to stderr only while the application has configured no logging of its own.

    Installed by :func:`configure_from_env`, so ``IQM_ASYNC_LOG_LEVEL=DEBUG python script.py`` shows the
    records; once the application configures logging (``basicConfig``, a handler on ``iqm_async``),
    records go only through its handlers, never twice.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_FieldsFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record to the current ``sys.stderr`` unless another handler will show it."""
        if logging.getLogger().handlers or len(logging.getLogger("iqm_async").handlers) > 1:
            return
        stream = sys.stderr
        if stream is None:  # pythonw: nowhere to write
            return
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging must never break the program
            self.handleError(record)


class _FieldsFormatter(logging.Formatter):
    """Appends the record's structured fields that are set, as ``[job_id=… attempt=2]``."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then its set fields in brackets."""
        text = super().format(record)
        values = ((name, getattr(record, name, None)) for name in FIELDS)
        shown = " ".join(f"{name}={value}" for name, value in values if value is not None)
        return f"{text} [{shown}]" if shown else text


def _parse_level(raw: str) -> int | None:
    text = raw.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    return level if isinstance(level, int) else None


def configure_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """Apply ``IQM_ASYNC_LOG_LEVEL`` (a level name or number) to the ``iqm_async`` logger; return the level set.

    Unset or empty: nothing changes. A value that is not a level gives a warning and changes nothing.
    """
    raw = (os.environ if env is None else env).get(LEVEL_ENV, "")
    if not raw.strip():
        return None
    level = _parse_level(raw)
    if level is None:
        warnings.warn(
            f"{LEVEL_ENV}={raw!r} is not a log level (use DEBUG, INFO, WARNING, ERROR or a number); ignored.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    logger = logging.getLogger("iqm_async")
    logger.setLevel(level)
    if not any(isinstance(h, _FallbackHandler) for h in logger.handlers):
        logger.addHandler(_FallbackHandler())
    return level
