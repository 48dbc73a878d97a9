"""``AsyncJob``: one job on the server — status, wait, results, cancel.

A final status is cached (a terminal job never changes, docs/protocol.md), so once a job is known to be
final no further status request is sent, and the formatted results are fetched at most once.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import anyio
from qiskit.providers import JobStatus
from qiskit.result import Result

from . import telemetry
from ._config import DEFAULT_RESULT_TIMEOUT, PollPolicy
from ._forecast import forecast_for
from ._logging import fields
from ._outage import Outage, ride_out
from .errors import (
    IQMError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    MalformedResponseError,
    NotFoundError,
    ValidationError,
)
from .models import CircuitJobDefinition, JobData
from .polling import poll_until_final
from .progress import job_progress
from .qiskit_result import build_result, format_job
from .results import CircuitResult

if TYPE_CHECKING:
    from .client import AsyncIQMClient

__all__ = ["AsyncJob", "to_qiskit_status"]

logger = logging.getLogger("iqm_async.job")
T = TypeVar("T")

_CANCEL_CONFIRMATIONS = 3
"""Cancels sent while the job still reads ``waiting`` after a 2xx, before giving up."""

_QISKIT_STATUS = {
    "waiting": JobStatus.QUEUED,
    "processing": JobStatus.RUNNING,
    "completed": JobStatus.DONE,
    "failed": JobStatus.ERROR,
    "cancelled": JobStatus.CANCELLED,
}


def to_qiskit_status(status: str) -> JobStatus:
    """Map an IQM job status to Qiskit's; an unknown status counts as ``QUEUED`` (docs/protocol.md)."""
    return _QISKIT_STATUS.get(status, JobStatus.QUEUED)


def _malformed(message: str, job_id: str) -> MalformedResponseError:
    """Build a :class:`MalformedResponseError` that names the job it is about."""
    error = MalformedResponseError(message)
    error.job_id = job_id
    return error


def _alias(client: AsyncIQMClient) -> str | None:
    """Return the client's quantum computer alias once chosen, for telemetry (no request)."""
    return getattr(getattr(client, "_transport", None), "quantum_computer", None)


def format_errors(job: JobData) -> str | None:
    """Join a job's errors as IQM's ``error_message()`` does: ``"  <source>: <error_code>: <message>"`` lines."""
    if not job.errors:
        return None
    return "\n".join(f"  {e.source}: {e.error_code}: {e.message}" for e in job.errors)


