"""Telemetry of submits, waits and HTTP requests: optional OpenTelemetry spans and counters, and their log records.

OpenTelemetry is optional (``pip install "iqm-async[otel]"``, which needs only ``opentelemetry-api``).
Without it, or while the application has not imported it (any SDK setup does), nothing is imported
and every hook here is a no-op. With the API but no SDK, the API's own no-op tracer and meter are used
(and they start recording as soon as the application installs an SDK's providers).

Spans (tracer ``iqm_async``):

* ``iqm_async.submit``: one per job submitted (``iqm.quantum_computer``, ``iqm.circuits``, ``iqm.shots``,
  then ``iqm.job_id``);
* ``iqm_async.wait``: one per wait for a job to end (``iqm.job_id``, ``iqm.quantum_computer``,
  ``iqm.polls``, the final ``iqm.job_status``);
* ``{METHOD} {url.template}`` (kind CLIENT): one per HTTP request sent, each retry its own span
  (``iqm.attempt``, ``http.request.resend_count``, ``http.response.status_code``, ``iqm.job_id``,
  ``iqm.quantum_computer``).

Every span has ``iqm.outcome`` (``ok``, a job status for waits, or the error's class name) and
``iqm.batch_id`` inside a batch; a failed one has ``error.type``, an error status and the exception recorded.

Counters (meter ``iqm_async``): ``iqm_async.requests`` (by method, URL template and outcome),
``iqm_async.retries``, ``iqm_async.rate_limited`` (429 replies) and ``iqm_async.jobs`` (jobs seen to
end, by final status and quantum computer).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ._logging import current_batch, fields, http_logger, job_logger
from ._version import __version__

__all__ = [
    "Operation",
    "configure",
    "enabled",
    "http_request",
    "job_ended",
    "retried",
    "submitting",
    "url_template",
    "waiting",
]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def url_template(path: str) -> str:
    """Return ``path`` with ids replaced by ``{id}``: a low-cardinality name for spans and counters."""
    return _UUID.sub("{id}", path)


class _Instruments:
    """The tracer and counters, made once per pair of providers."""

    __slots__ = ("jobs", "rate_limited", "requests", "retries", "span_kind", "status_error", "trace", "tracer")

    def __init__(self, trace: Any, metrics: Any, tracer_provider: Any, meter_provider: Any):
        self.trace = trace
        self.span_kind = trace.SpanKind
        self.status_error = trace.Status(trace.StatusCode.ERROR)
        # Without providers of our own, the API's proxies forward to whatever SDK the application installs,
        # even later than this call.
        self.tracer = (tracer_provider or trace).get_tracer("iqm_async", __version__)
        meter = (meter_provider or metrics).get_meter("iqm_async", __version__)
        self.requests = meter.create_counter("iqm_async.requests", "{request}", "HTTP requests sent to the IQM server")
        self.retries = meter.create_counter("iqm_async.retries", "{retry}", "HTTP requests sent again after a failure")
        self.rate_limited = meter.create_counter("iqm_async.rate_limited", "{reply}", "429 replies from the server")
        self.jobs = meter.create_counter("iqm_async.jobs", "{job}", "Jobs seen to end, by final status")


_enabled: bool | None = None
_providers: tuple[Any, Any] = (None, None)
_instruments: _Instruments | None = None
_unavailable = False


def configure(*, enabled: bool | None = None, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Choose whether and where telemetry goes, for every client of the process from its next request on.

    Args:
        enabled: ``True`` imports OpenTelemetry's API even if the application has not; ``False`` turns
            spans and counters off; ``None`` (the default): on once the application has imported it.
        tracer_provider: send spans to this ``TracerProvider`` instead of the global one.
        meter_provider: send counters to this ``MeterProvider`` instead of the global one.
    """
    global _enabled, _providers, _instruments, _unavailable
    _enabled = enabled
    _providers = (tracer_provider, meter_provider)
    _instruments = None
    _unavailable = False


def _get() -> _Instruments | None:
    """Return the instruments, or None when telemetry is off; imports OpenTelemetry only when it is wanted."""
    global _instruments, _unavailable
    if _instruments is not None:
        return _instruments
    if _enabled is False or _unavailable:
        return None
    if _enabled is None and _providers == (None, None) and "opentelemetry" not in sys.modules:
        return None  # checked on every call: cheap, and it turns on once the application imports the API
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        _unavailable = True
        return None
    _instruments = _Instruments(trace, metrics, *_providers)
    return _instruments


