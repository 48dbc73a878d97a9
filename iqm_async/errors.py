"""The error tree of iqm-async.

Every error the client raises derives from :class:`IQMError`. The HTTP-status classes use the
names of IQM's own client, so ``except NotFoundError`` keeps working after a switch::

    IQMError
    ├── ClientConfigurationError (ValueError)   bad URL / token / quantum computer, before any request
    ├── ClientClosedError (RuntimeError)        the client or provider was closed
    ├── ValidationError (ValueError)            input refused
    │   ├── CircuitValidationError              circuit or options refused client-side, nothing sent
    │   ├── CircuitTranspilationError           a circuit cannot be transpiled for the chip (e.g. MOVE loci)
    │   └── APIValidationError                  422 from the server (also an APIStatusError)
    ├── TransportError                          no usable response
    │   ├── ConnectError                        connection refused / reset / dropped
    │   │   ├── ServerUnreachableError          the request never reached the server (nothing was sent)
    │   │   └── TLSVerificationError            the certificate could not be verified (never retried)
    │   ├── RequestTimeoutError                 a single request ran past its timeout (OperationTimeoutError)
    │   └── MalformedResponseError              2xx whose body is not the documented JSON
    ├── SubmissionUnknownError                  a submit may have created a job; it was not re-sent
    ├── APIStatusError(.status_code, .message, .error_code, .body)
    │   ├── InvalidOperationError     400 (also a blocked redirect)
    │   ├── AuthenticationError       401
    │   ├── ForbiddenError            403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   ├── DataSizeError             413
    │   ├── APIValidationError        422
    │   ├── RateLimitError            429 (.retry_after)
    │   └── ServerError               5xx
    │       ├── InternalSystemError   500 and any unlisted status
    │       ├── BadGatewayError       502
    │       ├── SystemUnavailableError 503
    │       └── GatewayTimeoutError   504 (OperationTimeoutError)
    ├── JobError(.job_id)
    │   ├── JobFailedError(.errors)             the job ended ``failed`` on the server (CircuitExecutionError)
    │   ├── JobCancelledError                   the job ended ``cancelled``
    │   └── JobTimeoutError(.timeout_seconds)   the local wait gave up; the job was left running
    ├── BatchError(.failures)                   some items of a batch failed; the others are kept
    ├── NotSubmittedError(.reason)              a batch item was never submitted (cancelled, timeout, journal)
    └── JournalError (ValueError)               a batch journal is missing, corrupt or does not match

IQM's other names: ``CircuitExecutionError`` (base of :class:`JobFailedError`) and the aliases
``BadRequestError``, ``UnauthorizedError``, ``PayloadTooLargeError``, ``TooManyRequestsError``,
``InternalServerError`` and ``ServiceUnavailableError`` of the 400/401/413/429/500/503 classes.

``OperationTimeoutError`` is IQM's name for every timeout; :class:`RequestTimeoutError`,
:class:`GatewayTimeoutError` and :class:`JobTimeoutError` all derive from it.

:func:`error_from_response` is the only place that maps an HTTP status to a class.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "APIStatusError",
    "APIValidationError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BatchError",
    "CircuitExecutionError",
    "CircuitTranspilationError",
    "CircuitValidationError",
    "ClientClosedError",
    "ClientConfigurationError",
    "ConflictError",
    "ConnectError",
    "DataSizeError",
    "ForbiddenError",
    "GatewayTimeoutError",
    "IQMError",
    "InternalServerError",
    "InternalSystemError",
    "InvalidOperationError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "JournalError",
    "MalformedResponseError",
    "NotFoundError",
    "NotSubmittedError",
    "OperationTimeoutError",
    "PayloadTooLargeError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "ServerUnreachableError",
    "ServiceUnavailableError",
    "SubmissionUnknownError",
    "SystemUnavailableError",
    "TLSVerificationError",
    "TooManyRequestsError",
    "TransportError",
    "UnauthorizedError",
    "UsageError",
    "ValidationError",
    "error_from_response",
]


class IQMError(Exception):
    """Base class of every error raised by iqm-async."""


class ClientClosedError(IQMError, RuntimeError):
    """The client or provider was closed; create a new one."""


class UsageError(IQMError, RuntimeError):
    """A call this object cannot serve here (e.g. a blocking ``run()`` on an async-only primitive); nothing was sent."""


class OperationTimeoutError(IQMError):
    """Something took longer than allowed (IQM's name for every timeout)."""


class ClientConfigurationError(IQMError, ValueError):
    """The client was configured wrongly (URL, token, quantum computer); nothing was sent."""


class ValidationError(IQMError, ValueError):
    """Input was refused, either by the client before sending or by the server (422)."""


class CircuitValidationError(ValidationError):
    """A circuit or job option was refused by the client; nothing was sent."""


class CircuitTranspilationError(ValidationError):
    """A circuit cannot be transpiled for the chip (gates, connectivity or MOVE loci it does not offer)."""


class CircuitExecutionError(IQMError):
    """Executing the circuits failed (IQM's name; a job that ended ``failed`` raises :class:`JobFailedError`)."""


class TransportError(IQMError):
    """No usable HTTP response was received."""

    job_id: str | None = None
    """The job the request was about, when it was about one (set by the transport)."""


class ConnectError(TransportError):
    """The connection failed or was dropped before a reply arrived."""


class ServerUnreachableError(ConnectError):
    """The request never reached the server (connection refused, DNS failure, no route): nothing was sent.

    Raised at once when a client has never reached its server (check ``IQM_SERVER_URL``), and after the
    retry budget otherwise. Because nothing was sent, even a submit may be sent again.
    """


class TLSVerificationError(ConnectError, ClientConfigurationError):
    """The server's TLS certificate could not be verified; never retried, because it will not fix itself."""


class RequestTimeoutError(TransportError, OperationTimeoutError):
    """A single HTTP request ran past its timeout (a client-side timeout)."""


class MalformedResponseError(TransportError):
    """A reply arrived but its body is not the JSON the protocol documents."""


class SubmissionUnknownError(IQMError):
    """A job submission failed after the request left; the job may or may not exist.

    The request is never re-sent automatically, because that could run the job twice. Look for the
    job on the server (for example by its circuit names and submit time) before submitting again.
    """

    def __init__(self, message: str, *, quantum_computer: str, circuit_names: Sequence[str], shots: int):
        super().__init__(message)
        self.quantum_computer = quantum_computer
        self.circuit_names = list(circuit_names)
        self.shots = shots


class APIStatusError(IQMError):
    """The server answered with a non-2xx status."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        source: str = "iqm-server",
        body: Any = None,
        job_id: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.source = source
        self.body = body
        self.job_id = job_id
        self.hint = ""
        """What the user can do about it (e.g. which token was used for a 401), after the server's message."""

    def __str__(self) -> str:
        code = f" [{self.error_code}]" if self.error_code else ""
        job = f" (job {self.job_id})" if self.job_id else ""
        hint = f". {self.hint}" if self.hint else ""
        return f"HTTP {self.status_code}{code}: {self.message}{job}{hint}"


class InvalidOperationError(APIStatusError):
    """400: the request was malformed, or a mutating request was redirected."""


class AuthenticationError(APIStatusError):
    """401: the token is missing or invalid."""


class ForbiddenError(APIStatusError):
    """403: the account may not do this."""


class NotFoundError(APIStatusError):
    """404: unknown quantum computer, calibration set, job, artifact or route."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state."""


class DataSizeError(APIStatusError):
    """413: the request body is too large."""


class APIValidationError(APIStatusError, ValidationError):
    """422: the server refused the job definition."""


class RateLimitError(APIStatusError):
    """429: the request budget is exhausted; ``retry_after`` says for how long (seconds)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the server or something behind it failed."""


class InternalSystemError(ServerError):
    """500 (and any status the protocol does not list)."""


class BadGatewayError(ServerError):
    """502: an upstream service failed."""


class SystemUnavailableError(ServerError):
    """503: maintenance or overload."""


class GatewayTimeoutError(ServerError, OperationTimeoutError):
    """504: an upstream service timed out."""


class JobError(IQMError):
    """An error about one job; ``job_id`` says which."""

    def __init__(self, message: str, *, job_id: str):
        super().__init__(message)
        self.job_id = job_id


class JobFailedError(JobError, CircuitExecutionError):
    """The job ended ``failed``; ``errors`` holds the server's error bodies."""

    def __init__(self, message: str, *, job_id: str, errors: Sequence[Mapping[str, Any]] = ()):
        super().__init__(message, job_id=job_id)
        self.errors = [dict(e) for e in errors]


class JobCancelledError(JobError):
    """The job ended ``cancelled``, so it has no results."""


class JobTimeoutError(JobError, OperationTimeoutError):
    """The local wait gave up; the job was left running on the server unless cancel was asked for."""

    def __init__(self, message: str, *, job_id: str, timeout_seconds: float | None):
        super().__init__(message, job_id=job_id)
        self.timeout_seconds = timeout_seconds


class BatchError(IQMError):
    """Some items of a batch failed; ``failures`` lists them, and the successes stay available."""

    def __init__(self, message: str, *, failures: Sequence[Any], results: Sequence[Any] = ()):
        super().__init__(message)
        self.failures = list(failures)
        self.results = list(results)


class NotSubmittedError(IQMError):
    """A batch item was never submitted: the batch was cancelled or timed out first, or the journal has no job for it.

    ``reason`` is ``"cancelled"``, ``"timeout"``, ``"not_in_journal"`` or ``"preparation_failed"`` (an earlier
    circuit of a streamed batch could not be prepared). Nothing was created on the server for it; resuming
    the journal with the circuits submits it.
    """

    def __init__(
        self, message: str, *, reason: Literal["cancelled", "timeout", "not_in_journal", "preparation_failed"]
    ):
        super().__init__(message)
        self.reason = reason


class JournalError(IQMError, ValueError):
    """A batch journal is missing, corrupt, locked, unwritable, or does not match the circuits passed to resume.

    When a write fails mid-batch (disk full, file too large, permission), the batch stops submitting and
    raises this error: ``job_ids`` lists every job the batch created (re-attach with ``client.job(id)``),
    and ``unrecorded_job_ids`` those of them the journal does not hold.
    """

    def __init__(self, message: str, *, job_ids: Sequence[str] = (), unrecorded_job_ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.job_ids = list(job_ids)
        self.unrecorded_job_ids = list(unrecorded_job_ids)


# IQM's alternative names for the same classes (iqm-client 36), so either spelling can be caught.
BadRequestError = InvalidOperationError
UnauthorizedError = AuthenticationError
PayloadTooLargeError = DataSizeError
TooManyRequestsError = RateLimitError
InternalServerError = InternalSystemError
ServiceUnavailableError = SystemUnavailableError

_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: InvalidOperationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: DataSizeError,
    422: APIValidationError,
    429: RateLimitError,
    500: InternalSystemError,
    502: BadGatewayError,
    503: SystemUnavailableError,
    504: GatewayTimeoutError,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Turn a ``Retry-After`` header (seconds or an HTTP date) into seconds from now, or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        import time

        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if seconds != seconds or seconds < 0:  # NaN or negative: ignore the header
        return None
    return seconds


_MAX_MESSAGE_CHARS = 500
"""Longest reply body quoted in an error message (a proxy's error page can be many kilobytes)."""


def _readable(text: str) -> str:
    """Return a reply body fit for an error message: an HTML page is reduced to its title, long text is cut."""
    stripped = text.strip()
    if stripped[:1] == "<" and re.search(r"<(!doctype\s+html|html|head|body|title)\b", stripped[:2048], re.I):
        title = re.search(r"<title[^>]*>(.*?)</title>", stripped, re.I | re.S)
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", stripped, re.I | re.S)
        found = title or heading
        text = found.group(1) if found else re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", stripped)
        words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
        return "HTML page: " + (words[:120] + (" …" if len(words) > 120 else "") if words else "(no text)")
    if len(stripped) > _MAX_MESSAGE_CHARS:
        return stripped[:_MAX_MESSAGE_CHARS] + " …"
    return stripped


def error_from_response(
    status_code: int,
    content: bytes,
    *,
    retry_after: str | None = None,
    job_id: str | None = None,
) -> APIStatusError:
    """Build the typed error for a non-2xx reply from its status and raw body.

    The status alone selects the class (docs/protocol.md); the body only fills in the message.
    """
    cls = _STATUS_CLASSES.get(status_code, InternalSystemError)
    text = content.decode("utf-8", errors="replace")
    message = _readable(text) or f"HTTP {status_code}"
    error_code: str | None = None
    source = "iqm-server"
    body: Any = text
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
        raw_message = parsed.get("message", parsed.get("detail"))
        if isinstance(raw_message, str):
            message = raw_message
        elif raw_message is not None:
            message = json.dumps(raw_message)
        code = parsed.get("error_code")
        error_code = code if isinstance(code, str) else None
        src = parsed.get("source")
        source = src if isinstance(src, str) else "iqm-server"
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "error_code": error_code,
        "source": source,
        "body": body,
        "job_id": job_id,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=parse_retry_after(retry_after), **kwargs)
    return cls(message, **kwargs)
