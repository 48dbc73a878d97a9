"""``IQMJob``: a Qiskit ``JobV1`` over the core's :class:`~iqm_async.AsyncJob`, one portal call per method.

Usage::

    job = backend.run(circuits, shots=1000)
    job.status()                      # JobStatus.QUEUED / RUNNING / DONE / ERROR / CANCELLED
    job.queue_position(refresh=True)  # jobs ahead of this one, as the server reports it
    result = job.result(timeout=60)   # qiskit Result; raises JobFailedError / JobTimeoutError

    # from any running event loop (a FastAPI handler, a notebook cell):
    result = await job.result_async()

Design notes:

* **One call into the core per method.** ``result()`` and ``wait_for_final_state()`` are each one
  runner call into ``AsyncJob.wait_async`` (adaptive polling on the portal loop), not Qiskit's
  ``time.sleep`` loop of full round-trips.
* **Final states are cached.** Once the job is known to be final, ``status()``, ``done()``,
  ``in_final_state()`` and ``queue_position()`` answer from the cached JobData without a request or
  even a portal hop, and ``result()`` returns the cached ``Result``.
* **The ``*_async`` methods bridge, they never run the core on the caller's loop**: they submit to the
  portal and await its future from the caller's loop (``asyncio.wrap_future``), because the core job
  uses the provider's client, which belongs to the portal loop. Cancelling the await cancels only the
  portal task; the remote job is left alone. On the portal loop itself they call the core directly.
* **The core job is created on the portal loop** (its locks belong there) on first use, and again
  after a fork, when the provider's client has been replaced by the child's own.
* **Errors** are the core's typed errors, raised as the facade's subclasses that are also Qiskit job
  errors: a failed job raises :class:`~iqm_sync_shim.JobFailedError` carrying the server's message,
  a timeout raises :class:`~iqm_sync_shim.JobTimeoutError` (a ``qiskit.providers.JobTimeoutError``)
  naming the job id, and the job keeps running on the server unless ``cancel_after_timeout``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from qiskit.providers import JobStatus, JobV1
from qiskit.result import Counts, Result

import iqm_async
from iqm_async import AsyncIQMClient, AsyncJob, PreparedJob
from iqm_async.errors import MalformedResponseError
from iqm_async.job import to_qiskit_status
from iqm_async.models import CircuitJobDefinition, JobData
from iqm_async.qiskit_convert import split_register_layouts
from iqm_async.results import format_measurement_strings

from ._errors import translate_job_error
from ._runner import PortalRunner, await_future

if TYPE_CHECKING:
    from .backend import IQMBackend

__all__ = ["IQMJob"]

T = TypeVar("T")


class IQMJob(JobV1):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """A job on an IQM server: the drop-in for ``iqm.qiskit_iqm.IQMJob``.

    Made by :meth:`IQMBackend.run` and :meth:`IQMBackend.retrieve_job`; ``IQMJob(backend, job_id)``
    also re-attaches to a job by id (no request until the first method call).

    Args:
        backend: the backend the job runs on.
        job_id: the job's UUID.
        timeout_seconds: how long ``result()`` waits when called without a timeout (default 3 h).
        kwargs: metadata kept in ``job.metadata``, as Qiskit does.
    """

    def __init__(self, backend: IQMBackend, job_id: str, timeout_seconds: float | None = None, **kwargs: Any):
        super().__init__(backend, job_id, **kwargs)
        self._iqm_backend = backend
        self._timeout_seconds = timeout_seconds
        self._core: AsyncJob | None = None
        self._definition: CircuitJobDefinition | None = None
        self._registers: list[list[tuple[str, int]]] | None = None
        self._result: Result | None = None
        self._messages_shown = 0

    def __repr__(self) -> str:
        data = self._last_data()
        status = data.status if data is not None else "unknown"
        return f"<IQMJob {self.job_id()!r} status={status!r}>"

    # ------------------------------------------------------------------ plumbing

    def _attach(self, core: AsyncJob, prepared: PreparedJob) -> None:
        """Adopt the core job made by ``run()``, with the definition it was submitted with."""
        self._core = core
        self._definition = prepared.definition
        self._registers = [list(r) for r in prepared.registers]

    def _bind(self, client: AsyncIQMClient) -> AsyncJob:
        """Return the core job on ``client``, creating it if needed; runs on the portal loop only."""
        core = self._core
        if core is None or core.client is not client:
            core = AsyncJob(
                client,
                self.job_id(),
                definition=self._definition,
                registers=self._registers,
                job_data=None if core is None else core.last_data,
            )
            self._core = core
        return core

    def _last_data(self) -> JobData | None:
        core = self._core
        return None if core is None else core.last_data

    def _final_status(self) -> JobStatus | None:
        """Return the cached Qiskit status once the job is final (no request, no portal hop); else None."""
        data = self._last_data()
        return to_qiskit_status(data.status) if data is not None and data.is_final else None

    def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(client, *args)`` on the portal loop, blocking this thread."""
        runner, client = self._portal()
        try:
            return runner.run(fn, client, *args)
        finally:
            self._show_messages()

    async def _bridge(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(client, *args)`` run on the portal loop, from whatever loop the caller runs."""
        runner, client = self._portal()
        try:
            if runner.on_portal_thread():
                return await fn(client, *args)
            return await await_future(runner.submit(fn, client, *args))
        finally:
            self._show_messages()

    @property
    def circuit_metadata(self) -> list[dict[str, Any]] | None:
        """Each circuit's metadata as submitted (IQM's attribute); None for a re-attached job before ``result()``."""
        if self._definition is None:
            return None
        return [dict(c.metadata or {}) for c in self._definition.circuits]

    def _show_messages(self) -> None:
        """Show the server's job messages not shown yet as warnings, once each, as IQM's adapter does."""
        data = self._last_data()
        if data is None or len(data.messages) <= self._messages_shown:
            return
        new = data.messages[self._messages_shown :]
        self._messages_shown = len(data.messages)
        for message in new:
            source = message.get("source") or "iqm-server"
            warnings.warn(f"Job {self.job_id()}: {source}: {message.get('message', '')}", UserWarning, stacklevel=4)

    def _portal(self) -> tuple[PortalRunner, AsyncIQMClient]:
        return self._iqm_backend._portal()

    def _refresh(self) -> JobData:
        """Fetch the job's JobData now (one request unless final); used by ``retrieve_job``."""
        return self._run(self._refresh_on_loop)

    # ------------------------------------------------------------------ coroutines run on the portal loop

    async def _refresh_on_loop(self, client: AsyncIQMClient) -> JobData:
        return await self._bind(client).refresh_async()

    async def _status_on_loop(self, client: AsyncIQMClient) -> JobStatus:
        return await self._bind(client).status_async()

    async def _queue_position_on_loop(self, client: AsyncIQMClient, refresh: bool) -> int | None:
        return await self._bind(client).queue_position_async(refresh)

    async def _error_message_on_loop(self, client: AsyncIQMClient) -> str | None:
        return await self._bind(client).error_message_async()

    async def _cancel_on_loop(self, client: AsyncIQMClient) -> bool:
        return await self._bind(client).cancel_async()

    async def _load_layouts(self, client: AsyncIQMClient) -> None:
        """For a job re-attached by id: read the definition and register layouts from its payload (one E6)."""
        if self._definition is not None:
            return
        definition, layouts = split_register_layouts(await client.job_payload(self.job_id()))
        self._definition, self._registers = definition, layouts
        core = self._core
        self._core = AsyncJob(
            client,
            self.job_id(),
            definition=definition,
            registers=layouts,
            job_data=None if core is None else core.last_data,
        )

    async def _result_on_loop(
        self, client: AsyncIQMClient, timeout: float | None, cancel_after_timeout: bool, progress: bool | None = False
    ) -> Result:
        try:
            await self._load_layouts(client)
            result = await self._bind(client).result_async(
                timeout, cancel_after_timeout=cancel_after_timeout, progress=progress
            )
        except iqm_async.JobError as exc:
            raise translate_job_error(exc) from None
        if result.success:
            self._result = result
        return result

    async def _wait_on_loop(
        self,
        client: AsyncIQMClient,
        timeout: float,
        emit: Callable[[JobStatus], None] | None,
        max_interval: float | None = None,
    ) -> JobStatus:
        def seen(data: JobData) -> None:
            # Qiskit calls the callback after each query that found the job not yet final.
            if emit is not None and not data.is_final:
                emit(to_qiskit_status(data.status))

        try:
            poll = None
            if max_interval is not None and max_interval < client.poll_policy.max_interval:
                # Qiskit's ``wait`` is the longest gap between polls the caller accepts.
                poll = dataclasses.replace(
                    client.poll_policy,
                    max_interval=max_interval,
                    max_queued_interval=min(max_interval, client.poll_policy.max_queued_interval),
                )
            data = await self._bind(client).wait_async(timeout, on_update=seen, poll=poll)
        except iqm_async.JobError as exc:
            raise translate_job_error(exc) from None
        return to_qiskit_status(data.status)

    def _result_timeout(self, timeout: float | None) -> float | None:
        return self._timeout_seconds if timeout is None else timeout

    # ------------------------------------------------------------------ JobV1

    def submit(self) -> None:
        """Not supported: jobs are submitted by ``IQMBackend.run``, which returns the job already on the server.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            "IQMJob.submit() is not supported: jobs are submitted by IQMBackend.run(), which returns the job once "
            "the server has accepted it. Use this object to follow the job and fetch its result."
        )

    def status(self) -> JobStatus:
        """Return the job's Qiskit status: one status request, none once the job is known to be final."""
        cached = self._final_status()
        if cached is not None:
            return cached
        return self._run(self._status_on_loop)

    def result(
        self, timeout: float | None = None, cancel_after_timeout: bool = False, *, progress: bool | None = None
    ) -> Result:
        """Wait for the job and return its ``qiskit.result.Result`` (fetched once, then cached).

        ``get_counts()`` and ``get_memory()`` give IQM's bitstrings (``"0 01"``); ``data.memory`` is stored
        as hex, as Aer stores it, so Qiskit's ``BackendSamplerV2`` reads it correctly. A cancelled job
        returns ``success=False`` with a warning.

        Args:
            timeout: seconds to wait; default the job's ``timeout_seconds``, else 3 h.
            cancel_after_timeout: cancel the job on the server when the wait times out.
            progress: one tqdm line while waiting (queue position, then circuits done); by default only on
                a terminal or in a notebook, once the wait has lasted a second; ``False`` never.

        Raises:
            JobFailedError: the job failed; the error carries the server's messages.
            JobTimeoutError: the job did not finish in time (a ``qiskit.providers.JobTimeoutError``).
        """
        if self._result is not None:
            return self._result
        return self._run(self._result_on_loop, self._result_timeout(timeout), cancel_after_timeout, progress)

    def cancel(self) -> bool:
        """Ask the server to cancel the job; True if it was cancelled (or is being), False otherwise.

        A request that fails gives a warning and False, as in IQM's adapter.
        """
        try:
            return self._run(self._cancel_on_loop)
        except iqm_async.IQMError as exc:
            warnings.warn(f"Failed to cancel job {self.job_id()}: {exc}", UserWarning, stacklevel=2)
            return False

    def queue_position(self, refresh: bool = False) -> int | None:
        """Return how many jobs are ahead of this one in the server's queue; None when it is not waiting.

        Args:
            refresh: ask the server now; otherwise the last known position is returned (a request is
                made only when nothing is known yet).
        """
        data = self._last_data()
        if data is not None and (not refresh or data.is_final):
            return data.queue_position if data.status == "waiting" else None
        return self._run(self._queue_position_on_loop, refresh)

    def error_message(self) -> str | None:
        """Return the job's errors as ``"  <source>: <error_code>: <message>"`` lines; None when there are none."""
        return self._run(self._error_message_on_loop)

    def wait_for_final_state(
        self, timeout: float | None = None, wait: float = 5, callback: Callable[..., Any] | None = None
    ) -> None:
        """Wait until the job is final, as one wait in the core's adaptive poller.

        Args:
            timeout: seconds to wait; None waits for as long as it takes (Qiskit's meaning).
            wait: the longest gap between two status polls; the core's adaptive schedule polls sooner
                where it helps (soon after submit, just after the predicted completion).
            callback: called as ``callback(job_id, status, job)`` after each status query that found the
                job not yet final, on the calling thread (never on the portal loop).

        Raises:
            JobTimeoutError: the job did not finish in time; it keeps running on the server.
        """
        if wait is not None and not wait > 0:
            raise ValueError(f"wait must be a positive number of seconds, got {wait!r}")
        if self._final_status() is not None:
            return
        limit = math.inf if timeout is None else timeout
        runner, client = self._portal()
        try:
            if callback is None:
                runner.run(self._wait_on_loop, client, limit, None, wait)
                return
            job_id = self.job_id()

            async def wait_streaming(emit: Callable[[JobStatus], None]) -> JobStatus:
                return await self._wait_on_loop(client, limit, emit, wait)

            runner.run_streaming(wait_streaming, lambda status: callback(job_id, status, self))
        finally:
            self._show_messages()

    # ------------------------------------------------------------------ async bridge

    async def status_async(self) -> JobStatus:
        """Await the job's status from any running event loop (the work runs on the portal loop)."""
        cached = self._final_status()
        if cached is not None:
            return cached
        return await self._bridge(self._status_on_loop)

    async def result_async(
        self, timeout: float | None = None, cancel_after_timeout: bool = False, *, progress: bool | None = None
    ) -> Result:
        """Await the job's ``Result`` from any running event loop; same rules and errors as :meth:`result`."""
        if self._result is not None:
            return self._result
        return await self._bridge(
            self._result_on_loop, self._result_timeout(timeout), cancel_after_timeout, progress
        )

    async def cancel_async(self) -> bool:
        """Await a cancel of the job from any running event loop; True if it was cancelled (or is being)."""
        return await self._bridge(self._cancel_on_loop)

    # ------------------------------------------------------------------ IQM's formatting helpers

    @staticmethod
    def _format_measurement_results(
        measurement_results: Mapping[str, Sequence[Sequence[int]]],
        requested_shots: int,
        expect_exact_shots: bool = True,
    ) -> list[str]:
        """Format one circuit's ``{key: [[bit], …]}`` into per-shot Qiskit bitstrings, exactly as IQM's adapter.

        Registers in ascending creg index, bit 0 first, joined by spaces, the whole string reversed
        (docs/protocol.md#bit-order); unmeasured bits of a measured register are 0.

        Raises:
            ValueError: on a wrong number of shots (when ``expect_exact_shots``) or a key with more than
                one bit per shot, as in IQM's adapter.
        """
        try:
            return format_measurement_strings(measurement_results, requested_shots, expect_exact_shots)
        except MalformedResponseError as exc:
            raise ValueError(str(exc)) from None

    @staticmethod
    def _format_iqm_results(
        iqm_result: Sequence[Mapping[str, Sequence[Sequence[int]]]],
        circuits: Sequence[Any] | None = None,
        requested_shots: int | None = None,
        expect_exact_shots: bool = True,
    ) -> list[tuple[str, list[str], Counts]]:
        """Format the measurements of a batch of circuits, as IQM's adapter (``_iqm_format_results`` in 36.x).

        Args:
            iqm_result: one ``{key: [[bit], …]}`` dict per circuit, in batch order (the E7 artifact).
            circuits: the circuits (anything with a ``name``, or the names themselves), for the names;
                ``circuit_{i}`` when missing.
            requested_shots: shots asked for; None takes each circuit's row count and skips the shot check.
            expect_exact_shots: every key must have exactly ``requested_shots`` rows (heralding ``none``).

        Returns:
            ``(circuit name, per-shot bitstrings, counts)`` for each circuit.
        """
        out: list[tuple[str, list[str], Counts]] = []
        for i, measurements in enumerate(iqm_result):
            if requested_shots is None:
                shots = len(next(iter(measurements.values()), []))
                exact = False
            else:
                shots, exact = requested_shots, expect_exact_shots
            memory = IQMJob._format_measurement_results(measurements, shots, exact)
            out.append((_circuit_name(circuits, i), memory, Counts(Counter(memory))))
        return out

    # IQM's adapter 36.x names for the same helpers, so code written against it keeps working.
    _iqm_format_results = _format_iqm_results
    _iqm_format_measurement_results = _format_measurement_results


def _circuit_name(circuits: Sequence[Any] | None, i: int) -> str:
    """Return the name of circuit ``i`` (an object with ``name``, or a string); ``circuit_{i}`` otherwise."""
    if circuits is None or i >= len(circuits):
        return f"circuit_{i}"
    item = circuits[i]
    if isinstance(item, str):
        return item
    name = getattr(item, "name", None)
    return name if isinstance(name, str) and name else f"circuit_{i}"