def enabled() -> bool:
    """Return whether spans and counters are being produced (OpenTelemetry's API is in use)."""
    return _get() is not None


class Operation:
    """One submit, wait or HTTP request: its span (when telemetry is on), its attributes and its outcome.

    Use as a context manager; :meth:`set` adds an attribute, :attr:`outcome` overrides the outcome
    recorded on exit (else ``ok``, or the exception's class name).
    """

    __slots__ = ("_clock", "_context", "_on_exit", "_span", "attributes", "error_type", "outcome", "started")

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        *,
        kind: str = "INTERNAL",
        clock: Callable[[], float] = time.monotonic,
        on_exit: Callable[[Operation, BaseException | None], None] | None = None,
    ):
        self.attributes = attributes
        self.outcome: str | None = None
        self.error_type: str | None = None  # what the caller sees raised, when it differs from the exception here
        self._clock = clock
        self._on_exit = on_exit
        self.started = clock()
        batch_id = current_batch()
        if batch_id is not None:
            attributes["iqm.batch_id"] = batch_id
        self._span: Any = None
        self._context: Any = None
        tools = _get()
        if tools is not None:
            self._span = tools.tracer.start_span(
                name,
                kind=getattr(tools.span_kind, kind),
                attributes={k: v for k, v in attributes.items() if v is not None},
            )
            if not self._span.is_recording():
                self._span = None
            else:
                self._context = tools.trace.use_span(self._span, end_on_exit=False)

    def seen(self, data: Any) -> None:
        """Count one status reply of a wait and keep the job's latest status (a ``JobData``)."""
        self.set("iqm.polls", self.attributes.get("iqm.polls", 0) + 1)
        self.set("iqm.job_status", data.status)

    @property
    def elapsed(self) -> float:
        """Seconds since the operation started (on the client's clock)."""
        return self._clock() - self.started

    def set(self, key: str, value: Any) -> None:
        """Record an attribute (on the span too, when there is one)."""
        self.attributes[key] = value
        if self._span is not None and value is not None:
            self._span.set_attribute(key, value)

    def __enter__(self) -> Operation:
        if self._context is not None:
            self._context.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.outcome is None:
            if exc is None:
                self.outcome = "ok"
            else:
                self.outcome = type(exc).__name__ if isinstance(exc, Exception) else "interrupted"
        if self._on_exit is not None:
            try:
                self._on_exit(self, exc)
            except Exception:  # telemetry must never change what the caller sees
                logging.getLogger("iqm_async").debug("telemetry hook failed", exc_info=True)
        span = self._span
        if span is not None:
            span.set_attribute("iqm.outcome", self.outcome)
            if isinstance(exc, Exception):
                span.set_attribute("error.type", self.error_type or type(exc).__name__)
                span.record_exception(exc)
                tools = _instruments
                if tools is not None:
                    span.set_status(tools.status_error)
            span.end()
            self._span = None
            assert self._context is not None
            self._context.__exit__(None, None, None)  # the exception propagates by itself


# ---------------------------------------------------------------------------------------------- HTTP