class AsyncJob:
    """A job submitted to (or re-attached on) an IQM server.

    Args:
        client: the client whose transport, budget and policies the job uses.
        job_id: the job's UUID.
        definition: the submitted definition, when known (saves an E6 request).
        registers: the circuits' ``[(creg name, size), …]`` layouts, when the circuits are known.
        job_data: the last JobData seen (for example the submit reply).
    """

    def __init__(
        self,
        client: AsyncIQMClient,
        job_id: str,
        *,
        definition: CircuitJobDefinition | None = None,
        registers: Sequence[Sequence[tuple[str, int]]] | None = None,
        job_data: JobData | None = None,
    ):
        self.client = client
        self.job_id = job_id
        self._definition = definition
        self._registers = None if registers is None else [list(r) for r in registers]
        self._data = job_data
        self._formatted: list[CircuitResult] | None = None
        self._result: Result | None = None
        self._lock: anyio.Lock | None = None  # made on first use: a batch tracks thousands of jobs
        self._shared_outage: Outage | None = None

    def __repr__(self) -> str:
        status = self._data.status if self._data is not None else "unknown"
        return f"AsyncJob({self.job_id!r}, status={status!r})"

    @property
    def last_data(self) -> JobData | None:
        """The last JobData seen, without a request."""
        return self._data

    @property
    def in_final_state(self) -> bool:
        """True once the job is known to be final (no request)."""
        return self._data is not None and self._data.is_final

    def _note(self, data: JobData) -> JobData:
        if self._data is None or not self._data.is_final:
            self._data = data
            if self.client.ledger is not None:  # the job ledger writes only when something changed
                self.client.ledger.note(data)
            if data.is_final:
                telemetry.job_ended(self.job_id, data.status, _alias(self.client))
        return self._data

    async def refresh_async(self) -> JobData:
        """Return the job's JobData, sending an E5 request unless the job is already known to be final."""
        if self._data is not None and self._data.is_final:
            return self._data
        data = await self.client.job_data(self.job_id)
        if data.type != "circuit":
            raise _malformed(f"Job {self.job_id} is a {data.type!r} job, not a circuit job.", self.job_id)
        return self._note(data)

    async def status_async(self) -> JobStatus:
        """Return the job's Qiskit status (one request, none once the job is final)."""
        return to_qiskit_status((await self.refresh_async()).status)

    async def queue_position_async(self, refresh: bool = True) -> int | None:
        """Return how many jobs are ahead of this one in the queue; None when it is not waiting."""
        data = await self.refresh_async() if refresh or self._data is None else self._data
        return data.queue_position if data.status == "waiting" else None

    async def error_message_async(self) -> str | None:
        """Return the job's errors, one ``"  source: code: message"`` line each; None when there are none."""
        return format_errors(await self.refresh_async())

    async def wait_async(
        self,
        timeout_seconds: float | None = None,
        *,
        on_update: Callable[[JobData], None] | None = None,
        poll: PollPolicy | None = None,
        progress: bool | None = False,
    ) -> JobData:
        """Wait until the job is final and return its JobData.

        Args:
            timeout_seconds: how long to wait (default 3 h); ``math.inf`` waits for ever.
            on_update: called with every JobData seen while waiting.
            poll: polling policy for this wait only (default: the client's).
            progress: show a tqdm line (queue position, then circuits done); ``None``: only on a terminal
                or in a notebook (see :mod:`iqm_async.progress`).

        Raises:
            JobTimeoutError: the job did not finish in time; it is left running on the server.
        """
        if self._data is not None and self._data.is_final:
            return self._data
        limit = DEFAULT_RESULT_TIMEOUT if timeout_seconds is None else timeout_seconds
        if limit != limit or limit < 0:
            raise ValidationError(f"timeout_seconds must be a non-negative number, got {timeout_seconds!r}")

        def seen(data: JobData) -> None:
            self._note(data)
            op.seen(data)
            bar.update(data)
            if on_update is not None:
                on_update(data)

        outage = self._outage()
        try:
            with (
                telemetry.waiting(self.job_id, _alias(self.client), clock=self.client.clock) as op,  # span, records
                job_progress(self.job_id, progress, self._data) as bar,  # the tqdm line, if wanted
                anyio.fail_after(None if math.isinf(limit) else limit),
            ):
                return await poll_until_final(
                    lambda: self._through_outage(self.refresh_async, outage),
                    policy=poll or self.client.poll_policy,
                    sleep=self.client.sleep,
                    clock=self.client.clock,
                    initial=self._data,
                    on_update=seen,
                    forecast=forecast_for(getattr(self.client, "throughput", None), self._definition),
                )
        except TimeoutError:
            raise self._timeout_error(limit, outage) from None

    def _outage(self) -> Outage:
        if self._shared_outage is not None:
            return self._shared_outage
        return Outage(f"job {self.job_id}", self.client.url, clock=self.client.clock, logger=logger, job_id=self.job_id)

    def share_outage(self, outage: Outage) -> None:
        """Report outages seen by this job's waits to ``outage`` (a batch's), so one warning covers many jobs."""
        self._shared_outage = outage

    def gone(self, error: NotFoundError) -> NotFoundError:
        """Return the error for a 404 about this job: the server no longer knows it."""
        return NotFoundError(
            f"The server no longer knows job {self.job_id} ({error.message}). It may have been deleted, or the "
            "server may have lost its state; its results cannot be fetched.",
            status_code=error.status_code,
            error_code=error.error_code,
            source=error.source,
            body=error.body,
            job_id=self.job_id,
        )

    def _timeout_error(self, limit: float, outage: Outage) -> JobTimeoutError:
        return JobTimeoutError(
            f"The job {self.job_id} didn't finish in {limit} seconds.{outage.describe()} It is still on the server; "
            f"wait again, re-attach later with client.job({self.job_id!r}) (IQMJob(backend, {self.job_id!r}) in "
            "Qiskit), or cancel it.",
            job_id=self.job_id,
            timeout_seconds=limit,
        )

    async def _through_outage(self, request: Callable[[], Awaitable[T]], outage: Outage) -> T:
        """Send ``request`` until it gets a definitive answer, pausing through outages (the caller bounds the time).

        Only an answer about the job ends it: its data, or an error that is not an outage (404 for the
        id, 401/403, a refusal). Transport failures, 429 and 5xx are retried with capped, jittered pauses.
        """
        try:
            return await ride_out(request, outage, self.client.sleep)
        except NotFoundError as exc:
            raise self.gone(exc) from None

    async def definition_async(self) -> CircuitJobDefinition:
        """Return the submitted definition (from submit, or fetched once with E6)."""
        if self._definition is None:
            self._definition = await self.client.job_payload(self.job_id)
        return self._definition

    async def circuit_results_async(
        self, timeout_seconds: float | None = None, *, progress: bool | None = False
    ) -> list[CircuitResult]:
        """Wait for the job and return each circuit's formatted measurements (fetched once, then cached).

        ``progress`` shows a tqdm line while waiting, as for :meth:`wait_async`.

        Raises:
            JobFailedError: the job failed; the error carries the server's ``errors``.
            JobCancelledError: the job was cancelled.
            JobTimeoutError: the job did not finish in time.
        """
        if self._formatted is not None:
            return self._formatted
        limit = DEFAULT_RESULT_TIMEOUT if timeout_seconds is None else timeout_seconds
        started = self.client.clock()
        data = await self.wait_async(timeout_seconds, progress=progress)
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._formatted is not None:
                return self._formatted
            # The download rides out outages too, within what is left of the same deadline.
            left = limit - (self.client.clock() - started)
            outage = self._outage()
            try:
                with anyio.fail_after(None if math.isinf(left) else max(left, 0.0)):
                    return await self._download(data, outage)
            except TimeoutError:
                raise self._timeout_error(limit, outage) from None

    async def _download(self, data: JobData, outage: Outage) -> list[CircuitResult]:
        """Fetch and check a final job's measurements (under the caller's lock and deadline)."""
        if data.status == "failed":
            raise JobFailedError(
                f"Job {self.job_id} failed:\n{format_errors(data) or '  (no error details)'}",
                job_id=self.job_id,
                errors=[e.to_json() for e in data.errors],
            )
        if data.status == "cancelled":
            raise JobCancelledError(f"Job {self.job_id} was cancelled; it has no results.", job_id=self.job_id)
        definition = await self._through_outage(self.definition_async, outage)
        raw = await self._through_outage(lambda: self.client.measurements(self.job_id), outage)
        if len(raw) != len(definition.circuits):
            raise _malformed(
                f"Job {self.job_id}: {len(raw)} measurement sets for {len(definition.circuits)} circuits",
                self.job_id,
            )
        for i, (circuit, got) in enumerate(zip(definition.circuits, raw)):
            # A key the circuit measured but the artifact lacks would silently read as zeros.
            expected = circuit.measurement_keys()
            missing = [k for k in expected if k not in got]
            unexpected = sorted(set(got) - set(expected))
            if missing or unexpected:
                raise _malformed(
                    f"Job {self.job_id}: the measurements of circuit {i} ({circuit.name!r}) do not match its "
                    f"measure instructions (missing keys {missing}, unexpected keys {unexpected}); no result was "
                    "built from them. Fetch the result again later, or report the job id to the server's operator.",
                    self.job_id,
                )
        try:
            self._formatted = format_job(raw, definition.parameters, self._registers)
        except MalformedResponseError as exc:
            raise _malformed(f"Job {self.job_id}: {exc}", self.job_id) from None
        return self._formatted

    async def result_async(
        self, timeout_seconds: float | None = None, *, cancel_after_timeout: bool = False, progress: bool | None = None
    ) -> Result:
        """Wait for the job and return its ``qiskit.result.Result`` (cached after the first call).

        A cancelled job returns ``success=False`` with a warning, as IQM's adapter does. ``progress``: a
        tqdm line while waiting (queue position, then circuits done); by default only on a terminal or in
        a notebook, and only once the wait has lasted a second.

        Raises:
            JobFailedError: the job failed; the error carries the server's ``errors``.
            JobTimeoutError: the job did not finish in time (cancelled first if ``cancel_after_timeout``).
        """
        if self._result is not None:
            return self._result
        try:
            formatted = await self.circuit_results_async(timeout_seconds, progress=progress)
        except JobCancelledError:
            warnings.warn(f"Job {self.job_id} was cancelled; the result has no data.", stacklevel=2)
            return await self._build([], success=False)
        except JobTimeoutError as exc:
            if cancel_after_timeout:
                with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                    await self.cancel_async()
                raise JobTimeoutError(
                    f"The job {self.job_id} didn't finish in {exc.timeout_seconds} seconds. Cancelled.",
                    job_id=self.job_id,
                    timeout_seconds=exc.timeout_seconds,
                ) from None
            raise
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:  # callers waiting together share one Result object
            if self._result is None:
                self._result = await self._build(formatted, success=True)
        return self._result

    async def _build(self, formatted: list[CircuitResult], *, success: bool) -> Result:
        definition = await self.definition_async()
        data = self._data
        assert data is not None
        return build_result(
            backend_name=await self.client.backend_name(),
            job_id=self.job_id,
            circuits=definition.circuits,
            parameters=definition.parameters,
            formatted=formatted,
            calibration_set_id=data.calibration_set_id,
            timeline=data.timeline,
            success=success,
        )

    async def cancel_async(self) -> bool:
        """Cancel the job; True if this call cancelled it (or it is being cancelled), False if it had already ended.

        Never raises for a job that already finished. Server or network failures raise as usual.
        """
        # One status read first: a job that already ended (perhaps cancelled by someone else) is not "cancelled
        # by this call", and a 2xx to the cancel alone does not prove anything (docs/protocol.md#cancelling-a-job).
        if (await self.refresh_async()).is_final:
            return False
        for _ in range(_CANCEL_CONFIRMATIONS):
            await self.client.cancel_job(self.job_id)
            try:
                data = await self.refresh_async()
            except IQMError as exc:
                logger.warning(
                    "job %s: cancel was accepted, but reading its status failed: %s", self.job_id, exc,
                    extra=fields(job_id=self.job_id),
                )
                return True
            if data.status != "waiting":
                # A processing job finishes cancelling shortly; a job that completed or failed first was not cancelled.
                return data.status not in ("completed", "failed")
            # Still waiting after a 2xx: a waiting job leaves the queue at once (docs/protocol.md,), so this reply
            # did not cancel it. Cancelling is idempotent: send it again.
        raise _malformed(
            f"The server accepted the cancel of job {self.job_id} {_CANCEL_CONFIRMATIONS} times, but the job is still "
            "waiting. It was not cancelled; try again later.",
            self.job_id,
        )
