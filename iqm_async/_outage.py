"""Riding out outages: which failures say nothing about a job, how long to wait between tries, one warning each way.

A wait on a job (or a batch's polls, downloads and submits) may last hours; a proxy that answers 502
for half a minute, a restart, or a dropped connection must not turn a healthy job into an error.
:func:`is_outage` tells such failures apart from definitive answers (the job failed or was cancelled,
404 for its id, 401/403, a refused request). :class:`Outage` tracks one outage as one waiter sees it:
it spaces the tries with capped, jittered backoff, logs one WARNING when the outage starts and one
when it ends, and describes it for the error raised if the waiter's own deadline passes first.
The HTTP retries of a single request (:mod:`iqm_async._retry`) happen inside each try.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._logging import fields
from .errors import APIStatusError, IQMError, MalformedResponseError, TLSVerificationError, TransportError

__all__ = ["OUTAGE_BASE_DELAY", "OUTAGE_MAX_DELAY", "Outage", "is_outage", "ride_out"]

T = TypeVar("T")

OUTAGE_STATUSES = frozenset({408, 429, 502, 503, 504})
"""HTTP statuses that say the server (or a proxy before it) cannot answer now, not that the request is wrong."""

MAX_MALFORMED_TRIES = 3
"""Waits retry a malformed reply (each try already retried by the transport) this many times, then give up."""

OUTAGE_BASE_DELAY = 1.0
"""Seconds before the first try after a failure that looks like an outage."""

OUTAGE_MAX_DELAY = 8.0
"""Longest pause between two tries during an outage: the result is in hand within seconds of the server's return."""

OUTAGE_JITTER = 0.5
"""Up to this fraction is added at random to each pause, so many waiters do not return in lock-step."""


def is_outage(error: BaseException, tries: int = 0) -> bool:
    """Tell whether ``error`` says the server or the path to it is unwell, not that anything happened to the job.

    Refused, reset or timed-out connections, malformed replies, 408, 429, 502, 503 and 504 count: they come
    from the path to the server or from a server that is overloaded or restarting. A TLS verification
    failure, 4xx answers, a 500 (the server's own error about this request, which IQM's client does not
    retry either) and job outcomes do not. A malformed reply counts only for its first
    :data:`MAX_MALFORMED_TRIES` tries (``tries``: malformed replies seen so far): a proxy may garble one,
    but a server that keeps sending the same broken artifact will not fix it by being asked again.
    """
    if isinstance(error, TLSVerificationError):
        return False
    if isinstance(error, MalformedResponseError):
        return tries < MAX_MALFORMED_TRIES
    if isinstance(error, TransportError):
        return True
    if isinstance(error, APIStatusError):
        return error.status_code in OUTAGE_STATUSES
    return False


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Outage:
    """One outage as one waiter (a job's wait, a batch) sees it.

    Args:
        what: who is waiting, for the log lines (``"job 1234…"``, ``"batch 5678…"``).
        url: the server's root URL (no credentials).
        clock: monotonic clock (the client's, so tests can inject it).
        logger: where the two WARNING lines go.
        rand: random source for the jitter.
        job_id: the job waited for, put on the log records (a batch's id comes from its task).
    """

    __slots__ = (
        "_clock", "_job_id", "_logger", "_rand", "_url", "_what", "failures", "last_error", "malformed", "started"
    )

    def __init__(
        self,
        what: str,
        url: str,
        *,
        clock: Callable[[], float],
        logger: logging.Logger,
        rand: Callable[[], float] = random.random,
        job_id: str | None = None,
    ):
        self._job_id = job_id
        self._what = what
        self._url = url
        self._clock = clock
        self._logger = logger
        self._rand = rand
        self.started: float | None = None
        """When the current outage began (None while the server answers)."""
        self.failures = 0
        """Failed tries in the current outage."""
        self.last_error: BaseException | None = None
        """The newest failure of the current outage."""
        self.malformed = 0
        """Malformed replies seen by this waiter (not reset when the server answers well in between)."""

    @property
    def active(self) -> bool:
        """True while the server has not answered since the last failure."""
        return self.started is not None

    def failed(self, error: BaseException) -> float:
        """Note a failed try; return how long to pause before the next one."""
        if self.started is None:
            self.started = self._clock()
            self.failures = 0
            self._logger.warning(
                "%s: the server %s cannot be reached (%s); still waiting, with retries, until the deadline",
                self._what,
                self._url,
                _describe(error),
                extra=fields(job_id=self._job_id),
            )
        self.failures += 1
        self.last_error = error
        if isinstance(error, MalformedResponseError):
            self.malformed += 1
        pause = min(OUTAGE_MAX_DELAY, OUTAGE_BASE_DELAY * 2.0 ** min(self.failures - 1, 16))
        return pause * (1.0 + OUTAGE_JITTER * self._rand())

    def recovered(self) -> None:
        """Note that the server answered; log the end of the outage if there was one."""
        if self.started is None:
            return
        lasted = self._clock() - self.started
        self._logger.warning(
            "%s: the server %s answers again after %.1f s (%d failed tries)",
            self._what,
            self._url,
            lasted,
            self.failures,
            extra=fields(job_id=self._job_id, elapsed=lasted),
        )
        self.started = None
        self.failures = 0
        self.last_error = None

    def describe(self) -> str:
        """Say, for a deadline error, for how long the server could not be reached and why; "" if it could."""
        if self.started is None or self.last_error is None:
            return ""
        lasted = self._clock() - self.started
        return (
            f" The server {self._url} could not be reached for the last {lasted:.0f} seconds "
            f"(last error: {_describe(self.last_error)})."
        )


async def ride_out(
    request: Callable[[], Awaitable[T]], outage: Outage, sleep: Callable[[float], Awaitable[None]]
) -> T:
    """Call ``request`` until it returns or fails with something that is not an outage (the caller bounds the time).

    Failures that :func:`is_outage` accepts are noted on ``outage`` and followed by its pause; any other
    error ends the outage (the server answered) and propagates.
    """
    while True:
        try:
            value = await request()
        except IQMError as exc:
            if not is_outage(exc, outage.malformed):
                outage.recovered()
                raise
            await sleep(outage.failed(exc))
            continue
        outage.recovered()
        return value