def http_request(
    method: str,
    path: str,
    *,
    attempt: int,
    job_id: str | None,
    quantum_computer: str | None,
    server: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Operation:
    """Start the span of one HTTP attempt; on exit it is counted and logged (DEBUG, ``iqm_async.http``)."""
    template = url_template(path)
    return Operation(
        f"{method} {template}",
        {
            "http.request.method": method,
            "url.path": path,
            "url.template": template,
            "server.address": server,
            "iqm.attempt": attempt,
            "http.request.resend_count": attempt - 1 if attempt > 1 else None,
            "iqm.job_id": job_id,
            "iqm.quantum_computer": quantum_computer,
        },
        kind="CLIENT",
        clock=clock,
        on_exit=_http_done,
    )


def _http_done(op: Operation, exc: BaseException | None) -> None:
    a = op.attributes
    method, path, status = a["http.request.method"], a["url.path"], a.get("http.response.status_code")
    if http_logger.isEnabledFor(logging.DEBUG):  # the common case in production: skip building the record
        extra = fields(job_id=a["iqm.job_id"], method=method, path=path, status=status, attempt=a["iqm.attempt"],
                       elapsed=op.elapsed)
        if exc is None:
            http_logger.debug("%s %s -> %s", method, path, status, extra=extra)
        else:
            http_logger.debug("%s %s failed: %s: %s", method, path, type(exc).__name__, exc, extra=extra)
    tools = _get()
    if tools is not None:
        labels = {"http.request.method": method, "url.template": a["url.template"], "iqm.outcome": op.outcome}
        tools.requests.add(1, labels)
        if status == 429:
            tools.rate_limited.add(1, {"http.request.method": method, "url.template": a["url.template"]})


def retried(
    method: str,
    path: str,
    *,
    attempt: int,
    job_id: str | None,
    error: BaseException | None,
    delay: float | None,
    elapsed: float,
) -> None:
    """Log (INFO, ``iqm_async.http``) and count that attempt ``attempt`` failed and the request will be sent again."""
    status = getattr(error, "status_code", None)
    http_logger.info(
        "%s %s: attempt %d failed (%s); retrying in %.2f s",
        method,
        path,
        attempt,
        f"{type(error).__name__}: {error}" if error is not None else "no reply",
        delay or 0.0,
        extra=fields(job_id=job_id, method=method, path=path, status=status if isinstance(status, int) else None,
                     attempt=attempt, elapsed=elapsed),
    )
    tools = _get()
    if tools is not None:
        tools.retries.add(1, {"http.request.method": method, "url.template": url_template(path),
                              "error.type": type(error).__name__ if error is not None else "none"})


# ---------------------------------------------------------------------------------------------- jobs


def submitting(
    quantum_computer: str | None, circuits: int, shots: int, *, clock: Callable[[], float] = time.monotonic
) -> Operation:
    """Start the span of one job submit; set ``iqm.job_id`` once known. Logged on exit (``iqm_async.job``)."""
    return Operation(
        "iqm_async.submit",
        {"iqm.quantum_computer": quantum_computer, "iqm.circuits": circuits, "iqm.shots": shots, "iqm.job_id": None},
        clock=clock,
        on_exit=_submit_done,
    )


def _submit_done(op: Operation, exc: BaseException | None) -> None:
    a = op.attributes
    extra = fields(job_id=a["iqm.job_id"], elapsed=op.elapsed, job_status=a.get("iqm.job_status"))
    if exc is None:
        circuits = a["iqm.circuits"]
        job_logger.info(
            "submitted job %s (%d circuit%s, %d shots) to %s", a["iqm.job_id"], circuits, "" if circuits == 1 else "s",
            a["iqm.shots"], a["iqm.quantum_computer"], extra=extra,
        )
    elif isinstance(exc, Exception):
        job_logger.info("submitting %d circuits to %s failed: %s: %s", a["iqm.circuits"], a["iqm.quantum_computer"],
                        type(exc).__name__, exc, extra=extra)


def waiting(job_id: str, quantum_computer: str | None, *, clock: Callable[[], float] = time.monotonic) -> Operation:
    """Start the span of one wait for a job; :meth:`Operation.set` ``iqm.job_status`` when it ends. Logged on exit."""
    if job_logger.isEnabledFor(logging.DEBUG):
        job_logger.debug("waiting for job %s", job_id, extra=fields(job_id=job_id))
    return Operation(
        "iqm_async.wait",
        {"iqm.job_id": job_id, "iqm.quantum_computer": quantum_computer, "iqm.polls": 0, "iqm.job_status": None},
        clock=clock,
        on_exit=_wait_done,
    )


def _wait_done(op: Operation, exc: BaseException | None) -> None:
    a = op.attributes
    status = a.get("iqm.job_status")
    if exc is None and status is not None:
        op.outcome = status
    elif isinstance(exc, TimeoutError):  # the wait's deadline, raised to the caller as JobTimeoutError
        op.outcome = "timeout"
        op.error_type = "JobTimeoutError"
    extra = fields(job_id=a["iqm.job_id"], elapsed=op.elapsed, job_status=status)
    if exc is None:
        polls = a["iqm.polls"]
        job_logger.info("job %s is %s (waited %.1f s, %d status poll%s)", a["iqm.job_id"], status, op.elapsed,
                        polls, "" if polls == 1 else "s", extra=extra)
    else:
        job_logger.info("waiting for job %s ended after %.1f s: %s", a["iqm.job_id"], op.elapsed, op.outcome,
                        extra=extra)


def job_ended(job_id: str, status: str, quantum_computer: str | None) -> None:
    """Count a job first seen in a final status (once per job object)."""
    tools = _get()
    if tools is not None:
        tools.jobs.add(1, {"iqm.job_status": status, "iqm.quantum_computer": quantum_computer or "unknown"})
